//! Crate-level tests: the documented example, every key, defaults, round
//! trips, the example files, and one exact error message per bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const DESIGN_EXAMPLE: &str = r#"[limits]
memory = "64MiB"        # guest memory ceiling
wall_time = "5s"        # like --timeout

[[files]]
path = "/srv/data"      # a file or a directory tree, as the guest sees it
access = "read"         # or "read-write"

[syscalls]
deny = ["getpid"]       # emulated syscalls refused
on_deny = "EPERM"       # an errno name, or "kill" (status 159)
"#;

fn parse(text: &str) -> Policy {
    match Policy::from_str_named(text, "policy.toml") {
        Ok(policy) => policy,
        Err(e) => panic!("policy should parse, got: {e}"),
    }
}

fn set(names: &[&str]) -> BTreeSet<u32> {
    names
        .iter()
        .map(|n| syscall_number(n).expect("known syscall in test"))
        .collect()
}

// ------------------------------------------------------------ meanings --

#[test]
fn design_example_has_the_documented_meaning() {
    let p = parse(DESIGN_EXAMPLE);
    assert_eq!(p.limits.memory_bytes, 64 * 1024 * 1024);
    assert_eq!(p.limits.wall_time, Duration::from_secs(5));
    assert_eq!(p.files.len(), 1);
    assert_eq!(p.files.as_slice()[0].guest_path, PathBuf::from("/srv/data"));
    assert_eq!(p.files.as_slice()[0].host_path, PathBuf::from("/srv/data"));
    assert_eq!(p.files.as_slice()[0].access, FileAccess::Read);
    assert_eq!(p.syscalls.deny, set(&["getpid"]));
    assert_eq!(p.syscalls.allow, None);
    assert_eq!(p.syscalls.on_deny, OnDeny::Errno(1));
    assert!(!p.syscalls.is_allowed(39), "getpid is 39");
    assert!(p.syscalls.is_allowed(0));
    // Everything not mentioned is the default.
    let d = Policy::default();
    assert_eq!(p.limits.cpu_time, d.limits.cpu_time);
    assert_eq!(p.limits.open_files, d.limits.open_files);
    assert_eq!(p.limits.bytes_written, d.limits.bytes_written);
    assert_eq!(p.stdio, d.stdio);
    assert_eq!(p.env, d.env);
    assert!(p.network.is_empty());
    assert!(p.syscalls.args.is_empty());
    assert!(p.tunnel.is_empty());
}

#[test]
fn on_deny_kill_and_errno_names() {
    let p = parse("[syscalls]\non_deny = \"kill\"\n");
    assert_eq!(p.syscalls.on_deny, OnDeny::Kill);
    assert_eq!(KILL_EXIT_STATUS, 159);
    for (name, nr) in [
        ("EACCES", 13),
        ("ENOSYS", 38),
        ("EINVAL", 22),
        ("EHWPOISON", 133),
        ("ENOTSUP", 95),
    ] {
        let p = parse(&format!("[syscalls]\non_deny = \"{name}\"\n"));
        assert_eq!(p.syscalls.on_deny, OnDeny::Errno(nr), "{name}");
    }
}

#[test]
fn empty_policy_is_the_safe_default() {
    let p = parse("");
    assert_eq!(p, Policy::default());
    assert_eq!(p.limits.memory_bytes, 256 << 20);
    assert_eq!(p.limits.wall_time, Duration::from_secs(60));
    assert_eq!(p.limits.cpu_time, None);
    assert_eq!(p.limits.open_files, 64);
    assert_eq!(p.limits.bytes_written, 1 << 30);
    assert_eq!(
        p.stdio,
        Stdio {
            stdin: true,
            stdout: true,
            stderr: true,
            terminal: false
        }
    );
    assert_eq!(
        p.env,
        Env {
            vars: BTreeMap::new(),
            inherit: false
        }
    );
    assert!(p.files.is_empty());
    assert!(p.network.is_empty());
    assert!(p.syscalls.deny.is_empty());
    assert_eq!(p.syscalls.allow, None);
    assert_eq!(p.syscalls.on_deny, OnDeny::Errno(1));
    assert!(p.tunnel.is_empty());
    // Empty tables mean the same as absent ones.
    assert_eq!(
        parse("[limits]\n[stdio]\n[env]\n[syscalls]\n"),
        Policy::default()
    );
}

const EVERY_KEY: &str = r#"
[limits]
memory = "1GiB"
wall_time = "1.5s"
cpu_time = "250ms"
open_files = 16
threads = 9
processes = 5
cpus = 3
bytes_written = "512KiB"
created_entries = 12

[stdio]
stdin = false
stdout = true
stderr = false
terminal = true

[env]
inherit = true
vars = { LANG = "C", "WEIRD KEY" = "a \"quoted\" value" }

[[files]]
path = "/srv/data"
access = "read"

[[files]]
path = "/srv/data/out"
host_path = "/tmp/run-1/out"
access = "read-write"

[[network]]
address = "127.0.0.1:8080"
protocol = "tcp"

[[network]]
address = "[::1]:53"
protocol = "udp"

[[network]]
address = "10.0.0.1:443"

[syscalls]
allow = ["read", "write", "ioctl", "openat", "exit_group"]
deny = ["getpid"]
on_deny = "EACCES"
vdso = false

[[syscalls.args]]
syscall = "ioctl"
arg = 1
values = [0x5413]

[[syscalls.args]]
syscall = "write"
arg = 2
max = 65536

[[syscalls.args]]
syscall = "openat"
arg = 2
mask = 0o101

[[syscalls.args]]
syscall = "openat"
arg = 0
values = [-100, 3]
max = 0xffffffffffffffff

[[tunnel]]
start = 0x800000
end = 0x1000000
access = "rw"

[[tunnel]]
start = 0x400000
end = 0x800000
access = "rx"
"#;

#[test]
fn every_key_is_read() {
    let p = parse(EVERY_KEY);
    assert_eq!(
        p.limits,
        Limits {
            memory_bytes: 1 << 30,
            wall_time: Duration::from_millis(1500),
            cpu_time: Some(Duration::from_millis(250)),
            open_files: 16,
            threads: 9,
            processes: 5,
            cpus: Some(3),
            bytes_written: 512 << 10,
            created_entries: 12,
        }
    );
    assert_eq!(
        p.stdio,
        Stdio {
            stdin: false,
            stdout: true,
            stderr: false,
            terminal: true
        }
    );
    assert!(p.env.inherit);
    assert_eq!(p.env.vars.get("LANG").map(String::as_str), Some("C"));
    assert_eq!(
        p.env.vars.get("WEIRD KEY").map(String::as_str),
        Some("a \"quoted\" value")
    );
    assert_eq!(
        p.files.as_slice(),
        vec![
            FileRule {
                guest_path: "/srv/data".into(),
                host_path: "/srv/data".into(),
                access: FileAccess::Read,
                exec: false,
                private: false,
            },
            FileRule {
                guest_path: "/srv/data/out".into(),
                host_path: "/tmp/run-1/out".into(),
                access: FileAccess::ReadWrite,
                exec: false,
                private: false,
            },
        ]
    );
    let addr = |s: &str| s.parse::<std::net::SocketAddr>().expect("address in test");
    assert_eq!(
        p.network.as_slice(),
        vec![
            NetRule {
                addr: addr("127.0.0.1:8080"),
                protocol: Protocol::Tcp,
                listen: false
            },
            NetRule {
                addr: addr("[::1]:53"),
                protocol: Protocol::Udp,
                listen: false
            },
            NetRule {
                addr: addr("10.0.0.1:443"),
                protocol: Protocol::Tcp,
                listen: false
            },
        ]
    );
    assert_eq!(
        p.syscalls.allow,
        Some(set(&["read", "write", "ioctl", "openat", "exit_group"]))
    );
    assert_eq!(p.syscalls.deny, set(&["getpid"]));
    assert_eq!(p.syscalls.on_deny, OnDeny::Errno(13));
    assert!(!p.syscalls.vdso);
    assert_eq!(
        p.syscalls.args,
        vec![
            ArgRule {
                nr: 16,
                arg: 1,
                values: Some(vec![0x5413]),
                max: None,
                mask: None
            },
            ArgRule {
                nr: 1,
                arg: 2,
                values: None,
                max: Some(65536),
                mask: None
            },
            ArgRule {
                nr: 257,
                arg: 2,
                values: None,
                max: None,
                mask: Some(0o101)
            },
            ArgRule {
                nr: 257,
                arg: 0,
                values: Some(vec![(-100i64) as u64, 3]),
                max: Some(u64::MAX),
                mask: None
            },
        ]
    );
    let ranges = p.tunnel.ranges();
    assert_eq!(ranges.len(), 2);
    assert_eq!(
        (ranges[0].start, ranges[0].end, ranges[0].perms.as_string()),
        (0x400000, 0x800000, "rx".into())
    );
    assert_eq!(
        (ranges[1].start, ranges[1].end, ranges[1].perms.as_string()),
        (0x800000, 0x1000000, "rw".into())
    );
}

