//! Snowflake's failures in our one error type. A reply with `"success": false` carries Snowflake's error code
//! (`code`, six digits) and, for SQL errors, a SQLSTATE (`data.sqlState`); the code goes into `number`, so both
//! reach Python as attributes. Login failures name the configuration key to fix.

use crate::error::Error;
use serde_json::Value;

/// The session token expired: renew it with the master token, or log in again.
pub const SESSION_EXPIRED: &str = "390112";
/// The master token expired (or the session is gone): log in again.
pub const MASTER_EXPIRED: &str = "390114";
/// The session is unknown to the service (logged out, or another server answered): log in again.
pub const LOGIN_AGAIN: &str = "390104";
/// The statement is still running: poll `getResultUrl`.
pub const IN_PROGRESS: [&str; 2] = ["333333", "333334"];

/// The error code and message of a failed reply.
pub fn code_of(reply: &Value) -> (String, String) {
    let code = match &reply["code"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => format!("{:06}", n.as_i64().unwrap_or_default()),
        _ => String::new(),
    };
    let message = reply["message"]
        .as_str()
        .unwrap_or("no message")
        .to_string();
    (code, message)
}

fn sqlstate(reply: &Value) -> Option<String> {
    reply["data"]["sqlState"].as_str().map(str::to_string)
}

fn number(code: &str) -> Option<i32> {
    code.parse().ok()
}

/// A refused login: which key to fix, from Snowflake's code (and, for the objects a session names, its message).
pub fn login(reply: &Value, user: &str, key_pair: bool) -> Error {
    let (code, message) = code_of(reply);
    let lower = message.to_ascii_lowercase();
    let (key, fix) = match code.as_str() {
        "390100" if key_pair => ("private_key", "check the key and the login name"),
        "390100" => ("password", "check the password and the login name ('user')"),
        "390144" | "394304" => (
            "private_key",
            "the JWT was refused: register the key's public half on the user (ALTER USER ... SET RSA_PUBLIC_KEY) and check 'account' and 'user'",
        ),
        "390101" | "390102" => ("user", "the user is locked or disabled; ask an administrator"),
        "390189" => ("role", "grant the role to the user, or fix the name"),
        _ if lower.contains("warehouse") => ("warehouse", "fix the name or grant USAGE on it"),
        _ if lower.contains("database") => ("database", "fix the name or grant USAGE on it"),
        _ if lower.contains("role") => ("role", "grant the role to the user, or fix the name"),
        _ if lower.contains("account") => ("account", "check the account identifier"),
        _ => ("user", "check the login settings"),
    };
    Error::Connect {
        message: format!(
            "Snowflake refused the login of '{user}' (code {code}: {message}); configuration key '{key}': {fix}"
        ),
        sqlstate: sqlstate(reply),
        number: number(&code),
        transient: false,
    }
}

/// A refused request that is not JSON: the account's host does not exist or the service is failing.
pub fn http(status: u16, what: &str, host: &str, login: bool) -> Error {
    let transient = status == 429 || status >= 500;
    let hint = match status {
        403 | 404 if login => format!(
            "no Snowflake account answers at {host}; configuration key 'account' (or 'privatelink_host'): check the account identifier"
        ),
        429 => "the service is limiting requests; the read is retried".to_string(),
        s if s >= 500 => "the service is failing; the read is retried".to_string(),
        _ => format!("unexpected reply from {host}"),
    };
    let message = format!("{what}: HTTP {status}: {hint}");
    if login {
        Error::Connect {
            message,
            sqlstate: None,
            number: None,
            transient,
        }
    } else {
        Error::Query {
            message,
            sqlstate: None,
            number: None,
            transient,
        }
    }
}

/// A failed statement. Transient: transaction conflicts (SQLSTATE 40001) and lost connections (08xxx); HTTP 429
/// and 5xx are transient in `http`. A cancelled statement (000604) is not retried: a user's cancel and the
/// service's cannot be told apart.
pub fn query(reply: &Value, what: &str) -> Error {
    let (code, message) = code_of(reply);
    let state = sqlstate(reply);
    let transient = state
        .as_deref()
        .is_some_and(|s| s == "40001" || s.starts_with("08"));
    let hint = match code.as_str() {
        "000606" => "; configuration key 'warehouse': name a warehouse this role may use",
        "002003" => "; the object does not exist or this role may not see it",
        "000630" => "; the statement hit its timeout (STATEMENT_TIMEOUT_IN_SECONDS)",
        _ => "",
    };
    let sqlstate_text = state
        .as_deref()
        .map(|s| format!(", SQLSTATE {s}"))
        .unwrap_or_default();
    Error::Query {
        message: format!("{what}: Snowflake error {code}{sqlstate_text}: {message}{hint}"),
        sqlstate: state,
        number: number(&code),
        transient,
    }
}

/// A reply that does not have the shape the protocol documents.
pub fn malformed(what: &str, why: &str) -> Error {
    Error::Query {
        message: format!("{what}: Snowflake's reply cannot be read ({why})"),
        sqlstate: None,
        number: None,
        transient: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn login_failures_name_the_key_to_fix() {
        let bad = json!({"success": false, "code": "390100", "message": "Incorrect username or password was specified."});
        let e = login(&bad, "ME", false).to_string();
        assert!(
            e.contains("configuration key 'password'") && e.contains("390100"),
            "{e}"
        );
        assert!(login(&bad, "ME", true)
            .to_string()
            .contains("'private_key'"));
        let jwt = json!({"success": false, "code": "390144", "message": "JWT token is invalid."});
        assert!(login(&jwt, "ME", true)
            .to_string()
            .contains("'private_key'"));
        let wh = json!({"success": false, "code": "390201", "message": "The requested warehouse does not exist or not authorized."});
        assert!(login(&wh, "ME", false).to_string().contains("'warehouse'"));
        assert!(
            http(404, "logging in", "nosuch.snowflakecomputing.com", true)
                .to_string()
                .contains("'account'")
        );
    }

    #[test]
    fn only_conflicts_and_lost_connections_are_transient() {
        let cancelled = json!({"success": false, "code": "000604", "message": "x", "data": {"sqlState": "57014"}});
        assert!(!query(&cancelled, "q").is_transient());
        let deadlock = json!({"success": false, "code": "000600", "message": "x", "data": {"sqlState": "40001"}});
        assert!(query(&deadlock, "q").is_transient());
        let missing = json!({"success": false, "code": "002003", "message": "does not exist", "data": {"sqlState": "42S02"}});
        let e = query(&missing, "q");
        assert!(!e.is_transient());
        assert_eq!((e.sqlstate(), e.number()), (Some("42S02"), Some(2003)));
        assert!(
            http(503, "q", "h", false).is_transient() && !http(400, "q", "h", false).is_transient()
        );
    }
}
