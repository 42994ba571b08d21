//! `runner install-client [PATH]`: writes out `thinvisor-exec`, the small
//! front end of `runner exec` the runner carries (client/thinvisor-exec.c,
//! compiled by build.rs). It takes `runner exec`'s command line; a served
//! run with the common options it hands to the worker itself, as
//! `client.rs` does, and everything else it gives to `runner exec`. Its
//! point is its start: a small static program instead of the runner's
//! (docs/architecture.md, "Served runs").

use crate::exit_status;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The program's bytes.
pub const BYTES: &[u8] = include_bytes!(env!("THINVISOR_EXEC_CLIENT"));

/// The compiler build.rs built it with (`musl-gcc -static` where the
/// build machine had one).
pub const BUILT_WITH: &str = env!("THINVISOR_EXEC_CLIENT_BUILT_WITH");

/// Its name, and its default place: beside the runner, where it looks for
/// the runner it hands runs to.
pub const NAME: &str = "thinvisor-exec";

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("cannot find this runner's own path to install beside it: {0} (name a PATH)")]
    OwnPath(std::io::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes the client to `dest` (default: beside this runner), whole or not
/// at all: into a temporary file beside it, then renamed over it.
pub fn install(dest: Option<&Path>) -> Result<PathBuf, InstallError> {
    let dest = match dest {
        Some(d) => d.to_path_buf(),
        None => std::env::current_exe()
            .map_err(InstallError::OwnPath)?
            .with_file_name(NAME),
    };
    let fail = |source: std::io::Error| InstallError::Write {
        path: dest.clone(),
        source,
    };
    let mut tmp_name = dest.as_os_str().to_owned();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(&tmp)
        .and_then(|mut f| f.write_all(BYTES).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, &dest));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(dest)
}

/// `runner install-client`: the status.
pub fn main(dest: Option<&Path>) -> i32 {
    match install(dest) {
        Ok(path) => {
            crate::say!(
                "runner: wrote {} ({} bytes, built with {BUILT_WITH}); run it as `runner exec`: {} --server SOCKET PROGRAM [ARGS...]",
                path.display(),
                BYTES.len(),
                path.display()
            );
            0
        }
        Err(e) => {
            crate::say!("runner: {e}");
            exit_status::RUNNER_FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use super::*;

    /// The carried client is an executable ELF file, and an install
    /// replaces what was there whole, mode 0755, leaving no temporary.
    #[test]
    fn installs_the_client_whole_over_what_was_there() {
        assert_eq!(&BYTES[..4], b"\x7fELF");
        let dir = std::env::temp_dir().join(format!("thinvisor-install-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let dest = dir.join("client");
        std::fs::write(&dest, b"old").expect("old");
        let got = install(Some(&dest)).expect("install");
        assert_eq!(got, dest);
        assert_eq!(std::fs::read(&dest).expect("read"), BYTES);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(std::fs::read_dir(&dir).expect("ls").count(), 1);
        // Into a directory that is not there: an error naming the path.
        let e = install(Some(&dir.join("no/such"))).expect_err("no dir");
        assert!(e
            .to_string()
            .starts_with(&format!("cannot write {}", dir.join("no/such").display())));
        std::fs::remove_dir_all(&dir).expect("clean");
    }
}
