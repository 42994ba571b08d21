//! Random sequences of valid instructions, assembled with iced-x86: blocks
//! that set registers to interesting values and then make a syscall, touch
//! memory, run string, stack, SSE/AVX and arithmetic instructions, jump
//! around, probe the CPU, rewrite their own code, forge a SYSCALL by jumping
//! to LSTAR, or try a privileged, I/O, MSR, descriptor-table or
//! control-register instruction, or map 2 MiB and cut into it. A program is
//! 1..40 blocks and ends with
//! `exit_group(random code)` unless something ends it first.

use super::super::rng::Rng;
use super::values::{self, nr, Layout};
use crate::guest::entry_code as ec;
use crate::guest::layout::FLAT_LOAD_VA;
use iced_x86::code_asm::*;

/// General registers other than RSP.
const GPR: [AsmRegister64; 15] = [
    rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15,
];
/// Scratch registers the blocks use for addresses (never syscall arguments).
const SCRATCH: [AsmRegister64; 4] = [rbx, r12, r13, r14];
const ARG_REGS: [AsmRegister64; 6] = [rdi, rsi, rdx, r10, r8, r9];

/// Block kinds and their weights.
const BLOCKS: &[(Block, u64)] = &[
    (Block::Registers, 12),
    (Block::Syscall, 30),
    (Block::Iovecs, 4),
    (Block::Memory, 10),
    (Block::Strings, 5),
    (Block::Stack, 6),
    (Block::Jumps, 5),
    (Block::Simd, 6),
    (Block::Arithmetic, 4),
    (Block::Privileged, 4),
    (Block::Probe, 4),
    (Block::SelfModify, 2),
    (Block::ForgedSyscall, 2),
    (Block::RawBytes, 3),
    (Block::HugeRegion, 3),
];

#[derive(Debug, Clone, Copy)]
enum Block {
    Registers,
    Syscall,
    Iovecs,
    Memory,
    Strings,
    Stack,
    Jumps,
    Simd,
    Arithmetic,
    Privileged,
    Probe,
    SelfModify,
    ForgedSyscall,
    RawBytes,
    HugeRegion,
}

/// A random program for a guest with `memory_limit` bytes.
pub fn program(rng: &mut Rng, memory_limit: u64) -> Vec<u8> {
    // Programs stay well under 16 KiB; pointers aimed at "the image's end"
    // land around there.
    let l = Layout::for_flat(16 << 10, memory_limit);
    let Ok(mut a) = CodeAssembler::new(64) else {
        return vec![0x0f, 0x0b];
    };
    let weights: Vec<u64> = BLOCKS.iter().map(|b| b.1).collect();
    for _ in 0..rng.range(1, 40) {
        let kind = BLOCKS[rng.weighted(&weights)].0;
        // An encoding the assembler refuses just leaves the block shorter.
        let _ = block(&mut a, rng, &l, kind);
    }
    let _ = exit_group(&mut a, rng.below(256));
    a.assemble(FLAT_LOAD_VA)
        .unwrap_or_else(|_| vec![0x0f, 0x0b])
}

/// A short block of one kind, for the mutator to splice into samples.
pub fn snippet(rng: &mut Rng, memory_limit: u64) -> Vec<u8> {
    let l = Layout::for_flat(16 << 10, memory_limit);
    let Ok(mut a) = CodeAssembler::new(64) else {
        return Vec::new();
    };
    let weights: Vec<u64> = BLOCKS.iter().map(|b| b.1).collect();
    let kind = BLOCKS[rng.weighted(&weights)].0;
    let _ = block(&mut a, rng, &l, kind);
    a.assemble(FLAT_LOAD_VA).unwrap_or_default()
}

fn gpr(rng: &mut Rng) -> AsmRegister64 {
    GPR[rng.below(GPR.len() as u64) as usize]
}

fn scratch(rng: &mut Rng) -> AsmRegister64 {
    SCRATCH[rng.below(SCRATCH.len() as u64) as usize]
}

