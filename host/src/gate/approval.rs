//! Approval of writes: the dry run that collects a call's requests, the
//! question to the user that describes them, and the plan the broker then
//! holds the call to.

use serde_json::Value;

use super::{CallContext, Confirmer, Gate, broker};
use crate::pve::{ApiError, Method};
use crate::runtime::{CallError, ToolOutput};

/// How the writes of a call are approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// `confirm: true`: every write of the call.
    Confirmed,
    /// The user approved exactly these requests (each once); any other
    /// write is refused.
    Exactly(Vec<Planned>),
    /// Nothing approved: writes are refused, naming what they would do.
    None,
}

/// One write of a plan: what a dry run said the call would send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The method.
    pub method: Method,
    /// The decoded segments.
    pub path: Vec<String>,
    /// The parameters; `"[redacted]"` stands for a secret value.
    pub params: Value,
}

impl Planned {
    /// Whether `method path params` is this planned request.
    pub(super) fn is(&self, method: Method, path: &[String], params: &Value) -> bool {
        self.method == method && self.path == path && same_params(&self.params, params)
    }
}

/// Equal parameters, where a planned `"[redacted]"` matches any value.
fn same_params(planned: &Value, sent: &Value) -> bool {
    let empty = serde_json::Map::new();
    let (a, b) = (planned.as_object().unwrap_or(&empty), sent.as_object().unwrap_or(&empty));
    let a: Vec<_> = a.iter().filter(|(_, v)| !v.is_null()).collect();
    let b: Vec<_> = b.iter().filter(|(_, v)| !v.is_null()).collect();
    a.len() == b.len()
        && a.iter()
            .all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && (v.as_str() == Some("[redacted]") || loose_eq(v, v2))))
}

/// JSON equality that treats `1`, `"1"` and `true` alike, as PVE does.
fn loose_eq(a: &Value, b: &Value) -> bool {
    fn text(v: &Value) -> String {
        match v {
            Value::Bool(true) => "1".into(),
            Value::Bool(false) => "0".into(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
    a == b || text(a) == text(b)
}

impl Gate {
    /// The writes a dry run planned, checked against protection; `None`
    /// when the call plans no write.
    pub(super) async fn plan_of(
        &self,
        target: &super::Target,
        result: Result<ToolOutput, CallError>,
    ) -> Result<Option<Vec<Planned>>, ApiError> {
        let plan = match result {
            Ok(output) => plan_requests(&output),
            // The dry run failed before planning (bad arguments, a missing
            // guest): the real call will fail the same way, without writing.
            Err(_) => return Ok(None),
        };
        if plan.is_empty() {
            return Ok(None);
        }
        self.check_plan(target, &plan).await?;
        Ok(Some(plan))
    }

    pub(super) async fn check_plan(&self, target: &super::Target, plan: &[Planned]) -> Result<(), ApiError> {
        for p in plan {
            target.protection.check(target.pve.as_ref(), p.method, &p.path, &p.params).await?;
        }
        Ok(())
    }

    /// Asks the user to approve `plan`, described request by request.
    pub(super) async fn ask(
        &self,
        target: &super::Target,
        ctx: &CallContext,
        plan: &[Planned],
    ) -> Result<(), ApiError> {
        ask_user(ctx.confirmer.as_ref(), &self.actions(target, plan).await).await
    }

    /// What each request of `plan` does, in words.
    pub(super) async fn actions(&self, target: &super::Target, plan: &[Planned]) -> Vec<String> {
        let mut actions = Vec::new();
        for p in plan {
            actions.push(broker::describe(target.pve.as_ref(), p.method, &p.path, &p.params).await);
        }
        actions
    }
}

/// The question that shows the user `actions`.
pub(super) fn question(actions: &[String]) -> String {
    match actions {
        [one] => format!("proxmcp would {one}. Go ahead?"),
        many => format!(
            "proxmcp would make these {} changes:\n{}\nGo ahead?",
            many.len(),
            many.iter().enumerate().map(|(i, a)| format!("{}. {a}", i + 1)).collect::<Vec<_>>().join("\n")
        ),
    }
}

/// The refusal when the user declines `actions`.
pub(super) fn not_approved(actions: &[String]) -> ApiError {
    ApiError::ConfirmationRequired(format!("the user did not approve: would {}; nothing was sent", actions.join("; ")))
}

/// Asks the user (through `confirmer`) to approve `actions`; the refusal
/// says what would have been done and that nothing was sent.
pub(super) async fn ask_user(confirmer: Option<&Confirmer>, actions: &[String]) -> Result<(), ApiError> {
    let all = actions.join("; ");
    let Some(confirmer) = confirmer else {
        return Err(ApiError::ConfirmationRequired(format!(
            "would {all}; nothing was sent. Ask the user, then call again with confirm=true"
        )));
    };
    match confirmer(question(actions)).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(not_approved(actions)),
        Err(why) => Err(ApiError::ConfirmationRequired(format!(
            "would {all}; nothing was sent. Asking the user failed ({why}); ask them, then call again with confirm=true"
        ))),
    }
}

/// The writes a dry run's answer lists (`requests`: method, path, params).
pub(super) fn plan_requests(output: &ToolOutput) -> Vec<Planned> {
    let Some(list) = output.structured.as_ref().and_then(|s| s.get("requests")).and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|r| {
            let method = Method::parse(r["method"].as_str()?)?;
            let path = r["path"].as_str()?.trim_start_matches('/').split('/').map(str::to_string).collect();
            Some(Planned { method, path, params: r.get("params").cloned().unwrap_or(Value::Null) })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plan_matches_only_its_own_request() {
        let p = Planned {
            method: Method::Post,
            path: ["nodes", "pve1", "qemu", "100", "status", "stop"].map(String::from).to_vec(),
            params: json!({"timeout": 30, "cipassword": "[redacted]"}),
        };
        assert!(p.is(Method::Post, &p.path, &json!({"timeout": "30", "cipassword": "x"})));
        assert!(!p.is(Method::Post, &p.path, &json!({"timeout": 30})));
        assert!(!p.is(Method::Post, &p.path, &json!({"timeout": 30, "cipassword": "x", "force": 1})));
        assert!(!p.is(Method::Delete, &p.path, &json!({"timeout": 30, "cipassword": "x"})));
        let other: Vec<String> = ["nodes", "pve1", "qemu", "101", "status", "stop"].map(String::from).to_vec();
        assert!(!p.is(Method::Post, &other, &json!({"timeout": 30, "cipassword": "x"})));
    }
}
