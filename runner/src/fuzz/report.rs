//! Reporting: failures saved under `--out` (the program, a policy with the
//! campaign's limits, and a text report with the seed, the generator and
//! every broken invariant), one-line reproducers, progress lines, and the
//! final summary.

use super::executor::{Ending, Execution, Settings, VmCounts};
use super::generate::Program;
use super::invariants::Violation;
use crate::syscalls::table::Status;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// At most this many failures are written to disk (all are counted).
const MAX_SAVED: u64 = 100;

/// A failed program (or a campaign-wide failure, without one).
#[derive(Debug)]
pub struct Failure {
    pub index: Option<u64>,
    pub program: Option<Program>,
    pub violations: Vec<Violation>,
    /// What the run looked like, for the report.
    pub summary: String,
}

impl Failure {
    pub fn of_run(
        index: u64,
        program: Program,
        e: &Execution,
        violations: Vec<Violation>,
    ) -> Failure {
        Failure {
            index: Some(index),
            program: Some(program),
            violations,
            summary: describe(e),
        }
    }
}

/// A run in a few lines: status, ending, statistics.
pub fn describe(e: &Execution) -> String {
    let ending = match &e.ending {
        Ending::Exited(c) => format!("exited with {c}"),
        Ending::Killed(d) => format!("runner: {d}"),
        Ending::NotLoaded(w) => format!("not loaded: {w}"),
        Ending::RunnerFailed(w) => format!("runner failed: {w}"),
    };
    let stats = serde_json::to_string(&e.stats).unwrap_or_default();
    let vm = match e.vm_reused {
        0 => "a new VM".to_string(),
        n => format!(
            "a VM reset after {n} earlier programs (a replay runs in a new one; \
             --fresh-vms runs every program in a new one)"
        ),
    };
    format!(
        "status: {}\nending: {ending}\nelapsed: {:?}\nvm: {vm}\nstats: {stats}\n",
        e.status, e.elapsed
    )
}

/// Writes failures and prints what to run to reproduce them.
pub struct Reporter {
    out: PathBuf,
    seed: u64,
    settings: Settings,
    saved: u64,
    /// The `runner` command as invoked (argv[0]).
    runner: String,
}

impl Reporter {
    pub fn new(out: PathBuf, seed: u64, settings: Settings) -> Reporter {
        let runner = std::env::args().next().unwrap_or_else(|| "runner".into());
        Reporter {
            out,
            seed,
            settings,
            saved: 0,
            runner,
        }
    }

    fn policy(&self) -> String {
        format!(
            "# The limits `runner fuzz` ran this program under.\n[limits]\nmemory = \"{}\"\nwall_time = \"{}\"\n",
            sandbox_policy::format_size(self.settings.memory_limit),
            sandbox_policy::format_duration(self.settings.time_limit)
        )
    }

    /// Saves `f` (if under the cap) and prints its one-line reproducer.
    pub fn record(&mut self, f: &Failure) {
        let kinds: Vec<&str> = f.violations.iter().map(|v| v.kind).collect();
        let what = match f.index {
            Some(i) => format!("program {i}"),
            None => "campaign".into(),
        };
        eprintln!("fuzz: FAIL {what}: {}", kinds.join(", "));
        for v in &f.violations {
            eprintln!("fuzz:   {}: {}", v.kind, v.detail);
        }
        if self.saved >= MAX_SAVED {
            return;
        }
        match self.save(f) {
            Ok(Some((bin, policy))) => {
                let args: Vec<String> = f
                    .program
                    .as_ref()
                    .map(|p| p.args.iter().map(|a| shell_quote(a)).collect())
                    .unwrap_or_default();
                // `auto` takes the ring only on kvm_pvm with two CPUs: a
                // program fuzzed with the ring's late start reproduces
                // there.
                let syscalls = f.program.as_ref().map_or("exit", |p| p.syscalls_flag());
                let mut line = format!(
                    "{} exec --format flat{} --policy {} {}",
                    self.runner,
                    if syscalls == "exit" {
                        String::new()
                    } else {
                        format!(" --syscalls {syscalls}")
                    },
                    policy.display(),
                    bin.display()
                );
                for a in args {
                    line.push(' ');
                    line.push_str(&a);
                }
                let stdin = self.out.join(format!("stdin-{}.bin", self.seed));
                line.push_str(&format!(" < {}", stdin.display()));
                eprintln!("fuzz:   reproduce: {line}");
            }
            Ok(None) => {}
            Err(e) => eprintln!(
                "fuzz:   cannot save the failure under {}: {e}",
                self.out.display()
            ),
        }
        self.saved += 1;
    }

