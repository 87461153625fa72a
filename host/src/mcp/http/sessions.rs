//! Streamable HTTP sessions bound to the principal that opened them, and
//! the limits that keep slow or greedy clients from exhausting the server.
//!
//! rmcp's session manager knows sessions only by id; whoever holds an id
//! could use it. Here every request that names a session (`Mcp-Session-Id`)
//! must come from the session's principal — listing, calling, the GET
//! stream, `DELETE`, and answers to the server's own requests such as
//! elicitation — and new sessions are counted against global and
//! per-principal caps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use super::problem;
use crate::defaults;
use crate::gate::Caller;

const SESSION_HEADER: &str = "mcp-session-id";

/// Limits of the HTTP transports.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Time a client gets to send a request's headers.
    pub header_timeout: Duration,
    /// Time a client gets to send a request's body.
    pub body_timeout: Duration,
    /// Open connections at once; more wait to be accepted.
    pub max_connections: usize,
    /// Sessions at once, over all principals.
    pub max_sessions: usize,
    /// Sessions one principal may hold.
    pub max_sessions_per_principal: usize,
    /// An idle streamable HTTP session is closed after this long.
    pub session_idle: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: defaults::HEADER_TIMEOUT,
            body_timeout: defaults::BODY_TIMEOUT,
            max_connections: defaults::MAX_CONNECTIONS,
            max_sessions: defaults::MAX_SESSIONS,
            max_sessions_per_principal: defaults::MAX_SESSIONS_PER_PRINCIPAL,
            session_idle: defaults::SESSION_IDLE,
        }
    }
}

/// Whether a principal holding `mine` of `total` sessions may open one
/// more; the refusal says what to do.
pub fn session_cap(limits: &HttpLimits, principal: &str, total: usize, mine: usize) -> Result<(), String> {
    if mine >= limits.max_sessions_per_principal {
        return Err(format!(
            "{principal:?} already holds {mine} sessions, the most one principal may ({}); close one (DELETE it) or wait for idle ones to expire",
            limits.max_sessions_per_principal
        ));
    }
    if total >= limits.max_sessions {
        return Err(format!("the server holds {total} sessions, its limit (MCP_MAX_SESSIONS); retry later"));
    }
    Ok(())
}

/// Which principal owns each streamable HTTP session.
pub(super) struct SessionBook {
    owners: Mutex<HashMap<String, String>>,
    manager: Arc<LocalSessionManager>,
    limits: HttpLimits,
}

impl SessionBook {
    pub(super) fn new(manager: Arc<LocalSessionManager>, limits: HttpLimits) -> SessionBook {
        SessionBook { owners: Mutex::new(HashMap::new()), manager, limits }
    }

    /// Forgets sessions rmcp has closed (idle, deleted, ended).
    async fn prune(&self) {
        let live = self.manager.sessions.read().await;
        if let Ok(mut owners) = self.owners.lock() {
            owners.retain(|id, _| live.contains_key(id.as_str()));
        }
    }

    fn owner(&self, id: &str) -> Option<String> {
        self.owners.lock().ok().and_then(|o| o.get(id).cloned())
    }

    fn counts(&self, principal: &str) -> (usize, usize) {
        self.owners.lock().map(|o| (o.len(), o.values().filter(|p| *p == principal).count())).unwrap_or((0, 0))
    }
}

/// Binds each session to its principal and caps how many there are.
pub(super) async fn bind(State(book): State<Arc<SessionBook>>, request: Request, next: Next) -> Response {
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return problem(StatusCode::UNAUTHORIZED, "not authenticated");
    };
    let session = request.headers().get(SESSION_HEADER).map(|v| v.to_str().unwrap_or("").to_string());
    match session {
        Some(id) => {
            match book.owner(&id) {
                Some(owner) if owner == caller.principal => {}
                Some(_) => return problem(StatusCode::FORBIDDEN, "this session belongs to another principal"),
                None => return problem(StatusCode::NOT_FOUND, "no such session; start a new one with initialize"),
            }
            let deleting = request.method() == Method::DELETE;
            let mut response = next.run(request).await;
            let ended = deleting && response.status().is_success() || response.status() == StatusCode::NOT_FOUND;
            if ended && let Ok(mut owners) = book.owners.lock() {
                owners.remove(&id);
            }
            // The session is gone when DELETE returns; say so plainly
            // (clients such as the Python SDK take 202 for a failure).
            if deleting && response.status() == StatusCode::ACCEPTED {
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
            response
        }
        None => {
            if request.method() == Method::POST {
                book.prune().await;
                let (total, mine) = book.counts(&caller.principal);
                if let Err(why) = session_cap(&book.limits, &caller.principal, total, mine) {
                    return problem(StatusCode::TOO_MANY_REQUESTS, why);
                }
            }
            let response = next.run(request).await;
            if let Some(id) = response.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok())
                && let Ok(mut owners) = book.owners.lock()
            {
                owners.insert(id.to_string(), caller.principal.clone());
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_capped_per_principal_and_overall() {
        let limits = HttpLimits { max_sessions: 3, max_sessions_per_principal: 2, ..HttpLimits::default() };
        assert!(session_cap(&limits, "alice", 0, 0).is_ok());
        assert!(session_cap(&limits, "alice", 2, 2).unwrap_err().contains("close one"));
        assert!(session_cap(&limits, "bob", 3, 0).unwrap_err().contains("MCP_MAX_SESSIONS"));
    }
}
