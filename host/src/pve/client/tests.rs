use super::*;
use serde_json::json;

#[test]
fn base_url_is_reduced_to_its_origin_with_default_port() {
    let u = normalize_base_url("https://pve.example.com/api2/json/", false).map(|u| u.to_string());
    assert_eq!(u.ok().as_deref(), Some("https://pve.example.com:8006/"));
    let u = normalize_base_url("pve1:443", false).map(|u| u.to_string());
    assert_eq!(u.ok().as_deref(), Some("https://pve1/"));
    let u = normalize_base_url("https://[::1]", false).map(|u| u.to_string());
    assert_eq!(u.ok().as_deref(), Some("https://[::1]:8006/"));
}

#[test]
fn base_url_with_path_query_or_http_is_refused() {
    assert!(matches!(normalize_base_url("https://h/x", false), Err(ConfigError::BadBaseUrl { .. })));
    assert!(matches!(normalize_base_url("https://h/?a=1", false), Err(ConfigError::BadBaseUrl { .. })));
    assert!(matches!(normalize_base_url("https://h/#f", false), Err(ConfigError::BadBaseUrl { .. })));
    assert!(matches!(normalize_base_url("http://h", false), Err(ConfigError::InsecureHttp)));
    assert!(normalize_base_url("http://h", true).is_ok());
    assert!(matches!(normalize_base_url("", false), Err(ConfigError::MissingBaseUrl)));
}

#[test]
fn forbidden_names_the_privilege_and_a_role() {
    let segs = ["nodes", "pve1", "qemu", "100", "status", "stop"];
    let m = endpoints::lookup(Method::Post, &segs);
    let err =
        interpret(Method::Post, "/nodes/pve1/qemu/100/status/stop", m.as_ref(), 403, "", b"{}", None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("VM.PowerMgmt on /vms/100") && msg.contains("PVEVMUser"), "{msg}");
    let who = crate::pve::Identity::Token("mcp@pve!proxmcp".into());
    let err = interpret(Method::Post, "/nodes/pve1/qemu/100/status/stop", m.as_ref(), 403, "", b"{}", Some(&who))
        .unwrap_err();
    assert!(
        err.to_string().contains("pveum acl modify /vms/100 --tokens 'mcp@pve!proxmcp' --roles PVEVMUser"),
        "{err}"
    );
}

#[test]
fn backoff_grows_and_stays_jittered_within_bounds() {
    for attempt in 1..=4u32 {
        let base = 200u64 << (attempt - 1);
        let d = backoff(attempt).as_millis() as u64;
        assert!(d >= base / 2 && d < base * 3 / 2, "attempt {attempt}: {d} ms");
    }
}

#[test]
fn token_ids_must_name_user_realm_and_token() {
    assert!(valid_token_id("root@pam!mcp"));
    assert!(valid_token_id("svc@pve!read-only"));
    assert!(!valid_token_id("root@pam"));
    assert!(!valid_token_id("root!mcp"));
    assert!(!valid_token_id("@pam!x"));
}

#[test]
fn statuses_map_to_typed_errors() {
    let body = json!({"data": null, "errors": {"memory": "value must be at least 16"}}).to_string();
    let segs = None;
    match interpret(Method::Post, "/x", segs, 400, "Bad Request", body.as_bytes(), None) {
        Err(ApiError::BadRequest { fields, .. }) => assert_eq!(fields[0].field, "memory"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(interpret(Method::Get, "/x", segs, 401, "", b"", None), Err(ApiError::Unauthorized(_))));
    assert!(matches!(interpret(Method::Get, "/x", segs, 403, "", b"", None), Err(ApiError::Forbidden(_))));
    assert!(matches!(interpret(Method::Get, "/x", segs, 595, "", b"", None), Err(ApiError::NodeUnreachable(_))));
    assert!(matches!(
        interpret(Method::Get, "/x", segs, 502, "Bad Gateway", b"<html>", None),
        Err(ApiError::Upstream { status: 502, .. })
    ));
    assert!(matches!(interpret(Method::Get, "/x", segs, 200, "", b"<html>", None), Err(ApiError::Other(_))));
    assert_eq!(interpret(Method::Get, "/x", segs, 200, "", br#"{"data":[1]}"#, None).ok().as_deref(), Some("[1]"));
    assert_eq!(interpret(Method::Get, "/x", segs, 200, "", br#"{"data":null}"#, None).ok().as_deref(), Some("null"));
    assert!(interpret(Method::Get, "/x", segs, 200, "", br#"[1]"#, None).is_err());
}
