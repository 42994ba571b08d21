//! Unit tests of fork and copy-on-write: private writes on both sides, the
//! last owner's fault, memory calls on shared frames, the release of a
//! space, the tunnel's writes, 2 MiB pages, mprotect, running out of
//! tables, and the cost of a large fork. Guest memory is plain memory
//! here: a program's write is played by `guest_write` (the walk, and
//! `resolve_cow` where the CPU would fault).

use super::*;
use crate::guest::frames::HUGE_SIZE;
use crate::guest::layout::KERNEL_BASE;
use crate::guest::page_table::{NO_EXECUTE, PRESENT, WRITABLE};
use crate::tunnel::{Access, GuestPtr, Tunnel};
use sandbox_policy::TunnelRanges;
use std::io::Cursor;

pub(super) const MIB: u64 = 1 << 20;
pub(super) const AT: u64 = 0x4000_0000;
pub(super) const PAGE: usize = PAGE_SIZE as usize;

pub(super) fn space(limit: u64) -> (AddressSpace, GuestMemory) {
    let phys = crate::guest::layout::physical_size(limit);
    let mem = GuestMemory::new(phys as usize).expect("guest memory");
    let frames = FrameAllocator::new(0x11000, phys, limit);
    (AddressSpace::new(PageTables::new(0x10000), frames), mem)
}

/// `pages` RW pages at `AT`, page i filled with byte `seed + i`.
fn filled(limit: u64, pages: u64, seed: u8) -> (AddressSpace, GuestMemory) {
    let (mut a, mut m) = space(limit);
    a.map_fixed(&mut m, AT, pages * PAGE_SIZE, Prot::RW)
        .expect("map");
    for i in 0..pages {
        let data = vec![seed.wrapping_add(i as u8); PAGE];
        guest_write(&mut a, &mut m, AT + i * PAGE_SIZE, &data);
    }
    a.before_entry();
    (a, m)
}

/// What the program reads at `va` (through the tunnel's walk).
pub(super) fn guest_read(
    a: &mut AddressSpace,
    m: &mut GuestMemory,
    va: u64,
    len: usize,
) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    Tunnel::for_runner_layout(a, m)
        .read(GuestPtr::new(va), &mut buf)
        .expect("readable");
    buf
}

/// A program's write of `data` (within one page) at `va`: where the page
/// is not writable, the CPU's write fault goes to `resolve_cow`, which
/// must make it writable.
pub(super) fn guest_write(a: &mut AddressSpace, m: &mut GuestMemory, va: u64, data: &[u8]) {
    let writable = a.translate(m, va).is_some_and(|t| t.user_writable());
    if !writable {
        assert_eq!(a.resolve_cow(m, va), Ok(true), "write fault at {va:#x}");
    }
    let t = a.translate(m, va).expect("mapped");
    assert!(t.user_writable(), "writable after the fault");
    m.write(t.pa + (va & (PAGE_SIZE - 1)), data).expect("write");
}

pub(super) fn frame(a: &AddressSpace, m: &GuestMemory, va: u64) -> u64 {
    a.translate(m, va).expect("mapped").pa
}

pub(super) fn page_of(byte: u8) -> Vec<u8> {
    vec![byte; PAGE]
}

