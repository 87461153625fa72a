//! Waiting for a Proxmox task (a UPID) with polling backoff, reporting
//! progress from the task log as it grows.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ApiError, Method, PveClient};

/// First and longest pause between polls.
const POLL_START: Duration = Duration::from_millis(200);
const POLL_MAX: Duration = Duration::from_secs(2);
/// Log lines kept for a failed or finished task's answer.
const TAIL_LINES: usize = 10;

/// One progress report while waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskProgress {
    /// The percentage PVE last logged (vzdump, clone, migrate), if any.
    pub percent: Option<f64>,
    /// The newest log line.
    pub line: Option<String>,
    /// Time waited so far.
    pub elapsed: Duration,
}

/// How the wait ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// The task finished with exit status `OK`.
    Succeeded {
        /// The task.
        upid: String,
        /// The last log lines.
        log_tail: Vec<String>,
    },
    /// The task finished with an error.
    Failed {
        /// The task.
        upid: String,
        /// PVE's exit status (the error message).
        exitstatus: String,
        /// The last log lines.
        log_tail: Vec<String>,
    },
    /// The wait timed out; the task goes on.
    Running {
        /// The task, to follow up with its status later.
        upid: String,
        /// Its node.
        node: String,
    },
    /// The caller gave up waiting (the MCP request was cancelled); the task
    /// goes on.
    Cancelled {
        /// The task.
        upid: String,
        /// Its node.
        node: String,
    },
}

/// The percentage in a task log line, as PVE writes it ("… 42% (…", "(42.00%)").
pub fn percent_in(line: &str) -> Option<f64> {
    let pos = line.find('%')?;
    let digits: String = line[..pos].chars().rev().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let number: String = digits.chars().rev().collect();
    number.parse().ok().filter(|p: &f64| (0.0..=100.0).contains(p))
}

impl PveClient {
    /// Waits up to `timeout` for task `upid` on `node`, calling `progress`
    /// for every new log line. On timeout the task keeps running and the
    /// outcome says so with its UPID.
    pub async fn wait_task(
        &self,
        node: &str,
        upid: &str,
        timeout: Duration,
        mut progress: impl FnMut(TaskProgress) + Send,
    ) -> Result<TaskOutcome, ApiError> {
        let started = Instant::now();
        let mut pause = POLL_START;
        let mut seen = 0usize;
        let mut percent = None;
        let mut tail: Vec<String> = Vec::new();
        loop {
            let status = self.request(Method::Get, &["nodes", node, "tasks", upid, "status"], &Value::Null).await?;
            let stopped = status["status"] == "stopped";
            // Read the log after the status, so a stopped task's log is complete.
            let log = self
                .request(Method::Get, &["nodes", node, "tasks", upid, "log"], &json!({"start": seen, "limit": 500}))
                .await?;
            for entry in log.as_array().map(Vec::as_slice).unwrap_or_default() {
                let line = entry["t"].as_str().unwrap_or_default().to_string();
                seen += 1;
                if let Some(p) = percent_in(&line) {
                    percent = Some(p);
                }
                tail.push(line.clone());
                if tail.len() > TAIL_LINES {
                    tail.remove(0);
                }
                progress(TaskProgress { percent, line: Some(line), elapsed: started.elapsed() });
            }
            if stopped {
                let exitstatus = status["exitstatus"].as_str().unwrap_or("unknown").to_string();
                return Ok(if exitstatus == "OK" {
                    TaskOutcome::Succeeded { upid: upid.to_string(), log_tail: tail }
                } else {
                    TaskOutcome::Failed { upid: upid.to_string(), exitstatus, log_tail: tail }
                });
            }
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Ok(TaskOutcome::Running { upid: upid.to_string(), node: node.to_string() });
            }
            progress(TaskProgress { percent, line: None, elapsed: started.elapsed() });
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 3 / 2).min(POLL_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_read_from_vzdump_and_clone_lines() {
        assert_eq!(percent_in("INFO:  42% (13.4 GiB of 32.0 GiB) in 10s"), Some(42.0));
        assert_eq!(percent_in("transferred 8.0 GiB of 32.0 GiB (25.00%)"), Some(25.0));
        assert_eq!(percent_in("TASK OK"), None);
        assert_eq!(percent_in("cpu at 250%"), None);
    }
}
