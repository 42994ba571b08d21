//! The secure-tunnel table: which guest address ranges syscall buffers may
//! be copied from (read) or to (write).

/// A memory operation on a guest buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// The runner copies from guest memory (copy-in, e.g. `write`'s buffer).
    Read,
    /// The runner copies to guest memory (copy-out, e.g. `read`'s buffer).
    Write,
    /// Guest code executed from the range.
    Execute,
}

/// The operations a range allows (`access = "r" | "rw" | "rx" | "rwx" | ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

impl Perms {
    /// Parses a non-empty subset of `r`, `w`, `x`, in that order.
    pub fn parse(text: &str) -> Option<Perms> {
        let mut rest = text;
        let mut take = |letter: char| match rest.strip_prefix(letter) {
            Some(tail) => {
                rest = tail;
                true
            }
            None => false,
        };
        let perms = Perms {
            read: take('r'),
            write: take('w'),
            execute: take('x'),
        };
        let any = perms.read || perms.write || perms.execute;
        (rest.is_empty() && any).then_some(perms)
    }

    /// The policy-file spelling, e.g. `"rw"`.
    pub fn as_string(self) -> String {
        let mut s = String::with_capacity(3);
        if self.read {
            s.push('r');
        }
        if self.write {
            s.push('w');
        }
        if self.execute {
            s.push('x');
        }
        s
    }

    /// Whether these permissions include `op`.
    pub fn allows(self, op: Op) -> bool {
        match op {
            Op::Read => self.read,
            Op::Write => self.write,
            Op::Execute => self.execute,
        }
    }
}

/// One `[[tunnel]]` entry: guest addresses `start..end` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelRange {
    pub start: u64,
    pub end: u64,
    pub perms: Perms,
}

/// The policy's `[[tunnel]]` table: the guest ranges syscall buffers may
/// lie in. Ranges are sorted by address and never overlap.
/// Empty means "no tunnel restriction" (see [`TunnelRanges::allows`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TunnelRanges {
    ranges: Vec<TunnelRange>,
}

impl TunnelRanges {
    /// Builds a table from ranges already checked by validation (page
    /// aligned, in the user half, `start < end`, non-overlapping).
    pub(crate) fn from_checked(mut ranges: Vec<TunnelRange>) -> TunnelRanges {
        ranges.sort_by_key(|r| r.start);
        TunnelRanges { ranges }
    }

    /// True when the policy has no `[[tunnel]]` entry: buffers are then not
    /// restricted by the tunnel at all.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The ranges, sorted by start address.
    pub fn ranges(&self) -> &[TunnelRange] {
        &self.ranges
    }

    /// Whether a guest buffer `start..start+len` may be accessed with `op`.
    ///
    /// * An empty table allows everything.
    /// * `len == 0` is allowed at any address (nothing is copied).
    /// * Otherwise every byte must lie in ranges allowing `op`; a buffer may
    ///   span several adjacent ranges if all of them allow `op`.
    /// * A buffer whose end overflows 64 bits is refused.
    pub fn allows(&self, start: u64, len: u64, op: Op) -> bool {
        if self.ranges.is_empty() || len == 0 {
            return true;
        }
        let Some(end) = start.checked_add(len) else {
            return false;
        };
        // First range that ends after `start`.
        let first = self.ranges.partition_point(|r| r.end <= start);
        let mut covered = start;
        for range in &self.ranges[first..] {
            if range.start > covered || !range.perms.allows(op) {
                return false;
            }
            covered = range.end;
            if covered >= end {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(s: &str) -> Perms {
        Perms::parse(s).expect("valid perms in test")
    }

    fn table() -> TunnelRanges {
        TunnelRanges::from_checked(vec![
            TunnelRange {
                start: 0x600000,
                end: 0x700000,
                perms: perms("rw"),
            },
            TunnelRange {
                start: 0x400000,
                end: 0x600000,
                perms: perms("rx"),
            },
            TunnelRange {
                start: 0x700000,
                end: 0x800000,
                perms: perms("rw"),
            },
            TunnelRange {
                start: 0x900000,
                end: 0xa00000,
                perms: perms("rw"),
            },
        ])
    }

    #[test]
    fn perms_parse() {
        assert_eq!(
            perms("r"),
            Perms {
                read: true,
                write: false,
                execute: false
            }
        );
        assert_eq!(
            perms("rwx"),
            Perms {
                read: true,
                write: true,
                execute: true
            }
        );
        assert_eq!(perms("wx").as_string(), "wx");
        for bad in ["", "wr", "rr", "rwxr", "R", "read"] {
            assert_eq!(Perms::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn empty_table_allows_everything() {
        let t = TunnelRanges::default();
        assert!(t.is_empty());
        assert!(t.allows(0, u64::MAX, Op::Write));
    }

    #[test]
    fn inside_and_outside() {
        let t = table();
        assert!(!t.is_empty());
        assert_eq!(t.ranges()[0].start, 0x400000);
        assert!(t.allows(0x400000, 0x1000, Op::Read));
        assert!(t.allows(0x400000, 0x1000, Op::Execute));
        assert!(!t.allows(0x400000, 0x1000, Op::Write));
        assert!(t.allows(0x5fffff, 1, Op::Read));
        assert!(!t.allows(0x3fffff, 2, Op::Read), "starts before the table");
        assert!(!t.allows(0x800000, 1, Op::Read), "end is exclusive");
        assert!(t.allows(0x7fffff, 1, Op::Write));
    }

    #[test]
    fn spans_adjacent_ranges_only_if_all_allow() {
        let t = table();
        assert!(
            t.allows(0x600000, 0x200000, Op::Write),
            "two adjacent rw ranges"
        );
        assert!(
            t.allows(0x5ff000, 0x2000, Op::Read),
            "rx then rw, both read"
        );
        assert!(
            !t.allows(0x5ff000, 0x2000, Op::Write),
            "rx part is not writable"
        );
        assert!(!t.allows(0x7ff000, 0x2000, Op::Read), "gap at 0x800000");
        assert!(!t.allows(0x7ff000, 0x102000, Op::Read), "across the gap");
    }

    #[test]
    fn zero_length_and_overflow() {
        let t = table();
        assert!(t.allows(0, 0, Op::Write));
        assert!(t.allows(u64::MAX, 0, Op::Read));
        assert!(!t.allows(u64::MAX, 1, Op::Read));
        assert!(!t.allows(0x400000, u64::MAX, Op::Read));
    }
}
