//! A thread's ring slot: one page of its process's memory, at a fixed
//! address per vCPU, that its GS base points at while the ring is on. The
//! guest stub (stub.rs) writes a request there and the runner's thread for
//! that vCPU (run/ring_loop.rs) answers it. The page is the program's own
//! memory: whatever the program writes there can only make its own calls
//! fail or fall back to a trap; the runner copies a request once, under the
//! kernel lock, before it looks at it.
//!
//! Layout (offsets from the page; GS-relative in the stub):
//!
//! | offset | field |
//! | --- | --- |
//! | 0x00 | `state` (u32): IDLE, REQUEST, DONE, WITHDRAWN, TAKEN, DONE_EXIT |
//! | 0x04 | `verdict` (u32): 0 the result stands, 1 make the call by trap |
//! | 0x08 | the call's number |
//! | 0x10-0x38 | its six arguments; the result, over the first, once served |
//! | 0x40 | where it returns (the site's end, as RCX) |
//! | 0x48 | the program's RFLAGS (as R11) |
//! | 0x50 | unused |
//! | 0x58 | how many times the stub spins before it withdraws |
//! | 0x60 | the program's RSP while the stub runs |
//! | 0x68 | the stub's stack top (the end of this page) |
//!
//! Everything the runner reads and writes to serve a call lies in the
//! first 64 bytes, one cache line: a call moves that line from the guest's
//! CPU to the runner's and back, and nothing else. The second line (the
//! program's RCX, RFLAGS and RSP) stays with the guest; the runner reads
//! it only to put a thread stopped in ring code back where it was, or to
//! name where a call returns in a death line.

use crate::guest::layout::{INTERP_BASE, VVAR_VA};
use thinvisor_kmod::PAGE_SIZE;

pub const STATE: u64 = 0x00;
pub const VERDICT: u64 = 0x04;
pub const NR: u64 = 0x08;
pub const ARGS: u64 = 0x10;
pub const RETURN: u64 = 0x40;
pub const FLAGS: u64 = 0x48;
/// Written over the first argument: the runner has copied the request
/// before it answers, and the stub never reads an argument back.
pub const RESULT: u64 = ARGS;
pub const SPIN: u64 = 0x58;
pub const SAVED_RSP: u64 = 0x60;
pub const STUB_STACK: u64 = 0x68;
/// The request fields the runner copies in one read (number to flags).
pub const REQUEST_BYTES: usize = (FLAGS + 8 - NR) as usize;
/// The end of the first cache line: the fields a call is served with.
pub const CALL_LINE: u64 = 0x40;
const _: () = assert!(ARGS + 6 * 8 == CALL_LINE && RESULT + 8 <= CALL_LINE);

/// `state` values.
pub const IDLE: u32 = 0;
/// Written by the guest: a request waits.
pub const REQUEST: u32 = 1;
/// Written by the runner: the answer is in `verdict` and `result`.
pub const DONE: u32 = 2;
/// Written by the guest: it gave up waiting and makes the call by trap.
pub const WITHDRAWN: u32 = 3;
/// Written by the runner while it serves a request (the guest can no
/// longer withdraw it).
pub const TAKEN: u32 = 4;
/// Written by the runner: served, but the guest must not go on before it
/// has left the VM once (the call changed page tables its vCPU may have
/// cached): the guest keeps waiting, and the exit completes the call.
pub const DONE_EXIT: u32 = 5;

/// `verdict` values.
pub const VERDICT_RESULT: u32 = 0;
pub const VERDICT_TRAP: u32 = 1;

/// The slots' region: one page per vCPU id, between the interpreter and
/// the vDSO, where neither the loader nor mmap places anything by itself.
pub const SLOTS_VA: u64 = 0x7fff_fe00_0000;
pub const MAX_SLOTS: u64 = crate::guest::layout::MAX_VCPUS;
pub const SLOTS_END: u64 = SLOTS_VA + MAX_SLOTS * PAGE_SIZE;
const _: () = assert!(SLOTS_VA >= INTERP_BASE + (64 << 20) && SLOTS_END <= VVAR_VA);

/// The slot page of the thread on vCPU `vcpu_id`.
pub fn slot_va(vcpu_id: u64) -> Option<u64> {
    (vcpu_id < MAX_SLOTS).then(|| SLOTS_VA + vcpu_id * PAGE_SIZE)
}

/// A request as copied out of a slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request {
    pub nr: u64,
    pub args: [u64; 6],
    /// Where the call returns (the site's end).
    pub ret: u64,
    pub flags: u64,
}

/// The call in a slot's first line: its number and arguments.
pub fn call_from_line(b: &[u8; CALL_LINE as usize]) -> (u64, [u64; 6]) {
    let word = |o: u64| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[o as usize..o as usize + 8]);
        u64::from_le_bytes(w)
    };
    let arg = |i: u64| word(ARGS + 8 * i);
    (word(NR), [arg(0), arg(1), arg(2), arg(3), arg(4), arg(5)])
}

impl Request {
    /// Decodes the bytes from `NR` to the end of `FLAGS`.
    pub fn from_bytes(b: &[u8; REQUEST_BYTES]) -> Request {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        Request {
            nr: word(0),
            args: [word(1), word(2), word(3), word(4), word(5), word(6)],
            ret: word(7),
            flags: word(8),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_decodes_field_by_field() {
        let mut b = [0u8; REQUEST_BYTES];
        for i in 0..REQUEST_BYTES / 8 {
            b[i * 8] = i as u8 + 1;
        }
        let r = Request::from_bytes(&b);
        assert_eq!(r.nr, 1);
        assert_eq!(r.args, [2, 3, 4, 5, 6, 7]);
        assert_eq!(r.ret, 8);
        assert_eq!(r.flags, 9);
        assert_eq!(REQUEST_BYTES as u64, RETURN + 16 - NR);
    }

    #[test]
    fn the_call_line_holds_the_number_and_arguments() {
        let mut b = [0u8; CALL_LINE as usize];
        for (i, w) in b.chunks_mut(8).enumerate() {
            w[0] = i as u8;
        }
        assert_eq!(call_from_line(&b), (1, [2, 3, 4, 5, 6, 7]));
    }

    #[test]
    fn slots_stay_in_their_region() {
        assert_eq!(slot_va(0), Some(SLOTS_VA));
        assert_eq!(slot_va(MAX_SLOTS - 1), Some(SLOTS_END - PAGE_SIZE));
        assert_eq!(slot_va(MAX_SLOTS), None);
    }
}
