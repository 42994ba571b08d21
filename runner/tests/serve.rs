//! `runner serve` and `runner exec --server`: served runs behave as
//! `runner exec` runs (output, statuses, stderr lines, paths resolved from
//! the client's directory, its environment, --stats), each in a worker of
//! its own; a client that goes away ends its run; bad sockets are refused.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::server::Server;
use support::*;

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
    std::fs::write(dir.join("empty.toml"), "").expect("policy");
    let policy = dir.join("empty.toml");
    // Either kind of worker: one that locks down for the run, and one
    // locked down before it (which watches the connection through the
    // door its lock-down left open).
    // A directory (so a socket) each: the first server's workers may
    // still hold its listening socket for a moment after it is killed.
    for (tag, extra) in [
        ("each", vec![]),
        ("ahead", vec!["--policy", policy.to_str().expect("path")]),
    ] {
        let dir = dir.join(tag);
        std::fs::create_dir(&dir).expect("dir");
        client_gone_ends_the_run(&dir, &extra);
    }
}

fn client_gone_ends_the_run(dir: &Path, extra: &[&str]) {
    let server = Server::start_with(dir, 1, extra);
    let stats = dir.join("spin.json");
    let _ = std::fs::remove_file(&stats);
    let mut client = server.spin(&[
        "--timeout".as_ref(),
        "60".as_ref(),
        "--stats".as_ref(),
        stats.as_os_str(),
    ]);
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
            "the spinning run outlived its client by 10 s ({extra:?})"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(s["exit_status"], 137, "{extra:?}");
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

/// `runner serve --policy`: the workers lock down for the policy before
/// any request (their seccomp mode is already 2 while they wait), and a
/// run of that policy gives what `runner exec` gives, byte for byte:
/// host programs (a relative path from the client's directory, stdin, a
/// crash), a shell pipeline from the policy's files with a private /tmp,
/// `--stats`; and a `#!` script, whose interpreter reads it by its path.
#[test]
fn a_server_locked_down_ahead_runs_its_policy_as_exec_does() {
    let dir = temp_dir("serve-ahead");
    let root = busybox_root(&dir, &["tmp"], &["sh", "echo", "cat", "ls", "wc", "id"]);
    let work = dir.join("work");
    std::fs::create_dir(&work).expect("work dir");
    std::fs::copy(sample("cat"), work.join("cat")).expect("copy sample");
    let policy = work.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[[files]]\npath = \"/\"\nhost_path = \"{}\"\naccess = \"read-exec\"\n\n[[files]]\npath = \"/tmp\"\naccess = \"read-write\"\nprivate = true\n\n[[files]]\npath = \"{}\"\naccess = \"read\"\n",
            root.display(),
            work.display()
        ),
    )
    .expect("policy");
    std::fs::write(work.join("script"), "#!/bin/sh\necho \"a script: $0 $1\"\n").expect("script");
    let mut perms = std::fs::metadata(work.join("script"))
        .expect("script")
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(work.join("script"), perms).expect("chmod");
    let p = policy.to_str().expect("path");
    let server = Server::start_with(&dir, 2, &["--policy", p]);
    let modes = server.workers_seccomp(2);
    assert_eq!(modes, ["2", "2"], "idle workers not locked down yet");

    let pipeline = "echo kept > /tmp/x; cat /tmp/x; ls / | wc -l; id; echo $((6*7)) | cat";
    let [hello, exit42, fault_gp] = ["hello", "exit42", "fault_gp"].map(sample);
    let path = |p: &PathBuf| p.to_str().expect("path").to_string();
    let (hello, exit42, fault_gp) = (path(&hello), path(&exit42), path(&fault_gp));
    let cases: Vec<(Vec<&str>, &[u8])> = vec![
        (vec!["./cat"], b"through the server\n"),
        (vec![&hello], b""),
        (vec![&exit42], b""),
        (vec![&fault_gp], b""),
        (vec!["--guest-path", "/bin/sh", "-c", pipeline], b""),
        (vec!["./script", "one"], b""),
    ];
    for (args, stdin) in &cases {
        let mut direct = runner();
        direct
            .args(["exec", "--policy", p])
            .args(args)
            .current_dir(&work);
        let direct = run_command(direct, stdin);
        let mut served = server.exec();
        served.args(["--policy", p]).args(args).current_dir(&work);
        let served = run_command(served, stdin);
        assert_eq!(
            (served.status, &served.stdout, &served.stderr),
            (direct.status, &direct.stdout, &direct.stderr),
            "{args:?}"
        );
    }
    assert!(
        run_command(
            {
                let mut c = server.exec();
                c.args(["--policy", p, "--guest-path", "/bin/sh", "-c", pipeline]);
                c
            },
            b""
        )
        .stdout
        .starts_with("kept\n"),
        "the pipeline"
    );
    // An older, longer stats file is replaced whole (no tail of it left
    // after the new JSON).
    std::fs::write(work.join("stats.json"), " ".repeat(100_000) + "older").expect("older stats");
    let mut c = server.exec();
    c.args(["--policy", p, "--stats", "stats.json", "./cat"])
        .current_dir(&work);
    assert_eq!(run_command(c, b"x").status, 0);
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("stats.json")).expect("stats"))
            .expect("json");
    assert_eq!(stats["exit_status"], 0);
    assert_eq!(stats["vm_prebuilt"], true);
}

