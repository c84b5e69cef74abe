//! tiberius errors as the core's one error type: SQL Server error numbers decide what is retried.

use crate::error::{io_transient, Error};

/// Error numbers that describe the moment rather than the request: deadlock victim, lock timeout, connection
/// resets and timeouts, and Azure SQL's transient family (reconfiguration, failover, throttling).
pub fn transient_number(number: i32) -> bool {
    matches!(
        number,
        1205 | 1222
            | -2
            | 53
            | 64
            | 121
            | 233
            | 10053
            | 10054
            | 10060
            | 10928
            | 10929
            | 40143
            | 40197
            | 40501
            | 40613
            | 49918
            | 49919
            | 49920
    )
}

/// What to check for a permanent server error that a configuration change fixes.
fn hint(number: i32) -> &'static str {
    match number {
        18456 => "; check 'mssql_user' and 'mssql_password'",
        4060 | 911 => "; check 'mssql_database' and that the login may open it",
        208 => "; the table or view does not exist (or the login cannot see it): check 'tables'",
        229 | 230 => "; grant the login SELECT on it",
        _ => "",
    }
}

/// The server's words and number (or the client-side cause), and whether a retry can succeed.
fn describe(err: &tiberius::error::Error) -> (String, Option<i32>, bool) {
    use tiberius::error::Error as T;
    match err {
        T::Server(e) => {
            let n = e.code() as i32;
            (
                format!(
                    "{} (error {n}, severity {}){}",
                    e.message(),
                    e.class(),
                    hint(n)
                ),
                Some(n),
                transient_number(n),
            )
        }
        T::Io { kind, message } => (message.clone(), None, io_transient(*kind)),
        T::Tls(m) => (tls_message(m), None, false),
        T::Routing { host, port } => (
            format!(
                "the server redirects to {host}:{port}; set 'mssql_server' and 'mssql_port' to it"
            ),
            None,
            false,
        ),
        other => {
            let text = other.to_string();
            let broken = text.contains("EOF") || text.contains("closed") || text.contains("reset");
            (text, None, broken)
        }
    }
}

/// A TLS failure in this connector's terms: tiberius' own advice names its Rust API (`Config::trust_cert_ca`,
/// building with another backend), which a user of this connector cannot act on; the keys that do the same are
/// named instead, and the TLS library's reason is said in words.
fn tls_message(m: &str) -> String {
    const KEYS: &str = "set 'cert' to the CA certificate that signed the server's certificate, 'mssql_cert_server' \
        to the host name it carries (when you connect by IP or alias), or, only on a trusted network, \
        'trust_server_certificate' to true";
    if let Some(rest) =
        m.strip_prefix("the server's certificate was rejected during the TLS handshake: ")
    {
        let reason = rest
            .split(" To connect anyway")
            .next()
            .unwrap_or(rest)
            .trim_end()
            .trim_end_matches('.');
        return format!(
            "the server's certificate was rejected: {}. To connect, {KEYS}",
            certificate_reason(reason)
        );
    }
    format!("TLS: {m}; check 'encrypt' (on, strict, off or disable), or {KEYS}")
}

/// What rustls' reason for refusing a certificate (its enum's Debug text) means, in words.
fn certificate_reason(reason: &str) -> String {
    if let Some(rest) = reason.strip_prefix("certificate not valid for name ") {
        return wrong_name(rest);
    }
    let words = [
        ("CaUsedAsEndEntity", "the server presents a self-signed certificate (SQL Server makes one for itself \
            when none is configured), which no CA vouches for"),
        ("UnknownIssuer", "the server's certificate is signed by a CA that is not trusted here (neither 'cert' nor \
            the system's CAs)"),
        ("BadSignature", "the server's certificate was not signed by the CA given in 'cert' (another CA with the \
            same name, or a forged certificate)"),
        ("Expired", "the server's certificate has expired"),
        ("NotValidYet", "the server's certificate is not valid yet (check the clocks)"),
        ("Revoked", "the server's certificate has been revoked"),
        ("UnsupportedCertVersion", "the server's certificate is of an outdated X.509 version, as SQL Server's \
            self-signed ones can be"),
    ];
    words
        .iter()
        .find(|(tag, _)| reason.contains(tag))
        .map_or_else(|| reason.to_string(), |(_, said)| said.to_string())
}

