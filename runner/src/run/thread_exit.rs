//! What a thread leaves behind when it exits (exit, or its clone failing
//! to start): its clear_child_tid word is set to 0 and one waiter woken
//! (pthread_join waits there), and its robust futexes are marked
//! FUTEX_OWNER_DIED with one waiter each woken (robust mutexes), as Linux
//! does in exit_robust_list and mm_release. The walk is bounded
//! (ROBUST_LIST_LIMIT entries) and every pointer goes through the tunnel:
//! a list the program corrupted only stops the walk. Both wakes are shared
//! operations, as Linux's are: a word in a shared mapping (a robust
//! process-shared mutex) wakes a waiter of any process.

use crate::abi::constants::{
    FUTEX_BITSET_MATCH_ANY, FUTEX_OWNER_DIED, FUTEX_TID_MASK, FUTEX_WAITERS, ROBUST_LIST_LIMIT,
};
use crate::kernel::futex::{FutexKey, Futexes};
use crate::kernel::{Kernel, Process, Thread};
use crate::tunnel::{Access, GuestPtr, Tunnel};
use std::sync::atomic::Ordering;
use thinvisor_kmod::GuestMemory;

/// Releases what thread `t` of `process` holds for others.
pub fn release(kernel: &mut Kernel, process: &mut Process, mem: &mut GuestMemory, t: &Thread) {
    let pid = process.identity.pid;
    let mut tunnel = Tunnel::new(&mut process.mm, mem, &kernel.tunnel_ranges);
    let futexes = &mut kernel.futexes;
    if t.robust_list != 0 {
        walk_robust_list(&mut tunnel, futexes, pid, t.robust_list, t.tid);
    }
    if t.clear_child_tid != 0 {
        if let Ok((pa, word)) = tunnel.atomic_u32(GuestPtr::new(t.clear_child_tid), Access::Write) {
            word.store(0, Ordering::SeqCst);
            let key = shared_key(&tunnel, pid, t.clear_child_tid, pa);
            futexes.wake(key, FUTEX_BITSET_MATCH_ANY, 1);
        }
    }
}

fn walk_robust_list(tunnel: &mut Tunnel<'_>, futexes: &mut Futexes, pid: u64, head: u64, tid: u64) {
    let read = |tunnel: &Tunnel<'_>, at: u64| tunnel.read_u64(GuestPtr::new(at)).ok();
    // struct robust_list_head { next; long futex_offset; list_op_pending; }
    let (Some(mut entry), Some(offset), Some(pending)) = (
        read(tunnel, head),
        read(tunnel, head + 8),
        read(tunnel, head + 16),
    ) else {
        return;
    };
    let mut walked = 0;
    while entry != head && entry != 0 && walked < ROBUST_LIST_LIMIT {
        let next = read(tunnel, entry);
        if entry != pending {
            owner_died(tunnel, futexes, pid, entry.wrapping_add(offset), tid);
        }
        match next {
            Some(n) => entry = n,
            None => break,
        }
        walked += 1;
    }
    if pending != 0 {
        owner_died(tunnel, futexes, pid, pending.wrapping_add(offset), tid);
    }
}

/// The futex word at `addr`, if `tid` owns it: marked owner-died, and one
/// waiter woken when there are waiters.
fn owner_died(tunnel: &mut Tunnel<'_>, futexes: &mut Futexes, pid: u64, addr: u64, tid: u64) {
    let Ok((pa, word)) = tunnel.atomic_u32(GuestPtr::new(addr), Access::Write) else {
        return;
    };
    let owned = word.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
        (u64::from(v & FUTEX_TID_MASK) == tid).then_some((v & FUTEX_WAITERS) | FUTEX_OWNER_DIED)
    });
    if let Ok(old) = owned {
        if old & FUTEX_WAITERS != 0 {
            let key = shared_key(tunnel, pid, addr, pa);
            futexes.wake(key, FUTEX_BITSET_MATCH_ANY, 1);
        }
    }
}

/// The key a shared futex operation on the word at `addr` (guest-physical
/// `pa`) of process `pid` uses (`kernel/futex.rs`).
fn shared_key(tunnel: &Tunnel<'_>, pid: u64, addr: u64, pa: u64) -> FutexKey {
    let shared = tunnel.in_shared_mapping(GuestPtr::new(addr));
    FutexKey::of(pid, addr, shared.then_some(pa))
}
