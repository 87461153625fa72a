//! Prompts: runbooks a client offers its user ("/safe-change 100 …") and
//! the model then follows with proxmcp's tools. Each names the tools it
//! uses; a caller sees only the runbooks whose tools it may call, so a
//! read-only deployment is not offered one that changes guests.

use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::{Map, Value};

/// One runbook.
struct Runbook {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    /// `(name, description, required)`.
    arguments: &'static [(&'static str, &'static str, bool)],
    /// The tools the steps call; all must be offered to the caller.
    tools: &'static [&'static str],
    /// The steps, with `{argument}` placeholders (an absent optional one
    /// reads as "not given").
    steps: &'static str,
}

const RUNBOOKS: &[Runbook] = &[
    Runbook {
        name: "safe-change",
        title: "Change a guest safely",
        description: "Snapshot, change, verify, and know how to roll back.",
        arguments: &[("vmid", "The guest to change.", true), ("change", "What to change, in words.", true)],
        tools: &[
            "pve_get_vm_status",
            "pve_get_vm_config",
            "pve_create_snapshot",
            "pve_set_vm_config",
            "pve_rollback_snapshot",
        ],
        steps: "Make this change to guest {vmid} safely: {change}.\n\
1. Read its state with pve_get_vm_status and pve_get_vm_config (vmid {vmid}); note the values you will change and any pending changes.\n\
2. Take a snapshot with pve_create_snapshot (snapname like pre-change-<date>); stop if it fails.\n\
3. Show me the exact change with pve_set_vm_config and dry_run=true, and wait for my yes before calling it with confirm=true.\n\
4. Verify with pve_get_vm_config and pve_get_vm_status; say which changes wait for a restart.\n\
5. If anything is wrong, offer pve_rollback_snapshot to the snapshot from step 2, and say what it would undo.",
    },
    Runbook {
        name: "evacuate-node",
        title: "Empty a node",
        description: "Move every guest off a node before maintenance, one at a time.",
        arguments: &[
            ("node", "The node to empty.", true),
            ("target", "A node to move guests to; else spread them.", false),
        ],
        tools: &["pve_list_nodes", "pve_list_vms", "pve_migrate_vm", "pve_get_task_status"],
        steps: "Move every guest off node {node} (target: {target}).\n\
1. List nodes with pve_list_nodes; pick online targets with free memory (or use {target}).\n\
2. List the node's guests with pve_list_vms (node {node}); leave templates where they are and say so.\n\
3. For each guest, one at a time: run pve_migrate_vm with dry_run=true, show me the plan, then migrate with confirm=true (online for running VMs; running containers restart, say so first).\n\
4. Follow each task with pve_get_task_status; stop and report on the first failure.\n\
5. End with a table: guest, from, to, outcome.",
    },
    Runbook {
        name: "backup-audit",
        title: "Audit backups",
        description: "Is every guest backed up recently, and did the last backup jobs succeed?",
        arguments: &[("max_age_hours", "How old the newest backup may be; default 24.", false)],
        tools: &["pve_list_vms", "pve_list_backups", "pve_list_tasks"],
        steps: "Check that every guest has a backup newer than {max_age_hours} hours (24 if not given).\n\
1. List guests with pve_list_vms (templates may be skipped; say so).\n\
2. List backups with pve_list_backups; for each guest, find its newest backup (ctime) and its storage.\n\
3. List failed backup tasks with pve_list_tasks (errors=true, type vzdump).\n\
4. Answer with the guests without a backup, those whose newest is too old, and the failed jobs with their upid; nothing else needs changing.",
    },
    Runbook {
        name: "investigate-failed-task",
        title: "Investigate a failed task",
        description: "Find out why a Proxmox task failed and what to do about it.",
        arguments: &[("upid", "The task; else the most recent failure.", false)],
        tools: &["pve_list_tasks", "pve_get_task_status", "pve_get_task_log"],
        steps: "Find out why a Proxmox task failed (task: {upid}).\n\
1. If no task is given, find the most recent failure with pve_list_tasks (errors=true).\n\
2. Read its status with pve_get_task_status and its log with pve_get_task_log.\n\
3. Explain the cause in one paragraph, quote the decisive log lines, and propose the next step; do not change anything without asking me.",
    },
    Runbook {
        name: "provision-from-template",
        title: "Provision from a template",
        description: "Clone a template into a new guest, configure it and start it.",
        arguments: &[
            ("template", "The template's vmid.", true),
            ("name", "The new guest's name (a DNS name).", true),
            ("settings", "Cores, memory, cloud-init user or other settings, in words.", false),
        ],
        tools: &["pve_get_next_vmid", "pve_clone_vm", "pve_set_vm_config", "pve_start_vm", "pve_get_vm_status"],
        steps: "Create guest {name} from template {template} with these settings: {settings}.\n\
1. Get a free vmid with pve_get_next_vmid.\n\
2. Clone with pve_clone_vm (vmid {template}, newid, name {name}); show the dry run first, then confirm.\n\
3. Apply the settings with pve_set_vm_config (dry_run first, then confirm).\n\
4. Start it with pve_start_vm and check pve_get_vm_status until it runs.\n\
5. Report the vmid, node and what was set.",
    },
];

