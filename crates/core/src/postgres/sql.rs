//! The PostgreSQL dialect of the shared read statement (`crate::statement`), and the statements only PostgreSQL
//! sends: key samples, the watermark with its open-writer guard, JSON samples. Identifiers go through
//! `quote_ident`; values are always bound parameters.

use super::types::decoder;
use crate::fetch::PgFetch as Decoder;
use crate::model::{Column, Cursor, CursorKind, Table};
use crate::statement::{src, Dialect, Params, SinceCursor};

/// A double-quoted identifier, inner quotes doubled: safe for any name, reserved words and mixed case included.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn qualified(table: &Table) -> String {
    if let Some(query) = &table.query {
        // The user's own statement, read as a subquery; its values are the user's business, not ours to bind.
        return format!("({query})");
    }
    let only = if table.own_rows_only { "ONLY " } else { "" };
    format!(
        "{only}{}.{}",
        quote_ident(&table.schema),
        quote_ident(&table.name)
    )
}

pub struct Postgres;

/// The server's own time zone: what a session gets without a `SET TimeZone` (ours sets UTC), from the
/// configuration file, the database or the role. A `timestamp` (without time zone) cursor is written in it.
const SERVER_ZONE: &str = "(SELECT reset_val FROM pg_settings WHERE name = 'TimeZone')";

/// The server zone's UTC offset on each day of the last year.
const ZONE_OFFSETS: &str = "SELECT z.reset_val AS zone, (t AT TIME ZONE z.reset_val) - (t AT TIME ZONE 'UTC') AS o \
     FROM pg_settings AS z, generate_series(now() - interval '1 year', now(), interval '1 day') AS t \
     WHERE z.name = 'TimeZone'";

/// How long the wall clock repeats when the server's zone falls back (1 hour on most DST zones, 0 without DST).
fn repeated_hour() -> String {
    format!("(SELECT max(o) - min(o) FROM ({ZONE_OFFSETS}) AS offsets)")
}

/// Whether a cursor of source type `ty` holds wall-clock values without a zone (timestamp, date).
fn naive(ty: &str) -> bool {
    !ty.contains("with time zone")
}

impl Dialect for Postgres {
    fn quote(&self, name: &str) -> String {
        quote_ident(name)
    }

    fn placeholder(&self, n: usize) -> String {
        format!("${n}")
    }

    /// Typed text: an untyped `$n` would take the type the server infers, which a text value may not bind to.
    fn bound_text(&self, n: usize) -> String {
        format!("${n}::text")
    }

    fn cast(&self, placeholder: &str, ty: &str) -> String {
        format!("CAST({placeholder}::text AS {ty})")
    }

    fn alias(&self) -> &'static str {
        "src"
    }

    fn fallback_type(&self) -> &'static str {
        "text"
    }

    fn from(&self, table: &Table) -> String {
        qualified(table)
    }

    /// Selected so that the binary value is one `decode` understands.
    fn select_expr(&self, column: &Column) -> String {
        let name = quote_ident(&column.name);
        match decoder(column) {
            Decoder::CastText => format!("{name}::text"),
            Decoder::Money => format!("{name}::numeric"),
            Decoder::Array => format!("to_jsonb({name})"),
            _ => name,
        }
    }

    /// A row comparison, so composite keys order as the index does.
    fn compare(&self, left: &[String], op: &str, right: &[String]) -> String {
        format!("({}) {op} ({})", left.join(", "), right.join(", "))
    }

    fn since(&self, c: &SinceCursor, p: &mut Params<'_>) -> Option<String> {
        if c.kind == CursorKind::Integer {
            return c
                .high
                .map(|h| format!("{} >= {}", c.column, p.typed(h, c.ty)));
        }
        let naive = naive(c.ty);
        // The guard is an instant; a naive cursor holds the server zone's wall clock, so the guard is compared as
        // that wall clock (with it compared as UTC, a late writer's row was stamped hours "before" it).
        let guard = |g: &str, p: &mut Params<'_>| match naive {
            true => format!("({} AT TIME ZONE {SERVER_ZONE})", p.typed(g, "timestamptz")),
            false => p.typed(g, "timestamptz"),
        };
        let mark = match (c.high, c.guard) {
            (None, None) => return None,
            (Some(h), None) => p.typed(h, c.ty),
            (None, Some(g)) => guard(g, p),
            (Some(h), Some(g)) => {
                let h = p.typed(h, c.ty);
                format!("LEAST({h}, {})", guard(g, p))
            }
        };
        let seconds = p.typed(&c.lookback_seconds.to_string(), "float8");
        // When the clocks fall back, rows written in the repeated hour look earlier than rows written before it.
        let repeat = match naive {
            true => format!(" - {}", repeated_hour()),
            false => String::new(),
        };
        Some(format!(
            "{} >= ({mark} - make_interval(secs => {seconds}){repeat})",
            c.column
        ))
    }

    /// One bound array literal, so a list of any length is one parameter.
    fn in_list(&self, column: &str, values: &[String], ty: &str, p: &mut Params<'_>) -> String {
        let array = p.typed(&array_literal(values), &format!("{ty}[]"));
        format!("{column} = ANY({array})")
    }

    fn like(&self, column: &str, pattern: &str, p: &mut Params<'_>) -> String {
        format!("{column}::text LIKE {}::text", p.bind(Some(pattern)))
    }
}

