//! Tests of the seccomp table and of the filters compiled from it. The
//! compiled BPF runs in a small interpreter here, so the test process
//! itself is never filtered (the integration tests watch the real runner).

use super::seccomp_docs;
use super::seccomp_filter::{build, build_from, syscall_number, FilterContext, Filters};
use super::seccomp_rules::{Action, ArgCheck, Rule, When, RULES};
use seccompiler::BpfProgram;
use thinvisor_kmod::ioctl_numbers::{SETUP_IOCTLS, THREAD_START_IOCTLS, VCPU_RUN_IOCTLS};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const KILL: u32 = 0x8000_0000;
const ALLOW: u32 = 0x7fff_0000;
const ERRNO: u32 = 0x0005_0000;
const PID: u32 = 4242;
const EVERYTHING: FilterContext = FilterContext {
    files: true,
    network: true,
    terminal: true,
    pid: PID,
};
const NOTHING: FilterContext = FilterContext {
    files: false,
    network: false,
    terminal: false,
    pid: PID,
};

/// A syscall as the filter sees it (struct seccomp_data).
#[derive(Debug, Clone, Copy)]
struct Call {
    arch: u32,
    nr: i64,
    args: [u64; 6],
}

fn call(name: &str, args: &[u64]) -> Call {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    Call {
        arch: AUDIT_ARCH_X86_64,
        nr: i64::from(sandbox_policy::syscall_number(name).expect("known syscall")),
        args: a,
    }
}

fn load(c: &Call, offset: u32) -> u32 {
    match offset {
        0 => c.nr as u32,
        4 => c.arch,
        8 | 12 => 0,
        16..=63 if offset & 3 == 0 => {
            let arg = c.args[((offset - 16) / 8) as usize];
            if (offset - 16) & 7 == 0 {
                arg as u32
            } else {
                (arg >> 32) as u32
            }
        }
        _ => panic!("load from offset {offset}"),
    }
}

/// Runs classic BPF as the kernel's seccomp does (the instructions
/// seccompiler emits).
fn run(prog: &BpfProgram, c: &Call) -> u32 {
    let (mut acc, mut pc) = (0u32, 0usize);
    loop {
        let ins = &prog[pc];
        pc += 1;
        let jump = |taken: bool| usize::from(if taken { ins.jt } else { ins.jf });
        match ins.code {
            0x20 => acc = load(c, ins.k),
            0x54 => acc &= ins.k,
            0x05 => pc += ins.k as usize,
            0x15 => pc += jump(acc == ins.k),
            0x25 => pc += jump(acc > ins.k),
            0x35 => pc += jump(acc >= ins.k),
            0x45 => pc += jump(acc & ins.k != 0),
            0x06 => return ins.k,
            op => panic!("unsupported BPF instruction {op:#x}"),
        }
    }
}

/// The kernel's answer with every filter installed: the strictest action.
fn verdict(f: &Filters, c: &Call) -> u32 {
    f.failures
        .iter()
        .chain(std::iter::once(&f.allow_list))
        .map(|p| run(p, c))
        .min_by_key(|r| (r & 0xffff_0000) as i32)
        .expect("at least one filter")
}

fn expected(rule: &Rule) -> u32 {
    match rule.action {
        Action::Allow => ALLOW,
        Action::FailWith((_, errno)) => ERRNO | errno as u32,
    }
}

/// A call that satisfies every check of `rule`.
fn witness(rule: &Rule) -> Call {
    let mut c = call(rule.syscall, &[]);
    for check in rule.args {
        match *check {
            ArgCheck::OneOf { arg, values } | ArgCheck::MaskedOneOf { arg, values, .. } => {
                c.args[usize::from(arg)] = values[0].1
            }
            ArgCheck::NoBitOf { arg, .. } => c.args[usize::from(arg)] = 0,
            ArgCheck::OwnPid { arg } => c.args[usize::from(arg)] = u64::from(PID),
        }
    }
    c
}

#[test]
fn every_rule_has_a_reason() {
    for r in RULES {
        assert!(
            r.reason.len() >= 20 && r.reason.trim() == r.reason,
            "{}: the reason must say who needs it and why",
            r.syscall
        );
    }
}

#[test]
fn every_rule_names_an_x86_64_syscall() {
    for r in RULES {
        assert!(syscall_number(r).is_ok(), "{}", r.syscall);
    }
}

