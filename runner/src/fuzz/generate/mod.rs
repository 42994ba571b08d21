//! Program generators. Program `index` of a campaign is a pure function of
//! (seed, index, memory limit): random bytes, a random instruction sequence,
//! or a mutation of a sample or hostile program.

pub mod bytes;
pub mod corpus;
pub mod instructions;
pub mod mutate;
pub mod values;

use super::rng::Rng;

/// One generated guest program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The flat binary.
    pub bytes: Vec<u8>,
    /// argv[1..] (argv[0] is the program's path).
    pub args: Vec<String>,
    /// Which generator made it, for reports.
    pub origin: String,
}

/// Generator weights: random bytes, instruction sequences, mutations.
const WEIGHTS: [u64; 3] = [15, 50, 35];

/// Program `index` of the campaign with `seed`.
pub fn program(seed: u64, index: u64, memory_limit: u64) -> Program {
    let mut rng = Rng::for_program(seed, index);
    match rng.weighted(&WEIGHTS) {
        0 => Program {
            bytes: bytes::program(&mut rng),
            args: Vec::new(),
            origin: "random bytes".into(),
        },
        1 => Program {
            bytes: instructions::program(&mut rng, memory_limit),
            args: Vec::new(),
            origin: "random instructions".into(),
        },
        _ => {
            let (bytes, args, origin) = mutate::program(&mut rng, memory_limit);
            Program {
                bytes,
                args,
                origin,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_programs() {
        for i in 0..200 {
            let a = program(42, i, 4 << 20);
            assert_eq!(a, program(42, i, 4 << 20), "program {i}");
            assert!(!a.bytes.is_empty(), "program {i} is empty");
        }
        let differ = (0..50).filter(|&i| program(1, i, 4 << 20) != program(2, i, 4 << 20));
        assert!(differ.count() > 45);
    }

    #[test]
    fn every_generator_is_used() {
        let origins: Vec<String> = (0..300).map(|i| program(7, i, 4 << 20).origin).collect();
        for kind in ["random bytes", "random instructions", "mutation of"] {
            assert!(origins.iter().any(|o| o.starts_with(kind)), "{kind}");
        }
    }
}
