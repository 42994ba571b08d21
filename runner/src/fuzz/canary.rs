//! Canaries: memory the guest must never be able to write, armed before a
//! run and verified after it. What each one catches:
//!
//! - **guard slot**: 64 KiB of guest-physical memory mapped right after the
//!   guest's RAM, filled with a pattern and referenced by no page table. A
//!   guest (or a runner page-table bug) that reaches guest-physical memory
//!   beyond its own slot writes it.
//! - **untouched frames**: the 64 KiB of guest RAM above the frame
//!   allocator's high-water mark have never been handed out, so they must
//!   still read as zeros. A runner copy that runs past the frames the guest
//!   named (the tunnel resolving a range wrongly) lands here first.
//! - **supervisor area**: the GDT (accessed/busy bits aside), IDT, TSS and
//!   entry code must be byte-for-byte what boot wrote, and every
//!   supervisor page must still translate to the same frame with the same
//!   rights: the trusted CPL0 side of the VM is intact.
//! - **address-space shape**: every user page maps a user frame (above the
//!   supervisor area, inside the slot, never a page-table frame, never
//!   shared by two pages), and no kernel-half page is user-accessible: the
//!   guest cannot reach its own page tables or the entry code through an
//!   alias. The vDSO's pages are the one exception: each maps its own
//!   reserved frame, never writable.
//! - **vDSO**: its image is byte-for-byte what boot wrote, and its data page
//!   holds exactly the clock the runner last wrote there.
//! - **host guards**: two anonymous mappings of the same kind as guest RAM,
//!   allocated just before it (Linux places consecutive anonymous mappings
//!   next to each other, so they usually border the guest RAM's host
//!   mapping), and a heap buffer, all filled with a pattern. A KVM memory
//!   region registered with the wrong size, or a runner copy that escaped
//!   the bounds checks of `GuestMemory`, would hit them.

use crate::guest::address_space::AddressSpace;
use crate::guest::descriptors::GDT_SIZE;
use crate::guest::frames::{HUGE_PAGES, HUGE_SIZE};
use crate::guest::layout::*;
use crate::guest::page_table::{Translation, BACKED, HUGE, PRESENT, USER, WRITABLE};
use crate::guest::vdso;
use crate::run::boot::{Guest, Machine};
use std::collections::BTreeSet;
use thinvisor_kmod::{GuestMemory, KmodError, MemoryAccess, SlotId, PAGE_SIZE};

const GUARD_BYTES: u64 = 64 << 10;
const UNTOUCHED_WINDOW: u64 = 64 << 10;
/// Descriptor bits the CPU itself may set: accessed (bit 40) on every
/// descriptor, busy (bit 41) on the TSS descriptor.
const ACCESSED: u64 = 1 << 40;
const BUSY: u64 = 1 << 41;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

fn pattern_bytes(pattern: u64, len: u64) -> Vec<u8> {
    (0..len / 8)
        .flat_map(|i| (pattern ^ i.wrapping_mul(0x9e37_79b9)).to_le_bytes())
        .collect()
}

/// Host-side guards, allocated before the guest so that they border it.
pub struct HostGuards {
    maps: Vec<GuestMemory>,
    heap: Vec<u8>,
    expected: Vec<u8>,
}

impl HostGuards {
    pub fn new(pattern: u64) -> Result<HostGuards, KmodError> {
        let expected = pattern_bytes(!pattern, GUARD_BYTES);
        let mut maps = Vec::new();
        for _ in 0..2 {
            let mut m = GuestMemory::new(GUARD_BYTES as usize)?;
            m.write(0, &expected)?;
            maps.push(m);
        }
        Ok(HostGuards {
            maps,
            heap: expected.clone(),
            expected,
        })
    }

    pub fn check(&self, out: &mut Vec<String>) {
        for (i, m) in self.maps.iter().enumerate() {
            if m.slice(0, GUARD_BYTES)
                .map_or(true, |b| b != self.expected.as_slice())
            {
                out.push(format!(
                    "host guard mapping {i} around the guest RAM was written"
                ));
            }
        }
        if self.heap != self.expected {
            out.push("host heap guard was written".into());
        }
    }
}

/// The guest-side canaries of one VM.
pub struct Canaries {
    pub guard_slot: SlotId,
    guard: Vec<u8>,
    supervisor: Vec<(u64, Vec<u8>)>,
    supervisor_maps: Vec<(u64, Option<Translation>)>,
    /// The vDSO's image as boot wrote it (empty without a vDSO).
    vdso_image: Vec<u8>,
}

/// The supervisor pages whose bytes must not change (the entry data page
/// and the interrupt stack legitimately do).
const FROZEN_PAGES: [u64; 5] = [
    GDT_PA,
    IDT_PA,
    TSS_PA,
    ENTRY_CODE_PA,
    ENTRY_CODE_PA + PAGE_SIZE,
];

