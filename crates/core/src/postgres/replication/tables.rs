//! Which selected table a relation of the log is, and how each of its columns converts: by the full load's own
//! decoders where pgoutput's binary form is the one they read, by the server (`convert.rs`) where it is not.

use super::super::decode::{decode, Note};
use super::super::types::{decoder, Decoder};
use super::pgoutput::{Relation, Value};
use super::slot::oid;
use crate::error::{Error, Result};
use crate::flatten::Flattener;
use crate::model::{Cell, FivetranType, Table};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The send functions whose binary form is the value's text: such a column read `::text` by the full load
/// converts the same from the log.
const TEXT_SENDS: &[&str] = &[
    "textsend",
    "varcharsend",
    "bpcharsend",
    "namesend",
    "enum_send",
    "citextsend",
    "xml_send",
    "unknownsend",
];

/// A column of a selected table as the catalog has it now.
#[derive(Debug, Clone)]
pub struct Now {
    pub type_oid: u32,
    pub text_send: bool,
}

/// How a table column's value from the log becomes its cell.
#[derive(Debug, Clone)]
pub struct Conv {
    pub name: String,
    pub decoder: Decoder,
    pub declared: FivetranType,
    pub flattened: bool,
    /// Its binary form is not what the decoder reads (interval, inet, arrays, money...): the server converts it
    /// with the full load's select expression.
    pub by_server: bool,
    pub type_oid: u32,
}

/// A selected table, its column conversions, and the warnings already given for it.
pub struct Target {
    pub table: Arc<Table>,
    pub conv: Vec<Conv>,
    pub key: Vec<usize>,
    pub flattener: Flattener,
    noted: HashSet<(usize, Note)>,
}

/// A relation of the log mapped onto a target: per relation column, the table column it fills (None for a column
/// dropped since, or one whose type has changed since: see `resync`).
pub struct Mapped {
    pub target: u32,
    pub columns: Vec<Option<usize>>,
    pub resync: Option<String>,
}

/// The selected tables by OID, the partitions that roll up into them, and the relations seen so far.
pub struct Tables {
    pub targets: HashMap<u32, Target>,
    /// partition OID -> its root's (a publication without publish_via_partition_root sends partitions).
    pub roots: HashMap<u32, u32>,
    pub relations: HashMap<u32, Option<Mapped>>,
}

impl Tables {
    pub fn new(
        tables: &[Arc<Table>],
        now: &HashMap<(u32, String), Now>,
        roots: HashMap<u32, u32>,
        flatten: &crate::config::Flatten,
    ) -> Tables {
        let targets = tables
            .iter()
            .filter_map(|t| Some((oid(t)?, target(t, now, flatten))))
            .collect();
        Tables {
            targets,
            roots,
            relations: HashMap::new(),
        }
    }

    /// Maps a Relation message (sent before a transaction's first change to that table, and again after its
    /// columns change).
    pub fn relation(&mut self, r: &Relation) {
        let found = self.resolve(r);
        let mapped = found.map(|t| {
            let target = &self.targets[&t];
            let mut resync = None;
            let columns = r
                .columns
                .iter()
                .map(|c| {
                    let i = target.conv.iter().position(|v| v.name == c.name)?;
                    if target.conv[i].type_oid != c.type_oid {
                        resync = Some(format!(
                            "column {} changed type under changes still in the log (type {} then, {} now)",
                            c.name, c.type_oid, target.conv[i].type_oid
                        ));
                        return None;
                    }
                    Some(i)
                })
                .collect();
            Mapped { target: t, columns, resync }
        });
        self.relations.insert(r.id, mapped);
    }

    fn resolve(&self, r: &Relation) -> Option<u32> {
        if self.targets.contains_key(&r.id) {
            return Some(r.id);
        }
        if let Some(root) = self
            .roots
            .get(&r.id)
            .filter(|o| self.targets.contains_key(o))
        {
            return Some(*root);
        }
        self.targets
            .iter()
            .find(|(_, t)| t.table.schema == r.namespace && t.table.name == r.name)
            .map(|(o, _)| *o)
    }
}

