//! The command line (see shared/design.md for the contract).

use crate::run::selftest::Probe;
use crate::run::ExecOptions;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Runs untrusted x86-64 programs inside a KVM micro-VM, every syscall
/// emulated and checked against a policy.
#[derive(Debug, Parser)]
#[command(name = "runner", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run PROGRAM (a flat binary or a static x86-64 ELF) in a micro-VM.
    ///
    /// Exit status: the guest's own; 128+N when it dies of signal N (page
    /// fault/#GP 139, #UD 132, divide error 136, breakpoint 133, time limit
    /// 137, policy kill 159); 125 when the runner fails; 126 when PROGRAM
    /// cannot be loaded; 127 when it does not exist.
    Exec {
        /// Run through the `runner serve` listening on SOCKET, in a VM it
        /// built ahead (faster start; same policy, sandbox and statuses).
        #[arg(long, value_name = "SOCKET")]
        server: Option<PathBuf>,
        #[command(flatten)]
        opts: ExecOptions,
    },
    /// Run PROGRAM contained, granting only inside the scopes named, and
    /// write a commented policy that allows exactly what the run used:
    /// files at the least access, network peers (with --net), the
    /// syscalls made, memory and time limits with headroom
    /// (docs/learn.md).
    ///
    /// Exit status: the program's (of the last run); 125 when learning
    /// failed and no policy was written.
    Learn(crate::learn::LearnArgs),
    /// Validate a policy file and print the effective policy.
    Check {
        /// The policy file.
        policy: PathBuf,
    },
    /// Print the platform (hardware KVM or kvm_pvm), capabilities, the
    /// syscall path and the measured cost of one exit round trip.
    Info,
    /// Test aid (hidden): set up and lock down exactly as `exec` does, then
    /// make one PROBE. Status 0 when the probe's operation succeeded, 1 when
    /// it was refused, 125 when setup failed; probes the seccomp filter
    /// stops end in SIGSYS. See docs/threat-model.md.
    #[command(name = "selftest-lockdown", hide = true)]
    SelftestLockdown {
        /// Policy file (TOML); without it the default policy applies.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// What to try once locked down.
        #[arg(value_enum)]
        probe: Probe,
        /// The path (open, create) or IP:port (connect) the probe uses.
        target: Option<String>,
    },
    /// Run generated guest programs, each in a fresh micro-VM, and check the
    /// runner's invariants on every run (see docs/fuzzing.md).
    ///
    /// Exit status: 0 when no program broke an invariant, 1 when one did
    /// (each failure is saved under --out with a one-line reproducer), 125 on
    /// bad arguments or when KVM is unusable.
    Fuzz(FuzzArgs),
    /// Keep VMs built ahead for `runner exec --server SOCKET`: each run
    /// then skips creating its VM, memory and vCPU, and its VM's teardown
    /// happens after the client has its status. Every run still gets a
    /// fresh VM and a worker process of its own, locked down for its
    /// policy. Runs until killed.
    Serve {
        /// The Unix socket to listen on (created mode 0600; a stale socket
        /// there is replaced, anything else is refused).
        #[arg(long, value_name = "PATH")]
        socket: PathBuf,
        /// VMs kept ready.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// The largest memory limit a ready VM serves (like the policy's
        /// `limits.memory`); a run with a larger limit builds its own VM.
        /// Default 256MiB; with --policy, the policy's limit.
        #[arg(long, value_name = "SIZE", value_parser = parse_memory, conflicts_with = "policy")]
        memory: Option<u64>,
        /// Serve runs of this policy only: each worker makes what the
        /// policy alone decides (its files opened, the engine chosen) and
        /// locks itself down for it before a request comes, so the
        /// lock-down is off the run's path. A request must name a policy
        /// file of the same content (or, for a default-policy server, none)
        /// and cannot use --trace, --verdict, --learn-record,
        /// --forward-signals or --monitor (docs/architecture.md, "Served
        /// runs").
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// Write `thinvisor-exec`, a small program that takes `runner exec`'s
    /// command line and starts in a fraction of the runner's time: a run
    /// with --server and the common options (--policy, --stats,
    /// --timeout, --syscalls, --cwd, --guest-path) it hands to the server
    /// itself; anything else it gives to `runner exec` ($THINVISOR_RUNNER,
    /// else the runner beside it). Same statuses and messages either way.
    /// Install it again when the runner is upgraded: the two speak the
    /// runner's own request format, which has no version.
    #[command(name = "install-client")]
    InstallClient {
        /// Where to write it (default: thinvisor-exec beside this runner).
        path: Option<PathBuf>,
    },
    /// Internal (hidden): removes a run's private trees once its stdin
    /// (the runner's pipe) closes (run/private_trees.rs).
    #[command(name = "remove-when-closed", hide = true)]
    RemoveWhenClosed { dirs: Vec<PathBuf> },
    /// The OCI runtime (as runc's command line; also run as
    /// `thinvisor-oci`, a link to this binary): see docs/kubernetes.md.
    #[command(disable_help_flag = true)]
    Oci {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Internal (hidden): an OCI container's process, started by
    /// `thinvisor-oci create` (src/oci/init.rs).
    #[command(name = "oci-init", hide = true)]
    OciInit { dir: PathBuf },
    /// Internal (hidden): one `runner serve` worker.
    #[command(name = "serve-worker", hide = true)]
    ServeWorker {
        #[arg(long)]
        memory_bytes: u64,
        #[arg(long)]
        server_pid: u32,
        #[arg(long)]
        policy: Option<PathBuf>,
    },
}

fn parse_memory(text: &str) -> Result<u64, String> {
    let why = |e: sandbox_policy::ScaleError| match e {
        sandbox_policy::ScaleError::Malformed => "expected a size such as 256MiB or 1GiB",
        sandbox_policy::ScaleError::NotWhole => "not a whole number of bytes",
        sandbox_policy::ScaleError::TooLarge => "too large",
    };
    match sandbox_policy::parse_size(text) {
        Ok(n) if n >= sandbox_policy::defaults::MIN_MEMORY_BYTES => Ok(n),
        Ok(_) => Err("below the smallest memory limit a policy accepts (1MiB)".into()),
        Err(e) => Err(why(e).into()),
    }
}

/// `runner fuzz` options.
#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// Seed of the campaign: the same seed gives the same programs (default:
    /// a random seed, printed first).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Number of programs to run (default 1000 without --duration).
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    pub iterations: Option<u64>,
    /// Run for this many seconds instead of a number of programs.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Programs run in parallel, one thread and one VM each (default: twice
    /// the number of CPUs, since many programs wait idle until their time
    /// limit).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Where failures are saved (program, seed, report).
    #[arg(long, value_name = "DIR", default_value = "fuzz-out")]
    pub out: PathBuf,
    /// Stop after this many failures (0: never stop early).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_failures: u64,
    /// Guest memory limit of each program.
    #[arg(long, value_name = "SIZE", default_value = "4MiB")]
    pub memory: String,
    /// Wall-clock limit of each program, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 0.2)]
    pub timeout: f64,
    /// What to fuzz: guest programs in micro-VMs, or one of the parsers of
    /// untrusted input (no KVM needed; the same functions as the cargo-fuzz
    /// targets in fuzz/).
    #[arg(long, value_enum, default_value_t = FuzzTarget::Vm)]
    pub target: FuzzTarget,
    /// Also run every Nth program as `runner exec` in a child process,
    /// locked down, and check how it ends (0: never).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub locked_every: u64,
    /// Build a new VM for every program instead of resetting the VM of the
    /// last clean single-vCPU run for the next (docs/fuzzing.md, "Reused
    /// VMs"). Replays always run in a new VM.
    #[arg(long)]
    pub fresh_vms: bool,
    /// Which generators guest programs come from: all of them, or one
    /// (the same seed then gives other programs).
    #[arg(long, value_enum, default_value_t = FuzzGenerator::All)]
    pub generator: FuzzGenerator,
    /// Run one saved program (a flat binary) through the harness's checks,
    /// print the report, and exit 0 only if it passes.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["iterations", "duration"])]
    pub replay: Option<PathBuf>,
    /// Arguments given to the --replay program.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        requires = "replay"
    )]
    pub args: Vec<String>,
}

/// Where `runner fuzz`'s guest programs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FuzzGenerator {
    /// Every generator, in the documented proportions.
    All,
    /// Random bytes.
    Bytes,
    /// Random instruction sequences.
    Instructions,
    /// Mutations of the sample and hostile programs.
    Mutations,
    /// Threads, futexes and signals.
    Concurrency,
}

/// What `runner fuzz` generates inputs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FuzzTarget {
    /// Guest programs, each run in a fresh micro-VM (needs /dev/kvm).
    Vm,
    /// The policy parser (sandbox_policy::Policy::from_str_named).
    Policy,
    /// The program loader (flat format and static ELF).
    Loader,
    /// The secure tunnel over a synthetic guest address space.
    Tunnel,
    /// Syscall argument decoding (iovec arrays, mmap/mprotect flags).
    SyscallArgs,
}
