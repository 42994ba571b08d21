//! `thinvisor-exec` (`runner install-client`, client/thinvisor-exec.c), the
//! small front end of `runner exec`: the requests it sends are the ones
//! `runner exec --server` sends, field by field and descriptor by
//! descriptor; what it does not serve itself `runner exec` does, with the
//! same output, messages and statuses; and its served runs, through both
//! kinds of server, are `runner exec`'s byte for byte.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use runner::serve::protocol;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::server::Server;
use support::*;

/// The client, installed by `runner install-client` into `dir`.
fn install_client(dir: &Path) -> PathBuf {
    let path = dir.join("thinvisor-exec");
    let out = runner()
        .arg("install-client")
        .arg(&path)
        .output()
        .expect("runner install-client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// The client, handing what it does not serve to `runner` (a path).
fn client_with(path: &Path, runner: &str) -> Command {
    let mut c = Command::new(path);
    c.env("THINVISOR_RUNNER", runner);
    c
}

/// A runner that cannot be run: a client given it that hands a run on
/// fails (125), so a test of what the client serves itself sees any
/// hand-off.
const NO_RUNNER: &str = "/no/such/runner";

/// Runs `cmd` with empty stdin, capturing its output as bytes.
fn output(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run")
}

/// What a request carried, as a fake server read it with the worker's own
/// parser: the request re-serialized, and the path
/// of each descriptor that names a file (the working directory, the
/// program, the stats file).
#[derive(Debug, PartialEq)]
struct Seen {
    request: serde_json::Value,
    cwd: PathBuf,
    program: Option<PathBuf>,
    stats: Option<PathBuf>,
}

/// `seen` for a failure's message: the environment's bytes (variables
/// that are not UTF-8) as text.
fn readable(seen: &Seen) -> String {
    let mut r = seen.request.clone();
    if let Some(env) = r["env_bytes"].as_array_mut() {
        for pair in env.iter_mut() {
            let text = |v: &serde_json::Value| {
                let bytes: Vec<u8> = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|b| b.as_u64())
                            .map(|b| b as u8)
                            .collect()
                    })
                    .unwrap_or_default();
                String::from_utf8_lossy(&bytes).into_owned()
            };
            *pair = serde_json::json!(format!("{}={}", text(&pair[0]), text(&pair[1])));
        }
    }
    format!(
        "{}\ncwd {:?} program {:?} stats {:?}",
        serde_json::to_string_pretty(&r).unwrap_or_default(),
        seen.cwd,
        seen.program,
        seen.stats
    )
}

/// The file `fd` names, as /proc shows it while the request is served (a
/// path, not an inode: a stats file one client made and removed may come
/// back to the other under another inode).
fn identity(fd: std::os::fd::OwnedFd) -> PathBuf {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("the descriptor's file")
}

/// The guest path a [`FakeServer`] stops at.
const STOP: &str = "/stop";

/// A fake server: answers every request with status 42 and keeps what
/// each carried, until [`FakeServer::stop`].
struct FakeServer {
    socket: PathBuf,
    thread: std::thread::JoinHandle<Vec<Seen>>,
}

impl FakeServer {
    fn start(socket: &Path) -> FakeServer {
        let listener = UnixListener::bind(socket).expect("bind");
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            loop {
                let (conn, _) = listener.accept().expect("accept");
                let r = protocol::receive_request(&conn).expect("a request the worker accepts");
                let stop = r.request.exec.program == Path::new(STOP);
                // Looked at before the status: the client then removes a
                // stats file it made that no run wrote.
                let one = Seen {
                    request: serde_json::to_value(&r.request).expect("json"),
                    cwd: identity(r.cwd),
                    program: r.program.map(identity),
                    stats: r.stats.map(identity),
                };
                protocol::send_status(&conn, 42).expect("status");
                if stop {
                    return seen;
                }
                seen.push(one);
            }
        });
        FakeServer {
            socket: socket.to_path_buf(),
            thread,
        }
    }

    /// What every request carried, in order.
    fn stop(self) -> Vec<Seen> {
        let mut last = runner();
        last.args(["exec", "--guest-path", "--server"])
            .arg(&self.socket)
            .arg(STOP);
        assert_eq!(output(last).status.code(), Some(42));
        self.thread.join().expect("fake server")
    }
}

