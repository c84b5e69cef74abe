//! The flattener's row path for JSON text (a json value, or jsonb's text body): an object's leaves are found in the
//! text itself, each leaf parsed on its own, so no value tree (an `IndexMap` per object, a hash per key) is built
//! for the object around them. Only the plain case is taken: an object whose keys have no escapes and no repeats,
//! that flattens whole with a value in every part. Anything else (not an object, invalid JSON, an empty part or a
//! null, too wide, a misfit, a clash) answers None, and the caller parses the text and calls `Flattener::cell`,
//! which says what it says about it: the cells are the same either way (`flatten_tests.rs` compares them).

use super::leaf::{convert, Conv};
use super::Flattener;
use crate::model::{Cell, FivetranType};
use serde_json::Value;

/// More keys than this in one object and the repeat check (a linear scan of its siblings) is left to the slow path.
const SIBLINGS: usize = 64;

fn ws(t: &[u8], mut i: usize) -> usize {
    while i < t.len() && matches!(t[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end of the string that starts at `i` (just past its closing quote).
fn skip_string(t: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        match t.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// The end of the value that starts at `i`; its text is checked by the parse of that span, not here.
fn skip_value(t: &[u8], mut i: usize) -> Option<usize> {
    match t.get(i)? {
        b'"' => skip_string(t, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match t.get(i)? {
                    b'"' => {
                        i = skip_string(t, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            while i < t.len() && !matches!(t[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                i += 1;
            }
            Some(i)
        }
    }
}

/// A leaf's value: a string without escapes or control characters and the two literals read here, the rest (and
/// so every number, kept as its own text) by serde_json; the values serde_json gives for the same text.
fn leaf_value(span: &[u8]) -> Option<Value> {
    match span {
        b"true" => Some(Value::Bool(true)),
        b"false" => Some(Value::Bool(false)),
        [b'"', body @ .., b'"'] if !body.iter().any(|&b| b == b'\\' || b < 0x20) => {
            std::str::from_utf8(body)
                .ok()
                .map(|s| Value::String(s.to_owned()))
        }
        _ => serde_json::from_slice(span).ok(),
    }
}

/// Whether a JSON value holds a number with a fraction or an exponent that a double does not read back as itself.
pub fn inexact(value: &Value) -> bool {
    match value {
        Value::Number(n) => {
            let text = n.as_str();
            text.contains(['.', 'e', 'E']) && !super::double_holds(text)
        }
        Value::Array(items) => items.iter().any(inexact),
        Value::Object(map) => map.values().any(inexact),
        _ => false,
    }
}

/// A flat object's shape: its keys, each followed by END (a byte no UTF-8 text holds), and their slots.
pub(super) struct Shape {
    column: String,
    keys: Vec<u8>,
    slots: Vec<usize>,
}

const END: u8 = 0xFF;

/// A plain JSON integer (`-?(0|[1-9][0-9]*)`, at most 18 digits, so it fits an i64) and its value.
fn plain_int(span: &[u8]) -> Option<i64> {
    let digits = span.strip_prefix(b"-").unwrap_or(span);
    let plain = matches!(digits, [b'0'] | [b'1'..=b'9', ..])
        && digits.len() <= 18
        && digits.iter().all(u8::is_ascii_digit);
    if !plain {
        return None;
    }
    let n = digits
        .iter()
        .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
    Some(if digits.len() < span.len() { -n } else { n })
}

impl Flattener {
    /// One leaf's span into `self.leaves` and `self.values`, in `slot` (None: the slot of `self.name`); None for
    /// what the plain case does not take.
    fn leaf(&mut self, span: &[u8], slot: Option<usize>) -> Option<()> {
        if self.leaves.len() >= self.max_columns {
            return None;
        }
        // An integer for a column that takes it as one: its cell needs no JSON value (the placeholder Null is
        // exact, and `conv.cell` of an Int ignores it), so neither serde_json's parse nor its number text.
        if let Some(n) = plain_int(span) {
            let slot = slot.unwrap_or_else(|| self.slot());
            if matches!(self.slots[slot].declared, None | Some(FivetranType::Long)) {
                self.leaves.push((slot, Conv::Int(n)));
                self.values.push(Value::Null);
                return Some(());
            }
        }
        let value = leaf_value(span)?;
        if value.is_null() {
            return None;
        }
        let slot = slot.unwrap_or_else(|| self.slot());
        let conv = convert(self.slots[slot].declared, &value);
        self.leaves.push((slot, conv));
        self.values.push(value);
        Some(())
    }

    /// The flattened cell of the JSON text `text` of column `column`, and whether a number in it is inexact (see
    /// `inexact`); None when the text is not the plain case (module comment): then parse it and call `cell`.
    pub fn cell_text(&mut self, column: &str, text: &[u8]) -> Option<(Cell, bool)> {
        let start = ws(text, 0);
        if text.get(start) != Some(&b'{') {
            return None;
        }
        self.objects += 1;
        self.last.clear();
        self.last.extend(self.leaves.iter().map(|&(slot, _)| slot));
        if self.same_shape(column, text, start).is_none() {
            self.leaves.clear();
            self.values.clear();
            self.siblings.clear();
            self.name.clear();
            self.name.push_str(column);
            self.keys.clear();
            self.nested = false;
            let end = self.scan_text(text, start, 1)?;
            if ws(text, end) != text.len() || self.unflattenable().is_some() {
                return None;
            }
            self.remember_shape(column);
        } else if self.unflattenable().is_some() {
            return None;
        }
        let inexact = self.values.iter().any(inexact);
        let slots = &self.slots;
        let out = self
            .leaves
            .iter()
            .zip(self.values.drain(..))
            .map(|(&(slot, conv), value)| (slots[slot].name.clone(), conv.cell(value)))
            .collect();
        Some((Cell::Flat(out), inexact))
    }

    /// The object at `t[start]` read into `self.leaves` and `self.values` with the slots of the last flat object
    /// of `column`, when it has exactly that object's keys in the same order and no nested object; None (the
    /// caller then reads it from scratch) at the first difference, or for anything the plain case does not take.
    fn same_shape(&mut self, column: &str, t: &[u8], start: usize) -> Option<()> {
        let at = self.shapes.iter().position(|s| s.column == column)?;
        self.leaves.clear();
        self.values.clear();
        let (mut i, mut k, mut from) = (ws(t, start + 1), 0, 0);
        loop {
            if *t.get(i)? != b'"' {
                return None;
            }
            let end = skip_string(t, i)?;
            let shape = &self.shapes[at];
            let upto = from + end - i - 2;
            if shape.keys.get(from..upto)? != &t[i + 1..end - 1]
                || shape.keys.get(upto) != Some(&END)
            {
                return None;
            }
            let slot = *shape.slots.get(k)?;
            (from, k) = (upto + 1, k + 1);
            i = ws(t, end);
            if *t.get(i)? != b':' {
                return None;
            }
            i = ws(t, i + 1);
            if *t.get(i)? == b'{' && self.depth > 1 {
                return None;
            }
            let end = skip_value(t, i)?;
            self.leaf(&t[i..end], Some(slot))?;
            i = ws(t, end);
            match t.get(i)? {
                b',' => i = ws(t, i + 1),
                b'}' => break,
                _ => return None,
            }
        }
        let whole = from == self.shapes[at].keys.len() && ws(t, i + 1) == t.len();
        whole.then_some(())
    }

    /// The object just read is the shape of `column`'s next objects, when it is flat.
    fn remember_shape(&mut self, column: &str) {
        if self.nested {
            return;
        }
        let slots = self.leaves.iter().map(|&(slot, _)| slot).collect();
        let shape = Shape {
            column: column.to_string(),
            keys: std::mem::take(&mut self.keys),
            slots,
        };
        match self.shapes.iter_mut().find(|s| s.column == column) {
            Some(known) => *known = shape,
            None => self.shapes.push(shape),
        }
    }

    /// Reads the object at `t[i]` (a `{`) at `level` into `self.leaves` and `self.values`, as `scan` reads a map;
    /// the end of the object, or None for what the plain case does not take.
    fn scan_text(&mut self, t: &[u8], i: usize, level: usize) -> Option<usize> {
        let mut i = ws(t, i + 1);
        if t.get(i) == Some(&b'}') {
            return None; // an empty part: valueless, said by `cell`
        }
        let mark = self.siblings.len();
        loop {
            if *t.get(i)? != b'"' {
                return None;
            }
            let end = skip_string(t, i)?;
            let key = &t[i + 1..end - 1];
            let repeated = self.siblings[mark..].iter().any(|&(s, e)| &t[s..e] == key);
            if repeated || key.contains(&b'\\') || self.siblings.len() - mark >= SIBLINGS {
                return None;
            }
            self.siblings.push((i + 1, end - 1));
            let key = std::str::from_utf8(key).ok()?;
            i = ws(t, end);
            if *t.get(i)? != b':' {
                return None;
            }
            i = ws(t, i + 1);
            let len = self.name.len();
            self.name.push_str(&self.separator);
            self.name.push_str(key);
            if *t.get(i)? == b'{' && level < self.depth {
                self.nested = true;
                i = self.scan_text(t, i, level + 1)?;
            } else {
                if level == 1 {
                    self.keys.extend_from_slice(key.as_bytes());
                    self.keys.push(END);
                }
                let end = skip_value(t, i)?;
                self.leaf(&t[i..end], None)?;
                i = end;
            }
            self.name.truncate(len);
            i = ws(t, i);
            match t.get(i)? {
                b',' => i = ws(t, i + 1),
                b'}' => {
                    self.siblings.truncate(mark);
                    return Some(i + 1);
                }
                _ => return None,
            }
        }
    }
}
