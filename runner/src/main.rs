//! `runner`: the command-line entry point.

#![forbid(unsafe_code)]

use clap::Parser;
use runner::{cli, exit_status, fuzz, info, run, serve};

fn main() {
    runner::say::install_panic_hook();
    // Run as `thinvisor-oci` (a link to this binary), it is the OCI
    // runtime, with runc's command line.
    let invoked_as = std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    if invoked_as.as_deref() == Some("thinvisor-oci") {
        std::process::exit(runner::oci::main(
            std::env::args_os()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned()),
        ));
    }
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let help = matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            );
            let _ = e.print();
            std::process::exit(if help { 0 } else { exit_status::RUNNER_FAILED });
        }
    };
    let status = match cli.command {
        cli::Command::Exec { server, opts } => match server {
            Some(socket) => serve::client::exec_via(&socket, opts),
            None => run::exec(opts, None),
        },
        cli::Command::Check { policy } => match sandbox_policy::Policy::from_file(&policy) {
            Ok(p) => {
                runner::say::out(&p.to_effective_toml());
                0
            }
            Err(e) => {
                runner::say!("runner: {e}");
                exit_status::RUNNER_FAILED
            }
        },
        cli::Command::Info => info::info(),
        cli::Command::Learn(args) => runner::learn::main(args),
        cli::Command::SelftestLockdown {
            policy,
            probe,
            target,
        } => run::selftest::selftest(policy, probe, target),
        cli::Command::Fuzz(opts) => fuzz::main(opts),
        cli::Command::Serve {
            socket,
            workers,
            memory,
            policy,
        } => serve::serve(&socket, workers, memory, policy.as_deref()),
        cli::Command::InstallClient { path } => serve::small_client::main(path.as_deref()),
        cli::Command::Oci { args } => runner::oci::main(args),
        cli::Command::OciInit { dir } => runner::oci::init::init(&dir),
        cli::Command::RemoveWhenClosed { dirs } => run::private_trees::remove_when_closed(&dirs),
        cli::Command::ServeWorker {
            memory_bytes,
            server_pid,
            policy,
        } => serve::worker::worker(memory_bytes, server_pid, policy.as_deref()),
    };
    std::process::exit(status);
}
