//! Helpers shared by the inventory tools: compact schemas, argument
//! checks, number formatting and guest resolution.

use proxmcp_sdk::{ApiError, Output, ToolError, format};
use serde_json::{Map, Value, json};

/// Default and maximum list lengths: keep answers small for the model.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

/// A compact JSON Schema object from `(name, type)` pairs. Types: `string`,
/// `integer`, `number`, `boolean`, `array`, `object`; a trailing `?` allows
/// null; `[]` after a scalar type makes an array of it.
pub fn obj(fields: &[(&str, &str)]) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, ty) in fields {
        let (ty, nullable) = match ty.strip_suffix('?') {
            Some(t) => (t, true),
            None => (*ty, false),
        };
        let schema = match ty.strip_suffix("[]") {
            Some(item) => json!({"type": "array", "items": {"type": item}}),
            None if nullable => json!({"type": [ty, "null"]}),
            None => json!({"type": ty}),
        };
        if !nullable {
            required.push(*name);
        }
        props.insert((*name).to_string(), schema);
    }
    json!({"type": "object", "properties": props, "required": required})
}

/// The output schema of a list tool: `{KEY: [item], count, total, truncated}`.
pub fn list_of(key: &str, item: Value) -> Value {
    json!({
        "type": "object",
        "properties": {
            key: {"type": "array", "items": item},
            "count": {"type": "integer"},
            "total": {"type": "integer"},
            "truncated": {"type": "boolean"}
        },
        "required": [key, "count", "total", "truncated"]
    })
}

/// An input schema: `props` plus `required`, no other keys allowed.
pub fn input(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

/// The `limit` argument.
pub fn limit_prop() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT})
}

/// The arguments that locate a guest: vmid, with node and type optional.
pub fn guest_props() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("vmid".into(), json!({"type": "integer", "minimum": 100}));
    m.insert("node".into(), json!({"type": "string", "description": "Optional; found from vmid."}));
    m.insert(
        "type".into(),
        json!({"type": "string", "enum": ["qemu", "lxc"], "description": "Optional; found from vmid."}),
    );
    m
}

/// The `timeframe`/`cf` arguments of metrics tools.
pub fn metrics_props() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("timeframe".into(), json!({"type": "string", "enum": ["hour", "day", "week", "month", "year"]}));
    m.insert("cf".into(), json!({"type": "string", "enum": ["AVERAGE", "MAX"]}));
    m
}

/// Checks a `limit` argument.
pub fn limit(value: Option<usize>, default: usize) -> Result<usize, ToolError> {
    match value {
        None => Ok(default),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => {
            Err(ToolError::InvalidArguments(format!("limit {n} is out of range; pass a value from 1 to {MAX_LIMIT}")))
        }
    }
}

