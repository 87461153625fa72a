//! MCP logging over stdio with rmcp's client: after `logging/setLevel`, the
//! messages a plugin logs during the client's calls arrive as
//! `notifications/message` at or above that level, named by the plugin.
#![allow(deprecated)]

use std::sync::{Arc, Mutex};

use rmcp::model::{CallToolRequestParams, LoggingLevel, LoggingMessageNotificationParam, SetLevelRequestParams};
use rmcp::service::NotificationContext;
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::json;

use crate::support::{self, Launch};

#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<LoggingMessageNotificationParam>>>);

impl ClientHandler for Collect {
    async fn on_logging_message(&self, params: LoggingMessageNotificationParam, _: NotificationContext<RoleClient>) {
        self.0.lock().unwrap().push(params);
    }
}

impl Collect {
    /// The messages once there are `n` (notifications may be handled just
    /// after the call's answer); fewer after 2 s.
    async fn wait_for(&self, n: usize) -> Vec<LoggingMessageNotificationParam> {
        for _ in 0..40 {
            if self.0.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn plugin_log_messages_reach_a_client_that_set_a_level() {
    let sim = support::sim().await;
    let launch = Launch {
        global_args: vec!["--plugin".into(), support::hostile_wasm().into()],
        config: Some("[grants]\nhostile = [\"POST /nodes/*/qemu/*/status/*\"]\n".into()),
        ..Launch::default()
    };
    let work = tempfile::tempdir().unwrap();
    let cmd = support::command(&sim.base_url(), &launch, work.path());
    let transport = TokioChildProcess::new(cmd).expect("spawn proxmcp");
    let seen = Collect::default();
    let client = seen.clone().serve(transport).await.expect("initialize");
    let echo = || async {
        let mut params = CallToolRequestParams::new("hostile_echo");
        params.arguments = json!({"n": 1}).as_object().cloned();
        client.call_tool(params).await.expect("hostile_echo")
    };

    let caps = &client.peer_info().expect("server info").capabilities;
    assert!(caps.logging.is_some(), "logging is not declared: {caps:?}");
    // No level set: nothing is sent.
    echo().await;
    assert!(seen.0.lock().unwrap().is_empty());

    client.set_level(SetLevelRequestParams::new(LoggingLevel::Warning)).await.expect("logging/setLevel");
    echo().await;
    {
        let messages = seen.wait_for(1).await;
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert_eq!(messages[0].level, LoggingLevel::Warning);
        assert_eq!(messages[0].logger.as_deref(), Some("hostile"));
        assert_eq!(messages[0].data, json!("echo: returning the arguments"));
    }

    client.set_level(SetLevelRequestParams::new(LoggingLevel::Debug)).await.expect("logging/setLevel");
    echo().await;
    let levels: Vec<LoggingLevel> = seen.wait_for(3).await.iter().map(|m| m.level).collect();
    assert_eq!(levels, [LoggingLevel::Warning, LoggingLevel::Debug, LoggingLevel::Warning]);
    let _ = client.cancel().await;
}
