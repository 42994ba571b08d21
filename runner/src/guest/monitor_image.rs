//! The in-VM monitor's image (asm/monitor.S), assembled by build.rs: the
//! gate page, the code and the initial data, and the addresses of their
//! symbols. See docs/monitor.md.

#[allow(dead_code)]
mod symbols {
    include!(concat!(env!("OUT_DIR"), "/monitor_symbols.rs"));
}
pub use symbols::*;

/// The gate page (entry and exit gates), at `layout::GATE_PA`.
pub const GATE_IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/monitor_gate.bin"));
/// The monitor's code, at `layout::MONITOR_CODE_PA`.
pub const CODE_IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/monitor_code.bin"));
/// The monitor's initial data, at `layout::MONITOR_DATA_PA`.
pub const DATA_IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/monitor_data.bin"));
