//! The source-neutral end of discovery: which of the found tables are selected, each table's cursor and
//! soft-delete column, its row filters, and the order tables are synced in (smallest first).

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::Table;

/// A found table, before selection: an id the source finds it again by, the table, and whether this login may
/// read it.
pub type Found<I> = (I, Table, bool);

/// Decides each table's cursor and soft-delete column (`default_soft_delete` when the configuration names none),
/// attaches and checks the row filters, and orders the tables smallest first.
pub fn finish(
    mut tables: Vec<Table>,
    config: &Config,
    default_soft_delete: Option<&str>,
    mut warnings: Vec<String>,
) -> Result<(Vec<Table>, Vec<String>)> {
    for t in &mut tables {
        if t.primary_key.is_empty() {
            warnings.push(no_key_warning(t));
        }
        t.cursor = crate::incremental::choose(t, &config.incremental.cursor_columns)?;
        let soft = config.incremental.soft_delete_column.as_deref();
        t.soft_delete = crate::incremental::soft_delete(t, soft.or(default_soft_delete));
    }
    crate::filters::attach(&mut tables, &config.filters, &config.region)?;
    tables.sort_by_key(|t| {
        (
            t.row_estimate.unwrap_or(0),
            t.schema.clone(),
            t.name.clone(),
        )
    });
    Ok((tables, warnings))
}

/// What a table without a primary key means for the sync.
fn no_key_warning(t: &Table) -> String {
    format!(
        "table {} has no primary key: it is re-read in full after an interruption, and the destination keys \
         its rows by a hash of all columns (_fivetran_id)",
        t.qualified()
    )
}

/// Applies `schemas`, `tables` and `exclude_tables`; a listed name that matches nothing is an error.
pub fn select<I>(
    found: Vec<Found<I>>,
    config: &Config,
    warnings: &mut Vec<String>,
) -> Result<Vec<Found<I>>> {
    let sel = &config.selection;
    for schema in &sel.schemas {
        if !found.iter().any(|(_, t, _)| &t.schema == schema) {
            return Err(Error::config(
                "schemas",
                format!("schema '{schema}' has no tables this user can see; check the spelling (names are case-sensitive)"),
            ));
        }
    }
    let matches = |entry: &str, t: &Table| match entry.split_once('.') {
        Some((s, n)) => t.schema == s && t.name == n,
        None => t.name == entry,
    };
    for entry in &sel.tables {
        match found.iter().find(|(_, t, _)| matches(entry, t)) {
            None => {
                return Err(Error::config(
                    "tables",
                    format!("table '{entry}' does not exist; write it as schema.table (names are case-sensitive)"),
                ))
            }
            Some((_, t, false)) => {
                return Err(Error::config(
                    "tables",
                    format!("table '{}' cannot be read by this user; GRANT SELECT on it or remove it", t.qualified()),
                ))
            }
            Some(_) => {}
        }
    }
    let mut kept = Vec::new();
    for (oid, t, readable) in found {
        let wanted = (sel.schemas.is_empty() || sel.schemas.contains(&t.schema))
            && (sel.tables.is_empty() || sel.tables.iter().any(|e| matches(e, &t)))
            && !sel.exclude_tables.iter().any(|e| matches(e, &t));
        if wanted && !readable {
            warnings.push(format!(
                "table {} is skipped: this user has no SELECT privilege on it",
                t.qualified()
            ));
        } else if wanted {
            kept.push((oid, t, readable));
        }
    }
    Ok(kept)
}
