//! Binary wire values -> cells, and -> key text for resuming. Each decoder reads the format PostgreSQL sends for
//! the select expression `types::Decoder` chose.

use super::types::Decoder;
use crate::model::{Cell, FivetranType};
use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

/// Why a value did not arrive as itself; the reader warns once per column and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Note {
    /// ±infinity date or timestamp, written as the last or first moment the destination holds.
    Clamped,
    /// A date or timestamp outside years 1 to 9999, written as NULL.
    OutOfRange,
    /// NaN or ±Infinity in a DECIMAL column, written as NULL.
    NotANumber,
    /// A number in a JSON value (json, jsonb, an array) that a double would round, written as its own text.
    InexactJsonNumber,
}

impl Note {
    pub fn describe(self) -> &'static str {
        match self {
            Note::Clamped => "infinity / -infinity are written as 9999-12-31 23:59:59.999999 / 0001-01-01 00:00:00",
            Note::OutOfRange => "values outside years 1 to 9999 are written as NULL",
            Note::NotANumber => "NaN and Infinity do not fit a DECIMAL column and are written as NULL",
            Note::InexactJsonNumber => {
                "holds JSON numbers a double would round (more than 17 digits, or beyond 1e308 or 1e-308); the SDK \
                 writes JSON numbers as doubles, so these land as JSON strings holding the server's exact text \
                 (a flattened column of them is STRING): cast them in the destination"
            }
        }
    }
}

type Decoded = Result<(Cell, Option<Note>), String>;

fn fixed<const N: usize>(raw: &[u8]) -> Result<[u8; N], String> {
    raw.try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", raw.len()))
}

fn i16_at(raw: &[u8], at: usize) -> Result<i16, String> {
    Ok(i16::from_be_bytes(fixed(
        raw.get(at..at + 2).ok_or("numeric value is truncated")?,
    )?))
}

/// PostgreSQL's epoch, and the first and last instants Python (and so every destination type) holds: constants,
/// because a date or timestamp of every row is placed from them.
const EPOCH: NaiveDateTime = day(2000, 1, 1).and_time(NaiveTime::MIN);
const FIRST: NaiveDateTime = day(1, 1, 1).and_time(NaiveTime::MIN);
const LAST: NaiveDateTime =
    day(9999, 12, 31).and_time(match NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999) {
        Some(t) => t,
        None => NaiveTime::MIN,
    });

const fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(d) => d,
        None => NaiveDate::MIN,
    }
}

fn in_python_range(year: i32) -> bool {
    (1..=9999).contains(&year)
}

/// A value of column type `declared`, decoded with `d`.
pub fn decode(d: Decoder, declared: FivetranType, raw: &[u8]) -> Decoded {
    let plain = |c: Cell| Ok((c, None));
    match d {
        Decoder::Bool => plain(Cell::Bool(fixed::<1>(raw)?[0] != 0)),
        Decoder::Int2 => plain(Cell::Int(i16::from_be_bytes(fixed(raw)?) as i64)),
        Decoder::Int4 => plain(Cell::Int(i32::from_be_bytes(fixed(raw)?) as i64)),
        Decoder::Int8 => plain(Cell::Int(i64::from_be_bytes(fixed(raw)?))),
        Decoder::Oid => plain(Cell::Int(u32::from_be_bytes(fixed(raw)?) as i64)),
        Decoder::Float4 => plain(Cell::Float(f32::from_be_bytes(fixed(raw)?))),
        Decoder::Float8 => plain(Cell::Double(f64::from_be_bytes(fixed(raw)?))),
        Decoder::Numeric | Decoder::Money => match (numeric_text(raw)?, declared) {
            (Ok(text), _) => plain(Cell::Decimal(text)),
            (Err(_), FivetranType::Decimal { .. }) => Ok((Cell::Null, Some(Note::NotANumber))),
            (Err(special), _) => plain(Cell::Text(special.to_string())),
        },
        Decoder::Text | Decoder::CastText => plain(Cell::Text(utf8(raw)?)),
        Decoder::Uuid => plain(Cell::Text(
            uuid::Uuid::from_bytes(fixed(raw)?).hyphenated().to_string(),
        )),
        Decoder::Date => date(i32::from_be_bytes(fixed(raw)?)),
        Decoder::Time => plain(Cell::Text(time_text(i64::from_be_bytes(fixed(raw)?)))),
        Decoder::Timestamp | Decoder::TimestampTz => {
            timestamp(i64::from_be_bytes(fixed(raw)?), d == Decoder::TimestampTz)
        }
        Decoder::Bytea => plain(Cell::Bytes(raw.to_vec())),
        Decoder::Json => json_cell(json(raw)?),
        Decoder::Jsonb | Decoder::Array => json_cell(json(jsonb_body(raw)?)?),
    }
}

