//! A campaign: `jobs` worker threads pull program indices from a shared
//! counter, generate program `i` from (seed, i), run it in a fresh VM and
//! check the invariants; the main thread supervises. It is the watchdog
//! outside the vCPUs: a program the runner has not finished long after its
//! time limit is a hang, reported (with the program, regenerated from its
//! index) before the process exits, since a stuck thread cannot be killed.
//! It also samples the process's memory and descriptors, prints progress,
//! and saves failures.

use super::executor::{Executor, Settings};
use super::generate::{self, Program};
use super::invariants::{self, Violation};
use super::report::{self, Failure, Reporter};
use super::resources::{self, Growth, Health};
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a campaign runs.
#[derive(Debug, Clone, Copy)]
pub enum Plan {
    Iterations(u64),
    Duration(Duration),
}

/// Everything a campaign needs.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub seed: u64,
    pub plan: Plan,
    pub jobs: usize,
    pub settings: Settings,
    pub max_failures: u64,
    pub out: PathBuf,
    /// Private scratch directory: the guests' stdin file and working dir.
    pub scratch: PathBuf,
}

const PROGRESS_EVERY: Duration = Duration::from_secs(5);
const HEALTH_EVERY: Duration = Duration::from_secs(1);
/// Programs run before the memory baseline is taken (allocator warm-up).
const WARMUP_PROGRAMS: u64 = 300;

