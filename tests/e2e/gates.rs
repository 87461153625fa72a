//! The safety gates through the real binary, real components and the
//! simulator: operator grants, tool selection, roles on stdio, rate limits,
//! protected guests and elicitation.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use proxmcp::sim::Simulator;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationAction,
    Implementation,
};
use rmcp::service::RequestContext;
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::support::{self, Launch, Session, is_error, text, writes};

async fn refused_start(sim: &Simulator, launch: Launch) -> String {
    support::refused_start(&sim.base_url(), &launch).await
}

fn config(text: &str) -> Launch {
    Launch { config: Some(text.to_string()), ..Launch::default() }
}

async fn tool_names(session: &Session) -> Vec<String> {
    session.client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect()
}

#[tokio::test]
async fn a_manifest_asking_more_than_its_grant_is_refused_naming_the_grant_to_add() {
    let sim = support::sim().await;
    let err = refused_start(&sim, config("[grants]\nlifecycle = [\"GET /**\"]\n")).await;
    assert!(err.contains("plugin \"lifecycle\""), "{err}");
    assert!(err.contains("add \"POST /nodes/{node}/qemu/{vmid}/status/*\" to [grants] lifecycle"), "{err}");
    let err = refused_start(&sim, config("[grants]\nlifecylce = [\"GET /**\"]\n")).await;
    assert!(err.contains("[grants] names plugin \"lifecylce\", which is not loaded"), "{err}");
}

#[tokio::test]
async fn a_third_party_plugin_loads_only_once_granted() {
    let sim = support::sim().await;
    let plugin = vec!["--plugin".to_string(), support::hostile_wasm().to_string()];
    let launch = Launch { global_args: plugin.clone(), ..Launch::default() };
    let err = refused_start(&sim, launch).await;
    assert!(err.contains("is not granted anything"), "{err}");
    assert!(err.contains("[grants]\nhostile = [\"POST /nodes/*/qemu/*/status/*\"]"), "{err}");
    // A grant covering the manifest loads it, and the grant is what the
    // host enforces: narrower than the wildcard the operator wrote is fine.
    let launch = Launch {
        global_args: plugin,
        config: Some("[grants]\nhostile = [\"* /nodes/**\"]\n".into()),
        ..Launch::default()
    };
    let session = Session::start(&sim.base_url(), launch).await;
    assert!(tool_names(&session).await.iter().any(|t| t == "hostile_spin"));
    session.finish().await;
}

#[tokio::test]
async fn tool_patterns_that_match_nothing_fail_start_up() {
    let sim = support::sim().await;
    let err = refused_start(&sim, config("[tools]\ndeny = [\"pve_delete_vmm\"]\n")).await;
    assert!(err.contains("[tools] deny pattern \"pve_delete_vmm\" matches no loaded tool"), "{err}");
    let err = refused_start(&sim, config("[tools]\nallow = [\"pve_list_*\", \"pve_lsit_*\"]\n")).await;
    assert!(err.contains("\"pve_lsit_*\""), "{err}");
    let err =
        refused_start(&sim, config("[rbac]\nstdio_role = \"ops\"\n[rbac.roles.ops]\ntools = [\"pve_strat_vm\"]\n"))
            .await;
    assert!(err.contains("[rbac.roles.ops] tools pattern \"pve_strat_vm\""), "{err}");
}

#[tokio::test]
async fn denied_tools_are_not_listed_and_cannot_be_called() {
    let sim = support::sim().await;
    let session = Session::start(
        &sim.base_url(),
        config("[tools]\nallow = [\"pve_list_*\", \"pve_*_vm\"]\ndeny = [\"pve_stop_vm\"]\n"),
    )
    .await;
    let names = tool_names(&session).await;
    assert!(names.iter().any(|t| t == "pve_list_vms") && names.iter().any(|t| t == "pve_start_vm"), "{names:?}");
    assert!(!names.iter().any(|t| t == "pve_stop_vm" || t == "pve_get_version"), "{names:?}");
    let mut params = CallToolRequestParams::new("pve_stop_vm");
    params = params.with_arguments(json!({"vmid": 100, "confirm": true}).as_object().unwrap().clone());
    let err = session.client.call_tool(params).await.unwrap_err().to_string();
    assert!(err.contains("no tool named \"pve_stop_vm\""), "{err}");
    session.finish().await;
    assert!(writes(&sim).is_empty());
}

