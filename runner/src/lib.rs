//! The runner as a library: the modules behind the `runner` binary
//! (`src/main.rs` is only its command line). They are public so that the
//! in-process fuzzer (`fuzz`), the cargo-fuzz targets in `fuzz/` and tests
//! can drive the loader, the tunnel and the syscall decoders directly.

#![forbid(unsafe_code)]

pub mod abi;
pub mod audit;
pub mod cli;
pub mod exit_status;
pub mod fuzz;
pub mod guest;
pub mod host;
pub mod info;
pub mod kernel;
pub mod layers;
pub mod learn;
pub mod loader;
pub mod lockdown;
pub mod monitor;
pub mod oci;
pub mod ring;
pub mod run;
pub mod say;
pub mod serve;
pub mod syscalls;
pub mod trace;
pub mod tunnel;
pub mod vfs;
