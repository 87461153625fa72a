//! The example plugins in `examples/`, built with their own toolchains
//! (installed from the registries by the test) and run through the real
//! binary: `proxmcp plugin test`, refused without a grant, served once
//! granted.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::support::{self, Launch, Session, is_error, text};

/// Builds examples/python-nodes-over-memory with its build.sh into `out`.
async fn build_python_example(out: &Path) -> PathBuf {
    let python = tokio::task::spawn_blocking(crate::python_client::python_with_mcp).await.unwrap();
    let bin = python.parent().unwrap().to_path_buf();
    let example = support::root().join("examples").join("python-nodes-over-memory");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let status = tokio::process::Command::new("bash")
        .arg(example.join("build.sh"))
        .arg(out)
        .env("PATH", path)
        .env("PROXMCP_WIT", support::root().join("wit"))
        .status()
        .await
        .unwrap();
    assert!(status.success(), "examples/python-nodes-over-memory/build.sh failed");
    out.join("nodes-over-memory.wasm")
}

#[tokio::test]
async fn the_python_example_builds_passes_plugin_test_and_loads_once_granted() {
    let out = tempfile::tempdir().unwrap();
    let wasm = build_python_example(out.path()).await;
    let calls = support::root().join("examples").join("python-nodes-over-memory").join("calls.json");

    let run = tokio::process::Command::new(support::binary())
        .env("PROXMCP_CACHE_DIR", support::cache_dir())
        .args(["plugin", "test"])
        .arg(&wasm)
        .arg("--calls")
        .arg(&calls)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("plugin nodes-over-memory 0.1.0"), "{stdout}");
    assert!(
        stdout.contains("PASS py_nodes_over_memory {\"threshold_percent\":50} -> ok: 1 node(s) above 50% memory"),
        "{stdout}"
    );
    assert!(stdout.contains("GET /api2/json/nodes"), "{stdout}");
    assert!(stdout.contains("3 calls, 0 failed"), "{stdout}");

    // Without a grant the server refuses it, naming the grant to add.
    let sim = support::sim().await;
    let plugin = vec!["--plugin".to_string(), wasm.display().to_string()];
    let work = tempfile::tempdir().unwrap();
    let launch = Launch { global_args: plugin.clone(), ..Launch::default() };
    let refused = support::command(&sim.base_url(), &launch, work.path())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("[grants]\nnodes-over-memory = [\"GET /nodes\"]"), "{err}");

    // Granted, it is served next to the built-ins.
    let launch = Launch {
        global_args: plugin,
        config: Some("[grants]\nnodes-over-memory = [\"GET /nodes\"]\n".into()),
        ..Launch::default()
    };
    let session = Session::start(&sim.base_url(), launch).await;
    let r = session.call("py_nodes_over_memory", json!({"threshold_percent": 50})).await;
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(r.structured_content.unwrap()["nodes"], json!([{"node": "pve1", "mem_percent": 59.4}]));
    session.finish().await;
}
