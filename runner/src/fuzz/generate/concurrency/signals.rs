//! Signals: rt_sigaction with handlers in the program (which return,
//! skip or redirect the interrupted code, corrupt their own frame, raise
//! more signals, exit, or sigreturn by hand), or at random, unmapped and
//! kernel addresses, with and without SA_RESTORER, SA_ONSTACK,
//! SA_SIGINFO, SA_RESTART, SA_NODEFER, SA_RESETHAND; sigaltstack;
//! sigprocmask; kill, tkill and tgkill to the process, itself and other
//! tids; alarm and setitimer; and rt_sigreturn on garbage frames.

use super::{block, image, nr, syscall, Gen};
use crate::abi::constants::{
    SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTART, SA_RESTORER, SA_SIGINFO, SS_AUTODISARM,
    SS_DISABLE, SS_ONSTACK,
};
use crate::abi::sigframe::{MCONTEXT_OFFSET, SIGMASK_OFFSET};
use crate::fuzz::generate::values;
use crate::fuzz::rng::Rng;
use iced_x86::code_asm::*;

/// Offsets in a ucontext of the saved registers rt_sigreturn restores.
const UC_RSP: i32 = (MCONTEXT_OFFSET + 15 * 8) as i32;
const UC_RIP: i32 = (MCONTEXT_OFFSET + 16 * 8) as i32;
const UC_EFLAGS: i32 = (MCONTEXT_OFFSET + 17 * 8) as i32;
const UC_CSGSFS: i32 = (MCONTEXT_OFFSET + 18 * 8) as i32;
const UC_FPSTATE: i32 = (MCONTEXT_OFFSET + 23 * 8) as i32;
const UC_SIGMASK: i32 = SIGMASK_OFFSET as i32;
/// Fields a handler or a forged frame changes.
const FIELDS: [i32; 8] = [
    0,  // uc_flags
    16, // uc_stack.ss_sp
    UC_RSP, UC_RIP, UC_EFLAGS, UC_CSGSFS, UC_FPSTATE, UC_SIGMASK,
];

/// Stores `v` at `[base + off]` through RAX.
fn store(a: &mut CodeAssembler, base: AsmRegister64, off: i32, v: u64) -> Result<(), IcedError> {
    a.mov(rax, v)?;
    a.mov(qword_ptr(base + off), rax)
}

/// A value for a frame field: what the runner must refuse or sanitise
/// (kernel RIPs, IOPL and VM flags, the kernel's selectors) or garbage.
fn field_value(rng: &mut Rng, off: i32, g: &Gen) -> u64 {
    match off {
        UC_RIP => match rng.below(4) {
            0 => image::kernel(rng),
            1 => image::CODE + rng.below(0x400),
            _ => values::pointer(rng, &g.l),
        },
        UC_EFLAGS => *rng
            .pick(&[0x202u64, 0x3202, 0x23_7202, 0x100, 0x4_0202, u64::MAX])
            .unwrap_or(&0x202),
        UC_CSGSFS => *rng
            .pick(&[
                0x2bu64,
                0x33,
                0x8,
                0x10,
                0x0,
                0x0003_002b_0000_0033,
                u64::MAX,
            ])
            .unwrap_or(&0x33),
        UC_FPSTATE => match rng.below(5) {
            0 => 0,
            1 => image::FPSTATE,
            2 => image::FPSTATE + rng.range(1, 63),
            3 => image::kernel(rng),
            _ => image::unmapped(rng),
        },
        _ => rng.next_u64(),
    }
}

/// A handler's code, placed out of line; `resume` is code after it.
fn handler_body(
    a: &mut CodeAssembler,
    rng: &mut Rng,
    g: &Gen,
    resume: CodeLabel,
) -> Result<(), IcedError> {
    match rng.below(100) {
        0..=24 => a.ret(),
        25..=34 => {
            // Skip what was interrupted (a faulting instruction, maybe).
            a.add(qword_ptr(rdx + UC_RIP), rng.range(1, 8) as i32)?;
            a.ret()
        }
        35..=42 => {
            a.lea(rax, ptr(resume))?;
            a.mov(qword_ptr(rdx + UC_RIP), rax)?;
            a.ret()
        }
        43..=57 => {
            for _ in 0..rng.range(1, 3) {
                let off = *rng.pick(&FIELDS).unwrap_or(&UC_RIP);
                store(a, rdx, off, field_value(rng, off, g))?;
            }
            a.ret()
        }
        58..=66 => {
            for _ in 0..rng.range(1, 3) {
                block(a, rng, &g.deeper())?;
            }
            a.ret()
        }
        67..=74 => {
            // Raise a signal from inside the handler (the same one: nested
            // frames with SA_NODEFER).
            syscall(a, nr::GETTID)?;
            a.mov(rsi, rax)?;
            a.mov(rdi, 2u64)?;
            a.mov(rdx, g.signal(rng))?;
            syscall(a, nr::TGKILL)?;
            a.ret()
        }
        75..=82 => {
            a.mov(rdi, rng.below(256))?;
            syscall(
                a,
                if rng.chance(50) {
                    nr::EXIT
                } else {
                    nr::EXIT_GROUP
                },
            )
        }
        83..=91 => {
            // rt_sigreturn by hand: on the frame, or on garbage.
            if rng.chance(60) {
                a.add(rsp, 8)?;
            } else {
                a.mov(rsp, garbage_frame_at(rng))?;
            }
            syscall(a, nr::RT_SIGRETURN)
        }
        92..=93 => {
            let mut spin = a.create_label();
            a.nop()?; // a label may already be on this spot
            a.set_label(&mut spin)?;
            a.jmp(spin)
        }
        _ => {
            sigprocmask(a, rng, g)?;
            a.ret()
        }
    }
}

