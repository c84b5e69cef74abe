//! Unit tests of `flatten` (their own file: flatten.rs stays under 500 lines).
use super::*;
use serde_json::json;

#[test]
fn a_double_holds_only_numbers_it_reads_back_as_themselves() {
    for exact in [
        "0.1", "1e300", "-2.5", "1.10", "0.000123", "123.0", "1E2", "0.0", "-0.0",
    ] {
        assert!(double_holds(exact), "{exact}");
    }
    for inexact in [
        "12345678901234567890.123456789012345",
        "1.0000000000000001",
        "1e309",
        "1e-400",
        "0.1e-323",
    ] {
        assert!(!double_holds(inexact), "{inexact}");
    }
}

#[test]
fn wide_objects_stay_json_and_inexact_numbers_are_typed_string() {
    let mut f = Flattener::new("_", 2, &[], 10).max_columns(3);
    let wide = json!({"a": 1, "b": {"c": 1, "d": 2}, "e": 3});
    assert!(f.sample("j", vec![wide.clone()]).is_none());
    assert_eq!(f.cell("t", "j", wide.clone()).unwrap(), Cell::Json(wide));
    assert_eq!(f.take_warnings().len(), 1);
    let cols = f
        .sample(
            "j",
            vec![
                serde_json::from_str(r#"{"x": 1.5, "y": 12345678901234567890.123456789012345}"#)
                    .unwrap(),
            ],
        )
        .unwrap();
    let types: Vec<_> = cols.iter().map(|c| c.fivetran_type).collect();
    assert_eq!(types, vec![FivetranType::Double, FivetranType::String]);
}

#[test]
fn objects_flatten_to_the_depth_and_lists_stay_json() {
    let f = Flattener::new("_", 2, &[], 10);
    let cols = f
        .sample(
            "attrs",
            vec![json!({"color": "red", "size": {"w": 1, "h": {"deep": true}}, "tags": [1, 2]})],
        )
        .unwrap();
    let names: Vec<_> = cols
        .iter()
        .map(|c| (c.name.as_str(), c.fivetran_type))
        .collect();
    assert_eq!(
        names,
        vec![
            ("attrs_color", FivetranType::String),
            ("attrs_size_w", FivetranType::Long),
            ("attrs_size_h", FivetranType::Json),
            ("attrs_tags", FivetranType::Json),
        ]
    );
}

#[test]
fn sampled_types_widen_and_nulls_say_nothing() {
    let f = Flattener::new("__", 3, &[], 10);
    let cols = f
        .sample(
            "j",
            vec![
                json!({"a": 1, "b": null, "c": true}),
                json!({"a": 2.5, "c": "x"}),
            ],
        )
        .unwrap();
    let got: HashMap<_, _> = cols
        .into_iter()
        .map(|c| (c.name, c.fivetran_type))
        .collect();
    assert_eq!(got["j__a"], FivetranType::Double);
    assert_eq!(got["j__c"], FivetranType::Json);
    assert!(!got.contains_key("j__b"));
}

#[test]
fn objects_that_flatten_to_no_value_are_warned_about_once_per_column() {
    let mut f = Flattener::new("_", 2, &[], 10);
    let full = json!({"a": 1, "b": {"c": "x"}});
    f.cell("t", "j", full).unwrap();
    assert!(f.take_warnings().is_empty(), "every part has a value");
    for (value, first) in [
        (json!({}), "j = {}"),
        (json!({"a": 1, "b": null}), "j_b = null"),
        (json!({"a": 1, "b": {}}), "j_b = {}"),
    ] {
        let mut f = Flattener::new("_", 2, &[], 10);
        f.cell("t", "j", value.clone()).unwrap();
        let warned = f.take_warnings();
        assert!(
            warned.len() == 1 && warned[0].contains(first) && warned[0].contains("'flatten_json'"),
            "{value}: {warned:?}"
        );
        f.cell("t", "j", value).unwrap();
        assert!(f.take_warnings().is_empty(), "once per column");
    }
    // at the last level an empty object is a JSON leaf, kept as {}
    let mut f = Flattener::new("_", 1, &[], 10);
    f.cell("t", "j", json!({"b": {}})).unwrap();
    assert!(f.take_warnings().is_empty());
}

#[test]
fn values_convert_to_their_declared_type_or_arrive_whole() {
    let declared = [
        FlatColumn {
            name: "j_n".into(),
            fivetran_type: FivetranType::Long,
        },
        FlatColumn {
            name: "j_s".into(),
            fivetran_type: FivetranType::String,
        },
    ];
    let mut f = Flattener::new("_", 3, &declared, 10);
    let Cell::Flat(cells) = f
        .cell(
            "t",
            "j",
            json!({"n": 7, "s": 5, "new": 1.5, "big": 123456789012345678901234u128}),
        )
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(cells[0].1, Cell::Int(7));
    assert_eq!(cells[1].1, Cell::Text("5".into()));
    assert_eq!(cells[2].1, Cell::Double(1.5));
    assert_eq!(cells[3].1, Cell::Json(json!(123456789012345678901234u128)));
    let misfit = json!({"n": "seven", "s": "x"});
    assert_eq!(
        f.cell("t", "j", misfit.clone()).unwrap(),
        Cell::Json(misfit)
    );
    let warned = f.take_warnings();
    assert!(
        warned.len() == 1
            && warned[0].contains("'j_n'")
            && warned[0].contains("arrive whole in column j"),
        "{warned:?}"
    );
    f.cell("t", "j", json!({"n": "eight"})).unwrap();
    assert!(f.take_warnings().is_empty(), "once per column");
    let clash = json!({"a_b": 1, "a": {"b": 2}});
    assert_eq!(f.cell("t", "j", clash.clone()).unwrap(), Cell::Json(clash));
    assert!(f.take_warnings()[0].contains("flatten to the same column 'j_a_b'"));
    assert_eq!(
        f.cell("t", "j", json!([1, 2])).unwrap(),
        Cell::Json(json!([1, 2]))
    );
}

/// The flattened (name, cell) pairs of one value.
fn flat(f: &mut Flattener, value: Value) -> Vec<(String, Cell)> {
    match f.cell("t", "j", value).unwrap() {
        Cell::Flat(pairs) => pairs.into_iter().map(|(k, c)| (k.to_string(), c)).collect(),
        other => panic!("not flattened: {other:?}"),
    }
}

#[test]
fn names_and_values_stay_right_object_after_object() {
    // One flattener reuses its name buffer and leaf list from object to object: each object's names and values
    // are its own, whatever shapes came before it.
    let mut f = Flattener::new("__", 3, &[], 10);
    let text = |s: &str| Cell::Text(s.into());
    assert_eq!(
        flat(
            &mut f,
            json!({"a": {"b": "x", "c": {"d": 1}}, "e": true, "l": [1]})
        ),
        vec![
            ("j__a__b".into(), text("x")),
            ("j__a__c__d".into(), Cell::Int(1)),
            ("j__e".into(), Cell::Bool(true)),
            ("j__l".into(), Cell::Json(json!([1]))),
        ]
    );
    assert_eq!(
        flat(&mut f, json!({"e": false, "a": {"c": {"d": 2, "z": null}}})),
        vec![
            ("j__e".into(), Cell::Bool(false)),
            ("j__a__c__d".into(), Cell::Int(2)),
            ("j__a__c__z".into(), Cell::Null),
        ]
    );
    assert_eq!(
        flat(&mut f, json!({"a": "y", "b": {"c": 1.5}})),
        vec![
            ("j__a".into(), text("y")),
            ("j__b__c".into(), Cell::Double(1.5))
        ]
    );
    // A name met again is the same interned name.
    let first = f.cell("t", "j", json!({"e": true})).unwrap();
    let again = f.cell("t", "j", json!({"e": false})).unwrap();
    let (Cell::Flat(first), Cell::Flat(again)) = (first, again) else {
        panic!("not flattened")
    };
    assert!(Arc::ptr_eq(&first[0].0, &again[0].0));
}

#[test]
fn a_clash_is_within_one_object_or_with_a_column() {
    let mut f = Flattener::new("_", 2, &[], 10).reserve(["id".to_string(), "j_x".to_string()]);
    // The same name in two different objects is no clash.
    assert_eq!(
        flat(&mut f, json!({"a_b": 1})),
        vec![("j_a_b".into(), Cell::Int(1))]
    );
    assert_eq!(
        flat(&mut f, json!({"a": {"b": 2}})),
        vec![("j_a_b".into(), Cell::Int(2))]
    );
    assert!(f.take_warnings().is_empty());
    for clash in [json!({"a_b": 1, "a": {"b": 2}}), json!({"x": 1})] {
        assert_eq!(f.cell("t", "j", clash.clone()).unwrap(), Cell::Json(clash));
    }
    let warned = f.take_warnings();
    assert!(
        warned.len() == 2 && warned[0].contains("'j_a_b'") && warned[1].contains("'j_x'"),
        "{warned:?}"
    );
    // After a clash, objects that do not clash flatten again.
    assert_eq!(
        flat(&mut f, json!({"a": {"b": 3}})),
        vec![("j_a_b".into(), Cell::Int(3))]
    );
}

#[test]
fn a_double_holds_what_the_copying_comparison_said() {
    // The comparison of digits where they lie gives what comparing copied digit strings gave.
    fn copied(text: &str) -> (bool, String, i64) {
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
        (
            negative,
            significant.into(),
            whole.len() as i64 - 1 - leading as i64 + exponent,
        )
    }
    let reference = |text: &str| match text.parse::<f64>() {
        Ok(f) if f.is_finite() => copied(text) == copied(&format!("{f:e}")),
        _ => false,
    };
    for text in [
        "0.1",
        "-0.000",
        "0e0",
        "+1.5",
        ".5",
        "5.",
        "100",
        "1.5e-5",
        "-1.7976931348623157e308",
        "2.2250738585072014e-308",
        "5e-324",
        "123456789.123456789",
        "0.30000000000000004",
        "1e23",
        "9007199254740993.0",
        "-00012.3400e2",
    ] {
        assert_eq!(double_holds(text), reference(text), "{text}");
    }
}

/// The text path's cell, or the slow path's when the text path declines: what a row read gets.
fn by_text(f: &mut Flattener, text: &str) -> (Cell, bool) {
    match f.cell_text("j", text.as_bytes()) {
        Some(got) => got,
        None => {
            let value: Value = serde_json::from_str(text).unwrap();
            let inexact = inexact(&value);
            (f.cell("t", "j", value).unwrap(), inexact)
        }
    }
}

#[test]
fn json_text_flattens_to_the_very_cells_its_value_does() {
    let declared = [
        FlatColumn {
            name: "j_n".into(),
            fivetran_type: FivetranType::Long,
        },
        FlatColumn {
            name: "j_s".into(),
            fivetran_type: FivetranType::String,
        },
        FlatColumn {
            name: "j_x".into(),
            fivetran_type: FivetranType::Double,
        },
    ];
    let texts = [
        // Integers: read without serde_json where the column takes them as integers (j_n, undeclared), not where
        // it takes another type (j_x, j_s); the edges of "plain" and of i64.
        r#"{"n": -0, "x": 7, "s": 12, "i": 0, "m": -123456789012345678}"#,
        r#"{"i": 999999999999999999, "m": 9223372036854775807, "o": -9223372036854775808}"#,
        r#"{"i": 007}"#,
        r#"{"i": -}"#,
        r#"{"i": 1-2}"#,
        r#"{"i": 12345678901234567890123}"#,
        r#"{"color": "c1", "size": 7, "ok": true}"#,
        r#" { "n" : 12 , "s" : "a \"q\" \\ \u00e9 é" , "x": [1, {"y": null}], "d": {"e": {"f": 1}}} "#,
        r#"{"n": "not a number", "s": 1}"#,
        r#"{"n": 1.5e3, "f": 0.1, "g": 1.0000000000000001, "big": 12345678901234567890}"#,
        r#"{"a_b": 1, "a": {"b": 2}}"#,
        r#"{"a": 1, "a": {"x": 2}}"#,
        r#"{"a": {"x": 1}, "a": {"y": 2}}"#,
        r#"{"k\u0041": 1, "kA": 2}"#,
        r#"{"k": null, "m": 1}"#,
        r#"{"e": {}, "m": 1}"#,
        r#"{}"#,
        r#"[1, 2]"#,
        r#""text""#,
        r#"{"deep": {"a": {"b": {"c": 1}}}, "t": "x"}"#,
        r#"{"a": 1} trailing"#,
        r#"{"a": tru}"#,
        "{\"s\": \"a\tb\", \"t\": \"x\"}",
        r#"{"s": "é 日本 🌍", "t": "", "u": true, "v": false, "w": "\/"}"#,
        r#"{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}"#,
    ];
    for depth in [1, 2, 3] {
        let make = || Flattener::new("_", depth, &declared, 10).max_columns(5);
        let (mut fast, mut slow) = (make(), make());
        for _ in 0..2 {
            for text in texts {
                let value: Value = match serde_json::from_str(text) {
                    Ok(v) => v,
                    Err(_) => {
                        assert!(fast.cell_text("j", text.as_bytes()).is_none(), "{text}");
                        continue;
                    }
                };
                let want = (slow.cell("t", "j", value.clone()).unwrap(), inexact(&value));
                assert_eq!(by_text(&mut fast, text), want, "depth {depth}: {text}");
            }
        }
        assert_eq!(fast.take_warnings(), slow.take_warnings(), "depth {depth}");
        let plain = r#"{"color": "c1", "size": 7, "d": {"e": 1.5}}"#;
        assert!(
            fast.cell_text("j", plain.as_bytes()).is_some(),
            "the plain case takes the text path"
        );
    }
}

/// An object read with the slots of the object before it (same keys, same order) gets the cells it gets read
/// from scratch, and one that differs in any way (a key more or less, a longer or shorter key, a null, a value
/// its column does not take, a nested object, another column's shape) is read from scratch.
#[test]
fn an_object_of_the_last_shape_flattens_as_it_does_alone() {
    let declared = [FlatColumn {
        name: "j_n".into(),
        fivetran_type: FivetranType::Long,
    }];
    let texts = [
        r#"{"n": 1, "s": "a", "ok": true}"#,
        r#"{"n": 2, "s": "b", "ok": false}"#,
        r#"{"n": 3, "s": "c"}"#,
        r#"{"n": 4, "s": "d", "ok": true, "x": 1}"#,
        r#"{"n": 5, "ss": "e", "ok": true}"#,
        r#"{"n": 6, "": "f", "ok": true}"#,
        r#"{"n": null, "s": "g", "ok": true}"#,
        r#"{"n": "seven", "s": "h", "ok": true}"#,
        r#"{"n": 8.5, "s": "i", "ok": true}"#,
        r#"{"n": 9, "s": {"deep": 1}, "ok": true}"#,
        r#"{"n": 10, "s": [1, 2], "ok": true}"#,
        r#"{"n": 11, "s": "j", "ok": true} x"#,
        r#"{"s": "k", "n": 12, "ok": true}"#,
    ];
    for depth in [1, 2] {
        for prev in texts {
            for text in texts {
                let make = || Flattener::new("_", depth, &declared, 10).max_columns(5);
                let (mut fast, mut alone) = (make(), make());
                for f in [&mut fast, &mut alone] {
                    if serde_json::from_str::<Value>(prev).is_ok() {
                        by_text(f, prev);
                    }
                }
                let Ok(value) = serde_json::from_str::<Value>(text) else {
                    assert!(fast.cell_text("j", text.as_bytes()).is_none(), "{text}");
                    continue;
                };
                let want = (
                    alone.cell("t", "j", value.clone()).unwrap(),
                    inexact(&value),
                );
                assert_eq!(
                    by_text(&mut fast, text),
                    want,
                    "depth {depth}: {prev} then {text}"
                );
                assert_eq!(
                    fast.take_warnings(),
                    alone.take_warnings(),
                    "{prev} then {text}"
                );
            }
        }
    }
}
