//! Sites whose `syscall` moves into ring code with the instructions after
//! it: those where no `mov $nr,%eax` comes right before (sites.rs patches
//! those in place). glibc's `read` is `xor %eax,%eax; syscall; cmp
//! $-4096,%rax`; most of glibc's and Go's wrappers follow `syscall` with
//! such a `cmp`. The `syscall` and whole instructions after it, five bytes
//! or more, become `jmp entry` (and `int3` filling); the entry (stub.rs,
//! [`super::stub::moved_entry_bytes`]) makes the call through the ring and
//! runs the moved instructions, then jumps back to the first byte after
//! them.
//!
//! Two things make that safe, and both are checked here before a site is
//! taken:
//! - Only instructions that mean the same at any address move: no memory
//!   operand (so nothing RIP-relative and nothing that can fault), no stack
//!   use, no call; conditional and plain near jumps are re-encoded for
//!   their new place; `ret` ends the span.
//! - No direct jump lands inside the span: compilers do jump to the `cmp`
//!   after a `syscall` (glibc has a dozen such sites), and that jump would
//!   land in the middle of the new `jmp`. The code around the site is
//!   decoded from several starting points until the decoding falls on the
//!   site itself (x86 code realigns within a few instructions), and every
//!   near branch in it is looked at. An indirect jump (a switch table) into
//!   the span cannot be seen; docs/architecture.md says so.

use iced_x86::{Decoder, DecoderOptions, FlowControl, Instruction, OpKind};

/// The most bytes a span takes (the `syscall` and what moves with it).
pub const MAX_SPAN: u64 = 16;
/// A `jmp rel32`: what the span must hold.
const JUMP_LEN: u64 = 5;
/// How far around a site the decoding looks for jumps into its span.
pub const LOOK_AROUND: u64 = 8192;
/// How many starting points the decoding tries before it gives up.
const SYNC_TRIES: usize = 16;

/// One instruction that moves with the `syscall`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Moving {
    /// Copied as it is.
    Plain(Vec<u8>),
    /// `jcc` with condition `cc` (0-15) to `target`.
    Jcc { cc: u8, target: u64 },
    /// `jmp target`.
    Jmp { target: u64 },
    /// `ret`.
    Ret,
}

/// A site's span: `[site, site + len)`, the `syscall` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub site: u64,
    pub len: u64,
    /// The instructions after the `syscall`, with their offsets from
    /// `site`.
    moving: Vec<(u64, Moving)>,
}

/// The moved instructions encoded for their place in an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub bytes: Vec<u8>,
    /// (offset in the body, offset from the site) of every instruction
    /// start, the jump back last when there is one (its original offset
    /// is the span's end).
    pub starts: Vec<(u64, u64)>,
}

/// Has the decoder build its tables now: its first use builds them (about
/// 0.4 ms on the development machine), which would otherwise land on the
/// first moved site's trap. The runner calls this on a thread of its own
/// while it builds the VM of a run that will use the ring, and a served
/// worker before it takes a connection.
pub fn warm_up() {
    let mut decoder = Decoder::with_ip(64, &[0x0f, 0x05], 0, DecoderOptions::NONE);
    let _ = decoder.decode();
    WARM.store(true, std::sync::atomic::Ordering::Release);
}

/// Whether [`warm_up`] has run in this process.
pub fn is_warm() -> bool {
    WARM.load(std::sync::atomic::Ordering::Acquire)
}

static WARM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The span of the `syscall` at `site`, given the bytes from `site` on
/// (as many as are readable, up to [`MAX_SPAN`] or more). None when they
/// are not a `syscall` followed by instructions that can move.
pub fn span_at(code: &[u8], site: u64) -> Option<Span> {
    if code.get(..2) != Some(&[0x0f, 0x05][..]) {
        return None;
    }
    let rest = code.get(2..)?;
    let mut decoder = Decoder::with_ip(64, rest, site + 2, DecoderOptions::NONE);
    let mut ins = Instruction::default();
    let mut moving = Vec::new();
    let mut end = site + 2;
    while end - site < JUMP_LEN {
        if !decoder.can_decode() {
            return None;
        }
        decoder.decode_out(&mut ins);
        if ins.is_invalid() {
            return None;
        }
        let off = ins.ip() - site;
        let from = (off - 2) as usize;
        let bytes = rest.get(from..from + ins.len())?;
        let (m, ends) = classify(&ins, bytes)?;
        end = ins.next_ip();
        moving.push((off, m));
        if ends {
            break;
        }
    }
    let len = end - site;
    if !(JUMP_LEN..=MAX_SPAN).contains(&len) {
        return None;
    }
    // A moved jump back into the span would land in the new `jmp`.
    let inside = |t: u64| t > site && t < end;
    let into_span = moving.iter().any(|(_, m)| match *m {
        Moving::Jcc { target, .. } | Moving::Jmp { target } => inside(target),
        _ => false,
    });
    (!into_span).then_some(Span { site, len, moving })
}

