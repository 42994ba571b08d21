//! The runtime's command line, as runc's: the global flags the runc shim
//! passes, then one command.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// An OCI runtime: each container a thinvisor micro-VM.
#[derive(Debug, Parser)]
#[command(
    name = "thinvisor-oci",
    version,
    about = "An OCI runtime with runc's command line: each container a thinvisor micro-VM"
)]
pub struct OciCli {
    /// Where container state lives.
    #[arg(long, global = true, default_value = "/run/thinvisor-oci")]
    pub root: PathBuf,
    /// Also write errors to this file.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// How --log is written.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Accepted for the shim: no cgroup is made (the VM's limits are the
    /// policy's).
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for the shim: no debug output exists.
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: OciCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum OciCommand {
    /// Create a container from a bundle: its VM is built and the runner
    /// locked down, and it waits for `start`.
    Create {
        id: String,
        /// The bundle directory (config.json and usually the root).
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
        /// Write the container process's pid here.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// With `process.terminal`: where the terminal's master goes (a
        /// UNIX socket the caller listens on).
        #[arg(long)]
        console_socket: Option<PathBuf>,
        /// Accepted: no root is pivoted (the guest's root is the policy's).
        #[arg(long)]
        no_pivot: bool,
        /// Accepted: no keyring exists in the guest.
        #[arg(long)]
        no_new_keyring: bool,
        /// Descriptors beyond stdio to pass: refused unless 0.
        #[arg(long, default_value_t = 0)]
        preserve_fds: u32,
    },
    /// Start a created container's program.
    Start { id: String },
    /// Print a container's state as JSON.
    State { id: String },
    /// Send a signal (default SIGTERM) to a container's process.
    Kill {
        id: String,
        /// A name (TERM, SIGTERM) or a number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
        /// Every process of the container (they all live in its one
        /// runner process).
        #[arg(long, short)]
        all: bool,
    },
    /// Delete a stopped container's state (--force: stop it first).
    Delete {
        id: String,
        #[arg(long, short)]
        force: bool,
    },
    /// The container's host processes.
    Ps {
        id: String,
        #[arg(long, short, value_enum, default_value_t = PsFormat::Table)]
        format: PsFormat,
    },
    /// What this runtime supports, as JSON (runtime-spec features).
    Features,
    /// Not supported: running another process in a container.
    Exec {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// Not supported: pausing a container.
    Pause { id: String },
    /// Not supported: resuming a container.
    Resume { id: String },
    /// Not supported: changing a running container's resources.
    Update {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// Not supported: checkpointing a container.
    Checkpoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PsFormat {
    Table,
    Json,
}
