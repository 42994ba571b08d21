//! # thinvisor-kmod: the thin hypervisor
//!
//! The only code of thinvisor that opens `/dev/kvm` or issues an ioctl, and
//! the only crate with `unsafe`. It is a *filtered interface* in the spirit of
//! a thin-hypervisor library:
//!
//! - **create/destroy** a VM ([`Hypervisor::create_vm`], drop) and its vCPUs
//!   ([`Vm::create_vcpu`], drop);
//! - **map/unmap/protect** guest-physical memory the caller owns
//!   ([`Vm::map_memory`], [`Vm::unmap_memory`], [`Vm::protect`]) and read
//!   its dirty pages ([`Vm::dirty_pages`]);
//! - **guest state is open** through a cache: registers, segment/control
//!   registers, FPU/SSE, XCR0 and guest-state MSRs ([`Vcpu::regs_mut`] ...).
//!   Reads come from what KVM returned with the exit (KVM_CAP_SYNC_REGS),
//!   writes are deferred to the next [`Vcpu::run`], so one exit plus its
//!   handling costs one ioctl;
//! - **control settings are filtered**: CPUID hides VMX/SVM and KVM's
//!   paravirtual leaves ([`cpuid`]); guest MSR accesses are denied by KVM's MSR
//!   filter unless opened from a short table ([`Vm::allow_native_msr`]);
//! - **host state is unreachable**: there is no API for it, and no host
//!   address (virtual or physical) leaves this crate;
//! - **run** returns a crate-owned [`VmExit`] with a catch-all; EINTR is
//!   [`VmExit::Interrupted`]; an [`Interrupter`] stops a running vCPU from
//!   another thread; [`VcpuCounters`] holds ioctl counts and time in guest;
//! - **time**: the guest TSC's rate ([`Vcpu::tsc_khz`]) and the host's TSC
//!   ([`host_tsc`]), so the caller can turn guest TSC readings into time.
//!
//! ```no_run
//! use thinvisor_kmod::{GuestMemory, Hypervisor, MemoryAccess, VmExit};
//! # fn main() -> Result<(), thinvisor_kmod::KmodError> {
//! let hv = Hypervisor::open()?;
//! let mut vm = hv.create_vm()?;
//! let mut mem = GuestMemory::new(0x10000)?;
//! mem.write(0x1000, &[0xe6, 0x42, 0xf4])?; // out 0x42, al; hlt (real mode)
//! vm.map_memory(0, mem, MemoryAccess::READ_WRITE)?;
//! let mut vcpu = vm.create_vcpu()?;
//! let sregs = vcpu.sregs_mut()?;
//! sregs.cs.base = 0;
//! sregs.cs.selector = 0;
//! let regs = vcpu.regs_mut()?;
//! regs.rip = 0x1000;
//! regs.rflags = 2;
//! assert!(matches!(vcpu.run()?, VmExit::IoOut { port: 0x42, .. }));
//! # Ok(()) }
//! ```

pub mod capabilities;
pub mod counters;
pub mod cpuid;
pub mod error;
pub mod exit;
pub mod host_tsc;
pub mod hypervisor;
pub mod interrupt;
pub mod ioctl_numbers;
pub mod kick_timer;
pub mod memory;
pub mod msr;
pub mod platform;
pub mod process_signals;
mod remote_run;
pub mod standard_streams;
mod state_cache;
pub mod terminal;
pub mod vcpu;
pub mod vcpu_snapshot;
pub mod vm;

pub use capabilities::Capabilities;
pub use counters::VcpuCounters;
pub use error::{KmodError, Result};
pub use exit::VmExit;
pub use host_tsc::host_tsc;
pub use hypervisor::{Hypervisor, VmOptions};
pub use interrupt::Interrupter;
pub use kick_timer::KickTimer;
pub use memory::{GuestMemory, PAGE_SIZE};
pub use platform::Platform;
pub use vcpu::{Vcpu, XsaveArea, XSAVE_AREA_BYTES};
pub use vcpu_snapshot::VcpuSnapshot;
pub use vm::{MemoryAccess, SlotId, Vm};

/// Guest register layouts, as KVM defines them (plain data, guest state).
pub use kvm_bindings::{
    kvm_fpu as Fpu, kvm_regs as Regs, kvm_segment as Segment, kvm_sregs as SRegs,
};
