//! Which tables an `Update` reads: Fivetran's selection (schemas and tables the user included, and whether new
//! ones are), applied to the tables the configuration selects.

use crate::proto::selection::Selection as Chosen;
use crate::proto::{Selection, TableSelection};

fn table_included(tables: &[TableSelection], name: &str, include_new: bool) -> bool {
    tables
        .iter()
        .find(|t| t.table_name == name)
        .map_or(include_new, |t| t.included)
}

fn table_selection<'a>(
    selection: Option<&'a Selection>,
    schema: &str,
    table: &str,
) -> Option<&'a TableSelection> {
    let tables = match selection?.selection.as_ref()? {
        Chosen::WithoutSchema(t) => &t.tables,
        Chosen::WithSchema(s) => &s.schemas.iter().find(|x| x.schema_name == schema)?.tables,
    };
    tables.iter().find(|t| t.table_name == table)
}

/// The columns of `schema.table` Fivetran's selection leaves out, among `columns` (the names the table sends):
/// those it marks false, and those it does not name when it names any and does not include new ones. Key columns
/// are never left out (a record without its key cannot be applied).
pub fn excluded_columns<'a>(
    selection: Option<&Selection>,
    schema: &str,
    table: &str,
    columns: impl IntoIterator<Item = &'a str>,
    keys: &[String],
) -> std::collections::HashSet<String> {
    let Some(chosen) = table_selection(selection, schema, table).filter(|t| !t.columns.is_empty())
    else {
        return Default::default();
    };
    columns
        .into_iter()
        .filter(|c| !keys.iter().any(|k| k == c))
        .filter(|c| {
            !chosen
                .columns
                .get(*c)
                .copied()
                .unwrap_or(chosen.include_new_columns)
        })
        .map(str::to_string)
        .collect()
}

/// Whether `schema.table` is selected; without a selection, every table is.
pub fn selected(selection: Option<&Selection>, schema: &str, table: &str) -> bool {
    match selection.and_then(|s| s.selection.as_ref()) {
        None => true,
        Some(Chosen::WithoutSchema(t)) => table_included(&t.tables, table, t.include_new_tables),
        Some(Chosen::WithSchema(s)) => match s.schemas.iter().find(|x| x.schema_name == schema) {
            None => s.include_new_schemas,
            Some(x) => x.included && table_included(&x.tables, table, x.include_new_tables),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{SchemaSelection, TablesWithSchema};

    #[test]
    fn a_schema_selection_includes_what_it_names_and_new_tables_as_it_says() {
        let sel = Selection {
            selection: Some(Chosen::WithSchema(TablesWithSchema {
                schemas: vec![SchemaSelection {
                    included: true,
                    schema_name: "public".into(),
                    tables: vec![
                        TableSelection {
                            included: true,
                            table_name: "a".into(),
                            ..Default::default()
                        },
                        TableSelection {
                            included: false,
                            table_name: "b".into(),
                            ..Default::default()
                        },
                    ],
                    include_new_tables: false,
                }],
                include_new_schemas: true,
            })),
        };
        assert!(selected(Some(&sel), "public", "a"));
        assert!(!selected(Some(&sel), "public", "b"));
        assert!(!selected(Some(&sel), "public", "new_table"));
        assert!(selected(Some(&sel), "other", "x"));
        assert!(selected(None, "any", "thing"));
    }

    #[test]
    fn columns_left_out_are_those_marked_false_or_new_ones_unless_included_but_never_a_key() {
        let table = |include_new| TableSelection {
            included: true,
            table_name: "t".into(),
            columns: [
                ("id".to_string(), false),
                ("a".to_string(), true),
                ("b".to_string(), false),
            ]
            .into(),
            include_new_columns: include_new,
        };
        let sel = |include_new| Selection {
            selection: Some(Chosen::WithoutSchema(crate::proto::TablesWithNoSchema {
                tables: vec![table(include_new)],
                include_new_tables: true,
            })),
        };
        let names = ["id", "a", "b", "c"];
        let keys = ["id".to_string()];
        let mut out: Vec<String> = excluded_columns(Some(&sel(false)), "s", "t", names, &keys)
            .into_iter()
            .collect();
        out.sort();
        assert_eq!(out, ["b", "c"]);
        let out: Vec<String> = excluded_columns(Some(&sel(true)), "s", "t", names, &keys)
            .into_iter()
            .collect();
        assert_eq!(out, ["b"]);
        assert!(excluded_columns(None, "s", "t", names, &keys).is_empty());
        assert!(excluded_columns(Some(&sel(false)), "s", "other", names, &keys).is_empty());
    }
}
