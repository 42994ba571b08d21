//! `runner fuzz`: the random-guest-code harness (docs/fuzzing.md).
//!
//! - `generate/`: programs from a seed: random bytes, random instruction
//!   sequences (iced-x86), mutations of the samples and hostile programs,
//!   concurrency programs (threads, futexes, signals);
//! - `executor`: one program in a fresh micro-VM, in this process;
//! - `canary`: memory the guest must never reach, checked after each run;
//! - `invariants`: what every run must keep (status, stats, limits);
//! - `resources`: the process's own memory, descriptors, threads, working
//!   directory;
//! - `locked`: some programs again as a locked-down `runner exec` child;
//! - `campaign`: job threads, the hang watchdog, progress;
//! - `report`: saved failures and reproducers;
//! - `targets` + `driver`: the parser-level targets (also cargo-fuzz's).

pub mod campaign;
pub mod canary;
pub mod driver;
pub mod executor;
pub mod generate;
pub mod invariants;
pub mod locked;
pub mod report;
pub mod resources;
pub mod rng;
pub mod targets;

use crate::cli::{FuzzArgs, FuzzGenerator, FuzzTarget};
use crate::exit_status::RUNNER_FAILED;
use campaign::{Campaign, Plan};
use executor::Settings;
use generate::{Kind, Mix};
use std::time::Duration;

/// Programs run when neither --iterations nor --duration is given.
const DEFAULT_ITERATIONS: u64 = 1000;

fn usage(msg: impl std::fmt::Display) -> i32 {
    eprintln!("runner: fuzz: {msg}");
    RUNNER_FAILED
}

/// Runs `runner fuzz`; returns its exit status.
pub fn main(args: FuzzArgs) -> i32 {
    let seed = args.seed.unwrap_or_else(|| {
        let mut b = [0u8; 8];
        crate::host::random_bytes(&mut b);
        u64::from_le_bytes(b) >> 1
    });
    let plan = match (args.iterations, args.duration) {
        (Some(n), _) => Plan::Iterations(n),
        (None, Some(d)) if d.is_finite() && d > 0.0 => Plan::Duration(Duration::from_secs_f64(d)),
        (None, Some(d)) => {
            return usage(format!(
                "--duration {d}: expected a positive number of seconds"
            ))
        }
        (None, None) => Plan::Iterations(DEFAULT_ITERATIONS),
    };
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout < 3600.0) {
        return usage(format!(
            "--timeout {}: expected seconds in (0, 3600)",
            args.timeout
        ));
    }
    let memory_limit = match sandbox_policy::parse_size(&args.memory) {
        Ok(m) if m >= 1 << 20 && m % 4096 == 0 && m <= 1 << 32 => m,
        _ => {
            return usage(format!(
                "--memory {}: expected a size from 1MiB to 4GiB, a multiple of 4KiB",
                args.memory
            ))
        }
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| 2 * std::thread::available_parallelism().map_or(1, |n| n.get()));
    if jobs == 0 || jobs > 256 {
        return usage(format!("--jobs {jobs}: expected 1 to 256"));
    }
    let settings = Settings {
        memory_limit,
        time_limit: Duration::from_secs_f64(args.timeout),
        fresh_vms: args.fresh_vms || args.replay.is_some(),
    };
    let out = report::absolute(&args.out);
    let scratch = std::env::temp_dir().join(format!("thinvisor-fuzz-{}", std::process::id()));
    if args.target != FuzzTarget::Vm {
        return driver::main(
            args.target,
            seed,
            plan,
            &out,
            args.replay.as_deref(),
            args.max_failures,
        );
    }
    if let Some(file) = &args.replay {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => return usage(format!("{}: {e}", file.display())),
        };
        let program = generate::Program {
            bytes,
            args: args.args.clone(),
            origin: format!("replay of {}", file.display()),
        };
        return campaign::replay(settings, &scratch, seed, program);
    }
    let mix = match args.generator {
        FuzzGenerator::All => Mix::All,
        FuzzGenerator::Bytes => Mix::Only(Kind::Bytes),
        FuzzGenerator::Instructions => Mix::Only(Kind::Instructions),
        FuzzGenerator::Mutations => Mix::Only(Kind::Mutations),
        FuzzGenerator::Concurrency => Mix::Only(Kind::Concurrency),
    };
    Campaign {
        seed,
        plan,
        mix,
        locked_every: args.locked_every,
        jobs,
        settings,
        max_failures: args.max_failures,
        out,
        scratch,
    }
    .run()
}
