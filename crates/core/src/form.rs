//! The setup form Fivetran's UI shows, defined once for every front end: the Connector SDK's
//! `configuration_form()` (built in Python from `fields`) and the Partner SDK's `ConfigurationForm` rpc.
//!
//! Field names are the configuration keys `config` reads; secrets are password fields; the TLS modes and the emit
//! path are dropdowns listing exactly the values the configuration accepts.

/// How a field is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text {
        required: bool,
        placeholder: Option<&'static str>,
        secret: bool,
    },
    /// The accepted values, each with what it means.
    Dropdown(&'static [(&'static str, &'static str)]),
    Toggle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub kind: Kind,
}

/// The setup test's label: connect and discover the selected tables.
pub const TEST_LABEL: &str = "Connect and discover the selected tables";

const fn text(name: &'static str, label: &'static str, description: &'static str) -> Field {
    Field {
        name,
        label,
        description,
        kind: Kind::Text {
            required: false,
            placeholder: None,
            secret: false,
        },
    }
}

const fn required(
    name: &'static str,
    label: &'static str,
    description: &'static str,
    placeholder: Option<&'static str>,
) -> Field {
    Field {
        kind: Kind::Text {
            required: true,
            placeholder,
            secret: false,
        },
        ..text(name, label, description)
    }
}

const fn with_placeholder(field: Field, placeholder: &'static str) -> Field {
    Field {
        kind: Kind::Text {
            required: false,
            placeholder: Some(placeholder),
            secret: false,
        },
        ..field
    }
}

const fn secret(name: &'static str, label: &'static str, description: &'static str) -> Field {
    Field {
        kind: Kind::Text {
            required: true,
            placeholder: None,
            secret: true,
        },
        ..text(name, label, description)
    }
}

/// A secret that may stay empty (another way of logging in replaces it).
const fn optional_secret(
    name: &'static str,
    label: &'static str,
    description: &'static str,
) -> Field {
    Field {
        kind: Kind::Text {
            required: false,
            placeholder: None,
            secret: true,
        },
        ..text(name, label, description)
    }
}

const SELECTION: [Field; 6] = [
    text(
        "schemas",
        "Schemas",
        "Comma-separated schemas to sync; empty syncs every schema.",
    ),
    text(
        "tables",
        "Tables",
        "Comma-separated schema.table names; empty syncs every table of the schemas.",
    ),
    text(
        "exclude_tables",
        "Excluded tables",
        "Comma-separated schema.table names never synced.",
    ),
    text(
        "cursor_columns",
        "Cursor columns",
        "Incremental cursors: a column name, or schema.table.column entries.",
    ),
    text(
        "soft_delete_column",
        "Soft-delete column",
        "A boolean, integer or timestamp column marking deleted rows.",
    ),
    text(
        "delete_reconciliation_hours",
        "Delete reconciliation (hours)",
        "Tables read by cursor: mark rows deleted in the source by a key-only scan at most every N hours (0: every \
         sync, up to 8760); empty: off.",
    ),
];

const EMIT: Field = Field {
    name: "emit",
    label: "Emit path",
    description: "How rows reach the SDK: auto (verified fast path) or sdk (op.upsert).",
    kind: Kind::Dropdown(&[
        (
            "auto",
            "Records encoded in Rust, checked against the SDK's own encoding",
        ),
        ("sdk", "The SDK's public operations, row by row"),
    ]),
};

const POSTGRES: [Field; 7] = [
    required(
        "host",
        "Host",
        "Host name or IP address of the PostgreSQL server.",
        Some("db.example.com"),
    ),
    with_placeholder(text("port", "Port", "TCP port."), "5432"),
    required("database", "Database", "Database to sync.", None),
    required(
        "user",
        "User",
        "Login with SELECT on the synced tables.",
        None,
    ),
    secret("password", "Password", "The login's password."),
    Field {
        name: "sslmode",
        label: "TLS mode",
        description: "libpq's sslmode: verify-full checks the certificate and host name.",
        kind: Kind::Dropdown(&[
            ("verify-full", "TLS; certificate and host name verified"),
            ("verify-ca", "TLS; certificate verified, host name not"),
            ("require", "TLS; nothing verified"),
            ("prefer", "TLS when the server offers it"),
            ("disable", "No TLS"),
        ]),
    },
    text(
        "sslrootcert",
        "CA certificate",
        "Path or PEM text of the CA that signed the server's certificate.",
    ),
];

/// PostgreSQL's change data capture: the method and the names of what carries it.
const REPLICATION: [Field; 3] = [
    Field {
        name: "update_method",
        label: "Update method",
        description: "How changes after the first load are found: cursor (a cursor column per table), logical \
                      (logical replication: every insert, update, delete and truncate; needs wal_level=logical) or \
                      auto (logical where the server and login allow it, else cursor; decided on the first sync \
                      and kept).",
        kind: Kind::Dropdown(&[
            ("cursor", "A cursor column per table (or a full read)"),
            ("logical", "Logical replication (pgoutput): inserts, updates, deletes, truncates"),
            ("auto", "Logical where possible, else cursor (decided once, on the first sync)"),
        ]),
    },
    text(
        "replication_slot",
        "Replication slot",
        "update_method=logical: the slot this connection reads alone; empty: derived from the connection.",
    ),
    text(
        "publication",
        "Publication",
        "update_method=logical: the publication filtering the slot; empty: one of ours, derived from the connection.",
    ),
];

