//! Backups you can trust, through the real binary, the backups plugins and
//! the simulator: jobs created, changed and deleted; coverage naming the
//! guests without a recent backup or outside every job; protection holding
//! for a job that would select a protected guest.

use serde_json::{Value, json};

use crate::support::{self, Launch, Session, writes};

const PLUGINS: &str = "[plugins]\nbuiltin = [\"inventory\", \"lifecycle\", \"backups-read\", \"backups\"]\n";

fn ids(v: &Value) -> Vec<u64> {
    v.as_array().unwrap().iter().filter_map(Value::as_u64).collect()
}

#[tokio::test]
async fn coverage_names_guests_without_a_recent_backup_or_a_job_as_jobs_and_backups_change() {
    let sim = support::sim().await;
    let s = Session::start(&sim.base_url(), Launch { config: Some(PLUGINS.into()), ..Launch::default() }).await;
    let before = s.ok("pve_backup_coverage", json!({})).await;
    assert!(ids(&before["no_backup"]).contains(&101), "{before}");
    assert_eq!(before["not_in_job"], json!([]), "the nightly job covers every guest");

    // A fresh backup of 101 clears it; replacing the nightly job by one that
    // leaves 202 out puts 202 on the not-in-a-job list.
    s.ok("pve_backup_vm", json!({"vmid": 101, "storage": "backup-nfs", "confirm": true})).await;
    s.ok("pve_delete_backup_job", json!({"id": "backup-daily", "confirm": true})).await;
    let created = s
        .ok(
            "pve_create_backup_job",
            json!({"id": "nightly", "schedule": "02:30", "storage": "backup-nfs", "all": true, "exclude": [202],
                   "keep": {"daily": 7}, "confirm": true}),
        )
        .await;
    assert_eq!(created["settings"]["prune-backups"], "keep-daily=7");
    let jobs = s.ok("pve_list_backup_jobs", json!({})).await;
    assert_eq!(jobs["jobs"][0]["selection"], "all guests except 202", "{jobs}");
    let after = s.ok("pve_backup_coverage", json!({})).await;
    let guest = |v: u64| after["guests"].as_array().unwrap().iter().find(|g| g["vmid"] == v).unwrap().clone();
    assert_eq!(guest(101)["problems"], json!([]), "{after}");
    assert!(guest(101)["newest"]["age"].as_str().unwrap().ends_with("s ago"));
    assert_eq!(ids(&after["not_in_job"]), [202]);
    assert!(!ids(&after["no_backup"]).contains(&101));

    // Selecting by pool replaces the old selection.
    s.ok("pve_update_backup_job", json!({"id": "nightly", "pool": "production", "confirm": true})).await;
    let jobs = s.ok("pve_list_backup_jobs", json!({})).await;
    assert_eq!(jobs["jobs"][0]["selection"], "pool production", "{jobs}");
    s.finish().await;
    support::validate_requests(&support::sim_request_log(&sim));
}

#[tokio::test]
async fn a_backup_job_that_would_select_a_protected_guest_is_refused() {
    let sim = support::sim().await;
    let config = format!("{PLUGINS}[protect]\nvmids = [100]\n");
    let s = Session::start(&sim.base_url(), Launch { config: Some(config), ..Launch::default() }).await;
    for args in [
        json!({"schedule": "03:00", "storage": "backup-nfs", "vmids": [100]}),
        json!({"schedule": "03:00", "storage": "backup-nfs", "all": true}),
        json!({"schedule": "03:00", "storage": "backup-nfs", "pool": "production"}),
    ] {
        let mut confirmed = args.clone();
        confirmed["confirm"] = json!(true);
        s.err("pve_create_backup_job", confirmed, "protected").await;
    }
    // The nightly job backs up 100 too: turning it off is refused.
    s.err("pve_update_backup_job", json!({"id": "backup-daily", "enabled": false, "confirm": true}), "protected").await;
    s.ok(
        "pve_create_backup_job",
        json!({"schedule": "03:00", "storage": "backup-nfs", "vmids": [101], "confirm": true}),
    )
    .await;
    s.finish().await;
    assert_eq!(writes(&sim).len(), 1, "{:?}", writes(&sim));
}
