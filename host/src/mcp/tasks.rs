//! Long calls as MCP tasks (the `io.modelcontextprotocol/tasks` extension,
//! SEP-2663): a confirmed write from a client that declared the extension
//! answers at once with a task; the call runs on, and `tasks/get` reports
//! it — with the Proxmox task's own status while it runs — until its result
//! is there. `tasks/cancel` stops the Proxmox task through the gates. Only
//! the principal who started a task sees or cancels it.
//!
//! Clients without the extension are answered as before: progress
//! notifications while the call waits, and the UPID in the result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rmcp::ErrorData as McpError;
use rmcp::model::{CreateTaskResult, DetailedTask, GetTaskResult, JsonObject, Task, TaskPayload, TaskStatus};
use tokio_util::sync::CancellationToken;

use crate::gate::{Caller, Gate, ProxmoxToken, TaskSink};

/// How long a task and its result are kept after it was created.
const TTL: Duration = Duration::from_secs(600);
/// How often a client should ask.
const POLL_MS: u64 = 1_000;
/// Tasks kept at once (all principals); the oldest finished go first.
const MAX_TASKS: usize = 256;

enum State {
    Working,
    Completed(JsonObject),
    Failed(JsonObject),
    Cancelled,
}

struct Record {
    principal: String,
    plugin: String,
    created: u64,
    born: Instant,
    updated: u64,
    state: State,
    /// The Proxmox task the call waits for: (node, UPID).
    /// Target, node and UPID of the Proxmox task the call waits for.
    upid: Option<(String, String, String)>,
    /// The newest progress line.
    progress: Option<String>,
    cancel: CancellationToken,
}

/// The tasks of every session: on the stateless wire each request may
/// reach another session object, so the book is shared.
#[derive(Default)]
pub struct TaskBook {
    tasks: Mutex<HashMap<String, Record>>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What a new task's call needs: its id, where to report the Proxmox task
/// and progress, and the token that stops it.
pub struct Started {
    pub id: String,
    pub on_task: TaskSink,
    pub on_progress: crate::gate::ProgressSink,
    pub cancel: CancellationToken,
}

impl TaskBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a task for `caller`'s call of a tool of `plugin`; `None`
    /// when the book is full of running tasks.
    pub fn start(self: &Arc<Self>, caller: &Caller, plugin: &str) -> Option<(Started, CreateTaskResult)> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).ok()?;
        let id = hex::encode(bytes);
        let cancel = CancellationToken::new();
        let created = now();
        {
            let mut tasks = self.lock();
            tasks.retain(|_, r| r.born.elapsed() < TTL);
            if tasks.len() >= MAX_TASKS {
                let oldest = tasks
                    .iter()
                    .filter(|(_, r)| !matches!(r.state, State::Working))
                    .min_by_key(|(_, r)| r.born)
                    .map(|(k, _)| k.clone());
                tasks.remove(&oldest?);
            }
            tasks.insert(
                id.clone(),
                Record {
                    principal: caller.principal.clone(),
                    plugin: plugin.to_string(),
                    created,
                    born: Instant::now(),
                    updated: created,
                    state: State::Working,
                    upid: None,
                    progress: None,
                    cancel: cancel.clone(),
                },
            );
        }
        let book = Arc::clone(self);
        let task_id = id.clone();
        let on_task: TaskSink = Arc::new(move |target: &str, node: &str, upid: &str| {
            book.update(&task_id, |r| r.upid = Some((target.to_string(), node.to_string(), upid.to_string())));
        });
        let book = Arc::clone(self);
        let task_id = id.clone();
        let on_progress: crate::gate::ProgressSink = Arc::new(move |p: crate::gate::Progress| {
            let line = match p.total {
                Some(100.0) => format!("{:.0}%: {}", p.value, p.message),
                Some(total) => format!("{:.0} of {total:.0}: {}", p.value.floor(), p.message),
                None => p.message,
            };
            book.update(&task_id, |r| r.progress = Some(line));
        });
        let created_task = self.lock().get(&id).map(|r| task_of(&id, r))?;
        Some((Started { id, on_task, on_progress, cancel }, CreateTaskResult::new(created_task)))
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Record)) {
        if let Some(r) = self.lock().get_mut(id) {
            f(r);
            r.updated = now();
        }
    }

    /// Records the call's end; a cancelled task stays cancelled.
    pub fn finish(&self, id: &str, outcome: Result<JsonObject, JsonObject>) {
        self.update(id, |r| {
            if matches!(r.state, State::Working) {
                r.state = match outcome {
                    Ok(result) => State::Completed(result),
                    Err(error) => State::Failed(error),
                };
            }
        });
    }

    /// `tasks/get`: while the call runs, Proxmox's own status of its task.
    pub async fn get(
        &self,
        gate: &Gate,
        caller: &Caller,
        token: Option<&ProxmoxToken>,
        id: &str,
    ) -> Result<GetTaskResult, McpError> {
        let upid = {
            let tasks = self.lock();
            let r = find(&tasks, caller, id)?;
            match r.state {
                State::Working => r.upid.clone(),
                _ => return Ok(GetTaskResult::new(detailed(id, r, None))),
            }
        };
        let pve = match &upid {
            Some((target, node, upid)) => Some(match gate.task_status(target, token, node, upid).await {
                Ok(s) => {
                    let status = s["status"].as_str().unwrap_or("unknown");
                    let exit = s["exitstatus"].as_str().map(|e| format!(", exit status {e}")).unwrap_or_default();
                    format!("Proxmox task {upid} on {node}: {status}{exit}")
                }
                Err(e) => format!("Proxmox task {upid} on {node}: status unreadable ({e})"),
            }),
            None => None,
        };
        let tasks = self.lock();
        let r = find(&tasks, caller, id)?;
        Ok(GetTaskResult::new(detailed(id, r, pve)))
    }

    /// `tasks/cancel`: stops the call and, once it has one, its Proxmox
    /// task through the gates.
    pub async fn cancel(
        &self,
        gate: &Gate,
        caller: &Caller,
        proxmox_token: Option<&ProxmoxToken>,
        id: &str,
    ) -> Result<(), McpError> {
        let (plugin, upid, token) = {
            let tasks = self.lock();
            let r = find(&tasks, caller, id)?;
            if !matches!(r.state, State::Working) {
                return Err(McpError::invalid_params(
                    format!("task {id} has already ended ({}); nothing to cancel", status_word(&r.state)),
                    None,
                ));
            }
            (r.plugin.clone(), r.upid.clone(), r.cancel.clone())
        };
        if let Some((target, node, upid)) = &upid {
            gate.stop_task(caller, &plugin, target, proxmox_token, node, upid)
                .await
                .map_err(|e| McpError::internal_error(format!("could not stop Proxmox task {upid}: {e}"), None))?;
        }
        token.cancel();
        self.update(id, |r| r.state = State::Cancelled);
        Ok(())
    }
}

