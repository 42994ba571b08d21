//! Every sample guest, run for real on /dev/kvm: output, exit status and,
//! for deaths, the one-line report.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use support::*;

#[test]
fn hello_prints_from_inside_the_vm() {
    let r = exec_sample(&[], "hello", &[]);
    assert_eq!(r.stdout, "Hello from inside the VM!\n");
    assert_eq!(r.stderr, "");
    assert_eq!(r.status, 0);
}

#[test]
fn echo_gets_its_argv() {
    let r = exec_sample(&[], "echo", &["one", "two words", "--flag"]);
    assert_eq!(r.stdout, "one two words --flag\n");
    assert_eq!(r.status, 0);
    let r = exec_sample(&[], "echo", &[]);
    assert_eq!(r.stdout, "\n");
}

#[test]
fn cat_copies_stdin_byte_for_byte() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let p = sample("cat");
    let out = run_with_stdin(&["exec", p.to_str().expect("path")], &data);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stdout.len(), String::from_utf8_lossy(&data).len());
    let r = run_with_stdin(
        &["exec", p.to_str().expect("path")],
        b"line one\nline two\n",
    );
    assert_eq!(r.stdout, "line one\nline two\n");
}

#[test]
fn compute_matches_the_reference() {
    let r = exec_sample(&[], "compute", &["1000000"]);
    assert_eq!(r.stdout, "compute: 3e746a84b0b86f03\n");
    assert_eq!(r.status, 0);
}

#[test]
fn exit_status_is_the_guests() {
    assert_eq!(exec_sample(&[], "exit42", &[]).status, 42);
}

/// (sample, status, exact stderr line)
const DEATHS: &[(&str, i32, &str)] = &[
    ("fault_pf_read", 139, "runner: guest killed by SIGSEGV (page fault: read from unmapped address) at rip 0x400000, address 0x10\n"),
    ("fault_pf_write", 139, "runner: guest killed by SIGSEGV (page fault: write to unmapped address) at rip 0x40000a, address 0x700000000000\n"),
    ("fault_pf_exec", 139, "runner: guest killed by SIGSEGV (page fault: instruction fetch from unmapped address) at rip 0x700000000000, address 0x700000000000\n"),
    ("fault_gp", 139, "runner: guest killed by SIGSEGV (general protection fault) at rip 0x400000\n"),
    ("fault_gp_noncanonical", 139, "runner: guest killed by SIGSEGV (general protection fault) at rip 0x40000a\n"),
    ("fault_ud", 132, "runner: guest killed by SIGILL (invalid opcode) at rip 0x400000\n"),
    ("fault_de", 136, "runner: guest killed by SIGFPE (divide error) at rip 0x400009\n"),
    ("fault_bp", 133, "runner: guest killed by SIGTRAP (breakpoint) at rip 0x400001\n"),
];

#[test]
fn faults_end_the_run_with_the_native_status_and_one_line() {
    for &(name, status, line) in DEATHS {
        let r = exec_sample(&[], name, &[]);
        assert_eq!(r.status, status, "{name}: {}", r.stderr);
        assert_eq!(r.stderr, line, "{name}");
        assert_eq!(r.stdout, "", "{name}");
    }
}

#[test]
fn page_table_changes_reach_the_guest() {
    // A page used, then unmapped or made read-only, must fault afterwards:
    // the guest TLB and (on kvm_pvm) the shadow page tables must not keep it.
    let r = exec_sample(&[], "use_after_munmap", &[]);
    assert_eq!(r.status, 139, "{}", r.stderr);
    assert!(
        r.stderr.contains("page fault: read from unmapped address"),
        "{}",
        r.stderr
    );
    let r = exec_sample(&[], "write_after_mprotect", &[]);
    assert_eq!(r.status, 139, "{}", r.stderr);
    assert!(
        r.stderr.contains("page fault: write to protected address"),
        "{}",
        r.stderr
    );
}

#[test]
fn infinite_loop_is_killed_at_the_time_limit() {
    let start = std::time::Instant::now();
    let r = exec_sample(&["--timeout", "0.3"], "spin", &[]);
    assert_eq!(r.status, 137);
    assert!(
        r.stderr.starts_with(
            "runner: guest killed by SIGKILL (time limit of 0.3s exceeded) at rip 0x4000"
        ),
        "{}",
        r.stderr
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn blocked_read_is_also_ended_by_the_time_limit() {
    // cat waits on a stdin that never closes: the watchdog's kick must end the
    // blocking host read too.
    let mut child = runner()
        .args([
            "exec",
            "--timeout",
            "0.3",
            sample("cat").to_str().expect("path"),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let _keep_open = child.stdin.take();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(137), "{stderr}");
    // Reported at the guest's own RIP (after its read syscall), never inside
    // the runner's entry code.
    assert!(
        stderr.starts_with(
            "runner: guest killed by SIGKILL (time limit of 0.3s exceeded) at rip 0x4000"
        ),
        "{stderr}"
    );
}

#[test]
fn memory_calls_work_and_respect_the_limit() {
    let r = exec_sample(&[], "memory", &[]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "memory: ok\n", "")
    );
}

#[test]
fn misc_syscalls_work() {
    let r = exec_sample(&[], "misc", &[]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "misc: ok\n", "")
    );
}

#[test]
fn bad_pointers_get_efault_never_a_crash() {
    let r = exec_sample(&[], "badptr", &[]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "badptr: ok\n", "")
    );
}

#[test]
fn unknown_syscalls_return_enosys_and_are_reported() {
    let r = exec_sample(&[], "unknown_syscall", &[]);
    assert_eq!(r.status, 0);
    assert_eq!(r.stdout, "unknown_syscall: ok\n");
    assert_eq!(
        r.stderr,
        "runner: unsupported syscall nr_999 (999) returned ENOSYS\nrunner: unsupported syscall nr_100000 (100000) returned ENOSYS\n"
    );
}

#[test]
fn every_sample_is_covered_by_a_test() {
    let tested = [
        "hello",
        "echo",
        "cat",
        "compute",
        "exit42",
        "spin",
        "memory",
        "misc",
        "badptr",
        "unknown_syscall",
        "syscall_loop",
        "use_after_munmap",
        "write_after_mprotect",
        // Tested in tests/files.rs and tests/net.rs.
        "fsop",
        "fileio",
        "netop",
        // Tested in monitor.rs.
        "monitor_calls",
        "monitor_interleave",
        "monitor_attack",
        // Tested in vdso.rs.
        "vdso_auxv",
    ];
    // The hostile_* samples are covered by tests/hostile.rs.
    for name in samples::ALL.iter().filter(|n| !n.starts_with("hostile_")) {
        assert!(
            tested.contains(name) || DEATHS.iter().any(|d| d.0 == *name),
            "sample {name} has no test"
        );
    }
}
