//! The OCI runtime (`thinvisor-oci`, a link to the runner) driven as
//! containerd's runc shim drives it: create, state, start, kill, delete on
//! bundles this test writes, with a busybox root file system; and the
//! bundles it refuses. runner/tests/oci_containerd.rs runs it under a real
//! containerd.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::*;

/// A root file system: busybox with a few applet links, and a link whose
/// absolute target names a host file.
fn rootfs(dir: &Path) -> PathBuf {
    let root = busybox_root(
        dir,
        &["proc", "dev", "tmp", "data", "etc"],
        &[
            "sh", "echo", "cat", "sleep", "ls", "head", "wc", "id", "stty",
        ],
    );
    std::os::unix::fs::symlink("/etc/passwd", root.join("escape")).expect("link");
    root
}

/// A bundle with containerd's default config for `args` (its mounts,
/// capabilities, rlimits and namespaces), changed by `edit`.
fn bundle(dir: &Path, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
    let b = dir.join(name);
    std::fs::create_dir_all(&b).expect("bundle");
    let root = rootfs(&b);
    let mut config = json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello"],
            "cwd": "/",
            "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": root.to_str().unwrap()},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755"]}
        ],
        "linux": {
            "resources": {"cpu": {"shares": 1024}},
            "cgroupsPath": "/default/x",
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
            "maskedPaths": ["/proc/kcore"],
            "readonlyPaths": ["/proc/sys"]
        }
    });
    edit(&mut config);
    std::fs::write(b.join("config.json"), config.to_string()).expect("config.json");
    b
}

/// Runs the runtime with `--root root` and `args`; stdout and stderr to
/// `log` when given (the container process inherits them from `create`).
fn oci(rt: &Path, root: &Path, args: &[&str], log: Option<&Path>) -> Output {
    let mut c = Command::new(rt);
    c.arg("--root").arg(root).args(args);
    if let Some(l) = log {
        let f = std::fs::File::create(l).expect("log");
        c.stdout(f.try_clone().expect("dup")).stderr(f);
    }
    c.output().expect("run the runtime")
}

/// `create` with `args`, its streams (and the container's) to `log`;
/// fails the test with the log when it fails.
fn create(rt: &Path, root: &Path, args: &[&str], log: &Path) {
    let mut all = vec!["create"];
    all.extend_from_slice(args);
    let created = oci(rt, root, &all, Some(log));
    assert!(
        created.status.success(),
        "create {args:?}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn state(rt: &Path, root: &Path, id: &str) -> Value {
    let out = oci(rt, root, &["state", id], None);
    assert!(
        out.status.success(),
        "state {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("state JSON")
}

fn wait_stopped(rt: &Path, root: &Path, id: &str) {
    let start = Instant::now();
    while state(rt, root, id)["status"] != "stopped" {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{id} still runs after 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// create -> created (nothing of the program has run: its first write is
/// not there), start -> running -> stopped with the program's status,
/// its output on create's stdout, a read-write bind mount written, a link
/// out of the root not followed onto the host; start again and delete.
#[test]
fn a_container_is_created_started_and_deleted_as_the_shim_drives_it() {
    let dir = temp_dir("oci-life");
    let rt = oci_runtime(&dir);
    let root = dir.join("state");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data");
    let b = bundle(
        &dir,
        "b",
        &["sh", "-c", "echo $GREETING from $(pwd) as $(id -u):$(id -g); echo written > /data/marker; cat /escape || echo no-escape; ls /sys 2>&1 | head -1; exit 3"],
        |c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/data", "type": "bind", "source": data.to_str().unwrap(), "options": ["rbind", "rw"]
            }));
        },
    );
    let out_file = dir.join("out");
    let pid_file = dir.join("pid");
    create(
        &rt,
        &root,
        &[
            "--bundle",
            b.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            "c1",
        ],
        &out_file,
    );
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .parse()
        .expect("a pid");
    let s = state(&rt, &root, "c1");
    assert_eq!(
        (s["status"].as_str(), s["pid"].as_i64()),
        (Some("created"), Some(pid))
    );
    assert_eq!(s["bundle"].as_str(), Some(b.to_str().unwrap()));
    assert!(alive(pid), "the container process waits");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !data.join("marker").exists(),
        "the program ran before start"
    );

    let started = oci(&rt, &root, &["start", "c1"], None);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    wait_stopped(&rt, &root, "c1");
    assert_eq!(
        state(&rt, &root, "c1")["pid"],
        Value::Null,
        "no pid once stopped"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("c1/exit-status")).expect("exit status"),
        "3"
    );
    let out = std::fs::read_to_string(&out_file).expect("output");
    assert!(out.starts_with("hello from / as 0:0\n"), "{out}");
    assert!(
        out.contains("no-escape\n"),
        "the host's /etc/passwd showed: {out}"
    );
    assert!(
        out.contains("No such file or directory"),
        "/sys exists: {out}"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("marker")).expect("marker"),
        "written\n"
    );

    let again = oci(&rt, &root, &["start", "c1"], None);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("container c1 is stopped"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(oci(&rt, &root, &["delete", "c1"], None).status.success());
    assert!(!root.join("c1").exists(), "state left behind");
    let gone = oci(&rt, &root, &["state", "c1"], None);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("container c1 does not exist"));
    assert!(
        oci(&rt, &root, &["delete", "--force", "c1"], None)
            .status
            .success(),
        "a forced delete of nothing succeeds, as runc's"
    );
    // What a create killed half-way leaves (a directory, no record).
    std::fs::create_dir_all(root.join("half")).expect("half");
    assert!(oci(&rt, &root, &["delete", "--force", "half"], None)
        .status
        .success());
    assert!(!root.join("half").exists());
}

