//! Threads: clone and clone3 with glibc's and musl's thread flags, the
//! bare minimum, one bit off, fork-like or random flags; one thread or a
//! storm of 2..80 from a loop; child stacks in the stack mapping, in the
//! data page, read-only, unmapped, in the kernel half or the parent's own
//! (0). Each child runs its own blocks and then ends ([`thread_end`]).

use super::{block, image, nr, syscall, Gen};
use crate::abi::constants::{
    CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID, CLONE_DETACHED, CLONE_FILES, CLONE_FS,
    CLONE_PARENT_SETTID, CLONE_SETTLS, CLONE_SIGHAND, CLONE_SYSVSEM, CLONE_THREAD, CLONE_VM,
};
use crate::fuzz::generate::values;
use crate::fuzz::rng::Rng;
use iced_x86::code_asm::*;

const MINIMAL: u64 = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
/// pthread_create's flags in glibc (0x3d0f00).
pub const GLIBC: u64 =
    MINIMAL | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
/// And in musl (with CLONE_DETACHED).
const MUSL: u64 = GLIBC | CLONE_DETACHED;

/// clone's flags.
fn flags(rng: &mut Rng) -> u64 {
    match rng.below(100) {
        0..=59 => GLIBC,
        60..=69 => MUSL,
        70..=74 => MINIMAL | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID,
        75..=79 => MINIMAL,
        80..=86 => GLIBC ^ (1 << rng.below(32)),
        87..=89 => 17,                     // fork: SIGCHLD
        90..=91 => 0x4111,                 // vfork: CLONE_VM | CLONE_VFORK | SIGCHLD
        92..=94 => GLIBC | rng.below(256), // an exit signal with a thread
        _ => rng.next_u64(),
    }
}

/// A child stack (the top: RSP starts there) and, for a storm, how far
/// each next child's stack is below the last.
fn stack(rng: &mut Rng, g: &Gen) -> (u64, i32) {
    match rng.below(100) {
        0..=54 => (image::child_stack_area(rng), 0x2000),
        55..=64 => (0, 0), // the parent's RSP
        65..=69 => (image::DATA + 0x1000 - 8 * rng.below(4), 0x100),
        70..=76 => (image::RO + 0x1000, 0), // read-only below
        77..=83 => (image::unmapped(rng), 0x1000),
        84..=88 => (image::kernel(rng), 0),
        89..=91 => (image::child_stack_area(rng) + rng.range(1, 15), 0x1000), // misaligned
        92..=94 => (g.l.stack_bottom + 0x1000, 0x1000),                       // runs off the bottom
        _ => (values::pointer(rng, &g.l), 0),
    }
}

/// The TLS base CLONE_SETTLS asks for.
fn tls(rng: &mut Rng) -> u64 {
    match rng.below(10) {
        0..=4 => image::DATA + 0x800,
        5 => 0,
        6 => image::kernel(rng),
        7 => 0x0000_8000_0000_0000 + 8 * rng.below(8), // non-canonical
        _ => rng.next_u64(),
    }
}

/// Loads clone's arguments but the stack (RSI).
fn clone_args(a: &mut CodeAssembler, rng: &mut Rng) -> Result<(), IcedError> {
    a.mov(rdi, flags(rng))?;
    a.mov(rdx, image::tid_slot(rng))?;
    a.mov(r10, image::tid_slot(rng))?;
    a.mov(r8, tls(rng))?;
    Ok(())
}

/// After a clone-like syscall: the child (RAX 0) runs `child`, the parent
/// jumps over it.
fn split(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    let mut child = a.create_label();
    let mut after = a.create_label();
    a.test(rax, rax)?;
    a.je(child)?;
    a.jmp(after)?;
    a.set_label(&mut child)?;
    body(a, rng, g)?;
    a.set_label(&mut after)?;
    a.nop()
}

/// One thread.
pub(super) fn clone(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    clone_args(a, rng)?;
    a.mov(rsi, stack(rng, g).0)?;
    syscall(a, nr::CLONE)?;
    split(a, rng, g)
}

