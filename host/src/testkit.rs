//! The plugin test kit behind `proxmcp plugin test`: loads one component
//! into a host backed by the embedded simulator, runs a list of calls, and
//! reports each result with every Proxmox request the call made.
//!
//! The plugin gets exactly the grants its manifest asks for, so a request
//! outside them fails here just as it would in production without a wider
//! grant. Usable from Rust tests through [`run`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::gate::{CallContext, Gate, GateError, Policy};
use crate::pve::{Auth, PveClient, PveConfig};
use crate::runtime::{CompileCache, Limits, PluginSource, Runtime};
use crate::secret::Secret;
use crate::sim::{SimOptions, SimToken, Simulator};

/// One call to make.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TestCall {
    /// The tool.
    pub tool: String,
    /// Its arguments (default `{}`).
    #[serde(default = "empty_object")]
    pub arguments: Value,
    /// `ok` (default) or `error`: what the call should end in.
    #[serde(default)]
    pub expect: Expect,
    /// Texts the answer must contain (its summary or error message, or its
    /// structured result as JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contains: Vec<String>,
}

/// A string argument `"$previous/POINTER"` stands for the value at that
/// JSON pointer in the previous call's structured result, so a case can
/// follow the task or guest an earlier case created.
pub const PREVIOUS: &str = "$previous";

/// `arguments` with `$previous/...` references filled from `previous`;
/// an unresolvable reference is an error naming it.
pub fn resolve_references(arguments: &Value, previous: Option<&Value>) -> Result<Value, String> {
    match arguments {
        Value::String(s) if s.starts_with(PREVIOUS) => {
            let pointer = &s[PREVIOUS.len()..];
            previous
                .and_then(|p| p.pointer(pointer))
                .cloned()
                .ok_or_else(|| format!("{s:?} does not name a value of the previous call's structured result"))
        }
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), resolve_references(v, previous)?)))
            .collect::<Result<_, String>>()
            .map(Value::Object),
        Value::Array(items) => {
            items.iter().map(|v| resolve_references(v, previous)).collect::<Result<_, _>>().map(Value::Array)
        }
        other => Ok(other.clone()),
    }
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// The outcome a call is expected to have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The call succeeds.
    #[default]
    Ok,
    /// The call ends in a tool error (bad arguments, a refusal, …).
    Error,
}

/// What one call did.
#[derive(Debug, Clone, Serialize)]
pub struct CallReport {
    /// The tool.
    pub tool: String,
    /// The arguments sent.
    pub arguments: Value,
    /// Whether it succeeded.
    pub ok: bool,
    /// Whether that matches the expectation.
    pub passed: bool,
    /// Why it did not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The summary text, or the error message.
    pub text: String,
    /// The structured result, if any.
    pub structured: Option<Value>,
    /// Every request that reached the simulated Proxmox during the call
    /// (method, path, params).
    pub requests: Vec<Value>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Plugin name and version from its manifest.
    pub plugin: String,
    /// The grants it ran with (its manifest's).
    pub grants: Vec<String>,
    /// Its tools.
    pub tools: Vec<String>,
    /// One entry per call.
    pub calls: Vec<CallReport>,
}

impl Report {
    /// Whether every call ended as expected.
    pub fn passed(&self) -> bool {
        self.calls.iter().all(|c| c.passed)
    }
}

/// Why the test kit could not run.
#[derive(Debug, thiserror::Error)]
pub enum TestKitError {
    /// The simulator or client could not start.
    #[error("cannot start the simulated cluster: {0}")]
    Setup(String),
    /// The host refuses the plugin.
    #[error("the host refuses this plugin: {0}")]
    Refused(String),
    /// The calls file is not a list of calls.
    #[error(
        "the calls file is invalid: {0}; write a JSON list such as [{{\"tool\": \"my_tool\", \"arguments\": {{}}}}]"
    )]
    Calls(String),
}

/// Parses a calls file: a JSON list of [`TestCall`]s.
pub fn parse_calls(text: &str) -> Result<Vec<TestCall>, TestKitError> {
    serde_json::from_str(text).map_err(|e| TestKitError::Calls(e.to_string()))
}

/// Why a call's answer does not meet its case, if it does not.
fn judge(call: &TestCall, ok: bool, text: &str, structured: Option<&Value>) -> Option<String> {
    if ok != (call.expect == Expect::Ok) {
        return Some(format!("expected {}", if call.expect == Expect::Ok { "ok" } else { "an error" }));
    }
    let answer = format!("{text}\n{}", structured.map(Value::to_string).unwrap_or_default());
    call.contains.iter().find(|c| !answer.contains(c.as_str())).map(|c| format!("the answer lacks {c:?}"))
}

/// A validator per tool that declares an output schema.
fn output_validators(
    tools: impl Iterator<Item = (String, Option<serde_json::Map<String, Value>>)>,
) -> Result<BTreeMap<String, jsonschema::Validator>, TestKitError> {
    let mut out = BTreeMap::new();
    for (name, schema) in tools {
        let Some(schema) = schema else { continue };
        let validator = jsonschema::validator_for(&Value::Object(schema))
            .map_err(|e| TestKitError::Refused(format!("tool {name} declares an invalid outputSchema: {e}")))?;
        out.insert(name, validator);
    }
    Ok(out)
}

/// Why a structured answer breaks its tool's declared output schema, if it
/// does: clients may validate and refuse it.
fn mismatch(schema: Option<&jsonschema::Validator>, structured: Option<&Value>) -> Option<String> {
    let (schema, structured) = (schema?, structured?);
    let errors: Vec<String> = schema.iter_errors(structured).map(|e| format!("{e} at {}", e.instance_path())).collect();
    (!errors.is_empty()).then(|| format!("the answer breaks the tool's outputSchema: {}", errors.join("; ")))
}

