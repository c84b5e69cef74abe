//! HTTP/1.1 over TLS for the Snowflake client: hyper-util's pooled client (keep-alive connections shared by every
//! request of a source) with rustls, verifying the service's certificate against the web PKI unless `ssl_verify`
//! is false. Requests carry a time limit; a transport failure is transient (a retry may get through).

use crate::config::SnowflakeConnection;
use crate::error::{io_transient, Error, Result};
use crate::tls::AcceptAny;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::Arc;
use std::time::Duration;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

pub struct Http {
    client: Client<Https, Full<Bytes>>,
    /// Where requests go, for messages.
    target: String,
}

/// A response: status and the whole body.
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Http {
    pub fn new(conn: &SnowflakeConnection) -> Result<Http> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config("ssl_verify", format!("TLS cannot be set up: {e}")))?;
        let tls = if conn.ssl_verify {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                .with_no_client_auth()
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(conn.connect_timeout_s)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Http {
            client,
            target: conn.host.clone(),
        })
    }

    /// Sends one request and reads its whole body, within `limit`.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
        limit: Duration,
    ) -> Result<Reply> {
        let mut request = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Error::Internal(format!("a Snowflake request could not be built: {e}")))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| self.transport(&e))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| self.transport(&e))?
                .to_bytes();
            Ok(Reply { status, body })
        };
        tokio::time::timeout(limit, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Connect {
                    message: format!(
                        "Snowflake at {} did not answer within {:.0}s",
                        self.target,
                        limit.as_secs_f64()
                    ),
                    sqlstate: None,
                    number: None,
                    transient: true,
                })
            })
    }

    /// A failure below HTTP: the name did not resolve, the connection broke, TLS refused. The innermost cause says
    /// which; everything but a certificate refusal is worth a retry.
    fn transport(&self, e: &(dyn std::error::Error + 'static)) -> Error {
        let mut causes = Vec::new();
        let mut transient = true;
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(cause) = source {
            let text = cause.to_string();
            if text.contains("certificate") || text.contains("InvalidCertificate") {
                transient = false;
            }
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                transient &= io_transient(io.kind()) || io.kind() == std::io::ErrorKind::Other;
            }
            if causes.last() != Some(&text) {
                causes.push(text);
            }
            source = cause.source();
        }
        let hint = if transient {
            "check 'account' (or 'privatelink_host') and that this machine reaches it on port 443"
        } else {
            "the service's certificate was refused; check 'account' / 'privatelink_host' (set 'ssl_verify' to false only behind a proxy you trust)"
        };
        Error::Connect {
            message: format!(
                "cannot reach Snowflake at {}: {}; {hint}",
                self.target,
                causes.join(": ")
            ),
            sqlstate: None,
            number: None,
            transient,
        }
    }
}
