//! Threaded programs of other languages and runtimes, built here at test
//! time, run under the runner with the output (stdout and stderr) and the
//! status of their native run: a glibc C++ program (`samples/cpp/
//! threads.cpp`, `g++ -static -O2 -pthread`: iostream, exceptions across
//! functions and threads, std::thread, mutexes, condition variables,
//! futures, thread_local destructors), and a Rust program with std::thread
//! (`samples/rust/threads.rs`, static glibc target, both a static
//! executable and a static-pie). g++ comes with Debian's `g++` (`.ci/run`
//! installs it); rustc is the toolchain that builds this crate.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// Where this file's programs are built.
fn build_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("languages");
    std::fs::create_dir_all(&dir).expect("build dir");
    dir
}

fn source(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples")
        .join(rel)
}

/// Runs a compiler; fails the test with its output (or the package to
/// install) when it does not succeed.
fn compile(mut cmd: Command, install: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} ({e}): install {install}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The native run and the run under the runner: (status, stdout, stderr),
/// the status as a shell shows it (128 + N for a signal).
struct Both {
    native: (i32, String, String),
    sandboxed: (i32, String, String),
}

fn status_code(s: std::process::ExitStatus) -> i32 {
    s.code()
        .or_else(|| s.signal().map(|n| 128 + n))
        .unwrap_or(-1)
}

fn run_both(program: &Path, args: &[&str], policy: Option<&Path>) -> Both {
    let native = Command::new(program)
        .args(args)
        .env_clear()
        .output()
        .expect("native run");
    let mut cmd = runner();
    cmd.args(["exec", "--timeout", "60"]);
    if let Some(p) = policy {
        cmd.arg("--policy").arg(p);
    }
    let sandboxed = cmd.arg(program).args(args).output().expect("runner");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Both {
        native: (
            status_code(native.status),
            text(&native.stdout),
            text(&native.stderr),
        ),
        sandboxed: (
            status_code(sandboxed.status),
            text(&sandboxed.stdout),
            text(&sandboxed.stderr),
        ),
    }
}

fn build_cpp() -> PathBuf {
    let out = build_dir().join("cpp_threads");
    let mut cmd = Command::new("g++");
    cmd.args(["-static", "-O2", "-pthread", "-Wall", "-o"])
        .arg(&out)
        .arg(source("cpp/threads.cpp"));
    compile(cmd, "g++ (apt-get install g++)");
    out
}

#[test]
fn a_glibc_cpp_program_with_threads_and_exceptions_matches_native() {
    let prog = build_cpp();
    let r = run_both(&prog, &[], None);
    let (status, stdout, stderr) = &r.native;
    assert_eq!(*status, 0, "natively: {stdout}{stderr}");
    assert!(stdout.ends_with("done\n"), "natively: {stdout}");
    assert!(
        stdout.contains("destructors ran for 0 1 2 3 4 5 6 7 8 9\n"),
        "natively: {stdout}"
    );
    assert_eq!(stderr, "a line on std::cerr\n");
    assert_eq!(r.sandboxed, r.native, "under the runner / natively");

    // An exception nobody catches: std::terminate's message, then abort.
    let r = run_both(&prog, &["terminate"], None);
    let (status, stdout, stderr) = &r.native;
    assert_eq!(*status, 134, "natively: {stdout}{stderr}");
    let (sb_status, sb_stdout, sb_stderr) = &r.sandboxed;
    assert_eq!(*sb_status, 134, "{sb_stdout}{sb_stderr}");
    assert_eq!(sb_stdout, stdout);
    assert_eq!(stdout, "about to throw past main\n");
    // The program's own lines, then the runner's line about the signal.
    assert!(
        sb_stderr.starts_with(stderr.as_str()),
        "{sb_stderr:?} / natively {stderr:?}"
    );
    assert!(
        stderr.contains("terminate called after throwing an instance of 'std::runtime_error'\n  what():  nobody catches this\n"),
        "{stderr}"
    );
    assert!(
        sb_stderr[stderr.len()..].starts_with("runner: guest killed by SIGABRT"),
        "{sb_stderr}"
    );
}

