//! Prompts (runbooks) over stdio and streamable HTTP with rmcp's client:
//! listed by what the caller may call, filled in, and refused clearly.

use rmcp::model::{GetPromptRequestParams, Prompt};
use serde_json::json;

use crate::support::{self, Launch, Session};

fn names(prompts: &[Prompt]) -> Vec<&str> {
    prompts.iter().map(|p| p.name.as_str()).collect()
}

fn params(name: &str, args: serde_json::Value) -> GetPromptRequestParams {
    let mut p = GetPromptRequestParams::new(name);
    p.arguments = args.as_object().cloned();
    p
}

#[tokio::test]
async fn runbooks_are_offered_filled_in_and_checked_over_stdio_and_http() {
    let pve = support::sim().await;
    let session = Session::start(&pve.base_url(), Launch::default()).await;
    let prompts = session.client.list_all_prompts().await.expect("prompts/list");
    let expected =
        ["safe-change", "evacuate-node", "backup-audit", "investigate-failed-task", "provision-from-template"];
    assert_eq!(names(&prompts), expected);
    let safe = session
        .client
        .get_prompt(params("safe-change", json!({"vmid": "100", "change": "memory to 8 GiB"})))
        .await
        .expect("prompts/get");
    let text = serde_json::to_string(&safe.messages).unwrap();
    assert!(text.contains("guest 100 safely: memory to 8 GiB") && text.contains("pve_create_snapshot"), "{text}");
    let missing = session.client.get_prompt(params("safe-change", json!({"vmid": "100"}))).await.unwrap_err();
    assert!(missing.to_string().contains("needs the argument \"change\""), "{missing}");
    session.finish().await;

    // Read-only: runbooks that change guests are not offered.
    let launch = Launch { global_args: vec!["--read-only".into()], ..Launch::default() };
    let session = Session::start(&pve.base_url(), launch).await;
    let prompts = session.client.list_all_prompts().await.expect("prompts/list");
    assert_eq!(names(&prompts), ["backup-audit", "investigate-failed-task"]);
    let refused = session.client.get_prompt(params("safe-change", json!({"vmid": "1", "change": "x"}))).await;
    assert!(refused.unwrap_err().to_string().contains("prompts/list shows"));
    session.finish().await;

    let server = crate::http::HttpProxmcp::start(&pve.base_url(), "streamable-http", Launch::default()).await;
    let client = server.client(None).await;
    let safe = client.get_prompt(params("safe-change", json!({"vmid": "101", "change": "2 cores"}))).await;
    let text = serde_json::to_string(&safe.expect("prompts/get over HTTP").messages).unwrap();
    assert!(text.contains("guest 101 safely: 2 cores"), "{text}");
    let audit = client.get_prompt(params("backup-audit", json!({"max_age_hours": "48"}))).await.expect("prompts/get");
    let text = serde_json::to_string(&audit.messages).unwrap();
    assert!(text.contains("newer than 48 hours") && text.contains("pve_list_backups"), "{text}");
    let _ = client.cancel().await;
}
