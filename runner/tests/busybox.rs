//! The compatibility battery: Debian's busybox-static (`/bin/busybox`, a
//! glibc static executable) runs its applets in the sandbox, and each run is
//! compared byte for byte (stdout, exit status, and stderr without the
//! runner's own "unsupported syscall" report lines) with the same applet
//! run natively on the same input and environment.
//!
//! `applets_on_stdin_match_native` feeds stdin; `applets_on_files_match_native`
//! reads files and directories the policy grants, so it needs the file layer.
//! Both write their result table to `$CARGO_TARGET_TMPDIR/busybox-*.md`
//! (docs/compatibility.md shows it).

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const BUSYBOX: &str = "/bin/busybox";

/// Fails loudly unless Debian's busybox-static is installed.
fn require_busybox() -> PathBuf {
    let p = Path::new(BUSYBOX);
    let bytes = std::fs::read(p).unwrap_or_else(|e| {
        panic!(
            "{BUSYBOX}: {e}. The battery needs Debian's busybox-static: \
             apt-get install busybox-static (.ci/run installs it)"
        )
    });
    assert!(
        bytes.starts_with(b"\x7fELF"),
        "{BUSYBOX} is not an ELF program: install Debian's busybox-static"
    );
    let head = &bytes[..bytes.len().min(4096)];
    assert!(
        !head.windows(8).any(|w| w == b"ld-linux"),
        "{BUSYBOX} is dynamically linked (Debian's `busybox` package): install \
         busybox-static, the sandbox runs static programs only"
    );
    p.to_path_buf()
}

/// One comparison.
struct Case {
    /// The applet, for the table.
    applet: &'static str,
    args: Vec<String>,
    stdin: Vec<u8>,
    /// Extra environment (the same natively and in the sandbox).
    env: Vec<(&'static str, &'static str)>,
}

fn case(applet: &'static str, args: &[&str], stdin: &[u8]) -> Case {
    Case {
        applet,
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: stdin.to_vec(),
        env: Vec::new(),
    }
}

/// Lines of text with repeated words and numbers (sort, uniq, grep, awk...).
fn text() -> Vec<u8> {
    let mut t = String::new();
    for i in 0..300u32 {
        let w = ["alpha", "beta", "gamma", "delta", "beta"][(i % 5) as usize];
        t.push_str(&format!(
            "line {} {} word-{} {}\n",
            i % 97,
            w,
            i % 7,
            i * i % 1000
        ));
        if i % 10 == 0 {
            t.push_str(&format!(
                "line {} {} word-{} {}\n",
                i % 97,
                w,
                i % 7,
                i * i % 1000
            ));
        }
    }
    t.into_bytes()
}

/// Every byte value, several times, then a tail of text.
fn binary() -> Vec<u8> {
    let mut b: Vec<u8> = (0..8192u32).map(|i| (i * 131 % 256) as u8).collect();
    b.extend_from_slice(b"the end\n");
    b
}

