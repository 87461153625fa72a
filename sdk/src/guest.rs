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

/// `VM 100 on pve1`: how answers name a guest.
impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} on {}", self.label(), self.vmid, self.node)
    }
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

/// A tool's arguments on one guest: `vmid`, optional `node` and `type`, and
/// the tool's own arguments `T` (a struct with
/// `#[serde(deny_unknown_fields)]`, or [`NoArgs`](crate::NoArgs)). The
/// schema lists all of them as one object.
#[cfg(feature = "schema")]
#[derive(Debug)]
pub struct OnGuest<T> {
    /// Guest id.
    pub vmid: u32,
    /// Node, if the caller knows it.
    pub node: Option<String>,
    /// `qemu` or `lxc`, if the caller knows it.
    pub kind: Option<String>,
    /// The tool's own arguments.
    pub args: T,
}

#[cfg(feature = "schema")]
impl<T> OnGuest<T> {
    /// The guest's node and type (see [`locate`]).
    pub fn locate(&self) -> Result<Located, ToolError> {
        locate(self.vmid, self.node.as_deref(), self.kind.as_deref())
    }
}

#[cfg(feature = "schema")]
impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for OnGuest<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut rest = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let base: serde_json::Map<_, _> =
            ["vmid", "node", "type"].into_iter().filter_map(|k| rest.remove_entry(k)).collect();
        let g: GuestArgs = serde_json::from_value(base.into()).map_err(D::Error::custom)?;
        let args = serde_json::from_value(rest.into()).map_err(D::Error::custom)?;
        Ok(OnGuest { vmid: g.vmid, node: g.node, kind: g.kind, args })
    }
}

#[cfg(feature = "schema")]
impl<T: schemars::JsonSchema> schemars::JsonSchema for OnGuest<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("OnGuest_{}", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        use serde_json::{Value, json};
        let own = T::json_schema(generator).to_value();
        let mut props = json!({
            "vmid": {"type": "integer", "minimum": 100},
            "node": {"type": "string"},
            "type": {"type": "string", "enum": ["qemu", "lxc"]}
        });
        let mut required = vec![json!("vmid")];
        if let (Some(all), Some(Value::Object(more))) = (props.as_object_mut(), own.get("properties")) {
            all.extend(more.clone());
        }
        if let Some(Value::Array(more)) = own.get("required") {
            required.extend(more.iter().cloned());
        }
        let schema =
            json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
        schemars::Schema::try_from(schema).unwrap_or_default()
    }
}
