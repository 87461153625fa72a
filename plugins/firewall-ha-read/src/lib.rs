//! The firewall-ha-read plugin (opt-in, read-only): firewall rules,
//! options, objects and log at cluster, node and guest scope; the HA
//! stack's status, resources and rules (PVE 9) or groups (PVE 8);
//! replication jobs with their last and next sync; and who may do what
//! (users, tokens, groups, ACLs). It loads in read-only
//! mode; its writing twin is `firewall-ha`.

mod access;
mod firewall;
mod ha;
mod replication;

use proxmcp_sdk::Router;

fn router() -> Router {
    firewall::router().merge(ha::router()).merge(replication::router()).merge(access::router())
}

proxmcp_sdk::plugin! {
    router: router,
    name: "firewall-ha-read",
    description: "Firewall rules, options, objects and log; HA status, resources and rules; replication jobs; users, tokens and ACLs (read-only)",
    grant_lists: [firewall::GRANTS, ha::GRANTS, replication::GRANTS, access::GRANTS],
}
