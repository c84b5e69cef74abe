//! The source-neutral end of discovery: which of the found tables are selected, each table's cursor and
//! soft-delete column, its row filters, and the order tables are synced in (smallest first).

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::Table;

/// A found table, before selection: an id the source finds it again by, the table, and whether this login may
/// read it.
pub type Found<I> = (I, Table, bool);

/// How a source compares the names in `tables` and `exclude_tables` with its catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Exactly (PostgreSQL: quoted identifiers keep their case).
    Exact,
    /// Exactly, else without regard to case when only one table matches so (SQL Server under its usual
    /// case-insensitive collations).
    CaseInsensitive,
}

impl Names {
    /// What a name that matched nothing should be checked for: each source's own rule, not the other's.
    fn hint(self) -> &'static str {
        match self {
            Names::Exact => "names are case-sensitive",
            Names::CaseInsensitive => {
                "names match without regard to case; check the spelling and that this login may see it"
            }
        }
    }
}

/// What else the catalog holds that `tables` might name by mistake: views and materialized views, as
/// `(schema, name, kind)`.
pub type Views = [(String, String, &'static str)];

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
        if let Ok(cursor) = &t.cursor {
            let nullable = t
                .columns
                .iter()
                .any(|c| c.name == cursor.column && c.nullable);
            if nullable {
                warnings.push(format!(
                    "table {}: cursor_columns names {}, which is nullable: rows where it is NULL are read by the full \
                     load only, never by incremental syncs",
                    t.qualified(),
                    cursor.column
                ));
            }
        }
        let soft = config.incremental.soft_delete_column.as_deref();
        t.soft_delete = crate::incremental::soft_delete(t, soft.or(default_soft_delete));
        check_soft_delete(t, soft.is_some(), &mut warnings)?;
    }
    named_columns_exist(&tables, config)?;
    flattened_names_are_free(&tables)?;
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

/// A soft-delete column must say "deleted" by being set: a boolean, an integer (non-zero) or a date or timestamp
/// (any value). Any other type (a 'Y'/'N' text, say) would make every row a delete: refused when configured, and
/// the seed's default column of such a type is not used (with a warning). A table without a primary key cannot
/// take deletes (its rows are keyed by a hash of all columns): its rows are upserted as they are, flag included,
/// and a warning says so rather than logging deletes that delete nothing.
fn check_soft_delete(t: &mut Table, configured: bool, warnings: &mut Vec<String>) -> Result<()> {
    use crate::model::FivetranType as F;
    let Some(name) = t.soft_delete.clone() else {
        return Ok(());
    };
    let Some(column) = t.columns.iter().find(|c| c.name == name) else {
        return Ok(());
    };
    let usable = matches!(
        column.fivetran_type,
        F::Boolean | F::Short | F::Int | F::Long | F::NaiveDate | F::NaiveDatetime | F::UtcDatetime
    );
    if !usable {
        let why = format!(
            "column {name} of {} is {}, but a soft-delete column must be a boolean, an integer or a timestamp (set = deleted)",
            t.qualified(),
            column.source_type
        );
        if configured {
            return Err(Error::config(
                "soft_delete_column",
                format!("{why}; name such a column, or remove the key"),
            ));
        }
        warnings.push(format!(
            "{why}: it is synced as an ordinary column and no row is deleted"
        ));
        t.soft_delete = None;
    } else if t.primary_key.is_empty() {
        warnings.push(format!(
            "table {} has no primary key, so rows flagged in {name} cannot be deleted in the destination (rows are keyed \
             by a hash of all columns): they are upserted with the flag as it is",
            t.qualified()
        ));
        t.soft_delete = None;
    }
    Ok(())
}

/// A flattened column named like a real column of its table (JSON key `x` of `doc` and a column `doc_x`) would
/// land in one destination column: refused at discovery, before anything is written.
fn flattened_names_are_free(tables: &[Table]) -> Result<()> {
    for t in tables {
        if let Some(f) = t
            .flat_columns
            .iter()
            .find(|f| t.columns.iter().any(|c| c.name == f.name))
        {
            return Err(Error::config(
                "flatten_json",
                format!(
                    "table {}: a JSON key flattens to '{}', which is also a column of the table, and the two would land \
                     in one destination column; set flatten_json to false, or rename the column in the source",
                    t.qualified(),
                    f.name
                ),
            ));
        }
    }
    Ok(())
}

/// A `soft_delete_column`, or a bare `cursor_columns` name, that no selected table has is a typo that would
/// silently turn deletes or incremental reads off: refused.
fn named_columns_exist(tables: &[Table], config: &Config) -> Result<()> {
    if tables.is_empty() {
        return Ok(());
    }
    let has = |name: &str| {
        tables
            .iter()
            .any(|t| t.columns.iter().any(|c| c.name.eq_ignore_ascii_case(name)))
    };
    if let Some(soft) = &config.incremental.soft_delete_column {
        if !has(soft) {
            return Err(Error::config(
                "soft_delete_column",
                format!("no selected table has a column '{soft}'; fix the name or remove the key"),
            ));
        }
    }
    if let Some(Some(bare)) = config
        .incremental
        .cursor_columns
        .get(crate::incremental::ANY_TABLE)
    {
        if !tables
            .iter()
            .any(|t| t.columns.iter().any(|c| &c.name == bare))
        {
            return Err(Error::config(
                "cursor_columns",
                format!("no selected table has a column '{bare}' (names are case-sensitive); fix the name, or map tables to columns as JSON"),
            ));
        }
    }
    Ok(())
}

/// What a table without a primary key means for the sync.
fn no_key_warning(t: &Table) -> String {
    format!(
        "table {} has no primary key: it is re-read in full after an interruption, and the destination keys \
         its rows by a hash of all columns (_fivetran_id)",
        t.qualified()
    )
}

/// Applies `schemas`, `tables` and `exclude_tables`; a listed name that matches nothing is an error (a view is
/// said to be one), an `exclude_tables` entry that matches nothing a warning.
pub fn select<I>(
    found: Vec<Found<I>>,
    config: &Config,
    names: Names,
    views: &Views,
    warnings: &mut Vec<String>,
) -> Result<Vec<Found<I>>> {
    let sel = &config.selection;
    for schema in &sel.schemas {
        if !found.iter().any(|(_, t, _)| same(names, &t.schema, schema)) {
            return Err(Error::config(
                "schemas",
                format!(
                    "schema '{schema}' has no tables this user can see; check the spelling ({})",
                    names.hint()
                ),
            ));
        }
    }
    let is_view = |t: &Table| views.iter().any(|(s, n, _)| *s == t.schema && *n == t.name);
    let tables = resolve(&found, &sel.tables, names, views, "tables")?;
    if sel.tables.is_empty() {
        skipped_views(views, config, names, warnings);
    }
    let excluded = resolve_loosely(&found, &sel.exclude_tables, names, warnings);
    let mut kept = Vec::new();
    for (i, (oid, t, readable)) in found.into_iter().enumerate() {
        // A view is synced only when `tables` names it (read in full, rows keyed by hash); otherwise it is listed
        // as skipped.
        let wanted = (sel.schemas.is_empty()
            || sel.schemas.iter().any(|s| same(names, &t.schema, s)))
            && (sel.tables.is_empty() || tables.contains(&i))
            && !(sel.tables.is_empty() && is_view(&t))
            && !excluded.contains(&i);
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

/// Views and materialized views of the selected schemas are not synced: the log lists them, so that a reader who
/// expected one knows it was passed over rather than empty.
fn skipped_views(views: &Views, config: &Config, names: Names, warnings: &mut Vec<String>) {
    let sel = &config.selection;
    let skipped: Vec<String> = views
        .iter()
        .filter(|(s, _, _)| sel.schemas.is_empty() || sel.schemas.iter().any(|x| same(names, s, x)))
        .map(|(s, n, kind)| format!("{s}.{n} ({kind})"))
        .collect();
    let fix = " (name one in 'tables' to sync it: read in full every sync, rows keyed by a hash of all columns)";
    if skipped.is_empty() {
        return;
    }
    let shown: Vec<&str> = skipped.iter().take(10).map(String::as_str).collect();
    let more = skipped.len().saturating_sub(shown.len());
    warnings.push(format!(
        "{} view(s) are not synced, only tables: {}{}{fix}",
        skipped.len(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ));
}

fn same(names: Names, a: &str, b: &str) -> bool {
    match names {
        Names::Exact => a == b,
        Names::CaseInsensitive => a.eq_ignore_ascii_case(b),
    }
}

/// The found tables an entry (`schema.table` or `table`) names: exact matches, else (case-insensitive sources) the
/// one table that matches without regard to case.
fn matching<I>(found: &[Found<I>], entry: &str, names: Names) -> Vec<usize> {
    let by = |exact: bool| -> Vec<usize> {
        let eq = |a: &str, b: &str| {
            if exact {
                a == b
            } else {
                a.eq_ignore_ascii_case(b)
            }
        };
        found
            .iter()
            .enumerate()
            .filter(|(_, (_, t, _))| match entry.split_once('.') {
                Some((s, n)) => eq(&t.schema, s) && eq(&t.name, n),
                None => eq(&t.name, entry),
            })
            .map(|(i, _)| i)
            .collect()
    };
    let exact = by(true);
    if !exact.is_empty() || names == Names::Exact {
        return exact;
    }
    let loose = by(false);
    if loose.len() == 1 {
        loose
    } else {
        Vec::new()
    }
}

/// The tables `tables` lists, each of which must exist and be readable.
fn resolve<I>(
    found: &[Found<I>],
    entries: &[String],
    names: Names,
    views: &Views,
    key: &str,
) -> Result<Vec<usize>> {
    let mut all = Vec::new();
    for entry in entries {
        let hits = matching(found, entry, names);
        let Some(&first) = hits.first() else {
            let view = views.iter().find(|(s, n, _)| match entry.split_once('.') {
                Some((es, en)) => same(names, s, es) && same(names, n, en),
                None => same(names, n, entry),
            });
            return Err(Error::config(
                key,
                match view {
                    Some((s, n, kind)) => format!("'{s}.{n}' is a {kind}, and this source syncs tables only (PostgreSQL views can be named); remove it or name the table it reads"),
                    None => format!("table '{entry}' does not exist; write it as schema.table ({})", names.hint()),
                },
            ));
        };
        if !found[first].2 {
            return Err(Error::config(
                key,
                format!(
                    "table '{}' cannot be read by this user; GRANT SELECT on it or remove it",
                    found[first].1.qualified()
                ),
            ));
        }
        all.extend(hits);
    }
    Ok(all)
}

/// The tables `exclude_tables` lists; an entry that matches nothing is a warning (the sync can go on).
fn resolve_loosely<I>(
    found: &[Found<I>],
    entries: &[String],
    names: Names,
    warnings: &mut Vec<String>,
) -> Vec<usize> {
    let mut all = Vec::new();
    for entry in entries {
        let hits = matching(found, entry, names);
        if hits.is_empty() {
            warnings.push(format!(
                "exclude_tables: '{entry}' matches no table, so it excludes nothing; check the spelling"
            ));
        }
        all.extend(hits);
    }
    all
}
