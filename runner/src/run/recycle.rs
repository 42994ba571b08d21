//! One VM for a series of guests: after a run, the VM is brought back to
//! what [`Blank::new`] built (zeroed memory that KVM holds no view of, and
//! a vCPU in the state KVM gave it when it was created), so the next guest
//! is booted into it as into a new one, without paying for a VM's creation
//! and teardown (about 1.5 ms of kernel work on kvm_pvm; docs/benchmarks.md).
//!
//! A VM is recycled only when nothing of the run can survive the reset:
//!
//! - it has had one vCPU (KVM destroys no vCPU before its VM, so a run that
//!   started threads or processes leaves vCPUs that a fresh VM would not
//!   have);
//! - no in-VM monitor (its pages and gates are laid out at boot);
//! - its memory layout is not sealed (the reset deletes and re-registers
//!   the memory slot; a locked-down runner can do neither).
//!
//! The reset itself, in order:
//!
//! 1. the slot is deleted from KVM ([`thinvisor_kmod::Vm::reset_memory`]),
//!    which drops every shadow page table and translation KVM built from
//!    the old guest's page tables: the next guest's tables sit in the same
//!    frames, and a shadow MMU would otherwise find its old shadows there
//!    (docs/architecture.md, "Why splits copy tables");
//! 2. while no guest can reach it, the memory the run may have written is
//!    zeroed (the frames below the allocator's high-water mark, with the
//!    supervisor area) and everything above is discarded to zero-fill
//!    pages, so the memory is all zeros whatever the run did, as
//!    [`super::boot`] requires of a new guest's memory;
//! 3. the slot is registered again;
//! 4. the vCPU is written back to the snapshot taken when it was new
//!    ([`thinvisor_kmod::Vcpu::restore`]: what KVM owed the last exit
//!    flushed, then registers, FPU/AVX state, MSRs, pending events, debug
//!    registers, run state; the TSC keeps counting). A vCPU the syscall
//!    ring gave a run thread keeps it: such a VM serves ring runs only
//!    (the fuzzer keeps one VM per mode).
//!
//! What a guest could tell apart from a fresh VM: the TSC (a VM's is
//! larger the longer it has existed), and the time its first touches of
//! memory take (host pages a previous guest used are already there).

use super::boot::{Blank, Machine};
use thinvisor_kmod::{KmodError, Vcpu, VcpuSnapshot, PAGE_SIZE};

/// Why a VM cannot be used again.
#[derive(Debug, thiserror::Error)]
pub enum RecycleError {
    #[error("the run had {0} vCPUs; a fresh VM has one")]
    MoreVcpus(u64),
    #[error("the run used the in-VM monitor")]
    Monitor,
    #[error("the VM's memory layout is sealed")]
    Sealed,
    #[error("a vCPU run is still in flight")]
    Running,
    #[error(transparent)]
    Kvm(#[from] KmodError),
}

/// A new VM with the snapshot that makes its vCPU new again.
pub struct Reusable {
    pub blank: Blank,
    pub fresh: VcpuSnapshot,
}

impl Reusable {
    /// Takes the snapshot of `blank`'s vCPU, which must not have run.
    pub fn new(mut blank: Blank) -> Result<Reusable, KmodError> {
        let fresh = blank.vcpu_mut().snapshot()?;
        Ok(Reusable { blank, fresh })
    }
}

/// Brings `machine`, whose first vCPU is `vcpu`, back to a blank VM.
/// `used_below` is the allocator's high-water mark (`FrameAllocator::untouched`):
/// every frame the run could have written lies below it or in the 2 MiB
/// blocks handed out from the top.
pub fn recycle(
    machine: Machine,
    mut vcpu: Vcpu,
    used_below: u64,
    fresh: VcpuSnapshot,
) -> Result<Reusable, RecycleError> {
    let Machine {
        mut vm,
        slot,
        monitor,
        ..
    } = machine;
    if vm.vcpus_created() != 1 {
        return Err(RecycleError::MoreVcpus(vm.vcpus_created()));
    }
    if monitor.is_some() {
        return Err(RecycleError::Monitor);
    }
    if vm.is_sealed() {
        return Err(RecycleError::Sealed);
    }
    if vcpu.run_in_flight() {
        return Err(RecycleError::Running);
    }
    vm.reset_memory(slot, |mem| {
        let len = mem.len();
        let dirty = used_below.next_multiple_of(PAGE_SIZE).min(len);
        mem.zero(0, dirty)?;
        mem.discard(dirty, len - dirty)
    })?;
    vcpu.restore(&fresh)?;
    Ok(Reusable {
        blank: Blank::from_parts(vm, slot, vcpu),
        fresh,
    })
}
