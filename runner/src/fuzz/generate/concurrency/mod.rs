//! Concurrency programs: threads, futexes and signals, assembled with
//! iced-x86. A program is the image head (`image.rs`: a data page, a
//! read-only page), a prologue (the read-only page protected, a
//! sigreturn trampoline, sometimes a handler for one of the program's
//! signals), 1..12 blocks, and an ending. Blocks:
//!
//! - `clones.rs`: clone and clone3 with the thread flags or odd ones, one
//!   thread or a storm of them, on valid, unmapped or read-only stacks;
//!   the children run blocks of their own and exit, exit_group, spin,
//!   wait on a futex forever, fault, or fall into their parent's code;
//! - `futexes.rs`: futex with random operations and flags on mapped,
//!   read-only, unmapped and misaligned words, with valid and garbage
//!   timeouts and wake/requeue counts;
//! - `signals.rs`: rt_sigaction with handlers in the program, at random or
//!   unmapped addresses, with and without SA_RESTORER, SA_ONSTACK,
//!   SA_SIGINFO...; handlers that return, edit or corrupt their frame, or
//!   exit; sigaltstack, sigprocmask, kill/tkill/tgkill to itself and to
//!   other tids, alarm and setitimer, and rt_sigreturn on garbage frames;
//! - `interrupted.rs`: a short timer or a signal from another thread, then
//!   a blocking call (pipe read, futex wait, nanosleep, pause, sigsuspend,
//!   poll, epoll_wait);
//! - `memory.rs`: a region one thread touches in a loop while another
//!   unmaps, protects, discards or moves parts of it;
//! - ordinary blocks of the instruction generator, and small calls
//!   (gettid, sched_yield, set_robust_list, set_tid_address).

use super::instructions;
use super::values::Layout;
use crate::fuzz::rng::Rng;
use iced_x86::code_asm::*;

mod clones;
mod futexes;
mod image;
mod interrupted;
mod memory;
mod signals;

/// Syscall numbers (x86-64) these blocks use.
mod nr {
    pub const READ: u64 = 0;
    pub const POLL: u64 = 7;
    pub const MPROTECT: u64 = 10;
    pub const RT_SIGACTION: u64 = 13;
    pub const RT_SIGPROCMASK: u64 = 14;
    pub const RT_SIGRETURN: u64 = 15;
    pub const SCHED_YIELD: u64 = 24;
    pub const PAUSE: u64 = 34;
    pub const NANOSLEEP: u64 = 35;
    pub const GETITIMER: u64 = 36;
    pub const ALARM: u64 = 37;
    pub const SETITIMER: u64 = 38;
    pub const GETPID: u64 = 39;
    pub const CLONE: u64 = 56;
    pub const EXIT: u64 = 60;
    pub const KILL: u64 = 62;
    pub const RT_SIGSUSPEND: u64 = 130;
    pub const SIGALTSTACK: u64 = 131;
    pub const GETTID: u64 = 186;
    pub const TKILL: u64 = 200;
    pub const FUTEX: u64 = 202;
    pub const SET_TID_ADDRESS: u64 = 218;
    pub const CLOCK_NANOSLEEP: u64 = 230;
    pub const EXIT_GROUP: u64 = 231;
    pub const EPOLL_WAIT: u64 = 232;
    pub const TGKILL: u64 = 234;
    pub const PPOLL: u64 = 271;
    pub const SET_ROBUST_LIST: u64 = 273;
    pub const EPOLL_CREATE1: u64 = 291;
    pub const PIPE2: u64 = 293;
    pub const CLONE3: u64 = 435;
}

/// What the blocks of one program share.
#[derive(Clone, Copy)]
struct Gen {
    l: Layout,
    /// The program's own signals: handlers are installed for them and
    /// kill sends them most often.
    signals: [u64; 3],
    /// `mov rax, 15; syscall`: the sa_restorer every well-formed handler
    /// returns through.
    restorer: CodeLabel,
    /// `exit_group(0)`, where edited frames may return to.
    exit_stub: CodeLabel,
    /// 0 in the first thread's code, 1+ in threads' bodies and handlers.
    depth: u32,
}

impl Gen {
    fn deeper(&self) -> Gen {
        Gen {
            depth: self.depth + 1,
            ..*self
        }
    }

    /// One of the program's signals, usually.
    fn signal(&self, rng: &mut Rng) -> u64 {
        if rng.chance(70) {
            self.signals[rng.below(3) as usize]
        } else {
            any_signal(rng)
        }
    }
}

