//! The `[[network]]` rules: which peers the guest may reach, over which
//! transport, and where it may listen.

use std::collections::BTreeSet;
use std::net::SocketAddr;

/// Transport protocol of a `[[network]]` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// The policy-file spelling: `"tcp"` or `"udp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One `[[network]]` rule: the guest may connect (TCP) or send (UDP) to
/// exactly this address and port; with `listen`, it may instead bind a
/// TCP socket to it, listen and accept connections from anyone who can
/// reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetRule {
    pub addr: SocketAddr,
    pub protocol: Protocol,
    pub listen: bool,
}

impl NetRule {
    /// Whether this (outbound) rule allows `protocol` traffic to `addr`.
    /// IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) match the IPv4 rule
    /// and vice versa.
    pub fn allows(&self, protocol: Protocol, addr: SocketAddr) -> bool {
        !self.listen && self.matches(protocol, addr)
    }

    /// Whether this (listen) rule lets the guest bind `addr`: its address
    /// exactly, or any address of the port when the rule's is unspecified
    /// (`0.0.0.0`, `::`).
    pub fn allows_bind(&self, protocol: Protocol, addr: SocketAddr) -> bool {
        self.listen
            && self.protocol == protocol
            && self.addr.port() == addr.port()
            && (self.addr.ip().is_unspecified()
                || self.addr.ip().to_canonical() == addr.ip().to_canonical())
    }

    fn matches(&self, protocol: Protocol, addr: SocketAddr) -> bool {
        self.protocol == protocol
            && self.addr.port() == addr.port()
            && self.addr.ip().to_canonical() == addr.ip().to_canonical()
    }

    /// Whether `other` says the same as this rule (listed twice).
    pub fn same_as(&self, other: &NetRule) -> bool {
        self.listen == other.listen && self.matches(other.protocol, other.addr)
    }
}

/// The policy's `[[network]]` rules, in file order. Empty: the guest has
/// no network access.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetRules {
    rules: Vec<NetRule>,
}

impl NetRules {
    /// Holds rules already checked by validation (concrete addresses,
    /// non-zero ports, no duplicates).
    pub(crate) fn from_checked(rules: Vec<NetRule>) -> NetRules {
        NetRules { rules }
    }

    /// True when the policy has no `[[network]]` rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The rules in file order (`network[i]` is `as_slice()[i]`).
    pub fn as_slice(&self) -> &[NetRule] {
        &self.rules
    }

    /// The rules in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, NetRule> {
        self.rules.iter()
    }

    /// Whether a rule allows `protocol` traffic to `addr`.
    pub fn allows(&self, protocol: Protocol, addr: SocketAddr) -> bool {
        self.rules.iter().any(|rule| rule.allows(protocol, addr))
    }

    /// Whether a `listen` rule lets the guest bind `addr`.
    pub fn allows_bind(&self, protocol: Protocol, addr: SocketAddr) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.allows_bind(protocol, addr))
    }

    /// Whether any rule names `protocol` (a guest socket of a protocol no
    /// rule names could reach nobody).
    pub fn names_protocol(&self, protocol: Protocol) -> bool {
        self.rules.iter().any(|rule| rule.protocol == protocol)
    }

    /// The ports of the outbound TCP rules (what the runner's Landlock
    /// ruleset lets it connect to), sorted, each once.
    pub fn tcp_ports(&self) -> BTreeSet<u16> {
        self.rules
            .iter()
            .filter(|rule| rule.protocol == Protocol::Tcp && !rule.listen)
            .map(|rule| rule.addr.port())
            .collect()
    }

    /// The ports of the `listen` rules (what the runner's Landlock ruleset
    /// lets it bind), sorted, each once.
    pub fn listen_ports(&self) -> BTreeSet<u16> {
        self.rules
            .iter()
            .filter(|rule| rule.listen)
            .map(|rule| rule.addr.port())
            .collect()
    }
}

impl<'a> IntoIterator for &'a NetRules {
    type Item = &'a NetRule;
    type IntoIter = std::slice::Iter<'a, NetRule>;

    fn into_iter(self) -> Self::IntoIter {
        self.rules.iter()
    }
}
