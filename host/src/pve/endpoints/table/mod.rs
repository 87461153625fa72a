//! The rows of the endpoint model. The first row that matches a request
//! wins, so a specific row stands before the family (`**`) that holds it.
//! Every write endpoint of the official schema is covered; a test checks it.

use std::sync::LazyLock;

use super::{Endpoint, Touch};

/// A guest's subtree: `/nodes/{node}/qemu|lxc/{vmid}`.
macro_rules! guest {
    ($rest:literal) => {
        concat!("/nodes/{node}/{kind:qemu|lxc}/{vmid}", $rest)
    };
}

mod cluster;
mod guests;
mod nodes;
mod reads;

const VM: &[Touch] = &[Touch::Ids("vmid")];
const VMS_ACL: &str = "/vms/{vmid}";

/// The tools that change firewall rules and options (at every scope).
const FIREWALL_WRITES: &[&str] =
    &["pve_add_firewall_rule", "pve_update_firewall_rule", "pve_delete_firewall_rule", "pve_set_firewall_options"];

/// Every firewall tool: the writes read the rules and options they change.
const FIREWALL_ALL: &[&str] = &[
    "pve_list_firewall_rules",
    "pve_get_firewall_options",
    "pve_list_firewall_objects",
    "pve_get_firewall_log",
    "pve_add_firewall_rule",
    "pve_update_firewall_rule",
    "pve_delete_firewall_rule",
    "pve_set_firewall_options",
];

/// Every row, in matching order: the reads, then a guest's endpoints, the
/// nodes', the cluster's.
pub(super) static ENDPOINTS: LazyLock<Vec<&'static Endpoint>> =
    LazyLock::new(|| [reads::ROWS, guests::ROWS, nodes::ROWS, cluster::ROWS].into_iter().flatten().collect());