/// What `ins` (its bytes `bytes`) becomes when it moves, and whether the
/// span ends after it (nothing falls through). None: it cannot move.
fn classify(ins: &Instruction, bytes: &[u8]) -> Option<(Moving, bool)> {
    match ins.flow_control() {
        FlowControl::Next => {
            let plain = (0..ins.op_count()).all(|i| {
                matches!(ins.op_kind(i), OpKind::Register) || is_immediate(ins.op_kind(i))
            });
            (plain && ins.stack_pointer_increment() == 0)
                .then(|| (Moving::Plain(bytes.to_vec()), false))
        }
        FlowControl::ConditionalBranch if ins.is_jcc_short_or_near() => {
            // The condition is in the opcode: 7x (short) or 0f 8x (near),
            // with no prefix before it.
            let cc = match bytes {
                [b, _] if (0x70..=0x7f).contains(b) => b - 0x70,
                [0x0f, b, _, _, _, _] if (0x80..=0x8f).contains(b) => b - 0x80,
                _ => return None,
            };
            Some((
                Moving::Jcc {
                    cc,
                    target: ins.near_branch_target(),
                },
                false,
            ))
        }
        FlowControl::UnconditionalBranch if ins.is_jmp_short_or_near() => Some((
            Moving::Jmp {
                target: ins.near_branch_target(),
            },
            true,
        )),
        FlowControl::Return if bytes == [0xc3] => Some((Moving::Ret, true)),
        _ => None,
    }
}

fn is_immediate(k: OpKind) -> bool {
    matches!(
        k,
        OpKind::Immediate8
            | OpKind::Immediate8_2nd
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate64
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32to64
    )
}

/// `span`'s instructions encoded to run at `at`, followed by a jump back
/// to the span's end unless the last one never falls through. None when
/// a displacement does not fit in 32 bits.
pub fn encode(span: &Span, at: u64) -> Option<Body> {
    let mut bytes: Vec<u8> = Vec::new();
    let mut starts = Vec::new();
    let rel = |from: u64, to: u64| i32::try_from(to.wrapping_sub(from) as i64).ok();
    let mut falls_through = true;
    for (off, m) in &span.moving {
        starts.push((bytes.len() as u64, *off));
        let here = at + bytes.len() as u64;
        match m {
            Moving::Plain(b) => bytes.extend_from_slice(b),
            Moving::Jcc { cc, target } => {
                bytes.extend_from_slice(&[0x0f, 0x80 + cc]);
                bytes.extend_from_slice(&rel(here + 6, *target)?.to_le_bytes());
            }
            Moving::Jmp { target } => {
                bytes.push(0xe9);
                bytes.extend_from_slice(&rel(here + 5, *target)?.to_le_bytes());
                falls_through = false;
            }
            Moving::Ret => {
                bytes.push(0xc3);
                falls_through = false;
            }
        }
    }
    if falls_through {
        starts.push((bytes.len() as u64, span.len));
        let here = at + bytes.len() as u64;
        bytes.push(0xe9);
        bytes.extend_from_slice(&rel(here + 5, span.site + span.len)?.to_le_bytes());
    }
    Some(Body { bytes, starts })
}