/// An array literal `{"a","b"}` for one bound parameter: elements are quoted and escaped, so a value is always
/// one element, whatever it contains.
fn array_literal(values: &[String]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// The cut points of a page sample of the key: of the sample's `n` keys in key order, the ones whose rank `rn` is
/// j·n/$2 (rounded down) for some j, which are the keys `plan::partitions` cuts at for $2 partitions, with `rn` and
/// `n` and the key as text. The server ranks the sample in one pass and sends at most $2 rows instead of all of it
/// (hundreds of thousands of keys, megabytes over a distant link). A rank is such a cut when the least j with
/// j·n >= rn·$2 also has j·n < (rn + 1)·$2.
pub fn sample_keys(table: &Table) -> String {
    let keys: Vec<String> = table
        .primary_key
        .iter()
        .map(|k| src(&Postgres, k))
        .collect();
    let named: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k} AS k{i}"))
        .collect();
    let text: Vec<String> = (0..keys.len()).map(|i| format!("s.k{i}::text")).collect();
    format!(
        "SELECT s.rn, s.n, {} FROM (SELECT {}, row_number() OVER (ORDER BY {}) - 1 AS rn, count(*) OVER () AS n \
           FROM {} AS src TABLESAMPLE SYSTEM (CAST($1::text AS float8))) AS s \
         WHERE ((s.rn * CAST($2::text AS bigint) + s.n - 1) / s.n) * s.n < (s.rn + 1) * CAST($2::text AS bigint) \
         ORDER BY s.rn",
        text.join(", "),
        named.join(", "),
        keys.join(", "),
        qualified(table)
    )
}

/// The cut keys of a single-column key, as text in key order: the key's quantiles 0, 1/w, ..., (w-1)/w
/// (`$2`, a float8[] as text) over a SYSTEM page sample of `$1` percent, which is what `sample_keys` gives for
/// `w` partitions, in one sort of the sample (the window functions of `sample_keys` took twice as long: 93 ms
/// of a 1M-row table's 1.4 s read).
pub fn sample_quantiles(table: &Table) -> String {
    let key = src(&Postgres, &table.primary_key[0]);
    format!(
        "SELECT q.k::text FROM unnest((SELECT percentile_disc(CAST($2::text AS float8[])) WITHIN GROUP (ORDER BY {key}) \
           FROM {} AS src TABLESAMPLE SYSTEM (CAST($1::text AS float8)))) WITH ORDINALITY AS q(k, i) ORDER BY q.i",
        qualified(table)
    )
}

/// The cursor's current maximum, the start of the oldest transaction still writing (other than ours), and whether
/// this login can see every session's transactions (superuser or pg_read_all_stats).
///
/// A time cursor's mark never passes the server's clock: a row stamped in the future (a typo, a scheduled date, a
/// skewed client) would otherwise move the mark there and hide every later change until then. Such rows are read
/// again every sync until their time comes; the fourth column counts them, for a warning.
pub fn watermark(table: &Table, cursor: &Cursor) -> String {
    let c = src(&Postgres, &cursor.column);
    let t = qualified(table);
    let naive_time = cursor.kind == CursorKind::Time
        && naive(crate::statement::type_of(&Postgres, table, &cursor.column));
    // The server's zone, for a naive cursor when that zone is not UTC at any time of the year (said in the log).
    let zone = match naive_time {
        true => format!(
            "(SELECT max(zone) FROM ({ZONE_OFFSETS}) AS offsets HAVING bool_or(o <> interval '0'))"
        ),
        false => "NULL::text".to_string(),
    };
    let (high, future) = match cursor.kind {
        CursorKind::Integer => (format!("max({c})"), "NULL::bigint".to_string()),
        CursorKind::Time => {
            let ty = crate::statement::type_of(&Postgres, table, &cursor.column);
            // A naive cursor's clock is the server zone's wall clock, not our session's UTC.
            let now = match naive(ty) {
                true => format!("CAST(now() AT TIME ZONE {SERVER_ZONE} AS {ty})"),
                false => format!("CAST(now() AS {ty})"),
            };
            (
                format!("LEAST(max({c}), {now})"),
                format!("(SELECT count(*) FROM {t} AS src WHERE {c} > {now})"),
            )
        }
    };
    format!(
        "SELECT (SELECT {high}::text FROM {t} AS src), \
                (SELECT min(xact_start)::text FROM pg_stat_activity \
                  WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()), \
                (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
                  OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER'), \
                {future}, {zone}"
    )
}

