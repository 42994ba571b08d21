//! Program generators. Program `index` of a campaign is a pure function of
//! (seed, index, memory limit, mix): random bytes, a random instruction
//! sequence, a mutation of a sample or hostile program, or a concurrency
//! program (threads, futexes, signals).

pub mod bytes;
pub mod concurrency;
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

impl Program {
    /// FNV-1a of the bytes: what decides how the program's syscalls reach
    /// the runner, so that a saved program reproduces with the same choice.
    fn hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in &self.bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }

    /// Whether it runs with the syscall ring: half of the programs (the
    /// hash's low bit).
    pub fn uses_ring(&self) -> bool {
        self.hash() & 1 == 1
    }

    /// When a ring program's threads take the ring: half of them from
    /// the first instruction (`--syscalls ring`), half once a site traps
    /// a second time (`--syscalls auto` where it takes the ring), so that
    /// a vCPU moving to its run thread in the middle of a run, between
    /// signals, forks and threads, is fuzzed too (the hash's second bit).
    pub fn ring_start(&self) -> crate::ring::RingStart {
        if self.hash() & 2 == 2 {
            crate::ring::RingStart::OnReuse
        } else {
            crate::ring::RingStart::AtOnce
        }
    }

    /// `runner exec --syscalls` for this program.
    pub fn syscalls_flag(&self) -> &'static str {
        match (self.uses_ring(), self.ring_start()) {
            (false, _) => "exit",
            (true, crate::ring::RingStart::AtOnce) => "ring",
            (true, crate::ring::RingStart::OnReuse) => "auto",
        }
    }
}

/// A generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bytes,
    Instructions,
    Mutations,
    Concurrency,
}

/// Which generators a campaign draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mix {
    /// All: concurrency programs at `CONCURRENCY_PERCENT`, the others by
    /// `WEIGHTS`.
    #[default]
    All,
    /// One generator only.
    Only(Kind),
}

/// Generator weights: random bytes, instruction sequences, mutations.
const WEIGHTS: [u64; 3] = [15, 50, 35];
/// The share of concurrency programs in the full mix. Whether program
/// `index` is one is drawn from a stream of its own, so that the other
/// generators' programs stay what they were at every other index.
const CONCURRENCY_PERCENT: u64 = 20;
const CONCURRENCY_STREAM: u64 = 0xc0c0_7e4d_5eed_0001;

/// Program `index` of the campaign with `seed`.
pub fn program(seed: u64, index: u64, memory_limit: u64, mix: Mix) -> Program {
    let mut rng = Rng::for_program(seed, index);
    let kind = match mix {
        Mix::Only(kind) => kind,
        Mix::All
            if Rng::for_program(seed ^ CONCURRENCY_STREAM, index).chance(CONCURRENCY_PERCENT) =>
        {
            Kind::Concurrency
        }
        Mix::All => match rng.weighted(&WEIGHTS) {
            0 => Kind::Bytes,
            1 => Kind::Instructions,
            _ => Kind::Mutations,
        },
    };
    match kind {
        Kind::Bytes => Program {
            bytes: bytes::program(&mut rng),
            args: Vec::new(),
            origin: "random bytes".into(),
        },
        Kind::Instructions => Program {
            bytes: instructions::program(&mut rng, memory_limit),
            args: Vec::new(),
            origin: "random instructions".into(),
        },
        Kind::Concurrency => Program {
            bytes: concurrency::program(&mut rng, memory_limit),
            args: Vec::new(),
            origin: "concurrency".into(),
        },
        Kind::Mutations => {
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
            let a = program(42, i, 4 << 20, Mix::All);
            assert_eq!(a, program(42, i, 4 << 20, Mix::All), "program {i}");
            assert!(!a.bytes.is_empty(), "program {i} is empty");
        }
        let differ = (0..50)
            .filter(|&i| program(1, i, 4 << 20, Mix::All) != program(2, i, 4 << 20, Mix::All));
        assert!(differ.count() > 45);
    }

    #[test]
    fn every_generator_is_used() {
        let origins: Vec<String> = (0..300)
            .map(|i| program(7, i, 4 << 20, Mix::All).origin)
            .collect();
        for kind in [
            "random bytes",
            "random instructions",
            "mutation of",
            "concurrency",
        ] {
            assert!(origins.iter().any(|o| o.starts_with(kind)), "{kind}");
        }
        let only = program(7, 3, 4 << 20, Mix::Only(Kind::Concurrency));
        assert_eq!(only.origin, "concurrency");
    }

    #[test]
    fn the_concurrency_share_leaves_the_other_programs_as_they_were() {
        // Where the full mix does not draw a concurrency program, it draws
        // what it drew before that generator existed.
        let mut concurrency = 0;
        for i in 0..500 {
            let p = program(9, i, 4 << 20, Mix::All);
            if p.origin == "concurrency" {
                concurrency += 1;
                continue;
            }
            let mut rng = Rng::for_program(9, i);
            let kind = rng.weighted(&WEIGHTS);
            let expected = ["random bytes", "random instructions", "mutation of"][kind];
            assert!(p.origin.starts_with(expected), "{i}: {}", p.origin);
        }
        assert!((50..150).contains(&concurrency), "{concurrency}");
    }
}
