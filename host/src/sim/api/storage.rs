//! Filling and emptying storages: downloads from a URL, the appliance
//! template catalogue (`aplinfo`), and deleting a volume.

use serde_json::{Value, json};

use super::*;
use crate::sim::params::{Ty, first, opt, req};
use crate::sim::seed::{SimStorage, SimVolume};
use crate::sim::state::{Cluster, TaskSpec};

pub(super) static ROUTES: &[Route] = &[
    (
        "POST",
        "/nodes/{node}/storage/{storage}/download-url",
        "Download a file from a URL to the storage.",
        download_url,
    ),
    ("GET", "/nodes/{node}/aplinfo", "The appliance template catalogue.", aplinfo),
    ("POST", "/nodes/{node}/aplinfo", "Download an appliance template to a storage.", apl_download),
    ("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}", "Delete a volume.", delete_volume),
];

/// The catalogue: section, template file, headline, OS.
const CATALOGUE: &[(&str, &str, &str, &str)] = &[
    ("system", "debian-13-standard_13.1-1_amd64.tar.zst", "Debian 13 (standard)", "debian-13"),
    ("system", "debian-12-standard_12.12-1_amd64.tar.zst", "Debian 12 (standard)", "debian-12"),
    ("system", "ubuntu-24.04-standard_24.04-2_amd64.tar.zst", "Ubuntu 24.04 (standard)", "ubuntu-24.04"),
    ("system", "alpine-3.22-default_20250617_amd64.tar.xz", "Alpine Linux 3.22", "alpine-3.22"),
    ("turnkeylinux", "debian-12-turnkey-wordpress_18.1-1_amd64.tar.gz", "TurnKey WordPress", "debian-12"),
    ("turnkeylinux", "debian-12-turnkey-nextcloud_18.2-1_amd64.tar.gz", "TurnKey Nextcloud", "debian-12"),
];

fn aplinfo(x: &mut Ctx<'_>) -> R {
    check(x.params, &[])?;
    let list: Vec<Value> = CATALOGUE
        .iter()
        .map(|(section, template, headline, os)| {
            let package = template.split('_').next().unwrap_or_default();
            let version = template.split('_').nth(1).unwrap_or_default();
            json!({"section": section, "template": template, "headline": headline, "os": os,
                   "package": package, "version": version, "type": "lxc",
                   "location": format!("http://download.proxmox.com/images/{section}/{template}"),
                   "description": format!("{headline} container image"),
                   "maintainer": "Proxmox Support Team <support@proxmox.com>",
                   "sha512sum": digest(template).repeat(4)[..128].to_string()})
        })
        .collect();
    Ok(json!(list).into())
}

/// A storage of the node that takes `content`, or PVE's refusal.
pub(super) fn storage_for<'a>(
    c: &'a Cluster,
    node: &str,
    storage: &str,
    content: &str,
) -> Result<&'a SimStorage, ApiErr> {
    let s = c
        .storages
        .iter()
        .find(|s| s.storage == storage && s.nodes.as_ref().is_none_or(|n| n.iter().any(|n| n == node)))
        .ok_or_else(|| fail(500, format!("storage '{storage}' does not exist")))?;
    if !s.content.iter().any(|ct| ct == content) {
        return Err(fail(500, format!("storage '{storage}' does not support content-type '{content}'")));
    }
    Ok(s)
}

