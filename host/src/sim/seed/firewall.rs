//! The simulated firewall's seed: rules, options, aliases, IP sets and
//! log lines per scope, and the demo cluster's firewall.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A rule, an option set or an object: its options as PVE keeps them.
pub type Options = BTreeMap<String, String>;

/// The firewall at every scope. A scope is `cluster`, `node/NAME`,
/// `vm/ID`, `ct/ID`, or `group/NAME` for a security group's rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimFirewall {
    /// Rules by scope, in order (`pos` is the index).
    #[serde(default)]
    pub rules: BTreeMap<String, Vec<Options>>,
    /// Options by scope (a security group's `comment` is its option).
    #[serde(default)]
    pub options: BTreeMap<String, Options>,
    /// Aliases by scope (`cluster` or a guest): name -> `cidr`, `comment`.
    #[serde(default)]
    pub aliases: BTreeMap<String, BTreeMap<String, Options>>,
    /// IP sets by scope: name -> its comment and members (`cidr`,
    /// `comment`, `nomatch`).
    #[serde(default)]
    pub ipsets: BTreeMap<String, BTreeMap<String, SimIpSet>>,
    /// Log lines of node and guest scopes, oldest first.
    #[serde(default)]
    pub log: Vec<SimLogLine>,
}

/// An IP set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimIpSet {
    /// Comment.
    #[serde(default)]
    pub comment: String,
    /// Members.
    #[serde(default)]
    pub members: Vec<Options>,
}

/// A firewall log line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimLogLine {
    /// `node/NAME`, `vm/ID` or `ct/ID`.
    pub scope: String,
    /// Seconds before the simulator's start.
    pub ago: u64,
    /// The line after its timestamp.
    pub text: String,
}

fn options(pairs: &[(&str, &str)]) -> Options {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A firewall as small clusters run it: on at cluster level with inbound
/// DROP, SSH from the management set, a web server group used by VM 100,
/// VM 101's own firewall off, and a few dropped packets in the log.
pub(super) fn demo_firewall() -> SimFirewall {
    let log = |scope: &str, ago, text: &str| SimLogLine { scope: scope.into(), ago, text: text.into() };
    SimFirewall {
        rules: BTreeMap::from([
            (
                "cluster".into(),
                vec![options(&[
                    ("type", "in"),
                    ("action", "ACCEPT"),
                    ("macro", "SSH"),
                    ("source", "+management"),
                    ("enable", "1"),
                    ("comment", "SSH from management"),
                ])],
            ),
            (
                "group/webserver".into(),
                vec![
                    options(&[
                        ("type", "in"),
                        ("action", "ACCEPT"),
                        ("proto", "tcp"),
                        ("dport", "80"),
                        ("enable", "1"),
                    ]),
                    options(&[
                        ("type", "in"),
                        ("action", "ACCEPT"),
                        ("proto", "tcp"),
                        ("dport", "443"),
                        ("enable", "1"),
                    ]),
                ],
            ),
            ("vm/101".into(), vec![options(&[("type", "group"), ("action", "webserver"), ("enable", "1")])]),
        ]),
        options: BTreeMap::from([
            ("cluster".into(), options(&[("enable", "1"), ("policy_in", "DROP"), ("policy_out", "ACCEPT")])),
            ("group/webserver".into(), options(&[("comment", "HTTP and HTTPS")])),
            ("vm/100".into(), options(&[("enable", "1")])),
            ("vm/101".into(), options(&[("enable", "0")])),
        ]),
        aliases: BTreeMap::from([(
            "cluster".into(),
            BTreeMap::from([("mgmt-gw".into(), options(&[("cidr", "10.0.0.1"), ("comment", "management gateway")]))]),
        )]),
        ipsets: BTreeMap::from([(
            "cluster".into(),
            BTreeMap::from([(
                "management".into(),
                SimIpSet {
                    comment: "admin workstations".into(),
                    members: vec![
                        options(&[("cidr", "10.0.0.0/24")]),
                        options(&[("cidr", "10.0.0.99"), ("nomatch", "1"), ("comment", "printer")]),
                    ],
                },
            )]),
        )]),
        log: vec![
            log("vm/100", 7_200, "DROP: IN=fwbr100i0 SRC=203.0.113.7 DST=10.0.0.100 PROTO=TCP SPT=51515 DPT=22"),
            log("vm/100", 600, "DROP: IN=fwbr100i0 SRC=198.51.100.4 DST=10.0.0.100 PROTO=TCP SPT=40022 DPT=3389"),
            log("node/pve1", 300, "DROP: IN=vmbr0 SRC=203.0.113.9 DST=10.0.0.11 PROTO=TCP SPT=33333 DPT=8006"),
        ],
    }
}
