//! Choosing each table's cursor for incremental syncs: configured per table, else detected by exact column name
//! (ranked: update stamps before creation stamps, since a creation stamp never sees an update), and only on a
//! type that increases: timestamps, dates or integers.

use crate::error::{Error, Result};
use crate::model::{Column, Cursor, CursorKind, Table};
use std::collections::BTreeMap;

/// Column names that mark a row's last change, best first; compared case-insensitively and exactly.
const RANKED: &[&str] = &[
    "updated_at",
    "_lastupdatedinstant",
    "modifieddate",
    "updatedat",
    "updated",
    "last_updated",
    "last_updated_at",
    "lastupdated",
    "modified_at",
    "modified",
    "last_modified",
    "lastmodified",
    "modified_date",
    "update_date",
    "last_changed",
    "changed_at",
    "_lastupdatedinstant",
    "last_update",
    "row_updated_at",
    // Creation stamps catch inserts only; they rank last and say so in the log.
    "created_at",
    "created",
    "created_date",
    "creation_date",
    "inserted_at",
    "insert_date",
];

const KEY: &str = "cursor_columns";

/// Stands for every table that has the column, when `cursor_columns` is a bare name (seed 000's `timestamp_column`).
pub const ANY_TABLE: &str = "*";

/// `cursor_columns`: a JSON object from `table` or `schema.table` to a column name, or to null / "" for "re-read
/// in full"; or one bare column name, used by every table that has it.
pub fn parse(text: Option<&str>) -> Result<BTreeMap<String, Option<String>>> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    if !text.starts_with('{') && !text.starts_with('[') {
        return Ok(BTreeMap::from([(
            ANY_TABLE.to_string(),
            Some(text.to_string()),
        )]));
    }
    let format = r#"write it as {"schema.table": "updated_at"} (null for no cursor)"#;
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::config(KEY, format!("is not valid JSON ({e}); {format}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| Error::config(KEY, format!("is not a JSON object; {format}")))?;
    object
        .iter()
        .map(|(table, column)| match column {
            serde_json::Value::Null => Ok((table.clone(), None)),
            serde_json::Value::String(c) if c.trim().is_empty() => Ok((table.clone(), None)),
            serde_json::Value::String(c) => Ok((table.clone(), Some(c.clone()))),
            _ => Err(Error::config(
                KEY,
                format!("the value for '{table}' is not a column name; {format}"),
            )),
        })
        .collect()
}

/// The kind of cursor a source type can be, if any.
pub fn kind_of(source_type: &str) -> Option<CursorKind> {
    let t = source_type.to_ascii_lowercase();
    if t.starts_with("timestamp")
        || t == "date"
        || t.starts_with("datetime")
        || t == "smalldatetime"
    {
        Some(CursorKind::Time)
    } else if matches!(
        t.as_str(),
        "smallint" | "integer" | "bigint" | "int" | "tinyint" | "rowversion"
    ) || (t.starts_with("number(") && t.ends_with(",0)"))
    {
        Some(CursorKind::Integer)
    } else {
        None
    }
}

fn usable(c: &Column) -> Option<Cursor> {
    kind_of(&c.source_type).map(|kind| Cursor {
        column: c.name.clone(),
        kind,
    })
}

/// The cursor of `table`, or the reason it has none (logged, and the table is re-read in full each sync).
pub fn choose(
    table: &Table,
    configured: &BTreeMap<String, Option<String>>,
) -> Result<std::result::Result<Cursor, String>> {
    let entry = configured
        .get(&table.qualified())
        .or_else(|| configured.get(&table.name))
        .or_else(|| {
            configured.get(ANY_TABLE).filter(|c| {
                table
                    .columns
                    .iter()
                    .any(|col| Some(&col.name) == c.as_ref())
            })
        });
    if let Some(entry) = entry {
        let Some(name) = entry else {
            return Ok(Err("cursor_columns sets no cursor for it".into()));
        };
        let column = table
            .columns
            .iter()
            .find(|c| &c.name == name)
            .ok_or_else(|| {
                Error::config(
                    KEY,
                    format!(
                        "table {} has no column '{name}' (names are case-sensitive)",
                        table.qualified()
                    ),
                )
            })?;
        return usable(column).map(Ok).ok_or_else(|| {
            Error::config(
                KEY,
                format!(
                    "column '{name}' of {} is {}, which does not increase; choose a timestamp, date or integer column",
                    table.qualified(),
                    column.source_type
                ),
            )
        });
    }
    if table.primary_key.is_empty() {
        return Ok(Err(
            "it has no primary key to resume an incremental read by".into(),
        ));
    }
    for wanted in RANKED {
        let found = table
            .columns
            .iter()
            .filter(|c| c.name.eq_ignore_ascii_case(wanted))
            .find_map(|c| usable(c).map(|cursor| (cursor, c.nullable)));
        match found {
            // A NULL cursor is never at or after any mark: such rows (an insert that leaves updated_at NULL, a
            // common trigger pattern) would never be read. A full read each sync is exact; say how to do better.
            Some((cursor, true)) => {
                return Ok(Err(format!(
                    "its cursor candidate {} is nullable, and rows where it is NULL would never be read incrementally; \
                     set cursor_columns to a NOT NULL column (or to {} if it is never NULL)",
                    cursor.column, cursor.column
                )))
            }
            Some((cursor, false)) => return Ok(Ok(cursor)),
            None => {}
        }
    }
    Ok(Err("no column named like updated_at / modified / created_at with a timestamp or integer type; set cursor_columns".into()))
}

/// The soft-delete column of `table`: the configured name, matched exactly, else case-insensitively.
pub fn soft_delete(table: &Table, configured: Option<&str>) -> Option<String> {
    let name = configured?;
    table
        .columns
        .iter()
        .find(|c| c.name == name)
        .or_else(|| {
            table
                .columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })
        .map(|c| c.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FivetranType;

    fn table(columns: &[(&str, &str)]) -> Table {
        Table::new(
            "s".into(),
            "t".into(),
            columns
                .iter()
                .map(|(n, ty)| Column {
                    name: n.to_string(),
                    source_type: ty.to_string(),
                    fivetran_type: FivetranType::String,
                    fetch: crate::fetch::Fetch::Postgres(crate::fetch::PgFetch::Text),
                    flattened: false,
                    nullable: false,
                })
                .collect(),
            vec!["id".into()],
        )
    }

    #[test]
    fn a_nullable_detected_cursor_is_not_used() {
        let none = BTreeMap::new();
        let mut t = table(&[("id", "bigint"), ("updated_at", "timestamp with time zone")]);
        t.columns[1].nullable = true;
        let reason = choose(&t, &none).unwrap().unwrap_err();
        assert!(reason.contains("updated_at is nullable"), "{reason}");
        t.columns[1].nullable = false;
        assert_eq!(choose(&t, &none).unwrap().unwrap().column, "updated_at");
    }

    #[test]
    fn update_stamps_beat_creation_stamps_and_names_match_exactly() {
        let none = BTreeMap::new();
        let t = table(&[
            ("id", "bigint"),
            ("created_at", "timestamp with time zone"),
            ("UpdatedAt", "timestamp without time zone"),
        ]);
        assert_eq!(choose(&t, &none).unwrap().unwrap().column, "UpdatedAt");
        // Substrings do not count (the seed picked any column named like a piece of a pattern).
        let t = table(&[
            ("id", "bigint"),
            ("a", "timestamp"),
            ("date", "date"),
            ("updated_at_text", "timestamp"),
        ]);
        assert!(choose(&t, &none).unwrap().is_err());
        // A name that matches on a type that does not increase is passed over.
        let t = table(&[
            ("id", "bigint"),
            ("updated_at", "text"),
            ("created_at", "date"),
        ]);
        assert_eq!(
            choose(&t, &none).unwrap().unwrap(),
            Cursor {
                column: "created_at".into(),
                kind: CursorKind::Time
            }
        );
        let t = table(&[("id", "bigint"), ("modified", "bigint")]);
        assert_eq!(
            choose(&t, &none).unwrap().unwrap().kind,
            CursorKind::Integer
        );
    }

    #[test]
    fn configuration_wins_and_is_checked() {
        let t = table(&[
            ("id", "bigint"),
            ("updated_at", "timestamp"),
            ("seq", "bigint"),
            ("note", "text"),
        ]);
        let set = parse(Some(r#"{"s.t": "seq"}"#)).unwrap();
        assert_eq!(choose(&t, &set).unwrap().unwrap().column, "seq");
        let off = parse(Some(r#"{"t": null}"#)).unwrap();
        assert!(choose(&t, &off).unwrap().is_err());
        let bad = parse(Some(r#"{"t": "note"}"#)).unwrap();
        assert!(choose(&t, &bad)
            .unwrap_err()
            .to_string()
            .contains("does not increase"));
        let missing = parse(Some(r#"{"t": "nope"}"#)).unwrap();
        assert!(choose(&t, &missing)
            .unwrap_err()
            .to_string()
            .contains("no column 'nope'"));
        assert!(parse(Some("[]")).is_err());
        let bare = parse(Some("seq")).unwrap();
        assert_eq!(choose(&t, &bare).unwrap().unwrap().column, "seq");
        let elsewhere = parse(Some("stamp")).unwrap();
        assert_eq!(
            choose(&t, &elsewhere).unwrap().unwrap().column,
            "updated_at"
        );
    }

    #[test]
    fn soft_delete_matches_exactly_then_ignoring_case() {
        let t = table(&[("id", "bigint"), ("_IsDeleted", "boolean")]);
        assert_eq!(
            soft_delete(&t, Some("_isdeleted")).as_deref(),
            Some("_IsDeleted")
        );
        assert_eq!(soft_delete(&t, Some("deleted_at")), None);
        assert_eq!(soft_delete(&t, None), None);
    }
}
