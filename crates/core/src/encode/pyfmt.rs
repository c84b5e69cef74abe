//! Python's own text forms, reproduced exactly where the Connector SDK relies on them: `repr(float)` (the shortest
//! digits that round-trip, in Python's layout) and `json.dumps` with its defaults.

use crate::flatten::double_holds;
use serde_json::Value;
use std::fmt::Write;

/// `repr(x)` of a Python float: shortest round-trip digits; positional when the decimal exponent is in [-4, 16),
/// with `.0` for whole numbers; otherwise `d.ddde+XX` with at least two exponent digits. `nan`/`inf` as Python.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` without a precision is the shortest representation that round-trips, as Python's repr.
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits = nearest_even(x, digits, exponent);
    let mut out = String::from(sign);
    if (-4..16).contains(&exponent) {
        let point = exponent + 1; // digits before the decimal point
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(&digits);
        } else if point as usize >= digits.len() {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
            out.push_str(".0");
        } else {
            let (whole, fraction) = digits.split_at(point as usize);
            let _ = write!(out, "{whole}.{fraction}");
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        );
    }
    out
}

/// The shortest digits, with a tie broken as Python breaks it. Rust's shortest digits are the nearest ones except
/// when `x` lies exactly halfway between two candidates: Rust then rounds up, Python (David Gay's dtoa) to the
/// even digit. Only an exact tie changes anything; it is recognised from the exact decimal expansion.
fn nearest_even(x: f64, digits: String, exponent: i32) -> String {
    if !may_tie(x) {
        return digits;
    }
    let n = digits.len();
    let exact_digits = |precision: usize| -> Option<String> {
        let text = format!("{:.*e}", precision, x.abs());
        let (mantissa, e) = text.split_once('e')?;
        (e.parse::<i32>().ok()? == exponent)
            .then(|| mantissa.chars().filter(|c| *c != '.').collect())
    };
    let is_tie = |all: &str| all[n..].starts_with('5') && all[n + 1..].bytes().all(|b| b == b'0');
    // A quick look at 25 more digits first; the full expansion (an f64 has at most 767 significant digits) only
    // when it looks like a tie.
    match exact_digits(n + 24) {
        Some(all) if is_tie(&all) => {}
        _ => return digits,
    }
    let Some(all) = exact_digits(1100).filter(|all| is_tie(all)) else {
        return digits;
    };
    let truncated = &all[..n];
    let last = truncated.as_bytes()[n - 1] - b'0';
    let even = if last.is_multiple_of(2) {
        truncated.to_string()
    } else {
        increment(truncated)
    };
    // Python keeps only candidates that read back as `x`; the even one normally does.
    let candidate = format!("{}e{exponent}", with_point(&even));
    match candidate.parse::<f64>() {
        Ok(back) if back == x.abs() && even.len() == n => even,
        _ => digits,
    }
}

/// Whether `x`'s exact decimal expansion can be short enough (at most 18 significant digits) to end exactly halfway
/// between two shortest candidates. `x = m * 2^q` with `m` odd: a whole number below 2^53 prints exactly; for
/// `q < 0` the expansion is `m * 5^-q` over a power of ten, which has more than 18 digits once `-q >= 27`. The rest
/// (numbers with few fraction bits, like 0.25, and huge whole numbers) takes the exact check.
fn may_tie(x: f64) -> bool {
    let bits = x.abs().to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (m, q) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    if m == 0 {
        return false;
    }
    let q = q + m.trailing_zeros() as i32; // the exponent once m is odd
    if q >= 0 {
        return x.abs() >= 9_007_199_254_740_992.0;
    }
    -q < 27
}

/// The decimal digit string plus one in its last place ("129" -> "130", "99" -> "100").
fn increment(digits: &str) -> String {
    let mut bytes = digits.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return String::from_utf8(bytes).unwrap_or_default();
        }
    }
    format!("1{}", String::from_utf8(bytes).unwrap_or_default())
}

fn with_point(digits: &str) -> String {
    if digits.len() > 1 {
        format!("{}.{}", &digits[..1], &digits[1..])
    } else {
        digits.to_string()
    }
}

/// `json.dumps(x)` of a float: its repr, with JavaScript's names for the non-finite values. The SDK's float cells
/// (`_coerce_float_type`) spell them the same way.
pub fn json_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        float_repr(x)
    }
}

/// The Python value a JSON number becomes (see the binding's `convert.rs::json`): a float when its text has a fraction or an
/// exponent and a double reads it back as itself, the server's text (a str) when a double would round it, an int
/// otherwise (of any size).
pub enum PyNumber {
    Float(f64),
    Text(String),
    Int(String),
}

pub fn py_number(n: &serde_json::Number) -> PyNumber {
    let text = n.to_string();
    if text.contains(['.', 'e', 'E']) {
        if double_holds(&text) {
            PyNumber::Float(n.as_f64().unwrap_or(f64::NAN))
        } else {
            PyNumber::Text(text)
        }
    } else if let Some(i) = n.as_i64() {
        PyNumber::Int(i.to_string())
    } else {
        // Python's int(text) then str(): the digits, without a leading '+' or zeros (JSON has neither).
        PyNumber::Int(text)
    }
}

/// `json.dumps(value)` with the defaults: ASCII only (`\uXXXX`, surrogate pairs beyond the BMP), `", "` and
/// `": "` separators, floats as their repr.
pub fn json_dumps(value: &Value) -> String {
    let mut out = String::new();
    dump(value, &mut out);
    out
}

fn dump(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match py_number(n) {
            PyNumber::Float(f) => out.push_str(&json_float(f)),
            PyNumber::Text(text) => json_string(&text, out),
            PyNumber::Int(digits) => out.push_str(&digits),
        },
        Value::String(s) => json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json_string(k, out);
                out.push_str(": ");
                dump(v, out);
            }
            out.push('}');
        }
    }
}

/// A JSON string as `json.dumps` writes it with `ensure_ascii=True`: everything outside space..tilde escaped.
pub fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_repr() {
        for (x, want) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345.6, "123456789012345.6"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.234e-7, "1.234e-07"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (f64::from(1.1f32), "1.100000023841858"),
            (-2.5, "-2.5"),
            (-1529357646096716.2, "-1529357646096716.2"),
            (100.0, "100.0"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(float_repr(x), want, "{x:?}");
        }
    }

    #[test]
    fn json_is_dumped_as_python_does() {
        let v: Value = serde_json::from_str(
            r#"{"a": [1, 2.5, 1e16, null, true], "é": "x\"y\\z\n\u0001\u007f😀", "big": 123456789012345678901234567890}"#,
        )
        .unwrap();
        assert_eq!(
            json_dumps(&v),
            r#"{"a": [1, 2.5, 1e+16, null, true], "\u00e9": "x\"y\\z\n\u0001\u007f\ud83d\ude00", "big": 123456789012345678901234567890}"#
        );
        assert_eq!(json_dumps(&serde_json::json!({})), "{}");
        assert_eq!(json_dumps(&serde_json::json!([])), "[]");
    }
}