fn exit_group(a: &mut CodeAssembler, code: u64) -> Result<(), IcedError> {
    a.mov(rdi, code)?;
    a.mov(rax, nr::EXIT_GROUP)?;
    a.syscall()
}

fn block(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout, kind: Block) -> Result<(), IcedError> {
    match kind {
        Block::Registers => {
            for _ in 0..rng.range(1, 4) {
                let v = values::any(rng, l);
                a.mov(gpr(rng), v)?;
            }
            Ok(())
        }
        Block::Syscall => syscall(a, rng, l),
        Block::Iovecs => iovecs(a, rng, l),
        Block::Memory => memory(a, rng, l),
        Block::Strings => strings(a, rng, l),
        Block::Stack => stack(a, rng, l),
        Block::Jumps => jumps(a, rng, l),
        Block::Simd => simd(a, rng, l),
        Block::Arithmetic => arithmetic(a, rng, l),
        Block::Privileged => privileged(a, rng),
        Block::Probe => probe(a, rng),
        Block::SelfModify => {
            let r = scratch(rng);
            a.mov(r, FLAT_LOAD_VA + rng.below(l.image_end - FLAT_LOAD_VA))?;
            a.mov(byte_ptr(r), rng.below(256) as u32)
        }
        Block::ForgedSyscall => forged_syscall(a, rng, l),
        Block::RawBytes => {
            let mut bytes = vec![0u8; rng.range(1, 16) as usize];
            rng.fill(&mut bytes);
            a.db(&bytes)
        }
        Block::HugeRegion => huge_region(a, rng),
    }
}

/// An offset into a region of a little over 2 MiB, page aligned or not.
fn region_offset(rng: &mut Rng, page_aligned: bool) -> i32 {
    let off = rng.below((2 << 20) + 0x3000) as i32;
    if page_aligned {
        off & !0xfff
    } else {
        off
    }
}

/// Maps a little over 2 MiB (2 MiB aligned by the runner: a 2 MiB guest
/// page), touches it, cuts into it with munmap, mprotect, madvise or mremap
/// at offsets from its address (RBX), and touches it again: the fuzzer's
/// canaries then check the tables the splits and copies left.
fn huge_region(a: &mut CodeAssembler, rng: &mut Rng) -> Result<(), IcedError> {
    const MREMAP: u64 = 25;
    const MADVISE: u64 = 28;
    a.mov(rdi, 0u64)?;
    a.mov(rsi, (2u64 << 20) + rng.below(3) * 4096)?;
    a.mov(rdx, 3u64)?; // PROT_READ | PROT_WRITE
    a.mov(r10, 0x22u64)?; // MAP_PRIVATE | MAP_ANONYMOUS
    a.mov(r8, u64::MAX)?;
    a.mov(r9, 0u64)?;
    a.mov(rax, nr::MMAP)?;
    a.syscall()?;
    a.mov(rbx, rax)?;
    let touch = |a: &mut CodeAssembler, rng: &mut Rng| -> Result<(), IcedError> {
        for _ in 0..rng.range(1, 4) {
            a.mov(
                byte_ptr(rbx + region_offset(rng, false)),
                rng.below(256) as u32,
            )?;
        }
        Ok(())
    };
    touch(a, rng)?;
    for _ in 0..rng.range(1, 3) {
        let aligned = rng.chance(90);
        a.lea(rdi, qword_ptr(rbx + region_offset(rng, aligned)))?;
        a.mov(rsi, rng.range(1, 600) * 4096 - u64::from(rng.chance(10)))?;
        let n = match rng.below(4) {
            0 => nr::MUNMAP,
            1 => {
                a.mov(rdx, rng.below(8))?;
                nr::MPROTECT
            }
            2 => {
                a.mov(rdx, *rng.pick(&[4u64, 8, 14]).unwrap_or(&4))?; // DONTNEED, FREE, HUGEPAGE
                MADVISE
            }
            _ => {
                a.mov(rdi, rbx)?;
                a.mov(rsi, 2u64 << 20)?;
                a.mov(rdx, rng.range(1, 1200) * 4096)?;
                a.mov(r10, 1u64)?; // MREMAP_MAYMOVE
                MREMAP
            }
        };
        a.mov(rax, n)?;
        a.syscall()?;
        if n == MREMAP && rng.chance(70) {
            a.mov(rbx, rax)?;
        }
        touch(a, rng)?;
    }
    Ok(())
}