fn supervisor_pages() -> Vec<u64> {
    let mut pages = vec![GDT_PA, IDT_PA, TSS_PA, ENTRY_DATA_PA];
    pages.extend((0..ENTRY_CODE_PAGES).map(|i| ENTRY_CODE_PA + i * PAGE_SIZE));
    pages.extend((IST_STACK_PA..IST_STACK_TOP_PA).step_by(PAGE_SIZE as usize));
    pages
}

/// The GDT with the bits the CPU may set cleared.
fn masked_gdt(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (i, d) in out.chunks_exact_mut(8).enumerate() {
        let mut v = u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
        if (i as u64) * 8 < u64::from(GDT_SIZE) {
            v &= !ACCESSED;
            if i as u64 * 8 == u64::from(TSS_SEL) {
                v &= !BUSY;
            }
        }
        d.copy_from_slice(&v.to_le_bytes());
    }
    out
}

fn frozen_bytes(mem: &GuestMemory, pa: u64) -> Result<Vec<u8>, KmodError> {
    let bytes = mem.slice(pa, PAGE_SIZE)?;
    Ok(if pa == GDT_PA {
        masked_gdt(bytes)
    } else {
        bytes.to_vec()
    })
}

impl Canaries {
    /// Snapshots the supervisor area and fills the guard slot: `existing`, the
    /// one a reused VM already has (run/recycle.rs), or a new one mapped
    /// after the guest's RAM.
    pub fn arm(
        guest: &mut Guest,
        pattern: u64,
        existing: Option<SlotId>,
    ) -> Result<Canaries, KmodError> {
        let mem = guest.machine.vm.memory(guest.machine.slot)?;
        let ram = mem.len();
        let mut supervisor = Vec::new();
        for pa in FROZEN_PAGES {
            supervisor.push((pa, frozen_bytes(mem, pa)?));
        }
        let supervisor_maps = supervisor_pages()
            .into_iter()
            .map(|pa| (pa, guest.aspace.tables.translate(mem, kva(pa))))
            .collect();
        let vdso_image = if guest.machine.vdso {
            mem.slice(VDSO_PA, VDSO_PAGES * PAGE_SIZE)?.to_vec()
        } else {
            Vec::new()
        };
        let guard = pattern_bytes(pattern, GUARD_BYTES);
        let guard_slot = match existing {
            Some(id) => {
                guest.machine.vm.memory_mut(id)?.write(0, &guard)?;
                id
            }
            None => {
                let mut slot_mem = GuestMemory::new(GUARD_BYTES as usize)?;
                slot_mem.write(0, &guard)?;
                guest
                    .machine
                    .vm
                    .map_memory(ram, slot_mem, MemoryAccess::READ_WRITE)?
            }
        };
        Ok(Canaries {
            guard_slot,
            guard,
            supervisor,
            supervisor_maps,
            vdso_image,
        })
    }

    /// Every canary that no longer holds, described.
    pub fn check(&self, machine: &Machine, aspace: &AddressSpace) -> Vec<String> {
        let mut out = Vec::new();
        let mem = match machine.vm.memory(machine.slot) {
            Ok(m) => m,
            Err(e) => return vec![format!("guest memory unavailable: {e}")],
        };
        match machine.vm.memory(self.guard_slot) {
            Ok(g)
                if g.slice(0, GUARD_BYTES)
                    .is_ok_and(|b| b == self.guard.as_slice()) => {}
            Ok(_) => out.push("guard slot beyond the guest's RAM was written".into()),
            Err(e) => out.push(format!("guard slot unavailable: {e}")),
        }
        let (hw, untouched_end) = aspace.frames.untouched();
        let end = (hw + UNTOUCHED_WINDOW).min(untouched_end).min(mem.len());
        if let Ok(bytes) = mem.slice(hw, end.saturating_sub(hw)) {
            if let Some(off) = bytes.iter().position(|&b| b != 0) {
                out.push(format!(
                    "never-allocated guest frame written at guest-physical {:#x}",
                    hw + off as u64
                ));
            }
        }
        for (pa, before) in &self.supervisor {
            match frozen_bytes(mem, *pa) {
                Ok(now) if now == *before => {}
                _ => out.push(format!("supervisor page at guest-physical {pa:#x} changed")),
            }
        }
        for (pa, before) in &self.supervisor_maps {
            if aspace.tables.translate(mem, kva(*pa)) != *before {
                out.push(format!(
                    "mapping of supervisor page {:#x} changed",
                    kva(*pa)
                ));
            }
        }
        if machine.vdso {
            check_vdso(machine, mem, &self.vdso_image, &mut out);
        }
        address_space_shape(mem, aspace.tables.root, &mut out);
        out
    }
}