/// Where a forged frame lies.
fn garbage_frame_at(rng: &mut Rng) -> u64 {
    match rng.below(10) {
        0..=4 => image::FRAME,
        5 => image::RO_FRAME,
        6 => image::DATA + 0x1000 - 0x80, // runs into the read-only page
        7 => crate::guest::layout::FLAT_LOAD_VA - 0x40, // starts unmapped
        8 => image::unmapped(rng),
        _ => image::kernel(rng),
    }
}

/// Installs a handler for `sig` that returns, through the restorer.
pub(super) fn benign_handler(
    a: &mut CodeAssembler,
    rng: &mut Rng,
    g: &Gen,
) -> Result<(), IcedError> {
    let mut handler = a.create_label();
    let mut over = a.create_label();
    a.jmp(over)?;
    a.set_label(&mut handler)?;
    a.ret()?;
    a.set_label(&mut over)?;
    a.mov(rbx, image::ACT)?;
    a.lea(rax, ptr(handler))?;
    a.mov(qword_ptr(rbx), rax)?;
    let restart = if rng.chance(50) { SA_RESTART } else { 0 };
    store(a, rbx, 8, SA_RESTORER | SA_SIGINFO | restart)?;
    a.lea(rax, ptr(g.restorer))?;
    a.mov(qword_ptr(rbx + 16), rax)?;
    store(a, rbx, 24, 0)?;
    a.mov(rdi, g.signals[0])?;
    a.mov(rsi, image::ACT)?;
    a.mov(rdx, 0u64)?;
    a.mov(r10, 8u64)?;
    syscall(a, nr::RT_SIGACTION)
}

/// rt_sigaction for one signal, with a handler of any kind.
pub(super) fn sigaction(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    let mut handler = a.create_label();
    let mut over = a.create_label();
    a.jmp(over)?;
    a.set_label(&mut handler)?;
    handler_body(a, rng, g, over)?;
    a.set_label(&mut over)?;
    a.mov(rbx, image::ACT)?;
    match rng.below(100) {
        0..=64 => a.lea(rax, ptr(handler))?,
        65..=72 => a.mov(rax, 0u64)?, // SIG_DFL
        73..=80 => a.mov(rax, 1u64)?, // SIG_IGN
        81..=85 => a.mov(rax, image::CODE + rng.below(0x800))?,
        86..=90 => a.mov(rax, image::unmapped(rng))?,
        91..=94 => a.mov(rax, image::kernel(rng))?,
        95..=97 => a.mov(rax, image::DATA + 8 * rng.below(64))?,
        _ => a.lea(rax, ptr(g.restorer))?,
    }
    a.mov(qword_ptr(rbx), rax)?;
    store(a, rbx, 8, sa_flags(rng))?;
    match rng.below(100) {
        0..=74 => a.lea(rax, ptr(g.restorer))?,
        75..=79 => a.lea(rax, ptr(g.exit_stub))?,
        80..=84 => a.mov(rax, 0u64)?,
        85..=90 => a.mov(rax, image::unmapped(rng))?,
        91..=94 => a.mov(rax, image::CODE + rng.below(0x800))?,
        _ => a.mov(rax, image::kernel(rng))?,
    }
    a.mov(qword_ptr(rbx + 16), rax)?;
    store(a, rbx, 24, mask(rng, g))?;
    a.mov(rdi, g.signal(rng))?;
    a.mov(rsi, image::struct_ptr(rng, image::ACT))?;
    a.mov(
        rdx,
        if rng.chance(60) {
            0
        } else {
            image::struct_ptr(rng, image::OLD_ACT)
        },
    )?;
    a.mov(r10, if rng.chance(92) { 8u64 } else { rng.below(130) })?;
    syscall(a, nr::RT_SIGACTION)
}

