//! The vDSO (docs/abi.md): C programs read the clocks without a VM exit,
//! the clocks agree with the host's, the policy can never be bypassed
//! through it, and the program cannot change it. Real guests on /dev/kvm.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::time::{SystemTime, UNIX_EPOCH};
use support::*;

/// AT_SYSINFO_EHDR: where every guest with a vDSO finds it.
const VDSO: &str = "0x7fffffd01000";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `runner exec --stats F [extra...] C-SAMPLE args...`, and the stats.
fn run_stats(extra: &[&str], name: &str, args: &[&str], tag: &str) -> (Run, serde_json::Value) {
    let dir = temp_dir(&format!("vdso-{tag}"));
    let file = dir.join("stats.json");
    let mut all = vec!["--stats", file.to_str().expect("utf-8")];
    all.extend_from_slice(extra);
    let r = exec_elf(&all, name, args);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{tag}: stats: {e}"));
    (r, serde_json::from_str(&text).expect("stats are JSON"))
}

/// The value of `key: value` in the sample's output.
fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {key} line in {out}"))
}

fn secs(text: &str) -> f64 {
    text.parse()
        .unwrap_or_else(|_| panic!("not a number: {text}"))
}

/// 10000 clock_gettime(MONOTONIC) and 10000 (REALTIME), gettimeofday, time,
/// the other clocks: no exit for any of them; only the CPU-time clock is a
/// syscall. The clocks agree with the host's.
fn clocks_cost_no_exit(name: &str, monitor: &str) {
    let tag = format!("{name}-{monitor}");
    let before = now();
    let (r, s) = run_stats(&["--monitor", monitor], name, &["10000"], &tag);
    let after = now();
    assert_eq!(
        (r.status, r.stderr.as_str()),
        (0, ""),
        "{tag}: {}",
        r.stdout
    );
    assert_eq!(field(&r.stdout, "vdso"), VDSO, "{tag}");
    assert_eq!(field(&r.stdout, "clocks"), "ok", "{tag}");
    assert_eq!(s["vdso"], "on", "{tag}");
    // Without the vDSO: 20000+ clock_gettime syscalls, each an exit.
    assert_eq!(s["syscalls"]["clock_gettime"], 1, "{tag}: {s}");
    assert!(s["syscalls"].get("gettimeofday").is_none(), "{tag}: {s}");
    assert!(s["syscalls"].get("time").is_none(), "{tag}: {s}");
    assert!(n(&s["exits"]) < 40, "{tag}: {s}");
    // Still one KVM_RUN per exit, and a bounded setup.
    let other = n(&s["vcpu_ioctls_other"]);
    assert_eq!(n(&s["vcpu_ioctls"]) - other, n(&s["exits"]), "{tag}");
    assert!(other <= 8, "{tag}: setup ioctls {other}");
    // CLOCK_REALTIME is the host's (read near the end of the run).
    let real = secs(field(&r.stdout, "realtime"));
    assert!(
        real > before - 0.05 && real < after + 0.05,
        "{tag}: realtime {real} outside the run [{before}, {after}]"
    );
    let tv = secs(field(&r.stdout, "gettimeofday"));
    assert!(
        tv >= real - 1e-6 && tv < real + 0.05,
        "{tag}: gettimeofday {tv}"
    );
    let t = secs(field(&r.stdout, "time"));
    assert!(
        t == real.floor() || t == real.floor() + 1.0,
        "{tag}: time {t}"
    );
}

#[test]
fn musl_clocks_cost_no_exit() {
    clocks_cost_no_exit("clocks", "off");
    clocks_cost_no_exit("clocks", "on");
}

/// glibc's static start-up (2.36 here) sets up the vDSO from
/// AT_SYSINFO_EHDR too, so clock_gettime, gettimeofday and time use it.
#[test]
fn glibc_static_clocks_cost_no_exit() {
    clocks_cost_no_exit("clocks_glibc", "off");
}

#[test]
fn monotonic_stays_in_order_and_close_to_the_host_across_exits() {
    for name in ["clocks", "clocks_glibc"] {
        // Two seconds of reads with an exit every 1000: the runner retunes
        // the clock at exits (every 250 ms) while the program reads it.
        let (r, s) = run_stats(&[], name, &["1000", "2"], &format!("order-{name}"));
        assert_eq!(
            (r.status, r.stderr.as_str()),
            (0, ""),
            "{name}: {}",
            r.stdout
        );
        assert!(n(&s["syscalls"]["getppid"]) > 100, "{name}: {s}");
        // Every millisecond for 1.5 s: the vDSO's reading around the
        // runner's own answer (the host's clock, read during the exit).
        let r = exec_elf(&[], name, &["skew", "1.5"]);
        assert_eq!((r.status, r.stderr.as_str()), (0, ""), "{name}");
        let line = field(&r.stdout, "skew");
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> u64 {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("{name}: {line}"))
        };
        let (tight, mono, real) = (num(0), num(8), num(11));
        assert!(tight >= 20, "{name}: too few tight samples: {line}");
        // A tight sample spans at most 300 us (an exit's round trip costs
        // 30-120 us on the kvm_pvm machines measured), so a gap is at
        // most 150 us plus the clocks' disagreement.
        assert!(mono < 250_000 && real < 250_000, "{name}: {line}");
    }
}

