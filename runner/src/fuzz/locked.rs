//! Some programs also run as `runner exec` in a child process, locked down
//! as a user would run them: the in-process executor cannot lock itself
//! down (docs/fuzzing.md), so only a child shows that nothing a guest does
//! makes the runner call what its seccomp filter refuses (a new host thread
//! does things the first one never did). The child must end within the
//! hang limit, must not die of a signal itself (SIGSYS: its own filter),
//! and must not fail (125, unless the guest exited with 125 in its
//! in-process run too).

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
    /// `in_process` is the status of its run in this process.
    pub fn check(&self, job: usize, program: &Program, in_process: i32) -> Vec<Violation> {
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
        judge(status.code(), status.signal(), in_process, &stderr)
            .into_iter()
            .map(|(kind, what)| Violation::new(kind, format!("locked down: {what}")))
            .collect()
    }
}

/// The last lines of the child's stderr (the guest may have filled it).
fn read_tail(path: &Path) -> String {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(4)..].join("\n")
}

/// What is wrong with a child that ended with `code` or died of `signal`
/// (the program's in-process run ended with `in_process`).
fn judge(
    code: Option<i32>,
    signal: Option<i32>,
    in_process: i32,
    stderr: &str,
) -> Option<(&'static str, String)> {
    const FAILED: i32 = crate::exit_status::RUNNER_FAILED;
    match (code, signal) {
        (_, Some(sig)) => Some((
            "runner crashed",
            format!("`runner exec` died of signal {sig}; stderr: {stderr}"),
        )),
        (Some(FAILED), _) if in_process != FAILED => Some((
            "runner failed",
            format!("`runner exec` failed (125): {stderr}"),
        )),
        (Some(_), _) => None,
        (None, None) => Some(("runner crashed", "no status".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::judge;

    #[test]
    fn statuses_are_judged() {
        assert!(judge(Some(0), None, 0, "").is_none());
        assert!(judge(Some(139), None, 139, "runner: guest killed by SIGSEGV").is_none());
        assert_eq!(
            judge(None, Some(31), 0, "").map(|v| v.0),
            Some("runner crashed")
        );
        assert_eq!(
            judge(Some(125), None, 139, "x").map(|v| v.0),
            Some("runner failed")
        );
        assert!(judge(Some(125), None, 125, "").is_none(), "exit_group(125)");
    }
}
