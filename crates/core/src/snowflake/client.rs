//! Snowflake's HTTP protocol, as its drivers speak it: a login (`/session/v1/login-request`, password or
//! key-pair JWT) gives a session token and a master token; statements go to `/queries/v1/query-request` with their
//! values bound; a statement still running after the service's wait is polled at its `getResultUrl`; an expired
//! session token is renewed with the master token (`/session/token-request`), or the login is done again; a
//! heartbeat keeps an open session alive between syncs. Results are Arrow IPC streams: the first chunk inline
//! (`rowsetBase64`), the others downloaded from their URLs with the headers the reply names (see `result.rs`).

use super::errors::{self, IN_PROGRESS, LOGIN_AGAIN, MASTER_EXPIRED, SESSION_EXPIRED};
use super::http::Http;
use super::jwt::Signer;
use super::pace::Pacer;
use super::result::Answer;
use crate::config::{SnowflakeAuth, SnowflakeConnection};
use crate::error::Result;
use hyper::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// What the service calls us (CLIENT_APP_ID) and our version.
const APP: &str = "connector_accel";
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The service answers a statement within about 45 s (then "still running"); a reply slower than this is lost.
const REQUEST_LIMIT: Duration = Duration::from_secs(120);
/// The longest pause between two polls of a running statement.
const MAX_POLL: Duration = Duration::from_secs(5);

/// The session's tokens. A new value replaces the old one whole, so a request knows which tokens it used.
pub struct Tokens {
    pub token: String,
    master: Option<String>,
}

pub struct Client {
    pub conn: Arc<SnowflakeConnection>,
    pub http: Arc<Http>,
    /// Spaces the reads' result fetches (`batch_delay_ms`), across partitions.
    pub pacer: Arc<Pacer>,
    session: tokio::sync::Mutex<Option<Arc<Tokens>>>,
    sequence: AtomicU64,
}

impl Client {
    pub fn new(conn: Arc<SnowflakeConnection>) -> Result<Arc<Client>> {
        let http = Arc::new(Http::new(&conn)?);
        Ok(Arc::new(Client {
            pacer: Pacer::new(conn.batch_delay),
            conn,
            http,
            session: tokio::sync::Mutex::new(None),
            sequence: AtomicU64::new(1),
        }))
    }

    /// Runs `sql` with `params` bound in order (`:1`, `:2` placeholders, each TEXT, cast in the statement) and returns
    /// its answer once it finished.
    pub async fn query(
        self: &Arc<Self>,
        sql: &str,
        params: &[Option<String>],
        what: &str,
    ) -> Result<Answer> {
        self.submit(sql, params, what, false).await
    }

    /// The columns `sql` would answer with (`describeOnly`, as the drivers' `describe()`: no rows are read).
    pub async fn describe(self: &Arc<Self>, sql: &str, what: &str) -> Result<Answer> {
        self.submit(sql, &[], what, true).await
    }

    async fn submit(
        self: &Arc<Self>,
        sql: &str,
        params: &[Option<String>],
        what: &str,
        describe_only: bool,
    ) -> Result<Answer> {
        let bindings: serde_json::Map<String, Value> = params
            .iter()
            .enumerate()
            .map(|(i, v)| ((i + 1).to_string(), json!({"type": "TEXT", "value": v})))
            .collect();
        let mut body = json!({
            "sqlText": sql,
            "asyncExec": false,
            "sequenceId": self.sequence.fetch_add(1, Ordering::Relaxed),
            "querySubmissionTime": chrono::Utc::now().timestamp_millis(),
            "isInternal": false,
            "parameters": {"PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": "ARROW"},
        });
        if !bindings.is_empty() {
            body["bindings"] = Value::Object(bindings);
        }
        if describe_only {
            body["describeOnly"] = json!(true);
        }
        let body = body.to_string();
        let mut tokens = self.tokens().await?;
        let mut renewals = 0;
        loop {
            let url = format!(
                "{}/queries/v1/query-request?requestId={}",
                self.conn.base(),
                request_id()
            );
            let reply = self
                .call(
                    Method::POST,
                    &url,
                    Some(&tokens.token),
                    Some(body.clone().into_bytes()),
                    what,
                )
                .await?;
            match self.settle(reply, &mut tokens, &mut renewals, what).await? {
                Some(done) => return Answer::from_reply(done, what),
                None => continue,
            }
        }
    }

