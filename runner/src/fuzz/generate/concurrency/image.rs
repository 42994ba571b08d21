//! The image of a concurrency program and the addresses its blocks aim
//! at. Three pages come before the code, at fixed addresses so that every
//! block can name them with an immediate:
//!
//! ```text
//! FLAT_LOAD_VA           a jump to CODE (the flat format enters at byte 0)
//! DATA   (+0x1000, RW)   futex words, tid slots, timespecs, scratch for the
//!                        structures blocks build (sigaction, itimerval...),
//!                        a garbage signal frame and FXSAVE image, a robust list
//! RO     (+0x2000)       more words and a garbage frame; the prologue makes
//!                        it read-only (or inaccessible)
//! CODE   (+0x3000)       the generated code
//! ```
//!
//! Pointers are drawn valid, misaligned, read-only, unmapped or in the
//! kernel half, so that every call also meets the runner's checks.

use crate::fuzz::generate::values::{self, Layout};
use crate::fuzz::rng::Rng;
use crate::guest::layout::{FLAT_LOAD_VA, STACK_TOP, VVAR_VA};

pub const DATA: u64 = FLAT_LOAD_VA + 0x1000;
pub const RO: u64 = FLAT_LOAD_VA + 0x2000;
pub const CODE: u64 = FLAT_LOAD_VA + 0x3000;

/// Futex words: `WORDS` u32s at DATA and at RO, initialised from `INIT`.
pub const WORDS: u64 = 32;
/// Tid slots (CLONE_PARENT_SETTID, CLONE_CHILD_SETTID/CLEARTID): u32s.
pub const TIDS: u64 = DATA + 0x100;
pub const TID_SLOTS: u64 = 16;
/// Timespecs (16 bytes each), from `TIMESPECS`.
pub const TIMESPEC_AT: u64 = DATA + 0x200;
/// Where blocks build a struct sigaction, stack_t, itimerval, sigset,
/// clone_args, and keep pipe descriptors.
pub const ACT: u64 = DATA + 0x300;
pub const OLD_ACT: u64 = DATA + 0x320;
pub const ALTSTACK: u64 = DATA + 0x340;
pub const OLD_ALTSTACK: u64 = DATA + 0x360;
pub const ITIMER: u64 = DATA + 0x380;
pub const OLD_ITIMER: u64 = DATA + 0x3a0;
pub const SIGSET: u64 = DATA + 0x3c0;
pub const OLD_SIGSET: u64 = DATA + 0x3c8;
pub const PIPE_FDS: u64 = DATA + 0x3d0;
pub const CLONE_ARGS: u64 = DATA + 0x400;
/// A signal frame (ucontext) of random bytes, and an FPU image of random
/// bytes (1 KiB: room for an XSAVE area with AVX), both in the image; the
/// image's software bytes claim an XSAVE area half the time (`fpstate`).
pub const FRAME: u64 = DATA + 0x800;
pub const FPSTATE: u64 = DATA + 0xa00;
/// A robust list head and two entries.
pub const ROBUST: u64 = DATA + 0xe00;
/// A frame of random bytes in the read-only page.
pub const RO_FRAME: u64 = RO + 0x800;

/// Initial values of the futex words (word i gets INIT[i % 8]): zero,
/// small counts, -1, a tid with FUTEX_WAITERS, an owner-died word.
pub const INIT: [u32; 8] = [0, 0, 1, 2, u32::MAX, 0x8000_0003, 0x4000_0002, 3];

/// The timespecs at TIMESPEC_AT: (seconds, nanoseconds).
pub const TIMESPECS: [(i64, i64); 12] = [
    (0, 0),
    (0, 1_000_000),
    (0, 5_000_000),
    (0, 20_000_000),
    (0, 100),
    (1, 0),
    (-1, 0),
    (0, 1_000_000_000),
    (0, -1),
    (i64::MAX, 999_999_999),
    (0, 999_999_999),
    (0, 50_000),
];

/// The three pages before the code.
pub fn head(rng: &mut Rng) -> Vec<u8> {
    let mut b = vec![0u8; (CODE - FLAT_LOAD_VA) as usize];
    // jmp rel32 to CODE
    b[0] = 0xe9;
    let rel = (CODE - FLAT_LOAD_VA - 5) as u32;
    b[1..5].copy_from_slice(&rel.to_le_bytes());
    let data = (DATA - FLAT_LOAD_VA) as usize;
    let ro = (RO - FLAT_LOAD_VA) as usize;
    for i in 0..WORDS as usize {
        let v = INIT[i % INIT.len()].to_le_bytes();
        b[data + 4 * i..data + 4 * i + 4].copy_from_slice(&v);
        b[ro + 4 * i..ro + 4 * i + 4].copy_from_slice(&v);
    }
    for (i, (s, ns)) in TIMESPECS.iter().enumerate() {
        let at = (TIMESPEC_AT - FLAT_LOAD_VA) as usize + 16 * i;
        b[at..at + 8].copy_from_slice(&s.to_le_bytes());
        b[at + 8..at + 16].copy_from_slice(&ns.to_le_bytes());
    }
    let frame = (FRAME - FLAT_LOAD_VA) as usize;
    rng.fill(&mut b[frame..frame + 0x600]); // frame + FPU image
    if rng.chance(50) {
        fpstate(rng, &mut b[(FPSTATE - FLAT_LOAD_VA) as usize..][..0x400]);
    }
    let ro_frame = (RO_FRAME - FLAT_LOAD_VA) as usize;
    rng.fill(&mut b[ro_frame..ro_frame + 0x400]);
    // A robust list: head -> entry A -> entry B -> head (or elsewhere),
    // futex_offset to a data word, a pending entry.
    let robust = (ROBUST - FLAT_LOAD_VA) as usize;
    let (a, bb) = (ROBUST + 0x20, ROBUST + 0x40);
    let back = if rng.chance(80) {
        ROBUST
    } else {
        values::pointer(rng, &Layout::for_flat(0x4000, 4 << 20))
    };
    let offset = DATA.wrapping_add(4 * rng.below(WORDS)).wrapping_sub(a) as i64;
    let pending = if rng.chance(50) { 0 } else { bb };
    for (at, v) in [
        (0, a),
        (8, offset as u64),
        (16, pending),
        (0x20, bb),
        (0x40, back),
    ] {
        b[robust + at..robust + at + 8].copy_from_slice(&v.to_le_bytes());
    }
    b
}

