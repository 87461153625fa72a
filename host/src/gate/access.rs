//! Who is calling and what they may call: roles, bearer tokens, and the
//! tool-name patterns both roles and the deployment's `[tools]` use.
//!
//! Identity comes only from the transport (a bearer token on HTTP, the
//! configured local role on stdio), never from a tool argument.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::RbacSection;

/// A role: which tools its principals may call, and whether only to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Its name.
    pub name: String,
    /// Tool name patterns it may call.
    pub tools: Vec<String>,
    /// Every request of its calls must be a read.
    pub read_only: bool,
    /// The part of the estate it may reach.
    pub scope: super::scope::Scope,
}

impl Role {
    /// Whether the role may call `tool`.
    pub fn allows(&self, tool: &str) -> bool {
        self.tools.iter().any(|p| pattern_matches(p, tool))
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Principal name (audit log, rate limits).
    pub principal: String,
    /// Its role.
    pub role: Arc<Role>,
}

/// Why the access configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// A role's scope does not parse.
    #[error("{0}")]
    BadScope(String),
    /// A token or `stdio_role` names a role that does not exist.
    #[error("{what} names role {role:?}, which is not defined; define [rbac.roles.{role}] or use one of: {known}")]
    UnknownRole {
        /// Where the name appears.
        what: String,
        /// The name.
        role: String,
        /// The defined roles.
        known: String,
    },
    /// A token hash is not 64 hex digits.
    #[error(
        "[[rbac.tokens]] for {principal:?}: sha256 must be 64 hex digits (the SHA-256 of the token); create one with `proxmcp token new {principal} --role ROLE`"
    )]
    BadHash {
        /// The principal.
        principal: String,
    },
    /// Two tokens have the same hash.
    #[error("[[rbac.tokens]] for {0:?} and {1:?} have the same sha256; give each principal its own token")]
    DuplicateToken(String, String),
    /// A tool pattern is empty.
    #[error("{0}: an empty tool pattern matches nothing; remove it")]
    EmptyPattern(String),
}

/// Roles and bearer tokens.
#[derive(Debug, Clone)]
pub struct Rbac {
    roles: BTreeMap<String, Arc<Role>>,
    /// token hash (lowercase hex) -> caller.
    tokens: BTreeMap<String, Caller>,
    local: Caller,
}

/// The principal name stdio calls run as.
pub const LOCAL_PRINCIPAL: &str = "local";

impl Rbac {
    /// Builds the roles and tokens from `[rbac]`. The built-in roles
    /// `admin` (every tool) and `viewer` (every tool, reads only) exist
    /// unless the section redefines them.
    pub fn from_config(section: &RbacSection) -> Result<Rbac, AccessError> {
        let mut roles: BTreeMap<String, Arc<Role>> = BTreeMap::new();
        roles.insert(
            "admin".into(),
            Arc::new(Role {
                name: "admin".into(),
                tools: vec!["*".into()],
                read_only: false,
                scope: Default::default(),
            }),
        );
        roles.insert(
            "viewer".into(),
            Arc::new(Role {
                name: "viewer".into(),
                tools: vec!["*".into()],
                read_only: true,
                scope: Default::default(),
            }),
        );
        for (name, r) in &section.roles {
            if r.tools.iter().any(|p| p.trim().is_empty()) {
                return Err(AccessError::EmptyPattern(format!("[rbac.roles.{name}] tools")));
            }
            let vmids = super::scope::Scope::parse_vmids(&r.vmids)
                .map_err(|why| AccessError::BadScope(format!("[rbac.roles.{name}] {why}")))?;
            let scope = super::scope::Scope {
                targets: r.targets.clone(),
                pools: r.pools.clone(),
                tags: r.tags.clone(),
                nodes: r.nodes.clone(),
                vmids,
            };
            roles.insert(
                name.clone(),
                Arc::new(Role { name: name.clone(), tools: r.tools.clone(), read_only: r.read_only, scope }),
            );
        }
        let known = || roles.keys().cloned().collect::<Vec<_>>().join(", ");
        let role = |what: String, name: &str| {
            roles.get(name).cloned().ok_or_else(|| AccessError::UnknownRole {
                what,
                role: name.to_string(),
                known: known(),
            })
        };
        let stdio_role = section.stdio_role.as_deref().unwrap_or("admin");
        let local = Caller { principal: LOCAL_PRINCIPAL.into(), role: role("[rbac] stdio_role".into(), stdio_role)? };
        let mut tokens: BTreeMap<String, Caller> = BTreeMap::new();
        for t in &section.tokens {
            let hash = t.sha256.trim().to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(AccessError::BadHash { principal: t.principal.clone() });
            }
            let caller = Caller {
                principal: t.principal.clone(),
                role: role(format!("[[rbac.tokens]] for {:?}", t.principal), &t.role)?,
            };
            if let Some(other) = tokens.insert(hash, caller) {
                return Err(AccessError::DuplicateToken(other.principal, t.principal.clone()));
            }
        }
        Ok(Rbac { roles, tokens, local })
    }

    /// Whether any bearer token is configured.
    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The caller a bearer token stands for, if any. Only the token's
    /// SHA-256 is compared, so the lookup's timing says nothing about the
    /// token itself.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        self.tokens.get(&hash_token(token)).cloned()
    }

    /// The caller stdio runs as (and HTTP when no token is configured).
    pub fn local(&self) -> &Caller {
        &self.local
    }

    /// The roles in use (by the local caller or a token), for checking
    /// their patterns against the loaded tools.
    pub fn roles_in_use(&self) -> Vec<Arc<Role>> {
        let mut used: BTreeMap<&str, Arc<Role>> = BTreeMap::new();
        for c in std::iter::once(&self.local).chain(self.tokens.values()) {
            used.insert(&c.role.name, c.role.clone());
        }
        used.into_values().collect()
    }

    /// A role by name.
    pub fn role(&self, name: &str) -> Option<Arc<Role>> {
        self.roles.get(name).cloned()
    }
}

