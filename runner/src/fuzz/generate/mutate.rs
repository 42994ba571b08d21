//! Mutations of the corpus (samples and hostile programs): bit and byte
//! changes, immediates replaced by interesting values, generated
//! instruction blocks spliced in at instruction boundaries, instructions
//! deleted or duplicated, and crossovers of two programs.

use super::super::rng::Rng;
use super::corpus::{self, Seed};
use super::instructions;
use super::values::{self, Layout};
use crate::guest::layout::FLAT_LOAD_VA;
use iced_x86::{Decoder, DecoderOptions};

/// Largest mutated program.
const MAX_LEN: usize = 64 << 10;

/// An instruction the decoder found: where it is, and its immediate.
#[derive(Debug, Clone, Copy)]
struct Insn {
    start: usize,
    len: usize,
    imm: Option<(usize, usize)>,
}

fn decode(code: &[u8]) -> Vec<Insn> {
    let mut d = Decoder::with_ip(64, code, FLAT_LOAD_VA, DecoderOptions::NONE);
    let mut out = Vec::new();
    while d.can_decode() {
        let start = d.position();
        let insn = d.decode();
        let offsets = d.get_constant_offsets(&insn);
        let imm = offsets
            .has_immediate()
            .then(|| (start + offsets.immediate_offset(), offsets.immediate_size()));
        out.push(Insn {
            start,
            len: insn.len(),
            imm,
        });
    }
    out
}

/// A mutated corpus program, its arguments and a description.
pub fn program(rng: &mut Rng, memory_limit: u64) -> (Vec<u8>, Vec<String>, String) {
    let seeds = corpus::seeds();
    let Some(&seed) = rng.pick(&seeds) else {
        return (vec![0x0f, 0x0b], Vec::new(), "empty corpus".into());
    };
    let mut code = seed.bytes.to_vec();
    let rounds = rng.range(1, 6);
    let mut done = Vec::new();
    for _ in 0..rounds {
        done.push(mutate_once(rng, &mut code, &seeds, memory_limit));
        code.truncate(MAX_LEN);
        if code.is_empty() {
            code.push(0x90);
        }
    }
    let args = corpus::args_for(rng, seed.name);
    (
        code,
        args,
        format!("mutation of {} ({})", seed.name, done.join(", ")),
    )
}

fn mutate_once(
    rng: &mut Rng,
    code: &mut Vec<u8>,
    seeds: &[Seed],
    memory_limit: u64,
) -> &'static str {
    let l = Layout::for_flat(code.len() as u64, memory_limit);
    let insns = decode(code);
    let at = rng.below(code.len() as u64) as usize;
    let boundary = |rng: &mut Rng| rng.pick(&insns).map_or(0, |i| i.start);
    match rng.below(9) {
        0 => {
            if let Some(b) = code.get_mut(at) {
                *b ^= 1 << rng.below(8);
            }
            "bit flip"
        }
        1 => {
            if let Some(b) = code.get_mut(at) {
                *b = rng.below(256) as u8;
            }
            "random byte"
        }
        2 => {
            if let Some(b) = code.get_mut(at) {
                *b = *rng
                    .pick(&[
                        0x00, 0xff, 0x0f, 0xcc, 0xc3, 0x90, 0xe6, 0xee, 0xfa, 0xf4, 0xcd, 0x05,
                    ])
                    .unwrap_or(&0);
            }
            "interesting byte"
        }
        3 => {
            let with_imm: Vec<&Insn> = insns.iter().filter(|i| i.imm.is_some()).collect();
            if let Some((off, size)) = rng.pick(&with_imm).and_then(|i| i.imm) {
                let v = values::any(rng, &l).to_le_bytes();
                for (i, b) in v.iter().take(size).enumerate() {
                    if let Some(slot) = code.get_mut(off + i) {
                        *slot = *b;
                    }
                }
            }
            "immediate"
        }
        4 => {
            let snippet = instructions::snippet(rng, memory_limit);
            let pos = boundary(rng).min(code.len());
            code.splice(pos..pos, snippet);
            "inserted block"
        }
        5 => {
            if let Some(i) = rng.pick(&insns) {
                let end = (i.start + i.len).min(code.len());
                code.drain(i.start..end);
            }
            "deleted instruction"
        }
        6 => {
            if let Some(i) = rng.pick(&insns) {
                let end = (i.start + i.len).min(code.len());
                let copy = code[i.start..end].to_vec();
                code.splice(i.start..i.start, copy);
            }
            "duplicated instruction"
        }
        7 => {
            if let Some(other) = rng.pick(seeds) {
                let from = rng.below(other.bytes.len() as u64) as usize;
                let pos = boundary(rng).min(code.len());
                code.truncate(pos);
                code.extend_from_slice(&other.bytes[from..]);
            }
            "crossover"
        }
        _ => {
            let v = values::any(rng, &l).to_le_bytes();
            let width = if rng.chance(50) { 4 } else { 8 };
            for (i, b) in v.iter().take(width).enumerate() {
                if let Some(slot) = code.get_mut(at + i) {
                    *slot = *b;
                }
            }
            "overwritten word"
        }
    }
}
