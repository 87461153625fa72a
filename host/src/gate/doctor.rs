//! The permissions doctor: for every loaded tool, whether the credentials
//! in use hold what it needs, and the `pveum` commands that grant what is
//! missing. What a tool needs comes from the endpoint model (the rows that
//! name it, and finding a guest when it takes a `vmid`); what the
//! credentials hold from Proxmox itself.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::Gate;
use crate::pve::permissions::{Coverage, Holdings, Roles, generic};
use crate::pve::{ApiError, Identity, endpoints};
use crate::runtime::ToolSpec;

/// What the doctor knows of a loaded tool.
#[derive(Debug, Clone)]
pub struct ToolFacts {
    /// Its name.
    pub name: String,
    /// Whether it takes a `vmid` (and so must find the guest).
    pub takes_vmid: bool,
    /// Whether it claims to be read-only.
    pub read_only: bool,
    /// Whether it comes from a built-in plugin.
    pub builtin: bool,
}

impl ToolFacts {
    /// The facts of `spec`, from a built-in plugin or not.
    pub fn of(spec: &ToolSpec, builtin: bool) -> ToolFacts {
        ToolFacts {
            name: spec.name.clone(),
            takes_vmid: spec.input_schema.get("properties").and_then(|p| p.get("vmid")).is_some(),
            read_only: spec.hints.read_only,
            builtin,
        }
    }
}

/// A tool that will be refused (403), and what it lacks.
#[derive(Debug, Clone, Serialize)]
pub struct Failing {
    /// The tool.
    pub tool: String,
    /// `VM.PowerMgmt on /vms`, one per missing privilege.
    pub missing: Vec<String>,
}

/// A tool that works on some objects only.
#[derive(Debug, Clone, Serialize)]
pub struct Partial {
    /// The tool.
    pub tool: String,
    /// `VM.PowerMgmt only on /vms/100, /pool/dev`.
    pub only: Vec<String>,
}

/// A tool whose needs proxmcp cannot tell.
#[derive(Debug, Clone, Serialize)]
pub struct Unknown {
    /// The tool.
    pub tool: String,
    /// Why.
    pub why: String,
}

/// One command that grants what tools lack.
#[derive(Debug, Clone, Serialize)]
pub struct GrantLine {
    /// `pveum acl modify /vms --tokens 'mcp@pve!proxmcp' --roles PVEVMUser`.
    pub command: String,
    /// The privileges it brings that the tools need.
    pub privileges: Vec<String>,
    /// The tools it makes work.
    pub tools: Vec<String>,
}

/// The doctor's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Whom Proxmox sees.
    pub credentials: String,
    /// Tools the credentials can use fully.
    pub works: Vec<String>,
    /// Tools Proxmox will refuse with 403.
    pub fails: Vec<Failing>,
    /// Tools that work on some guests, nodes or storages only.
    pub partly: Vec<Partial>,
    /// Tools whose needs proxmcp does not know.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<Unknown>,
    /// Commands to run on a Proxmox node to grant what is missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant: Vec<GrantLine>,
    /// How privilege separation changes the commands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Report {
    /// One line for people.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{}: {} tools work, {} will fail with 403, {} work on some objects only",
            self.credentials,
            self.works.len(),
            self.fails.len(),
            self.partly.len()
        );
        if !self.unknown.is_empty() {
            out.push_str(&format!(", {} unknown", self.unknown.len()));
        }
        if let Some(first) = self.grant.first() {
            out.push_str(&format!("; to grant: {}", first.command));
            if self.grant.len() > 1 {
                out.push_str(&format!(" (and {} more)", self.grant.len() - 1));
            }
        }
        out
    }
}

/// What one tool needs: groups of alternatives, each on an ACL template;
/// and whether the endpoint model names the tool at all.
fn needs_of(tool: &ToolFacts) -> (Vec<(Vec<&'static str>, &'static str)>, bool) {
    let mut needs: Vec<(Vec<&'static str>, &'static str)> = Vec::new();
    let mut named = false;
    if tool.takes_vmid {
        // Finding the guest: /cluster/resources lists only guests the
        // credentials may audit.
        needs.push((vec!["VM.Audit"], "/vms/{vmid}"));
    }
    for e in endpoints::all().filter(|e| e.tools.contains(&tool.name.as_str())) {
        named = true;
        let any_of = e.needed();
        if !any_of.is_empty() && !needs.iter().any(|(a, acl)| *a == any_of && *acl == e.acl) {
            needs.push((any_of, e.acl));
        }
    }
    (needs, named)
}

