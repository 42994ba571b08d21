//! Interesting values for registers and syscall arguments: pointers at the
//! edges of every region the guest has (image, heap, stack, mmap area), into
//! the supervisor region and the entry code, the kernel half and
//! non-canonical space; lengths around page sizes, the memory limit and
//! overflow; syscall numbers of the emulated table and beyond.

use super::super::rng::Rng;
use crate::guest::entry_code as ec;
use crate::guest::layout::*;
use crate::syscalls::table;

/// Where the regions of a fuzzed guest are (they depend on its size).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub image_end: u64,
    pub stack_bottom: u64,
}

impl Layout {
    /// The layout of a flat program of `len` bytes under `memory_limit`.
    pub fn for_flat(len: u64, memory_limit: u64) -> Layout {
        Layout {
            image_end: FLAT_LOAD_VA + len.div_ceil(4096) * 4096,
            stack_bottom: STACK_TOP - stack_size(memory_limit),
        }
    }
}

/// A guest address, most of them near a boundary.
pub fn pointer(rng: &mut Rng, l: &Layout) -> u64 {
    let small = rng.below(64) * 8;
    let page = rng.below(32) * 4096;
    match rng.below(18) {
        0 => rng.below(0x2_0000),
        1 => FLAT_LOAD_VA + rng.below(l.image_end - FLAT_LOAD_VA + 0x2000),
        2 => l.image_end.wrapping_sub(small),
        3 => l.image_end + page + small, // the brk heap
        4 => STACK_TOP.wrapping_sub(small + 1),
        5 => (STACK_TOP - rng.below(STACK_TOP - l.stack_bottom)) & !7,
        6 => l
            .stack_bottom
            .wrapping_sub(small)
            .wrapping_add(rng.below(16) * 8),
        7 => MMAP_TOP - page - 4096 + small, // where mmap puts things
        8 => MMAP_TOP.wrapping_sub(small + 1),
        9 => KERNEL_BASE + rng.below(IST_STACK_TOP_PA + 0x2000),
        10 => *rng
            .pick(&[
                ec::SYSCALL_ENTRY,
                ec::SYSCALL_AFTER_OUT,
                ec::FLUSH_RETURN,
                ec::FLUSH_IRETQ,
                crate::guest::layout::CPU_PAGES_PA + KERNEL_BASE,
                ec::ENTRY_START,
                ec::VECTOR_AFTER_OUT[14],
                IST_STACK_TOP_VA - 48,
            ])
            .unwrap_or(&ec::SYSCALL_ENTRY),
        11 => 0xffff_8000_0000_0000 + page + small,
        12 => USER_END + page + small, // non-canonical
        13 => USER_END.wrapping_sub(small + 1),
        14 => u64::MAX - small,
        15 => 1 << rng.range(12, 63),
        16 => rng.below(USER_END),
        _ => rng.next_u64(),
    }
}

/// An address that is mapped at start (the stack or the image), so that
/// memory blocks get past their first access and the program goes deeper.
pub fn mapped_pointer(rng: &mut Rng, l: &Layout) -> u64 {
    if rng.chance(70) {
        l.stack_bottom + rng.below(STACK_TOP - l.stack_bottom - 4096)
    } else {
        FLAT_LOAD_VA + rng.below(l.image_end - FLAT_LOAD_VA)
    }
}

/// A pointer for a memory access: usually mapped, often an edge.
pub fn access_pointer(rng: &mut Rng, l: &Layout) -> u64 {
    if rng.chance(60) {
        mapped_pointer(rng, l)
    } else {
        pointer(rng, l)
    }
}

/// A length or count.
pub fn length(rng: &mut Rng) -> u64 {
    match rng.below(12) {
        0 => rng.below(17),
        1 => rng.below(4097),
        2 => 4096 * rng.range(1, 4) + rng.below(3) - 1,
        3 => *rng
            .pick(&[63, 64, 390, 1023, 1024, 1025, 4095, 8192, 16384])
            .unwrap_or(&8),
        4 => (1 << rng.range(16, 24)) + rng.below(2) * 4096,
        5 => 0x7fff_f000 + rng.below(2),
        6 => 1 << rng.range(31, 63),
        7 => i64::MAX as u64 - rng.below(2),
        8 => u64::MAX - rng.below(4096),
        9 => rng.below(1 << 20),
        10 => 4 << 20,
        _ => rng.next_u64(),
    }
}

