//! Helpers for the runner's integration tests: every test runs the real
//! `runner` binary on the real `/dev/kvm`. There is no skip: without KVM the
//! tests fail, loudly, with the reason.

#![allow(dead_code)]

pub mod server;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Fails the test with a clear message when KVM is not usable.
pub fn require_kvm() {
    let kvm = Path::new("/dev/kvm");
    if !kvm.exists() {
        panic!("/dev/kvm does not exist: these tests run guests on KVM and cannot pass without it (CI={:?})", std::env::var("CI").ok());
    }
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(kvm) {
        panic!("/dev/kvm cannot be opened ({e}): run the tests as a user with access to KVM");
    }
}

pub fn runner() -> Command {
    require_kvm();
    Command::new(env!("CARGO_BIN_EXE_runner"))
}

pub fn sample(name: &str) -> PathBuf {
    samples::path(name)
}

/// The result of one run.
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `runner` with `args`, feeding `stdin`.
pub fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Run {
    let mut cmd = runner();
    cmd.args(args);
    run_command(cmd, stdin)
}

/// Runs a prepared `runner` command, feeding `stdin`.
pub fn run_command(mut cmd: Command, stdin: &[u8]) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn runner");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait runner");
    writer.join().expect("stdin writer");
    Run::from(out)
}

/// Runs `runner` with `args` and empty stdin.
pub fn run(args: &[&str]) -> Run {
    run_with_stdin(args, b"")
}

/// `runner exec [extra...] SAMPLE [args...]`.
pub fn exec_sample(extra: &[&str], name: &str, args: &[&str]) -> Run {
    let path = sample(name);
    let mut all: Vec<&str> = vec!["exec"];
    all.extend_from_slice(extra);
    let p = path.to_str().expect("utf-8 sample path");
    all.push(p);
    all.extend_from_slice(args);
    run(&all)
}

/// A fresh temporary directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("thinvisor-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Path of a C sample (a static ELF program).
pub fn elf_sample(name: &str) -> PathBuf {
    samples::elf_path(name)
}

/// `runner exec [extra...] C-SAMPLE [args...]`, empty stdin.
pub fn exec_elf(extra: &[&str], name: &str, args: &[&str]) -> Run {
    let path = elf_sample(name);
    let mut all: Vec<&str> = vec!["exec"];
    all.extend_from_slice(extra);
    let p = path.to_str().expect("utf-8 sample path");
    all.push(p);
    all.extend_from_slice(args);
    run(&all)
}

/// Writes a policy file into `dir` and returns its path as a string.
pub fn policy_file(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write policy");
    p.to_str().expect("utf-8 path").to_string()
}

/// Runs a program natively (no sandbox) with `args`, `stdin` and only the
/// environment `env`: the reference for comparisons.
pub fn run_native(program: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn native program");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait native program");
    writer.join().expect("stdin writer");
    Run::from(out)
}

/// A run bounded in time by the test itself, for runs that may hang when
/// the runner is broken (child processes that never end, a pipe a leftover
/// process keeps open): what it produced, and what went wrong around it.
pub struct Bounded {
    /// Status as a shell shows it: the exit code, or 128 + N for a signal
    /// (-1 when it was killed at the limit).
    pub run: Run,
    /// Killed by the test at its limit.
    pub timed_out: bool,
    /// From the start to the exit of the command itself.
    pub elapsed: std::time::Duration,
    /// Processes of its process group still alive after it exited (as
    /// `PID COMM` from `/proc`), killed since; or a note that its stdout or
    /// stderr stayed open (a leftover process holds them).
    pub leftovers: Vec<String>,
}

impl Bounded {
    /// One paragraph for an assertion message: status, time, streams.
    pub fn describe(&self) -> String {
        format!(
            "status {}{} after {:.1?}{}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.run.status,
            if self.timed_out {
                " (killed by the test at its time limit: it hung)"
            } else {
                ""
            },
            self.elapsed,
            if self.leftovers.is_empty() {
                String::new()
            } else {
                format!("; left behind: {}", self.leftovers.join(", "))
            },
            self.run.stdout,
            self.run.stderr
        )
    }
}

/// The processes whose process group is `pgid`, as `PID COMM`.
fn group_members(pgid: u32) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces and ')'.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let comm = stat.find('(').map_or("", |open| &stat[open + 1..close]);
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
            found.push(format!("{pid} {comm}"));
        }
    }
    found
}