    /// Writes `<stem>.bin`, `<stem>.toml`, `<stem>.txt`; returns the paths
    /// of the program and the policy (None without a program).
    fn save(&self, f: &Failure) -> std::io::Result<Option<(PathBuf, PathBuf)>> {
        std::fs::create_dir_all(&self.out)?;
        let stem = match f.index {
            Some(i) => format!("fail-{}-{i}", self.seed),
            None => format!("fail-{}-campaign", self.seed),
        };
        let mut report = String::new();
        let _ = writeln!(report, "seed: {}", self.seed);
        if let Some(i) = f.index {
            let _ = writeln!(report, "program: {i}");
        }
        let _ = writeln!(
            report,
            "limits: memory {} bytes, time {:?}",
            self.settings.memory_limit, self.settings.time_limit
        );
        if let Some(p) = &f.program {
            let _ = writeln!(report, "generator: {}", p.origin);
            let _ = writeln!(report, "args: {:?}", p.args);
        }
        for v in &f.violations {
            let _ = writeln!(report, "violation: {}: {}", v.kind, v.detail);
        }
        report.push_str(&f.summary);
        if let Some(p) = &f.program {
            let mut line = format!(
                "replay with the harness's checks: runner fuzz --seed {} --memory {} --timeout {} --replay {stem}.bin",
                self.seed,
                sandbox_policy::format_size(self.settings.memory_limit),
                self.settings.time_limit.as_secs_f64(),
            );
            for a in &p.args {
                line.push(' ');
                line.push_str(&shell_quote(a));
            }
            let _ = writeln!(report, "{line}");
        }
        std::fs::write(self.out.join(format!("{stem}.txt")), report)?;
        let Some(p) = &f.program else {
            return Ok(None);
        };
        let bin = self.out.join(format!("{stem}.bin"));
        let policy = self.out.join(format!("{stem}.toml"));
        let stdin = self.out.join(format!("stdin-{}.bin", self.seed));
        if !stdin.exists() {
            std::fs::write(&stdin, super::campaign::stdin_bytes(self.seed))?;
        }
        std::fs::write(&bin, &p.bytes)?;
        std::fs::write(&policy, self.policy())?;
        Ok(Some((bin, policy)))
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// What the campaign's programs did, printed at the end: how runs ended,
/// and how many syscalls reached the emulation (a measure of how deep the
/// generated programs get).
#[derive(Debug, Default)]
pub struct Summary {
    endings: BTreeMap<String, u64>,
    with_syscalls: u64,
    syscalls: BTreeMap<String, u64>,
    programs: u64,
    /// Programs that got 2 MiB pages, and what those pages went through.
    with_huge_pages: u64,
    huge_pages: HugeTotals,
    /// Programs that ran more than one vCPU (threads), the vCPUs of all
    /// runs, and the most in one run.
    threaded: u64,
    vcpus: u64,
    most_vcpus: u64,
    ring: RingTotals,
    vms: VmCounts,
}

/// What the syscall ring did over the campaign.
#[derive(Debug, Default)]
struct RingTotals {
    programs: u64,
    with_sites: u64,
    sites: u64,
    calls: u64,
    trapped: u64,
}

#[derive(Debug, Default)]
struct HugeTotals {
    mapped: u64,
    split: u64,
    root_switches: u64,
}

impl Summary {
    pub fn add(&mut self, e: &Execution) {
        self.programs += 1;
        let ending = match &e.ending {
            Ending::Exited(0) => "exit 0".to_string(),
            Ending::Exited(_) => "exit 1-255".to_string(),
            Ending::Killed(d) => {
                let line = d.to_string();
                let name = line.split_whitespace().nth(3).unwrap_or("signal");
                name.to_string()
            }
            Ending::NotLoaded(_) => "not loaded".to_string(),
            Ending::RunnerFailed(_) => "runner failed".to_string(),
        };
        *self.endings.entry(ending).or_default() += 1;
        // Emulated and refused syscalls by name, the unsupported together.
        let known = crate::syscalls::table::TABLE
            .iter()
            .filter(|t| !matches!(t.status, Status::Unsupported { .. }))
            .map(|t| t.name);
        let mut any = false;
        for (name, n) in &e.stats.syscalls {
            any = true;
            let key = if known.clone().any(|t| t == name) {
                name.as_str()
            } else {
                "(unsupported)"
            };
            *self.syscalls.entry(key.to_string()).or_default() += n;
        }
        self.with_syscalls += u64::from(any);
        self.with_huge_pages += u64::from(e.stats.huge_pages_mapped > 0);
        self.huge_pages.mapped += e.stats.huge_pages_mapped;
        self.huge_pages.split += e.stats.huge_pages_split;
        self.huge_pages.root_switches += e.stats.page_table_root_switches;
        self.threaded += u64::from(e.stats.vcpus > 1);
        self.vcpus += e.stats.vcpus;
        self.most_vcpus = self.most_vcpus.max(e.stats.vcpus);
        let s = &e.stats;
        if s.syscalls_mode == "ring" {
            self.ring.programs += 1;
            self.ring.with_sites += u64::from(s.ring_sites > 0);
            self.ring.sites += s.ring_sites;
            self.ring.calls += s.ring_calls;
            self.ring.trapped += s.ring_trapped_at_sites;
        }
    }

    /// What a job's executor did with its VMs.
    pub fn add_vms(&mut self, c: &VmCounts) {
        let v = &mut self.vms;
        v.built += c.built;
        v.reused += c.reused;
        v.dropped_threads += c.dropped_threads;
        v.dropped_failed += c.dropped_failed;
        v.dropped_unplaced += c.dropped_unplaced;
        v.reset_failed += c.reset_failed;
    }

    pub fn lines(&self) -> String {
        let endings: Vec<String> = self
            .endings
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let calls: Vec<String> = self
            .syscalls
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let pct = 100.0 * self.with_syscalls as f64 / (self.programs.max(1) as f64);
        let h = &self.huge_pages;
        let v = &self.vms;
        format!(
            "fuzz: endings: {}\nfuzz: {pct:.0}% of programs made syscalls: {}\n\
             fuzz: 2 MiB pages: {} mapped in {} programs, {} split, {} page-table root switches\n\
             fuzz: threads: {} programs ran more than one vCPU, {} vCPUs in all, at most {} in one run\n\
             fuzz: syscall ring: {} programs with it, {} patched {} sites, {} calls answered in the ring, {} trapped at patched sites\n\
             fuzz: VMs: {} built, {} runs in a reset VM; not reset: {} after threads or processes, {} after a failure, {} for a program that did not fit, {} resets failed",
            endings.join(", "),
            calls.join(", "),
            h.mapped,
            self.with_huge_pages,
            h.split,
            h.root_switches,
            self.threaded,
            self.vcpus,
            self.most_vcpus,
            self.ring.programs,
            self.ring.with_sites,
            self.ring.sites,
            self.ring.calls,
            self.ring.trapped,
            v.built,
            v.reused,
            v.dropped_threads,
            v.dropped_failed,
            v.dropped_unplaced,
            v.reset_failed
        )
    }
}

/// Absolute form of `p` (the campaign changes the working directory).
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| p.to_path_buf(), |d| d.join(p))
    }
}
