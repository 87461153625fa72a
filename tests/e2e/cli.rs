//! The command line: `plugins list`, `plugins inspect`, `config check`.

use std::process::Output;

use crate::support;

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let work = tempfile::tempdir().expect("tempdir");
    let mut cmd = std::process::Command::new(support::binary());
    cmd.env_clear()
        .current_dir(work.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PROXMCP_CACHE_DIR", support::cache_dir())
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run proxmcp")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn plugins_list_shows_name_version_contract_grants_and_tools() {
    let out = run(&["plugins", "list", "--json"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let inv = &v["loaded"][0];
    assert_eq!(inv["name"], "inventory");
    assert_eq!(inv["contract"], "0.1.4");
    assert_eq!(inv["grants"][0], "GET /version");
    let tools: Vec<&str> = inv["tools"].as_array().unwrap().iter().filter_map(|t| t.as_str()).collect();
    assert_eq!(tools.len(), crate::inventory_tools::INVENTORY_TOOLS.len());
    assert!(tools.contains(&"pve_list_vms") && tools.contains(&"pve_get_task_status"));
}

/// A warm start takes each plugin's tools from the listing kept beside its
/// compiled code, so the plugin need not run; an unreadable entry is
/// listed by the plugin again and rewritten.
#[test]
fn a_warm_start_takes_the_tool_list_from_the_cache_and_lists_again_when_it_is_unreadable() {
    let cache = tempfile::Builder::new().prefix("listing-").tempdir_in(support::cache_dir()).expect("tempdir");
    for entry in std::fs::read_dir(support::cache_dir()).expect("read the cache") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "cwasm") {
            std::fs::copy(&path, cache.path().join(path.file_name().expect("name"))).expect("copy compiled code");
        }
    }
    let dir = cache.path().to_str().expect("utf-8 path");
    let inventory_tools = || {
        let out = run(&["--read-only", "plugins", "list", "--json"], &[("PROXMCP_CACHE_DIR", dir)]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let tools = v["loaded"][0]["tools"].as_array().expect("tools").iter();
        tools.filter_map(|t| t.as_str().map(str::to_string)).collect::<Vec<_>>()
    };
    let listed = inventory_tools();
    assert!(listed.iter().any(|t| t == "pve_get_version"), "{listed:?}");
    let listings: Vec<std::path::PathBuf> = std::fs::read_dir(cache.path())
        .expect("read the cache")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".listing.json"))
        .collect();
    assert_eq!(listings.len(), 1, "one listing for the one plugin loaded: {listings:?}");

    // What the entry says is what a warm start offers.
    let text = std::fs::read_to_string(&listings[0]).expect("read the listing");
    let renamed = text.replace("\"pve_get_version\"", "\"pve_get_version_from_cache\"");
    assert_ne!(renamed, text, "the listing names pve_get_version");
    std::fs::write(&listings[0], renamed).expect("edit the listing");
    assert!(inventory_tools().iter().any(|t| t == "pve_get_version_from_cache"));

    std::fs::write(&listings[0], "not json").expect("spoil the listing");
    assert_eq!(inventory_tools(), listed);
    let rewritten: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&listings[0]).expect("read")).expect("rewritten as JSON");
    assert_eq!(rewritten["tools"].as_array().map(Vec::len), Some(listed.len()));
}