#[test]
fn syscall_rules_semantics() {
    let p = parse(EVERY_KEY);
    let s = &p.syscalls;
    let nr = |n: &str| syscall_number(n).expect("known syscall in test");
    assert!(s.is_allowed(nr("read")));
    assert!(!s.is_allowed(nr("getpid")), "denied");
    assert!(!s.is_allowed(nr("close")), "not in the allow-list");
    assert!(!s.is_allowed(9999), "allow-list refuses unknown numbers");
    assert!(
        parse("").syscalls.is_allowed(9999),
        "no allow-list: only deny refuses"
    );

    // ioctl arg 1 must be 0x5413.
    assert!(s.arg_allowed(16, &[1, 0x5413, 0, 0, 0, 0]));
    assert!(!s.arg_allowed(16, &[1, 0x5414, 0, 0, 0, 0]));
    // write count <= 65536.
    assert!(s.arg_allowed(1, &[1, 0, 65536, 0, 0, 0]));
    assert!(!s.arg_allowed(1, &[1, 0, 65537, 0, 0, 0]));
    // openat flags within 0o101, dirfd AT_FDCWD or 3.
    let at_fdcwd = (-100i64) as u64;
    assert!(s.arg_allowed(257, &[at_fdcwd, 0, 0o101, 0, 0, 0]));
    assert!(s.arg_allowed(257, &[3, 0, 0o001, 0, 0, 0]));
    assert!(
        !s.arg_allowed(257, &[3, 0, 0o102, 0, 0, 0]),
        "O_RDWR bit outside mask"
    );
    assert!(!s.arg_allowed(257, &[4, 0, 0, 0, 0, 0]), "dirfd not listed");
    // No rule: anything goes.
    assert!(s.arg_allowed(0, &[u64::MAX; 6]));
}

#[test]
fn size_and_duration_spellings() {
    let mem = |s: &str| {
        parse(&format!("[limits]\nmemory = {s}\n"))
            .limits
            .memory_bytes
    };
    assert_eq!(mem("\"64MiB\""), 64 << 20);
    assert_eq!(mem("\"64M\""), 64 << 20);
    assert_eq!(mem("\"64MB\""), 64 << 20);
    assert_eq!(mem("\"64mb\""), 64 << 20);
    assert_eq!(mem("\"1GiB\""), 1 << 30);
    assert_eq!(mem("\"1G\""), 1 << 30);
    assert_eq!(mem("\"1.5GiB\""), 3 << 29);
    assert_eq!(mem("\"2048KiB\""), 2 << 20);
    assert_eq!(mem("\"2048k\""), 2 << 20);
    assert_eq!(mem("\"1048576\""), 1 << 20);
    assert_eq!(mem("1048576"), 1 << 20);
    let written = |s: &str| {
        parse(&format!("[limits]\nbytes_written = {s}\n"))
            .limits
            .bytes_written
    };
    assert_eq!(written("\"4096\""), 4096);
    assert_eq!(written("\"512KiB\""), 512 << 10);
    assert_eq!(written("0"), 0);
    assert_eq!(written("\"100B\""), 100);
    let wall = |s: &str| {
        parse(&format!("[limits]\nwall_time = \"{s}\"\n"))
            .limits
            .wall_time
    };
    assert_eq!(wall("5s"), Duration::from_secs(5));
    assert_eq!(wall("250ms"), Duration::from_millis(250));
    assert_eq!(wall("2m"), Duration::from_secs(120));
    assert_eq!(wall("1h"), Duration::from_secs(3600));
    assert_eq!(wall("1.5s"), Duration::from_millis(1500));
    assert_eq!(wall("100us"), Duration::from_micros(100));
    let cpu = |s: &str| {
        parse(&format!("[limits]\ncpu_time = \"{s}\"\n"))
            .limits
            .cpu_time
    };
    assert_eq!(cpu("30s"), Some(Duration::from_secs(30)));
    assert_eq!(cpu("unlimited"), None);
}

#[test]
fn file_rules_nest_and_the_most_specific_wins() {
    let p = parse(
        r#"
[[files]]
path = "/srv"
access = "read"
[[files]]
path = "/srv/data/out"
access = "read-write"
[[files]]
path = "/srv/data"
access = "read"
[[files]]
path = "/mnt/guest"
host_path = "/host/dir"
access = "read"
"#,
    );
    let rule = |g: &str| {
        p.files
            .rule_for(Path::new(g))
            .map(|r| (r.guest_path.clone(), r.access))
    };
    assert_eq!(rule("/srv/x"), Some(("/srv".into(), FileAccess::Read)));
    assert_eq!(
        rule("/srv/data/out/f"),
        Some(("/srv/data/out".into(), FileAccess::ReadWrite))
    );
    assert_eq!(
        rule("/srv/data/outside"),
        Some(("/srv/data".into(), FileAccess::Read))
    );
    assert_eq!(rule("/srv"), Some(("/srv".into(), FileAccess::Read)));
    assert_eq!(rule("/srvx"), None);
    assert_eq!(rule("/etc/passwd"), None);
    let mapped = p
        .files
        .rule_for(Path::new("/mnt/guest/a/b"))
        .and_then(|r| r.host_path_for(Path::new("/mnt/guest/a/b")));
    assert_eq!(mapped, Some(PathBuf::from("/host/dir/a/b")));
    let root = p
        .files
        .rule_for(Path::new("/mnt/guest"))
        .and_then(|r| r.host_path_for(Path::new("/mnt/guest")));
    assert_eq!(root, Some(PathBuf::from("/host/dir")));
    // The index is the rule's place in the file (files[i]).
    let index = |g: &str| p.files.indexed_rule_for(Path::new(g)).map(|(i, _)| i);
    assert_eq!(index("/srv/x"), Some(0));
    assert_eq!(index("/srv/data/out/f"), Some(1));
    assert_eq!(index("/srv/data/outside"), Some(2));
    assert_eq!(index("/mnt/guest"), Some(3));
    assert_eq!(index("/mnt"), None);
    // "read" rules strictly below a path.
    assert!(p.files.read_rule_below(Path::new("/srv")), "/srv/data");
    assert!(p.files.read_rule_below(Path::new("/mnt")), "/mnt/guest");
    assert!(
        !p.files.read_rule_below(Path::new("/srv/data")),
        "only read-write below"
    );
    assert!(
        !p.files.read_rule_below(Path::new("/mnt/guest")),
        "not itself"
    );
    assert_eq!(p.files.len(), 4);
    assert_eq!(p.files.iter().count(), 4);
    // The root directory itself may be named.
    assert_eq!(
        parse("[[files]]\npath = \"/\"\naccess = \"read\"\n")
            .files
            .as_slice()[0]
            .guest_path,
        PathBuf::from("/")
    );
}

