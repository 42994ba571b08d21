//! The measured probe behind `--monitor auto` and `runner info`: run a loop
//! of getpid once through the exit path and once answered by the in-VM
//! monitor, and compare the cost per call. On hardware KVM the monitor runs
//! at native speed; on kvm_pvm its CPL0 code is emulated (about 1 us per
//! instruction), so the answer differs by platform and is measured rather
//! than assumed. The decision is taken once per process.

use crate::kernel::{fds::FdTable, Objects};
use crate::monitor::MonitorBoot;
use crate::run::boot::{self, Guest, StartInfo};
use crate::run::stats::Stats;
use crate::run::syscall_path::SyscallPath;
use crate::run::{deadline::Deadline, run_loop};
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use thinvisor_kmod::Hypervisor;

/// getpid calls per path in the auto probe.
pub const PROBE_SYSCALLS: u32 = 16;

/// A flat guest: one getpid (warms whichever path getpid takes), one
/// set_tid_address(0) (always answered by the runner: the timing mark),
/// then `n` getpid syscalls, then exit_group(0).
pub fn getpid_loop(n: u32) -> Vec<u8> {
    // mov eax, 39; syscall; mov eax, 218; xor edi, edi; syscall
    let mut code = vec![0xb8, 39, 0, 0, 0, 0x0f, 0x05];
    code.extend_from_slice(&[0xb8, 218, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]);
    code.extend_from_slice(&[0x49, 0xc7, 0xc4]); // mov r12, imm32
    code.extend_from_slice(&n.to_le_bytes());
    // 1: mov eax, 39; syscall; dec r12; jnz 1b
    code.extend_from_slice(&[0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0x49, 0xff, 0xcc, 0x75, 0xf4]);
    // mov eax, 231; xor edi, edi; syscall
    code.extend_from_slice(&[0xb8, 231, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]);
    code
}

/// One calibration run.
#[derive(Debug)]
pub struct Calibration {
    /// Wall time from the first exit to the end of the run, divided by the
    /// syscalls in it: boot, first entry and page warm-up are left out.
    pub ns_per_syscall: f64,
    pub stats: Stats,
}

/// A guest running [`getpid_loop`]`(n)` (4 MiB), with or without the monitor.
fn build_guest(hv: &Hypervisor, n: u32, monitor: Option<MonitorBoot>) -> Result<Guest, String> {
    let image = crate::loader::flat::built_in(getpid_loop(n));
    let argv = [b"calibrate".to_vec()];
    let start = StartInfo {
        argv: &argv,
        envp: &[],
        memory_limit: 4 << 20,
        monitor,
        vdso: false,
        huge_pages: false,
        identity: crate::kernel::process::GUEST_IDENTITY,
    };
    boot::boot(hv, &image, &start).map_err(|e| e.to_string())
}

/// The calibration guest without the monitor (the lock-down selftest runs
/// it after locking down, to show a locked-down runner still runs guests).
pub fn calibration_guest(hv: &Hypervisor, n: u32) -> Result<Guest, String> {
    build_guest(hv, n, None)
}

/// Runs `n` getpid calls through `path`, with or without the monitor.
pub fn measure(
    hv: &Hypervisor,
    path: SyscallPath,
    n: u32,
    monitor: bool,
) -> Result<Calibration, String> {
    measure_with(hv, path, n, monitor, false)
}

/// Runs `n` getpid calls with the syscall ring (`--syscalls ring`): the
/// loop's site traps once, is patched, and the rest are answered in the
/// ring while its server is awake.
pub fn measure_ring(hv: &Hypervisor, path: SyscallPath, n: u32) -> Result<Calibration, String> {
    measure_with(hv, path, n, false, true)
}

