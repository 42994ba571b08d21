//! The policy applied at run time: syscall rules (deny, allow, arguments,
//! on_deny) and the tunnel table, each with a guest that uses it and one that
//! oversteps it.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use support::*;

fn with_policy(
    tag: &str,
    policy: &str,
    sample_name: &str,
    args: &[&str],
    stdin: &[u8],
) -> (Run, serde_json::Value) {
    let dir = temp_dir(tag);
    let p = dir.join("policy.toml");
    std::fs::write(&p, policy).expect("write policy");
    let stats = dir.join("stats.json");
    let s = sample(sample_name);
    let mut all = vec![
        "exec",
        "--policy",
        p.to_str().expect("p"),
        "--stats",
        stats.to_str().expect("s"),
    ];
    all.push(s.to_str().expect("sample"));
    all.extend_from_slice(args);
    let r = run_with_stdin(&all, stdin);
    let json = std::fs::read_to_string(&stats).expect("stats written");
    (r, serde_json::from_str(&json).expect("json"))
}

#[test]
fn denied_syscall_returns_the_configured_errno() {
    let (r, s) = with_policy(
        "deny-errno",
        "[syscalls]\ndeny = [\"getpid\"]\non_deny = \"EPERM\"\n",
        "syscall_loop",
        &["3"],
        b"",
    );
    // syscall_loop checks getpid > 0: -EPERM makes it report and exit 1.
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert_eq!(r.stderr, "syscall_loop: FAIL getpid\n");
    assert_eq!(s["denied"], 1);
    assert_eq!(s["syscalls"]["getpid"], 1);
}

#[test]
fn allowed_syscalls_are_unaffected_by_a_deny_list() {
    let (r, s) = with_policy(
        "deny-other",
        "[syscalls]\ndeny = [\"uname\"]\n",
        "syscall_loop",
        &["3"],
        b"",
    );
    assert_eq!((r.status, r.stdout.as_str()), (0, "syscall_loop: done\n"));
    assert_eq!(s["denied"], 0);
}

#[test]
fn denied_syscall_with_kill_ends_the_guest_with_159() {
    let (r, s) = with_policy(
        "deny-kill",
        "[syscalls]\ndeny = [\"getpid\"]\non_deny = \"kill\"\n",
        "syscall_loop",
        &["3"],
        b"",
    );
    assert_eq!(r.status, 159);
    assert!(
        r.stderr.starts_with(
            "runner: guest killed by SIGSYS (syscall getpid denied by policy) at rip 0x4"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    assert_eq!(s["exit_status"], 159);
    assert_eq!(s["denied"], 1);
}

#[test]
fn allow_list_refuses_everything_else() {
    let policy = "[syscalls]\nallow = [\"write\"]\non_deny = \"ENOSYS\"\n";
    let (r, s) = with_policy("allow", policy, "hello", &[], b"");
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "Hello from inside the VM!\n")
    );
    assert_eq!(s["denied"], 0);
    let (r, s) = with_policy("allow-over", policy, "syscall_loop", &["2"], b"");
    assert_eq!(
        (r.status, r.stderr.as_str()),
        (1, "syscall_loop: FAIL getpid\n")
    );
    assert_eq!(s["denied"], 1);
}

#[test]
fn argument_rules_refuse_values_outside_them() {
    // hello writes 26 bytes; a rule capping write's length at 8 refuses it.
    let capped = "[syscalls]\non_deny = \"EINVAL\"\n[[syscalls.args]]\nsyscall = \"write\"\narg = 2\nmax = 8\n";
    let (r, s) = with_policy("args-over", capped, "hello", &[], b"");
    assert_eq!((r.status, r.stdout.as_str()), (0, ""));
    assert_eq!(s["denied"], 1);
    let roomy = "[[syscalls.args]]\nsyscall = \"write\"\narg = 2\nmax = 4096\n";
    let (r, s) = with_policy("args-ok", roomy, "hello", &[], b"");
    assert_eq!(r.stdout, "Hello from inside the VM!\n");
    assert_eq!(s["denied"], 0);
}

#[test]
fn tunnel_table_limits_syscall_buffers() {
    // Only the image is in the table: hello's message (in the image) may be
    // read, but cat's stack buffer may not be written: read() gets EFAULT
    // before anything is read, and cat reports the error with status 1.
    let image_only = "[[tunnel]]\nstart = 0x400000\nend = 0x401000\naccess = \"r\"\n";
    let (r, _) = with_policy("tunnel-hello", image_only, "hello", &[], b"");
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "Hello from inside the VM!\n")
    );
    let (r, _) = with_policy("tunnel-cat", image_only, "cat", &[], b"data");
    assert_eq!((r.status, r.stdout.as_str()), (1, ""));
    // With the stack in the table (read-write), cat works.
    let with_stack = format!(
        "{image_only}[[tunnel]]\nstart = 0x7fff00000000\nend = 0x7ffffffff000\naccess = \"rw\"\n"
    );
    let (r, _) = with_policy("tunnel-cat-ok", &with_stack, "cat", &[], b"data");
    assert_eq!((r.status, r.stdout.as_str()), (0, "data"));
    // A read-only stack range: the write into it is refused.
    let ro_stack = format!(
        "{image_only}[[tunnel]]\nstart = 0x7fff00000000\nend = 0x7ffffffff000\naccess = \"r\"\n"
    );
    let (r, _) = with_policy("tunnel-cat-ro", &ro_stack, "cat", &[], b"data");
    assert_eq!((r.status, r.stdout.as_str()), (1, ""));
}