fn stdin_cases() -> Vec<Case> {
    let t = text();
    let b = binary();
    let mut sorted: Vec<&[u8]> = t.split_inclusive(|&c| c == b'\n').collect();
    sorted.sort();
    let sorted = sorted.concat();
    let mut v = vec![
        case("echo", &["echo", "hello", "world"], b""),
        case("echo", &["echo", "-n", "no newline"], b""),
        case("echo", &["echo", "-e", "a\\tb\\nc"], b""),
        case("cat", &["cat"], &t),
        case("cat", &["cat"], &b),
        case("cat", &["cat", "-n"], &t),
        case("wc", &["wc"], &t),
        case("wc", &["wc", "-l"], &t),
        case("wc", &["wc", "-c"], &b),
        case("sort", &["sort"], &t),
        case("sort", &["sort", "-n", "-r", "-k", "2"], &t),
        case("sort", &["sort", "-u"], &t),
        case("uniq", &["uniq"], &sorted),
        case("uniq", &["uniq", "-c"], &sorted),
        case("uniq", &["uniq", "-d"], &sorted),
        case("head", &["head"], &t),
        case("head", &["head", "-n", "3"], &t),
        case("head", &["head", "-c", "100"], &b),
        case("tail", &["tail"], &t),
        case("tail", &["tail", "-n", "4"], &t),
        case("tail", &["tail", "-c", "50"], &b),
        case("sha256sum", &["sha256sum"], &b),
        case("sha256sum", &["sha256sum"], &t),
        case("md5sum", &["md5sum"], &b),
        case("base64", &["base64"], &b),
        case("base64", &["base64", "-d"], b"aGVsbG8sIHdvcmxkIQo=\n"),
        case("gzip", &["gzip", "-c"], &t),
        case("gzip", &["gzip", "-9", "-c"], &b),
        case("tr", &["tr", "a-z", "A-Z"], &t),
        case("tr", &["tr", "-d", "0-9"], &t),
        case("tr", &["tr", "-s", "a-z"], b"aaabbbccc  dddd\n"),
        case("cut", &["cut", "-d", " ", "-f", "3"], &t),
        case("cut", &["cut", "-c", "1-6"], &t),
        case("seq", &["seq", "10"], b""),
        case("seq", &["seq", "5", "3", "40"], b""),
        case("seq", &["seq", "-s", ",", "1", "5"], b""),
        case("expr", &["expr", "6", "*", "7"], b""),
        case("expr", &["expr", "length", "hello"], b""),
        case("expr", &["expr", "1", "=", "2"], b""),
        case("grep", &["grep", "word-3"], &t),
        case("grep", &["grep", "-c", "beta"], &t),
        case("grep", &["grep", "-v", "-E", "[0-5]$"], &t),
        case("grep", &["grep", "nothing-matches-this"], &t),
        case("sed", &["sed", "s/line/LINE/"], &t),
        case("sed", &["sed", "-n", "2,5p"], &t),
        case("sed", &["sed", "-e", "s/[0-9]//g", "-e", "/alpha/d"], &t),
        case("awk", &["awk", "{ s += $5 } END { print s, NR }"], &t),
        case(
            "awk",
            &["awk", "-F", " ", "$3 == \"gamma\" { print $2, $4 }"],
            &t,
        ),
        case(
            "awk",
            &[
                "awk",
                "BEGIN { for (i = 1; i <= 5; i++) printf \"%d:%s \", i, i * i; print \"\" }",
            ],
            b"",
        ),
        case("printf", &["printf", "%s-%d\\n", "a", "5", "b", "6"], b""),
        case(
            "printf",
            &["printf", "%05.1f|%x|%c\\n", "3.14159", "255", "z"],
            b"",
        ),
        case("od", &["od", "-c"], b"hello\tworld\n\x01\x02"),
        case("od", &["od", "-A", "x", "-t", "x1"], &b[..512]),
        case("od", &["od", "-b"], &b[..64]),
        case("uname", &["uname", "-m"], b""),
        case("uname", &["uname", "-s"], b""),
        case("sleep", &["sleep", "0.1"], b""),
        case("true", &["true"], b""),
        case("false", &["false"], b""),
    ];
    // date differs by design (time): fixed instants, UTC.
    for args in [
        &["date", "-u", "-d", "@0", "+%Y-%m-%d %H:%M:%S %Z"][..],
        &["date", "-u", "-d", "@1700000000"],
        &["date", "-d", "@86399", "+%s %j %A"],
    ] {
        let mut c = case("date", args, b"");
        c.env.push(("TZ", "UTC0"));
        v.push(c);
    }
    v
}

/// What one run produced.
struct Outcome {
    status: i32,
    stdout: Vec<u8>,
    stderr: String,
}