/// Loads `source` against a fresh simulated cluster and runs `calls`; with
/// no calls, every tool is called once with `{}`. `cache` keeps the
/// compiled plugin between runs (`None`: compile every time).
pub async fn run(
    source: PluginSource,
    calls: Option<Vec<TestCall>>,
    cache: Option<CompileCache>,
) -> Result<Report, TestKitError> {
    crate::pve::install_crypto_provider();
    let token = SimToken { id: "root@pam!testkit".into(), secret: Secret::new("testkit-secret"), read_only: false };
    let mut options = SimOptions::demo();
    options.time_scale = 0.0;
    options.tokens = vec![token.clone()];
    let sim = Simulator::start(([127, 0, 0, 1], 0).into(), false, options)
        .await
        .map_err(|e| TestKitError::Setup(e.to_string()))?;
    let mut config = PveConfig::new(sim.base_url(), Auth::ApiToken { id: token.id.clone(), secret: token.secret });
    config.allow_insecure_http = true;
    let client = PveClient::new(config).map_err(|e| TestKitError::Setup(e.to_string()))?;
    let runtime = Runtime::new(Limits::default(), cache).map_err(|e| TestKitError::Setup(e.to_string()))?;
    let manifest = runtime.inspect(&source).map_err(|e| TestKitError::Refused(e.to_string()))?.manifest;
    let policy =
        Policy { grants: BTreeMap::from([(manifest.name.clone(), manifest.grants.clone())]), ..Policy::default() };
    let gate = Gate::build(runtime, &[source], Some(client), policy)
        .await
        .map_err(|e| TestKitError::Refused(e.to_string()))?;
    let gate = Arc::new(gate);
    let tools: Vec<String> = gate.tools().map(|t| t.name.clone()).collect();
    let schemas = output_validators(gate.tools().map(|t| (t.name.clone(), t.output_schema.clone())))?;
    let calls = calls.unwrap_or_else(|| {
        tools
            .iter()
            .map(|t| TestCall { tool: t.clone(), arguments: empty_object(), expect: Expect::Ok, contains: Vec::new() })
            .collect()
    });
    let mut reports: Vec<CallReport> = Vec::new();
    for call in calls {
        let previous = reports.last().and_then(|r| r.structured.as_ref());
        let arguments = match resolve_references(&call.arguments, previous) {
            Ok(a) => a,
            Err(why) => {
                let failure = Some(why.clone());
                reports.push(CallReport {
                    tool: call.tool,
                    arguments: call.arguments,
                    ok: false,
                    passed: false,
                    failure,
                    text: why,
                    structured: None,
                    requests: Vec::new(),
                });
                continue;
            }
        };
        let before = sim.requests().len();
        let result = gate.call_tool(&call.tool, arguments.clone(), CallContext::default()).await;
        let requests = sim.requests().split_off(before);
        let (ok, text, structured) = match result {
            Ok(out) => (true, out.text, out.structured),
            Err(GateError::UnknownTool(msg)) => (false, msg, None),
            Err(e) => (false, e.to_string(), None),
        };
        let failure = judge(&call, ok, &text, structured.as_ref())
            .or_else(|| mismatch(schemas.get(&call.tool), structured.as_ref()));
        reports.push(CallReport {
            tool: call.tool,
            arguments,
            ok,
            passed: failure.is_none(),
            failure,
            text,
            structured,
            requests,
        });
    }
    Ok(Report {
        plugin: format!("{} {}", manifest.name, manifest.version),
        grants: manifest.grants,
        tools,
        calls: reports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn previous_references_take_values_of_the_last_result_or_say_what_is_missing() {
        let previous = json!({"tasks": [{"upid": "UPID:pve1:1"}], "newid": 150});
        let args = json!({"upid": "$previous/tasks/0/upid", "ids": ["$previous/newid"], "plain": "x"});
        assert_eq!(
            resolve_references(&args, Some(&previous)).unwrap(),
            json!({"upid": "UPID:pve1:1", "ids": [150], "plain": "x"})
        );
        let err = resolve_references(&json!({"v": "$previous/nope"}), Some(&previous)).unwrap_err();
        assert!(err.contains("$previous/nope"), "{err}");
        assert!(resolve_references(&json!({"v": "$previous/newid"}), None).is_err());
    }

    #[test]
    fn a_case_fails_when_its_answer_breaks_the_output_schema() {
        let tools = [("t".to_string(), json!({"type": "object", "required": ["vmid"]}).as_object().cloned())];
        let schemas = output_validators(tools.into_iter()).unwrap();
        assert!(mismatch(schemas.get("t"), Some(&json!({"vmid": 100}))).is_none());
        let why = mismatch(schemas.get("t"), Some(&json!({"name": "x"}))).unwrap();
        assert!(why.contains("outputSchema") && why.contains("vmid"), "{why}");
        assert!(mismatch(schemas.get("other"), Some(&json!(1))).is_none(), "no schema, nothing to break");
    }

    #[test]
    fn a_case_fails_when_its_answer_lacks_a_text() {
        let call =
            TestCall { tool: "t".into(), arguments: json!({}), expect: Expect::Ok, contains: vec!["running".into()] };
        assert!(judge(&call, true, "qemu 100: running", None).is_none());
        assert!(judge(&call, true, "qemu 100: stopped", None).unwrap().contains("running"));
        assert!(judge(&call, false, "running", None).unwrap().contains("expected ok"));
        assert!(judge(&call, true, "x", Some(&json!({"status": "running"}))).is_none());
    }
}
