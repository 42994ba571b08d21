//! Blocks aimed at the machine: privileged, I/O, MSR, descriptor-table
//! and control-register instructions, instructions that probe the CPU, and
//! a SYSCALL forged by jumping to LSTAR.

use crate::fuzz::generate::values::{self, Layout};
use crate::fuzz::rng::Rng;
use crate::guest::entry_code as ec;
use crate::guest::layout::FLAT_LOAD_VA;
use iced_x86::code_asm::*;

/// One privileged, I/O, MSR, descriptor-table or control-register
/// instruction (or a software interrupt); at CPL3 each must kill the guest.
pub(super) fn privileged(a: &mut CodeAssembler, rng: &mut Rng) -> Result<(), IcedError> {
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
pub(super) fn probe(a: &mut CodeAssembler, rng: &mut Rng) -> Result<(), IcedError> {
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
pub(super) fn forged_syscall(
    a: &mut CodeAssembler,
    rng: &mut Rng,
    l: &Layout,
) -> Result<(), IcedError> {
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
