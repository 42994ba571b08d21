//! Pure random bytes as a program: uniform, or drawn from bytes that start
//! or prefix x86 instructions (so that more of them decode to something),
//! with SYSCALL and port I/O opcodes sprinkled in.

use super::super::rng::Rng;

/// Opcode and prefix bytes common in real code, and the interesting ones.
const OPCODE_BYTES: &[u8] = &[
    0x0f, 0x48, 0x49, 0x4c, 0x66, 0xf3, 0xf2, 0xf0, 0x89, 0x8b, 0x8d, 0x31, 0x01, 0x29, 0x39, 0x83,
    0x81, 0xc7, 0xb8, 0xbf, 0xe8, 0xe9, 0xeb, 0x74, 0x75, 0xff, 0xc3, 0xcc, 0xcd, 0xe4, 0xe6, 0xec,
    0xee, 0xfa, 0xfb, 0xf4, 0x9c, 0x9d, 0xcf, 0x50, 0x58, 0x90, 0xa4, 0xaa, 0xc4, 0xc5, 0x62, 0x00,
];

/// Random bytes: 1..1024 of them.
pub fn program(rng: &mut Rng) -> Vec<u8> {
    let len = rng.range(1, 1024) as usize;
    let mut code = vec![0u8; len];
    if rng.chance(50) {
        rng.fill(&mut code);
    } else {
        for b in code.iter_mut() {
            *b = *rng.pick(OPCODE_BYTES).unwrap_or(&0x90);
        }
    }
    for _ in 0..rng.below(4) {
        let at = rng.below(len as u64) as usize;
        let insn: &[u8] = match rng.below(3) {
            0 => &[0x0f, 0x05], // syscall
            1 => &[0xe6, 0x80], // out 0x80, al
            _ => &[0xe6, 0x0e], // out 0x0e, al
        };
        for (i, b) in insn.iter().enumerate() {
            if let Some(slot) = code.get_mut(at + i) {
                *slot = *b;
            }
        }
    }
    code
}
