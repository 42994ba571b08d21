//! A process's ring code: the pages of stub and entries the runner mapped
//! into it, the syscall sites it patched to jump there, and how a thread
//! stopped inside that code is put back where the program is.
//!
//! A site is patched lazily, the first time it traps, in one of two ways:
//! - `mov $nr,%eax; syscall`: the five bytes of the `mov` become `jmp
//!   entry`; the `syscall` stays. A thread that was between the two
//!   instructions (a signal frame's RIP, or a thread that will resume
//!   there) still finds a `syscall` and traps as before.
//! - Any other `syscall` followed by instructions that can move (moved.rs:
//!   glibc's `read`, `xor %eax,%eax; syscall; cmp $-4096,%rax`): the
//!   `syscall` and those instructions move into the entry and their bytes
//!   become `jmp entry`. The addresses inside the span no longer start
//!   instructions, so the program never sees them change: a thread stopped
//!   in the entry shows the matching address of the span in its signal
//!   frame and death line ([`RingCode::program_view`]), and rt_sigreturn
//!   to such an address goes back into the entry ([`RingCode::ring_rip`]).
//!
//! Only a site whose process has one thread is patched (no other vCPU can
//! be fetching those bytes as they change), in a private page (never a
//! MAP_SHARED file's), and never one whose bytes are not what the patch
//! expects.
//!
//! What a program could notice (docs/architecture.md, "Exitless
//! syscalls"): reading its own code back shows the jump at patched sites;
//! /proc/self/maps shows the ring code pages (anonymous, r-x) and the slot
//! pages; `%gs` has a base (ARCH_GET_GS still answers the program's own
//! value, 0 by default); a context saved by a signal handler and resumed
//! without rt_sigreturn (setcontext) inside a moved span. Setting a GS
//! base turns the ring off for the process and restores every site.

use super::moved;
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
    /// Entry units (of [`stub::ENTRY_SIZE`] bytes) used.
    used: u64,
}

/// What an entry stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A `mov $nr,%eax` that jumps here; its `syscall` stayed at site+5.
    Mov { nr: u64 },
    /// A moved `syscall` and the `len` bytes of its span; `starts`: (offset
    /// in the entry's body, offset from the site) of each moved
    /// instruction and of the jump back.
    Moved { len: u64, starts: Vec<(u64, u64)> },
}

/// One entry: the site that jumps to it, its size and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    site: u64,
    size: u64,
    kind: Kind,
}

/// One patched site: the bytes it held and those written over them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Patch {
    original: Vec<u8>,
    written: Vec<u8>,
    entry: u64,
}

/// The ring code of one process. Cloned into a forked child, whose
/// address space is a copy (the pages and patches are there too); empty
/// after execve.
#[derive(Debug, Clone, Default)]
pub struct RingCode {
    pages: Vec<CodePage>,
    /// Patched sites by their first patched byte (the `mov`, or the moved
    /// `syscall`).
    patched: BTreeMap<u64, Patch>,
    /// Entries by address.
    entries: BTreeMap<u64, Entry>,
    /// The process set a GS base of its own: no ring, no patches.
    pub disabled: bool,
    /// Slot pages the runner mapped into this address space.
    slots: std::collections::BTreeSet<u64>,
    /// How many sites moved.
    moved: u64,
    /// `syscall` addresses already found not patchable (not a pattern
    /// the ring patches, or jumped into), so that a site that traps
    /// often is looked at once; at most [`REFUSED_KEPT`].
    refused: std::collections::BTreeSet<u64>,
    /// `syscall` addresses that trapped in a thread not on the ring yet
    /// (`RingStart::OnReuse`, `ring_loop::note_trap`); at most
    /// [`REFUSED_KEPT`].
    trapped: std::collections::BTreeSet<u64>,
}

/// How many refused sites a process remembers (a program that makes ever
/// new `syscall` instructions cannot grow the runner's memory).
const REFUSED_KEPT: usize = 4096;

