//! Static ELF programs (the C samples, built with musl-gcc -static, and a
//! glibc static-pie) run for real on /dev/kvm: output, statuses, signals,
//! limits, and refusals of files that are not static x86-64 executables.

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use support::*;

#[test]
fn hello_runs_printf_and_malloc() {
    let r = exec_elf(&[], "hello", &["one", "two words"]);
    assert_eq!(
        r.stdout,
        "Hello from a static ELF, argc=3\nargv[1]=one\nargv[2]=two words\nmalloc: ok\n"
    );
    assert_eq!(r.stderr, "");
    assert_eq!(r.status, 0);
}

#[test]
fn glibc_static_pie_runs() {
    let r = exec_elf(&[], "hello_pie", &["x"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "Hello from a static ELF, argc=2\nargv[1]=x\nmalloc: ok\n"
    );
}

/// Run by a relative path: glibc's start-up reads /proc/self/exe and
/// aborts unless it is absolute (as Linux always makes it).
#[test]
fn a_glibc_static_program_runs_by_a_relative_path() {
    let pie = elf_sample("hello_pie");
    let out = runner()
        .arg("exec")
        .arg("./hello_pie")
        .arg("x")
        .current_dir(pie.parent().expect("samples dir"))
        .output()
        .expect("runner");
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).as_ref()
        ),
        (
            Some(0),
            "Hello from a static ELF, argc=2\nargv[1]=x\nmalloc: ok\n"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bench_matches_the_native_run() {
    let native = run_native(&elf_sample("bench"), &["2000000"], b"", &[]);
    assert_eq!(native.status, 0);
    let r = exec_elf(&[], "bench", &["2000000"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, native.stdout);
    assert!(
        r.stdout.starts_with("primes below 2000000: 148933\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn environment_comes_from_the_policy_only() {
    let r = exec_elf(&[], "showenv", &[]);
    assert_eq!(
        r.stdout, "(0 variables)\n",
        "no host environment by default"
    );
    let dir = temp_dir("showenv");
    let p = policy_file(
        &dir,
        "env.toml",
        "[env]\nvars = { GREETING = \"hello world\", LANG = \"C\" }\n",
    );
    let r = exec_elf(&["--policy", &p], "showenv", &[]);
    assert_eq!(r.stdout, "GREETING=hello world\nLANG=C\n(2 variables)\n");
    let r = exec_elf(&["--policy", &p], "showenv", &["LANG", "HOME"]);
    assert_eq!(r.stdout, "LANG=C\nHOME is not set\n");
    assert_eq!(r.status, 1);
}

#[test]
fn the_syscalls_static_programs_use_behave() {
    let r = exec_elf(&[], "sysprobe", &[]);
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.ends_with("sysprobe: 0 failed\n"), "{}", r.stdout);
    // fork makes a child and pthread_create a thread, without a report.
    assert!(!r.stderr.contains("fork"), "{}", r.stderr);
    assert!(!r.stderr.contains("clone"), "{}", r.stderr);
}

/// (mode, status, stdout, stderr fragment)
const RAISES: &[(&str, i32, &str, &str)] = &[
    (
        "abort",
        134,
        "",
        "guest killed by SIGABRT (raised by the program itself with tkill)",
    ),
    (
        "term",
        143,
        "",
        "guest killed by SIGTERM (raised by the program itself",
    ),
    ("ignored", 0, "survived\n", ""),
    ("handled", 0, "handled\nsurvived\n", ""),
    ("blocked", 138, "pending\n", "guest killed by SIGUSR1"),
    (
        "segv",
        139,
        "handled\n",
        "guest killed by SIGSEGV (page fault: write to unmapped address)",
    ),
];

#[test]
fn signals_raised_at_itself_end_the_run_with_128_plus_n() {
    for &(mode, status, stdout, stderr) in RAISES {
        let r = exec_elf(&[], "raise", &[mode]);
        assert_eq!(r.status, status, "{mode}: {}", r.stderr);
        assert_eq!(r.stdout, stdout, "{mode}");
        assert!(r.stderr.contains(stderr), "{mode}: {}", r.stderr);
        assert_eq!(
            r.stderr.lines().count(),
            usize::from(!stderr.is_empty()),
            "{mode}: {}",
            r.stderr
        );
    }
}

#[test]
fn glibc_abort_uses_tgkill_and_ends_with_134() {
    let r = exec_elf(&[], "raise_glibc", &["abort"]);
    assert_eq!(r.status, 134, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("guest killed by SIGABRT (raised by the program itself with tgkill)"),
        "{}",
        r.stderr
    );
    let r = exec_elf(&[], "raise_glibc", &["ignored"]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "survived\n"));
}

#[test]
fn sleeps_end_at_the_time_limit() {
    let r = exec_elf(&[], "sleeper", &["0.05"]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "awake\n"),
        "{}",
        r.stderr
    );
    let start = std::time::Instant::now();
    let r = exec_elf(&["--timeout", "0.5"], "sleeper", &["30"]);
    let took = start.elapsed();
    assert_eq!(r.status, 137, "{}", r.stderr);
    assert!(
        r.stderr.contains("time limit of 0.5s exceeded"),
        "{}",
        r.stderr
    );
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
}

#[test]
fn dynamic_programs_without_their_libraries_and_malformed_programs_are_refused_with_126() {
    let dir = temp_dir("badelf");
    // A dynamically linked program with no policy showing its interpreter:
    // the interpreter is named (runner/tests/dynamic.rs runs such programs
    // with the libraries granted).
    let dynamic = ["/bin/ls", "/usr/bin/ls", "/bin/sh"]
        .iter()
        .find(|p| std::fs::read(p).is_ok_and(|b| b.windows(11).any(|w| w == b"ld-linux-x8")))
        .expect("a dynamically linked /bin/ls or /bin/sh on the host");
    let r = run(&["exec", dynamic]);
    assert_eq!(r.status, 126, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "dynamically linked: its interpreter /lib64/ld-linux-x86-64.so.2 cannot be run in the sandbox (ENOENT)"
        ),
        "{}",
        r.stderr
    );
    // Truncated: the first 100 bytes of a real program.
    let full = std::fs::read(elf_sample("hello")).expect("read hello");
    let cut = dir.join("truncated");
    std::fs::write(&cut, &full[..100]).expect("write");
    let r = run(&["exec", cut.to_str().expect("path")]);
    assert_eq!(r.status, 126);
    assert!(
        r.stderr.contains("truncated program headers") || r.stderr.contains("outside the"),
        "{}",
        r.stderr
    );
    // A flat sample's debugging ELF has one RWX segment: W^X refuses it.
    let rwx = samples::path("hello").with_extension("elf");
    let r = run(&["exec", rwx.to_str().expect("path")]);
    assert_eq!(r.status, 126);
    assert!(
        r.stderr
            .contains("both writable and executable: refused (W^X)"),
        "{}",
        r.stderr
    );
    // --format elf on a file that is not ELF.
    let flat = samples::path("hello");
    let r = run(&["exec", "--format", "elf", flat.to_str().expect("path")]);
    assert_eq!(r.status, 126);
    assert!(r.stderr.contains("not an ELF file"), "{}", r.stderr);
    // --format flat still runs an ELF's bytes as a flat image (and it faults).
    let r = run(&[
        "exec",
        "--format",
        "flat",
        elf_sample("hello").to_str().expect("path"),
    ]);
    assert_ne!(r.status, 0);
}

