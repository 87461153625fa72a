//! The storage-disks plugin (opt-in, writes): templates, disks and storage
//! content — turn a guest into a template, move a disk to another storage,
//! download ISOs, images and appliance templates, delete a volume. Every
//! change needs `confirm: true` and lists its request with `dry_run: true`;
//! the host refuses any of them on a protected guest. The reads that go
//! with it live in `provisioning-read` and the inventory.

mod disks;
mod downloads;
mod volumes;

use proxmcp_sdk::Router;

fn router() -> Router {
    disks::router().merge(downloads::router()).merge(volumes::router())
}

proxmcp_sdk::plugin! {
    router: router,
    name: "storage-disks",
    description: "Convert to template, move disks, download ISOs and appliance templates, delete volumes (writes need confirm=true)",
    grant_lists: [disks::GRANTS, downloads::GRANTS, volumes::GRANTS],
}
