//! The runner's modules in layers, bottom first. A module may use modules of
//! its own layer and of the layers below it, never one above: the test
//! below reads every `crate::` path in the sources (tests excluded), groups
//! included, and fails on an upward one, or on a `super::` chain that
//! climbs out of its top-level module.

/// (modules, what the layer holds), bottom first.
pub const LAYERS: &[(&[&str], &str)] = &[
    (
        &["abi", "exit_status", "host", "say"],
        "Linux's ABI (constants, struct layouts, errno), the runner's exit statuses, host clocks, the runner's own stderr lines",
    ),
    (
        &["guest"],
        "the machine's memory and CPU setup: layout, frames, page tables, address space, descriptors, entry code, initial stack, vDSO, clock",
    ),
    (&["tunnel"], "the only way to guest bytes: translation, the policy's ranges, copies"),
    (
        &["ring"],
        "the syscall ring's guest side: slot layout, stub code, patched sites and where a stopped thread resumes",
    ),
    (
        &["audit", "trace"],
        "--trace's lines: each call's arguments decoded through the tunnel, results, signals, ends; --verdict's audit: faults analysed where they happen, refusals, the code scanned",
    ),
    (&["loader", "vfs"], "programs (flat, ELF) and the policy's files"),
    (
        &["kernel"],
        "the kernel objects: Kernel, Process, Thread, descriptors, pipes, signal state, limits, deaths",
    ),
    (&["syscalls"], "the syscall contract table and its handlers"),
    (&["monitor"], "the in-VM monitor: installed at boot, serviced at exits"),
    (&["lockdown"], "the runner's self-sandbox: Landlock, seccomp, rlimits, capabilities"),
    (
        &["run"],
        "a run in stages: prepare, boot, lock down, run loop, report; the engine choice and probes",
    ),
    (
        &["cli", "fuzz", "info", "layers", "learn", "oci", "serve"],
        "front ends: the command line, the fuzzer, runner info, runner learn, the OCI runtime, runner serve",
    ),
];

/// The layer of top-level module `name`, if it is listed.
pub fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|(mods, _)| mods.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("src dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// Test code may reach across layers to set things up.
    fn is_test_file(p: &Path) -> bool {
        let name = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        name == "tests" || name.ends_with("_tests")
    }

    /// The top-level module names after `crate::` in `code`, including each
    /// name of a `crate::{a, b::c}` group.
    fn crate_paths(code: &str) -> Vec<String> {
        let ident = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let mut out = Vec::new();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + 7..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                // Top-level items of the group: split on commas outside braces.
                let mut depth = 0;
                let mut start = 0;
                for (j, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.push(ident(inner[start..j].trim()));
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                out.push(ident(inner[start..].trim()));
            } else {
                out.push(ident(rest));
            }
        }
        out
    }

    #[test]
    fn crate_paths_reads_groups() {
        assert_eq!(
            crate_paths("use crate::{abi::Errno, run::boot};\nlet x = crate::kernel::X;"),
            ["abi", "run", "kernel"]
        );
    }

    #[test]
    fn every_module_has_a_layer() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
        for line in lib.lines() {
            if let Some(m) = line
                .strip_prefix("pub mod ")
                .and_then(|l| l.strip_suffix(';'))
            {
                assert!(
                    layer_of(m).is_some(),
                    "module {m} is in no layer of layers.rs"
                );
            }
        }
    }

    #[test]
    fn no_module_uses_one_above_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let mut upward = Vec::new();
        for f in files.iter().filter(|f| !is_test_file(f)) {
            let rel = f.strip_prefix(&src).expect("under src");
            let top = rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .map(|s| s.trim_end_matches(".rs"))
                .expect("a name");
            let Some(own) = layer_of(top) else { continue };
            let text = std::fs::read_to_string(f).expect("source");
            // Code before the file's unit tests, if any, without comments.
            let code: String = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or("")
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for used in crate_paths(&code) {
                if let Some(l) = layer_of(&used) {
                    if l > own {
                        upward.push(format!("{} uses crate::{used}", rel.display()));
                    }
                }
            }
            // `super::` may not climb out of the top-level module.
            let depth = rel.components().count() - 1;
            for (i, _) in code.match_indices("super::") {
                let run = code.as_bytes()[i..]
                    .chunks(7)
                    .take_while(|c| c == b"super::")
                    .count();
                let is_mod = rel.file_name().is_some_and(|n| n == "mod.rs");
                let limit = if is_mod {
                    depth.saturating_sub(1)
                } else {
                    depth
                };
                if run > limit {
                    upward.push(format!(
                        "{} climbs out of its module with super::",
                        rel.display()
                    ));
                }
            }
        }
        upward.sort();
        upward.dedup();
        assert!(upward.is_empty(), "upward imports: {upward:#?}");
    }
}
