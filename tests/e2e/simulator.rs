//! The embedded simulator over real HTTP: state transitions, locks held by
//! running tasks, PVE-style auth and errors, and answers checked against
//! the official schema with validate.py.

use std::time::Duration;

use proxmcp::secret::Secret;
use proxmcp::sim::{SimOptions, SimToken, Simulator};
use serde_json::{Value, json};

use crate::support::{self, READONLY_TOKEN_ID, READONLY_TOKEN_SECRET, TOKEN_ID, TOKEN_SECRET};

struct Api {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl Api {
    fn new(sim: &Simulator, id: &str, secret: &str) -> Api {
        proxmcp::pve::install_crypto_provider();
        Api {
            http: reqwest::Client::new(),
            base: format!("{}/api2/json", sim.base_url()),
            auth: format!("PVEAPIToken={id}={secret}"),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let req = self.http.request(method.clone(), url).header("Authorization", &self.auth);
        let req = if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
            req.query(form)
        } else {
            req.form(form)
        };
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, &[]).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body["data"].clone()
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, form).await
    }

    /// Waits until the task has stopped and returns its status.
    async fn wait(&self, node: &str, upid: &str) -> Value {
        for _ in 0..200 {
            let s = self.get(&format!("/nodes/{node}/tasks/{}/status", urlencode(upid))).await;
            if s["status"] == "stopped" {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("task {upid} did not finish");
    }
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn message(body: &Value) -> String {
    body["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn start_snapshot_delete_change_state() {
    let sim = support::sim().await;
    let api = Api::new(&sim, TOKEN_ID, TOKEN_SECRET);

    // start -> running
    let (status, body) = api.post("/nodes/pve2/qemu/103/status/start", &[]).await;
    assert_eq!(status, 200, "{body}");
    let upid = body["data"].as_str().unwrap().to_string();
    assert!(upid.starts_with("UPID:pve2:") && upid.contains(":qmstart:103:root@pam:"), "{upid}");
    assert_eq!(api.wait("pve2", &upid).await["exitstatus"], "OK");
    assert_eq!(api.get("/nodes/pve2/qemu/103/status/current").await["status"], "running");

    // snapshot -> listed, with the previous head as parent
    let (status, body) =
        api.post("/nodes/pve1/qemu/100/snapshot", &[("snapname", "before-change"), ("description", "x")]).await;
    assert_eq!(status, 200, "{body}");
    let snaps = api.get("/nodes/pve1/qemu/100/snapshot").await;
    let names: Vec<&str> = snaps.as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["pre-upgrade", "after-upgrade", "before-change", "current"]);
    assert_eq!(snaps[2]["parent"], "after-upgrade");
    assert_eq!(snaps[3]["parent"], "before-change");

    // delete snapshot -> gone
    let (status, _) = api.send(reqwest::Method::DELETE, "/nodes/pve1/qemu/100/snapshot/before-change", &[]).await;
    assert_eq!(status, 200);
    let snaps = api.get("/nodes/pve1/qemu/100/snapshot").await;
    assert!(snaps.as_array().unwrap().iter().all(|s| s["name"] != "before-change"));

    // stop then delete guest -> gone from resources and storage
    let (status, _) = api.post("/nodes/pve2/lxc/202/status/start", &[]).await;
    assert_eq!(status, 200);
    let (status, _) = api.post("/nodes/pve2/lxc/202/status/stop", &[]).await;
    assert_eq!(status, 200);
    let (status, body) = api.send(reqwest::Method::DELETE, "/nodes/pve2/lxc/202", &[("purge", "1")]).await;
    assert_eq!(status, 200, "{body}");
    let resources = api.get("/cluster/resources?type=vm").await;
    assert!(resources.as_array().unwrap().iter().all(|r| r["vmid"] != 202));
    let content = api.get("/nodes/pve2/storage/local-lvm/content").await;
    assert!(content.as_array().unwrap().iter().all(|v| v["vmid"] != 202));

    // backup -> a new archive with its notes
    let (status, body) =
        api.post("/nodes/pve1/vzdump", &[("vmid", "200"), ("storage", "backup-nfs"), ("notes-template", "e2e")]).await;
    assert_eq!(status, 200, "{body}");
    let backups = api.get("/nodes/pve1/storage/backup-nfs/content?content=backup&vmid=200").await;
    assert_eq!(backups.as_array().unwrap().len(), 2);
    assert!(backups.as_array().unwrap().iter().any(|b| b["notes"] == "e2e"));

    // clone -> next id taken, new guest stopped on the target node
    let next = api.get("/cluster/nextid").await;
    assert_eq!(next, "106");
    let (status, body) =
        api.post("/nodes/pve2/qemu/9000/clone", &[("newid", "106"), ("name", "from-template"), ("full", "1")]).await;
    assert_eq!(status, 200, "{body}");
    let s = api.get("/nodes/pve2/qemu/106/status/current").await;
    assert_eq!((s["name"].as_str(), s["status"].as_str()), (Some("from-template"), Some("stopped")));
    assert_eq!(api.get("/cluster/nextid").await, "107");
}

#[tokio::test]
async fn a_running_task_holds_the_guest_lock_and_logs_progress() {
    let mut options = SimOptions::demo();
    options.time_scale = 0.02;
    options.tokens = vec![SimToken { id: TOKEN_ID.into(), secret: Secret::new(TOKEN_SECRET), read_only: false }];
    let sim = Simulator::start(([127, 0, 0, 1], 0).into(), false, options).await.unwrap();
    let api = Api::new(&sim, TOKEN_ID, TOKEN_SECRET);

    let (status, body) = api.post("/nodes/pve1/vzdump", &[("vmid", "102"), ("storage", "backup-nfs")]).await;
    assert_eq!(status, 200, "{body}");
    let upid = body["data"].as_str().unwrap().to_string();
    let running = api.get(&format!("/nodes/pve1/tasks/{}/status", urlencode(&upid))).await;
    assert_eq!(running["status"], "running");
    assert_eq!(api.get("/nodes/pve1/qemu/102/status/current").await["lock"], "backup");
    let (status, body) = api.post("/nodes/pve1/qemu/102/status/shutdown", &[]).await;
    assert_eq!((status, message(&body).trim()), (500, "VM 102 is locked (backup)"));

    let done = api.wait("pve1", &upid).await;
    assert_eq!(done["exitstatus"], "OK");
    assert!(api.get("/nodes/pve1/qemu/102/status/current").await.get("lock").is_none());
    let (status, log) =
        api.send(reqwest::Method::GET, &format!("/nodes/pve1/tasks/{}/log", urlencode(&upid)), &[]).await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = log["data"].as_array().unwrap().iter().filter_map(|l| l["t"].as_str()).collect();
    assert!(lines.iter().any(|l| l.contains("50% (")), "{lines:?}");
    assert_eq!(lines.last(), Some(&"TASK OK"));
    assert_eq!(log["total"], lines.len());
}

/// (path, form, expected status, expected message).
type Case = (&'static str, &'static [(&'static str, &'static str)], u16, &'static str);

#[tokio::test]
async fn impossible_operations_fail_with_pve_messages() {
    let sim = support::sim().await;
    let api = Api::new(&sim, TOKEN_ID, TOKEN_SECRET);
    let cases: &[Case] = &[
        ("/nodes/pve1/qemu/100/status/start", &[], 500, "VM 100 already running"),
        ("/nodes/pve2/qemu/103/status/stop", &[], 500, "VM 103 not running"),
        ("/nodes/pve1/lxc/200/status/start", &[], 500, "CT 200 already running"),
        (
            "/nodes/pve1/qemu/100/snapshot",
            &[("snapname", "pre-upgrade")],
            500,
            "snapshot name 'pre-upgrade' already used",
        ),
        (
            "/nodes/pve2/qemu/9000/clone",
            &[("newid", "100")],
            500,
            "unable to create VM 100: config file already exists",
        ),
        (
            "/nodes/pve2/qemu/100/status/start",
            &[],
            500,
            "Configuration file 'nodes/pve2/qemu-server/100.conf' does not exist",
        ),
        ("/nodes/pve3/qemu/105/status/start", &[], 595, "No route to host"),
    ];
    for (path, form, status, expected) in cases {
        let (got, body) = api.post(path, form).await;
        assert_eq!((got, message(&body).trim().to_string()), (*status, expected.to_string()), "{path}");
    }
    let (status, body) = api.send(reqwest::Method::DELETE, "/nodes/pve1/qemu/100", &[]).await;
    assert_eq!((status, message(&body).trim()), (500, "VM 100 is running - destroy failed"));
}

#[tokio::test]
async fn parameters_are_verified_as_pve_does() {
    let sim = support::sim().await;
    let api = Api::new(&sim, TOKEN_ID, TOKEN_SECRET);
    let (status, body) = api.post("/nodes/pve1/qemu/100/snapshot", &[("vmstate", "yes"), ("colour", "red")]).await;
    assert_eq!(status, 400);
    assert_eq!(message(&body).trim(), "Parameter verification failed.");
    assert_eq!(body["errors"]["vmstate"], "type check ('boolean') failed - got 'yes'");
    assert_eq!(body["errors"]["snapname"], "property is missing and it is not optional");
    assert!(body["errors"]["colour"].as_str().unwrap().contains("not defined in schema"));
    let (status, body) = api.send(reqwest::Method::PUT, "/nodes/pve1/qemu/100/config", &[("name", "bad name!")]).await;
    assert_eq!(status, 400);
    assert!(body["errors"]["name"].as_str().unwrap().contains("DNS name"), "{body}");
    let (status, body) = api.send(reqwest::Method::GET, "/cluster/resources", &[("type", "vms")]).await;
    assert_eq!(status, 400);
    assert!(body["errors"]["type"].as_str().unwrap().contains("enumeration"));
    let (status, body) = api.send(reqwest::Method::PUT, "/version", &[]).await;
    assert_eq!((status, message(&body).trim()), (501, "Method 'PUT /version' not implemented"));
}

#[tokio::test]
async fn auth_follows_pve_tokens_tickets_and_csrf() {
    let sim = support::sim().await;
    let http = reqwest::Client::new();
    let base = format!("{}/api2/json", sim.base_url());

    let r = http.get(format!("{base}/version")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let bad = Api::new(&sim, TOKEN_ID, "wrong");
    assert_eq!(bad.send(reqwest::Method::GET, "/version", &[]).await.0, 401);

    // A read-only token reads, and gets 403 naming the privilege on writes.
    let auditor = Api::new(&sim, READONLY_TOKEN_ID, READONLY_TOKEN_SECRET);
    assert_eq!(auditor.get("/version").await["version"], "9.1.2");
    let (status, body) = auditor.post("/nodes/pve1/qemu/100/status/stop", &[]).await;
    assert_eq!((status, message(&body).trim()), (403, "Permission check failed (/vms/100, VM.PowerMgmt)"));

    // Ticket login; writes need the CSRF token.
    let login: Value = http
        .post(format!("{base}/access/ticket"))
        .form(&[("username", "root@pam"), ("password", support::PASSWORD)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ticket = login["data"]["ticket"].as_str().unwrap().to_string();
    let csrf = login["data"]["CSRFPreventionToken"].as_str().unwrap().to_string();
    let cookie = format!("PVEAuthCookie={}", urlencode(&ticket));
    let r = http.get(format!("{base}/nodes")).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r =
        http.post(format!("{base}/nodes/pve2/qemu/103/status/start")).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .post(format!("{base}/nodes/pve2/qemu/103/status/start"))
        .header("Cookie", &cookie)
        .header("CSRFPreventionToken", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let wrong = http
        .post(format!("{base}/access/ticket"))
        .form(&[("username", "root@pam"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
}

/// Every read endpoint the simulator serves answers with a body that
/// validate.py accepts against the official schema; every request sent
/// along the way passes the request checker too.
#[tokio::test]
async fn answers_and_requests_match_the_official_schema() {
    let sim = support::sim().await;
    let api = Api::new(&sim, TOKEN_ID, TOKEN_SECRET);
    let (_, body) = api.post("/nodes/pve1/qemu/100/snapshot", &[("snapname", "schema"), ("vmstate", "1")]).await;
    let upid = body["data"].as_str().unwrap().to_string();
    let (_, body) = api.post("/nodes/pve1/qemu/100/agent/exec", &[("command", "hostname")]).await;
    let pid = body["data"]["pid"].as_u64().unwrap_or_else(|| panic!("no pid: {body}"));
    api.post("/cluster/ha/resources", &[("sid", "vm:100"), ("state", "started"), ("max_restart", "2")]).await;
    api.post("/cluster/replication", &[("id", "100-0"), ("type", "local"), ("target", "pve2")]).await;
    api.post(
        "/cluster/ha/rules",
        &[("rule", "keep-100"), ("type", "node-affinity"), ("resources", "vm:100"), ("nodes", "pve1")],
    )
    .await;
    api.post("/nodes/pve1/replication/100-0/schedule_now", &[]).await;
    let paths = [
        "/version".to_string(),
        "/cluster/status".into(),
        "/cluster/resources".into(),
        "/cluster/nextid".into(),
        "/cluster/tasks".into(),
        "/nodes".into(),
        "/nodes/pve1/status".into(),
        "/nodes/pve1/qemu".into(),
        "/nodes/pve1/lxc".into(),
        "/nodes/pve1/qemu/100/status/current".into(),
        "/nodes/pve1/lxc/200/status/current".into(),
        "/nodes/pve1/qemu/100/config".into(),
        "/nodes/pve1/lxc/200/config".into(),
        "/nodes/pve1/qemu/102/pending".into(),
        "/nodes/pve1/qemu/100/snapshot".into(),
        "/nodes/pve1/tasks".into(),
        format!("/nodes/pve1/tasks/{}/status", urlencode(&upid)),
        format!("/nodes/pve1/tasks/{}/log", urlencode(&upid)),
        "/storage".into(),
        "/nodes/pve1/storage".into(),
        "/nodes/pve1/storage/local/content".into(),
        "/pools".into(),
        "/nodes/pve1/rrddata?timeframe=hour".into(),
        "/nodes/pve1/qemu/100/rrddata?timeframe=day&cf=MAX".into(),
        "/nodes/pve1/lxc/200/rrddata?timeframe=week".into(),
        "/nodes/pve1/qemu/100/migrate".into(),
        "/nodes/pve2/lxc/201/snapshot".into(),
        "/nodes/pve2/lxc/201/pending".into(),
        format!("/nodes/pve1/qemu/100/agent/exec-status?pid={pid}"),
        "/cluster/backup".into(),
        "/cluster/backup/backup-daily".into(),
        "/cluster/ha/resources".into(),
        "/cluster/ha/resources/vm:100".into(),
        "/cluster/replication".into(),
        "/cluster/replication/100-0".into(),
        "/cluster/firewall/rules".into(),
        "/cluster/firewall/rules/0".into(),
        "/cluster/firewall/options".into(),
        "/cluster/firewall/aliases".into(),
        "/cluster/firewall/ipset".into(),
        "/cluster/firewall/ipset/management".into(),
        "/cluster/firewall/groups".into(),
        "/cluster/firewall/groups/webserver".into(),
        "/nodes/pve1/firewall/options".into(),
        "/nodes/pve1/firewall/log".into(),
        "/nodes/pve1/qemu/100/firewall/options".into(),
        "/nodes/pve1/qemu/100/firewall/log?limit=10".into(),
        "/nodes/pve2/qemu/101/firewall/rules".into(),
        "/cluster/ha/status/current".into(),
        "/cluster/ha/rules".into(),
        "/nodes/pve1/replication".into(),
        "/nodes/pve1/replication/100-0/status".into(),
        "/access/permissions".into(),
        "/access/roles".into(),
        "/access/acl".into(),
        "/access/users?full=1".into(),
        "/access/groups".into(),
        "/nodes/pve1/time".into(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut index = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let data = api.get(path).await;
        let file = dir.path().join(format!("{i}.json"));
        std::fs::write(&file, json!({"data": data}).to_string()).unwrap();
        let bare = path.split('?').next().unwrap_or(path);
        let schema_path = percent_encoding::percent_decode_str(bare).decode_utf8_lossy().into_owned();
        index.push(json!({"file": file, "method": "GET", "path": schema_path}));
    }
    let index_file = dir.path().join("index.json");
    std::fs::write(&index_file, json!(index).to_string()).unwrap();
    if let Some(validator) = support::validator() {
        let out =
            std::process::Command::new("python3").arg(&validator).arg("--responses").arg(&index_file).output().unwrap();
        let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "validate.py --responses found problems:\n{report}");
    }
    support::validate_requests(&support::sim_request_log(&sim));
}

#[tokio::test]
async fn pending_changes_apply_at_the_next_start_clones_get_fresh_macs_and_8g_is_refused() {
    let sim = support::sim().await;
    let s = support::Session::start(&sim.base_url(), support::Launch::default()).await;
    // A running VM: the change waits in pending, as on PVE.
    s.ok("pve_set_vm_config", json!({"vmid": 100, "set": {"memory": 8192}, "confirm": true})).await;
    assert_eq!(sim.world().lock().guests[&100].memory_mib, 4096, "unchanged while running");
    assert_eq!(sim.world().lock().guests[&100].pending["memory"], "8192");
    s.ok("pve_stop_vm", json!({"vmid": 100, "confirm": true})).await;
    s.ok("pve_start_vm", json!({"vmid": 100, "confirm": true})).await;
    let g = sim.world().lock().guests[&100].clone();
    assert_eq!(g.memory_mib, 8192, "the restart applied the pending change");
    assert!(g.pending.is_empty());
    let status = s.ok("pve_get_vm_status", json!({"vmid": 100})).await;
    assert_eq!(status["maxmem"], 8192u64 << 20, "{status}");
    // A reboot applies pending changes too.
    s.ok("pve_set_vm_config", json!({"vmid": 100, "set": {"cores": 6}, "confirm": true})).await;
    s.ok("pve_reboot_vm", json!({"vmid": 100, "confirm": true})).await;
    assert_eq!(sim.world().lock().guests[&100].cores, 6);
    // PVE takes memory in MiB only.
    s.err("pve_set_vm_config", json!({"vmid": 100, "set": {"memory": "8G"}, "confirm": true}), "8G").await;
    s.err("pve_set_vm_config", json!({"vmid": 103, "set": {"memory": "8G"}, "confirm": true}), "8G").await;
    // A clone has MAC addresses of its own.
    s.ok("pve_clone_vm", json!({"vmid": 102, "newid": 160, "full": true, "confirm": true})).await;
    let net0 = |vmid: u32| -> String { sim.world().lock().guests[&vmid].config["net0"].clone() };
    let (src, copy) = (net0(102), net0(160));
    s.finish().await;
    let mac = |net: &str| -> String { net.split(',').next().unwrap().split_once('=').unwrap().1.to_string() };
    assert_ne!(mac(&src), mac(&copy), "{src} / {copy}");
    assert!(mac(&copy).starts_with("BC:24:11:") && copy.ends_with(",bridge=vmbr0,firewall=1"), "{copy}");
}

#[tokio::test]
async fn config_collections_create_read_update_and_delete_as_pve_does() {
    let sim = support::sim().await;
    let api = Api::new(&sim, TOKEN_ID, TOKEN_SECRET);
    // HA resources: an id that names no guest, a duplicate, digests.
    let (status, body) = api.post("/cluster/ha/resources", &[("sid", "vm:4242")]).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(api.post("/cluster/ha/resources", &[("sid", "ct:200"), ("state", "started")]).await.0, 200);
    let (status, body) = api.post("/cluster/ha/resources", &[("sid", "ct:200")]).await;
    assert!(status == 500 && body["message"].as_str().unwrap().contains("already exists"), "{body}");
    let (_, item) = api.send(reqwest::Method::GET, "/cluster/ha/resources/ct:200", &[]).await;
    assert_eq!(item["data"]["state"], "started");
    let digest = item["data"]["digest"].as_str().unwrap().to_string();
    assert_eq!(
        api.send(reqwest::Method::PUT, "/cluster/ha/resources/ct:200", &[("state", "stopped"), ("digest", &digest)])
            .await
            .0,
        200
    );
    let (status, body) =
        api.send(reqwest::Method::PUT, "/cluster/ha/resources/ct:200", &[("comment", "x"), ("digest", &digest)]).await;
    assert!(status == 500 && body["message"].as_str().unwrap().contains("file changed by other user"), "{body}");
    let (status, body) = api.send(reqwest::Method::PUT, "/cluster/ha/resources/ct:200", &[("bogus", "1")]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(api.send(reqwest::Method::DELETE, "/cluster/ha/resources/ct:200", &[]).await.0, 200);
    let (status, body) = api.send(reqwest::Method::GET, "/cluster/ha/resources/ct:200", &[]).await;
    assert!(status == 500 && body["message"].as_str().unwrap().contains("does not exist"), "{body}");
    // Backup jobs: the seeded nightly job, a generated id, `delete`.
    let (_, list) = api.send(reqwest::Method::GET, "/cluster/backup", &[]).await;
    assert_eq!(list["data"][0]["id"], "backup-daily", "{list}");
    assert_eq!(list["data"][0]["all"], 1);
    assert_eq!(
        api.post("/cluster/backup", &[("vmid", "101"), ("schedule", "sun 03:00"), ("storage", "backup-nfs")]).await.0,
        200
    );
    let (_, list) = api.send(reqwest::Method::GET, "/cluster/backup", &[]).await;
    let made = list["data"].as_array().unwrap().iter().find(|j| j["vmid"] == "101").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(made.starts_with("backup-"), "{made}");
    let path = format!("/cluster/backup/{made}");
    assert_eq!(api.send(reqwest::Method::PUT, &path, &[("enabled", "0"), ("delete", "schedule")]).await.0, 200);
    let (_, job) = api.send(reqwest::Method::GET, &path, &[]).await;
    assert_eq!((job["data"]["enabled"].clone(), job["data"].get("schedule")), (json!(0), None), "{job}");
    // Replication ids name a guest.
    let (status, _) = api.post("/cluster/replication", &[("id", "nope"), ("type", "local"), ("target", "pve2")]).await;
    assert_eq!(status, 400);
    // The two requests made wrong on purpose aside, every request is PVE's.
    let log: String = support::sim_request_log(&sim)
        .lines()
        .filter(|l| !l.contains("bogus") && !l.contains("\"nope\""))
        .map(|l| format!("{l}\n"))
        .collect();
    support::validate_requests(&log);
}
