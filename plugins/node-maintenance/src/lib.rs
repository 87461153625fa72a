//! The node-maintenance plugin (opt-in, writes): empties a node before
//! maintenance by migrating its guests one at a time. Each migration is an
//! ordinary request through the host's gates (grant, protection, confirm,
//! audit), exactly as `pve_migrate_vm` sends it.

mod evacuate;

proxmcp_sdk::plugin! {
    router: evacuate::router,
    name: "node-maintenance",
    description: "Evacuate a node: migrate every guest off it, one at a time, with progress (writes need confirm=true)",
    grant_lists: [evacuate::GRANTS],
}
