//! The entry point: an open `/dev/kvm`, its capabilities and its platform.

use crate::capabilities::Capabilities;
use crate::cpuid::GuestCpuid;
use crate::error::{KmodError, Result};
use crate::platform::Platform;
use crate::vm::Vm;
use kvm_ioctls::Kvm;

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
        let fd = self
            .kvm
            .create_vm()
            .map_err(|e| KmodError::ioctl("KVM_CREATE_VM", e))?;
        let cpuid = GuestCpuid::from_host(&self.kvm)?;
        let run_size = self
            .kvm
            .get_vcpu_mmap_size()
            .map_err(|e| KmodError::ioctl("KVM_GET_VCPU_MMAP_SIZE", e))?;
        Vm::new(fd, cpuid, self.caps.clone(), run_size)
    }
}
