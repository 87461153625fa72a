//! The Proxmox client against real HTTP: wiremock for each fault, the
//! simulator over HTTPS for certificate trust, tickets and tasks. Every
//! request sent is checked with validate.py.

use std::time::Duration;

use proxmcp::pve::auth::ManualClock;
use proxmcp::pve::{ApiError, Auth, GuestKind, Method, PveClient, PveConfig, TaskOutcome, TlsMode};
use proxmcp::secret::Secret;
use proxmcp::sim::{SimOptions, SimToken, SimUser, Simulator};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{self, PASSWORD, TOKEN_ID, TOKEN_SECRET};

const STATUS: &[&str] = &["nodes", "pve1", "qemu", "100", "status", "current"];
const STATUS_PATH: &str = "/api2/json/nodes/pve1/qemu/100/status/current";
const STOP: &[&str] = &["nodes", "pve1", "qemu", "100", "status", "stop"];
const STOP_PATH: &str = "/api2/json/nodes/pve1/qemu/100/status/stop";

fn token() -> Auth {
    Auth::ApiToken { id: TOKEN_ID.into(), secret: Secret::new(TOKEN_SECRET) }
}

fn client(uri: &str, auth: Auth) -> PveClient {
    let mut config = PveConfig::new(uri, auth);
    config.allow_insecure_http = true;
    config.timeout = Duration::from_secs(2);
    PveClient::new(config).expect("client")
}

/// The requests a wiremock server received, checked with validate.py.
async fn validate_mock_log(server: &MockServer) {
    let mut jsonl = String::new();
    for req in server.received_requests().await.unwrap_or_default() {
        let mut params = serde_json::Map::new();
        for (k, v) in req.url.query_pairs().chain(url::form_urlencoded::parse(&req.body)) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
        jsonl.push_str(&json!({"method": req.method.as_str(), "path": req.url.path(), "params": params}).to_string());
        jsonl.push('\n');
    }
    support::validate_requests(&jsonl);
}

async fn mock(server: &MockServer, m: &str, p: &str, response: ResponseTemplate) {
    Mock::given(method(m)).and(path(p)).respond_with(response).mount(server).await;
}

fn pve_error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"data": null, "message": format!("{message}\n")}))
}

