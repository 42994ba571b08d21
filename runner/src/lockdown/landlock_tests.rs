//! Tests of the Landlock ruleset built from a prepared `Vfs`. Landlock
//! restricts only the thread that asks (and threads it creates later), so
//! each test restricts a thread of its own and the test process stays free.

use super::landlock::{restrict, Enforcement, LandlockError};
use crate::vfs::{Node, Vfs};
use rustix::fs::{Mode, OFlags};
use sandbox_policy::{NetRules, Policy};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("thinvisor-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir scratch");
    dir
}

/// Reads guest path `guest` through the descriptors `vfs` holds.
fn read_through_vfs(vfs: &Vfs, guest: &str) -> Result<String, String> {
    let Ok(Node::Real(real)) = vfs.resolve(Path::new(guest)) else {
        return Err(format!("{guest} is not inside a rule"));
    };
    let fd = real
        .open(OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    Ok(text)
}

/// What a restricted thread could reach.
#[derive(Debug)]
struct Seen {
    restricted: Result<Enforcement, String>,
    /// The original file, through the Vfs's held root descriptor.
    through_held_fd: Result<String, String>,
    /// The original file, by its host path after the rename.
    original_by_new_name: Result<String, ErrorKind>,
    /// The file of the directory swapped in at the policy's host path.
    swapped_in_file: Result<String, ErrorKind>,
    /// Listing the swapped-in directory.
    swapped_in_listing: Result<usize, ErrorKind>,
}

#[test]
fn landlock_grants_the_prepared_roots_not_what_is_at_their_paths_later() {
    let dir = scratch("landlock-swap");
    let granted = dir.join("granted");
    std::fs::create_dir(&granted).expect("mkdir granted");
    std::fs::write(granted.join("original.txt"), "original").expect("write original");
    let policy = Policy::from_str_named(
        &format!(
            "[[files]]\npath = \"/data\"\nhost_path = \"{}\"\naccess = \"read\"\n",
            granted.display()
        ),
        "t.toml",
    )
    .expect("policy");
    let vfs = Vfs::prepare(&policy.files).expect("prepare");

    // Between preparation and lock-down, the policy's host path comes to
    // name another directory.
    let moved = dir.join("moved");
    std::fs::rename(&granted, &moved).expect("rename granted away");
    std::fs::create_dir(&granted).expect("mkdir the impostor");
    std::fs::write(granted.join("swapped.txt"), "swapped").expect("write swapped");

    let seen = std::thread::scope(|s| {
        s.spawn(|| Seen {
            restricted: restrict(&vfs, &NetRules::default())
                .map_err(|e: LandlockError| e.to_string()),
            through_held_fd: read_through_vfs(&vfs, "/data/original.txt"),
            original_by_new_name: std::fs::read_to_string(moved.join("original.txt"))
                .map_err(|e| e.kind()),
            swapped_in_file: std::fs::read_to_string(granted.join("swapped.txt"))
                .map_err(|e| e.kind()),
            swapped_in_listing: std::fs::read_dir(&granted)
                .map(|entries| entries.count())
                .map_err(|e| e.kind()),
        })
        .join()
        .expect("the restricted thread ends")
    });
    // This thread was never restricted.
    let unrestricted = std::fs::read_to_string(granted.join("swapped.txt"));
    let _ = std::fs::remove_dir_all(&dir);

    assert!(seen.restricted.is_ok(), "{seen:?}");
    assert_eq!(seen.through_held_fd.as_deref(), Ok("original"), "{seen:?}");
    assert_eq!(
        seen.original_by_new_name.as_deref(),
        Ok("original"),
        "{seen:?}"
    );
    assert_eq!(
        seen.swapped_in_file,
        Err(ErrorKind::PermissionDenied),
        "{seen:?}"
    );
    assert_eq!(
        seen.swapped_in_listing,
        Err(ErrorKind::PermissionDenied),
        "{seen:?}"
    );
    assert_eq!(unrestricted.ok().as_deref(), Some("swapped"));
}
