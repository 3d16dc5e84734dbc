use super::columns::{COLUMNS, column_list};
use super::copy::COPY;
use super::unnest::{Column, ColumnFields, INSERT};
use super::values::{Fields as _, jsonb_safe};

#[test]
fn nul_escapes_are_replaced_for_jsonb_and_escaped_backslashes_are_not() {
    let cases: [(&str, Option<&str>); 5] = [
        (r#"{"a":"x"}"#, None),
        (r#"{"a":"\u0000"}"#, Some(r#"{"a":"\ufffd"}"#)),
        // The text `\u0000`, not a NUL: a backslash, then `u0000`.
        (r#"{"a":"\\u0000"}"#, None),
        (r#"{"a":"\\\u0000"}"#, Some(r#"{"a":"\\\ufffd"}"#)),
        (r#"["\u0000","\"\u0000"]"#, Some(r#"["\ufffd","\"\ufffd"]"#)),
    ];
    for (json, expected) in cases {
        let got = jsonb_safe(json.as_bytes()).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(got.as_deref(), expected, "{json}");
    }
    // What serde_json writes for a NUL, through the sink's path.
    let mut fields = ColumnFields { columns: &mut [Column::Text(Vec::new())], next: 0 };
    fields.jsonb(Some(&serde_json::json!({"nul": "a\u{0}b"}))).unwrap();
    let Column::Text(c) = &fields.columns[0] else { unreachable!() };
    assert_eq!(c[0].as_deref(), Some(r#"{"nul":"a\ufffdb"}"#));
}

#[test]
fn the_statements_name_every_column_once_in_order() {
    let list = column_list();
    assert_eq!(list.split(", ").count(), 34);
    assert_eq!(COLUMNS.len(), 34);
    assert!(COPY.contains(&format!("({list})")), "{}", *COPY);
    assert!(INSERT.contains("$34::text[]) WITH ORDINALITY"), "{}", *INSERT);
    assert!(INSERT.contains("u.entry::json FROM"), "{}", *INSERT);
    assert!(INSERT.contains("u.ip::inet,"), "{}", *INSERT);
}
