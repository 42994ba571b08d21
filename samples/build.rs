//! Assembles every `guest/*.S` into a flat binary image with GNU binutils.
//!
//! For each `guest/<name>.S`:
//!   `as --64 -I guest -o $OUT_DIR/<name>.o`, then `ld -T guest/flat.ld` twice:
//!   `$OUT_DIR/<name>.elf` (static ELF, for objdump/gdb/native runs) and
//!   `$OUT_DIR/<name>.bin` (`--oformat binary`, the image the runner loads at
//!   0x400000; `_start` is its first byte, enforced by an ASSERT in flat.ld).
//! Each `.bin` is also copied to `<target dir>/samples/<name>.bin`, where the
//! target dir is `$CARGO_TARGET_DIR` (relative paths taken from the workspace
//! root) or `<workspace root>/target`.

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
    let tmp = to.with_extension(format!("bin.tmp{}", std::process::id()));
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
    let images: Vec<String> = names
        .iter()
        .map(|n| format!("({n}, include_bytes!(concat!(env!(\"OUT_DIR\"), \"/\", {n}, \".bin\")))"))
        .collect();
    let list = format!(
        "/// Names of every sample, in alphabetical order (one per `guest/<name>.S`).\npub const ALL: &[&str] = &[{}];\n\
         /// Every sample's flat image, embedded: (name, bytes), in the order of [`ALL`].\npub const IMAGES: &[(&str, &[u8])] = &[{}];\n",
        names.join(", "),
        images.join(", ")
    );
    if let Err(e) = fs::write(out_dir.join("all_samples.rs"), list) {
        fail(&format!("cannot write the sample list: {e}"));
    }
}