/// (HTTP status, body, expected kind, a phrase the message must contain).
type StatusCase = (u16, Value, fn(&ApiError) -> bool, &'static str);

#[tokio::test]
async fn each_error_status_becomes_a_typed_error_with_a_next_step() {
    let cases: Vec<StatusCase> = vec![
        (
            400,
            json!({"data": null, "errors": {"memory": "value must have a minimum value of 16"}, "message": "Parameter verification failed.\n"}),
            |e| matches!(e, ApiError::BadRequest { fields, .. } if fields[0].field == "memory"),
            "memory: value must have a minimum value of 16",
        ),
        (401, json!({"data": null}), |e| matches!(e, ApiError::Unauthorized(_)), "PVE_API_TOKEN_SECRET"),
        (
            403,
            json!({"data": null, "message": "Permission check failed (/vms/100, VM.Audit)\n"}),
            |e| matches!(e, ApiError::Forbidden(_)),
            "VM.Audit on /vms/100",
        ),
        (404, json!({"data": null}), |e| matches!(e, ApiError::NotFound(_)), "not found"),
        (409, json!({"data": null, "message": "resource busy"}), |e| matches!(e, ApiError::Conflict(_)), "retry"),
        (
            500,
            json!({"data": null, "message": "VM 100 is locked (backup)\n"}),
            |e| matches!(e, ApiError::Conflict(_)),
            "locked (backup)",
        ),
        (
            500,
            json!({"data": null, "message": "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist\n"}),
            |e| matches!(e, ApiError::NotFound(_)),
            "does not exist",
        ),
        (
            595,
            json!({"data": null, "message": "No route to host"}),
            |e| matches!(e, ApiError::NodeUnreachable(_)),
            "offline",
        ),
        (
            596,
            json!({"data": null, "message": "Connection timed out"}),
            |e| matches!(e, ApiError::NodeUnreachable(_)),
            "unreachable",
        ),
        (
            501,
            json!({"data": null, "message": "Method not implemented"}),
            |e| matches!(e, ApiError::Upstream { status: 501, .. }),
            "501",
        ),
    ];
    for (status, body, is_kind, hint) in cases {
        let server = MockServer::start().await;
        mock(&server, "GET", STATUS_PATH, ResponseTemplate::new(status).set_body_json(body)).await;
        let err = client(&server.uri(), token()).request(Method::Get, STATUS, &Value::Null).await.unwrap_err();
        assert!(is_kind(&err), "HTTP {status} gave {err:?}");
        assert!(err.to_string().contains(hint), "HTTP {status}: {err}");
        assert!(!err.to_string().contains(TOKEN_SECRET));
        validate_mock_log(&server).await;
    }
}

#[tokio::test]
async fn reads_are_retried_after_502_503_504_but_writes_never() {
    let server = MockServer::start().await;
    for status in [502u16, 503, 504] {
        Mock::given(method("GET"))
            .and(path(STATUS_PATH))
            .respond_with(pve_error(status, "proxy error"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
    }
    mock(&server, "GET", STATUS_PATH, ResponseTemplate::new(200).set_body_json(json!({"data": {"status": "running"}})))
        .await;
    let mut config = PveConfig::new(server.uri(), token());
    config.allow_insecure_http = true;
    config.retries = 3;
    let c = PveClient::new(config).unwrap();
    let data = c.request(Method::Get, STATUS, &Value::Null).await.unwrap();
    assert_eq!(data["status"], "running");
    assert_eq!(server.received_requests().await.unwrap().len(), 4);

    let writes = MockServer::start().await;
    mock(&writes, "POST", STOP_PATH, pve_error(503, "service unavailable")).await;
    let err = client(&writes.uri(), token()).request(Method::Post, STOP, &json!({})).await.unwrap_err();
    assert!(matches!(err, ApiError::Upstream { status: 503, .. }), "{err:?}");
    assert_eq!(writes.received_requests().await.unwrap().len(), 1, "a write was replayed");
    validate_mock_log(&server).await;
    validate_mock_log(&writes).await;
}

#[tokio::test]
async fn a_reset_connection_is_retried_for_reads() {
    // A server that drops the first two connections without answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut n = 0;
        while let Ok((mut stream, _)) = listener.accept().await {
            n += 1;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            if n <= 2 {
                drop(stream);
                continue;
            }
            let body = r#"{"data":{"version":"9.1.2","release":"9.1","repoid":"abc"}}"#;
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(resp.as_bytes()).await;
        }
    });
    let c = client(&format!("http://{addr}"), token());
    let v = c.request(Method::Get, &["version"], &Value::Null).await.unwrap();
    assert_eq!(v["version"], "9.1.2");
}

#[tokio::test]
async fn slow_malformed_html_and_oversized_answers_are_reported() {
    let server = MockServer::start().await;
    mock(
        &server,
        "GET",
        STATUS_PATH,
        ResponseTemplate::new(200).set_delay(Duration::from_secs(5)).set_body_json(json!({"data": {}})),
    )
    .await;
    mock(&server, "POST", STOP_PATH, ResponseTemplate::new(200).set_delay(Duration::from_secs(5))).await;
    mock(&server, "GET", "/api2/json/version", ResponseTemplate::new(200).set_body_string("{not json")).await;
    mock(
        &server,
        "GET",
        "/api2/json/nodes",
        ResponseTemplate::new(502).set_body_string("<html><body>Bad Gateway</body></html>"),
    )
    .await;
    let huge = format!("{{\"data\":\"{}\"}}", "x".repeat(33 << 20));
    mock(&server, "GET", "/api2/json/cluster/resources", ResponseTemplate::new(200).set_body_string(huge)).await;
    let mut config = PveConfig::new(server.uri(), token());
    config.allow_insecure_http = true;
    config.timeout = Duration::from_secs(1);
    config.retries = 0;
    let c = PveClient::new(config).unwrap();

    let err = c.request(Method::Get, STATUS, &Value::Null).await.unwrap_err();
    assert!(matches!(&err, ApiError::Timeout(m) if m.contains("PVE_TIMEOUT")), "{err:?}");
    let err = c.request(Method::Post, STOP, &json!({})).await.unwrap_err();
    assert!(matches!(&err, ApiError::Timeout(m) if m.contains("may or may not have been applied")), "{err:?}");
    let err = c.request(Method::Get, &["version"], &Value::Null).await.unwrap_err();
    assert!(err.to_string().contains("not PVE's JSON"), "{err}");
    let err = c.request(Method::Get, &["nodes"], &Value::Null).await.unwrap_err();
    assert!(matches!(err, ApiError::Upstream { status: 502, .. }), "{err:?}");
    let err = c.request(Method::Get, &["cluster", "resources"], &Value::Null).await.unwrap_err();
    assert!(err.to_string().contains("larger than 32 MiB"), "{err}");
    validate_mock_log(&server).await;
}

async fn https_sim() -> Simulator {
    let mut options = SimOptions::demo();
    options.time_scale = 0.0;
    options.tokens = vec![SimToken { id: TOKEN_ID.into(), secret: Secret::new(TOKEN_SECRET), read_only: false }];
    Simulator::start(([127, 0, 0, 1], 0).into(), true, options).await.unwrap()
}

fn tls_client(sim: &Simulator, tls: TlsMode) -> PveClient {
    let mut config = PveConfig::new(sim.base_url(), token());
    config.tls = tls;
    PveClient::new(config).unwrap()
}

#[tokio::test]
async fn self_signed_nodes_are_trusted_by_ca_file_or_fingerprint_only() {
    let sim = https_sim().await;

    let err = tls_client(&sim, TlsMode::System).request(Method::Get, &["version"], &Value::Null).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("PVE_FINGERPRINT") && msg.contains("PVE_CA_FILE"), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("pve-root-ca.pem");
    std::fs::write(&ca, sim.cert_pem().unwrap()).unwrap();
    let v = tls_client(&sim, TlsMode::CaFile(ca)).request(Method::Get, &["version"], &Value::Null).await.unwrap();
    assert_eq!(v["version"], "9.1.2");

    let pin = proxmcp::pve::tls::parse_fingerprint(sim.fingerprint().unwrap()).unwrap();
    let v = tls_client(&sim, TlsMode::Fingerprint(pin)).request(Method::Get, &["version"], &Value::Null).await.unwrap();
    assert_eq!(v["version"], "9.1.2");

    let err = tls_client(&sim, TlsMode::Fingerprint(vec![0x42; 32]))
        .request(Method::Get, &["version"], &Value::Null)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("fingerprint mismatch") && msg.contains(sim.fingerprint().unwrap()), "{msg}");

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let mut config = PveConfig::new(sim.base_url(), token());
    config.tls = TlsMode::CaFile(empty);
    assert!(PveClient::new(config).unwrap_err().to_string().contains("holds no certificate"));
    support::validate_requests(&support::sim_request_log(&sim));
}