/// The vDSO's image is unchanged and its data page holds the runner's clock.
fn check_vdso(machine: &Machine, mem: &GuestMemory, image: &[u8], out: &mut Vec<String>) {
    if mem
        .slice(VDSO_PA, VDSO_PAGES * PAGE_SIZE)
        .map_or(true, |b| b != image)
    {
        out.push("the vDSO's image changed".into());
    }
    let Some(clock) = machine.clock.as_ref() else {
        out.push("a vDSO without a clock".into());
        return;
    };
    // What the runner wrote last, and zeros after it.
    let want = vdso::data_page(clock.params());
    let used = want.len() as u64;
    let holds = mem.slice(VVAR_PA, used).is_ok_and(|b| b == want.as_slice())
        && mem
            .slice(VVAR_PA + used, PAGE_SIZE - used)
            .is_ok_and(|b| b.iter().all(|&x| x == 0));
    if !holds {
        out.push("the vDSO's data page differs from the runner's clock".into());
    }
}

/// The frame a vDSO page maps, by its address.
fn vdso_frame(va: u64) -> Option<u64> {
    if va == VVAR_VA {
        return Some(VVAR_PA);
    }
    (VDSO_VA..VDSO_END)
        .contains(&va)
        .then(|| VDSO_PA + (va - VDSO_VA))
}

/// Walks the page tables: collects table frames and checks every leaf.
fn address_space_shape(mem: &GuestMemory, root: u64, out: &mut Vec<String>) {
    let mut tables = BTreeSet::new();
    let mut leaves: Vec<(u64, u64, u64)> = Vec::new(); // (va, pa, flags)
    walk(mem, root, 3, 0, &mut tables, &mut leaves, out);
    let mut frames = BTreeSet::new();
    for (va, pa, flags) in leaves {
        let user_half = va < USER_END;
        if !user_half {
            if flags & USER != 0 {
                out.push(format!("kernel-half page {va:#x} is user-accessible"));
            }
            continue;
        }
        if let Some(frame) = vdso_frame(va) {
            if pa != frame || flags & WRITABLE != 0 {
                out.push(format!(
                    "vDSO page {va:#x} maps {pa:#x} (flags {flags:#x}), not its own frame read-only"
                ));
            }
            continue;
        }
        if pa < FIRST_FREE_PA || pa + PAGE_SIZE > mem.len() {
            out.push(format!(
                "user page {va:#x} maps guest-physical {pa:#x} outside user frames"
            ));
        }
        if tables.contains(&pa) {
            out.push(format!(
                "user page {va:#x} maps a page-table frame ({pa:#x})"
            ));
        }
        if !frames.insert(pa) {
            out.push(format!(
                "user page {va:#x} shares frame {pa:#x} with another page"
            ));
        }
    }
}

fn walk(
    mem: &GuestMemory,
    table: u64,
    level: u32,
    va_base: u64,
    tables: &mut BTreeSet<u64>,
    leaves: &mut Vec<(u64, u64, u64)>,
    out: &mut Vec<String>,
) {
    if !tables.insert(table) {
        out.push(format!("page table {table:#x} is reachable twice"));
        return;
    }
    for i in 0..512u64 {
        let Ok(entry) = mem.read_u64(table + i * 8) else {
            out.push(format!("page table {table:#x} lies outside guest memory"));
            return;
        };
        let mut va = va_base | (i << (12 + 9 * level));
        if level == 3 && i >= 256 {
            va |= 0xffff_0000_0000_0000; // sign-extend the kernel half
        }
        if level == 0 {
            if entry & (PRESENT | BACKED) != 0 {
                leaves.push((va, entry & ADDR_MASK, entry));
            }
            continue;
        }
        if level == 1 && entry & HUGE != 0 && entry & (PRESENT | BACKED) != 0 {
            // A 2 MiB page: checked as the 512 4 KiB pages it maps.
            let block = entry & ADDR_MASK;
            if !block.is_multiple_of(HUGE_SIZE) || va >= USER_END {
                out.push(format!(
                    "2 MiB page at {va:#x} maps a misaligned block {block:#x} or lies outside the user half"
                ));
                continue;
            }
            for i in 0..HUGE_PAGES {
                leaves.push((va + i * PAGE_SIZE, block + i * PAGE_SIZE, entry & !HUGE));
            }
            continue;
        }
        if entry & PRESENT == 0 {
            continue;
        }
        if entry & HUGE != 0 {
            out.push(format!(
                "1 GiB page at {va:#x}: the runner never builds one"
            ));
            continue;
        }
        walk(mem, entry & ADDR_MASK, level - 1, va, tables, leaves, out);
    }
}
