//! A guest's configuration: PVE's parameter spec, updates (pending while a
//! VM runs) and the digest check.

use serde_json::Value;

use super::guests::guest_config;
use super::*;
use crate::sim::params::{P, Params, Ty, first, opt};
use crate::sim::seed::{GuestType, SimGuest};
use crate::sim::state::Cluster;

pub(super) static ROUTES: &[Route] = &[
    (
        "PUT",
        "/nodes/{node}/{kind:qemu|lxc}/{vmid}/config",
        "Change the {kind}'s configuration; some changes wait for a restart.",
        set,
    ),
    ("POST", "/nodes/{node}/{kind:qemu}/{vmid}/config", "Change the {kind}'s configuration as a task.", set),
];

fn set(x: &mut Ctx<'_>) -> R {
    let spec = config_spec(x.kind());
    check(x.params, &spec)?;
    set_config(x)
}

/// Memory in MiB as PVE's qemu `memory` option takes it: `[current=]<MiB>`,
/// a plain integer (so `8G` is refused).
pub(super) fn memory_mib(value: &str) -> Result<u64, ApiErr> {
    let mib = value.split(',').next().unwrap_or_default().trim_start_matches("current=");
    match mib.parse::<u64>() {
        Ok(v) if v >= 16 => Ok(v),
        Ok(_) => Err(bad_param("memory", format!("value '{value}' must have a minimum value of 16"))),
        Err(_) => Err(bad_param("memory", format!("value '{value}' does not look like a valid integer"))),
    }
}

/// Cloud-init network settings, `ipconfig0`..`ipconfig9`.
const IPCONFIG: &[&str] = &[
    "ipconfig0",
    "ipconfig1",
    "ipconfig2",
    "ipconfig3",
    "ipconfig4",
    "ipconfig5",
    "ipconfig6",
    "ipconfig7",
    "ipconfig8",
    "ipconfig9",
];

/// Checks a cloud-init value as PVE's formats do: `sshkeys` must arrive
/// URL-encoded (PVE decodes it), `ipconfigN` is `ip=CIDR|dhcp`, `gw=`, ...
fn cloud_init_value(key: &str, value: &str) -> Result<(), ApiErr> {
    if key == "sshkeys" && value.contains([' ', '\n']) {
        return Err(bad_param(key, "invalid urlencoded string: encode the keys (spaces as %20, newlines as %0A)"));
    }
    if key.starts_with("ipconfig") {
        for part in value.split(',') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let ok = match k {
                "ip" => {
                    v == "dhcp"
                        || v.split_once('/').is_some_and(|(a, m)| {
                            a.parse::<std::net::Ipv4Addr>().is_ok() && m.parse::<u8>().is_ok_and(|m| m <= 32)
                        })
                }
                "gw" => v.parse::<std::net::Ipv4Addr>().is_ok(),
                "ip6" | "gw6" => !v.is_empty(),
                _ => false,
            };
            if !ok {
                return Err(bad_param(
                    key,
                    format!("invalid format - format error: {part:?} (ip=CIDR|dhcp,gw=ADDRESS,ip6=...,gw6=...)"),
                ));
            }
        }
    }
    Ok(())
}

/// Config keys the simulator accepts (a subset of PVE's, typed as PVE does).
pub(super) fn config_spec(kind: GuestType) -> Vec<P> {
    let mut spec = vec![
        opt("cores", Ty::Int(1, 8192)),
        opt("memory", Ty::Str),
        opt("description", Ty::Str),
        opt("tags", Ty::Str),
        opt("onboot", Ty::Bool),
        opt("net0", Ty::Str),
        opt("net1", Ty::Str),
        opt("delete", Ty::Str),
        opt("digest", Ty::Str),
    ];
    match kind {
        GuestType::Qemu => spec.extend([
            opt("name", Ty::Str),
            opt("sockets", Ty::Int(1, 4)),
            opt("balloon", Ty::Int(0, i64::MAX)),
            opt("cpu", Ty::Str),
            opt("agent", Ty::Str),
            opt("ostype", Ty::Str),
            opt("boot", Ty::Str),
            opt("ide2", Ty::Str),
            opt("scsi1", Ty::Str),
            opt("ciuser", Ty::Str),
            opt("cipassword", Ty::Str),
            opt("sshkeys", Ty::Str),
            opt("citype", Ty::Enum(&["configdrive2", "nocloud", "opennebula"])),
            opt("ciupgrade", Ty::Bool),
        ]),
        GuestType::Lxc => {
            spec.extend([opt("hostname", Ty::Str), opt("swap", Ty::Int(0, i64::MAX)), opt("features", Ty::Str)])
        }
    }
    spec.extend([opt("nameserver", Ty::Str), opt("searchdomain", Ty::Str)]);
    if kind == GuestType::Qemu {
        spec.extend(IPCONFIG.iter().map(|k| opt(k, Ty::Str)));
    }
    spec
}

