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

/// `limits.created_entries`: files and directories the guest may still
/// create in read-write trees. Each creation takes one before it is made
/// and gives it back if it fails; past the limit creation fails with
/// `EDQUOT`. Removing an entry gives nothing back (the budget bounds the
/// creation work and the metadata a run can leave, not what exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateBudget {
    pub used: u32,
    pub limit: u32,
}

impl Default for CreateBudget {
    fn default() -> Self {
        CreateBudget {
            used: 0,
            limit: sandbox_policy::defaults::CREATED_ENTRIES,
        }
    }
}

impl CreateBudget {
    /// Takes one entry; EDQUOT when none is left.
    pub fn take(&mut self) -> Result<(), Errno> {
        if self.used >= self.limit {
            return Err(Errno::DQUOT);
        }
        self.used += 1;
        Ok(())
    }

    /// Gives back an entry whose creation failed.
    pub fn give_back(&mut self) {
        self.used = self.used.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_budget_runs_out_and_failed_creations_give_back() {
        let mut b = CreateBudget { used: 0, limit: 2 };
        assert_eq!((b.take(), b.take()), (Ok(()), Ok(())));
        assert_eq!(b.take(), Err(Errno::DQUOT));
        b.give_back();
        assert_eq!(b.take(), Ok(()));
        let mut none = CreateBudget { used: 0, limit: 0 };
        assert_eq!(none.take(), Err(Errno::DQUOT));
    }

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
