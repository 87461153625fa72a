//! The example plugins in `examples/` (Python: componentize-py; JS:
//! componentize-js), built with their own toolchains
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

/// componentize-js, installed from npm into `target/e2e-componentize-js`
/// once; returns its `node_modules`.
fn componentize_js() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    const PACKAGE: &str = "@bytecodealliance/componentize-js@0.23.0";
    DIR.get_or_init(|| {
        let dir = support::root().join("target").join("e2e-componentize-js");
        let modules = dir.join("node_modules");
        let stamp = dir.join("installed");
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(PACKAGE) && modules.exists() {
            return modules;
        }
        std::fs::create_dir_all(&dir).unwrap();
        let out = std::process::Command::new("npm")
            .args(["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
            .arg(&dir)
            .arg(PACKAGE)
            .output()
            .expect("run npm (install Node.js and npm)");
        assert!(out.status.success(), "npm install {PACKAGE} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(&stamp, PACKAGE).unwrap();
        modules
    })
    .clone()
}

/// Builds examples/js-guests-without-agent with its build.mjs into `out`
/// (a copy of the example with componentize-js linked in).
async fn build_js_example(out: &Path) -> PathBuf {
    let modules = tokio::task::spawn_blocking(componentize_js).await.unwrap();
    let example = support::root().join("examples").join("js-guests-without-agent");
    let copy = out.join("src");
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["app.js", "build.mjs", "guests-without-agent.proxmcp.json", "package.json"] {
        std::fs::copy(example.join(file), copy.join(file)).unwrap();
    }
    std::os::unix::fs::symlink(&modules, copy.join("node_modules")).unwrap();
    let status = tokio::process::Command::new("node")
        .arg(copy.join("build.mjs"))
        .arg(out)
        .env("PROXMCP_WIT", support::root().join("wit"))
        .status()
        .await
        .unwrap();
    assert!(status.success(), "examples/js-guests-without-agent/build.mjs failed");
    out.join("guests-without-agent.wasm")
}

/// `proxmcp plugin test WASM --calls CALLS`: must pass; returns stdout.
async fn plugin_test(wasm: &Path, calls: &Path) -> String {
    let run = tokio::process::Command::new(support::binary())
        .env("PROXMCP_CACHE_DIR", support::cache_dir())
        .args(["plugin", "test"])
        .arg(wasm)
        .arg("--calls")
        .arg(calls)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    stdout
}

/// Refused without a grant (naming it), served once granted; returns the
/// structured result of `tool` with `args`.
async fn served_once_granted(
    wasm: &Path,
    plugin: &str,
    grants: &str,
    tool: &str,
    args: serde_json::Value,
) -> serde_json::Value {
    let sim = support::sim().await;
    let flag = vec!["--plugin".to_string(), wasm.display().to_string()];
    let work = tempfile::tempdir().unwrap();
    let launch = Launch { global_args: flag.clone(), ..Launch::default() };
    let refused = support::command(&sim.base_url(), &launch, work.path())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains(&format!("[grants]\n{plugin} = [{grants}]")), "{err}");
    let launch =
        Launch { global_args: flag, config: Some(format!("[grants]\n{plugin} = [{grants}]\n")), ..Launch::default() };
    let session = Session::start(&sim.base_url(), launch).await;
    let r = session.call(tool, args).await;
    assert!(!is_error(&r), "{}", text(&r));
    session.finish().await;
    r.structured_content.unwrap()
}

#[tokio::test]
async fn the_js_example_builds_passes_plugin_test_and_loads_once_granted() {
    let out = tempfile::tempdir().unwrap();
    let wasm = build_js_example(out.path()).await;
    let calls = support::root().join("examples").join("js-guests-without-agent").join("calls.json");
    let stdout = plugin_test(&wasm, &calls).await;
    assert!(stdout.contains("plugin guests-without-agent 0.1.0"), "{stdout}");
    assert!(
        stdout.contains("PASS js_guests_without_agent {} -> ok: 1 of 3 running VMs have no guest agent enabled"),
        "{stdout}"
    );
    assert!(stdout.contains("GET /api2/json/nodes/pve2/qemu/101/config"), "{stdout}");
    assert!(stdout.contains("3 calls, 0 failed"), "{stdout}");
    let v = served_once_granted(
        &wasm,
        "guests-without-agent",
        "\"GET /cluster/resources\", \"GET /nodes/*/qemu/*/config\"",
        "js_guests_without_agent",
        json!({}),
    )
    .await;
    assert_eq!(v["guests"], json!([{"vmid": 101, "node": "pve2", "name": "web-02"}]));
}

#[tokio::test]
async fn the_python_example_builds_passes_plugin_test_and_loads_once_granted() {
    let out = tempfile::tempdir().unwrap();
    let wasm = build_python_example(out.path()).await;
    let calls = support::root().join("examples").join("python-nodes-over-memory").join("calls.json");

    let stdout = plugin_test(&wasm, &calls).await;
    assert!(stdout.contains("plugin nodes-over-memory 0.1.0"), "{stdout}");
    assert!(
        stdout.contains("PASS py_nodes_over_memory {\"threshold_percent\":50} -> ok: 1 node(s) above 50% memory"),
        "{stdout}"
    );
    assert!(stdout.contains("GET /api2/json/nodes"), "{stdout}");
    assert!(stdout.contains("3 calls, 0 failed"), "{stdout}");
    let v = served_once_granted(
        &wasm,
        "nodes-over-memory",
        "\"GET /nodes\"",
        "py_nodes_over_memory",
        json!({"threshold_percent": 50}),
    )
    .await;
    assert_eq!(v["nodes"], json!([{"node": "pve1", "mem_percent": 59.4}]));
}