/// A server locked down ahead refuses, with the reason and status 125,
/// what it cannot serve: another policy, and the options that open a file
/// or change the lock-down; its own bad policy fails it at start.
#[test]
fn a_server_locked_down_ahead_refuses_what_it_cannot_serve() {
    let dir = temp_dir("serve-ahead-refusals");
    let empty = dir.join("empty.toml");
    std::fs::write(&empty, "").expect("policy");
    let other = dir.join("other.toml");
    std::fs::write(&other, "[limits]\nmemory = \"128MiB\"\n").expect("policy");
    let server = Server::start_with(&dir, 1, &["--policy", empty.to_str().expect("path")]);
    let hello = sample("hello");
    let hello = hello.to_str().expect("path");
    // The same content as the server's, or no --policy for an empty one.
    let r = run_command(
        {
            let mut c = server.exec();
            c.arg(hello);
            c
        },
        b"",
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let trace = format!("--trace={}", dir.join("t.txt").display());
    let verdict = dir.join("verdict.json");
    let verdict = verdict.to_str().expect("path");
    for (args, says) in [
        (
            vec!["--policy", other.to_str().expect("path")],
            "is not the policy of this server",
        ),
        (vec![trace.as_str()], "--trace opens its file"),
        (vec!["--verdict", verdict], "--verdict opens its file"),
        (vec!["--monitor", "off"], "--monitor off"),
        (vec!["--forward-signals"], "--forward-signals"),
    ] {
        let mut c = server.exec();
        c.args(&args).arg(hello);
        let r = run_command(c, b"");
        assert_eq!(r.status, 125, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.starts_with("runner: ") && r.stderr.contains(says),
            "{args:?}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("server started without --policy"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(r.stdout, "", "{args:?}");
    }
    assert!(
        !dir.join("t.txt").exists(),
        "a refused --trace made its file"
    );
    assert!(
        !dir.join("verdict.json").exists(),
        "a refused --verdict made its file"
    );
    // A refused run leaves its --stats file as a cold run that fails
    // before its lock-down does: none made, an older one untouched.
    let stats = dir.join("refused.json");
    for before in [None, Some("older stats\n")] {
        if let Some(text) = before {
            std::fs::write(&stats, text).expect("older stats");
        }
        let mut c = server.exec();
        c.args(["--policy", other.to_str().expect("path"), "--stats"])
            .arg(&stats)
            .arg(hello);
        assert_eq!(run_command(c, b"").status, 125);
        assert_eq!(
            std::fs::read_to_string(&stats).ok().as_deref(),
            before,
            "the stats file after a refused run"
        );
    }
    // The server goes on serving after its refusals.
    let mut c = server.exec();
    c.arg(sample("exit42"));
    assert_eq!(run_command(c, b"").status, 42);

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[limits]\nmemory = \"lots\"\n").expect("policy");
    let r = run(&[
        "serve",
        "--socket",
        dir.join("bad.sock").to_str().expect("path"),
        "--policy",
        bad.to_str().expect("path"),
    ]);
    assert_eq!(r.status, 125);
    assert!(
        r.stderr.starts_with("runner serve: ") && r.stderr.contains("bad.toml:2"),
        "{}",
        r.stderr
    );
    let r = run(&[
        "serve",
        "--socket",
        "x.sock",
        "--policy",
        empty.to_str().expect("path"),
        "--memory",
        "64MiB",
    ]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
}

/// A dynamically linked program under a server locked down ahead: its
/// interpreter and libraries are read from the policy's files after the
/// lock-down (the example host-tools policy), by host path and by guest
/// path, as `runner exec` reads them.
#[test]
fn a_server_locked_down_ahead_loads_dynamic_programs_from_its_files() {
    let dir = temp_dir("serve-ahead-dynamic");
    let policy =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sandbox-policy/examples/host-tools.toml");
    let p = policy.to_str().expect("path");
    let server = Server::start_with(&dir, 1, &["--policy", p]);
    for args in [
        vec!["/usr/bin/sort"],
        vec!["--guest-path", "/usr/bin/sort", "-r"],
    ] {
        let mut direct = runner();
        direct.args(["exec", "--policy", p]).args(&args);
        let direct = run_command(direct, b"b\na\nc\n");
        assert_eq!(direct.status, 0, "{args:?}: {}", direct.stderr);
        let mut served = server.exec();
        served.args(["--policy", p]).args(&args);
        let served = run_command(served, b"b\na\nc\n");
        assert_eq!(
            (served.status, &served.stdout, &served.stderr),
            (direct.status, &direct.stdout, &direct.stderr),
            "{args:?}"
        );
    }
}

/// The door a worker locked down ahead left open is shut before its run's
/// guest starts: the busy worker holds one seccomp filter more than an
/// idle one (the shutter), as the run spins.
#[test]
fn a_server_locked_down_ahead_shuts_its_door_before_the_guest_runs() {
    let dir = temp_dir("serve-ahead-door");
    std::fs::write(dir.join("empty.toml"), "").expect("policy");
    let policy = dir.join("empty.toml");
    let server = Server::start_with(&dir, 1, &["--policy", policy.to_str().expect("path")]);
    let modes = server.workers_seccomp(1);
    assert!(
        !modes.is_empty() && modes.iter().all(|m| m == "2"),
        "idle workers not locked down: {modes:?}"
    );
    let server_pid = server.child.id();
    // The seccomp filter counts of the server's workers now.
    let counts = || -> Vec<u32> {
        std::fs::read_to_string(format!("/proc/{server_pid}/task/{server_pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|c| std::fs::read_to_string(format!("/proc/{c}/status")).ok())
            .filter_map(|st| {
                st.lines()
                    .find_map(|l| l.strip_prefix("Seccomp_filters:"))
                    .and_then(|n| n.trim().parse().ok())
            })
            .collect()
    };
    // An idle worker's count, once its lock-down has installed them all
    // (the same for 300 ms).
    let mut idle = (0, Instant::now());
    let until = Instant::now() + Duration::from_secs(10);
    let idle = loop {
        let now = counts().into_iter().max().unwrap_or(0);
        if now != idle.0 {
            idle = (now, Instant::now());
        } else if now > 0 && idle.1.elapsed() > Duration::from_millis(300) {
            break now;
        }
        assert!(Instant::now() < until, "the workers' filters never settled");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut client = server.spin(&["--timeout".as_ref(), "20".as_ref()]);
    let until = Instant::now() + Duration::from_secs(10);
    let seen = loop {
        let now = counts();
        if now.iter().any(|&n| n > idle) || Instant::now() > until {
            break now;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    client.kill().expect("kill client");
    let _ = client.wait();
    assert!(
        seen.contains(&(idle + 1)) && seen.iter().all(|&n| n <= idle + 1),
        "filters of the workers while one spins: {seen:?} (idle: {idle})"
    );
}