thread_local! {
    /// The last panic on this thread: message, location and backtrace.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// What a worker is doing: the program index + 1 (0 when idle) and when it
/// started, in milliseconds since the campaign began.
#[derive(Default)]
struct Slot {
    current: AtomicU64,
    since_ms: AtomicU64,
}

struct Shared {
    next: AtomicU64,
    done: AtomicU64,
    stop: AtomicBool,
    summary: Mutex<report::Summary>,
}

enum Message {
    Failure(Failure),
    /// A worker could not start (no KVM...): the campaign cannot run.
    Fatal(String),
}

impl Campaign {
    fn hang_after(&self) -> Duration {
        (self.settings.time_limit * 10).max(Duration::from_secs(10))
    }

    /// Runs the campaign; returns `runner fuzz`'s exit status.
    pub fn run(&self) -> i32 {
        let cwd = self.scratch.join("cwd");
        let stdin = self.scratch.join("stdin");
        if let Err(e) = prepare(&cwd, &stdin, self.seed) {
            eprintln!(
                "runner: fuzz: cannot prepare {}: {e}",
                self.scratch.display()
            );
            return crate::exit_status::RUNNER_FAILED;
        }
        eprintln!(
            "fuzz: seed {}, {} jobs, {} bytes of memory and {:?} per program, failures to {}",
            self.seed,
            self.jobs,
            self.settings.memory_limit,
            self.settings.time_limit,
            self.out.display()
        );
        let previous_hook = panic::take_hook();
        panic::set_hook(Box::new(|info| {
            let trace = std::backtrace::Backtrace::force_capture();
            let msg = format!("{info}\n{trace}");
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
        }));
        let status = self.supervise(&cwd, &stdin);
        panic::set_hook(previous_hook);
        let _ = std::fs::remove_dir_all(&self.scratch);
        status
    }

    fn supervise(&self, cwd: &std::path::Path, stdin: &std::path::Path) -> i32 {
        let shared = Arc::new(Shared {
            next: AtomicU64::new(0),
            done: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            summary: Mutex::new(report::Summary::default()),
        });
        let slots: Vec<Arc<Slot>> = (0..self.jobs).map(|_| Arc::new(Slot::default())).collect();
        let (tx, rx) = mpsc::channel::<Message>();
        let start = Instant::now();
        let mut workers = Vec::new();
        for slot in &slots {
            let (c, shared, slot, tx) = (self.clone(), shared.clone(), slot.clone(), tx.clone());
            let (cwd, stdin) = (cwd.to_path_buf(), stdin.to_path_buf());
            let spawned = std::thread::Builder::new()
                .name("fuzz-job".into())
                .spawn(move || c.work(&shared, &slot, &tx, &cwd, stdin, start));
            match spawned {
                Ok(h) => workers.push(h),
                Err(e) => {
                    eprintln!("runner: fuzz: cannot start a job thread: {e}");
                    return crate::exit_status::RUNNER_FAILED;
                }
            }
        }
        drop(tx);

        let mut reporter = Reporter::new(self.out.clone(), self.seed, self.settings);
        let mut failures = 0u64;
        let mut health = Health::default();
        let allowed = Growth {
            rss_bytes: 64 << 20,
            fds: 8 + 4 * self.jobs as u64,
        };
        let (mut last_progress, mut last_health) = (Instant::now(), Instant::now());
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Message::Failure(f)) => {
                    failures += 1;
                    reporter.record(&f);
                    if self.max_failures > 0 && failures >= self.max_failures {
                        shared.stop.store(true, Ordering::SeqCst);
                    }
                }
                Ok(Message::Fatal(e)) => {
                    shared.stop.store(true, Ordering::SeqCst);
                    eprintln!("runner: fuzz: {e}");
                    return crate::exit_status::RUNNER_FAILED;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let done = shared.done.load(Ordering::SeqCst);
            if last_health.elapsed() >= HEALTH_EVERY {
                last_health = Instant::now();
                if done >= WARMUP_PROGRAMS {
                    health.set_baseline();
                }
                if let Some(f) = growth(&mut health, allowed, done) {
                    failures += 1;
                    reporter.record(&f);
                }
                if let Some((index, secs)) = self.hung(&slots, start) {
                    let program = generate::program(self.seed, index, self.settings.memory_limit);
                    reporter.record(&Failure {
                        index: Some(index),
                        program: Some(program),
                        violations: vec![Violation::new(
                            "hang",
                            format!("the runner has not finished this program after {secs:.1}s"),
                        )],
                        summary: String::new(),
                    });
                    self.finish(&shared, start, failures + 1);
                    // A stuck thread cannot be stopped: leave the process.
                    let _ = std::fs::remove_dir_all(&self.scratch);
                    std::process::exit(1);
                }
            }
            if last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                let secs = start.elapsed().as_secs_f64();
                eprintln!(
                    "fuzz: {done} programs in {secs:.0}s ({:.0}/s), {failures} failures, rss {} MiB",
                    done as f64 / secs,
                    resources::rss_bytes().unwrap_or(0) >> 20
                );
            }
        }
        for w in workers {
            if w.join().is_err() {
                failures += 1;
                eprintln!("fuzz: a job thread panicked outside a program run");
            }
        }
        if let Some(f) = growth(&mut health, allowed, shared.done.load(Ordering::SeqCst)) {
            failures += 1;
            reporter.record(&f);
        }
        self.finish(&shared, start, failures);
        if failures == 0 {
            0
        } else {
            1
        }
    }

    /// The first program running longer than the hang limit.
    fn hung(&self, slots: &[Arc<Slot>], start: Instant) -> Option<(u64, f64)> {
        let now_ms = start.elapsed().as_millis() as u64;
        slots.iter().find_map(|s| {
            let current = s.current.load(Ordering::SeqCst);
            let since = s.since_ms.load(Ordering::SeqCst);
            let running = Duration::from_millis(now_ms.saturating_sub(since));
            (current != 0 && running > self.hang_after())
                .then(|| (current - 1, running.as_secs_f64()))
        })
    }

    fn finish(&self, shared: &Shared, start: Instant, failures: u64) {
        let done = shared.done.load(Ordering::SeqCst);
        let secs = start.elapsed().as_secs_f64();
        if let Ok(summary) = shared.summary.lock() {
            eprintln!("{}", summary.lines());
        }
        eprintln!(
            "fuzz: {:.0} programs/s over {secs:.1}s with {} jobs (seed {})",
            done as f64 / secs.max(1e-9),
            self.jobs,
            self.seed
        );
        println!("fuzz: {done} programs, {failures} failures");
    }

    fn more(&self, shared: &Shared, start: Instant) -> Option<u64> {
        if shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        if let Plan::Duration(d) = self.plan {
            if start.elapsed() >= d {
                return None;
            }
        }
        let i = shared.next.fetch_add(1, Ordering::SeqCst);
        match self.plan {
            Plan::Iterations(n) if i >= n => None,
            _ => Some(i),
        }
    }

    /// A worker thread: runs programs until the plan is done.
    fn work(
        &self,
        shared: &Shared,
        slot: &Slot,
        tx: &mpsc::Sender<Message>,
        cwd: &std::path::Path,
        stdin: PathBuf,
        start: Instant,
    ) {
        let exec = match Executor::new(self.settings, stdin, self.seed) {
            Ok(e) => e,
            Err(e) => {
                let _ = tx.send(Message::Fatal(format!("cannot start: {e}")));
                return;
            }
        };
        while let Some(i) = self.more(shared, start) {
            let program = generate::program(self.seed, i, self.settings.memory_limit);
            slot.since_ms
                .store(start.elapsed().as_millis() as u64, Ordering::SeqCst);
            slot.current.store(i + 1, Ordering::SeqCst);
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| exec.run(&program)));
            slot.current.store(0, Ordering::SeqCst);
            shared.done.fetch_add(1, Ordering::SeqCst);
            let failure = match outcome {
                Ok(e) => {
                    if let Ok(mut s) = shared.summary.lock() {
                        s.add(&e);
                    }
                    let mut v = invariants::check(&e, &self.settings);
                    let files = resources::new_files(cwd);
                    if !files.is_empty() {
                        v.push(Violation::new(
                            "file escape",
                            format!("files appeared in the guest's working directory: {files:?}"),
                        ));
                        clear(cwd);
                    }
                    (!v.is_empty()).then(|| Failure::of_run(i, program, &e, v))
                }
                Err(_) => {
                    let msg = LAST_PANIC
                        .with(|p| p.borrow_mut().take())
                        .unwrap_or_else(|| "(no panic message)".into());
                    Some(Failure {
                        index: Some(i),
                        program: Some(program),
                        violations: vec![Violation::new("panic", msg)],
                        summary: String::new(),
                    })
                }
            };
            if let Some(f) = failure {
                if tx.send(Message::Failure(f)).is_err() {
                    return;
                }
            }
        }
    }
}

