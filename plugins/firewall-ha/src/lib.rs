//! The firewall-ha plugin (opt-in, writes): firewall rules and options at
//! cluster, node and guest scope; guests under HA; replication jobs. Every
//! change needs `confirm: true`, lists its requests with `dry_run: true`,
//! and is refused by the host for protected guests. The reads live in
//! `firewall-ha-read`, which also loads in read-only mode.

mod firewall;
mod ha;
mod replication;

use proxmcp_sdk::Router;

fn router() -> Router {
    firewall::router().merge(ha::router()).merge(replication::router())
}

proxmcp_sdk::plugin! {
    router: router,
    name: "firewall-ha",
    description: "Change firewall rules and options, HA resources and replication jobs (writes need confirm=true)",
    grant_lists: [firewall::GRANTS, ha::GRANTS, replication::GRANTS],
}
