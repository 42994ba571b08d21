//! Signals during syscalls: a handler (often), a source (a short
//! ITIMER_REAL timer, or a thread that sleeps a little and then signals
//! the caller), and a call that blocks until something ends it: a read of
//! an empty pipe, a futex wait, nanosleep, clock_nanosleep, pause,
//! rt_sigsuspend, poll, ppoll, epoll_wait.

use super::{image, nr, syscall, Gen, MAX_DEPTH};
use crate::abi::constants::{SA_RESTART, SA_RESTORER, SA_SIGINFO};
use crate::fuzz::rng::Rng;
use iced_x86::code_asm::*;

const SIGALRM: u64 = 14;
/// A buffer in the data page the blocking calls may fill.
const BUF: u64 = image::DATA + 0x600;

pub(super) fn interrupted(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    let by_thread = g.depth < MAX_DEPTH && rng.chance(30);
    let sig = if by_thread { g.signal(rng) } else { SIGALRM };
    if rng.chance(65) {
        handler(a, rng, g, sig)?;
    }
    if by_thread {
        signalling_thread(a, rng, sig)?;
    } else if rng.chance(85) {
        a.mov(rbx, image::ITIMER)?;
        let interval = if rng.chance(75) {
            0
        } else {
            rng.range(200, 3000)
        };
        for (off, v) in [(0, 0), (8, interval), (16, 0), (24, rng.range(100, 4000))] {
            a.mov(rax, v)?;
            a.mov(qword_ptr(rbx + off), rax)?;
        }
        a.mov(rdi, 0u64)?; // ITIMER_REAL
        a.mov(rsi, image::ITIMER)?;
        a.mov(rdx, 0u64)?;
        syscall(a, nr::SETITIMER)?;
    }
    blocking_call(a, rng, g)?;
    if rng.chance(40) {
        // Disarm the timer.
        a.mov(rbx, image::ITIMER)?;
        for off in [0, 8, 16, 24] {
            a.mov(qword_ptr(rbx + off), 0)?;
        }
        a.mov(rdi, 0u64)?;
        a.mov(rsi, image::ITIMER)?;
        a.mov(rdx, 0u64)?;
        syscall(a, nr::SETITIMER)?;
    }
    Ok(())
}

/// A handler for `sig` that returns at once, with or without SA_RESTART.
fn handler(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen, sig: u64) -> Result<(), IcedError> {
    let mut body = a.create_label();
    let mut over = a.create_label();
    a.jmp(over)?;
    a.set_label(&mut body)?;
    a.ret()?;
    a.set_label(&mut over)?;
    a.mov(rbx, image::ACT)?;
    a.lea(rax, ptr(body))?;
    a.mov(qword_ptr(rbx), rax)?;
    let mut flags = SA_RESTORER | SA_SIGINFO;
    if rng.chance(50) {
        flags |= SA_RESTART;
    }
    a.mov(rax, flags)?;
    a.mov(qword_ptr(rbx + 8), rax)?;
    a.lea(rax, ptr(g.restorer))?;
    a.mov(qword_ptr(rbx + 16), rax)?;
    a.mov(qword_ptr(rbx + 24), 0)?;
    a.mov(rdi, sig)?;
    a.mov(rsi, image::ACT)?;
    a.mov(rdx, 0u64)?;
    a.mov(r10, 8u64)?;
    syscall(a, nr::RT_SIGACTION)
}

