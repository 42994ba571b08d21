//! `runner exec --verdict FILE`: every sample of the hostile suite gets
//! "suspicious" with the reason for what it tried, and benign programs
//! (samples, busybox, a Go program, dynamically linked Debian programs)
//! get "clean" and run exactly as they do without the audit. Each run is
//! real, on /dev/kvm; the verdict JSON is read back and checked field by
//! field (docs/verdict.md).

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::*;

/// Where hostile case N's instruction under test sits (samples/guest/hostile.inc).
fn case_rip(n: u64) -> u64 {
    0x40_0120 + 0x40 * n
}

fn on_pvm() -> bool {
    Path::new("/sys/module/kvm_pvm").exists()
}

/// A run with its verdict.
struct Audited {
    run: Run,
    v: Value,
}

impl Audited {
    fn verdict(&self) -> &str {
        self.v["verdict"].as_str().expect("verdict")
    }

    fn reasons(&self) -> Vec<&str> {
        self.v["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .map(|r| r.as_str().expect("reason"))
            .collect()
    }

    fn findings(&self) -> &Vec<Value> {
        self.v["findings"].as_array().expect("findings")
    }

    /// The first finding of `reason`.
    fn finding(&self, reason: &str, label: &str) -> &Value {
        self.findings()
            .iter()
            .find(|f| f["reason"] == reason)
            .unwrap_or_else(|| panic!("{label}: no {reason} finding in {:#}", self.v))
    }
}

/// `runner exec --verdict F [extra] PROGRAM [args]` with `stdin`.
fn audited(tag: &str, extra: &[&str], program: &Path, args: &[&str], stdin: &[u8]) -> Audited {
    let dir = temp_dir(&format!("verdict-{tag}"));
    let file = dir.join("verdict.json");
    let mut cmd = runner();
    cmd.current_dir(&dir)
        .arg("exec")
        .arg("--verdict")
        .arg(&file)
        .args(extra)
        .arg(program)
        .args(args);
    let run = run_command(cmd, stdin);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{tag}: no verdict ({e}); stderr {:?}", run.stderr));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{tag}: {e}: {text}"));
    let _ = std::fs::remove_dir_all(&dir);
    // The summary line is the run's last line on stderr.
    let last = run.stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with(&format!(
            "runner: verdict: {}",
            v["verdict"].as_str().unwrap_or("?")
        )),
        "{tag}: summary line {last:?}"
    );
    assert_eq!(
        v["exit_status"], run.status,
        "{tag}: exit status in the verdict"
    );
    Audited { run, v }
}

/// Asserts `a` is suspicious for `reason`, with a finding whose `what`
/// contains `what`.
fn assert_suspicious(a: &Audited, reason: &str, what: &str, label: &str) {
    assert_eq!(a.verdict(), "suspicious", "{label}: {:#}", a.v);
    assert!(
        a.reasons().contains(&reason),
        "{label}: reasons {:?}",
        a.reasons()
    );
    let found = a
        .findings()
        .iter()
        .any(|f| f["reason"] == reason && f["what"].as_str().unwrap_or("").contains(what));
    assert!(
        found,
        "{label}: no {reason} finding saying {what:?}: {:#}",
        a.v
    );
}

fn hostile(name: &str, args: &[&str]) -> Audited {
    audited(
        &format!("{name}-{}", args.join("-")),
        &[],
        &sample(name),
        args,
        b"",
    )
}

