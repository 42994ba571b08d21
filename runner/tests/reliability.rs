//! The runner under hostile plumbing: sinks nobody drains, a stderr that
//! cannot be written. A run always ends at its deadline with the status
//! that says what happened, never hangs on its own output and never
//! panics (issue "Reliability": items 1 to 3).

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Waits for `child` at most `limit`; kills it and fails when it runs on.
fn wait_at_most(child: &mut Child, limit: Duration, what: &str) -> (Option<i32>, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return (status.code(), start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}: the run hangs past its deadline");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// busybox cat of a file uses sendfile to its stdout; here a pipe nobody
/// reads (the test holds the read end and never reads it). The run must
/// end at its 1 s limit with 137, not wait for a reader (it used to loop
/// on EINTR inside sendfile until the pipe closed: then 141, SIGPIPE).
#[test]
fn sendfile_into_a_pipe_nobody_reads_ends_at_the_time_limit() {
    let dir = temp_dir("reliability-sendfile");
    let data = dir.join("big");
    std::fs::write(&data, vec![0x5au8; 4 << 20]).expect("data");
    let policy = dir.join("p.toml");
    std::fs::write(
        &policy,
        format!(
            "[[files]]\npath = \"{}\"\naccess = \"read\"\n",
            data.display()
        ),
    )
    .expect("policy");
    let mut child = runner()
        .args(["exec", "--timeout", "1", "--policy"])
        .arg(&policy)
        .args(["/bin/busybox", "cat"])
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The read end stays open, unread, until the runner has ended.
    let (code, took) = wait_at_most(&mut child, Duration::from_secs(20), "sendfile");
    assert_eq!(code, Some(137), "took {took:?}");
    let out = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("time limit of 1s exceeded"), "{err}");
}

/// stdout and stderr are one pipe nobody reads: the guest fills it, the
/// time limit ends the run, and the runner's death line finds no room. The
/// runner must not wait for room: it exits 137 while the pipe is still
/// full and open.
#[test]
fn a_full_stderr_pipe_does_not_hold_the_run_past_its_deadline() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut child = runner()
        .args(["exec", "--timeout", "1", "/bin/busybox", "yes"])
        .stdin(Stdio::null())
        .stdout(writer.try_clone().expect("dup"))
        .stderr(writer)
        .spawn()
        .expect("spawn");
    let (code, took) = wait_at_most(&mut child, Duration::from_secs(20), "full stderr");
    assert_eq!(code, Some(137), "took {took:?}");
    drop(reader);
}

/// The guest moves its stderr (a regular file) past RLIMIT_FSIZE and
/// aborts: the runner's death line fails with EFBIG. The run still ends
/// with the guest's status (134), not with the runner killed by its own
/// seccomp filter (159: it used to panic, and the panic report made a call
/// the filter forbids).
#[test]
fn a_death_line_the_runner_cannot_write_keeps_the_guests_status() {
    let dir = temp_dir("reliability-efbig");
    let policy = dir.join("p.toml");
    std::fs::write(&policy, "[limits]\nbytes_written = \"1MiB\"\n").expect("policy");
    let err = std::fs::File::create(dir.join("stderr")).expect("stderr file");
    let stats = dir.join("stats.json");
    let out = runner()
        .args(["exec", "--policy"])
        .arg(&policy)
        .arg("--stats")
        .arg(&stats)
        .arg(elf_sample("stderr_seek"))
        .arg("2")
        .stdin(Stdio::null())
        .stderr(err)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(134), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "seeked\n");
    let json = std::fs::read_to_string(&stats).expect("stats");
    assert!(json.contains("\"exit_status\": 134"), "{json}");
}

/// The runner's stderr is a pipe whose reader has gone (`2>&1 | head -1`):
/// its lines fail with EPIPE. The run keeps the guest's status and the
/// `--stats` file is written.
#[test]
fn a_closed_stderr_keeps_the_status_and_the_stats() {
    let dir = temp_dir("reliability-epipe");
    let stats = dir.join("stats.json");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = runner()
        .arg("exec")
        .arg("--stats")
        .arg(&stats)
        .arg(elf_sample("stderr_seek"))
        .arg("0")
        .stdin(Stdio::null())
        .stderr(writer)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(134), "{out:?}");
    let json = std::fs::read_to_string(&stats).expect("stats");
    assert!(json.contains("\"exit_status\": 134"), "{json}");
}

