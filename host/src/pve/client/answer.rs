//! Turning Proxmox's HTTP answers into data or typed errors that say what
//! to do, with secrets redacted on the way.

use serde_json::Value;

use super::super::error::{ApiError, FieldError};
use super::super::{Method, endpoints};
use super::MAX_BODY_BYTES;

/// `data` with its secrets redacted (the slow path of the answer).
pub(super) fn redacted(data: &str, endpoint: Option<&endpoints::Matched>) -> Result<String, ApiError> {
    let mut value: Value =
        serde_json::from_str(data).map_err(|e| ApiError::Other(format!("Proxmox's answer is not JSON: {e}")))?;
    match endpoint {
        Some(m) => m.redact_answer(&mut value),
        None => endpoints::redact_in_place(&mut value, &endpoints::is_secret_key),
    }
    Ok(value.to_string())
}

/// PVE's answer envelope; `data` kept as the raw JSON text.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    data: Option<&'a serde_json::value::RawValue>,
}

/// Turns an HTTP answer into its `data` (JSON text) or a typed error.
pub(super) fn interpret(
    method: Method,
    path: &str,
    endpoint: Option<&endpoints::Matched>,
    status: u16,
    reason: &str,
    body: &[u8],
    who: Option<&super::Identity>,
) -> Result<String, ApiError> {
    if (200..300).contains(&status) {
        if body.len() >= MAX_BODY_BYTES {
            return Err(ApiError::Other(format!(
                "the answer to {method} {path} is larger than {} MiB; narrow the request",
                MAX_BODY_BYTES >> 20
            )));
        }
        // serde would also read a struct from a JSON array: PVE's envelope is an object.
        let object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        return match serde_json::from_slice::<Envelope<'_>>(body) {
            Ok(e) if object => Ok(e.data.map_or_else(|| "null".to_string(), |d| d.get().to_string())),
            _ => Err(ApiError::Other(format!(
                "Proxmox answered {method} {path} with a body that is not PVE's JSON (is PVE_BASE_URL pointing at a Proxmox VE API?)"
            ))),
        };
    }
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v["message"].as_str())
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| reason.to_string());
    let fields: Vec<FieldError> = parsed
        .as_ref()
        .and_then(|v| v["errors"].as_object())
        .map(|errs| {
            errs.iter()
                .map(|(k, v)| FieldError {
                    field: k.clone(),
                    message: v.as_str().map(|s| s.trim().to_string()).unwrap_or_else(|| v.to_string()),
                })
                .collect()
        })
        .unwrap_or_default();
    Err(match status {
        400 => ApiError::BadRequest {
            message: if message.is_empty() { "Parameter verification failed.".into() } else { message },
            fields,
        },
        401 => ApiError::Unauthorized(format!(
            "Proxmox refused the credentials for {method} {path} (HTTP 401); check PVE_API_TOKEN_ID and PVE_API_TOKEN_SECRET, and that the token is not expired"
        )),
        403 => ApiError::Forbidden(match endpoint.and_then(endpoints::Matched::requirement) {
            Some(r) => {
                let whom = who.map_or_else(|| "--tokens 'ID' (or --users)".to_string(), super::Identity::pveum_option);
                format!(
                    "Proxmox refused {method} {path} ({message}): it needs {} on {}. Grant a role that has it, e.g. `pveum acl modify {} {whom} --roles {}` (a token with privilege separation needs the grant itself; `proxmcp doctor` lists what every tool needs)",
                    r.privileges, r.acl_path, r.acl_path, r.role
                )
            }
            None => format!(
                "Proxmox refused {method} {path} ({message}); grant proxmcp's token or user a role with the needed privilege on that path (Datacenter > Permissions)"
            ),
        }),
        404 => ApiError::NotFound(format!("{method} {path}: not found ({message})")),
        409 => {
            ApiError::Conflict(format!("{method} {path}: {message}; wait for the running task to finish, then retry"))
        }
        595 | 596 => ApiError::NodeUnreachable(format!(
            "{method} {path}: the node is unreachable ({message}); it may be offline, pick another node or wait for it"
        )),
        500 if message.contains("does not exist") => ApiError::NotFound(format!("{method} {path}: {message}")),
        500 if message.contains("locked") || message.contains("lock") => {
            ApiError::Conflict(format!("{method} {path}: {message}; wait for the lock to be released, then retry"))
        }
        _ => ApiError::Upstream { status, message },
    })
}
