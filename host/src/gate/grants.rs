//! Grants: which requests a plugin may make.
//!
//! A grant is `"METHOD /path/pattern"`. `METHOD` is `GET`, `POST`, `PUT`,
//! `DELETE` or `*`. In the pattern, `*` or a `{name}` placeholder (as in the
//! Proxmox API schema) matches exactly one segment, and a final `**`
//! matches any rest, including nothing. Matching runs on the decoded
//! segments the plugin sent, so encoding tricks cannot widen a grant.

use std::fmt;

use crate::pve::Method;

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Literal(String),
    One,
    Rest,
}

/// A parsed grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    method: Option<Method>,
    segments: Vec<Seg>,
    text: String,
}

/// Why a grant string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "grant {text:?} is invalid: {reason}; write it as \"GET /nodes/*/qemu\" (METHOD, a space, a path starting with /)"
)]
pub struct GrantError {
    text: String,
    reason: String,
}

impl Grant {
    /// Parses `"METHOD /path/pattern"`.
    pub fn parse(text: &str) -> Result<Grant, GrantError> {
        let err = |reason: &str| GrantError { text: text.to_string(), reason: reason.to_string() };
        let (method, path) = text.trim().split_once(' ').ok_or_else(|| err("no space between method and path"))?;
        let method = match method {
            "*" => None,
            m => Some(Method::parse(m).ok_or_else(|| err("unknown method"))?),
        };
        let path = path.trim();
        let rest = path.strip_prefix('/').ok_or_else(|| err("the path does not start with /"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let seg = match *part {
                "" => return Err(err("the path has an empty segment")),
                "**" if i + 1 == parts.len() => Seg::Rest,
                "**" => return Err(err("** may only end a pattern")),
                "*" => Seg::One,
                p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => Seg::One,
                p if p.contains(['*', '{', '}', '?', '#', '%']) => {
                    return Err(err("a segment mixes text and wildcards"));
                }
                p => Seg::Literal(p.to_string()),
            };
            segments.push(seg);
        }
        Ok(Grant { method, segments, text: format!("{} {path}", method.map_or("*", Method::as_str)) })
    }

    /// Whether this grant allows `method` on `path`.
    pub fn allows<S: AsRef<str>>(&self, method: Method, path: &[S]) -> bool {
        if self.method.is_some_and(|m| m != method) {
            return false;
        }
        let mut i = 0;
        for seg in &self.segments {
            match seg {
                Seg::Rest => return true,
                Seg::One => {
                    if i >= path.len() {
                        return false;
                    }
                }
                Seg::Literal(lit) => {
                    if path.get(i).map(AsRef::as_ref) != Some(lit.as_str()) {
                        return false;
                    }
                }
            }
            i += 1;
        }
        i == path.len()
    }

    /// Whether every request `other` allows is also allowed by `self`: how
    /// the host checks a manifest's requested grant against the operator's.
    pub fn covers(&self, other: &Grant) -> bool {
        let method_ok = match (self.method, other.method) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        method_ok && covers_segments(&self.segments, &other.segments)
    }

    /// Whether the grant allows every request (`* /**`).
    pub fn is_everything(&self) -> bool {
        self.method.is_none() && self.segments == [Seg::Rest]
    }

    /// Whether the grant allows only reads.
    pub fn is_read_only(&self) -> bool {
        self.method == Some(Method::Get)
    }
}

/// Pattern inclusion: `a` matches every path `b` matches.
fn covers_segments(a: &[Seg], b: &[Seg]) -> bool {
    match (a.first(), b.first()) {
        (Some(Seg::Rest), _) => true,
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        // `b` matches arbitrarily long paths; only `**` (handled above) covers that.
        (Some(_), Some(Seg::Rest)) => false,
        (Some(Seg::One), Some(_)) => covers_segments(&a[1..], &b[1..]),
        (Some(Seg::Literal(x)), Some(Seg::Literal(y))) if x == y => covers_segments(&a[1..], &b[1..]),
        (Some(Seg::Literal(_)), Some(_)) => false,
    }
}

/// Whether `granted` covers `requested`; the first requested grant that no
/// granted pattern covers is returned.
pub fn first_uncovered<'a>(granted: &[Grant], requested: &'a [Grant]) -> Option<&'a Grant> {
    requested.iter().find(|r| !granted.iter().any(|g| g.covers(r)))
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> Grant {
        Grant::parse(s).unwrap()
    }

    #[test]
    fn literal_grants_match_exactly() {
        assert!(g("GET /version").allows(Method::Get, &["version"]));
        assert!(!g("GET /version").allows(Method::Post, &["version"]));
        assert!(!g("GET /version").allows(Method::Get, &["version", "x"]));
        assert!(!g("GET /nodes").allows(Method::Get, &["nodes", "pve1"]));
    }

    #[test]
    fn wildcards_and_placeholders_match_one_segment() {
        let grant = g("GET /nodes/{node}/qemu/*/status/current");
        assert!(grant.allows(Method::Get, &["nodes", "pve1", "qemu", "100", "status", "current"]));
        assert!(!grant.allows(Method::Get, &["nodes", "pve1", "qemu", "status", "current"]));
    }

    #[test]
    fn double_star_matches_any_rest() {
        let grant = g("* /nodes/**");
        assert!(grant.allows(Method::Delete, &["nodes"]));
        assert!(grant.allows(Method::Post, &["nodes", "a", "b", "c"]));
        assert!(!grant.allows(Method::Get, &["cluster"]));
    }

    #[test]
    fn covers_is_pattern_inclusion() {
        assert!(g("GET /**").covers(&g("GET /nodes/*/qemu")));
        assert!(g("* /nodes/**").covers(&g("POST /nodes/{node}/qemu/*/status/*")));
        assert!(g("GET /nodes/*/qemu").covers(&g("GET /nodes/pve1/qemu")));
        assert!(!g("GET /nodes/pve1/qemu").covers(&g("GET /nodes/*/qemu")));
        assert!(!g("GET /**").covers(&g("POST /nodes")));
        assert!(!g("GET /nodes/**").covers(&g("* /nodes/x")));
        assert!(!g("GET /nodes/*").covers(&g("GET /nodes/**")));
        assert!(g("GET /nodes/**").covers(&g("GET /nodes/**")));
        assert!(!g("GET /nodes/*/qemu").covers(&g("GET /nodes/*/qemu/*")));
    }

    #[test]
    fn bad_grants_are_refused_with_the_expected_shape() {
        for bad in ["GET", "FETCH /x", "GET x", "GET /a//b", "GET /**/x", "GET /a*b", "GET /a?b"] {
            let e = Grant::parse(bad).unwrap_err().to_string();
            assert!(e.contains("METHOD"), "{bad}: {e}");
        }
    }
}