/// Whether any near branch in `code` (the program's bytes from `code_va`)
/// lands strictly inside `span`, or the decoding never fell on the site
/// (then nothing can be said: the site is not taken).
pub fn jumped_into(code: &[u8], code_va: u64, span: &Span) -> bool {
    let (site, end) = (span.site, span.site + span.len);
    let Some(site_off) = site.checked_sub(code_va) else {
        return true;
    };
    for start in 0..SYNC_TRIES.min(code.len()) {
        let mut decoder = Decoder::with_ip(
            64,
            &code[start..],
            code_va + start as u64,
            DecoderOptions::NONE,
        );
        let mut ins = Instruction::default();
        let (mut fell_on_site, mut hit) = (site_off == start as u64, false);
        while decoder.can_decode() {
            decoder.decode_out(&mut ins);
            if ins.ip() == site {
                fell_on_site = true;
            } else if ins.ip() < site && ins.next_ip() > site {
                // Out of step with the program's instructions: try the
                // next starting point.
                break;
            }
            let near = matches!(
                ins.op0_kind(),
                OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
            );
            if near {
                let t = ins.near_branch_target();
                hit |= t > site && t < end;
            }
        }
        if fell_on_site {
            return hit;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc 2.41's `read`, single-threaded path (busybox-static).
    const READ: &[u8] = &[
        0x0f, 0x05, // syscall
        0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff, // cmp $-4096,%rax
        0x77, 0x5b, // ja +0x5b
        0xc3, // ret
    ];

    #[test]
    fn glibc_read_moves_its_cmp() {
        let span = span_at(READ, 0x1000).expect("a span");
        assert_eq!(span.len, 8);
        let body = encode(&span, 0x9000).expect("encodes");
        // cmp as it was, then jmp back to 0x1008
        assert_eq!(&body.bytes[..6], &READ[2..8]);
        assert_eq!(body.bytes[6], 0xe9);
        let rel = i32::from_le_bytes(body.bytes[7..11].try_into().unwrap());
        assert_eq!(0x9000 + 11 + rel as i64, 0x1008);
        assert_eq!(body.starts, vec![(0, 2), (6, 8)]);
    }

    #[test]
    fn short_jumps_are_re_encoded_for_their_new_place() {
        // syscall; test %eax,%eax; jne +0x10; ...
        let code = [0x0f, 0x05, 0x85, 0xc0, 0x75, 0x10, 0x90];
        let span = span_at(&code, 0x2000).expect("a span");
        assert_eq!(span.len, 6);
        let body = encode(&span, 0x5000).expect("encodes");
        assert_eq!(&body.bytes[..2], &[0x85, 0xc0]);
        assert_eq!(&body.bytes[2..4], &[0x0f, 0x85]);
        let rel = i32::from_le_bytes(body.bytes[4..8].try_into().unwrap());
        // jne's target: 0x2006 + 0x10
        assert_eq!(0x5000 + 8 + rel as i64, 0x2016);
        assert_eq!(body.starts, vec![(0, 2), (2, 4), (8, 6)]);
    }

    #[test]
    fn what_cannot_move_is_refused() {
        // syscall; ret (3 bytes, then whatever follows another function)
        assert_eq!(span_at(&[0x0f, 0x05, 0xc3, 0x90, 0x90], 0), None);
        // syscall; mov 0x10(%rip),%rcx (RIP-relative)
        assert_eq!(
            span_at(&[0x0f, 0x05, 0x48, 0x8b, 0x0d, 0x10, 0, 0, 0], 0),
            None
        );
        // syscall; push %rax; push %rbx; push %rcx (the stack)
        assert_eq!(span_at(&[0x0f, 0x05, 0x50, 0x53, 0x51], 0), None);
        // syscall; call rel32
        assert_eq!(span_at(&[0x0f, 0x05, 0xe8, 0, 0, 0, 0], 0), None);
        // syscall; mov %rax,(%rbx); (memory: may fault)
        assert_eq!(
            span_at(&[0x0f, 0x05, 0x48, 0x89, 0x03, 0x90, 0x90], 0),
            None
        );
        // not a syscall
        assert_eq!(span_at(&[0x90, 0x90, 0x90, 0x90, 0x90], 0), None);
        // syscall; jmp back into its own span
        assert_eq!(span_at(&[0x0f, 0x05, 0x90, 0xeb, 0xfc], 0x100), None);
    }

    #[test]
    fn a_jump_into_the_span_keeps_the_site_unpatched() {
        // 0x00: nop x 8; jmp 0x12 (the cmp after the syscall); nop x 6;
        // 0x10: syscall; cmp $-4096,%rax; ret
        let mut code = vec![0x90; 8];
        code.extend_from_slice(&[0xeb, 0x08]);
        code.extend_from_slice(&[0x90; 6]);
        code.extend_from_slice(READ);
        let span = span_at(&code[0x10..], 0x4010).expect("a span");
        assert!(jumped_into(&code, 0x4000, &span));
        // The same jump to the syscall itself is fine (it jumps to the
        // new `jmp`).
        code[9] = 0x06;
        assert!(!jumped_into(&code, 0x4000, &span));
    }

    #[test]
    fn the_decoding_realigns_before_it_looks() {
        // From 0x4000, `48 b8` is a ten-byte movabs that swallows the
        // syscall at 0x4008: out of step. From 0x4001, `b8 90 90 90 90`,
        // two nops, and the site.
        let mut code = vec![0x48, 0xb8, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90];
        code.extend_from_slice(READ);
        code.extend_from_slice(&[0x90; 4]);
        let span = span_at(&code[8..], 0x4008).expect("a span");
        assert!(!jumped_into(&code, 0x4000, &span));
        // A jump into the span seen only out of step does not count: at
        // 0x4002 `eb 06` would jump to 0x400a.
        code[2] = 0xeb;
        code[3] = 0x06;
        // From 0x4001 that is now `b8 eb 06 90 90`: still in step.
        assert!(!jumped_into(&code, 0x4000, &span));
        // A decoding that never falls on the site says nothing: refused.
        assert!(jumped_into(&code[..4], 0x4000, &span));
    }
}
