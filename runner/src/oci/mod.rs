//! An OCI runtime: the command line containerd's runc shim drives
//! (`io.containerd.runc.v2` with `BinaryName`, `ctr run --runc-binary`),
//! each container one micro-VM run by one runner process.
//!
//! The runtime is the `runner` binary invoked as `thinvisor-oci` (a link to
//! it), or `runner oci ...`: `create`, `start`, `state`, `kill`, `delete`,
//! `ps`, `features`, with runc's global flags. `create` turns the bundle's
//! config.json into a policy (`policy.rs`), starts the container process
//! (`runner oci-init`, `init.rs`) which builds the VM and locks itself
//! down, and returns once it waits at the start gate; `start` opens the
//! gate (`lifecycle.rs`). The container process's exit status is the
//! guest's, as `runner exec`'s is. State lives under `--root`
//! (`state.rs`). docs/kubernetes.md has the containerd configuration and
//! what each config.json field becomes.

pub mod cli;
pub mod console;
pub mod init;
pub mod lifecycle;
pub mod narrow;
pub mod policy;
pub mod seccomp;
pub mod spec;
pub mod state;

use std::io::Write;
use std::path::PathBuf;

/// Why a runtime command failed.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("config.json: {field}: {why}")]
    Refused { field: String, why: String },
    #[error("{0}")]
    Bundle(String),
    #[error("container id {0:?}: only letters, digits and ._-+:@ are allowed")]
    BadId(String),
    #[error("container {0} does not exist")]
    NoSuchContainer(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {id} is {status}: {why}")]
    WrongStatus {
        id: String,
        status: &'static str,
        why: &'static str,
    },
    #[error("state: {0}")]
    State(String),
    #[error("the container process: {0}")]
    Init(String),
    #[error("{0}: not supported by thinvisor")]
    Unsupported(&'static str),
    #[error("bad signal {0:?}")]
    BadSignal(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The runtime's entry: `args` without the program name. Returns the exit
/// status (0, or 1 with the error on stderr and in `--log`).
pub fn main<I: IntoIterator<Item = String>>(args: I) -> i32 {
    use clap::Parser;
    let cli =
        match cli::OciCli::try_parse_from(std::iter::once("thinvisor-oci".to_string()).chain(args))
        {
            Ok(c) => c,
            Err(e) => {
                let help = matches!(
                    e.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                );
                let _ = e.print();
                return if help { 0 } else { 1 };
            }
        };
    let log = Log {
        path: cli.log.clone(),
        json: cli.log_format == cli::LogFormat::Json,
    };
    match lifecycle::run(&cli) {
        Ok(()) => 0,
        Err(e) => {
            log.error(&e.to_string());
            1
        }
    }
}

/// Where errors go besides stderr: `--log FILE`, as text or as the JSON
/// lines the runc shim reads back (`{"level":"error","msg":...}`).
struct Log {
    path: Option<PathBuf>,
    json: bool,
}

impl Log {
    fn error(&self, msg: &str) {
        crate::say!("thinvisor-oci: {msg}");
        let Some(path) = &self.path else {
            return;
        };
        let line = if self.json {
            serde_json::json!({
                "level": "error",
                "msg": msg,
                "time": state::now_rfc3339(),
            })
            .to_string()
        } else {
            format!("error: {msg}")
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