#[test]
fn privileged_instructions_are_named_with_their_bytes_and_mapping() {
    let names = [
        "hlt",
        "cli",
        "sti",
        "lgdt [rsp]",
        "lidt [rsp]",
        "mov cr3,rax",
        "mov rax,cr0",
        "wrmsr",
        "rdmsr",
        "invlpg [rsp]",
        "xsetbv",
        "wbinvd",
        "swapgs",
        "sysretq",
        "mov dr7,rax",
        "ltr ax",
        "clts",
        "mov cr8,rax",
        "mov ss,ax",
        "jmp far",
        "iretq",
        "rdpmc",
    ];
    for (n, name) in names.iter().enumerate() {
        let label = format!("hostile_privileged {n}");
        let a = hostile("hostile_privileged", &[&n.to_string()]);
        assert_eq!(
            a.run.status, 139,
            "{label}: containment as without the audit"
        );
        let rip = case_rip(n as u64);
        assert_suspicious(&a, "privileged_instruction", name, &label);
        let f = a.finding("privileged_instruction", &label);
        assert_eq!(f["rip"], format!("{rip:#x}"), "{label}");
        assert_eq!(f["outcome"], "fatal", "{label}");
        assert_eq!(f["rip_mapping"], "0x400000-0x401000 rwx", "{label}");
        assert!(
            f["instruction"].as_str().unwrap_or("").starts_with(name),
            "{label}: {f}"
        );
        assert!(
            !f["bytes"].as_str().unwrap_or("").is_empty(),
            "{label}: {f}"
        );
    }
    // One checked byte for byte: wrmsr is 0f 30.
    let a = hostile("hostile_privileged", &["7"]);
    assert_eq!(
        a.finding("privileged_instruction", "wrmsr")["bytes"],
        "0f 30"
    );
}

#[test]
fn software_interrupts_and_port_io_are_named() {
    for (n, vector) in ["0x80", "0xe", "0xd", "0x1"].iter().enumerate() {
        let a = hostile("hostile_soft_int", &[&n.to_string()]);
        assert_suspicious(
            &a,
            "software_interrupt",
            &format!("int {vector}"),
            "soft_int",
        );
    }
    let ports = [
        0x80, 0x0e, 0x00, 0x1f, 0x80, 0x3f8, 0xcf8, 0xffff, 0x80, 0x80, 0x70, 0x80, 0x0e,
    ];
    for (n, port) in ports.iter().enumerate() {
        let a = hostile("hostile_port_io", &[&n.to_string()]);
        assert_eq!(a.run.status, 139);
        assert_suspicious(
            &a,
            "io_instruction",
            &format!("(port {port:#x})"),
            &format!("hostile_port_io {n}"),
        );
    }
}

#[test]
fn reaches_into_supervisor_memory_are_named_with_the_address() {
    let addrs: [u64; 12] = [
        0xffff_ffff_8000_4000,
        0xffff_ffff_8000_2000,
        0xffff_ffff_8000_3004,
        0xffff_ffff_8000_ffd0,
        0xffff_ffff_8000_6000,
        0xffff_ffff_8000_4000,
        0xffff_ffff_8000_4002,
        0xffff_ffff_8000_40e2,
        0xffff_ffff_8000_fff8,
        0xffff_ffff_8001_0000,
        0xffff_8000_0000_0000,
        0, // non-canonical: a #GP, whose address is the operand's
    ];
    for (n, addr) in addrs.iter().enumerate() {
        let label = format!("hostile_supervisor {n}");
        let a = hostile("hostile_supervisor", &[&n.to_string()]);
        let what = if n == 11 {
            "of a non-canonical address".to_string()
        } else {
            format!("({addr:#x})")
        };
        assert_suspicious(&a, "supervisor_access", &what, &label);
    }
    // Case 12 reads unmapped user memory (where the page tables lie
    // physically): what a wild pointer does too, so a crash, a note.
    let a = hostile("hostile_supervisor", &["12"]);
    assert_eq!(a.verdict(), "clean", "{:#}", a.v);
    assert_eq!(a.finding("crash", "supervisor 12")["severity"], "note");
}

