//! The command line: statuses for bad input, help, check and info.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use support::*;

#[test]
fn missing_program_is_127_and_unloadable_is_126() {
    let r = run(&["exec", "/nonexistent/prog.bin"]);
    assert_eq!(r.status, 127);
    assert_eq!(r.stderr, "runner: /nonexistent/prog.bin: no such file\n");
    let dir = temp_dir("cli");
    let empty = dir.join("empty.bin");
    std::fs::write(&empty, b"").expect("write");
    let r = run(&["exec", empty.to_str().expect("path")]);
    assert_eq!(r.status, 126);
    assert!(r.stderr.contains("empty file"), "{}", r.stderr);
    let r = run(&["exec", dir.to_str().expect("path")]);
    assert_eq!(r.status, 126);
    assert!(r.stderr.contains("not a regular file"), "{}", r.stderr);
}

#[test]
fn program_larger_than_the_memory_limit_is_126() {
    let dir = temp_dir("toolarge");
    let big = dir.join("big.bin");
    std::fs::write(&big, vec![0x90u8; 3 << 20]).expect("write");
    let policy = dir.join("p.toml");
    std::fs::write(&policy, "[limits]\nmemory = \"2MiB\"\n").expect("write");
    let r = run(&[
        "exec",
        "--policy",
        policy.to_str().expect("p"),
        big.to_str().expect("path"),
    ]);
    assert_eq!(r.status, 126, "{}", r.stderr);
    assert!(
        r.stderr.contains("exceeds the guest memory limit"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_arguments_and_policies_are_125() {
    let hello = sample("hello");
    let h = hello.to_str().expect("path");
    let r = run(&["exec", "--timeout", "-1", h]);
    assert_eq!(r.status, 125);
    assert!(r.stderr.contains("--timeout -1"), "{}", r.stderr);
    let r = run(&["exec", "--format", "weird", h]);
    assert_eq!(r.status, 125);
    let r = run(&["exec", "--policy", "/nonexistent.toml", h]);
    assert_eq!(r.status, 125);
    let dir = temp_dir("badpolicy");
    let p = dir.join("bad.toml");
    std::fs::write(&p, "[limits]\nmemory = \"64 parsecs\"\n").expect("write");
    let r = run(&["exec", "--policy", p.to_str().expect("p"), h]);
    assert_eq!(r.status, 125);
    assert!(
        r.stderr.contains("bad.toml:2: limits.memory"),
        "{}",
        r.stderr
    );
    let r = run(&["nonsense"]);
    assert_eq!(r.status, 125);
}

#[test]
fn policy_limits_apply() {
    let dir = temp_dir("policy-limits");
    let p = dir.join("p.toml");
    std::fs::write(&p, "[limits]\nwall_time = \"300ms\"\n").expect("write");
    let r = exec_sample(&["--policy", p.to_str().expect("p")], "spin", &[]);
    assert_eq!(r.status, 137);
    std::fs::write(&p, "[limits]\nmemory = \"1MiB\"\n").expect("write");
    // The memory sample maps 2 MiB on top of its image: refused, it reports.
    let r = exec_sample(&["--policy", p.to_str().expect("p")], "memory", &[]);
    assert_eq!(r.status, 1);
    assert!(r.stderr.starts_with("memory: FAIL"), "{}", r.stderr);
    let r = exec_sample(&["--policy", p.to_str().expect("p")], "hello", &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
}

#[test]
fn help_is_available_on_every_subcommand() {
    for args in [
        &["--help"][..],
        &["exec", "--help"],
        &["check", "--help"],
        &["info", "--help"],
        &["fuzz", "--help"],
    ] {
        let r = run(args);
        assert_eq!(r.status, 0, "{args:?}");
        assert!(r.stdout.contains("Usage"), "{args:?}");
    }
}

#[test]
fn check_prints_the_effective_policy() {
    let dir = temp_dir("check");
    let p = dir.join("p.toml");
    std::fs::write(&p, "[limits]\nmemory = \"64MiB\"\nwall_time = \"5s\"\n[syscalls]\ndeny = [\"getpid\"]\non_deny = \"EPERM\"\n").expect("write");
    let r = run(&["check", p.to_str().expect("p")]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stdout.contains("memory = \"64MiB\""), "{}", r.stdout);
    assert!(r.stdout.contains("getpid"), "{}", r.stdout);
}

#[test]
fn info_reports_platform_path_and_exit_cost() {
    let r = run(&["info"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let platform = if std::path::Path::new("/sys/module/kvm_pvm").exists() {
        "platform: kvm_pvm"
    } else {
        "platform: hardware KVM"
    };
    assert!(r.stdout.contains(platform), "{}", r.stdout);
    assert!(
        r.stdout.contains("syscall path:") && r.stdout.contains("matches the platform"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("1.00 exits and 1.00 vCPU ioctls per syscall"),
        "{}",
        r.stdout
    );
}

/// A reader that stops reading (`runner info | head -1`) is no error for
/// the commands that print: status 0, no line, no panic.
#[test]
fn printing_commands_stop_quietly_when_their_reader_does() {
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sandbox-policy/examples/host-tools.toml"
    );
    for args in [&["info"][..], &["check", policy][..]] {
        let mut cmd = runner();
        cmd.args(args);
        assert_eq!(
            with_stdout_closed(cmd),
            (Some(0), String::new()),
            "{args:?}"
        );
    }
}
