//! Interoperability: the MCP Inspector CLI (installed from npm into
//! `target/e2e-npm` on first use) lists and calls a tool over streamable
//! HTTP, with exactly the commands the README shows.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use crate::http::HttpProxmcp;
use crate::support::{self, Launch};

/// The newest Inspector that runs on the Node.js 20 these machines have
/// (later releases need Node 22).
const INSPECTOR: &str = "@modelcontextprotocol/inspector@0.15.0";

fn inspector() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| support::npm_install_once("e2e-npm", &[INSPECTOR]).join(".bin").join("mcp-inspector")).clone()
}

async fn run_cli(url: &str, args: &[&str]) -> Value {
    let bin = tokio::task::spawn_blocking(inspector).await.expect("npm install");
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        tokio::process::Command::new(bin).arg("--cli").arg(url).args(["--transport", "http"]).args(args).output(),
    )
    .await
    .expect("the Inspector CLI hung")
    .expect("run the Inspector CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "inspector {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("inspector printed no JSON ({e}):\n{stdout}"))
}

#[tokio::test]
async fn mcp_inspector_cli_lists_and_calls_a_tool_over_http() {
    let sim = support::sim().await;
    let server = HttpProxmcp::start(&sim.base_url(), "streamable-http", Launch::default()).await;
    let listed = run_cli(&server.url, &["--method", "tools/list"]).await;
    let names: Vec<&str> = listed["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"pve_list_vms") && names.contains(&"pve_stop_vm"), "{names:?}");
    let called =
        run_cli(&server.url, &["--method", "tools/call", "--tool-name", "pve_list_vms", "--tool-arg", "type=lxc"])
            .await;
    assert_eq!(called["structuredContent"]["count"], 3, "{called}");
    assert_ne!(called["isError"], true, "{called}");
}
