//! The provisioning plugin: clone, create, delete, resize, configure and
//! restore guests. Every write needs `confirm: true` (enforced by the host)
//! and `dry_run: true` lists the exact requests instead of sending them.
//! One file per tool; each declares its tool once in its `router()`.

mod clone;
mod cloudinit;
mod common;
mod config;
mod create;
mod delete;
mod resize;
mod restore;

use proxmcp_sdk::Router;

fn router() -> Router {
    clone::router()
        .merge(create::router())
        .merge(delete::router())
        .merge(resize::router())
        .merge(config::router())
        .merge(restore::router())
}

proxmcp_sdk::plugin! {
    router: router,
    name: "provisioning",
    description: "Clone, create, delete, resize, configure and restore guests (writes need confirm=true)",
    grant_lists: [common::GRANTS, clone::GRANTS, create::GRANTS, delete::GRANTS, resize::GRANTS, config::GRANTS, restore::GRANTS],
}
