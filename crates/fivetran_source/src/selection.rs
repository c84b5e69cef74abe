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
}
