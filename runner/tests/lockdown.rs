//! The runner's self-sandbox, watched from outside: /proc of a runner whose
//! guest is running, and `runner selftest-lockdown` probes that must be
//! refused by Landlock or kill the runner through seccomp.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use support::*;

const SIGSYS: i32 = 31;
/// PF_USER_WORKER: a kernel worker in the runner's thread group (KVM's
/// "kvm-nx-lpage-recovery"), not a runner thread (see docs/threat-model.md).
const PF_USER_WORKER: u64 = 0x4000;

struct Probe {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn selftest(policy: Option<&Path>, args: &[&str]) -> Probe {
    let mut cmd = runner();
    cmd.arg("selftest-lockdown");
    if let Some(p) = policy {
        cmd.arg("--policy").arg(p);
    }
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run runner");
    Probe {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write_policy(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("policy.toml");
    std::fs::write(&p, text).expect("write policy");
    p
}

fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(':')))
        .map_or("<missing>", str::trim)
}

fn stat_flags(stat: &str) -> u64 {
    let (_, rest) = stat.rsplit_once(')').expect("stat line");
    rest.split_whitespace()
        .nth(6)
        .and_then(|f| f.parse().ok())
        .expect("stat flags")
}

/// (name, status) of every runner thread of `pid` (kernel workers left out).
fn runner_threads(pid: u32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let (Ok(stat), Ok(status)) = (
            std::fs::read_to_string(task.path().join("stat")),
            std::fs::read_to_string(task.path().join("status")),
        ) else {
            continue;
        };
        if stat_flags(&stat) & PF_USER_WORKER != 0 {
            continue;
        }
        out.push((status_field(&status, "Name").to_string(), status));
    }
    out
}

/// Host threads per guest thread: with the syscall ring (ring.rs) each
/// vCPU also has the helper thread that runs it.
fn per_guest_thread() -> usize {
    match thread_count_mode() {
        "ring" => 2,
        _ => 1,
    }
}

/// The `--syscalls` these thread counts are taken under: the ring pass's
/// (THINVISOR_SYSCALLS=ring: a run thread per vCPU), else exits. Pinned
/// on the command line, since under `auto` a thread takes its run thread
/// only once a site of its is used again, which these counts cannot know.
fn thread_count_mode() -> &'static str {
    match std::env::var("THINVISOR_SYSCALLS").as_deref() {
        Ok("ring") => "ring",
        _ => "exit",
    }
}

#[test]
fn every_host_thread_is_sandboxed_one_per_guest_thread() {
    check_every_thread_locked_down(sample("spin"), per_guest_thread());
    check_every_thread_locked_down(elf_sample("spin_threads"), 4 * per_guest_thread());
}

/// Runs sample `guest` (which spins until the time limit) and checks that
/// the runner has `want` host threads once locked down, each with seccomp,
/// no_new_privs and no capabilities.
fn check_every_thread_locked_down(spin: std::path::PathBuf, want: usize) {
    let guest = spin.display().to_string();
    let child = runner()
        .args(["exec", "--syscalls", thread_count_mode(), "--timeout", "3"])
        .arg(&spin)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn runner");
    // Wait until the runner has locked down (the guest then spins until
    // the time limit, a kernel timer: no watchdog thread).
    let deadline = Instant::now() + Duration::from_millis(2500);
    let threads = loop {
        let threads = runner_threads(child.id());
        let locked = threads
            .iter()
            .all(|(_, s)| status_field(s, "Seccomp") == "2");
        if threads.len() == want && locked {
            break threads;
        }
        assert!(
            Instant::now() < deadline,
            "runner never locked down: {threads:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        threads.len(),
        want,
        "one host thread per guest thread: {threads:?}"
    );
    for (name, status) in &threads {
        assert_eq!(status_field(status, "Seccomp"), "2", "{guest} {name}");
        assert_eq!(status_field(status, "NoNewPrivs"), "1", "{name}");
        for set in ["CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"] {
            assert_eq!(
                status_field(status, set),
                "0000000000000000",
                "{name} {set}"
            );
        }
    }
    let out = child.wait_with_output().expect("wait runner");
    assert_eq!(out.status.code(), Some(137), "{out:?}");
}

/// How many CPUs a Cpus_allowed_list ("0-3,5") names.
fn cpu_count(list: &str) -> usize {
    list.split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => b.parse::<usize>().expect("cpu") - a.parse::<usize>().expect("cpu") + 1,
            None => 1,
        })
        .sum()
}