#[tokio::test]
async fn a_read_only_role_on_stdio_sees_and_runs_only_reads() {
    let sim = support::sim().await;
    let session = Session::start(&sim.base_url(), config("[rbac]\nstdio_role = \"viewer\"\n")).await;
    let names = tool_names(&session).await;
    assert!(names.iter().any(|t| t == "pve_list_vms"));
    for write in ["pve_stop_vm", "pve_delete_vm", "pve_create_snapshot"] {
        assert!(!names.iter().any(|t| t == write), "{write} listed for a viewer: {names:?}");
    }
    let params = CallToolRequestParams::new("pve_stop_vm")
        .with_arguments(json!({"vmid": 100, "confirm": true}).as_object().unwrap().clone());
    let err = session.client.call_tool(params).await.unwrap_err().to_string();
    assert!(err.contains("not available to \"local\" (role \"viewer\")"), "{err}");
    let r = session.call("pve_list_vms", json!({})).await;
    assert!(!is_error(&r), "{}", text(&r));
    let stderr = session.finish().await;
    assert!(writes(&sim).is_empty());
    assert!(stderr.contains("\"role\":\"viewer\""), "the audit line names the role: {stderr}");
}

#[tokio::test]
async fn over_the_rate_limit_the_error_says_when_to_retry() {
    let sim = support::sim().await;
    let session = Session::start(&sim.base_url(), config("[rate_limit]\nper_minute = 6\nburst = 2\n")).await;
    for _ in 0..2 {
        assert!(!is_error(&session.call("pve_get_version", json!({})).await));
    }
    let params = CallToolRequestParams::new("pve_get_version");
    let err = session.client.call_tool(params).await.unwrap_err().to_string();
    assert!(err.contains("rate limit reached for \"local\" (6 calls per minute, bursts of 2)"), "{err}");
    assert!(err.contains("retry in"), "{err}");
    session.finish().await;
}

