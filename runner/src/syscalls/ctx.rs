//! The context a syscall handler gets ([`Ctx`]): the calling thread's view
//! of the kernel objects, and the only way from a handler to guest memory.

use crate::guest::address_space::AddressSpace;
use crate::kernel::{Kernel, Process, Thread};
use crate::ring::slot;
use crate::tunnel::Tunnel;
use thinvisor_kmod::{GuestMemory, KmodError};

/// What a handler sees: the calling thread, its process and the kernel,
/// and the VM's memory under them. The handlers (`syscalls::*`) reach the
/// kernel objects directly; the memory field is private to this file, so
/// guest bytes are reached only through the tunnel ([`Ctx::tunnel`]) and
/// mappings only through the address space's own calls ([`Ctx::memory`]).
/// The thread's vCPU is used only through [`Ctx::user_rip`] and
/// [`Ctx::set_msr`].
pub struct Ctx<'a> {
    pub(super) kernel: &'a mut Kernel,
    pub(super) process: &'a mut Process,
    pub(super) thread: &'a mut Thread,
    mem: &'a mut GuestMemory,
    caller: CallerRegs,
}

/// Where the calling thread's user registers are while its call is
/// served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerRegs {
    /// The call trapped: the vCPU holds them (RCX is where the call
    /// returns), and the program's RSP is `rsp` (0 when unknown).
    Trapped { rsp: u64 },
    /// The syscall ring serves the call while the vCPU runs: the slot at
    /// this guest-physical address holds where the call returns and the
    /// program's RSP (ring/slot.rs), read only when a handler asks (they
    /// lie outside the cache line a call is served with).
    InSlot(u64),
}

impl<'a> Ctx<'a> {
    /// The view of `thread` (of `process`) making a syscall, with the VM's
    /// memory `mem`.
    pub fn new(
        kernel: &'a mut Kernel,
        process: &'a mut Process,
        thread: &'a mut Thread,
        mem: &'a mut GuestMemory,
    ) -> Ctx<'a> {
        Ctx {
            kernel,
            process,
            thread,
            mem,
            caller: CallerRegs::Trapped { rsp: 0 },
        }
    }

    /// The same, saying where the caller's user registers are.
    pub fn with_caller(mut self, caller: CallerRegs) -> Ctx<'a> {
        self.caller = caller;
        self
    }

    /// The secure tunnel over this process's memory, under the policy's
    /// `[[tunnel]]` table.
    pub fn tunnel(&mut self) -> Tunnel<'_> {
        Tunnel::new(&mut self.process.mm, self.mem, &self.kernel.tunnel_ranges)
    }

    /// Writes the written pages of the process's shared file mappings in
    /// `[start, end)` back to their files (kernel/file_maps.rs); `forget`
    /// then drops those mappings' link to their files (munmap, a mapping
    /// replacing them, mremap).
    pub(super) fn write_back_files(
        &mut self,
        start: u64,
        end: u64,
        forget: bool,
    ) -> Result<(), crate::abi::Errno> {
        let p = &mut *self.process;
        if p.file_maps.is_empty() {
            return Ok(());
        }
        let r = crate::kernel::file_maps::write_back(
            &p.file_maps,
            &mut p.mm,
            self.mem,
            &mut self.kernel.budget,
            start,
            end,
        );
        if forget {
            p.file_maps.forget(start, end);
        }
        r
    }

    /// The process's address space and the memory it maps, for the memory
    /// calls (mmap, munmap, brk, ...), which change mappings, not bytes.
    pub(super) fn memory(&mut self) -> (&mut AddressSpace, &mut GuestMemory) {
        (&mut self.process.mm, self.mem)
    }

    /// What the whole sandbox shares and this process, together.
    pub(super) fn kernel_and_process(&mut self) -> (&mut Kernel, &mut Process) {
        (&mut *self.kernel, &mut *self.process)
    }

    /// What the whole sandbox shares and the VM's memory, for the files'
    /// shared pages (syscalls/file_pages.rs), which are frames, not this
    /// process's mappings.
    pub(super) fn kernel_and_memory(&mut self) -> (&mut Kernel, &mut GuestMemory) {
        (&mut *self.kernel, &mut *self.mem)
    }

    /// Where the guest's `syscall` returns to (RCX), for death lines; 0 when
    /// the registers cannot be read.
    pub(super) fn user_rip(&mut self) -> u64 {
        match self.caller {
            CallerRegs::InSlot(pa) => self.mem.read_u64(pa + slot::RETURN).unwrap_or(0),
            CallerRegs::Trapped { .. } => self.thread.vcpu.regs().map_or(0, |r| r.rcx),
        }
    }

    /// The program's RSP at the syscall (the SYSRET path leaves it in RSP;
    /// the #PF path in the exception frame; the ring's stub in its slot), 0
    /// when unknown.
    pub(super) fn user_rsp(&mut self) -> u64 {
        match self.caller {
            CallerRegs::InSlot(pa) => self.mem.read_u64(pa + slot::SAVED_RSP).unwrap_or(0),
            CallerRegs::Trapped { rsp } => rsp,
        }
    }

    /// Writes a model-specific register of the calling thread's vCPU.
    pub(super) fn set_msr(&mut self, index: u32, value: u64) -> Result<(), KmodError> {
        self.thread.vcpu.set_msr(index, value)
    }
}
