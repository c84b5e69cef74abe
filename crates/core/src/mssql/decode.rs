//! tiberius values into cells (once), and key values into the text that is bound back when a read resumes.

use crate::model::{Cell, FivetranType};
use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use tiberius::ColumnData;

fn epoch(year: i32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid epoch")
}

/// An exact decimal's text from its unscaled value and scale.
pub fn decimal_text(value: i128, scale: u8) -> String {
    let digits = value.unsigned_abs().to_string();
    let sign = if value < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// Nanoseconds of a time of day counted in units of 10^-scale seconds.
fn nanos(increments: u64, scale: u8) -> i64 {
    (increments as i64) * 10i64.pow(9 - scale.min(9) as u32)
}

/// A timestamp, and the fraction digits SQL Server shows for its type (for key text).
fn timestamp(v: &ColumnData<'_>) -> Option<(NaiveDateTime, usize)> {
    Some(match v {
        // datetime counts 1/300 s; SQL Server shows (and parses back) it rounded to the millisecond.
        ColumnData::DateTime(Some(d)) => {
            let ms = (d.seconds_fragments() as i64 * 10 + 1) / 3;
            (
                epoch(1900) + Duration::days(d.days() as i64) + Duration::milliseconds(ms),
                3,
            )
        }
        ColumnData::SmallDateTime(Some(d)) => (
            epoch(1900)
                + Duration::days(d.days() as i64)
                + Duration::minutes(d.seconds_fragments() as i64),
            0,
        ),
        ColumnData::DateTime2(Some(d)) => (
            epoch(1)
                + Duration::days(d.date().days() as i64)
                + Duration::nanoseconds(nanos(d.time().increments(), d.time().scale())),
            d.time().scale() as usize,
        ),
        ColumnData::DateTimeOffset(Some(d)) => {
            let dt = d.datetime2();
            (
                epoch(1)
                    + Duration::days(dt.date().days() as i64)
                    + Duration::nanoseconds(nanos(dt.time().increments(), dt.time().scale())),
                dt.time().scale() as usize,
            )
        }
        _ => return None,
    })
}

/// Why a value did not become a cell: one that no destination type can hold (the user chooses NULL or a stop,
/// `on_unrepresentable_value`), or one of a kind the column should never carry (a defect: always an error).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Unrepresentable(String),
    Unexpected(String),
}

