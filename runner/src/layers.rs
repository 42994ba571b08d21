//! The runner's modules in layers, bottom first. A module may use modules of
//! its own layer and of the layers below it, never one above: the test
//! below reads every `crate::` path in the sources (tests excluded) and
//! fails on an upward one.

/// (modules, what the layer holds), bottom first.
pub const LAYERS: &[(&[&str], &str)] = &[
    (
        &["abi", "exit_status", "host"],
        "Linux's ABI (constants, struct layouts, errno), the runner's exit statuses, host clocks",
    ),
    (
        &["guest"],
        "the machine's memory and CPU setup: layout, frames, page tables, address space, descriptors, entry code, initial stack, vDSO, clock",
    ),
    (&["tunnel"], "the only way to guest bytes: translation, the policy's ranges, copies"),
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
        &["cli", "fuzz", "info", "layers", "serve"],
        "front ends: the command line, the fuzzer, runner info, runner serve",
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
            for (i, _) in code.match_indices("crate::") {
                let used: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if let Some(l) = layer_of(&used) {
                    if l > own {
                        upward.push(format!("{} uses crate::{used}", rel.display()));
                    }
                }
            }
        }
        upward.sort();
        upward.dedup();
        assert!(upward.is_empty(), "upward imports: {upward:#?}");
    }
}
