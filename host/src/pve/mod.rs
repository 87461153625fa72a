//! The Proxmox VE client: the only code in proxmcp that talks to a cluster.
//!
//! Plugins reach it solely through the contract's `pve` import, after the
//! gate layer has checked the request. It owns authentication, TLS, the
//! encoding of paths and parameters, and the translation of PVE's answers
//! into [`ApiError`]s that say what to do.

pub mod apischema;
pub mod auth;
mod client;
pub mod endpoints;
mod error;
mod guests;
mod params;
pub mod path;
pub mod permissions;
pub mod tasks;
pub mod tls;

pub use client::{Auth, Identity, PveClient, PveConfig, install_crypto_provider};
pub use error::{ApiError, ConfigError, FieldError};
pub use guests::{GuestInfo, GuestKind};
pub use params::{to_form, wire_scalar};
pub use path::encode_path;
pub use tasks::{TaskOutcome, TaskProgress};
pub use tls::TlsMode;

use std::fmt;

/// HTTP method of an API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// Read.
    Get,
    /// Create or act.
    Post,
    /// Update.
    Put,
    /// Remove.
    Delete,
}

impl Method {
    /// The method's name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    /// Parses `GET`, `post`, ... (case-insensitive).
    pub fn parse(s: &str) -> Option<Method> {
        match s.to_ascii_uppercase().as_str() {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }

    /// Whether the method changes the cluster.
    pub fn is_write(self) -> bool {
        self != Method::Get
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
