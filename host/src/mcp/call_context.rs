//! What the transport gives one tool call besides its arguments: progress
//! notifications, asking the user (elicitation, or the stateless wire's
//! question and retry), and the caller's own Proxmox token.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{CallToolRequestParams, CallToolResponse, ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RequestContext};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use super::forward::{Pending, queue};
use crate::gate::{Confirmer, Progress, ProgressSink, ProxmoxToken, Retry};

/// Turns a call's progress into MCP progress notifications for `token`.
/// Progress never goes backwards.
pub(super) fn progress_sink(peer: Peer<RoleServer>, token: ProgressToken) -> (ProgressSink, Pending) {
    let (push, pending) = queue(move |mut rx: UnboundedReceiver<Progress>| async move {
        let mut last = -1.0f64;
        while let Some(p) = rx.recv().await {
            if p.value <= last {
                continue;
            }
            last = p.value;
            let mut param = ProgressNotificationParam::new(token.clone(), p.value);
            param.total = p.total;
            param.message = Some(p.message);
            if peer.notify_progress(param).await.is_err() {
                break;
            }
        }
    });
    (Arc::new(push), pending)
}

/// Asks the user through MCP elicitation, when the client declared it.
pub(super) fn confirmer(peer: &Peer<RoleServer>) -> Option<Confirmer> {
    use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema};
    use rmcp::service::ElicitationMode;
    if !peer.supported_elicitation_modes().contains(&ElicitationMode::Form) {
        return None;
    }
    let peer = peer.clone();
    Some(Arc::new(move |message: String| {
        let peer = peer.clone();
        Box::pin(async move {
            let params = ElicitRequestParams::FormElicitationParams {
                meta: None,
                message,
                requested_schema: ElicitationSchema::new(Default::default()),
            };
            match peer.create_elicitation(params).await {
                Ok(result) => Ok(result.action == ElicitationAction::Accept),
                Err(e) => Err(e.to_string()),
            }
        })
    }))
}

/// The key under which the approval question is asked and answered.
const APPROVAL_INPUT: &str = "approval";

/// Asking by retry, for a request on the stateless wire (2026-07-28) from a
/// client that declared form elicitation: such a client is not sent
/// `elicitation/create` mid-call but answers a returned question.
pub(super) fn retry(context: &RequestContext<RoleServer>, request: &CallToolRequestParams) -> Option<Retry> {
    let modern = context.protocol_version().is_some_and(|v| !v.has_initialize());
    let elicits =
        context.client_capabilities().and_then(|c| c.elicitation).is_some_and(|e| e.form.is_some() || e.url.is_none());
    if !(modern && elicits) {
        return None;
    }
    let answer = request.input_responses.as_ref().and_then(|r| r.get(APPROVAL_INPUT));
    Some(Retry {
        state: request.request_state.clone(),
        accepted: answer.map(|a| a.get("action").and_then(Value::as_str) == Some("accept")),
    })
}

/// The answer that asks the user `question`; the client calls again with
/// the user's answer and `state`.
pub(super) fn input_required(question: String, state: String) -> CallToolResponse {
    use rmcp::model::{ElicitRequest, ElicitRequestParams, ElicitationSchema, InputRequest, InputRequiredResult};
    let params = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: question,
        requested_schema: ElicitationSchema::new(Default::default()),
    };
    let asked = std::collections::BTreeMap::from([(
        APPROVAL_INPUT.to_string(),
        InputRequest::Elicitation(ElicitRequest::new(params)),
    )]);
    InputRequiredResult::new(Some(asked), Some(state)).into()
}

/// The caller's own Proxmox API token, when the HTTP layer found one on the
/// request that carries this message.
pub(super) fn proxmox_token(context: &RequestContext<RoleServer>) -> Option<ProxmoxToken> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<ProxmoxToken>().cloned())
}
