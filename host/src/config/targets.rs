//! Targets: `[proxmox]` (with `PVE_*`) is the target `default`, and each
//! `[targets.NAME]` another cluster with the same settings plus its own
//! read-only switch and protected guests.

use super::{Config, ConfigError, ProtectSection, ProxmoxSection};
use crate::defaults;
use crate::pve::{Auth, PveConfig, TlsMode};
use std::time::Duration;

/// One Proxmox target as the host uses it: its client settings, and its
/// own read-only switch and protected guests.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// `default` for `[proxmox]` and `PVE_*`, else `[targets.NAME]`'s name.
    pub name: String,
    /// How to reach it.
    pub pve: PveConfig,
    /// Refuses every write.
    pub read_only: bool,
    /// Its protected guests.
    pub protect: ProtectSection,
    /// Requests carry each caller's own API token.
    pub caller_credentials: bool,
}

impl ProxmoxSection {
    /// Checks the client's limits; `key` names a setting as the operator
    /// wrote it (`PVE_RETRIES`, `[targets.lab] retries`).
    pub(super) fn check_client_limits(&self, key: impl Fn(&str) -> String) -> Result<(), ConfigError> {
        if let Some(c) = self.max_concurrency
            && !(1..=256).contains(&c)
        {
            return Err(ConfigError::Invalid(format!("{}={c} is out of range; use 1 to 256", key("max_concurrency"))));
        }
        if let Some(r) = self.retries
            && r > 10
        {
            return Err(ConfigError::Invalid(format!("{}={r} is out of range; use 0 to 10", key("retries"))));
        }
        if self.timeout_secs == Some(0) {
            return Err(ConfigError::Invalid(format!("{} must be at least 1 second", key("timeout_secs"))));
        }
        Ok(())
    }
}

/// The token id a caller-credentials target's own client carries when no
/// credentials are configured.
pub const CALLER_PLACEHOLDER: &str = "proxmcp@pve!caller-credentials";

impl Config {
    pub(super) fn validate_targets(&self) -> Result<(), ConfigError> {
        if self.proxmox.protect.is_some() {
            return Err(ConfigError::Invalid(
                "[proxmox] has no protect table: the default target's protected guests are the top-level [protect]"
                    .into(),
            ));
        }
        for (name, t) in &self.targets {
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !valid {
                return Err(ConfigError::Invalid(format!(
                    "[targets.{name}]: a target name uses lowercase letters, digits, '-' and '_' only"
                )));
            }
            if name == "default" && self.proxmox.base_url.is_some() {
                return Err(ConfigError::Invalid(
                    "[targets.default] and [proxmox] (or PVE_BASE_URL) both define the target `default`; keep one"
                        .into(),
                ));
            }
            if t.base_url.is_none() {
                return Err(ConfigError::Invalid(format!("[targets.{name}] needs base_url (https://HOST:8006)")));
            }
            t.check_client_limits(|key| format!("[targets.{name}] {key}"))?;
        }
        if let Some(d) = &self.default_target {
            let names = self.target_names();
            if !names.iter().any(|n| n == d) {
                return Err(ConfigError::Invalid(format!(
                    "default_target = {d:?} is not a configured target; use one of: {}",
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The configured target names: `default` (when `[proxmox]` or `PVE_*`
    /// give a URL) and every `[targets.NAME]`, sorted.
    pub fn target_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.targets.keys().cloned().collect();
        if self.proxmox.base_url.is_some() {
            names.push("default".into());
        }
        names.sort();
        names
    }

    /// The target a call uses when it names none.
    pub fn default_target_name(&self) -> Option<String> {
        let names = self.target_names();
        match &self.default_target {
            Some(d) => Some(d.clone()),
            None if names.iter().any(|n| n == "default") => Some("default".into()),
            None => names.into_iter().next(),
        }
    }

    /// Every target's settings, sorted by name.
    pub fn targets(&self) -> Result<Vec<TargetSettings>, crate::pve::ConfigError> {
        let mut out = Vec::new();
        for name in self.target_names() {
            let section = if name == "default" && !self.targets.contains_key("default") {
                &self.proxmox
            } else {
                &self.targets[&name]
            };
            let caller = section.credentials == Some(super::Credentials::Caller);
            let Some(pve) = pve_of(section, caller)? else { continue };
            out.push(TargetSettings {
                name: name.clone(),
                pve,
                read_only: section.read_only.unwrap_or(false),
                protect: section.protect.clone().unwrap_or_else(|| self.protect.clone()),
                caller_credentials: caller,
            });
        }
        Ok(out)
    }

    /// The default target's client settings, or `Ok(None)` when no URL is
    /// set.
    pub fn pve(&self) -> Result<Option<PveConfig>, crate::pve::ConfigError> {
        let default = self.default_target_name();
        Ok(self.targets()?.into_iter().find(|t| Some(&t.name) == default.as_ref()).map(|t| t.pve))
    }
}

/// One `[proxmox]`-shaped section's client settings, or `Ok(None)` when it
/// has no URL.
/// With `caller` credentials and none configured, the target's own client
/// carries a token id that names the situation and no secret: Proxmox
/// refuses it, and every call uses the caller's token instead.
fn pve_of(p: &ProxmoxSection, caller: bool) -> Result<Option<PveConfig>, crate::pve::ConfigError> {
    let Some(base_url) = p.base_url.clone() else {
        return Ok(None);
    };
    let auth = match (&p.token_id, &p.token_secret, &p.username, &p.password) {
        (Some(id), Some(secret), _, _) => Auth::ApiToken { id: id.clone(), secret: secret.clone() },
        (_, _, Some(username), Some(password)) => {
            Auth::Password { username: username.clone(), password: password.clone() }
        }
        _ if caller => Auth::ApiToken { id: CALLER_PLACEHOLDER.into(), secret: crate::secret::Secret::new("") },
        _ => return Err(crate::pve::ConfigError::MissingCredentials),
    };
    let tls = match (&p.fingerprint, &p.ca_file, p.verify_ssl) {
        (Some(_), Some(_), _) => {
            return Err(crate::pve::ConfigError::TlsConflict(
                "both PVE_FINGERPRINT and PVE_CA_FILE are set; keep one (the fingerprint pins one node's certificate, the CA file trusts a cluster CA)".into(),
            ));
        }
        (Some(_), None, Some(false)) | (None, Some(_), Some(false)) => {
            return Err(crate::pve::ConfigError::TlsConflict(
                "PVE_VERIFY_SSL=false turns certificate checks off, but PVE_FINGERPRINT or PVE_CA_FILE asks for them; remove PVE_VERIFY_SSL".into(),
            ));
        }
        (Some(fp), None, _) => TlsMode::Fingerprint(crate::pve::tls::parse_fingerprint(fp)?),
        (None, Some(ca), _) => TlsMode::CaFile(ca.clone()),
        (None, None, Some(false)) => TlsMode::Insecure,
        (None, None, _) => TlsMode::System,
    };
    let mut config = PveConfig::new(base_url, auth);
    config.tls = tls;
    config.allow_insecure_http = p.allow_insecure_http.unwrap_or(false);
    config.timeout = p.timeout_secs.map_or(defaults::PVE_TIMEOUT, Duration::from_secs);
    config.max_concurrency = p.max_concurrency.unwrap_or(defaults::PVE_MAX_CONCURRENCY);
    config.retries = p.retries.unwrap_or(defaults::PVE_RETRIES);
    Ok(Some(config))
}