#[test]
fn plugins_list_in_read_only_mode_says_what_was_skipped_and_why() {
    let out = run(&["--read-only", "--plugin", support::hostile_wasm(), "plugins", "list"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("hostile (skipped"), "{text}");
    assert!(text.contains("asks for POST /nodes/*/qemu/*/status/*"), "{text}");
}

#[test]
fn plugins_inspect_shows_manifest_imports_and_tools() {
    let out = run(&["plugins", "inspect", support::hostile_wasm()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "plugin:    hostile",
        "contract:  proxmcp:plugin@0.1.4",
        "POST /nodes/*/qemu/*/status/*",
        "tool hostile_spin",
        "resource template hostile://stop/{vmid} — Claims to be data",
        "proxmcp:plugin/pve@0.1.4",
        "loads under the current config: no: plugin \"hostile\"",
        "[grants]\nhostile = [\"POST /nodes/*/qemu/*/status/*\"]",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // Granted by the operator, it would load.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("proxmcp.toml");
    std::fs::write(&config, "[grants]\nhostile = [\"* /nodes/**\"]\n").expect("write config");
    let out = run(&["--config", config.to_str().expect("utf8"), "plugins", "inspect", support::hostile_wasm()], &[]);
    assert!(stdout(&out).contains("loads under the current config: yes, with grants: * /nodes/**"), "{}", stdout(&out));
}

#[test]
fn plugins_inspect_refuses_a_forbidden_import_by_name() {
    let out = run(&["plugins", "inspect", support::forbidden_wasm()], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("wasi:sockets/tcp"), "{}", stderr(&out));
}

#[test]
fn plugins_inspect_of_a_missing_file_says_so() {
    let out = run(&["plugins", "inspect", "/nonexistent/x.wasm"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot read plugin /nonexistent/x.wasm"), "{}", stderr(&out));
}

#[test]
fn config_check_rejects_unknown_keys_and_plain_http() {
    let work = tempfile::tempdir().expect("tempdir");
    let path = work.path().join("c.toml");
    std::fs::write(&path, "[proxmox]\nbase_url = \"https://pve:8006\"\nverify_tls = false\n").expect("write");
    let out = run(&["--config", path.to_str().expect("utf8"), "config", "check"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("verify_tls"), "{}", stderr(&out));

    let out = run(
        &["config", "check"],
        &[("PVE_BASE_URL", "http://pve:8006"), ("PVE_API_TOKEN_ID", "root@pam!x"), ("PVE_API_TOKEN_SECRET", "s")],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("PVE_ALLOW_INSECURE_HTTP"), "{}", stderr(&out));
}

#[tokio::test]
async fn config_check_contacts_proxmox() {
    let pve = support::sim().await;
    let uri = pve.base_url();
    let out = tokio::task::spawn_blocking(move || {
        run(
            &["config", "check"],
            &[
                ("PVE_HOST", uri.as_str()),
                ("PVE_ALLOW_INSECURE_HTTP", "true"),
                ("PVE_TOKEN_ID", support::TOKEN_ID),
                ("PVE_TOKEN_SECRET", support::TOKEN_SECRET),
            ],
        )
    })
    .await
    .expect("join");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("version 9.1.2"), "{}", stdout(&out));
    assert!(!stdout(&out).contains(support::TOKEN_SECRET) && !stderr(&out).contains(support::TOKEN_SECRET));
}

#[test]
fn serve_without_a_proxmox_url_says_which_variable_to_set() {
    let out = run(&["serve"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("PVE_BASE_URL"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_plugin_built_for_another_contract_is_refused_naming_both_versions() {
    // Patch the manifest of a real component: same length, other version.
    for (version, replacement) in [("9.9.9", br#""contract":"9.9.9""#), ("0.0.9", br#""contract":"0.0.9""#)] {
        let mut bytes = std::fs::read(support::hostile_wasm()).expect("read hostile.wasm");
        let needle = br#""contract":"0.1.4""#;
        let spots: Vec<usize> =
            (0..bytes.len() - needle.len()).filter(|&i| &bytes[i..i + needle.len()] == needle).collect();
        assert!(!spots.is_empty(), "manifest not found");
        for at in spots {
            bytes[at..at + needle.len()].copy_from_slice(replacement);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("other-contract.wasm");
        std::fs::write(&file, bytes).expect("write");
        let out = run(&["plugins", "inspect", file.to_str().expect("utf8")], &[]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains(&format!("proxmcp:plugin@{version}"))
                && err.contains("loads only 0.1.0, 0.1.1, 0.1.2, 0.1.3, 0.1.4"),
            "{err}"
        );
        assert!(!stdout(&out).contains("tool hostile_"), "the plugin must not be compiled or run");
    }
}

/// `proxmcp config check` in a directory holding `.env` (and, if given,
/// `proxmcp.toml`, named with `--config`).
async fn config_check_beside(dot_env: String, config: Option<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let work = tempfile::tempdir().expect("tempdir");
        std::fs::write(work.path().join(".env"), dot_env).expect("write .env");
        let mut cmd = std::process::Command::new(support::binary());
        cmd.env_clear()
            .current_dir(work.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PROXMCP_CACHE_DIR", support::cache_dir());
        if let Some(text) = config {
            let file = work.path().join("proxmcp.toml");
            std::fs::write(&file, text).expect("write config");
            cmd.arg("--config").arg(&file);
        }
        cmd.args(["config", "check"]).output().expect("run proxmcp")
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn a_dot_env_file_never_overrides_an_explicit_config_file() {
    let pve = support::sim().await;
    // The .env points the token at a listener of the attacker's.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let env = format!("PVE_BASE_URL=http://{}\nPVE_ALLOW_INSECURE_HTTP=true\n", trap.local_addr().expect("addr"));
    let config = format!(
        "[proxmox]\nbase_url = \"{}\"\nallow_insecure_http = true\ntoken_id = \"{}\"\ntoken_secret = \"{}\"\n",
        pve.base_url(),
        support::TOKEN_ID,
        support::TOKEN_SECRET
    );
    let out = config_check_beside(env, Some(config)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("version 9.1.2"), "the config file's cluster answered: {}", stdout(&out));
    assert!(stderr(&out).contains("ignoring .env"), "{}", stderr(&out));
    trap.set_nonblocking(true).expect("nonblocking");
    assert!(trap.accept().is_err(), "nothing may connect to the .env's URL");
}

#[tokio::test]
async fn a_dot_env_file_in_the_working_directory_is_read() {
    let pve = support::sim().await;
    let env = format!(
        "PVE_BASE_URL={}\nPVE_ALLOW_INSECURE_HTTP=true\nPVE_API_TOKEN_ID={}\nPVE_API_TOKEN_SECRET={}\n",
        pve.base_url(),
        support::TOKEN_ID,
        support::TOKEN_SECRET
    );
    let out = config_check_beside(env, None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("version 9.1.2"), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains(".env") && err.contains("PVE_BASE_URL") && err.contains("come from that file"), "{err}");
}

#[tokio::test]
async fn plugins_list_prints_each_plugins_tools_list_share_and_the_default_set_fits_40_kb() {
    let out = run(&["plugins", "list", "--json"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let total = v["tools_list_bytes"].as_u64().unwrap();
    let shares: Vec<u64> =
        v["loaded"].as_array().unwrap().iter().map(|p| p["tools_list_bytes"].as_u64().unwrap()).collect();
    assert!(shares.iter().all(|s| *s > 0), "{shares:?}");
    assert_eq!(shares.iter().sum::<u64>(), total);
    assert!(total <= 40 * 1024, "the default set's tools/list is {total} bytes, over the 40 KB budget");
    // The figure is what a client receives.
    let sim = support::sim().await;
    let session = support::Session::start(&sim.base_url(), support::Launch::default()).await;
    let tools = session.client.list_all_tools().await.unwrap();
    let measured: usize = tools.iter().map(|t| serde_json::to_string(t).unwrap().len() + 1).sum();
    session.finish().await;
    assert_eq!(measured as u64, total);
    let text = run(&["plugins", "list"], &[]);
    assert!(
        stdout(&text).contains("tools/list share:") && stdout(&text).contains(&format!("tools/list: {total} bytes"))
    );
}

#[test]
fn a_busy_port_is_reported_once_with_the_next_step() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = run(&["demo", "--transport", "streamable-http"], &[("MCP_PORT", &port)]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.matches("in use").count(), 1, "the cause once: {err}");
    assert!(err.contains("pick a free MCP_PORT"), "{err}");
    drop(busy);
}

#[tokio::test]
async fn demo_over_http_on_port_zero_prints_hints_with_the_real_port() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let work = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(support::binary())
        .env_clear()
        .current_dir(work.path())
        .env("PROXMCP_CACHE_DIR", support::cache_dir())
        .env("MCP_PORT", "0")
        .args(["demo", "--transport", "streamable-http"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut endpoint, mut hint) = (None, None);
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("proxmcp: serving MCP at ") {
                endpoint = Some(url.trim().to_string());
            } else if line.contains("npx @modelcontextprotocol/inspector --cli") {
                hint = Some(line);
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), read).await.expect("the demo printed its hints");
    let endpoint = endpoint.expect("the bound endpoint");
    assert!(!endpoint.contains(":0/"), "{endpoint}");
    assert!(hint.unwrap_or_default().contains(&endpoint), "the hint names the bound endpoint {endpoint}");
    let _ = child.kill().await;
}
