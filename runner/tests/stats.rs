//! `--stats FILE`: the JSON keys of the contract, with real counts.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use support::*;

fn stats_of(name: &str, args: &[&str]) -> (Run, serde_json::Value) {
    stats_of_with(name, args, &[])
}

fn stats_of_with(name: &str, args: &[&str], extra: &[&str]) -> (Run, serde_json::Value) {
    // One directory per call: tests run in parallel and share samples.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = temp_dir(&format!("stats-{name}-{call}"));
    let file = dir.join("stats.json");
    let mut all = vec!["--stats", file.to_str().expect("path")];
    all.extend_from_slice(extra);
    let r = exec_sample(&all, name, args);
    let text = std::fs::read_to_string(&file).expect("stats file written");
    (r, serde_json::from_str(&text).expect("stats are JSON"))
}

#[test]
fn syscall_heavy_guest_costs_one_exit_and_one_ioctl_per_syscall() {
    let n = 5000u64;
    // Without the in-VM monitor (which would answer getpid without exits;
    // see monitor.rs) or the syscall ring (ring.rs): every syscall is one
    // exit.
    let (r, s) = stats_of_with(
        "syscall_loop",
        &["5000"],
        &["--monitor", "off", "--syscalls", "exit"],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    for key in [
        "exit_status",
        "wall_ns",
        "exits",
        "exits_by_reason",
        "vcpu_ioctls",
        "syscalls",
        "syscalls_in_vm",
        "denied",
        "peak_guest_memory_bytes",
    ] {
        assert!(s.get(key).is_some(), "missing key {key}");
    }
    let syscalls = n + 2; // getpid x n, write, exit_group
    assert_eq!(s["syscalls"]["getpid"], n);
    assert_eq!(s["syscalls"]["write"], 1);
    assert_eq!(s["syscalls"]["exit_group"], 1);
    assert_eq!(s["exits"], syscalls);
    assert_eq!(s["exits_by_reason"]["syscall"], syscalls);
    let ioctls = s["vcpu_ioctls"].as_u64().expect("number");
    let other = s["vcpu_ioctls_other"].as_u64().expect("number");
    // One KVM_RUN per exit; the rest is a constant amount of setup: CPUID,
    // sregs, MSRs, XCR0, and the clock's calibration (the TSC rate, the
    // guest TSC, once more when the runner was preempted around it).
    assert_eq!(ioctls - other, syscalls);
    assert!(other <= 8, "setup ioctls: {other}");
    assert_eq!(s["exit_status"], 0);
    assert_eq!(s["denied"], 0);
    assert_eq!(s["syscalls_in_vm"], 0);
    assert!(s["wall_ns"].as_u64().expect("number") > 0);
    assert!(s["peak_guest_memory_bytes"].as_u64().expect("number") >= 64 << 10);
}

#[test]
fn phases_account_for_the_wall_time_and_the_run_covers_the_guest() {
    let (r, s) = stats_of_with("syscall_loop", &["2000"], &["--monitor", "off"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let phase = |p: &str| {
        s["phases_ns"][p]
            .as_u64()
            .unwrap_or_else(|| panic!("phase {p}"))
    };
    let names = ["prepare", "build_vm", "lock_down", "run"];
    let sum: u64 = names.iter().map(|p| phase(p)).sum();
    let wall = s["wall_ns"].as_u64().expect("wall");
    let guest = s["guest_ns"].as_u64().expect("guest");
    // The phases are consecutive slices of wall_ns (the report after them
    // is the only part of wall_ns outside every phase).
    assert!(sum <= wall, "phases {sum} > wall {wall}");
    assert!(
        sum * 10 >= wall * 9,
        "phases {sum} cover less than 90% of {wall}"
    );
    // Every KVM_RUN happens inside the run phase; the VM is built before it.
    assert!(
        phase("run") >= guest,
        "run {} < guest {guest}",
        phase("run")
    );
    assert!(phase("build_vm") > 0 && phase("lock_down") > 0);
}

#[test]
fn stats_record_deaths_and_memory() {
    let (r, s) = stats_of("fault_ud", &[]);
    assert_eq!(r.status, 132);
    assert_eq!(s["exit_status"], 132);
    assert_eq!(s["exits_by_reason"]["exception"], 1);
    let (_, small) = stats_of("hello", &[]);
    let (_, big) = stats_of("memory", &[]);
    // memory maps an extra 2 MiB at its peak.
    assert!(
        big["peak_guest_memory_bytes"].as_u64()
            > small["peak_guest_memory_bytes"]
                .as_u64()
                .map(|v| v + (1 << 20))
    );
}

#[test]
fn stats_are_written_even_under_a_tiny_write_budget() {
    let dir = temp_dir("stats-tiny-budget");
    let policy = dir.join("p.toml");
    std::fs::write(&policy, "[limits]\nbytes_written = \"100\"\n").expect("policy");
    let file = dir.join("stats.json");
    let r = exec_sample(
        &[
            "--policy",
            policy.to_str().expect("p"),
            "--stats",
            file.to_str().expect("s"),
        ],
        "hello",
        &[],
    );
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "Hello from inside the VM!\n"),
        "{}",
        r.stderr
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("written")).expect("json");
    assert_eq!(s["exit_status"], 0);
}