fn kill_group(pgid: u32) {
    if let Some(pid) = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Runs `cmd` (the runner, or a program natively) in a process group of
/// its own, feeding `stdin`; kills the group when it runs past `limit`.
/// Once it has exited, waits up to 2 s for its streams to close and for
/// its process group to empty, then kills what is left and reports it in
/// `leftovers`: a run must not leave processes behind.
pub fn run_bounded(mut cmd: Command, stdin: &[u8], limit: std::time::Duration) -> Bounded {
    use std::io::Read;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    cmd.process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pgid = child.id();
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let reader = |mut stream: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stream.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
        rx
    };
    let out_rx = reader(Box::new(child.stdout.take().expect("stdout")));
    let err_rx = reader(Box::new(child.stderr.take().expect("stderr")));
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > limit {
            timed_out = true;
            kill_group(pgid);
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let mut leftovers = Vec::new();
    let grace = Instant::now() + Duration::from_secs(2);
    let collect = |rx: mpsc::Receiver<Vec<u8>>, what: &str, leftovers: &mut Vec<String>| {
        let wait = grace.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(_) => {
                leftovers.push(format!("{what} still open 2 s after the exit"));
                kill_group(pgid);
                rx.recv_timeout(Duration::from_secs(2))
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default()
            }
        }
    };
    let stdout = collect(out_rx, "stdout", &mut leftovers);
    let stderr = collect(err_rx, "stderr", &mut leftovers);
    let mut members = group_members(pgid);
    while !members.is_empty() && Instant::now() < grace {
        std::thread::sleep(Duration::from_millis(20));
        members = group_members(pgid);
    }
    if !members.is_empty() {
        kill_group(pgid);
        leftovers.extend(members);
    }
    let code = if timed_out {
        -1
    } else {
        status
            .code()
            .or_else(|| status.signal().map(|n| 128 + n))
            .unwrap_or(-1)
    };
    Bounded {
        run: Run {
            status: code,
            stdout,
            stderr,
        },
        timed_out,
        elapsed,
        leftovers,
    }
}

/// A line diff of `want` and `got` (longest common subsequence): common
/// lines indented, `-` for lines only in `want`, `+` for lines only in
/// `got`.
pub fn diff_lines(want: &str, got: &str) -> String {
    let a: Vec<&str> = want.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}

/// `dir/thinvisor-oci`, a link to the runner: run by that name it is the
/// OCI runtime (runner/tests/oci.rs, oci_containerd.rs).
pub fn oci_runtime(dir: &Path) -> PathBuf {
    require_kvm();
    let link = dir.join("thinvisor-oci");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_runner"), &link).expect("link");
    link
}

/// `dir/rootfs`: a container root with Debian's static busybox, links to
/// `applets`, and the directories `dirs`.
pub fn busybox_root(dir: &Path, dirs: &[&str], applets: &[&str]) -> PathBuf {
    let root = dir.join("rootfs");
    for d in std::iter::once(&"bin").chain(dirs) {
        std::fs::create_dir_all(root.join(d)).expect("rootfs dir");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("Debian's busybox-static at /bin/busybox (ci/test-deps.sh installs it)");
    for applet in applets {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("applet");
    }
    root
}

/// An interactive busybox shell's transcript on a terminal without the
/// redraws of its `prompt` that its line editing makes when typed input
/// and its cursor-position query cross (`\r` + prompt + erase-to-end): how
/// often they come depends on timing, natively too.
pub fn without_prompt_redraws(transcript: &str, prompt: &str) -> String {
    transcript.replace(&format!("\r{prompt}\u{1b}[J"), "")
}

/// Runs `cmd` with its stdout a pipe whose reader has gone (as `cmd |
/// head -c0`): its status and stderr.
pub fn with_stdout_closed(mut cmd: Command) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Builds `samples/go/<name>.go` (CGO off: a static binary) and returns it.
pub fn go_build(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go");
    std::fs::create_dir_all(&dir).expect("go build dir");
    let out = dir.join(name);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/go");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(format!("./{name}.go"))
        .current_dir(&src)
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", dir.join("cache"))
        .env("GOPATH", dir.join("gopath"))
        .env("GOFLAGS", "-mod=mod")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `go` ({e}): these tests need the Go toolchain (apt-get install golang-go)")
        });
    assert!(
        built.status.success(),
        "go build {name}: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    out
}
