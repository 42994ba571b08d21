//! Guest processes: fork, vfork, clone without CLONE_VM, execve, wait4 and
//! waitid, process groups and sessions, kill to pids and groups, SIGCHLD,
//! zombies and orphans, MAP_SHARED memory and process-shared futexes, as
//! Linux programs see them.
//!
//! - `samples/c/processes.c` (musl and glibc builds) prints one line per
//!   check, never a pid value: its run under the runner must be byte for
//!   byte its native run (and that is [`PROCESSES_EXPECTED`]).
//! - `samples/c/fork_hostile.c`: a fork bomb bounded by `limits.processes`
//!   (EAGAIN, zombies count until reaped), zombies never reaped,
//!   `kill(-1, SIGKILL)` from a child, `kill` of pid 1 and of missing pids,
//!   execve refused by the `[[files]]` rules (ENOENT outside every rule,
//!   EACCES under a `"read"` rule, ENOENT and one `runner:` line for a
//!   dynamic program whose interpreter the policy does not show), a parent exiting before its child: the run ends with
//!   the parent's status and leaves nothing running.
//! - A shell battery: Debian's busybox-static `sh -c` (and bash-static's
//!   `bash -c` when `/bin/bash-static` exists; required when CI=true) on
//!   pipelines, command substitution, subshells, background jobs, traps,
//!   here-documents, xargs, find -exec, timeout, exit statuses: the same
//!   script, the same applets (a temporary directory holding busybox and
//!   its applet links, the guest's `/bin` with access `"read-exec"`, the
//!   native run's PATH), stdout, stderr and status compared.
//!
//! Every run is bounded by the test (`support::run_bounded`): a broken
//! runner fails these tests with what it printed, never hangs them, and a
//! run must leave no process behind.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

const BUSYBOX: &str = "/bin/busybox";
const BASH: &str = "/bin/bash-static";

/// The most a run may take before the test kills it (the policies' own
/// wall_time is shorter, so the runner should always end first).
const LIMIT: Duration = Duration::from_secs(45);

/// The applets linked next to busybox in the guest's `/bin`.
const APPLETS: &[&str] = &[
    "sh", "sort", "uniq", "head", "tail", "cat", "echo", "xargs", "find", "timeout", "wc", "tr",
    "sleep", "true", "false", "kill", "printf", "seq", "grep", "sed", "awk", "cp", "ls", "env",
    "test", "pwd",
];

/// What `processes` prints, natively and in the sandbox.
const PROCESSES_EXPECTED: &str = r#"
fork-exit: waitpid returned the child: yes, exited 42
fork-exit: three children waited for in reverse order: exited 12 exited 11 exited 10
wait-any: wait() reaped 3 children: 1 with 1, 1 with 2, 1 with 3, 0 other; then ECHILD
kill: kill(child, 0) succeeds, kill(child, SIGKILL) succeeds: the child killed by SIGKILL
kill: kill(child, 0) succeeds, kill(child, SIGTERM) succeeds: the child killed by SIGTERM
kill: a child blocking SIGTERM when it is sent, then unblocking it: killed by SIGTERM
pipe: the child read 15 bytes to EOF (its status says how many: exited 15); the parent read 'pong' to EOF
pipe: 1048576 bytes from the child, then EOF; the child exited 0
pipe: a child writing to a pipe nobody can read: killed by SIGPIPE
ids: the child's getppid() is the parent's getpid(): yes
ids: the child's pid differs from the parent's: yes
ids: the child is in the parent's process group and session: yes
ids: getpgid(parent) in the child is the parent's group: yes
ids: fork returned the pid the child sees as its own: yes
wnohang: while the child runs: 0; once it exits: its pid (exited 3); then: ECHILD
zombie: kill(pid, 0) before the child is reaped: succeeds; reaped: exited 0; kill(pid, 0) after: ESRCH
waitid: P_ALL: returns 0, si_pid is the child: yes, si_signo SIGCHLD, si_code CLD_EXITED, si_status 7
waitid: P_PID with WNOHANG while the child runs: returns 0, si_pid zeroed: yes
waitid: P_PID after SIGTERM: returns 0, si_pid is the child: yes, si_code CLD_KILLED, si_status SIGTERM
waitid: P_ALL with no children left: ECHILD
sigchld: 3 children exited, 3 signals, 3 with the child's pid, CLD_EXITED and its exit code
sigchld: a child killed by SIGKILL: si_pid is the child: yes, si_code CLD_KILLED, si_status SIGKILL
sigign: with SIGCHLD ignored, waitpid(-1) waits for both children, then fails: ECHILD; both are gone: yes
pgroup: first child leads its group: yes; second child joined it: yes; the parent is not in it: yes
pgroup: kill(-pgid, SIGTERM) succeeds: first child killed by SIGTERM, second child killed by SIGTERM
pgroup: kill(-pgid, 0) once both are reaped: ESRCH
pgroup: kill(0, SIGTERM) from a group leader ignoring SIGTERM: the leader exited 2 (how many of its 2 children SIGTERM killed)
setsid: in a child: returns its pid, getsid and getpgid are its pid, a second setsid fails EPERM: exited 15 (15 is all four)
getpgid: of a reaped child: ESRCH
tree: the grandchild killed itself with SIGUSR1 (10); the child reports it and exited 110
fork-memory: the child saw the bytes of the fork, not the parent's later writes (7: heap, globals, stack): exited 7
fork-memory: the child's writes are not seen by the parent: yes
shared-memory: 4 children: exited 0, exited 0, exited 0, exited 0; the shared counter: 10000; their slots: 1000 2000 3000 4000
shared-memory: the private page the children wrote is the parent's: yes (5)
shared-memory: the child saw the parent's write after the fork (41): exited 0; its answer: 42
shared-memory: a child's MADV_DONTNEED keeps the counter (10000) and its munmap the parent's mapping: exited 0; its last write: 7
shared-futex: FUTEX_WAKE in the parent reached the child's FUTEX_WAIT: woke 1; the child exited 0 (0: woken)
shared-futex: with FUTEX_PRIVATE_FLAG they do not meet: woke 0; the child exited 1 (1: timed out)
shared-futex: a process-shared semaphore the parent posts: the child exited 0
shared-futex: 3 children increment under a process-shared mutex: exited 0, exited 0, exited 0; the count: 9000 (9000 expected)
exec: argv passed: yes
exec: environment is the one given (2 variables, PROC_MARK=from-exec)
exec: same pid and parent: yes, yes
exec: the plain descriptor is still open: yes (FD_CLOEXEC clear)
exec: the close-on-exec descriptor: EBADF
exec: SIGUSR1 (handled before) is SIG_DFL
exec: SIGUSR2 (ignored before) is SIG_IGN
exec: SIGHUP (blocked before) is still blocked: yes
exec: globals start fresh: yes
exec: the new image exited 0
exec: execve of a missing file fails ENOENT and the child goes on: exited 0
vfork: a child that calls _exit(9): exited 9
vfork: the child runs this program again
vfork: a child that runs this program again: exited 5
posix_spawn: the child wrote 'spawned with xyzzy' on the pipe and exited 6
posix_spawn: a missing program: ENOENT
popen: read 'hi', pclose: exited 0
system: 'exit 3': exited 3
system: 'kill -TERM $$': killed by SIGTERM
shell: sh -c 'exit 4': exited 4
orphan: the parent exited 0 before its child; the child's getppid() then changed
pdeathsig: the middle process exited 0; its child got SIGUSR1 in its handler: yes
done
"#;

