//! Private trees (`[[files]] private = true`): a fresh, empty host
//! directory per rule for one run, removed with everything in it when the
//! run ends, however it ends.
//!
//! Each directory is made under the host's temporary directory
//! (`$TMPDIR`, else `/tmp`) as `thinvisor-private-PID-N-RANDOM`, mode 0700,
//! before the run's files are opened. Removing it is a job for after the
//! run: the locked-down runner may empty it (the rule grants that) but not
//! remove it from its parent, and a runner killed outright removes
//! nothing. So a small helper, the runner's own binary started before lock
//! down (`runner remove-when-closed DIR...`, hidden), waits for the
//! runner's end of a pipe to close (at its exit, whatever the cause) and
//! then removes the directories. It runs in a process group of its own, so
//! a terminal's Ctrl-C that ends the run does not end the cleanup.

use sandbox_policy::FileRules;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// What a run with private trees holds until it ends: the helper's pipe
/// (its closing starts the removal) and the helper.
#[derive(Debug)]
pub struct PrivateTrees {
    _pipe: ChildStdin,
    _helper: Child,
}

/// Why private trees could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PrivateTreeError {
    #[error("cannot make a private directory for files rule {guest}: {source}")]
    Make {
        guest: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the private trees' cleanup: {0}")]
    Helper(#[source] std::io::Error),
}

/// The prefix of every private directory's name (the helper removes
/// nothing else).
const PREFIX: &str = "thinvisor-private-";

/// Makes the private trees of `files`: the rules with their host
/// directories set, and what removes them at the end (None when there
/// are none).
pub fn make(files: &FileRules) -> Result<(FileRules, Option<PrivateTrees>), PrivateTreeError> {
    if !files.has_private() {
        return Ok((files.clone(), None));
    }
    let base = std::env::temp_dir();
    let mut made: Vec<PathBuf> = Vec::new();
    let mut n = 0;
    let rules = files.with_private_dirs(|rule| {
        n += 1;
        let mut random = [0u8; 8];
        crate::host::random_bytes(&mut random);
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let dir = base.join(format!("{PREFIX}{}-{n}-{hex}", std::process::id()));
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
            .create(&dir)
            .map_err(|source| PrivateTreeError::Make {
                guest: rule.guest_path.display().to_string(),
                source,
            })?;
        made.push(dir.clone());
        Ok(dir)
    });
    let rules = match rules {
        Ok(r) => r,
        Err(e) => {
            remove(&made);
            return Err(e);
        }
    };
    match start_helper(&made) {
        Ok(trees) => Ok((rules, Some(trees))),
        Err(e) => {
            remove(&made);
            Err(PrivateTreeError::Helper(e))
        }
    }
}

fn start_helper(dirs: &[PathBuf]) -> std::io::Result<PrivateTrees> {
    let exe = std::env::current_exe()?;
    let mut helper = Command::new(exe)
        .arg("remove-when-closed")
        .args(dirs)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()?;
    let pipe = helper
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no pipe to the helper"))?;
    Ok(PrivateTrees {
        _pipe: pipe,
        _helper: helper,
    })
}

/// Removes directories this module made (best effort: what cannot be
/// removed is reported).
fn remove(dirs: &[PathBuf]) {
    for d in dirs {
        let ours = d
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(PREFIX));
        if !ours {
            crate::say!(
                "runner: remove-when-closed: {} is not a private tree; left alone",
                d.display()
            );
            continue;
        }
        // remove_dir_all never follows a link the guest left there.
        if let Err(e) = std::fs::remove_dir_all(d) {
            if e.kind() != std::io::ErrorKind::NotFound {
                crate::say!("runner: cannot remove private tree {}: {e}", d.display());
            }
        }
    }
}

/// The helper (`runner remove-when-closed DIR...`): waits until stdin
/// reaches its end (the runner exited), then removes the directories.
pub fn remove_when_closed(dirs: &[PathBuf]) -> i32 {
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin();
    while let Ok(n) = stdin.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    let owned: Vec<PathBuf> = dirs.iter().map(|d| Path::new(d).to_path_buf()).collect();
    remove(&owned);
    0
}
