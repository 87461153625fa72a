//! Approval on MCP's stateless wire (2026-07-28): a client that declares
//! elicitation is asked through a returned question (multi round-trip
//! requests), not told to call again with confirm=true; the retry's sealed
//! state is single-use and bound to the call.

use std::process::Stdio;
use std::sync::Arc;

use proxmcp::sim::Simulator;
use rmcp::RoleClient;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ElicitationAction, InputRequest, InputRequiredResult, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use crate::gates::Approver;
use crate::support::{self, Launch, text, writes};

/// A client on the stateless wire that answers every question with `answer`.
async fn modern_client(
    sim: &Simulator,
    launch: &Launch,
    answer: ElicitationAction,
    work: &std::path::Path,
) -> (RunningService<RoleClient, Approver>, Approver) {
    let cmd = support::command(&sim.base_url(), launch, work);
    let (transport, _) = TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn().unwrap();
    let approver = Approver { answer, asked: Arc::default() };
    let lifecycle = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    let client = approver.clone().serve_with_lifecycle(transport, lifecycle).await.expect("discover");
    (client, approver)
}

fn params(tool: &'static str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool).with_arguments(args.as_object().unwrap().clone())
}

#[tokio::test]
async fn a_stateless_client_is_asked_and_only_accept_sends_the_write() {
    let sim = support::sim().await;
    let work = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let launch = Launch { env: vec![("PROXMCP_AUDIT_LOG".into(), audit.display().to_string())], ..Launch::default() };

    let (client, approver) = modern_client(&sim, &launch, ElicitationAction::Decline, work.path()).await;
    let r = client.call_tool(params("pve_stop_vm", json!({"vmid": 100}))).await.unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("the user did not approve: would stop VM 100"), "{}", text(&r));
    assert_eq!(approver.asked.lock().unwrap().len(), 1, "asked once, not told to pass confirm");
    assert!(approver.asked.lock().unwrap()[0].contains("would stop VM 100 \"web-01\" on pve1"));
    assert!(writes(&sim).is_empty(), "declined, yet sent: {:?}", writes(&sim));
    let _ = client.cancel().await;

    let (client, approver) = modern_client(&sim, &launch, ElicitationAction::Accept, work.path()).await;
    let r = client.call_tool(params("pve_stop_vm", json!({"vmid": 100}))).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    assert_eq!(approver.asked.lock().unwrap().len(), 1);
    let _ = client.cancel().await;
    assert_eq!(writes(&sim).len(), 1);
    assert_eq!(sim.world().lock().guests[&100].status, "stopped");

    let lines: Vec<Value> =
        std::fs::read_to_string(&audit).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let stops: Vec<&Value> = lines.iter().filter(|l| l["tool"] == "pve_stop_vm").collect();
    assert_eq!(stops.len(), 4, "question, declined retry, question, accepted retry: {stops:#?}");
    assert_eq!(stops[3]["outcome"], "ok");
    assert!(stops[3]["approved_by"].as_str().is_some_and(|a| a.contains("elicitation accepted")), "{:#}", stops[3]);
}

/// The question a first call returns, and its state.
async fn question(client: &RunningService<RoleClient, Approver>, args: Value) -> InputRequiredResult {
    match client.call_tool_once(params("pve_stop_vm", args)).await.unwrap() {
        CallToolResponse::InputRequired(asked) => asked,
        other => panic!("expected a question, got {other:?}"),
    }
}

fn accept_retry(args: Value, asked: &InputRequiredResult, state: &str) -> CallToolRequestParams {
    let key = asked.input_requests.as_ref().unwrap().keys().next().unwrap().clone();
    assert!(matches!(asked.input_requests.as_ref().unwrap()[&key], InputRequest::Elicitation(_)));
    let answer = std::collections::BTreeMap::from([(key, json!({"action": "accept", "content": {}}))]);
    params("pve_stop_vm", args).with_input_responses(answer).with_request_state(state)
}

async fn outcome(client: &RunningService<RoleClient, Approver>, retry: CallToolRequestParams) -> String {
    match client.call_tool_once(retry).await.unwrap() {
        CallToolResponse::Complete(r) if r.is_error == Some(true) => format!("error: {}", text(&r)),
        CallToolResponse::Complete(_) => "ok".into(),
        other => format!("asked again: {other:?}"),
    }
}

#[tokio::test]
async fn a_replayed_forged_or_borrowed_state_is_refused_and_nothing_is_sent() {
    let sim = support::sim().await;
    let work = tempfile::tempdir().unwrap();
    let (client, _) = modern_client(&sim, &Launch::default(), ElicitationAction::Accept, work.path()).await;
    let args = json!({"vmid": 100});

    // Forged: the state altered by one character.
    let asked = question(&client, args.clone()).await;
    let state = asked.request_state.clone().unwrap();
    let mut forged = state.clone().into_bytes();
    forged[3] = if forged[3] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    let r = outcome(&client, accept_retry(args.clone(), &asked, &forged)).await;
    assert!(r.contains("not one this server issued") && r.contains("nothing was sent"), "{r}");

    // Borrowed: a state sealed for VM 100 does not approve a stop of VM 101.
    let r = outcome(&client, accept_retry(json!({"vmid": 101}), &asked, &state)).await;
    assert!(r.contains("another caller, tool or set of arguments"), "{r}");
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));

    // The genuine retry goes through once; replaying it is refused.
    assert_eq!(outcome(&client, accept_retry(args.clone(), &asked, &state)).await, "ok");
    let r = outcome(&client, accept_retry(args.clone(), &asked, &state)).await;
    assert!(r.contains("already used"), "{r}");
    let _ = client.cancel().await;
    assert_eq!(writes(&sim).len(), 1, "only the genuine retry wrote: {:?}", writes(&sim));
}
