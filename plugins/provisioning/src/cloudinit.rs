//! Cloud-init settings as `pve_set_vm_config` and `pve_clone_vm` take them:
//! which keys exist, and `sshkeys` encoded as Proxmox requires (URL-encoded
//! text of OpenSSH public keys, one per line).

use proxmcp_sdk::ToolError;
use serde_json::{Map, Value, json};

/// Cloud-init keys of a QEMU VM (`ipconfig0`..`ipconfig9` besides these).
pub const QEMU: &[&str] = &["ciuser", "cipassword", "sshkeys", "nameserver", "searchdomain", "citype", "ciupgrade"];

/// Whether `key` is `ipconfig0`..`ipconfig9`.
pub fn is_ipconfig(key: &str) -> bool {
    key.strip_prefix("ipconfig").is_some_and(|n| n.len() == 1 && n.as_bytes()[0].is_ascii_digit())
}

/// Whether `key` is a QEMU cloud-init key.
pub fn is_cloud_init(key: &str) -> bool {
    QEMU.contains(&key) || is_ipconfig(key)
}

/// `text` percent-encoded except for unreserved characters, as Proxmox
/// wants `sshkeys`.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Checks a value and turns it into what Proxmox takes: `sshkeys` given as
/// plain OpenSSH lines (a string, or a list of keys) is URL-encoded.
pub fn wire_value(key: &str, value: &Value) -> Result<Value, ToolError> {
    if key != "sshkeys" {
        return Ok(value.clone());
    }
    let keys: Vec<String> = match value {
        Value::String(s) => s.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect(),
        Value::Array(list) => list.iter().filter_map(Value::as_str).map(|s| s.trim().to_string()).collect(),
        other => return Err(invalid(format!("sshkeys: give OpenSSH public keys as text or a list, not {other}"))),
    };
    if keys.is_empty() {
        return Err(invalid("sshkeys is empty; give at least one public key (ssh-ed25519 AAAA... user@host)"));
    }
    if let Some(bad) = keys.iter().find(|k| !k.starts_with("ssh-") && !k.starts_with("ecdsa-") && !k.starts_with("sk-"))
    {
        let shown: String = bad.chars().take(24).collect();
        return Err(invalid(format!(
            "sshkeys: {shown:?}… is not an OpenSSH public key (ssh-ed25519, ssh-rsa, ecdsa-..., sk-...)"
        )));
    }
    Ok(json!(urlencode(&keys.join("\n"))))
}

/// A whole `cloud_init` object as Proxmox parameters.
pub fn params(settings: &Map<String, Value>) -> Result<Map<String, Value>, ToolError> {
    let mut out = Map::new();
    for (k, v) in settings {
        if !is_cloud_init(k) {
            return Err(invalid(format!(
                "cloud_init key {k:?} does not exist; use {}, ipconfig0..ipconfig9",
                QEMU.join(", ")
            )));
        }
        out.insert(k.clone(), wire_value(k, v)?);
    }
    Ok(out)
}

fn invalid(message: impl Into<String>) -> ToolError {
    ToolError::InvalidArguments(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_keys_are_url_encoded_one_per_line_and_other_text_is_refused() {
        let v = wire_value("sshkeys", &json!("ssh-ed25519 AAAAC3 ops@laptop\nssh-rsa AAAAB3 ci")).unwrap();
        assert_eq!(v, json!("ssh-ed25519%20AAAAC3%20ops%40laptop%0Assh-rsa%20AAAAB3%20ci"));
        assert!(wire_value("sshkeys", &json!("hello")).is_err());
        assert!(wire_value("sshkeys", &json!("")).is_err());
        assert!(is_ipconfig("ipconfig3") && !is_ipconfig("ipconfig") && !is_ipconfig("ipconfig10"));
        assert!(params(&json!({"ciuzer": "x"}).as_object().unwrap().clone()).is_err());
    }
}
