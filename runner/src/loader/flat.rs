//! The flat format: the file's bytes at 0x400000, entered at the first byte.
//! The image is mapped read-write-execute (the format has no sections to
//! tell code from data); see docs/abi.md.

use super::{Image, LoadError, Segment};
use crate::guest::layout::FLAT_LOAD_VA;
use crate::guest::page_table::Prot;
use thinvisor_kmod::PAGE_SIZE;

/// Builds the image of a flat binary.
pub fn load(path: &str, bytes: Vec<u8>) -> Result<Image, LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::Invalid {
            path: path.into(),
            reason: "empty file: a flat binary needs at least one instruction".into(),
        });
    }
    let size = bytes.len() as u64;
    let end = FLAT_LOAD_VA + size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
    Ok(Image {
        segments: vec![Segment {
            vaddr: FLAT_LOAD_VA,
            data: bytes,
            mem_size: size,
            prot: Prot::RWX,
        }],
        entry: FLAT_LOAD_VA,
        brk_start: end,
        auxv: Vec::new(),
        interp: None,
        interpreter: None,
    })
}

/// The image of a few bytes of trusted built-in code (the runner's probe and
/// calibration guests): read+execute at the flat load address.
pub fn built_in(code: Vec<u8>) -> Image {
    let size = code.len() as u64;
    Image {
        segments: vec![Segment {
            vaddr: FLAT_LOAD_VA,
            data: code,
            mem_size: size,
            prot: Prot::RX,
        }],
        entry: FLAT_LOAD_VA,
        brk_start: FLAT_LOAD_VA + size.div_ceil(PAGE_SIZE).max(1) * PAGE_SIZE,
        auxv: Vec::new(),
        interp: None,
        interpreter: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_refused_and_brk_follows_the_image() {
        assert!(load("x", Vec::new()).is_err());
        let img = load("x", vec![0x90; 5000]).expect("image");
        assert_eq!(img.entry, 0x40_0000);
        assert_eq!(img.brk_start, 0x40_2000);
    }
}
