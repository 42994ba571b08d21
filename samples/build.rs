//! Assembles every `guest/*.S` into a flat binary image with GNU binutils,
//! and compiles every `c/*.c` into a static ELF executable with `musl-gcc`.
//!
//! For each `guest/<name>.S`:
//!   `as --64 -I guest -o $OUT_DIR/<name>.o`, then `ld -T guest/flat.ld` twice:
//!   `$OUT_DIR/<name>.elf` (static ELF, for objdump/gdb/native runs) and
//!   `$OUT_DIR/<name>.bin` (`--oformat binary`, the image the runner loads at
//!   0x400000; `_start` is its first byte, enforced by an ASSERT in flat.ld).
//! Each `.bin` is also copied to `<target dir>/samples/<name>.bin`, where the
//! target dir is `$CARGO_TARGET_DIR` (relative paths taken from the workspace
//! root) or `<workspace root>/target`.
//!
//! For each `c/<name>.c`: `musl-gcc -static -O2 -o $OUT_DIR/<name>`, copied
//! to `<target dir>/samples/<name>` (no extension: an ordinary static ELF
//! program, which also runs natively). `hello.c` is also built as a glibc
//! static-pie, `hello_pie` (`cc -static-pie`: Debian's musl has no
//! static-pie start file), and `raise.c` as a glibc static executable,
//! `raise_glibc` (glibc raises with tgkill, musl with tkill), and `clocks.c`
//! as `clocks_glibc` (glibc's static start-up finds the vDSO its own way),
//! and `threads.c` as `threads_glibc` (glibc's pthreads: clone3, robust
//! lists, its own futex uses), `signals.c` and `alarms.c` as
//! `signals_glibc` and `alarms_glibc` (glibc's signal frames, its
//! cancellation and unwinding), and `processes.c` as `processes_glibc`
//! (glibc's fork is clone, its posix_spawn, popen and system clone with
//! CLONE_VM|CLONE_VFORK).
//! musl-gcc comes
//! with Debian's `musl-tools`, glibc's static libraries with `libc6-dev`.

#![forbid(unsafe_code)]
// A build script reports failure by panicking with its message (cargo
// prints it and stops the build): expect and panic are its error path.
#![allow(clippy::expect_used, clippy::panic)]

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

/// At most this many lines of a failing tool's output are shown.
const MAX_DIAG_LINES: usize = 200;

fn fail(msg: &str) -> ! {
    eprintln!("error: thinvisor samples: {msg}");
    exit(1);
}

fn env_path(key: &str) -> PathBuf {
    match env::var_os(key) {
        Some(v) => PathBuf::from(v),
        None => fail(&format!(
            "environment variable {key} is not set (not run by cargo?)"
        )),
    }
}

/// Fail early, with an install hint, when `tool` cannot be started at all.
fn require_tool(tool: &str) {
    match Command::new(tool).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => fail(&format!(
            "`{tool} --version` failed ({}); GNU binutils for x86-64 are needed to build the guest samples",
            out.status
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => fail(&format!(
            "`{tool}` not found in PATH; install GNU binutils (e.g. `apt-get install binutils`) \
             to assemble the guest samples"
        )),
        Err(e) => fail(&format!("cannot run `{tool}`: {e}")),
    }
}

fn truncated(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= MAX_DIAG_LINES {
        return text.to_string();
    }
    format!(
        "{}\n... ({} more lines)",
        lines[..MAX_DIAG_LINES].join("\n"),
        lines.len() - MAX_DIAG_LINES
    )
}

/// Run `cmd`; on failure print what was run and its output, and fail the build.
fn run(mut cmd: Command, what: &str) {
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => fail(&format!("{what}: cannot run {cmd:?}: {e}")),
    };
    if !out.status.success() {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        fail(&format!(
            "{what} failed ({}):\n  command: {cmd:?}\n{}{}",
            out.status,
            truncated(&stdout),
            truncated(&stderr)
        ));
    }
}

/// Copy via a temporary file + rename so concurrent builds never see a partial file.
fn copy_atomic(from: &Path, to: &Path) {
    let tmp = to.with_extension(format!("tmp{}", std::process::id()));
    if let Err(e) = fs::copy(from, &tmp).and_then(|_| fs::rename(&tmp, to)) {
        fail(&format!(
            "cannot copy {} to {}: {e}",
            from.display(),
            to.display()
        ));
    }
}

