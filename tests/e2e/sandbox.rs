//! Hostile plugins against the real server: each misbehaviour ends in a
//! clear error within the deadline, and the next normal call still works.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{self, Launch, Session, is_error, text};

/// A 2-second deadline keeps the suite fast; the memory cap is small so the
/// bomb trips it quickly.
fn hostile_launch() -> Launch {
    Launch {
        global_args: vec!["--plugin".into(), support::hostile_wasm().into()],
        config: Some(
            "[limits]\ncall_timeout_secs = 2\nmemory_mib = 32\noutput_kib = 256\n[grants]\nhostile = [\"POST /nodes/*/qemu/*/status/*\"]\n".into(),
        ),
        ..Launch::default()
    }
}

async fn assert_contained(session: &Session, tool: &str, expect: &str) {
    let started = Instant::now();
    let r = session.call(tool, json!({})).await;
    let took = started.elapsed();
    assert!(is_error(&r), "{tool} should fail, got {}", text(&r));
    assert!(text(&r).contains(expect), "{tool}: {:?} does not mention {expect:?}", text(&r));
    assert!(took < Duration::from_secs(10), "{tool} took {took:?}");
    // The server is still healthy: a normal call succeeds right after.
    let ok = session.call("pve_get_version", json!({})).await;
    assert!(!is_error(&ok), "after {tool}: {}", text(&ok));
    let echo = session.call("hostile_echo", json!({"n": 1})).await;
    assert_eq!(echo.structured_content, Some(json!({"n": 1})), "after {tool}");
}

#[tokio::test]
async fn infinite_loop_is_stopped_at_the_deadline() {
    let pve = support::sim().await;
    let session = Session::start(&pve.base_url(), hostile_launch()).await;
    let started = Instant::now();
    assert_contained(&session, "hostile_spin", "deadline").await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    session.finish().await;
}

#[tokio::test]
async fn memory_bomb_is_stopped_at_the_memory_cap() {
    let pve = support::sim().await;
    let session = Session::start(&pve.base_url(), hostile_launch()).await;
    assert_contained(&session, "hostile_alloc", "32 MiB memory limit").await;
    session.finish().await;
}

#[tokio::test]
async fn runaway_recursion_is_stopped_at_the_stack_limit() {
    let pve = support::sim().await;
    let session = Session::start(&pve.base_url(), hostile_launch()).await;
    assert_contained(&session, "hostile_recurse", "stack").await;
    session.finish().await;
}

#[tokio::test]
async fn stdout_spam_never_reaches_the_protocol_stream() {
    let pve = support::sim().await;
    let session = Session::start(&pve.base_url(), hostile_launch()).await;
    // The client only keeps working if stdout carried nothing but JSON-RPC.
    assert_contained(&session, "hostile_spam", "deadline").await;
    let stderr = session.finish().await;
    assert!(stderr.contains("spam spam"), "guest stdout should be logged on stderr");
    assert!(stderr.contains("dropped"), "the log budget should cut the spam:\n{}", &stderr[..stderr.len().min(2000)]);
    assert!(stderr.len() < 1 << 20, "stderr grew to {} bytes", stderr.len());
}

#[tokio::test]
async fn no_call_sees_what_an_earlier_call_left_in_memory() {
    let pve = support::sim().await;
    let session = Session::start(&pve.base_url(), hostile_launch()).await;
    for call in 1..=3 {
        let r = session.call("hostile_remember", json!({})).await;
        assert!(!is_error(&r), "call {call}: {}", text(&r));
        // Each call marks 512 pages (more than a slot keeps resident) and
        // counts itself; the next one must find its memory pristine.
        assert_eq!(r.structured_content, Some(json!({"calls_before": 0, "marked_pages": 0})), "call {call}");
    }
}

#[tokio::test]
async fn oversized_output_is_refused() {
    let pve = support::sim().await;
    let session = Session::start(&pve.base_url(), hostile_launch()).await;
    assert_contained(&session, "hostile_huge_output", "byte limit").await;
    session.finish().await;
}

#[tokio::test]
async fn write_from_a_tool_claiming_read_only_needs_confirm_and_sends_nothing() {
    let pve = support::sim().await;
    let session = Session::start(&pve.base_url(), hostile_launch()).await;
    let r = session.call("hostile_sneaky_write", json!({})).await;
    assert!(is_error(&r));
    assert!(text(&r).contains("confirm=true"), "{}", text(&r));
    session.finish().await;
    let writes: Vec<_> = pve.requests().into_iter().filter(|r| r["method"] != "GET").collect();
    assert!(writes.is_empty(), "a write reached Proxmox: {writes:?}");
}

#[tokio::test]
async fn read_only_mode_never_loads_write_plugins() {
    let pve = support::sim().await;
    let mut launch = hostile_launch();
    launch.env.push(("PROXMCP_READ_ONLY".into(), "true".into()));
    let session = Session::start(&pve.base_url(), launch).await;
    let tools = session.client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().all(|t| !t.name.starts_with("hostile_")), "hostile tools listed in read-only mode");
    let stderr = session.finish().await;
    assert!(stderr.contains("read-only mode: the plugin asks for POST"), "{stderr}");
}

#[tokio::test]
async fn forbidden_import_is_refused_at_load_naming_the_import() {
    let work = tempfile::tempdir().expect("tempdir");
    let launch = Launch { global_args: vec!["--plugin".into(), support::forbidden_wasm().into()], ..Launch::default() };
    let mut cmd = support::command("http://127.0.0.1:9", &launch, work.path());
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output()).await.expect("exits").expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wasi:sockets/tcp"), "{stderr}");
    assert!(stderr.contains("wasi:filesystem"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing may reach stdout: {:?}", String::from_utf8_lossy(&out.stdout));
}
