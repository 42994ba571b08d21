//! futex with random operations (the emulated ones, the PI ones the
//! runner refuses, unknown ones) and flags (private, CLOCK_REALTIME), on
//! mapped, read-only, unmapped and misaligned words, with timeouts that
//! are short, absurd or garbage pointers, and wake/requeue counts from 0
//! to INT_MAX and beyond.

use super::{image, nr, syscall, Gen};
use crate::fuzz::rng::Rng;
use iced_x86::code_asm::*;

const WAIT: u64 = 0;
const WAKE: u64 = 1;
const REQUEUE: u64 = 3;
const CMP_REQUEUE: u64 = 4;
const WAKE_OP: u64 = 5;
const WAIT_BITSET: u64 = 9;
const WAKE_BITSET: u64 = 10;

/// An operation and its flags.
fn op(rng: &mut Rng) -> u64 {
    let cmd = match rng.below(100) {
        0..=21 => WAIT,
        22..=41 => WAKE,
        42..=51 => WAIT_BITSET,
        52..=59 => WAKE_BITSET,
        60..=66 => REQUEUE,
        67..=74 => CMP_REQUEUE,
        75..=84 => WAKE_OP,
        85..=91 => *rng.pick(&[6u64, 7, 8, 11, 12, 13]).unwrap_or(&6), // PI
        92..=93 => 2,                                                  // FUTEX_FD
        _ => rng.below(32),
    };
    let mut flags = 0;
    if rng.chance(60) {
        flags |= 128; // FUTEX_PRIVATE_FLAG
    }
    if rng.chance(12) {
        flags |= 256; // FUTEX_CLOCK_REALTIME
    }
    if rng.chance(3) {
        flags |= rng.next_u64() & !0xffff_ffff; // high bits: op is an int
    }
    cmd | flags
}

/// A wake or requeue count.
fn count(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0 => 0,
        1 | 2 => 1,
        3 => rng.range(2, 70),
        4 => i32::MAX as u64,
        5 => u32::MAX as u64,
        6 => u64::MAX,
        _ => rng.next_u64(),
    }
}

/// A WAKE_OP encoding: glibc's, random fields, or bad ones.
fn wake_op(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => (4 << 24) | 1, // glibc: SET 0, wake if old > 1
        1 => {
            let (op, cmp) = (
                rng.below(5) | if rng.chance(20) { 8 } else { 0 },
                rng.below(6),
            );
            (op << 28) | (cmp << 24) | (rng.below(4096) << 12) | rng.below(4096)
        }
        _ => rng.next_u64() & 0xffff_ffff,
    }
}

/// A timeout: null (forever) rarely in the first thread, whose wait
/// nobody may end, more often in the others.
fn timeout(rng: &mut Rng, g: &Gen) -> u64 {
    let forever = if g.depth == 0 { 8 } else { 30 };
    if rng.chance(forever) {
        0
    } else {
        image::timespec(rng, &g.l)
    }
}

pub(super) fn futex(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    let op = op(rng);
    let (word, value) = image::word(rng, &g.l);
    let (word2, _) = image::word(rng, &g.l);
    let val = if rng.chance(75) {
        u64::from(value)
    } else {
        count(rng)
    };
    let cmd = op & 0x7f;
    let (arg4, val3) = match cmd {
        WAIT | WAIT_BITSET => (timeout(rng, g), bitset(rng)),
        WAKE | WAKE_BITSET => (rng.next_u64(), bitset(rng)),
        REQUEUE | CMP_REQUEUE => (count(rng), u64::from(value)),
        WAKE_OP => (count(rng), wake_op(rng)),
        _ => (timeout(rng, g), rng.next_u64()),
    };
    if (image::DATA..image::DATA + 0x1000).contains(&word) && rng.chance(15) {
        // Change the word first, as another thread would.
        a.mov(rax, word)?;
        a.mov(dword_ptr(rax), rng.below(4) as u32)?;
    }
    a.mov(rdi, word)?;
    a.mov(rsi, op)?;
    a.mov(
        rdx,
        if matches!(cmd, WAKE | WAKE_BITSET) {
            count(rng)
        } else {
            val
        },
    )?;
    a.mov(r10, arg4)?;
    a.mov(r8, word2)?;
    a.mov(r9, val3)?;
    syscall(a, nr::FUTEX)
}

/// A BITSET operation's mask (0 is EINVAL).
fn bitset(rng: &mut Rng) -> u64 {
    match rng.below(5) {
        0 => u64::from(u32::MAX),
        1 => 0,
        2 => 1 << rng.below(32),
        _ => rng.next_u64(),
    }
}