/// No rule is redundant: a call that only it allows exists. Each rule's
/// witness call gets the rule's answer from the filter of a policy that
/// selects the rule, and is killed once that rule is removed.
#[test]
fn every_rule_is_needed() {
    let mut checked = 0;
    for ctx in [EVERYTHING, NOTHING] {
        let selected: Vec<&Rule> = RULES.iter().filter(|r| ctx.includes(r.when)).collect();
        let full = build(&ctx).expect("filter");
        for (i, rule) in selected.iter().enumerate() {
            let w = witness(rule);
            assert_eq!(
                verdict(&full, &w),
                expected(rule),
                "{}: {w:?}",
                rule.syscall
            );
            let others = selected
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, r)| *r);
            let without = build_from(others, &ctx).expect("filter");
            assert_eq!(
                verdict(&without, &w),
                KILL,
                "rule {i} ({}) is redundant",
                rule.syscall
            );
            checked += 1;
        }
    }
    let always = RULES.iter().filter(|r| r.when == When::Always).count();
    assert_eq!(checked, RULES.len() + always, "a rule no policy selects");
}

/// Whether two rules can be in the same filter.
fn together(a: When, b: When) -> bool {
    !matches!(
        (a, b),
        (When::Files, When::NoFiles) | (When::NoFiles, When::Files)
    )
}

/// Rules for the same syscall must pin one argument to disjoint values,
/// and no check may list a value twice or a value its mask can never give.
#[test]
fn no_rule_overlaps_another() {
    let values = |r: &Rule, arg: u8| -> Option<Vec<u64>> {
        r.args.iter().find_map(|c| match *c {
            ArgCheck::OneOf { arg: a, values } if a == arg => {
                Some(values.iter().map(|v| v.1).collect())
            }
            _ => None,
        })
    };
    for (i, a) in RULES.iter().enumerate() {
        for check in a.args {
            if let ArgCheck::OneOf { values, .. } | ArgCheck::MaskedOneOf { values, .. } = check {
                let mut v: Vec<u64> = values.iter().map(|v| v.1).collect();
                v.sort_unstable();
                v.dedup();
                assert_eq!(v.len(), values.len(), "{}: duplicate value", a.syscall);
            }
            if let ArgCheck::MaskedOneOf { mask, values, .. } = check {
                assert!(values.iter().all(|v| v.1 & !mask.1 == 0), "{}", a.syscall);
            }
        }
        for b in &RULES[i + 1..] {
            if a.syscall != b.syscall || !together(a.when, b.when) {
                continue;
            }
            let disjoint = (0..6).any(|arg| match (values(a, arg), values(b, arg)) {
                (Some(x), Some(y)) => x.iter().all(|v| !y.contains(v)),
                _ => false,
            });
            assert!(disjoint, "two rules for {} overlap", a.syscall);
        }
    }
}

#[test]
fn ioctl_is_pinned_to_the_vcpu_requests() {
    let f = build(&FilterContext {
        files: false,
        network: false,
        terminal: false,
        pid: PID,
    })
    .expect("filter");
    for &(name, nr) in VCPU_RUN_IOCTLS {
        assert_eq!(verdict(&f, &call("ioctl", &[5, nr])), ALLOW, "{name}");
    }
    for &(name, nr) in THREAD_START_IOCTLS {
        assert_eq!(verdict(&f, &call("ioctl", &[4, nr])), ALLOW, "{name}");
    }
    for &(name, nr) in SETUP_IOCTLS {
        if THREAD_START_IOCTLS.iter().any(|&(_, t)| t == nr) {
            continue;
        }
        assert_eq!(verdict(&f, &call("ioctl", &[4, nr])), KILL, "{name}");
    }
    for other in [0x5401 /* TCGETS */, 0x5421 /* FIONBIO */, 0] {
        assert_eq!(verdict(&f, &call("ioctl", &[1, other])), KILL);
    }
}

#[test]
fn a_lent_terminal_opens_its_requests_and_no_other() {
    let lent = build(&FilterContext {
        terminal: true,
        ..NOTHING
    })
    .expect("filter");
    let kept = build(&NOTHING).expect("filter");
    for &(name, nr) in thinvisor_kmod::terminal::TERMINAL_IOCTLS {
        assert_eq!(verdict(&lent, &call("ioctl", &[4, nr])), ALLOW, "{name}");
        assert_eq!(verdict(&kept, &call("ioctl", &[4, nr])), KILL, "{name}");
    }
    // TIOCSTI (type into the terminal), TIOCSCTTY, TIOCSPGRP, TIOCCONS.
    for other in [0x5412, 0x540E, 0x5410, 0x541D] {
        assert_eq!(
            verdict(&lent, &call("ioctl", &[1, other])),
            KILL,
            "{other:#x}"
        );
    }
}

