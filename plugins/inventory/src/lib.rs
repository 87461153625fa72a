//! The read-only inventory plugin: what runs where, and is it healthy.
//!
//! Every tool only reads (`GET`), so this plugin loads in read-only mode.
//! Outputs are whitelisted fields, never raw API dumps; byte counts and
//! durations gain `*_human` companions; lists take `limit` and say
//! `truncated`. Guest-controlled text (names, notes, tags) stays in the
//! structured data, never in the summary line. The main views are also
//! MCP resources (`pve://nodes`, `pve://guest/{vmid}/config`, ...).

mod access;
mod cluster;
mod common;
mod guests;
mod network;
mod resources;
mod storage;
mod tasks;

use proxmcp_sdk::Router;

fn router() -> Router {
    cluster::router()
        .merge(access::router())
        .merge(guests::router())
        .merge(network::router())
        .merge(storage::router())
        .merge(tasks::router())
        .merge(resources::router())
}

proxmcp_sdk::plugin! {
    router: router,
    name: "inventory",
    description: "Read-only inventory: cluster, nodes, guests, storage, backups, tasks, pools",
    grant_lists: [cluster::GRANTS, guests::GRANTS, network::GRANTS, storage::GRANTS, tasks::GRANTS, resources::GRANTS, access::GRANTS],
}