#[test]
fn forged_entries_are_named() {
    for n in 0..3u64 {
        let label = format!("hostile_jmp_lstar {n}");
        let a = hostile("hostile_jmp_lstar", &[&n.to_string()]);
        if on_pvm() {
            // kvm_pvm takes the jump for a syscall: its forged flags or
            // return address are the evidence.
            let what = if n == 0 {
                "IOPL 3 in its saved flags"
            } else {
                "syscall return address is not a user address"
            };
            assert_suspicious(&a, "forged_entry", what, &label);
        } else {
            assert_suspicious(
                &a,
                "supervisor_access",
                "instruction fetch from the runner's supervisor area",
                &label,
            );
        }
    }
    let a = hostile("hostile_syscall_rsp", &[]);
    assert_eq!(
        a.run.stdout, "hostile_syscall_rsp: ok\n",
        "the calls still work"
    );
    assert_suspicious(
        &a,
        "forged_entry",
        "getpid made with its stack pointer in the runner's supervisor area",
        "syscall_rsp",
    );
    assert_suspicious(
        &a,
        "forged_entry",
        "stack pointer in a non-canonical address",
        "syscall_rsp",
    );
    for (mode, what) in [
        ("flags", "rt_sigreturn of a forged frame"),
        ("rip", "the frame's RIP is not a user address"),
        ("fpstate", "FPU state is not readable"),
        ("mxcsr", "sets reserved bits"),
    ] {
        let a = audited(
            &format!("sigreturn-{mode}"),
            &[],
            &elf_sample("hostile_sigreturn"),
            &[mode],
            b"",
        );
        assert_suspicious(&a, "forged_entry", what, mode);
    }
}

#[test]
fn w_x_and_code_writes_are_named() {
    let fetch = [
        "[stack] rw-",
        "[heap] rw-",
        "0x7efffffff000-0x7f0000000000 rw-",
    ];
    for (n, place) in fetch.iter().enumerate() {
        let a = hostile("hostile_exec_data", &[&n.to_string()]);
        assert_suspicious(
            &a,
            "execute_data",
            &format!("instruction fetch from {place}"),
            "exec_data",
        );
    }
    let a = hostile("hostile_exec_data", &["3"]);
    assert_eq!(a.run.status, 33, "the code still runs");
    assert_suspicious(
        &a,
        "wx_mapping",
        "mprotect makes writable memory executable",
        "exec_data 3",
    );
    let a = hostile("hostile_self_modify", &[]);
    assert_eq!(
        a.run.stdout, "hostile_self_modify: ok\n",
        "the code still runs"
    );
    assert_suspicious(
        &a,
        "write_to_code",
        "write to its code at 0x40000c",
        "self_modify",
    );
    assert_eq!(a.finding("write_to_code", "self_modify")["rip"], "0x400007");
}

#[test]
fn probes_the_platform_answers_unseen_are_found_in_the_code() {
    let a = hostile("hostile_cpuid", &[]);
    assert_eq!(a.run.status, 0);
    assert_suspicious(&a, "hypervisor_probe", "cpuid of leaf 0x40000000", "cpuid");
    let a = hostile("hostile_hypercall", &[]);
    assert_eq!(a.run.stdout, "hostile_hypercall: refused\n");
    assert_suspicious(&a, "hypercall", "vmmcall in the code", "hypercall");
    let vmmcalls = a
        .findings()
        .iter()
        .filter(|f| f["reason"] == "hypercall")
        .count();
    assert_eq!(vmmcalls, 7, "one per vmmcall in the sample");
}

