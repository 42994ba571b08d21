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
    ] {
        let r = exec_elf(&[], "hostile_sigreturn", &[mode]);
        assert_eq!(r.status, 139, "{mode}: {}{}", r.stdout, r.stderr);
        assert_eq!(r.stdout, "", "{mode}");
        assert!(
            r.stderr.starts_with(&format!(
                "runner: guest killed by SIGSEGV ({cause}) at rip 0x"
            )),
            "{mode}: {}",
            r.stderr
        );
    }
}