#[test]
fn after_fork_each_side_writes_privately() {
    let (mut parent, mut m) = filled(16 * MIB, 4, 10);
    let used = parent.user_bytes();
    let mut child = parent.fork(&mut m).expect("fork");
    assert_eq!(parent.user_bytes(), used, "nothing copied");
    assert!(parent.needs_tlb_flush, "the parent's leaves lost W");
    for a in [&parent, &child] {
        let t = a.translate(&m, AT).expect("mapped");
        assert!(!t.user_writable() && t.copy_on_write());
    }
    assert_eq!(frame(&parent, &m, AT), frame(&child, &m, AT), "one frame");
    for i in 0..4u64 {
        let va = AT + i * PAGE_SIZE;
        assert_eq!(
            guest_read(&mut child, &mut m, va, PAGE),
            page_of(10 + i as u8)
        );
    }
    // The child writes page 0, the parent page 1: neither sees the other.
    guest_write(&mut child, &mut m, AT + 5, &[0xc0; 16]);
    assert!(child.needs_tlb_flush, "the frame left behind is refreshed");
    guest_write(&mut parent, &mut m, AT + PAGE_SIZE, &[0xa0; 16]);
    assert_eq!(&guest_read(&mut child, &mut m, AT, 32)[5..21], &[0xc0; 16]);
    assert_eq!(guest_read(&mut parent, &mut m, AT, PAGE), page_of(10));
    assert_eq!(
        &guest_read(&mut parent, &mut m, AT + PAGE_SIZE, 16),
        &[0xa0; 16]
    );
    assert_eq!(
        guest_read(&mut child, &mut m, AT + PAGE_SIZE, PAGE),
        page_of(11)
    );
    assert_eq!(parent.user_bytes(), used + 2 * PAGE_SIZE, "two copies");
    // Each side is now the last owner of the other's page: W comes back
    // in place, without a copy.
    let before = frame(&parent, &m, AT);
    guest_write(&mut parent, &mut m, AT, &[1]);
    assert_eq!(frame(&parent, &m, AT), before, "no copy");
    assert_eq!(parent.user_bytes(), used + 2 * PAGE_SIZE);
    assert_eq!(parent.frames.shared_frames(), 2, "pages 2 and 3");
    // Pages never written stay shared.
    assert_eq!(
        frame(&parent, &m, AT + 3 * PAGE_SIZE),
        frame(&child, &m, AT + 3 * PAGE_SIZE)
    );
}

#[test]
fn the_last_owner_gets_w_back_without_a_copy() {
    let (mut parent, mut m) = filled(16 * MIB, 2, 1);
    let child = parent.fork(&mut m).expect("fork");
    let used = parent.user_bytes();
    child.release(&mut m).expect("release");
    assert_eq!(parent.user_bytes(), used, "the child copied nothing");
    let before = frame(&parent, &m, AT);
    parent.needs_tlb_flush = false;
    guest_write(&mut parent, &mut m, AT, &[9; 8]);
    assert_eq!(frame(&parent, &m, AT), before, "W set in place");
    assert!(!parent.needs_tlb_flush, "an upgrade needs no flush");
    assert!(!parent.translate(&m, AT).expect("mapped").copy_on_write());
    assert_eq!(parent.user_bytes(), used);
    // A fault that finds the page writable already (another vCPU resolved
    // it first) is retried; faults elsewhere are not copy-on-write.
    assert_eq!(parent.resolve_cow(&mut m, AT), Ok(true));
    parent
        .mprotect(&mut m, AT + PAGE_SIZE, PAGE_SIZE, Prot::R)
        .expect("read-only");
    assert_eq!(parent.resolve_cow(&mut m, AT + PAGE_SIZE), Ok(false));
    assert_eq!(parent.resolve_cow(&mut m, 0x7000_0000), Ok(false));
    assert_eq!(parent.resolve_cow(&mut m, KERNEL_BASE), Ok(false));
}

#[test]
fn munmap_and_madvise_in_the_child_leave_the_parents_bytes() {
    let (mut parent, mut m) = filled(16 * MIB, 4, 20);
    let used = parent.user_bytes();
    let mut child = parent.fork(&mut m).expect("fork");
    child.munmap(&mut m, AT, 2 * PAGE_SIZE).expect("munmap");
    assert!(child.translate(&m, AT).is_none());
    assert_eq!(parent.user_bytes(), used, "still the parent's");
    assert_eq!(guest_read(&mut parent, &mut m, AT, PAGE), page_of(20));
    child
        .madvise_dontneed(&mut m, AT + 2 * PAGE_SIZE, PAGE_SIZE, true)
        .expect("madvise");
    assert_eq!(
        guest_read(&mut child, &mut m, AT + 2 * PAGE_SIZE, PAGE),
        page_of(0),
        "zero for the child"
    );
    assert_eq!(
        guest_read(&mut parent, &mut m, AT + 2 * PAGE_SIZE, PAGE),
        page_of(22),
        "kept for the parent"
    );
    assert!(
        child
            .translate(&m, AT + 2 * PAGE_SIZE)
            .expect("mapped")
            .user_writable(),
        "a fresh frame of the child's own"
    );
    // A new mapping where the shared frames were is zero.
    child
        .mmap_anonymous(&mut m, AT, PAGE_SIZE, Prot::RW, MmapFlags::FIXED)
        .expect("mmap");
    assert_eq!(guest_read(&mut child, &mut m, AT, PAGE), page_of(0));
    // The parent unmaps what the child still shares: the child's bytes stay.
    parent
        .munmap(&mut m, AT + 3 * PAGE_SIZE, PAGE_SIZE)
        .expect("munmap");
    assert_eq!(
        guest_read(&mut child, &mut m, AT + 3 * PAGE_SIZE, PAGE),
        page_of(23)
    );
    // mremap keeps the marker: a write after the move still copies.
    let to = 0x5000_0000;
    child
        .mremap(
            &mut m,
            AT + 3 * PAGE_SIZE,
            PAGE_SIZE,
            PAGE_SIZE,
            true,
            Some(to),
        )
        .expect("mremap");
    assert!(child.translate(&m, to).expect("moved").copy_on_write());
    assert_eq!(guest_read(&mut child, &mut m, to, PAGE), page_of(23));
}