/// kill ends a spinning container (SIGKILL: the runner process dies with
/// it) and passes TERM on to a program that traps it; delete refuses a container still created or running unless
/// forced, and a forced one leaves no process.
#[test]
fn kill_and_forced_delete_leave_nothing_running() {
    let dir = temp_dir("oci-kill");
    let rt = oci_runtime(&dir);
    let root = dir.join("state");
    let b = bundle(&dir, "b", &["/bin/sh", "-c", "while :; do :; done"], |_| {});
    let spin_log = dir.join("spin.log");
    let c = oci(
        &rt,
        &root,
        &["create", "-b", b.to_str().unwrap(), "spin"],
        Some(&spin_log),
    );
    assert!(
        c.status.success(),
        "{}",
        std::fs::read_to_string(&spin_log).unwrap_or_default()
    );
    assert!(oci(&rt, &root, &["start", "spin"], None).status.success());
    let s = state(&rt, &root, "spin");
    assert_eq!(s["status"], "running");
    let pid = s["pid"].as_i64().expect("pid");
    let refused = oci(&rt, &root, &["delete", "spin"], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is running"));
    assert!(oci(&rt, &root, &["kill", "spin", "KILL"], None)
        .status
        .success());
    wait_stopped(&rt, &root, "spin");
    assert!(!alive(pid));
    // TERM reaches the program, whose trap decides its status.
    let trap = bundle(
        &dir,
        "trap",
        &[
            "/bin/sh",
            "-c",
            "trap 'echo got TERM; exit 5' TERM; echo ready; while :; do :; done",
        ],
        |_| {},
    );
    let trap_log = dir.join("trap.log");
    let c = oci(
        &rt,
        &root,
        &["create", "-b", trap.to_str().unwrap(), "trap"],
        Some(&trap_log),
    );
    assert!(
        c.status.success(),
        "{}",
        std::fs::read_to_string(&trap_log).unwrap_or_default()
    );
    assert!(oci(&rt, &root, &["start", "trap"], None).status.success());
    let start = Instant::now();
    while !std::fs::read_to_string(&trap_log)
        .unwrap_or_default()
        .contains("ready")
    {
        assert!(start.elapsed() < Duration::from_secs(30), "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(oci(&rt, &root, &["kill", "trap", "TERM"], None)
        .status
        .success());
    wait_stopped(&rt, &root, "trap");
    assert_eq!(
        std::fs::read_to_string(root.join("trap/exit-status")).expect("status"),
        "5"
    );
    assert!(std::fs::read_to_string(&trap_log)
        .expect("log")
        .ends_with("ready\ngot TERM\n"));
    assert!(oci(&rt, &root, &["delete", "trap"], None).status.success());
    let bad = oci(&rt, &root, &["kill", "spin", "SIGTERM"], None);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is stopped"));
    assert!(oci(&rt, &root, &["delete", "spin"], None).status.success());

    let idle_log = dir.join("idle.log");
    let c = oci(
        &rt,
        &root,
        &["create", "--bundle", b.to_str().unwrap(), "idle"],
        Some(&idle_log),
    );
    assert!(
        c.status.success(),
        "{}",
        std::fs::read_to_string(&idle_log).unwrap_or_default()
    );
    let pid = state(&rt, &root, "idle")["pid"].as_i64().expect("pid");
    // A reader that stops reading (`state idle | grep -q created`) is no
    // error: no panic, no line, status 0.
    let mut closed = Command::new(&rt);
    closed.arg("--root").arg(&root).args(["state", "idle"]);
    assert_eq!(with_stdout_closed(closed), (Some(0), String::new()));
    let ps = oci(&rt, &root, &["ps", "--format", "json", "idle"], None);
    assert_eq!(
        String::from_utf8_lossy(&ps.stdout).trim(),
        format!("[{pid}]")
    );
    let refused = oci(&rt, &root, &["delete", "idle"], None);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is created"));
    assert!(oci(&rt, &root, &["delete", "--force", "idle"], None)
        .status
        .success());
    assert!(!alive(pid), "a forced delete leaves the process");
    assert!(!root.join("idle").exists());
    let bad = oci(&rt, &root, &["kill", "idle", "NOSUCHSIG"], None);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad signal"));
}

/// `process.terminal`: create makes a terminal of `consoleSize` and sends
/// its master to the console socket, as runc does (the shim relays it to
/// `ctr run -t`); the program has it as its streams: `stty` sees its size,
/// a line typed before start is read, the output comes back through the
/// master, and the status is the program's.
#[test]
fn a_terminal_is_handed_over_through_the_console_socket() {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::io::{Read, Write};
    let dir = temp_dir("oci-terminal");
    let rt = oci_runtime(&dir);
    let root = dir.join("state");
    let b = bundle(
        &dir,
        "b",
        &[
            "sh",
            "-c",
            "stty size; [ -t 0 ] && [ -t 1 ] && echo is-a-tty; read line; echo got $line; exit 4",
        ],
        |c| {
            c["process"]["terminal"] = json!(true);
            c["process"]["consoleSize"] = json!({"height": 30, "width": 100});
        },
    );
    let socket = dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("console socket");
    let log = dir.join("create.log");
    create(
        &rt,
        &root,
        &[
            "--bundle",
            b.to_str().unwrap(),
            "--console-socket",
            socket.to_str().unwrap(),
            "tty",
        ],
        &log,
    );
    let (conn, _) = listener.accept().expect("the runtime connects");
    let mut name = [0u8; 256];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = recvmsg(
        &conn,
        &mut [std::io::IoSliceMut::new(&mut name)],
        &mut control,
        RecvFlags::empty(),
    )
    .expect("recvmsg");
    let name = String::from_utf8_lossy(&name[..got.bytes]).into_owned();
    assert!(
        name.starts_with("/dev/pts/"),
        "the message names the terminal: {name:?}"
    );
    let mut fds: Vec<_> = control
        .drain()
        .flat_map(|m| match m {
            RecvAncillaryMessage::ScmRights(fds) => fds.collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(fds.len(), 1, "one descriptor: the master");
    let mut master = std::fs::File::from(fds.remove(0));
    master.write_all(b"typed\n").expect("type a line");
    let mut reader = master.try_clone().expect("dup");
    let transcript = std::thread::spawn(move || {
        let mut out = Vec::new();
        // Ends with EIO once the container's end is closed.
        let _ = reader.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    });
    let started = oci(&rt, &root, &["start", "tty"], None);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    wait_stopped(&rt, &root, "tty");
    let out = transcript.join().expect("reader");
    for line in ["30 100\r\n", "is-a-tty\r\n", "got typed\r\n"] {
        assert!(out.contains(line), "no {line:?} in {out:?}");
    }
    assert_eq!(
        std::fs::read_to_string(root.join("tty/exit-status")).expect("exit status"),
        "4"
    );
    assert!(oci(&rt, &root, &["delete", "tty"], None).status.success());
    // A socket without a terminal is an error, as under runc.
    let plain = bundle(&dir, "plain", &["echo"], |_| {});
    let out = oci(
        &rt,
        &root,
        &[
            "create",
            "--bundle",
            plain.to_str().unwrap(),
            "--console-socket",
            socket.to_str().unwrap(),
            "plain",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without process.terminal"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!root.join("plain").exists());
}

/// An app policy in the bundle (annotation `dev.thinvisor.policy`) takes
/// away from what config.json grants: a read-only root and bind mount
/// where config.json has them writable, less memory (a larger limit is not
/// taken); what would widen the grant, or reach outside the bundle or the
/// root, is refused at create with the entry named.
#[test]
fn an_app_policy_narrows_the_container_and_never_widens_it() {
    let dir = temp_dir("oci-narrow");
    let rt = oci_runtime(&dir);
    let root = dir.join("state");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data");
    std::fs::write(data.join("given"), "from the host\n").expect("given");
    let with_app = |id: &str, args: &[&str], app: &str, name: &str| {
        let b = bundle(&dir, id, args, |c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/data", "type": "bind", "source": data.to_str().unwrap(), "options": ["rbind", "rw"]
            }));
            c["annotations"] = json!({"dev.thinvisor.policy": name});
        });
        std::fs::write(b.join("app-policy.toml"), app).expect("app policy");
        b
    };
    let narrowing = "[limits]\nmemory = \"32MiB\"\nopen_files = 100000\n\n\
        [[files]]\npath = \"/\"\naccess = \"read-exec\"\n\n\
        [[files]]\npath = \"/data\"\naccess = \"read\"\n";
    let b = with_app(
        "narrowed",
        &["sh", "-c", "cat /data/given; echo x > /data/new || echo data-refused; echo y > /tmp/new || echo root-refused; exit 6"],
        narrowing,
        "app-policy.toml",
    );
    let out_file = dir.join("narrowed.out");
    create(
        &rt,
        &root,
        &["--bundle", b.to_str().unwrap(), "narrowed"],
        &out_file,
    );
    let policy: toml::Table = toml::from_str(
        &std::fs::read_to_string(root.join("narrowed/policy.toml")).expect("policy.toml"),
    )
    .expect("TOML");
    assert_eq!(
        policy["limits"]["memory"].as_str(),
        Some("32MiB"),
        "{policy}"
    );
    assert_eq!(
        policy["limits"]["open_files"].as_integer(),
        Some(1024),
        "a larger limit is not taken: {policy}"
    );
    assert!(oci(&rt, &root, &["start", "narrowed"], None)
        .status
        .success());
    wait_stopped(&rt, &root, "narrowed");
    let out = std::fs::read_to_string(&out_file).expect("output");
    assert!(out.starts_with("from the host\n"), "{out}");
    assert!(
        out.contains("data-refused\n") && out.contains("root-refused\n"),
        "{out}"
    );
    assert!(
        !data.join("new").exists(),
        "the app policy's read-only /data was written"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("narrowed/exit-status")).expect("status"),
        "6"
    );
    assert!(oci(&rt, &root, &["delete", "narrowed"], None)
        .status
        .success());

    let widening: &[(&str, &str, &str)] = &[
        ("rw-root", "[[files]]\npath = \"/etc\"\naccess = \"read-write-exec\"\n[[files]]\npath = \"/data\"\naccess = \"read\"\n", "more than config.json's"),
        ("host-path", "[[files]]\npath = \"/etc\"\nhost_path = \"/etc\"\naccess = \"read\"\n", "guest paths only"),
        ("identity", "[identity]\nuid = 0\n", "config.json's"),
        ("network", "[[network]]\naddress = \"10.0.0.1:80\"\n", "does not grant"),
        ("terminal", "[stdio]\nterminal = true\n", "does not give"),
        ("link", "[[files]]\npath = \"/escape\"\naccess = \"read\"\n", "a link in what backs"),
        ("invalid", "[limits]\nmemory = \"lots\"\n", "not a valid policy"),
    ];
    for (id, app, want) in widening {
        let b = with_app(id, &["echo"], app, "app-policy.toml");
        // A read-only root for the first case: /etc may then only be read.
        if *id == "rw-root" {
            let mut c: Value =
                serde_json::from_str(&std::fs::read_to_string(b.join("config.json")).unwrap())
                    .unwrap();
            c["root"]["readonly"] = json!(true);
            std::fs::write(b.join("config.json"), c.to_string()).unwrap();
        }
        let out = oci(
            &rt,
            &root,
            &["create", "--bundle", b.to_str().unwrap(), id],
            None,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{id}: {err}");
        assert!(
            err.contains("dev.thinvisor.policy"),
            "{id}: the annotation is named: {err}"
        );
        assert!(!root.join(id).exists(), "{id}: state left behind");
    }
    std::fs::write(dir.join("outside.toml"), "").expect("outside");
    for (id, name, want) in [
        ("climb", "../outside.toml", "inside the bundle"),
        ("absolute", "/etc/passwd", "inside the bundle"),
        ("missing", "nope.toml", "No such file"),
    ] {
        let b = with_app(id, &["echo"], "", name);
        let out = oci(
            &rt,
            &root,
            &["create", "--bundle", b.to_str().unwrap(), id],
            None,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{id}: {err}");
    }
}

/// `linux.seccomp` becomes the policy's syscall rules: a profile that
/// refuses by default lets only its calls through (a missing one fails
/// with the default errno, a call with an errno of its own with that, an
/// argument condition holds); one that allows by default refuses its
/// listed calls, a kill ending the container with 159. Profiles that
/// cannot be honoured exactly are refused at create.
#[test]
fn a_seccomp_profile_becomes_the_containers_syscall_rules() {
    let dir = temp_dir("oci-seccomp");
    let rt = oci_runtime(&dir);
    let root = dir.join("state");
    // What busybox sh, echo, cat and ls need, without mkdir's calls.
    let needed = [
        "read",
        "write",
        "openat",
        "open",
        "close",
        "fstat",
        "newfstatat",
        "stat",
        "lstat",
        "statx",
        "lseek",
        "mmap",
        "munmap",
        "mprotect",
        "brk",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "ioctl",
        "getpid",
        "getppid",
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "fork",
        "vfork",
        "clone",
        "execve",
        "wait4",
        "dup2",
        "dup3",
        "fcntl",
        "getcwd",
        "chdir",
        "uname",
        "getdents64",
        "pipe",
        "pipe2",
        "set_tid_address",
        "arch_prctl",
        "prlimit64",
        "getpgrp",
        "setpgid",
        "getrandom",
        "sysinfo",
        "readlink",
        "access",
        "faccessat",
        "faccessat2",
        "umask",
        "kill",
        "writev",
        "readv",
        "exit",
        "exit_group",
        "chmod",
        "fchmodat",
        "personality",
        "poll",
        "ppoll",
        "sched_getaffinity",
    ];
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": needed.as_slice(), "action": "SCMP_ACT_ALLOW"},
            {"names": ["arm_fadvise64_64", "_llseek"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["symlinkat", "symlink"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["umask"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 18, "op": "SCMP_CMP_EQ"}]},
            {"names": ["sched_yield"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 4, "op": "SCMP_CMP_LE"}]}
        ]
    });
    let run = |id: &str, script: &str, profile: &Value| {
        let p = profile.clone();
        let b = bundle(&dir, id, &["sh", "-c", script], move |c| {
            c["linux"]["seccomp"] = p
        });
        let out_file = dir.join(format!("{id}.out"));
        create(
            &rt,
            &root,
            &["--bundle", b.to_str().unwrap(), id],
            &out_file,
        );
        assert!(oci(&rt, &root, &["start", id], None).status.success());
        wait_stopped(&rt, &root, id);
        let status = std::fs::read_to_string(root.join(id).join("exit-status")).expect("status");
        assert!(oci(&rt, &root, &["delete", id], None).status.success());
        (status, std::fs::read_to_string(&out_file).expect("output"))
    };
    let (status, out) = run(
        "allow",
        "echo in; mkdir /tmp/d || echo no-mkdir; ln -s x /tmp/l || echo no-link; echo out",
        &profile,
    );
    assert_eq!(status, "0", "{out}");
    assert!(
        out.starts_with("in\n") && out.ends_with("no-link\nout\n"),
        "{out}"
    );
    assert!(
        out.contains("Operation not permitted\nno-mkdir\n"),
        "mkdir gets the default errno: {out}"
    );
    assert!(
        out.contains("Permission denied\nno-link\n"),
        "symlink gets its own errno: {out}"
    );

    let deny = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28},
            {"names": ["unlink", "unlinkat"], "action": "SCMP_ACT_KILL_PROCESS"}
        ]
    });
    let (status, out) = run(
        "deny",
        "mkdir /tmp/d || echo no-mkdir; echo x > /tmp/f; rm /tmp/f; echo after-rm; exec rm /tmp/f",
        &deny,
    );
    // A killing rule ends the process that made the call (rm), as seccomp
    // would; the last one is the container's program.
    assert_eq!(status, "159", "{out}");
    assert!(out.contains("No space left on device\nno-mkdir\n"), "{out}");
    assert!(out.contains("Bad system call\nafter-rm\n"), "{out}");

    let refused: &[(&str, Value, &str)] = &[
        (
            "notify",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
            "SCMP_ACT_NOTIFY: not supported",
        ),
        (
            "ne",
            json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]}]}),
            "SCMP_CMP_NE",
        ),
        (
            "listener",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}),
            "listenerPath",
        ),
        (
            "arch",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_AARCH64"]}),
            "SCMP_ARCH_X86_64",
        ),
        (
            "exit",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["exit_group"], "action": "SCMP_ACT_KILL"}]}),
            "cannot be refused",
        ),
        (
            "conditional-refusal",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}]}),
            "only whole calls",
        ),
    ];
    for (id, profile, want) in refused {
        let p = profile.clone();
        let b = bundle(&dir, id, &["echo"], move |c| c["linux"]["seccomp"] = p);
        let out = oci(
            &rt,
            &root,
            &["create", "--bundle", b.to_str().unwrap(), id],
            None,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(want) && err.contains("linux.seccomp"),
            "{id}: {err}"
        );
        assert!(!root.join(id).exists(), "{id}: state left behind");
    }
}

