//! Names that would collide in the destination, refused before anything is sent. Fivetran names tables and columns
//! in lower case and does not resolve collisions, so two sources that differ only in case would be merged. The SDK
//! connector checks Fivetran's full renaming rules (`connector_accel.naming`, from the SDK's own code, which this
//! executable cannot use); this check covers case and the destination's own columns.

use connector_accel_core::error::Error;
use connector_accel_core::model::Table;
use std::collections::HashMap;
use std::sync::Arc;

const SYSTEM_COLUMNS: [&str; 3] = ["_fivetran_deleted", "_fivetran_synced", "_fivetran_id"];

/// The first collision among the selected tables, as one line naming both sources and the fix.
pub fn check(tables: &[Arc<Table>]) -> Result<(), Error> {
    let mut landing: HashMap<(String, String), String> = HashMap::new();
    for t in tables {
        let key = (t.schema.to_lowercase(), t.name.to_lowercase());
        if let Some(other) = landing.insert(key, t.qualified()) {
            return Err(Error::config("exclude_tables", format!(
                "tables {other} and {} would land in one destination table (Fivetran names them alike) and be merged; exclude all but one",
                t.qualified()
            )));
        }
        columns(t)?;
    }
    Ok(())
}

fn columns(t: &Table) -> Result<(), Error> {
    let names = t
        .columns
        .iter()
        .filter(|c| !c.flattened)
        .map(|c| c.name.as_str());
    let mut seen: HashMap<String, &str> = HashMap::new();
    for name in names.chain(t.flat_columns.iter().map(|f| f.name.as_str())) {
        let lower = name.to_lowercase();
        if SYSTEM_COLUMNS.contains(&lower.as_str()) {
            return Err(Error::config("exclude_tables", format!(
                "table {}: column '{name}' would land in the destination's own column {lower} and lose its values; rename it in the source or exclude the table",
                t.qualified()
            )));
        }
        if let Some(other) = seen.insert(lower.clone(), name) {
            return Err(Error::config("exclude_tables", format!(
                "table {}: columns '{other}' and '{name}' would land in one destination column '{lower}' and keep only one value; rename one in the source, or exclude the table",
                t.qualified()
            )));
        }
    }
    Ok(())
}
