//! Blocks that make processes: fork (or vfork, or a process-creating
//! clone), then in the child one of: exit, execve of a shaped path, kill
//! of its parent, or carrying on with the rest of the program; in the
//! parent one of: wait4 for that child (blocking or WNOHANG), kill it and
//! reap it, wait for any child, or leave it running (a zombie or an
//! orphan for the run's end to kill). Whatever the mix, the run must end
//! with the first program's status and leave nothing behind.

use crate::fuzz::generate::values::{self, nr, Layout};
use crate::fuzz::rng::Rng;
use iced_x86::code_asm::*;

const FORK: u64 = 57;
const VFORK: u64 = 58;
const CLONE: u64 = 56;
const EXECVE: u64 = 59;
const WAIT4: u64 = 61;
const KILL: u64 = 62;
const GETPPID: u64 = 110;
/// SIGCHLD, the exit signal of a fork-like clone.
const SIGCHLD: u64 = 17;
/// CLONE_VM | CLONE_VFORK, as posix_spawn and Go's os/exec use.
const CLONE_VM_VFORK: u64 = 0x100 | 0x4000;

/// A signal worth sending: a fatal one, a handled-or-ignored one, or 0.
fn signal(rng: &mut Rng) -> u64 {
    *rng.pick(&[0u64, 9, 15, 10, 17, 1, 19, 13]).unwrap_or(&9)
}

pub(super) fn processes(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
    match rng.below(4) {
        0 => {
            a.mov(rax, VFORK)?;
        }
        1 => {
            a.mov(rdi, CLONE_VM_VFORK | SIGCHLD)?;
            a.mov(rsi, 0u64)?;
            a.mov(rax, CLONE)?;
        }
        _ => {
            a.mov(rax, FORK)?;
        }
    }
    a.syscall()?;
    let mut parent = a.create_label();
    a.test(rax, rax)?;
    a.jne(parent)?;
    // The child.
    match rng.below(4) {
        0 => {
            a.mov(rdi, rng.below(256))?;
            a.mov(rax, nr::EXIT_GROUP)?;
            a.syscall()?;
        }
        1 => {
            a.mov(rdi, values::pointer(rng, l))?;
            a.mov(rsi, values::pointer(rng, l))?;
            a.mov(rdx, values::pointer(rng, l))?;
            a.mov(rax, EXECVE)?;
            a.syscall()?;
            a.mov(rdi, 127u64)?;
            a.mov(rax, nr::EXIT_GROUP)?;
            a.syscall()?;
        }
        2 => {
            a.mov(rax, GETPPID)?;
            a.syscall()?;
            a.mov(rdi, rax)?;
            a.mov(rsi, signal(rng))?;
            a.mov(rax, KILL)?;
            a.syscall()?;
            a.mov(rdi, 0u64)?;
            a.mov(rax, nr::EXIT_GROUP)?;
            a.syscall()?;
        }
        // Carry on: the child runs the rest of the program too.
        _ => {}
    }
    let mut done = a.create_label();
    a.jmp(done)?;
    a.set_label(&mut parent)?;
    // The parent: RAX is the child's pid, or -errno.
    a.mov(rbx, rax)?;
    let wait = |a: &mut CodeAssembler, pid: u64, rng: &mut Rng| -> Result<(), IcedError> {
        if pid == 0 {
            a.mov(rdi, rbx)?;
        } else {
            a.mov(rdi, pid)?;
        }
        a.sub(rsp, 16)?;
        a.mov(rsi, rsp)?;
        a.mov(rdx, if rng.chance(50) { 1u64 } else { 0 })?; // WNOHANG
        a.mov(r10, 0u64)?;
        a.mov(rax, WAIT4)?;
        a.syscall()?;
        a.add(rsp, 16)
    };
    match rng.below(4) {
        0 => wait(a, 0, rng)?,
        1 => {
            a.mov(rdi, rbx)?;
            a.mov(rsi, signal(rng))?;
            a.mov(rax, KILL)?;
            a.syscall()?;
            wait(a, 0, rng)?;
        }
        2 => wait(a, u64::MAX, rng)?,
        _ => {}
    }
    a.set_label(&mut done)?;
    // An anonymous label needs an instruction after it.
    a.nop()
}
