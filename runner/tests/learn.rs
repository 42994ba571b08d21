//! `runner learn`: for a battery of real programs (busybox applets on
//! files, a program that writes a report, a network client, a threaded
//! C program, a Go program), the learned policy is valid and commented,
//! a run under it gives the same output, status and files as the
//! learning run, and it is minimal: without any one of its `[[files]]`
//! or `[[network]]` grants the run no longer gives them (docs/learn.md).

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use support::*;

/// A program to learn: how it is run, where it may reach, and the files
/// whose content after the run is part of its result.
struct Case {
    label: &'static str,
    learn_flags: Vec<String>,
    program: PathBuf,
    args: Vec<String>,
    /// Files the run writes: compared after each run, removed before.
    outputs: Vec<PathBuf>,
}

/// What a run gave: status, stdout, the outputs' contents.
#[derive(Debug, PartialEq, Eq)]
struct Result_ {
    status: i32,
    stdout: String,
    outputs: Vec<Option<Vec<u8>>>,
}

fn clear(outputs: &[PathBuf]) {
    for o in outputs {
        let _ = std::fs::remove_file(o);
    }
}

fn collect(run: &Run, outputs: &[PathBuf]) -> Result_ {
    Result_ {
        status: run.status,
        stdout: run.stdout.clone(),
        outputs: outputs.iter().map(|o| std::fs::read(o).ok()).collect(),
    }
}

/// `runner learn FLAGS -o POLICY -- PROGRAM ARGS`: what the learning run
/// gave, and the policy's text.
fn learn(c: &Case, policy: &Path) -> (Result_, String) {
    clear(&c.outputs);
    let mut cmd = runner();
    cmd.arg("learn")
        .args(&c.learn_flags)
        .arg("-o")
        .arg(policy)
        .arg("--")
        .arg(&c.program)
        .args(&c.args);
    let run = run_command(cmd, b"");
    let text = std::fs::read_to_string(policy)
        .unwrap_or_else(|e| panic!("{}: no policy ({e}); stderr {}", c.label, run.stderr));
    assert!(
        run.stderr
            .contains(&format!("runner learn: wrote {}", policy.display())),
        "{}: {}",
        c.label,
        run.stderr
    );
    (collect(&run, &c.outputs), text)
}

/// `runner exec --policy POLICY PROGRAM ARGS` from a clean start.
fn rerun(c: &Case, policy: &Path) -> Result_ {
    clear(&c.outputs);
    let mut cmd = runner();
    cmd.arg("exec")
        .arg("--policy")
        .arg(policy)
        .arg(&c.program)
        .args(&c.args);
    let run = run_command(cmd, b"");
    collect(&run, &c.outputs)
}

/// The policy `text` without its `index`th entry of `table`.
fn without(text: &str, table: &str, index: usize) -> String {
    let mut t: toml::Table = toml::from_str(text).expect("learned policy is TOML");
    let entries = t
        .get_mut(table)
        .and_then(|v| v.as_array_mut())
        .expect("the table");
    entries.remove(index);
    if entries.is_empty() {
        t.remove(table);
    }
    toml::to_string(&t).expect("toml")
}

fn grants(text: &str, table: &str) -> usize {
    let t: toml::Table = toml::from_str(text).expect("learned policy is TOML");
    t.get(table).and_then(|v| v.as_array()).map_or(0, Vec::len)
}

/// Learns `c`, checks the rerun and the minimality; returns the policy.
fn check(c: &Case, dir: &Path) -> String {
    let policy = dir.join(format!("{}.toml", c.label.replace(' ', "-")));
    let (learned, text) = learn(c, &policy);
    assert_eq!(
        learned.status, 0,
        "{}: the learning run failed: {learned:?}",
        c.label
    );
    sandbox_policy::Policy::from_file(&policy)
        .unwrap_or_else(|e| panic!("{}: the learned policy is invalid: {e}\n{text}", c.label));
    assert!(
        text.starts_with("# Learned by `runner learn` from"),
        "{text}"
    );
    let again = rerun(c, &policy);
    assert_eq!(
        again, learned,
        "{}: a run under the learned policy differs\n{text}",
        c.label
    );
    for table in ["files", "network"] {
        for i in 0..grants(&text, table) {
            let narrower = dir.join(format!(
                "{}-without-{table}-{i}.toml",
                c.label.replace(' ', "-")
            ));
            std::fs::write(&narrower, without(&text, table, i)).unwrap();
            let r = rerun(c, &narrower);
            assert_ne!(
                r, learned,
                "{}: the run is the same without {table} grant {i}: the policy is not minimal\n{text}",
                c.label
            );
        }
    }
    text
}

