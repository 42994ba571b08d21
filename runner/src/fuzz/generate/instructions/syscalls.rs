//! Blocks that make syscalls: one with shaped arguments (sometimes on a
//! hostile stack), writev over iovecs built on the stack, and a 2 MiB
//! region mapped and then cut into.

use super::ARG_REGS;
use crate::fuzz::generate::values::{self, nr, Layout};
use crate::fuzz::rng::Rng;
use iced_x86::code_asm::*;

/// An offset into a region of a little over 2 MiB, page aligned or not.
fn region_offset(rng: &mut Rng, page_aligned: bool) -> i32 {
    let off = rng.below((2 << 20) + 0x3000) as i32;
    if page_aligned {
        off & !0xfff
    } else {
        off
    }
}

/// Maps a little over 2 MiB (2 MiB aligned by the runner: a 2 MiB guest
/// page), touches it, cuts into it with munmap, mprotect, madvise or mremap
/// at offsets from its address (RBX), and touches it again: the fuzzer's
/// canaries then check the tables the splits and copies left.
pub(super) fn huge_region(a: &mut CodeAssembler, rng: &mut Rng) -> Result<(), IcedError> {
    const MREMAP: u64 = 25;
    const MADVISE: u64 = 28;
    a.mov(rdi, 0u64)?;
    a.mov(rsi, (2u64 << 20) + rng.below(3) * 4096)?;
    a.mov(rdx, 3u64)?; // PROT_READ | PROT_WRITE
    a.mov(r10, 0x22u64)?; // MAP_PRIVATE | MAP_ANONYMOUS
    a.mov(r8, u64::MAX)?;
    a.mov(r9, 0u64)?;
    a.mov(rax, nr::MMAP)?;
    a.syscall()?;
    a.mov(rbx, rax)?;
    let touch = |a: &mut CodeAssembler, rng: &mut Rng| -> Result<(), IcedError> {
        for _ in 0..rng.range(1, 4) {
            a.mov(
                byte_ptr(rbx + region_offset(rng, false)),
                rng.below(256) as u32,
            )?;
        }
        Ok(())
    };
    touch(a, rng)?;
    for _ in 0..rng.range(1, 3) {
        let aligned = rng.chance(90);
        a.lea(rdi, qword_ptr(rbx + region_offset(rng, aligned)))?;
        a.mov(rsi, rng.range(1, 600) * 4096 - u64::from(rng.chance(10)))?;
        let n = match rng.below(4) {
            0 => nr::MUNMAP,
            1 => {
                a.mov(rdx, rng.below(8))?;
                nr::MPROTECT
            }
            2 => {
                a.mov(rdx, *rng.pick(&[4u64, 8, 14]).unwrap_or(&4))?; // DONTNEED, FREE, HUGEPAGE
                MADVISE
            }
            _ => {
                a.mov(rdi, rbx)?;
                a.mov(rsi, 2u64 << 20)?;
                a.mov(rdx, rng.range(1, 1200) * 4096)?;
                a.mov(r10, 1u64)?; // MREMAP_MAYMOVE
                MREMAP
            }
        };
        a.mov(rax, n)?;
        a.syscall()?;
        if n == MREMAP && rng.chance(70) {
            a.mov(rbx, rax)?;
        }
        touch(a, rng)?;
    }
    Ok(())
}

/// Loads a syscall number and six shaped arguments, then SYSCALL; sometimes
/// with a hostile RSP (restored afterwards from R15).
pub(super) fn syscall(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
    let n = values::syscall_nr(rng);
    let args = values::syscall_args(rng, l, n);
    for (reg, v) in ARG_REGS.iter().zip(args) {
        if rng.chance(90) {
            a.mov(*reg, v)?;
        }
    }
    if rng.chance(20) {
        // Use the previous result (an mmap'd address, a brk) as the pointer.
        a.mov(if rng.chance(50) { rdi } else { rsi }, rax)?;
    }
    a.mov(rax, n)?;
    let hostile_rsp = rng.chance(5);
    if hostile_rsp {
        a.mov(r15, rsp)?;
        a.mov(rsp, values::pointer(rng, l))?;
    }
    a.syscall()?;
    if hostile_rsp {
        a.mov(rsp, r15)?;
    }
    Ok(())
}

/// Builds 1..4 iovecs on the stack and calls writev on them, with a count
/// that may exceed what was built.
pub(super) fn iovecs(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
    let k = rng.range(1, 4);
    a.sub(rsp, (16 * k) as i32)?;
    for i in 0..k {
        let base = values::pointer(rng, l);
        let len = if rng.chance(70) {
            rng.below(64)
        } else {
            values::length(rng)
        };
        a.mov(rax, base)?;
        a.mov(qword_ptr(rsp + (16 * i) as i32), rax)?;
        a.mov(rax, len)?;
        a.mov(qword_ptr(rsp + (16 * i + 8) as i32), rax)?;
    }
    a.mov(rdi, rng.below(3))?;
    a.mov(rsi, rsp)?;
    let count = if rng.chance(80) {
        k
    } else {
        values::length(rng)
    };
    a.mov(rdx, count)?;
    a.mov(rax, nr::WRITEV)?;
    a.syscall()
}