/// A thread that sleeps a little and then sends `sig` to its creator
/// (whose tid it finds in R15, copied with the registers).
fn signalling_thread(a: &mut CodeAssembler, rng: &mut Rng, sig: u64) -> Result<(), IcedError> {
    let mut child = a.create_label();
    let mut after = a.create_label();
    syscall(a, nr::GETTID)?;
    a.mov(r15, rax)?;
    a.mov(rdi, super::clones::GLIBC)?;
    a.mov(rsi, image::child_stack_area(rng))?;
    a.mov(rdx, image::TIDS)?;
    a.mov(r10, image::TIDS + 4)?;
    a.mov(r8, image::DATA + 0x800)?;
    syscall(a, nr::CLONE)?;
    a.test(rax, rax)?;
    a.je(child)?;
    a.jmp(after)?;
    a.set_label(&mut child)?;
    for _ in 0..rng.range(1, 3) {
        a.mov(
            rdi,
            image::TIMESPEC_AT + 16 * rng.pick(&[1u64, 2, 11]).copied().unwrap_or(1),
        )?;
        a.mov(rsi, 0u64)?;
        syscall(a, nr::NANOSLEEP)?;
        a.mov(rdi, 2u64)?;
        a.mov(rsi, r15)?;
        a.mov(rdx, sig)?;
        syscall(a, nr::TGKILL)?;
    }
    a.mov(rdi, 0u64)?;
    syscall(a, nr::EXIT)?;
    a.set_label(&mut after)?;
    a.nop()
}

/// A call that waits until a signal, its timeout or the run's end.
fn blocking_call(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    match rng.below(9) {
        0 => {
            a.mov(rdi, image::PIPE_FDS)?;
            a.mov(rsi, 0u64)?;
            syscall(a, nr::PIPE2)?;
            a.mov(rax, image::PIPE_FDS)?;
            a.mov(edi, dword_ptr(rax))?;
            a.mov(rsi, BUF)?;
            a.mov(rdx, 16u64)?;
            syscall(a, nr::READ)
        }
        1 => {
            let (word, value) = image::word(rng, &g.l);
            a.mov(rdi, word)?;
            a.mov(rsi, if rng.chance(50) { 128u64 } else { 0 })?;
            a.mov(rdx, u64::from(value))?;
            a.mov(
                r10,
                if rng.chance(50) {
                    0
                } else {
                    image::timespec(rng, &g.l)
                },
            )?;
            syscall(a, nr::FUTEX)
        }
        2 => {
            a.mov(rdi, image::timespec(rng, &g.l))?;
            a.mov(rsi, if rng.chance(50) { BUF } else { 0 })?;
            syscall(a, nr::NANOSLEEP)
        }
        3 => {
            a.mov(rdi, rng.below(2))?; // REALTIME, MONOTONIC
            a.mov(rsi, if rng.chance(80) { 0u64 } else { 1 })?; // TIMER_ABSTIME
            a.mov(rdx, image::timespec(rng, &g.l))?;
            a.mov(r10, if rng.chance(50) { BUF } else { 0 })?;
            syscall(a, nr::CLOCK_NANOSLEEP)
        }
        4 => syscall(a, nr::PAUSE),
        5 => {
            a.mov(rax, image::SIGSET)?;
            a.mov(qword_ptr(rax), 0)?;
            a.mov(rdi, image::SIGSET)?;
            a.mov(rsi, 8u64)?;
            syscall(a, nr::RT_SIGSUSPEND)
        }
        6 => {
            a.mov(rdi, 0u64)?;
            a.mov(rsi, 0u64)?;
            a.mov(rdx, rng.range(1, 50))?;
            syscall(a, nr::POLL)
        }
        7 => {
            a.mov(rdi, 0u64)?;
            a.mov(rsi, 0u64)?;
            a.mov(rdx, image::timespec(rng, &g.l))?;
            a.mov(r10, if rng.chance(50) { 0 } else { image::SIGSET })?;
            a.mov(r8, 8u64)?;
            syscall(a, nr::PPOLL)
        }
        _ => {
            a.mov(rdi, 0u64)?;
            syscall(a, nr::EPOLL_CREATE1)?;
            a.mov(rdi, rax)?;
            a.mov(rsi, BUF)?;
            a.mov(rdx, 4u64)?;
            a.mov(r10, rng.range(1, 50))?;
            syscall(a, nr::EPOLL_WAIT)
        }
    }
}