/// Fails loudly unless Debian's busybox-static is installed.
fn require_busybox() {
    let bytes = std::fs::read(BUSYBOX).unwrap_or_else(|e| {
        panic!("{BUSYBOX}: {e}. Install Debian's busybox-static (ci/test-deps.sh does)")
    });
    let head = &bytes[..bytes.len().min(4096)];
    assert!(
        bytes.starts_with(b"\x7fELF") && !head.windows(8).any(|w| w == b"ld-linux"),
        "{BUSYBOX} is not a static ELF program: install Debian's busybox-static"
    );
}

/// bash-static, when it is there: required in CI, skipped with a warning
/// elsewhere.
fn bash_static() -> Option<PathBuf> {
    let p = Path::new(BASH);
    if p.exists() {
        return Some(p.to_path_buf());
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{BASH} is missing: install Debian's bash-static (ci/test-deps.sh does)");
    }
    eprintln!("warning: {BASH} is missing: the bash half of the shell battery is skipped (apt-get install bash-static)");
    None
}

/// A temporary directory with `bin/` (a copy of busybox, relative applet
/// links, and `bash` when asked and available) and `data/` (a few files).
struct Tools {
    dir: PathBuf,
    bin: PathBuf,
    data: PathBuf,
    bash: bool,
}

fn tools(tag: &str, with_bash: bool) -> Tools {
    require_busybox();
    let dir = temp_dir(tag);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::copy(BUSYBOX, bin.join("busybox")).expect("copy busybox");
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet link");
    }
    let bash = with_bash
        && match bash_static() {
            Some(p) => {
                std::fs::copy(p, bin.join("bash")).expect("copy bash-static");
                true
            }
            None => false,
        };
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("sub")).expect("data");
    std::fs::write(data.join("a.txt"), "one\n").expect("data");
    std::fs::write(data.join("sub/b.txt"), "two\n").expect("data");
    std::fs::write(data.join("c.log"), "not a txt file\n").expect("data");
    Tools {
        dir,
        bin,
        data,
        bash,
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A `[[files]]` rule.
fn rule(path: &str, host: Option<&Path>, access: &str) -> String {
    match host {
        Some(h) => format!(
            "[[files]]\npath = \"{path}\"\nhost_path = \"{}\"\naccess = \"{access}\"\n\n",
            h.display()
        ),
        None => format!("[[files]]\npath = \"{path}\"\naccess = \"{access}\"\n\n"),
    }
}

/// `runner exec --policy POLICY PROGRAM ARGS...`, bounded.
fn sandboxed(policy: &str, program: &Path, args: &[&str], stdin: &[u8]) -> Bounded {
    let mut cmd = runner();
    cmd.args(["exec", "--policy", policy])
        .arg(program)
        .args(args);
    run_bounded(cmd, stdin, LIMIT)
}

/// PROGRAM ARGS... natively, with only `env`, bounded.
fn native(program: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Bounded {
    let mut cmd = Command::new(program);
    cmd.args(args).env_clear().envs(env.iter().copied());
    run_bounded(cmd, stdin, LIMIT)
}

/// The runner's own lines (`runner: ...`) left out of a guest's stderr.
fn without_runner_lines(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| !l.starts_with("runner: "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Differences between a sandboxed run and the native one (stdout as a
/// line diff; stderr without the runner's own lines); None when they agree
/// and the sandboxed run left nothing behind.
fn compare(what: &str, vm: &Bounded, native: &Bounded) -> Option<String> {
    let mut why = Vec::new();
    if vm.timed_out {
        why.push("the run hung: killed by the test".to_string());
    }
    if vm.run.status != native.run.status {
        why.push(format!(
            "status {} (natively {})",
            vm.run.status, native.run.status
        ));
    }
    if vm.run.stdout != native.run.stdout {
        why.push(format!(
            "stdout differs (- native, + sandbox):\n{}",
            diff_lines(&native.run.stdout, &vm.run.stdout)
        ));
    }
    let stderr_differs = without_runner_lines(&vm.run.stderr) != native.run.stderr;
    if stderr_differs {
        why.push(format!(
            "stderr {:?} (natively {:?}; the runner's own lines do not count)",
            vm.run.stderr, native.run.stderr
        ));
    }
    if !vm.leftovers.is_empty() {
        why.push(format!("left behind: {}", vm.leftovers.join(", ")));
    }
    if why.is_empty() {
        None
    } else if stderr_differs || vm.run.stderr.is_empty() {
        Some(format!("{what}: {}", why.join("; ")))
    } else {
        Some(format!(
            "{what}: {}\n(the runner's stderr: {:?})",
            why.join("; "),
            vm.run.stderr
        ))
    }
}

// ---- processes.c ----

/// fork, wait, kill, pipes, ids, WNOHANG, zombies, waitid, SIGCHLD,
/// process groups, setsid, a three-deep tree, fork's copy of memory,
/// MAP_SHARED memory shared across fork and futexes between processes over
/// it (raw, a semaphore, a mutex), execve of itself, vfork, posix_spawn,
/// popen, system, an orphan: each line as in the native run, musl and
/// glibc, static and dynamically linked (glibc's loader and libc from the
/// host's /usr, which forks and execve of itself load again).
///
/// Policy: the program itself and the guest's `/bin` (busybox: `/bin/sh`
/// for popen and system) are `"read-exec"`; `PROC_SH=/bin/sh`; for the
/// dynamic build, `/usr`, `/lib` and `/lib64` from the host's `/usr`.
#[test]
fn processes_match_native_musl_and_glibc() {
    let t = tools("processes", false);
    let sh = t.bin.join("sh");
    let expected = PROCESSES_EXPECTED.trim_start_matches('\n');
    let mut failures = Vec::new();
    for name in ["processes", "processes_glibc", "processes_dynamic"] {
        let prog = elf_sample(name);
        let native = native(&prog, &[], b"", &[("PROC_SH", path_str(&sh))]);
        assert_eq!(
            (native.run.status, native.run.stderr.as_str()),
            (0, ""),
            "{name} natively: {}",
            native.describe()
        );
        assert_eq!(
            native.run.stdout,
            expected,
            "{name} natively differs from PROCESSES_EXPECTED (- expected, + native):\n{}",
            diff_lines(expected, &native.run.stdout)
        );
        let libraries = if name.ends_with("_dynamic") {
            format!(
                "{}{}{}",
                rule("/usr", None, "read-exec"),
                rule("/lib", Some(Path::new("/usr/lib")), "read-exec"),
                rule("/lib64", Some(Path::new("/usr/lib64")), "read-exec"),
            )
        } else {
            String::new()
        };
        let policy = format!(
            "[limits]\nwall_time = \"30s\"\n\n[env]\nvars = {{ PROC_SH = \"/bin/sh\" }}\n\n{}{}{libraries}",
            rule(path_str(&prog), None, "read-exec"),
            rule("/bin", Some(&t.bin), "read-exec"),
        );
        let p = policy_file(&t.dir, &format!("{name}.toml"), &policy);
        let vm = sandboxed(&p, &prog, &[], b"");
        if let Some(f) = compare(name, &vm, &native) {
            failures.push(f);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---- fork_hostile.c ----

fn hostile(policy: &str, args: &[&str]) -> Bounded {
    sandboxed(policy, &elf_sample("fork_hostile"), args, b"")
}

/// Asserts the run's status and stdout, and that it left nothing running.
fn expect(r: &Bounded, status: i32, stdout: &str, what: &str) {
    assert_eq!(
        (r.run.status, r.run.stdout.as_str()),
        (status, stdout),
        "{what}: {}",
        r.describe()
    );
    assert!(
        r.leftovers.is_empty(),
        "{what}: processes left behind: {}",
        r.describe()
    );
}

/// A policy with a time limit shorter than the test's, then `rest`.
fn hostile_policy(dir: &Path, name: &str, rest: &str) -> String {
    policy_file(dir, name, &format!("[limits]\nwall_time = \"30s\"\n{rest}"))
}

const BOMB_OUTPUT: &str =
    "eagain: yes\nwithin limit: yes\nforked: yes\nreaped: all\nfork after reaping: ok\n";

/// `limits.processes = 16`: children kept alive, or exited and never
/// reaped (zombies count until reaped), until fork fails with EAGAIN, after
/// at most 16 forks; once they are reaped, fork works again. Without the
/// key the default, 64, holds.
#[test]
fn a_fork_bomb_stops_at_limits_processes_with_eagain() {
    let dir = temp_dir("processes-bomb");
    let p16 = hostile_policy(&dir, "p16.toml", "processes = 16\n");
    let dflt = hostile_policy(&dir, "default.toml", "");
    for (policy, args) in [
        (&p16, ["bomb", "16"]),
        (&p16, ["zombie-bomb", "16"]),
        (&dflt, ["bomb", "64"]),
    ] {
        let r = hostile(policy, &args);
        expect(&r, 0, BOMB_OUTPUT, &format!("{args:?}"));
    }
}

/// Ten children exit and are never reaped; the first program exits 0: the
/// run ends at once with 0 and leaves nothing.
#[test]
fn zombies_never_reaped_end_the_run_cleanly() {
    let dir = temp_dir("processes-zombies");
    let p = hostile_policy(&dir, "p.toml", "");
    let r = hostile(&p, &["zombies", "10"]);
    expect(
        &r,
        0,
        "zombies: 10 children exited, none reaped\n",
        "zombies",
    );
    assert!(r.elapsed < Duration::from_secs(10), "{}", r.describe());
}

/// A child's `kill(-1, SIGKILL)` kills every sandbox process but itself,
/// the first program too: the run ends with 137, well before its time
/// limit, and nothing is left running.
#[test]
fn kill_minus_one_from_a_child_kills_every_other_process_and_ends_the_run_137() {
    let dir = temp_dir("processes-killall");
    let p = hostile_policy(&dir, "p.toml", "");
    let r = hostile(&p, &["killall"]);
    expect(
        &r,
        137,
        "killall: 3 children sleep; a fourth calls kill(-1, SIGKILL)\n",
        "killall",
    );
    assert!(
        r.elapsed < Duration::from_secs(15) && !r.run.stderr.contains("time limit"),
        "ended by the time limit, not by kill(-1): {}",
        r.describe()
    );
}

/// pid 1 is not a sandbox process the guest may signal: EPERM; a reaped
/// child's pid and group, and a pid never used: ESRCH.
#[test]
fn kill_of_pid_1_is_eperm_and_of_a_missing_pid_esrch() {
    let dir = temp_dir("processes-killerr");
    let p = hostile_policy(&dir, "p.toml", "");
    let r = hostile(&p, &["kill-errors"]);
    expect(
        &r,
        0,
        "kill(1, SIGKILL): EPERM\nkill(reaped child, SIGTERM): ESRCH\n\
         kill(-reaped child, SIGTERM): ESRCH\nkill(99999, 0): ESRCH\n",
        "kill-errors",
    );
}

/// execve only runs files under a `"read-exec"` rule: outside every rule
/// ENOENT, under a `"read"` rule EACCES (the host file is executable), a
/// busybox applet link under `"read-exec"` runs.
#[test]
fn execve_obeys_the_files_rules() {
    let t = tools("processes-exec", false);
    let ro = t.dir.join("ro");
    std::fs::create_dir_all(&ro).expect("ro");
    std::fs::copy(BUSYBOX, ro.join("busybox")).expect("copy");
    let rules = format!(
        "\n{}{}",
        rule("/bin", Some(&t.bin), "read-exec"),
        rule("/ro", Some(&ro), "read"),
    );
    let p = hostile_policy(&t.dir, "p.toml", &rules);
    for (path, want) in [
        ("/nowhere/prog", "execve: ENOENT\n"),
        ("/ro/busybox", "execve: EACCES\n"),
        ("/bin/true", ""),
    ] {
        let r = hostile(&p, &["exec", path]);
        expect(&r, 0, want, &format!("execve {path}"));
    }
}

/// A dynamically linked program (Debian's /bin/true) under a `"read-exec"`
/// rule, its interpreter outside the policy: execve fails with ENOENT (as
/// natively when the loader is missing) and the runner says why in one
/// line, naming the interpreter. (runner/tests/dynamic.rs runs it with
/// the libraries granted.)
#[test]
fn execve_of_a_dynamic_program_without_its_interpreter_fails_enoent_with_one_runner_line() {
    let dir = temp_dir("processes-dynamic");
    let dynbin = dir.join("dyn");
    std::fs::create_dir_all(&dynbin).expect("dyn");
    let bytes = std::fs::read("/bin/true").expect("/bin/true");
    assert!(
        bytes.windows(8).any(|w| w == b"ld-linux"),
        "/bin/true is not dynamically linked here: this test needs a dynamic program"
    );
    std::fs::copy("/bin/true", dynbin.join("true")).expect("copy");
    let rules = format!("\n{}", rule("/dyn", Some(&dynbin), "read-exec"));
    let p = hostile_policy(&dir, "p.toml", &rules);
    let r = hostile(&p, &["exec", "/dyn/true"]);
    expect(&r, 0, "execve: ENOENT\n", "execve of a dynamic program");
    let lines: Vec<&str> = r.run.stderr.lines().collect();
    assert!(
        lines.len() == 1
            && lines[0].starts_with("runner: execve of /dyn/true: its interpreter /lib64/ld-linux-x86-64.so.2 cannot be run in the sandbox (ENOENT)"),
        "one `runner: ` line naming the interpreter expected on stderr: {}",
        r.describe()
    );
}

/// `"read-write-exec"`: a copy of busybox written there runs; written under
/// `"read-write"` it is refused (busybox sh: status 126).
#[test]
fn read_write_exec_lets_a_program_run_what_it_wrote() {
    let t = tools("processes-rwx", false);
    let (w, rw) = (t.dir.join("w"), t.dir.join("rw"));
    std::fs::create_dir_all(&w).expect("w");
    std::fs::create_dir_all(&rw).expect("rw");
    let rest = format!(
        "\n[env]\nvars = {{ PATH = \"/bin\" }}\n\n{}{}{}",
        rule("/bin", Some(&t.bin), "read-exec"),
        rule("/w", Some(&w), "read-write-exec"),
        rule("/rw", Some(&rw), "read-write"),
    );
    let p = hostile_policy(&t.dir, "p.toml", &rest);
    // busybox picks its applet by its name: the copies keep it.
    let script = "cp /bin/busybox /w/busybox && /w/busybox echo ran; \
                  cp /bin/busybox /rw/busybox && /rw/busybox echo ran; echo $?";
    let r = sandboxed(&p, &t.bin.join("sh"), &["-c", script], b"");
    expect(&r, 0, "ran\n126\n", "read-write-exec");
}

/// The first program exits 3 while its child runs (the child would create
/// a file 2 s later): the run ends with 3, the child is killed, and the
/// file never appears.
#[test]
fn a_parent_exiting_first_ends_the_run_and_kills_its_child() {
    let dir = temp_dir("processes-parent-exits");
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let rules = format!("\n{}", rule("/scratch", Some(&scratch), "read-write"));
    let p = hostile_policy(&dir, "p.toml", &rules);
    let r = hostile(&p, &["parent-exits", "/scratch/marker"]);
    expect(
        &r,
        3,
        "parent-exits: the child runs; the parent exits 3\n",
        "parent-exits",
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !scratch.join("marker").exists(),
        "the child outlived the run: it wrote its file 2 s after its parent exited ({})",
        r.describe()
    );
}

// ---- the shell battery ----

/// One shell script: `SHELL -c SCRIPT sh DATA` with `stdin`; `want` is
/// the native stdout and status where they do not depend on the host.
struct ShellCase {
    script: &'static str,
    stdin: Vec<u8>,
    want: Option<(&'static str, i32)>,
}

fn case(script: &'static str, want: Option<(&'static str, i32)>) -> ShellCase {
    ShellCase {
        script,
        stdin: Vec::new(),
        want,
    }
}

fn shell_cases() -> Vec<ShellCase> {
    vec![
        ShellCase {
            script: "sort | uniq -c | sort -rn | head -3",
            stdin: b"b\na\nb\nc\nb\na\nd\nc\nb\n".to_vec(),
            want: Some(("      4 b\n      2 c\n      2 a\n", 0)),
        },
        case("echo $(echo a | tr a b)", Some(("b\n", 0))),
        case("x=$(exit 3); echo $?", Some(("3\n", 0))),
        case("(cd /; pwd)", Some(("/\n", 0))),
        case("(exit 4); echo $?", Some(("4\n", 0))),
        case(
            "sleep 0.2 & sleep 0.1 & wait; echo done",
            Some(("done\n", 0)),
        ),
        case("sh -c 'exit 9' & wait $!; echo $?", Some(("9\n", 0))),
        // busybox prints "Terminated" only when `wait` itself reaps the job,
        // not when a SIGCHLD it took just before did (a race natively too):
        // the message is kept out of the comparison.
        case(
            "sleep 5 & kill $!; wait $! 2>/dev/null; echo $?",
            Some(("143\n", 0)),
        ),
        case(
            "trap 'echo got TERM' TERM; kill -TERM $$; echo after",
            Some(("got TERM\nafter\n", 0)),
        ),
        case(
            "cat <<EOF\nline one\n$X two\nEOF\ncat <<'EOF'\nkept $X\nEOF",
            Some(("line one\nhere two\nkept $X\n", 0)),
        ),
        case("printf '1\\n2\\n3\\n' | xargs echo", Some(("1 2 3\n", 0))),
        case("seq 1 7 | xargs -n 3 echo", Some(("1 2 3\n4 5 6\n7\n", 0))),
        // The order is the host directory's: compared with native only.
        case("find \"$1\" -name '*.txt' -exec cat {} +", None),
        case("timeout 1 sleep 5; echo $?", Some(("143\n", 0))),
        case("exit 7", Some(("", 7))),
        case("echo a | false | cat; echo $?", Some(("0\n", 0))),
        case(
            "set -o pipefail; echo a | false | cat; echo $?",
            Some(("1\n", 0)),
        ),
        case("sh -c \"sh -c 'exit 5'\"; echo $?", Some(("5\n", 0))),
        case(
            "exec echo replaced; echo not reached",
            Some(("replaced\n", 0)),
        ),
        case(
            "echo hello | { read x; echo got $x; }",
            Some(("got hello\n", 0)),
        ),
    ]
}

/// Runs every case with `shell` (a file in `t.bin`), natively (PATH = the
/// tools' bin) and in the sandbox (the tools' bin at `/bin`, PATH=/bin,
/// `/data` read-only); returns the failures.
fn shell_battery(t: &Tools, shell: &str, cases: &[ShellCase]) -> Vec<String> {
    let policy = format!(
        "[limits]\nwall_time = \"30s\"\n\n[env]\nvars = {{ PATH = \"/bin\", X = \"here\" }}\n\n{}{}",
        rule("/bin", Some(&t.bin), "read-exec"),
        rule("/data", Some(&t.data), "read"),
    );
    let p = policy_file(&t.dir, &format!("{shell}.toml"), &policy);
    let program = t.bin.join(shell);
    let mut failures = Vec::new();
    for c in cases {
        let native = native(
            &program,
            &["-c", c.script, "sh", path_str(&t.data)],
            &c.stdin,
            &[("PATH", path_str(&t.bin)), ("X", "here")],
        );
        let what = format!("{shell} -c {:?}", c.script);
        if let Some((out, status)) = c.want {
            assert_eq!(
                (native.run.stdout.as_str(), native.run.status),
                (out, status),
                "{what} natively: {}",
                native.describe()
            );
        }
        let vm = sandboxed(&p, &program, &["-c", c.script, "sh", "/data"], &c.stdin);
        if let Some(f) = compare(&what, &vm, &native) {
            failures.push(f);
        }
    }
    failures
}

/// busybox sh (applets run in-process or re-executed through
/// /proc/self/exe, falling back to PATH) and bash-static (every external
/// command an execve of a busybox link): each script's stdout, stderr and
/// status as natively.
#[test]
fn shell_scripts_match_native() {
    let t = tools("processes-shell", true);
    let cases = shell_cases();
    let mut failures = shell_battery(&t, "sh", &cases);
    if t.bash {
        failures.extend(shell_battery(&t, "bash", &cases));
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs differ:\n\n{}",
        failures.len(),
        cases.len() * if t.bash { 2 } else { 1 },
        failures.join("\n\n")
    );
}

/// Five busybox processes joined by pipes, over 250 KB through them (more than
/// a pipe holds, so writers wait for readers): the same bytes as natively.
#[test]
fn a_five_stage_pipeline_matches_native() {
    let t = tools("processes-pipeline", false);
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"];
    let mut input = String::new();
    for i in 0..20_000u32 {
        let w = words[(i.wrapping_mul(2_654_435_761) >> 13) as usize % words.len()];
        input.push_str(&format!("{w} line {}\n", i % 13));
    }
    let case = ShellCase {
        script: "cat | tr a-z A-Z | sort | uniq -c | sort -rn",
        stdin: input.into_bytes(),
        want: None,
    };
    let failures = shell_battery(&t, "sh", &[case]);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What the runner holds while its guest sleeps after `fork_hostile churn
/// N`: resident memory (KiB), descriptors and host threads.
fn runner_holdings(policy: &str, n: u32) -> (u64, usize, usize) {
    use std::io::{BufRead, BufReader};
    let mut child = runner()
        .args(["exec", "--policy", policy])
        .arg(elf_sample("fork_hostile"))
        .args(["churn", &n.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn runner");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(first, format!("churned {n}"), "churn {n}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd")
        .count();
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task")
        .count();
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "churn {n}: {:?}", out);
    (rss, fds, threads)
}

/// Hundreds of processes, one after another, leave the runner as they
/// found it: no descriptor, host thread or memory grows with their number
/// (each child's frames, tables, descriptors and pipe go at its end; its
/// host thread and vCPU wait in the pool for the next one). A host thread
/// still on its way back to the pool when the next fork comes makes the
/// pool start another (with a vCPU, a descriptor), so a few more than the
/// 20-process run's are allowed; what must not happen is growth with the
/// number of processes.
#[test]
fn hundreds_of_processes_leave_the_runners_memory_descriptors_and_threads_bounded() {
    require_kvm();
    let dir = temp_dir("processes-churn");
    let p = policy_file(&dir, "p.toml", "[limits]\nwall_time = \"120s\"\n");
    let (rss_few, fds_few, threads_few) = runner_holdings(&p, 20);
    let (rss_many, fds_many, threads_many) = runner_holdings(&p, 600);
    assert!(
        fds_many <= fds_few + 4,
        "descriptors: {fds_many} after 600 processes, {fds_few} after 20"
    );
    assert!(
        threads_many <= threads_few + 4,
        "host threads: {threads_many} after 600 processes, {threads_few} after 20"
    );
    assert!(
        rss_many < rss_few + 16 * 1024,
        "resident memory: {rss_many} KiB after 600 processes, {rss_few} KiB after 20"
    );
}

/// Runs sample `name` with `args` natively (it must succeed with no
/// stderr and print `marker`, so the comparison cannot pass vacuously) and
/// in the sandbox under a policy that lets it run itself, plus `rules`;
/// the difference, if any.
fn sample_matches_native(
    t: &Tools,
    name: &str,
    args: &[&str],
    marker: &str,
    rules: &str,
) -> Option<String> {
    let prog = elf_sample(name);
    let native = native(&prog, args, b"", &[]);
    assert_eq!(
        (native.run.status, native.run.stderr.as_str()),
        (0, ""),
        "{name} {args:?} natively: {}",
        native.describe()
    );
    assert!(
        native.run.stdout.contains(marker),
        "{name} {args:?} natively: {}",
        native.describe()
    );
    let policy = format!(
        "[limits]\nwall_time = \"30s\"\n\n{}{rules}",
        rule(path_str(&prog), None, "read-exec"),
    );
    let p = policy_file(&t.dir, &format!("{name}.toml"), &policy);
    let vm = sandboxed(&p, &prog, args, b"");
    compare(&format!("{name} {args:?}"), &vm, &native)
}

/// Sample `name`, built with musl and with glibc (`NAME_glibc`), run
/// with no arguments matches its native run (`sample_matches_native`,
/// `marker` its proof of a run to the end); fails with the differences.
fn both_libcs_match_native(tag: &str, name: &str, marker: &str) {
    let t = tools(tag, false);
    let failures: Vec<String> = [name.to_string(), format!("{name}_glibc")]
        .iter()
        .filter_map(|n| sample_matches_native(&t, n, &[], marker, ""))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// execve from a process with several threads (samples/c/exec_threads.c,
/// musl and glibc), as natively: a failing execve leaves the threads
/// running; a successful one, from the main thread or another, ends the
/// others (spinning, blocked in a read, blocked on a mutex) and the new
/// program runs alone with its pid as its tid. Then vfork and posix_spawn
/// from a process with threads: the vfork child writes its parent's
/// memory, and glibc's posix_spawn of a missing program fails with ENOENT
/// (its child reports the error through that memory).
#[test]
fn execve_from_a_multi_threaded_process_matches_native() {
    let t = tools("processes-exec-threads", false);
    let failures: Vec<String> = ["exec_threads", "exec_threads_glibc"]
        .iter()
        .flat_map(|name| ["main", "other", "spawn"].map(|mode| (*name, mode)))
        .filter_map(|(name, mode)| {
            sample_matches_native(&t, name, &[mode], "tid is the pid: yes", "")
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// flock (samples/c/flock.c, musl and glibc), as natively: an exclusive
/// lock excludes another open file description (EWOULDBLOCK under
/// LOCK_NB), a dup shares its description's lock, a forked child that
/// waits for the lock gets it once its parent unlocks, closing the holder
/// releases it, shared locks share, and Linux's errors.
#[test]
fn flock_between_descriptions_and_processes_matches_native() {
    let t = tools("processes-flock", false);
    let work = t.dir.join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let rules = rule(path_str(&work), None, "read-write");
    let failures: Vec<String> = ["flock", "flock_glibc"]
        .iter()
        .filter_map(|name| {
            let marker = "the waiting child got the lock after the unlock: yes";
            sample_matches_native(&t, name, &[path_str(&work)], marker, &rules)
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// System V message queues and semaphores (samples/c/sysv_ipc.c, musl
/// and glibc), as natively: messages by type (0, N, -N, MSG_EXCEPT),
/// E2BIG and MSG_NOERROR, a receive that waits for a child's send, EIDRM
/// for one waiting on a removed queue, keys, IPC_STAT and IPC_SET, a full
/// queue's EAGAIN; SETVAL, GETALL, SETALL, GETPID, all-or-nothing semop,
/// IPC_NOWAIT, semtimedop's timeout, a semop that waits for a child,
/// SEM_UNDO at a child's exit, ERANGE, EFBIG, EIDRM; shared memory seen
/// through two views and by a fork's child, shm_nattch, shmdt, SHM_RDONLY,
/// a removed segment that lives until its last shmdt.
#[test]
fn sysv_queues_semaphores_and_shared_memory_match_native() {
    let marker = "after the last shmdt: Invalid argument";
    both_libcs_match_native("processes-sysv", "sysv_ipc", marker);
}

/// POSIX shared memory and named semaphores (shm_open, sem_open: files
/// in /dev/shm, here a private tree the policy gives the run) shared by
/// a parent and its child, as natively; without the rule shm_open fails
/// (ENOENT) rather than reaching the host's /dev/shm.
#[test]
fn posix_shared_memory_in_a_private_dev_shm_matches_native() {
    let t = tools("processes-posix-shm", false);
    let rule = "[[files]]\npath = \"/dev/shm\"\naccess = \"read-write\"\nprivate = true\n";
    let failures: Vec<String> = ["posix_shm", "posix_shm_glibc"]
        .iter()
        .filter_map(|name| sample_matches_native(&t, name, &[], "still mapped: hello", rule))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let r = exec_elf(&[], "posix_shm", &[]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (1, "shm_open: No such file or directory\n"),
        "{}",
        r.stderr
    );
}

/// The sandbox's System V objects are its own: a key the host's queue
/// has names nothing inside, and the sandbox's queues and a queue's
/// messages are bounded (runner memory: kernel/sysv_ipc.rs).
#[test]
fn sysv_keys_never_reach_the_hosts_objects_and_are_bounded() {
    let prog = elf_sample("sysv_ipc");
    let key = format!("{:#x}", 0x5d00_0000u32 | (std::process::id() & 0xffff));
    let host = native(&prog, &["create", &key], b"", &[]);
    assert_eq!(host.run.stdout, "create: ok\n", "a host queue with the key");
    let inside = exec_elf(&[], "sysv_ipc", &["probe", &key]);
    let outside = native(&prog, &["probe", &key], b"", &[]);
    let removed = native(&prog, &["remove", &key], b"", &[]);
    assert_eq!(removed.run.stdout, "remove: ok\n");
    assert_eq!(outside.run.stdout.lines().next(), Some("msgget: ok"));
    assert_eq!(
        inside.stdout,
        "msgget: No such file or directory\nsemget: No such file or directory\nshmget: No such file or directory\n",
        "the host's queue is not the sandbox's"
    );
    let flood = exec_elf(&[], "sysv_ipc", &["flood"]);
    assert_eq!(
        flood.stdout,
        "queues: 16, then: No space left on device\n\
         empty messages in one queue: 16384, then: Resource temporarily unavailable\n",
        "{}",
        flood.stderr
    );
    assert_eq!(flood.status, 0);
}

/// POSIX message queues (samples/c/posix_mq.c, musl and glibc), byte for
/// byte with the native run: O_CREAT, O_EXCL, attributes and their
/// defaults, close-on-exec, fstat; priorities (highest first, oldest
/// first within one), EMSGSIZE both ways; O_NONBLOCK's EAGAIN, mq_setattr
/// and F_SETFL on the shared description, timed sends and receives that
/// time out, EINVAL timeouts; EINTR, and SA_RESTART's restart of a timed
/// receive and of a send a child makes room for; mq_notify with
/// SIGEV_SIGNAL (SI_MESGQ, the value, the sender's pid and uid, one-shot,
/// EBUSY, removed by NULL and by a close, a child's message and a child's
/// EBUSY, none while a child waits to receive) and SIGEV_NONE; a queue
/// shared with a forked child, opened by name there, gone after execve;
/// poll, select and epoll readiness, a poll that waits for a child's
/// message, the status line a read shows; unlink while open; bad names,
/// EBADF and the access modes.
#[test]
fn posix_message_queues_match_native() {
    let marker = "after execve the queue's descriptor: EBADF";
    both_libcs_match_native("processes-posix-mq", "posix_mq", marker);
}

/// The sandbox's POSIX message queues are its own: a host queue's name
/// names nothing inside, and a queue made inside is not the host's. They
/// are bounded as Linux bounds an unprivileged user (runner memory:
/// kernel/posix_mq.rs), whatever the guest asks: 9 default queues fill
/// RLIMIT_MSGQUEUE (EMFILE), 256 small ones the queue count (ENOSPC),
/// attributes past msg_max and msgsize_max are EINVAL, a queue holds no
/// more than it was made for, a lowered RLIMIT_MSGQUEUE holds and cannot
/// be raised again; mode bits are checked. SIGEV_THREAD, which needs a
/// netlink socket, fails through libc and through the raw call.
#[test]
fn posix_message_queues_are_private_and_bounded() {
    let name = format!("/pmq_host_{}", std::process::id());
    let prog = elf_sample("posix_mq");
    let host = native(&prog, &["create", &name], b"", &[]);
    assert_eq!(host.run.stdout, "create: ok\n", "a host queue by that name");
    let inside = exec_elf(&[], "posix_mq", &["probe", &name]);
    let made_inside = exec_elf(&[], "posix_mq", &["create", &format!("{name}_in")]);
    let outside = native(&prog, &["probe", &format!("{name}_in")], b"", &[]);
    let removed = native(&prog, &["remove", &name], b"", &[]);
    assert_eq!(removed.run.stdout, "remove: ok\n");
    assert_eq!(
        inside.stdout, "probe: ENOENT\n",
        "the host's queue is not the sandbox's"
    );
    assert_eq!(made_inside.stdout, "create: ok\n");
    assert_eq!(
        outside.run.stdout, "probe: ENOENT\n",
        "the sandbox's queue is not the host's"
    );
    for sample in ["posix_mq", "posix_mq_glibc"] {
        let limits = exec_elf(&[], sample, &["limits"]);
        assert_eq!(
            limits.stdout,
            "RLIMIT_MSGQUEUE: 819200 819200\n\
             default-size queues: 9, then EMFILE\n\
             small queues: 256, then ENOSPC\n\
             mq_maxmsg 11 mq_msgsize 1: EINVAL\n\
             mq_maxmsg 1 mq_msgsize 8193: EINVAL\n\
             mq_maxmsg 9223372036854775807 mq_msgsize 9223372036854775807: EINVAL\n\
             mq_maxmsg 65536 mq_msgsize 16777216: EINVAL\n\
             mq_maxmsg 10 mq_msgsize 8192: ok\n\
             \x20 filled with 10 messages of 8192 bytes, then EAGAIN\n\
             a 0400 queue: ok, opened for writing: EACCES\n\
             fchmod of a queue: EPERM\n\
             RLIMIT_MSGQUEUE lowered to 50000: ok, a default queue: EMFILE\n\
             raised past the hard limit: EPERM\n",
            "{sample}: {}",
            limits.stderr
        );
        assert_eq!(limits.status, 0, "{sample}");
        let thread = exec_elf(&[], sample, &["thread"]);
        assert_eq!(
            thread.stdout,
            "SIGEV_THREAD: fails\n\
             raw SIGEV_THREAD on stdout: ENOTSOCK\n\
             raw SIGEV_THREAD on a closed descriptor: EBADF\n",
            "{sample}: {}",
            thread.stderr
        );
    }
}

/// pidfds (samples/c/pidfd.c, musl and glibc), as natively: pidfd_open
/// (close-on-exec, `anon_inode:[pidfd]`, read is EINVAL), poll and epoll
/// see it readable once the process has ended, pidfd_send_signal (ESRCH
/// after the end, EBADF on another descriptor), waitid(P_PIDFD) and its
/// EAGAIN on a nonblocking pidfd, clone3's and clone's CLONE_PIDFD, and
/// Linux's errors.
#[test]
fn pidfds_match_native() {
    let marker = "epoll_wait: 1 event(s), tag 7";
    both_libcs_match_native("processes-pidfd", "pidfd", marker);
}

/// Job control (samples/c/jobs.c, musl and glibc), byte for byte with
/// the native run: SIGSTOP, SIGTSTP and a process's raise(SIGSTOP) stop
/// it (both threads of a multi-threaded one), SIGCONT continues it (its
/// handler runs; a read that got its data while stopped returns it, not
/// EINTR), SIGKILL ends it while stopped; wait4 WUNTRACED/WCONTINUED,
/// waitid WSTOPPED/WCONTINUED/WNOWAIT and SIGCHLD's CLD_STOPPED and
/// CLD_CONTINUED report each change once (none with SA_NOCLDSTOP); an
/// orphaned process group discards SIGTSTP. Then a busybox shell: a
/// stopped job that gets SIGTERM dies of it once continued (143), and a
/// stopped `sleep` ends normally once continued.
#[test]
fn stopped_processes_and_job_control_match_native() {
    let t = tools("processes-jobs", false);
    let failures: Vec<String> = ["jobs", "jobs_glibc"]
        .iter()
        .filter_map(|name| {
            sample_matches_native(&t, name, &[], "  SIGKILL while stopped: killed by", "")
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let rest = format!(
        "\n[env]\nvars = {{ PATH = \"/bin\" }}\n\n{}",
        rule("/bin", Some(&t.bin), "read-exec")
    );
    let p = hostile_policy(&t.dir, "p.toml", &rest);
    let script =
        "sleep 5 & kill -STOP $!; kill -TERM $!; kill -CONT $!; wait $! 2>/dev/null; echo $?";
    let r = sandboxed(&p, &t.bin.join("sh"), &["-c", script], b"");
    expect(&r, 0, "143\n", "kill -STOP, -TERM, -CONT");
    let script = "sleep 1 & p=$!; kill -STOP $p; sleep 2; kill -CONT $p; wait $p; echo status $?";
    let r = sandboxed(&p, &t.bin.join("sh"), &["-c", script], b"");
    expect(&r, 0, "status 0\n", "a stopped sleep, continued");
}

/// Nice values, scheduling policies and times() (samples/c/sched.c) as
/// natively: raising the nice value, SCHED_BATCH and SCHED_IDLE kept and
/// inherited at fork (with SCHED_RESET_ON_FORK), Linux's priority ranges
/// and errors. What needs CAP_SYS_NICE (leaving SCHED_IDLE included) is
/// refused as for an unprivileged process: the native side runs as
/// nobody (setpriv); natively as root it succeeds.
#[test]
fn scheduling_calls_match_native() {
    let program = elf_sample("sched");
    let mut nobody = Command::new("setpriv");
    nobody
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&program);
    let native = run_command(nobody, b"");
    assert_eq!(native.status, 0, "natively: {}", native.stderr);
    assert!(
        native.stdout.contains("child's nice: 19\n")
            && native.stdout.contains("back to SCHED_OTHER: -1\n"),
        "{}",
        native.stdout
    );
    let r = exec_elf(&[], "sched", &[]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, native.stdout.as_str()),
        "{}",
        r.stderr
    );
    let r = exec_elf(&[], "sched", &["privileged"]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "lowered to 1: -13\nSCHED_FIFO 10: -1\n"),
        "{}",
        r.stderr
    );
}

/// mlock and its family (samples/c/memlock.c) answer as Linux answers an
/// unprivileged process whose RLIMIT_MEMLOCK is 0, the sandbox's: the
/// native side runs that way (prlimit, setpriv to nobody), line by line.
#[test]
fn memory_locking_matches_an_unprivileged_native_process() {
    let program = elf_sample("memlock");
    let mut native = Command::new("prlimit");
    native
        .args(["--memlock=0:0", "setpriv", "--reuid=65534", "--regid=65534"])
        .arg("--clear-groups")
        .arg(&program);
    let out = native
        .output()
        .expect("prlimit and setpriv (util-linux) run the native side");
    let want = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "natively: {want}");
    assert!(
        want.starts_with("RLIMIT_MEMLOCK: 0 0\nmlock: -1\n"),
        "{want}"
    );
    let r = exec_elf(&[], "memlock", &[]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, want.as_str()),
        "{}",
        r.stderr
    );
}

/// The less common calls of the Linux surface (samples/c/linux_calls.c):
/// the original getdents, preadv2/pwritev2 and their flags,
/// sync_file_range, readahead, sched_setattr/sched_getattr,
/// sched_rr_get_interval, ioprio_get/ioprio_set, personality, mincore,
/// capget/capset, restart_syscall, futex_wait/futex_wake/futex_requeue,
/// and mknod with named pipes between processes, line by line as an
/// unprivileged native process answers (run as root, the sample becomes
/// nobody first), musl and glibc builds, each in a fresh writable
/// directory (in the sandbox a private tree: named pipes are made nowhere
/// else).
#[test]
fn less_common_calls_match_an_unprivileged_native_process() {
    let base = temp_dir("linux-calls");
    for name in ["linux_calls", "linux_calls_glibc"] {
        let program = elf_sample(name);
        let native_dir = base.join(format!("{name}-native"));
        std::fs::create_dir_all(&native_dir).expect("mkdir");
        // nobody must be able to write the native directory.
        for d in [&base, &native_dir] {
            std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o777))
                .expect("chmod");
        }
        // (Run as root, the sample becomes nobody itself.)
        let native = run_native(&program, &[native_dir.to_str().expect("utf-8")], b"", &[]);
        let want = native.stdout;
        assert_eq!(native.status, 0, "{name} natively: {want}{}", native.stderr);
        assert!(
            want.contains("child read 16 bytes: from the parent\n"),
            "{name} natively: {want}"
        );
        let policy = policy_file(
            &base,
            &format!("{name}.toml"),
            "[limits]\nwall_time = \"30s\"\n\n[[files]]\npath = \"/scratch\"\naccess = \"read-write\"\nprivate = true\n",
        );
        let mut cmd = runner();
        cmd.args(["exec", "--policy", &policy])
            .arg(&program)
            .arg("/scratch");
        let r = run_command(cmd, b"");
        assert!(
            r.status == 0 && r.stdout == want,
            "{name}: status {}, differences (- native, + sandbox):\n{}\nstderr: {}",
            r.status,
            diff_lines(&want, &r.stdout),
            r.stderr
        );
    }
}
