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

/// What kind of JSON leaf a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Null,
    Bool,
    Int,
    BigInt,
    Float,
    /// A number with a fraction or an exponent that a double does not read back as itself.
    Inexact,
    Str,
    Nested,
}

fn leaf(value: &Value) -> Leaf {
    match value {
        Value::Null => Leaf::Null,
        Value::Bool(_) => Leaf::Bool,
        Value::Number(n) => {
            let text = n.to_string();
            if text.contains(['.', 'e', 'E']) {
                if double_holds(&text) {
                    Leaf::Float
                } else {
                    Leaf::Inexact
                }
            } else if text.parse::<i64>().is_ok() {
                Leaf::Int
            } else {
                Leaf::BigInt
            }
        }
        Value::String(_) => Leaf::Str,
        Value::Array(_) | Value::Object(_) => Leaf::Nested,
    }
}

/// Whether a double reads the JSON number `text` back as the same decimal: 0.1 and 1e300 do;
/// 12345678901234567890.123456789012345, 1.0000000000000001, 1e309 and 1e-400 do not (a double rounds them, makes
/// them infinite or zero).
pub fn double_holds(text: &str) -> bool {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => decimal_parts(text) == decimal_parts(&format!("{f:e}")),
        _ => false,
    }
}

/// A decimal number's sign, significant digits (no leading or trailing zeros) and the power of ten of its first
/// digit; zero is (false, "", 0) whatever its sign.
fn decimal_parts(text: &str) -> (bool, String, i64) {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = rest.split_once(['e', 'E']).unwrap_or((rest, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = whole.chars().chain(fraction.chars()).collect();
    let leading = digits.len() - digits.trim_start_matches('0').len();
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant.is_empty() {
        return (false, String::new(), 0);
    }
    let first = whole.len() as i64 - 1 - leading as i64 + exponent;
    (negative, significant.to_string(), first)
}

/// The type a column gets from the kinds its sampled values had (nulls say nothing).
fn infer(kinds: &[Leaf]) -> Option<FivetranType> {
    let seen: Vec<Leaf> = kinds.iter().copied().filter(|k| *k != Leaf::Null).collect();
    if seen.is_empty() {
        return None;
    }
    let all = |k: &[Leaf]| seen.iter().all(|s| k.contains(s));
    Some(if all(&[Leaf::Bool]) {
        FivetranType::Boolean
    } else if all(&[Leaf::Int]) {
        FivetranType::Long
    } else if all(&[Leaf::Int, Leaf::Float]) {
        FivetranType::Double
    } else if all(&[Leaf::Int, Leaf::BigInt, Leaf::Float, Leaf::Inexact])
        && seen.contains(&Leaf::Inexact)
    {
        // A double would round them; the server's own text is exact.
        FivetranType::String
    } else if all(&[Leaf::Str]) {
        FivetranType::String
    } else {
        FivetranType::Json
    })
}

/// Whether an object at `level` has a part that flattens to no value (see `Flattener::valueless`).
fn hollow(map: &Map<String, Value>, level: usize, depth: usize) -> bool {
    map.is_empty()
        || map.values().any(|v| match v {
            Value::Null => true,
            Value::Object(inner) => level < depth && hollow(inner, level + 1, depth),
            _ => false,
        })
}

/// Turns JSON object values into flattened cells, for one table.
pub struct Flattener {
    separator: String,
    depth: usize,
    declared: HashMap<String, FivetranType>,
    names: HashMap<String, Arc<str>>,
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
        let mut leaves: Vec<(String, &Value)> = Vec::new();
        self.walk(column, &map, 1, &mut |name, v| leaves.push((name, v)));
        // Two paths to one name ({"a_b": 1, "a": {"b": 2}} -> both c_a_b) would keep one value and drop the other.
        let mut seen: std::collections::HashSet<&str> =
            self.reserved.iter().map(String::as_str).collect();
        if let Some((twice, _)) = leaves.iter().find(|(name, _)| !seen.insert(name.as_str())) {
            if self.misfits.insert(format!("{twice} (twice)")) {
                self.warnings.push(format!(
                    "table {table}: two keys of one object (or a key and a column) flatten to the same column \
                     '{twice}'; such objects arrive whole in column {column} (JSON) instead of flattened, so neither \
                     value is lost"
                ));
            }
            return Ok(Cell::Json(Value::Object(map)));
        }
        let mut out = Vec::with_capacity(leaves.len());
        for (name, v) in leaves {
            let cell = match self.convert(table, &name, v) {
                Ok(cell) => cell,
                Err(misfit) => {
                    if self.misfits.insert(name.clone()) {
                        self.warnings.push(format!(
                            "{misfit}: such objects arrive whole in column {column} (JSON) instead of flattened"
                        ));
                    }
                    return Ok(Cell::Json(Value::Object(map)));
                }
            };
            let key = match self.names.get(&name) {
                Some(k) => k.clone(),
                None => {
                    let k: Arc<str> = Arc::from(name.as_str());
                    self.names.insert(name, k.clone());
                    k
                }
            };
            out.push((key, cell));
        }
        // Only an object that is flattened loses anything: one that arrives whole keeps every part.
        if let Some(path) = self.valueless(column, &map, 1) {
            if self.misfits.insert(format!("{column} (no value)")) {
                self.warnings
                    .push(self.valueless_warning(table, column, &path));
            }
        }
        Ok(Cell::Flat(out))
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

    fn convert(&self, table: &str, name: &str, value: &Value) -> Result<Cell> {
        let kind = leaf(value);
        if kind == Leaf::Null {
            return Ok(Cell::Null);
        }
        let declared = self.declared.get(name).copied();
        let cell = match (declared, kind, value) {
            (None | Some(FivetranType::Boolean), Leaf::Bool, Value::Bool(b)) => Cell::Bool(*b),
            (None | Some(FivetranType::Long), Leaf::Int, Value::Number(n)) => {
                Cell::Int(n.as_i64().unwrap_or_default())
            }
            (Some(FivetranType::Long), Leaf::Float, Value::Number(n)) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Cell::Int(f as i64),
                _ => return Err(self.mismatch(table, name, kind, "LONG")),
            },
            (
                None | Some(FivetranType::Double),
                Leaf::Float | Leaf::Int | Leaf::BigInt,
                Value::Number(n),
            ) if (declared.is_some() || kind == Leaf::Float) && double_holds(n.as_str()) => {
                Cell::Double(n.as_f64().unwrap_or(f64::NAN))
            }
            (None | Some(FivetranType::String), Leaf::Str, Value::String(s)) => {
                Cell::Text(s.clone())
            }
            (Some(FivetranType::String), _, v) => Cell::Text(v.to_string()),
            (None | Some(FivetranType::Json), _, v) => Cell::Json(v.clone()),
            (Some(t), _, _) => return Err(self.mismatch(table, name, kind, t.name())),
        };
        Ok(cell)
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
