//! JSON parameters to PVE's wire form: booleans as 0/1, arrays as repeated
//! keys, no nulls or nested objects (PVE has no such parameters).

use serde_json::Value;

use super::ApiError;

/// Turns a JSON object (or `null`) into key/value pairs for a query string
/// or a form body.
pub fn to_form(params: &Value) -> Result<Vec<(String, String)>, ApiError> {
    let obj = match params {
        Value::Null => return Ok(Vec::new()),
        Value::Object(obj) => obj,
        other => {
            return Err(ApiError::InvalidRequest(format!(
                "request parameters must be a JSON object, not {}",
                kind(other)
            )));
        }
    };
    let mut out = Vec::with_capacity(obj.len());
    for (key, value) in obj {
        match value {
            Value::Array(items) => {
                for item in items {
                    out.push((key.clone(), scalar(key, item)?));
                }
            }
            other => out.push((key.clone(), scalar(key, other)?)),
        }
    }
    Ok(out)
}

fn scalar(key: &str, value: &Value) -> Result<String, ApiError> {
    wire_scalar(value).ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "parameter {key:?} is {}; PVE takes strings, numbers, booleans or arrays of those (omit the key instead of sending null)",
            kind(value)
        ))
    })
}

/// A scalar as it travels to PVE (booleans as 1/0); `None` for null,
/// arrays and objects.
pub fn wire_scalar(value: &Value) -> Option<String> {
    match value {
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn booleans_become_digits_and_arrays_repeat_keys() {
        let form = to_form(&json!({"online": true, "force": false, "command": ["ls", "-l"], "memory": 2048}))
            .unwrap_or_default();
        assert_eq!(
            form,
            vec![
                ("command".into(), "ls".into()),
                ("command".into(), "-l".into()),
                ("force".into(), "0".into()),
                ("memory".into(), "2048".into()),
                ("online".into(), "1".into()),
            ]
        );
    }

    #[test]
    fn null_values_and_non_objects_are_refused() {
        assert!(to_form(&json!({"x": null})).is_err());
        assert!(to_form(&json!({"x": {"y": 1}})).is_err());
        assert!(to_form(&json!([1])).is_err());
        assert_eq!(to_form(&Value::Null).map(|v| v.len()).ok(), Some(0));
    }
}
