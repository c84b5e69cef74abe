//! The key of Snowflake's key-pair login (`private_key`): a PKCS#8 PEM, or an encrypted one (`BEGIN ENCRYPTED
//! PRIVATE KEY`, PBES2: PBKDF2 or scrypt with AES-CBC or DES-EDE3-CBC, as `openssl pkcs8 -topk8 -v2 aes-256-cbc` or
//! Snowflake's own guide's `-v2 des3` make it) decrypted here with `private_key_password`. Here, at the
//! configuration's parse, so that a wrong password stops the sync before anything runs; no message holds the
//! password or the key.

use super::values::Values;
use crate::error::{Error, Result};
use pkcs8::{pkcs5, EncryptedPrivateKeyInfoRef, LineEnding, SecretDocument};

const ENCRYPTED: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const PASSWORD: &str = "private_key_password";

/// The unencrypted PKCS#8 PEM of `private_key`. Unlike seed 000, a key that is given but unusable is an error,
/// never a silent fall-back to the password; a password given for a key that is not encrypted is warned of.
pub(super) fn plain_pem(v: &mut Values, given: &str) -> Result<String> {
    // Fivetran's form and JSON files often carry the PEM with literal \n.
    let pem = given.replace("\\n", "\n");
    let key = v.key("private_key").to_string();
    let password = v
        .values
        .get(PASSWORD)
        .filter(|p| !p.trim().is_empty())
        .cloned();
    if pem.contains(ENCRYPTED) {
        let Some(password) = password else {
            return Err(Error::config(
                PASSWORD,
                format!(
                    "is missing: '{key}' is an encrypted key (BEGIN ENCRYPTED PRIVATE KEY); set '{PASSWORD}' to \
                     the passphrase it was encrypted with"
                ),
            ));
        };
        return decrypt(&pem, &password, &key);
    }
    if password.is_some() {
        v.warnings.push(format!(
            "'{PASSWORD}' is unused: '{key}' is not encrypted (BEGIN PRIVATE KEY); remove '{PASSWORD}'"
        ));
    }
    if pem.contains("BEGIN RSA PRIVATE KEY") {
        return Err(Error::config(
            &key,
            "is a PKCS#1 key; convert it (openssl pkcs8 -topk8 -nocrypt) and give the PKCS#8 PEM (BEGIN PRIVATE KEY)",
        ));
    }
    if !pem.contains("-----BEGIN PRIVATE KEY-----") {
        return Err(Error::config(
            &key,
            "holds no PKCS#8 PEM key; give the text from -----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY----- \
             (or -----BEGIN ENCRYPTED PRIVATE KEY----- with 'private_key_password')",
        ));
    }
    // Whether it signs is found at the first login (snowflake/jwt.rs), also as an error naming `private_key`.
    Ok(pem)
}

/// A password given without a key: said, since it does nothing.
pub(super) fn warn_unused_password(v: &mut Values) {
    if v.values.get(PASSWORD).is_some_and(|p| !p.trim().is_empty()) {
        v.warnings.push(format!(
            "'{PASSWORD}' is unused: no 'private_key' is given, so the login uses '{}'; remove '{PASSWORD}'",
            v.key("password")
        ));
    }
}

/// The encrypted key decrypted with `password` as given, or, failing that, with its surrounding blanks trimmed
/// (a form or file may add them; a passphrase rarely ends in one).
fn decrypt(pem: &str, password: &str, key: &str) -> Result<String> {
    let start = pem.find(ENCRYPTED).unwrap_or(0);
    let unreadable = |why: String| {
        Error::config(
            key,
            format!(
                "holds an encrypted key that cannot be read ({why}); give the whole text from {ENCRYPTED} to \
                 -----END ENCRYPTED PRIVATE KEY-----"
            ),
        )
    };
    let (label, document) =
        pkcs8::Document::from_pem(pem[start..].trim()).map_err(|e| unreadable(e.to_string()))?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(unreadable(format!("its label is {label}")));
    }
    let info = match EncryptedPrivateKeyInfoRef::try_from(document.as_bytes()) {
        Ok(info) => info,
        // A scheme the parser does not know (PKCS#12's PBE-SHA1-3DES, which `openssl pkcs8 -v1` makes) fails to
        // parse at all: named by its identifier when the outer structure still reads.
        Err(e) => {
            return Err(match scheme(document.as_bytes()) {
                Some(oid) => Error::config(key, format!("{}; {REENCRYPT}", unsupported(oid))),
                None => unreadable(e.to_string()),
            })
        }
    };
    let mut attempt = info.decrypt(password);
    if attempt.is_err() && password.trim() != password {
        attempt = info.decrypt(password.trim());
    }
    let plain: SecretDocument = attempt.map_err(|e| refused(e, key))?;
    let pem = plain
        .to_pem("PRIVATE KEY", LineEnding::LF)
        .map_err(|e| unreadable(e.to_string()))?;
    Ok(pem.to_string())
}

