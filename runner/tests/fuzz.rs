//! `runner fuzz`: a short campaign of generated guests on /dev/kvm passes
//! every invariant and ends with the documented last line; the parser
//! targets survive the stable driver; bad arguments are 125.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use support::*;

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

#[test]
fn a_short_campaign_passes_every_invariant() {
    let out = temp_dir("fuzz-out");
    let r = run(&[
        "fuzz",
        "--seed",
        "7",
        "--iterations",
        "300",
        "--jobs",
        "2",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert_eq!(
        last_line(&r.stdout),
        "fuzz: 300 programs, 0 failures",
        "{}",
        r.stderr
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stderr.contains("fuzz: seed 7, 2 jobs"), "{}", r.stderr);
    assert!(r.stderr.contains("fuzz: endings: "), "{}", r.stderr);
    assert!(
        std::fs::read_dir(&out).map_or(true, |mut d| d.next().is_none()),
        "a passing campaign saves nothing"
    );
}

/// The concurrency generator alone (clone storms, futexes, signals,
/// garbage sigreturn frames, signals during syscalls), every 10th program
/// also locked down in a child: no panic, hang, leaked host thread or
/// broken invariant, and threads really ran.
#[test]
fn a_short_concurrency_campaign_passes_every_invariant() {
    let out = temp_dir("fuzz-concurrency-out");
    let r = run(&[
        "fuzz",
        "--generator",
        "concurrency",
        "--seed",
        "7",
        "--iterations",
        "300",
        "--jobs",
        "2",
        "--locked-every",
        "10",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert_eq!(
        last_line(&r.stdout),
        "fuzz: 300 programs, 0 failures",
        "{}",
        r.stderr
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let threaded: u64 = r
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("fuzz: threads: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the threads line");
    assert!(threaded >= 60, "only {threaded} programs ran threads");
    for call in ["clone ", "futex ", "rt_sigreturn ", "tgkill ", "setitimer "] {
        assert!(r.stderr.contains(call), "no {call}in {}", r.stderr);
    }
}

#[test]
fn replaying_a_sample_runs_it_through_the_checks() {
    let hello = sample("hello");
    let r = run(&["fuzz", "--replay", hello.to_str().expect("path")]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(last_line(&r.stdout), "fuzz: 1 programs, 0 failures");
    assert!(r.stderr.contains("status: 0\n"), "{}", r.stderr);
}

#[test]
fn parser_targets_survive_the_stable_driver() {
    for target in ["policy", "loader", "tunnel", "syscall-args"] {
        let r = run(&[
            "fuzz",
            "--target",
            target,
            "--seed",
            "1",
            "--iterations",
            "3000",
        ]);
        assert_eq!(r.status, 0, "{target}: {}", r.stderr);
        assert_eq!(
            last_line(&r.stdout),
            "fuzz: 3000 inputs, 0 failures",
            "{target}"
        );
    }
}

#[test]
fn bad_fuzz_arguments_are_125() {
    for args in [
        &["fuzz", "--duration", "-1"][..],
        &["fuzz", "--timeout", "0"],
        &["fuzz", "--memory", "12 parsecs"],
        &["fuzz", "--jobs", "0"],
        &["fuzz", "--generator", "threads"],
        &["fuzz", "--iterations", "5", "--duration", "5"],
        &["fuzz", "--target", "nonsense"],
    ] {
        let r = run(args);
        assert_eq!(r.status, 125, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}");
    }
}
