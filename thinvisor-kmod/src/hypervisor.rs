//! The entry point: an open `/dev/kvm`, its capabilities and its platform.

use crate::capabilities::Capabilities;
use crate::cpuid::GuestCpuid;
use crate::error::{KmodError, Result};
use crate::platform::Platform;
use crate::vm::Vm;
use kvm_ioctls::Kvm;

/// How a VM is created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VmOptions {
    /// Keep each vCPU's local APIC in the kernel (KVM_CAP_SPLIT_IRQCHIP,
    /// no PIC or IOAPIC). KVM then creates and destroys a vCPU without
    /// patching its "vCPU without an APIC" static key, which costs every
    /// CPU an IPI: on kvm_pvm here, create + destroy drops from ~0.8 ms to
    /// ~0.45 ms (docs/benchmarks.md). The price: `HLT` at CPL0 no longer
    /// exits ([`crate::VmExit::Hlt`]); it waits in the kernel for an
    /// interrupt, and only the [`crate::Interrupter`] ends that wait. Use it
    /// for guests whose CPL0 code never halts.
    pub kernel_lapic: bool,
}

/// An open KVM system handle. Creating VMs is the only thing it does.
pub struct Hypervisor {
    kvm: Kvm,
    caps: Capabilities,
    platform: Platform,
}

impl Hypervisor {
    /// Opens `/dev/kvm`, checks the API version and the capabilities the
    /// thin hypervisor cannot work without.
    pub fn open() -> Result<Hypervisor> {
        let kvm = Kvm::new()
            .map_err(|e| KmodError::Open(std::io::Error::from_raw_os_error(e.errno())))?;
        let caps = Capabilities::read(&kvm);
        if caps.api_version != 12 {
            return Err(KmodError::ApiVersion(caps.api_version));
        }
        if !caps.user_memory {
            return Err(KmodError::MissingCapability("KVM_CAP_USER_MEMORY"));
        }
        if !caps.immediate_exit {
            return Err(KmodError::MissingCapability("KVM_CAP_IMMEDIATE_EXIT"));
        }
        Ok(Hypervisor {
            kvm,
            caps,
            platform: Platform::detect(),
        })
    }

    /// The host's capabilities.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The backend behind `/dev/kvm`.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// Creates an empty VM (no memory, no vCPU) with the filtered CPUID the
    /// guest will see.
    pub fn create_vm(&self) -> Result<Vm> {
        self.create_vm_with(VmOptions::default())
    }

    /// [`Hypervisor::create_vm`] with `options`.
    pub fn create_vm_with(&self, options: VmOptions) -> Result<Vm> {
        let fd = self
            .kvm
            .create_vm()
            .map_err(|e| KmodError::ioctl("KVM_CREATE_VM", e))?;
        if options.kernel_lapic {
            if !self.caps.split_irqchip {
                return Err(KmodError::MissingCapability("KVM_CAP_SPLIT_IRQCHIP"));
            }
            // args[0]: IOAPIC routes reserved for user space; there is none.
            let cap = kvm_bindings::kvm_enable_cap {
                cap: kvm_bindings::KVM_CAP_SPLIT_IRQCHIP,
                ..Default::default()
            };
            fd.enable_cap(&cap)
                .map_err(|e| KmodError::ioctl("KVM_ENABLE_CAP(SPLIT_IRQCHIP)", e))?;
        }
        let cpuid = GuestCpuid::from_host(&self.kvm)?;
        let run_size = self
            .kvm
            .get_vcpu_mmap_size()
            .map_err(|e| KmodError::ioctl("KVM_GET_VCPU_MMAP_SIZE", e))?;
        Vm::new(fd, cpuid, self.caps.clone(), run_size)
    }
}