#[test]
fn a_program_larger_than_the_memory_limit_is_126() {
    let dir = temp_dir("elf-toolarge");
    let p = policy_file(&dir, "p.toml", "[limits]\nmemory = \"1MiB\"\n");
    let r = run(&["exec", "--policy", &p, "/bin/busybox", "true"]);
    assert_eq!(r.status, 126, "{}", r.stderr);
    assert!(r.stderr.contains("memory limit"), "{}", r.stderr);
}

/// Needs the file layer: the policy grants a directory, the program copies
/// a file in it.
#[test]
fn filecopy_copies_a_granted_file() {
    let dir = temp_dir("filecopy");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(dir.join("src.bin"), &data).expect("write src");
    let p = policy_file(
        &dir,
        "files.toml",
        &format!(
            "[[files]]\npath = \"{}\"\naccess = \"read-write\"\n",
            dir.display()
        ),
    );
    let src = dir.join("src.bin");
    let dst = dir.join("dst.bin");
    let r = exec_elf(
        &["--policy", &p],
        "filecopy",
        &[src.to_str().expect("p"), dst.to_str().expect("p")],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "copied 300000 bytes\n");
    assert_eq!(std::fs::read(&dst).expect("dst written"), data);
}

/// Needs the file layer: the policy grants a directory, the program lists it.
#[test]
fn listdir_lists_a_granted_directory() {
    let dir = temp_dir("listdir");
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("mkdir");
    for f in ["b.txt", "a.txt", "c"] {
        std::fs::write(tree.join(f), f).expect("write");
    }
    let p = policy_file(
        &dir,
        "files.toml",
        &format!(
            "[[files]]\npath = \"{}\"\naccess = \"read\"\n",
            tree.display()
        ),
    );
    let t = tree.to_str().expect("path");
    let native = run_native(&elf_sample("listdir"), &[t], b"", &[]);
    assert_eq!(native.stdout, "a.txt\nb.txt\nc\nsub/\n");
    let r = exec_elf(&["--policy", &p], "listdir", &[t]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, native.stdout);
}

