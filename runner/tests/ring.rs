//! The syscall ring (`--syscalls ring`, docs/architecture.md "Exitless
//! syscalls"): patched sites, calls served without an exit, and what a
//! program sees of it, which must be what it sees natively. Real guests on
//! /dev/kvm; CI also runs the whole suite with THINVISOR_SYSCALLS=ring.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use support::*;

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `runner exec --syscalls MODE --stats F [extra..] PROGRAM args..`.
fn exec_stats(
    mode: &str,
    extra: &[&str],
    program: &str,
    args: &[&str],
    tag: &str,
) -> (Run, serde_json::Value) {
    let dir = temp_dir(&format!("ring-{tag}-{mode}"));
    let file = dir.join("stats.json");
    let mut all = vec![
        "exec",
        "--syscalls",
        mode,
        "--stats",
        file.to_str().expect("utf-8"),
    ];
    all.extend_from_slice(extra);
    all.push(program);
    all.extend_from_slice(args);
    let r = run(&all);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{tag}: stats: {e}: {}", r.stderr));
    (r, serde_json::from_str(&text).expect("stats are JSON"))
}

/// Every mode of samples/c/ring_edges.c (raw registers and the red zone,
/// a signal during a call loop, a GS base of the program's own, fork,
/// the slot region unmapped, two threads, single steps, moved sites and
/// one the code jumps into, a blocking call interrupted at a moved site
/// with and without SA_RESTART, sites moved while another thread waits at
/// them or races through them), glibc's build and musl's,
/// prints what it prints natively, with the ring on and off; with the
/// ring on its sites are patched.
#[test]
fn what_a_program_sees_matches_native_with_the_ring_on_and_off() {
    for build in ["ring_edges_glibc", "ring_edges"] {
        let program = elf_sample(build);
        let p = program.to_str().expect("utf-8");
        for mode in [
            "regs",
            "signal",
            "gs",
            "fork",
            "unmap",
            "threads",
            "step",
            "moved",
            "interrupt",
            "mtpatch",
        ] {
            let native = run_native(&program, &[mode], b"", &[]);
            assert_eq!(
                native.status, 0,
                "{build} {mode} natively: {}",
                native.stdout
            );
            for syscalls in ["exit", "ring"] {
                let (r, s) = exec_stats(syscalls, &[], p, &[mode], &format!("{build}-{mode}"));
                assert_eq!(
                    (r.status, r.stdout.as_str()),
                    (0, native.stdout.as_str()),
                    "{build} {mode} --syscalls {syscalls}: {}",
                    r.stderr
                );
                assert_eq!(s["syscalls_mode"], syscalls);
                if syscalls == "exit" {
                    assert_eq!(n(&s["ring_sites"]) + n(&s["ring_calls"]), 0, "{s}");
                } else {
                    assert!(
                        n(&s["ring_sites"]) > 0,
                        "{build} {mode}: nothing patched: {s}"
                    );
                    // Their `syscall; cmp` sites moved into ring code.
                    if ["moved", "interrupt", "mtpatch"].contains(&mode) {
                        assert!(
                            n(&s["ring_sites_moved"]) > 0,
                            "{build} {mode}: nothing moved: {s}"
                        );
                    }
                }
            }
        }
    }
}

/// A getpid loop through glibc: after the first trap its site is patched
/// and the calls are answered in the ring; the exits that remain are the
/// program's start and end, not one per call. (The ring's answers need the
/// runner's thread on a CPU while the guest waits: under a loaded machine
/// some calls fall back to a trap, which `ring_trapped_at_sites` counts,
/// so the check is that most calls did not exit, not a time.)
#[test]
fn patched_sites_answer_calls_without_exits() {
    let program = elf_sample("ring_edges_glibc");
    let p = program.to_str().expect("utf-8");
    let (r, s) = exec_stats("ring", &[], p, &["fork"], "no-exits");
    assert_eq!(r.status, 0, "{}", r.stderr);
    let calls = n(&s["ring_calls"]);
    let trapped = n(&s["ring_trapped_at_sites"]);
    assert!(calls > 0, "no call served by the ring: {s}");
    // Every getpid and getppid after the first at each site (10 + 1000 in
    // the parent, 2000 in the child) was served or fell back.
    assert!(
        calls + trapped >= 3000,
        "the calls at patched sites are counted: {calls} + {trapped}: {s}"
    );
}

