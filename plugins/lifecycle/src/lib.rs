//! The lifecycle plugin: power, snapshots, migration and backups.
//!
//! Every tool takes a vmid (node and type are found by the host), writes
//! only with `confirm: true` (the host refuses otherwise and says what the
//! call would do), lists its exact requests with `dry_run: true`, and waits
//! for the Proxmox task through the host, which reports progress to the
//! client.

mod backup;
mod migrate;
mod power;
mod snapshots;

use proxmcp_sdk::Router;

fn router() -> Router {
    power::router().merge(snapshots::router()).merge(migrate::router()).merge(backup::router())
}

proxmcp_sdk::plugin! {
    router: router,
    name: "lifecycle",
    description: "Power, snapshots, migration and backups (writes need confirm=true)",
    grant_lists: [power::GRANTS, snapshots::GRANTS, migrate::GRANTS, backup::GRANTS],
}
