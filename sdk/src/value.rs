//! Reading Proxmox's loosely typed answers: numbers that arrive as numbers
//! or numeric strings, booleans as `0`/`1` or `true`/`false`, lists that
//! may be absent.

use serde_json::Value;

/// An unsigned integer PVE may send as a number or a numeric string.
pub fn uint(v: &Value, key: &str) -> Option<u64> {
    match &v[key] {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A number PVE may send as a number or a numeric string.
pub fn float(v: &Value, key: &str) -> Option<f64> {
    match &v[key] {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A PVE boolean (`0`/`1`, `true`/`false`), or `None` when absent.
pub fn flag(v: &Value, key: &str) -> Option<bool> {
    match &v[key] {
        Value::Bool(b) => Some(*b),
        Value::Null => None,
        _ => uint(v, key).map(|n| n != 0),
    }
}

/// A string field that is present and not empty.
pub fn text(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// The items of an array answer (none when it is not an array).
pub fn items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn loosely_typed_fields_are_read_as_pve_sends_them() {
        let v = json!({"a": "42", "b": 7.9, "c": 1, "d": "0", "e": "", "f": false, "g": [1, 2]});
        assert_eq!((uint(&v, "a"), uint(&v, "b"), uint(&v, "x")), (Some(42), Some(7), None));
        assert_eq!((float(&v, "a"), float(&v, "b")), (Some(42.0), Some(7.9)));
        assert_eq!(
            (flag(&v, "c"), flag(&v, "d"), flag(&v, "f"), flag(&v, "x")),
            (Some(true), Some(false), Some(false), None)
        );
        assert_eq!((text(&v, "e"), text(&v, "x")), (None, None));
        assert_eq!((items(&v["g"]).len(), items(&v["x"]).len()), (2, 0));
    }
}