#[test]
fn bad_pointers_limits_and_refusals_are_named() {
    let a = hostile("hostile_syscall_ptrs", &[]);
    assert_eq!(a.run.stdout, "hostile_syscall_ptrs: ok\n");
    assert_suspicious(
        &a,
        "bad_pointer",
        "write given a pointer into the runner's supervisor area",
        "ptrs",
    );
    assert_suspicious(
        &a,
        "bad_pointer",
        "write given a pointer into a non-canonical address",
        "ptrs",
    );
    let a = hostile("hostile_writev_many", &[]);
    assert_suspicious(
        &a,
        "limit",
        "writev with 1025 iovecs, more than Linux's 1024",
        "writev",
    );
    let a = hostile("hostile_stack_exhaustion", &[]);
    assert_suspicious(
        &a,
        "stack_exhaustion",
        "write to unmapped, below the stack (0x7fffffdfeff8)",
        "stack",
    );
    let a = hostile("hostile_loop", &["0"]);
    assert_suspicious(&a, "privileged_instruction", "cli", "loop 0");
    for n in ["1", "2"] {
        let a = audited(
            &format!("loop-{n}"),
            &["--timeout", "0.5"],
            &sample("hostile_loop"),
            &[n],
            b"",
        );
        assert_eq!(a.run.status, 137);
        assert_suspicious(
            &a,
            "limit",
            "time (limits.wall_time): still running after 0.5s",
            "loop",
        );
    }
    let dir = temp_dir("verdict-policies");
    let small = policy_file(&dir, "small.toml", "[limits]\nmemory = \"16MiB\"\n");
    let a = audited(
        "bomb",
        &["--policy", &small],
        &sample("hostile_memory_bomb"),
        &[],
        b"",
    );
    assert_eq!(a.run.stdout, "hostile_memory_bomb: ok\n");
    assert_suspicious(
        &a,
        "limit",
        "memory (limits.memory): mmap refused with ENOMEM",
        "bomb",
    );
    let procs = policy_file(&dir, "procs.toml", "[limits]\nprocesses = 8\n");
    let a = audited(
        "fork-bomb",
        &["--policy", &procs],
        &elf_sample("fork_hostile"),
        &["bomb", "8"],
        b"",
    );
    assert!(a.run.stdout.contains("eagain: yes"), "{}", a.run.stdout);
    assert_suspicious(&a, "limit", "fork refused with EAGAIN", "fork bomb");
    let deny = policy_file(&dir, "deny.toml", "[syscalls]\ndeny = [\"getpid\"]\n");
    let a = audited(
        "deny",
        &["--policy", &deny],
        Path::new("/bin/busybox"),
        &["sh", "-c", "echo $$"],
        b"",
    );
    assert_suspicious(
        &a,
        "refused_syscall",
        "getpid denied by the policy's [syscalls]",
        "deny",
    );
    let net = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/policies/netop-loopback.toml");
    let a = audited(
        "net",
        &["--policy", net.to_str().unwrap()],
        &sample("netop"),
        &["t", "8081", "hello"],
        b"",
    );
    assert_eq!(a.run.status, 13, "EACCES, as without the audit");
    assert_suspicious(
        &a,
        "refused_network",
        "connect 127.0.0.1:8081: EACCES",
        "net",
    );
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let ro = policy_file(
        &dir,
        "ro.toml",
        &format!(
            "[[files]]\npath = \"/data\"\nhost_path = \"{}\"\naccess = \"read\"\n",
            data.display()
        ),
    );
    // Asking (access, as `test -w` does) is not trying: clean.
    let a = audited(
        "ask",
        &["--policy", &ro],
        Path::new("/bin/busybox"),
        &["test", "-w", "/data"],
        b"",
    );
    assert_eq!(a.run.status, 1, "not writable");
    assert_eq!(a.verdict(), "clean", "{:#}", a.v);
    let a = audited(
        "ro",
        &["--policy", &ro],
        Path::new("/bin/busybox"),
        &["touch", "/data/new"],
        b"",
    );
    assert_ne!(a.run.status, 0);
    assert_suspicious(&a, "refused_file", "\"/data/new\"", "read-only");
    assert!(!data.join("new").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_hostile_sample_has_a_verdict_test() {
    let covered = [
        "hostile_cpuid",
        "hostile_exec_data",
        "hostile_hypercall",
        "hostile_jmp_lstar",
        "hostile_loop",
        "hostile_memory_bomb",
        "hostile_port_io",
        "hostile_privileged",
        "hostile_self_modify",
        "hostile_soft_int",
        "hostile_stack_exhaustion",
        "hostile_supervisor",
        "hostile_syscall_ptrs",
        "hostile_syscall_rsp",
        "hostile_writev_many",
    ];
    let all: Vec<&str> = samples::ALL
        .iter()
        .copied()
        .filter(|n| n.starts_with("hostile_"))
        .collect();
    assert_eq!(
        all, covered,
        "add a verdict test for each new hostile sample"
    );
}

#[test]
fn crashes_are_notes_and_leave_the_verdict_clean() {
    for (name, what) in [
        ("fault_de", "divide error"),
        ("fault_ud", "invalid opcode"),
        ("fault_pf_read", "read from"),
        ("fault_pf_write", "write to"),
    ] {
        let a = hostile(name, &[]);
        assert_ne!(a.run.status, 0);
        assert_eq!(a.verdict(), "clean", "{name}: {:#}", a.v);
        let f = a.finding("crash", name);
        assert_eq!(f["severity"], "note");
        assert_eq!(f["outcome"], "fatal");
        assert!(f["what"].as_str().unwrap().contains(what), "{name}: {f}");
        let last = a.run.stderr.lines().last().unwrap();
        assert!(
            last.starts_with("runner: verdict: clean (1 note)"),
            "{last}"
        );
    }
}

/// A benign program: how it is run, and its stdin.
struct Benign {
    label: &'static str,
    extra: Vec<String>,
    program: PathBuf,
    args: Vec<&'static str>,
    stdin: &'static [u8],
}

fn benign(label: &'static str, program: PathBuf, args: &[&'static str]) -> Benign {
    Benign {
        label,
        extra: Vec::new(),
        program,
        args: args.to_vec(),
        stdin: b"",
    }
}

#[test]
fn benign_programs_are_clean_and_run_as_without_the_audit() {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sandbox-policy/examples/host-tools.toml")
        .to_string_lossy()
        .into_owned();
    let in_root = |label, program: &str, args: &[&'static str]| Benign {
        extra: vec!["--policy".into(), tools.clone(), "--guest-path".into()],
        ..benign(label, PathBuf::from(program), args)
    };
    let battery = vec![
        benign("hello.bin", sample("hello"), &[]),
        Benign {
            stdin: b"one\ntwo\n",
            ..benign("cat.bin", sample("cat"), &[])
        },
        benign("compute.bin", sample("compute"), &[]),
        benign("exit42.bin", sample("exit42"), &[]),
        benign("hello (glibc)", elf_sample("hello"), &[]),
        benign("threads", elf_sample("threads"), &[]),
        benign("processes", elf_sample("processes"), &[]),
        benign("signals", elf_sample("signals"), &[]),
        benign("timers", elf_sample("timers"), &[]),
        benign(
            "busybox pipeline",
            PathBuf::from("/bin/busybox"),
            &[
                "sh",
                "-c",
                "echo abc | tr a-z A-Z; ls / | wc -l; seq 3 | sort -r",
            ],
        ),
        benign("go goroutines", go_build("goroutines"), &[]),
        in_root("ls (dynamic)", "/usr/bin/ls", &["/usr"]),
        in_root(
            "sha256sum (dynamic)",
            "/usr/bin/sha256sum",
            &["/usr/bin/ls"],
        ),
        in_root(
            "python3 (dynamic)",
            "/usr/bin/python3",
            &["-c", "import json; print(json.dumps({'a': [1, 2]}))"],
        ),
    ];
    for b in &battery {
        let extra: Vec<&str> = b.extra.iter().map(String::as_str).collect();
        let mut plain = runner();
        plain.arg("exec").args(&extra).arg(&b.program).args(&b.args);
        let without = run_command(plain, b.stdin);
        let a = audited(
            &b.label.replace([' ', '(', ')'], "-"),
            &extra,
            &b.program,
            &b.args,
            b.stdin,
        );
        assert_eq!(a.verdict(), "clean", "{}: {:#}", b.label, a.v);
        assert_eq!(a.reasons(), Vec::<&str>::new(), "{}", b.label);
        assert_eq!(a.run.status, without.status, "{}: status", b.label);
        assert_eq!(a.run.stdout, without.stdout, "{}: stdout", b.label);
        assert!(
            !without.stdout.is_empty() || b.label == "exit42.bin",
            "{}: no output",
            b.label
        );
    }
}

#[test]
fn a_verdict_file_that_cannot_be_written_is_refused_before_the_run() {
    let dir = temp_dir("verdict-unwritable");
    let mut cmd = runner();
    cmd.current_dir(&dir)
        .args(["exec", "--verdict", "/nonexistent/dir/verdict.json"])
        .arg(sample("hello"));
    let r = run_command(cmd, b"");
    assert_eq!(r.status, 125, "{}", r.stderr);
    assert_eq!(r.stdout, "", "the program never ran");
    assert!(
        r.stderr
            .contains("cannot write the verdict to /nonexistent/dir/verdict.json"),
        "{}",
        r.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}
