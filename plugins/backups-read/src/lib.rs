//! The backups-read plugin (opt-in, read-only): scheduled backup jobs, and
//! one answer to "is every guest backed up, recently, and verified?". It
//! loads in read-only mode; its writing twin is `backups`.

mod coverage;
mod jobs;

use proxmcp_sdk::Router;

fn router() -> Router {
    jobs::router().merge(coverage::router())
}

proxmcp_sdk::plugin! {
    router: router,
    name: "backups-read",
    description: "Backup jobs and backup coverage: newest backup, age, verification and job of every guest (read-only)",
    grant_lists: [jobs::GRANTS, coverage::GRANTS],
}
