use super::*;
use arrow::datatypes::Fields;
use std::sync::Arc;

fn k(family: SfFetch, scale: u32) -> Kind {
    Kind { family, scale }
}

fn ts(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap()
}

#[test]
fn scaled_integers_are_exact_decimal_text() {
    assert_eq!(scaled(12345, 2), "123.45");
    assert_eq!(scaled(-5, 3), "-0.005");
    assert_eq!(scaled(0, 2), "0.00");
    assert_eq!(
        scaled(-170141183460469231731687303715884105728, 0),
        "-170141183460469231731687303715884105728"
    );
    let ints = Int16Array::from(vec![-1234]);
    let c = cell(
        &ints,
        0,
        k(SfFetch::Fixed, 2),
        FivetranType::Decimal {
            precision: 4,
            scale: 2,
        },
    );
    assert_eq!(c, Ok(Cell::Decimal("-12.34".into())));
    let long = Int64Array::from(vec![i64::MAX]);
    assert_eq!(
        cell(&long, 0, k(SfFetch::Fixed, 0), FivetranType::Long),
        Ok(Cell::Int(i64::MAX))
    );
    let wide = Decimal128Array::from(vec![10i128.pow(30)])
        .with_precision_and_scale(38, 0)
        .unwrap();
    let c = cell(
        &wide,
        0,
        k(SfFetch::Fixed, 0),
        FivetranType::Decimal {
            precision: 38,
            scale: 0,
        },
    );
    assert_eq!(c, Ok(Cell::Decimal(format!("1{}", "0".repeat(30)))));
}

#[test]
fn one_field_timestamps_are_units_of_their_scale_floored() {
    // scale 3: milliseconds; a negative value floors, so the fraction is never negative
    let a = Int64Array::from(vec![1_700_000_000_123, -1]);
    let kind = k(SfFetch::TimestampNtz, 3);
    assert_eq!(
        cell(&a, 0, kind, FivetranType::NaiveDatetime),
        Ok(Cell::Timestamp(ts("2023-11-14 22:13:20.123")))
    );
    assert_eq!(
        cell(&a, 1, kind, FivetranType::NaiveDatetime),
        Ok(Cell::Timestamp(ts("1969-12-31 23:59:59.999")))
    );
    assert_eq!(
        key_text(&a, 1, kind).unwrap(),
        "1969-12-31 23:59:59.999000000"
    );
}

fn two_field(epoch: Vec<i64>, fraction: Vec<i32>) -> StructArray {
    let fields = Fields::from(vec![
        Field::new("epoch", DataType::Int64, false),
        Field::new("fraction", DataType::Int32, false),
    ]);
    StructArray::new(
        fields,
        vec![
            Arc::new(Int64Array::from(epoch)),
            Arc::new(Int32Array::from(fraction)),
        ],
        None,
    )
}

#[test]
fn struct_timestamps_add_their_nanoseconds() {
    let a = two_field(vec![1_700_000_000, -2], vec![123_456_789, 999_999_999]);
    let kind = k(SfFetch::TimestampNtz, 9);
    assert_eq!(
        cell(&a, 0, kind, FivetranType::NaiveDatetime),
        Ok(Cell::Timestamp(ts("2023-11-14 22:13:20.123456789")))
    );
    assert_eq!(
        cell(&a, 1, kind, FivetranType::NaiveDatetime),
        Ok(Cell::Timestamp(ts("1969-12-31 23:59:58.999999999")))
    );
    assert_eq!(
        key_text(&a, 0, kind).unwrap(),
        "2023-11-14 22:13:20.123456789"
    );
}

#[test]
fn tz_timestamps_are_the_utc_instant_whatever_the_offset() {
    // two fields: epoch in units of the scale (3) and the offset (+05:30 = 330 + 1440)
    let fields = Fields::from(vec![
        Field::new("epoch", DataType::Int64, false),
        Field::new("timezone", DataType::Int32, false),
    ]);
    let a = StructArray::new(
        fields,
        vec![
            Arc::new(Int64Array::from(vec![1_700_000_000_500])),
            Arc::new(Int32Array::from(vec![1770])),
        ],
        None,
    );
    let kind = k(SfFetch::TimestampTz, 3);
    assert_eq!(
        cell(&a, 0, kind, FivetranType::UtcDatetime),
        Ok(Cell::TimestampUtc(ts("2023-11-14 22:13:20.5")))
    );
    assert_eq!(
        key_text(&a, 0, kind).unwrap(),
        "2023-11-14 22:13:20.500000000+00:00"
    );
    // three fields: epoch seconds, fraction nanoseconds, offset
    let fields = Fields::from(vec![
        Field::new("epoch", DataType::Int64, false),
        Field::new("fraction", DataType::Int32, false),
        Field::new("timezone", DataType::Int32, false),
    ]);
    let a = StructArray::new(
        fields,
        vec![
            Arc::new(Int64Array::from(vec![0])),
            Arc::new(Int32Array::from(vec![1])),
            Arc::new(Int32Array::from(vec![1440 - 480])),
        ],
        None,
    );
    let c = cell(&a, 0, k(SfFetch::TimestampTz, 9), FivetranType::UtcDatetime);
    assert_eq!(
        c,
        Ok(Cell::TimestampUtc(ts("1970-01-01 00:00:00.000000001")))
    );
}

#[test]
fn times_dates_json_and_text() {
    let t = Int64Array::from(vec![45_296_123_456_789, 3_600_000_000_000]);
    assert_eq!(
        cell(&t, 0, k(SfFetch::Time, 9), FivetranType::String),
        Ok(Cell::Text("12:34:56.123456789".into()))
    );
    assert_eq!(
        cell(&t, 1, k(SfFetch::Time, 9), FivetranType::String),
        Ok(Cell::Text("01:00:00".into()))
    );
    assert_eq!(
        key_text(&t, 1, k(SfFetch::Time, 9)).unwrap(),
        "01:00:00.000000000"
    );
    let d = Date32Array::from(vec![-1]);
    assert_eq!(
        cell(&d, 0, k(SfFetch::Date, 0), FivetranType::NaiveDate),
        Ok(Cell::Date(NaiveDate::from_ymd_opt(1969, 12, 31).unwrap()))
    );
    let j = StringArray::from(vec![r#"{"a": 1.10}"#, "not json"]);
    let c = cell(&j, 0, k(SfFetch::Object, 0), FivetranType::Json).unwrap();
    assert_eq!(
        c,
        Cell::Json(serde_json::from_str(r#"{"a": 1.10}"#).unwrap())
    );
    assert!(cell(&j, 1, k(SfFetch::Variant, 0), FivetranType::Json)
        .unwrap_err()
        .contains("JSON"));
    let n = StringArray::from(vec![None::<&str>]);
    assert_eq!(
        cell(&n, 0, k(SfFetch::Text, 0), FivetranType::String),
        Ok(Cell::Null)
    );
    assert!(key_text(&n, 0, k(SfFetch::Text, 0)).is_err());
}