#[test]
fn network_matching() {
    let p = parse(EVERY_KEY);
    let addr = |s: &str| s.parse::<std::net::SocketAddr>().expect("address in test");
    assert!(p.network.allows(Protocol::Tcp, addr("127.0.0.1:8080")));
    assert!(
        p.network
            .allows(Protocol::Tcp, addr("[::ffff:127.0.0.1]:8080")),
        "v4-mapped"
    );
    assert!(
        !p.network.allows(Protocol::Udp, addr("127.0.0.1:8080")),
        "wrong protocol"
    );
    assert!(
        !p.network.allows(Protocol::Tcp, addr("127.0.0.1:8081")),
        "wrong port"
    );
    assert!(p.network.allows(Protocol::Udp, addr("[::1]:53")));
    assert!(!Policy::default()
        .network
        .allows(Protocol::Tcp, addr("127.0.0.1:8080")));
    assert!(p.network.names_protocol(Protocol::Tcp));
    assert!(p.network.names_protocol(Protocol::Udp));
    assert_eq!(p.network.tcp_ports(), BTreeSet::from([443, 8080]));
    let default = Policy::default();
    assert!(!default.network.names_protocol(Protocol::Tcp));
    assert!(default.network.tcp_ports().is_empty());
}

#[test]
fn listen_rules_allow_binding_only() {
    let p = parse(
        "[[network]]\naddress = \"127.0.0.1:8080\"\nlisten = true\n\n\
         [[network]]\naddress = \"0.0.0.0:9090\"\nlisten = true\n\n\
         [[network]]\naddress = \"127.0.0.1:8080\"\n",
    );
    let addr = |s: &str| s.parse::<std::net::SocketAddr>().expect("address in test");
    let n = &p.network;
    assert!(n.allows_bind(Protocol::Tcp, addr("127.0.0.1:8080")));
    assert!(
        !n.allows_bind(Protocol::Tcp, addr("0.0.0.0:8080")),
        "not the rule's address"
    );
    assert!(n.allows_bind(Protocol::Tcp, addr("0.0.0.0:9090")));
    assert!(
        n.allows_bind(Protocol::Tcp, addr("10.1.2.3:9090")),
        "any address of the port"
    );
    assert!(!n.allows_bind(Protocol::Tcp, addr("127.0.0.1:9091")));
    assert!(
        n.allows(Protocol::Tcp, addr("127.0.0.1:8080")),
        "the connect rule"
    );
    assert!(
        !n.allows(Protocol::Tcp, addr("0.0.0.0:9090")),
        "listen rules connect nowhere"
    );
    assert_eq!(n.tcp_ports(), BTreeSet::from([8080]));
    assert_eq!(n.listen_ports(), BTreeSet::from([8080, 9090]));
    for (bad, what) in [
        ("[[network]]\naddress = \"0.0.0.0:80\"\n", "those are for listen = true"),
        (
            "[[network]]\naddress = \"[::1]:53\"\nprotocol = \"udp\"\nlisten = true\n",
            "UDP servers are not emulated yet",
        ),
        (
            "[[network]]\naddress = \"127.0.0.1:80\"\nlisten = true\n[[network]]\naddress = \"127.0.0.1:80\"\nlisten = true\n",
            "tcp listen \"127.0.0.1:80\" is listed twice",
        ),
    ] {
        let e = Policy::from_str_named(bad, "policy.toml")
            .expect_err(bad)
            .to_string();
        assert!(e.contains(what), "{bad}: {e}");
    }
}

#[test]
fn with_wall_time_overrides() {
    let p = parse(DESIGN_EXAMPLE).with_wall_time(Duration::from_secs(2));
    assert_eq!(p.limits.wall_time, Duration::from_secs(2));
    assert_eq!(p.limits.memory_bytes, 64 << 20, "nothing else changes");
}

// ---------------------------------------------------------- round trips --

fn assert_round_trip(policy: &Policy) {
    let text = policy.to_effective_toml();
    match Policy::from_str_named(&text, "effective.toml") {
        Ok(again) => assert_eq!(&again, policy, "effective TOML:\n{text}"),
        Err(e) => panic!("effective TOML does not parse: {e}\n{text}"),
    }
}

#[test]
fn effective_toml_round_trips() {
    assert_round_trip(&Policy::default());
    assert_round_trip(&parse(DESIGN_EXAMPLE));
    assert_round_trip(&parse(EVERY_KEY));
    assert_round_trip(&parse(DESIGN_EXAMPLE).with_wall_time(Duration::from_millis(1234)));
    assert_round_trip(&parse(
        "[syscalls]\non_deny = \"EWOULDBLOCK\"\n[env]\nvars = { \"a\\tb\" = \"\\u0001\" }\n",
    ));
    assert_round_trip(&parse(
        "[[syscalls.args]]\nsyscall = \"lseek\"\narg = 1\nvalues = [0xffffffffffffffff, -1, 0]\nmax = 18446744073709551615\nmask = 0xffffffffffffffff\n",
    ));
    for (_, text) in EXAMPLES {
        assert_round_trip(&parse(text));
    }
}

#[test]
fn effective_toml_of_the_design_example() {
    let expected = r#"# Effective thinvisor policy: every key, defaults filled in.

[limits]
memory = "64MiB"
wall_time = "5s"
cpu_time = "unlimited"
open_files = 64
threads = 64
processes = 64
cpus = "all"
bytes_written = "1GiB"
created_entries = 10000

[stdio]
stdin = true
stdout = true
stderr = true
terminal = false

[identity]
uid = 1000
gid = 1000
groups = []

[env]
inherit = false
vars = {}

[[files]]
path = "/srv/data"
host_path = "/srv/data"
access = "read"

# [[network]]: none; the guest has no network access.

[syscalls]
deny = ["getpid"]
# allow: not set; every syscall not denied is allowed.
on_deny = "EPERM"
errno = {}
vdso = true
ring = false

# [[tunnel]]: none; syscall buffers are not restricted by address.
"#;
    assert_eq!(parse(DESIGN_EXAMPLE).to_effective_toml(), expected);
}

