//! Documentation stays in step with the code: every emulated syscall is in
//! docs/compatibility.md, every sample in samples/README.md, and every
//! example policy in samples/policies/ is valid.

mod support;

use std::path::PathBuf;
use support::*;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn every_emulated_syscall_is_in_compatibility_md() {
    let table = read("runner/src/syscalls/table.rs");
    let doc = read("docs/compatibility.md");
    let names: Vec<&str> = table
        .lines()
        .filter_map(|l| l.trim().strip_prefix("name: \""))
        .filter_map(|l| l.strip_suffix("\","))
        .collect();
    assert!(names.len() > 40, "found only {names:?} in table.rs");
    for name in names {
        assert!(
            doc.contains(&format!("| `{name}` |")),
            "docs/compatibility.md does not list `{name}`"
        );
    }
}

#[test]
fn every_sample_is_in_the_samples_readme() {
    let doc = read("samples/README.md");
    for name in samples::ALL {
        assert!(
            doc.contains(&format!("| `{name}` |")),
            "samples/README.md does not list `{name}`"
        );
    }
}

#[test]
fn example_policies_are_valid() {
    let dir = repo("samples/policies");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("samples/policies") {
        let p = e.expect("entry").path();
        if p.extension().and_then(|x| x.to_str()) != Some("toml") {
            continue;
        }
        let r = run(&["check", p.to_str().expect("utf-8")]);
        assert_eq!((r.status, r.stderr.as_str()), (0, ""), "{}", p.display());
        n += 1;
    }
    assert!(n >= 3, "expected example policies in {}", dir.display());
}