/// A write to the runner's stdout after its reader went away raises the
/// guest's SIGPIPE (status 141, one line), as it would natively.
#[test]
fn a_closed_stdout_pipe_raises_sigpipe() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = runner()
        .args(["exec", "/bin/busybox", "yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut first = [0u8; 4];
    out.read_exact(&mut first).expect("some output");
    assert_eq!(&first, b"y\ny\n");
    drop(out);
    let r = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(141), "{stderr}");
    assert!(
        stderr.contains("guest killed by SIGPIPE (write to a pipe with no reader)"),
        "{stderr}"
    );
}

/// busybox cat copies a granted file with sendfile: the bytes it sends to
/// stdout count against bytes_written like any write.
#[test]
fn sendfile_counts_against_bytes_written() {
    let dir = temp_dir("sendfile-budget");
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).expect("mkdir");
    let data: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(tree.join("data.txt"), &data).expect("write");
    let file = tree.join("data.txt");
    let file = file.to_str().expect("path");
    let grant = format!(
        "[[files]]\npath = \"{}\"\naccess = \"read\"\n",
        tree.display()
    );
    let p = policy_file(&dir, "all.toml", &grant);
    let r = run(&["exec", "--policy", &p, "/bin/busybox", "cat", file]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout.as_bytes(), &data[..]);
    let p = policy_file(
        &dir,
        "budget.toml",
        &format!("[limits]\nbytes_written = 100\n\n{grant}"),
    );
    let r = run(&["exec", "--policy", &p, "/bin/busybox", "cat", file]);
    assert_eq!(r.stdout.as_bytes(), &data[..100], "{}", r.stderr);
    assert_ne!(r.status, 0, "the write past the budget fails");
}

/// busybox cat of a file into a file or /dev/null (its stdout redirected
/// there): the host kernel makes the sendfile (syscalls/copy.rs: up to
/// 8 MiB a call, where the runner's buffer takes 64 KiB), with the same
/// bytes, the same bytes_written budget, and the buffered path still
/// serving a pipe.
#[test]
fn sendfile_into_a_file_is_made_by_the_host_with_the_same_bytes_and_budget() {
    let dir = temp_dir("sendfile-direct");
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).expect("mkdir");
    // 20 MiB: three direct calls, 320 buffered ones.
    let data: Vec<u8> = (0..20u32 << 20)
        .map(|i| b'a' + ((i.wrapping_mul(2654435761) >> 24) % 26) as u8)
        .collect();
    let file = tree.join("data.bin");
    std::fs::write(&file, &data).expect("write");
    let grant = format!(
        "[[files]]\npath = \"{}\"\naccess = \"read\"\n",
        tree.display()
    );
    let all = policy_file(&dir, "all.toml", &grant);
    let budget = policy_file(
        &dir,
        "budget.toml",
        &format!("[limits]\nbytes_written = 100000\n\n{grant}"),
    );
    let cat = |policy: &str, out: std::fs::File, tag: &str| {
        let stats = dir.join(format!("{tag}.json"));
        let status = runner()
            .args(["exec", "--policy", policy, "--stats"])
            .arg(&stats)
            .args(["/bin/busybox", "cat"])
            .arg(&file)
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .status()
            .expect("runner");
        let text = std::fs::read_to_string(&stats).expect("stats");
        let s: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        (
            status.code(),
            s["syscalls"]["sendfile"].as_u64().unwrap_or(0),
        )
    };
    let out_path = dir.join("out.bin");
    let (code, calls) = cat(&all, std::fs::File::create(&out_path).expect("out"), "file");
    assert_eq!(code, Some(0));
    assert!(
        std::fs::read(&out_path).expect("read") == data,
        "the copy differs"
    );
    assert!(calls <= 4, "{calls} sendfile calls: not made by the host");
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let (code, calls) = cat(&all, null, "null");
    assert_eq!(code, Some(0));
    assert!(calls <= 4, "{calls} sendfile calls into /dev/null");
    // The budget stops the host's copy where it stopped the runner's.
    let (code, _) = cat(
        &budget,
        std::fs::File::create(&out_path).expect("out"),
        "budget",
    );
    assert_ne!(code, Some(0), "the write past the budget fails");
    let got = std::fs::read(&out_path).expect("read");
    assert_eq!(got.len(), 100000);
    assert!(got[..] == data[..100000]);
    // Into a pipe: the runner's buffer, the same bytes.
    let r = run(&[
        "exec",
        "--policy",
        &all,
        "/bin/busybox",
        "cat",
        file.to_str().expect("path"),
    ]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stdout.as_bytes() == &data[..], "the piped copy differs");
}