#[test]
fn threads_but_no_processes_programs_or_executable_memory() {
    let f = build(&EVERYTHING).expect("filter");
    let thread = 0x3d0f00;
    let cases: &[(&str, &[u64], u32)] = &[
        ("clone", &[thread], ALLOW),
        ("clone", &[libc::SIGCHLD as u64], KILL),
        ("clone", &[thread | libc::CLONE_NEWUSER as u64], KILL),
        ("clone", &[thread & !(libc::CLONE_THREAD as u64)], KILL),
        (
            "clone",
            &[(libc::CLONE_VM | libc::CLONE_VFORK) as u64],
            KILL,
        ),
        ("clone3", &[], ERRNO | libc::ENOSYS as u32),
        ("tgkill", &[u64::from(PID), 7, libc::SIGABRT as u64], ALLOW),
        ("tgkill", &[u64::from(PID), 7, libc::SIGUSR2 as u64], ALLOW),
        ("tgkill", &[1, 7, libc::SIGUSR2 as u64], KILL),
        ("rt_sigaction", &[33], ALLOW),
        ("rt_sigaction", &[libc::SIGSEGV as u64], KILL),
        ("tgkill", &[1, 1, libc::SIGABRT as u64], KILL),
        ("timer_create", &[libc::CLOCK_MONOTONIC as u64], ALLOW),
        ("timer_create", &[libc::CLOCK_REALTIME as u64], KILL),
        ("tgkill", &[u64::from(PID), 7, libc::SIGKILL as u64], KILL),
        ("kill", &[1, 9], KILL),
        (
            "mmap",
            &[0, 4096, (libc::PROT_READ | libc::PROT_WRITE) as u64],
            ALLOW,
        ),
        (
            "mmap",
            &[0, 4096, (libc::PROT_READ | libc::PROT_EXEC) as u64],
            KILL,
        ),
        ("mprotect", &[0, 4096, libc::PROT_EXEC as u64], KILL),
        ("rt_sigaction", &[libc::SIGUSR2 as u64], KILL),
        ("prctl", &[libc::PR_SET_DUMPABLE as u64], KILL),
        (
            "socket",
            &[
                libc::AF_INET as u64,
                (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u64,
                0,
            ],
            ALLOW,
        ),
        (
            "socket",
            &[
                libc::AF_INET6 as u64,
                libc::SOCK_DGRAM as u64,
                libc::IPPROTO_UDP as u64,
            ],
            ALLOW,
        ),
        (
            "socket",
            &[libc::AF_UNIX as u64, libc::SOCK_STREAM as u64, 0],
            KILL,
        ),
        (
            "socket",
            &[libc::AF_INET as u64, libc::SOCK_RAW as u64, 0],
            KILL,
        ),
        (
            "socket",
            &[
                libc::AF_INET as u64,
                libc::SOCK_DGRAM as u64,
                libc::IPPROTO_ICMP as u64,
            ],
            KILL,
        ),
        ("fcntl", &[3, libc::F_SETOWN as u64], KILL),
        ("execve", &[], KILL),
        ("ptrace", &[], KILL),
        ("getppid", &[], KILL),
        ("seccomp", &[], KILL),
        ("landlock_restrict_self", &[], KILL),
        ("capset", &[], KILL),
        ("setrlimit", &[], KILL),
    ];
    for &(name, args, want) in cases {
        assert_eq!(verdict(&f, &call(name, args)), want, "{name}{args:x?}");
    }
    // The x32 ABI (syscall number | 0x40000000) and other architectures.
    let mut x32 = call("read", &[]);
    x32.nr |= 0x4000_0000;
    assert_eq!(verdict(&f, &x32), KILL);
    let mut i386 = call("read", &[]);
    i386.arch = 0x4000_0003;
    assert_eq!(verdict(&f, &i386), KILL);
}

#[test]
fn files_and_network_rules_follow_the_policy() {
    for (files, network) in [(false, false), (true, false), (false, true), (true, true)] {
        let ctx = FilterContext {
            files,
            network,
            terminal: false,
            pid: PID,
        };
        let f = build(&ctx).expect("filter");
        let wanted = RULES.iter().filter(|r| ctx.includes(r.when)).count();
        assert_eq!(f.rule_count, wanted);
        // Without [[files]] glibc's lazy opens fail as Landlock would fail them.
        let open = if files {
            ALLOW
        } else {
            ERRNO | libc::EACCES as u32
        };
        assert_eq!(verdict(&f, &call("openat", &[])), open);
        let sock = if network { ALLOW } else { KILL };
        let tcp = [libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0];
        assert_eq!(verdict(&f, &call("socket", &tcp)), sock);
        assert_eq!(verdict(&f, &call("connect", &[])), sock);
        assert_eq!(verdict(&f, &call("read", &[])), ALLOW);
        // AF_UNIX socketpairs need no [[network]] rule, and their I/O works
        // with none; a pair of any other family or type is refused.
        let pair = |domain: i32, ty: i32| call("socketpair", &[domain as u64, ty as u64, 0]);
        let stream = libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
        assert_eq!(verdict(&f, &pair(libc::AF_UNIX, stream)), ALLOW);
        assert_eq!(
            verdict(&f, &pair(libc::AF_UNIX, libc::SOCK_SEQPACKET)),
            ALLOW
        );
        assert_eq!(verdict(&f, &pair(libc::AF_INET, libc::SOCK_STREAM)), KILL);
        assert_eq!(verdict(&f, &pair(libc::AF_UNIX, libc::SOCK_RAW)), KILL);
        assert_eq!(verdict(&f, &call("sendmsg", &[])), ALLOW);
        assert_eq!(verdict(&f, &call("recvmsg", &[])), ALLOW);
    }
    assert!(RULES.iter().any(|r| r.when == When::Files));
    assert!(RULES.iter().any(|r| r.when == When::NoFiles));
}

#[test]
fn docs_list_every_rule() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/threat-model.md");
    let text = std::fs::read_to_string(&path).expect("docs/threat-model.md");
    let table = seccomp_docs::markdown();
    if text.contains(&table) {
        return;
    }
    if std::env::var_os("THINVISOR_BLESS").is_some() {
        let begin = text.find(seccomp_docs::BEGIN_MARKER).expect("begin marker");
        let end = text.find(seccomp_docs::END_MARKER).expect("end marker")
            + seccomp_docs::END_MARKER.len();
        let updated = format!("{}{}{}", &text[..begin], table, &text[end..]);
        std::fs::write(&path, updated).expect("write docs");
        return;
    }
    panic!(
        "docs/threat-model.md does not list the seccomp rules as seccomp_rules.rs has them; \
         run `THINVISOR_BLESS=1 cargo test -p runner docs_list_every_rule` to update it"
    );
}