#[test]
fn releasing_a_child_gives_back_what_it_used() {
    let (mut parent, mut m) = filled(16 * MIB, 4, 30);
    let (vvar, vvar_pa) = (0x7000_0000, 0x3000);
    m.write(vvar_pa, &[0x77; 8]).expect("runner page");
    parent
        .map_reserved(&mut m, vvar, &[vvar_pa], Prot::R)
        .expect("reserved");
    let used = parent.user_bytes();
    let tables_before = {
        let mut n = 0;
        while parent.frames.tables_available(n + 1) {
            n += 1;
        }
        n
    };
    let mut child = parent.fork(&mut m).expect("fork");
    assert_eq!(frame(&child, &m, vvar), vvar_pa, "the same runner page");
    guest_write(&mut child, &mut m, AT, &[1; 4]);
    guest_write(&mut child, &mut m, AT + PAGE_SIZE, &[2; 4]);
    child
        .mmap_anonymous(&mut m, 0, 3 * PAGE_SIZE, Prot::RW, MmapFlags::default())
        .expect("mmap");
    assert_eq!(parent.user_bytes(), used + 5 * PAGE_SIZE);
    child.release(&mut m).expect("release");
    assert_eq!(parent.user_bytes(), used, "all of the child's memory");
    assert_eq!(parent.frames.shared_frames(), 0);
    assert!(
        parent.frames.tables_available(tables_before),
        "the child never ran: its tables are tables again"
    );
    assert_eq!(m.slice(vvar_pa, 8).expect("bytes"), &[0x77; 8], "untouched");
    assert_eq!(frame(&parent, &m, vvar), vvar_pa);
    for i in 0..4u64 {
        let va = AT + i * PAGE_SIZE;
        assert_eq!(
            guest_read(&mut parent, &mut m, va, PAGE),
            page_of(30 + i as u8)
        );
    }
    // A child that ran: its tables retire, its memory still comes back.
    let mut ran = parent.fork(&mut m).expect("fork");
    ran.before_entry();
    guest_write(&mut ran, &mut m, AT, &[3; 4]);
    ran.release(&mut m).expect("release");
    assert_eq!(parent.user_bytes(), used);
}