fn measure_with(
    hv: &Hypervisor,
    path: SyscallPath,
    n: u32,
    monitor: bool,
    ring: bool,
) -> Result<Calibration, String> {
    let boot = monitor.then_some(MonitorBoot {
        pf_path: path == SyscallPath::PageFaultFrame,
        skip_marker: false,
    });
    let Guest {
        mut machine,
        vcpu,
        aspace,
    } = build_guest(hv, n, boot)?;
    let mut objects = Objects::new(FdTable::default(), aspace, vcpu);
    if let Some(m) = machine.monitor.as_mut() {
        let mem = machine
            .vm
            .memory_mut(machine.slot)
            .map_err(|e| e.to_string())?;
        m.configure(
            mem,
            &objects.process.mm,
            &objects.kernel,
            &mut objects.process.fds,
            &objects.process.identity,
        )
        .map_err(|e| e.to_string())?;
    }
    let mut stats = Stats::default();
    if ring {
        objects.kernel.syscall_mode = crate::ring::SyscallMode::Ring;
        objects
            .thread
            .vcpu
            .run_remotely()
            .map_err(|e| e.to_string())?;
    }
    let deadline =
        Deadline::arm(&objects.thread.vcpu, Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let r = run_loop::run(
        &mut machine,
        &mut objects,
        path,
        &deadline,
        30.0,
        &mut stats,
    )
    .map_err(|e| e.to_string())?;
    let end = Instant::now();
    match r {
        Ok(0) => {}
        other => return Err(format!("calibration guest ended with {other:?}")),
    }
    stats.vcpu_ioctls = objects.thread.vcpu.counters().runs;
    if let Some(m) = machine.monitor.as_ref() {
        let mem = machine.vm.memory(machine.slot).map_err(|e| e.to_string())?;
        stats.syscalls_in_vm = m.totals(mem).map_err(|e| e.to_string())?.in_vm;
    }
    // Time from the first exit to the end. With the monitor the first exit
    // is the mark (set_tid_address) and n getpid + exit_group follow; without
    // it the warm-up getpid exits first, and set_tid_address, n getpid and
    // exit_group follow. Either way the warm-up (first entry, page faults on
    // the path's pages) is left out.
    let mark = stats
        .first_exit
        .ok_or_else(|| "calibration guest never exited".to_string())?;
    let elapsed = end.duration_since(mark);
    let calls = if monitor { n + 1 } else { n + 2 };
    Ok(Calibration {
        ns_per_syscall: elapsed.as_nanos() as f64 / f64::from(calls),
        stats,
    })
}

/// What `--monitor auto` chose, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub use_monitor: bool,
    /// ns per getpid answered by the monitor.
    pub in_vm_ns: f64,
    /// ns per getpid through an exit to the runner.
    pub exit_ns: f64,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (in-VM getpid {:.1} us vs exit {:.1} us)",
            if self.use_monitor { "on" } else { "off" },
            self.in_vm_ns / 1000.0,
            self.exit_ns / 1000.0
        )
    }
}

/// What `--monitor auto` picks without measuring, where the platform says
/// how the monitor's CPL0 code runs: natively on hardware KVM (the monitor
/// wins: 4.4x cheaper than an exit even under emulated AMD-V), emulated
/// instruction by instruction on kvm_pvm (it loses: about 2x dearer). None
/// for an unknown backend, which is measured with [`decide`]. `runner info`
/// runs the probe and reports whether it agrees (docs/monitor.md).
pub fn expected(platform: thinvisor_kmod::Platform) -> Option<bool> {
    use thinvisor_kmod::Platform;
    match platform {
        Platform::HardwareSvm | Platform::HardwareVmx => Some(true),
        Platform::Pvm => Some(false),
        Platform::Unknown => None,
    }
}

/// Measures both paths and picks the faster (the monitor only when it is
/// strictly faster). Cached: the probe runs at most once per process.
pub fn decide(hv: &Hypervisor, path: SyscallPath) -> Result<Decision, String> {
    static DECISION: OnceLock<Result<Decision, String>> = OnceLock::new();
    DECISION
        .get_or_init(|| {
            let exit = measure(hv, path, PROBE_SYSCALLS, false)?;
            let in_vm = measure(hv, path, PROBE_SYSCALLS, true)?;
            if in_vm.stats.syscalls_in_vm < u64::from(PROBE_SYSCALLS) {
                return Err(format!(
                    "the monitor answered {} of {PROBE_SYSCALLS} probe calls",
                    in_vm.stats.syscalls_in_vm
                ));
            }
            Ok(Decision {
                use_monitor: in_vm.ns_per_syscall < exit.ns_per_syscall,
                in_vm_ns: in_vm.ns_per_syscall,
                exit_ns: exit.ns_per_syscall,
            })
        })
        .clone()
}