const FLATTEN: Field = Field {
    name: "flatten_json",
    label: "Flatten JSON",
    description: "JSON objects become typed columns.",
    kind: Kind::Toggle,
};

const SQLSERVER: [Field; 9] = [
    required(
        "mssql_server",
        "Server",
        "Host name or IP address of the SQL Server.",
        Some("sql.example.com"),
    ),
    with_placeholder(text("mssql_port", "Port", "TCP port."), "1433"),
    required("mssql_database", "Database", "Database to sync.", None),
    required(
        "mssql_user",
        "User",
        "SQL Server login with SELECT on the synced tables.",
        None,
    ),
    secret("mssql_password", "Password", "The login's password."),
    Field {
        name: "encrypt",
        label: "Encryption",
        description: "TLS for the session (TDS 8.0 strict needs SQL Server 2022).",
        kind: Kind::Dropdown(&[
            ("on", "TLS, certificate verified"),
            ("strict", "TDS 8.0 strict TLS"),
            ("off", "TLS for the login only, certificate not verified"),
            ("disable", "No TLS"),
        ]),
    },
    text(
        "cert",
        "CA certificate",
        "Path or PEM text of the CA that signed the server's certificate.",
    ),
    text(
        "mssql_cert_server",
        "Certificate host name",
        "The name the certificate carries, if not the server's.",
    ),
    Field {
        name: "trust_server_certificate",
        label: "Trust the server certificate",
        description: "Skips certificate verification: only on a trusted network.",
        kind: Kind::Toggle,
    },
];

/// Seed 000's keys (`snowflake_user`, ... are accepted as aliases of these).
const SNOWFLAKE: [Field; 11] = [
    required(
        "account",
        "Account",
        "Account identifier: the part before .snowflakecomputing.com.",
        Some("myorg-myaccount"),
    ),
    required(
        "user",
        "User",
        "Login name with SELECT on the synced tables.",
        None,
    ),
    optional_secret(
        "password",
        "Password",
        "The login's password (or use a private key).",
    ),
    optional_secret(
        "private_key",
        "Private key",
        "PKCS#8 PEM for key-pair (JWT) authentication, encrypted or not; replaces the password.",
    ),
    optional_secret(
        "private_key_password",
        "Private key passphrase",
        "The passphrase of an encrypted private key (BEGIN ENCRYPTED PRIVATE KEY).",
    ),
    required("database", "Database", "Database to sync.", None),
    text("warehouse", "Warehouse", "Warehouse the reads run on."),
    text(
        "role",
        "Role",
        "Role of the session; empty: the user's default.",
    ),
    Field {
        name: "use_privatelink",
        label: "Use PrivateLink",
        description: "Connect through the PrivateLink host below.",
        kind: Kind::Toggle,
    },
    text(
        "privatelink_host",
        "PrivateLink host",
        "<account>.<region>.privatelink.snowflakecomputing.com",
    ),
    Field {
        name: "ssl_verify",
        label: "Verify TLS certificates",
        description: "Off only behind a TLS-intercepting proxy you trust.",
        kind: Kind::Toggle,
    },
];

/// The form's fields for `source` ("postgres", "sqlserver" or "snowflake"), in the order the UI shows them; None
/// for another source name.
pub fn fields(source: &str) -> Option<Vec<Field>> {
    let mut all: Vec<Field> = match source {
        "postgres" => POSTGRES.to_vec(),
        "sqlserver" => SQLSERVER.to_vec(),
        "snowflake" => SNOWFLAKE.to_vec(),
        _ => return None,
    };
    all.extend(SELECTION);
    if source != "sqlserver" {
        all.push(FLATTEN);
    }
    // Logical replication is PostgreSQL's alone (the configuration refuses it elsewhere).
    if source == "postgres" {
        all.extend(REPLICATION);
    }
    all.push(EMIT);
    Some(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Every dropdown value is one the configuration accepts, and every field is a key it knows.
    #[test]
    fn every_field_is_a_key_the_configuration_accepts() {
        for source in ["postgres", "sqlserver", "snowflake"] {
            for field in fields(source).unwrap_or_default() {
                let values: Vec<&str> = match field.kind {
                    Kind::Dropdown(options) => options.iter().map(|(v, _)| *v).collect(),
                    Kind::Toggle => vec!["true", "false"],
                    Kind::Text { .. } => vec![],
                };
                for value in values {
                    let (server, user) = match source {
                        "postgres" => (["host", "user", "database", "password"], "user"),
                        "snowflake" => (["account", "user", "database", "password"], "user"),
                        _ => (
                            [
                                "mssql_server",
                                "mssql_user",
                                "mssql_database",
                                "mssql_password",
                            ],
                            "mssql_user",
                        ),
                    };
                    let mut raw: BTreeMap<String, String> = server
                        .iter()
                        .map(|k| (k.to_string(), "x".to_string()))
                        .collect();
                    raw.insert(user.into(), "u".into());
                    if source == "snowflake" {
                        let host = "a.us-east-1.privatelink.snowflakecomputing.com";
                        raw.insert("privatelink_host".into(), host.into());
                    }
                    raw.insert(field.name.to_string(), value.to_string());
                    let parsed = crate::config::Config::parse(&raw);
                    let (_, warnings) =
                        parsed.unwrap_or_else(|e| panic!("{}={value}: {e}", field.name));
                    assert!(
                        warnings.iter().all(|w| !w.contains("unknown")),
                        "{warnings:?}"
                    );
                }
            }
        }
        assert!(fields("oracle").is_none());
    }
}