#[test]
fn the_tunnels_writes_into_copy_on_write_pages_land_privately() {
    let (mut parent, mut m) = filled(16 * MIB, 4, 40);
    let mut child = parent.fork(&mut m).expect("fork");
    let used = parent.user_bytes();
    let none = TunnelRanges::default();
    Tunnel::new(&mut child, &mut m, &none)
        .write(GuestPtr::new(AT + PAGE_SIZE - 2), &[5; 4])
        .expect("write across two shared pages");
    assert_eq!(parent.user_bytes(), used + 2 * PAGE_SIZE, "two copies");
    assert_eq!(
        guest_read(&mut child, &mut m, AT + PAGE_SIZE - 2, 4),
        vec![5; 4]
    );
    assert_eq!(guest_read(&mut parent, &mut m, AT, PAGE), page_of(40));
    assert_eq!(
        guest_read(&mut parent, &mut m, AT + PAGE_SIZE, PAGE),
        page_of(41)
    );
    // A host read straight into a shared page (read(2)), and a futex word.
    let mut source = Cursor::new(vec![6u8; 8]);
    let got = Tunnel::new(&mut parent, &mut m, &none)
        .read_many_from_host(&[(GuestPtr::new(AT + 2 * PAGE_SIZE), 8)], &mut source)
        .expect("checked");
    assert_eq!(got.ok(), Some(8));
    let mut t = Tunnel::new(&mut parent, &mut m, &none);
    let (_, word) = t
        .atomic_u32(GuestPtr::new(AT + 3 * PAGE_SIZE), Access::Write)
        .expect("word");
    word.store(0x0707_0707, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        guest_read(&mut parent, &mut m, AT + 2 * PAGE_SIZE, 8),
        vec![6; 8]
    );
    assert_eq!(
        guest_read(&mut parent, &mut m, AT + 3 * PAGE_SIZE, 4),
        vec![7; 4]
    );
    assert_eq!(
        guest_read(&mut child, &mut m, AT + 2 * PAGE_SIZE, PAGE),
        page_of(42)
    );
    assert_eq!(
        guest_read(&mut child, &mut m, AT + 3 * PAGE_SIZE, PAGE),
        page_of(43)
    );
    // A check accepts a shared page for writing and copies nothing; a
    // read-only mapping is refused, copied or not.
    parent
        .mprotect(&mut m, AT + 2 * PAGE_SIZE, PAGE_SIZE, Prot::R)
        .expect("read-only");
    child
        .mprotect(&mut m, AT + 2 * PAGE_SIZE, PAGE_SIZE, Prot::R)
        .expect("read-only");
    let used = parent.user_bytes();
    let mut t = Tunnel::new(&mut child, &mut m, &none);
    assert!(t
        .check(GuestPtr::new(AT + 3 * PAGE_SIZE), 8, Access::Write)
        .is_ok());
    assert!(t.write(GuestPtr::new(AT + 2 * PAGE_SIZE), &[1]).is_err());
    assert!(
        t.write(GuestPtr::new(AT + 3 * PAGE_SIZE - 1), &[1, 2])
            .is_err(),
        "refused whole: nothing copied for the writable half"
    );
    assert_eq!(parent.user_bytes(), used);
}

#[test]
fn fork_splits_2_mib_pages_and_shares_their_frames() {
    let (mut parent, mut m) = space(32 * MIB);
    parent.huge_pages = true;
    parent
        .mmap_anonymous(&mut m, AT, 4 * MIB, Prot::RW, MmapFlags::FIXED)
        .expect("mmap");
    assert!(parent.tables.huge_block(&m, AT).is_some());
    for i in 0..4u64 {
        guest_write(&mut parent, &mut m, AT + i * MIB, &[i as u8 + 1; 8]);
    }
    parent.before_entry();
    let used = parent.user_bytes();
    let block = parent.tables.huge_block(&m, AT).expect("huge");
    let mut child = parent.fork(&mut m).expect("fork");
    assert_eq!(parent.huge_counts.split, 2);
    assert!(parent.tables.huge_block(&m, AT).is_none(), "split");
    assert!(child.tables.huge_block(&m, AT).is_none());
    assert_eq!(frame(&child, &m, AT + 5 * PAGE_SIZE), block + 5 * PAGE_SIZE);
    assert_eq!(parent.user_bytes(), used, "shared, not copied");
    assert!(parent.before_entry().is_some(), "the split moved the root");
    guest_write(&mut child, &mut m, AT + MIB, &[0xcc; 8]);
    guest_write(&mut parent, &mut m, AT + 3 * MIB, &[0xdd; 8]);
    assert_eq!(guest_read(&mut parent, &mut m, AT + MIB, 8), vec![2; 8]);
    assert_eq!(guest_read(&mut child, &mut m, AT + MIB, 8), vec![0xcc; 8]);
    assert_eq!(guest_read(&mut child, &mut m, AT + 3 * MIB, 8), vec![4; 8]);
    assert_eq!(parent.user_bytes(), used + 2 * PAGE_SIZE);
    // The child's new mappings may still be 2 MiB pages of their own.
    child
        .mmap_anonymous(&mut m, AT + 8 * MIB, 2 * MIB, Prot::RW, MmapFlags::FIXED)
        .expect("mmap");
    assert!(child.tables.huge_block(&m, AT + 8 * MIB).is_some());
    // The block's frames come back one by one as their owners go.
    child.release(&mut m).expect("release");
    parent.munmap(&mut m, AT, 4 * MIB).expect("munmap");
    assert_eq!(parent.user_bytes(), 0);
}

