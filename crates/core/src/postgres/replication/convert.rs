//! Values whose binary form the full load's decoders do not read (interval, inet, money, arrays, ...), converted
//! by the server with the full load's own select expressions: each value is bound back in the binary form the log
//! sent, typed by its column's type, so the server parses it with that type's receive function and the result is
//! exactly what the full load reads.

use super::super::errors;
use super::super::read::Raw;
use super::super::types::Decoder;
use super::tables::{Pending, Tables};
use crate::changes::Change;
use crate::error::{Error, Result};
use bytes::BytesMut;
use postgres_types::{to_sql_checked, IsNull, Kind, ToSql, Type};
use tokio_postgres::Client;

/// Values per statement: a select list holds at most 1664 entries.
const PER_STATEMENT: usize = 1000;

/// A value in its binary form, bound as it is.
#[derive(Debug)]
struct Bound(Vec<u8>);

impl ToSql for Bound {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// The full load's expression (`sql.rs` `select_expr`) over parameter `$n`.
fn expr(decoder: Decoder, n: usize) -> String {
    match decoder {
        Decoder::Money => format!("${n}::numeric"),
        Decoder::Array => format!("to_jsonb(${n})"),
        _ => format!("${n}::text"),
    }
}

/// Converts `pending` values and puts them into their changes' cells.
pub async fn convert(
    client: &Client,
    pending: Vec<Pending>,
    tables: &mut Tables,
    changes: &mut [Change],
    warnings: &mut Vec<String>,
) -> Result<()> {
    for chunk in pending.chunks(PER_STATEMENT) {
        let sql = format!(
            "SELECT {}",
            (1..=chunk.len())
                .map(|n| expr(chunk[n - 1].conv.decoder, n))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let bound: Vec<Bound> = chunk.iter().map(|p| Bound(p.bytes.clone())).collect();
        let types: Vec<Type> = chunk
            .iter()
            .map(|p| {
                Type::new(
                    format!("t{}", p.conv.type_oid),
                    p.conv.type_oid,
                    Kind::Simple,
                    "pg_catalog".into(),
                )
            })
            .collect();
        let params: Vec<(&(dyn ToSql + Sync), Type)> = bound
            .iter()
            .zip(types)
            .map(|(b, t)| (b as &(dyn ToSql + Sync), t))
            .collect();
        let rows = client
            .query_typed(&sql, &params)
            .await
            .map_err(|e| errors::query("converting values from the log", e))?;
        let row = rows
            .first()
            .ok_or_else(|| Error::Internal("a conversion returned no row".into()))?;
        for (k, p) in chunk.iter().enumerate() {
            let change = &mut changes[p.change];
            let target = tables
                .targets
                .values_mut()
                .find(|t| std::sync::Arc::ptr_eq(&t.table, &change.table))
                .ok_or_else(|| Error::Internal("a converted value's table is gone".into()))?;
            let raw: Raw = row
                .try_get(k)
                .map_err(|e| Error::Conversion(format!("column {}: {e}", p.conv.name)))?;
            let cell = match raw.0 {
                None => crate::model::Cell::Null,
                Some(bytes) => {
                    let (cell, note) =
                        super::super::decode::decode(p.conv.decoder, p.conv.declared, bytes)
                            .map_err(|m| {
                                Error::Conversion(format!("column {}: {m}", p.conv.name))
                            })?;
                    target.finish(p.column, cell, note, warnings)?
                }
            };
            change.cells[p.column] = Some(cell);
        }
    }
    Ok(())
}
