//! A campaign: `jobs` worker threads pull program indices from a shared
//! counter, generate program `i` from (seed, i), run it in a fresh VM and
//! check the invariants; the main thread supervises. It is the watchdog
//! outside the vCPUs: a program the runner has not finished long after its
//! time limit is a hang, reported (with the program, regenerated from its
//! index) before the process exits, since a stuck thread cannot be killed.
//! It also samples the process's memory and descriptors, checks that no
//! host thread outlives its run (and that the process ends the campaign
//! with the threads it began it with), prints progress, and saves
//! failures.

use super::executor::{Executor, Settings};
use super::generate::{self, Mix, Program};
use super::invariants::{self, Violation};
use super::locked::LockedRun;
use super::report::{self, Failure, Reporter};
use super::resources::{self, Growth, Health};
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
    /// Which generators the programs come from.
    pub mix: Mix,
    /// Every this many programs, one also runs locked down (0: none).
    pub locked_every: u64,
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

/// Panics since they were last collected, by the name of the thread that
/// panicked (a run's host threads all carry its tag): message, location
/// and backtrace.
static PANICS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// The panics of the threads named `name`, oldest first, joined.
fn panics_of(name: &str) -> Option<String> {
    let mut all = PANICS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (mine, others): (Vec<_>, Vec<_>) = all.drain(..).partition(|(n, _)| n == name);
    *all = others;
    (!mine.is_empty()).then(|| {
        mine.into_iter()
            .map(|(_, msg)| msg)
            .collect::<Vec<_>>()
            .join("\n")
    })
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
            let name = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default();
            PANICS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((name.trim_end().to_string(), msg));
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
        let threads_before = resources::user_threads().map(|t| t.len());
        let locked = self.locked_run(stdin);
        let mut workers = Vec::new();
        for (job, slot) in slots.iter().enumerate() {
            let (c, shared, slot, tx) = (self.clone(), shared.clone(), slot.clone(), tx.clone());
            let (cwd, stdin, locked) = (cwd.to_path_buf(), stdin.to_path_buf(), locked.clone());
            let spawned = std::thread::Builder::new()
                .name(JOB_NAME.into())
                .spawn(move || {
                    let job = Job {
                        index: job,
                        cwd: &cwd,
                        stdin,
                        locked: locked.as_ref(),
                    };
                    c.work(&job, &shared, &slot, &tx, start)
                });
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
        // A run in flight holds a few descriptors (its VM, stdin, /dev/null)
        // and one per vCPU: up to one per guest thread of all its
        // processes together, so up to the VM's most.
        let per_run = 4 + crate::guest::layout::MAX_VCPUS;
        let allowed = Growth {
            rss_bytes: 64 << 20,
            fds: 8 + per_run * self.jobs as u64,
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
                    let program =
                        generate::program(self.seed, index, self.settings.memory_limit, self.mix);
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
        if let Some(f) = threads_left(threads_before) {
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
        crate::out!("fuzz: {done} programs, {failures} failures");
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

    /// How programs run locked down, when they do (and this binary can be
    /// found to run them).
    fn locked_run(&self, stdin: &std::path::Path) -> Option<LockedRun> {
        if self.locked_every == 0 {
            return None;
        }
        let locked = LockedRun {
            runner: std::env::current_exe().ok()?,
            dir: self.scratch.join("locked"),
            stdin: stdin.to_path_buf(),
            settings: self.settings,
            hang_after: self.hang_after(),
        };
        match locked.prepare() {
            Ok(()) => Some(locked),
            Err(e) => {
                eprintln!("fuzz: no locked-down runs: {e}");
                None
            }
        }
    }

    /// A worker thread: runs programs until the plan is done.
    fn work(
        &self,
        job: &Job<'_>,
        shared: &Shared,
        slot: &Slot,
        tx: &mpsc::Sender<Message>,
        start: Instant,
    ) {
        let cwd = job.cwd;
        let mut exec = match Executor::new(self.settings, job.stdin.clone(), self.seed) {
            Ok(e) => e,
            Err(e) => {
                let _ = tx.send(Message::Fatal(format!("cannot start: {e}")));
                return;
            }
        };
        while let Some(i) = self.more(shared, start) {
            let program = generate::program(self.seed, i, self.settings.memory_limit, self.mix);
            slot.since_ms
                .store(start.elapsed().as_millis() as u64, Ordering::SeqCst);
            slot.current.store(i + 1, Ordering::SeqCst);
            // Every host thread the run starts carries this name.
            let tag = resources::run_tag(job.index, i);
            let tagged = resources::name_this_thread(&tag).is_ok();
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| exec.run(&program)));
            let panicked = panics_of(if tagged { &tag } else { JOB_NAME });
            let _ = resources::name_this_thread(JOB_NAME);
            let leaked = if tagged {
                // A reset VM keeps its vCPU's run thread for the next run.
                resources::threads_left_named(&tag, THREAD_EXIT_GRACE, &exec.kept_threads())
            } else {
                Vec::new()
            };
            slot.current.store(0, Ordering::SeqCst);
            shared.done.fetch_add(1, Ordering::SeqCst);
            let failure = match outcome {
                Ok(e) => {
                    if let Ok(mut s) = shared.summary.lock() {
                        s.add(&e);
                    }
                    let mut v = invariants::check(&e, &self.settings);
                    if !leaked.is_empty() {
                        v.push(leak(&leaked));
                    }
                    if let Some(l) = job.locked {
                        if (i + 1) % self.locked_every == 0 {
                            v.extend(l.check(job.index, &program));
                        }
                    }
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
                    let msg = panicked.unwrap_or_else(|| "(no panic message)".into());
                    Some(Failure {
                        index: Some(i),
                        program: Some(program),
                        violations: vec![Violation::new("panic", msg)],
                        summary: String::new(),
                    })
                }
            };
            if let Some(f) = failure {
                // The run's VM, reset and kept, serves no other program.
                exec.discard_kept();
                if tx.send(Message::Failure(f)).is_err() {
                    break;
                }
            }
        }
        if let Ok(mut s) = shared.summary.lock() {
            s.add_vms(&exec.vm_counts);
        }
    }
}

/// What one job thread works with.
struct Job<'a> {
    index: usize,
    /// The guests' working directory.
    cwd: &'a std::path::Path,
    /// The guests' stdin file.
    stdin: PathBuf,
    locked: Option<&'a LockedRun>,
}

