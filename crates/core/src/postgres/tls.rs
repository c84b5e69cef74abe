//! TLS for PostgreSQL with libpq's `sslmode` meanings: `prefer` and `require` encrypt without checking the
//! certificate (unless a CA is given, which makes `require` check it as `verify-ca` does), `verify-ca` checks the
//! chain, `verify-full` checks the chain and the host name.

use crate::config::SslMode;
use crate::error::{Error, Result};
use crate::tls::AcceptAny;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// The rustls client configuration for `mode`, or None when the connection is not encrypted.
pub fn client_config(
    mode: SslMode,
    rootcert: Option<&str>,
) -> Result<Option<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, rootcert) {
        (SslMode::Disable, _) => return Ok(None),
        (SslMode::Prefer, _) | (SslMode::Require, None) => Arc::new(AcceptAny(provider.clone())),
        (SslMode::Require | SslMode::VerifyCa, root) => {
            Arc::new(SkipHostName(webpki(root, &provider)?))
        }
        (SslMode::VerifyFull, root) => webpki(root, &provider)?,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config("sslmode", format!("TLS cannot be set up: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(config))
}

fn webpki(
    rootcert: Option<&str>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>> {
    let mut roots = RootCertStore::empty();
    match rootcert {
        Some(given) => {
            for cert in read_pem(given)? {
                roots.add(cert).map_err(|e| {
                    Error::config(
                        "sslrootcert",
                        format!("holds a certificate that cannot be used: {e}"),
                    )
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| {
            Error::config(
                "sslrootcert",
                format!("cannot be used to verify the server: {e}"),
            )
        })
}

/// Certificates from PEM text, or from the file the value names.
fn read_pem(given: &str) -> Result<Vec<CertificateDer<'static>>> {
    let text = if given.trim_start().starts_with("-----BEGIN") {
        given.as_bytes().to_vec()
    } else {
        std::fs::read(given).map_err(|e| {
            Error::config(
                "sslrootcert",
                format!(
                    "the file '{given}' cannot be read ({e}); give a readable path or the PEM text"
                ),
            )
        })?
    };
    let certs: Vec<_> = rustls_pemfile::certs(&mut text.as_slice())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            Error::config(
                "sslrootcert",
                format!("is not valid PEM ({e}); give a CA certificate in PEM form"),
            )
        })?;
    if certs.is_empty() {
        return Err(Error::config(
            "sslrootcert",
            "holds no certificate; give a CA certificate in PEM form",
        ));
    }
    Ok(certs)
}

/// `verify-ca`: the chain must lead to the CA; the name in the certificate is not compared with the host.
#[derive(Debug)]
struct SkipHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for SkipHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name, so a name error means the chain itself was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
