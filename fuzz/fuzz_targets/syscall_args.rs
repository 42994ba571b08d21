//! Syscall argument decoding: iovec arrays, mmap/mprotect flags, read/write lengths.
//! The target is runner::fuzz::targets::syscall_args (shared with `runner fuzz --target`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| runner::fuzz::targets::syscall_args(data));