fn utf8(raw: &[u8]) -> Result<String, String> {
    String::from_utf8(raw.to_vec()).map_err(|_| "text is not valid UTF-8".to_string())
}

fn json(raw: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::from_slice(raw).map_err(|e| format!("JSON cannot be parsed: {e}"))
}

fn json_cell(value: serde_json::Value) -> Decoded {
    let note = crate::flatten::inexact(&value).then_some(Note::InexactJsonNumber);
    Ok((Cell::Json(value), note))
}

pub(super) fn jsonb_body(raw: &[u8]) -> Result<&[u8], String> {
    match raw.split_first() {
        Some((1, body)) => Ok(body),
        _ => Err("unknown jsonb format version".into()),
    }
}

fn date(days: i32) -> Decoded {
    match days {
        i32::MAX => Ok((Cell::Date(LAST.date()), Some(Note::Clamped))),
        i32::MIN => Ok((Cell::Date(FIRST.date()), Some(Note::Clamped))),
        _ => match date_from_days(days) {
            Some(d) if in_python_range(chrono::Datelike::year(&d)) => Ok((Cell::Date(d), None)),
            _ => Ok((Cell::Null, Some(Note::OutOfRange))),
        },
    }
}

fn date_from_days(days: i32) -> Option<NaiveDate> {
    let base = EPOCH.date();
    if days >= 0 {
        base.checked_add_days(Days::new(days as u64))
    } else {
        base.checked_sub_days(Days::new(days.unsigned_abs() as u64))
    }
}

fn timestamp(micros: i64, utc: bool) -> Decoded {
    let wrap = |t: NaiveDateTime| {
        if utc {
            Cell::TimestampUtc(t)
        } else {
            Cell::Timestamp(t)
        }
    };
    match micros {
        i64::MAX => Ok((wrap(LAST), Some(Note::Clamped))),
        i64::MIN => Ok((wrap(FIRST), Some(Note::Clamped))),
        _ => match EPOCH.checked_add_signed(TimeDelta::microseconds(micros)) {
            Some(t) if in_python_range(chrono::Datelike::year(&t)) => Ok((wrap(t), None)),
            _ => Ok((Cell::Null, Some(Note::OutOfRange))),
        },
    }
}

/// `HH:MM:SS[.ffffff]` with trailing zeros of the fraction dropped, as PostgreSQL writes it.
fn time_text(micros: i64) -> String {
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    let base = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        return base;
    }
    format!("{base}.{}", format!("{frac:06}").trim_end_matches('0'))
}

/// The exact decimal text of a binary numeric with its display scale, or the name of a special value.
pub fn numeric_text(raw: &[u8]) -> Result<Result<String, &'static str>, String> {
    let ndigits = i16_at(raw, 0)? as i32;
    let weight = i16_at(raw, 2)? as i32;
    let sign = i16_at(raw, 4)? as u16;
    let dscale = i16_at(raw, 6)? as u16 as usize;
    match sign {
        0xC000 => return Ok(Err("NaN")),
        0xD000 => return Ok(Err("Infinity")),
        0xF000 => return Ok(Err("-Infinity")),
        _ => {}
    }
    let digit = |i: i32| -> Result<u16, String> {
        if i < 0 || i >= ndigits {
            return Ok(0);
        }
        match i16_at(raw, 8 + 2 * i as usize)? {
            d @ 0..=9999 => Ok(d as u16),
            d => Err(format!("a numeric digit group out of range ({d})")),
        }
    };
    let mut out = String::with_capacity(8 + 4 * ndigits.max(0) as usize + dscale);
    if sign == 0x4000 {
        out.push('-');
    }
    // Every numeric of every row comes through here: the digits are written into `out` by hand (the formatting
    // machinery cost most of a numeric's decoding), never into strings of their own.
    if weight < 0 {
        out.push('0');
    } else {
        group(&mut out, digit(0)?, false);
        for i in 1..=weight {
            group(&mut out, digit(i)?, true);
        }
    }
    if dscale > 0 {
        out.push('.');
        let start = out.len();
        let mut i = weight + 1;
        while out.len() - start < dscale {
            group(&mut out, digit(i)?, true);
            i += 1;
        }
        out.truncate(start + dscale);
    }
    Ok(Ok(out))
}

