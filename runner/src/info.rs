//! `runner info`: the platform, its capabilities, the syscall path (probed),
//! and the measured cost of one syscall exit round trip. Its two guests run
//! with the runner locked down (default policy), like `exec`'s.

use crate::exec::stats::Stats;
use crate::exec::syscall_path::{self, SyscallPath};
use crate::exec::{run_loop, watchdog::Watchdog};
use crate::exit_status::RUNNER_FAILED;
use crate::guest::boot::{self, Guest, StartInfo};
use crate::guest::page_table::Prot;
use crate::loader::{Image, Segment};
use crate::lockdown;
use crate::syscalls::{fds::FdTable, ProcessState};
use sandbox_policy::Policy;
use std::time::{Duration, Instant};
use thinvisor_kmod::{cpuid, Hypervisor};

/// Syscalls in the calibration loop.
const CALIBRATION_SYSCALLS: u32 = 2000;

/// A flat guest making `n` getpid syscalls, then exit_group(0).
fn getpid_loop(n: u32) -> Vec<u8> {
    let mut code = vec![0x49, 0xc7, 0xc4]; // mov r12, imm32
    code.extend_from_slice(&n.to_le_bytes());
    code.extend_from_slice(&[0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0x49, 0xff, 0xcc, 0x75, 0xf4]);
    code.extend_from_slice(&[0xb8, 231, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]);
    code
}

/// The calibration guest: `n` getpid syscalls, then exit_group(0).
pub fn calibration_guest(hv: &Hypervisor, n: u32) -> Result<Guest, String> {
    let code = getpid_loop(n);
    let image = Image {
        segments: vec![Segment {
            vaddr: 0x40_0000,
            mem_size: code.len() as u64,
            data: code,
            prot: Prot::RX,
        }],
        entry: 0x40_0000,
        brk_start: 0x40_1000,
        auxv: Vec::new(),
    };
    let argv = [b"calibrate".to_vec()];
    boot::boot(
        hv,
        &image,
        &StartInfo {
            argv: &argv,
            envp: &[],
            memory_limit: 4 << 20,
        },
    )
    .map_err(|e| e.to_string())
}

/// Runs a calibration guest of `n` syscalls; returns (ns per syscall, stats).
pub fn measure_exit_cost(
    guest: &mut Guest,
    path: SyscallPath,
    n: u32,
) -> Result<(f64, Stats), String> {
    let mut state = ProcessState::new(FdTable::default());
    let mut stats = Stats::default();
    let dog = Watchdog::start(Duration::from_secs(30), guest.vcpu.interrupter());
    let t = Instant::now();
    let r = run_loop::run(guest, &mut state, path, &dog, 30.0, &mut stats)
        .map_err(|e| e.to_string())?;
    let elapsed = t.elapsed();
    match r {
        Ok(0) => {}
        other => return Err(format!("calibration guest ended with {other:?}")),
    }
    stats.vcpu_ioctls = guest.vcpu.counters().runs;
    Ok((elapsed.as_nanos() as f64 / f64::from(n + 1), stats))
}

/// Builds the probe and calibration guests, then locks the runner down
/// (default policy) before either runs: `info` runs guests too.
fn guests_locked_down(hv: &Hypervisor) -> Result<(Guest, Guest), String> {
    let probe =
        syscall_path::probe_guest(hv).map_err(|e| format!("syscall path probe failed: {e}"))?;
    let calibration = calibration_guest(hv, CALIBRATION_SYSCALLS)
        .map_err(|e| format!("exit cost calibration failed: {e}"))?;
    lockdown::lock_down(&Policy::default())
        .map_err(|e| format!("cannot lock down the runner: {e}"))?;
    Ok((probe, calibration))
}

pub fn info() -> i32 {
    let hv = match Hypervisor::open() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("runner: {e}");
            return RUNNER_FAILED;
        }
    };
    println!("platform: {}", hv.platform());
    let caps = hv.capabilities();
    println!("kvm api version: {}", caps.api_version);
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
    println!("capabilities: {}", present.join(" "));
    if !missing.is_empty() {
        println!("capabilities missing: {}", missing.join(" "));
    }
    println!("max vcpus: {}", caps.max_vcpus);
    let hidden: Vec<String> = cpuid::hidden_features()
        .map(|(leaf, reg, bit, _)| format!("{leaf:#x}.{reg}[{bit}]"))
        .collect();
    println!("cpuid hidden from guests: {}", hidden.join(" "));
    let expected = SyscallPath::for_platform(hv.platform());
    let (mut probe, mut calibration) = match guests_locked_down(&hv) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("runner: {e}");
            return RUNNER_FAILED;
        }
    };
    let path = match syscall_path::run_probe(&mut probe) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("runner: syscall path probe failed: {e}");
            return RUNNER_FAILED;
        }
    };
    let agreement = match expected {
        Some(e) if e == path => "(probed; matches the platform)",
        Some(_) => "(probed; DIFFERS from what the platform suggests)",
        None => "(probed)",
    };
    println!("syscall path: {path} {agreement}");
    match measure_exit_cost(&mut calibration, path, CALIBRATION_SYSCALLS) {
        Ok((ns, stats)) => {
            let per = |v: u64| v as f64 / f64::from(CALIBRATION_SYSCALLS + 1);
            println!(
                "exit round trip: {:.1} us per syscall ({:.2} exits and {:.2} vCPU ioctls per syscall, {} syscalls)",
                ns / 1000.0,
                per(stats.exits),
                per(stats.vcpu_ioctls),
                CALIBRATION_SYSCALLS + 1
            );
            0
        }
        Err(e) => {
            eprintln!("runner: exit cost calibration failed: {e}");
            RUNNER_FAILED
        }
    }
}