/// Builds `samples/rust/threads.rs` for the static glibc target, as a
/// static executable (`static: true`) or a static-pie.
fn build_rust(static_exe: bool) -> PathBuf {
    let name = if static_exe {
        "rust_threads_static"
    } else {
        "rust_threads_pie"
    };
    let out = build_dir().join(name);
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut cmd = Command::new(rustc);
    cmd.args([
        "-O",
        "-C",
        "target-feature=+crt-static",
        "--target",
        "x86_64-unknown-linux-gnu",
    ]);
    if static_exe {
        cmd.args(["-C", "relocation-model=static"]);
    }
    cmd.arg("-o").arg(&out).arg(source("rust/threads.rs"));
    compile(cmd, "the Rust toolchain (rustc)");
    out
}

/// A panic message names the thread's id (`thread 'main' (2) panicked`),
/// which differs between runs: replaced by N. Returns the text and the
/// ids, in order.
fn without_tids(stderr: &str) -> (String, Vec<String>) {
    let mut ids = Vec::new();
    let text = stderr
        .lines()
        .map(|line| {
            if let (true, Some(open), Some(close)) = (
                line.starts_with("thread '"),
                line.find("' ("),
                line.find(") panicked at "),
            ) {
                if open < close {
                    ids.push(line[open + 3..close].to_string());
                    return format!("{}' (N{}", &line[..open], &line[close..]);
                }
            }
            line.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n");
    (text, ids)
}

#[test]
fn a_rust_program_with_std_thread_matches_native_static_and_static_pie() {
    let dir = temp_dir("languages-rust");
    let data = dir.join("data.txt");
    let text: String = (0..2000u32)
        .map(|i| format!("line {i} {}\n", i.wrapping_mul(2_654_435_761) >> 7))
        .collect();
    std::fs::write(&data, text).expect("data");
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[[files]]\npath = \"{}\"\naccess = \"read\"\n",
            data.display()
        ),
    )
    .expect("policy");
    let data_arg = data.to_str().expect("utf-8 path");
    for static_exe in [true, false] {
        let prog = build_rust(static_exe);
        let what = if static_exe { "static" } else { "static-pie" };
        let r = run_both(&prog, &[data_arg], Some(&policy));
        let (status, stdout, stderr) = &r.native;
        assert_eq!(*status, 0, "{what} natively: {stdout}{stderr}");
        assert!(stdout.ends_with("done\n"), "{what} natively: {stdout}");
        assert!(
            stdout.contains("join: the thread panicked with \"boom in a thread: 42\"\n"),
            "{what} natively: {stdout}"
        );
        assert!(stdout.contains(" 2000 lines,"), "{what} natively: {stdout}");
        let (sb_status, sb_stdout, sb_stderr) = &r.sandboxed;
        assert_eq!(*sb_status, 0, "{what}: {sb_stdout}{sb_stderr}");
        assert_eq!(
            sb_stdout, stdout,
            "{what}: stdout under the runner / natively"
        );
        let (native_err, _) = without_tids(stderr);
        let (sb_err, ids) = without_tids(sb_stderr);
        assert_eq!(
            sb_err, native_err,
            "{what}: stderr under the runner / natively"
        );
        assert!(
            native_err.contains("thread 'panicker' (N) panicked at ")
                && native_err.contains("boom in a thread: 42"),
            "{native_err}"
        );
        // Under the runner the first thread's id is the pid, 2.
        assert_eq!(ids.last().map(String::as_str), Some("2"), "{sb_stderr}");

        let r = run_both(&prog, &["panic-main"], None);
        assert_eq!(r.native.0, 101, "{what} natively: {}", r.native.2);
        assert_eq!(r.sandboxed.0, 101, "{what}: {}", r.sandboxed.2);
        assert_eq!(r.sandboxed.1, r.native.1, "{what}");
        assert_eq!(without_tids(&r.sandboxed.2).0, without_tids(&r.native.2).0);
        assert!(
            r.native.2.contains("the main thread panics"),
            "{}",
            r.native.2
        );
    }
}