/// A sample of the JSON objects of one column, for typing its flattened columns.
pub fn sample_json(table: &Table, column: &Column) -> String {
    let name = quote_ident(&column.name);
    let typeof_fn = if decoder(column) == Decoder::Json {
        "json_typeof"
    } else {
        "jsonb_typeof"
    };
    format!(
        "SELECT {name} FROM {} WHERE {typeof_fn}({name}) = 'object' LIMIT $1",
        qualified(table)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::Fetch;
    use crate::model::{Filter, FilterOp, FivetranType};
    use crate::plan::Partition;
    use crate::read::Span;
    use crate::statement::read as build;

    fn read(
        t: &Table,
        range: &Partition,
        after: Option<&[String]>,
        span: &Span,
    ) -> crate::statement::Query {
        build(&Postgres, t, range, after, span)
    }

    fn col(name: &str, source_type: &str, decoder: Decoder) -> Column {
        Column {
            name: name.into(),
            source_type: source_type.into(),
            fivetran_type: FivetranType::String,
            fetch: Fetch::Postgres(decoder),
            flattened: false,
            nullable: false,
        }
    }

    fn table() -> Table {
        Table::new(
            "Sales".into(),
            "order\"; DROP TABLE x; --".into(),
            vec![
                col("id", "bigint", Decoder::Int8),
                col("select", "text", Decoder::Text),
                col("tags", "text[]", Decoder::Array),
                col(
                    "updated_at",
                    "timestamp with time zone",
                    Decoder::TimestampTz,
                ),
            ],
            vec!["id".into(), "select".into()],
        )
    }

    fn texts(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn identifiers_are_quoted_and_keys_bound() {
        let q = read(
            &table(),
            &Partition::default(),
            Some(&texts(&["7", "x"])),
            &Span::Full,
        );
        assert_eq!(
            q.sql,
            "SELECT \"id\", \"select\", to_jsonb(\"tags\"), \"updated_at\" FROM \"Sales\".\"order\"\"; DROP TABLE x; --\" AS src \
             WHERE (src.\"id\", src.\"select\") > (CAST($1::text AS bigint), CAST($2::text AS text)) ORDER BY src.\"id\", src.\"select\""
        );
        assert_eq!(q.params, vec![Some("7".into()), Some("x".into())]);
    }

    #[test]
    fn partitions_windows_and_filters_are_all_bound() {
        let mut t = table();
        t.filters = vec![
            Filter {
                column: "select".into(),
                op: FilterOp::In,
                values: texts(&["a\"b", "c'); --"]),
            },
            Filter {
                column: "id".into(),
                op: FilterOp::IsNotNull,
                values: vec![],
            },
        ];
        let cursor = Cursor {
            column: "updated_at".into(),
            kind: CursorKind::Time,
        };
        let range = Partition {
            lo: Some(texts(&["1", "a"])),
            hi: Some(texts(&["9", "z"])),
        };
        let window = Span::Since {
            cursor,
            high: Some("2026-01-01 00:00:00+00".into()),
            guard: Some("2025-12-31 23:00:00+00".into()),
            lookback_seconds: 600.0,
        };
        let q = read(
            &t,
            &range,
            Some(&texts(&["2026-01-01 00:00:00+00", "5", "b"])),
            &window,
        );
        assert_eq!(
            q.sql.split(" WHERE ").nth(1).unwrap(),
            "(src.\"id\", src.\"select\") > (CAST($1::text AS bigint), CAST($2::text AS text)) \
             AND (src.\"id\", src.\"select\") <= (CAST($3::text AS bigint), CAST($4::text AS text)) \
             AND src.\"updated_at\" >= (LEAST(CAST($5::text AS timestamp with time zone), CAST($6::text AS timestamptz)) - make_interval(secs => CAST($7::text AS float8))) \
             AND (src.\"updated_at\", src.\"id\", src.\"select\") > (CAST($8::text AS timestamp with time zone), CAST($9::text AS bigint), CAST($10::text AS text)) \
             AND src.\"select\" = ANY(CAST($11::text AS text[])) AND src.\"id\" IS NOT NULL \
             ORDER BY src.\"updated_at\", src.\"id\", src.\"select\""
        );
        assert_eq!(q.params[10].as_deref(), Some(r#"{"a\"b","c'); --"}"#));
        assert_eq!(q.params.len(), 11);
    }

    #[test]
    fn an_empty_table_has_no_lower_bound_yet() {
        let cursor = Cursor {
            column: "updated_at".into(),
            kind: CursorKind::Time,
        };
        let window = Span::Since {
            cursor,
            high: None,
            guard: None,
            lookback_seconds: 0.0,
        };
        let q = read(&table(), &Partition::default(), None, &window);
        assert!(!q.sql.contains("WHERE"), "{}", q.sql);
        let int = Cursor {
            column: "id".into(),
            kind: CursorKind::Integer,
        };
        let window = Span::Since {
            cursor: int,
            high: Some("41".into()),
            guard: Some("2025-01-01".into()),
            lookback_seconds: 60.0,
        };
        let q = read(&table(), &Partition::default(), None, &window);
        assert!(
            q.sql.contains(
                "WHERE src.\"id\" >= CAST($1::text AS bigint) ORDER BY src.\"id\", src.\"select\""
            ),
            "{}",
            q.sql
        );
    }
}