/// The redundancy check above would catch a duplicated rule.
#[test]
fn a_duplicated_rule_would_be_caught() {
    let read = RULES
        .iter()
        .find(|r| r.syscall == "read")
        .expect("read rule");
    let with_copy = RULES.iter().chain(std::iter::once(read));
    let f = build_from(with_copy, &EVERYTHING).expect("filter");
    // Removing the original leaves the copy, which still allows the call.
    let without_original = RULES
        .iter()
        .filter(|r| r.syscall != "read")
        .chain(std::iter::once(read));
    let g = build_from(without_original, &EVERYTHING).expect("filter");
    assert_eq!(verdict(&f, &witness(read)), ALLOW);
    assert_eq!(verdict(&g, &witness(read)), ALLOW);
}

/// The door of a worker locked down ahead (`seccomp_door.rs`): open, its
/// calls are allowed where the cold filter kills them; shut, every call
/// gets the cold filter's answer again, in every policy context (a call
/// the door does not name included: accept4 on another descriptor, the
/// fcntl commands of the table). One answer is stricter than cold's on
/// purpose: accept4 on descriptor 0 stays killed under `[[network]]`
/// (descriptor 0 is then the client's stdin, never a guest's socket).
#[test]
fn the_door_opens_only_its_calls_and_shuts_to_the_cold_filter() {
    use super::seccomp_door::DOOR_RULES;
    use super::seccomp_filter::{build_with_door, door_shut};
    let shut = door_shut(&NOTHING).expect("the shutter");
    for ctx in [NOTHING, EVERYTHING] {
        let cold = build(&ctx).expect("filters");
        let open = build_with_door(&ctx).expect("filters with the door");
        for rule in DOOR_RULES {
            let c = witness(rule);
            assert_eq!(
                verdict(&open, &c),
                ALLOW,
                "{}: the door is open",
                rule.syscall
            );
            if ctx == NOTHING {
                assert_eq!(
                    verdict(&cold, &c),
                    KILL,
                    "{}: a cold run kills it",
                    rule.syscall
                );
            }
            assert_eq!(
                run(&shut, &c),
                KILL,
                "{}: the shutter kills it",
                rule.syscall
            );
        }
        let others = [
            call("accept4", &[5]),
            call("fcntl", &[3, libc::F_GETFL as u64]),
            call("fcntl", &[3, libc::F_SETOWN as u64]),
            call("prctl", &[libc::PR_SET_DUMPABLE as u64]),
            call("write", &[1]),
            call("ioctl", &[3, VCPU_RUN_IOCTLS[0].1]),
            call("openat", &[]),
        ];
        let witnesses: Vec<Call> = RULES.iter().map(witness).chain(others).collect();
        for c in witnesses {
            let after = [run(&shut, &c), verdict(&open, &c)]
                .into_iter()
                .min_by_key(|r| (r & 0xffff_0000) as i32)
                .expect("two answers");
            let accept_on_0 = c.nr == call("accept4", &[]).nr && c.args[0] == 0;
            let want = if accept_on_0 {
                KILL
            } else {
                verdict(&cold, &c)
            };
            assert_eq!(after, want, "{c:?} in {ctx:?}");
        }
    }
}
