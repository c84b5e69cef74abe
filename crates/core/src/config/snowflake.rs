//! Which Snowflake account, who logs in and how; seed 000's key names unchanged (`snowflake_user`, `account`,
//! `private_key`, `use_privatelink`, `ssl_verify`, ...). A configuration is Snowflake's when it names an account
//! (`account` / `snowflake_account`) or turns `use_privatelink` on.

use super::values::Values;
use crate::error::{Error, Result};

/// How the login proves who it is.
#[derive(Debug, Clone)]
pub enum Auth {
    Password(String),
    /// Key-pair authentication: an RS256 JWT signed with this PKCS#8 private key (PEM).
    KeyPair {
        pem: String,
    },
}

#[derive(Debug, Clone)]
pub struct SnowflakeConnection {
    /// The account identifier as Snowflake's JWT issuer names it (`ORG-ACCOUNT`, or the locator without region).
    pub account: String,
    /// Where the service is: `<account>.snowflakecomputing.com`, the PrivateLink host, or `host` when given.
    pub host: String,
    pub port: u16,
    /// `https`, or `http` for a local emulator on a loopback address (nothing else may log in unencrypted).
    pub scheme: &'static str,
    pub user: String,
    pub auth: Auth,
    pub warehouse: Option<String>,
    pub database: Option<String>,
    /// The session's schema when one schema is selected (seed 000's `schema`), as the seed's session had it:
    /// unqualified names in `preprocessing_sql` resolve in it. Reads name their tables in full either way.
    pub schema: Option<String>,
    pub role: Option<String>,
    /// Verify the service's certificate (`ssl_verify`, seed 000's key; true unless set false).
    pub ssl_verify: bool,
    pub connect_timeout_s: u64,
    /// Seed 000's `batch_delay_ms`: the least time between the starts of two result fetches of the reads (a read's
    /// statement, whose reply brings the first rows, and each further result chunk), across partitions, so that a
    /// busy account is not hammered. Zero (the default) paces nothing.
    pub batch_delay: std::time::Duration,
}

/// A minute between two fetches: more is a typo (a table of a thousand chunks would take 17 hours to read).
pub const MAX_BATCH_DELAY_MS: u64 = 60_000;

impl SnowflakeConnection {
    /// `https://host:port`, for messages and requests (never a secret).
    pub fn base(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }
}

fn required(v: &Values, key: &'static str, what: &str) -> Result<String> {
    v.text(key)
        .ok_or_else(|| Error::config(v.key(key), format!("is missing; set it to {what}")))
}

/// Whether the configuration is Snowflake's: it names an account (or still holds the account's placeholder, as a
/// new project's file does) or PrivateLink.
pub(crate) fn named(v: &Values) -> bool {
    ["account", "use_privatelink", "privatelink_host"]
        .iter()
        .any(|k| v.values.contains_key(k) || v.placeheld.contains(k))
}

/// The account identifier JWTs carry: upper case, without a region or cloud after the first dot
/// (`xy12345.us-east-1` is `XY12345`), as Snowflake's key-pair documentation says.
pub fn jwt_account(account: &str) -> String {
    account
        .split('.')
        .next()
        .unwrap_or(account)
        .to_ascii_uppercase()
}

pub(crate) fn parse(v: &mut Values) -> Result<SnowflakeConnection> {
    // In the order a new project's file is filled in: where, who, then how (which may warn, so it takes `v` whole).
    let (account, host, scheme, port) = endpoint(v)?;
    let user = required(v, "user", "the Snowflake login name")?;
    let auth = auth(v)?;
    let v: &Values = v;
    Ok(SnowflakeConnection {
        account: jwt_account(&account),
        host,
        port,
        scheme,
        user,
        auth,
        warehouse: v.text("warehouse"),
        database: Some(required(
            v,
            "database",
            "the database whose tables are synced",
        )?),
        schema: match v.list("schemas").as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        },
        role: v.text("role"),
        ssl_verify: v.flag("ssl_verify", true)?,
        connect_timeout_s: v.whole("connect_timeout", 60, 1, super::MAX_CONNECT_TIMEOUT)?,
        batch_delay: std::time::Duration::from_millis(v.whole(
            "batch_delay_ms",
            0,
            0,
            MAX_BATCH_DELAY_MS,
        )?),
    })
}

