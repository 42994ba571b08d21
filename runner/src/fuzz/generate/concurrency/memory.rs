//! Memory that changes under running threads: a region is mapped (its
//! address kept in the data page), a thread touches it in a loop, and the
//! creator unmaps, protects, discards or moves parts of it meanwhile, so
//! that TLB shootdowns meet vCPUs in every state.

use super::{clones, image, nr, syscall, Gen, MAX_DEPTH};
use crate::fuzz::rng::Rng;
use iced_x86::code_asm::*;

const MMAP: u64 = 9;
const MUNMAP: u64 = 11;
const MREMAP: u64 = 25;
const MADVISE: u64 = 28;

/// Where the region's address is kept.
pub const REGION: u64 = image::DATA + 0x3e0;

/// A region length: a few pages, or a little over 2 MiB (a 2 MiB page).
fn length(rng: &mut Rng) -> u64 {
    if rng.chance(15) {
        (2 << 20) + 4096 * rng.below(3)
    } else {
        4096 * rng.range(1, 32)
    }
}

pub(super) fn shared_memory(
    a: &mut CodeAssembler,
    rng: &mut Rng,
    g: &Gen,
) -> Result<(), IcedError> {
    let len = length(rng);
    a.mov(rdi, 0u64)?;
    a.mov(rsi, len)?;
    a.mov(rdx, 3u64)?; // PROT_READ | PROT_WRITE
    a.mov(r10, 0x22u64)?; // MAP_PRIVATE | MAP_ANONYMOUS
    a.mov(r8, u64::MAX)?;
    a.mov(r9, 0u64)?;
    syscall(a, MMAP)?;
    a.mov(rbx, REGION)?;
    a.mov(qword_ptr(rbx), rax)?;
    a.mov(byte_ptr(rax), 1)?; // fault it in (or die on a failed mmap)
    if g.depth < MAX_DEPTH && rng.chance(75) {
        toucher(a, rng, len)?;
    }
    for _ in 0..rng.range(1, 4) {
        change(a, rng, len)?;
    }
    Ok(())
}

/// A thread that reads or writes the region (found anew each round) in a
/// loop, forever or for a while, then exits.
fn toucher(a: &mut CodeAssembler, rng: &mut Rng, len: u64) -> Result<(), IcedError> {
    let mut child = a.create_label();
    let mut after = a.create_label();
    let mut again = a.create_label();
    a.mov(rdi, clones::GLIBC)?;
    a.mov(rsi, image::child_stack_area(rng))?;
    a.mov(rdx, image::TIDS + 8)?;
    a.mov(r10, image::TIDS + 12)?;
    a.mov(r8, image::DATA + 0x800)?;
    syscall(a, nr::CLONE)?;
    a.test(rax, rax)?;
    a.je(child)?;
    a.jmp(after)?;
    a.set_label(&mut child)?;
    let forever = rng.chance(40);
    a.mov(r12, rng.range(1, 100_000))?;
    a.set_label(&mut again)?;
    a.mov(rbx, REGION)?;
    a.mov(rbx, qword_ptr(rbx))?;
    let off = (rng.below(len) & !7) as i32;
    if rng.chance(50) {
        a.add(qword_ptr(rbx + off), 1)?;
    } else {
        a.mov(rax, qword_ptr(rbx + off))?;
    }
    if rng.chance(30) {
        a.pause()?;
    }
    if forever {
        a.jmp(again)?;
    } else {
        a.dec(r12)?;
        a.jne(again)?;
        a.mov(rdi, 0u64)?;
        syscall(a, nr::EXIT)?;
    }
    a.set_label(&mut after)?;
    a.nop()
}

/// munmap, mprotect, madvise(DONTNEED) or mremap of part of the region,
/// sometimes a short sleep first (the toucher gets going), then a touch.
fn change(a: &mut CodeAssembler, rng: &mut Rng, len: u64) -> Result<(), IcedError> {
    if rng.chance(30) {
        a.mov(rdi, image::TIMESPEC_AT + 16 * 11)?; // 50 µs
        a.mov(rsi, 0u64)?;
        syscall(a, nr::NANOSLEEP)?;
    }
    a.mov(rbx, REGION)?;
    a.mov(rbx, qword_ptr(rbx))?;
    let off = rng.below(len) & !0xfff;
    a.lea(rdi, qword_ptr(rbx + off as i32))?;
    a.mov(rsi, 4096 * rng.range(1, 16))?;
    match rng.below(4) {
        0 => syscall(a, MUNMAP)?,
        1 => {
            a.mov(rdx, rng.below(4))?;
            syscall(a, nr::MPROTECT)?
        }
        2 => {
            a.mov(rdx, 4u64)?; // MADV_DONTNEED
            syscall(a, MADVISE)?
        }
        _ => {
            a.mov(rdi, rbx)?;
            a.mov(rsi, len)?;
            a.mov(rdx, length(rng))?;
            a.mov(r10, 1u64)?; // MREMAP_MAYMOVE
            syscall(a, MREMAP)?;
            if rng.chance(70) {
                a.mov(rbx, REGION)?;
                a.mov(qword_ptr(rbx), rax)?;
            }
        }
    }
    if rng.chance(40) {
        a.mov(rbx, REGION)?;
        a.mov(rbx, qword_ptr(rbx))?;
        a.mov(byte_ptr(rbx + (rng.below(len) as i32)), 2)?;
    }
    Ok(())
}
