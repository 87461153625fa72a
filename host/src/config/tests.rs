use super::*;
use crate::pve::TlsMode;
use std::collections::HashMap;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

#[test]
fn a_config_file_with_secrets_readable_by_others_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proxmcp.toml");
    std::fs::write(&file, "[proxmox]\ntoken_secret = \"s3cr3t\"\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let w = secret_file_warning(&file).unwrap();
    assert!(w.contains("chmod 600") && w.contains("proxmcp.toml") && !w.contains("s3cr3t"), "{w}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(secret_file_warning(&file).is_none());
    std::fs::write(&file, "read_only = true\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(secret_file_warning(&file).is_none(), "no secret, no warning");
}

#[test]
fn env_beats_file_and_flags_beat_env() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[proxmox]\nbase_url = \"https://file:8006\"\n[plugins]\nread_only = false\n").unwrap();
    let env = env_of(&[("PVE_HOST", "envhost"), ("PVE_MCP_READ_ONLY", "false")]);
    let overrides = Overrides { read_only: true, ..Overrides::default() };
    let c = Config::load(Some(&path), &env, &overrides).unwrap();
    assert_eq!(c.proxmox.base_url.as_deref(), Some("envhost"));
    assert!(c.read_only());
}

#[test]
fn primary_env_names_win_over_aliases() {
    let env =
        env_of(&[("PVE_BASE_URL", "a"), ("PVE_HOST", "b"), ("PVE_TOKEN_ID", "x@pam!t"), ("PVE_API_TOKEN_SECRET", "s")]);
    let c = Config::load(None, &env, &Overrides::default()).unwrap();
    assert_eq!(c.proxmox.base_url.as_deref(), Some("a"));
    assert_eq!(c.proxmox.token_id.as_deref(), Some("x@pam!t"));
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[proxmox]\nbase_ulr = \"x\"\n").unwrap();
    let err = Config::load(Some(&path), &env_of(&[]), &Overrides::default()).unwrap_err().to_string();
    assert!(err.contains("base_ulr"), "{err}");
}

#[test]
fn bad_env_values_name_the_variable() {
    let err =
        Config::load(None, &env_of(&[("PVE_VERIFY_SSL", "maybe")]), &Overrides::default()).unwrap_err().to_string();
    assert!(err.contains("PVE_VERIFY_SSL") && err.contains("true or false"), "{err}");
    let err = Config::load(None, &env_of(&[("MCP_TRANSPORT", "carrier-pigeon")]), &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("stdio"), "{err}");
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let env = env_of(&[("PVE_API_TOKEN_SECRET", "s3cr3t-value"), ("PVE_PASSWORD", "pw-value")]);
    let c = Config::load(None, &env, &Overrides::default()).unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cr3t-value") && !shown.contains("pw-value"), "{shown}");
}

#[test]
fn tls_settings_map_to_one_mode_and_conflicts_are_refused() {
    let base = [("PVE_BASE_URL", "https://h"), ("PVE_API_TOKEN_ID", "root@pam!x"), ("PVE_API_TOKEN_SECRET", "s")];
    let with = |extra: &[(&str, &str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(extra);
        Config::load(None, &env_of(&pairs), &Overrides::default()).unwrap().pve()
    };
    assert_eq!(with(&[]).unwrap().unwrap().tls, TlsMode::System);
    assert_eq!(with(&[("PVE_VERIFY_SSL", "false")]).unwrap().unwrap().tls, TlsMode::Insecure);
    let fp = "ab".repeat(32);
    assert_eq!(with(&[("PVE_FINGERPRINT", &fp)]).unwrap().unwrap().tls, TlsMode::Fingerprint(vec![0xAB; 32]));
    assert!(with(&[("PVE_FINGERPRINT", &fp), ("PVE_CA_FILE", "/x")]).is_err());
    assert!(with(&[("PVE_FINGERPRINT", &fp), ("PVE_VERIFY_SSL", "false")]).is_err());
    let err = with(&[("PVE_FINGERPRINT", "AA:BB")]).unwrap_err().to_string();
    assert!(err.contains("Certificates"), "{err}");
}

#[test]
fn token_without_secret_is_reported() {
    let env = env_of(&[("PVE_BASE_URL", "https://h"), ("PVE_API_TOKEN_ID", "root@pam!x")]);
    let c = Config::load(None, &env, &Overrides::default()).unwrap();
    assert!(matches!(c.pve(), Err(crate::pve::ConfigError::MissingCredentials)));
}
