//! What a run is asked to do: `runner exec`'s options, which a `runner
//! serve` client also sends its worker.

use crate::loader::Format;
use crate::monitor::MonitorMode;
use std::path::PathBuf;

/// Everything `runner exec` was asked to do (also what a `runner serve`
/// client sends its worker).
#[derive(Debug, Clone, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct ExecOptions {
    /// Policy file (TOML); without it a safe default applies.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Wall-clock limit in seconds (overrides the policy's wall_time).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    /// Write run statistics as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
    /// Program format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// The in-VM monitor, which answers getpid-style queries, clock
    /// reads, uname, brk, policy refusals and buffered stdout/stderr
    /// writes without leaving the VM (docs/monitor.md). auto: on where a
    /// measured probe finds it faster than an exit (see `runner info`).
    #[arg(long, value_enum, default_value_t = MonitorMode::Auto)]
    pub monitor: MonitorMode,
    /// 2 MiB guest pages for whole, aligned 2 MiB of anonymous memory,
    /// backed by host huge pages: far fewer page faults for programs that
    /// touch a lot of fresh memory. Never used together with the monitor
    /// (docs/architecture.md, "2 MiB pages").
    #[arg(long, value_enum, default_value_t = HugePages::On)]
    pub huge_pages: HugePages,
    /// How guest syscalls reach the runner. exit: each traps out of the
    /// VM. ring: a syscall site that trapped once is patched to post its
    /// calls in shared memory, where a runner thread spinning beside the
    /// guest answers them without an exit (docs/architecture.md,
    /// "Exitless syscalls"); calls that may wait still trap. auto: the
    /// ring on kvm_pvm (exits of 50-110 us) when the runner has a second
    /// CPU, exit on hardware KVM (exits of 1-3 us) and on one CPU. Not
    /// with the in-VM monitor (ring then gives way to it). Default: the
    /// policy's `syscalls.ring` (false: exit); THINVISOR_SYSCALLS sets it
    /// too (the test suite runs once with exit and once with ring).
    #[arg(long, value_enum, env = "THINVISOR_SYSCALLS")]
    #[serde(default)]
    pub syscalls: Option<crate::ring::SyscallMode>,
    /// Testing only: enter the monitor past its gate's first instruction
    /// (the entry marker); the monitor must refuse every entry (159).
    #[arg(long, hide = true)]
    pub monitor_test_skip_marker: bool,
    /// PROGRAM is a path in the sandbox's own file system (the policy's
    /// [[files]], e.g. a root tree's /bin/ls), looked up as execve looks
    /// up a program: under a rule with an -exec access, with an execute
    /// bit. Without it PROGRAM is a host path, which needs no rule.
    #[arg(long)]
    #[serde(default)]
    pub guest_path: bool,
    /// Pass SIGHUP, SIGINT, SIGQUIT, SIGTERM and SIGUSR1 sent to the
    /// runner on to the guest's first program (as a kill from outside the
    /// sandbox) instead of ending the run: a program that handles them
    /// shuts down its own way (the OCI runtime's containers do this). The
    /// time limit and SIGKILL still end the run.
    #[arg(long)]
    #[serde(default)]
    pub forward_signals: bool,
    /// With --forward-signals: the first program plays a container's init
    /// for them, as Linux treats a pid namespace's init. A forwarded signal
    /// it neither handles nor ignores is discarded instead of ending it;
    /// SIGKILL to the runner and the time limit still end the run.
    #[arg(long, requires = "forward_signals")]
    #[serde(default)]
    pub as_init: bool,
    /// One line per guest syscall, as strace writes them (decoded
    /// arguments, result, time), the signals delivered and how each
    /// process ended, to FILE or, without one, to stderr
    /// (docs/trace.md). Turns the in-VM monitor and the syscall ring off,
    /// so that every call is seen.
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true, default_missing_value = "-")]
    #[serde(default)]
    pub trace: Option<PathBuf>,
    /// How --trace writes: text (strace's lines) or json (one object per
    /// line).
    #[arg(long, value_enum, default_value_t = crate::trace::TraceFormat::Text)]
    #[serde(default)]
    pub trace_format: crate::trace::TraceFormat,
    /// Audit the run and write its verdict, "clean" or "suspicious" with
    /// the evidence, as JSON to FILE, and a summary line on stderr
    /// (docs/verdict.md). Turns the in-VM monitor and the syscall ring
    /// off, so that every call is seen. Containment is the same.
    #[arg(long, value_name = "FILE")]
    #[serde(default)]
    pub verdict: Option<PathBuf>,
    /// What the run used (files and how, network peers asked for), as
    /// JSON to FILE: `runner learn` runs `runner exec` with it. Turns the
    /// in-VM monitor and the syscall ring off, so that every call is seen.
    #[arg(long, value_name = "FILE", hide = true)]
    #[serde(default)]
    pub learn_record: Option<PathBuf>,
    /// The guest directory the program starts in (default `/`): a
    /// directory the policy's files show.
    #[arg(long, value_name = "DIR")]
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// The program to run.
    pub program: PathBuf,
    /// Arguments passed to the program.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `--huge-pages`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum HugePages {
    On,
    Off,
}