/// The report for `tools`, given what the credentials hold.
pub fn report<'a>(
    tools: impl Iterator<Item = &'a ToolFacts>,
    holdings: &Holdings,
    roles: &Roles,
    identity: &Identity,
) -> Report {
    let mut r = Report {
        credentials: identity.to_string(),
        works: Vec::new(),
        fails: Vec::new(),
        partly: Vec::new(),
        unknown: Vec::new(),
        grant: Vec::new(),
        note: None,
    };
    // ACL path -> (alternatives needed there -> tools needing them)
    let mut wanted: BTreeMap<String, BTreeMap<Vec<&str>, BTreeSet<String>>> = BTreeMap::new();
    for spec in tools {
        let (needs, named) = needs_of(spec);
        // A built-in read without rows of its own reads what Proxmox
        // filters for the caller; anything else unmodelled is unknown.
        let known = named || (spec.builtin && spec.read_only);
        if !known {
            let why = if spec.builtin {
                "it sends whatever request it is given; each needs its own privilege (pve_api_describe names it)"
            } else {
                "not a built-in tool: proxmcp does not know which requests it sends"
            };
            r.unknown.push(Unknown { tool: spec.name.clone(), why: why.into() });
            continue;
        }
        let (mut missing, mut only) = (Vec::new(), Vec::new());
        for (any_of, acl) in &needs {
            let shown = any_of.join(" or ");
            match holdings.coverage(any_of, acl) {
                Coverage::Everywhere => continue,
                Coverage::Some(paths) => only.push(format!("{shown} only on {}", paths.join(", "))),
                Coverage::Nowhere => missing.push(format!("{shown} on {}", generic(acl))),
            }
            wanted.entry(generic(acl)).or_default().entry(any_of.clone()).or_default().insert(spec.name.clone());
        }
        if !missing.is_empty() {
            r.fails.push(Failing { tool: spec.name.clone(), missing });
        } else if !only.is_empty() {
            r.partly.push(Partial { tool: spec.name.clone(), only });
        } else {
            r.works.push(spec.name.clone());
        }
    }
    for (path, needs) in wanted {
        let groups: Vec<Vec<&str>> = needs.keys().cloned().collect();
        // One role for the whole path when there is one, else one per need.
        let lines: Vec<(Vec<Vec<&str>>, Option<&str>)> = match roles.smallest_covering(&groups) {
            Some(role) => vec![(groups, Some(role))],
            None => groups.into_iter().map(|g| (vec![g.clone()], roles.smallest_covering(&[g]))).collect(),
        };
        for (groups, role) in lines {
            let tools: BTreeSet<String> = groups.iter().filter_map(|g| needs.get(g)).flatten().cloned().collect();
            let privileges: Vec<String> = groups.iter().map(|g| g.join(" or ")).collect();
            let command = match role {
                Some(role) => format!("pveum acl modify {path} {} --roles {role}", identity.pveum_option()),
                None => format!(
                    "no built-in role holds {} on {path}: create one (pveum role add) and grant it",
                    privileges.join(", ")
                ),
            };
            r.grant.push(GrantLine { command, privileges, tools: tools.into_iter().collect() });
        }
    }
    if matches!(identity, Identity::Token(_)) && !r.grant.is_empty() {
        r.note = Some(
            "for a token with privilege separation (privsep 1) grant the token as shown; without it the token has its \
             user's privileges, so grant the user (--users) instead"
                .into(),
        );
    }
    r
}

