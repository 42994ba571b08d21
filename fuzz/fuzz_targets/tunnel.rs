//! The secure tunnel over a synthetic guest address space, against a model of it.
//! The target is runner::fuzz::targets::tunnel (shared with `runner fuzz --target`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| runner::fuzz::targets::tunnel(data));
