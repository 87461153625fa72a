//! From template to reachable guest in one MCP session: clone template
//! 9000 with a cloud-init user, SSH key and static address, start it, and
//! find that address through the guest agent.

use serde_json::json;

use crate::support::{self, Launch, Session};

#[tokio::test]
async fn a_template_becomes_a_started_clone_whose_agent_reports_its_cloud_init_address() {
    let sim = support::sim().await;
    let s = Session::start(&sim.base_url(), Launch::default()).await;
    let next = s.ok("pve_get_next_vmid", json!({})).await["vmid"].as_u64().unwrap();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOps ops@laptop";
    let cloned = s
        .ok(
            "pve_clone_vm",
            json!({"vmid": 9000, "name": "app-01", "full": true, "start": true, "confirm": true,
                   "cloud_init": {"ciuser": "ops", "sshkeys": key, "ipconfig0": "ip=10.0.0.77/24,gw=10.0.0.1"}}),
        )
        .await;
    assert_eq!(cloned["newid"], next);
    assert_eq!(cloned["steps"].as_array().unwrap().len(), 3, "{cloned}");
    let config = s.ok("pve_get_vm_config", json!({"vmid": next})).await;
    let text = config.to_string();
    assert!(text.contains("ip=10.0.0.77/24,gw=10.0.0.1") && text.contains("\"ops\""), "{config}");
    // Stored as Proxmox keeps it: URL-encoded.
    assert!(text.contains("ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIOps%20ops%40laptop"), "{config}");
    let net = s.ok("pve_get_guest_network", json!({"vmid": next})).await;
    assert_eq!(net["primary_ip"], "10.0.0.77", "{net}");
    s.finish().await;
    support::validate_requests(&support::sim_request_log(&sim));
}