/// A download task: progress lines, then the new volume.
fn download(x: &mut Ctx<'_>, storage: &str, content: &str, filename: &str, source: String, size: u64) -> R {
    let (world, c, node, _, _, _, caller) = x.parts();
    let s = storage_for(c, node, storage, content)?;
    let dir = match content {
        "vztmpl" => "vztmpl",
        "import" => "import",
        _ => "iso",
    };
    let volid = format!("{storage}:{dir}/{filename}");
    if s.volumes.iter().any(|v| v.volid == volid && v.node.as_deref().is_none_or(|n| n == node)) {
        return Err(fail(500, format!("refusing to override existing file '{filename}'")));
    }
    let shared = s.shared;
    let (storage, content, node_name) = (storage.to_string(), content.to_string(), node.to_string());
    let mib = size >> 20;
    let mut steps = vec![(0.5, format!("downloading {source} to {dir}/{filename}"))];
    for pct in [25u64, 50, 75, 100] {
        steps.push((1.0, format!("{:.2} MiB of {mib}.00 MiB ({pct}.00%)", (mib * pct / 100) as f64)));
    }
    steps.push((0.2, format!("download of '{source}' finished")));
    let format = filename.rsplit('.').next().unwrap_or("raw").to_string();
    let effect: crate::sim::state::Effect = Box::new(move |c: &mut Cluster| {
        let s = c.storages.iter_mut().find(|s| s.storage == storage).ok_or("storage vanished")?;
        s.volumes.push(SimVolume {
            volid,
            node: if shared { None } else { Some(node_name) },
            content,
            format,
            size,
            vmid: None,
            ctime: crate::sim::state::now(),
            notes: None,
            verification: None,
            protected: false,
        });
        Ok(())
    });
    let spec = TaskSpec {
        node: node.into(),
        kind: "download",
        id: filename.to_string(),
        user: caller.user.clone(),
        steps,
        lock: None,
        effect,
    };
    Ok(json!(world.start_task(c, spec)).into())
}

fn download_url(x: &mut Ctx<'_>) -> R {
    check(
        x.params,
        &[
            req("url", Ty::Str),
            req("content", Ty::Enum(&["iso", "vztmpl", "import"])),
            req("filename", Ty::Str),
            opt("checksum", Ty::Str),
            opt("checksum-algorithm", Ty::Enum(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"])),
            opt("compression", Ty::Str),
            opt("verify-certificates", Ty::Bool),
        ],
    )?;
    let url = first(x.params, "url").unwrap_or_default().to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(bad_param("url", "value does not match the regex pattern"));
    }
    if first(x.params, "checksum").is_some() != first(x.params, "checksum-algorithm").is_some() {
        return Err(bad_param("checksum", "checksum and checksum-algorithm require each other"));
    }
    let content = first(x.params, "content").unwrap_or_default().to_string();
    let filename = first(x.params, "filename").unwrap_or_default().to_string();
    let extensions: &[&str] = match content.as_str() {
        "iso" => &[".iso", ".img"],
        "vztmpl" => &[".tar.gz", ".tar.xz", ".tar.zst"],
        _ => &[".ova", ".qcow2", ".raw", ".vmdk"],
    };
    if filename.contains('/') || !extensions.iter().any(|e| filename.ends_with(e)) {
        return Err(bad_param("filename", format!("wrong file extension; {content} takes {}", extensions.join(", "))));
    }
    let storage = x.var("storage").to_string();
    download(x, &storage, &content, &filename, url, 800 << 20)
}

fn apl_download(x: &mut Ctx<'_>) -> R {
    check(x.params, &[req("storage", Ty::Str), req("template", Ty::Str)])?;
    let template = first(x.params, "template").unwrap_or_default().to_string();
    let Some((section, ..)) = CATALOGUE.iter().find(|(_, t, ..)| *t == template) else {
        return Err(fail(400, format!("no such template '{template}'")));
    };
    let source = format!("http://download.proxmox.com/images/{section}/{template}");
    let storage = first(x.params, "storage").unwrap_or_default().to_string();
    download(x, &storage, "vztmpl", &template, source, 130 << 20)
}

fn delete_volume(x: &mut Ctx<'_>) -> R {
    check(x.params, &[opt("delay", Ty::Int(1, 30)), opt("storage", Ty::Str)])?;
    let (node, storage, volume) = (x.var("node"), x.var("storage"), x.var("volume"));
    let volid = if volume.contains(':') { volume.to_string() } else { format!("{storage}:{volume}") };
    let c = &mut *x.c;
    let s = c
        .storages
        .iter_mut()
        .find(|s| s.storage == storage)
        .ok_or_else(|| fail(500, format!("storage '{storage}' does not exist")))?;
    let at = s
        .volumes
        .iter()
        .position(|v| v.volid == volid && (s.shared || v.node.as_deref().is_none_or(|n| n == node)))
        .ok_or_else(|| fail(500, format!("volume '{volid}' does not exist")))?;
    if s.volumes[at].protected {
        return Err(fail(500, format!("unable to remove protected volume '{volid}'")));
    }
    s.volumes.remove(at);
    Ok(Value::Null.into())
}
