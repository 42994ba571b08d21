//! Documentation stays in step with the code: every sample in
//! samples/README.md, and every example policy in samples/policies/ is
//! valid. (docs/compatibility.md's syscall table is checked against the
//! table itself by `syscalls::table::tests`.)

#![forbid(unsafe_code)]
// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

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
