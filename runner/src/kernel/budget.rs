//! The sandbox's write budget (the policy's `bytes_written`).

use crate::abi::Errno;

/// The policy's `bytes_written` budget: bytes written to files, stdout and
/// stderr over the whole run. A write that would pass the limit is cut
/// short at it; once it is reached, writes fail with `EFBIG` (like
/// `RLIMIT_FSIZE` with SIGXFSZ ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBudget {
    pub used: u64,
    pub limit: u64,
}

impl Default for WriteBudget {
    fn default() -> Self {
        WriteBudget {
            used: 0,
            limit: sandbox_policy::defaults::BYTES_WRITTEN,
        }
    }
}

impl WriteBudget {
    /// How much of a `want`-byte write may go ahead.
    pub fn grant(&self, want: u64) -> Result<u64, Errno> {
        if want == 0 {
            return Ok(0);
        }
        match self.limit.saturating_sub(self.used) {
            0 => Err(Errno::FBIG),
            left => Ok(want.min(left)),
        }
    }

    pub fn consume(&mut self, n: u64) {
        self.used = self.used.saturating_add(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget() {
        let mut b = WriteBudget { used: 0, limit: 10 };
        assert_eq!(b.grant(4), Ok(4));
        b.consume(4);
        assert_eq!(b.grant(100), Ok(6));
        b.consume(6);
        assert_eq!(b.grant(1), Err(Errno::FBIG));
        assert_eq!(b.grant(0), Ok(0));
    }
}
