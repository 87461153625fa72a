//! The backups plugin (opt-in, writes): scheduled backup jobs, created,
//! changed and deleted. Every change needs `confirm: true`, lists its
//! request with `dry_run: true`, and is refused by the host when the job
//! selects a protected guest. The reads live in `backups-read`.

mod jobs;

proxmcp_sdk::plugin! {
    router: jobs::router,
    name: "backups",
    description: "Create, change and delete scheduled backup jobs (writes need confirm=true)",
    grant_lists: [jobs::GRANTS],
}
