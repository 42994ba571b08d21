//! The CPUID the guest sees: the host's supported set, minus what the guest
//! must not see or the thin hypervisor cannot back.

use crate::error::{KmodError, Result};
use kvm_bindings::{CpuId, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::Kvm;

/// One feature bit hidden from the guest, with the reason.
struct Hidden {
    leaf: u32,
    register: Reg,
    bit: u32,
    /// Why it is hidden; data for readers and `runner info`.
    reason: &'static str,
}

#[derive(Clone, Copy)]
enum Reg {
    Ecx,
    Edx,
}

/// Feature bits cleared in every guest's CPUID, each with its reason.
const HIDDEN_FEATURES: &[Hidden] = &[
    Hidden {
        leaf: 1,
        register: Reg::Ecx,
        bit: 5,
        reason: "VMX: no nested virtualisation for untrusted code",
    },
    Hidden {
        leaf: 1,
        register: Reg::Ecx,
        bit: 6,
        reason: "SMX: no trusted-execution leaves",
    },
    Hidden {
        leaf: 1,
        register: Reg::Ecx,
        bit: 3,
        reason: "MONITOR/MWAIT: the guest has no use for idle states",
    },
    Hidden {
        leaf: 0x8000_0001,
        register: Reg::Ecx,
        bit: 2,
        reason: "SVM: no nested virtualisation for untrusted code",
    },
    Hidden {
        leaf: 1,
        register: Reg::Edx,
        bit: 9,
        reason: "APIC: the micro-VM has no interrupt controller",
    },
];

/// Leaves removed entirely: KVM's paravirtual interface (kvmclock, PV EOI, ...)
/// is host machinery the untrusted guest must not use.
const HIDDEN_LEAF_RANGE: std::ops::RangeInclusive<u32> = 0x4000_0000..=0x4000_00ff;

/// The hidden feature bits as (leaf, register name, bit, reason) rows.
pub fn hidden_features() -> impl Iterator<Item = (u32, &'static str, u32, &'static str)> {
    HIDDEN_FEATURES.iter().map(|h| {
        let reg = match h.register {
            Reg::Ecx => "ecx",
            Reg::Edx => "edx",
        };
        (h.leaf, reg, h.bit, h.reason)
    })
}

/// The filtered CPUID table handed to every vCPU of a VM.
#[derive(Clone)]
pub struct GuestCpuid {
    pub(crate) table: CpuId,
}

impl GuestCpuid {
    pub(crate) fn from_host(kvm: &Kvm) -> Result<GuestCpuid> {
        let host = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(|e| KmodError::ioctl("KVM_GET_SUPPORTED_CPUID", e))?;
        let mut entries: Vec<_> = host
            .as_slice()
            .iter()
            .filter(|e| !HIDDEN_LEAF_RANGE.contains(&e.function))
            .copied()
            .collect();
        for e in entries.iter_mut() {
            for h in HIDDEN_FEATURES.iter().filter(|h| h.leaf == e.function) {
                match h.register {
                    Reg::Ecx => e.ecx &= !(1 << h.bit),
                    Reg::Edx => e.edx &= !(1 << h.bit),
                }
            }
        }
        let table = CpuId::from_entries(&entries)
            .map_err(|_| KmodError::Filtered("CPUID table too large".into()))?;
        Ok(GuestCpuid { table })
    }

    /// Looks up a leaf/subleaf as the guest would see it: (eax, ebx, ecx, edx).
    pub fn query(&self, leaf: u32, subleaf: u32) -> Option<(u32, u32, u32, u32)> {
        self.table
            .as_slice()
            .iter()
            .find(|e| e.function == leaf && (e.index == subleaf || e.flags & 1 == 0))
            .map(|e| (e.eax, e.ebx, e.ecx, e.edx))
    }
}
