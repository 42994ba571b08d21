//! Capabilities of the host KVM that the thin hypervisor reports or needs.

use kvm_ioctls::{Cap, Kvm};

/// What the host KVM offers, read once when the hypervisor is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// KVM API version (always 12 once opened).
    pub api_version: i32,
    /// KVM_CAP_USER_MEMORY: memory regions backed by caller-owned memory.
    pub user_memory: bool,
    /// KVM_CAP_READONLY_MEM: read-only memory slots.
    pub readonly_mem: bool,
    /// KVM_CAP_IMMEDIATE_EXIT: interrupting a vCPU without races.
    pub immediate_exit: bool,
    /// KVM_CAP_SYNC_REGS: registers exchanged through the run page, so an
    /// exit plus its handling costs one ioctl.
    pub sync_regs: bool,
    /// KVM_CAP_X86_MSR_FILTER: guest MSR accesses filtered by KVM.
    pub msr_filter: bool,
    /// KVM_CAP_X86_USER_SPACE_MSR: filtered MSR accesses can exit to user space.
    pub user_space_msr: bool,
    /// KVM_CAP_XCRS: XCR0 can be set (AVX state).
    pub xcrs: bool,
    /// KVM_CAP_SPLIT_IRQCHIP: a VM may keep the local APIC in the kernel
    /// (see [`crate::hypervisor::VmOptions::kernel_lapic`]).
    pub split_irqchip: bool,
    /// KVM_CAP_DIRTY_LOG_RING present (informational).
    pub dirty_log_ring: bool,
    /// KVM_CAP_MMU_SHADOW_CACHE_CONTROL: the shadow page cache's size can
    /// be set (KVM_SET_NR_MMU_PAGES).
    pub shadow_cache_control: bool,
    /// Maximum vCPUs per VM.
    pub max_vcpus: usize,
}

impl Capabilities {
    pub(crate) fn read(kvm: &Kvm) -> Capabilities {
        Capabilities {
            api_version: kvm.get_api_version(),
            user_memory: kvm.check_extension(Cap::UserMemory),
            readonly_mem: kvm.check_extension(Cap::ReadonlyMem),
            immediate_exit: kvm.check_extension(Cap::ImmediateExit),
            sync_regs: kvm.check_extension(Cap::SyncRegs),
            msr_filter: kvm.check_extension(Cap::X86MsrFilter),
            user_space_msr: kvm.check_extension(Cap::X86UserSpaceMsr),
            xcrs: kvm.check_extension(Cap::Xcrs),
            split_irqchip: kvm.check_extension(Cap::SplitIrqchip),
            dirty_log_ring: kvm.check_extension_raw(kvm_bindings::KVM_CAP_DIRTY_LOG_RING.into())
                > 0,
            shadow_cache_control: kvm.check_extension(Cap::MmuShadowCacheControl),
            max_vcpus: kvm.get_max_vcpus(),
        }
    }

    /// The capabilities as `(name, present)` rows, for `runner info`.
    pub fn rows(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("USER_MEMORY", self.user_memory),
            ("READONLY_MEM", self.readonly_mem),
            ("IMMEDIATE_EXIT", self.immediate_exit),
            ("SYNC_REGS", self.sync_regs),
            ("X86_MSR_FILTER", self.msr_filter),
            ("X86_USER_SPACE_MSR", self.user_space_msr),
            ("XCRS", self.xcrs),
            ("SPLIT_IRQCHIP", self.split_irqchip),
            ("DIRTY_LOG_RING", self.dirty_log_ring),
        ]
    }
}
