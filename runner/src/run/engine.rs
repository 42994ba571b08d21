//! How guests run on this machine, decided once for every caller (`runner
//! exec`, the fuzzer, `runner info`): the syscall path the platform takes,
//! and whether the in-VM monitor is used.

use super::monitor_probe;
use super::syscall_path::{self, SyscallPath};
use crate::monitor::MonitorMode;
use thinvisor_kmod::Hypervisor;

/// The choice a run is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Engine {
    pub path: SyscallPath,
    pub monitor: bool,
}

impl Engine {
    /// The syscall path: known from the platform, else probed with a
    /// two-instruction guest.
    pub fn syscall_path(hv: &Hypervisor) -> Result<SyscallPath, String> {
        match SyscallPath::for_platform(hv.platform()) {
            Some(p) => Ok(p),
            None => syscall_path::probe(hv),
        }
    }

    /// The engine for `--monitor mode`, for a sandbox of at most `threads`
    /// threads (`limits.threads`) and `processes` processes
    /// (`limits.processes`). The monitor serves one vCPU of one program,
    /// so `auto` uses it only when the policy allows a single thread and a
    /// single process; a program run with `--monitor on` cannot start
    /// threads or processes (clone fails with EAGAIN, fork and execve with
    /// ENOSYS, each reported). Otherwise `auto` decides without the probe's two extra
    /// VM boots (about 5 ms) on known platforms; only an unknown backend is
    /// measured, and a failed measurement runs without the monitor (with a
    /// stderr line).
    pub fn choose(
        hv: &Hypervisor,
        mode: MonitorMode,
        threads: u32,
        processes: u32,
    ) -> Result<Engine, String> {
        let path = Engine::syscall_path(hv)
            .map_err(|e| format!("cannot determine the syscall path: {e}"))?;
        let monitor = match mode {
            MonitorMode::On => true,
            MonitorMode::Off => false,
            MonitorMode::Auto if threads > 1 || processes > 1 => false,
            MonitorMode::Auto => match monitor_probe::expected(hv.platform())
                .map(Ok)
                .unwrap_or_else(|| monitor_probe::decide(hv, path).map(|d| d.use_monitor))
            {
                Ok(use_it) => use_it,
                Err(e) => {
                    crate::say!("runner: monitor probe failed ({e}); running without the monitor");
                    false
                }
            },
        };
        Ok(Engine { path, monitor })
    }
}