/// `runner exec ARGS` and `CLIENT ARGS` (the client handing runs to
/// `runner`), in `work` with `env` added: their outputs.
fn both(
    client_path: &Path,
    runner_path: &str,
    args: &[OsString],
    work: &Path,
    env: &[(&OsStr, &OsStr)],
) -> (Output, Output) {
    let mut direct = runner();
    direct.arg("exec");
    let mut small = client_with(client_path, runner_path);
    for cmd in [&mut direct, &mut small] {
        cmd.args(args).current_dir(work);
        // The same environment for both (it is in the request).
        cmd.env("THINVISOR_RUNNER", runner_path);
        for (k, v) in env {
            cmd.env(k, v);
        }
    }
    (output(direct), output(small))
}

/// Environment variables a test adds: (name, value).
type Env<'a> = Vec<(&'a OsStr, &'a OsStr)>;

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// Requests `runner exec` and the client must send alike, the client
/// serving every one itself (a hand-off would fail: its runner cannot be
/// run): options before and after the program, "--" in each place it can
/// be, `=` values, a relative program with "." components, timeouts
/// whose shortest digits matter, text that JSON must escape, an
/// environment value that is not UTF-8, an argument that looks like an
/// option.
#[test]
fn the_small_client_sends_the_runners_requests() {
    let dir = temp_dir("client-requests");
    let exe = install_client(&dir);
    let work = dir.join("work");
    std::fs::create_dir_all(work.join("sub")).expect("dirs");
    std::fs::copy(sample("hello"), work.join("sub/prog")).expect("program");
    std::fs::write(
        work.join("p.toml"),
        "# \"quoted\" \\ and ünïcode\n[limits]\nwall_time = \"5s\"\n",
    )
    .expect("policy");
    std::fs::write(work.join("old.json"), "older stats").expect("old stats");
    let abs = work.join("sub/prog");
    let abs = abs.to_str().expect("utf-8");
    let cases: Vec<Vec<&str>> = vec![
        vec![abs],
        vec![
            "--policy",
            "p.toml",
            "--stats",
            "new.json",
            "--timeout",
            "2.5",
            "./sub/./prog",
            "a",
            "--policy",
            "x",
        ],
        vec!["--stats=old.json", "--timeout=1e3", "sub//prog", "--", "-x"],
        vec!["--syscalls", "ring", "--cwd=/", "--", "sub/prog", "--", "b"],
        vec![
            "--timeout",
            "+7.",
            "sub/prog",
            "tab\there",
            "\"q\" \\ \u{1}",
            "ö→𝄞",
        ],
        vec!["--timeout", "0.000001", "sub/prog", "-"],
        vec!["--timeout", "1e-9", "sub/prog"],
        vec!["--timeout", ".1", "sub/prog"],
        vec!["--guest-path", "--policy=p.toml", "/bin/prog", "z"],
        // The program's first argument looks like an option, not the
        // runner's: clap gives it to the program.
        vec!["sub/prog", "-la", "--policy", "x"],
        vec!["sub/prog", "-r"],
        vec!["sub/prog", "--foo"],
        vec!["sub/prog", "--pol", "x"],
        vec!["sub/prog", "--version"],
        vec!["sub/prog", "-V"],
        vec!["sub/prog", "-xh"],
    ];
    let fake = FakeServer::start(&dir.join("fake.sock"));
    let socket = fake.socket.to_str().expect("utf-8").to_string();
    let text_env: [(&OsStr, &OsStr); 2] = [
        (OsStr::new("THINVISOR_SYSCALLS"), OsStr::new("auto")),
        (
            OsStr::new("THINVISOR_CLIENT_TEST"),
            OsStr::new("\"quotes\" \\ \n new line"),
        ),
    ];
    // The cases with a variable that is not UTF-8 (the whole environment
    // then goes as bytes); then the first case with a text environment,
    // and with each kind of byte run that is not UTF-8 (a surrogate, an
    // overlong form, past U+10FFFF, cut short), in a value and a name.
    let mut runs: Vec<(Vec<&str>, Env)> = cases
        .iter()
        .map(|args| {
            let mut env = text_env.to_vec();
            env.push((
                OsStr::new("THINVISOR_CLIENT_BYTES"),
                OsStr::from_bytes(b"not \xff UTF-8"),
            ));
            (args.clone(), env)
        })
        .collect();
    runs.push((cases[0].clone(), text_env.to_vec()));
    let odd: [&[u8]; 4] = [
        b"\xed\xa0\x80",
        b"\xc0\x80",
        b"\xf4\x90\x80\x80",
        b"end \xe2\x82",
    ];
    for bytes in odd {
        let mut env = text_env.to_vec();
        env.push((OsStr::new("THINVISOR_CLIENT_ODD"), OsStr::from_bytes(bytes)));
        runs.push((cases[0].clone(), env));
    }
    for name in [&b"ODD_\xed\xa0\x80"[..], b"ODD_\xe2\x82"] {
        let mut env = text_env.to_vec();
        env.push((OsStr::from_bytes(name), OsStr::new("x")));
        runs.push((cases[0].clone(), env));
    }
    for (args, env) in &runs {
        let mut all = os(&["--server", &socket]);
        all.extend(os(args));
        let (direct, small) = both(&exe, NO_RUNNER, &all, &work, env);
        for out in [&direct, &small] {
            assert_eq!(
                out.status.code(),
                Some(42),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.stderr, b"", "{args:?}");
        }
    }
    let seen = fake.stop();
    assert_eq!(seen.len(), runs.len() * 2);
    for (i, (args, _)) in runs.iter().enumerate() {
        let (ours, small) = (&seen[2 * i], &seen[2 * i + 1]);
        assert_eq!(small.request["exec"], ours.request["exec"], "{args:?}");
        assert_eq!(readable(small), readable(ours), "{args:?}");
        assert_eq!(small, ours, "{args:?}");
    }
    // What the runs carried, beyond being alike.
    let bytes = serde_json::json!([
        "THINVISOR_CLIENT_BYTES".as_bytes(),
        b"not \xff UTF-8".to_vec()
    ]);
    assert_eq!(seen[0].request["env"], serde_json::json!([]));
    assert!(seen[0].request["env_bytes"]
        .as_array()
        .expect("env_bytes")
        .contains(&bytes));
    let text = &seen[2 * cases.len()].request;
    assert_eq!(text["env_bytes"], serde_json::json!([]));
    assert!(text["env"]
        .as_array()
        .expect("env")
        .contains(&serde_json::json!(["THINVISOR_SYSCALLS", "auto"])));
    for i in 1..=odd.len() {
        assert_eq!(
            seen[2 * (cases.len() + i)].request["env"],
            serde_json::json!([]),
            "odd bytes {i}"
        );
    }
    assert_eq!(seen[0].request["exec"]["syscalls"], "Auto");
    assert_eq!(
        seen[2].request["exec"]["args"],
        serde_json::json!(["a", "--policy", "x"])
    );
    assert_eq!(seen[2].request["exec"]["timeout"], 2.5);
    assert_eq!(
        seen[2].request["program_abs"],
        work.join("sub/prog").to_str().expect("utf-8")
    );
    assert!(seen[2].request["policy_text"]
        .as_str()
        .expect("policy text")
        .contains("ünïcode"));
    assert!(seen[2].stats.is_some());
    assert_eq!(
        seen[6].request["exec"]["args"],
        serde_json::json!(["--", "b"])
    );
    assert_eq!(seen[6].request["exec"]["syscalls"], "Ring");
    assert_eq!(seen[10].request["exec"]["timeout"], 0.000001);
    assert_eq!(seen[16].program, None);
    // A stats file a client made and no run wrote is gone; an older one
    // is left as it was.
    assert!(!work.join("new.json").exists());
    assert_eq!(
        std::fs::read_to_string(work.join("old.json")).expect("old"),
        "older stats"
    );
}