/// The host's own dynamically linked tools (glibc: every wrapper is a
/// patchable site) give the same output with the ring as without it.
#[test]
fn host_tools_match_their_exit_runs() {
    let dir = temp_dir("ring-tools");
    let data = dir.join("data.txt");
    let text: String = (0..5000)
        .map(|i| format!("line {i} {}\n", i * 7919 % 1000))
        .collect();
    std::fs::write(&data, &text).expect("data");
    let policy = policy_file(
        &dir,
        "tools.toml",
        &format!(
            "[[files]]\npath = \"/usr\"\naccess = \"read-exec\"\n\
             [[files]]\npath = \"/lib\"\naccess = \"read-exec\"\n\
             [[files]]\npath = \"/lib64\"\naccess = \"read-exec\"\n\
             [[files]]\npath = \"/etc\"\naccess = \"read\"\n\
             [[files]]\npath = \"{}\"\naccess = \"read\"\n",
            dir.display()
        ),
    );
    let d = data.to_str().expect("utf-8");
    let cases: &[(&str, &[&str])] = &[
        ("/usr/bin/sha256sum", &[d]),
        ("/usr/bin/sort", &["-n", "-k3", d]),
        ("/usr/bin/cat", &[d]),
        ("/usr/bin/wc", &[d]),
        ("/bin/busybox", &["sha256sum", d]),
    ];
    for &(program, args) in cases {
        let native = run_native(std::path::Path::new(program), args, b"", &[]);
        assert_eq!(native.status, 0, "{program} natively");
        for syscalls in ["exit", "ring"] {
            let (r, s) = exec_stats(syscalls, &["--policy", &policy], program, args, "tools");
            assert_eq!(r.status, 0, "{program} --syscalls {syscalls}: {}", r.stderr);
            assert!(
                r.stdout == native.stdout,
                "{program} --syscalls {syscalls}: output differs from native"
            );
            if syscalls == "ring" {
                assert!(n(&s["ring_sites"]) > 0, "{program}: nothing patched: {s}");
            }
        }
    }
}

/// A guest that sleeps or waits costs no CPU with the ring on: the
/// runner's thread spins only briefly after the guest's last request, then
/// sleeps until the vCPU exits (the blocked call traps).
#[test]
fn an_idle_guest_costs_no_cpu_with_the_ring() {
    let dir = temp_dir("ring-idle");
    let policy = policy_file(&dir, "p.toml", "[[files]]\npath = \"/usr\"\naccess = \"read-exec\"\n[[files]]\npath = \"/lib\"\naccess = \"read-exec\"\n[[files]]\npath = \"/lib64\"\naccess = \"read-exec\"\n");
    let start = std::time::Instant::now();
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%U %S"])
        .arg(env!("CARGO_BIN_EXE_runner"))
        .args([
            "exec",
            "--syscalls",
            "ring",
            "--policy",
            &policy,
            "/usr/bin/sleep",
            "1.5",
        ])
        .output()
        .expect("time runner");
    let wall = start.elapsed().as_secs_f64();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().expect("time's line");
    let cpu: f64 = last
        .split_whitespace()
        .map(|v| v.parse::<f64>().expect("seconds"))
        .sum();
    assert!(wall >= 1.5, "slept {wall} s");
    assert!(
        cpu < 0.75,
        "sleeping 1.5 s with the ring cost {cpu} CPU seconds (wall {wall})"
    );
}

/// Under `--syscalls auto` a thread takes the ring only once one of its
/// `syscall` sites traps a second time. The flat hello makes each of its
/// calls from a site of its own: it never takes the ring, although its
/// write site is patched at once under `--syscalls ring`; a getpid loop
/// does take it. (Where `auto` picks exits, hardware KVM or one CPU,
/// nothing of the ring is used at all.)
#[test]
fn auto_takes_the_ring_only_for_a_site_used_again() {
    let hello = sample("hello");
    let h = hello.to_str().expect("utf-8");
    let (r, at_once) = exec_stats("ring", &[], h, &[], "hello-at-once");
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "Hello from inside the VM!\n")
    );
    assert!(n(&at_once["ring_sites"]) > 0, "{at_once}");
    let (r, auto) = exec_stats("auto", &[], h, &[], "hello-auto");
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "Hello from inside the VM!\n")
    );
    assert_eq!(
        (n(&auto["ring_sites"]), n(&auto["ring_calls"])),
        (0, 0),
        "a site used once took the ring: {auto}"
    );
    let looping = elf_sample("ring_edges_glibc");
    let l = looping.to_str().expect("utf-8");
    let native = run_native(&looping, &["fork"], b"", &[]);
    let (r, s) = exec_stats("auto", &[], l, &["fork"], "loop-auto");
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, native.stdout.as_str()),
        "{}",
        r.stderr
    );
    if s["syscalls_mode"] == "ring" {
        assert!(n(&s["ring_sites"]) > 0, "{s}");
        assert!(
            n(&s["ring_calls"]) + n(&s["ring_trapped_at_sites"]) > 0,
            "{s}"
        );
    } else {
        assert_eq!(n(&s["ring_sites"]) + n(&s["ring_calls"]), 0, "{s}");
    }
}