fn sa_flags(rng: &mut Rng) -> u64 {
    if rng.chance(5) {
        return rng.next_u64();
    }
    let mut f = if rng.chance(85) { SA_RESTORER } else { 0 };
    for (flag, pct) in [
        (SA_SIGINFO, 50),
        (SA_ONSTACK, 30),
        (SA_RESTART, 30),
        (SA_NODEFER, 15),
        (SA_RESETHAND, 10),
    ] {
        if rng.chance(pct) {
            f |= flag;
        }
    }
    f
}

/// A signal mask: empty, one of the program's signals, everything, random.
fn mask(rng: &mut Rng, g: &Gen) -> u64 {
    match rng.below(10) {
        0..=5 => 0,
        6 | 7 => 1 << (g.signals[rng.below(3) as usize] - 1),
        8 => u64::MAX,
        _ => rng.next_u64(),
    }
}

/// sigaltstack with stacks valid, read-only, unmapped, in the kernel half
/// or wrapping around, and flags and sizes around the limits.
pub(super) fn sigaltstack(a: &mut CodeAssembler, rng: &mut Rng) -> Result<(), IcedError> {
    let ss_sp = match rng.below(10) {
        0..=3 => image::child_stack_area(rng) - 0x4_0000,
        4 => image::DATA,
        5 => image::RO,
        6 => image::unmapped(rng),
        7 => image::kernel(rng),
        8 => u64::MAX - 0xfff,
        _ => rng.next_u64(),
    };
    let flags = match rng.below(10) {
        0..=5 => 0,
        6 => SS_DISABLE,
        7 => SS_AUTODISARM,
        8 => SS_ONSTACK | if rng.chance(50) { SS_AUTODISARM } else { 0 },
        _ => rng.next_u64(),
    };
    let size = match rng.below(10) {
        0..=3 => 0x4000,
        4 => 2048,
        5 => 2047,
        6 => 0,
        7 => u64::MAX - rng.below(0x1000),
        8 => 1 << rng.range(12, 62),
        _ => rng.next_u64(),
    };
    a.mov(rbx, image::ALTSTACK)?;
    store(a, rbx, 0, ss_sp)?;
    store(a, rbx, 8, flags)?;
    store(a, rbx, 16, size)?;
    a.mov(
        rdi,
        if rng.chance(85) {
            image::struct_ptr(rng, image::ALTSTACK)
        } else {
            0
        },
    )?;
    a.mov(
        rsi,
        if rng.chance(50) {
            image::struct_ptr(rng, image::OLD_ALTSTACK)
        } else {
            0
        },
    )?;
    syscall(a, nr::SIGALTSTACK)
}

pub(super) fn sigprocmask(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    a.mov(rbx, image::SIGSET)?;
    store(a, rbx, 0, mask(rng, g))?;
    a.mov(
        rdi,
        if rng.chance(90) {
            rng.below(3)
        } else {
            rng.next_u64()
        },
    )?;
    a.mov(
        rsi,
        if rng.chance(85) {
            image::struct_ptr(rng, image::SIGSET)
        } else {
            0
        },
    )?;
    a.mov(
        rdx,
        if rng.chance(40) {
            image::struct_ptr(rng, image::OLD_SIGSET)
        } else {
            0
        },
    )?;
    a.mov(r10, if rng.chance(92) { 8u64 } else { rng.below(130) })?;
    syscall(a, nr::RT_SIGPROCMASK)
}

/// A thread id: the leader, a child's (tids are handed out from 3 up), one
/// a tid slot holds, the caller's own, or one that does not exist.
fn tid(a: &mut CodeAssembler, rng: &mut Rng, reg: AsmRegister64) -> Result<(), IcedError> {
    match rng.below(100) {
        0..=24 => a.mov(reg, 2u64),
        25..=49 => a.mov(reg, rng.range(3, 12)),
        50..=64 => {
            a.mov(rax, image::TIDS + 4 * rng.below(image::TID_SLOTS))?;
            a.mov(reg.into_r32(), dword_ptr(rax))
        }
        65..=79 => {
            syscall(a, nr::GETTID)?;
            a.mov(reg, rax)
        }
        _ => a.mov(
            reg,
            *rng.pick(&[0u64, u64::MAX, 1, 1000, 1 << 31, u64::MAX << 32])
                .unwrap_or(&0),
        ),
    }
}

/// Turns a 64-bit register into its 32-bit half.
trait Low32 {
    fn into_r32(self) -> AsmRegister32;
}

