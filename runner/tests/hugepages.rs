//! 2 MiB guest pages (docs/architecture.md, "2 MiB pages"): the
//! `hugepages` sample changes parts and wholes of 2 MiB pages after touching
//! them, and checks what it then sees through its own mappings, including
//! bytes the runner wrote; accesses to what a change removed must fault.
//! Real guests on /dev/kvm: on kvm_pvm this is KVM's shadow MMU at work.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use support::*;

/// `runner exec --stats F [extra...] hugepages args...`, and the stats.
fn run_stats(extra: &[&str], args: &[&str], tag: &str) -> (Run, serde_json::Value) {
    let dir = temp_dir(&format!("huge-{tag}"));
    let file = dir.join("stats.json");
    let mut all = vec!["--stats", file.to_str().expect("utf-8")];
    all.extend_from_slice(extra);
    let r = exec_elf(&all, "hugepages", args);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{tag}: stats: {e}"));
    (r, serde_json::from_str(&text).expect("stats are JSON"))
}

fn n(stats: &serde_json::Value, key: &str) -> u64 {
    stats[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a number in {stats}"))
}

#[test]
fn every_change_inside_and_of_huge_pages_is_what_the_program_sees() {
    require_kvm();
    let native = run_native(&elf_sample("hugepages"), &["check"], b"", &[]);
    assert_eq!(native.stdout, "hugepages: all ok\n", "{}", native.stderr);
    let (r, s) = run_stats(&["--monitor", "off"], &["check"], "check");
    assert_eq!((r.status, r.stderr.as_str()), (0, ""), "{}", r.stdout);
    assert_eq!(r.stdout, native.stdout);
    assert_eq!(s["huge_pages"], "on");
    // 4 in the area, 1 spare, 1 mapped again, 25 x 2 in each of the two
    // kinds of rounds that keep their place free of 4 KiB tables.
    assert!(n(&s, "huge_pages_mapped") >= 100, "{s}");
    assert!(n(&s, "huge_pages_split") >= 4, "{s}");
    // Every removal or split after the guest ran moved it to a new root:
    // one GET_SREGS each, nothing else.
    let switches = n(&s, "page_table_root_switches");
    assert!(switches >= 50, "{s}");
    assert!(n(&s, "vcpu_ioctls_other") <= 8 + switches, "{s}");
}

#[test]
fn without_huge_pages_the_program_sees_the_same() {
    require_kvm();
    let (r, s) = run_stats(&["--huge-pages", "off"], &["check"], "off");
    assert_eq!((r.status, r.stderr.as_str()), (0, ""), "{}", r.stdout);
    assert_eq!(r.stdout, "hugepages: all ok\n");
    assert_eq!(s["huge_pages"], "off");
    assert_eq!(n(&s, "huge_pages_mapped"), 0);
    assert_eq!(n(&s, "page_table_root_switches"), 0);
}

#[test]
fn the_monitor_runs_without_huge_pages() {
    require_kvm();
    let (r, s) = run_stats(&["--monitor", "on"], &["check"], "monitor");
    assert_eq!((r.status, r.stderr.as_str()), (0, ""), "{}", r.stdout);
    assert_eq!(r.stdout, "hugepages: all ok\n");
    assert_eq!(s["monitor"], "on");
    assert_eq!(s["huge_pages"], "off", "the monitor's root cannot move");
    assert_eq!(n(&s, "huge_pages_mapped"), 0);
}

/// What was removed or made read-only after the program touched it faults
/// at the address the program names, whatever the hypervisor had cached.
#[test]
fn what_a_change_took_away_faults() {
    require_kvm();
    for (mode, verb, kind) in [
        ("fault-ro", "writing", "write to protected address"),
        ("fault-hole", "reading", "read from unmapped address"),
        ("fault-gone", "reading", "read from unmapped address"),
        ("fault-moved", "reading", "read from unmapped address"),
    ] {
        let (r, s) = run_stats(&["--monitor", "off"], &[mode], mode);
        assert_eq!(r.status, 139, "{mode}: {} {}", r.stdout, r.stderr);
        let addr = r
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(verb)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{mode}: no address in {}", r.stdout));
        assert!(
            r.stderr.contains("SIGSEGV")
                && r.stderr.contains(kind)
                && r.stderr.contains(&format!("address {addr}")),
            "{mode}: {}",
            r.stderr
        );
        assert!(n(&s, "huge_pages_mapped") >= 4, "{mode}: {s}");
        // Each change came after the guest had used the tables.
        assert!(n(&s, "page_table_root_switches") >= 1, "{mode}: {s}");
    }
}

/// The compute sample gets the same answer with 2 MiB pages, from them.
#[test]
fn the_bench_sample_uses_huge_pages_and_agrees() {
    require_kvm();
    let native = run_native(&elf_sample("bench"), &["6000000"], b"", &[]);
    let dir = temp_dir("huge-bench");
    let file = dir.join("stats.json");
    let r = exec_elf(
        &["--stats", file.to_str().expect("utf-8"), "--monitor", "off"],
        "bench",
        &["6000000"],
    );
    assert_eq!((r.status, r.stdout.as_str()), (0, native.stdout.as_str()));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("stats")).expect("JSON");
    // malloc's 6 MB buffer comes from mmap, placed 2 MiB aligned.
    assert!(n(&s, "huge_pages_mapped") >= 2, "{s}");
}
