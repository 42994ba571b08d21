//! Signals delivered to handlers, as programs see them on Linux: the same
//! output as a native run of the same program (musl and glibc), and the
//! same status when no handler is installed.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::process::Command;
use support::*;

fn native(name: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(elf_sample(name))
        .args(args)
        .output()
        .expect("run natively");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn handlers_frames_masks_and_restarts_match_native() {
    for name in ["signals", "signals_glibc", "alarms", "alarms_glibc"] {
        let (status, stdout) = native(name, &[]);
        assert_eq!(status, Some(0), "{name} natively: {stdout}");
        assert!(stdout.ends_with("done\n"), "{name} natively: {stdout}");
        let r = exec_elf(&["--timeout", "20"], name, &[]);
        assert_eq!(r.status, 0, "{name}: {}{}", r.stdout, r.stderr);
        assert_eq!(
            r.stdout, stdout,
            "{name}: stdout differs from the native run"
        );
        assert_eq!(r.stderr, "", "{name}");
    }
}

/// The vector registers across handlers (samples/c/vector_signals.c):
/// a handler that overwrites every YMM register (and ZMM16-31 and the mask
/// registers where AVX-512 is on) leaves the interrupted code's intact, at
/// a syscall's return and in a loop a timer interrupts; the handler starts
/// with the initial MXCSR and zeroed upper halves; the frame is an XSAVE
/// area with Linux's magic words, and what the handler writes into it is
/// what the program gets back (also with the software bytes cleared: then
/// only x87 and SSE come back); an alternate stack of AT_MINSIGSTKSZ bytes
/// holds the frame; a forked child keeps its parent's registers. Compared
/// with the native run, musl and glibc.
#[test]
fn vector_registers_survive_handlers_as_natively() {
    let host_has_avx = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.split_whitespace().any(|w| w == "avx"))
        .unwrap_or(false);
    for name in ["vector_signals", "vector_signals_glibc"] {
        let (status, stdout) = native(name, &[]);
        assert_eq!(status, Some(0), "{name} natively: {stdout}");
        assert!(stdout.ends_with("done\n"), "{name} natively: {stdout}");
        if host_has_avx {
            assert!(
                stdout.contains("syscall: ymm intact") && stdout.contains("timer: ymm intact"),
                "{name} natively: {stdout}"
            );
        }
        let r = exec_elf(&["--timeout", "20"], name, &[]);
        assert_eq!(r.status, 0, "{name}: {}{}", r.stdout, r.stderr);
        assert_eq!(
            r.stdout, stdout,
            "{name}: stdout differs from the native run"
        );
        assert_eq!(r.stderr, "", "{name}");
    }
}

/// sigqueue, rt_sigqueueinfo and rt_tgsigqueueinfo: real-time signals
/// queued with their values (handlers, sigwaitinfo, another thread, a
/// child process), a standard signal sent twice taken once, a forged
/// SI_USER to another process refused: as natively (musl and glibc).
#[test]
fn queued_signals_carry_their_values_as_natively() {
    for name in ["sigqueue", "sigqueue_glibc"] {
        let (status, stdout) = native(name, &[]);
        assert_eq!(status, Some(0), "{name} natively: {stdout}");
        assert!(
            stdout.starts_with("handlers: 1 2 3 1007\n"),
            "{name} natively: {stdout}"
        );
        let r = exec_elf(&["--timeout", "20"], name, &[]);
        assert_eq!(r.status, 0, "{name}: {}{}", r.stdout, r.stderr);
        assert_eq!(
            r.stdout, stdout,
            "{name}: stdout differs from the native run"
        );
        assert_eq!(r.stderr, "", "{name}");
    }
}

/// timerfd, POSIX timers (SIGEV_SIGNAL, SIGEV_THREAD_ID, SIGEV_NONE,
/// SIGEV_THREAD), rt_sigtimedwait, signalfd, select and pselect6, the
/// masks of pselect6/ppoll/epoll_pwait, kill to the process taken by the
/// thread that does not block it, and a blocked signal that leaves a sleep
/// alone: each line as in the native run (musl and glibc).
#[test]
fn timers_sigwait_signalfd_and_select_match_native() {
    for name in ["timers", "timers_glibc"] {
        let (status, stdout) = native(name, &[]);
        assert_eq!(status, Some(0), "{name} natively: {stdout}");
        assert!(stdout.ends_with("done\n"), "{name} natively: {stdout}");
        let r = exec_elf(&["--timeout", "30"], name, &[]);
        assert_eq!(r.status, 0, "{name}: {}{}", r.stdout, r.stderr);
        assert_eq!(
            r.stdout, stdout,
            "{name}: stdout differs from the native run"
        );
        assert_eq!(r.stderr, "", "{name}");
    }
}

