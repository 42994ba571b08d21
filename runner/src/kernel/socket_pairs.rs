//! What the sandbox's AF_UNIX socketpairs may hold in the host kernel.
//! Their buffers are host kernel memory, outside the guest's
//! `limits.memory`, so each end's send buffer is set small
//! ([`END_BUFFER`]) and the ends alive at once are bounded: together they
//! may hold a quarter of `limits.memory`, as the pipes may
//! (kernel/pipe_buffer.rs). Past that, socketpair fails with ENFILE.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The send buffer asked for each end (SO_SNDBUF; Linux doubles it for
/// its bookkeeping): what one end can have in flight.
pub const END_BUFFER: usize = 32 * 1024;

/// What one end may hold in the host kernel at most, overheads included:
/// Linux charges a message's whole allocation to the sender's doubled
/// buffer, and lets one message pass it.
const END_WORST_CASE: u64 = 4 * END_BUFFER as u64;

/// The run's socketpair ends.
#[derive(Debug)]
pub struct SocketPairBudget {
    ends: Arc<AtomicU64>,
    max_ends: u64,
}

/// One end's place in the budget, given back when the end closes.
#[derive(Debug)]
pub struct EndCharge(Arc<AtomicU64>);

impl Drop for EndCharge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SocketPairBudget {
    /// The budget of a run whose guest may use `memory` bytes: ends worth
    /// a quarter of it, at least one pair.
    pub fn for_memory(memory: u64) -> SocketPairBudget {
        SocketPairBudget {
            ends: Arc::default(),
            max_ends: (memory / 4 / END_WORST_CASE).max(2),
        }
    }

    /// Places for both ends of a new pair, or None when the budget is
    /// spent.
    pub fn take_pair(&self) -> Option<(EndCharge, EndCharge)> {
        let taken = self
            .ends
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n + 2 <= self.max_ends).then_some(n + 2)
            })
            .is_ok();
        taken.then(|| (EndCharge(self.ends.clone()), EndCharge(self.ends.clone())))
    }

    /// How many pairs may be alive at once.
    pub fn max_pairs(&self) -> u64 {
        self.max_ends / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_bounded_and_closing_gives_back() {
        let b = SocketPairBudget::for_memory(16 << 20);
        assert_eq!(b.max_pairs(), 16);
        let held: Vec<_> = (0..16).map(|_| b.take_pair().expect("room")).collect();
        assert!(b.take_pair().is_none());
        drop(held);
        assert!(b.take_pair().is_some());
        assert_eq!(SocketPairBudget::for_memory(0).max_pairs(), 1);
    }
}