/// A campaign-wide failure when the process grew beyond `allowed`.
fn growth(health: &mut Health, allowed: Growth, done: u64) -> Option<Failure> {
    let problem = health.check(allowed)?;
    Some(Failure {
        index: None,
        program: None,
        violations: vec![Violation::new("runner resources", problem)],
        summary: format!("after {done} programs\n"),
    })
}

/// The 4 KiB every guest of campaign `seed` reads on stdin.
pub fn stdin_bytes(seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; 4096];
    super::rng::Rng::new(seed ^ 0x5717_d1a5).fill(&mut bytes);
    bytes
}

/// Creates the scratch directory: an empty working directory for the
/// guests (made the process's working directory), and the stdin file.
fn prepare(cwd: &std::path::Path, stdin: &std::path::Path, seed: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(cwd)?;
    clear(cwd);
    std::fs::write(stdin, stdin_bytes(seed))?;
    std::env::set_current_dir(cwd)
}

fn clear(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
        }
    }
}

/// Runs one saved program through the same checks (`--replay`).
pub fn replay(settings: Settings, scratch: &std::path::Path, seed: u64, program: Program) -> i32 {
    let cwd = scratch.join("cwd");
    let stdin = scratch.join("stdin");
    if let Err(e) = prepare(&cwd, &stdin, seed) {
        eprintln!("runner: fuzz: cannot prepare {}: {e}", scratch.display());
        return crate::exit_status::RUNNER_FAILED;
    }
    let exec = match Executor::new(settings, stdin, seed) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("runner: fuzz: {e}");
            return crate::exit_status::RUNNER_FAILED;
        }
    };
    let e = exec.run(&program);
    let mut v = invariants::check(&e, &settings);
    let files = resources::new_files(&cwd);
    if !files.is_empty() {
        v.push(Violation::new("file escape", format!("{files:?}")));
    }
    eprint!("{}", report::describe(&e));
    for x in &v {
        eprintln!("violation: {}: {}", x.kind, x.detail);
    }
    let _ = std::fs::remove_dir_all(scratch);
    println!("fuzz: 1 programs, {} failures", usize::from(!v.is_empty()));
    i32::from(!v.is_empty())
}