/// One base-10000 digit group (0..=9999) in decimal: all four digits when `padded`, else without leading zeros.
fn group(out: &mut String, d: u16, padded: bool) {
    let digits = [d / 1000, d / 100 % 10, d / 10 % 10, d % 10];
    let skip = if padded {
        0
    } else {
        digits[..3].iter().take_while(|&&x| x == 0).count()
    };
    for &x in &digits[skip..] {
        out.push(char::from(b'0' + x as u8));
    }
}

/// A key value as text that the column's type parses back, for resuming after it.
pub fn key_text(d: Decoder, raw: &[u8]) -> Result<String, String> {
    Ok(match d {
        Decoder::Bool => (fixed::<1>(raw)?[0] != 0).to_string(),
        Decoder::Int2 | Decoder::Int4 | Decoder::Int8 | Decoder::Oid => {
            match decode(d, FivetranType::Long, raw)?.0 {
                Cell::Int(i) => i.to_string(),
                _ => unreachable!("integers decode to Int"),
            }
        }
        Decoder::Float4 => float_text(f32::from_be_bytes(fixed(raw)?) as f64, true),
        Decoder::Float8 => float_text(f64::from_be_bytes(fixed(raw)?), false),
        Decoder::Numeric | Decoder::Money => numeric_text(raw)?.unwrap_or_else(|s| s.to_string()),
        Decoder::Text | Decoder::CastText | Decoder::Json => utf8(raw)?,
        Decoder::Jsonb | Decoder::Array => utf8(jsonb_body(raw)?)?,
        Decoder::Uuid => uuid::Uuid::from_bytes(fixed(raw)?).hyphenated().to_string(),
        Decoder::Date => match i32::from_be_bytes(fixed(raw)?) {
            i32::MAX => "infinity".into(),
            i32::MIN => "-infinity".into(),
            days => date_from_days(days)
                .map(|d| era(d.format("%Y-%m-%d").to_string()))
                .ok_or("date out of range")?,
        },
        Decoder::Time => time_text(i64::from_be_bytes(fixed(raw)?)),
        Decoder::Timestamp | Decoder::TimestampTz => match i64::from_be_bytes(fixed(raw)?) {
            i64::MAX => "infinity".into(),
            i64::MIN => "-infinity".into(),
            us => {
                let t = EPOCH
                    .checked_add_signed(TimeDelta::microseconds(us))
                    .ok_or("timestamp out of range")?;
                let zone = if d == Decoder::TimestampTz { "+00" } else { "" };
                format!(
                    "{}{zone}",
                    era(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
                )
            }
        },
        Decoder::Bytea => raw.iter().fold(String::from("\\x"), |mut s, b| {
            s.push_str(&format!("{b:02x}"));
            s
        }),
    })
}

/// chrono writes year 0 and earlier with a sign; PostgreSQL reads `YYYY-… BC`.
fn era(text: String) -> String {
    if let Some(rest) = text.strip_prefix('-').or_else(|| text.strip_prefix("+")) {
        let (year, tail) = rest.split_once('-').unwrap_or((rest, ""));
        let year: i64 = year.parse().unwrap_or(0);
        return format!("{:04}-{tail} BC", year + 1);
    }
    if let Some(tail) = text.strip_prefix("0000-") {
        return format!("0001-{tail} BC");
    }
    text
}

fn float_text(v: f64, single: bool) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else if single {
        format!("{:?}", v as f32)
    } else {
        format!("{v:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [ndigits, weight, sign as i16, dscale as i16]
            .iter()
            .chain(digits)
        {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_keep_every_digit_and_their_scale() {
        // 12345678.9012 -> digits 1234 5678 9012, weight 1
        assert_eq!(
            numeric_text(&numeric(3, 1, 0, 4, &[1234, 5678, 9012]))
                .unwrap()
                .unwrap(),
            "12345678.9012"
        );
        // -0.0001230 (scale 7)
        assert_eq!(
            numeric_text(&numeric(2, -1, 0x4000, 7, &[1, 2300]))
                .unwrap()
                .unwrap(),
            "-0.0001230"
        );
        // 100000000 (weight 2, trailing zero groups not sent)
        assert_eq!(
            numeric_text(&numeric(1, 2, 0, 0, &[1])).unwrap().unwrap(),
            "100000000"
        );
        assert_eq!(
            numeric_text(&numeric(0, 0, 0, 2, &[])).unwrap().unwrap(),
            "0.00"
        );
        assert_eq!(
            numeric_text(&numeric(0, 0, 0xC000, 0, &[])).unwrap(),
            Err("NaN")
        );
        // A first group of each width, groups with inner and trailing zeros, a scale cutting a group.
        for (digits, weight, dscale, text) in [
            (&[5, 5000][..], 0, 1, "5.5"),
            (&[12, 34][..], 1, 0, "120034"),
            (&[999, 90][..], 0, 3, "999.009"),
            (&[1000, 1][..], 0, 4, "1000.0001"),
            (&[9999, 9999, 9999][..], 0, 6, "9999.999999"),
            (&[7][..], -2, 6, "0.000000"),
        ] {
            let raw = numeric(digits.len() as i16, weight, 0, dscale, digits);
            assert_eq!(numeric_text(&raw).unwrap().unwrap(), text, "{digits:?}");
        }
        let corrupt = numeric(1, 0, 0, 0, &[10000]);
        assert!(
            numeric_text(&corrupt).is_err(),
            "a digit group past 9999 is an error"
        );
    }

    #[test]
    fn special_numbers_do_not_enter_decimal_columns() {
        let nan = numeric(0, 0, 0xC000, 0, &[]);
        let decimal = FivetranType::Decimal {
            precision: 10,
            scale: 2,
        };
        assert_eq!(
            decode(Decoder::Numeric, decimal, &nan).unwrap(),
            (Cell::Null, Some(Note::NotANumber))
        );
        assert_eq!(
            decode(Decoder::Numeric, FivetranType::String, &nan)
                .unwrap()
                .0,
            Cell::Text("NaN".into())
        );
    }

    #[test]
    fn infinite_and_out_of_range_moments() {
        let (cell, note) = decode(
            Decoder::TimestampTz,
            FivetranType::UtcDatetime,
            &i64::MAX.to_be_bytes(),
        )
        .unwrap();
        assert_eq!(note, Some(Note::Clamped));
        assert_eq!(
            cell,
            Cell::TimestampUtc("9999-12-31T23:59:59.999999".parse().unwrap())
        );
        // 4713 BC is far before year 1
        let us = -(2000i64 * 366 + 4713 * 366) * 86_400_000_000;
        assert_eq!(
            decode(
                Decoder::Timestamp,
                FivetranType::NaiveDatetime,
                &us.to_be_bytes()
            )
            .unwrap(),
            (Cell::Null, Some(Note::OutOfRange))
        );
        let (cell, _) = decode(
            Decoder::Date,
            FivetranType::NaiveDate,
            &(-1i32).to_be_bytes(),
        )
        .unwrap();
        assert_eq!(
            cell,
            Cell::Date(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap())
        );
    }

    #[test]
    fn key_text_parses_back() {
        assert_eq!(
            key_text(Decoder::Timestamp, &1_500_000i64.to_be_bytes()).unwrap(),
            "2000-01-01 00:00:01.500000"
        );
        assert_eq!(key_text(Decoder::Bytea, &[0, 255]).unwrap(), "\\x00ff");
        assert_eq!(
            key_text(Decoder::Float8, &0.1f64.to_be_bytes()).unwrap(),
            "0.1"
        );
        assert_eq!(
            key_text(Decoder::Date, &(-730_120i32).to_be_bytes()).unwrap(),
            "0001-12-31 BC"
        );
        assert_eq!(time_text(45_296_500_000), "12:34:56.5");
    }
}
