//! `runner info`: the platform, its capabilities, the syscall path (probed),
//! and the measured cost of one syscall: by exit, answered by the in-VM
//! monitor, and answered in the syscall ring (`--syscalls ring`).

use crate::exit_status::RUNNER_FAILED;
use crate::guest::layout;
use crate::run::monitor_probe;
use crate::run::stats::Stats;
use crate::run::syscall_path::{self, SyscallPath};
use thinvisor_kmod::{cpuid, Hypervisor};

/// getpid calls in the calibration loop (plus a warm-up getpid, a mark and
/// exit_group: three more syscalls).
const CALIBRATION_SYSCALLS: u32 = 2000;

/// Measures syscall round trips through exits; returns (ns per syscall, stats).
pub fn measure_exit_cost(
    hv: &Hypervisor,
    path: SyscallPath,
    n: u32,
) -> Result<(f64, Stats), String> {
    let c = monitor_probe::measure(hv, path, n, false)?;
    Ok((c.ns_per_syscall, c.stats))
}

/// Whether the guest's CPUID offers last-branch records: architectural LBR
/// (leaf 7 EDX[19]), AMD's LbrExtV2 (leaf 0x80000022 EAX[1]), or the
/// perf-capabilities MSR that enumerates model-specific LBR (leaf 1
/// ECX[15], PDCM). The runner's MSR filter denies DEBUGCTL and the LBR
/// MSRs in every case, so the monitor cannot use them (docs/monitor.md).
fn lbr_line(hv: &Hypervisor) -> String {
    let Ok(vm) = hv.create_vm() else {
        return "unknown (no VM)".into();
    };
    let c = vm.cpuid();
    let arch = c
        .query(7, 0)
        .is_some_and(|(_, _, _, edx)| edx & (1 << 19) != 0);
    let amd = c
        .query(0x8000_0022, 0)
        .is_some_and(|(eax, _, _, _)| eax & (1 << 1) != 0);
    let pdcm = c
        .query(1, 0)
        .is_some_and(|(_, _, ecx, _)| ecx & (1 << 15) != 0);
    let offered: Vec<&str> = [(arch, "arch LBR"), (amd, "LbrExtV2"), (pdcm, "PDCM")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
    if offered.is_empty() {
        "not offered to the guest (no arch LBR, LbrExtV2 or PDCM in its CPUID); entries are checked by gate marker and frame only".into()
    } else {
        format!(
            "CPUID shows {}, but the MSR filter denies DEBUGCTL/LBR MSRs: not used; entries are checked by gate marker and frame only",
            offered.join(", ")
        )
    }
}

pub fn info() -> i32 {
    let hv = match Hypervisor::open() {
        Ok(h) => h,
        Err(e) => {
            crate::say!("runner: {e}");
            return RUNNER_FAILED;
        }
    };
    crate::out!("platform: {}", hv.platform());
    let caps = hv.capabilities();
    crate::out!("kvm api version: {}", caps.api_version);
    let present: Vec<&str> = caps
        .rows()
        .into_iter()
        .filter(|r| r.1)
        .map(|r| r.0)
        .collect();
    let missing: Vec<&str> = caps
        .rows()
        .into_iter()
        .filter(|r| !r.1)
        .map(|r| r.0)
        .collect();
    crate::out!("capabilities: {}", present.join(" "));
    if !missing.is_empty() {
        crate::out!("capabilities missing: {}", missing.join(" "));
    }
    crate::out!("max vcpus: {}", caps.max_vcpus);
    let hidden: Vec<String> = cpuid::hidden_features()
        .map(|(leaf, reg, bit, _)| format!("{leaf:#x}.{reg}[{bit}]"))
        .collect();
    if hv.platform().is_hardware() {
        crate::out!("cpuid hidden from guests: {}", hidden.join(" "));
    } else {
        // CPL3 CPUID runs natively on kvm_pvm: the filter cannot apply.
        crate::out!(
            "cpuid hidden from guests: none on this platform (kvm_pvm runs CPL3 CPUID natively; on hardware KVM: {})",
            hidden.join(" ")
        );
    }
    let expected = SyscallPath::for_platform(hv.platform());
    let path = match syscall_path::probe(&hv) {
        Ok(p) => p,
        Err(e) => {
            crate::say!("runner: syscall path probe failed: {e}");
            return RUNNER_FAILED;
        }
    };
    let agreement = match expected {
        Some(e) if e == path => "(probed; matches the platform)",
        Some(_) => "(probed; DIFFERS from what the platform suggests)",
        None => "(probed)",
    };
    crate::out!("syscall path: {path} {agreement}");
    match measure_exit_cost(&hv, path, CALIBRATION_SYSCALLS) {
        Ok((ns, stats)) => {
            let per = |v: u64| v as f64 / f64::from(CALIBRATION_SYSCALLS + 3);
            crate::out!(
                "exit round trip: {:.1} us per syscall ({:.2} exits and {:.2} vCPU ioctls per syscall, {} syscalls)",
                ns / 1000.0,
                per(stats.exits),
                per(stats.vcpu_ioctls),
                CALIBRATION_SYSCALLS + 3
            );
        }
        Err(e) => {
            crate::say!("runner: exit cost calibration failed: {e}");
            return RUNNER_FAILED;
        }
    }
    match monitor_probe::measure(&hv, path, CALIBRATION_SYSCALLS, true) {
        Ok(c) => {
            let per = |v: u64| v as f64 / f64::from(CALIBRATION_SYSCALLS + 3);
            crate::out!(
                "monitor round trip: {:.1} us per in-VM getpid ({:.4} exits per syscall, {} syscalls, {} answered in the VM)",
                c.ns_per_syscall / 1000.0,
                per(c.stats.exits),
                CALIBRATION_SYSCALLS + 3,
                c.stats.syscalls_in_vm
            );
        }
        Err(e) => {
            crate::say!("runner: monitor calibration failed: {e}");
            return RUNNER_FAILED;
        }
    }
    match monitor_probe::measure_ring(&hv, path, CALIBRATION_SYSCALLS) {
        Ok(c) => {
            let per = |v: u64| v as f64 / f64::from(CALIBRATION_SYSCALLS + 3);
            crate::out!(
                "ring round trip: {:.2} us per getpid with --syscalls ring ({:.4} exits per syscall, {} syscalls, {} answered in the ring, {} sites patched)",
                c.ns_per_syscall / 1000.0,
                per(c.stats.exits),
                CALIBRATION_SYSCALLS + 3,
                c.stats.ring_calls,
                c.stats.ring_sites
            );
        }
        Err(e) => {
            crate::say!("runner: ring calibration failed: {e}");
            return RUNNER_FAILED;
        }
    }
    match monitor_probe::decide(&hv, path) {
        Ok(d) => {
            let agreement = match monitor_probe::expected(hv.platform()) {
                Some(e) if e == d.use_monitor => {
                    "; --monitor auto picks the same for this platform"
                }
                Some(_) => "; DIFFERS from what --monitor auto picks for this platform",
                None => "; --monitor auto measures on this platform",
            };
            crate::out!("monitor: {d}{agreement}");
        }
        Err(e) => {
            crate::say!("runner: monitor probe failed: {e}");
            return RUNNER_FAILED;
        }
    }
    crate::out!(
        "monitor layout: gates {:#x}, hidden region {:#x} (code), {:#x} (data), {:#x} (stack)",
        layout::GATE_VA,
        layout::MONITOR_CODE_VA,
        layout::MONITOR_DATA_VA,
        layout::MONITOR_STACK_VA
    );
    crate::out!("last-branch records: {}", lbr_line(&hv));
    0
}
