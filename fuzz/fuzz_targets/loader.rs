//! The program loader (flat and static ELF) and laying the image out in a guest.
//! The target is runner::fuzz::targets::loader (shared with `runner fuzz --target`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| runner::fuzz::targets::loader(data));
