//! The QEMU guest agent (`exec`, `exec-status`, the guest's network
//! interfaces, OS, host name, file systems, users, time zone) and a
//! container's interfaces. A guest's address is its
//! cloud-init `ipconfig0` address, else one DHCP would hand out.

use serde_json::json;

use super::*;
use crate::sim::params::{Params, Ty, first, opt, req};
use crate::sim::state::Cluster;

pub(super) static ROUTES: &[Route] = &[
    (
        "POST",
        "/nodes/{node}/{kind:qemu}/{vmid}/agent/exec",
        "Run a command inside the {kind} through its guest agent.",
        exec,
    ),
    (
        "GET",
        "/nodes/{node}/{kind:qemu}/{vmid}/agent/exec-status",
        "Output and exit code of a command run through the guest agent.",
        exec_status,
    ),
    (
        "GET",
        "/nodes/{node}/{kind:qemu}/{vmid}/agent/network-get-interfaces",
        "The {kind}'s network interfaces and addresses, from its guest agent.",
        network,
    ),
    ("GET", "/nodes/{node}/{kind:lxc}/{vmid}/interfaces", "The {kind}'s network interfaces and addresses.", interfaces),
    (
        "GET",
        "/nodes/{node}/{kind:qemu}/{vmid}/agent/{command:info|get-osinfo|get-host-name|get-fsinfo|get-users|get-timezone}",
        "What the {kind}'s guest agent reports: {command}.",
        report,
    ),
];

/// The guest agent's answer to one read-only command.
fn report(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let g = &x.c.guests[&x.vmid()];
    if !g.agent || !guest_running(g) {
        return Err(fail(500, "QEMU guest agent is not running"));
    }
    let windows = g.config.get("ostype").is_some_and(|o| o.starts_with("win"));
    let disk = g.disk_gib * GIB;
    let result = match x.var("command") {
        "info" => json!({"version": "9.2.0", "supported_commands": [
            {"name": "guest-ping", "enabled": true, "success-response": true},
            {"name": "guest-get-osinfo", "enabled": true, "success-response": true},
            {"name": "guest-network-get-interfaces", "enabled": true, "success-response": true}]}),
        "get-osinfo" if windows => json!({"id": "mswindows", "name": "Microsoft Windows",
            "pretty-name": "Windows Server 2022 Standard", "version": "Microsoft Windows Server 2022",
            "version-id": "2022", "kernel-release": "20348", "kernel-version": "10.0", "machine": "x86_64"}),
        "get-osinfo" => json!({"id": "debian", "name": "Debian GNU/Linux",
            "pretty-name": "Debian GNU/Linux 13 (trixie)", "version": "13 (trixie)", "version-id": "13",
            "kernel-release": "6.12.48+deb13-amd64", "kernel-version": "#1 SMP PREEMPT_DYNAMIC", "machine": "x86_64"}),
        "get-host-name" => json!({"host-name": g.name}),
        "get-fsinfo" => json!([
            {"name": "sda1", "mountpoint": if windows { "C:\\" } else { "/" }, "type": if windows { "NTFS" } else { "ext4" },
             "total-bytes": disk - GIB, "used-bytes": disk * 2 / 5,
             "disk": [{"bus-type": "scsi", "bus": 0, "target": 0, "unit": 0, "dev": "/dev/sda1"}]},
            {"name": "sda15", "mountpoint": "/boot/efi", "type": "vfat", "total-bytes": 130_000_000u64,
             "used-bytes": 6_000_000u64, "disk": [{"bus-type": "scsi", "bus": 0, "target": 0, "unit": 0, "dev": "/dev/sda15"}]}
        ]),
        "get-users" => {
            json!([{"user": if windows { "Administrator" } else { "admin" }, "login-time": 1_764_000_000.25}])
        }
        _ => json!({"zone": "UTC", "offset": 0}),
    };
    Ok(json!({"result": result}).into())
}