/// An unsigned integer field PVE may send as a number or a numeric string.
pub fn uint(v: &Value, key: &str) -> Option<u64> {
    match &v[key] {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A float field (number or numeric string).
pub fn float(v: &Value, key: &str) -> Option<f64> {
    match &v[key] {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A PVE boolean (0/1, true/false).
pub fn flag(v: &Value, key: &str) -> bool {
    matches!(&v[key], Value::Bool(true)) || uint(v, key) == Some(1)
}

/// A string field.
pub fn text(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(str::to_string)
}

/// A fraction (0.0–1.0) as a percentage with one decimal.
pub fn pct(fraction: f64) -> f64 {
    (fraction * 1000.0).round() / 10.0
}

/// Inserts `key` and `key_human` for a byte count.
pub fn bytes(out: &mut Map<String, Value>, key: &str, n: Option<u64>) {
    out.insert(key.into(), json!(n));
    out.insert(format!("{key}_human"), json!(n.map(format::bytes)));
}

/// Inserts `uptime` and `uptime_human`.
pub fn uptime(out: &mut Map<String, Value>, n: Option<u64>) {
    out.insert("uptime".into(), json!(n));
    out.insert("uptime_human".into(), json!(n.map(format::duration)));
}

/// PVE's tag list (`a;b`, older `a,b` or `a b`).
pub fn tags(v: &Value) -> Vec<String> {
    v["tags"].as_str().unwrap_or("").split([';', ',', ' ']).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// The items of an array answer.
pub fn items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// A list answer with `limit` applied and `truncated` reported.
pub fn list_output(key: &str, items: Vec<Value>, limit: usize, noun: &str) -> Output {
    let total = items.len();
    let truncated = total > limit;
    let items: Vec<Value> = items.into_iter().take(limit).collect();
    let count = items.len();
    let summary = if truncated {
        format!("{count} of {total} {noun} shown (raise limit to see more)")
    } else {
        format!("{count} {noun}")
    };
    Output::new(json!({key: items, "count": count, "total": total, "truncated": truncated}), summary)
}

/// Adds which node a failed request concerned when the node is offline.
pub fn on_node(node: &str) -> impl Fn(ApiError) -> ToolError + '_ {
    move |e| match e {
        ApiError::NodeUnreachable(m) => {
            ToolError::Api(ApiError::NodeUnreachable(format!("node {node:?} is offline or unreachable: {m}")))
        }
        other => ToolError::Api(other),
    }
}

pub use proxmcp_sdk::guest::{GuestArgs, locate};

/// Summarises an RRD series: min/avg/max/last per metric instead of
/// dozens of points.
pub fn summarise_rrd(data: &Value, metrics: &[(&str, &str)]) -> Value {
    let points = items(data);
    let mut out = Map::new();
    for (key, unit) in metrics {
        let values: Vec<f64> = points.iter().filter_map(|p| float(p, key)).collect();
        if values.is_empty() {
            continue;
        }
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let avg = values.iter().sum::<f64>() / values.len() as f64;
        let last = values.last().copied().unwrap_or_default();
        let round = |x: f64| if *unit == "percent" { pct(x) } else { (x * 100.0).round() / 100.0 };
        out.insert(
            (*key).to_string(),
            json!({"unit": unit, "min": round(min), "avg": round(avg), "max": round(max), "last": round(last)}),
        );
    }
    let times: Vec<u64> = points.iter().filter_map(|p| uint(p, "time")).collect();
    json!({"points": points.len(), "from": times.first(), "to": times.last(), "metrics": out})
}

/// A metrics answer: the RRD summary plus timeframe and cf, with a summary
/// line about `subject`'s CPU.
pub fn metrics_output(data: &Value, metrics: &[(&str, &str)], tf: &str, cf: &str, subject: &str) -> Output {
    let mut out = summarise_rrd(data, metrics);
    out["timeframe"] = json!(tf);
    out["cf"] = json!(cf);
    let cpu = &out["metrics"]["cpu"];
    let summary = format!("{subject} over the last {tf}: CPU avg {}%, max {}%", cpu["avg"], cpu["max"]);
    Output::new(out, summary)
}

/// Inserts `total`, `used` (with `*_human`) and `used_percent`.
pub fn usage_into(out: &mut Map<String, Value>, total: Option<u64>, used: Option<u64>) {
    bytes(out, "total", total);
    bytes(out, "used", used);
    let used_percent = match (used, total) {
        (Some(u), Some(t)) if t > 0 => Some(pct(u as f64 / t as f64)),
        _ => None,
    };
    out.insert("used_percent".into(), json!(used_percent));
}

/// Output schema of the metrics tools.
pub fn metrics_schema() -> Value {
    json!({"type": "object", "properties": {
        "points": {"type": "integer"}, "from": {"type": ["integer", "null"]}, "to": {"type": ["integer", "null"]},
        "timeframe": {"type": "string"}, "cf": {"type": "string"},
        "metrics": {"type": "object", "additionalProperties": obj(&[("unit", "string"), ("min", "number"), ("avg", "number"), ("max", "number"), ("last", "number")])}
    }, "required": ["points", "metrics", "timeframe", "cf"]})
}

/// Validates `timeframe` and `cf`.
pub fn timeframe(tf: Option<String>, cf: Option<String>) -> Result<(String, String), ToolError> {
    let tf = tf.unwrap_or_else(|| "hour".into());
    if !["hour", "day", "week", "month", "year"].contains(&tf.as_str()) {
        return Err(ToolError::InvalidArguments(format!(
            "timeframe {tf:?} is not one of hour, day, week, month, year"
        )));
    }
    let cf = cf.unwrap_or_else(|| "AVERAGE".into());
    if cf != "AVERAGE" && cf != "MAX" {
        return Err(ToolError::InvalidArguments(format!("cf {cf:?} must be AVERAGE or MAX")));
    }
    Ok((tf, cf))
}
