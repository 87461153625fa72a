//! No secret leaks: with the most verbose logging, every credential kind
//! (Proxmox token, password login, bearer token, a guest password passed as
//! a tool argument) is used, failures are provoked, and every result, log
//! line and audit line is searched for the secret values.
//!
//! Every other end-to-end test runs the same search on its own results and
//! server logs through `Session` (see `support::SECRETS`).

use serde_json::json;

use crate::http::HttpProxmcp;
use crate::support::{self, GUEST_PASSWORD, Launch, Session, assert_no_secrets, text};

fn audit_config() -> String {
    "[plugins]\nbuiltin = [\"inventory\", \"provisioning\", \"raw-api\"]\n[audit]\nfile = \"audit.jsonl\"\n".into()
}

#[tokio::test]
async fn no_secret_reaches_any_output_log_or_audit_line() {
    let sim = support::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let config = audit_config().replace("audit.jsonl", &audit.display().to_string());
    for auth in [
        vec![],
        // Password login instead of the token: tickets and CSRF tokens.
        vec![
            ("PVE_API_TOKEN_ID".to_string(), String::new()),
            ("PVE_API_TOKEN_SECRET".to_string(), String::new()),
            ("PVE_USERNAME".to_string(), "root@pam".to_string()),
            ("PVE_PASSWORD".to_string(), support::PASSWORD.to_string()),
        ],
    ] {
        let mut env = auth;
        env.push(("PROXMCP_LOG".into(), "trace".into()));
        let launch = Launch { config: Some(config.clone()), env, ..Launch::default() };
        let session = Session::start(&sim.base_url(), launch).await;
        let set = json!({"vmid": 100, "set": {"cipassword": GUEST_PASSWORD, "ciuser": "ops"}});
        let mut dry = set.clone();
        dry["dry_run"] = json!(true);
        let r = session.call("pve_set_vm_config", dry).await;
        assert!(text(&r).contains("dry run"), "{}", text(&r));
        let mut real = set.clone();
        real["confirm"] = json!(true);
        let r = session.call("pve_set_vm_config", real).await;
        assert_eq!(r.is_error, Some(false), "{}", text(&r));
        let r = session.call("pve_get_vm_config", json!({"vmid": 100})).await;
        assert_eq!(r.is_error, Some(false), "{}", text(&r));
        let r = session
            .call(
                "pve_api_request",
                json!({"method": "PUT", "path": "/nodes/pve1/qemu/100/config", "params": {"cipassword": GUEST_PASSWORD}, "confirm": true}),
            )
            .await;
        assert_eq!(r.is_error, Some(false), "{}", text(&r));
        let r = session.call("pve_api_request", json!({"method": "GET", "path": "/nodes/pve1/qemu/100/config"})).await;
        assert_eq!(r.is_error, Some(false), "{}", text(&r));
        session.call("pve_list_vms", json!({})).await;
        session.call("pve_get_vm_status", json!({"vmid": 999})).await;
        session.finish().await;
    }
    // The simulator really holds the password (pending until VM 100, which
    // runs, restarts): the check above is not vacuous.
    {
        let c = sim.world().lock();
        let g = &c.guests[&100];
        assert_eq!(
            g.config.get("cipassword").or(g.pending.get("cipassword")).map(String::as_str),
            Some(GUEST_PASSWORD)
        );
    }

    // A wrong Proxmox secret: the 401 is explained without echoing it.
    let launch = Launch {
        env: vec![
            ("PVE_API_TOKEN_SECRET".into(), support::READONLY_TOKEN_SECRET.into()),
            ("PROXMCP_LOG".into(), "trace".into()),
        ],
        config: Some(config.clone()),
        ..Launch::default()
    };
    let session = Session::start(&sim.base_url(), launch).await;
    let r = session.call("pve_list_vms", json!({})).await;
    assert_eq!(r.is_error, Some(true));
    session.finish().await;

    // HTTP with a bearer token.
    let http_config = format!(
        "{config}[[rbac.tokens]]\nprincipal = \"ops\"\nrole = \"admin\"\nsha256 = \"{}\"\n",
        proxmcp::gate::access::hash_token(support::BEARER_TOKEN)
    );
    let launch =
        Launch { config: Some(http_config), env: vec![("PROXMCP_LOG".into(), "trace".into())], ..Launch::default() };
    let server = HttpProxmcp::start(&sim.base_url(), "streamable-http", launch).await;
    let client = server.client(Some(support::BEARER_TOKEN)).await;
    let params = rmcp::model::CallToolRequestParams::new("pve_set_vm_config").with_arguments(
        json!({"vmid": 101, "set": {"cipassword": GUEST_PASSWORD}, "confirm": true}).as_object().unwrap().clone(),
    );
    let r = client.call_tool(params).await.unwrap();
    assert_no_secrets("an HTTP tool result", &serde_json::to_string(&r).unwrap());
    let _ = client.cancel().await;
    server.terminate().await;

    let lines = std::fs::read_to_string(&audit).unwrap();
    assert!(lines.lines().count() >= 15, "every call is audited:\n{lines}");
    assert!(lines.contains("[redacted]"));
    assert_no_secrets("the audit log", &lines);
}