/// `limits.cpus = 1`: every host thread of the runner (four vCPU threads
/// for four spinning guest threads) may run on one and the same CPU, and
/// the guest sees one CPU (busybox nproc asks sched_getaffinity).
#[test]
fn limits_cpus_narrows_every_vcpu_thread_and_what_the_guest_sees() {
    let dir = temp_dir("lockdown-cpus");
    let policy = write_policy(&dir, "[limits]\ncpus = 1\n");
    let child = runner()
        .args([
            "exec",
            "--syscalls",
            thread_count_mode(),
            "--timeout",
            "3",
            "--policy",
        ])
        .arg(&policy)
        .arg(elf_sample("spin_threads"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn runner");
    let deadline = Instant::now() + Duration::from_millis(2500);
    let threads = loop {
        let threads = runner_threads(child.id());
        if threads.len() == 4 * per_guest_thread()
            && threads
                .iter()
                .all(|(_, s)| status_field(s, "Seccomp") == "2")
        {
            break threads;
        }
        assert!(Instant::now() < deadline, "never four threads: {threads:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let lists: Vec<&str> = threads
        .iter()
        .map(|(_, s)| status_field(s, "Cpus_allowed_list"))
        .collect();
    for list in &lists {
        assert_eq!(cpu_count(list), 1, "{lists:?}");
        assert_eq!(*list, lists[0], "one CPU for all: {lists:?}");
    }
    let out = child.wait_with_output().expect("wait runner");
    assert_eq!(out.status.code(), Some(137), "{out:?}");

    let nproc = runner()
        .args(["exec", "--policy"])
        .arg(&policy)
        .args(["/bin/busybox", "nproc"])
        .output()
        .expect("nproc");
    assert_eq!(String::from_utf8_lossy(&nproc.stdout), "1\n", "{nproc:?}");
    let all = write_policy(
        &temp_dir("lockdown-cpus-all"),
        "[limits]\ncpus = \"all\"\nthreads = 256\n",
    );
    let nproc = runner()
        .args(["exec", "--policy"])
        .arg(&all)
        .args(["/bin/busybox", "nproc"])
        .output()
        .expect("nproc");
    let native = Command::new("/bin/busybox")
        .arg("nproc")
        .output()
        .expect("native nproc");
    assert_eq!(nproc.stdout, native.stdout, "{nproc:?}");
}

#[test]
fn a_syscall_outside_the_filter_kills_the_runner() {
    for probe in [
        "forbidden-syscall",
        "create-vm",
        "map-memory",
        "spawn-process",
    ] {
        let p = selftest(None, &[probe]);
        assert_eq!(
            p.status.signal(),
            Some(SIGSYS),
            "{probe}: {:?} {} {}",
            p.status,
            p.stdout,
            p.stderr
        );
        assert!(!p.status.core_dumped(), "{probe}: RLIMIT_CORE is 0");
    }
}

/// Guest threads need a host thread and a vCPU each: starting a thread
/// (with exactly glibc's pthread flags) and creating a vCPU in the built
/// VM are the powers a locked-down runner keeps for them.
#[test]
fn threads_and_vcpus_can_still_be_made() {
    for (probe, line) in [
        ("spawn-thread", "spawn a thread: ok\n"),
        ("create-vcpu", "KVM_CREATE_VCPU: ok\n"),
    ] {
        let p = selftest(None, &[probe]);
        assert_eq!(
            p.status.code(),
            Some(0),
            "{probe}: {} {}",
            p.stdout,
            p.stderr
        );
        assert_eq!(p.stdout, line, "{probe}");
    }
}

#[test]
fn a_locked_down_runner_still_runs_guests() {
    let p = selftest(None, &["run-guest"]);
    assert_eq!(p.status.code(), Some(0), "{} {}", p.stdout, p.stderr);
    assert_eq!(p.stdout, "run guest: ok\n");
    let r = exec_sample(&[], "hello", &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
}

#[test]
fn report_shows_every_layer_in_force() {
    let p = selftest(None, &["report"]);
    assert_eq!(p.status.code(), Some(0), "{}", p.stderr);
    for line in [
        "landlock: Full",
        "bounding set: Emptied",
        "seccomp rules: 68",
        "RLIMIT_FSIZE: 1073741824",
        "RLIMIT_CORE: 0",
    ] {
        assert!(p.stdout.lines().any(|l| l == line), "{line}: {}", p.stdout);
    }
}

#[test]
fn the_runner_itself_can_open_only_the_policys_files() {
    let dir = temp_dir("lockdown-files");
    for d in ["ro", "rw", "outside"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    std::fs::write(dir.join("ro/inside.txt"), "inside").expect("write");
    std::fs::write(dir.join("outside/secret.txt"), "secret").expect("write");
    let policy = write_policy(
        &dir,
        &format!(
            "[[files]]\npath = \"{0}/ro\"\naccess = \"read\"\n\n\
             [[files]]\npath = \"{0}/rw\"\naccess = \"read-write\"\n",
            dir.display()
        ),
    );
    let path = |p: &str| dir.join(p).display().to_string();
    let cases = [
        ("open", path("ro/inside.txt"), 0),
        ("open", path("outside/secret.txt"), 1),
        ("open", "/proc/self/status".to_string(), 1),
        ("open", "/etc/passwd".to_string(), 1),
        ("create", path("ro/new.txt"), 1),
        ("create", path("outside/new.txt"), 1),
        ("create", path("rw/new.txt"), 0),
    ];
    for (probe, target, want) in cases {
        let p = selftest(Some(&policy), &[probe, &target]);
        assert_eq!(
            p.status.code(),
            Some(want),
            "{probe} {target}: {} {}",
            p.stdout,
            p.stderr
        );
        if want == 0 {
            assert_eq!(p.stdout, format!("{probe} {target}: ok\n"));
        } else {
            assert_eq!(
                p.stdout,
                format!("{probe} {target}: Permission denied (os error 13)\n")
            );
        }
    }
    assert!(dir.join("rw/new.txt").exists());
    assert!(!dir.join("ro/new.txt").exists() && !dir.join("outside/new.txt").exists());
    // Without [[files]] the runner's openat fails in the seccomp filter,
    // before the kernel looks at the path, with Landlock's EACCES (glibc's
    // malloc opens files lazily in host threads and copes with a failure).
    let target = path("ro/inside.txt");
    let p = selftest(None, &["open", &target]);
    assert_eq!(p.status.code(), Some(1), "{:?} {}", p.status, p.stderr);
    assert_eq!(
        p.stdout,
        format!("open {target}: Permission denied (os error 13)\n")
    );
}

#[test]
fn tcp_connect_is_limited_to_the_policys_ports() {
    let allowed = TcpListener::bind("127.0.0.1:0").expect("listen");
    let other = TcpListener::bind("127.0.0.1:0").expect("listen");
    let (allowed, other) = (
        allowed.local_addr().expect("addr"),
        other.local_addr().expect("addr"),
    );
    let dir = temp_dir("lockdown-net");
    let policy = write_policy(&dir, &format!("[[network]]\naddress = \"{allowed}\"\n"));
    let p = selftest(Some(&policy), &["connect", &allowed.to_string()]);
    assert_eq!(p.stdout, format!("connect {allowed}: ok\n"), "{}", p.stderr);
    // Something listens there, but the policy does not list the port.
    let p = selftest(Some(&policy), &["connect", &other.to_string()]);
    assert_eq!(
        p.stdout,
        format!("connect {other}: Permission denied (os error 13)\n"),
        "{}",
        p.stderr
    );
    // Without [[network]] the runner may not even create a socket.
    let p = selftest(None, &["connect", &allowed.to_string()]);
    assert_eq!(p.status.signal(), Some(SIGSYS), "{:?}", p.status);
}

#[test]
fn a_missing_files_root_stops_the_runner_before_lock_down() {
    let dir = temp_dir("lockdown-fail");
    let missing = dir.join("missing");
    let policy = write_policy(
        &dir,
        &format!(
            "[[files]]\npath = \"{}\"\naccess = \"read\"\n",
            missing.display()
        ),
    );
    // Lock-down grants the roots opened when the policy's files are
    // prepared, never a path by name: a root that cannot be opened stops
    // the runner there, status 125, as `exec` does (tests/policy.rs).
    let r = selftest(Some(&policy), &["report"]);
    assert_eq!(r.status.code(), Some(125), "{}", r.stderr);
    assert_eq!(r.stdout, "", "nothing may run without the sandbox");
    let expected = format!(
        "runner: policy files[0] ({0}): cannot open host path {0}: No such file or directory (os error 2)\n",
        missing.display()
    );
    assert_eq!(r.stderr, expected);
}
