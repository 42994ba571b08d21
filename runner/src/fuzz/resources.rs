//! The fuzzing process's own health, sampled while a campaign runs: its
//! resident memory (VmRSS) and open descriptors must not grow with the
//! number of programs run, and the scratch working directory the guests run
//! in must stay empty (the default policy gives them no writable path).

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
    }
}
