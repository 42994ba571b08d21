//! `runner serve` and `runner exec --server`: served runs behave as
//! `runner exec` runs (output, statuses, stderr lines, paths resolved from
//! the client's directory, its environment, --stats), each in a worker of
//! its own; a client that goes away ends its run; bad sockets are refused.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// A running `runner serve`, killed when dropped.
struct Server {
    child: Child,
    socket: PathBuf,
}

impl Server {
    fn start(dir: &Path, workers: usize) -> Server {
        let socket = dir.join("runner.sock");
        let child = runner()
            .args(["serve", "--workers", &workers.to_string(), "--socket"])
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn runner serve");
        let until = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < until, "runner serve never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, socket }
    }

    fn exec(&self) -> Command {
        let mut c = runner();
        c.arg("exec").arg("--server").arg(&self.socket);
        c
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn served_runs_match_exec_runs() {
    let dir = temp_dir("serve-match");
    let server = Server::start(&dir, 2);
    for (name, stdin, status) in [
        ("hello", &b""[..], 0),
        ("exit42", &b""[..], 42),
        ("fault_gp", &b""[..], 139),
        ("cat", &b"through the server\n"[..], 0),
    ] {
        let direct = exec_sample(&[], name, &[]);
        let direct = if name == "cat" {
            run_with_stdin(&["exec", sample(name).to_str().expect("path")], stdin)
        } else {
            direct
        };
        let mut cmd = server.exec();
        cmd.arg(sample(name));
        let served = run_command(cmd, stdin);
        assert_eq!(served.status, status, "{name}: {}", served.stderr);
        assert_eq!(served.status, direct.status, "{name}");
        assert_eq!(served.stdout, direct.stdout, "{name}");
        assert_eq!(served.stderr, direct.stderr, "{name}");
    }
    // More runs than workers: the server keeps replacing them.
    for _ in 0..4 {
        let mut cmd = server.exec();
        cmd.arg(sample("exit42"));
        assert_eq!(run_command(cmd, b"").status, 42);
    }
}

#[test]
fn paths_and_environment_are_the_clients() {
    let dir = temp_dir("serve-client");
    let server = Server::start(&dir, 1);
    let work = dir.join("work");
    std::fs::create_dir(&work).expect("work dir");
    std::fs::copy(elf_sample("showenv"), work.join("showenv")).expect("copy sample");
    std::fs::write(work.join("env.toml"), "[env]\ninherit = true\n").expect("policy");
    let mut cmd = server.exec();
    cmd.args([
        "--policy",
        "env.toml",
        "--stats",
        "stats.json",
        "./showenv",
        "THINVISOR_SERVE_TEST",
    ])
    .current_dir(&work)
    .env("THINVISOR_SERVE_TEST", "from the client");
    let r = run_command(cmd, b"");
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "THINVISOR_SERVE_TEST=from the client\n");
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("stats.json")).expect("stats"))
            .expect("json");
    assert_eq!(stats["exit_status"], 0);
    // The run used the VM the worker built before the request came...
    assert_eq!(stats["vm_prebuilt"], true);
    // ...unless its memory limit is larger than the server's VMs: then it
    // builds its own, and runs all the same.
    std::fs::write(work.join("big.toml"), "[limits]\nmemory = \"512MiB\"\n").expect("policy");
    let mut cmd = server.exec();
    cmd.args(["--policy", "big.toml", "--stats", "big.json", "./showenv"])
        .current_dir(&work);
    let r = run_command(cmd, b"");
    assert_eq!(r.status, 0, "{}", r.stderr);
    let big: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("big.json")).expect("stats"))
            .expect("json");
    assert_eq!(big["vm_prebuilt"], false);
    let direct = exec_sample(
        &["--stats", work.join("direct.json").to_str().expect("path")],
        "exit42",
        &[],
    );
    assert_eq!(direct.status, 42);
    let direct: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("direct.json")).expect("stats"))
            .expect("json");
    assert_eq!(direct["vm_prebuilt"], false);
}

#[test]
fn a_client_that_goes_away_ends_its_run() {
    let dir = temp_dir("serve-hangup");
    let server = Server::start(&dir, 1);
    let stats = dir.join("spin.json");
    let mut client = server
        .exec()
        .args(["--timeout", "60", "--stats"])
        .arg(&stats)
        .arg(sample("spin"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn client");
    std::thread::sleep(Duration::from_millis(500));
    client.kill().expect("kill client");
    let _ = client.wait();
    let until = Instant::now() + Duration::from_secs(10);
    let s = loop {
        if let Ok(text) = std::fs::read_to_string(&stats) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                break v;
            }
        }
        assert!(
            Instant::now() < until,
            "the spinning run outlived its client by 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(s["exit_status"], 137);
    assert!(s["wall_ns"].as_u64().expect("wall") < 10_000_000_000);
}

#[test]
fn bad_sockets_are_refused_with_a_reason() {
    let dir = temp_dir("serve-bad");
    let file = dir.join("not-a-socket");
    std::fs::write(&file, "keep me").expect("file");
    let r = run(&["serve", "--socket", file.to_str().expect("path")]);
    assert_eq!(r.status, 125);
    assert!(r.stderr.contains("is not a socket"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&file).expect("file"), "keep me");
    let missing = dir.join("nobody.sock");
    let r = run(&[
        "exec",
        "--server",
        missing.to_str().expect("path"),
        sample("hello").to_str().expect("path"),
    ]);
    assert_eq!(r.status, 125);
    assert!(r.stderr.contains("cannot reach the server"), "{}", r.stderr);
    let r = run(&["serve", "--socket", "x.sock", "--memory", "12 apples"]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("expected a size"), "{}", r.stderr);
}
