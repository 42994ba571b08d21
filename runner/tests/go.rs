//! Static Go programs (Go's runtime: threads for its Ms, futexes, epoll and
//! a pipe for its timers and poller, PROT_NONE reservations of hundreds of
//! MiB) run under the runner with the output of their native run, at
//! GOMAXPROCS 1, 2 and 4. The programs are `samples/go/*.go`, built here
//! with the Go toolchain (Debian's `golang-go`; `.ci/run` installs it).

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::process::Command;
use support::*;

#[test]
fn goroutines_channels_timers_and_a_file_match_native_at_gomaxprocs_1_2_4() {
    let prog = go_build("goroutines");
    let dir = temp_dir("go-goroutines");
    let data = dir.join("data.bin");
    let bytes: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&data, &bytes).expect("data");
    for procs in ["1", "2", "4"] {
        let native = Command::new(&prog)
            .arg(&data)
            .env_clear()
            .env("GOMAXPROCS", procs)
            .output()
            .expect("native run");
        assert!(native.status.success(), "native GOMAXPROCS={procs}");
        let policy = dir.join(format!("p{procs}.toml"));
        std::fs::write(
            &policy,
            format!(
                "[env]\nvars = {{ GOMAXPROCS = \"{procs}\" }}\n\n[[files]]\npath = \"{}\"\naccess = \"read\"\n",
                data.display()
            ),
        )
        .expect("policy");
        let out = runner()
            .arg("exec")
            .arg("--policy")
            .arg(&policy)
            .arg(&prog)
            .arg(&data)
            .output()
            .expect("runner");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "GOMAXPROCS={procs}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout,
            String::from_utf8_lossy(&native.stdout),
            "GOMAXPROCS={procs}"
        );
        assert!(stdout.ends_with("done\n"));
    }
}

/// syscall.Exec from a multi-threaded Go program (execve with other
/// threads running, as Linux's de_thread): a failing exec leaves the
/// program running, a successful one runs the new program alone; the
/// same output as natively, at GOMAXPROCS 1 and 4.
#[test]
fn syscall_exec_from_a_multi_threaded_program_matches_native() {
    let prog = go_build("syscallexec");
    let dir = temp_dir("go-syscallexec");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox");
    let link = bin.join("echo");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("busybox", &link).expect("applet link");
    let native = Command::new(&prog)
        .env_clear()
        .output()
        .expect("native run");
    assert!(native.status.success(), "native run");
    let native_out = String::from_utf8_lossy(&native.stdout).into_owned();
    assert_eq!(
        native_out,
        "failed exec: no such file or directory\nhello from the new program\n"
    );
    for procs in ["1", "4"] {
        let policy = dir.join(format!("p{procs}.toml"));
        std::fs::write(
            &policy,
            format!(
                "[env]\nvars = {{ GOMAXPROCS = \"{procs}\" }}\n\n[[files]]\npath = \"/bin\"\nhost_path = \"{}\"\naccess = \"read-exec\"\n",
                bin.display()
            ),
        )
        .expect("policy");
        let out = runner()
            .arg("exec")
            .arg("--policy")
            .arg(&policy)
            .arg(&prog)
            .output()
            .expect("runner");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "GOMAXPROCS={procs}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout, native_out, "GOMAXPROCS={procs}");
    }
}

/// os/exec from a multi-threaded Go program: its forkExec clones with
/// CLONE_VM|CLONE_VFORK (the child gets a copy-on-write copy: the parent
/// has other threads) and reports exec failures through a pipe. Output,
/// statuses, pipes, a missing program and eight children started at once
/// from goroutines match the native run, with busybox's applets as /bin.
#[test]
fn os_exec_runs_children_as_natively() {
    let prog = go_build("osexec");
    let dir = temp_dir("go-osexec");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox");
    for applet in ["echo", "sh", "tr"] {
        let link = bin.join(applet);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("busybox", &link).expect("applet link");
    }
    // Natively the same applets, through a private /bin: a mount namespace
    // is not available to tests, so the native run uses the host's /bin
    // programs, whose output for these commands is the same.
    let native = Command::new(&prog)
        .env_clear()
        .output()
        .expect("native run");
    assert!(native.status.success(), "native run");
    for procs in ["1", "4"] {
        let policy = dir.join(format!("p{procs}.toml"));
        std::fs::write(
            &policy,
            format!(
                "[env]\nvars = {{ GOMAXPROCS = \"{procs}\" }}\n\n[[files]]\npath = \"/bin\"\nhost_path = \"{}\"\naccess = \"read-exec\"\n",
                bin.display()
            ),
        )
        .expect("policy");
        let out = runner()
            .arg("exec")
            .arg("--policy")
            .arg(&policy)
            .arg(&prog)
            .output()
            .expect("runner");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "GOMAXPROCS={procs}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout,
            String::from_utf8_lossy(&native.stdout),
            "GOMAXPROCS={procs}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("runner: process"),
            "a child died of a fault: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A Go net/http server in the sandbox and its clients in the same
/// program, over real TCP on the address a `listen = true` rule names (and
/// an outbound rule for the same address): keep-alive and fresh
/// connections, a POST, a 404, twenty clients at once, a graceful
/// shutdown; the output matches the native run at GOMAXPROCS 1 and 4.
#[test]
fn a_net_http_server_and_its_clients_match_native() {
    let prog = go_build("httpserve");
    let dir = temp_dir("go-http");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let native = Command::new(&prog)
        .arg(&addr)
        .env_clear()
        .output()
        .expect("native run");
    assert!(native.status.success(), "native run");
    let want = String::from_utf8_lossy(&native.stdout).into_owned();
    assert!(
        want.ends_with("concurrent: 20 of 20\nserved: true\n"),
        "{want}"
    );
    for procs in ["1", "4"] {
        let policy = dir.join(format!("p{procs}.toml"));
        std::fs::write(
            &policy,
            format!(
                "[env]\nvars = {{ GOMAXPROCS = \"{procs}\" }}\n\n[[network]]\naddress = \"{addr}\"\nlisten = true\n\n[[network]]\naddress = \"{addr}\"\n"
            ),
        )
        .expect("policy");
        let out = runner()
            .arg("exec")
            .arg("--policy")
            .arg(&policy)
            .arg(&prog)
            .arg(&addr)
            .output()
            .expect("runner");
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).as_ref()
            ),
            (Some(0), want.as_str()),
            "GOMAXPROCS={procs}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
