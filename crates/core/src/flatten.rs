//! JSON flattening: an object column `c` becomes columns `c_key`, `c_key_sub`, … down to a set depth; lists and
//! deeper objects stay JSON. The types of the flattened columns come from a sample of rows. An object with a value
//! that does not fit its flattened column's type (a string where the sample saw numbers) is not flattened: it
//! arrives whole in its own JSON column, with a warning, so nothing is dropped or mangled and no sync stops for
//! good on data.

use crate::error::{Error, Result};
use crate::model::{Cell, FivetranType, FlatColumn};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

#[path = "flatten_leaf.rs"]
mod leaf;
#[path = "flatten_text.rs"]
mod text;
pub use leaf::double_holds;
use leaf::{convert, infer, leaf, Conv, Leaf};
pub use text::inexact;

/// Whether an object at `level` has a part that flattens to no value (see `Flattener::valueless`).
fn hollow(map: &Map<String, Value>, level: usize, depth: usize) -> bool {
    map.is_empty()
        || map.values().any(|v| match v {
            Value::Null => true,
            Value::Object(inner) => level < depth && hollow(inner, level + 1, depth),
            _ => false,
        })
}

/// A flattened column name the flattener has met: built, interned and looked up once, then found by name.
struct Slot {
    name: Arc<str>,
    /// The type the column was given from the sample, if it was.
    declared: Option<FivetranType>,
    /// The name is one of the table's own columns: flattening to it would overwrite that column.
    reserved: bool,
    /// The number of the last object that had this name (`Flattener::objects`): a second leaf of one object with
    /// the same name is a clash.
    seen: u64,
}

/// Why an object that is not too wide stays whole, by the slot of the leaf to blame.
#[derive(Debug, Clone, Copy)]
enum Whole {
    Twice(usize),
    Misfit(usize, Leaf, &'static str),
}

/// Turns JSON object values into flattened cells, for one table.
pub struct Flattener {
    separator: String,
    depth: usize,
    declared: HashMap<String, FivetranType>,
    /// Every flattened name met so far, by name, into `slots`: no name is built twice.
    names: HashMap<String, usize>,
    slots: Vec<Slot>,
    /// Objects flattened so far, numbering each for `Slot::seen`.
    objects: u64,
    /// Reused object after object: the flattened name being built, and the leaves of the object being read.
    name: String,
    leaves: Vec<(usize, Conv)>,
    /// The row path for JSON text (`flatten_text.rs`): each leaf's value, and the key spans of the objects open.
    values: Vec<Value>,
    siblings: Vec<(usize, usize)>,
    /// The slots of the previous object's leaves, by position: objects of one column mostly share a shape, so
    /// a name is first compared with the one in its place last time, and looked up only when it differs.
    last: Vec<usize>,
    /// The last flat object's keys and slots, per JSON column (`flatten_text.rs`): an object with the very same
    /// keys in the same order (jsonb keeps its keys sorted) reuses its slots, no names built, none looked up.
    shapes: Vec<text::Shape>,
    /// The keys of the object being read, for its shape, and whether it holds a nested object.
    keys: Vec<u8>,
    nested: bool,
    sample_rows: i64,
    /// At most this many flattened columns per JSON column: a larger object stays JSON (a 200,000-key object
    /// flattened would be 200,000 columns in every row and in the schema).
    max_columns: usize,
    /// Flattened columns a value did not fit, each warned about once.
    misfits: std::collections::HashSet<String>,
    /// The table's own column names: a flattened name equal to one would overwrite it.
    reserved: std::collections::HashSet<String>,
    warnings: Vec<String>,
}

impl Flattener {
    pub fn new(separator: &str, depth: usize, declared: &[FlatColumn], sample_rows: i64) -> Self {
        Flattener {
            separator: separator.to_string(),
            depth,
            declared: declared
                .iter()
                .map(|c| (c.name.clone(), c.fivetran_type))
                .collect(),
            names: HashMap::new(),
            slots: Vec::new(),
            objects: 0,
            name: String::new(),
            leaves: Vec::new(),
            values: Vec::new(),
            siblings: Vec::new(),
            last: Vec::new(),
            shapes: Vec::new(),
            keys: Vec::new(),
            nested: false,
            sample_rows,
            max_columns: usize::MAX,
            misfits: std::collections::HashSet::new(),
            reserved: std::collections::HashSet::new(),
            warnings: Vec::new(),
        }
    }

    /// At most `n` flattened columns per JSON column.
    pub fn max_columns(mut self, n: usize) -> Self {
        self.max_columns = n;
        self
    }

    /// The table's column names, which flattened names must not take.
    pub fn reserve(mut self, columns: impl IntoIterator<Item = String>) -> Self {
        self.reserved.extend(columns);
        self
    }