/// getpid twice from one site (under `auto` the second call moves the
/// thread to its run thread and the ring), then arch_prctl(ARCH_SET_GS),
/// which takes the process off the ring, then a loop with no exit.
const MOVES_THEN_LEAVES_THE_RING_AND_SPINS: &[u8] = &[
    0xbb, 0x02, 0x00, 0x00, 0x00, // mov ebx, 2
    0xb8, 0x27, 0x00, 0x00, 0x00, // loop: mov eax, 39
    0x0f, 0x05, // syscall
    0xff, 0xcb, // dec ebx
    0x75, 0xf5, // jnz loop
    0xbf, 0x01, 0x10, 0x00, 0x00, // mov edi, 0x1001 (ARCH_SET_GS)
    0xbe, 0x00, 0x00, 0x34, 0x12, // mov esi, 0x12340000
    0xb8, 0x9e, 0x00, 0x00, 0x00, // mov eax, 158
    0x0f, 0x05, // syscall
    0xeb, 0xfe, // spin: jmp spin
];

/// The time limit ends a guest whose vCPU moved to its run thread during
/// the run (`auto`) and that then left the ring: the deadline's kernel
/// timer was armed before the move and reaches only the runner's own
/// thread, so the run thread must be watched by a loop that looks at the
/// deadline (the serving loop, slot or not). Before that fix this guest
/// outlived its limit for good.
#[test]
fn the_time_limit_ends_a_guest_that_moved_to_the_ring_and_left_it() {
    let dir = temp_dir("ring-late-deadline");
    let program = dir.join("spin.bin");
    std::fs::write(&program, MOVES_THEN_LEAVES_THE_RING_AND_SPINS).expect("write");
    let stats = dir.join("stats.json");
    let mut child = runner()
        .args([
            "exec",
            "--format",
            "flat",
            "--syscalls",
            "auto",
            "--timeout",
            "1",
            "--stats",
        ])
        .arg(&stats)
        .arg(&program)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn runner");
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the guest outlived its 1 s time limit by 19 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert_eq!(status.code(), Some(137), "{err}");
    assert!(err.contains("time limit"), "{err}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).expect("stats")).expect("JSON");
    if s["syscalls_mode"] == "ring" {
        // The second getpid patched its site before the process left the
        // ring (which gave the site its bytes back).
        assert!(n(&s["ring_sites"]) > 0, "{s}");
    }
}

/// With the ring and a single CPU, the guest's run thread and the thread
/// serving its ring can never run at once: the server sees that it shares
/// the CPU and sleeps rather than spin the guest's time away, the guest's
/// calls trap, and the program's output is still exactly its native one.
#[test]
fn the_ring_on_one_cpu_gives_what_native_gives() {
    let program = elf_sample("ring_edges_glibc");
    let dir = temp_dir("ring-one-cpu");
    let file = dir.join("stats.json");
    for mode in ["fork", "signal", "threads"] {
        let native = run_native(&program, &[mode], b"", &[]);
        let mut cmd = std::process::Command::new("taskset");
        cmd.args(["-c", "0"])
            .arg(env!("CARGO_BIN_EXE_runner"))
            .args(["exec", "--syscalls", "ring", "--stats"])
            .arg(&file)
            .arg(&program)
            .arg(mode);
        let r = run_command(cmd, b"");
        assert_eq!(
            (r.status, r.stdout.as_str()),
            (0, native.stdout.as_str()),
            "{mode}: {}",
            r.stderr
        );
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("stats")).expect("JSON");
        assert_eq!(s["syscalls_mode"], "ring", "{s}");
        assert!(n(&s["ring_sites"]) > 0, "{mode}: {s}");
    }
}

