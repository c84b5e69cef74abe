use super::*;
use chrono::NaiveDate;

fn enc(cell: Cell, declared: Declared) -> Option<Vec<u8>> {
    let mut scratch = Scratch::default();
    encode(&cell, declared, &mut scratch).then_some(scratch.out)
}

fn scalar(s: &str) -> Option<Vec<u8>> {
    Some([&[CELL_SCALAR][..], s.as_bytes()].concat())
}

#[test]
fn declared_types_encode_as_the_sdk_does() {
    use FivetranType as F;
    let t = |f| Declared::Type(f);
    assert_eq!(enc(Cell::Bool(true), t(F::Boolean)), scalar("true"));
    assert_eq!(enc(Cell::Int(-5), t(F::Int)), scalar("-5"));
    assert_eq!(
        enc(Cell::Int(1 << 40), t(F::Int)),
        None,
        "out of INT range: the SDK raises"
    );
    assert_eq!(
        enc(Cell::Int(i64::MIN), t(F::Long)),
        scalar("-9223372036854775808")
    );
    assert_eq!(
        enc(Cell::Double(1e16), t(F::Double)),
        Some([&[CELL_DOUBLE][..], b"1e+16"].concat())
    );
    assert_eq!(
        enc(Cell::Float(f32::NAN), t(F::Float)),
        Some([&[CELL_FLOAT][..], b"NaN"].concat())
    );
    let ts = NaiveDate::from_ymd_opt(2024, 2, 29)
        .unwrap()
        .and_hms_micro_opt(12, 34, 56, 789_000)
        .unwrap();
    assert_eq!(
        enc(Cell::TimestampUtc(ts), t(F::UtcDatetime)),
        scalar("2024-02-29T12:34:56.789Z")
    );
    assert_eq!(
        enc(Cell::Timestamp(ts), t(F::NaiveDatetime)),
        scalar("2024-02-29T12:34:56.789000")
    );
    assert_eq!(
        enc(Cell::Bytes(vec![0, 255]), t(F::Binary)),
        Some(vec![CELL_BINARY, 0, 255])
    );
    assert_eq!(enc(Cell::Null, t(F::Json)), Some(vec![CELL_NULL]));
    assert_eq!(enc(Cell::Int(1), Declared::Refused), None);
}

#[test]
fn undeclared_values_encode_by_their_own_type() {
    assert_eq!(enc(Cell::Int(7), Declared::Inferred), scalar("7"));
    assert_eq!(
        enc(Cell::Int(i64::MIN), Declared::Inferred),
        Some([&[CELL_FLOAT][..], b"-9.223372036854776e+18"].concat()),
        "abs(i64::MIN) is beyond Java's long: the SDK writes it as a float"
    );
    let json: Value = serde_json::from_str(r#"{"k": [1, "é"]}"#).unwrap();
    assert_eq!(
        enc(Cell::Json(json), Declared::Inferred),
        Some([&[CELL_JSON][..], br#"{"k": [1, "\u00e9"]}"#].concat())
    );
}

#[test]
fn soft_deletes_follow_python_truth() {
    assert!(!is_deleted(None));
    assert!(!is_deleted(Some(&Cell::Null)));
    assert!(!is_deleted(Some(&Cell::Bool(false))));
    assert!(!is_deleted(Some(&Cell::Int(0))));
    assert!(!is_deleted(Some(&Cell::Text(String::new()))));
    assert!(
        is_deleted(Some(&Cell::Text("0".into()))),
        "'0' != 0 in Python"
    );
    assert!(is_deleted(Some(&Cell::Double(f64::NAN))));
    assert!(is_deleted(Some(&Cell::Bytes(vec![]))));
}
