//! A process's ring code: the pages of stub and entries the runner mapped
//! into it, the syscall sites it patched to jump there, and how a thread
//! stopped inside that code is put back where the program is.
//!
//! A site is patched lazily, the first time it traps: the five bytes of
//! `mov $nr,%eax` before the `syscall` become `jmp entry`; the `syscall`
//! stays. A thread that was between the two instructions (a signal frame's
//! RIP, or a thread that will resume there) still finds a `syscall` and
//! traps as before, so the patch never changes the meaning of an address
//! the program can be at. Only a site whose process has one thread is
//! patched (no other vCPU can be fetching those bytes as they change), in
//! a private page (never a MAP_SHARED file's), and never a site whose
//! bytes are not exactly `b8 <nr> 0f 05` with that call's number.
//!
//! What a program could notice (docs/architecture.md, "Exitless
//! syscalls"): reading its own code back shows the jump at patched sites;
//! /proc/self/maps shows the ring code pages (anonymous, r-x) and the slot
//! pages; `%gs` has a base (ARCH_GET_GS still answers the program's own
//! value, 0 by default). Setting a GS base turns the ring off for the
//! process and restores every site.

use super::slot;
use super::stub::{self, Place};
use crate::guest::address_space::{AddressSpace, MmapFlags};
use crate::guest::page_table::Prot;
use std::collections::BTreeMap;
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

/// How far a `jmp rel32` reaches, with a page to spare.
const REACH: u64 = (1 << 31) - 2 * PAGE_SIZE;

/// One page of ring code.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CodePage {
    va: u64,
    /// Entries used.
    used: u64,
}

/// The ring code of one process. Cloned into a forked child, whose
/// address space is a copy (the pages and patches are there too); empty
/// after execve.
#[derive(Debug, Clone, Default)]
pub struct RingCode {
    pages: Vec<CodePage>,
    /// Patched sites (the `mov`'s address) and the bytes they held.
    patched: BTreeMap<u64, [u8; 5]>,
    /// Entry address -> its site (the `mov`) and call number.
    entries: BTreeMap<u64, (u64, u64)>,
    /// The process set a GS base of its own: no ring, no patches.
    pub disabled: bool,
    /// Slot pages the runner mapped into this address space.
    slots: std::collections::BTreeSet<u64>,
}

/// Where a thread stopped in ring code must continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// At the site's `syscall` (or its `mov`), the call not made: `rip`,
    /// RAX = `rax` (None: as it is), and, when known from the slot, RSP
    /// and RFLAGS.
    Before {
        rip: u64,
        rax: Option<u64>,
        rsp: Option<u64>,
        rflags: Option<u64>,
    },
    /// After the site, the call made: RAX the result, RCX the return
    /// address, R11 and RFLAGS the saved flags, RSP the program's.
    After {
        rip: u64,
        rax: u64,
        rflags: u64,
        rsp: u64,
    },
    /// Only RIP moves, to RCX.
    JumpToRcx,
}

impl RingCode {
    /// Whether `va` is in one of this process's ring code pages, and if so
    /// its offset there.
    pub fn offset_in_code(&self, va: u64) -> Option<u64> {
        self.pages
            .iter()
            .find(|p| (p.va..p.va + PAGE_SIZE).contains(&va))
            .map(|p| va - p.va)
    }

    /// Whether the runner mapped the slot page at `va` here (a page the
    /// program mapped there itself is never replaced).
    pub fn owns_slot(&self, va: u64) -> bool {
        self.slots.contains(&va)
    }

    /// The runner mapped a slot page at `va`.
    pub fn slot_mapped(&mut self, va: u64) {
        self.slots.insert(va);
    }

    /// The slot pages the runner mapped here.
    pub fn slots(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots.iter().copied()
    }

    /// Whether the process has any ring code (a stopped thread can only be
    /// in it then).
    pub fn has_code(&self) -> bool {
        !self.pages.is_empty()
    }

    /// A fork's copy: the same ring code and patched sites, none of the
    /// parent's slots (the child's address space no longer maps them).
    pub fn for_child(&self) -> RingCode {
        RingCode {
            slots: Default::default(),
            ..self.clone()
        }
    }

    /// Sites patched so far.
    pub fn sites(&self) -> usize {
        self.patched.len()
    }

    /// Whether the `mov` at `site` was patched (its `syscall` trapping
    /// means the stub fell back).
    pub fn is_patched(&self, site: u64) -> bool {
        self.patched.contains_key(&site)
    }

    /// How a thread stopped at `rip` (in ring code) continues, given its
    /// RCX and RAX now and the slot's fields. None: not an instruction of
    /// the ring code (the program jumped there; left as it is).
    pub fn resume_at(&self, rip: u64, rcx: u64, slot: &SlotView) -> Option<Resume> {
        let off = self.offset_in_code(rip)?;
        let page = rip - off;
        let site_of = |k: u64| {
            self.entries
                .get(&(page + stub::ENTRIES + k * stub::ENTRY_SIZE))
                .copied()
        };
        Some(match stub::locate(off) {
            // At the site's `syscall`, the call not made, RAX its number:
            // resuming there traps, so a thread that stops here at every
            // instruction (single-stepped, TF) still makes progress.
            Place::EntryStart(k) | Place::InEntry(k) => {
                let (site, nr) = site_of(k)?;
                Resume::Before {
                    rip: site + 5,
                    rax: Some(nr),
                    rsp: None,
                    rflags: None,
                }
            }
            Place::BeforePublish { on_stub_stack } => Resume::Before {
                rip: rcx.wrapping_sub(2),
                rax: None,
                rsp: on_stub_stack.then_some(slot.saved_rsp),
                rflags: None,
            },
            Place::Published => {
                let done = (slot.state == slot::DONE || slot.state == slot::DONE_EXIT)
                    && slot.verdict == slot::VERDICT_RESULT;
                if done {
                    Resume::After {
                        rip: slot.request.ret,
                        rax: slot.result,
                        rflags: slot.request.flags,
                        rsp: slot.saved_rsp,
                    }
                } else {
                    Resume::Before {
                        rip: slot.request.ret.wrapping_sub(2),
                        rax: Some(slot.request.nr),
                        rsp: Some(slot.saved_rsp),
                        rflags: Some(slot.request.flags),
                    }
                }
            }
            Place::FinalJump => Resume::JumpToRcx,
            Place::Nowhere => return None,
        })
    }

