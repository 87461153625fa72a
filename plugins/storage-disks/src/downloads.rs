//! Filling a storage from outside: `pve_download_to_storage` (ISOs, images
//! to import, container templates from a URL) and
//! `pve_download_appliance_template` (from Proxmox's catalogue). Both wait
//! for Proxmox's download task with progress.

use proxmcp_sdk::write::{Nothing, Outcome, Writes};
use proxmcp_sdk::{Answer, Hints, Method, Router, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// The requests this file's tools send.
pub const GRANTS: &[&str] = &["POST /nodes/{node}/storage/{storage}/download-url", "POST /nodes/{node}/aplinfo"];

pub fn router() -> Router {
    Router::new()
        .write(
            "pve_download_to_storage",
            "Download to storage",
            "Have a node download an ISO, a container template or a disk image to import from a URL into a storage.",
            Hints::WRITE,
            download,
        )
        .write(
            "pve_download_appliance_template",
            "Download appliance template",
            "Download a template from the appliance catalogue (pve_list_appliance_templates) into a storage.",
            Hints::WRITE,
            appliance,
        )
}

#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Content {
    Iso,
    Vztmpl,
    Import,
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Algorithm {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DownloadArgs {
    node: String,
    storage: String,
    /// http:// or https://
    url: String,
    /// The file name on the storage, with the extension its content needs.
    filename: String,
    content: Content,
    /// Expected checksum of the file (hex); needs checksum_algorithm.
    checksum: Option<String>,
    checksum_algorithm: Option<Algorithm>,
    /// Default true; false accepts any TLS certificate from the URL's server.
    verify_certificates: Option<bool>,
}

/// The extensions Proxmox accepts for each content type.
fn extensions(content: Content) -> &'static [&'static str] {
    match content {
        Content::Iso => &[".iso", ".img"],
        Content::Vztmpl => &[".tar.gz", ".tar.xz", ".tar.zst"],
        Content::Import => &[".ova", ".qcow2", ".raw", ".vmdk"],
    }
}

fn download(a: DownloadArgs, writes: &mut Writes) -> Result<Answer<Outcome>, ToolError> {
    if !(a.url.starts_with("https://") || a.url.starts_with("http://")) {
        return Err(ToolError::InvalidArguments(format!("url {:?} must start with https:// or http://", a.url)));
    }
    let allowed = extensions(a.content);
    if a.filename.contains('/') || !allowed.iter().any(|e| a.filename.ends_with(e)) {
        return Err(ToolError::InvalidArguments(format!(
            "filename {:?} must be a plain file name ending in {} for this content",
            a.filename,
            allowed.join(", ")
        )));
    }
    let mut params = json!({"url": a.url, "filename": a.filename, "content": match a.content {
        Content::Iso => "iso",
        Content::Vztmpl => "vztmpl",
        Content::Import => "import",
    }});
    match (&a.checksum, a.checksum_algorithm) {
        (Some(sum), Some(alg)) => {
            if sum.is_empty() || !sum.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(ToolError::InvalidArguments(format!("checksum {sum:?} must be hexadecimal")));
            }
            params["checksum"] = json!(sum.to_lowercase());
            params["checksum-algorithm"] = json!(match alg {
                Algorithm::Md5 => "md5",
                Algorithm::Sha1 => "sha1",
                Algorithm::Sha224 => "sha224",
                Algorithm::Sha256 => "sha256",
                Algorithm::Sha384 => "sha384",
                Algorithm::Sha512 => "sha512",
            });
        }
        (None, None) => {}
        _ => {
            return Err(ToolError::InvalidArguments(
                "checksum and checksum_algorithm go together: give both (e.g. sha256 and its hex digest) or neither"
                    .into(),
            ));
        }
    }
    if a.verify_certificates == Some(false) {
        params["verify-certificates"] = json!(false);
    }
    let sent = writes.send(Method::Post, &["nodes", &a.node, "storage", &a.storage, "download-url"], &params)?;
    let what = format!("download {} to {} on {}", a.filename, a.storage, a.node);
    writes.finish(&a.node, sent, &what, Nothing {})
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ApplianceArgs {
    node: String,
    storage: String,
    /// The catalogue's template file name, e.g. debian-13-standard_13.1-1_amd64.tar.zst.
    template: String,
}

fn appliance(a: ApplianceArgs, writes: &mut Writes) -> Result<Answer<Outcome>, ToolError> {
    let params = json!({"storage": a.storage, "template": a.template});
    let sent = writes.send(Method::Post, &["nodes", &a.node, "aplinfo"], &params)?;
    let what = format!("download appliance template {} to {} on {}", a.template, a.storage, a.node);
    writes.finish(&a.node, sent, &what, Nothing {})
}
