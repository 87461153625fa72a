//! The official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! installed from npm with the Node.js 22 it needs into
//! `target/e2e-conformance`) against `proxmcp serve` over streamable HTTP.
//! Scenarios that need the suite's own fixture tools, resources and
//! prompts are listed in `tests/conformance/baseline.yml`; every other one
//! must pass, and a listed one that starts passing fails the run.

use std::time::Duration;

use crate::http::HttpProxmcp;
use crate::support::{self, Launch};

const SUITE: &str = "@modelcontextprotocol/conformance@0.1.16";
/// The suite needs Node.js 22 or newer; this package brings it without a
/// system install.
const NODE: &str = "node@22";

#[tokio::test]
async fn the_official_conformance_suite_passes_with_the_baseline() {
    let modules = tokio::task::spawn_blocking(|| support::npm_install_once("e2e-conformance", &[NODE, SUITE]))
        .await
        .expect("npm install");
    let bin = modules.join(".bin");
    let sim = support::sim().await;
    // The suite opens a session per scenario and leaves them open.
    let launch = Launch { env: vec![("MCP_MAX_SESSIONS_PER_PRINCIPAL".into(), "256".into())], ..Launch::default() };
    let server = HttpProxmcp::start(&sim.base_url(), "streamable-http", launch).await;
    let baseline = support::root().join("tests").join("conformance").join("baseline.yml");
    let results = tempfile::tempdir().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let run = tokio::process::Command::new(bin.join("conformance"))
        .args(["server", "--url", &server.url, "--expected-failures"])
        .arg(&baseline)
        .env("PATH", path)
        .current_dir(results.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("the conformance suite hung for 10 minutes")
        .expect("run the conformance suite");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.split("=== SUMMARY ===").nth(1).unwrap_or(&stdout);
    assert!(out.status.success(), "conformance suite failed:\n{summary}\n{}", String::from_utf8_lossy(&out.stderr));
    for must_pass in ["completion-complete", "resources-list", "prompts-list", "dns-rebinding-protection"] {
        assert!(summary.contains(&format!("✓ {must_pass}:")), "{must_pass} did not pass:\n{summary}");
    }
}
