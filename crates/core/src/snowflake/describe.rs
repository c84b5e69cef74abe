//! Describing a query for the library's `read_arrow(query=...)`: its result columns from the service's own
//! description of the statement (`describeOnly`, no rows read), each mapped as a catalogued column of that type is
//! (`types::map`), so a query's Arrow types are the ones a table read of the same columns gives.

use super::client::Client;
use super::result::RowType;
use super::types::map;
use crate::error::Result;
use crate::fetch::{Fetch, SfFetch};
use crate::model::{Column, Table};
use std::sync::Arc;

/// A table-shaped description of `query`, read as one stream (a query has no key to partition or resume by).
pub async fn describe(client: &Arc<Client>, query: &str) -> Result<(Table, Vec<String>)> {
    // Described as the read will send it, a subquery, so that what cannot be one fails here.
    let sql = format!("SELECT * FROM ({query}) AS src");
    let answer = client.describe(&sql, "describing the query").await?;
    let names: Vec<&str> = answer.columns.iter().map(|c| c.name.as_str()).collect();
    crate::read::distinct_query_columns(&names)?;
    let mut warnings = Vec::new();
    let columns = answer
        .columns
        .iter()
        .map(|c| {
            let column = column(c);
            if matches!(column.fetch, Fetch::Snowflake(SfFetch::CastText)) {
                warnings.push(format!(
                    "query column {}: type {} has no exact mapping; read as text",
                    c.name, column.source_type
                ));
            }
            column
        })
        .collect();
    let mut table = Table::new(String::new(), "query".into(), columns, vec![]);
    table.cursor = Err("a query has no cursor".into());
    table.query = Some(query.to_string());
    Ok((table, warnings))
}

/// A result column as the catalog would describe it: the reply's type family named as INFORMATION_SCHEMA names
/// the type (`fixed` is NUMBER(p,s), `real` FLOAT, `text` VARCHAR; the others by their own name).
fn column(c: &RowType) -> Column {
    let data_type = match c.kind.as_str() {
        "fixed" => "NUMBER".to_string(),
        "real" => "FLOAT".to_string(),
        "text" => "VARCHAR".to_string(),
        other => other.to_ascii_uppercase(),
    };
    let (declared, fivetran_type, family) = map(&data_type, c.precision, Some(c.scale));
    Column {
        name: c.name.clone(),
        source_type: declared,
        fivetran_type,
        fetch: Fetch::Snowflake(family),
        flattened: false,
        nullable: c.nullable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FivetranType;

    fn row(kind: &str, precision: Option<i64>, scale: i64) -> RowType {
        RowType {
            name: "C".into(),
            kind: kind.into(),
            scale,
            precision,
            nullable: true,
        }
    }

    #[test]
    fn result_columns_map_as_their_catalogued_types_do() {
        let long = column(&row("fixed", Some(18), 0));
        assert_eq!(
            (long.source_type.as_str(), long.fivetran_type),
            ("NUMBER(18,0)", FivetranType::Long)
        );
        let money = column(&row("fixed", Some(10), 2));
        assert_eq!(
            money.fivetran_type,
            FivetranType::Decimal {
                precision: 10,
                scale: 2
            }
        );
        assert_eq!(
            column(&row("timestamp_tz", Some(0), 9)).fetch,
            Fetch::Snowflake(SfFetch::TimestampTz)
        );
        assert_eq!(
            column(&row("text", None, 0)).fivetran_type,
            FivetranType::String
        );
        assert_eq!(
            column(&row("vector", None, 0)).fetch,
            Fetch::Snowflake(SfFetch::CastText)
        );
    }
}