/// The guest's IPv4 address with prefix: `ipconfig0`'s, else a DHCP one.
fn address(g: &crate::sim::seed::SimGuest) -> String {
    let static_ip = g
        .config
        .get("ipconfig0")
        .or_else(|| g.config.get("net0").filter(|_| g.kind == GuestType::Lxc))
        .and_then(|c| c.split(',').find_map(|p| p.strip_prefix("ip=")))
        .filter(|ip| *ip != "dhcp");
    static_ip.map_or_else(|| format!("10.0.0.{}/24", 10 + g.vmid % 200), str::to_string)
}

fn mac(g: &crate::sim::seed::SimGuest) -> String {
    g.config
        .get("net0")
        .and_then(|n| {
            n.split(',').find_map(|p| p.split_once('=').filter(|(_, v)| v.len() == 17).map(|(_, v)| v.to_string()))
        })
        .unwrap_or_else(|| format!("BC:24:11:00:00:{:02X}", g.vmid % 256))
}

fn network(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let g = &x.c.guests[&x.vmid()];
    if !g.agent || !guest_running(g) {
        return Err(fail(500, "QEMU guest agent is not running"));
    }
    let (ip, prefix) =
        address(g).split_once('/').map(|(a, p)| (a.to_string(), p.parse::<u8>().unwrap_or(24))).unwrap_or_default();
    let result = json!([
        {"name": "lo", "hardware-address": "00:00:00:00:00:00",
         "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8},
                          {"ip-address-type": "ipv6", "ip-address": "::1", "prefix": 128}]},
        {"name": "eth0", "hardware-address": mac(g).to_lowercase(),
         "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": ip, "prefix": prefix},
                          {"ip-address-type": "ipv6", "ip-address": format!("fe80::be24:11ff:fe00:{:x}", g.vmid), "prefix": 64}]}
    ]);
    Ok(json!({"result": result}).into())
}

fn interfaces(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let g = &x.c.guests[&x.vmid()];
    if !guest_running(g) {
        return Err(fail(500, format!("CT {} not running", g.vmid)));
    }
    Ok(json!([
        {"name": "lo", "hwaddr": "00:00:00:00:00:00", "inet": "127.0.0.1/8", "inet6": "::1/128"},
        {"name": "eth0", "hwaddr": mac(g).to_lowercase(), "inet": address(g)}
    ])
    .into())
}

fn exec(x: &mut Ctx<'_>) -> R {
    check(x.params, &[req("command", Ty::Str), opt("input-data", Ty::Str)])?;
    agent_exec(x.c, x.vmid(), x.params)
}

fn exec_status(x: &mut Ctx<'_>) -> R {
    check(x.params, &[req("pid", Ty::Int(0, i64::MAX))])?;
    agent_exec_status(x.c, x.vmid(), x.params)
}

fn agent_exec(c: &mut Cluster, vmid: u32, params: &Params) -> R {
    let g = &c.guests[&vmid];
    if !g.agent || !guest_running(g) {
        return Err(fail(500, "QEMU guest agent is not running"));
    }
    let command: Vec<String> = params.get("command").cloned().unwrap_or_default();
    let pid = 1000 + c.tasks.len() as u64;
    let (out, code) = match command.first().map(String::as_str) {
        Some("hostname") => (format!("{}\n", g.name), 0),
        Some("echo") => (format!("{}\n", command[1..].join(" ")), 0),
        Some("uptime") => (" 10:00:00 up 10 days,  load average: 0.10, 0.12, 0.08\n".to_string(), 0),
        Some("yes") => ("y\n".repeat(200_000), 0),
        Some("false") => (String::new(), 1),
        Some(other) => (format!("sh: 1: {other}: not found\n"), 127),
        None => (String::new(), 0),
    };
    c.exec.insert(pid, (out, code));
    Ok(json!({"pid": pid}).into())
}

fn agent_exec_status(c: &mut Cluster, vmid: u32, params: &Params) -> R {
    let _ = vmid;
    let pid: u64 = first(params, "pid").and_then(|p| p.parse().ok()).unwrap_or_default();
    let Some((out, code)) = c.exec.get(&pid) else {
        return Err(fail(500, format!("Agent error: no such process ({pid})")));
    };
    let mut e = json!({"exited": 1, "exitcode": code});
    if code == &127 {
        e["err-data"] = json!(out);
    } else if !out.is_empty() {
        e["out-data"] = json!(out);
    }
    Ok(e.into())
}