/// `"127.0.0.1"; certificate is only valid for DnsName("localhost")` as: the certificate is for localhost.
fn wrong_name(rest: &str) -> String {
    let asked = rest.split('"').nth(1).unwrap_or("the server name");
    let carried: Vec<&str> = rest
        .split_once("only valid for")
        .map(|(_, names)| names.split('"').skip(1).step_by(2).collect())
        .unwrap_or_default();
    match carried.as_slice() {
        [] => format!("the server's certificate carries no name matching '{asked}'"),
        names => {
            let list = names.join(" or ");
            format!(
                "the server's certificate is for {list}, not {asked}: set 'mssql_cert_server' to {} or connect \
                 by that name ('mssql_server')",
                names[0]
            )
        }
    }
}

pub fn query(context: &str, err: tiberius::error::Error) -> Error {
    let (message, number, transient) = describe(&err);
    Error::Query {
        message: format!("{context}: {message}"),
        sqlstate: None,
        number,
        transient,
    }
}

pub fn connect(target: &str, err: tiberius::error::Error) -> Error {
    let (message, number, transient) = describe(&err);
    let message = if message.contains("encryption level") {
        format!("{message}; the server does not offer TLS: set 'encrypt' to off or disable only on a trusted network")
    } else {
        message
    };
    Error::Connect {
        message: format!("cannot connect to {target}: {message}"),
        sqlstate: None,
        number,
        transient,
    }
}

#[cfg(test)]
mod tests {
    use super::transient_number;

    #[test]
    fn tls_failures_name_this_connectors_keys_not_the_drivers_api() {
        let driver = "the server's certificate was rejected during the TLS handshake: invalid peer certificate: \
            NotValidForName. To connect anyway you can: (1) trust a specific CA certificate with \
            `Config::trust_cert_ca(path)` ... (4) build tiberius with the `native-tls` backend.";
        let ours = super::tls_message(driver);
        assert!(ours.contains("NotValidForName"), "{ours}");
        let self_signed = "the server's certificate was rejected during the TLS handshake: \
            Other(OtherError(CaUsedAsEndEntity)). To connect anyway you can: ...";
        let said = super::tls_message(self_signed);
        assert!(
            said.contains("self-signed certificate") && !said.contains("OtherError"),
            "{said}"
        );
        let by_ip = "the server's certificate was rejected during the TLS handshake: certificate not valid for \
            name \"127.0.0.1\"; certificate is only valid for DnsName(\"localhost\"). To connect anyway ...";
        let said = super::tls_message(by_ip);
        assert!(
            said.contains("is for localhost, not 127.0.0.1: set 'mssql_cert_server' to localhost")
                && !said.contains("DnsName"),
            "{said}"
        );
        for key in [
            "'cert'",
            "'mssql_cert_server'",
            "'trust_server_certificate'",
        ] {
            assert!(ours.contains(key), "{ours}");
        }
        assert!(
            !ours.contains("Config::") && !ours.contains("native-tls"),
            "{ours}"
        );
        assert!(super::tls_message("handshake failure").contains("'encrypt'"));
        assert!(
            super::hint(911).contains("'mssql_database'"),
            "911: database does not exist"
        );
    }

    #[test]
    fn error_numbers_are_classified() {
        for n in [1205, -2, 10054, 10053, 40613, 40197, 49918] {
            assert!(transient_number(n), "{n} should be retried");
        }
        for n in [18456, 4060, 208, 229, 207, 102] {
            assert!(!transient_number(n), "{n} should fail at once");
        }
    }
}