fn find<'a>(tasks: &'a HashMap<String, Record>, caller: &Caller, id: &str) -> Result<&'a Record, McpError> {
    tasks.get(id).filter(|r| r.principal == caller.principal).ok_or_else(|| {
        McpError::invalid_params(format!("no task {id:?} (tasks are kept {} minutes)", TTL.as_secs() / 60), None)
    })
}

fn status_word(state: &State) -> &'static str {
    match state {
        State::Working => "working",
        State::Completed(_) => "completed",
        State::Failed(_) => "failed",
        State::Cancelled => "cancelled",
    }
}

fn task_of(id: &str, r: &Record) -> Task {
    let status = match r.state {
        State::Working => TaskStatus::Working,
        State::Completed(_) => TaskStatus::Completed,
        State::Failed(_) => TaskStatus::Failed,
        State::Cancelled => TaskStatus::Cancelled,
    };
    let ttl = u64::try_from(TTL.as_millis()).unwrap_or(u64::MAX);
    Task::new(id, status, crate::clock::rfc3339(r.created), crate::clock::rfc3339(r.updated))
        .with_ttl_ms(ttl)
        .with_poll_interval_ms(POLL_MS)
}

fn detailed(id: &str, r: &Record, pve: Option<String>) -> DetailedTask {
    let mut task = task_of(id, r);
    let message = [pve, r.progress.clone()].into_iter().flatten().collect::<Vec<_>>().join("; ");
    if !message.is_empty() {
        task = task.with_status_message(message);
    }
    let payload = match &r.state {
        State::Working => TaskPayload::Working,
        State::Completed(result) => TaskPayload::Completed { result: result.clone() },
        State::Failed(error) => TaskPayload::Failed { error: error.clone() },
        State::Cancelled => TaskPayload::Cancelled,
    };
    DetailedTask::new(task, payload)
}
