//! A program's start in an address space: its segments mapped and
//! written, the break placed after them, the initial stack with argv,
//! envp and the auxiliary vector. Boot does this for the first program
//! (run/boot.rs) and execve for every later one (syscalls/exec.rs), so
//! both start a program exactly alike.

use super::Image;
use crate::abi::constants::{
    AT_BASE, AT_CLKTCK, AT_EGID, AT_ENTRY, AT_EUID, AT_FLAGS, AT_GID, AT_HWCAP, AT_HWCAP2,
    AT_MINSIGSTKSZ, AT_PAGESZ, AT_SECURE, AT_SYSINFO_EHDR, AT_UID,
};
use crate::guest::address_space::{AddressSpace, MapError};
use crate::guest::initial_stack::{self, StackSpec};
use crate::guest::layout::{stack_size, STACK_TOP, VDSO_VA};
use crate::guest::page_table::Prot;
use crate::tunnel::{GuestPtr, Tunnel};
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

/// What a program starts with besides its image.
#[derive(Debug, Clone, Copy)]
pub struct StartSpec<'a> {
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    /// What the aux vector says of the CPU.
    pub cpu: CpuAuxv,
    /// The vDSO is mapped at VDSO_VA: name it in the aux vector.
    pub vdso: bool,
    /// The policy's memory limit (the stack's size follows it).
    pub memory_limit: u64,
    /// AT_UID/AT_EUID and AT_GID/AT_EGID.
    pub uid: u64,
    pub gid: u64,
    /// AT_EXECFN: the path the program was started by.
    pub execfn: &'a [u8],
}

/// What the aux vector says of the guest's CPU.
#[derive(Debug, Clone, Copy)]
pub struct CpuAuxv {
    /// AT_HWCAP (CPUID leaf 1 EDX as the guest sees it).
    pub hwcap: u64,
    /// AT_MINSIGSTKSZ: the largest signal frame with the guest's FPU
    /// state (abi/xstate.rs), which glibc's sysconf(_SC_MINSIGSTKSZ) and
    /// _SC_SIGSTKSZ report.
    pub min_signal_stack: u64,
}

impl Default for CpuAuxv {
    /// A CPU without XSAVE, capabilities unknown.
    fn default() -> CpuAuxv {
        CpuAuxv {
            hwcap: 0,
            min_signal_stack: crate::abi::xstate::min_signal_stack(None),
        }
    }
}

/// Why a program could not be laid out.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Map(#[from] MapError),
    /// The runner's own write of a segment or the stack failed.
    #[error("cannot write the program at {0:#x}")]
    Write(u64),
}

/// Maps `image` into `aspace` and builds its initial stack; returns the
/// stack pointer at argc. The vDSO, when wanted, is already mapped.
pub fn lay_out(
    mem: &mut GuestMemory,
    aspace: &mut AddressSpace,
    image: &Image,
    spec: &StartSpec<'_>,
) -> Result<u64, StartError> {
    for seg in &image.segments {
        let page = seg.vaddr & !(PAGE_SIZE - 1);
        let len = seg.vaddr + seg.mem_size - page;
        // Text and read-only data: the only pages that may take frames that
        // were page tables (guest/frames/pool.rs, `alloc_user`).
        if !seg.prot.write {
            aspace.frames.begin_read_only();
        }
        let mapped = aspace.map_fixed(mem, page, len, Prot::RW);
        aspace.frames.end_read_only();
        mapped?;
        Tunnel::for_runner_layout(aspace, mem)
            .write(GuestPtr::new(seg.vaddr), &seg.data)
            .map_err(|e| StartError::Write(e.addr()))?;
        if seg.prot != Prot::RW {
            aspace.mprotect(mem, page, len, seg.prot)?;
        }
    }
    aspace.set_brk_start(image.brk_start);

    let stack_size = stack_size(spec.memory_limit);
    aspace.map_fixed(mem, STACK_TOP - stack_size, stack_size, Prot::RW)?;
    let mut random = [0u8; 16];
    crate::host::random_bytes(&mut random);
    let mut auxv = vec![
        (AT_PAGESZ, PAGE_SIZE),
        (AT_ENTRY, image.entry),
        (AT_BASE, image.interpreter.map_or(0, |i| i.base)),
        (AT_FLAGS, 0),
        (AT_UID, spec.uid),
        (AT_EUID, spec.uid),
        (AT_GID, spec.gid),
        (AT_EGID, spec.gid),
        (AT_SECURE, 0),
        (AT_CLKTCK, 100),
        (AT_HWCAP, spec.cpu.hwcap),
        (AT_HWCAP2, 0),
        (AT_MINSIGSTKSZ, spec.cpu.min_signal_stack),
    ];
    auxv.extend_from_slice(&image.auxv);
    if spec.vdso {
        auxv.push((AT_SYSINFO_EHDR, VDSO_VA));
    }
    let stack = initial_stack::build(
        STACK_TOP,
        &StackSpec {
            argv: spec.argv,
            envp: spec.envp,
            auxv: &auxv,
            random,
            execfn: spec.execfn,
        },
    );
    Tunnel::for_runner_layout(aspace, mem)
        .write(GuestPtr::new(stack.rsp), &stack.bytes)
        .map_err(|e| StartError::Write(e.addr()))?;
    Ok(stack.rsp)
}
