//! The canonical JSON a webhook is signed over (CONTRACT §3, `X-Signature-V2`): what a receiver
//! gets from `JSON.stringify(sortKeys(shortenFloats(payload)))`.
//!
//! - object keys sorted recursively, by UTF-16 code units (what JavaScript's `Array.sort` does;
//!   it differs from byte order only for keys holding characters above U+FFFF);
//! - numbers as ECMAScript's `Number::toString` writes them, so an integer-valued float such as
//!   `1.0` becomes `1` and `1e21` becomes `1e+21` (formatted by `ryu-js`, boa's ECMAScript
//!   port of ryu: serde_json's own float format differs from JavaScript's outside 1e-7..1e21);
//! - compact: no whitespace at all;
//! - strings escaped as JSON requires and no further: `"` `\` and control characters only,
//!   non-ASCII text (`José Müller`) written as UTF-8, exactly as `JSON.stringify` does.
//!
//! This is the number and string form of RFC 8785 (JCS). Written here over `serde_json::Value`
//! (a few lines of tree walk) rather than through a JCS crate, which would switch on serde_json's
//! `float_roundtrip` for the whole workspace. Integers outside ±2^53 are written exactly, where
//! JavaScript would round them: payloads carry no such numbers of our own.
//!
//! A JavaScript receiver that rebuilds sorted objects sees integer-like keys (`"10"`, `"9"`)
//! reordered by the engine (ascending numbers first): keys of `metadata` that look like array
//! indices do not verify with such a receiver, whatever the sender does.
use serde_json::Value;

/// `value` in canonical form.
pub fn to_string(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write(item, out);
            }
            out.push('}');
        }
    }
}

fn write_number(n: &serde_json::Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        // serde_json never holds NaN or infinities; ryu-js writes them as JavaScript would anyway.
        out.push_str(ryu_js::Buffer::new().format(f));
    }
}

/// serde_json's string escaping is JSON.stringify's: `\"`, `\\`, `\b \f \n \r \t`, other
/// control characters as `\u00xx` (lowercase hex), everything else as is.
fn write_string(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).expect("a str always serialises"));
}

#[cfg(test)]
mod tests {
    use super::to_string;
    use serde_json::{json, Value};

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn keys_are_sorted_at_every_depth_and_output_is_compact() {
        let v = parse(r#"{ "b": 1, "a": { "z": [ {"y": 2, "x": 1} ], "c": null }, "A": true }"#);
        assert_eq!(to_string(&v), r#"{"A":true,"a":{"c":null,"z":[{"x":1,"y":2}]},"b":1}"#);
    }

    #[test]
    fn integer_valued_floats_are_written_as_integers_and_others_as_javascript_does() {
        // Each right-hand side is what `JSON.stringify` writes for the left-hand number.
        for (input, expected) in [
            ("1.0", "1"),
            ("100.00", "100"),
            ("-0.0", "0"),
            ("0.5", "0.5"),
            ("1.25", "1.25"),
            ("0.1", "0.1"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("1.5e-7", "1.5e-7"),
            ("0.000001", "0.000001"),
            ("123456.789", "123456.789"),
            ("3", "3"),
            ("-42", "-42"),
        ] {
            assert_eq!(to_string(&parse(input)), expected, "{input}");
        }
    }

    /// CONTRACT §3's cases together: non-ASCII vendor_data is not escaped, a float in metadata.
    #[test]
    fn the_contract_payload_with_non_ascii_text_and_floats() {
        let payload = json!({
            "webhook_type": "status.updated",
            "vendor_data": "José Müller",
            "metadata": { "score": 0.75, "plan": 2.0, "tags": ["日本", "a\"b"] },
            "timestamp": 1_796_040_000,
        });
        assert_eq!(
            to_string(&payload),
            r#"{"metadata":{"plan":2,"score":0.75,"tags":["日本","a\"b"]},"timestamp":1796040000,"vendor_data":"José Müller","webhook_type":"status.updated"}"#
        );
    }

    #[test]
    fn control_characters_are_escaped_like_json_stringify() {
        let v = json!({ "t": "line\nnext\ttab\u{1}\u{7f}/" });
        assert_eq!(to_string(&v), "{\"t\":\"line\\nnext\\ttab\\u0001\u{7f}/\"}");
    }

    /// JavaScript sorts by UTF-16 code units: U+1F600 (surrogates D83D DE00) sorts before
    /// U+FF01, though its UTF-8 bytes sort after.
    #[test]
    fn keys_sort_by_utf16_code_units_like_javascript() {
        let v = json!({ "\u{ff01}": 1, "\u{1f600}": 2 });
        assert_eq!(to_string(&v), "{\"\u{1f600}\":2,\"\u{ff01}\":1}");
    }

    #[test]
    fn large_integers_keep_their_digits() {
        assert_eq!(to_string(&parse("18446744073709551615")), "18446744073709551615");
        assert_eq!(to_string(&parse("-9223372036854775808")), "-9223372036854775808");
    }
}
