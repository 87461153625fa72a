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
    let calls = calls.unwrap_or_else(|| {
        tools.iter().map(|t| TestCall { tool: t.clone(), arguments: empty_object(), expect: Expect::Ok }).collect()
    });
    let mut reports = Vec::new();
    for call in calls {
        let before = sim.requests().len();
        let result = gate.call_tool(&call.tool, call.arguments.clone(), CallContext::default()).await;
        let requests = sim.requests().split_off(before);
        let (ok, text, structured) = match result {
            Ok(out) => (true, out.text, out.structured),
            Err(GateError::UnknownTool(msg)) => (false, msg, None),
            Err(e) => (false, e.to_string(), None),
        };
        let passed = ok == (call.expect == Expect::Ok);
        reports.push(CallReport { tool: call.tool, arguments: call.arguments, ok, passed, text, structured, requests });
    }
    Ok(Report {
        plugin: format!("{} {}", manifest.name, manifest.version),
        grants: manifest.grants,
        tools,
        calls: reports,
    })
}