/// Lowercase hex SHA-256 of a bearer token, as stored in the config.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random bearer token: 32 bytes, hex.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("pmcp_{}", hex::encode(bytes)))
}

/// Tool-name pattern matching: `*` matches any run of characters, every
/// other character itself.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    // Bytes, not chars: it runs for every tool on every call, and matching
    // UTF-8 bytewise gives the same answer (`*` is ASCII, and a literal
    // byte never matches inside another character).
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    // Classic wildcard matching with backtracking to the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// The deployment's `[tools]` allow and deny lists.
#[derive(Debug, Clone, Default)]
pub struct ToolSelection {
    /// Offer only tools matching one of these (empty: all).
    pub allow: Vec<String>,
    /// Never offer tools matching one of these.
    pub deny: Vec<String>,
}

impl ToolSelection {
    /// Whether the deployment offers `tool`.
    pub fn offers(&self, tool: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|p| pattern_matches(p, tool)))
            && !self.deny.iter().any(|p| pattern_matches(p, tool))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RoleSection, TokenSection};

    #[test]
    fn patterns_match_with_stars_anywhere() {
        assert!(pattern_matches("*", "pve_list_vms"));
        assert!(pattern_matches("pve_list_*", "pve_list_vms"));
        assert!(pattern_matches("pve_*_vms", "pve_list_vms"));
        assert!(pattern_matches("*vms", "pve_list_vms"));
        assert!(pattern_matches("pve_list_vms", "pve_list_vms"));
        assert!(!pattern_matches("pve_list_vm", "pve_list_vms"));
        assert!(!pattern_matches("pve_get_*", "pve_list_vms"));
        assert!(pattern_matches("a*b*c", "aXXbYYc"));
        assert!(!pattern_matches("a*b*c", "aXXbYY"));
    }

    #[test]
    fn deny_wins_over_allow() {
        let sel = ToolSelection { allow: vec!["pve_vm_*".into()], deny: vec!["pve_vm_delete".into()] };
        assert!(sel.offers("pve_vm_start"));
        assert!(!sel.offers("pve_vm_delete"));
        assert!(!sel.offers("pve_list_vms"));
    }

    fn section() -> RbacSection {
        let mut s = RbacSection::default();
        let ops = RoleSection {
            tools: vec!["pve_vm_*".into()],
            read_only: false,
            targets: vec![],
            pools: vec![],
            tags: vec![],
            nodes: vec![],
            vmids: vec![],
        };
        s.roles.insert("ops".into(), ops);
        s.tokens.push(TokenSection { principal: "alice".into(), role: "ops".into(), sha256: hash_token("s3cret") });
        s.tokens.push(TokenSection { principal: "bob".into(), role: "viewer".into(), sha256: hash_token("other") });
        s
    }

    #[test]
    fn tokens_map_to_principals_and_roles_by_hash() {
        let rbac = Rbac::from_config(&section()).unwrap();
        let alice = rbac.authenticate("s3cret").unwrap();
        assert_eq!(alice.principal, "alice");
        assert!(alice.role.allows("pve_vm_start") && !alice.role.allows("pve_list_vms"));
        assert!(rbac.authenticate("wrong").is_none());
        assert!(rbac.authenticate("other").unwrap().role.read_only);
        assert_eq!(rbac.local().role.name, "admin");
    }

    #[test]
    fn unknown_roles_and_bad_hashes_are_refused_with_the_fix() {
        let mut s = section();
        s.tokens[0].role = "opz".into();
        let e = Rbac::from_config(&s).unwrap_err().to_string();
        assert!(e.contains("\"opz\"") && e.contains("admin, ops, viewer"), "{e}");
        let mut s = section();
        s.tokens[0].sha256 = "s3cret".into();
        assert!(Rbac::from_config(&s).unwrap_err().to_string().contains("proxmcp token new alice"));
        let mut s = section();
        s.stdio_role = Some("nobody".into());
        assert!(Rbac::from_config(&s).unwrap_err().to_string().contains("stdio_role"));
        let mut s = section();
        s.tokens[1].sha256 = s.tokens[0].sha256.to_uppercase();
        assert!(matches!(Rbac::from_config(&s), Err(AccessError::DuplicateToken(..))));
    }
}
