//! The x86-64 signal frame a handler sees (Linux's `struct rt_sigframe`:
//! arch/x86/include/asm/sigframe.h, uapi asm/sigcontext.h, asm-generic
//! ucontext.h and siginfo.h), as plain bytes: built by the run loop when it
//! delivers a signal (run/signal_delivery.rs) and read back by
//! rt_sigreturn (syscalls/signals.rs), which trusts nothing in it.
//!
//! ```text
//! frame +0    pretcode (sa_restorer: the handler's return address)
//! frame +8    ucontext: uc_flags, uc_link, uc_stack (24), uc_mcontext (256), uc_sigmask (8)
//! frame +312  siginfo (128)
//! fpstate     the XSAVE area (abi/xstate.rs) or a 512-byte FXSAVE image,
//!             64-aligned, above the frame
//! ```

/// Bytes of `struct ucontext` (kernel layout).
pub const UCONTEXT_SIZE: u64 = 8 + 8 + 24 + SIGCONTEXT_SIZE + 8;
/// Bytes of `struct sigcontext`.
pub const SIGCONTEXT_SIZE: u64 = 256;
/// Bytes of `siginfo_t`.
pub const SIGINFO_SIZE: u64 = 128;
/// Bytes of `struct rt_sigframe` (pretcode, ucontext, siginfo).
pub const FRAME_SIZE: u64 = 8 + UCONTEXT_SIZE + SIGINFO_SIZE;
/// Where the ucontext and the siginfo sit in the frame.
pub const UC_OFFSET: u64 = 8;
pub const INFO_OFFSET: u64 = 8 + UCONTEXT_SIZE;
/// Where uc_mcontext and uc_sigmask sit in the ucontext.
pub const MCONTEXT_OFFSET: u64 = 40;
pub const SIGMASK_OFFSET: u64 = MCONTEXT_OFFSET + SIGCONTEXT_SIZE;
/// The x86-64 ABI's red zone below RSP, which a frame must not overwrite.
pub const RED_ZONE: u64 = 128;

/// The user registers a frame saves and rt_sigreturn restores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserRegs {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub rflags: u64,
}

impl UserRegs {
    /// In sigcontext order (r8 ... rip, eflags).
    fn slots(&self) -> [u64; 18] {
        [
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.rdi,
            self.rsi,
            self.rbp,
            self.rbx,
            self.rdx,
            self.rax,
            self.rcx,
            self.rsp,
            self.rip,
            self.rflags,
        ]
    }

    fn from_slots(s: &[u64; 18]) -> UserRegs {
        UserRegs {
            r8: s[0],
            r9: s[1],
            r10: s[2],
            r11: s[3],
            r12: s[4],
            r13: s[5],
            r14: s[6],
            r15: s[7],
            rdi: s[8],
            rsi: s[9],
            rbp: s[10],
            rbx: s[11],
            rdx: s[12],
            rax: s[13],
            rcx: s[14],
            rsp: s[15],
            rip: s[16],
            rflags: s[17],
        }
    }
}

/// What a fault adds to the frame (sigcontext's err, trapno, cr2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trap {
    pub err: u64,
    pub trapno: u64,
    pub cr2: u64,
}

/// The siginfo of a delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigInfo {
    pub signo: i32,
    pub code: i32,
    /// si_addr for faults; None for kill/tkill (si_pid, si_uid instead).
    pub addr: Option<u64>,
    /// si_pid (kill, tkill); si_tid for a POSIX timer (SI_TIMER).
    pub pid: u32,
    /// si_uid (kill, tkill); si_overrun for a POSIX timer.
    pub uid: u32,
    /// si_value (SI_TIMER, SI_QUEUE): the sigevent's value.
    pub value: u64,
}

/// Bytes in a `struct signalfd_siginfo`.
pub const SIGNALFD_SIGINFO_SIZE: usize = 128;

impl SigInfo {
    /// The `siginfo_t` (as rt_sigtimedwait and signal frames write it).
    pub fn to_bytes(&self) -> [u8; SIGINFO_SIZE as usize] {
        let mut b = [0u8; SIGINFO_SIZE as usize];
        b[0..4].copy_from_slice(&self.signo.to_le_bytes());
        b[8..12].copy_from_slice(&self.code.to_le_bytes());
        match self.addr {
            Some(a) => put(&mut b, 16, a),
            None => {
                b[16..20].copy_from_slice(&self.pid.to_le_bytes());
                b[20..24].copy_from_slice(&self.uid.to_le_bytes());
                put(&mut b, 24, self.value);
            }
        }
        b
    }