const REENCRYPT: &str =
    "re-encrypt it (openssl pkcs8 -topk8 -v2 aes-256-cbc) or give it unencrypted (-nocrypt)";

fn unsupported(oid: impl std::fmt::Display) -> String {
    format!("is encrypted with algorithm {oid}, which is not supported (PBES2 is)")
}

/// The encryption scheme's identifier: the first field of EncryptedPrivateKeyInfo's AlgorithmIdentifier.
fn scheme(der: &[u8]) -> Option<pkcs8::ObjectIdentifier> {
    use pkcs8::der::{Decode, Reader};
    let mut reader = pkcs8::der::SliceReader::new(der).ok()?;
    reader
        .sequence(|r| {
            let algorithm = pkcs8::AlgorithmIdentifierRef::decode(r)?;
            <&pkcs8::der::asn1::OctetStringRef>::decode(r)?;
            Ok::<_, pkcs8::der::Error>(algorithm.oid)
        })
        .ok()
}

/// Why decryption failed: a scheme we cannot decrypt names `private_key`; anything else is the password's fault
/// (a wrong key leaves bad padding or text that is no key).
fn refused(e: pkcs8::Error, key: &str) -> Error {
    match e {
        pkcs8::Error::EncryptedPrivateKey(pkcs5::Error::NoPbes1CryptSupport) => Error::config(
            key,
            format!("is encrypted with PBES1, which is not supported (PBES2 is); {REENCRYPT}"),
        ),
        pkcs8::Error::EncryptedPrivateKey(pkcs5::Error::UnsupportedAlgorithm { oid }) => {
            Error::config(key, format!("{}; {REENCRYPT}", unsupported(oid)))
        }
        _ => Error::config(
            PASSWORD,
            format!(
                "does not decrypt '{key}' (wrong passphrase); set the passphrase the key was encrypted with"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    // An Ed25519 PKCS#8 key (any PKCS#8 document decrypts alike; RSA is checked at login), and the same key
    // encrypted with the passphrase "pass phrase" by OpenSSL 3.0:
    // openssl pkcs8 -topk8 -v2 aes-256-cbc (PBKDF2-HMAC-SHA256), -v2 des3 (Snowflake's guide), -scrypt.
    const PLAIN: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEID0cQ1EAXgJn3jfB/iNBcywb5XB+ydmMREgAvfNKETom\n-----END PRIVATE KEY-----\n";
    const AES: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAgx0RvfSSxXAAICCAAw\nDAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEENzbRhjbchduB/cvkqnUJ70EQJ0x\nIYLL4LYx04eqrtH8J0miLSkUihuYgrdxz64uL95FHv2sSMYM4vQxb+XxIFgOkjua\n9cneYEok56EDqc05rCc=\n-----END ENCRYPTED PRIVATE KEY-----\n";
    const DES3: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGKME4GCSqGSIb3DQEFDTBBMCkGCSqGSIb3DQEFDDAcBAj9X+pC+qLn3wICCAAw\nDAYIKoZIhvcNAgkFADAUBggqhkiG9w0DBwQI3pe8NSLjrp8EOAmSPwhXcBxuiGEr\njBd2p1UT4w1fCND05jhqMqhZfT8U+rDMn0dAqTZlVNMut0obSF9LvrMcbFEr\n-----END ENCRYPTED PRIVATE KEY-----\n";
    const SCRYPT: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGTME8GCSqGSIb3DQEFDTBCMCEGCSsGAQQB2kcECzAUBAhHi+LDAYRwnAICQAAC\nAQgCAQEwHQYJYIZIAWUDBAEqBBD0XdQKkX+/fyAcbQGweXUgBED+IqwW5a6niz8m\n5bgELq2Vf2HYFmia7it3NiL4+9ZMSJHtw3BY0SNMlMY1niX1I6wQ2YX2jrARHaAl\n1A6+Xvqg\n-----END ENCRYPTED PRIVATE KEY-----\n";
    /// -v2 aes-128-cbc -v2prf hmacWithSHA1: OpenSSL 1.0's PRF.
    const SHA1_PRF: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGNMEkGCSqGSIb3DQEFDTA8MBsGCSqGSIb3DQEFDDAOBAjDJws/rg/blwICCAAw\nHQYJYIZIAWUDBAECBBBkquIjGEc7JK9uceYZXmSNBECrW1NjuUWR9TKpeyNjbzR+\nmbW486I7nFwGdDWqeFYdVxnWgh0J7ET8lCq+ck5uAcAncQg5utcUcAZf5rKslE/3\n-----END ENCRYPTED PRIVATE KEY-----\n";
    /// -v1 PBE-SHA1-3DES: PKCS#12's scheme, which this does not decrypt.
    const PBE_SHA1_3DES: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMFgwHAYKKoZIhvcNAQwBAzAOBAjRHSAwsHqFWQICCAAEOAGQphZuOr7yyZ/6TdLe\nDSc8eeWY++3FJ0P9SlMV2C2pD0396/8VZlrpMAY3GvBL850BotIAqhDe\n-----END ENCRYPTED PRIVATE KEY-----\n";

    fn parse(pairs: &[(&str, &str)]) -> (Result<String>, Vec<String>) {
        let raw: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut v = Values::new(&raw).unwrap();
        let key = v.text("private_key").unwrap_or_default();
        (plain_pem(&mut v, &key), v.warnings)
    }

    #[test]
    fn encrypted_keys_decrypt_to_the_plain_key() {
        for encrypted in [AES, DES3, SCRYPT, SHA1_PRF] {
            let (pem, warnings) = parse(&[
                ("private_key", &encrypted.replace('\n', "\\n")),
                (PASSWORD, "pass phrase"),
            ]);
            assert_eq!(pem.unwrap(), PLAIN);
            assert!(warnings.is_empty(), "{warnings:?}");
        }
    }

    #[test]
    fn a_wrong_or_missing_password_names_the_password_key_and_never_the_password() {
        let e = parse(&[("private_key", AES), (PASSWORD, "hunter2")])
            .0
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "configuration key 'private_key_password': does not decrypt 'private_key'"
            ),
            "{e}"
        );
        assert!(!e.contains("hunter2") && !e.contains("MIGb"), "{e}");
        let e = parse(&[("private_key", AES)]).0.unwrap_err().to_string();
        assert!(
            e.starts_with("configuration key 'private_key_password': is missing")
                && e.contains("'private_key'"),
            "{e}"
        );
        let e = parse(&[
            (
                "private_key",
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n",
            ),
            (PASSWORD, "x"),
        ])
        .0
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "configuration key 'private_key': holds an encrypted key that cannot be read"
            ),
            "{e}"
        );
        let e = parse(&[("private_key", PBE_SHA1_3DES), (PASSWORD, "pass phrase")])
            .0
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("configuration key 'private_key': is encrypted with"),
            "{e}"
        );
        assert!(e.contains("openssl pkcs8 -topk8 -v2 aes-256-cbc"), "{e}");
    }

    #[test]
    fn a_password_for_a_plain_key_is_warned_unused() {
        let (pem, warnings) = parse(&[("private_key", PLAIN), (PASSWORD, "pass phrase")]);
        assert_eq!(pem.unwrap(), PLAIN.trim());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("'private_key_password' is unused")
                && !warnings[0].contains("pass phrase")
        );
    }
}
