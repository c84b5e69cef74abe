//! Key-pair authentication: an RS256 JWT whose issuer names the account, the user and the SHA-256 fingerprint of
//! the public key (`ACCOUNT.USER.SHA256:<base64>`), signed with the user's PKCS#8 RSA key by ring (rustls'
//! provider, already linked). Snowflake accepts a token for at most an hour after `iat`.

use crate::error::{Error, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};

/// How long a token is valid: Snowflake refuses more than an hour; a login uses its token at once.
const LIFETIME_S: i64 = 3600;

pub struct Signer {
    key: RsaKeyPair,
    /// `ACCOUNT.USER`, upper case.
    subject: String,
    fingerprint: String,
}

impl Signer {
    /// The signer of `account`'s `user`, from a PKCS#8 PEM; a key that cannot sign is a configuration error.
    pub fn from_pem(pem: &str, account: &str, user: &str) -> Result<Signer> {
        let bad = |why: String| Error::config("private_key", why);
        let der = match rustls_pemfile::private_key(&mut pem.as_bytes()) {
            Ok(Some(rustls::pki_types::PrivateKeyDer::Pkcs8(der))) => der,
            Ok(Some(_)) => {
                return Err(bad(
                    "is not a PKCS#8 key; convert it (openssl pkcs8 -topk8 -nocrypt) and give BEGIN PRIVATE KEY".into(),
                ))
            }
            Ok(None) | Err(_) => {
                return Err(bad(
                    "holds no PEM private key; give the PKCS#8 PEM text (-----BEGIN PRIVATE KEY-----...)".into(),
                ))
            }
        };
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|e| {
            bad(format!(
                "is not a usable RSA key ({e}); give an RSA key of 2048 bits or more"
            ))
        })?;
        let spki = spki(key.public_key().as_ref());
        let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
        Ok(Signer {
            key,
            subject: format!(
                "{}.{}",
                account.to_ascii_uppercase(),
                user.to_ascii_uppercase()
            ),
            fingerprint: format!("SHA256:{}", STANDARD.encode(digest.as_ref())),
        })
    }

    /// The public key's fingerprint as Snowflake shows it (`DESC USER` RSA_PUBLIC_KEY_FP).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A token issued at `now` (seconds since the epoch).
    pub fn token(&self, now: i64) -> Result<String> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({
            "iss": format!("{}.{}", self.subject, self.fingerprint),
            "sub": self.subject,
            "iat": now,
            "exp": now + LIFETIME_S,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| Error::Internal("signing the key-pair login token failed".into()))?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// The SubjectPublicKeyInfo DER of an RSA public key (PKCS#1 `RSAPublicKey`), which the fingerprint hashes.
fn spki(rsa_public_key: &[u8]) -> Vec<u8> {
    const RSA_ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0u8];
    bits.extend_from_slice(rsa_public_key);
    let mut body = RSA_ALGORITHM.to_vec();
    body.extend(der(0x03, &bits));
    der(0x30, &body)
}

/// One DER element: tag, definite length, content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_use_the_long_form_from_128_bytes() {
        assert_eq!(der(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = der(0x04, &[0; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(long.len(), 304);
    }

    #[test]
    fn a_key_that_is_not_pem_names_the_key() {
        let e = Signer::from_pem("not a key", "A", "U")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.starts_with("configuration key 'private_key'")));
    }
}