async fn password_sim(time_scale: f64) -> Simulator {
    let mut options = SimOptions::demo();
    options.time_scale = time_scale;
    options.tokens = vec![SimToken { id: TOKEN_ID.into(), secret: Secret::new(TOKEN_SECRET), read_only: false }];
    options.users = vec![SimUser { username: "root@pam".into(), password: Secret::new(PASSWORD), read_only: false }];
    Simulator::start(([127, 0, 0, 1], 0).into(), false, options).await.unwrap()
}

fn logins(sim: &Simulator) -> usize {
    sim.requests().iter().filter(|r| r["path"] == "/api2/json/access/ticket").count()
}

#[tokio::test]
async fn password_tickets_carry_csrf_on_writes_and_renew_before_expiry() {
    let sim = password_sim(0.0).await;
    let clock = ManualClock::new();
    let mut config =
        PveConfig::new(sim.base_url(), Auth::Password { username: "root@pam".into(), password: Secret::new(PASSWORD) });
    config.allow_insecure_http = true;
    config.clock = clock.clone();
    let c = PveClient::new(config).unwrap();
    assert!(!format!("{c:?}").contains(PASSWORD));

    assert_eq!(c.request(Method::Get, &["version"], &Value::Null).await.unwrap()["version"], "9.1.2");
    assert_eq!(logins(&sim), 1);
    let upid = c.request(Method::Post, &["nodes", "pve2", "qemu", "103", "status", "start"], &json!({})).await.unwrap();
    assert!(upid.as_str().unwrap().starts_with("UPID:pve2:"));
    clock.advance(Duration::from_secs(60 * 60));
    c.request(Method::Get, &["nodes"], &Value::Null).await.unwrap();
    assert_eq!(logins(&sim), 1, "renewed too early");
    clock.advance(Duration::from_secs(45 * 60));
    c.request(Method::Get, &["nodes"], &Value::Null).await.unwrap();
    assert_eq!(logins(&sim), 2, "not renewed before the 2 h expiry");
    support::validate_requests(&support::sim_request_log(&sim));

    let mut wrong =
        PveConfig::new(sim.base_url(), Auth::Password { username: "root@pam".into(), password: Secret::new("nope") });
    wrong.allow_insecure_http = true;
    let err = PveClient::new(wrong).unwrap().request(Method::Get, &["version"], &Value::Null).await.unwrap_err();
    assert!(err.to_string().contains("PVE_PASSWORD") && !err.to_string().contains("nope"), "{err}");
}