/// A time of day as SQL Server shows it. A value of a day or more is no time of day (SQL Server's `time` ends at
/// 23:59:59.9999999; an engine that rounds the 7th digit up can send 24:00:00): refused, where adding it to
/// midnight would silently wrap it to 00:00:00.
fn time_text(t: &tiberius::time::Time) -> Result<String, String> {
    let n = nanos(t.increments(), t.scale());
    if !(0..86_400_000_000_000).contains(&n) {
        let (h, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
        let (m, s, ns) = (
            rest / 60_000_000_000,
            rest / 1_000_000_000 % 60,
            rest % 1_000_000_000,
        );
        return Err(format!(
            "the time {h:02}:{m:02}:{s:02}.{:07} is past 23:59:59.9999999, the end of a time of day (an engine that \
             rounds the 7th digit up stores 23:59:59.9999999 so)",
            ns / 100
        ));
    }
    let time = NaiveTime::from_hms_opt(0, 0, 0).expect("midnight") + Duration::nanoseconds(n);
    let whole = time.format("%H:%M:%S").to_string();
    if t.scale() == 0 {
        return Ok(whole);
    }
    let frac = format!("{:09}", n % 1_000_000_000);
    Ok(format!("{whole}.{}", &frac[..t.scale() as usize]))
}

/// One value as a cell of the column's declared Fivetran type. NULL stays NULL.
pub fn cell(v: &ColumnData<'_>, declared: FivetranType) -> Result<Cell, Refused> {
    Ok(match v {
        ColumnData::U8(Some(n)) => Cell::Int(*n as i64),
        ColumnData::I16(Some(n)) => Cell::Int(*n as i64),
        ColumnData::I32(Some(n)) => Cell::Int(*n as i64),
        ColumnData::I64(Some(n)) => Cell::Int(*n),
        ColumnData::F32(Some(f)) => Cell::Float(*f),
        ColumnData::F64(Some(f)) if declared == FivetranType::Float => Cell::Float(*f as f32),
        ColumnData::F64(Some(f)) => Cell::Double(*f),
        ColumnData::Bit(Some(b)) => Cell::Bool(*b),
        ColumnData::String(Some(s)) => Cell::Text(s.to_string()),
        ColumnData::Guid(Some(g)) => Cell::Text(g.to_string().to_uppercase()),
        ColumnData::Binary(Some(b)) => Cell::Bytes(b.to_vec()),
        ColumnData::Numeric(Some(n)) => Cell::Decimal(decimal_text(n.value(), n.scale())),
        ColumnData::Xml(Some(x)) => Cell::Text(x.to_string()),
        ColumnData::Date(Some(d)) => {
            Cell::Date((epoch(1) + Duration::days(d.days() as i64)).date())
        }
        ColumnData::Time(Some(t)) => Cell::Text(time_text(t).map_err(Refused::Unrepresentable)?),
        ColumnData::DateTimeOffset(Some(_)) => {
            Cell::TimestampUtc(timestamp(v).expect("a timestamp").0)
        }
        ColumnData::DateTime(Some(_))
        | ColumnData::SmallDateTime(Some(_))
        | ColumnData::DateTime2(Some(_)) => Cell::Timestamp(timestamp(v).expect("a timestamp").0),
        _ if is_null(v) => Cell::Null,
        other => return Err(Refused::Unexpected(format!("unexpected value {other:?}"))),
    })
}

pub fn is_null(v: &ColumnData<'_>) -> bool {
    matches!(
        v,
        ColumnData::U8(None)
            | ColumnData::I16(None)
            | ColumnData::I32(None)
            | ColumnData::I64(None)
            | ColumnData::F32(None)
            | ColumnData::F64(None)
            | ColumnData::Bit(None)
            | ColumnData::String(None)
            | ColumnData::Guid(None)
            | ColumnData::Binary(None)
            | ColumnData::Numeric(None)
            | ColumnData::Xml(None)
            | ColumnData::DateTime(None)
            | ColumnData::SmallDateTime(None)
            | ColumnData::Time(None)
            | ColumnData::Date(None)
            | ColumnData::DateTime2(None)
            | ColumnData::DateTimeOffset(None)
    )
}

/// A key or cursor value as text that `CAST(@P AS <declared type>)` turns back into the same value: ISO 8601 with
/// `T` (read the same under every language setting) and as many fraction digits as the type keeps.
pub fn key_text(v: &ColumnData<'_>) -> Result<String, String> {
    if let Some((ts, digits)) = timestamp(v) {
        let whole = ts.format("%Y-%m-%dT%H:%M:%S").to_string();
        let text = if digits == 0 {
            whole
        } else {
            let frac = format!("{:09}", ts.and_utc().timestamp_subsec_nanos());
            format!("{whole}.{}", &frac[..digits.min(9)])
        };
        return Ok(match v {
            ColumnData::DateTimeOffset(_) => format!("{text}+00:00"),
            _ => text,
        });
    }
    Ok(match v {
        ColumnData::U8(Some(n)) => n.to_string(),
        ColumnData::I16(Some(n)) => n.to_string(),
        ColumnData::I32(Some(n)) => n.to_string(),
        ColumnData::I64(Some(n)) => n.to_string(),
        ColumnData::Bit(Some(b)) => (if *b { "1" } else { "0" }).to_string(),
        ColumnData::String(Some(s)) => s.to_string(),
        ColumnData::Guid(Some(g)) => g.to_string(),
        ColumnData::Numeric(Some(n)) => decimal_text(n.value(), n.scale()),
        ColumnData::Date(Some(d)) => (epoch(1) + Duration::days(d.days() as i64))
            .format("%Y-%m-%d")
            .to_string(),
        ColumnData::Time(Some(t)) => time_text(t)?,
        _ if is_null(v) => return Err("a key or cursor value is NULL".into()),
        other => {
            return Err(format!(
                "a key of this type cannot be resumed after ({other:?})"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_past_the_end_of_the_day_is_refused_not_wrapped() {
        use tiberius::time::Time;
        let last = ColumnData::Time(Some(Time::new(863_999_999_999, 7)));
        assert_eq!(
            cell(&last, FivetranType::String),
            Ok(Cell::Text("23:59:59.9999999".into()))
        );
        // 23:59:59.9999999 rounded up by an engine that keeps fewer digits: a day exactly.
        let rounded = ColumnData::Time(Some(Time::new(864_000_000_000, 7)));
        let Err(Refused::Unrepresentable(err)) = cell(&rounded, FivetranType::String) else {
            panic!("24:00:00 is refused as unrepresentable");
        };
        assert!(
            err.contains("the time 24:00:00.0000000 is past 23:59:59.9999999"),
            "{err}"
        );
        assert!(key_text(&rounded).is_err());
    }

    /// The fixture's PostgreSQL keeps microseconds and UTC, so these two are covered here only: a 7th fraction
    /// digit, and a datetimeoffset whose offset is not zero (TDS sends the UTC instant and the offset beside it).
    #[test]
    fn seventh_digits_and_offsets_decode_as_sql_server_sends_them() {
        use tiberius::time::{Date, DateTime2, DateTimeOffset, Time};
        let t = ColumnData::Time(Some(Time::new(123_456_789, 7)));
        assert_eq!(
            cell(&t, FivetranType::String),
            Ok(Cell::Text("00:00:12.3456789".into()))
        );
        // 2024-06-01 06:30:00.1234567 UTC, shown by SQL Server as 12:00:00.1234567 +05:30
        let days = (NaiveDate::from_ymd_opt(2024, 6, 1).unwrap()
            - NaiveDate::from_ymd_opt(1, 1, 1).unwrap())
        .num_days() as u32;
        let utc = DateTime2::new(
            Date::new(days),
            Time::new((6 * 3600 + 30 * 60) * 10_000_000 + 1_234_567, 7),
        );
        let v = ColumnData::DateTimeOffset(Some(DateTimeOffset::new(utc, 330)));
        let want = NaiveDate::from_ymd_opt(2024, 6, 1)
            .unwrap()
            .and_hms_nano_opt(6, 30, 0, 123_456_700)
            .unwrap();
        assert_eq!(
            cell(&v, FivetranType::UtcDatetime),
            Ok(Cell::TimestampUtc(want))
        );
        assert_eq!(key_text(&v).unwrap(), "2024-06-01T06:30:00.1234567+00:00");
    }

    #[test]
    fn decimals_keep_every_digit() {
        assert_eq!(decimal_text(12345, 2), "123.45");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(
            decimal_text(
                "99999999999999999999999999999999999999"
                    .parse::<i128>()
                    .unwrap(),
                10
            ),
            "9999999999999999999999999999.9999999999"
        );
        assert_eq!(decimal_text(0, 4), "0.0000");
    }

    #[test]
    fn datetime_keys_round_to_what_sql_server_parses_back() {
        let v = ColumnData::DateTime(Some(tiberius::time::DateTime::new(0, 1)));
        assert_eq!(key_text(&v).unwrap(), "1900-01-01T00:00:00.003");
        let v = ColumnData::DateTime2(Some(tiberius::time::DateTime2::new(
            tiberius::time::Date::new(0),
            tiberius::time::Time::new(1, 7),
        )));
        assert_eq!(key_text(&v).unwrap(), "0001-01-01T00:00:00.0000001");
    }
}
