//! Resource limits from the policy, as host-side backstops behind the
//! emulation's own accounting. Soft and hard limits are set equal (never
//! above a lower limit the runner was started with), so they cannot be
//! raised again.

use crate::guest::layout::MAX_VCPUS;
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use sandbox_policy::Policy;

/// Descriptors the runner may open for itself while running, beyond those
/// it holds at lock-down and the guest's `open_files`: room for a transient
/// descriptor while the emulation opens or duplicates a file.
pub const RUNNER_SPARE_FDS: u64 = 8;

#[derive(Debug, thiserror::Error)]
#[error("cannot set {name} to {value}: {source}")]
pub struct RlimitError {
    name: &'static str,
    value: u64,
    #[source]
    source: rustix::io::Errno,
}

/// One limit to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub name: &'static str,
    pub resource: Resource,
    pub value: u64,
}

/// The smallest RLIMIT_FSIZE: room for the runner's `--stats` JSON.
pub const MIN_FSIZE: u64 = 1 << 20;

/// The limits for `policy`, given the highest descriptor the runner holds.
///
/// - RLIMIT_NOFILE: highest descriptor + 1 + `open_files` for each of
///   `processes` + one per vCPU the VM can have + one per System V shared
///   memory segment the sandbox can hold (a memfd each) + spare. Each guest
///   descriptor is at most one host descriptor, every process has a table
///   of its own, and each vCPU (one per host thread running guest threads,
///   `threads` per process, [`MAX_VCPUS`] in all) is a descriptor from
///   KVM_CREATE_VCPU.
/// - RLIMIT_FSIZE: `bytes_written`, but at least [`MIN_FSIZE`]; no file the
///   runner writes grows past it (SIGXFSZ is ignored, so such a write fails
///   with EFBIG). The emulation's write budget is the exact guard of
///   `bytes_written`; this is the kernel's backstop, with room for the
///   runner's own `--stats` file under a tiny budget.
/// - RLIMIT_CPU: `cpu_time` rounded up to whole seconds, when set; the
///   kernel kills the runner with SIGXCPU when it is used up.
/// - RLIMIT_CORE: 0; a crashing runner never writes guest memory to disk.
pub fn limits_for(policy: &Policy, highest_fd: u64) -> Vec<Limit> {
    let limits = &policy.limits;
    let guest_fds = u64::from(limits.open_files) * u64::from(limits.processes);
    let vcpus = (u64::from(limits.threads) * u64::from(limits.processes)).min(MAX_VCPUS);
    let mut out = vec![
        Limit {
            name: "RLIMIT_NOFILE",
            resource: Resource::Nofile,
            value: highest_fd
                + 1
                + guest_fds
                + vcpus
                + crate::kernel::sysv_ipc::MAX_SEGMENTS as u64
                + RUNNER_SPARE_FDS,
        },
        Limit {
            name: "RLIMIT_FSIZE",
            resource: Resource::Fsize,
            value: limits.bytes_written.max(MIN_FSIZE),
        },
        Limit {
            name: "RLIMIT_CORE",
            resource: Resource::Core,
            value: 0,
        },
    ];
    if let Some(cpu) = limits.cpu_time {
        let secs = cpu.as_secs() + u64::from(cpu.subsec_nanos() > 0);
        out.push(Limit {
            name: "RLIMIT_CPU",
            resource: Resource::Cpu,
            value: secs.max(1),
        });
    }
    out
}

/// Sets each limit (soft = hard = the lower of the value and the current
/// hard limit).
pub fn apply(limits: &[Limit]) -> Result<(), RlimitError> {
    for limit in limits {
        let value = getrlimit(limit.resource)
            .maximum
            .map_or(limit.value, |hard| hard.min(limit.value));
        setrlimit(
            limit.resource,
            Rlimit {
                current: Some(value),
                maximum: Some(value),
            },
        )
        .map_err(|source| RlimitError {
            name: limit.name,
            value,
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_policy() {
        let policy = Policy::from_str_named(
            "[limits]\nopen_files = 10\nthreads = 3\nprocesses = 2\nbytes_written = \"1MiB\"\ncpu_time = \"1500ms\"\n",
            "p.toml",
        )
        .expect("policy");
        let limits = limits_for(&policy, 7);
        let value = |name: &str| {
            limits
                .iter()
                .find(|l| l.name == name)
                .map(|l| l.value)
                .expect("limit present")
        };
        // Two processes' tables, six vCPUs and the System V segments.
        let segments = crate::kernel::sysv_ipc::MAX_SEGMENTS as u64;
        assert_eq!(
            value("RLIMIT_NOFILE"),
            8 + 2 * 10 + 6 + segments + RUNNER_SPARE_FDS
        );
        assert_eq!(value("RLIMIT_FSIZE"), 1 << 20);
        assert_eq!(value("RLIMIT_CPU"), 2);
        assert_eq!(value("RLIMIT_CORE"), 0);
        let default = limits_for(&Policy::default(), 3);
        assert!(default.iter().all(|l| l.name != "RLIMIT_CPU"));
        // 64 threads in each of 64 processes: the VM's 256 vCPUs bound it.
        let nofile = default.iter().find(|l| l.name == "RLIMIT_NOFILE");
        assert_eq!(
            nofile.map(|l| l.value),
            Some(4 + 64 * 64 + MAX_VCPUS + segments + RUNNER_SPARE_FDS)
        );
    }
}