#[tokio::test]
async fn a_401_renews_the_ticket_once_and_tfa_is_explained() {
    let server = MockServer::start().await;
    mock(
        &server,
        "POST",
        "/api2/json/access/ticket",
        ResponseTemplate::new(200).set_body_json(json!({"data": {
        "username": "root@pam", "ticket": "PVE:root@pam:6740A1B2::c2ln", "CSRFPreventionToken": "6740A1B2:Y3NyZg"}})),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/api2/json/version"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"data": null})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mock(
        &server,
        "GET",
        "/api2/json/version",
        ResponseTemplate::new(200)
            .set_body_json(json!({"data": {"version": "9.1.2", "release": "9.1", "repoid": "a1b2c3d4"}})),
    )
    .await;
    let c = client(&server.uri(), Auth::Password { username: "root@pam".into(), password: Secret::new(PASSWORD) });
    assert_eq!(c.request(Method::Get, &["version"], &Value::Null).await.unwrap()["version"], "9.1.2");
    let posts = server.received_requests().await.unwrap().iter().filter(|r| r.method.as_str() == "POST").count();
    assert_eq!(posts, 2, "expected one login and one renewal");
    validate_mock_log(&server).await;

    let tfa = MockServer::start().await;
    mock(&tfa, "POST", "/api2/json/access/ticket", ResponseTemplate::new(200).set_body_json(json!({"data": {
        "username": "root@pam", "ticket": "PVE:!tfa!root@pam:6740A1B2::c2ln", "CSRFPreventionToken": "x", "NeedTFA": 1}}))).await;
    let c = client(&tfa.uri(), Auth::Password { username: "root@pam".into(), password: Secret::new(PASSWORD) });
    let err = c.request(Method::Get, &["version"], &Value::Null).await.unwrap_err();
    assert!(err.to_string().contains("two-factor") && err.to_string().contains("API token"), "{err}");
}