#[test]
fn private_trees_are_read_write_without_a_host_path() {
    let p = parse("[[files]]\npath = \"/tmp\"\naccess = \"read-write\"\nprivate = true\n");
    let rule = &p.files.as_slice()[0];
    assert!(rule.private);
    assert_eq!(
        rule.host_path,
        PathBuf::new(),
        "set by the runner, nothing until then"
    );
    assert!(p
        .to_effective_toml()
        .contains("path = \"/tmp\"\nprivate = true\naccess = \"read-write\""));
    let made = p
        .files
        .with_private_dirs(|r| {
            Ok::<_, ()>(
                PathBuf::from("/run/x")
                    .join(r.guest_path.strip_prefix("/").unwrap_or(&r.guest_path)),
            )
        })
        .expect("made");
    assert_eq!(made.as_slice()[0].host_path, PathBuf::from("/run/x/tmp"));
    for (text, want) in [
        ("[[files]]\npath = \"/tmp\"\naccess = \"read\"\nprivate = true\n",
         "policy.toml:4: files[0].private: a private tree is the guest's to write: access must be \"read-write\" or \"read-write-exec\", found \"read\""),
        ("[[files]]\npath = \"/tmp\"\nhost_path = \"/var/tmp\"\naccess = \"read-write\"\nprivate = true\n",
         "policy.toml:3: files[0].host_path: a private tree has no host path (the runner makes a fresh directory for each run)"),
    ] {
        let e = Policy::from_str_named(text, "policy.toml").expect_err("refused");
        assert_eq!(e.to_string(), want);
    }
}

// ------------------------------------------------------------- examples --

const EXAMPLES: &[(&str, &str)] = &[
    ("minimal.toml", include_str!("../examples/minimal.toml")),
    (
        "data-reader.toml",
        include_str!("../examples/data-reader.toml"),
    ),
    ("strict.toml", include_str!("../examples/strict.toml")),
    (
        "host-tools.toml",
        include_str!("../examples/host-tools.toml"),
    ),
];