/// A small integer: descriptors, codes, flags.
pub fn small(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => rng.below(4),
        1 => rng.below(64),
        2 => u64::MAX - rng.below(4), // -1 .. -4
        3 => 1 << rng.below(32),
        4 => rng.below(256),
        _ => rng.below(1 << 16),
    }
}

/// Any register value.
pub fn any(rng: &mut Rng, l: &Layout) -> u64 {
    match rng.below(4) {
        0 | 1 => pointer(rng, l),
        2 => length(rng),
        _ => small(rng),
    }
}

/// A syscall number: mostly emulated ones, some unknown, a few absurd.
pub fn syscall_nr(rng: &mut Rng) -> u64 {
    match rng.below(20) {
        0..=12 => rng.pick(table::implemented_numbers()).map_or(39, |&nr| nr),
        13..=16 => rng.below(460),
        17 => 0x4000_0000 + rng.below(600), // x32 numbers
        18 => 1 << rng.range(10, 63),
        _ => rng.next_u64(),
    }
}

/// Linux x86-64 numbers of syscalls whose arguments the generator shapes.
pub mod nr {
    pub const READ: u64 = 0;
    pub const WRITE: u64 = 1;
    pub const MMAP: u64 = 9;
    pub const MPROTECT: u64 = 10;
    pub const MUNMAP: u64 = 11;
    pub const BRK: u64 = 12;
    pub const WRITEV: u64 = 20;
    pub const EXIT: u64 = 60;
    pub const UNAME: u64 = 63;
    pub const ARCH_PRCTL: u64 = 158;
    pub const CLOCK_GETTIME: u64 = 228;
    pub const EXIT_GROUP: u64 = 231;
    pub const GETRANDOM: u64 = 318;
}

/// Arguments for syscall `n`: shaped like the real ones for the syscalls
/// the runner emulates (a descriptor, then a pointer, then a length...),
/// sometimes entirely random.
pub fn syscall_args(rng: &mut Rng, l: &Layout, n: u64) -> [u64; 6] {
    let mut a = [0u64; 6];
    for v in a.iter_mut() {
        *v = any(rng, l);
    }
    if rng.chance(15) {
        return a;
    }
    let fd = |rng: &mut Rng| {
        if rng.chance(80) {
            rng.below(3)
        } else {
            small(rng)
        }
    };
    match n {
        nr::READ | nr::WRITE => {
            a[0] = fd(rng);
            a[1] = pointer(rng, l);
            a[2] = length(rng);
        }
        nr::WRITEV => {
            a[0] = fd(rng);
            a[1] = pointer(rng, l);
            a[2] = if rng.chance(70) {
                rng.below(4)
            } else {
                length(rng)
            };
        }
        nr::MMAP => {
            a[0] = if rng.chance(60) {
                0
            } else {
                pointer(rng, l) & !0xfff
            };
            // 2 MiB or a little more: a 2 MiB guest page, which later
            // munmap/mprotect calls near MMAP_TOP then cut into.
            a[1] = if rng.chance(25) {
                (2 << 20) + rng.below(3) * 4096
            } else {
                length(rng)
            };
            a[2] = if rng.chance(80) {
                rng.below(8)
            } else {
                small(rng)
            };
            a[3] = match rng.below(4) {
                0 => 0x22,
                1 => 0x32,
                2 => 0x10_0022,
                _ => small(rng),
            };
            a[4] = if rng.chance(80) { u64::MAX } else { small(rng) };
            a[5] = if rng.chance(80) { 0 } else { length(rng) };
        }
        nr::MPROTECT | nr::MUNMAP => {
            a[0] = pointer(rng, l) & !0xfff;
            a[1] = length(rng);
            a[2] = rng.below(8);
        }
        nr::BRK => a[0] = if rng.chance(30) { 0 } else { pointer(rng, l) },
        nr::EXIT | nr::EXIT_GROUP => a[0] = small(rng),
        nr::UNAME => a[0] = pointer(rng, l),
        nr::ARCH_PRCTL => {
            a[0] = 0x1001 + rng.below(4);
            a[1] = pointer(rng, l);
        }
        nr::CLOCK_GETTIME => {
            a[0] = rng.below(12);
            a[1] = pointer(rng, l);
        }
        nr::GETRANDOM => {
            a[0] = pointer(rng, l);
            a[1] = length(rng);
            a[2] = rng.below(8);
        }
        _ => {}
    }
    a
}