/// The account, the host, the scheme and the port: PrivateLink's or the account's host, `host` when given.
fn endpoint(v: &Values) -> Result<(String, String, &'static str, u16)> {
    let privatelink = v.flag("use_privatelink", false)?;
    let (account, mut host) = if privatelink {
        privatelink_host(v)?
    } else {
        let account = required(
            v,
            "account",
            "your account identifier, such as myorg-myaccount",
        )?;
        if account.contains(['/', ':', ' ']) {
            return Err(Error::config(
                v.key("account"),
                format!(
                    "'{account}' is not an account identifier; give the part before .snowflakecomputing.com, such as myorg-myaccount"
                ),
            ));
        }
        let host = format!("{account}.snowflakecomputing.com");
        (account, host)
    };
    if let Some(given) = v.text("host") {
        host = given;
    }
    let scheme = match v.text("protocol").map(|p| p.to_ascii_lowercase()).as_deref() {
        None | Some("https") => "https",
        Some("http") if is_loopback(&host) => "http",
        Some("http") => {
            return Err(Error::config(
                "protocol",
                "http is accepted for a local emulator on a loopback address only: the login and the data would travel unencrypted; remove the key",
            ))
        }
        Some(other) => return Err(Error::config("protocol", format!("'{other}' is not https or http"))),
    };
    let port = match v.text("port") {
        None => {
            if scheme == "https" {
                443
            } else {
                80
            }
        }
        Some(p) => p.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(|| {
            Error::config(
                "port",
                format!("'{p}' is not a port number; remove it (443) or set 1 to 65535"),
            )
        })?,
    };
    Ok((account, host, scheme, port))
}

/// A private key when one is given (PKCS#8 PEM, decrypted with `private_key_password` when it is encrypted), the
/// password otherwise.
fn auth(v: &mut Values) -> Result<Auth> {
    let Some(given) = v.text("private_key") else {
        super::private_key::warn_unused_password(v);
        let password = v.text("password").ok_or_else(|| {
            Error::config(
                v.key("password"),
                "is missing; set the login's password, or 'private_key' for key-pair authentication",
            )
        })?;
        return Ok(Auth::Password(password));
    };
    Ok(Auth::KeyPair {
        pem: super::private_key::plain_pem(v, &given)?,
    })
}