/// Reads what the credentials hold and judges `tools` by it. The two
/// reads go through `read`, so a plugin's call passes its grant and the
/// audit as any request does.
pub async fn examine<F, Fut>(tools: &[ToolFacts], identity: &Identity, read: F) -> Result<Report, ApiError>
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value, ApiError>>,
{
    let (held, roles) = tokio::try_join!(read("permissions"), read("roles"))?;
    Ok(report(tools.iter(), &Holdings::from_answer(&held), &Roles::from_answer(&roles), identity))
}

impl Gate {
    /// Takes the tools the credentials cannot use at all out of this
    /// deployment (`[tools] hide_unauthorized`); returns their names.
    pub async fn hide_unauthorized(&mut self) -> Result<Vec<String>, ApiError> {
        let report = self.permissions_report().await?;
        let hidden: Vec<String> = report.fails.into_iter().map(|f| f.tool).collect();
        self.tools.retain(|name, _| !hidden.contains(name));
        self.catalog = self.catalog.iter().filter(|t| !hidden.contains(&t.name)).cloned().collect();
        Ok(hidden)
    }

    /// The doctor's report for the tools this deployment loaded, read from
    /// the default target with the credentials in use.
    pub async fn permissions_report(&self) -> Result<Report, ApiError> {
        self.permissions_report_on(self.targets.default()).await
    }

    /// The doctor's report for the tools this deployment loaded, read from
    /// `target` with its credentials.
    pub async fn permissions_report_on(&self, target: &super::Target) -> Result<Report, ApiError> {
        let pve = target.pve.as_ref().ok_or_else(|| ApiError::Other("no Proxmox connection is configured".into()))?;
        examine(&self.catalog, pve.identity(), |what| async move {
            pve.request(crate::pve::Method::Get, &["access", what], &serde_json::Value::Null).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(name: &str, takes_vmid: bool, read_only: bool, builtin: bool) -> ToolFacts {
        ToolFacts { name: name.into(), takes_vmid, read_only, builtin }
    }

    #[test]
    fn tools_are_judged_by_the_rows_that_name_them_and_grants_use_the_smallest_role() {
        let tools = [
            tool("pve_list_vms", false, true, true),
            tool("pve_get_vm_config", true, true, true),
            tool("pve_start_vm", true, false, true),
            tool("pve_create_snapshot", true, false, true),
            tool("pve_api_request", false, false, true),
            tool("vendor_tool", false, true, false),
        ];
        let held = Holdings::from_answer(&json!({
            "/": {"VM.Audit": 1, "Sys.Audit": 1},
            "/vms/100": {"VM.PowerMgmt": 1}
        }));
        let roles = Roles::from_answer(&json!([
            {"roleid": "PVEVMUser", "privs": "VM.Audit,VM.PowerMgmt", "special": 1},
            {"roleid": "PVEVMAdmin", "privs": "VM.Audit,VM.PowerMgmt,VM.Snapshot", "special": 1},
            {"roleid": "Custom", "privs": "VM.Snapshot", "special": 0}
        ]));
        let who = Identity::Token("mcp@pve!proxmcp".into());
        let r = report(tools.iter(), &held, &roles, &who);
        assert_eq!(r.works, ["pve_list_vms", "pve_get_vm_config"]);
        assert_eq!(r.partly.len(), 1);
        assert_eq!(
            (r.partly[0].tool.as_str(), r.partly[0].only[0].as_str()),
            ("pve_start_vm", "VM.PowerMgmt only on /vms/100")
        );
        assert_eq!(r.fails.len(), 1);
        assert_eq!(
            (r.fails[0].tool.as_str(), r.fails[0].missing[0].as_str()),
            ("pve_create_snapshot", "VM.Snapshot on /vms")
        );
        let unknown: Vec<&str> = r.unknown.iter().map(|u| u.tool.as_str()).collect();
        assert_eq!(unknown, ["pve_api_request", "vendor_tool"]);
        // One line for /vms: the built-in role holding both privileges.
        assert_eq!(r.grant.len(), 1);
        assert_eq!(r.grant[0].command, "pveum acl modify /vms --tokens 'mcp@pve!proxmcp' --roles PVEVMAdmin");
        assert_eq!(r.grant[0].tools, ["pve_create_snapshot", "pve_start_vm"]);
        assert!(r.note.is_some() && r.summary().contains("1 will fail with 403"));
    }
}
