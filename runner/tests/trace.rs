//! `runner exec --trace`: for a battery of real programs (musl and glibc
//! samples, Debian's busybox applets on files, a shell that forks, execs
//! and waits, signals handled and fatal), the trace lists the same calls
//! with the same results, in the same order in each process, as `strace
//! -f` of the same program run natively, after normalising what differs
//! by nature: addresses, pids, times (docs/trace.md); the JSON format
//! carries the same; a policy refusal is marked.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use support::*;

/// What a trace shows of a process: a call with its result, a signal
/// delivered, how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Call(String, String),
    Signal(String),
    Exited(String),
    Killed(String),
}

/// Calls whose results are addresses or pids: equal only in kind.
const ADDRESSES: &[&str] = &["mmap", "mremap", "brk"];
const PIDS: &[&str] = &[
    "set_tid_address",
    "getpid",
    "gettid",
    "getppid",
    "fork",
    "vfork",
    "clone",
    "clone3",
    "wait4",
];

fn normal_result(name: &str, result: &str) -> String {
    let mut words = result.split_whitespace();
    let first = words.next().unwrap_or("");
    if first == "-1" || first == "?" {
        // "-1 ENOENT (text)", "? ERESTARTSYS (text)": the number and name.
        return match words.next() {
            Some(e) => format!("{first} {e}"),
            None => first.to_string(),
        };
    }
    // readlink of /proc/self/exe: the host path of the program differs;
    // rt_sigreturn's is the interrupted code's RAX (a pid after wait4).
    if ADDRESSES.contains(&name) || name == "readlink" || name == "rt_sigreturn" {
        "ADDR".into()
    } else if PIDS.contains(&name) {
        "PID".into()
    } else {
        first.to_string()
    }
}

/// One line's event (without its pid prefix), with strace's split calls
/// joined through `pending` (the call a process left unfinished).
fn event(text: &str, pending: &mut Option<String>) -> Option<Event> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("--- ") {
        return Some(Event::Signal(rest.split_whitespace().next()?.to_string()));
    }
    if let Some(rest) = text.strip_prefix("+++ exited with ") {
        return Some(Event::Exited(rest.split_whitespace().next()?.to_string()));
    }
    if let Some(rest) = text.strip_prefix("+++ killed by ") {
        return Some(Event::Killed(rest.split_whitespace().next()?.to_string()));
    }
    if text.ends_with("<unfinished ...>") {
        *pending = Some(text.split('(').next()?.to_string());
        return None;
    }
    let (name, tail) = if let Some(rest) = text.strip_prefix("<... ") {
        let name = rest.split_whitespace().next()?.to_string();
        *pending = None;
        (name, rest)
    } else {
        (text.split('(').next()?.to_string(), text)
    };
    let at = tail.rfind(" = ")?;
    // Our " <0.000012>" time and " (policy)" mark are not strace's.
    let result = tail[at + 3..].split(" <").next()?.replace(" (policy)", "");
    Some(Event::Call(name.clone(), normal_result(&name, &result)))
}

/// The events of each process in the order processes first appear; lines
/// start with the pid (strace -f -o) or `[pid tid]` (ours).
fn per_process(trace: &str, ours: bool) -> Vec<Vec<Event>> {
    let mut order: Vec<String> = Vec::new();
    let mut events: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    let mut pending: BTreeMap<String, Option<String>> = BTreeMap::new();
    for line in trace.lines() {
        let (pid, text) = if ours {
            let Some(rest) = line.strip_prefix('[') else {
                continue;
            };
            let (ids, text) = rest.split_once("] ").expect("[pid tid] prefix");
            (ids.split(' ').next().unwrap().to_string(), text)
        } else {
            let (pid, text) = line.split_once(' ').expect("pid prefix");
            (pid.to_string(), text)
        };
        if !order.contains(&pid) {
            order.push(pid.clone());
        }
        if let Some(e) = event(text, pending.entry(pid.clone()).or_default()) {
            events.entry(pid).or_default().push(e);
        }
    }
    order
        .iter()
        .map(|p| events.remove(p).unwrap_or_default())
        .collect()
}

/// What differs by nature between a native run and the sandbox's, and is
/// documented (docs/trace.md): the first program's own execve (the runner
/// loads it), rseq (not emulated: ENOSYS), SIGCHLD to a parent that does
/// not handle it (strace sees signals Linux would discard).
fn comparable(mut procs: Vec<Vec<Event>>) -> Vec<Vec<Event>> {
    if let Some(first) = procs.first_mut() {
        if matches!(first.first(), Some(Event::Call(n, _)) if n == "execve") {
            first.remove(0);
        }
    }
    for p in &mut procs {
        p.retain(|e| match e {
            Event::Call(n, _) => n != "rseq",
            Event::Signal(s) => s != "SIGCHLD",
            _ => true,
        });
    }
    procs
}

