//! `[[network]]`: addresses (IP literals with a port), protocols, and
//! entries listed twice.

use std::net::SocketAddr;
use std::ops::Range;

use toml::Spanned;

use super::Result;
use crate::effective::quote;
use crate::location::Source;
use crate::network::{NetRule, NetRules, Protocol};
use crate::schema::RawNet;

fn address(
    value: &Spanned<String>,
    key: &str,
    listen: bool,
    src: &Source<'_>,
) -> Result<SocketAddr> {
    let text = value.get_ref();
    let found = quote(text);
    let message = match text.parse::<SocketAddr>() {
        Ok(addr) if addr.port() == 0 => format!("expected a port from 1 to 65535, found {found}"),
        Ok(addr) if addr.ip().is_unspecified() && !listen => format!(
            "expected a concrete address (not 0.0.0.0 or ::; those are for listen = true), found {found}"
        ),
        Ok(addr) => return Ok(addr),
        Err(_) if looks_like_host_name(text) => {
            format!("expected an IP address literal, not a host name, found {found}")
        }
        Err(_) => format!(
            "expected an address and port such as \"127.0.0.1:8080\" or \"[::1]:53\", found {found}"
        ),
    };
    Err(src.invalid(&value.span(), key, message))
}

/// `name:port` where name is not an IP literal but could be a DNS name.
fn looks_like_host_name(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && host.parse::<std::net::IpAddr>().is_err()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && host.bytes().any(|b| b.is_ascii_alphabetic())
}

pub(super) fn network(raw: &[Spanned<RawNet>], src: &Source<'_>) -> Result<NetRules> {
    let mut rules: Vec<NetRule> = Vec::with_capacity(raw.len());
    let mut spans: Vec<Range<usize>> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.iter().enumerate() {
        let entry = entry.get_ref();
        let addr_key = format!("network[{i}].address");
        let listen = entry.listen.as_ref().is_some_and(|l| *l.get_ref());
        let addr = address(&entry.address, &addr_key, listen, src)?;
        let protocol = match entry.protocol.as_ref().map(|p| (p, p.get_ref().as_str())) {
            None | Some((_, "tcp")) => Protocol::Tcp,
            Some((_, "udp")) => Protocol::Udp,
            Some((p, other)) => {
                return Err(src.invalid(
                    &p.span(),
                    &format!("network[{i}].protocol"),
                    format!("expected \"tcp\" or \"udp\", found {}", quote(other)),
                ))
            }
        };
        if listen && protocol != Protocol::Tcp {
            if let Some(l) = &entry.listen {
                return Err(src.invalid(
                    &l.span(),
                    &format!("network[{i}].listen"),
                    "listen = true is for \"tcp\" rules: UDP servers are not emulated yet",
                ));
            }
        }
        let rule = NetRule {
            addr,
            protocol,
            listen,
        };
        if let Some(j) = rules.iter().position(|r| r.same_as(&rule)) {
            return Err(src.conflict(
                &entry.address.span(),
                &addr_key,
                format!(
                    "{}{} {} is listed twice",
                    protocol.as_str(),
                    if listen { " listen" } else { "" },
                    quote(entry.address.get_ref())
                ),
                &spans[j],
                &format!("network[{j}].address"),
            ));
        }
        rules.push(rule);
        spans.push(entry.address.span());
    }
    Ok(NetRules::from_checked(rules))
}