/// Bundles asking for what thinvisor cannot honour are refused at create,
/// naming the field, with nothing left behind; the error also goes to
/// --log as the JSON line the shim reads.
#[test]
fn bundles_that_cannot_be_honoured_are_refused_at_create() {
    let dir = temp_dir("oci-refuse");
    let rt = oci_runtime(&dir);
    let root = dir.join("state");
    type Edit = fn(&mut Value);
    let cases: &[(&str, Edit, &str)] = &[
        (
            "terminal-without-socket",
            |c| c["process"]["terminal"] = json!(true),
            "process.terminal",
        ),
        (
            "hooks",
            |c| c["hooks"] = json!({"prestart": [{"path": "/bin/true"}]}),
            "hooks run host programs",
        ),
        (
            "nfs",
            |c| {
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/mnt", "type": "nfs", "source": "h:/x"}))
            },
            "mounts[7]: a \"nfs\" mount at /mnt",
        ),
        (
            "relbind",
            |c| {
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/mnt", "type": "bind", "source": "etc"}))
            },
            "must be an absolute host path",
        ),
        (
            "dotdot",
            |c| {
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/mnt/../etc", "type": "tmpfs"}))
            },
            "without `.`, `..`",
        ),
        (
            "nobind",
            |c| {
                c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt", "type": "bind", "source": "/nonexistent-thinvisor"}))
            },
            "bind source /nonexistent-thinvisor",
        ),
        (
            "tinymem",
            |c| c["linux"]["resources"]["memory"] = json!({"limit": 4096}),
            "below the smallest guest memory",
        ),
        (
            "noargs",
            |c| c["process"]["args"] = json!([]),
            "process.args: empty",
        ),
        (
            "umask",
            |c| c["process"]["user"] = json!({"uid": 5, "gid": 5, "umask": 63}),
            "process.user.umask",
        ),
        (
            "seccomp-trace",
            |c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_TRACE"}),
            "linux.seccomp.defaultAction",
        ),
        (
            "rlimit",
            |c| c["process"]["rlimits"] = json!([{"type": "RLIMIT_AS", "soft": 1, "hard": 1}]),
            "RLIMIT_AS is not supported",
        ),
        (
            "noroot",
            |c| c["root"]["path"] = json!("/nonexistent-thinvisor-root"),
            "root.path",
        ),
        (
            "hugemem",
            |c| c["linux"]["resources"]["memory"] = json!({"limit": 1u64 << 62}),
            "cannot allocate",
        ),
        (
            "twice",
            |c| {
                let m = json!({"destination": "/mnt", "type": "tmpfs"});
                c["mounts"].as_array_mut().unwrap().push(m.clone());
                c["mounts"].as_array_mut().unwrap().push(m);
            },
            "config.json makes no valid policy",
        ),
        (
            "version",
            |c| c["ociVersion"] = json!("2.0.0"),
            "only runtime-spec 1.x",
        ),
        (
            "notfound",
            |c| c["process"]["args"] = json!(["no-such-program"]),
            "not found on the container's PATH",
        ),
    ];
    for (id, edit, want) in cases {
        let b = bundle(&dir, id, &["sh", "-c", "true"], edit);
        let log = dir.join(format!("{id}.json"));
        // Its streams to a file: a create that wrongly succeeds leaves a
        // container process holding them.
        let err_file = dir.join(format!("{id}.err"));
        let f = std::fs::File::create(&err_file).expect("err file");
        let status = Command::new(&rt)
            .arg("--root")
            .arg(&root)
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "create", "--bundle"])
            .arg(&b)
            .arg(id)
            .stdout(f.try_clone().expect("dup"))
            .stderr(f)
            .status()
            .expect("runtime");
        if status.success() {
            oci(&rt, &root, &["delete", "--force", id], None);
        }
        let err = std::fs::read_to_string(&err_file).expect("err");
        assert!(!status.success() && err.contains(want), "{id}: {err}");
        let line: Value = serde_json::from_str(
            std::fs::read_to_string(&log)
                .expect("log")
                .lines()
                .last()
                .expect("a line"),
        )
        .expect("a JSON log line");
        assert_eq!(line["level"], "error");
        assert!(
            line["msg"].as_str().unwrap_or("").contains(want),
            "{id}: {line}"
        );
        assert!(!root.join(id).exists(), "{id}: state left behind");
    }
    // Not a bundle at all, and names that are not ids.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    std::fs::write(empty.join("config.json"), "{not json").expect("write");
    let out = oci(
        &rt,
        &root,
        &["create", "-b", empty.to_str().unwrap(), "x"],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.json"));
    let b = bundle(&dir, "ok", &["true"], |_| {});
    for id in ["../x", "a/b", ""] {
        let out = oci(&rt, &root, &["create", "-b", b.to_str().unwrap(), id], None);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("container id"),
            "{id:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A hostile root file system: links that point out of it, absolute and
/// climbing, also where a bind mount lands, reach nothing of the host's;
/// a bind mount's destination is the rule's, whatever link the root has
/// there.
#[test]
fn links_in_a_hostile_root_reach_nothing_outside_it() {
    let dir = temp_dir("oci-hostile");
    let rt = oci_runtime(&dir);
    let root = dir.join("state");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data");
    let script = "cat /climb/etc/passwd 2>/dev/null || echo climb-refused; \
                  cat /abs/passwd 2>/dev/null || echo abs-refused; \
                  echo kept > /data/x && echo wrote; ls /hostroot/ 2>&1 | head -1";
    let b = bundle(&dir, "b", &["/bin/sh", "-c", script], |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": data.to_str().unwrap(), "options": ["rbind", "rw"]
        }));
    });
    let rootfs = b.join("rootfs");
    std::fs::create_dir_all(rootfs.join("d")).expect("d");
    std::os::unix::fs::symlink("../../../../../../..", rootfs.join("climb")).expect("link");
    std::os::unix::fs::symlink("/etc", rootfs.join("abs")).expect("link");
    std::os::unix::fs::symlink("/", rootfs.join("hostroot")).expect("link");
    // Where the bind mount lands, the root has a link to the host's /etc.
    std::fs::remove_dir_all(rootfs.join("data")).expect("rm");
    std::os::unix::fs::symlink("/etc", rootfs.join("data")).expect("link");
    let out_file = dir.join("out");
    let c = oci(
        &rt,
        &root,
        &["create", "-b", b.to_str().unwrap(), "h"],
        Some(&out_file),
    );
    assert!(
        c.status.success(),
        "{}",
        std::fs::read_to_string(&out_file).unwrap_or_default()
    );
    assert!(oci(&rt, &root, &["start", "h"], None).status.success());
    wait_stopped(&rt, &root, "h");
    let out = std::fs::read_to_string(&out_file).expect("out");
    assert!(
        out.starts_with("climb-refused\nabs-refused\nwrote\n"),
        "{out}"
    );
    assert!(!out.contains("root:"), "a host file showed: {out}");
    assert_eq!(
        std::fs::read_to_string(data.join("x")).expect("x"),
        "kept\n"
    );
    assert!(
        !Path::new("/etc/x").exists(),
        "written through the root's link"
    );
    assert!(oci(&rt, &root, &["delete", "h"], None).status.success());
}
