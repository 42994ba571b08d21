//! The programs the mutator starts from: every sample guest (embedded by the
//! samples crate), including the hostile ones, with arguments that keep
//! them short.

use super::super::rng::Rng;

/// One corpus program.
#[derive(Debug, Clone, Copy)]
pub struct Seed {
    pub name: &'static str,
    pub bytes: &'static [u8],
}

/// Samples that never end by themselves (only a time limit stops them):
/// mutating them mostly yields more of the same, at 200 ms a run.
const SKIPPED: &[&str] = &["spin"];

/// The corpus, in sample order.
pub fn seeds() -> Vec<Seed> {
    samples::IMAGES
        .iter()
        .filter(|(n, _)| !SKIPPED.contains(n))
        .map(|&(name, bytes)| Seed { name, bytes })
        .collect()
}

/// Arguments for a run of (a mutation of) sample `name`: a case number for
/// the hostile samples, small counts for the looping ones.
pub fn args_for(rng: &mut Rng, name: &str) -> Vec<String> {
    if name.starts_with("hostile_") {
        return vec![rng.below(26).to_string()];
    }
    match name {
        "compute" => vec![rng.below(100_000).to_string()],
        "syscall_loop" => vec![rng.below(200).to_string()],
        "echo" => (0..rng.below(4)).map(|i| "x".repeat(i as usize)).collect(),
        _ => Vec::new(),
    }
}