/// Makes the random FPU image `fp` look like an XSAVE area in a signal
/// frame (abi/xstate.rs): the software bytes' magic, sizes and features,
/// the second magic where they say, a header and MXCSR drawn from valid
/// and invalid values, so that rt_sigreturn reaches the XSAVE checks.
fn fpstate(rng: &mut Rng, fp: &mut [u8]) {
    use crate::abi::xstate::{FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2};
    let size = *rng.pick(&[576u32, 832, 1000]).unwrap_or(&576);
    let features = *rng.pick(&[3u64, 7, 0xe7, 0x203, u64::MAX]).unwrap_or(&7);
    let bv = *rng.pick(&[3u64, 7, 4, 0, 0x200, u64::MAX]).unwrap_or(&7);
    let put = |fp: &mut [u8], at: usize, v: &[u8]| fp[at..at + v.len()].copy_from_slice(v);
    put(fp, 464, &FP_XSTATE_MAGIC1.to_le_bytes());
    put(fp, 468, &(size + 4).to_le_bytes());
    put(fp, 472, &features.to_le_bytes());
    put(fp, 480, &size.to_le_bytes());
    put(fp, 512, &bv.to_le_bytes());
    if rng.chance(80) {
        fp[520..576].fill(0);
    }
    if rng.chance(80) {
        put(fp, 24, &0x1f80u32.to_le_bytes());
    }
    if rng.chance(90) {
        put(fp, size as usize, &FP_XSTATE_MAGIC2.to_le_bytes());
    }
}

/// A futex word to use: its address and the value it most likely holds
/// (what a WAIT must pass to actually wait).
pub fn word(rng: &mut Rng, l: &Layout) -> (u64, u32) {
    let i = rng.below(WORDS);
    let init = INIT[(i % INIT.len() as u64) as usize];
    match rng.below(100) {
        0..=49 => (DATA + 4 * i, init),
        50..=57 => (DATA + 4 * i + rng.range(1, 3), init),
        58..=67 => (RO + 4 * i, init),
        68..=74 => (TIDS + 4 * rng.below(TID_SLOTS), 0),
        75..=78 => (VVAR_VA + 8 * rng.below(8), 0),
        79..=86 => (unmapped(rng), 0),
        87..=90 => (kernel(rng), 0),
        91..=94 => (child_stack_area(rng) - 4 * rng.below(64), 0),
        95..=97 => (CODE + 4 * rng.below(64), 0),
        _ => (values::pointer(rng, l), 0),
    }
}

/// A timespec pointer: mostly one of the table's (the short ones more
/// often), sometimes garbage.
pub fn timespec(rng: &mut Rng, l: &Layout) -> u64 {
    match rng.below(100) {
        0..=49 => TIMESPEC_AT + 16 * rng.pick(&[0u64, 1, 2, 4, 11]).copied().unwrap_or(0),
        50..=79 => TIMESPEC_AT + 16 * rng.below(TIMESPECS.len() as u64),
        80..=84 => RO + 16 * rng.below(8),
        85..=89 => TIMESPEC_AT + rng.range(1, 15),
        90..=93 => unmapped(rng),
        94..=96 => kernel(rng),
        _ => values::pointer(rng, l),
    }
}

/// An address nothing is mapped at.
pub fn unmapped(rng: &mut Rng) -> u64 {
    match rng.below(5) {
        0 => 0,
        1 => 8 * rng.below(512),
        2 => FLAT_LOAD_VA - 8 * rng.range(1, 64), // just below the image
        3 => 0x1000_0000 + 8 * rng.below(1 << 12),
        _ => 0x7000_0000_0000 + 4096 * rng.below(1 << 20),
    }
}

/// A kernel-half, non-canonical or top-of-user address.
pub fn kernel(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => 0xffff_ffff_8000_0000 + 8 * rng.below(1 << 16),
        1 => 0x0000_8000_0000_0000 + 8 * rng.below(64),
        2 => 0x0000_7fff_ffff_fff8 - 8 * rng.below(4),
        _ => u64::MAX - 8 * rng.below(8),
    }
}

/// Somewhere in the stack mapping well below the main thread's frames,
/// where child stacks go (1 MiB of stack under the default 4 MiB limit).
pub fn child_stack_area(rng: &mut Rng) -> u64 {
    STACK_TOP - 0x1_8000 - 0x1000 * rng.below(64)
}

/// A pointer to readable and writable memory for a structure the call
/// reads or writes (`at`), or a bad one now and then.
pub fn struct_ptr(rng: &mut Rng, at: u64) -> u64 {
    match rng.below(100) {
        0..=84 => at,
        85..=88 => RO + 8 * rng.below(64),
        89..=92 => unmapped(rng),
        93..=95 => kernel(rng),
        96..=97 => DATA + 0x1000 - 8 * rng.range(1, 3), // runs into RO
        _ => at + rng.range(1, 7),
    }
}

/// A tid slot, or a bad pointer.
pub fn tid_slot(rng: &mut Rng) -> u64 {
    let slot = TIDS + 4 * rng.below(TID_SLOTS);
    struct_ptr(rng, slot)
}