#[test]
fn a_restricted_clock_syscall_gets_no_vdso() {
    let dir = temp_dir("vdso-policy");
    for (monitor, deny) in [("off", "EPERM"), ("on", "EPERM"), ("off", "kill")] {
        let policy = policy_file(
            &dir,
            "deny.toml",
            &format!("[syscalls]\ndeny = [\"clock_gettime\"]\non_deny = \"{deny}\"\n"),
        );
        for name in ["clocks", "clocks_glibc"] {
            let tag = format!("{name}-{monitor}-{deny}");
            let (r, s) = run_stats(
                &["--policy", &policy, "--monitor", monitor],
                name,
                &["10"],
                &tag,
            );
            assert_eq!(s["vdso"], "off", "{tag}");
            assert_eq!(s["denied"], 1, "{tag}: {s}");
            assert_eq!(s["syscalls"]["clock_gettime"], 1, "{tag}: {s}");
            if deny == "kill" {
                assert_eq!(r.status, 159, "{tag}: {}", r.stderr);
            } else {
                // The policy's errno reaches the program: nothing answered
                // the call beside the policy.
                assert_eq!(
                    (r.status, r.stderr.as_str()),
                    (1, "clocks: FAIL clock_gettime(CLOCK_MONOTONIC) (errno 1)\n"),
                    "{tag}"
                );
            }
        }
    }
    // Any restriction of the four: an allow list without getcpu, an
    // argument rule on gettimeofday, or `vdso = false`. The flat sample
    // finds no AT_SYSINFO_EHDR.
    for text in [
        "[syscalls]\nallow = [\"write\", \"clock_gettime\", \"gettimeofday\", \"time\"]\n",
        "[[syscalls.args]]\nsyscall = \"gettimeofday\"\narg = 1\nvalues = [0]\n",
        "[syscalls]\ndeny = [\"time\"]\n",
        "[syscalls]\nvdso = false\n",
    ] {
        let policy = policy_file(&dir, "p.toml", text);
        let r = exec_sample(&["--policy", &policy], "vdso_auxv", &[]);
        assert_eq!(
            (r.status, r.stdout.as_str()),
            (0, "vdso_auxv: none\n"),
            "{text}: {}",
            r.stderr
        );
    }
    // Without a vDSO every call exits (by trap: the ring would serve
    // them), and still works.
    let policy = policy_file(&dir, "off.toml", "[syscalls]\nvdso = false\n");
    let (r, s) = run_stats(
        &["--policy", &policy, "--syscalls", "exit"],
        "clocks",
        &["1000"],
        "off",
    );
    assert_eq!(
        (r.status, field(&r.stdout, "vdso")),
        (0, "0"),
        "{}",
        r.stderr
    );
    assert!(n(&s["syscalls"]["clock_gettime"]) > 2000, "{s}");
    assert!(n(&s["exits"]) > 2000, "{s}");
}

#[test]
fn a_flat_binary_finds_the_vdso_in_its_aux_vector() {
    for monitor in ["off", "on"] {
        let r = exec_sample(&["--monitor", monitor], "vdso_auxv", &[]);
        assert_eq!(
            (r.status, r.stdout.as_str(), r.stderr.as_str()),
            (0, "vdso_auxv: 00007fffffd01000\n", ""),
            "{monitor}"
        );
    }
}

/// As Linux's vDSO, a bad pointer is not checked: the program faults in
/// its own memory (where the syscall would return EFAULT).
#[test]
fn a_null_timespec_faults_in_the_vdso() {
    let r = exec_elf(&[], "clocks", &["null"]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (139, "clock_gettime(CLOCK_MONOTONIC, NULL)\n")
    );
    // The fault is in the vDSO's code, at the NULL it was given.
    assert_segv(&r.stderr, "write to unmapped", "0x7fffffd01", "0x0");
}

/// `stderr` is the runner's one SIGSEGV line for a page fault `cause`
/// ("write to protected"...) at a RIP starting with `rip`, at `addr`.
fn assert_segv(stderr: &str, cause: &str, rip: &str, addr: &str) {
    let head =
        format!("runner: guest killed by SIGSEGV (page fault: {cause} address) at rip {rip}");
    assert!(
        stderr.starts_with(&head) && stderr.ends_with(&format!(", address {addr}\n")),
        "{stderr}"
    );
}

#[test]
fn the_program_cannot_change_the_vdso() {
    for monitor in ["off", "on"] {
        let r = exec_elf(&["--monitor", monitor], "clocks", &["attack"]);
        assert_eq!(
            r.stdout,
            "mprotect: errno 13\nmunmap: errno 22\nmremap: errno 22\nmmap-fixed: errno 22\n\
             madvise: errno 22\nread-into: errno 14\nmprotect-text: errno 13\n\
             writing to the data page\n",
            "{monitor}"
        );
        assert_eq!(r.status, 139, "{monitor}");
        assert_segv(&r.stderr, "write to protected", "0x", "0x7fffffd00000");
    }
}
