//! Every statement the PostgreSQL source sends about user tables is built here. Identifiers go through
//! `quote_ident`; values are always bound parameters.

use super::types::Decoder;
use crate::model::{Column, Table};

/// A double-quoted identifier, inner quotes doubled: safe for any name, reserved words and mixed case included.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn qualified(table: &Table) -> String {
    format!(
        "{}.{}",
        quote_ident(&table.schema),
        quote_ident(&table.name)
    )
}

/// What the reader selects for a column, so that the binary value is one `decode` understands.
fn select_expr(column: &Column) -> String {
    let name = quote_ident(&column.name);
    match Decoder::from_u8(column.decoder) {
        Decoder::CastText => format!("{name}::text"),
        Decoder::Money => format!("{name}::numeric"),
        Decoder::Array => format!("to_jsonb({name})"),
        _ => name,
    }
}

/// The full read of a table, ordered by its primary key; with `resume`, only the rows after the key given as
/// text parameters $1..$n (each cast to its column's type, so the comparison uses the key's own ordering).
pub fn read_table(table: &Table, resume: bool) -> String {
    let select: Vec<String> = table.columns.iter().map(select_expr).collect();
    let mut sql = format!("SELECT {} FROM {}", select.join(", "), qualified(table));
    if table.primary_key.is_empty() {
        return sql;
    }
    let keys: Vec<String> = table.primary_key.iter().map(|k| quote_ident(k)).collect();
    if resume {
        let params: Vec<String> = table
            .primary_key
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let ty = table
                    .columns
                    .iter()
                    .find(|c| &c.name == k)
                    .map_or("text", |c| c.source_type.as_str());
                format!("CAST(${}::text AS {ty})", i + 1)
            })
            .collect();
        sql.push_str(&format!(
            " WHERE ({}) > ({})",
            keys.join(", "),
            params.join(", ")
        ));
    }
    sql.push_str(&format!(" ORDER BY {}", keys.join(", ")));
    sql
}

/// A sample of the JSON objects of one column, for typing its flattened columns.
pub fn sample_json(table: &Table, column: &Column) -> String {
    let name = quote_ident(&column.name);
    let typeof_fn = if Decoder::from_u8(column.decoder) == Decoder::Json {
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
    use crate::model::FivetranType;

    fn col(name: &str, source_type: &str, decoder: Decoder) -> Column {
        Column {
            name: name.into(),
            source_type: source_type.into(),
            fivetran_type: FivetranType::String,
            decoder: decoder as u8,
            flattened: false,
        }
    }

    #[test]
    fn identifiers_are_quoted_and_keys_bound() {
        let table = Table {
            schema: "Sales".into(),
            name: "order\"; DROP TABLE x; --".into(),
            columns: vec![
                col("id", "bigint", Decoder::Int8),
                col("select", "text", Decoder::Text),
                col("tags", "text[]", Decoder::Array),
            ],
            primary_key: vec!["id".into(), "select".into()],
            row_estimate: None,
            flat_columns: vec![],
        };
        assert_eq!(
            read_table(&table, true),
            "SELECT \"id\", \"select\", to_jsonb(\"tags\") FROM \"Sales\".\"order\"\"; DROP TABLE x; --\" \
             WHERE (\"id\", \"select\") > (CAST($1::text AS bigint), CAST($2::text AS text)) ORDER BY \"id\", \"select\""
        );
    }
}