/// Loads a syscall number and six shaped arguments, then SYSCALL; sometimes
/// with a hostile RSP (restored afterwards from R15).
fn syscall(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
    let n = values::syscall_nr(rng);
    let args = values::syscall_args(rng, l, n);
    for (reg, v) in ARG_REGS.iter().zip(args) {
        if rng.chance(90) {
            a.mov(*reg, v)?;
        }
    }
    if rng.chance(20) {
        // Use the previous result (an mmap'd address, a brk) as the pointer.
        a.mov(if rng.chance(50) { rdi } else { rsi }, rax)?;
    }
    a.mov(rax, n)?;
    let hostile_rsp = rng.chance(5);
    if hostile_rsp {
        a.mov(r15, rsp)?;
        a.mov(rsp, values::pointer(rng, l))?;
    }
    a.syscall()?;
    if hostile_rsp {
        a.mov(rsp, r15)?;
    }
    Ok(())
}

/// Builds 1..4 iovecs on the stack and calls writev on them, with a count
/// that may exceed what was built.
fn iovecs(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
    let k = rng.range(1, 4);
    a.sub(rsp, (16 * k) as i32)?;
    for i in 0..k {
        let base = values::pointer(rng, l);
        let len = if rng.chance(70) {
            rng.below(64)
        } else {
            values::length(rng)
        };
        a.mov(rax, base)?;
        a.mov(qword_ptr(rsp + (16 * i) as i32), rax)?;
        a.mov(rax, len)?;
        a.mov(qword_ptr(rsp + (16 * i + 8) as i32), rax)?;
    }
    a.mov(rdi, rng.below(3))?;
    a.mov(rsi, rsp)?;
    let count = if rng.chance(80) {
        k
    } else {
        values::length(rng)
    };
    a.mov(rdx, count)?;
    a.mov(rax, nr::WRITEV)?;
    a.syscall()
}