#[test]
fn an_alarm_without_a_handler_ends_the_run_with_142() {
    let r = exec_elf(&["--timeout", "20"], "alarms", &["default"]);
    assert_eq!(r.status, 142, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .starts_with("runner: guest killed by SIGALRM (the alarm timer expired) at rip 0x"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_forged_sigreturn_frame_cannot_change_privilege_or_reach_the_kernel_half() {
    let r = exec_elf(&[], "hostile_sigreturn", &["flags"]);
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "back in user mode: cpl 3, iopl 0, nt 0, vm 0\n");
    for (mode, cause) in [
        ("rip", "rt_sigreturn: the frame's RIP is not a user address"),
        (
            "fpstate",
            "rt_sigreturn: the frame's FPU state is not readable",
        ),
        ("frame", "rt_sigreturn: the signal frame is not readable"),
        (
            "xfeatures",
            "rt_sigreturn: the frame's FPU state: the XSAVE header's XSTATE_BV 0x200 names components XCR0 does not enable",
        ),
        (
            "mxcsr",
            "rt_sigreturn: the frame's FPU state: MXCSR 0xffffffff sets reserved bits",
        ),
        (
            "misaligned",
            "rt_sigreturn: the frame's FPU state at 0x* is not 64-byte aligned",
        ),
    ] {
        {
            let out = Command::new(elf_sample("hostile_sigreturn"))
                .arg(mode)
                .output()
                .expect("run natively");
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(out.status.signal(), Some(11), "{mode} natively");
        }
        let r = exec_elf(&[], "hostile_sigreturn", &[mode]);
        assert_eq!(r.status, 139, "{mode}: {}{}", r.stdout, r.stderr);
        assert_eq!(r.stdout, "", "{mode}");
        // `*` in a cause stands for an address in hex.
        let (head, tail) = cause.split_once('*').unwrap_or((cause, ""));
        let rest = r
            .stderr
            .strip_prefix(&format!("runner: guest killed by SIGSEGV ({head}"))
            .unwrap_or_else(|| panic!("{mode}: {}", r.stderr));
        let rest = if cause.contains('*') {
            rest.trim_start_matches(|c: char| c.is_ascii_hexdigit())
        } else {
            rest
        };
        assert!(
            rest.starts_with(&format!("{tail}) at rip 0x")),
            "{mode}: {}",
            r.stderr
        );
    }
}

/// `runner exec --forward-signals`: SIGTERM sent to the runner reaches the
/// guest's first program (its trap runs, its status is the run's); one
/// without a handler dies of it (143), also while it blocks reading an
/// idle stdin; without the flag the runner itself ends (143) and no trap
/// runs. With `--as-init` (what the OCI runtime uses) one without a
/// handler ignores it, as a pid namespace's init does.
#[test]
fn forwarded_signals_reach_the_guest() {
    use std::process::Stdio;
    use std::time::Duration;
    // A run that missed the signal ends at its time limit (137), not 143.
    let trap = "trap 'echo got TERM; exit 5' TERM; echo ready; while :; do :; done";
    let spin = "echo ready; while :; do :; done";
    // (--forward-signals, --as-init, script (None: cat of an idle
    // stdin), status, stdout)
    let cases: [(bool, bool, Option<&str>, i32, &str); 5] = [
        (true, false, Some(trap), 5, "ready\ngot TERM\n"),
        (true, false, Some(spin), 143, "ready\n"),
        (true, false, None, 143, ""),
        (false, false, Some(trap), 143, "ready\n"),
        // A container's init still runs its handler.
        (true, true, Some(trap), 5, "ready\ngot TERM\n"),
    ];
    for (forward, init, script, status, stdout) in cases {
        let mut c = runner();
        c.args(["exec", "--timeout", "30"]);
        if forward {
            c.arg("--forward-signals");
        }
        if init {
            c.arg("--as-init");
        }
        c.arg("/bin/busybox");
        match script {
            Some(s) => c.args(["sh", "-c", s]).stdin(Stdio::null()),
            None => c.arg("cat").stdin(Stdio::piped()),
        };
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runner");
        let _idle_stdin = child.stdin.take();
        let mut out = child.stdout.take().expect("stdout");
        if script.is_some() {
            // Wait for "ready": the trap is set.
            let mut byte = [0u8; 6];
            std::io::Read::read_exact(&mut out, &mut byte).expect("ready");
        } else {
            std::thread::sleep(Duration::from_millis(300));
        }
        let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).expect("rest");
        let end = child.wait_with_output().expect("wait");
        let got_status = end.status.code().or_else(|| {
            std::os::unix::process::ExitStatusExt::signal(&end.status).map(|s| 128 + s)
        });
        let seen = if script.is_some() {
            format!("ready\n{rest}")
        } else {
            rest
        };
        assert_eq!(
            (got_status, seen.as_str()),
            (Some(status), stdout),
            "forward {forward}, init {init}, {script:?}: {}",
            String::from_utf8_lossy(&end.stderr)
        );
    }
    // --as-init: a container's init ignores what it does not handle.
    // `cat` of an idle stdin is still there after SIGTERM, and ends at its
    // end of file.
    let mut child = runner()
        .args(["exec", "--timeout", "30", "--forward-signals", "--as-init"])
        .args(["/bin/busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runner");
    std::thread::sleep(Duration::from_millis(300));
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "SIGTERM ended an init without a handler"
    );
    let mut stdin = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, b"bye\n").expect("write");
    drop(stdin);
    let end = child.wait_with_output().expect("wait");
    assert_eq!(
        (
            end.status.code(),
            String::from_utf8_lossy(&end.stdout).as_ref()
        ),
        (Some(0), "bye\n"),
        "{}",
        String::from_utf8_lossy(&end.stderr)
    );
}
