//! `pve_resize_disk`: grow a guest's disk; shrinking is refused.

use proxmcp_sdk::guest::OnGuest;
use proxmcp_sdk::write::{Nothing, Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &["PUT /nodes/{node}/qemu/{vmid}/resize", "PUT /nodes/{node}/lxc/{vmid}/resize"];

pub fn router() -> Router {
    Router::new().write(
        "pve_resize_disk",
        "Resize disk",
        "Grow a guest's disk, e.g. size \"+10G\". Shrinking is not possible.",
        Hints::WRITE,
        resize,
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// e.g. scsi0, virtio0, rootfs; default the boot disk.
    disk: Option<String>,
    #[schemars(regex(pattern = r"^\+[0-9]+(\.[0-9]+)?[KMGT]$"))]
    size: String,
}

/// Only `+N[KMGT]`: growing is the only safe resize.
fn valid_growth(size: &str) -> bool {
    let Some(rest) = size.strip_prefix('+') else { return false };
    let Some(unit) = rest.chars().last() else { return false };
    let number = &rest[..rest.len() - 1];
    "KMGT".contains(unit) && !number.is_empty() && number.parse::<f64>().is_ok_and(|n| n > 0.0)
}

fn resize(a: OnGuest<Args>, writes: &mut Writes) -> Result<Answer<Outcome>, ToolError> {
    let size = &a.args.size;
    if !valid_growth(size) {
        return Err(ToolError::InvalidArguments(format!(
            "size {size:?} must grow the disk, written as +10G (a plus sign, a number, and K, M, G or T); disks cannot shrink"
        )));
    }
    let g = a.locate()?;
    let disk = a.args.disk.clone().unwrap_or_else(|| if g.kind == "qemu" { "scsi0".into() } else { "rootfs".into() });
    let vmid = g.vmid.to_string();
    let path = ["nodes", g.node.as_str(), g.kind, vmid.as_str(), "resize"];
    let sent = writes.send(Method::Put, &path, &json!({"disk": disk, "size": size}))?;
    writes.finish(&g.node, sent, &format!("grow {disk} of {g} by {}", &size[1..]), Nothing {})
}
