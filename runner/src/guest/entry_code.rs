//! The trusted entry code (asm/entry.S), assembled by build.rs, and the
//! addresses of its labels.

#[allow(dead_code)]
mod symbols {
    include!(concat!(env!("OUT_DIR"), "/entry_symbols.rs"));
}
pub use symbols::*;

// build.rs links the entry code at its own copy of the address; they agree.
const _: () = assert!(super::layout::ENTRY_CODE_VA == ENTRY_START);

/// Bytes of the stubs' `out imm8, al`.
pub const OUT_LEN: u64 = 2;

/// Whether a vCPU stopped at `rip` is at the exit of the stub whose `out`
/// ends at `after_out`: past the `out` (kvm_pvm), or, when its last exit
/// was that `out` (`on_out`), on it: hardware KVM reports an I/O exit at
/// the instruction and skips it on the next KVM_RUN unless the runner has
/// moved RIP meanwhile. A vCPU interrupted on an `out` it has not run yet
/// (`on_out` false) is not at the stub's exit: its frame is not final.
pub fn at_out(rip: u64, after_out: u64, on_out: bool) -> bool {
    rip == after_out || (on_out && rip == after_out.wrapping_sub(OUT_LEN))
}

/// Whether `rip` is at the exit of any exception stub (see [`at_out`]).
pub fn at_vector_out(rip: u64, on_out: bool) -> bool {
    VECTOR_AFTER_OUT.iter().any(|&a| at_out(rip, a, on_out))
}

/// The code pages followed by the data page, as one image to copy at
/// `layout::ENTRY_CODE_PA`.
pub const IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/entry.bin"));
