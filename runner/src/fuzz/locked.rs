//! Some programs also run as `runner exec` in a child process, locked down
//! as a user would run them: the in-process executor cannot lock itself
//! down (docs/fuzzing.md), so only a child shows that nothing a guest does
//! makes the runner call what its seccomp filter refuses (a new host thread
//! does things the first one never did). The child must end within the
//! hang limit, must not die of a signal itself (SIGSYS: its own filter),
//! and must not fail: status 125 with a `runner:` line on stderr that is
//! not one of its once-per-syscall reports (a guest may exit with 125
//! itself), or a panic.

use super::executor::Settings;
use super::generate::Program;
use super::invariants::Violation;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How to run a program locked down.
#[derive(Debug, Clone)]
pub struct LockedRun {
    /// This `runner` binary.
    pub runner: PathBuf,
    /// Where the program, the policy and the child's stderr go.
    pub dir: PathBuf,
    /// What the guest reads on stdin.
    pub stdin: PathBuf,
    pub settings: Settings,
    /// A child not done by then is a hang (and is killed).
    pub hang_after: Duration,
}

impl LockedRun {
    fn policy(&self) -> PathBuf {
        self.dir.join("locked.toml")
    }

    /// Writes the policy with the campaign's limits (once per campaign).
    pub fn prepare(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        std::fs::write(
            self.policy(),
            format!(
                "[limits]\nmemory = \"{}\"\nwall_time = \"{}\"\n",
                sandbox_policy::format_size(self.settings.memory_limit),
                sandbox_policy::format_duration(self.settings.time_limit)
            ),
        )
    }

    /// Runs `program` as job `job`'s child; the invariants it broke.
    pub fn check(&self, job: usize, program: &Program) -> Vec<Violation> {
        let bin = self.dir.join(format!("locked-{job}.bin"));
        let err = self.dir.join(format!("locked-{job}.err"));
        let started = std::fs::write(&bin, &program.bytes)
            .and_then(|()| Ok((File::open(&self.stdin)?, File::create(&err)?)))
            .and_then(|(stdin, stderr)| {
                Command::new(&self.runner)
                    .args(["exec", "--format", "flat", "--policy"])
                    .arg(self.policy())
                    .arg(&bin)
                    .args(&program.args)
                    .stdin(stdin)
                    .stdout(Stdio::null())
                    .stderr(stderr)
                    .spawn()
            });
        let mut child = match started {
            Ok(c) => c,
            Err(e) => return vec![Violation::new("locked down", format!("cannot start: {e}"))],
        };
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if start.elapsed() < self.hang_after => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return vec![Violation::new(
                        "hang",
                        format!(
                            "locked down, `runner exec` had not finished after {:?}",
                            self.hang_after
                        ),
                    )];
                }
                Err(e) => return vec![Violation::new("locked down", format!("wait: {e}"))],
            }
        };
        let stderr = read_tail(&err);
        judge(status.code(), status.signal(), &stderr)
            .into_iter()
            .map(|(kind, what)| Violation::new(kind, format!("locked down: {what}")))
            .collect()
    }
}

/// The end of the child's stderr (the guest may have filled it).
fn read_tail(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 16 << 10;
    let mut text = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let len = f.metadata().map_or(0, |m| m.len());
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(TAIL)));
        let _ = f.read_to_end(&mut text);
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// The runner's own lines on stderr other than death lines and its
/// once-per-syscall reports (those all end in "returned E...", and the
/// line that says it stopped reporting).
fn failure_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("runner: ") && !l.contains(" returned E"))
        .filter(|l| !l.starts_with("runner: guest killed by "))
        .filter(|l| !l.starts_with("runner: more than "))
        .collect()
}

/// What is wrong with a child that ended with `code` or died of `signal`.
fn judge(code: Option<i32>, signal: Option<i32>, stderr: &str) -> Option<(&'static str, String)> {
    const FAILED: i32 = crate::exit_status::RUNNER_FAILED;
    let last = |n: usize| {
        let lines: Vec<&str> = stderr.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    };
    match (code, signal) {
        (_, Some(sig)) => Some((
            "runner crashed",
            format!(
                "`runner exec` died of signal {sig}; stderr ends: {}",
                last(4)
            ),
        )),
        (Some(FAILED), _) if !failure_lines(stderr).is_empty() => Some((
            "runner failed",
            format!(
                "`runner exec` failed (125): {}",
                failure_lines(stderr).join("\n")
            ),
        )),
        (Some(_), _) if stderr.contains("panicked at ") => {
            Some(("panic", format!("`runner exec` panicked: {}", last(12))))
        }
        (Some(_), _) => None,
        (None, None) => Some(("runner crashed", "no status".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::judge;

    #[test]
    fn statuses_are_judged() {
        assert!(judge(Some(0), None, "").is_none());
        assert!(judge(
            Some(139),
            None,
            "runner: guest killed by SIGSEGV (x) at rip 0x1"
        )
        .is_none());
        assert_eq!(
            judge(None, Some(31), "").map(|v| v.0),
            Some("runner crashed")
        );
        let failed = "runner: run failed: internal: thread 3: KVM_RUN failed";
        assert_eq!(
            judge(Some(125), None, failed).map(|v| v.0),
            Some("runner failed")
        );
        // The guest's own exit_group(125), with a report before it.
        let report = "runner: clone with flags 0x11 refused: ...; returned ENOSYS";
        assert!(judge(Some(125), None, report).is_none());
        let vcpus = "runner: clone failed: all 256 vCPUs of the VM run threads; returned EAGAIN\n\
                     runner: more than 64 different syscalls were refused or unsupported; \
                     the others are not reported";
        assert!(judge(Some(125), None, vcpus).is_none());
        let panic = "thread 'main' panicked at runner/src/x.rs:1:1:\noops";
        assert_eq!(judge(Some(101), None, panic).map(|v| v.0), Some("panic"));
    }
}