    /// The `struct signalfd_siginfo` a read of a signalfd returns.
    pub fn to_signalfd_bytes(&self) -> [u8; SIGNALFD_SIGINFO_SIZE] {
        let mut b = [0u8; SIGNALFD_SIGINFO_SIZE];
        b[0..4].copy_from_slice(&self.signo.to_le_bytes());
        b[8..12].copy_from_slice(&self.code.to_le_bytes());
        if let Some(a) = self.addr {
            put(&mut b, 72, a);
        } else if self.code == crate::abi::constants::SI_TIMER {
            // ssi_tid (the timer id), ssi_overrun, ssi_ptr/ssi_int.
            b[24..28].copy_from_slice(&self.pid.to_le_bytes());
            b[32..36].copy_from_slice(&self.uid.to_le_bytes());
            b[44..48].copy_from_slice(&(self.value as u32).to_le_bytes());
            put(&mut b, 48, self.value);
        } else {
            b[12..16].copy_from_slice(&self.pid.to_le_bytes());
            b[16..20].copy_from_slice(&self.uid.to_le_bytes());
            b[44..48].copy_from_slice(&(self.value as u32).to_le_bytes());
            put(&mut b, 48, self.value);
        }
        b
    }
}

/// Everything a frame holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Frame {
    pub restorer: u64,
    pub regs: UserRegs,
    pub trap: Trap,
    pub cs: u16,
    pub ss: u16,
    /// The mask before delivery (uc_sigmask; also sigcontext's oldmask).
    pub old_mask: u64,
    /// The alternate stack as sigaltstack reports it: (sp, flags, size).
    pub altstack: (u64, u32, u64),
    pub info: SigInfo,
    /// Guest address of the FPU state (0: none).
    pub fpstate: u64,
    pub uc_flags: u64,
}

impl Frame {
    /// The frame's bytes (pretcode, ucontext, siginfo), to copy to `at`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; FRAME_SIZE as usize];
        put(&mut b, 0, self.restorer);
        let uc = UC_OFFSET as usize;
        put(&mut b, uc, self.uc_flags);
        put(&mut b, uc + 16, self.altstack.0);
        b[uc + 24..uc + 28].copy_from_slice(&self.altstack.1.to_le_bytes());
        put(&mut b, uc + 32, self.altstack.2);
        let mc = uc + MCONTEXT_OFFSET as usize;
        for (i, v) in self.regs.slots().iter().enumerate() {
            put(&mut b, mc + i * 8, *v);
        }
        // cs, gs, fs, ss (u16 each) after eflags.
        b[mc + 144..mc + 146].copy_from_slice(&self.cs.to_le_bytes());
        b[mc + 150..mc + 152].copy_from_slice(&self.ss.to_le_bytes());
        put(&mut b, mc + 152, self.trap.err);
        put(&mut b, mc + 160, self.trap.trapno);
        put(&mut b, mc + 168, self.old_mask);
        put(&mut b, mc + 176, self.trap.cr2);
        put(&mut b, mc + 184, self.fpstate);
        put(&mut b, uc + SIGMASK_OFFSET as usize, self.old_mask);
        let si = INFO_OFFSET as usize;
        b[si..si + SIGINFO_SIZE as usize].copy_from_slice(&self.info.to_bytes());
        b
    }
}

/// What rt_sigreturn reads back from a ucontext: every field is the
/// program's to forge, so the reader of this decides what to believe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restore {
    pub regs: UserRegs,
    pub mask: u64,
    pub fpstate: u64,
    pub altstack: (u64, u32, u64),
}

/// Decodes the ucontext bytes `uc` (UCONTEXT_SIZE of them).
pub fn decode_ucontext(uc: &[u8]) -> Option<Restore> {
    if uc.len() < UCONTEXT_SIZE as usize {
        return None;
    }
    let mc = MCONTEXT_OFFSET as usize;
    let mut slots = [0u64; 18];
    for (i, s) in slots.iter_mut().enumerate() {
        *s = get(uc, mc + i * 8);
    }
    Some(Restore {
        regs: UserRegs::from_slots(&slots),
        mask: get(uc, SIGMASK_OFFSET as usize),
        fpstate: get(uc, mc + 184),
        altstack: (
            get(uc, 16),
            u32::from_le_bytes([uc[24], uc[25], uc[26], uc[27]]),
            get(uc, 32),
        ),
    })
}

fn put(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_linux() {
        assert_eq!(UCONTEXT_SIZE, 304);
        assert_eq!(FRAME_SIZE, 440);
        assert_eq!(INFO_OFFSET, 312);
    }

    #[test]
    fn a_frame_decodes_to_what_it_saved() {
        let regs = UserRegs {
            r8: 8,
            r15: 15,
            rdi: 0xd1,
            rax: 0xaa,
            rcx: 0xcc,
            rsp: 0x7fff_0000,
            rip: 0x40_1000,
            rflags: 0x246,
            ..UserRegs::default()
        };
        let f = Frame {
            restorer: 0x40_2000,
            regs,
            old_mask: 0x5,
            fpstate: 0x7fff_1000,
            altstack: (0x1000, 2, 0x4000),
            ..Frame::default()
        };
        let b = f.to_bytes();
        assert_eq!(get(&b, 0), 0x40_2000);
        let r = decode_ucontext(&b[UC_OFFSET as usize..][..UCONTEXT_SIZE as usize]);
        assert_eq!(
            r,
            Some(Restore {
                regs,
                mask: 0x5,
                fpstate: 0x7fff_1000,
                altstack: (0x1000, 2, 0x4000),
            })
        );
    }
}