/// The runbooks whose tools `offered` all has, as MCP prompts.
pub fn list(offered: &dyn Fn(&str) -> bool) -> Vec<Prompt> {
    RUNBOOKS
        .iter()
        .filter(|r| r.tools.iter().all(|t| offered(t)))
        .map(|r| {
            let args = r
                .arguments
                .iter()
                .map(|(name, description, required)| {
                    PromptArgument::new(*name).with_description(*description).with_required(*required)
                })
                .collect();
            let description = format!("{} Uses {}.", r.description, r.tools.join(", "));
            Prompt::new(r.name, Some(description), Some(args)).with_title(r.title)
        })
        .collect()
}

/// Why a prompt cannot be given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PromptError {
    /// No runbook of that name for this caller.
    #[error("no prompt {0:?}; prompts/list shows the ones this deployment offers you")]
    Unknown(String),
    /// A required argument is missing or empty.
    #[error("prompt {prompt:?} needs the argument {argument:?}")]
    Missing {
        /// The prompt.
        prompt: String,
        /// The argument.
        argument: String,
    },
    /// An argument the runbook does not take.
    #[error("prompt {prompt:?} takes no argument {argument:?}; it takes {known}")]
    Unexpected {
        /// The prompt.
        prompt: String,
        /// The argument.
        argument: String,
        /// The ones it takes.
        known: String,
    },
}

/// Runbook `name` with `arguments` filled in.
pub fn get(
    name: &str,
    arguments: Option<&Map<String, Value>>,
    offered: &dyn Fn(&str) -> bool,
) -> Result<GetPromptResult, PromptError> {
    let runbook = RUNBOOKS
        .iter()
        .find(|r| r.name == name && r.tools.iter().all(|t| offered(t)))
        .ok_or_else(|| PromptError::Unknown(name.to_string()))?;
    let empty = Map::new();
    let given = arguments.unwrap_or(&empty);
    if let Some(extra) = given.keys().find(|k| !runbook.arguments.iter().any(|(n, ..)| n == k)) {
        let known = runbook.arguments.iter().map(|(n, ..)| *n).collect::<Vec<_>>().join(", ");
        return Err(PromptError::Unexpected { prompt: name.into(), argument: extra.clone(), known });
    }
    let mut text = runbook.steps.to_string();
    for (arg, _, required) in runbook.arguments {
        let value = match given.get(*arg) {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        if value.is_empty() && *required {
            return Err(PromptError::Missing { prompt: name.into(), argument: (*arg).into() });
        }
        let shown = if value.is_empty() { "not given".to_string() } else { value };
        text = text.replace(&format!("{{{arg}}}"), &shown);
    }
    Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).with_description(runbook.description))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all(_: &str) -> bool {
        true
    }

    #[test]
    fn every_runbook_names_tools_that_exist_and_uses_each_argument() {
        // The README's tool tables list every built-in tool.
        let readme = include_str!("../../../README.md");
        for r in RUNBOOKS {
            for t in r.tools {
                assert!(readme.contains(&format!("`{t}`")), "{}: no built-in tool {t}", r.name);
                assert!(r.steps.contains(t), "{} lists {t} but its steps do not use it", r.name);
            }
            for (arg, ..) in r.arguments {
                assert!(r.steps.contains(&format!("{{{arg}}}")), "{} never uses {arg}", r.name);
            }
        }
    }

    #[test]
    fn arguments_are_filled_checked_and_reads_only_deployments_see_only_read_runbooks() {
        let args = json!({"vmid": "100", "change": "memory to 8 GiB"});
        let r = get("safe-change", args.as_object(), &all).unwrap();
        let text = serde_json::to_string(&r.messages).unwrap();
        assert!(text.contains("guest 100 safely: memory to 8 GiB") && !text.contains("{vmid}"), "{text}");
        assert_eq!(
            get("safe-change", json!({"vmid": 100}).as_object(), &all).unwrap_err(),
            PromptError::Missing { prompt: "safe-change".into(), argument: "change".into() }
        );
        assert!(matches!(get("safe-change", json!({"vmid": 1, "change": "x", "force": 1}).as_object(), &all),
            Err(PromptError::Unexpected { argument, .. }) if argument == "force"));
        let r = get("investigate-failed-task", None, &all).unwrap();
        assert!(serde_json::to_string(&r.messages).unwrap().contains("(task: not given)"));
        let reads = |t: &str| t.starts_with("pve_list") || t.starts_with("pve_get");
        let names: Vec<String> = list(&reads).into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["backup-audit", "investigate-failed-task"]);
        assert_eq!(
            get("safe-change", args.as_object(), &reads).unwrap_err(),
            PromptError::Unknown("safe-change".into())
        );
    }
}
