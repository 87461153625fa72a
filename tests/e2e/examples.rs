//! The example plugins in `examples/` (Rust: proxmcp-sdk; Python:
//! componentize-py; JS: componentize-js), built with their own toolchains
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
    DIR.get_or_init(|| support::npm_install_once("e2e-componentize-js", &["@bytecodealliance/componentize-js@0.23.0"]))
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
/// Python and JS components are also checked, with `plugins inspect`, to
/// import nothing but the contract (no WASI at all); Rust's std links the
/// minimal WASI set the host allows, which the host checks at load.
async fn plugin_test(wasm: &Path, calls: &Path) -> String {
    let rust = wasm.to_string_lossy().contains("wasm32-wasip2");
    let inspect = tokio::process::Command::new(support::binary())
        .env("PROXMCP_CACHE_DIR", support::cache_dir())
        .args(["plugins", "inspect"])
        .arg(wasm)
        .output()
        .await
        .unwrap();
    let shown = String::from_utf8_lossy(&inspect.stdout);
    let imports = shown.lines().find_map(|l| l.strip_prefix("imports:")).unwrap_or_else(|| panic!("{shown}"));
    for import in imports.split(',').map(str::trim) {
        assert!(rust || import.starts_with("proxmcp:plugin/"), "{} imports {import}", wasm.display());
    }
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
    let launch = Launch { global_args: flag.clone(), ..Launch::default() };
    let err = support::refused_start(&sim.base_url(), &launch).await;
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

/// `cargo build --release` of a Rust plugin project (its .cargo/config.toml
/// picks wasm32-wasip2) into the shared test target dir; returns the wasm.
async fn cargo_build_plugin(project: &Path, crate_name: &str) -> PathBuf {
    let target = support::root().join("target").join("e2e-template-target");
    let status = tokio::process::Command::new("cargo")
        .current_dir(project)
        .args(["build", "--release", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .await
        .unwrap();
    assert!(status.success(), "cargo build of {} failed", project.display());
    target.join("wasm32-wasip2").join("release").join(format!("{crate_name}.wasm"))
}

#[tokio::test]
async fn the_rust_example_builds_passes_plugin_test_and_loads_once_granted() {
    let example = support::root().join("examples").join("rust-stopped-guests");
    let wasm = cargo_build_plugin(&example, "stopped_guests").await;
    let stdout = plugin_test(&wasm, &example.join("calls.json")).await;
    assert!(stdout.contains("plugin stopped-guests 0.1.0"), "{stdout}");
    assert!(stdout.contains("PASS rust_stopped_guests {} -> ok: 2 stopped guest(s)"), "{stdout}");
    assert!(stdout.contains("3 calls, 0 failed"), "{stdout}");
    // The schemas come from the Rust types.
    let inspect = std::process::Command::new(support::binary())
        .env("PROXMCP_CACHE_DIR", support::cache_dir())
        .args(["plugins", "inspect"])
        .arg(&wasm)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&inspect.stdout);
    assert!(shown.contains("\"additionalProperties\":false") && shown.contains("Only guests on this node."), "{shown}");
    assert!(shown.contains("output: ") && shown.contains("\"guests\""), "{shown}");
    let v = served_once_granted(
        &wasm,
        "stopped-guests",
        "\"GET /cluster/resources\"",
        "rust_stopped_guests",
        json!({"node": "pve2"}),
    )
    .await;
    assert_eq!(v["guests"].as_array().map(Vec::len), Some(2), "{v}");
}

/// `proxmcp plugin new NAME --lang LANG` in `dir`; returns the project.
fn plugin_new(dir: &Path, name: &str, lang: &str) -> PathBuf {
    let out = std::process::Command::new(support::binary())
        .current_dir(dir)
        .args(["plugin", "new", name, "--lang", lang])
        .output()
        .unwrap();
    assert!(out.status.success(), "plugin new --lang {lang}: {}", String::from_utf8_lossy(&out.stderr));
    dir.join(name)
}

#[tokio::test]
async fn a_plugin_made_from_each_template_builds_passes_plugin_test_and_loads_once_granted() {
    let dir = tempfile::tempdir().unwrap();

    // Rust: the project carries its own copy of the SDK and the contract.
    let rust = plugin_new(dir.path(), "tpl-rust", "rust");
    let wasm = cargo_build_plugin(&rust, "tpl_rust").await;
    let stdout = plugin_test(&wasm, &rust.join("calls.json")).await;
    assert!(stdout.contains("PASS tpl_rust_stopped_guests {} -> ok: 2 stopped guest(s)"), "{stdout}");
    let v = served_once_granted(&wasm, "tpl-rust", "\"GET /cluster/resources\"", "tpl_rust_stopped_guests", json!({}))
        .await;
    assert_eq!(v["guests"].as_array().map(Vec::len), Some(2), "{v}");

    // Python.
    let python = plugin_new(dir.path(), "tpl-py", "python");
    let venv = tokio::task::spawn_blocking(crate::python_client::python_with_mcp).await.unwrap();
    let path = format!("{}:{}", venv.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let status =
        tokio::process::Command::new("bash").arg(python.join("build.sh")).env("PATH", path).status().await.unwrap();
    assert!(status.success(), "build.sh of the Python template failed");
    let wasm = python.join("tpl-py.wasm");
    let stdout = plugin_test(&wasm, &python.join("calls.json")).await;
    assert!(stdout.contains("3 calls, 0 failed"), "{stdout}");
    let v = served_once_granted(&wasm, "tpl-py", "\"GET /nodes\"", "tpl_py_nodes_over_memory", json!({})).await;
    assert_eq!(v["threshold_percent"], 80.0);

    // JavaScript.
    let js = plugin_new(dir.path(), "tpl-js", "js");
    let modules = tokio::task::spawn_blocking(componentize_js).await.unwrap();
    std::os::unix::fs::symlink(&modules, js.join("node_modules")).unwrap();
    let status = tokio::process::Command::new("node").arg(js.join("build.mjs")).status().await.unwrap();
    assert!(status.success(), "build.mjs of the JS template failed");
    let wasm = js.join("tpl-js.wasm");
    let stdout = plugin_test(&wasm, &js.join("calls.json")).await;
    assert!(stdout.contains("3 calls, 0 failed"), "{stdout}");
    let v = served_once_granted(
        &wasm,
        "tpl-js",
        "\"GET /cluster/resources\", \"GET /nodes/*/qemu/*/config\"",
        "tpl_js_guests_without_agent",
        json!({}),
    )
    .await;
    assert_eq!(v["checked"], 3);
}