/// `privatelink_host` (`<account>.<region>.privatelink.snowflakecomputing.com`): the account is its first label.
fn privatelink_host(v: &Values) -> Result<(String, String)> {
    let host = required(
        v,
        "privatelink_host",
        "the PrivateLink host, such as myaccount.us-east-1.privatelink.snowflakecomputing.com",
    )?;
    let labels: Vec<&str> = host.split('.').collect();
    if !host.ends_with(".privatelink.snowflakecomputing.com") || labels.len() < 5 {
        return Err(Error::config(
            "privatelink_host",
            format!("'{host}' is not a PrivateLink host; give <account>.<region>.privatelink.snowflakecomputing.com"),
        ));
    }
    let account = v.text("account").unwrap_or_else(|| labels[0].to_string());
    Ok((account, host))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What a Snowflake source cannot do, refused before anything runs; an unverified certificate, warned of.
pub(crate) fn refuse_unsupported(
    conn: &SnowflakeConnection,
    warnings: &mut Vec<String>,
) -> Result<()> {
    if !conn.ssl_verify && conn.scheme == "https" {
        warnings.push(format!(
            "ssl_verify is false: the certificate of {} is not verified (neither its chain nor its host name)",
            conn.host
        ));
    }
    if conn.database.is_none() {
        return Err(Error::config(
            "database",
            "is missing; set it to the database whose tables are synced",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Connection};

    fn parse(pairs: &[(&str, &str)]) -> Result<(Config, Vec<String>)> {
        Config::parse(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn snowflake(c: &Config) -> &SnowflakeConnection {
        match &c.connection {
            Connection::Snowflake(s) => s,
            other => panic!("not Snowflake: {other:?}"),
        }
    }

    #[test]
    fn the_seeds_basic_and_advanced_configurations_parse_unchanged() {
        let (c, warnings) = parse(&[
            ("user", "me"),
            ("password", "pw"),
            ("account", "xy12345.us-east-1"),
            ("warehouse", "WH"),
            ("database", "DB"),
            ("schema", "PUBLIC"),
            ("tables", "table1,table2"),
            ("enable_resource_monitoring", "true"),
            ("enable_preprocessing", "false"),
            ("timestamp_column", "updated_at"),
            ("max_retries", "5"),
            ("batch_delay_ms", "50"),
            ("role", "R"),
        ])
        .unwrap();
        let s = snowflake(&c);
        assert_eq!(
            (s.account.as_str(), s.host.as_str(), s.port),
            ("XY12345", "xy12345.us-east-1.snowflakecomputing.com", 443)
        );
        assert_eq!(
            (
                s.warehouse.as_deref(),
                s.role.as_deref(),
                s.database.as_deref()
            ),
            (Some("WH"), Some("R"), Some("DB"))
        );
        assert_eq!(c.selection.schemas, ["PUBLIC"]);
        assert_eq!(s.schema.as_deref(), Some("PUBLIC"), "the session's schema");
        assert_eq!(c.max_retries, 5);
        assert!(matches!(s.auth, Auth::Password(_)));
        assert_eq!(s.batch_delay, std::time::Duration::from_millis(50));
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn the_seeds_privatelink_configuration_takes_the_account_from_the_host() {
        let pem = "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----";
        let (c, _) = parse(&[
            ("snowflake_user", "me"),
            ("private_key", pem),
            ("use_privatelink", "true"),
            (
                "privatelink_host",
                "acct.us-east-1.privatelink.snowflakecomputing.com",
            ),
            ("snowflake_warehouse", "WH"),
            ("snowflake_database", "DB"),
            ("snowflake_schema", "S"),
            ("tables", "T"),
            ("ssl_verify", "true"),
        ])
        .unwrap();
        let s = snowflake(&c);
        assert_eq!(
            (s.account.as_str(), s.host.as_str()),
            ("ACCT", "acct.us-east-1.privatelink.snowflakecomputing.com")
        );
        assert!(
            matches!(&s.auth, Auth::KeyPair { pem } if pem.contains('\n') && !pem.contains("\\n"))
        );
    }

    #[test]
    fn bad_snowflake_values_name_their_key() {
        let base = [
            ("account", "a"),
            ("user", "u"),
            ("password", "p"),
            ("database", "D"),
        ];
        let with = |k: &'static str, v: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push((k, v));
            parse(&pairs)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(
            with("protocol", "http").contains("'protocol'"),
            "http to a remote host is refused"
        );
        let mut pairs = base.to_vec();
        pairs.extend([
            ("use_privatelink", "true"),
            ("privatelink_host", "x.example.com"),
        ]);
        assert!(parse(&pairs)
            .unwrap_err()
            .to_string()
            .contains("'privatelink_host'"));
        let e = parse(&[("account", "a"), ("user", "u"), ("database", "D")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'password'"), "{e}");
        let e = parse(&[("account", "a"), ("user", "u"), ("password", "p")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'database'"), "{e}");
        let e = with("private_key", "-----BEGIN ENCRYPTED PRIVATE KEY-----x");
        assert!(
            e.contains("'private_key_password'") && e.contains("'private_key'"),
            "{e}"
        );
        for bad in ["-1", "fast", "60001", "1.5", "99999999999999999999999"] {
            let e = with("batch_delay_ms", bad);
            assert!(
                e.starts_with("configuration key 'batch_delay_ms'") && e.contains("0 to 60000"),
                "{bad}: {e}"
            );
        }
        let e = with("enable_preprocessing", "true");
        assert!(e.contains("'preprocessing_sql'"), "{e}");
        let mut pairs = base.to_vec();
        pairs.extend([
            ("enable_preprocessing", "true"),
            ("preprocessing_sql", "UPDATE {table} SET F = TRUE"),
            ("preprocessing_table", "PUBLIC.T"),
        ]);
        let (c, _) = parse(&pairs).unwrap();
        assert_eq!(
            c.preprocessing.tables,
            ["PUBLIC.T"],
            "Snowflake runs preprocessing too"
        );
        let (c, _) = parse(&[
            ("account", "a"),
            ("user", "u"),
            ("password", "p"),
            ("database", "D"),
            ("protocol", "http"),
            ("host", "127.0.0.1"),
            ("port", "8080"),
        ])
        .unwrap();
        assert_eq!(snowflake(&c).base(), "http://127.0.0.1:8080");
    }
}