fn strace(dir: &Path, tag: &str, program: &str, args: &[&str]) -> (String, Option<i32>) {
    let out = dir.join(format!("{tag}.strace"));
    let status = Command::new("strace")
        .arg("-f")
        .arg("-o")
        .arg(&out)
        .arg(program)
        .args(args)
        // As the guest: no environment, at /.
        .env_clear()
        .current_dir("/")
        .output()
        .expect("strace (apt-get install strace; ci/test-deps.sh does)")
        .status;
    // strace ends as its program did: by the same signal, too.
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().or(status.signal().map(|s| 128 + s));
    (std::fs::read_to_string(&out).expect("strace output"), code)
}

fn traced(
    dir: &Path,
    tag: &str,
    policy: &str,
    program: &str,
    args: &[&str],
    format: &str,
) -> (String, Run) {
    let out = dir.join(format!("{tag}.trace"));
    let trace = format!("--trace={}", out.display());
    let mut all = vec![
        "exec",
        "--policy",
        policy,
        trace.as_str(),
        "--trace-format",
        format,
        program,
    ];
    all.extend_from_slice(args);
    let mut cmd = runner();
    cmd.args(&all).current_dir(dir);
    let run = run_command(cmd, b"");
    (std::fs::read_to_string(&out).expect("trace output"), run)
}

#[test]
fn the_trace_lists_the_calls_and_results_strace_sees_natively() {
    let dir = temp_dir("trace-battery");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data");
    std::fs::write(data.join("words.txt"), "pear\napple\nfig\n").expect("words");
    std::fs::write(data.join("more.txt"), "x\n").expect("more");
    let words = data.join("words.txt");
    let words = words.to_str().unwrap();
    let d = data.to_str().unwrap();
    // The guest is who the test runs as, so that busybox takes the same
    // paths (it checks for root).
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let policy = policy_file(
        &dir,
        "trace.toml",
        &format!(
            "[identity]\nuid = {uid}\ngid = {gid}\n\n[[files]]\npath = \"{d}\"\naccess = \"read\"\n\n[[files]]\npath = \"/bin/busybox\"\naccess = \"read-exec\"\n"
        ),
    );
    let hello = elf_sample("hello");
    let hello_pie = elf_sample("hello_pie");
    let raise = elf_sample("raise");
    let raise_glibc = elf_sample("raise_glibc");
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("hello", hello.to_str().unwrap(), vec![]),
        ("hello_pie", hello_pie.to_str().unwrap(), vec![]),
        ("raise-handled", raise.to_str().unwrap(), vec!["handled"]),
        ("raise-term", raise_glibc.to_str().unwrap(), vec!["term"]),
        ("echo", "/bin/busybox", vec!["echo", "hello", "world"]),
        ("cat", "/bin/busybox", vec!["cat", words]),
        ("ls", "/bin/busybox", vec!["ls", d]),
        ("wc", "/bin/busybox", vec!["wc", "-l", words]),
        ("sha256sum", "/bin/busybox", vec!["sha256sum", words]),
        ("sort", "/bin/busybox", vec!["sort", words]),
        ("head", "/bin/busybox", vec!["head", "-n", "1", words]),
        (
            "missing",
            "/bin/busybox",
            vec!["cat", "/nonexistent-thinvisor"],
        ),
        (
            "sh",
            "/bin/busybox",
            vec!["sh", "-c", "/bin/busybox true; echo $?; exit 3"],
        ),
    ];
    let mut failures = Vec::new();
    for (tag, program, args) in &cases {
        let (native, native_status) = strace(&dir, tag, program, args);
        let (ours, run) = traced(&dir, tag, &policy, program, args, "text");
        assert_eq!(
            Some(run.status),
            native_status,
            "{tag}: status; {}",
            run.stderr
        );
        let want = comparable(per_process(&native, false));
        let got = comparable(per_process(&ours, true));
        assert!(
            want.iter().map(Vec::len).sum::<usize>() >= 5,
            "{tag}: strace saw {want:?}"
        );
        if want != got {
            failures.push(format!(
                "{tag}:\n  strace: {want:?}\n  ours:   {got:?}\n  (native trace:\n{native}\n  our trace:\n{ours})"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_json_trace_has_one_object_per_line_and_marks_policy_refusals() {
    let dir = temp_dir("trace-json");
    let policy = policy_file(&dir, "deny.toml", "[syscalls]\ndeny = [\"getuid\"]\n");
    let (json, run) = traced(&dir, "json", &policy, "/bin/busybox", &["id", "-u"], "json");
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let refused = lines
        .iter()
        .find(|v| v["syscall"] == "getuid")
        .expect("getuid is in the trace");
    assert_eq!(refused["policy"], true, "{refused}");
    assert_eq!(
        (refused["result"].as_i64(), refused["errno"].as_str()),
        (Some(-1), Some("EPERM"))
    );
    let last = lines.last().expect("lines");
    assert_eq!(last["event"], "exited", "{last}");
    assert_eq!(last["status"].as_i64(), Some(i64::from(run.status)));
    assert!(lines.iter().all(|v| v["pid"].as_u64() == Some(2)));
    // The text format says the same, and marks it.
    let (text, _) = traced(&dir, "text", &policy, "/bin/busybox", &["id", "-u"], "text");
    assert!(
        text.lines()
            .any(|l| l.contains("getuid() = -1 EPERM (Operation not permitted) (policy)")),
        "{text}"
    );
}
