//! What a JSON leaf is and what it becomes in a flattened column: its kind, the type a sample of kinds gives a
//! column, and the conversion of one value to its column's type (`super` builds the cells).

use crate::model::{Cell, FivetranType};
use serde_json::Value;
use std::fmt::Write;

/// What kind of JSON leaf a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Leaf {
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

pub(super) fn leaf(value: &Value) -> Leaf {
    match value {
        Value::Null => Leaf::Null,
        Value::Bool(_) => Leaf::Bool,
        Value::Number(n) => {
            // serde_json keeps each number's own text (arbitrary_precision): read it, do not render a copy.
            let text = n.as_str();
            if text.contains(['.', 'e', 'E']) {
                if double_holds(text) {
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
        Ok(f) if f.is_finite() => {
            // The double's own digits, written on the stack: this runs for every such number of every JSON value.
            let mut shortest = StackText::default();
            match write!(shortest, "{f:e}") {
                Ok(()) => Decimal::of(text) == Decimal::of(shortest.as_str()),
                Err(_) => Decimal::of(text) == Decimal::of(&format!("{f:e}")),
            }
        }
        _ => false,
    }
}

/// Text written into a fixed buffer; a write that does not fit fails. `{:e}` of a double takes at most 24 bytes.
#[derive(Default)]
struct StackText {
    bytes: [u8; 32],
    len: usize,
}

impl StackText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let into = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        into.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A decimal number's sign, significant digits (no leading or trailing zeros, read where they lie in the text)
/// and the power of ten of its first digit; zero has no digits, no sign and power 0.
struct Decimal<'a> {
    negative: bool,
    whole: &'a str,
    fraction: &'a str,
    /// Leading zeros, and significant digits, of `whole` then `fraction`.
    skip: usize,
    len: usize,
    first: i64,
}

impl<'a> Decimal<'a> {
    fn of(text: &'a str) -> Self {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exponent) = rest.split_once(['e', 'E']).unwrap_or((rest, "0"));
        let exponent: i64 = exponent.parse().unwrap_or(0);
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = || whole.bytes().chain(fraction.bytes());
        let total = whole.len() + fraction.len();
        let skip = digits().take_while(|&d| d == b'0').count();
        let trailing = digits().rev().take_while(|&d| d == b'0').count();
        let len = total.saturating_sub(skip + trailing);
        let (negative, first) = match len {
            0 => (false, 0),
            _ => (negative, whole.len() as i64 - 1 - skip as i64 + exponent),
        };
        Decimal {
            negative,
            whole,
            fraction,
            skip,
            len,
            first,
        }
    }

    fn digits(&self) -> impl Iterator<Item = u8> + 'a {
        let (skip, len) = (self.skip, self.len);
        self.whole
            .bytes()
            .chain(self.fraction.bytes())
            .skip(skip)
            .take(len)
    }
}

impl PartialEq for Decimal<'_> {
    fn eq(&self, other: &Self) -> bool {
        (self.negative, self.len, self.first) == (other.negative, other.len, other.first)
            && self.digits().eq(other.digits())
    }
}

/// The type a column gets from the kinds its sampled values had (nulls say nothing).
pub(super) fn infer(kinds: &[Leaf]) -> Option<FivetranType> {
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

/// What a leaf becomes: decided while the object is read (nothing built, so an object that stays whole costs no
/// copies), made once the whole object is known to flatten.
#[derive(Debug, Clone, Copy)]
pub(super) enum Conv {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    /// The string itself, moved into the cell.
    Text,
    /// The value's JSON text, as a STRING column holds any JSON value.
    Render,
    /// The value itself, as JSON.
    Json,
    /// It does not fit its column's declared type.
    Misfit(Leaf, &'static str),
}

impl Conv {
    /// The cell of the leaf `value` this was decided for.
    pub(super) fn cell(self, value: Value) -> Cell {
        match (self, value) {
            (Conv::Null, _) => Cell::Null,
            (Conv::Bool(b), _) => Cell::Bool(b),
            (Conv::Int(i), _) => Cell::Int(i),
            (Conv::Double(d), _) => Cell::Double(d),
            (Conv::Text, Value::String(s)) => Cell::Text(s),
            (Conv::Text | Conv::Render, v) => Cell::Text(v.to_string()),
            (Conv::Json | Conv::Misfit(..), v) => Cell::Json(v),
        }
    }
}

/// What a leaf `value` becomes in a flattened column declared `declared` (None: a column the sample did not see).
pub(super) fn convert(declared: Option<FivetranType>, value: &Value) -> Conv {
    let kind = leaf(value);
    if kind == Leaf::Null {
        return Conv::Null;
    }
    match (declared, kind, value) {
        (None | Some(FivetranType::Boolean), Leaf::Bool, Value::Bool(b)) => Conv::Bool(*b),
        (None | Some(FivetranType::Long), Leaf::Int, Value::Number(n)) => {
            Conv::Int(n.as_i64().unwrap_or_default())
        }
        (Some(FivetranType::Long), Leaf::Float, Value::Number(n)) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Conv::Int(f as i64),
            _ => Conv::Misfit(kind, "LONG"),
        },
        (
            None | Some(FivetranType::Double),
            Leaf::Float | Leaf::Int | Leaf::BigInt,
            Value::Number(n),
        ) if (declared.is_some() || kind == Leaf::Float) && double_holds(n.as_str()) => {
            Conv::Double(n.as_f64().unwrap_or(f64::NAN))
        }
        (None | Some(FivetranType::String), Leaf::Str, Value::String(_)) => Conv::Text,
        (Some(FivetranType::String), _, _) => Conv::Render,
        (None | Some(FivetranType::Json), _, _) => Conv::Json,
        (Some(t), _, _) => Conv::Misfit(kind, t.name()),
    }
}