    /// A finished reply; None when the statement must be sent again (the session was renewed). A statement still
    /// running is polled at its result URL until it finished.
    async fn settle(
        self: &Arc<Self>,
        mut reply: Value,
        tokens: &mut Arc<Tokens>,
        renewals: &mut u32,
        what: &str,
    ) -> Result<Option<Value>> {
        let mut pause = Duration::from_millis(100);
        loop {
            if reply["success"].as_bool() == Some(true) {
                return Ok(Some(reply));
            }
            let (code, _) = errors::code_of(&reply);
            if [SESSION_EXPIRED, MASTER_EXPIRED, LOGIN_AGAIN].contains(&code.as_str())
                && *renewals < 2
            {
                *renewals += 1;
                *tokens = self.renew(tokens, &code).await?;
                let Some(url) = reply["data"]["getResultUrl"].as_str() else {
                    return Ok(None);
                };
                reply = self.poll(url, tokens, what).await?;
                continue;
            }
            if !IN_PROGRESS.contains(&code.as_str()) {
                return Err(errors::query(&reply, what));
            }
            let url = reply["data"]["getResultUrl"]
                .as_str()
                .ok_or_else(|| errors::malformed(what, "a running statement without getResultUrl"))?
                .to_string();
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_POLL);
            reply = self.poll(&url, tokens, what).await?;
        }
    }

    async fn poll(&self, path: &str, tokens: &Tokens, what: &str) -> Result<Value> {
        let url = format!("{}{path}", self.conn.base());
        self.call(Method::GET, &url, Some(&tokens.token), None, what)
            .await
    }

    /// One request with our headers; the reply's JSON, whatever the status when it is JSON.
    async fn call(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        what: &str,
    ) -> Result<Value> {
        let auth = token.map(|t| format!("Snowflake Token=\"{t}\""));
        let agent = format!("{APP}/{VERSION}");
        let mut headers = vec![
            ("accept", "application/snowflake"),
            ("content-type", "application/json"),
            ("user-agent", agent.as_str()),
        ];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth.as_str()));
        }
        let reply = self
            .http
            .send(method, url, &headers, body, REQUEST_LIMIT)
            .await?;
        match serde_json::from_slice::<Value>(&reply.body) {
            Ok(v) if v.is_object() => Ok(v),
            _ => Err(errors::http(
                reply.status.as_u16(),
                what,
                &self.conn.host,
                token.is_none(),
            )),
        }
    }

    /// The session's tokens, logging in first when there is no session.
    pub async fn tokens(self: &Arc<Self>) -> Result<Arc<Tokens>> {
        let mut session = self.session.lock().await;
        if let Some(t) = session.as_ref() {
            return Ok(t.clone());
        }
        let fresh = Arc::new(self.login().await?);
        *session = Some(fresh.clone());
        Ok(fresh)
    }

    /// New tokens after `stale` was refused with `code`: the master token renews an expired session token; any
    /// other refusal (or a failed renewal) logs in again. Concurrent requests renew once: whoever comes second
    /// finds tokens newer than its own.
    async fn renew(self: &Arc<Self>, stale: &Arc<Tokens>, code: &str) -> Result<Arc<Tokens>> {
        let mut session = self.session.lock().await;
        if let Some(current) = session.as_ref().filter(|c| !Arc::ptr_eq(c, stale)) {
            return Ok(current.clone());
        }
        let renewed = match (&stale.master, code == SESSION_EXPIRED) {
            (Some(master), true) => self.renew_with(master, &stale.token).await.ok(),
            _ => None,
        };
        let fresh = Arc::new(match renewed {
            Some(t) => t,
            None => self.login().await?,
        });
        *session = Some(fresh.clone());
        Ok(fresh)
    }

    async fn renew_with(&self, master: &str, old: &str) -> Result<Tokens> {
        let url = format!(
            "{}/session/token-request?requestId={}",
            self.conn.base(),
            request_id()
        );
        let body = json!({"oldSessionToken": old, "requestType": "RENEW"}).to_string();
        let reply = self
            .call(
                Method::POST,
                &url,
                Some(master),
                Some(body.into_bytes()),
                "renewing the session",
            )
            .await?;
        let data = &reply["data"];
        match (reply["success"].as_bool(), data["sessionToken"].as_str()) {
            (Some(true), Some(token)) => Ok(Tokens {
                token: token.to_string(),
                master: data["masterToken"]
                    .as_str()
                    .map_or(Some(master.to_string()), |m| Some(m.to_string())),
            }),
            _ => Err(errors::query(&reply, "renewing the session")),
        }
    }

    async fn login(self: &Arc<Self>) -> Result<Tokens> {
        let c = &self.conn;
        let mut data = json!({
            "CLIENT_APP_ID": APP,
            "CLIENT_APP_VERSION": VERSION,
            "ACCOUNT_NAME": c.account,
            "LOGIN_NAME": c.user,
            "CLIENT_ENVIRONMENT": {"APPLICATION": APP, "OS": std::env::consts::OS},
            "SESSION_PARAMETERS": {
                "CLIENT_SESSION_KEEP_ALIVE": true,
                "PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": "ARROW",
                "AUTOCOMMIT": true,
                // CURRENT_TIMESTAMP cast to a naive type is then UTC, as naive timestamps are compared (sql.rs).
                "TIMEZONE": "UTC",
            },
        });
        match &c.auth {
            SnowflakeAuth::Password(p) => data["PASSWORD"] = json!(p),
            SnowflakeAuth::KeyPair { pem } => {
                let signer = Signer::from_pem(pem, &c.account, &c.user)?;
                data["AUTHENTICATOR"] = json!("SNOWFLAKE_JWT");
                data["TOKEN"] = json!(signer.token(chrono::Utc::now().timestamp())?);
            }
        }
        let mut query = vec![("requestId", request_id())];
        for (name, value) in [
            ("databaseName", &c.database),
            ("schemaName", &c.schema),
            ("warehouse", &c.warehouse),
            ("roleName", &c.role),
        ] {
            if let Some(v) = value {
                query.push((name, v.clone()));
            }
        }
        let query: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let url = format!("{}/session/v1/login-request?{}", c.base(), query.join("&"));
        let body = json!({"data": data}).to_string().into_bytes();
        let reply = self
            .call(Method::POST, &url, None, Some(body), "logging in")
            .await?;
        if reply["success"].as_bool() != Some(true) {
            let key_pair = matches!(c.auth, SnowflakeAuth::KeyPair { .. });
            return Err(errors::login(&reply, &c.user, key_pair));
        }
        let data = &reply["data"];
        let token = data["token"]
            .as_str()
            .ok_or_else(|| errors::malformed("logging in", "no session token"))?;
        keep_alive(Arc::downgrade(self), heartbeat_seconds(data));
        Ok(Tokens {
            token: token.to_string(),
            master: data["masterToken"].as_str().map(str::to_string),
        })
    }

    /// Ends the session (the service forgets its tokens); the next request logs in again.
    pub async fn logout(&self) {
        let Some(tokens) = self.session.lock().await.take() else {
            return;
        };
        let url = format!(
            "{}/session?delete=true&requestId={}",
            self.conn.base(),
            request_id()
        );
        let _ = self
            .call(Method::POST, &url, Some(&tokens.token), None, "logging out")
            .await;
    }

    /// Drops the session without telling the service (from synchronous code); it expires on its own.
    pub fn forget(&self) {
        if let Ok(mut session) = self.session.try_lock() {
            *session = None;
        }
    }

    async fn heartbeat(&self) -> bool {
        let Some(tokens) = self.session.lock().await.clone() else {
            return false;
        };
        let url = format!(
            "{}/session/heartbeat?requestId={}",
            self.conn.base(),
            request_id()
        );
        let _ = self
            .call(
                Method::POST,
                &url,
                Some(&tokens.token),
                None,
                "keeping the session alive",
            )
            .await;
        true
    }
}

/// CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY from the login's parameters (an hour when absent), at least a
/// minute.
fn heartbeat_seconds(data: &Value) -> u64 {
    let found = data["parameters"].as_array().and_then(|ps| {
        ps.iter()
            .find(|p| p["name"] == "CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY")
            .and_then(|p| p["value"].as_u64())
    });
    found.unwrap_or(3600).clamp(60, 14_400)
}

/// Heartbeats while the client lives and has a session, so that a session idle between two reads (a long
/// upsert on the destination side, say) is not expired by the service. Stops when the client is dropped.
fn keep_alive(client: Weak<Client>, every_s: u64) {
    crate::runtime::get().spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(every_s)).await;
            let Some(client) = client.upgrade() else {
                return;
            };
            if !client.heartbeat().await {
                return;
            }
        }
    });
}

/// A random request id (UUID v4 form) from the system's generator.
fn request_id() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Percent-encoding of a query-string value (everything but RFC 3986's unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded_and_request_ids_are_uuids() {
        assert_eq!(encode("MY DB/x&y"), "MY%20DB%2Fx%26y");
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, request_id());
    }

    #[test]
    fn the_heartbeat_follows_the_login_parameters() {
        let data = json!({"parameters": [{"name": "CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY", "value": 900}]});
        assert_eq!(heartbeat_seconds(&data), 900);
        assert_eq!(heartbeat_seconds(&json!({})), 3600);
    }
}