/// 2..80 threads from a loop (R12 counts, R13 is the next stack, R14 the
/// next tid slot), all running the same body.
pub(super) fn storm(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    let n = if rng.chance(70) {
        rng.range(2, 16)
    } else {
        rng.range(16, 80)
    };
    let (top, step) = stack(rng, g);
    let mut again = a.create_label();
    let mut child = a.create_label();
    let mut after = a.create_label();
    a.mov(r12, n)?;
    a.mov(r13, top)?;
    a.set_label(&mut again)?;
    clone_args(a, rng)?;
    if rng.chance(70) {
        // A slot of its own for each child's tid.
        a.mov(r14, r12)?;
        a.and(r14, (image::TID_SLOTS - 1) as i32)?;
        a.lea(r14, qword_ptr(r14 * 4 + image::TIDS as i32))?;
        a.mov(rdx, r14)?;
        a.mov(r10, r14)?;
    }
    a.mov(rsi, r13)?;
    syscall(a, nr::CLONE)?;
    a.test(rax, rax)?;
    a.je(child)?;
    if step != 0 {
        a.sub(r13, step)?;
    }
    if rng.chance(20) {
        syscall(a, nr::SCHED_YIELD)?;
    }
    a.dec(r12)?;
    a.jne(again)?;
    a.jmp(after)?;
    a.set_label(&mut child)?;
    body(a, rng, g)?;
    a.set_label(&mut after)?;
    a.nop()
}

/// clone3 with a struct clone_args built in the data page (sizes around
/// and past the first version's, stack and size that may disagree).
pub(super) fn clone3(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    let (top, _) = stack(rng, g);
    let size = if rng.chance(70) {
        0x4000
    } else {
        values::length(rng)
    };
    let fields = [
        flags(rng) & !0xff,
        0,
        image::tid_slot(rng),
        image::tid_slot(rng),
        if rng.chance(85) { 0 } else { rng.below(65) },
        if top == 0 { 0 } else { top.wrapping_sub(size) },
        if top == 0 && rng.chance(80) { 0 } else { size },
        tls(rng),
        if rng.chance(90) { 0 } else { rng.next_u64() },
        0,
        0,
    ];
    a.mov(rbx, image::CLONE_ARGS)?;
    for (i, v) in fields.iter().enumerate() {
        a.mov(rax, *v)?;
        a.mov(qword_ptr(rbx + 8 * i as i32), rax)?;
    }
    a.mov(rdi, image::struct_ptr(rng, image::CLONE_ARGS))?;
    a.mov(
        rsi,
        *rng.pick(&[64u64, 64, 80, 88, 88, 63, 4096, 4097, 0])
            .unwrap_or(&64),
    )?;
    syscall(a, nr::CLONE3)?;
    split(a, rng, g)
}

/// A child's code: 0..3 blocks of its own (at one more depth), then its end.
fn body(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    let inner = g.deeper();
    for _ in 0..rng.below(4) {
        block(a, rng, &inner)?;
    }
    thread_end(a, rng, g)
}

/// How a thread other than the first ends: exit, exit_group, spinning
/// forever or for a while, waiting on a futex nobody may wake, a fault, a
/// return to whatever its stack holds, or falling into its parent's code.
pub(super) fn thread_end(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    match rng.below(100) {
        0..=34 => {
            a.mov(rdi, rng.below(256))?;
            syscall(a, nr::EXIT)
        }
        35..=44 => {
            a.mov(rdi, rng.below(256))?;
            syscall(a, nr::EXIT_GROUP)
        }
        45..=51 => {
            let mut spin = a.create_label();
            a.nop()?; // a label may already be on this spot
            a.set_label(&mut spin)?;
            if rng.chance(50) {
                a.pause()?;
            }
            a.jmp(spin)
        }
        52..=61 => {
            let mut spin = a.create_label();
            a.mov(rcx, rng.range(1, 200_000))?;
            a.set_label(&mut spin)?;
            a.pause()?;
            a.loop_(spin)?;
            a.mov(rdi, 0u64)?;
            syscall(a, nr::EXIT)
        }
        62..=76 => {
            // Wait on a shared word (FUTEX_WAIT, maybe private), forever
            // or for a while, then exit.
            let (word, value) = image::word(rng, &g.l);
            a.mov(rdi, word)?;
            a.mov(rsi, if rng.chance(50) { 128u64 } else { 0 })?;
            a.mov(rdx, u64::from(value))?;
            a.mov(
                r10,
                if rng.chance(60) {
                    0
                } else {
                    image::timespec(rng, &g.l)
                },
            )?;
            syscall(a, nr::FUTEX)?;
            a.mov(rdi, 0u64)?;
            syscall(a, nr::EXIT)
        }
        77..=84 => a.ud2(),
        85..=89 => a.ret(),
        90..=94 => a.nop(), // falls into the parent's code
        _ => {
            a.mov(rdi, 2u64)?;
            a.mov(rsi, 2u64)?;
            a.mov(rdx, g.signal(rng))?;
            syscall(a, nr::TGKILL)?;
            a.mov(rdi, 0u64)?;
            syscall(a, nr::EXIT)
        }
    }
}