/// The syscall ring's traffic (docs/architecture.md, "Exitless syscalls";
/// half of the programs run with the ring): a loop over one site of a
/// call the ring serves, `mov $nr,%eax; syscall` (patched in place) or a
/// `syscall` followed by instructions that move with it (`cmp
/// $-4096,%rax` or `test %rax,%rax; mov %rax,%r13`), so the runner patches
/// it and answers in the slot, with forged slot words between the calls (a
/// state, a number, a return address, a spin budget ...), and now and then
/// a jump into the ring code page the runner maps below the image, or an
/// indirect jump into a moved site's span (which the runner cannot see).
pub(super) fn ring(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
    use crate::guest::layout::FLAT_LOAD_VA;
    use crate::ring::slot;
    // getpid, getuid, write(1, ..), fstat(0, ..), lseek(0, ..), uname
    let (n, fd) = *rng
        .pick(&[
            (39u32, false),
            (102, false),
            (1, true),
            (5, true),
            (8, true),
            (63, false),
        ])
        .unwrap_or(&(39, false));
    a.mov(r12, rng.range(2, 40))?;
    let mut top = a.create_label();
    a.set_label(&mut top)?;
    if fd {
        a.mov(rdi, u64::from(n == 1))?;
        a.mov(rsi, values::any(rng, l))?;
        a.mov(rdx, rng.below(64))?;
    } else if n == 63 {
        a.mov(rdi, values::any(rng, l))?;
    }
    a.mov(eax, n)?;
    let moved = rng.chance(50);
    let mut after = a.create_label();
    if moved {
        a.xor(r11d, r11d)?;
        a.syscall()?;
        a.set_label(&mut after)?;
        if rng.chance(50) {
            a.cmp(rax, -4096)?;
        } else {
            a.test(rax, rax)?;
            a.mov(r13, rax)?;
        }
    } else {
        a.syscall()?;
    }
    if rng.chance(30) {
        let word = slot::STATE + 8 * rng.below(14);
        a.mov(rbx, slot::SLOTS_VA + word)?;
        a.mov(r13, values::any(rng, l))?;
        if rng.chance(50) {
            a.mov(dword_ptr(rbx), r13d)?;
        } else {
            a.mov(qword_ptr(rbx), r13)?;
        }
    }
    a.dec(r12)?;
    a.jnz(top)?;
    if rng.chance(10) {
        a.mov(rbx, FLAT_LOAD_VA - 4096 + rng.below(4096))?;
        a.jmp(rbx)?;
    } else if moved && rng.chance(10) {
        a.lea(rbx, ptr(after))?;
        a.jmp(rbx)?;
    }
    Ok(())
}

/// What issue 21's findings were made of, for the fuzzer to keep trying:
/// runner-side buffers filled (pipes made non-blocking and written until
/// EAGAIN, each a runner buffer charged to the pipe budget) and sinks
/// nobody reads (a `sendfile` of stdin, or writes, into a pipe whose
/// reader the program holds and never reads: the call waits until the
/// time limit, which must still end the run on time). The pipes' ends
/// stay open until the run ends.
pub(super) fn sinks(a: &mut CodeAssembler, rng: &mut Rng) -> Result<(), IcedError> {
    const PIPE2: u64 = 293;
    const SENDFILE: u64 = 40;
    const O_NONBLOCK: u64 = 0o4000;
    let pipes = rng.range(1, 8);
    let fill = rng.chance(70);
    let mut done = a.create_label();
    // rbx: the write end of the last pipe (-1 if pipe2 failed).
    a.sub(rsp, 16)?;
    for _ in 0..pipes {
        let mut failed = a.create_label();
        let mut next = a.create_label();
        a.mov(rdi, rsp)?;
        a.mov(rsi, if fill { O_NONBLOCK } else { 0 })?;
        a.mov(rax, PIPE2)?;
        a.syscall()?;
        a.test(rax, rax)?;
        a.jnz(failed)?;
        a.mov(ebx, dword_ptr(rsp + 4))?;
        if fill {
            // Until EAGAIN: full.
            write_while_it_writes(a)?;
        }
        a.jmp(next)?;
        a.set_label(&mut failed)?;
        a.mov(rbx, u64::MAX)?;
        a.set_label(&mut next)?;
        a.nop()?;
    }
    if !fill && rng.chance(15) {
        // A sink nobody reads: into the last (blocking) pipe; the run
        // then ends at its time limit (1% of programs or so).
        a.cmp(rbx, 0)?;
        a.jl(done)?;
        a.mov(rdi, rbx)?;
        if rng.chance(50) {
            a.mov(rsi, 0u64)?; // stdin: a file in fuzz runs
            a.mov(rdx, 0u64)?;
            a.mov(r10, 1u64 << 30)?;
            a.mov(rax, SENDFILE)?;
            a.syscall()?;
        } else {
            // Blocking: the 17th write waits.
            write_while_it_writes(a)?;
        }
    }
    a.set_label(&mut done)?;
    a.add(rsp, 16)?;
    Ok(())
}

/// `write(rbx, the image's first page, 4 KiB)` again while it writes
/// something (a non-blocking pipe: until EAGAIN; a blocking one: until
/// the write that waits).
fn write_while_it_writes(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut again = a.create_label();
    a.set_label(&mut again)?;
    a.mov(rdi, rbx)?;
    a.mov(rsi, crate::guest::layout::FLAT_LOAD_VA)?;
    a.mov(rdx, 4096u64)?;
    a.mov(rax, nr::WRITE)?;
    a.syscall()?;
    a.test(rax, rax)?;
    a.jg(again)
}
