//! Interoperability: the official Python `mcp` SDK lists and calls the
//! inventory tools over stdio. The test installs the SDK into a venv under
//! `target/` on first use (PyPI), so a fresh machine needs only python3.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support;

/// Creates `target/e2e-venv` with the pinned SDK and componentize-py once
/// per test run.
pub fn python_with_mcp() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let venv = support::root().join("target").join("e2e-venv");
        let python = venv.join("bin").join("python");
        let requirements = support::root().join("tests").join("python").join("requirements.txt");
        let stamp = venv.join("requirements.installed");
        let wanted = std::fs::read_to_string(&requirements).expect("read requirements.txt");
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
            return python;
        }
        let status = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 -m venv");
        assert!(status.success(), "python3 -m venv failed; install python3 with the venv module");
        let out = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements)
            .output()
            .expect("pip install");
        assert!(
            out.status.success(),
            "pip install -r {} failed:\n{}",
            requirements.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&stamp, wanted).expect("write stamp");
        python
    })
    .clone()
}

/// Runs tests/python/mcp_client.py with `args` and returns its report,
/// after checking the three inventory calls it makes.
async fn run_client(args: &[String], envs: &[(&str, String)]) -> Value {
    let python = tokio::task::spawn_blocking(python_with_mcp).await.expect("venv");
    let script = support::root().join("tests").join("python").join("mcp_client.py");
    let work = tempfile::tempdir().expect("tempdir");
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(script).args(args).current_dir(work.path());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("the Python client hung")
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(stdout.trim()).expect("the client prints JSON");
    let listed: Vec<&str> = report["tools"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(crate::inventory_tools::INVENTORY_TOOLS.iter().all(|t| listed.contains(t)), "{listed:?}");
    let results = &report["results"];
    for tool in ["pve_get_version", "pve_list_nodes", "pve_list_vms"] {
        assert_eq!(results[tool]["is_error"], false, "{tool}: {}", results[tool]);
    }
    assert_eq!(results["pve_get_version"]["structured"]["version"], "9.1.2");
    assert_eq!(results["pve_list_nodes"]["structured"]["count"], 2);
    assert_eq!(results["pve_list_nodes"]["structured"]["truncated"], true);
    assert_eq!(results["pve_list_vms"]["structured"]["total"], 7);
    // The data reaches clients that read only `content`: JSON after the summary.
    let blocks = &results["pve_list_vms"]["text"];
    let data: Value = serde_json::from_str(blocks[1].as_str().unwrap_or_default()).expect("JSON in content");
    assert_eq!(data, results["pve_list_vms"]["structured"]);
    assert!(!stdout.contains(support::TOKEN_SECRET));
    report
}

#[tokio::test]
async fn official_python_sdk_lists_and_calls_the_tools_over_stdio() {
    let pve = support::sim().await;
    run_client(
        &["stdio".into(), support::binary().into()],
        &[
            ("PVE_BASE_URL", pve.base_url()),
            ("PVE_ALLOW_INSECURE_HTTP", "true".into()),
            ("PVE_API_TOKEN_ID", support::TOKEN_ID.into()),
            ("PVE_API_TOKEN_SECRET", support::TOKEN_SECRET.into()),
            ("PROXMCP_CACHE_DIR", support::cache_dir().display().to_string()),
        ],
    )
    .await;
}

/// A server whose only way in is the bearer token `py-token`.
fn token_config() -> crate::support::Launch {
    let config = format!(
        "[[rbac.tokens]]\nprincipal = \"python\"\nrole = \"admin\"\nsha256 = \"{}\"\n",
        proxmcp::gate::access::hash_token("py-token")
    );
    crate::support::Launch { config: Some(config), ..Default::default() }
}

#[tokio::test]
async fn official_python_sdk_lists_and_calls_the_tools_over_streamable_http() {
    let pve = support::sim().await;
    let server = crate::http::HttpProxmcp::start(&pve.base_url(), "streamable-http", token_config()).await;
    run_client(&["http".into(), server.url.clone(), "py-token".into()], &[]).await;
}

#[tokio::test]
async fn official_python_sdk_lists_and_calls_the_tools_over_legacy_sse() {
    let pve = support::sim().await;
    let server = crate::http::HttpProxmcp::start(&pve.base_url(), "sse", token_config()).await;
    assert!(server.url.ends_with("/sse"), "{}", server.url);
    run_client(&["sse".into(), server.url.clone(), "py-token".into()], &[]).await;
}

#[tokio::test]
async fn official_python_sdk_over_legacy_sse_carries_the_callers_own_proxmox_token() {
    let pve = support::sim().await;
    let config = format!(
        "[targets.team]\nbase_url = \"{}\"\nallow_insecure_http = true\ncredentials = \"caller\"\n",
        pve.base_url()
    );
    let launch = support::Launch {
        config: Some(config),
        unset: vec!["PVE_BASE_URL", "PVE_API_TOKEN_ID", "PVE_API_TOKEN_SECRET", "PVE_ALLOW_INSECURE_HTTP"],
        ..support::Launch::default()
    };
    let server = crate::http::HttpProxmcp::start(&pve.base_url(), "sse", launch).await;
    let token = format!("{}={}", support::READONLY_TOKEN_ID, support::READONLY_TOKEN_SECRET);
    run_client(&["sse".into(), server.url.clone()], &[("X_PROXMOX_TOKEN", token)]).await;
    let seen = pve.callers();
    assert!(!seen.is_empty() && seen.iter().all(|id| id == support::READONLY_TOKEN_ID), "{seen:?}");
    let (_, stderr) = server.terminate().await;
    assert!(!stderr.contains(support::READONLY_TOKEN_SECRET), "the caller's secret reached the log");
}

/// Runs the client's `elicit` mode with `answer`; its report.
async fn elicit(pve: &proxmcp::sim::Simulator, answer: &str) -> Value {
    let python = tokio::task::spawn_blocking(python_with_mcp).await.expect("venv");
    let script = support::root().join("tests").join("python").join("mcp_client.py");
    let work = tempfile::tempdir().expect("tempdir");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .args(["elicit", answer, support::binary()])
        .current_dir(work.path())
        .env("PVE_BASE_URL", pve.base_url())
        .env("PVE_ALLOW_INSECURE_HTTP", "true")
        .env("PVE_API_TOKEN_ID", support::TOKEN_ID)
        .env("PVE_API_TOKEN_SECRET", support::TOKEN_SECRET)
        .env("PROXMCP_CACHE_DIR", support::cache_dir())
        .output()
        .await
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).expect("the client prints JSON")
}

#[tokio::test]
async fn official_python_sdk_in_its_default_mode_asks_the_user_before_a_write() {
    let pve = support::sim().await;
    let declined = elicit(&pve, "decline").await;
    assert_eq!(declined["protocol"], "2026-07-28", "the default mode is the stateless wire: {declined}");
    assert_eq!(declined["asked"].as_array().map(Vec::len), Some(1), "{declined}");
    assert!(declined["asked"][0].as_str().unwrap_or_default().contains("would stop VM 100"), "{declined}");
    assert_eq!(declined["is_error"], true, "{declined}");
    assert!(declined["text"][0].as_str().unwrap_or_default().contains("did not approve"), "{declined}");
    assert!(support::writes(&pve).is_empty(), "declined, yet sent: {:?}", support::writes(&pve));
    let accepted = elicit(&pve, "accept").await;
    assert_eq!(accepted["is_error"], false, "{accepted}");
    assert_eq!(support::writes(&pve).len(), 1);
}
