//! The policy parser: sandbox_policy::Policy::from_str_named, and the effective policy reading back equal.
//! The target is runner::fuzz::targets::policy (shared with `runner fuzz --target`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| runner::fuzz::targets::policy(data));
