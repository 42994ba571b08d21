//! The request numbers of the KVM ioctls this crate issues, for callers that
//! filter them (the runner's seccomp filter pins `ioctl` to
//! [`VCPU_RUN_IOCTLS`] once the guest is built).
//!
//! kvm-ioctls declares these numbers (its `src/kvm_ioctls.rs`) but does not
//! export them. They are computed here the way its `ioctl_*_nr!` macros do,
//! with vmm-sys-util's `ioctl_expr`, kvm-bindings' `KVMIO` and the size of
//! kvm-bindings' argument structs; only the command byte is written here, as
//! in kvm-ioctls. The tests check every number against those macros and
//! against the values in Linux's `include/uapi/linux/kvm.h`.

use kvm_bindings::{
    kvm_cpuid2, kvm_dirty_log, kvm_enable_cap, kvm_fpu, kvm_mp_state, kvm_msr_filter, kvm_msrs,
    kvm_regs, kvm_sregs, kvm_userspace_memory_region, kvm_vcpu_events, kvm_xcrs, kvm_xsave, KVMIO,
};
use vmm_sys_util::ioctl::{ioctl_expr, _IOC_NONE, _IOC_READ, _IOC_WRITE};

const fn io(nr: u32) -> u64 {
    ioctl_expr(_IOC_NONE, KVMIO, nr, 0) as u64
}

const fn ior<T>(nr: u32) -> u64 {
    ioctl_expr(_IOC_READ, KVMIO, nr, std::mem::size_of::<T>() as u32) as u64
}

const fn iow<T>(nr: u32) -> u64 {
    ioctl_expr(_IOC_WRITE, KVMIO, nr, std::mem::size_of::<T>() as u32) as u64
}

const fn iowr<T>(nr: u32) -> u64 {
    ioctl_expr(
        _IOC_READ | _IOC_WRITE,
        KVMIO,
        nr,
        std::mem::size_of::<T>() as u32,
    ) as u64
}

// System (`/dev/kvm`) requests.
pub const KVM_GET_API_VERSION: u64 = io(0x00);
pub const KVM_CREATE_VM: u64 = io(0x01);
pub const KVM_CHECK_EXTENSION: u64 = io(0x03);
pub const KVM_GET_VCPU_MMAP_SIZE: u64 = io(0x04);
pub const KVM_GET_SUPPORTED_CPUID: u64 = iowr::<kvm_cpuid2>(0x05);

// VM requests.
pub const KVM_CREATE_VCPU: u64 = io(0x41);
pub const KVM_SET_NR_MMU_PAGES: u64 = io(0x44);
pub const KVM_GET_DIRTY_LOG: u64 = iow::<kvm_dirty_log>(0x42);
pub const KVM_SET_USER_MEMORY_REGION: u64 = iow::<kvm_userspace_memory_region>(0x46);
pub const KVM_X86_SET_MSR_FILTER: u64 = iow::<kvm_msr_filter>(0xc6);
pub const KVM_ENABLE_CAP: u64 = iow::<kvm_enable_cap>(0xa3);

// vCPU requests.
pub const KVM_RUN: u64 = io(0x80);
pub const KVM_GET_REGS: u64 = ior::<kvm_regs>(0x81);
pub const KVM_SET_REGS: u64 = iow::<kvm_regs>(0x82);
pub const KVM_GET_SREGS: u64 = ior::<kvm_sregs>(0x83);
pub const KVM_SET_SREGS: u64 = iow::<kvm_sregs>(0x84);
pub const KVM_GET_MSRS: u64 = iowr::<kvm_msrs>(0x88);
pub const KVM_SET_MSRS: u64 = iow::<kvm_msrs>(0x89);
pub const KVM_GET_FPU: u64 = ior::<kvm_fpu>(0x8c);
pub const KVM_SET_FPU: u64 = iow::<kvm_fpu>(0x8d);
pub const KVM_SET_CPUID2: u64 = iow::<kvm_cpuid2>(0x90);
pub const KVM_SET_XCRS: u64 = iow::<kvm_xcrs>(0xa7);
pub const KVM_GET_XSAVE: u64 = ior::<kvm_xsave>(0xa4);
pub const KVM_SET_XSAVE: u64 = iow::<kvm_xsave>(0xa5);
pub const KVM_SET_MP_STATE: u64 = iow::<kvm_mp_state>(0x99);
pub const KVM_GET_VCPU_EVENTS: u64 = ior::<kvm_vcpu_events>(0x9f);
pub const KVM_SET_VCPU_EVENTS: u64 = iow::<kvm_vcpu_events>(0xa0);