#[test]
fn mprotect_rw_of_a_shared_read_only_page_keeps_it_copy_on_write() {
    let (mut parent, mut m) = filled(16 * MIB, 2, 50);
    parent
        .mprotect(&mut m, AT, 2 * PAGE_SIZE, Prot::R)
        .expect("read-only");
    let mut child = parent.fork(&mut m).expect("fork");
    for a in [&mut parent, &mut child] {
        a.mprotect(&mut m, AT, 2 * PAGE_SIZE, Prot::RW)
            .expect("read-write");
        let t = a.translate(&m, AT).expect("mapped");
        assert!(!t.user_writable() && t.copy_on_write(), "still shared");
    }
    guest_write(&mut child, &mut m, AT, &[1; 8]);
    assert_eq!(guest_read(&mut parent, &mut m, AT, PAGE), page_of(50));
    // PROT_NONE and back keeps the marker too.
    parent
        .mprotect(&mut m, AT + PAGE_SIZE, PAGE_SIZE, Prot::NONE)
        .expect("none");
    parent
        .mprotect(&mut m, AT + PAGE_SIZE, PAGE_SIZE, Prot::RWX)
        .expect("rwx");
    let t = parent.translate(&m, AT + PAGE_SIZE).expect("mapped");
    assert!(!t.user_writable() && t.copy_on_write());
    assert_eq!(t.flags & NO_EXECUTE, 0, "executable");
    guest_write(&mut parent, &mut m, AT + PAGE_SIZE, &[2; 8]);
    assert_eq!(
        guest_read(&mut child, &mut m, AT + PAGE_SIZE, PAGE),
        page_of(51)
    );
}

/// Pages at `AT` and in three more page tables 2 MiB apart.
fn spread(limit: u64) -> (AddressSpace, GuestMemory) {
    let (mut a, mut m) = space(limit);
    for i in 0..4u64 {
        let va = AT + i * HUGE_SIZE;
        a.map_fixed(&mut m, va, PAGE_SIZE, Prot::RW).expect("map");
        guest_write(&mut a, &mut m, va, &page_of(60 + i as u8));
    }
    a.before_entry();
    (a, m)
}

/// Allocates (and leaks) page tables until exactly `n` are left.
fn leave_tables(a: &mut AddressSpace, n: u64) {
    while a.frames.tables_available(n + 1) {
        a.frames.alloc_table().expect("table");
    }
    assert!(a.frames.tables_available(n));
}

#[test]
fn fork_out_of_page_tables_fails_without_a_leak() {
    let (mut parent, mut m) = spread(16 * MIB);
    let used = parent.user_bytes();
    // Checked up front (seven tables needed): nothing changes.
    leave_tables(&mut parent, 5);
    assert_eq!(parent.fork(&mut m).err(), Some(MapError::NoMemory));
    assert!(parent.translate(&m, AT).expect("mapped").user_writable());
    assert!(!parent.needs_tlb_flush);
    // Failing half way (as it could with another process allocating
    // meanwhile): root, PDPT, PD and two page tables are copied, the third
    // is missing. Undone: the tables go back, the frames have one owner.
    assert_eq!(
        parent.fork_unchecked(&mut m).err(),
        Some(MapError::NoMemory)
    );
    assert!(parent.frames.tables_available(5), "no table leaked");
    assert!(!parent.frames.tables_available(6));
    assert_eq!(parent.user_bytes(), used);
    assert_eq!(parent.frames.shared_frames(), 0);
    assert!(parent.needs_tlb_flush, "some leaves were downgraded");
    for i in 0..4u64 {
        let va = AT + i * HUGE_SIZE;
        let before = frame(&parent, &m, va);
        guest_write(&mut parent, &mut m, va + 8, &[1]);
        assert_eq!(frame(&parent, &m, va), before, "W back in place");
        assert_eq!(
            guest_read(&mut parent, &mut m, va, 8),
            page_of(60 + i as u8)[..8]
        );
    }
    assert_eq!(parent.user_bytes(), used);
}

