//! A terminal lent to the guest (policy `stdio.terminal`): a program on a
//! pseudo-terminal (runner/tests/support/on_a_terminal.py, which types
//! Ctrl-C and lines into it) writes the same transcript, byte for byte,
//! natively and sandboxed: its settings, window size and SIGWINCH, the
//! foreground process group, Ctrl-C to the foreground job, an interactive
//! shell's job control. Without the policy the guest sees no terminal.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;
use support::*;

const HELPER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/on_a_terminal.py"
);

/// The transcript of `command` on a new terminal, with `typed` answers
/// (marker, text) for the helper.
fn on_a_terminal<S: AsRef<std::ffi::OsStr>>(typed: &[(&str, &str)], command: &[S]) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg(HELPER);
    for (after, text) in typed {
        cmd.args(["--type", after, text]);
    }
    cmd.args(command);
    let out = cmd.output().expect("python3 runs the terminal helper");
    assert!(
        out.status.success(),
        "the helper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sandboxed(policy: &str, program: &Path, args: &[&str]) -> Vec<String> {
    require_kvm();
    let mut all = vec![
        env!("CARGO_BIN_EXE_runner").to_string(),
        "exec".into(),
        "--policy".into(),
        policy.into(),
        program.to_str().expect("utf-8 path").into(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    all
}

fn lent(dir: &Path, extra: &str) -> String {
    policy_file(
        dir,
        "lent.toml",
        &format!("[stdio]\nterminal = true\n\n[limits]\nwall_time = \"30s\"\n{extra}"),
    )
}

#[test]
fn a_program_on_a_lent_terminal_writes_what_it_writes_natively() {
    let dir = temp_dir("terminal-sample");
    let prog = elf_sample("terminal");
    let native = on_a_terminal(&[], &[prog.to_str().unwrap()]);
    for line in [
        "isatty 1 1 1\r\n",
        "echo after tcsetattr 0\r\n",
        "winch 1 size 33 77\r\n",
        "child's group in the foreground 0 1\r\n",
        "^Cinterrupted 1\r\n",
        "line: typed line\r\n",
        "[status 3]\n",
    ] {
        assert!(native.contains(line), "natively, no {line:?}:\n{native}");
    }
    let policy = lent(&dir, "");
    let vm = on_a_terminal(&[], &sandboxed(&policy, &prog, &[]));
    assert_eq!(vm, native, "{}", diff_lines(&native, &vm));
}

#[test]
fn an_interactive_shell_on_a_lent_terminal_runs_and_interrupts_jobs_as_natively() {
    let dir = temp_dir("terminal-shell");
    let busybox = Path::new("/bin/busybox");
    // The shell edits its line in raw mode, puts each job in its own
    // group in the foreground, and survives the Ctrl-C that ends one.
    let typed = [
        (
            "ok> ",
            "echo hi from $((6*7)); busybox sleep 5; echo after\\n",
        ),
        ("hi from 42", "\\x03"),
        ("ok> ", "exit 5\\n"),
    ];
    let args = [
        "env",
        "-i",
        "PATH=/bin",
        "PS1=ok> ",
        "/bin/busybox",
        "sh",
        "-i",
    ];
    let mut command = vec!["/bin/busybox"];
    command.extend(args);
    let native = on_a_terminal(&typed, &command);
    assert!(native.contains("hi from 42\r\n^C\r\n"), "{native}");
    assert!(!native.contains("\r\nafter\r\n"), "{native}");
    assert!(native.ends_with("[status 5]\n"), "{native}");
    let policy = lent(
        &dir,
        "\n[[files]]\npath = \"/bin/busybox\"\naccess = \"read-exec\"\n",
    );
    let vm = on_a_terminal(&typed, &sandboxed(&policy, busybox, &args));
    let (vm, native) = (
        without_prompt_redraws(&vm, "ok> "),
        without_prompt_redraws(&native, "ok> "),
    );
    assert_eq!(vm, native, "{}", diff_lines(&native, &vm));
}

#[test]
fn without_the_policy_the_guest_sees_no_terminal() {
    let dir = temp_dir("terminal-kept");
    let prog = elf_sample("terminal");
    let policy = policy_file(&dir, "kept.toml", "[limits]\nwall_time = \"30s\"\n");
    let vm = on_a_terminal(&[], &sandboxed(&policy, &prog, &[]));
    assert!(vm.starts_with("isatty 0 0 0\r\nno terminal ("), "{vm}");
    assert!(vm.ends_with("[status 0]\n"), "{vm}");
}