/// A named ioctl request.
pub type NamedIoctl = (&'static str, u64);

/// Every request a [`crate::Vcpu`] issues from its first [`crate::Vcpu::run`]
/// on: `run` itself and the state cache's fetches and deferred writes. A
/// process that has built its guests needs no other KVM request.
pub const VCPU_RUN_IOCTLS: &[NamedIoctl] = &[
    ("KVM_RUN", KVM_RUN),
    ("KVM_GET_REGS", KVM_GET_REGS),
    ("KVM_SET_REGS", KVM_SET_REGS),
    ("KVM_GET_SREGS", KVM_GET_SREGS),
    ("KVM_SET_SREGS", KVM_SET_SREGS),
    ("KVM_GET_FPU", KVM_GET_FPU),
    ("KVM_SET_FPU", KVM_SET_FPU),
    ("KVM_GET_MSRS", KVM_GET_MSRS),
    ("KVM_SET_MSRS", KVM_SET_MSRS),
    ("KVM_SET_XCRS", KVM_SET_XCRS),
    ("KVM_GET_XSAVE", KVM_GET_XSAVE),
    ("KVM_SET_XSAVE", KVM_SET_XSAVE),
    ("KVM_GET_VCPU_EVENTS", KVM_GET_VCPU_EVENTS),
];

/// The requests that start a vCPU for a new guest thread while the guest
/// runs: create it in the VM, install its CPUID, make it runnable (not an
/// application processor waiting for SIPI), and, when a vCPU another guest
/// thread used is taken for it, drop the events KVM still held for that
/// one ([`crate::Vcpu::clear_pending_events`], which reads them first with
/// a request of [`VCPU_RUN_IOCTLS`]). Everything else a new vCPU
/// needs is in [`VCPU_RUN_IOCTLS`].
pub const THREAD_START_IOCTLS: &[NamedIoctl] = &[
    ("KVM_CREATE_VCPU", KVM_CREATE_VCPU),
    ("KVM_SET_CPUID2", KVM_SET_CPUID2),
    ("KVM_SET_MP_STATE", KVM_SET_MP_STATE),
    ("KVM_SET_VCPU_EVENTS", KVM_SET_VCPU_EVENTS),
];

/// The requests that build guests: opening KVM, creating VMs and vCPUs,
/// mapping memory, installing CPUID and the MSR filter, enabling the split
/// irqchip, reading dirty logs.
/// None of them is needed once the guest is built; a filtered caller refuses
/// them all from then on.
pub const SETUP_IOCTLS: &[NamedIoctl] = &[
    ("KVM_GET_API_VERSION", KVM_GET_API_VERSION),
    ("KVM_CREATE_VM", KVM_CREATE_VM),
    ("KVM_CHECK_EXTENSION", KVM_CHECK_EXTENSION),
    ("KVM_GET_VCPU_MMAP_SIZE", KVM_GET_VCPU_MMAP_SIZE),
    ("KVM_GET_SUPPORTED_CPUID", KVM_GET_SUPPORTED_CPUID),
    ("KVM_CREATE_VCPU", KVM_CREATE_VCPU),
    ("KVM_SET_NR_MMU_PAGES", KVM_SET_NR_MMU_PAGES),
    ("KVM_GET_DIRTY_LOG", KVM_GET_DIRTY_LOG),
    ("KVM_SET_USER_MEMORY_REGION", KVM_SET_USER_MEMORY_REGION),
    ("KVM_X86_SET_MSR_FILTER", KVM_X86_SET_MSR_FILTER),
    ("KVM_ENABLE_CAP", KVM_ENABLE_CAP),
    ("KVM_SET_CPUID2", KVM_SET_CPUID2),
];

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_sys_util::{ioctl_io_nr, ioctl_ior_nr, ioctl_iow_nr, ioctl_iowr_nr};

    // The declarations of kvm-ioctls' src/kvm_ioctls.rs, verbatim.
    mod kvm_ioctls_decl {
        use super::*;
        ioctl_io_nr!(KVM_GET_API_VERSION, KVMIO, 0x00);
        ioctl_io_nr!(KVM_CREATE_VM, KVMIO, 0x01);
        ioctl_io_nr!(KVM_CHECK_EXTENSION, KVMIO, 0x03);
        ioctl_io_nr!(KVM_GET_VCPU_MMAP_SIZE, KVMIO, 0x04);
        ioctl_iowr_nr!(KVM_GET_SUPPORTED_CPUID, KVMIO, 0x05, kvm_cpuid2);
        ioctl_io_nr!(KVM_CREATE_VCPU, KVMIO, 0x41);
        ioctl_io_nr!(KVM_SET_NR_MMU_PAGES, KVMIO, 0x44);
        ioctl_iow_nr!(KVM_GET_DIRTY_LOG, KVMIO, 0x42, kvm_dirty_log);
        ioctl_iow_nr!(
            KVM_SET_USER_MEMORY_REGION,
            KVMIO,
            0x46,
            kvm_userspace_memory_region
        );
        ioctl_iow_nr!(KVM_X86_SET_MSR_FILTER, KVMIO, 0xc6, kvm_msr_filter);
        ioctl_iow_nr!(KVM_ENABLE_CAP, KVMIO, 0xa3, kvm_enable_cap);
        ioctl_io_nr!(KVM_RUN, KVMIO, 0x80);
        ioctl_ior_nr!(KVM_GET_REGS, KVMIO, 0x81, kvm_regs);
        ioctl_iow_nr!(KVM_SET_REGS, KVMIO, 0x82, kvm_regs);
        ioctl_ior_nr!(KVM_GET_SREGS, KVMIO, 0x83, kvm_sregs);
        ioctl_iow_nr!(KVM_SET_SREGS, KVMIO, 0x84, kvm_sregs);
        ioctl_iowr_nr!(KVM_GET_MSRS, KVMIO, 0x88, kvm_msrs);
        ioctl_iow_nr!(KVM_SET_MSRS, KVMIO, 0x89, kvm_msrs);
        ioctl_ior_nr!(KVM_GET_FPU, KVMIO, 0x8c, kvm_fpu);
        ioctl_iow_nr!(KVM_SET_FPU, KVMIO, 0x8d, kvm_fpu);
        ioctl_iow_nr!(KVM_SET_CPUID2, KVMIO, 0x90, kvm_cpuid2);
        ioctl_iow_nr!(KVM_SET_XCRS, KVMIO, 0xa7, kvm_xcrs);
        ioctl_ior_nr!(KVM_GET_XSAVE, KVMIO, 0xa4, kvm_xsave);
        ioctl_iow_nr!(KVM_SET_XSAVE, KVMIO, 0xa5, kvm_xsave);
        ioctl_ior_nr!(KVM_GET_VCPU_EVENTS, KVMIO, 0x9f, kvm_vcpu_events);
        ioctl_iow_nr!(KVM_SET_VCPU_EVENTS, KVMIO, 0xa0, kvm_vcpu_events);
    }

    #[test]
    fn numbers_match_the_kvm_ioctls_declarations() {
        use kvm_ioctls_decl as d;
        let pairs: [(u64, u64); 26] = [
            (KVM_GET_API_VERSION, d::KVM_GET_API_VERSION()),
            (KVM_CREATE_VM, d::KVM_CREATE_VM()),
            (KVM_CHECK_EXTENSION, d::KVM_CHECK_EXTENSION()),
            (KVM_GET_VCPU_MMAP_SIZE, d::KVM_GET_VCPU_MMAP_SIZE()),
            (KVM_GET_SUPPORTED_CPUID, d::KVM_GET_SUPPORTED_CPUID()),
            (KVM_CREATE_VCPU, d::KVM_CREATE_VCPU()),
            (KVM_SET_NR_MMU_PAGES, d::KVM_SET_NR_MMU_PAGES()),
            (KVM_GET_DIRTY_LOG, d::KVM_GET_DIRTY_LOG()),
            (KVM_SET_USER_MEMORY_REGION, d::KVM_SET_USER_MEMORY_REGION()),
            (KVM_X86_SET_MSR_FILTER, d::KVM_X86_SET_MSR_FILTER()),
            (KVM_ENABLE_CAP, d::KVM_ENABLE_CAP()),
            (KVM_RUN, d::KVM_RUN()),
            (KVM_GET_REGS, d::KVM_GET_REGS()),
            (KVM_SET_REGS, d::KVM_SET_REGS()),
            (KVM_GET_SREGS, d::KVM_GET_SREGS()),
            (KVM_SET_SREGS, d::KVM_SET_SREGS()),
            (KVM_GET_MSRS, d::KVM_GET_MSRS()),
            (KVM_SET_MSRS, d::KVM_SET_MSRS()),
            (KVM_GET_FPU, d::KVM_GET_FPU()),
            (KVM_SET_FPU, d::KVM_SET_FPU()),
            (KVM_SET_CPUID2, d::KVM_SET_CPUID2()),
            (KVM_SET_XCRS, d::KVM_SET_XCRS()),
            (KVM_GET_XSAVE, d::KVM_GET_XSAVE()),
            (KVM_SET_XSAVE, d::KVM_SET_XSAVE()),
            (KVM_GET_VCPU_EVENTS, d::KVM_GET_VCPU_EVENTS()),
            (KVM_SET_VCPU_EVENTS, d::KVM_SET_VCPU_EVENTS()),
        ];
        for (ours, theirs) in pairs {
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn numbers_match_the_linux_uapi_header() {
        // include/uapi/linux/kvm.h's macros as gcc expands them for x86-64: a
        // cross-check, not the source.
        let expected: [(u64, u64); 26] = [
            (KVM_GET_API_VERSION, 0xae00),
            (KVM_CREATE_VM, 0xae01),
            (KVM_CHECK_EXTENSION, 0xae03),
            (KVM_GET_VCPU_MMAP_SIZE, 0xae04),
            (KVM_GET_SUPPORTED_CPUID, 0xc008ae05),
            (KVM_CREATE_VCPU, 0xae41),
            (KVM_SET_NR_MMU_PAGES, 0xae44),
            (KVM_GET_DIRTY_LOG, 0x4010ae42),
            (KVM_SET_USER_MEMORY_REGION, 0x4020ae46),
            (KVM_X86_SET_MSR_FILTER, 0x4188aec6),
            (KVM_ENABLE_CAP, 0x4068aea3),
            (KVM_RUN, 0xae80),
            (KVM_GET_REGS, 0x8090ae81),
            (KVM_SET_REGS, 0x4090ae82),
            (KVM_GET_SREGS, 0x8138ae83),
            (KVM_SET_SREGS, 0x4138ae84),
            (KVM_GET_MSRS, 0xc008ae88),
            (KVM_SET_MSRS, 0x4008ae89),
            (KVM_GET_FPU, 0x81a0ae8c),
            (KVM_SET_FPU, 0x41a0ae8d),
            (KVM_SET_CPUID2, 0x4008ae90),
            (KVM_SET_XCRS, 0x4188aea7),
            (KVM_GET_XSAVE, 0x9000aea4),
            (KVM_SET_XSAVE, 0x5000aea5),
            (KVM_GET_VCPU_EVENTS, 0x8040ae9f),
            (KVM_SET_VCPU_EVENTS, 0x4040aea0),
        ];
        for (ours, uapi) in expected {
            assert_eq!(ours, uapi, "{ours:#x} != {uapi:#x}");
        }
    }

    #[test]
    fn run_time_and_setup_requests_are_disjoint_and_distinct() {
        let mut all: Vec<u64> = VCPU_RUN_IOCTLS
            .iter()
            .chain(SETUP_IOCTLS)
            .map(|&(_, n)| n)
            .collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
    }
}