/// How a site was patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patched {
    /// Its `mov $nr,%eax` jumps to the entry; the `syscall` stayed.
    InPlace,
    /// Its `syscall` and the instructions after it moved to the entry.
    Moved,
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

    /// The entry `va` is in, and where it starts.
    fn entry_at(&self, va: u64) -> Option<(u64, &Entry)> {
        let (&at, e) = self.entries.range(..=va).next_back()?;
        (va < at + e.size).then_some((at, e))
    }

    /// Whether a trap of the `syscall` at `syscall_at` is a patched site
    /// whose stub fell back: a `mov` site's own `syscall`, or a moved
    /// site's fallback in its entry.
    pub fn trapped_at_site(&self, syscall_at: u64) -> bool {
        let mov_site = syscall_at
            .checked_sub(5)
            .and_then(|s| self.patched.get(&s))
            .and_then(|p| self.entries.get(&p.entry))
            .is_some_and(|e| matches!(e.kind, Kind::Mov { .. }));
        let fallback = self.entry_at(syscall_at).is_some_and(|(at, e)| {
            matches!(e.kind, Kind::Moved { .. }) && syscall_at == at + stub::MOVED_FALLBACK
        });
        mov_site || fallback
    }

    /// What the program sees of a thread at `rip` with `rcx`: the
    /// addresses of a moved site's span for a thread in its entry (signal
    /// frames, fault reports, death lines). Anything else is as it is.
    pub fn program_view(&self, rip: u64, rcx: u64) -> (u64, u64) {
        let Some((at, e)) = self.entry_at(rip) else {
            return (rip, rcx);
        };
        let Kind::Moved { starts, .. } = &e.kind else {
            return (rip, rcx);
        };
        // RCX holds the entry's return point only until the entry's
        // second `lea`: the program's value there is the span's.
        let rcx = if rcx == at + stub::MOVED_AFTER {
            e.site + 2
        } else {
            rcx
        };
        let off = rip - at;
        let rip = if off < stub::MOVED_AFTER {
            // The call not made yet: at the `syscall`.
            e.site
        } else if off == stub::MOVED_AFTER {
            e.site + 2
        } else {
            starts
                .iter()
                .find(|&&(body, _)| stub::MOVED_BODY + body == off)
                .map_or(rip, |&(_, orig)| e.site + orig)
        };
        (rip, rcx)
    }

    /// Whether any site moved (a thread may have to be moved into an
    /// entry).
    pub fn has_moved(&self) -> bool {
        self.moved > 0
    }

    /// Where a thread bound for `rip` (rt_sigreturn, a call that returns,
    /// a thread another one held out while it patched) goes: into the
    /// entry when `rip` starts an instruction inside a moved span whose
    /// bytes are still the jump (the program may have replaced that code
    /// since).
    pub fn ring_rip(&self, mm: &AddressSpace, mem: &GuestMemory, rip: u64) -> u64 {
        let Some((&site, patch)) = self.patched.range(..=rip).next_back() else {
            return rip;
        };
        if rip <= site || rip >= site + patch.written.len() as u64 {
            return rip;
        }
        let len = patch.written.len() as u64;
        if read_code(mm, mem, site, len).as_deref() != Some(&patch.written[..]) {
            return rip;
        }
        let Some(e) = self.entries.get(&patch.entry) else {
            return rip;
        };
        let Kind::Moved { len, starts } = &e.kind else {
            return rip;
        };
        let off = rip - site;
        if off == 0 || off >= *len {
            return rip;
        }
        if off == 2 {
            return patch.entry + stub::MOVED_AFTER;
        }
        starts
            .iter()
            .find(|&&(_, orig)| orig == off)
            .map_or(rip, |&(body, _)| patch.entry + stub::MOVED_BODY + body)
    }

    /// How a thread stopped at `rip` (in ring code) continues, given its
    /// RCX and RAX now and the slot's fields. None: it stays where it is
    /// (a moved site's `syscall` or moved instructions, which run in
    /// place), or it is not an instruction of the ring code (the program
    /// jumped there).
    pub fn resume_at(&self, rip: u64, rcx: u64, slot: &SlotView) -> Option<Resume> {
        let off = self.offset_in_code(rip)?;
        Some(match stub::locate(off) {
            Place::InEntries => {
                let (at, e) = self.entry_at(rip)?;
                let off = rip - at;
                match e.kind {
                    // At the site's `syscall`, the call not made, RAX its
                    // number: resuming there traps, so a thread that stops
                    // here at every instruction (single-stepped, TF) still
                    // makes progress.
                    Kind::Mov { nr } if stub::MOV_ENTRY_STARTS.contains(&off) => Resume::Before {
                        rip: e.site + 5,
                        rax: Some(nr),
                        rsp: None,
                        rflags: None,
                    },
                    // The same at the entry's own `syscall`.
                    Kind::Moved { .. } if off < stub::MOVED_FALLBACK => Resume::Before {
                        rip: at + stub::MOVED_FALLBACK,
                        rax: None,
                        rsp: None,
                        rflags: None,
                    },
                    _ => return None,
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
    /// `mm`, and says how. None when it is not a patchable site or there
    /// is no room; Err only when the address space itself fails.
    pub fn patch(
        &mut self,
        mm: &mut AddressSpace,
        mem: &mut GuestMemory,
        syscall_at: u64,
        nr: u64,
    ) -> Result<Option<Patched>, crate::guest::address_space::MapError> {
        if !self.candidate(syscall_at) {
            return Ok(None);
        }
        if let Some(done) = self.patch_mov(mm, mem, syscall_at, nr)? {
            return Ok(done.then_some(Patched::InPlace));
        }
        Ok(self
            .patch_moved(mm, mem, syscall_at)?
            .then_some(Patched::Moved))
    }

    /// Whether the `syscall` at `syscall_at` may be a site to patch (a
    /// cheap look, before the process's other threads are held out for
    /// [`RingCode::patch`]): not a patched `mov` site's own `syscall` (its
    /// stub falling back), not inside a span (its bytes are the jump), not
    /// in ring code (a moved site's fallback), not refused before.
    pub fn candidate(&self, syscall_at: u64) -> bool {
        !self.disabled
            && !self.overlaps(syscall_at.saturating_sub(5), 7)
            && self.offset_in_code(syscall_at).is_none()
            && !self.refused.contains(&syscall_at)
    }

    /// Whether the `syscall` at `syscall_at` trapped before; remembers
    /// that it did now. Once the memory is full, every site counts as
    /// seen (a program with that many sites makes calls enough).
    pub fn trapped_before(&mut self, syscall_at: u64) -> bool {
        if self.trapped.len() >= REFUSED_KEPT {
            return true;
        }
        !self.trapped.insert(syscall_at)
    }

    /// Remembers that the `syscall` at `syscall_at` is not patchable.
    fn refuse(&mut self, syscall_at: u64) {
        if self.refused.len() < REFUSED_KEPT {
            self.refused.insert(syscall_at);
        }
    }

    /// A `mov $nr,%eax; syscall` site. None: the bytes are not that.
    fn patch_mov(
        &mut self,
        mm: &mut AddressSpace,
        mem: &mut GuestMemory,
        syscall_at: u64,
        nr: u64,
    ) -> Result<Option<bool>, crate::guest::address_space::MapError> {
        let (Ok(nr32), Some(site)) = (u32::try_from(nr), syscall_at.checked_sub(5)) else {
            return Ok(None);
        };
        let mut expect = [0u8; 7];
        expect[0] = 0xb8;
        expect[1..5].copy_from_slice(&nr32.to_le_bytes());
        expect[5..].copy_from_slice(&[0x0f, 0x05]);
        if read_code(mm, mem, site, 7).as_deref() != Some(&expect[..]) {
            return Ok(None);
        }
        if self.overlaps(site, 5) {
            return Ok(Some(false));
        }
        let Some((entry, page_index)) = self.free_entry(mm, mem, site, 1)? else {
            return Ok(Some(false));
        };
        let stub_va = self.pages[page_index].va;
        let (Some(entry_code), Some(jump)) = (
            stub::entry_bytes(entry, site, nr32, stub_va),
            stub::site_jump(site, entry),
        ) else {
            return Ok(Some(false));
        };
        let done = self.install(
            mm,
            mem,
            page_index,
            (entry, &entry_code),
            (site, &expect[..5], &jump),
            Kind::Mov { nr },
        )?;
        Ok(Some(done))
    }

    /// Any other `syscall` whose next instructions can move (moved.rs).
    fn patch_moved(
        &mut self,
        mm: &mut AddressSpace,
        mem: &mut GuestMemory,
        site: u64,
    ) -> Result<bool, crate::guest::address_space::MapError> {
        let code = read_code_up_to(mm, mem, site, moved::MAX_SPAN);
        let Some(span) = moved::span_at(&code, site) else {
            self.refuse(site);
            return Ok(false);
        };
        if self.overlaps(site, span.len) {
            return Ok(false);
        }
        let (window_va, window) = read_around(mm, mem, site, moved::LOOK_AROUND);
        if moved::jumped_into(&window, window_va, &span) {
            self.refuse(site);
            return Ok(false);
        }
        // The body's length does not depend on where it goes.
        let Some(sized) = moved::encode(&span, site) else {
            return Ok(false);
        };
        let units = (stub::MOVED_BODY + sized.bytes.len() as u64).div_ceil(stub::ENTRY_SIZE);
        let Some((entry, page_index)) = self.free_entry(mm, mem, site, units)? else {
            return Ok(false);
        };
        let stub_va = self.pages[page_index].va;
        let Some(body) = moved::encode(&span, entry + stub::MOVED_BODY) else {
            return Ok(false);
        };
        let (Some(entry_code), Some(jump)) = (
            stub::moved_entry_bytes(entry, site, &body.bytes, stub_va),
            stub::span_jump(site, span.len, entry),
        ) else {
            return Ok(false);
        };
        let original = &code[..span.len as usize];
        let done = self.install(
            mm,
            mem,
            page_index,
            (entry, &entry_code),
            (site, original, &jump),
            Kind::Moved {
                len: span.len,
                starts: body.starts,
            },
        )?;
        self.moved += u64::from(done);
        Ok(done)
    }

    /// Whether `[site, site + len)` overlaps a patched site.
    fn overlaps(&self, site: u64, len: u64) -> bool {
        self.patched
            .range(..site + len)
            .next_back()
            .is_some_and(|(&at, p)| at + p.written.len() as u64 > site)
    }

    /// Writes an entry, then the jump to it over the site; records both.
    fn install(
        &mut self,
        mm: &mut AddressSpace,
        mem: &mut GuestMemory,
        page_index: usize,
        (entry, entry_code): (u64, &[u8]),
        (site, original, jump): (u64, &[u8], &[u8]),
        kind: Kind,
    ) -> Result<bool, crate::guest::address_space::MapError> {
        if !mm.write_code(mem, entry, entry_code)? || !mm.write_code(mem, site, jump)? {
            return Ok(false);
        }
        let size = entry_code.len() as u64;
        self.pages[page_index].used += size / stub::ENTRY_SIZE;
        self.entries.insert(entry, Entry { site, size, kind });
        self.patched.insert(
            site,
            Patch {
                original: original.to_vec(),
                written: jump.to_vec(),
                entry,
            },
        );
        Ok(true)
    }

    /// A free entry of `units` entry units within reach of `site` (a new
    /// page when none has room), and its page's index.
    fn free_entry(
        &mut self,
        mm: &mut AddressSpace,
        mem: &mut GuestMemory,
        site: u64,
        units: u64,
    ) -> Result<Option<(u64, usize)>, crate::guest::address_space::MapError> {
        if units > stub::ENTRIES_PER_PAGE {
            return Ok(None);
        }
        let near = |p: &CodePage| p.va.abs_diff(site) < REACH;
        let found = self
            .pages
            .iter()
            .position(|p| p.used + units <= stub::ENTRIES_PER_PAGE && near(p));
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
    /// bytes back (the ring code pages stay: a thread may still be in a
    /// moved site's entry, which runs on and jumps back).
    pub fn disable(
        &mut self,
        mm: &mut AddressSpace,
        mem: &mut GuestMemory,
    ) -> Result<(), crate::guest::address_space::MapError> {
        self.disabled = true;
        for (site, patch) in std::mem::take(&mut self.patched) {
            // A site the program unmapped, remapped or rewrote meanwhile
            // is not the code we patched: nothing to restore there.
            let len = patch.written.len() as u64;
            if read_code(mm, mem, site, len).as_deref() == Some(&patch.written[..]) {
                mm.write_code(mem, site, &patch.original)?;
            }
        }
        Ok(())
    }
}

/// Up to `len` bytes of the process's code at `va`: fewer where a page is
/// absent or not readable.
pub fn read_code_up_to(mm: &AddressSpace, mem: &GuestMemory, va: u64, len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = va;
    let Some(end) = va.checked_add(len) else {
        return out;
    };
    while at < end {
        let n = (PAGE_SIZE - (at & (PAGE_SIZE - 1))).min(end - at);
        match read_code(mm, mem, at, n) {
            Some(b) => out.extend_from_slice(&b),
            None => break,
        }
        at += n;
    }
    out
}

/// The readable code around `va`, up to `radius` bytes either side, and
/// its address: the pages next to `va`'s as long as they are readable.
fn read_around(mm: &AddressSpace, mem: &GuestMemory, va: u64, radius: u64) -> (u64, Vec<u8>) {
    let page = va & !(PAGE_SIZE - 1);
    let lowest = va.saturating_sub(radius) & !(PAGE_SIZE - 1);
    let mut lo = page;
    while lo > lowest && read_code(mm, mem, lo - PAGE_SIZE, 1).is_some() {
        lo -= PAGE_SIZE;
    }
    let start = lo.max(va.saturating_sub(radius));
    let code = read_code_up_to(mm, mem, start, va - start + radius);
    (start, code)
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

/// The fields of a thread's slot the fix-up needs, read once. Once the
/// runner has answered (`state` DONE or DONE_EXIT), `request.args[0]` is
/// the result, not the first argument (slot.rs: the result is written
/// over it); nothing here reads the arguments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlotView {
    pub state: u32,
    pub verdict: u32,
    pub request: slot::Request,
    pub result: u64,
    pub saved_rsp: u64,
}

#[cfg(test)]
mod tests {
    use super::{RingCode, REFUSED_KEPT};

    /// A site counts as used again from its second trap on, whichever
    /// thread made the first; a fork's copy remembers the parent's; an
    /// address space with more sites than are remembered counts every
    /// new one as used again (its program makes calls enough).
    #[test]
    fn a_site_is_used_again_from_its_second_trap() {
        let mut ring = RingCode::default();
        assert!(!ring.trapped_before(0x40_1000));
        assert!(!ring.trapped_before(0x40_2000));
        assert!(ring.trapped_before(0x40_1000));
        assert!(ring.for_child().trapped_before(0x40_2000));
        let mut many = RingCode::default();
        for site in 0..REFUSED_KEPT as u64 {
            assert!(!many.trapped_before(0x50_0000 + 2 * site));
        }
        assert!(many.trapped_before(0x90_0000));
    }
}
