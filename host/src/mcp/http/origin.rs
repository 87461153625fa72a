//! Host and Origin checks against DNS rebinding and cross-site pages,
//! parsed strictly: an authority is a name or a bracketed IPv6 address and
//! an optional numeric port, nothing else; a header sent twice is refused.

use std::net::Ipv6Addr;

use axum::http::{HeaderMap, HeaderName};

/// A parsed `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// The lower-case host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
}

/// Parses an authority strictly; `None` for anything else
/// (`[::1]evil.com`, `localhost:`, spaces, user info, ...).
pub fn parse_authority(text: &str) -> Option<Authority> {
    let text = text.to_ascii_lowercase();
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (v6.to_string(), port)
    } else {
        let (host, port) = match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text.as_str(), None),
        };
        let valid = !host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && !host.starts_with(['.', '-'])
            && !host.contains("..");
        if !valid {
            return None;
        }
        (host.to_string(), port)
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
    };
    Some(Authority { host, port })
}

/// Whether `authority` matches an allowed entry: `name` (any port) or
/// `name:port`.
pub fn host_allowed(authority: &Authority, allowed: &[String]) -> bool {
    allowed.iter().any(|entry| match parse_authority(entry) {
        Some(a) => a.host == authority.host && (a.port.is_none() || a.port == authority.port),
        // Bare IPv6 entries such as `::1`.
        None => entry.eq_ignore_ascii_case(&authority.host),
    })
}

/// Whether a parsed `Origin` is allowed: listed, or a loopback page (the
/// MCP Inspector, local tools).
pub fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    if allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(&origin)) {
        return true;
    }
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let Some(a) = parse_authority(authority) else {
        return false;
    };
    matches!(scheme, "http" | "https") && matches!(a.host.as_str(), "localhost" | "127.0.0.1" | "::1")
}

/// The single value of header `name`: `Ok(None)` when absent, `Err` when
/// sent twice or not visible ASCII.
pub fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, String> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(format!("{name} was sent more than once"));
    }
    first.to_str().map(Some).map_err(|_| format!("{name} is not plain text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    fn hosts() -> Vec<String> {
        ["localhost", "127.0.0.1", "::1", "mcp.example.com", "proxy:8443"].iter().map(|s| s.to_string()).collect()
    }

    fn allowed(host: &str) -> bool {
        parse_authority(host).is_some_and(|a| host_allowed(&a, &hosts()))
    }

    #[test]
    fn host_header_must_name_an_allowed_host() {
        for ok in [
            "localhost:8000",
            "127.0.0.1",
            "[::1]:8000",
            "[::1]",
            "MCP.example.com",
            "mcp.example.com:443",
            "proxy:8443",
        ] {
            assert!(allowed(ok), "{ok}");
        }
        for bad in ["evil.example", "attacker.test:8000", "", "proxy:9999", "127.0.0.1.nip.io"] {
            assert!(!allowed(bad), "{bad}");
        }
    }

    #[test]
    fn quirky_host_headers_are_refused() {
        for bad in [
            "[::1]evil.com",
            "[::1].evil.com:80",
            "localhost:",
            "localhost:80:80",
            "localhost:99999",
            "user@localhost",
            "localhost ",
            "[::1",
            "[evil]:80",
            "local host",
        ] {
            assert!(!allowed(bad), "{bad:?}");
        }
    }

    #[test]
    fn loopback_and_listed_origins_pass_others_do_not() {
        let allowed = vec!["https://app.example.com".to_string()];
        for ok in ["http://localhost:6274", "http://127.0.0.1", "https://app.example.com/", "http://[::1]:5173"] {
            assert!(origin_allowed(ok, &allowed), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "null",
            "http://localhost.evil.example",
            "file://localhost",
            "http://[::1]evil.com",
            "http://localhost:",
        ] {
            assert!(!origin_allowed(bad, &allowed), "{bad}");
        }
    }

    #[test]
    fn duplicate_and_binary_headers_are_refused() {
        let mut h = HeaderMap::new();
        assert_eq!(single(&h, &header::HOST), Ok(None));
        h.append(header::HOST, "localhost".parse().unwrap());
        assert_eq!(single(&h, &header::HOST), Ok(Some("localhost")));
        h.append(header::HOST, "evil.example".parse().unwrap());
        assert!(single(&h, &header::HOST).is_err());
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, axum::http::HeaderValue::from_bytes(b"http://\xfflocalhost").unwrap());
        assert!(single(&h, &header::ORIGIN).is_err(), "a non-UTF-8 Origin is not treated as absent");
    }
}