/// A signal number: handled-by-programs ones, fatal ones, ignored and stop
/// signals, real-time ones, SIGKILL, 0 and out of range.
fn any_signal(rng: &mut Rng) -> u64 {
    match rng.below(10) {
        0..=5 => *rng
            .pick(&[
                10u64, 12, 14, 11, 17, 23, 28, 18, 19, 20, 2, 15, 13, 4, 5, 8, 6, 34, 64,
            ])
            .unwrap_or(&10),
        6 => 9,
        7 => rng.range(32, 64),
        8 => *rng.pick(&[0u64, 65, 128]).unwrap_or(&0),
        _ => rng.below(70),
    }
}

#[derive(Debug, Clone, Copy)]
enum Block {
    Clone,
    Storm,
    Clone3,
    Futex,
    SigAction,
    AltStack,
    SigMask,
    Kill,
    Timer,
    Interrupted,
    GarbageSigreturn,
    SharedMemory,
    Ordinary,
    Small,
}

const BLOCKS: &[(Block, u64)] = &[
    (Block::Clone, 14),
    (Block::Storm, 6),
    (Block::Clone3, 3),
    (Block::Futex, 16),
    (Block::SigAction, 10),
    (Block::AltStack, 3),
    (Block::SigMask, 4),
    (Block::Kill, 9),
    (Block::Timer, 4),
    (Block::Interrupted, 7),
    (Block::GarbageSigreturn, 4),
    (Block::SharedMemory, 5),
    (Block::Ordinary, 6),
    (Block::Small, 5),
];

/// Thread bodies nest this deep at most (a child's child's...).
const MAX_DEPTH: u32 = 2;

/// A concurrency program for a guest with `memory_limit` bytes.
pub fn program(rng: &mut Rng, memory_limit: u64) -> Vec<u8> {
    let mut bytes = image::head(rng);
    let code = assemble(rng, memory_limit).unwrap_or_else(|_| vec![0x0f, 0x0b]);
    bytes.extend_from_slice(&code);
    bytes
}

fn assemble(rng: &mut Rng, memory_limit: u64) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let l = Layout::for_flat(
        image::CODE - crate::guest::layout::FLAT_LOAD_VA + 0x2000,
        memory_limit,
    );
    let mut signals = [0u64; 3];
    for s in signals.iter_mut() {
        *s = *rng.pick(&[10u64, 12, 14, 34, 11, 17, 64]).unwrap_or(&10);
    }
    let mut g = Gen {
        l,
        signals,
        restorer: a.create_label(),
        exit_stub: a.create_label(),
        depth: 0,
    };
    prologue(&mut a, rng, &mut g)?;
    // Most programs have threads before anything else can end them.
    if rng.chance(50) {
        if rng.chance(70) {
            clones::clone(&mut a, rng, &g)?;
        } else {
            clones::storm(&mut a, rng, &g)?;
        }
    }
    for _ in 0..rng.range(1, 12) {
        block(&mut a, rng, &g)?;
    }
    ending(&mut a, rng, &g)?;
    a.assemble(image::CODE)
}

/// Protects the read-only page, places the trampolines, and sometimes
/// installs a handler that returns for one of the program's signals.
fn prologue(a: &mut CodeAssembler, rng: &mut Rng, g: &mut Gen) -> Result<(), IcedError> {
    if rng.chance(95) {
        a.mov(rdi, image::RO)?;
        a.mov(rsi, 0x1000u64)?;
        a.mov(rdx, if rng.chance(85) { 1u64 } else { 0 })?; // PROT_READ or none
        syscall(a, nr::MPROTECT)?;
    }
    let mut over = a.create_label();
    a.jmp(over)?;
    a.set_label(&mut g.restorer)?;
    a.mov(rax, nr::RT_SIGRETURN)?;
    a.syscall()?;
    a.ud2()?;
    a.set_label(&mut g.exit_stub)?;
    a.mov(rdi, 0u64)?;
    a.mov(rax, nr::EXIT_GROUP)?;
    a.syscall()?;
    a.set_label(&mut over)?;
    a.nop()?;
    if rng.chance(50) {
        signals::benign_handler(a, rng, g)?;
    }
    Ok(())
}

/// `mov rax, n; syscall`.
fn syscall(a: &mut CodeAssembler, n: u64) -> Result<(), IcedError> {
    a.mov(rax, n)?;
    a.syscall()
}

/// One block of a random kind (no thread creation past `MAX_DEPTH`).
fn block(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    let weights: Vec<u64> = BLOCKS
        .iter()
        .map(|&(b, w)| match b {
            Block::Clone | Block::Storm | Block::Clone3 if g.depth >= MAX_DEPTH => 0,
            _ => w,
        })
        .collect();
    match BLOCKS[rng.weighted(&weights)].0 {
        Block::Clone => clones::clone(a, rng, g),
        Block::Storm => clones::storm(a, rng, g),
        Block::Clone3 => clones::clone3(a, rng, g),
        Block::Futex => futexes::futex(a, rng, g),
        Block::SigAction => signals::sigaction(a, rng, g),
        Block::AltStack => signals::sigaltstack(a, rng),
        Block::SigMask => signals::sigprocmask(a, rng, g),
        Block::Kill => signals::kill(a, rng, g),
        Block::Timer => signals::timer(a, rng),
        Block::Interrupted => interrupted::interrupted(a, rng, g),
        Block::GarbageSigreturn => signals::garbage_sigreturn(a, rng, g),
        Block::SharedMemory => memory::shared_memory(a, rng, g),
        Block::Ordinary => instructions::any_block(a, rng, &g.l),
        Block::Small => small(a, rng, g),
    }
}