#[test]
fn every_space_shares_the_kernel_half_and_the_pool() {
    let (mut parent, mut m) = filled(16 * MIB, 1, 70);
    let supervisor = PRESENT | WRITABLE | NO_EXECUTE;
    let tables = parent.tables;
    tables
        .map(
            &mut m,
            &mut parent.frames,
            KERNEL_BASE + 0x1000,
            0x1000,
            supervisor,
        )
        .expect("kernel page");
    let child = parent.fork(&mut m).expect("fork");
    let mut fresh = parent.new_empty(&mut m).expect("empty");
    // Mapped later, in one space: the same table, so every space sees it.
    tables
        .map(
            &mut m,
            &mut parent.frames,
            KERNEL_BASE + 0x2000,
            0x2000,
            supervisor,
        )
        .expect("kernel page");
    for a in [&child, &fresh] {
        for pa in [0x1000, 0x2000] {
            let t = a
                .tables
                .translate(&m, KERNEL_BASE + pa)
                .expect("kernel half");
            assert_eq!(t.pa, pa);
            assert!(!t.user_readable());
        }
    }
    assert!(fresh.translate(&m, AT).is_none(), "no user mappings");
    assert!(!fresh.huge_pages);
    let used = parent.user_bytes();
    fresh
        .map_fixed(&mut m, AT, 2 * PAGE_SIZE, Prot::RW)
        .expect("map");
    assert_eq!(parent.user_bytes(), used + 2 * PAGE_SIZE, "one pool");
    fresh.release(&mut m).expect("release");
    child.release(&mut m).expect("release");
    assert_eq!(parent.user_bytes(), used);
    let t = parent.tables.translate(&m, KERNEL_BASE + 0x2000);
    assert_eq!(t.map(|t| t.pa), Some(0x2000), "the kernel half stays");
}

#[test]
fn a_multithreaded_parent_drops_shared_frames_after_its_flush() {
    let (mut parent, mut m) = filled(16 * MIB, 2, 80);
    parent.share();
    let mut child = parent.fork(&mut m).expect("fork");
    let shared = frame(&child, &m, AT);
    parent.munmap(&mut m, AT, PAGE_SIZE).expect("munmap");
    assert!(
        child.frames.is_shared_frame(shared),
        "held until the parent's other vCPUs flush"
    );
    let copied_before = child.user_bytes();
    guest_write(&mut child, &mut m, AT, &[1]);
    assert_eq!(
        child.user_bytes(),
        copied_before + PAGE_SIZE,
        "so this copies"
    );
    parent.release_deferred(&mut m).expect("flushed");
    assert_eq!(child.user_bytes(), copied_before, "the old frame is freed");
}

/// Not a check: the cost of a fork of 64 MiB of touched 4 KiB pages, of
/// the refresh of what it downgraded, of one copy-on-write fault, and of
/// releasing the child (printed; run with `--nocapture` to see).
#[test]
fn cost_of_forking_64_mib() {
    let len = 64 * MIB;
    let (mut parent, mut m) = space(128 * MIB);
    parent.map_fixed(&mut m, AT, len, Prot::RW).expect("map");
    let mut va = AT;
    while va < AT + len {
        guest_write(&mut parent, &mut m, va, &[1]);
        va += PAGE_SIZE;
    }
    parent.before_entry();
    // The frames lie in one run: what the fork's one refresh costs.
    let first = frame(&parent, &m, AT);
    let start = std::time::Instant::now();
    m.refresh(first, len).expect("refresh");
    let refresh = start.elapsed();
    let start = std::time::Instant::now();
    let mut child = parent.fork(&mut m).expect("fork");
    let forked = start.elapsed();
    let start = std::time::Instant::now();
    guest_write(&mut child, &mut m, AT, &[2]);
    let fault = start.elapsed();
    let start = std::time::Instant::now();
    child.release(&mut m).expect("release");
    let released = start.elapsed();
    eprintln!(
        "fork of {} MiB ({} pages): {forked:?} (of which refreshing the frames about {refresh:?}); one copy-on-write fault: {fault:?}; release of the child: {released:?}",
        len / MIB,
        len / PAGE_SIZE
    );
}