/// The policy's `syscalls.ring` turns the ring on; `--syscalls` wins over
/// it.
#[test]
fn the_policy_turns_the_ring_on_and_the_command_line_wins() {
    let dir = temp_dir("ring-policy");
    let policy = policy_file(&dir, "ring.toml", "[syscalls]\nring = true\n");
    let program = elf_sample("ring_edges_glibc");
    let p = program.to_str().expect("utf-8");
    let file = dir.join("stats.json");
    let stats = |extra: &[&str]| {
        let mut all = vec![
            "exec",
            "--policy",
            &policy,
            "--stats",
            file.to_str().expect("utf-8"),
        ];
        all.extend_from_slice(extra);
        all.extend_from_slice(&[p, "fork"]);
        let r = run(&all);
        assert_eq!(r.status, 0, "{}", r.stderr);
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("stats")).expect("JSON");
        s
    };
    let on = stats(&[]);
    assert_eq!(on["syscalls_mode"], "ring", "{on}");
    assert!(n(&on["ring_sites"]) > 0, "{on}");
    let off = stats(&["--syscalls", "exit"]);
    assert_eq!(off["syscalls_mode"], "exit", "{off}");
    assert_eq!(n(&off["ring_sites"]), 0, "{off}");
}

/// `--syscalls auto` and the policy's `ring = "auto"`: the ring on
/// kvm_pvm when the runner has two CPUs, exits on one CPU (taskset) and
/// on hardware KVM; `--stats` names the mode the run used.
#[test]
fn auto_takes_the_ring_where_exits_are_slow_and_a_second_cpu_is_there() {
    let dir = temp_dir("ring-auto");
    let policy = policy_file(&dir, "auto.toml", "[syscalls]\nring = \"auto\"\n");
    let program = elf_sample("ring_edges_glibc");
    let file = dir.join("stats.json");
    let stats = |cpus: Option<&str>, extra: &[&str]| {
        let mut cmd = match cpus {
            Some(list) => {
                let mut c = std::process::Command::new("taskset");
                c.args(["-c", list]).arg(env!("CARGO_BIN_EXE_runner"));
                c
            }
            None => runner(),
        };
        cmd.env_remove("THINVISOR_SYSCALLS")
            .args(["exec", "--policy", &policy, "--stats"])
            .arg(&file)
            .args(extra)
            .arg(&program)
            .arg("fork");
        let r = run_command(cmd, b"");
        assert_eq!(r.status, 0, "{}", r.stderr);
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("stats")).expect("JSON");
        s
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let two = stats(None, &[]);
    let slow_exits = two["platform"]
        .as_str()
        .is_some_and(|p| p.starts_with("kvm_pvm"));
    let want = if slow_exits && cpus >= 2 {
        "ring"
    } else {
        "exit"
    };
    assert_eq!(two["syscalls_mode"], want, "{two}");
    assert_eq!(n(&two["ring_sites"]) > 0, want == "ring", "{two}");
    // The command line's auto, on one CPU: exits.
    let one = stats(Some("0"), &["--syscalls", "auto"]);
    assert_eq!(one["syscalls_mode"], "exit", "{one}");
    assert_eq!(n(&one["ring_sites"]), 0, "{one}");
    // The policy's limits.cpus = 1 narrows the runner to one CPU at its
    // lock-down: exits too.
    let narrowed = policy_file(&dir, "one.toml", "[limits]\ncpus = 1\n");
    let p = program.to_str().expect("utf-8");
    let (r, s) = exec_stats(
        "auto",
        &["--policy", &narrowed],
        p,
        &["fork"],
        "auto-one-cpu",
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(s["syscalls_mode"], "exit", "{s}");
    assert_eq!(n(&s["ring_sites"]), 0, "{s}");
}

/// A call that ends the process (a write to a pipe nobody reads, whose
/// SIGPIPE has its default action) ends it with the ring on as without it
/// and natively: status 141, nothing printed after the write. Its site was
/// patched by 500 writes before, so the ring is the one serving it
/// whenever its server was awake.
#[test]
fn a_served_call_that_ends_the_process_ends_it_as_natively() {
    for build in ["ring_edges_glibc", "ring_edges"] {
        let program = elf_sample(build);
        let native = run_native(&program, &["sigpipe"], b"", &[]);
        for syscalls in ["exit", "ring"] {
            let (r, _) = exec_stats(
                syscalls,
                &[],
                program.to_str().expect("utf-8"),
                &["sigpipe"],
                &format!("sigpipe-{build}"),
            );
            assert_eq!(r.status, 141, "{build} --syscalls {syscalls}: {}", r.stderr);
            assert_eq!(r.stdout, native.stdout, "{build} --syscalls {syscalls}");
            assert_eq!(r.stdout, "sigpipe: writing to a pipe nobody reads\n");
            assert!(
                r.stderr
                    .contains("guest killed by SIGPIPE (write to a pipe with no reader) at rip 0x"),
                "{build} --syscalls {syscalls}: {}",
                r.stderr
            );
            assert!(!r.stderr.contains("at rip 0x0\n"), "{}", r.stderr);
        }
    }
}

/// The program's memory calls never replace a slot page (the stub would
/// write into whatever took its place): MAP_FIXED over the first slot is
/// refused with the ring, and works (its data intact) natively and by
/// exit.
#[test]
fn a_slot_page_is_never_replaced_behind_the_stub() {
    for build in ["ring_edges_glibc", "ring_edges"] {
        let program = elf_sample(build);
        let p = program.to_str().expect("utf-8");
        let native = run_native(&program, &["mapslot"], b"", &[]);
        assert_eq!(
            native.stdout,
            "mapslot: mapped; its data intact; calls ok\n"
        );
        // (Each test its own stats directory: they run at once.)
        let tag = format!("mapslot-{build}");
        let (r, _) = exec_stats("exit", &[], p, &["mapslot"], &tag);
        assert_eq!(
            (r.status, r.stdout.as_str()),
            (0, native.stdout.as_str()),
            "{}",
            r.stderr
        );
        let (r, s) = exec_stats("ring", &[], p, &["mapslot"], &tag);
        assert_eq!(
            (r.status, r.stdout.as_str()),
            (0, "mapslot: MAP_FIXED refused\n"),
            "{build}: {}",
            r.stderr
        );
        assert!(n(&s["ring_sites"]) > 0, "{s}");
    }
}

/// `runner info` measures the ring next to the exit: a getpid loop whose
/// site it patched.
#[test]
fn runner_info_measures_the_ring() {
    let r = run(&["info"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("ring round trip: "))
        .unwrap_or_else(|| panic!("no ring line: {}", r.stdout));
    assert!(
        line.contains(" us per getpid with --syscalls ring ("),
        "{line}"
    );
    assert!(line.ends_with(" sites patched)"), "{line}");
    let sites: u64 = line
        .rsplit(", ")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(sites >= 1, "the loop's site is patched: {line}");
}

/// A standard input that is a regular file never makes a read wait, so
/// the ring serves its reads (the flat `cat` sample: 4 KiB reads and
/// writes) and the copy is exact; one that is a pipe may wait, so its reads
/// go by trap and the copy is exact too.
#[test]
fn stdin_from_a_file_is_read_in_the_ring_and_from_a_pipe_by_trap() {
    let dir = temp_dir("ring-stdin");
    // Text (the pipe run's output is compared as a string).
    let data: Vec<u8> = (0..600_000u32)
        .map(|i| match i % 64 {
            63 => b'\n',
            _ => b'a' + (i.wrapping_mul(2_654_435_761) >> 13) as u8 % 26,
        })
        .collect();
    let input = dir.join("input.bin");
    std::fs::write(&input, &data).expect("input");
    let cat = sample("cat");
    let stats = dir.join("stats.json");
    let args = |stats: &std::path::Path| {
        vec![
            "exec".to_string(),
            "--syscalls".into(),
            "ring".into(),
            "--stats".into(),
            stats.to_str().expect("utf-8").into(),
            cat.to_str().expect("utf-8").into(),
        ]
    };
    let reads = data.len().div_ceil(4096) as u64;

    let out = runner()
        .args(args(&stats))
        .stdin(std::fs::File::open(&input).expect("open input"))
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == data,
        "stdin from a file: the copy differs ({} bytes)",
        out.stdout.len()
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).expect("stats")).expect("JSON");
    // Every call after the first read and write (which trap, and get their
    // sites patched) is posted in the ring. On a loaded machine the guest
    // may withdraw some (its server was off the CPU: they trap, counted in
    // ring_trapped_at_sites); none that the server took was turned back
    // (ring_fallbacks), which every read was before.
    let posted = n(&s["ring_calls"]) + n(&s["ring_trapped_at_sites"]);
    assert!(posted >= 2 * reads - 2, "calls not posted in the ring: {s}");
    assert_eq!(
        n(&s["ring_fallbacks"]),
        0,
        "a read of a file was sent back to trap: {s}"
    );

    let mut cmd = runner();
    cmd.args(args(&stats));
    let r = run_command(cmd, &data);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stdout.as_bytes() == data,
        "stdin from a pipe: the copy differs"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).expect("stats")).expect("JSON");
    // A pipe's reads are never served in the ring (they may wait): only
    // its writes are.
    assert!(
        n(&s["ring_calls"]) <= reads + 1,
        "pipe reads served in the ring: {s}"
    );
}
