//! Blocks of the ordinary instructions any program runs at CPL3: memory
//! accesses, string, stack and jump instructions, SSE/AVX/x87 state, and
//! arithmetic (division by zero included).

use super::{gpr, scratch};
use crate::fuzz::generate::values::{self, Layout};
use crate::fuzz::rng::Rng;
use iced_x86::code_asm::*;

pub(super) fn memory(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
    let r = scratch(rng);
    if rng.chance(25) {
        a.mov(r, rax)?; // a pointer a syscall returned
    } else {
        a.mov(r, values::access_pointer(rng, l))?;
    }
    let v = gpr(rng);
    match rng.below(10) {
        0 => a.mov(qword_ptr(r), v),
        1 => a.mov(v, qword_ptr(r)),
        2 => a.add(dword_ptr(r), 1),
        3 => a.lock().add(qword_ptr(r), v),
        4 => a.movnti(qword_ptr(r), v),
        5 => a.clflush(byte_ptr(r)),
        6 => a.prefetchnta(byte_ptr(r)),
        7 => a.cmpxchg16b(xmmword_ptr(r)),
        8 => a.xchg(qword_ptr(r), v),
        _ => a.mov(byte_ptr(r + (rng.below(4096) as i32)), v.into_r8()),
    }
}

/// Turns a 64-bit register into its low byte (for byte stores).
trait LowByte {
    fn into_r8(self) -> AsmRegister8;
}

impl LowByte for AsmRegister64 {
    fn into_r8(self) -> AsmRegister8 {
        const PAIRS: [(AsmRegister64, AsmRegister8); 15] = [
            (rax, al),
            (rbx, bl),
            (rcx, cl),
            (rdx, dl),
            (rsi, sil),
            (rdi, dil),
            (rbp, bpl),
            (r8, r8b),
            (r9, r9b),
            (r10, r10b),
            (r11, r11b),
            (r12, r12b),
            (r13, r13b),
            (r14, r14b),
            (r15, r15b),
        ];
        PAIRS
            .iter()
            .find(|(w, _)| *w == self)
            .map_or(al, |(_, b)| *b)
    }
}

pub(super) fn strings(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
    a.mov(rsi, values::access_pointer(rng, l))?;
    a.mov(rdi, values::access_pointer(rng, l))?;
    let count = if rng.chance(70) {
        rng.below(4096)
    } else {
        values::length(rng)
    };
    a.mov(rcx, count)?;
    let backwards = rng.chance(20);
    if backwards {
        a.std()?;
    }
    match rng.below(6) {
        0 => a.rep().movsb()?,
        1 => a.rep().stosb()?,
        2 => a.rep().stosq()?,
        3 => a.rep().lodsb()?,
        4 => a.repe().cmpsb()?,
        _ => a.repne().scasb()?,
    }
    if backwards {
        a.cld()?;
    }
    Ok(())
}

pub(super) fn stack(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
    match rng.below(6) {
        0 => {
            for _ in 0..rng.range(1, 6) {
                a.push(gpr(rng))?;
            }
            for _ in 0..rng.range(0, 6) {
                a.pop(gpr(rng))?;
            }
            Ok(())
        }
        1 if rng.chance(30) => {
            a.mov(rsp, values::pointer(rng, l))?;
            a.push(rax)
        }
        1 => a.push(rax),
        2 => {
            a.enter(rng.below(1 << 16) as u32, rng.below(32) as u32)?;
            a.leave()
        }
        3 => a.sub(
            rsp,
            if rng.chance(80) {
                rng.below(1 << 16)
            } else {
                values::length(rng)
            } as i32,
        ),
        4 => {
            // call the next instruction, drop the return address
            let mut next = a.create_label();
            a.call(next)?;
            a.set_label(&mut next)?;
            a.pop(scratch(rng))
        }
        _ => {
            // return to an interesting address
            a.mov(rax, values::pointer(rng, l))?;
            a.push(rax)?;
            a.ret()
        }
    }
}

pub(super) fn jumps(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
    match rng.below(5) {
        0 => {
            // Jump over junk.
            let mut over = a.create_label();
            a.jmp(over)?;
            let mut junk = vec![0u8; rng.range(1, 24) as usize];
            rng.fill(&mut junk);
            a.db(&junk)?;
            a.set_label(&mut over)
        }
        1 => {
            // A bounded loop with a syscall or memory access inside.
            let mut top = a.create_label();
            a.mov(rcx, rng.range(1, 300))?;
            a.set_label(&mut top)?;
            a.push(rcx)?;
            let _ = memory(a, rng, l);
            a.pop(rcx)?;
            a.loop_(top)
        }
        2 => {
            let mut skip = a.create_label();
            a.test(gpr(rng), gpr(rng))?;
            a.jne(skip)?;
            a.mov(rax, values::any(rng, l))?;
            a.set_label(&mut skip)
        }
        3 => {
            a.mov(rax, values::pointer(rng, l))?;
            a.jmp(rax)
        }
        _ => {
            a.mov(rax, values::pointer(rng, l))?;
            a.call(rax)
        }
    }
}

pub(super) fn simd(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
    let r = scratch(rng);
    a.mov(r, values::access_pointer(rng, l) & !0xf)?;
    match rng.below(14) {
        0 => a.movdqu(xmm1, xmmword_ptr(r)),
        1 => a.movdqu(xmmword_ptr(r), xmm2),
        2 => a.movaps(xmm3, xmmword_ptr(r)),
        3 => a.vmovdqu(ymm4, ymmword_ptr(r)),
        4 => a.vmovdqu(ymmword_ptr(r), ymm5),
        5 => {
            // LDMXCSR with a random value (reserved bits: #GP)
            a.mov(dword_ptr(rsp - 8), rng.next_u64() as u32)?;
            a.ldmxcsr(dword_ptr(rsp - 8))
        }
        6 => a.stmxcsr(dword_ptr(r)),
        7 => a.fxsave64(ptr(r)),
        8 => a.fxrstor64(ptr(r)),
        9 => {
            a.mov(rax, rng.next_u64() & 0xff)?;
            a.mov(rdx, 0u64)?;
            if rng.chance(50) {
                a.xsave64(ptr(r))
            } else {
                a.xrstor64(ptr(r))
            }
        }
        10 => a.vzeroupper(),
        11 => a.vpxor(ymm0, ymm1, ymm2),
        12 => {
            a.fninit()?;
            a.fld(qword_ptr(r))
        }
        _ => a.divps(xmm0, xmm1),
    }
}

pub(super) fn arithmetic(
    a: &mut CodeAssembler,
    rng: &mut Rng,
    l: &Layout,
) -> Result<(), IcedError> {
    a.mov(rax, values::any(rng, l))?;
    a.mov(
        rdx,
        if rng.chance(50) {
            0
        } else {
            values::any(rng, l)
        },
    )?;
    let d = scratch(rng);
    a.mov(
        d,
        if rng.chance(30) {
            0
        } else {
            values::small(rng)
        },
    )?;
    match rng.below(4) {
        0 => a.div(d),
        1 => a.idiv(d),
        2 => a.imul(d),
        _ => a.bswap(d),
    }
}