    /// Patches the site whose `syscall` is at `syscall_at` (call `nr`), in
    /// `mm`. False when it is not a patchable site or there is no room;
    /// Err only when the address space itself fails.
    pub fn patch(
        &mut self,
        mm: &mut AddressSpace,
        mem: &mut GuestMemory,
        syscall_at: u64,
        nr: u64,
    ) -> Result<bool, crate::guest::address_space::MapError> {
        let Ok(nr32) = u32::try_from(nr) else {
            return Ok(false);
        };
        let Some(site) = syscall_at.checked_sub(5) else {
            return Ok(false);
        };
        if self.disabled || self.patched.contains_key(&site) {
            return Ok(false);
        }
        let mut expect = [0u8; 7];
        expect[0] = 0xb8;
        expect[1..5].copy_from_slice(&nr32.to_le_bytes());
        expect[5..].copy_from_slice(&[0x0f, 0x05]);
        if read_code(mm, mem, site, 7).as_deref() != Some(&expect[..]) {
            return Ok(false);
        }
        let Some((entry, page_index)) = self.free_entry(mm, mem, site)? else {
            return Ok(false);
        };
        let stub_va = self.pages[page_index].va;
        let (Some(entry_code), Some(jump)) = (
            stub::entry_bytes(entry, site, nr32, stub_va),
            stub::site_jump(site, entry),
        ) else {
            return Ok(false);
        };
        if !mm.write_code(mem, entry, &entry_code)? {
            return Ok(false);
        }
        let mut original = [0u8; 5];
        original.copy_from_slice(&expect[..5]);
        if !mm.write_code(mem, site, &jump)? {
            return Ok(false);
        }
        self.pages[page_index].used += 1;
        self.entries.insert(entry, (site, nr));
        self.patched.insert(site, original);
        Ok(true)
    }

    /// A free entry within reach of `site` (a new page when none has
    /// room), and its page's index.
    fn free_entry(
        &mut self,
        mm: &mut AddressSpace,
        mem: &mut GuestMemory,
        site: u64,
    ) -> Result<Option<(u64, usize)>, crate::guest::address_space::MapError> {
        let near = |p: &CodePage| p.va.abs_diff(site) < REACH;
        let found = self
            .pages
            .iter()
            .position(|p| p.used < stub::ENTRIES_PER_PAGE && near(p));
        let index = match found {
            Some(i) => i,
            None => {
                // Below the slots (and the vDSO and stack above them).
                let Some(va) = mm.find_gap_near(site, PAGE_SIZE, REACH, slot::SLOTS_VA) else {
                    return Ok(None);
                };
                let flags = MmapFlags::NOREPLACE;
                if mm
                    .mmap_anonymous(mem, va, PAGE_SIZE, Prot::RX, flags)
                    .is_err()
                {
                    return Ok(None);
                }
                if !mm.write_code(mem, va, stub::STUB)? {
                    return Ok(None);
                }
                self.pages.push(CodePage { va, used: 0 });
                self.pages.len() - 1
            }
        };
        let p = &self.pages[index];
        Ok(Some((
            p.va + stub::ENTRIES + p.used * stub::ENTRY_SIZE,
            index,
        )))
    }

    /// Turns the ring off for the process: every patched site gets its
    /// bytes back (the ring code pages stay, unused).
    pub fn disable(
        &mut self,
        mm: &mut AddressSpace,
        mem: &mut GuestMemory,
    ) -> Result<(), crate::guest::address_space::MapError> {
        self.disabled = true;
        for (site, original) in std::mem::take(&mut self.patched) {
            // A site the program unmapped or remapped meanwhile is not
            // its code any more: nothing to restore there.
            if read_code(mm, mem, site, 1).as_deref() == Some(&[0xe9][..]) {
                mm.write_code(mem, site, &original)?;
            }
        }
        self.entries.clear();
        Ok(())
    }
}

/// `len` bytes of the process's memory at `va`, as the program would
/// fetch them (readable or executable pages); None when a page is absent.
fn read_code(mm: &AddressSpace, mem: &GuestMemory, va: u64, len: u64) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(len as usize);
    let mut at = va;
    let end = va.checked_add(len)?;
    while at < end {
        let room = PAGE_SIZE - (at & (PAGE_SIZE - 1));
        let n = room.min(end - at);
        let t = mm.translate(mem, at).filter(|t| t.user_readable())?;
        let pa = t.pa + (at & (PAGE_SIZE - 1));
        let mut b = vec![0u8; n as usize];
        mem.read(pa, &mut b).ok()?;
        out.extend_from_slice(&b);
        at += n;
    }
    Some(out)
}

/// The fields of a thread's slot the fix-up needs, read once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlotView {
    pub state: u32,
    pub verdict: u32,
    pub request: slot::Request,
    pub result: u64,
    pub saved_rsp: u64,
}
