//! Helpers for the runner's integration tests: every test runs the real
//! `runner` binary on the real `/dev/kvm`. There is no skip: without KVM the
//! tests fail, loudly, with the reason.

#![allow(dead_code)]

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