fn main() {
    let manifest_dir = env_path("CARGO_MANIFEST_DIR");
    let out_dir = env_path("OUT_DIR");
    let guest_dir = manifest_dir.join("guest");
    let script = guest_dir.join("flat.ld");
    let workspace_root = manifest_dir.parent().unwrap_or(&manifest_dir).to_path_buf();

    println!("cargo:rerun-if-changed={}", guest_dir.display()); // added/removed files
    println!("cargo:rerun-if-changed={}", script.display());
    println!(
        "cargo:rerun-if-changed={}",
        guest_dir.join("common.inc").display()
    );
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root.join(dir), // join keeps absolute paths as they are
        None => workspace_root.join("target"),
    };
    let copy_dir = target_dir.join("samples");
    if let Err(e) = fs::create_dir_all(&copy_dir) {
        fail(&format!("cannot create {}: {e}", copy_dir.display()));
    }

    let mut sources: Vec<PathBuf> = match fs::read_dir(&guest_dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension() == Some(OsStr::new("S")))
            .collect(),
        Err(e) => fail(&format!("cannot read {}: {e}", guest_dir.display())),
    };
    sources.sort();
    if sources.is_empty() {
        fail(&format!(
            "no guest sources (*.S) in {}",
            guest_dir.display()
        ));
    }

    require_tool("as");
    require_tool("ld");

    let mut names: Vec<String> = Vec::new();
    for src in &sources {
        println!("cargo:rerun-if-changed={}", src.display());
        let name = match src.file_stem().and_then(OsStr::to_str) {
            Some(n)
                if !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                n
            }
            _ => fail(&format!(
                "bad sample file name {} (use [A-Za-z0-9_]+.S)",
                src.display()
            )),
        };
        let obj = out_dir.join(format!("{name}.o"));
        let elf = out_dir.join(format!("{name}.elf"));
        let bin = out_dir.join(format!("{name}.bin"));

        let mut cmd = Command::new("as");
        cmd.arg("--64")
            .arg("-I")
            .arg(&guest_dir)
            .arg("-o")
            .arg(&obj)
            .arg(src);
        run(cmd, &format!("assembling {name}.S"));

        for (output, flat) in [(&elf, false), (&bin, true)] {
            let mut cmd = Command::new("ld");
            cmd.args(["-m", "elf_x86_64", "-static", "-T"]).arg(&script);
            if flat {
                cmd.args(["--oformat", "binary"]);
            }
            cmd.arg("-o").arg(output).arg(&obj);
            run(cmd, &format!("linking {name}"));
        }

        match fs::metadata(&bin) {
            Ok(m) if m.len() > 0 => {}
            _ => fail(&format!(
                "{} is missing or empty after linking",
                bin.display()
            )),
        }
        copy_atomic(&bin, &copy_dir.join(format!("{name}.bin")));
        names.push(format!("{name:?}"));
    }
    let (c_names, c_skipped) = match c_compiler_missing() {
        None => (build_c_samples(&manifest_dir, &out_dir, &copy_dir), None),
        Some(why) => {
            println!("cargo:warning=the C samples are not built: {why}");
            (Vec::new(), Some(why))
        }
    };
    let images: Vec<String> = names
        .iter()
        .map(|n| format!("({n}, include_bytes!(concat!(env!(\"OUT_DIR\"), \"/\", {n}, \".bin\")))"))
        .collect();
    let list = format!(
        "/// Names of every sample, in alphabetical order (one per `guest/<name>.S`).\npub const ALL: &[&str] = &[{}];\n\
         /// Every sample's flat image, embedded: (name, bytes), in the order of [`ALL`].\npub const IMAGES: &[(&str, &[u8])] = &[{}];\n\
         /// Names of every C sample (static ELF programs), in alphabetical order.\npub const C_ALL: &[&str] = &[{}];\n\
         /// Why the C samples were not built (None: they were).\npub const C_SKIPPED: Option<&str> = {:?};\n",
        names.join(", "),
        images.join(", "),
        c_names.join(", "),
        c_skipped
    );
    if let Err(e) = fs::write(out_dir.join("all_samples.rs"), list) {
        fail(&format!("cannot write the sample list: {e}"));
    }
}

/// Why the C samples cannot be built here, if they cannot: `musl-gcc` (or
/// `$MUSL_GCC`) does not run. A fresh machine (Rust, gcc, binutils) has no
/// musl-gcc: the flat samples and the runner still build, so README's
/// first command works there, and the C samples come once the test
/// dependencies are installed (`ci/test-deps.sh`). With
/// `THINVISOR_C_SAMPLES=require` (CI) a missing compiler fails the build.
fn c_compiler_missing() -> Option<String> {
    println!("cargo:rerun-if-env-changed=THINVISOR_C_SAMPLES");
    println!("cargo:rerun-if-env-changed=MUSL_GCC");
    let musl = env::var("MUSL_GCC").unwrap_or_else(|_| "musl-gcc".into());
    let runs = Command::new(&musl)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if runs {
        return None;
    }
    if env::var("THINVISOR_C_SAMPLES").is_ok_and(|v| v == "require") {
        require_c_tool(&musl, "musl-tools");
    }
    // Installing it later makes cargo run this script again.
    println!("cargo:rerun-if-changed=/usr/bin/musl-gcc");
    Some(format!(
        "`{musl}` does not run (Debian package musl-tools; `ci/test-deps.sh` installs it with the other test dependencies)"
    ))
}