#[test]
fn example_files_parse() {
    for (name, text) in EXAMPLES {
        if let Err(e) = Policy::from_str_named(text, name) {
            panic!("{e}");
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let strict = Policy::from_file(&dir.join("strict.toml")).expect("strict.toml parses");
    assert_eq!(strict.syscalls.on_deny, OnDeny::Kill);
    assert_eq!(strict.tunnel.ranges().len(), 3);
    assert!(strict.tunnel.allows(0x7fff_ffff_f000, 0x1000, Op::Write));
    assert!(!strict.tunnel.allows(0x400000, 8, Op::Write));
    let reader = Policy::from_file(&dir.join("data-reader.toml")).expect("data-reader.toml parses");
    assert_eq!(
        reader.files.as_slice()[1].host_path,
        PathBuf::from("/var/lib/thinvisor/run-42/out")
    );
    let minimal = Policy::from_file(&dir.join("minimal.toml")).expect("minimal.toml parses");
    assert_eq!(
        minimal,
        Policy::default().with_wall_time(Duration::from_secs(10))
    );
}

#[test]
fn from_file_names_the_file_in_errors() {
    let dir = std::env::temp_dir().join(format!("sandbox-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[limits]\nmemory = \"lots\"\n").expect("write temp file");
    let message = Policy::from_file(&file)
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert_eq!(
        message,
        Err(format!(
            "{}:2: limits.memory: expected a size such as \"64MiB\", found \"lots\"",
            file.display()
        ))
    );
    let missing = dir.join("missing.toml");
    let err = Policy::from_file(&missing).expect_err("missing file");
    assert!(matches!(err, PolicyError::Io { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("{}: cannot read policy file: ", missing.display())),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// --------------------------------------------------------- bad inputs --

/// (policy text, exact error message)
const BAD: &[(&str, &str)] = &[
    // Syntax.
    ("[limits\nmemory = \"64MiB\"\n",
     "policy.toml:1:8: TOML syntax error: unclosed table, expected `]`"),
    ("[limits]\nmemory = \"64MiB\"\nmemory = \"1GiB\"\n",
     "policy.toml:3:1: TOML syntax error: duplicate key"),
    ("[limits]\nwall_time = 5s\n",
     "policy.toml:2:13: TOML syntax error: string values must be quoted, expected literal string"),
    // Unknown keys, at every level.
    ("colour = \"blue\"\n",
     "policy.toml:1: colour: unknown key \"colour\" (expected one of: limits, stdio, env, identity, files, network, syscalls, tunnel)"),
    ("[limits]\nmemroy = \"64MiB\"\n",
     "policy.toml:2: limits.memroy: unknown key \"memroy\" (expected one of: memory, wall_time, cpu_time, open_files, threads, processes, cpus, bytes_written, created_entries)"),
    ("[stdio]\nstdin = true\nstdnull = false\n",
     "policy.toml:3: stdio.stdnull: unknown key \"stdnull\" (expected one of: stdin, stdout, stderr, terminal)"),
    ("[env]\nvariables = {}\n",
     "policy.toml:2: env.variables: unknown key \"variables\" (expected one of: vars, inherit)"),
    ("[[files]]\npath = \"/a\"\naccess = \"read\"\nmode = \"0644\"\n",
     "policy.toml:4: files[0].mode: unknown key \"mode\" (expected one of: path, host_path, access, private)"),
    ("[[network]]\naddress = \"127.0.0.1:80\"\nport = 80\n",
     "policy.toml:3: network[0].port: unknown key \"port\" (expected one of: address, protocol, listen)"),
    ("[syscalls]\nblock = [\"getpid\"]\n",
     "policy.toml:2: syscalls.block: unknown key \"block\" (expected one of: deny, allow, on_deny, errno, args, vdso, ring)"),
    ("[[syscalls.args]]\nsyscall = \"write\"\narg = 2\nmin = 1\n",
     "policy.toml:4: syscalls.args[0].min: unknown key \"min\" (expected one of: syscall, arg, values, max, mask)"),
    ("[[tunnel]]\nstart = 0x400000\nend = 0x800000\naccess = \"r\"\nname = \"text\"\n",
     "policy.toml:5: tunnel[0].name: unknown key \"name\" (expected one of: start, end, access)"),
    ("[[tunnel.args]]\nsyscall = \"ioctl\"\n",
     "policy.toml:1: tunnel: expected an array, found a table"),
    // Wrong types.
    ("[limits]\nmemory = true\n",
     "policy.toml:2: limits.memory: expected a size such as \"64MiB\", found boolean true"),
    ("[limits]\nwall_time = 5\n",
     "policy.toml:2: limits.wall_time: expected a duration such as \"5s\", found integer 5"),
    ("[limits]\nopen_files = \"64\"\n",
     "policy.toml:2: limits.open_files: expected an integer, found \"64\""),
    ("[limits]\nopen_files = 6.5\n",
     "policy.toml:2: limits.open_files: expected an integer, found float 6.5"),
    ("limits = \"64MiB\"\n",
     "policy.toml:1: limits: expected a table, found \"64MiB\""),
    ("[stdio]\nstdin = \"yes\"\n",
     "policy.toml:2: stdio.stdin: expected a boolean, found \"yes\""),
    ("[env]\nvars = { PATH = 1 }\n",
     "policy.toml:2: env.vars.PATH: expected a string, found integer 1"),
    ("[env]\ninherit = 1\n",
     "policy.toml:2: env.inherit: expected a boolean, found integer 1"),
    ("[syscalls]\nvdso = \"no\"\n",
     "policy.toml:2: syscalls.vdso: expected a boolean, found \"no\""),
    ("[syscalls]\ndeny = [\"clock_gettime\"]\nvdso = true\n",
     "policy.toml:3: syscalls.vdso: true, but \"clock_gettime\" is denied: the vDSO answers clock_gettime, gettimeofday, time and getcpu without a syscall, so it is provided only when all four are allowed without argument rules"),
    ("[syscalls]\nallow = [\"clock_gettime\", \"gettimeofday\", \"time\"]\nvdso = true\n",
     "policy.toml:3: syscalls.vdso: true, but \"getcpu\" is not in syscalls.allow: the vDSO answers clock_gettime, gettimeofday, time and getcpu without a syscall, so it is provided only when all four are allowed without argument rules"),
    ("[syscalls]\nvdso = true\n[[syscalls.args]]\nsyscall = \"clock_gettime\"\narg = 0\nvalues = [1]\n",
     "policy.toml:2: syscalls.vdso: true, but \"clock_gettime\" has an argument rule: the vDSO answers clock_gettime, gettimeofday, time and getcpu without a syscall, so it is provided only when all four are allowed without argument rules"),
    ("[files]\npath = \"/a\"\n",
     "policy.toml:1: files: expected an array, found a table"),
    ("[[files]]\npath = [\"/a\"]\naccess = \"read\"\n",
     "policy.toml:2: files[0].path: expected a string, found an array"),
    ("[syscalls]\ndeny = \"getpid\"\n",
     "policy.toml:2: syscalls.deny: expected an array, found \"getpid\""),
    ("[syscalls]\ndeny = [39]\n",
     "policy.toml:2: syscalls.deny[0]: expected a string, found integer 39"),
    ("[[tunnel]]\nstart = \"0x400000\"\nend = 0x800000\naccess = \"r\"\n",
     "policy.toml:2: tunnel[0].start: expected an integer, found \"0x400000\""),
    // Missing required keys.
    ("[[files]]\naccess = \"read\"\n",
     "policy.toml:1: files[0].path: required key is missing"),
    ("[[files]]\npath = \"/a\"\naccess = \"read\"\n\n[[files]]\npath = \"/b\"\n",
     "policy.toml:5: files[1].access: required key is missing"),
    ("[[network]]\nprotocol = \"tcp\"\n",
     "policy.toml:1: network[0].address: required key is missing"),
    ("[[tunnel]]\nstart = 0x400000\naccess = \"r\"\n",
     "policy.toml:1: tunnel[0].end: required key is missing"),
    ("[[syscalls.args]]\nsyscall = \"ioctl\"\nvalues = [1]\n",
     "policy.toml:1: syscalls.args[0].arg: required key is missing"),
    // Sizes.
    ("[limits]\nmemory = \"64 parsecs\"\n",
     "policy.toml:2: limits.memory: expected a size such as \"64MiB\", found \"64 parsecs\""),
    ("[limits]\nmemory = \"-64MiB\"\n",
     "policy.toml:2: limits.memory: expected a size such as \"64MiB\", found \"-64MiB\""),
    ("[limits]\nmemory = -1\n",
     "policy.toml:2: limits.memory: expected a size such as \"64MiB\", found -1"),
    ("[limits]\nmemory = \"1.3KiB\"\n",
     "policy.toml:2: limits.memory: expected a whole number of bytes, found \"1.3KiB\""),
    ("[limits]\nbytes_written = \"20000000TiB\"\n",
     "policy.toml:2: limits.bytes_written: expected a size that fits in 64 bits, found \"20000000TiB\""),
    ("[limits]\nmemory = \"512KiB\"\n",
     "policy.toml:2: limits.memory: expected at least 1MiB, found \"512KiB\""),
    ("[limits]\nmemory = \"1048577\"\n",
     "policy.toml:2: limits.memory: expected a multiple of 4KiB (4096 bytes), found \"1048577\""),
    // Durations.
    ("[limits]\nwall_time = \"5 parsecs\"\n",
     "policy.toml:2: limits.wall_time: expected a duration such as \"5s\", \"250ms\" or \"1.5s\", found \"5 parsecs\""),
    ("[limits]\nwall_time = \"5\"\n",
     "policy.toml:2: limits.wall_time: expected a duration such as \"5s\", \"250ms\" or \"1.5s\", found \"5\""),
    ("[limits]\ncpu_time = \"forever\"\n",
     "policy.toml:2: limits.cpu_time: expected a duration such as \"5s\", \"250ms\" or \"1.5s\" or \"unlimited\", found \"forever\""),
    ("[limits]\nwall_time = \"0s\"\n",
     "policy.toml:2: limits.wall_time: expected a duration greater than zero, found \"0s\""),
    ("[limits]\nwall_time = \"unlimited\"\n",
     "policy.toml:2: limits.wall_time: expected a duration such as \"5s\", \"250ms\" or \"1.5s\", found \"unlimited\""),
    ("[limits]\nwall_time = \"0.1ns\"\n",
     "policy.toml:2: limits.wall_time: expected a whole number of nanoseconds, found \"0.1ns\""),
    ("[limits]\nwall_time = \"9999999h\"\n",
     "policy.toml:2: limits.wall_time: expected a duration below 584 years, found \"9999999h\""),
    // open_files.
    ("[limits]\nopen_files = 2\n",
     "policy.toml:2: limits.open_files: expected an integer from 3 to 1048576 (stdin, stdout and stderr count), found 2"),
    ("[limits]\nopen_files = -1\n",
     "policy.toml:2: limits.open_files: expected an integer from 3 to 1048576 (stdin, stdout and stderr count), found -1"),
    // env.
    ("[env]\nvars = { \"A=B\" = \"x\" }\n",
     "policy.toml:2: env.vars.\"A=B\": expected a variable name (not empty, no \"=\" or NUL), found \"A=B\""),
    ("[env.vars]\nA = \"x\\u0000y\"\n",
     "policy.toml:2: env.vars.A: expected a value without NUL characters, found \"x\\u0000y\""),
    // Paths.
    ("[[files]]\npath = \"srv/data\"\naccess = \"read\"\n",
     "policy.toml:2: files[0].path: expected an absolute path (starting with \"/\"), found \"srv/data\""),
    ("[[files]]\npath = \"/srv/../etc\"\naccess = \"read\"\n",
     "policy.toml:2: files[0].path: expected a normalized path (no \"..\" segment), found \"/srv/../etc\""),
    ("[[files]]\npath = \"/srv/./data\"\naccess = \"read\"\n",
     "policy.toml:2: files[0].path: expected a normalized path (no \".\" segment), found \"/srv/./data\""),
    ("[[files]]\npath = \"/srv/data/\"\naccess = \"read\"\n",
     "policy.toml:2: files[0].path: expected a normalized path (no trailing \"/\"), found \"/srv/data/\""),
    ("[[files]]\npath = \"/srv//data\"\naccess = \"read\"\n",
     "policy.toml:2: files[0].path: expected a normalized path (no empty \"//\" segment), found \"/srv//data\""),
    ("[[files]]\npath = \"/srv/a\\u0000b\"\naccess = \"read\"\n",
     "policy.toml:2: files[0].path: expected a path without NUL characters, found \"/srv/a\\u0000b\""),
    ("[[files]]\npath = \"/data\"\nhost_path = \"data\"\naccess = \"read\"\n",
     "policy.toml:3: files[0].host_path: expected an absolute path (starting with \"/\"), found \"data\""),
    ("[[files]]\npath = \"/srv/data\"\naccess = \"rw\"\n",
     "policy.toml:3: files[0].access: expected \"read\", \"read-exec\", \"read-write\" or \"read-write-exec\", found \"rw\""),
    // Duplicate paths.
    ("[[files]]\npath = \"/srv/data\"\naccess = \"read\"\n\n[[files]]\npath = \"/srv/data\"\naccess = \"read-write\"\n",
     "policy.toml:6: files[1].path: \"/srv/data\" is listed twice with conflicting access (\"read-write\" here, \"read\" there) (conflicts with files[0].path at line 2)"),
    ("[[files]]\npath = \"/srv/data\"\naccess = \"read\"\n\n[[files]]\npath = \"/srv/data\"\naccess = \"read\"\n",
     "policy.toml:6: files[1].path: \"/srv/data\" is listed twice (conflicts with files[0].path at line 2)"),
    // Network.
    ("[[network]]\naddress = \"localhost:8080\"\n",
     "policy.toml:2: network[0].address: expected an IP address literal, not a host name, found \"localhost:8080\""),
    ("[[network]]\naddress = \"127.0.0.1:0\"\n",
     "policy.toml:2: network[0].address: expected a port from 1 to 65535, found \"127.0.0.1:0\""),
    ("[[network]]\naddress = \"127.0.0.1\"\n",
     "policy.toml:2: network[0].address: expected an address and port such as \"127.0.0.1:8080\" or \"[::1]:53\", found \"127.0.0.1\""),
    ("[[network]]\naddress = \"::1:53\"\n",
     "policy.toml:2: network[0].address: expected an address and port such as \"127.0.0.1:8080\" or \"[::1]:53\", found \"::1:53\""),
    ("[[network]]\naddress = \"127.0.0.1:70000\"\n",
     "policy.toml:2: network[0].address: expected an address and port such as \"127.0.0.1:8080\" or \"[::1]:53\", found \"127.0.0.1:70000\""),
    ("[[network]]\naddress = \"0.0.0.0:80\"\n",
     "policy.toml:2: network[0].address: expected a concrete address (not 0.0.0.0 or ::; those are for listen = true), found \"0.0.0.0:80\""),
    ("[[network]]\naddress = \"[::1]:53\"\nprotocol = \"sctp\"\n",
     "policy.toml:3: network[0].protocol: expected \"tcp\" or \"udp\", found \"sctp\""),
    ("[[network]]\naddress = \"[::1]:53\"\nprotocol = \"udp\"\n[[network]]\naddress = \"[::1]:53\"\nprotocol = \"udp\"\n",
     "policy.toml:5: network[1].address: udp \"[::1]:53\" is listed twice (conflicts with network[0].address at line 2)"),
    // Syscalls.
    ("[syscalls]\ndeny = [\"getpid\", \"fork2\"]\n",
     "policy.toml:2: syscalls.deny[1]: expected an x86-64 Linux syscall name such as \"openat\", found \"fork2\""),
    ("[syscalls]\nallow = [\"READ\"]\n",
     "policy.toml:2: syscalls.allow[0]: expected an x86-64 Linux syscall name such as \"openat\", found \"READ\""),
    ("[syscalls]\ndeny = [\"getpid\",\n  \"getpid\"]\n",
     "policy.toml:3: syscalls.deny[1]: \"getpid\" is listed twice (conflicts with syscalls.deny[0] at line 2)"),
    ("[syscalls]\nallow = [\"read\", \"getpid\"]\ndeny = [\"getpid\"]\n",
     "policy.toml:3: syscalls.deny[0]: \"getpid\" is both allowed and denied (conflicts with syscalls.allow[1] at line 2)"),
    ("[syscalls]\ndeny = [\"getpid\"]\nallow = [\"getpid\"]\n",
     "policy.toml:3: syscalls.allow[0]: \"getpid\" is both allowed and denied (conflicts with syscalls.deny[0] at line 2)"),
    ("[syscalls]\non_deny = \"EFOO\"\n",
     "policy.toml:2: syscalls.on_deny: expected an errno name such as \"EPERM\", or \"kill\", found \"EFOO\""),
    ("[syscalls]\non_deny = \"eperm\"\n",
     "policy.toml:2: syscalls.on_deny: expected an errno name such as \"EPERM\", or \"kill\", found \"eperm\""),
    // Argument rules.
    ("[[syscalls.args]]\nsyscall = \"ioctl\"\narg = 6\nvalues = [0x5413]\n",
     "policy.toml:3: syscalls.args[0].arg: expected an argument index from 0 to 5, found 6"),
    ("[[syscalls.args]]\nsyscall = \"ioctl\"\narg = -1\nvalues = [0x5413]\n",
     "policy.toml:3: syscalls.args[0].arg: expected an argument index from 0 to 5, found -1"),
    ("[[syscalls.args]]\nsyscall = \"ioctl2\"\narg = 1\nvalues = [0x5413]\n",
     "policy.toml:2: syscalls.args[0].syscall: expected an x86-64 Linux syscall name such as \"openat\", found \"ioctl2\""),
    ("[[syscalls.args]]\nsyscall = \"ioctl\"\narg = 1\n",
     "policy.toml:1: syscalls.args[0]: expected at least one of \"values\", \"max\" or \"mask\""),
    ("[[syscalls.args]]\nsyscall = \"ioctl\"\narg = 1\nvalues = []\n",
     "policy.toml:4: syscalls.args[0].values: expected at least one value (to refuse every call, use syscalls.deny)"),
    ("[[syscalls.args]]\nsyscall = \"write\"\narg = 2\nmax = -1\n",
     "policy.toml:4: syscalls.args[0].max: expected a non-negative integer, found -1"),
    ("[syscalls]\nargs = [\n  { syscall = \"write\", arg = 2, max = 10 },\n  { syscall = \"write\", arg = 2, mask = 0xff },\n]\n",
     "policy.toml:4: syscalls.args[1]: a second rule for argument 2 of \"write\"; put all constraints for one argument in one entry (conflicts with syscalls.args[0] at line 3)"),
    ("[syscalls]\ndeny = [\"ioctl\"]\n[[syscalls.args]]\nsyscall = \"ioctl\"\narg = 1\nvalues = [1]\n",
     "policy.toml:4: syscalls.args[0].syscall: \"ioctl\" is denied, so this rule would never apply (conflicts with syscalls.deny[0] at line 2)"),
    ("[syscalls]\nallow = [\"read\"]\n[[syscalls.args]]\nsyscall = \"ioctl\"\narg = 1\nvalues = [1]\n",
     "policy.toml:4: syscalls.args[0].syscall: \"ioctl\" is not in syscalls.allow, so this rule would never apply"),
    // Tunnel.
    ("[[tunnel]]\nstart = 0x400000\nend = 0x800000\naccess = \"rw\"\n\n[[tunnel]]\nstart = 0x700000\nend = 0x900000\naccess = \"r\"\n",
     "policy.toml:7: tunnel[1]: range 0x700000..0x900000 overlaps range 0x400000..0x800000 (conflicts with tunnel[0] at line 2)"),
    ("[[tunnel]]\nstart = 0x400010\nend = 0x800000\naccess = \"r\"\n",
     "policy.toml:2: tunnel[0].start: expected a page-aligned address (a multiple of 0x1000), found 0x400010"),
    ("[[tunnel]]\nstart = 0x400000\nend = 0x800fff\naccess = \"r\"\n",
     "policy.toml:3: tunnel[0].end: expected a page-aligned address (a multiple of 0x1000), found 0x800fff"),
    ("[[tunnel]]\nstart = 0xffff800000000000\nend = 0xffff800000100000\naccess = \"r\"\n",
     "policy.toml:2: tunnel[0].start: expected an address in the user half (0 to 0x800000000000), found 0xffff800000000000"),
    ("[[tunnel]]\nstart = 0x7ffffff00000\nend = 0x800000001000\naccess = \"r\"\n",
     "policy.toml:3: tunnel[0].end: expected an address in the user half (0 to 0x800000000000), found 0x800000001000"),
    ("[[tunnel]]\nstart = -4096\nend = 0x1000\naccess = \"r\"\n",
     "policy.toml:2: tunnel[0].start: expected an address in the user half (0 to 0x800000000000), found -4096"),
    ("[[tunnel]]\nstart = 0x800000\nend = 0x400000\naccess = \"r\"\n",
     "policy.toml:3: tunnel[0].end: expected an end above start (0x800000), found 0x400000"),
    ("[[tunnel]]\nstart = 0x400000\nend = 0x400000\naccess = \"r\"\n",
     "policy.toml:3: tunnel[0].end: expected an end above start (0x400000), found 0x400000"),
    ("[[tunnel]]\nstart = 0x400000\nend = 0x800000\naccess = \"wr\"\n",
     "policy.toml:4: tunnel[0].access: expected \"r\", \"rw\", \"rx\" or \"rwx\" (letters of \"rwx\" in that order), found \"wr\""),
];

#[test]
fn bad_inputs_give_exact_messages() {
    let mut failures = Vec::new();
    for (text, expected) in BAD {
        match Policy::from_str_named(text, "policy.toml") {
            Ok(_) => failures.push(format!("accepted:\n{text}")),
            Err(e) if e.to_string() != *expected => failures.push(format!(
                "input:\n{text}\nexpected: {expected}\n     got: {e}"
            )),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn errors_expose_line_and_key() {
    let err = Policy::from_str_named("\n\n[limits]\nmemory = \"64 parsecs\"\n", "p.toml")
        .expect_err("bad size");
    assert_eq!(err.line(), Some(4));
    assert_eq!(err.key(), Some("limits.memory"));
    assert!(matches!(err, PolicyError::Invalid { .. }));
    let err = Policy::from_str_named("[a\n", "p.toml").expect_err("syntax");
    assert!(
        matches!(
            err,
            PolicyError::Syntax {
                line: 1,
                col: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let err = Policy::from_str_named(
        "[[files]]\npath = \"/a\"\naccess = \"read\"\n[[files]]\npath = \"/a\"\naccess = \"read-write\"\n",
        "p.toml",
    )
    .expect_err("conflict");
    assert!(
        matches!(
            err,
            PolicyError::Conflict {
                line: 5,
                other_line: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn nested_file_rules_are_allowed() {
    // read-write under read, read under read-write, same access nested.
    let p = parse(
        "[[files]]\npath = \"/a\"\naccess = \"read\"\n\
         [[files]]\npath = \"/a/b\"\naccess = \"read-write\"\n\
         [[files]]\npath = \"/a/b/c\"\naccess = \"read\"\n\
         [[files]]\npath = \"/a/d\"\naccess = \"read\"\n",
    );
    assert_eq!(p.files.len(), 4);
}

#[test]
fn adjacent_tunnel_ranges_are_allowed() {
    let p = parse(
        "[[tunnel]]\nstart = 0\nend = 0x1000\naccess = \"r\"\n\
         [[tunnel]]\nstart = 0x1000\nend = 0x800000000000\naccess = \"rwx\"\n",
    );
    assert_eq!(p.tunnel.ranges().len(), 2);
    assert!(p.tunnel.allows(0x800, 0x1000, Op::Read));
    assert!(!p.tunnel.allows(0x800, 0x1000, Op::Write));
    assert!(p.tunnel.allows(0x7fff_ffff_f000, 0x1000, Op::Execute));
}

/// docs/policy.md, when the crate is built inside the workspace.
fn reference_doc() -> Option<String> {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/policy.md")).ok()
}

/// The docs quote the effective default policy; keep them equal.
#[test]
fn docs_show_the_real_default_policy() {
    let Some(doc) = reference_doc() else { return };
    let default = Policy::default().to_effective_toml();
    assert!(
        doc.contains(&default),
        "docs/policy.md must contain:\n{default}"
    );
}

/// Every ```toml block in the docs is a valid policy.
#[test]
fn docs_examples_parse() {
    let Some(doc) = reference_doc() else { return };
    let mut blocks = 0;
    for block in doc.split("```toml\n").skip(1) {
        let text = block.split("```").next().unwrap_or_default();
        if let Err(e) = Policy::from_str_named(text, "docs/policy.md") {
            panic!("{e}\n{text}");
        }
        blocks += 1;
    }
    assert!(blocks >= 10, "found only {blocks} toml blocks");
}

/// Every error line quoted in the docs is one the tests check exactly.
#[test]
fn docs_error_examples_are_real() {
    let Some(doc) = reference_doc() else { return };
    let quoted: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with("policy.toml:"))
        .collect();
    assert!(quoted.len() >= 20);
    for line in quoted {
        assert!(
            BAD.iter().any(|(_, message)| *message == line),
            "not in BAD: {line}"
        );
    }
}

#[test]
fn the_vdso_is_provided_only_while_its_syscalls_are_unrestricted() {
    let vdso = |text: &str| parse(text).syscalls.vdso_allowed();
    assert!(vdso(""), "on by default");
    assert!(!vdso("[syscalls]\nvdso = false\n"), "turned off");
    assert!(vdso("[syscalls]\nvdso = true\ndeny = [\"getpid\"]\n"));
    for name in ["clock_gettime", "gettimeofday", "time", "getcpu"] {
        // Denied, left out of an allow list, or with an argument rule: no
        // vDSO, so every call reaches the rules.
        assert!(
            !vdso(&format!("[syscalls]\ndeny = [\"{name}\"]\n")),
            "{name}"
        );
        let others: Vec<String> = ["clock_gettime", "gettimeofday", "time", "getcpu"]
            .iter()
            .filter(|n| **n != name)
            .map(|n| format!("\"{n}\""))
            .collect();
        assert!(
            !vdso(&format!("[syscalls]\nallow = [{}]\n", others.join(", "))),
            "{name}"
        );
        assert!(
            !vdso(&format!(
                "[[syscalls.args]]\nsyscall = \"{name}\"\narg = 0\nmax = 10\n"
            )),
            "{name}"
        );
        // Saying false with a restriction is fine.
        assert!(!vdso(&format!(
            "[syscalls]\nvdso = false\ndeny = [\"{name}\"]\n"
        )));
    }
    assert!(vdso(
        "[syscalls]\nallow = [\"clock_gettime\", \"gettimeofday\", \"time\", \"getcpu\"]\n"
    ));
    // The effective policy says what the run gets, and reads back the same.
    let p = parse("[syscalls]\ndeny = [\"time\"]\n");
    assert!(p.to_effective_toml().contains("\nvdso = false\n"));
    assert_round_trip(&p);
    // Rules built in code are held to the same: a restriction wins over
    // `vdso = true`.
    let mut rules = SyscallRules::default();
    assert!(rules.vdso_allowed());
    rules.deny.insert(228);
    assert!(rules.vdso && !rules.vdso_allowed());
    assert_eq!(rules.vdso_conflict(), Some(228));
}

#[test]
fn exit_group_cannot_be_denied_and_is_always_allowed() {
    let err = Policy::from_str_named(
        "[syscalls]\ndeny = [\"getpid\", \"exit_group\"]\n",
        "p.toml",
    )
    .expect_err("denying exit_group is impossible");
    assert_eq!(
        err.to_string(),
        "p.toml:2: syscalls.deny[1]: \"exit_group\" cannot be denied: it is how the guest ends (exit and exit_group are always allowed)"
    );
    let p = Policy::from_str_named("[syscalls]\nallow = [\"write\"]\n", "p.toml").expect("valid");
    assert!(p.syscalls.is_allowed(231) && p.syscalls.is_allowed(60) && p.syscalls.is_allowed(1));
    assert!(!p.syscalls.is_allowed(39));
}

#[test]
fn threads_limit_is_bounded() {
    for bad in ["0", "257", "-1"] {
        let e = match Policy::from_str_named(&format!("[limits]\nthreads = {bad}\n"), "p.toml") {
            Ok(_) => panic!("threads = {bad} should be refused"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("limits.threads"), "{bad}: {e}");
    }
    assert_eq!(parse("[limits]\nthreads = 256\n").limits.threads, 256);
    assert_eq!(Limits::default().threads, 64);
}

#[test]
fn cpus_limit_is_a_count_or_all() {
    for bad in ["0", "1025", "-1", "\"half\"", "1.5"] {
        let e = match Policy::from_str_named(&format!("[limits]\ncpus = {bad}\n"), "p.toml") {
            Ok(_) => panic!("cpus = {bad} should be refused"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("limits.cpus"), "{bad}: {e}");
    }
    assert_eq!(parse("[limits]\ncpus = 2\n").limits.cpus, Some(2));
    assert_eq!(parse("[limits]\ncpus = \"all\"\n").limits.cpus, None);
    assert_eq!(Limits::default().cpus, None);
}

#[test]
fn exec_access_marks_a_rule_runnable() {
    let p = parse(
        "[[files]]\npath = \"/bin\"\nhost_path = \"/tmp/b\"\naccess = \"read-exec\"\n\
         [[files]]\npath = \"/work\"\naccess = \"read-write-exec\"\n\
         [[files]]\npath = \"/data\"\naccess = \"read\"\n",
    );
    let rules = p.files.as_slice();
    assert_eq!((rules[0].access, rules[0].exec), (FileAccess::Read, true));
    assert_eq!(
        (rules[1].access, rules[1].exec),
        (FileAccess::ReadWrite, true)
    );
    assert_eq!((rules[2].access, rules[2].exec), (FileAccess::Read, false));
    assert_eq!(rules[0].access_str(), "read-exec");
    assert_eq!(rules[1].access_str(), "read-write-exec");
}

#[test]
fn processes_limit_is_bounded() {
    for bad in [0, 257] {
        let e = match Policy::from_str_named(&format!("[limits]\nprocesses = {bad}\n"), "p.toml") {
            Ok(_) => panic!("processes = {bad} should be refused"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("limits.processes"), "{bad}: {e}");
    }
    assert_eq!(parse("[limits]\nprocesses = 3\n").limits.processes, 3);
    assert_eq!(Limits::default().processes, 64);
}

#[test]
fn identity_is_any_id_but_the_unchanged_marker() {
    let p = parse("[identity]\nuid = 0\ngid = 0\n");
    assert_eq!((p.identity.uid, p.identity.gid), (0, 0));
    let d = parse("");
    assert_eq!((d.identity.uid, d.identity.gid), (1000, 1000));
    assert!(p
        .to_effective_toml()
        .contains("[identity]\nuid = 0\ngid = 0\n"));
    for bad in ["uid = -1", "gid = 4294967295", "uid = \"root\"", "user = 3"] {
        let text = format!("[identity]\n{bad}\n");
        let e = Policy::from_str_named(&text, "policy.toml").expect_err(bad);
        assert!(e.to_string().starts_with("policy.toml:2:"), "{bad}: {e}");
    }
}

#[test]
fn the_syscall_ring_is_off_unless_the_policy_turns_it_on() {
    use crate::RingChoice;
    assert_eq!(parse("").syscalls.ring, RingChoice::Off, "off by default");
    let p = parse("[syscalls]\nring = true\n");
    assert_eq!(p.syscalls.ring, RingChoice::On);
    assert!(p.to_effective_toml().contains("\nring = true\n"));
    assert!(parse("").to_effective_toml().contains("\nring = false\n"));
    // The effective policy reads back as the same policy.
    let again = parse(&p.to_effective_toml());
    assert_eq!(again.syscalls.ring, RingChoice::On);
    let auto = parse("[syscalls]\nring = \"auto\"\n");
    assert_eq!(auto.syscalls.ring, RingChoice::Auto);
    assert!(auto.to_effective_toml().contains("\nring = \"auto\"\n"));
    assert_eq!(
        parse(&auto.to_effective_toml()).syscalls.ring,
        RingChoice::Auto
    );
    let err = Policy::from_str_named("[syscalls]\nring = \"yes\"\n", "policy.toml")
        .expect_err("only \"auto\" is a word it takes");
    assert!(err.to_string().contains("syscalls.ring"), "{err}");
    assert!(
        err.to_string().contains("expected true, false or \"auto\""),
        "{err}"
    );
    let err = Policy::from_str_named("[syscalls]\nring = 3\n", "policy.toml")
        .expect_err("a number is neither");
    assert!(err.to_string().contains("syscalls.ring"), "{err}");
}

#[test]
fn syscalls_with_an_errno_of_their_own() {
    let p = Policy::from_str_named(
        "[syscalls]\nallow = [\"read\", \"write\", \"clone\"]\non_deny = \"EPERM\"\nerrno = { clone3 = \"ENOSYS\", ptrace = \"EACCES\" }\n",
        "policy.toml",
    )
    .expect("valid");
    let (clone3, ptrace, clone, mount) = (435, 101, 56, 165);
    let none = [0u64; 6];
    assert_eq!(p.syscalls.refusal(clone3, &none), Some(OnDeny::Errno(38)));
    assert_eq!(p.syscalls.refusal(ptrace, &none), Some(OnDeny::Errno(13)));
    assert_eq!(p.syscalls.refusal(clone, &none), None);
    assert_eq!(p.syscalls.refusal(mount, &none), Some(OnDeny::Errno(1)));
    // The effective policy says so, and reads back the same.
    let text = p.to_effective_toml();
    assert!(
        text.contains("errno = { ptrace = \"EACCES\", clone3 = \"ENOSYS\" }"),
        "{text}"
    );
    assert_eq!(
        Policy::from_str_named(&text, "effective.toml").expect("valid"),
        p
    );
    // A mask is a bit pattern: negative is two's complement.
    let p = Policy::from_str_named(
        "[[syscalls.args]]\nsyscall = \"openat\"\narg = 2\nmask = -8\n",
        "p.toml",
    )
    .expect("valid");
    assert_eq!(p.syscalls.args[0].mask, Some(0xffff_ffff_ffff_fff8));
    // A vDSO call with an errno of its own gets no vDSO.
    let p = Policy::from_str_named("[syscalls]\nerrno = { time = \"EPERM\" }\n", "p.toml")
        .expect("valid");
    assert!(!p.syscalls.vdso_allowed());
    for (text, want) in [
        ("[syscalls]\nerrno = { exit_group = \"EPERM\" }\n", "cannot be refused"),
        ("[syscalls]\ndeny = [\"ptrace\"]\nerrno = { ptrace = \"EPERM\" }\n", "both denied and refused"),
        ("[syscalls]\nallow = [\"ptrace\"]\nerrno = { ptrace = \"EPERM\" }\n", "both allowed and refused"),
        ("[syscalls]\nerrno = { ptrace = \"EWHAT\" }\n", "expected an errno name"),
        ("[syscalls]\nerrno = { notacall = \"EPERM\" }\n", "expected an x86-64 Linux syscall name"),
        (
            "[syscalls]\nerrno = { ptrace = \"EPERM\" }\n[[syscalls.args]]\nsyscall = \"ptrace\"\narg = 0\nmax = 3\n",
            "would never apply",
        ),
    ] {
        let e = Policy::from_str_named(text, "policy.toml").expect_err(text);
        assert!(e.to_string().contains(want), "{text}: {e}");
    }
}
