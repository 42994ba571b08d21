//! Random sequences of valid instructions, assembled with iced-x86: blocks
//! that set registers to interesting values and then make a syscall, touch
//! memory, run string, stack, SSE/AVX and arithmetic instructions, jump
//! around, probe the CPU, rewrite their own code, forge a SYSCALL by jumping
//! to LSTAR, or try a privileged, I/O, MSR, descriptor-table or
//! control-register instruction, or map 2 MiB and cut into it. A program is
//! 1..40 blocks and ends with
//! `exit_group(random code)` unless something ends it first.
//!
//! The blocks live by kind: `syscalls.rs` (syscalls with shaped arguments,
//! iovecs, the 2 MiB region), `ordinary.rs` (memory, string, stack, jump,
//! SSE/AVX and arithmetic instructions), `privileged.rs` (privileged
//! instructions, CPU probes, a forged SYSCALL), `processes.rs` (fork,
//! exec, wait and kill sequences), the syscall ring's patched sites
//! with forged slot words, and filled pipes and sinks nobody reads
//! (`syscalls.rs`).

use super::super::rng::Rng;
use super::values::{self, nr, Layout};
use crate::guest::layout::FLAT_LOAD_VA;
use iced_x86::code_asm::*;

mod ordinary;
mod privileged;
mod processes;
mod syscalls;

use ordinary::{arithmetic, jumps, memory, simd, stack, strings};
use privileged::{forged_syscall, privileged, probe};
use syscalls::{huge_region, iovecs, ring, sinks, syscall};

/// General registers other than RSP.
const GPR: [AsmRegister64; 15] = [
    rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15,
];
/// Scratch registers the blocks use for addresses (never syscall arguments).
const SCRATCH: [AsmRegister64; 4] = [rbx, r12, r13, r14];
const ARG_REGS: [AsmRegister64; 6] = [rdi, rsi, rdx, r10, r8, r9];

/// Block kinds and their weights.
const BLOCKS: &[(Block, u64)] = &[
    (Block::Registers, 12),
    (Block::Syscall, 30),
    (Block::Iovecs, 4),
    (Block::Memory, 10),
    (Block::Strings, 5),
    (Block::Stack, 6),
    (Block::Jumps, 5),
    (Block::Simd, 6),
    (Block::Arithmetic, 4),
    (Block::Privileged, 4),
    (Block::Probe, 4),
    (Block::SelfModify, 2),
    (Block::ForgedSyscall, 2),
    (Block::RawBytes, 3),
    (Block::HugeRegion, 3),
    (Block::Processes, 3),
    (Block::Ring, 4),
    (Block::Sinks, 1),
];

#[derive(Debug, Clone, Copy)]
enum Block {
    Registers,
    Syscall,
    Iovecs,
    Memory,
    Strings,
    Stack,
    Jumps,
    Simd,
    Arithmetic,
    Privileged,
    Probe,
    SelfModify,
    ForgedSyscall,
    RawBytes,
    HugeRegion,
    Processes,
    Ring,
    Sinks,
}

/// A random program for a guest with `memory_limit` bytes.
pub fn program(rng: &mut Rng, memory_limit: u64) -> Vec<u8> {
    // Programs stay well under 16 KiB; pointers aimed at "the image's end"
    // land around there.
    let l = Layout::for_flat(16 << 10, memory_limit);
    let Ok(mut a) = CodeAssembler::new(64) else {
        return vec![0x0f, 0x0b];
    };
    let weights: Vec<u64> = BLOCKS.iter().map(|b| b.1).collect();
    for _ in 0..rng.range(1, 40) {
        let kind = BLOCKS[rng.weighted(&weights)].0;
        // An encoding the assembler refuses just leaves the block shorter.
        let _ = block(&mut a, rng, &l, kind);
    }
    let _ = exit_group(&mut a, rng.below(256));
    a.assemble(FLAT_LOAD_VA)
        .unwrap_or_else(|_| vec![0x0f, 0x0b])
}

/// A short block of one kind, for the mutator to splice into samples.
pub fn snippet(rng: &mut Rng, memory_limit: u64) -> Vec<u8> {
    let l = Layout::for_flat(16 << 10, memory_limit);
    let Ok(mut a) = CodeAssembler::new(64) else {
        return Vec::new();
    };
    let weights: Vec<u64> = BLOCKS.iter().map(|b| b.1).collect();
    let kind = BLOCKS[rng.weighted(&weights)].0;
    let _ = block(&mut a, rng, &l, kind);
    a.assemble(FLAT_LOAD_VA).unwrap_or_default()
}

/// One block of a random kind (the concurrency generator's threads and
/// handlers run these too).
pub(super) fn any_block(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
    let weights: Vec<u64> = BLOCKS.iter().map(|b| b.1).collect();
    let kind = BLOCKS[rng.weighted(&weights)].0;
    block(a, rng, l, kind)
}

fn gpr(rng: &mut Rng) -> AsmRegister64 {
    GPR[rng.below(GPR.len() as u64) as usize]
}

fn scratch(rng: &mut Rng) -> AsmRegister64 {
    SCRATCH[rng.below(SCRATCH.len() as u64) as usize]
}

fn exit_group(a: &mut CodeAssembler, code: u64) -> Result<(), IcedError> {
    a.mov(rdi, code)?;
    a.mov(rax, nr::EXIT_GROUP)?;
    a.syscall()
}

fn block(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout, kind: Block) -> Result<(), IcedError> {
    match kind {
        Block::Registers => {
            for _ in 0..rng.range(1, 4) {
                let v = values::any(rng, l);
                a.mov(gpr(rng), v)?;
            }
            Ok(())
        }
        Block::Syscall => syscall(a, rng, l),
        Block::Iovecs => iovecs(a, rng, l),
        Block::Memory => memory(a, rng, l),
        Block::Strings => strings(a, rng, l),
        Block::Stack => stack(a, rng, l),
        Block::Jumps => jumps(a, rng, l),
        Block::Simd => simd(a, rng, l),
        Block::Arithmetic => arithmetic(a, rng, l),
        Block::Privileged => privileged(a, rng),
        Block::Probe => probe(a, rng),
        Block::SelfModify => {
            let r = scratch(rng);
            a.mov(r, FLAT_LOAD_VA + rng.below(l.image_end - FLAT_LOAD_VA))?;
            a.mov(byte_ptr(r), rng.below(256) as u32)
        }
        Block::ForgedSyscall => forged_syscall(a, rng, l),
        Block::RawBytes => {
            let mut bytes = vec![0u8; rng.range(1, 16) as usize];
            rng.fill(&mut bytes);
            a.db(&bytes)
        }
        Block::HugeRegion => huge_region(a, rng),
        Block::Processes => processes::processes(a, rng, l),
        Block::Ring => ring(a, rng, l),
        Block::Sinks => sinks(a, rng),
    }
}
