//! Guest programs for thinvisor, assembled from `guest/*.S` by `build.rs`.
//!
//! Each sample is a *flat binary*: the raw bytes are loaded at guest virtual
//! address `0x400000` (mapped read+write+execute) and execution starts at the
//! first byte, at CPL3, with a Linux x86-64 initial stack at RSP. The expected
//! output and exit status of every sample are listed in `samples/README.md`.
//!
//! The build also copies every image to `<target dir>/samples/<name>.bin`.
//!
//! The C samples (`c/*.c`, [`C_ALL`]) are static ELF programs built with
//! `musl-gcc -static` (and glibc builds: `hello_pie`, a static-pie, and
//! `raise_glibc`); [`elf_path`]
//! gives their paths, copied to `<target dir>/samples/<name>` too.

#![forbid(unsafe_code)]

use std::path::PathBuf;

include!(concat!(env!("OUT_DIR"), "/all_samples.rs"));

/// The embedded flat image of sample `name` (the same bytes as [`path`]'s
/// file), for programs that need the samples without the build tree (the
/// runner's fuzzer mutates them).
pub fn image(name: &str) -> Option<&'static [u8]> {
    IMAGES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Path of the flat binary image for sample `name` (in this build's `OUT_DIR`).
///
/// Intended for tests. Panics if `name` is not listed in [`ALL`].
pub fn path(name: &str) -> PathBuf {
    assert!(
        ALL.contains(&name),
        "unknown thinvisor sample {name:?}; known samples: {ALL:?}"
    );
    PathBuf::from(env!("OUT_DIR")).join(format!("{name}.bin"))
}

/// Path of the C sample `name`, a static ELF executable (in this build's
/// `OUT_DIR`).
///
/// Intended for tests. Panics if `name` is not listed in [`C_ALL`].
pub fn elf_path(name: &str) -> PathBuf {
    assert!(
        C_SKIPPED.is_none(),
        "the C sample {name:?} was not built: {}; run README's test command (ci/test-deps.sh installs what the tests need)",
        C_SKIPPED.unwrap_or_default()
    );
    assert!(
        C_ALL.contains(&name),
        "unknown thinvisor C sample {name:?}; known C samples: {C_ALL:?}"
    );
    PathBuf::from(env!("OUT_DIR")).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn every_sample_is_built() {
        for name in ALL {
            let bytes = fs::read(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!bytes.is_empty(), "{name}.bin is empty");
        }
    }

    #[test]
    fn every_c_sample_is_a_static_elf() {
        for name in C_ALL {
            let bytes = fs::read(elf_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(bytes.starts_with(b"\x7fELF"), "{name} is not an ELF file");
        }
        assert!(C_ALL.contains(&"hello_pie"));
    }

    #[test]
    fn embedded_images_match_the_files() {
        assert_eq!(IMAGES.len(), ALL.len());
        for (name, bytes) in IMAGES {
            assert_eq!(fs::read(path(name)).expect("image file"), *bytes, "{name}");
        }
        assert!(image("hello").is_some());
        assert!(image("no_such_sample").is_none());
    }

    #[test]
    fn all_matches_guest_sources() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("guest");
        let mut found: Vec<String> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".S"))
                    .map(String::from)
            })
            .collect();
        found.sort();
        assert_eq!(
            found, ALL,
            "samples::ALL must list exactly the guest/*.S files"
        );
    }

    #[test]
    #[should_panic(expected = "unknown thinvisor sample")]
    fn unknown_name_panics() {
        let _ = path("no_such_sample");
    }
}