/// Applies config `params` to a guest; QEMU memory/cores/sockets changes of
/// a running VM wait in `pending` as in PVE without hotplug.
/// PVE's `dns-name` format: labels of letters, digits and `-`, joined by dots.
fn dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

pub(super) fn apply_config(g: &mut SimGuest, params: &Params) -> Result<(), ApiErr> {
    let running = guest_running(g);
    for (key, values) in params {
        let value = values.first().cloned().unwrap_or_default();
        match key.as_str() {
            "digest" | "delete" | "skiplock" => {}
            k if k == "sshkeys"
                || k.starts_with("ipconfig")
                || k.starts_with("ci")
                || k == "nameserver"
                || k == "searchdomain" =>
            {
                cloud_init_value(k, &value)?;
                // As PVE: cloud-init settings reach a running VM with its
                // next start, when the drive is regenerated.
                if running && g.kind == GuestType::Qemu {
                    g.pending.insert(key.clone(), value);
                } else {
                    g.config.insert(key.clone(), value);
                }
            }
            "cores" | "memory" | "sockets" if g.kind == GuestType::Qemu && running => {
                // Checked now, as PVE checks it, though applied at the next start.
                match key.as_str() {
                    "memory" => drop(memory_mib(&value)?),
                    _ => drop(value.parse::<u32>().map_err(|_| bad_param(key, "invalid"))?),
                }
                g.pending.insert(key.clone(), value);
            }
            "cores" => g.cores = value.parse().map_err(|_| bad_param("cores", "invalid"))?,
            "memory" => g.memory_mib = memory_mib(&value)?,
            "name" | "hostname" => {
                if !dns_name(&value) {
                    return Err(bad_param(key, format!("value '{value}' does not look like a valid DNS name")));
                }
                g.name = value;
            }
            "description" => g.description = Some(value),
            "tags" => g.tags = value.split([';', ',', ' ']).filter(|t| !t.is_empty()).map(str::to_string).collect(),
            "agent" => g.agent = value.starts_with('1') || value.contains("enabled=1"),
            _ => {
                g.config.insert(key.clone(), value);
            }
        }
    }
    if let Some(keys) = first(params, "delete") {
        for key in keys.split([',', ';', ' ']).filter(|k| !k.is_empty()) {
            match key {
                "description" => g.description = None,
                "tags" => g.tags.clear(),
                _ => {
                    g.config.remove(key);
                }
            }
        }
    }
    Ok(())
}

fn set_config(x: &mut Ctx<'_>) -> R {
    let asynchronous = x.method == "POST";
    let (world, c, node, _, vmid, params, caller) = x.parts();
    let g = &c.guests[&vmid];
    locked(g)?;
    if let Some(d) = first(params, "digest")
        && guest_config(g)["digest"] != d
    {
        return Err(fail(500, "detected modified configuration - file changed by other user? Try again."));
    }
    let mut updated = g.clone();
    apply_config(&mut updated, params)?;
    if !asynchronous {
        c.guests.insert(vmid, updated);
        return Ok(Value::Null.into());
    }
    let effect: crate::sim::state::Effect = Box::new(move |c: &mut Cluster| {
        c.guests.insert(vmid, updated);
        Ok(())
    });
    guest_task(
        world,
        c,
        Job {
            node,
            kind: "qmconfig",
            vmid,
            caller,
            steps: vec![(1.0, "update VM config".into())],
            lock: Some((vmid, "config")),
            effect,
        },
    )
}