/// What the client does not serve itself, `runner exec` does, and the
/// result is `runner exec`'s: the same output, messages and status, and,
/// where the run reaches a server, the same request. Cases: every error
/// found before a server is asked (no server is asked: the fake server
/// sees none of them, and no `--stats` file is left), the other options
/// of `runner exec` (handed on, sent with the option), a run without
/// `--server`, a server that does not answer, and a runner that cannot
/// be run.
#[test]
fn what_the_small_client_does_not_serve_is_runner_execs() {
    let dir = temp_dir("client-defers");
    let exe = install_client(&dir);
    let fake = FakeServer::start(&dir.join("fake.sock"));
    let socket = fake.socket.to_str().expect("utf-8").to_string();
    let nowhere = dir.join("no-server.sock");
    let nowhere = nowhere.to_str().expect("utf-8");
    let hello = sample("hello");
    let hello = hello.to_str().expect("utf-8");
    let dir_s = dir.to_str().expect("utf-8");
    let runner_path = env!("CARGO_BIN_EXE_runner");
    let compare = |args: &[OsString], env: &[(&OsStr, &OsStr)]| {
        let (direct, small) = both(&exe, runner_path, args, &dir, env);
        assert_eq!(small.status.code(), direct.status.code(), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&small.stderr),
            String::from_utf8_lossy(&direct.stderr),
            "{args:?}"
        );
        assert_eq!(small.stdout, direct.stdout, "{args:?}");
        direct
    };
    let s = socket.as_str();
    // Errors before any server is asked.
    let mut refused: Vec<Vec<OsString>> = [
        vec!["--server", s, "/no/such/program"],
        vec!["--server", s, dir_s],
        vec!["--server", s, "--policy", "/no/such.toml", hello],
        vec!["--server", s, "--policy", hello, hello],
        vec!["--server", s, "--timeout", "-1", hello],
        vec!["--server", s, "--timeout", "inf", hello],
        vec!["--server", s, "--timeout", "0", hello],
        vec!["--server", s, "--timeout", "0x10", hello],
        vec!["--server", s, "--bogus", hello],
        vec!["--server", s, "--server", s, hello],
        vec!["--server", s, "--cwd=", hello],
        vec!["--server", s],
        vec!["--server", s, "--help"],
        vec!["--server", s, hello, "-h"],
        vec!["--server", s, "--policy", "-", hello],
    ]
    .iter()
    .map(|v| os(v))
    .collect();
    for bad in [&b"\xff"[..], b"a\xc0\x80"] {
        refused.push(vec![
            OsString::from("--server"),
            OsString::from(s),
            OsString::from("--stats"),
            OsString::from("left.json"),
            OsString::from(hello),
            OsString::from(OsStr::from_bytes(bad)),
        ]);
    }
    for args in &refused {
        let direct = compare(args, &[]);
        assert_ne!(direct.status.code(), Some(42), "{args:?}");
        assert!(!dir.join("left.json").exists(), "{args:?}");
    }
    compare(
        &os(&["--server", s, hello]),
        &[(OsStr::new("THINVISOR_SYSCALLS"), OsStr::new("Ring"))],
    );
    // Other options: handed on, and the run goes to the server with them.
    let handed: Vec<Vec<&str>> = vec![
        vec!["--server", s, "--monitor", "off", hello],
        vec!["--server", s, "--huge-pages=off", hello],
        vec!["--server", s, "--format", "flat", hello],
        vec![
            "--server",
            s,
            "--trace=t.txt",
            "--trace-format",
            "json",
            hello,
        ],
        vec!["--server", s, "--verdict", "v.json", hello],
        vec!["--server", s, "--forward-signals", "--as-init", hello],
        vec!["--server", s, hello, "-hx"],
    ];
    for args in &handed {
        compare(&os(args), &[]);
    }
    let seen = fake.stop();
    assert_eq!(
        seen.len(),
        handed.len() * 2,
        "a refused run reached the server"
    );
    for (i, args) in handed.iter().enumerate() {
        let (ours, small) = (&seen[2 * i], &seen[2 * i + 1]);
        assert_eq!(small.request["exec"], ours.request["exec"], "{args:?}");
        assert_eq!(small, ours, "{args:?}");
    }
    assert_eq!(seen[0].request["exec"]["monitor"], "Off");
    // Each of the runner's own long options met after the program (clap
    // reads it as the runner's, not as the program's argument), named from
    // clap itself: the client hands each on (its list must know them all),
    // and the result, and any request, is the runner's.
    use clap::CommandFactory;
    let cli = runner::cli::Cli::command();
    let exec = cli.find_subcommand("exec").expect("exec");
    let longs: Vec<String> = exec
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .chain(["help".to_string()])
        .collect();
    assert!(longs.len() > 15, "{longs:?}");
    let fake = FakeServer::start(&dir.join("fake2.sock"));
    let s2 = fake.socket.to_str().expect("utf-8").to_string();
    for long in &longs {
        for word in [format!("--{long}"), format!("--{long}=v")] {
            compare(&os(&["--server", &s2, hello, &word, "x"]), &[]);
        }
    }
    let seen = fake.stop();
    assert!(
        seen.len().is_multiple_of(2),
        "one client reached the server, the other not"
    );
    for pair in seen.chunks(2) {
        assert_eq!(pair[0], pair[1]);
    }
    // No server: a cold run. A server that does not answer: the runner's
    // words.
    let cold = compare(&os(&[hello, "x"]), &[]);
    assert_eq!(cold.status.code(), Some(0));
    let lost = compare(&os(&["--server", nowhere, hello]), &[]);
    assert_eq!(lost.status.code(), Some(125));
    // A runner that cannot be run: said, 125.
    let mut cmd = client_with(&exe, NO_RUNNER);
    cmd.arg(hello);
    let r = output(cmd);
    assert_eq!(r.status.code(), Some(125));
    assert_eq!(
        String::from_utf8_lossy(&r.stderr),
        "thinvisor-exec: cannot run the runner /no/such/runner (THINVISOR_RUNNER): No such file or directory\n"
    );
    // Not beside a runner, and not told of one: said, 125 (a `runner` on
    // PATH is not taken).
    let mut cmd = Command::new(&exe);
    cmd.arg(hello)
        .env_remove("THINVISOR_RUNNER")
        .env("PATH", Path::new(runner_path).parent().expect("dir"));
    let r = output(cmd);
    assert_eq!(r.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&r.stderr).starts_with(&format!(
        "thinvisor-exec: cannot run the runner {}/runner (beside it; or set THINVISOR_RUNNER)",
        dir.display()
    )));
}