#[tokio::test]
async fn guests_resolve_with_near_matches_and_refresh_after_migration() {
    let sim = password_sim(0.0).await;
    let c = client(&sim.base_url(), token());
    let g = c.resolve_guest(103).await.unwrap();
    assert_eq!((g.node.as_str(), g.kind, g.name.as_deref()), ("pve2", GuestKind::Qemu, Some("build-runner")));
    let err = c.resolve_guest(107).await.unwrap_err().to_string();
    assert!(err.contains("nearest existing vmids: 105, 104, 103"), "{err}");

    // The guest migrates behind the client's back.
    sim.world().lock().guests.get_mut(&103).unwrap().node = "pve1".into();
    assert_eq!(c.resolve_guest(103).await.unwrap().node, "pve2", "served from the short cache");
    let err =
        c.request(Method::Get, &["nodes", "pve2", "qemu", "103", "status", "current"], &Value::Null).await.unwrap_err();
    assert!(matches!(err, ApiError::NotFound(_)));
    assert_eq!(c.resolve_guest(103).await.unwrap().node, "pve1", "cache not refreshed after 'does not exist'");
    support::validate_requests(&support::sim_request_log(&sim));
}

#[tokio::test]
async fn tasks_are_awaited_with_progress_timeouts_and_failure_tails() {
    let sim = password_sim(0.01).await;
    let c = client(&sim.base_url(), token());
    let upid = c
        .request(Method::Post, &["nodes", "pve1", "vzdump"], &json!({"vmid": "100", "storage": "backup-nfs"}))
        .await
        .unwrap();
    let upid = upid.as_str().unwrap().to_string();
    let mut percents = Vec::new();
    let outcome = c
        .wait_task("pve1", &upid, Duration::from_secs(30), |p| {
            if let Some(pct) = p.percent {
                percents.push(pct);
            }
        })
        .await
        .unwrap();
    assert!(
        matches!(&outcome, TaskOutcome::Succeeded { log_tail, .. } if log_tail.last().map(String::as_str) == Some("TASK OK")),
        "{outcome:?}"
    );
    assert!(percents.contains(&50.0) && percents.contains(&100.0), "{percents:?}");

    let slow = c
        .request(Method::Post, &["nodes", "pve1", "vzdump"], &json!({"vmid": "102", "storage": "backup-nfs"}))
        .await
        .unwrap();
    let slow = slow.as_str().unwrap().to_string();
    let outcome = c.wait_task("pve1", &slow, Duration::from_millis(50), |_| {}).await.unwrap();
    assert_eq!(outcome, TaskOutcome::Running { upid: slow.clone(), node: "pve1".into() });

    let failed = c.request(Method::Get, &["nodes", "pve2", "tasks"], &json!({"errors": 1})).await.unwrap();
    let failed_upid = failed[0]["upid"].as_str().unwrap().to_string();
    match c.wait_task("pve2", &failed_upid, Duration::from_secs(5), |_| {}).await.unwrap() {
        TaskOutcome::Failed { exitstatus, log_tail, .. } => {
            assert_eq!(exitstatus, "job errors");
            assert!(log_tail.iter().any(|l| l.contains("no space left on device")), "{log_tail:?}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    support::validate_requests(&support::sim_request_log(&sim));
}

#[tokio::test]
async fn the_password_ticket_cookie_is_sent_unencoded() {
    let server = MockServer::start().await;
    let ticket = "PVE:root@pam:6748A1B2::c2lnbmF0dXJl+/=";
    mock(
        &server,
        "POST",
        "/api2/json/access/ticket",
        ResponseTemplate::new(200).set_body_json(
            json!({"data": {"ticket": ticket, "CSRFPreventionToken": "6748A1B2:csrf", "username": "root@pam"}}),
        ),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/api2/json/version"))
        .and(wiremock::matchers::header("cookie", format!("PVEAuthCookie={ticket}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"version": "9.1.2"}})))
        .mount(&server)
        .await;
    let c = client(&server.uri(), Auth::Password { username: "root@pam".into(), password: Secret::new(PASSWORD) });
    let v = c.request(Method::Get, &["version"], &Value::Null).await.expect("the raw cookie is accepted");
    assert_eq!(v["version"], "9.1.2");
}

#[tokio::test]
async fn a_refused_connection_names_the_port_of_the_configured_url() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = client(&format!("http://127.0.0.1:{port}"), token())
        .request(Method::Get, &["version"], &Value::Null)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("reachable on port {port}")) && !err.contains("8006"), "{err}");
}