#[tokio::test]
async fn protected_guests_refuse_every_write_even_confirmed() {
    let sim = support::sim().await;
    sim.world().lock().guests.get_mut(&100).unwrap().tags.push("protected".into());
    let session = Session::start(&sim.base_url(), config("[protect]\nvmids = [200]\n")).await;
    let r = session.call("pve_stop_vm", json!({"vmid": 100, "confirm": true})).await;
    assert!(is_error(&r));
    assert!(text(&r).contains("VM 100 \"web-01\" carries the tag \"protected\""), "{}", text(&r));
    let r = session.call("pve_delete_snapshot", json!({"vmid": 100, "snapname": "pre-upgrade", "confirm": true})).await;
    assert!(text(&r).contains("protected"), "{}", text(&r));
    let r = session.call("pve_shutdown_vm", json!({"vmid": 200, "confirm": true})).await;
    assert!(text(&r).contains("[protect] vmids"), "{}", text(&r));
    let r = session.call("pve_backup_vm", json!({"vmid": 200, "storage": "backup-nfs", "confirm": true})).await;
    assert!(text(&r).contains("protected"), "{}", text(&r));
    // Without the tag the same call goes through: the tag is read fresh.
    sim.world().lock().guests.get_mut(&100).unwrap().tags.retain(|t| t != "protected");
    let r = session.call("pve_stop_vm", json!({"vmid": 100, "confirm": true})).await;
    assert!(!is_error(&r), "{}", text(&r));
    session.finish().await;
    let sent: Vec<String> = writes(&sim).iter().map(|r| r["path"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(sent, ["/api2/json/nodes/pve1/qemu/100/status/stop"], "only the unprotected stop was sent");
}

/// An rmcp client with the elicitation capability that answers every
/// question with `answer` and records the questions.
#[derive(Clone)]
pub struct Approver {
    pub answer: ElicitationAction,
    pub asked: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Approver {
    fn get_info(&self) -> ClientConfig {
        let capabilities = ClientCapabilities::builder().enable_elicitation().build();
        ClientConfig::new(capabilities, Implementation::new("approver", "1.0"))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = request {
            self.asked.lock().unwrap().push(message);
        }
        Ok(ElicitResult::new(self.answer.clone()))
    }
}

async fn elicit(
    sim: &Simulator,
    answer: ElicitationAction,
    launch: &Launch,
    tool: &'static str,
    args: Value,
) -> (String, Vec<String>) {
    let work = tempfile::tempdir().unwrap();
    let cmd = support::command(&sim.base_url(), launch, work.path());
    let (transport, _) = TokioChildProcess::builder(cmd).stderr(Stdio::null()).spawn().unwrap();
    let approver = Approver { answer, asked: Arc::default() };
    let client = approver.clone().serve(transport).await.unwrap();
    let params = CallToolRequestParams::new(tool).with_arguments(args.as_object().unwrap().clone());
    let r = client.call_tool(params).await.unwrap();
    let _ = client.cancel().await;
    let asked = approver.asked.lock().unwrap().clone();
    (if r.is_error == Some(true) { format!("error: {}", text(&r)) } else { "ok".into() }, asked)
}

async fn elicit_once(sim: &Simulator, answer: ElicitationAction, vmid: u32) -> (String, Vec<String>) {
    elicit(sim, answer, &Launch::default(), "pve_stop_vm", json!({"vmid": vmid})).await
}

#[tokio::test]
async fn one_approval_covers_only_the_requests_the_user_saw() {
    let sim = support::sim().await;
    let launch = Launch {
        global_args: vec!["--plugin".into(), support::hostile_wasm().to_string()],
        config: Some("[grants]\nhostile = [\"POST /nodes/*/qemu/*/status/*\"]\n".into()),
        ..Launch::default()
    };
    // The plugin's dry run promises one stop; the real run adds another.
    let (outcome, asked) = elicit(&sim, ElicitationAction::Accept, &launch, "hostile_bait_and_switch", json!({})).await;
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].contains("stop VM 102"), "{asked:?}");
    assert!(outcome.contains("approved other requests") && outcome.contains("VM 100"), "{outcome}");
    let sent: Vec<String> = writes(&sim).iter().map(|r| r["path"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(sent, ["/api2/json/nodes/pve1/qemu/102/status/stop"], "only the approved write was sent");
}

#[tokio::test]
async fn elicitation_shows_the_action_the_guest_and_the_parameters() {
    let sim = support::sim().await;
    let archive = "backup-nfs:backup/vzdump-qemu-100-2026_11_20-02_00_01.vma.zst";
    let args = json!({"archive": archive, "vmid": 100, "force": true});
    let (outcome, asked) =
        elicit(&sim, ElicitationAction::Decline, &Launch::default(), "pve_restore_backup", args).await;
    assert!(outcome.contains("did not approve"), "{outcome}");
    assert_eq!(asked.len(), 1, "{asked:?}");
    let q = &asked[0];
    assert!(q.contains("restore a VM on pve1") && q.contains("VM 100 \"web-01\""), "{q}");
    assert!(q.contains(&format!("archive={archive}")) && q.contains("force=true"), "{q}");
    assert!(writes(&sim).is_empty());
}

#[tokio::test]
async fn elicitation_asks_the_user_and_only_accept_sends_the_write() {
    let sim = support::sim().await;
    let (outcome, asked) = elicit_once(&sim, ElicitationAction::Decline, 100).await;
    assert!(outcome.contains("the user did not approve: would stop VM 100"), "{outcome}");
    assert_eq!(asked.len(), 1);
    assert!(asked[0].contains("would stop VM 100 \"web-01\" on pve1"), "{asked:?}");
    let (outcome, _) = elicit_once(&sim, ElicitationAction::Cancel, 100).await;
    assert!(outcome.contains("did not approve"), "{outcome}");
    assert!(writes(&sim).is_empty(), "declined or cancelled, yet sent: {:?}", writes(&sim));
    let (outcome, asked) = elicit_once(&sim, ElicitationAction::Accept, 100).await;
    assert_eq!(outcome, "ok");
    assert_eq!(asked.len(), 1);
    assert_eq!(writes(&sim).len(), 1);
    assert_eq!(sim.world().lock().guests[&100].status, "stopped");
}
