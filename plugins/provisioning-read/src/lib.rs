//! The provisioning-read plugin (opt-in, read-only): what a guest reports
//! about itself (OS, host name, file systems, users, time zone), waiting
//! until a new guest's agent answers or its address appears, and the
//! appliance template catalogue. It loads in read-only mode; the writes
//! that go with it live in `storage-disks`.

mod appliances;
mod info;
mod wait;

use proxmcp_sdk::Router;

fn router() -> Router {
    info::router().merge(wait::router()).merge(appliances::router())
}

proxmcp_sdk::plugin! {
    router: router,
    name: "provisioning-read",
    description: "Guest OS, file systems and users via the agent, waiting for a guest's agent or address, appliance templates (read-only)",
    grant_lists: [info::GRANTS, wait::GRANTS, appliances::GRANTS],
}
