//! The trusted entry code (asm/entry.S), assembled by build.rs, and the
//! addresses of its labels.

#[allow(dead_code)]
mod symbols {
    include!(concat!(env!("OUT_DIR"), "/entry_symbols.rs"));
}
pub use symbols::*;

// build.rs links the entry code at its own copy of the address; they agree.
const _: () = assert!(super::layout::ENTRY_CODE_VA == ENTRY_START);

/// The code pages followed by the data page, as one image to copy at
/// `layout::ENTRY_CODE_PA`.
pub const IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/entry.bin"));