fn target(
    t: &Arc<Table>,
    now: &HashMap<(u32, String), Now>,
    flatten: &crate::config::Flatten,
) -> Target {
    let table_oid = oid(t).unwrap_or_default();
    let conv = t
        .columns
        .iter()
        .map(|c| {
            let d = decoder(c);
            let found = now.get(&(table_oid, c.name.clone()));
            let text_send = found.is_some_and(|n| n.text_send);
            Conv {
                name: c.name.clone(),
                decoder: d,
                declared: c.fivetran_type,
                flattened: c.flattened,
                by_server: matches!(d, Decoder::Money | Decoder::Array)
                    || (d == Decoder::CastText && !text_send),
                type_oid: found.map_or(0, |n| n.type_oid),
            }
        })
        .collect();
    let key = t
        .primary_key
        .iter()
        .filter_map(|k| t.columns.iter().position(|c| &c.name == k))
        .collect();
    Target {
        table: t.clone(),
        conv,
        key,
        flattener: Flattener::new(
            &flatten.separator,
            flatten.depth,
            &t.flat_columns,
            flatten.sample_rows,
        )
        .max_columns(flatten.max_columns)
        .reserve(t.columns.iter().map(|c| c.name.clone())),
        noted: HashSet::new(),
    }
}

pub fn is_text_send(send: &str) -> bool {
    TEXT_SENDS.contains(&send)
}

/// A column's value waiting for the server's conversion.
pub struct Pending {
    pub change: usize,
    pub column: usize,
    pub conv: Conv,
    pub bytes: Vec<u8>,
}

impl Target {
    /// The cell of table column `i` from the log's value; `None` when the change does not carry it (an unchanged
    /// TOASTed value), `Some(Cell::Null)` as a placeholder when the server must convert it (`pending`).
    pub fn cell(
        &mut self,
        i: usize,
        value: &Value<'_>,
        change: usize,
        pending: &mut Vec<Pending>,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Cell>> {
        let conv = &self.conv[i];
        let bytes = match value {
            Value::Null => return Ok(Some(Cell::Null)),
            Value::Unchanged => return Ok(None),
            Value::Text(b) if matches!(conv.decoder, Decoder::Text | Decoder::CastText) => *b,
            Value::Text(_) => return Err(self.fail(i, "arrived as text, not in its binary form")),
            Value::Binary(b) => *b,
        };
        if conv.by_server {
            pending.push(Pending {
                change,
                column: i,
                conv: conv.clone(),
                bytes: bytes.to_vec(),
            });
            return Ok(Some(Cell::Null));
        }
        let (cell, note) =
            decode(conv.decoder, conv.declared, bytes).map_err(|m| self.fail(i, &m))?;
        self.finish(i, cell, note, warnings).map(Some)
    }

    /// A decoded cell, flattened where the column is, and its note said once per column.
    pub fn finish(
        &mut self,
        i: usize,
        cell: Cell,
        note: Option<Note>,
        warnings: &mut Vec<String>,
    ) -> Result<Cell> {
        if let Some(note) = note {
            if self.noted.insert((i, note)) {
                warnings.push(format!(
                    "table {} column {}: {}",
                    self.table.qualified(),
                    self.conv[i].name,
                    note.describe()
                ));
            }
        }
        match cell {
            Cell::Json(v) if self.conv[i].flattened => {
                let name = self.conv[i].name.clone();
                let cell = self.flattener.cell(&self.table.qualified(), &name, v)?;
                warnings.extend(self.flattener.take_warnings());
                Ok(cell)
            }
            other => Ok(other),
        }
    }

    fn fail(&self, i: usize, message: &str) -> Error {
        Error::Conversion(format!(
            "table {} column {} (from the log): {message}",
            self.table.qualified(),
            self.conv[i].name
        ))
    }
}