fn busybox(label: &'static str, scope: &Path, args: &[&str], outputs: Vec<PathBuf>) -> Case {
    Case {
        label,
        learn_flags: vec!["--scope".into(), scope.to_string_lossy().into_owned()],
        program: PathBuf::from("/bin/busybox"),
        args: args.iter().map(|a| a.to_string()).collect(),
        outputs,
    }
}

#[test]
fn busybox_applets_on_files_learn_the_least_access() {
    let dir = temp_dir("learn-busybox");
    let scope = dir.join("scope");
    let data = scope.join("data");
    let out = scope.join("out");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(data.join("in.txt"), "pear\napple\nfig\n").unwrap();
    std::fs::write(data.join("other.txt"), "never read\n").unwrap();
    let d = data.to_string_lossy().into_owned();
    let o = out.to_string_lossy().into_owned();
    let input = format!("{d}/in.txt");
    let copy = format!("{o}/copy.txt");

    let sort = check(&busybox("sort", &scope, &["sort", &input], vec![]), &dir);
    assert!(
        sort.contains(&format!("path = \"{input}\"\naccess = \"read\"")),
        "{sort}"
    );
    assert_eq!(grants(&sort, "files"), 1, "one file read: one rule\n{sort}");

    let ls = check(&busybox("ls", &scope, &["ls", &d], vec![]), &dir);
    assert!(
        ls.contains(&format!("path = \"{d}\"\naccess = \"read\"")),
        "{ls}"
    );

    let cp = check(
        &busybox(
            "cp",
            &scope,
            &["cp", &input, &copy],
            vec![PathBuf::from(&copy)],
        ),
        &dir,
    );
    assert!(
        cp.contains(&format!("path = \"{o}\"\naccess = \"read-write\"")),
        "{cp}"
    );
    assert!(
        cp.contains(&format!("path = \"{input}\"\naccess = \"read\"")),
        "{cp}"
    );
    assert!(!cp.contains("other.txt"), "{cp}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_program_that_writes_a_report() {
    let dir = temp_dir("learn-report");
    let scope = dir.join("scope");
    std::fs::create_dir_all(scope.join("data")).unwrap();
    std::fs::create_dir_all(scope.join("reports")).unwrap();
    std::fs::write(scope.join("data/in.txt"), "b\na\nc\n").unwrap();
    let report = scope.join("reports/report.txt");
    let script = format!(
        "sort {s}/data/in.txt > {s}/reports/report.txt && echo written",
        s = scope.display()
    );
    let case = busybox(
        "report",
        &scope,
        &["sh", "-c", &script],
        vec![report.clone()],
    );
    let text = check(&case, &dir);
    assert!(
        text.contains(&format!(
            "path = \"{}/reports\"\naccess = \"read-write\"",
            scope.display()
        )),
        "{text}"
    );
    let r = rerun(&case, &dir.join("report.toml"));
    assert_eq!(r.stdout, "written\n");
    assert_eq!(std::fs::read_to_string(&report).unwrap(), "a\nb\nc\n");
    // The syscalls allowlist is what the run made (and the vDSO's calls).
    let t: toml::Table = toml::from_str(&text).unwrap();
    let allow: Vec<&str> = t["syscalls"]["allow"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for needed in ["openat", "wait4", "write", "clock_gettime"] {
        assert!(allow.contains(&needed), "{needed} missing from {allow:?}");
    }
    assert!(!allow.contains(&"socket"), "{allow:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn programs_a_shell_runs_and_directories_it_enters() {
    let dir = temp_dir("learn-exec");
    let scope = dir.join("scope");
    std::fs::create_dir_all(scope.join("bin")).unwrap();
    std::fs::create_dir_all(scope.join("data")).unwrap();
    std::fs::copy(elf_sample("hello"), scope.join("bin/hello")).unwrap();
    std::fs::write(scope.join("data/in.txt"), "x\n").unwrap();
    // A relative cd is learned as the directory it entered; the program
    // the shell runs (execve) is learned runnable.
    let script = format!(
        "cd {s} && cd data && sort in.txt && {s}/bin/hello",
        s = scope.display()
    );
    let text = check(
        &busybox("exec", &scope, &["sh", "-c", &script], vec![]),
        &dir,
    );
    let s = scope.display();
    assert!(
        text.contains(&format!("path = \"{s}/bin/hello\"\naccess = \"read-exec\"")),
        "{text}"
    );
    assert!(!text.contains("data/data"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_network_client_learns_its_peer() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = Vec::new();
            let _ = c.read_to_end(&mut buf);
            let _ = c.write_all(&[b"echo:".as_slice(), &buf].concat());
        }
    });
    let dir = temp_dir("learn-net");
    let c = Case {
        label: "netop",
        learn_flags: vec!["--net".into()],
        program: sample("netop"),
        args: vec!["t".into(), port.to_string(), "hello".into()],
        outputs: vec![],
    };
    let text = check(&c, &dir);
    assert!(
        text.contains(&format!("address = \"127.0.0.1:{port}\"")),
        "{text}"
    );
    assert_eq!(grants(&text, "network"), 1, "{text}");
    assert!(
        !text.contains("192.0.2.1"),
        "the learning placeholder is never learned\n{text}"
    );
    // Without --net nothing is granted: the client is refused (EACCES).
    let policy = dir.join("no-net.toml");
    let (r, text) = learn(
        &Case {
            learn_flags: vec![],
            ..c
        },
        &policy,
    );
    assert_eq!(r.status, 13, "EACCES");
    assert_eq!(grants(&text, "network"), 0, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn threaded_programs_c_and_go() {
    let dir = temp_dir("learn-threads");
    let c = Case {
        label: "threads",
        learn_flags: vec![],
        program: elf_sample("threads"),
        args: vec![],
        outputs: vec![],
    };
    let text = check(&c, &dir);
    assert!(text.contains("\"clone"), "{text}");
    assert_eq!(grants(&text, "files"), 0, "{text}");
    // Go's scheduler makes a few calls only some runs need (a preemption
    // signal's tgkill, a sched_yield): learned from five runs, and
    // checked over three more. rt_sigreturn comes with rt_sigaction
    // whether a handler ran or not (CI once saw a rerun's SIGURG handler
    // unable to return).
    let go = Case {
        label: "go",
        learn_flags: vec!["--runs".into(), "5".into()],
        program: go_build("goroutines"),
        args: vec![],
        outputs: vec![],
    };
    let policy = dir.join("go.toml");
    let (learned, text) = learn(&go, &policy);
    assert_eq!(learned.status, 0, "{text}");
    assert!(text.contains("from 5 runs"), "{text}");
    assert!(text.contains("\"rt_sigreturn\""), "{text}");
    for _ in 0..3 {
        let r = rerun(&go, &policy);
        assert_eq!(r.status, 0, "{text}");
        assert_eq!(
            r.stdout.lines().next(),
            learned.stdout.lines().next(),
            "the Go program's first line (its work) is the same"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dynamically_linked_program_learns_its_loader_and_libraries() {
    let dir = temp_dir("learn-dynamic");
    let mut flags = Vec::new();
    for d in ["/usr", "/lib", "/lib64", "/etc"] {
        flags.push("--read-scope".to_string());
        flags.push(d.to_string());
    }
    let c = Case {
        label: "sort-dynamic",
        learn_flags: flags,
        program: PathBuf::from("/usr/bin/sort"),
        args: vec!["/etc/os-release".into()],
        outputs: vec![],
    };
    let text = check(&c, &dir);
    // The loader (PT_INTERP, loaded by the runner itself) and libc (mapped
    // executable) are runnable; nothing is writable.
    assert!(
        text.contains("path = \"/lib64\"\naccess = \"read-exec\""),
        "{text}"
    );
    assert!(
        text.contains("path = \"/lib/x86_64-linux-gnu/libc.so.6\"\naccess = \"read-exec\""),
        "{text}"
    );
    assert!(!text.contains("read-write"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_scopes_and_programs_are_refused_with_no_policy() {
    let dir = temp_dir("learn-bad");
    let out = dir.join("p.toml");
    let mut cmd = runner();
    cmd.args(["learn", "--scope", "/nonexistent/scope", "-o"])
        .arg(&out)
        .args(["--", "/bin/busybox", "true"]);
    let r = run_command(cmd, b"");
    assert_eq!(r.status, 125);
    assert!(
        r.stderr.contains("runner learn: scope /nonexistent/scope:"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
    let mut cmd = runner();
    cmd.args(["learn", "-o"])
        .arg(&out)
        .args(["--", "/nonexistent/program"]);
    let r = run_command(cmd, b"");
    assert_eq!(r.status, 125, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("runner learn: the learning run failed (status 127): no policy was learned"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
