//! The policy's `[[tunnel]]` table as the tunnel applies it: the check of
//! one guest range, and the ranges a whole access may use (what the in-VM
//! monitor's range tables hold, so that it refuses no buffer the tunnel
//! would take).

use super::Access;
use crate::guest::address_space::AddressSpace;
use sandbox_policy::{Op, TunnelRanges};

fn op(access: Access) -> Op {
    match access {
        Access::Read => Op::Read,
        Access::Write => Op::Write,
    }
}

/// Whether the policy's table lets `[start, start+len)` be used for
/// `access` (an empty table allows everything).
pub(super) fn allows(ranges: &TunnelRanges, start: u64, len: u64, access: Access) -> bool {
    ranges.allows(start, len, op(access))
}

/// The user ranges the program can read or write (`access`), merged, and
/// cut down to what the policy's table `ranges` allows for that access.
/// Every page in them is mapped with that right.
pub fn accessible_ranges(
    aspace: &AddressSpace,
    ranges: &TunnelRanges,
    access: Access,
) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut push = |start: u64, end: u64| match out.last_mut() {
        Some(last) if last.1 == start => last.1 = end,
        _ => out.push((start, end)),
    };
    let op = op(access);
    for (start, end) in aspace.mappings_with(access == Access::Write) {
        if ranges.is_empty() {
            push(start, end);
            continue;
        }
        for r in ranges.ranges() {
            let (s, e) = (start.max(r.start), end.min(r.end));
            if s < e && r.perms.allows(op) {
                push(s, e);
            }
        }
    }
    out
}