#[test]
fn design_example_policy_is_accepted_with_its_meaning() {
    let example = "[limits]\nmemory = \"64MiB\"\nwall_time = \"5s\"\n\n[[files]]\npath = \"/srv/data\"\naccess = \"read\"\n\n[syscalls]\ndeny = [\"getpid\"]\non_deny = \"EPERM\"\n";
    let dir = temp_dir("design-check");
    let p = dir.join("example.toml");
    std::fs::write(&p, example).expect("write");
    let r = run(&["check", p.to_str().expect("p")]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    for meaning in [
        "memory = \"64MiB\"",
        "wall_time = \"5s\"",
        "path = \"/srv/data\"",
        "access = \"read\"",
        "\"getpid\"",
        "on_deny = \"EPERM\"",
    ] {
        assert!(
            r.stdout.contains(meaning),
            "{meaning} missing from\n{}",
            r.stdout
        );
    }
    // Run with the same policy, its /srv/data backed by a host directory.
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let mapped = example.replace(
        "access = \"read\"\n",
        &format!("access = \"read\"\nhost_path = \"{}\"\n", data.display()),
    );
    let (r, s) = with_policy("design", &mapped, "syscall_loop", &["1"], b"");
    assert_eq!(
        (r.status, r.stderr.as_str()),
        (1, "syscall_loop: FAIL getpid\n")
    );
    assert_eq!(s["denied"], 1);
    let (r, _) = with_policy(
        "design-spin",
        &mapped.replace("5s", "300ms"),
        "spin",
        &[],
        b"",
    );
    assert_eq!(r.status, 137);
}

#[test]
fn a_policy_path_missing_on_the_host_is_a_clear_runner_error() {
    let dir = temp_dir("missing-host-path");
    let p = dir.join("p.toml");
    std::fs::write(
        &p,
        "[[files]]\npath = \"/nonexistent/thinvisor-data\"\naccess = \"read\"\n",
    )
    .expect("write");
    let h = sample("hello");
    let r = run(&[
        "exec",
        "--policy",
        p.to_str().expect("p"),
        h.to_str().expect("h"),
    ]);
    assert_eq!(r.status, 125);
    assert!(
        r.stderr.starts_with(
            "runner: policy files[0] (/nonexistent/thinvisor-data): cannot open host path"
        ),
        "{}",
        r.stderr
    );
}

/// `[identity]`: the guest is told the ids the policy gives it, by the
/// runner's handlers and by the in-VM monitor alike, in the aux vector
/// (busybox's `id`), and as the owner of what it writes; the default is
/// 1000.
#[test]
fn the_identity_is_the_policys_with_the_monitor_on_and_off() {
    let dir = temp_dir("identity");
    let p = dir.join("policy.toml");
    std::fs::write(
        &p,
        "[identity]\nuid = 0\ngid = 42\ngroups = [7, 8]\n\n[[files]]\npath = \"/tmp\"\naccess = \"read-write\"\nprivate = true\n",
    )
    .expect("policy");
    // With the monitor on (one program: no fork), busybox's `id` is
    // answered in the VM.
    let run = |monitor: &str, args: &[&str]| {
        let out = runner()
            .args(["exec", "--monitor", monitor, "--policy"])
            .arg(&p)
            .arg("/bin/busybox")
            .args(args)
            .output()
            .expect("runner");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for monitor in ["on", "off"] {
        let (code, out, err) = run(monitor, &["id"]);
        assert_eq!(
            (code, out.as_str()),
            (Some(0), "uid=0 gid=42 groups=7,8\n"),
            "{monitor}: {err}"
        );
    }
    let script = "echo x > /tmp/f; stat -c '%u %g' /tmp/f; while read l; do case $l in Uid*) echo \"$l\";; esac; done < /proc/self/status";
    let (code, out, err) = run("off", &["sh", "-c", script]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "0 42\nUid:\t0\t0\t0\t0\n"),
        "{err}"
    );
    let out = runner()
        .args(["exec", "/bin/busybox", "id"])
        .output()
        .expect("runner");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "uid=1000 gid=1000\n");
}
