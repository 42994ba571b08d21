//! Which kind of KVM backs `/dev/kvm`: hardware (VT-x / AMD-V) or kvm_pvm.

use std::fmt;
use std::path::Path;

/// The virtualisation backend behind `/dev/kvm`. It decides how a guest's
/// `SYSCALL` reaches the host (see `docs/platforms.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Intel VT-x (kvm_intel): CPL0 guest code runs natively.
    HardwareVmx,
    /// AMD-V (kvm_amd): CPL0 guest code runs natively.
    HardwareSvm,
    /// kvm_pvm, a paging-based software hypervisor: CPL3 native, CPL0
    /// emulated, `SYSCALL` does not switch privilege.
    Pvm,
    /// Some other backend; treated like hardware KVM.
    Unknown,
}

impl Platform {
    /// Detects the backend from the loaded KVM modules.
    pub fn detect() -> Platform {
        Self::detect_in(Path::new("/sys/module"))
    }

    /// Detection against a given sysfs module directory (for tests).
    pub fn detect_in(modules: &Path) -> Platform {
        if modules.join("kvm_pvm").exists() {
            Platform::Pvm
        } else if modules.join("kvm_amd").exists() {
            Platform::HardwareSvm
        } else if modules.join("kvm_intel").exists() {
            Platform::HardwareVmx
        } else {
            Platform::Unknown
        }
    }

    /// True when guest supervisor code runs natively.
    pub fn is_hardware(self) -> bool {
        !matches!(self, Platform::Pvm)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::HardwareVmx => "hardware KVM (VT-x)",
            Platform::HardwareSvm => "hardware KVM (AMD-V)",
            Platform::Pvm => "kvm_pvm (software, paging-based)",
            Platform::Unknown => "KVM (unknown backend, treated as hardware)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_module() {
        let dir = std::env::temp_dir().join(format!("tv-platform-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("tmp dir");
        assert_eq!(Platform::detect_in(&dir), Platform::Unknown);
        std::fs::create_dir(dir.join("kvm_intel")).expect("mkdir");
        assert_eq!(Platform::detect_in(&dir), Platform::HardwareVmx);
        std::fs::create_dir(dir.join("kvm_amd")).expect("mkdir");
        assert_eq!(Platform::detect_in(&dir), Platform::HardwareSvm);
        std::fs::create_dir(dir.join("kvm_pvm")).expect("mkdir");
        assert_eq!(Platform::detect_in(&dir), Platform::Pvm);
        assert!(!Platform::Pvm.is_hardware());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