/// The name of the job threads between runs.
const JOB_NAME: &str = "fuzz-job";
/// How long a run's host threads may take to leave the kernel once the
/// run has joined them.
const THREAD_EXIT_GRACE: Duration = Duration::from_secs(2);

/// The violation for host threads still alive after their run returned.
fn leak(tids: &[u64]) -> Violation {
    Violation::new(
        "leaked thread",
        format!(
            "{} host thread(s) the run started are still alive after it returned (tids {tids:?})",
            tids.len()
        ),
    )
}

/// A campaign-wide failure when the process, its job threads joined, has
/// more threads than before the campaign (`before`).
fn threads_left(before: Option<usize>) -> Option<Failure> {
    let before = before?;
    let until = Instant::now() + THREAD_EXIT_GRACE;
    let now = loop {
        let now = resources::user_threads()?;
        if now.len() <= before || Instant::now() >= until {
            break now;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (now.len() > before).then(|| Failure {
        index: None,
        program: None,
        violations: vec![Violation::new(
            "leaked thread",
            format!(
                "{} threads before the campaign, {} after it: {now:?}",
                before,
                now.len()
            ),
        )],
        summary: String::new(),
    })
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
    let mut exec = match Executor::new(settings, stdin, seed) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("runner: fuzz: {e}");
            return crate::exit_status::RUNNER_FAILED;
        }
    };
    let before = resources::user_threads().map(|t| t.len());
    let e = exec.run(&program);
    let mut v = invariants::check(&e, &settings);
    if let Some(f) = threads_left(before) {
        v.extend(f.violations);
    }
    let files = resources::new_files(&cwd);
    if !files.is_empty() {
        v.push(Violation::new("file escape", format!("{files:?}")));
    }
    eprint!("{}", report::describe(&e));
    for x in &v {
        eprintln!("violation: {}: {}", x.kind, x.detail);
    }
    let _ = std::fs::remove_dir_all(scratch);
    crate::out!("fuzz: 1 programs, {} failures", usize::from(!v.is_empty()));
    i32::from(!v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign(timeout: Duration) -> Campaign {
        Campaign {
            seed: 1,
            plan: Plan::Iterations(1),
            mix: Mix::All,
            locked_every: 0,
            jobs: 2,
            settings: Settings {
                memory_limit: 4 << 20,
                time_limit: timeout,
                fresh_vms: false,
            },
            max_failures: 0,
            out: PathBuf::from("unused"),
            scratch: PathBuf::from("unused"),
        }
    }

    /// The watchdog names a program (deadlocked or looping in the runner)
    /// running past the hang limit, and only such a program.
    #[test]
    fn the_watchdog_finds_a_run_past_the_hang_limit() {
        let c = campaign(Duration::from_millis(200));
        assert_eq!(c.hang_after(), Duration::from_secs(10));
        assert_eq!(
            campaign(Duration::from_secs(3)).hang_after(),
            Duration::from_secs(30)
        );
        let Some(start) = Instant::now().checked_sub(Duration::from_secs(60)) else {
            return; // a clock too young to go back a minute
        };
        let (idle, busy, stuck) = (Slot::default(), Slot::default(), Slot::default());
        busy.current.store(8, Ordering::SeqCst); // program 7, started just now
        busy.since_ms.store(59_000, Ordering::SeqCst);
        let slots = vec![Arc::new(idle), Arc::new(busy)];
        assert_eq!(c.hung(&slots, start), None);
        stuck.current.store(42, Ordering::SeqCst); // program 41, for 45 s
        stuck.since_ms.store(15_000, Ordering::SeqCst);
        let slots = vec![slots[0].clone(), slots[1].clone(), Arc::new(stuck)];
        let (index, secs) = c.hung(&slots, start).expect("a hang");
        assert_eq!(index, 41);
        assert!(secs >= 44.0, "{secs}");
    }

    #[test]
    fn panics_are_filed_by_thread_name() {
        PANICS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend([
                ("f0.1".to_string(), "first".to_string()),
                ("f1.2".to_string(), "other job".to_string()),
                ("f0.1".to_string(), "second".to_string()),
            ]);
        assert_eq!(panics_of("f0.1").as_deref(), Some("first\nsecond"));
        assert_eq!(panics_of("f0.1"), None);
        assert_eq!(panics_of("f1.2").as_deref(), Some("other job"));
    }
}
