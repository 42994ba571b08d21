//! The harness finds a deliberately planted bug. Built only with the
//! test-only `planted-bug` feature, under which the secure tunnel walks just
//! the first page of a range and assumes the rest follows physically
//! (runner/src/tunnel/translate.rs). A syscall that writes guest memory
//! across a page boundary then writes frames the guest never named.
//!
//! Run: `cargo test -p runner --features planted-bug --test planted_bug`.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]
#![cfg(feature = "planted-bug")]

mod support;

use support::*;

#[test]
fn the_vm_fuzzer_finds_the_planted_tunnel_bug() {
    let out = temp_dir("planted-out");
    let r = run(&[
        "fuzz",
        "--seed",
        "11",
        "--duration",
        "60",
        "--jobs",
        "2",
        "--max-failures",
        "1",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert_eq!(r.status, 1, "the planted bug went unnoticed:\n{}", r.stderr);
    // --max-failures 1 stops the campaign at the first failure, but each
    // of the two jobs may have one in hand by then (since the syscall
    // ring's block, seed 11 finds the bug within its first programs).
    let last = r.stdout.lines().last().unwrap_or("");
    let failures: u64 = last
        .strip_suffix(" failures")
        .and_then(|l| l.rsplit(", ").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no failure count: {last}"));
    assert!((1..=2).contains(&failures), "{last}");
    assert!(r.stderr.contains("fuzz:   canary: "), "{}", r.stderr);
    assert!(r.stderr.contains("fuzz:   reproduce: "), "{}", r.stderr);
    let saved: Vec<String> = std::fs::read_dir(&out)
        .expect("out dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for ext in [".bin", ".toml", ".txt"] {
        assert!(
            saved
                .iter()
                .any(|n| n.starts_with("fail-11-") && n.ends_with(ext)),
            "{saved:?}"
        );
    }
}

#[test]
fn the_tunnel_target_finds_it_too() {
    let out = temp_dir("planted-tunnel");
    let r = run(&[
        "fuzz",
        "--target",
        "tunnel",
        "--seed",
        "3",
        "--iterations",
        "200000",
        "--max-failures",
        "1",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert!(r.stdout.ends_with(", 1 failures\n"), "{}", r.stdout);
}

#[test]
fn the_hostile_suite_catches_it_as_well() {
    // Checks 19 and 20 name a range that runs from a mapped page into an
    // unmapped one: the planted tunnel lets them through.
    let r = run_with_stdin(
        &[
            "exec",
            sample("hostile_syscall_ptrs").to_str().expect("path"),
        ],
        b"stdin",
    );
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert_eq!(r.stderr, "hostile_syscall_ptrs: FAIL 19\n");
}
