//! What the inventory tools share: list pages, number formatting, PVE's
//! loose field types, metrics summaries and node-aware errors.

use std::collections::BTreeMap;

pub use proxmcp_sdk::value::{float, items, uint};
use proxmcp_sdk::{ApiError, ToolError, format};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default and maximum list lengths: keep answers small for the model.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

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

/// How much of a list an answer shows.
#[derive(Serialize, JsonSchema)]
pub struct Page {
    pub count: usize,
    pub total: usize,
    pub truncated: bool,
}

impl Page {
    /// Keeps the first `limit` items.
    pub fn cut<T>(items: &mut Vec<T>, limit: usize) -> Page {
        let total = items.len();
        items.truncate(limit);
        Page { count: items.len(), total, truncated: total > limit }
    }

    /// `3 nodes`, `1 node`, or `50 of 70 tasks shown (raise limit to see
    /// more)`; `nouns` is the plural.
    pub fn summary(&self, nouns: &str) -> String {
        if self.truncated {
            format!("{} of {} {nouns} shown (raise limit to see more)", self.count, self.total)
        } else {
            counted(self.count, nouns)
        }
    }
}

/// `n` and the noun, singular for one: `1 storage entry`, `2 nodes`.
pub fn counted(n: usize, nouns: &str) -> String {
    if n != 1 {
        return format!("{n} {nouns}");
    }
    let one = match nouns.strip_suffix("ies") {
        Some(stem) => format!("{stem}y"),
        None => nouns.strip_suffix('s').unwrap_or(nouns).to_string(),
    };
    format!("1 {one}")
}

/// A PVE boolean (0/1, true/false); absent is false.
pub fn flag(v: &Value, key: &str) -> bool {
    matches!(&v[key], Value::Bool(true)) || uint(v, key) == Some(1)
}

/// A string field (an empty one too, unlike the SDK's `value::text`).
pub fn text(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(str::to_string)
}

/// A fraction (0.0–1.0) as a percentage with one decimal.
pub fn pct(fraction: f64) -> f64 {
    (fraction * 1000.0).round() / 10.0
}

/// A byte count for people.
pub fn human(n: Option<u64>) -> Option<String> {
    n.map(format::bytes)
}

/// A duration in seconds for people.
pub fn human_secs(n: Option<u64>) -> Option<String> {
    n.map(format::duration)
}

/// PVE's tag list (`a;b`, older `a,b` or `a b`).
pub fn tags(v: &Value) -> Vec<String> {
    v["tags"].as_str().unwrap_or("").split([';', ',', ' ']).filter(|t| !t.is_empty()).map(str::to_string).collect()
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

/// CPU, memory and uptime of a running node or guest, as resources and
/// status answers carry them.
#[derive(Serialize, JsonSchema)]
pub struct Load {
    pub cpu_percent: Option<f64>,
    pub mem: Option<u64>,
    pub mem_human: Option<String>,
    pub maxmem: Option<u64>,
    pub maxmem_human: Option<String>,
    pub uptime: Option<u64>,
    pub uptime_human: Option<String>,
}

impl Load {
    /// Read from an entry with PVE's `cpu`, `mem`, `maxmem` and `uptime`.
    pub fn of(v: &Value) -> Load {
        Load {
            cpu_percent: float(v, "cpu").map(pct),
            mem: uint(v, "mem"),
            mem_human: human(uint(v, "mem")),
            maxmem: uint(v, "maxmem"),
            maxmem_human: human(uint(v, "maxmem")),
            uptime: uint(v, "uptime"),
            uptime_human: human_secs(uint(v, "uptime")),
        }
    }
}

/// Total and used bytes with their share.
#[derive(Serialize, JsonSchema)]
pub struct Usage {
    pub total: Option<u64>,
    pub total_human: Option<String>,
    pub used: Option<u64>,
    pub used_human: Option<String>,
    pub used_percent: Option<f64>,
}

impl Usage {
    pub fn new(total: Option<u64>, used: Option<u64>) -> Usage {
        let used_percent = match (used, total) {
            (Some(u), Some(t)) if t > 0 => Some(pct(u as f64 / t as f64)),
            _ => None,
        };
        Usage { total, total_human: human(total), used, used_human: human(used), used_percent }
    }
}

/// One metric over the timeframe.
#[derive(Serialize, JsonSchema)]
pub struct Stat {
    pub unit: String,
    pub min: f64,
    pub avg: f64,
    pub max: f64,
    pub last: f64,
}

/// An RRD series summarised: min/avg/max/last per metric instead of dozens
/// of points.
#[derive(Serialize, JsonSchema)]
pub struct Metrics {
    pub points: usize,
    pub from: Option<u64>,
    pub to: Option<u64>,
    pub timeframe: String,
    pub cf: String,
    pub metrics: BTreeMap<String, Stat>,
}

impl Metrics {
    /// Summarises `data` for `metrics` (`(key, unit)`).
    pub fn summarise(data: &Value, metrics: &[(&str, &str)], timeframe: String, cf: String) -> Metrics {
        let points = items(data);
        let mut out = BTreeMap::new();
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
            let stat = Stat {
                unit: (*unit).to_string(),
                min: round(min),
                avg: round(avg),
                max: round(max),
                last: round(last),
            };
            out.insert((*key).to_string(), stat);
        }
        let times: Vec<u64> = points.iter().filter_map(|p| uint(p, "time")).collect();
        Metrics {
            points: points.len(),
            from: times.first().copied(),
            to: times.last().copied(),
            timeframe,
            cf,
            metrics: out,
        }
    }

    /// The summary line about `subject`'s CPU.
    pub fn summary(&self, subject: &str) -> String {
        let (avg, max) = match self.metrics.get("cpu") {
            Some(c) => (serde_json::json!(c.avg).to_string(), serde_json::json!(c.max).to_string()),
            None => ("null".into(), "null".into()),
        };
        format!("{subject} over the last {}: CPU avg {avg}%, max {max}%", self.timeframe)
    }
}

/// The window arguments of the metrics tools.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    #[schemars(extend("enum" = ["hour", "day", "week", "month", "year"]))]
    pub timeframe: Option<String>,
    #[schemars(extend("enum" = ["AVERAGE", "MAX"]))]
    pub cf: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_a_thing_is_singular() {
        assert_eq!(counted(1, "storage entries"), "1 storage entry");
        assert_eq!(counted(1, "nodes"), "1 node");
        assert_eq!(counted(0, "nodes"), "0 nodes");
        assert_eq!(counted(2, "backups"), "2 backups");
        let page = Page { count: 1, total: 1, truncated: false };
        assert_eq!(page.summary("snapshots"), "1 snapshot");
    }
}
