//! The base URL and token id as the operator writes them, checked and
//! normalised before any client is built.

use url::Url;

use super::super::ConfigError;

/// Normalises a base URL to its origin: a trailing `/api2/json` is dropped,
/// the port defaults to 8006, and anything else after the host is refused.
pub fn normalize_base_url(raw: &str, allow_insecure_http: bool) -> Result<Url, ConfigError> {
    let bad = |reason: &str| ConfigError::BadBaseUrl { url: raw.to_string(), reason: reason.to_string() };
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(ConfigError::MissingBaseUrl);
    }
    let with_scheme = if raw.contains("://") { raw.to_string() } else { format!("https://{raw}") };
    let mut url = Url::parse(&with_scheme).map_err(|e| bad(&format!("{e}; write it as https://HOST:8006")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http => {
            // On loopback (the embedded simulator, a local tunnel) nothing
            // crosses a network.
            if !is_loopback(&url) {
                tracing::warn!("PVE_ALLOW_INSECURE_HTTP=true: the API token travels unencrypted");
            }
        }
        "http" => return Err(ConfigError::InsecureHttp),
        other => return Err(bad(&format!("scheme {other:?} is not supported; use https://"))),
    }
    if url.host_str().is_none() {
        return Err(bad("it has no host; write it as https://HOST:8006"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it carries credentials; put them in PVE_API_TOKEN_ID/PVE_API_TOKEN_SECRET instead"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it has a query or fragment; give only https://HOST:PORT"));
    }
    let path = url.path().trim_end_matches('/');
    if !(path.is_empty() || path == "/api2/json") {
        return Err(bad("it has a path; give only https://HOST:PORT (a trailing /api2/json is fine)"));
    }
    // `Url` hides a port equal to the scheme's default (443), so look at
    // the text to tell "https://h:443" from "https://h".
    if url.port().is_none() && !has_explicit_port(&with_scheme) {
        url.set_port(Some(8006)).map_err(|()| bad("cannot set the default port 8006"))?;
    }
    url.set_path("");
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn has_explicit_port(url: &str) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    // Skip an IPv6 literal's colons.
    let tail = host_port.rsplit_once(']').map_or(host_port, |(_, t)| t);
    tail.contains(':')
}

pub(super) fn valid_token_id(id: &str) -> bool {
    let Some((user_realm, name)) = id.split_once('!') else {
        return false;
    };
    let Some((user, realm)) = user_realm.rsplit_once('@') else {
        return false;
    };
    !user.is_empty() && !realm.is_empty() && !name.is_empty() && !name.contains(['!', '=', ' '])
}