fn run_busybox(sandbox: bool, c: &Case, policy: &str) -> Outcome {
    let mut cmd = if sandbox {
        let mut cmd = runner();
        cmd.args(["exec", "--policy", policy, BUSYBOX]);
        cmd
    } else {
        let mut cmd = Command::new(BUSYBOX);
        cmd.env_clear().envs(c.env.iter().copied());
        cmd
    };
    cmd.args(&c.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    let data = c.stdin.clone();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Outcome {
        status: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr,
    }
}

/// The guest's stderr without the runner's reports of syscalls it does not
/// emulate (those are the runner's diagnostics, not the program's output).
fn program_stderr(s: &str) -> String {
    s.lines()
        .filter(|l| {
            !(l.starts_with("runner: unsupported syscall ") && l.ends_with("returned ENOSYS"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn shown(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.contains([' ', '*', '$', '"', '\\', '|', '[', '{']) {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// Runs every case both ways; returns the markdown rows and the failures.
/// `shown` with `dir` written as `$DIR` (for the table).
fn shown_in(args: &[String], dir: Option<&Path>) -> String {
    let text = shown(args);
    match dir.and_then(Path::to_str) {
        Some(d) => text.replace(d, "$DIR"),
        None => text,
    }
}

fn battery(
    cases: &[Case],
    policy_text: &str,
    tag: &str,
    tree: Option<&Path>,
) -> (String, Vec<String>) {
    require_busybox();
    let dir = temp_dir(&format!("busybox-{tag}"));
    let mut rows =
        String::from("| applet | command | stdin | result |\n| --- | --- | --- | --- |\n");
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let mut policy = policy_text.to_string();
        if !c.env.is_empty() {
            policy.push_str("[env]\nvars = { ");
            let vars: Vec<String> = c
                .env
                .iter()
                .map(|(k, v)| format!("{k} = \"{v}\""))
                .collect();
            policy.push_str(&vars.join(", "));
            policy.push_str(" }\n");
        }
        let p = policy_file(&dir, &format!("p{i}.toml"), &policy);
        let native = run_busybox(false, c, &p);
        let vm = run_busybox(true, c, &p);
        let mut why = Vec::new();
        let mut short = Vec::new();
        if vm.stdout != native.stdout {
            why.push(format!(
                "stdout differs ({} bytes in the sandbox, {} natively)",
                vm.stdout.len(),
                native.stdout.len()
            ));
            short.push("stdout differs".to_string());
        }
        if vm.status != native.status {
            why.push(format!("status {} (native {})", vm.status, native.status));
            short.push(format!("status {} (native {})", vm.status, native.status));
        }
        let vm_err = program_stderr(&vm.stderr);
        if vm_err != native.stderr {
            why.push(format!("stderr {vm_err:?} (native {:?})", native.stderr));
            let first = vm_err.lines().next().unwrap_or("").to_string();
            let first = match tree.and_then(Path::to_str) {
                Some(d) => first.replace(d, "$DIR"),
                None => first,
            };
            short.push(format!("stderr: {first}"));
        }
        let input = if c.stdin.is_empty() {
            "—".to_string()
        } else {
            format!("{} bytes", c.stdin.len())
        };
        let result = if why.is_empty() {
            format!("pass (status {})", native.status)
        } else {
            failures.push(format!("{}: {}", shown(&c.args), why.join("; ")));
            format!("**FAIL**: {}", short.join("; ").replace('|', "\\|"))
        };
        rows.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            c.applet,
            shown_in(&c.args, tree),
            input,
            result
        ));
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("busybox-{tag}.md"));
    std::fs::write(&out, &rows).expect("write the result table");
    println!("{rows}\n(written to {})", out.display());
    (rows, failures)
}

#[test]
fn applets_on_stdin_match_native() {
    let (_, failures) = battery(&stdin_cases(), "", "stdin", None);
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn gzip_round_trips_in_the_sandbox() {
    require_busybox();
    let data = text();
    let mut child = runner()
        .args(["exec", BUSYBOX, "gzip", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut i = child.stdin.take().expect("stdin");
        i.write_all(&data).expect("feed");
    }
    let compressed = child.wait_with_output().expect("gzip").stdout;
    let mut child = runner()
        .args(["exec", BUSYBOX, "gunzip", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let writer = {
        use std::io::Write;
        let mut i = child.stdin.take().expect("stdin");
        std::thread::spawn(move || i.write_all(&compressed))
    };
    let out = child.wait_with_output().expect("gunzip");
    writer.join().expect("writer").expect("feed");
    assert!(out.status.success());
    assert_eq!(out.stdout, data, "gunzip(gzip(x)) == x inside the sandbox");
}

#[test]
fn sleep_sleeps_and_the_time_limit_cuts_it() {
    require_busybox();
    let start = Instant::now();
    let r = run(&["exec", BUSYBOX, "sleep", "0.3"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(start.elapsed() >= Duration::from_millis(300));
    let start = Instant::now();
    let r = run(&["exec", "--timeout", "0.5", BUSYBOX, "sleep", "20"]);
    assert_eq!(r.status, 137, "{}", r.stderr);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn uname_shows_the_fixed_identity() {
    require_busybox();
    let r = run(&["exec", BUSYBOX, "uname", "-a"]);
    assert_eq!(r.status, 0);
    assert_eq!(
        r.stdout,
        "Linux thinvisor 6.1.0-thinvisor #1 SMP thinvisor x86_64 GNU/Linux\n"
    );
}

/// `df` finds each tree in /proc/mounts (one line per [[files]] rule) and
/// shows the size of the host file system it lies on, as a native `df` of
/// the same directory does; `df` of everything lists the trees.
#[test]
fn df_shows_each_tree_with_its_file_systems_size() {
    require_busybox();
    let dir = temp_dir("busybox-df");
    let d = dir.to_str().unwrap();
    let policy = policy_file(
        &dir,
        "df.toml",
        &format!("[[files]]\npath = \"{d}\"\naccess = \"read-write\"\n"),
    );
    let total = |out: &str| -> String {
        out.lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_string()
    };
    let native = Command::new(BUSYBOX).args(["df", d]).output().expect("df");
    let native = String::from_utf8_lossy(&native.stdout).into_owned();
    let r = run(&["exec", "--policy", &policy, BUSYBOX, "df", d]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stdout.lines().nth(1).is_some_and(|l| l.ends_with(d)),
        "{}",
        r.stdout
    );
    assert_eq!(
        total(&r.stdout),
        total(&native),
        "1K-blocks: {} against {native}",
        r.stdout
    );
    let r = run(&["exec", "--policy", &policy, BUSYBOX, "df"]);
    assert_eq!((r.status, r.stderr.as_str()), (0, ""), "{}", r.stdout);
    assert!(r.stdout.contains(d), "{}", r.stdout);
    let r = run(&["exec", "--policy", &policy, BUSYBOX, "cat", "/proc/mounts"]);
    assert_eq!(
        r.stdout,
        format!("thinvisor {d} thinvisor rw 0 0\nproc /proc proc rw 0 0\n")
    );
}

/// Files for the file-based variants, under `dir`.
fn make_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub/deeper")).expect("mkdir");
    std::fs::write(dir.join("text.txt"), text()).expect("write");
    std::fs::write(dir.join("data.bin"), binary()).expect("write");
    std::fs::write(dir.join("sub/notes.txt"), b"beta notes\nword-3 here\n").expect("write");
    std::fs::write(dir.join("sub/deeper/empty.txt"), b"").expect("write");
}

fn file_cases(dir: &Path) -> Vec<Case> {
    let d = dir.to_str().expect("utf-8 dir").to_string();
    let f = |n: &str| format!("{d}/{n}");
    let own = |applet: &'static str, args: Vec<String>| Case {
        applet,
        args,
        stdin: Vec::new(),
        env: Vec::new(),
    };
    vec![
        own("cat", vec!["cat".into(), f("text.txt")]),
        own("cat", vec!["cat".into(), f("no-such-file")]),
        own("wc", vec!["wc".into(), f("text.txt"), f("data.bin")]),
        own("sort", vec!["sort".into(), f("text.txt")]),
        own("uniq", vec!["uniq".into(), "-c".into(), f("text.txt")]),
        own(
            "head",
            vec!["head".into(), "-n".into(), "2".into(), f("text.txt")],
        ),
        own(
            "tail",
            vec!["tail".into(), "-c".into(), "64".into(), f("data.bin")],
        ),
        own(
            "sha256sum",
            vec!["sha256sum".into(), f("data.bin"), f("text.txt")],
        ),
        own("md5sum", vec!["md5sum".into(), f("data.bin")]),
        own("base64", vec!["base64".into(), f("data.bin")]),
        own(
            "cut",
            vec![
                "cut".into(),
                "-d".into(),
                " ".into(),
                "-f".into(),
                "2".into(),
                f("text.txt"),
            ],
        ),
        own(
            "grep",
            vec![
                "grep".into(),
                "-r".into(),
                "-c".into(),
                "beta".into(),
                f("sub"),
            ],
        ),
        own(
            "grep",
            vec!["grep".into(), "-n".into(), "word-3".into(), f("text.txt")],
        ),
        own(
            "sed",
            vec!["sed".into(), "-n".into(), "$p".into(), f("text.txt")],
        ),
        own(
            "awk",
            vec!["awk".into(), "END { print NR }".into(), f("text.txt")],
        ),
        own(
            "od",
            vec![
                "od".into(),
                "-A".into(),
                "d".into(),
                "-t".into(),
                "x2".into(),
                "-N".into(),
                "64".into(),
                f("data.bin"),
            ],
        ),
        own("ls", vec!["ls".into(), d.clone()]),
        own("ls", vec!["ls".into(), "-1".into(), "-R".into(), d.clone()]),
        own("ls", vec!["ls".into(), "-d".into(), f("sub")]),
        own(
            "find",
            vec!["find".into(), d.clone(), "-name".into(), "*.txt".into()],
        ),
        own(
            "find",
            vec!["find".into(), d.clone(), "-type".into(), "d".into()],
        ),
        own("gzip", vec!["gzip".into(), "-c".into(), f("text.txt")]),
    ]
}

/// Needs the file layer: the policy grants the directory (read).
#[test]
fn applets_on_files_match_native() {
    let dir = temp_dir("busybox-tree");
    make_tree(&dir);
    let policy = format!(
        "[[files]]\npath = \"{}\"\naccess = \"read\"\n",
        dir.display()
    );
    let (_, failures) = battery(&file_cases(&dir), &policy, "files", Some(&dir));
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs `body` as a busybox sh script (`$bb` is busybox, `$1` the tree,
/// TZ=UTC0, umask 022) natively in a scratch directory and in the
/// sandbox, in the tree `tree` gives ("rw": a host directory granted
/// read-write; "private": a private tree at /scratch), and asserts the
/// same stdout and status 0; returns the native stdout.
fn script_matches_native(tag: &str, tree: &str, body: &str) -> String {
    let bb = require_busybox();
    let base = temp_dir(tag);
    let (native_dir, guest_dir) = (base.join("native"), base.join("guest"));
    for d in [&native_dir, &guest_dir] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let script = base.join("script.sh");
    let bbs = bb.to_str().expect("utf-8");
    std::fs::write(
        &script,
        format!("cd \"$1\" || exit 9\nbb={bbs}\numask 022\n{body}"),
    )
    .expect("script");
    let native = Command::new(&bb)
        .arg("sh")
        .arg(&script)
        .arg(&native_dir)
        .env_clear()
        .env("TZ", "UTC0")
        .output()
        .expect("native busybox");
    let want = String::from_utf8_lossy(&native.stdout).into_owned();
    assert!(native.status.success(), "natively: {want}");
    let grant = |p: &Path, access: &str| {
        format!(
            "[[files]]\npath = \"{}\"\naccess = \"{access}\"\n",
            p.display()
        )
    };
    let (tree_rule, tree_path) = match tree {
        "private" => (
            "[[files]]\npath = \"/scratch\"\naccess = \"read-write\"\nprivate = true\n".to_string(),
            "/scratch".to_string(),
        ),
        _ => (
            grant(&guest_dir, "read-write"),
            guest_dir.to_str().expect("utf-8").to_string(),
        ),
    };
    let real_bb = std::fs::canonicalize(&bb).expect("busybox path");
    let policy = policy_file(
        &base,
        "tree.toml",
        &[
            tree_rule,
            grant(&script, "read"),
            grant(&bb, "read-exec"),
            grant(&real_bb, "read-exec"),
            "[env]\nvars = { TZ = \"UTC0\" }\n[limits]\nwall_time = \"30s\"\n".to_string(),
        ]
        .concat(),
    );
    let r = run(&[
        "exec",
        "--policy",
        &policy,
        bbs,
        "sh",
        script.to_str().expect("utf-8"),
        &tree_path,
    ]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, want.as_str()),
        "{}\n{}",
        diff_lines(&want, &r.stdout),
        r.stderr
    );
    want
}

/// busybox applets that change a read-write tree, run by busybox sh with
/// TZ=UTC0, print and leave what they do natively: a hard link and its
/// count (`ln`), `chmod`, `touch -d`, `cp -p` (mode and mtime kept), `tar
/// x` (mtimes kept), `uuencode` (the mode it prints), `mv`, `ls`.
#[test]
fn applets_that_change_a_tree_match_native() {
    let want = script_matches_native(
        "busybox-changes",
        "rw",
        "echo hello > a\n\
         $bb ln a b; echo \"ln: $?\"\n\
         $bb stat -c '%a %h %s %n' a b\n\
         $bb chmod 640 a; echo \"chmod: $?\"\n\
         $bb stat -c '%a %n' a\n\
         $bb touch -d '2020-01-02 03:04:05' a; echo \"touch: $?\"\n\
         $bb stat -c '%Y %n' a\n\
         $bb cp -p a c; echo \"cp -p: $?\"\n\
         $bb stat -c '%a %Y %n' c\n\
         $bb mkdir t; echo x > t/f; $bb touch -d '2019-05-06 07:08:09' t/f\n\
         $bb tar cf t.tar t; $bb rm -r t; $bb tar xf t.tar; echo \"tar x: $?\"\n\
         $bb stat -c '%Y %n' t/f\n\
         $bb uuencode a a | $bb head -1\n\
         $bb mv c e; $bb ls\n",
    );
    assert!(want.contains("begin 640 a\n"), "{want}");
}

/// busybox applets that make links and named pipes, run by busybox sh in a
/// private tree (the one kind of tree where the guest may make symbolic
/// links and named pipes), print and leave what they do natively in a
/// scratch directory: `ln -s` (the link, its text, reading through it, a
/// dangling one, `-f`), `mkfifo` (with `-m`; a background writer and a
/// reader meeting through the pipe, either opening first), `ls -l`.
/// (Debian's busybox has no `install`: GNU install's run is in
/// tests/dynamic.rs.)
#[test]
fn links_and_named_pipes_match_native() {
    let want = script_matches_native(
        "busybox-links",
        "private",
        "echo hello > a\n\
         $bb ln -s a s; echo \"ln -s: $?\"\n\
         $bb readlink s; $bb cat s\n\
         $bb ls -l s | $bb cut -c1-10\n\
         $bb ln -s ../no/such/file dangling; echo \"dangling: $?\"\n\
         $bb readlink dangling; $bb cat dangling 2>/dev/null; echo \"cat dangling: $?\"\n\
         $bb ln -s a s; echo \"ln -s again: $?\"\n\
         $bb ln -sf a s; echo \"ln -sf: $?\"\n\
         $bb mkfifo p; echo \"mkfifo: $?\"\n\
         $bb stat -c '%F %a %s' p\n\
         $bb ls -l p | $bb cut -c1-10\n\
         $bb mkfifo -m 600 q; $bb stat -c '%F %a' q\n\
         $bb mkfifo p; echo \"mkfifo again: $?\"\n\
         $bb sh -c 'echo through the pipe > p' &\n\
         $bb cat p; wait; echo \"writer: $?\"\n\
         ($bb cat p > got &) ; echo second > p; wait; $bb sleep 0.2; $bb cat got\n\
         $bb rm p q; $bb ls\n",
    );
    assert!(
        want.contains("fifo 644 0\nprw-r--r--\n") && want.contains("through the pipe\n"),
        "{want}"
    );
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// What a client outside sees of `busybox nc -l -p PORT` serving it, and
/// what nc prints: the client sends a line, reads the line nc sends from
/// its stdin, and closes; nc prints the client's line and ends.
fn nc_serves(sandbox: bool) -> (i32, String, String) {
    use std::io::{Read, Write};
    let port = free_port();
    let mut cmd = if sandbox {
        let dir = temp_dir(&format!("busybox-nc-{port}"));
        let policy = policy_file(
            &dir,
            "nc.toml",
            &format!("[[network]]\naddress = \"0.0.0.0:{port}\"\nlisten = true\n"),
        );
        let mut cmd = runner();
        cmd.args(["exec", "--policy", &policy, BUSYBOX]);
        cmd
    } else {
        let mut cmd = Command::new(BUSYBOX);
        cmd.env_clear();
        cmd
    };
    let mut child = cmd
        .args(["nc", "-l", "-p", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nc");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(b"from the server\n").expect("nc's stdin");
    let mut got = Vec::new();
    for attempt in 0.. {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut c) => {
                c.set_read_timeout(Some(Duration::from_secs(20)))
                    .expect("timeout");
                c.write_all(b"from the client\n").expect("send");
                got = vec![0u8; 16];
                c.read_exact(&mut got).expect("the server's line");
                break;
            }
            Err(_) if attempt < 200 => std::thread::sleep(Duration::from_millis(25)),
            Err(e) => panic!("nc never listened: {e}"),
        }
    }
    drop(input);
    let out = child.wait_with_output().expect("nc");
    assert_eq!(String::from_utf8_lossy(&got), "from the server\n");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        program_stderr(&String::from_utf8_lossy(&out.stderr)),
    )
}

/// busybox `nc -l` as a server in the sandbox answers a client outside
/// it as natively: the same bytes both ways, the same output and status.
#[test]
fn nc_listens_and_serves_a_client_outside_as_natively() {
    require_busybox();
    let native = nc_serves(false);
    assert_eq!(native.1, "from the client\n", "natively: {native:?}");
    assert_eq!(nc_serves(true), native);
}
