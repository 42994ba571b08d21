//! Multi-threaded guests: each guest thread on its own vCPU and host
//! thread. Real programs (musl and glibc pthreads) compared with their
//! native runs, byte for byte; threads and memory changes; the limits.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::process::Command;
use support::*;

/// The program's native run: (status, stdout).
fn native(name: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(elf_sample(name))
        .args(args)
        .output()
        .expect("run natively");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_pthread_battery_matches_native_with_musl_and_glibc() {
    for name in ["threads", "threads_glibc"] {
        let (status, stdout) = native(name, &[]);
        assert_eq!(status, 0, "{name} natively: {stdout}");
        assert!(stdout.ends_with("done\n"), "{name} natively: {stdout}");
        let r = exec_elf(&[], name, &[]);
        assert_eq!(r.status, 0, "{name}: {}{}", r.stdout, r.stderr);
        assert_eq!(
            r.stdout, stdout,
            "{name}: stdout differs from the native run"
        );
        assert_eq!(r.stderr, "", "{name}");
    }
}

#[test]
fn a_page_another_thread_unmaps_or_protects_faults_at_once() {
    // The other thread reads (writes) in a loop; once munmap (mprotect)
    // has returned its next access faults, and the process dies of
    // SIGSEGV as it does natively: "survived" is never printed.
    for (mode, cause) in [
        ("munmap", "page fault: read from unmapped address"),
        ("mprotect", "page fault: write to protected address"),
    ] {
        let (status, stdout) = native("unmap_race", &[mode]);
        assert_eq!(status, -1, "natively killed by a signal: {stdout}");
        let r = exec_elf(&[], "unmap_race", &[mode]);
        assert_eq!(r.status, 139, "{mode}: {}{}", r.stdout, r.stderr);
        assert!(!r.stdout.contains("survived"), "{mode}: {}", r.stdout);
        assert!(
            r.stderr
                .contains(&format!("runner: guest killed by SIGSEGV ({cause})")),
            "{mode}: {}",
            r.stderr
        );
    }
}

#[test]
fn limits_threads_caps_live_threads_with_eagain() {
    let dir = temp_dir("threads-limit");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "[limits]\nthreads = 3\n").expect("policy");
    let p = policy.display().to_string();
    // spin_threads starts three threads besides the first: the third fails.
    let r = exec_elf(&["--policy", &p, "--timeout", "2"], "spin_threads", &[]);
    assert_eq!(r.status, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "pthread_create failed\n");
    assert!(
        r.stderr.contains(
            "runner: clone refused: limits.threads (3) threads are alive; returned EAGAIN"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn the_monitor_runs_one_thread_and_says_so() {
    let r = exec_elf(&["--monitor", "on"], "threads", &[]);
    assert_eq!(r.status, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL pthread_create"), "{}", r.stdout);
    assert!(
        r.stderr.contains(
            "runner: clone refused: the in-VM monitor runs one thread; run threaded programs with --monitor off; returned EAGAIN"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn exit_group_from_another_thread_ends_every_thread() {
    // threads_exit.c: a second thread calls exit(3) while the first waits
    // in pthread_join for a thread that pauses forever.
    let r = exec_elf(&["--timeout", "10"], "threads_exit", &[]);
    assert_eq!(r.status, 3, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "second thread exits the process\n");
}

#[test]
fn epoll_and_eventfd_between_threads_match_native() {
    let (status, stdout) = native("events", &[]);
    assert_eq!(status, 0, "natively: {stdout}");
    let r = exec_elf(&[], "events", &[]);
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, stdout);
    assert_eq!(r.stderr, "");
}

#[test]
fn a_thread_blocked_on_an_idle_stdin_does_not_hold_up_the_others() {
    // Stdin is a pipe the test keeps open and never writes: the reader
    // thread's read blocks; the first thread's exit must end the run at
    // once, not at the time limit.
    use std::process::Stdio;
    let start = std::time::Instant::now();
    let mut child = runner()
        .args(["exec", "--timeout", "8"])
        .arg(elf_sample("threads_stdin"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runner");
    let _keep_open = child.stdin.take();
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "exiting while the reader waits\n"
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "the run ended only after {:?}",
        start.elapsed()
    );
}

/// Found by the fuzzer's concurrency programs (hostile_threads.c): many
/// threads at once under the lock-down, clone with a TLS base the CPU
/// cannot hold, a handler on an alternate stack that wraps around, and a
/// page whose permissions change under a thread writing it (the last a
/// race, caught about every other run before its fix: it runs three
/// times). Each ends as it does natively.
#[test]
fn thread_and_signal_edges_end_as_natively() {
    let refresh = ("refresh", 0, "refresh: the writer ran throughout\n");
    for (mode, status, stdout) in [
        ("many", 0, "many: 40 joined, sum 780\n"),
        ("tls", 0, "tls: EPERM, parent tid 0\n"),
        ("altstack", 139, ""),
        refresh,
        refresh,
        refresh,
    ] {
        // Natively a death by a signal has no exit code (-1 here).
        let (native_status, native_stdout) = native("hostile_threads", &[mode]);
        assert_eq!(native_stdout, stdout, "{mode} natively");
        assert_eq!(
            native_status,
            if status == 0 { 0 } else { -1 },
            "{mode} natively"
        );
        let r = exec_elf(&[], "hostile_threads", &[mode]);
        assert_eq!(r.status, status, "{mode}: {}{}", r.stdout, r.stderr);
        assert_eq!(r.stdout, stdout, "{mode}");
        if status == 0 {
            assert_eq!(r.stderr, "", "{mode}");
        } else {
            assert!(
                r.stderr
                    .starts_with("runner: guest killed by SIGSEGV (cannot build the frame"),
                "{mode}: {}",
                r.stderr
            );
        }
    }
}

/// Threads created and joined one after another while others wait: a
/// clone never starts a host thread (and vCPU) beyond `limits.threads`,
/// not even at the largest limit, where one more was status 125.
#[test]
fn thread_churn_keeps_the_vcpus_within_limits_threads() {
    let dir = temp_dir("churn");
    for (threads, waiting) in [(2, 0), (256, 254)] {
        let policy = policy_file(
            &dir,
            &format!("t{threads}.toml"),
            &format!("[limits]\nthreads = {threads}\nmemory = \"64MiB\"\n"),
        );
        let stats = dir.join(format!("t{threads}.json"));
        let stats_arg = stats.to_str().expect("path");
        let waiting_arg = waiting.to_string();
        let r = exec_elf(
            &["--policy", &policy, "--stats", stats_arg],
            "hostile_threads",
            &["churn", &waiting_arg],
        );
        assert_eq!(r.status, 0, "{threads}: {}{}", r.stdout, r.stderr);
        assert_eq!(
            r.stdout,
            format!("churn: {waiting} waited, 0 of 500 not created\n")
        );
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).expect("stats")).expect("json");
        let vcpus = s["vcpus"].as_u64().expect("vcpus");
        assert!(
            (1..=threads).contains(&vcpus),
            "{vcpus} vCPUs with limits.threads = {threads}"
        );
    }
}

/// Forks (copy-on-write: every page loses W, and the frames are
/// refreshed after the other vCPUs are out) while another thread writes a
/// page. The writer's fault on the page fork just made read-only may still
/// be pending in KVM when the shootdown's kick stops its vCPU; KVM
/// delivers it wherever the vCPU is at its next entry, so `tlb::redirect`
/// must not move it to `flush_return` first (`Vcpu::exception_pending`).
/// Without that, about every other run died of
/// "SIGSEGV (page fault: write to protected address in the runner's entry
/// code) at rip 0xffffffff80004210" on kvm_pvm.
#[test]
fn forks_under_a_writing_thread_end_as_natively() {
    for _ in 0..3 {
        let (status, stdout) = native("hostile_threads", &["fork-refresh"]);
        let line = "fork-refresh: the writer ran throughout\n";
        assert_eq!((status, stdout.as_str()), (0, line), "natively");
        let r = exec_elf(&[], "hostile_threads", &["fork-refresh"]);
        assert_eq!((r.status, r.stdout.as_str()), (0, line), "{}", r.stderr);
        assert_eq!(r.stderr, "");
    }
}

/// The pool's vCPUs serve every process: with all of them in use, a
/// thread of any process gets EAGAIN (the run goes on, where it failed
/// with 125 when a vCPU past the VM's 256 was made), and under the bound
/// the threads of several processes all start, as natively.
#[test]
fn the_vcpus_are_shared_by_every_process_and_bounded() {
    let dir = temp_dir("procs-vcpus");
    let policy = policy_file(
        &dir,
        "procs.toml",
        "[limits]\nthreads = 64\nprocesses = 8\nmemory = \"128MiB\"\n",
    );
    // processes, threads each, threads started in the sandbox, vCPUs.
    for (p, t, started, vcpus) in [(3u64, 20u64, 60u64, 64u64), (5, 63, 250, 256)] {
        let args = [p.to_string(), t.to_string()];
        let (native_status, native_stdout) =
            native("hostile_threads", &["procs", &args[0], &args[1]]);
        let line = |n: u64| {
            format!(
                "procs: {p} processes, {n} of {} threads started, 0 bad exits\n",
                p * t
            )
        };
        assert_eq!((native_status, native_stdout), (0, line(p * t)), "natively");
        let stats = dir.join(format!("p{p}.json"));
        let stats_arg = stats.to_str().expect("path");
        let r = exec_elf(
            &["--policy", &policy, "--stats", stats_arg],
            "hostile_threads",
            &["procs", &args[0], &args[1]],
        );
        assert_eq!(r.status, 0, "{p}x{t}: {}{}", r.stdout, r.stderr);
        assert_eq!(r.stdout, line(started), "{p}x{t}");
        if started < p * t {
            assert_eq!(
                r.stderr,
                "runner: clone failed: all 256 vCPUs of the VM run threads; returned EAGAIN\n"
            );
        } else {
            assert_eq!(r.stderr, "", "{p}x{t}");
        }
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).expect("stats")).expect("json");
        assert_eq!(s["vcpus"].as_u64(), Some(vcpus), "{p}x{t}");
        assert_eq!(s["forks"].as_u64(), Some(p), "{p}x{t}");
    }
}

/// 63 child processes running at once in a small VM (4 MiB): each address
/// space in use is a shadow page-table root with pages of its own, and
/// KVM's default cache (2% of the VM's memory, at least 64 pages) ran out:
/// KVM_RUN failed with ENOSPC (status 125, found by the fuzzer), or the run
/// hung. The runner now sizes the cache for 256 address spaces
/// (thinvisor-kmod's `SHADOW_PAGES_FLOOR`).
#[test]
fn many_address_spaces_running_at_once_fit_the_shadow_cache() {
    let dir = temp_dir("spin-procs");
    let policy = policy_file(
        &dir,
        "small.toml",
        "[limits]\nmemory = \"4MiB\"\nthreads = 64\nprocesses = 64\nwall_time = \"30s\"\n",
    );
    for _ in 0..2 {
        let r = exec_elf(
            &["--policy", &policy],
            "hostile_threads",
            &["spin-procs", "63"],
        );
        assert_eq!(
            (r.status, r.stdout.as_str(), r.stderr.as_str()),
            (0, "spin-procs: 63 processes ran at once, 0 bad exits\n", "")
        );
    }
}