fn memory(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
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

fn strings(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
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

fn stack(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
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

fn jumps(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
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

fn simd(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
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

fn arithmetic(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
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

/// One privileged, I/O, MSR, descriptor-table or control-register
/// instruction (or a software interrupt); at CPL3 each must kill the guest.
fn privileged(a: &mut CodeAssembler, rng: &mut Rng) -> Result<(), IcedError> {
    let port = *rng
        .pick(&[0x00u32, 0x0e, 0x1f, 0x80, 0x70, 0x60, 0xcf])
        .unwrap_or(&0x80);
    match rng.below(34) {
        0 => a.hlt(),
        1 => a.cli(),
        2 => a.sti(),
        3 => a.lgdt(ptr(rsp)),
        4 => a.lidt(ptr(rsp)),
        5 => a.lldt(ax),
        6 => a.ltr(ax),
        7 => a.lmsw(ax),
        8 => a.mov(cr0, rax),
        9 => a.mov(cr3, rax),
        10 => a.mov(cr4, rax),
        11 => a.mov(rax, cr2),
        12 => a.mov(dr7, rax),
        13 => {
            a.mov(rcx, rng.next_u64() & 0xffff_ffff)?;
            if rng.chance(50) {
                a.wrmsr()
            } else {
                a.rdmsr()
            }
        }
        14 => a.out(
            if rng.chance(70) {
                port
            } else {
                rng.below(256) as u32
            },
            al,
        ),
        15 => a.in_(
            al,
            if rng.chance(70) {
                port
            } else {
                rng.below(256) as u32
            },
        ),
        16 => {
            a.mov(rdx, rng.below(1 << 16))?;
            a.out(dx, eax)
        }
        17 => {
            a.mov(rdx, u64::from(port))?;
            a.rep().outsb()
        }
        18 => a.insb(),
        19 => a.invlpg(ptr(rsp)),
        20 => {
            a.mov(rcx, rng.below(2))?;
            a.xsetbv()
        }
        21 => a.wbinvd(),
        22 => a.invd(),
        23 => a.swapgs(),
        24 => a.sysretq(),
        25 => {
            // IRETQ through a frame with a random CS/SS (CPL0 selectors too).
            for v in [
                rng.below(0x40),
                rng.next_u64(),
                0x202,
                rng.below(0x40),
                rng.next_u64(),
            ] {
                a.mov(rax, v)?;
                a.push(rax)?;
            }
            a.iretq()
        }
        26 => a.int(rng.below(256) as u32),
        27 => a.int1(),
        28 => a.clts(),
        29 => a.rdpmc(),
        30 => {
            if rng.chance(50) {
                a.vmcall()
            } else {
                a.vmmcall()
            }
        }
        31 => {
            // Load a random selector into a segment register.
            a.mov(eax, rng.below(0x10000) as u32)?;
            match rng.below(5) {
                0 => a.mov(ds, ax),
                1 => a.mov(es, ax),
                2 => a.mov(fs, ax),
                3 => a.mov(gs, ax),
                _ => a.mov(ss, ax),
            }
        }
        32 => {
            // POPFQ with random flags (IOPL is ignored at CPL3; TF traps).
            a.mov(rax, rng.next_u64() & 0x3f_7fd7)?;
            a.push(rax)?;
            a.popfq()
        }
        _ => {
            // A far return to a random selector.
            a.mov(rax, rng.below(0x40))?;
            a.push(rax)?;
            a.mov(rax, FLAT_LOAD_VA)?;
            a.push(rax)?;
            a.db(&[0x48, 0xcb]) // retfq
        }
    }
}

/// Instructions a guest may use to learn about its machine.
fn probe(a: &mut CodeAssembler, rng: &mut Rng) -> Result<(), IcedError> {
    match rng.below(10) {
        0 => {
            let leaf = *rng
                .pick(&[
                    0u64,
                    1,
                    7,
                    0xd,
                    0x4000_0000,
                    0x4000_0001,
                    0x8000_0001,
                    0x8000_0008,
                ])
                .unwrap_or(&1);
            a.mov(
                rax,
                if rng.chance(80) {
                    leaf
                } else {
                    rng.next_u64() & 0xffff_ffff
                },
            )?;
            a.mov(rcx, rng.below(4))?;
            a.cpuid()
        }
        1 => a.rdtsc(),
        2 => a.rdtscp(),
        3 => a.rdpid(rax),
        4 => {
            a.mov(rcx, rng.below(3))?;
            a.xgetbv()
        }
        5 => a.sgdt(ptr(rsp - 16)),
        6 => a.sidt(ptr(rsp - 16)),
        7 => a.smsw(ax),
        8 => a.rdrand(rax),
        _ => {
            a.mov(eax, rng.below(0x10000) as u32)?;
            a.lar(ecx, eax)
        }
    }
}

/// Jumps straight to LSTAR with forged RCX (the return address), R11
/// (RFLAGS) and a syscall number: on kvm_pvm this is a syscall whose return
/// the runner must sanitise; on hardware a fault.
fn forged_syscall(a: &mut CodeAssembler, rng: &mut Rng, l: &Layout) -> Result<(), IcedError> {
    let mut back = a.create_label();
    let n = if rng.chance(70) {
        39
    } else {
        values::syscall_nr(rng)
    };
    a.mov(rax, n)?;
    if rng.chance(60) {
        a.lea(rcx, ptr(back))?;
    } else {
        a.mov(rcx, values::pointer(rng, l))?;
    }
    a.mov(r11, rng.next_u64())?;
    a.mov(rdx, ec::SYSCALL_ENTRY)?;
    a.jmp(rdx)?;
    a.set_label(&mut back)
}