    /// The columns, with their types, that `samples` of column `column` flatten into, in order of first appearance;
    /// None when they would be more than `max_columns` (the column then stays JSON).
    pub fn sample(
        &self,
        column: &str,
        samples: impl IntoIterator<Item = Value>,
    ) -> Option<Vec<FlatColumn>> {
        let mut order: Vec<String> = Vec::new();
        let mut kinds: HashMap<String, Vec<Leaf>> = HashMap::new();
        for value in samples {
            if let Value::Object(map) = value {
                if self.too_wide(&map) {
                    return None;
                }
                self.walk(column, &map, 1, &mut |name, v| {
                    if !kinds.contains_key(&name) {
                        order.push(name.clone());
                    }
                    kinds.entry(name).or_default().push(leaf(v));
                });
                if order.len() > self.max_columns {
                    return None;
                }
            }
        }
        let columns = order
            .into_iter()
            .filter_map(|name| {
                let t = infer(&kinds[&name])?;
                Some(FlatColumn {
                    name,
                    fivetran_type: t,
                })
            })
            .collect();
        Some(columns)
    }

    /// Whether an object would flatten into more than `max_columns` columns (counted without building any name,
    /// stopping at the first one too many).
    fn too_wide(&self, map: &Map<String, Value>) -> bool {
        fn count(map: &Map<String, Value>, level: usize, depth: usize, left: &mut usize) -> bool {
            for value in map.values() {
                match value {
                    Value::Object(inner) if level < depth => {
                        if count(inner, level + 1, depth, left) {
                            return true;
                        }
                    }
                    _ if *left == 0 => return true,
                    _ => *left -= 1,
                }
            }
            false
        }
        let mut left = self.max_columns;
        count(map, 1, self.depth, &mut left)
    }

    /// The cell of one value of column `column`: flattened columns for an object, the JSON itself otherwise.
    pub fn cell(&mut self, table: &str, column: &str, value: Value) -> Result<Cell> {
        let Value::Object(map) = value else {
            return Ok(Cell::Json(value));
        };
        if self.too_wide(&map) {
            if self.misfits.insert(format!("{column} (too wide)")) {
                self.warnings.push(self.wide_warning(table, column));
            }
            return Ok(Cell::Json(Value::Object(map)));
        }
        self.read_leaves(column, &map);
        if let Some(why) = self.unflattenable() {
            if self.misfits.insert(self.whole_key(why)) {
                self.warnings.push(self.whole_warning(table, column, why));
            }
            return Ok(Cell::Json(Value::Object(map)));
        }
        // Only an object that is flattened loses anything: one that arrives whole keeps every part.
        if let Some(path) = self.valueless(column, &map, 1) {
            if self.misfits.insert(format!("{column} (no value)")) {
                self.warnings
                    .push(self.valueless_warning(table, column, &path));
            }
        }
        let mut out = Vec::with_capacity(self.leaves.len());
        self.build(map, 1, &mut 0, &mut out);
        Ok(Cell::Flat(out))
    }

    /// Reads the leaves of `map`, an object of `column`, into `self.leaves`: each name's slot and what the value
    /// becomes. Names are built in one reused buffer and looked up, never built per row.
    fn read_leaves(&mut self, column: &str, map: &Map<String, Value>) {
        self.objects += 1;
        self.last.clear();
        self.last.extend(self.leaves.iter().map(|&(slot, _)| slot));
        self.leaves.clear();
        self.name.clear();
        self.name.push_str(column);
        self.scan(map, 1);
    }

    fn scan(&mut self, map: &Map<String, Value>, level: usize) {
        for (key, value) in map {
            let len = self.name.len();
            self.name.push_str(&self.separator);
            self.name.push_str(key);
            match value {
                Value::Object(inner) if level < self.depth => self.scan(inner, level + 1),
                _ => {
                    let slot = self.slot();
                    let conv = convert(self.slots[slot].declared, value);
                    self.leaves.push((slot, conv));
                }
            }
            self.name.truncate(len);
        }
    }

    /// The slot of the name in `self.name`, made the first time the name is met.
    fn slot(&mut self) -> usize {
        let name = self.name.as_str();
        if let Some(&i) = self.last.get(self.leaves.len()) {
            if *self.slots[i].name == *name {
                return i;
            }
        }
        if let Some(&i) = self.names.get(name) {
            return i;
        }
        let i = self.slots.len();
        self.slots.push(Slot {
            name: Arc::from(name),
            declared: self.declared.get(name).copied(),
            reserved: self.reserved.contains(name),
            seen: 0,
        });
        self.names.insert(self.name.clone(), i);
        i
    }