/// Fails the build, with the package to install, when `tool` cannot run.
fn require_c_tool(tool: &str, package: &str) {
    match Command::new(tool).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => fail(&format!(
            "`{tool} --version` failed ({}); the C samples need it (Debian package {package})",
            out.status
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => fail(&format!(
            "`{tool}` not found in PATH: the C samples (samples/c/*.c) are static ELF programs \
             built with it; install it with `apt-get install {package}`"
        )),
        Err(e) => fail(&format!("cannot run `{tool}`: {e}")),
    }
}

/// Samples also built with the system's glibc C compiler: (source, name,
/// link mode).
const GLIBC_BUILDS: &[(&str, &str, &str)] = &[
    ("hello", "hello_pie", "-static-pie"),
    ("raise", "raise_glibc", "-static"),
    ("clocks", "clocks_glibc", "-static"),
    ("threads", "threads_glibc", "-static"),
    ("signals", "signals_glibc", "-static"),
    ("timers", "timers_glibc", "-static"),
    ("alarms", "alarms_glibc", "-static"),
    ("sigqueue", "sigqueue_glibc", "-static"),
    ("vector_signals", "vector_signals_glibc", "-static"),
    ("jobs", "jobs_glibc", "-static"),
    ("exec_threads", "exec_threads_glibc", "-static"),
    ("pidfd", "pidfd_glibc", "-static"),
    ("unix_sockets", "unix_sockets_glibc", "-static"),
    ("socketpair", "socketpair_glibc", "-static"),
    ("flock", "flock_glibc", "-static"),
    ("sysv_ipc", "sysv_ipc_glibc", "-static"),
    ("posix_mq", "posix_mq_glibc", "-static"),
    ("processes", "processes_glibc", "-static"),
    ("ring_edges", "ring_edges_glibc", "-static"),
    ("linux_calls", "linux_calls_glibc", "-static"),
    ("posix_shm", "posix_shm_glibc", "-static"),
    ("inotify", "inotify_glibc", "-static"),
    // Dynamically linked (runner/tests/dynamic.rs): the host's glibc and
    // its loader, /lib64/ld-linux-x86-64.so.2.
    ("hello", "hello_dynamic", "-pie"),
    ("filemap", "filemap_dynamic", "-pie"),
    ("processes", "processes_dynamic", "-pie"),
];

/// Samples also built with musl-gcc dynamically linked (its loader,
/// /lib/ld-musl-x86_64.so.1): (source, name).
const MUSL_DYNAMIC_BUILDS: &[(&str, &str)] = &[("hello", "hello_musl_dynamic")];

/// Compiles `c/*.c` with `musl-gcc -static`, plus the [`GLIBC_BUILDS`].
/// Returns the quoted names, sorted.
fn build_c_samples(manifest_dir: &Path, out_dir: &Path, copy_dir: &Path) -> Vec<String> {
    let c_dir = manifest_dir.join("c");
    println!("cargo:rerun-if-changed={}", c_dir.display());
    println!("cargo:rerun-if-env-changed=MUSL_GCC");
    let mut sources: Vec<PathBuf> = match fs::read_dir(&c_dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension() == Some(OsStr::new("c")))
            .collect(),
        Err(e) => fail(&format!("cannot read {}: {e}", c_dir.display())),
    };
    sources.sort();
    let musl = env::var("MUSL_GCC").unwrap_or_else(|_| "musl-gcc".into());
    require_c_tool(&musl, "musl-tools");
    let mut names = Vec::new();
    let mut build = |cc: &str, flags: &[&str], src: &Path, name: &str| {
        let exe = out_dir.join(name);
        let mut cmd = Command::new(cc);
        cmd.args(flags).arg("-o").arg(&exe).arg(src);
        run(cmd, &format!("compiling {name} ({cc})"));
        copy_atomic(&exe, &copy_dir.join(name));
        names.push(format!("{name:?}"));
    };
    for src in &sources {
        println!("cargo:rerun-if-changed={}", src.display());
        let name = match src.file_stem().and_then(OsStr::to_str) {
            Some(n)
                if !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                n.to_string()
            }
            _ => fail(&format!(
                "bad C sample file name {} (use [A-Za-z0-9_]+.c)",
                src.display()
            )),
        };
        build(&musl, &["-static", "-O2", "-Wall"], src, &name);
        for &(from, to) in MUSL_DYNAMIC_BUILDS {
            if name == from {
                build(&musl, &["-O2", "-Wall"], src, to);
            }
        }
        // glibc builds of some samples: a static-pie, and tgkill-based raise().
        for &(from, to, kind) in GLIBC_BUILDS {
            if name == from {
                let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
                require_c_tool(&cc, "gcc and libc6-dev");
                build(&cc, &[kind, "-O2", "-Wall"], src, to);
            }
        }
    }
    names.sort();
    names
}