/// gettid, getpid, sched_yield, a short nanosleep, set_robust_list,
/// set_tid_address.
fn small(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    match rng.below(6) {
        0 => syscall(a, nr::GETTID),
        1 => syscall(a, nr::GETPID),
        2 => syscall(a, nr::SCHED_YIELD),
        3 => {
            a.mov(rdi, image::timespec(rng, &g.l))?;
            a.mov(rsi, 0u64)?;
            syscall(a, nr::NANOSLEEP)
        }
        4 => {
            a.mov(rdi, image::struct_ptr(rng, image::ROBUST))?;
            a.mov(rsi, if rng.chance(85) { 24u64 } else { rng.below(64) })?;
            syscall(a, nr::SET_ROBUST_LIST)
        }
        _ => {
            a.mov(rdi, image::tid_slot(rng))?;
            syscall(a, nr::SET_TID_ADDRESS)
        }
    }
}

/// How the first thread ends: exit_group mostly; exit of the leader alone
/// (the others go on); waking every waiter first, or joining children
/// through their cleared tids; a signal to itself; a fault.
fn ending(a: &mut CodeAssembler, rng: &mut Rng, g: &Gen) -> Result<(), IcedError> {
    match rng.below(100) {
        0..=54 => {}
        55..=64 => {
            a.mov(rdi, rng.below(256))?;
            return syscall(a, nr::EXIT);
        }
        65..=74 => {
            for i in 0..rng.range(1, 4) {
                a.mov(rdi, image::DATA + 4 * i)?;
                a.mov(rsi, 1u64 | if rng.chance(50) { 128 } else { 0 })?; // WAKE
                a.mov(rdx, i32::MAX as u64)?;
                syscall(a, nr::FUTEX)?;
            }
        }
        75..=84 => {
            // Join: wait while a tid slot still holds a tid.
            for _ in 0..rng.range(1, 3) {
                let slot = image::TIDS + 4 * rng.below(image::TID_SLOTS);
                a.mov(rdi, slot)?;
                a.mov(rsi, 0u64)?; // FUTEX_WAIT
                a.mov(edx, dword_ptr(rdi))?;
                a.mov(
                    r10,
                    image::TIMESPEC_AT + 16 * rng.pick(&[1u64, 2, 3]).copied().unwrap_or(1),
                )?;
                syscall(a, nr::FUTEX)?;
            }
        }
        85..=89 => {
            a.mov(rdi, 2u64)?;
            a.mov(rsi, 2u64)?;
            a.mov(rdx, g.signal(rng))?;
            syscall(a, nr::TGKILL)?;
        }
        90..=94 => return a.ud2(),
        _ => instructions::any_block(a, rng, &g.l)?,
    }
    a.mov(rdi, rng.below(256))?;
    syscall(a, nr::EXIT_GROUP)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions, Mnemonic};

    #[test]
    fn programs_assemble_and_make_the_calls_they_are_for() {
        let mut syscalls = 0;
        let mut with_clone = 0;
        for i in 0..1000 {
            let mut rng = Rng::for_program(5, i);
            let _ = image::head(&mut rng);
            if let Err(e) = assemble(&mut rng, 4 << 20) {
                panic!("program {i} does not assemble: {e}");
            }
            let mut rng = Rng::for_program(5, i);
            let p = program(&mut rng, 4 << 20);
            let code = &p[(image::CODE - crate::guest::layout::FLAT_LOAD_VA) as usize..];
            let mut d = Decoder::with_ip(64, code, image::CODE, DecoderOptions::NONE);
            let mut last_rax = None;
            let mut cloned = false;
            while d.can_decode() {
                let insn = d.decode();
                if insn.mnemonic() == Mnemonic::Mov
                    && insn.op0_register() == iced_x86::Register::RAX
                    && insn.op1_kind() == iced_x86::OpKind::Immediate64
                {
                    last_rax = Some(insn.immediate64());
                }
                if insn.mnemonic() == Mnemonic::Syscall {
                    syscalls += 1;
                    cloned |= matches!(last_rax, Some(nr::CLONE | nr::CLONE3));
                }
            }
            with_clone += u32::from(cloned);
        }
        assert!(syscalls > 1000 * 3, "{syscalls}");
        assert!(with_clone > 500, "{with_clone} programs clone");
    }
}