    /// Why the object just read stays whole: two of its leaves (or a leaf and a column) with one name, else the
    /// first leaf that does not fit its column's type.
    fn unflattenable(&mut self) -> Option<Whole> {
        // Two paths to one name ({"a_b": 1, "a": {"b": 2}} -> both c_a_b) would keep one value and drop the other.
        for &(i, _) in &self.leaves {
            let slot = &mut self.slots[i];
            if slot.reserved || slot.seen == self.objects {
                return Some(Whole::Twice(i));
            }
            slot.seen = self.objects;
        }
        self.leaves.iter().find_map(|&(i, conv)| match conv {
            Conv::Misfit(kind, declared) => Some(Whole::Misfit(i, kind, declared)),
            _ => None,
        })
    }

    /// The key under which `why` is warned about once, and the warning.
    fn whole_key(&self, why: Whole) -> String {
        match why {
            Whole::Twice(i) => format!("{} (twice)", self.slots[i].name),
            Whole::Misfit(i, ..) => self.slots[i].name.to_string(),
        }
    }

    fn whole_warning(&self, table: &str, column: &str, why: Whole) -> String {
        match why {
            Whole::Twice(i) => format!(
                "table {table}: two keys of one object (or a key and a column) flatten to the same column '{}'; \
                 such objects arrive whole in column {column} (JSON) instead of flattened, so neither value is lost",
                self.slots[i].name
            ),
            Whole::Misfit(i, kind, declared) => {
                let misfit = self.mismatch(table, &self.slots[i].name, kind, declared);
                format!("{misfit}: such objects arrive whole in column {column} (JSON) instead of flattened")
            }
        }
    }

    /// The cells of the object whose leaves were just read, walked in the same order as `scan`: its strings and
    /// JSON values move into them.
    fn build(
        &self,
        map: Map<String, Value>,
        level: usize,
        at: &mut usize,
        out: &mut Vec<(Arc<str>, Cell)>,
    ) {
        for (_, value) in map {
            match value {
                Value::Object(inner) if level < self.depth => self.build(inner, level + 1, at, out),
                value => {
                    let (slot, conv) = self.leaves[*at];
                    *at += 1;
                    out.push((self.slots[slot].name.clone(), conv.cell(value)));
                }
            }
        }
    }

    /// The warning for a JSON column whose objects have more keys than flattened columns are allowed.
    pub fn wide_warning(&self, table: &str, column: &str) -> String {
        format!(
            "table {table}: objects in column {column} have more than {} keys to flatten; such objects arrive whole \
             in column {column} (JSON) instead of flattened (raise 'flatten_max_columns' to flatten them)",
            self.max_columns
        )
    }

    /// The first part of an object that flattens to no value at all (the object itself when empty, a key whose
    /// value is null, an empty object above `depth`), by its flattened name; None when every part has a value.
    fn valueless(&self, prefix: &str, map: &Map<String, Value>, level: usize) -> Option<String> {
        if map.is_empty() {
            return Some(format!("{prefix} = {{}}"));
        }
        // Every row passes through here: names are built only for the part that is found, not for every key.
        map.iter().find_map(|(key, value)| match value {
            Value::Null => Some(format!("{prefix}{}{key} = null", self.separator)),
            Value::Object(inner) if level < self.depth && hollow(inner, level + 1, self.depth) => {
                self.valueless(
                    &format!("{prefix}{}{key}", self.separator),
                    inner,
                    level + 1,
                )
            }
            _ => None,
        })
    }

    /// The once-per-column warning for objects that flatten to no value: the destination cannot tell them from a
    /// missing key or a NULL column.
    fn valueless_warning(&self, table: &str, column: &str, first: &str) -> String {
        format!(
            "table {table}: column {column} holds objects that flatten to no value (first: {first}); they land as \
             NULL in the flattened columns, as a missing key or a NULL {column} does, so the destination cannot tell \
             them apart (set 'flatten_json' to false to keep {column} as JSON)"
        )
    }

    /// What flattening noticed since the last call (a value that did not fit, once per flattened column).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn walk<'v>(
        &self,
        prefix: &str,
        map: &'v Map<String, Value>,
        level: usize,
        emit: &mut dyn FnMut(String, &'v Value),
    ) {
        for (key, value) in map {
            let name = format!("{prefix}{}{key}", self.separator);
            match value {
                Value::Object(inner) if level < self.depth => {
                    self.walk(&name, inner, level + 1, emit)
                }
                _ => emit(name, value),
            }
        }
    }

    fn mismatch(&self, table: &str, name: &str, kind: Leaf, declared: &str) -> Error {
        Error::Conversion(format!(
            "table {table}: a JSON {kind:?} value in flattened column '{name}' does not fit the {declared} type \
             its column was given from a sample of {} rows (raise 'flatten_sample_rows' to type it from more rows)",
            self.sample_rows
        ))
    }
}

#[cfg(test)]
#[path = "flatten_tests.rs"]
mod tests;