/// A guest sweeping 4000 syscall numbers gets ENOSYS for each, and the
/// operator's stderr gets at most 64 report lines and one that says the
/// rest are not reported (it used to get one line per number).
#[test]
fn a_syscall_sweep_writes_a_bounded_report() {
    let r = exec_elf(&[], "syscall_sweep", &["1000", "5000"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "4000 of 4000: ENOSYS\n");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 65, "{}", r.stderr);
    assert!(
        lines[64].contains("the others are not reported"),
        "{}",
        lines[64]
    );
}

/// mkdir with set-uid, set-gid and sticky bits asked for makes a
/// directory with permission bits only (docs/policy.md: created entries
/// get none of those bits).
#[test]
fn mkdir_drops_set_id_and_sticky_bits() {
    let dir = temp_dir("reliability-mkdir");
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).expect("tree");
    let policy = dir.join("p.toml");
    std::fs::write(
        &policy,
        format!(
            "[[files]]\npath = \"/out\"\nhost_path = \"{}\"\naccess = \"read-write\"\n",
            tree.display()
        ),
    )
    .expect("policy");
    let p = policy.display().to_string();
    let r = exec_elf(&["--policy", &p], "mkdir_mode", &["/out/d", "7777"]);
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(tree.join("d"))
        .expect("made")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7000, 0, "mode {mode:o}");
    assert!(r.stdout.starts_with("mode 0"), "{}", r.stdout);
}

/// A `#!` script the sandbox cannot see (no policy shows it, so its
/// interpreter could not open it) is refused with 126 and a line naming
/// its interpreter line, never run as flat code that crashes at its first
/// byte (139). (runner/tests/dynamic.rs runs scripts the policy shows.)
#[test]
fn a_script_is_refused_with_126_and_says_why() {
    let dir = temp_dir("reliability-script");
    let script = dir.join("s.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").expect("script");
    let out = runner()
        .arg("exec")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a script (#!/bin/sh)"), "{err}");
    assert!(out.stdout.is_empty());
}

/// `limits.created_entries` bounds what a run makes in read-write trees:
/// the fourth mkdir under a limit of 3 fails with EDQUOT, a new file under
/// a limit of 0 too, while an existing file can still be rewritten.
#[test]
fn created_entries_bound_what_a_run_makes() {
    let dir = temp_dir("reliability-created");
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).expect("tree");
    std::fs::write(tree.join("existing"), "old\n").expect("existing");
    std::fs::write(dir.join("src"), "new\n").expect("src");
    let policy = |limit: u32| {
        let p = dir.join(format!("p{limit}.toml"));
        std::fs::write(
            &p,
            format!(
                "[limits]\ncreated_entries = {limit}\n\n[[files]]\npath = \"/out\"\nhost_path = \"{}\"\naccess = \"read-write\"\n\n[[files]]\npath = \"/src\"\nhost_path = \"{}\"\naccess = \"read\"\n",
                tree.display(),
                dir.join("src").display()
            ),
        )
        .expect("policy");
        p
    };
    let run = |limit: u32, args: &[&str]| {
        runner()
            .arg("exec")
            .arg("--policy")
            .arg(policy(limit))
            .arg("/bin/busybox")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run")
    };
    let out = run(3, &["mkdir", "/out/a", "/out/b", "/out/c", "/out/d"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/out/d") && err.contains("quota"), "{err}");
    assert!(tree.join("c").is_dir() && !tree.join("d").exists());

    let out = run(0, &["cp", "/src", "/out/new"]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(!tree.join("new").exists());
    let out = run(0, &["cp", "/src", "/out/existing"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(tree.join("existing")).expect("read"),
        "new\n"
    );
}

/// The pipes of a run hold at most a quarter of `limits.memory` together
/// (runner memory the guest's limit does not otherwise cover): 200 pipes
/// filled under a 16 MiB limit hold 4 MiB, not 200 x 64 KiB.
#[test]
fn pipe_buffers_are_charged_to_the_memory_limit() {
    let dir = temp_dir("reliability-pipes");
    let policy = dir.join("p.toml");
    std::fs::write(&policy, "[limits]\nmemory = \"16MiB\"\nopen_files = 512\n").expect("policy");
    let p = policy.display().to_string();
    let r = exec_elf(&["--policy", &p], "pipe_fill", &["200"]);
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, format!("200 pipes hold {} bytes\n", 4 << 20));
}