impl Low32 for AsmRegister64 {
    fn into_r32(self) -> AsmRegister32 {
        [(rdi, edi), (rsi, esi), (rdx, edx)]
            .iter()
            .find(|(w, _)| *w == self)
            .map_or(eax, |(_, d)| *d)
    }
}

/// kill, tkill or tgkill.
pub(super) fn kill(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    let sig = g.signal(rng);
    match rng.below(3) {
        0 => {
            let pid = *rng
                .pick(&[2u64, 2, 2, 0, (-2i64) as u64, 1, u64::MAX, 3, 77])
                .unwrap_or(&2);
            a.mov(rdi, pid)?;
            a.mov(rsi, sig)?;
            syscall(a, nr::KILL)
        }
        1 => {
            tid(a, rng, rdi)?;
            a.mov(rsi, sig)?;
            syscall(a, nr::TKILL)
        }
        _ => {
            tid(a, rng, rsi)?;
            a.mov(rdi, if rng.chance(90) { 2u64 } else { rng.below(8) })?;
            a.mov(rdx, sig)?;
            syscall(a, nr::TGKILL)
        }
    }
}

/// alarm, setitimer (ITIMER_REAL mostly: short one-shot and periodic
/// timers, zero, and invalid values), getitimer.
pub(super) fn timer(a: &mut CodeAssembler, rng: &mut Rng) -> Result<(), IcedError> {
    match rng.below(100) {
        0..=19 => {
            a.mov(rdi, *rng.pick(&[0u64, 0, 1, 2, u64::MAX]).unwrap_or(&0))?;
            syscall(a, nr::ALARM)
        }
        20..=84 => {
            a.mov(rbx, image::ITIMER)?;
            let (interval, value) = itimerval(rng);
            store(a, rbx, 0, interval.0)?;
            store(a, rbx, 8, interval.1)?;
            store(a, rbx, 16, value.0)?;
            store(a, rbx, 24, value.1)?;
            a.mov(rdi, which(rng))?;
            a.mov(rsi, image::struct_ptr(rng, image::ITIMER))?;
            a.mov(
                rdx,
                if rng.chance(60) {
                    0
                } else {
                    image::struct_ptr(rng, image::OLD_ITIMER)
                },
            )?;
            syscall(a, nr::SETITIMER)
        }
        _ => {
            a.mov(rdi, which(rng))?;
            a.mov(rsi, image::struct_ptr(rng, image::OLD_ITIMER))?;
            syscall(a, nr::GETITIMER)
        }
    }
}

fn which(rng: &mut Rng) -> u64 {
    if rng.chance(90) {
        0
    } else {
        rng.below(4)
    }
}

/// (interval, value) as (seconds, microseconds) pairs: a short one-shot
/// timer mostly, periodic ones, zero (off), out-of-range fields.
fn itimerval(rng: &mut Rng) -> ((u64, u64), (u64, u64)) {
    let value = match rng.below(10) {
        0..=6 => (0, rng.range(200, 5000)),
        7 => (0, 0),
        8 => (0, 1_000_000 + rng.below(10)),
        _ => (rng.next_u64(), rng.next_u64()),
    };
    let interval = match rng.below(10) {
        0..=5 => (0, 0),
        6..=8 => (0, rng.range(100, 3000)),
        _ => (rng.next_u64(), rng.below(2_000_000)),
    };
    (interval, value)
}

/// rt_sigreturn with no handler running, on a frame of random bytes in
/// the data page with some fields chosen (RIP back here, RSP the current
/// one, odd flags and selectors, FPU image pointers), or on garbage that
/// is read-only, half unmapped, unmapped or in the kernel half.
pub(super) fn garbage_sigreturn(
    a: &mut CodeAssembler,
    rng: &mut Rng,
    g: &Gen,
) -> Result<(), IcedError> {
    let mut resume = a.create_label();
    let at = garbage_frame_at(rng);
    if at == image::FRAME {
        a.mov(rbx, image::FRAME)?;
        if rng.chance(75) {
            a.lea(rax, ptr(resume))?;
            a.mov(qword_ptr(rbx + UC_RIP), rax)?;
        }
        if rng.chance(75) {
            a.mov(qword_ptr(rbx + UC_RSP), rsp)?;
        }
        for off in [UC_EFLAGS, UC_CSGSFS, UC_FPSTATE, UC_SIGMASK] {
            if rng.chance(60) {
                let v = match off {
                    UC_SIGMASK if rng.chance(60) => 0,
                    _ => field_value(rng, off, g),
                };
                store(a, rbx, off, v)?;
            }
        }
    }
    a.mov(rsp, at)?;
    syscall(a, nr::RT_SIGRETURN)?;
    a.set_label(&mut resume)?;
    a.nop()
}
