//! The fuzzing process's own health, sampled while a campaign runs: its
//! resident memory (VmRSS) and open descriptors must not grow with the
//! number of programs run, no host thread may outlive the run that started
//! it, and the scratch working directory the guests run in must stay empty
//! (the default policy gives them no writable path).
//!
//! Host threads are told apart by name: a job thread names itself after
//! the program it is about to run (`tag`), and Linux gives every thread
//! the name of the thread that creates it, so each host thread a run
//! starts (a guest thread's, directly or from another one) carries its
//! run's tag. Once the run has returned, none may be left
//! ([`threads_named`]).

use crate::lockdown::survey::{stat_flags, PF_USER_WORKER};
use std::path::Path;

/// Resident set size of this process, in bytes (None if /proc is not
/// readable).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Number of open file descriptors of this process.
pub fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// The threads of this process that run user code (kernel workers in the
/// thread group, such as KVM's, left out), as (tid, name).
pub fn user_threads() -> Option<Vec<(u64, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let entry = entry.ok()?;
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread that ended since the listing is no longer one.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if stat_flags(&stat)? & PF_USER_WORKER != 0 {
            continue;
        }
        let name = stat
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'))
            .map_or("", |(name, _)| name);
        out.push((tid, name.to_string()));
    }
    Some(out)
}

/// The tids of this process's threads named `name`, other than the
/// calling one (empty when /proc cannot be read).
pub fn threads_named(name: &str) -> Vec<u64> {
    let me = rustix::thread::gettid().as_raw_nonzero().get() as u64;
    user_threads()
        .unwrap_or_default()
        .into_iter()
        .filter(|(tid, n)| n == name && *tid != me)
        .map(|(tid, _)| tid)
        .collect()
}

/// The threads named `name`, other than those in `kept`, that are still
/// there after `grace`: a host thread whose scope has seen it finish may
/// still be on its way out of the kernel for a moment; a leaked one stays.
pub fn threads_left_named(name: &str, grace: std::time::Duration, kept: &[u64]) -> Vec<u64> {
    let until = std::time::Instant::now() + grace;
    let mut pause = std::time::Duration::from_micros(100);
    loop {
        let mut left = threads_named(name);
        left.retain(|t| !kept.contains(t));
        if left.is_empty() || std::time::Instant::now() >= until {
            return left;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
}

/// Names the calling thread (at most 15 bytes are kept); host threads it
/// starts from now on get the same name.
pub fn name_this_thread(name: &str) -> std::io::Result<()> {
    std::fs::write("/proc/thread-self/comm", name)
}

/// The name job `job` gives itself while it runs program `index`: unique
/// in a campaign of fewer than 2^44 programs.
pub fn run_tag(job: usize, index: u64) -> String {
    let mut tag = format!("f{job:x}.{index:x}");
    tag.truncate(15);
    tag
}

/// The entries that appeared in `dir` (empty when none).
pub fn new_files(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => vec![format!("(cannot list {}: {e})", dir.display())],
    }
}

/// Limits on growth across a campaign, from a baseline taken after warm-up.
#[derive(Debug, Clone, Copy)]
pub struct Growth {
    pub rss_bytes: u64,
    pub fds: u64,
}

/// A baseline and the checks against it.
#[derive(Debug, Default)]
pub struct Health {
    baseline: Option<(u64, u64)>,
    pub peak_rss: u64,
    reported: bool,
}

impl Health {
    /// Records the baseline (once).
    pub fn set_baseline(&mut self) {
        if self.baseline.is_none() {
            if let (Some(r), Some(f)) = (rss_bytes(), open_fds()) {
                self.baseline = Some((r, f));
            }
        }
    }

    pub fn has_baseline(&self) -> bool {
        self.baseline.is_some()
    }

    /// A description of the growth beyond `allowed`, reported once.
    pub fn check(&mut self, allowed: Growth) -> Option<String> {
        let (base_rss, base_fds) = self.baseline?;
        let (rss, fds) = (rss_bytes()?, open_fds()?);
        self.peak_rss = self.peak_rss.max(rss);
        if self.reported {
            return None;
        }
        let problem = if rss > base_rss + allowed.rss_bytes {
            Some(format!(
                "runner memory grew from {} KiB to {} KiB (allowed +{} KiB)",
                base_rss / 1024,
                rss / 1024,
                allowed.rss_bytes / 1024
            ))
        } else if fds > base_fds + allowed.fds {
            Some(format!("open descriptors grew from {base_fds} to {fds}"))
        } else {
            None
        };
        self.reported |= problem.is_some();
        problem
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn proc_is_readable() {
        assert!(super::rss_bytes().is_some_and(|r| r > 0));
        assert!(super::open_fds().is_some_and(|n| n >= 3));
        assert!(super::user_threads().is_some_and(|t| !t.is_empty()));
    }

    /// What the leak check relies on: a thread started by a named thread
    /// carries its name, and is found by it until it ends.
    #[test]
    fn threads_inherit_their_creators_name() {
        let tag = super::run_tag(0xab, 0x1234_5678_9abc_def0);
        assert_eq!(tag.len(), 15);
        let tag2 = tag.clone();
        let found = std::thread::spawn(move || {
            super::name_this_thread(&tag2).map_err(|e| e.to_string())?;
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let child = std::thread::spawn(move || {
                let _ = rx.recv();
            });
            let found = super::threads_named(&tag2);
            drop(tx);
            let _ = child.join();
            let after = super::threads_named(&tag2);
            Ok::<_, String>((found.len(), after.len()))
        })
        .join();
        assert!(matches!(found, Ok(Ok((1, 0)))), "{found:?}");
    }
}