/// Installed by default beside the runner, the client finds that runner
/// without being told.
#[test]
fn the_small_client_finds_the_runner_beside_it() {
    let out = runner()
        .arg("install-client")
        .output()
        .expect("install-client");
    assert!(out.status.success());
    let beside = Path::new(env!("CARGO_BIN_EXE_runner")).with_file_name("thinvisor-exec");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("wrote {}", beside.display())));
    let mut cmd = Command::new(&beside);
    cmd.arg(sample("hello"))
        .env_remove("THINVISOR_RUNNER")
        .env("PATH", "/nonexistent");
    let r = output(cmd);
    assert_eq!(r.status.code(), Some(0));
    assert_eq!(r.stdout, exec_sample(&[], "hello", &[]).stdout.as_bytes());
}

/// Served runs through the client are `runner exec --server`'s, through a
/// server of each kind: output, statuses, a crash, stdin, a relative
/// program, --stats, a bad or foreign policy's message, and an inherited
/// environment with a value that is not UTF-8 (which `runner exec` also
/// passes on as it is).
#[test]
fn the_small_client_runs_as_runner_exec_through_both_kinds_of_server() {
    let dir = temp_dir("client-served");
    let exe = install_client(&dir);
    let work = dir.join("work");
    std::fs::create_dir_all(&work).expect("work");
    std::fs::copy(elf_sample("showenv"), work.join("showenv")).expect("copy");
    std::fs::write(work.join("env.toml"), "[env]\ninherit = true\n").expect("policy");
    std::fs::write(work.join("bad.toml"), "[limits]\nmemory = \"lots\"\n").expect("policy");
    let plain_dir = dir.join("plain");
    let pinned_dir = dir.join("pinned");
    std::fs::create_dir_all(&plain_dir).expect("dir");
    std::fs::create_dir_all(&pinned_dir).expect("dir");
    let pinned_policy = work.join("env.toml");
    let servers = [
        Server::start(&plain_dir, 2),
        Server::start_with(
            &pinned_dir,
            2,
            &["--policy", pinned_policy.to_str().expect("utf-8")],
        ),
    ];
    let value = OsStr::from_bytes(b"caf\xe9 \xff");
    for server in &servers {
        let socket = server.socket.to_str().expect("utf-8").to_string();
        let pinned = server.socket.starts_with(&pinned_dir);
        // The pinned server's own policy (any policy, for the other).
        let policy = ["--policy", "env.toml"];
        let cases: Vec<(Vec<String>, &[u8])> = vec![
            (vec![sample("hello").display().to_string()], b""),
            (vec![sample("exit42").display().to_string()], b""),
            (vec![sample("fault_gp").display().to_string()], b""),
            (
                vec![sample("cat").display().to_string()],
                b"through the client\n",
            ),
            (
                vec![
                    "--stats".into(),
                    "stats.json".into(),
                    "./showenv".into(),
                    "THINVISOR_BYTES".into(),
                    "HOME".into(),
                ],
                b"",
            ),
            (
                vec!["--policy".into(), "bad.toml".into(), "./showenv".into()],
                b"",
            ),
        ];
        for (args, stdin) in cases {
            let mut runs = Vec::new();
            for small in [false, true] {
                let mut cmd = if small {
                    client_with(&exe, NO_RUNNER)
                } else {
                    let mut c = runner();
                    c.arg("exec");
                    c
                };
                cmd.args(["--server", &socket]);
                if args[0] != "--policy" {
                    cmd.args(policy);
                }
                cmd.args(&args)
                    .current_dir(&work)
                    .env("THINVISOR_BYTES", value)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = cmd.spawn().expect("client");
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(stdin)
                    .expect("stdin");
                let out = child.wait_with_output().expect("client");
                let stats = std::fs::read(work.join("stats.json")).ok();
                let _ = std::fs::remove_file(work.join("stats.json"));
                runs.push((out, stats));
            }
            let ((ours, our_stats), (small, small_stats)) = (&runs[0], &runs[1]);
            let what = format!("{args:?} (policy server: {pinned})");
            assert_eq!(small.status.code(), ours.status.code(), "{what}");
            assert_eq!(small.stdout, ours.stdout, "{what}");
            assert_eq!(
                String::from_utf8_lossy(&small.stderr),
                String::from_utf8_lossy(&ours.stderr),
                "{what}"
            );
            assert_eq!(small_stats.is_some(), our_stats.is_some(), "{what}");
            if let Some(s) = small_stats {
                let s: serde_json::Value = serde_json::from_slice(s).expect("stats json");
                assert_eq!(s["vm_prebuilt"], true, "{what}");
                assert_eq!(
                    s["exit_status"],
                    0,
                    "{what}: {}",
                    String::from_utf8_lossy(&small.stdout)
                );
            }
            if args[0] == "--policy" {
                assert_eq!(small.status.code(), Some(125), "{what}");
                assert!(
                    String::from_utf8_lossy(&small.stderr).contains("bad.toml"),
                    "{what}: {}",
                    String::from_utf8_lossy(&small.stderr)
                );
            }
            if args.iter().any(|a| a == "THINVISOR_BYTES") {
                // Byte for byte what a cold run with the same policy
                // prints: the value is not UTF-8, and stays so.
                let mut cold = runner();
                cold.args([
                    "exec",
                    "--policy",
                    "env.toml",
                    "./showenv",
                    "THINVISOR_BYTES",
                    "HOME",
                ])
                .current_dir(&work)
                .env("THINVISOR_BYTES", value);
                let cold = output(cold);
                assert_eq!(cold.status.code(), Some(0));
                let mut want = b"THINVISOR_BYTES=".to_vec();
                want.extend_from_slice(value.as_bytes());
                assert!(cold.stdout.starts_with(&want), "{what}");
                assert_eq!(small.stdout, cold.stdout, "{what}");
            }
        }
    }
}
