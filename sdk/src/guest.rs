//! Finding a guest from its vmid, so tools never need the user to know
//! its node or type.

use serde::Deserialize;

use crate::{GuestKind, ToolError, pve};

/// Where a guest is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Guest id.
    pub vmid: u32,
    /// Its node.
    pub node: String,
    /// `qemu` or `lxc`.
    pub kind: &'static str,
}

impl Located {
    /// `VM` or `CT`.
    pub fn label(&self) -> &'static str {
        if self.kind == "lxc" { "CT" } else { "VM" }
    }
}

/// The arguments that locate a guest: `vmid`, with `node` and `type`
/// optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestArgs {
    /// Guest id.
    pub vmid: u32,
    /// Node, if the caller knows it.
    pub node: Option<String>,
    /// `qemu` or `lxc`, if the caller knows it.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Finds a guest's node and type: as given when both are, else through the
/// host's cached resolution; a given value that contradicts it is an error.
pub fn locate(vmid: u32, node: Option<&str>, kind: Option<&str>) -> Result<Located, ToolError> {
    let kind = match kind {
        None => None,
        Some("qemu") => Some("qemu"),
        Some("lxc") => Some("lxc"),
        Some(other) => {
            return Err(ToolError::InvalidArguments(format!(
                "type {other:?} is not a guest type; use \"qemu\" or \"lxc\""
            )));
        }
    };
    if let (Some(node), Some(kind)) = (node, kind) {
        return Ok(Located { vmid, node: node.to_string(), kind });
    }
    let g = pve::resolve_guest(vmid)?;
    let found = match g.kind {
        GuestKind::Qemu => "qemu",
        GuestKind::Lxc => "lxc",
    };
    if let Some(n) = node
        && n != g.node
    {
        return Err(ToolError::InvalidArguments(format!(
            "guest {vmid} is on node {:?}, not {n:?}; omit node to let the server find it",
            g.node
        )));
    }
    if let Some(k) = kind
        && k != found
    {
        return Err(ToolError::InvalidArguments(format!("guest {vmid} is a {found} guest, not {k}; omit type")));
    }
    Ok(Located { vmid, node: g.node, kind: found })
}
