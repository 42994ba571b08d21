//! Unit tests of the address space: the memory calls, reserved pages, and
//! 2 MiB pages (placement, splits in copied tables, running out of tables).

use super::*;
use crate::guest::frames::HUGE_SIZE;
use crate::guest::page_table::NO_EXECUTE;
use crate::tunnel::{accessible_ranges, Access, GuestPtr, Tunnel, TunnelError};
use sandbox_policy::TunnelRanges;

const MIB: u64 = 1 << 20;

fn space(limit: u64) -> (AddressSpace, GuestMemory) {
    let phys = crate::guest::layout::physical_size(limit);
    let mem = GuestMemory::new(phys as usize).expect("guest memory");
    let frames = FrameAllocator::new(0x11000, phys, limit);
    let tables = PageTables::new(0x10000);
    (AddressSpace::new(tables, frames), mem)
}

/// Reads user memory through the tunnel's walk (no policy table).
fn read_virt(
    a: &mut AddressSpace,
    m: &mut GuestMemory,
    at: u64,
    buf: &mut [u8],
) -> Result<(), TunnelError> {
    Tunnel::for_runner_layout(a, m).read(GuestPtr::new(at), buf)
}

fn fill(a: &mut AddressSpace, m: &mut GuestMemory, at: u64, len: usize, seed: u8) {
    let data: Vec<u8> = (0..len).map(|i| seed.wrapping_add(i as u8)).collect();
    Tunnel::for_runner_layout(a, m)
        .write(GuestPtr::new(at), &data)
        .expect("write");
}

fn same(a: &mut AddressSpace, m: &mut GuestMemory, at: u64, len: usize, seed: u8) -> bool {
    let mut buf = vec![0u8; len];
    read_virt(a, m, at, &mut buf).is_ok()
        && buf
            .iter()
            .enumerate()
            .all(|(i, &b)| b == seed.wrapping_add(i as u8))
}

#[test]
fn mremap_grows_in_place_moves_and_shrinks_keeping_contents() {
    let (mut a, mut m) = space(16 * MIB);
    let p = a
        .mmap_anonymous(&mut m, 0, 2 * PAGE_SIZE, Prot::RW, MmapFlags::default())
        .expect("mmap");
    fill(&mut a, &mut m, p, 2 * PAGE_SIZE as usize, 7);
    // Occupy the page right after it, so growing must move.
    let blocker = p + 2 * PAGE_SIZE;
    a.mmap_anonymous(&mut m, blocker, PAGE_SIZE, Prot::RW, MmapFlags::FIXED)
        .expect("blocker");
    assert_eq!(
        a.mremap(&mut m, p, 2 * PAGE_SIZE, 8 * PAGE_SIZE, false, None),
        Err(MapError::NoMemory),
        "cannot grow in place and may not move"
    );
    let q = a
        .mremap(&mut m, p, 2 * PAGE_SIZE, 8 * PAGE_SIZE, true, None)
        .expect("moved");
    assert_ne!(q, p);
    assert!(
        same(&mut a, &mut m, q, 2 * PAGE_SIZE as usize, 7),
        "contents moved"
    );
    let mut zero = vec![1u8; 6 * PAGE_SIZE as usize];
    read_virt(&mut a, &mut m, q + 2 * PAGE_SIZE, &mut zero).expect("tail mapped");
    assert!(zero.iter().all(|&b| b == 0), "the new tail is zero");
    assert!(a.translate(&m, p).is_none(), "the old range is gone");
    assert!(a.needs_tlb_flush);
    // Shrink in place.
    assert_eq!(
        a.mremap(&mut m, q, 8 * PAGE_SIZE, PAGE_SIZE, false, None),
        Ok(q)
    );
    assert!(a.translate(&m, q + PAGE_SIZE).is_none());
    // Grow in place when free.
    assert_eq!(
        a.mremap(&mut m, q, PAGE_SIZE, 3 * PAGE_SIZE, false, None),
        Ok(q)
    );
    assert!(same(&mut a, &mut m, q, PAGE_SIZE as usize, 7));
    // Fixed destination.
    let dst = 0x3000_0000;
    assert_eq!(
        a.mremap(&mut m, q, 3 * PAGE_SIZE, 3 * PAGE_SIZE, true, Some(dst)),
        Ok(dst)
    );
    assert!(same(&mut a, &mut m, dst, PAGE_SIZE as usize, 7));
    // Errors.
    assert_eq!(
        a.mremap(&mut m, 0x5000_0000, PAGE_SIZE, 2 * PAGE_SIZE, true, None),
        Err(MapError::NotMapped)
    );
    assert_eq!(
        a.mremap(&mut m, dst + 1, PAGE_SIZE, 2 * PAGE_SIZE, true, None),
        Err(MapError::Invalid)
    );
    assert_eq!(
        a.mremap(&mut m, dst, PAGE_SIZE, 0, true, None),
        Err(MapError::Invalid)
    );
    assert_eq!(
        a.mremap(
            &mut m,
            dst,
            PAGE_SIZE,
            2 * PAGE_SIZE,
            false,
            Some(0x6000_0000)
        ),
        Err(MapError::Invalid),
        "MREMAP_FIXED needs MREMAP_MAYMOVE"
    );
    assert_eq!(
        a.mremap(&mut m, dst, PAGE_SIZE, 1 << 40, true, None),
        Err(MapError::NoMemory),
        "more than the limit"
    );
}

#[test]
fn huge_requests_fail_at_once() {
    let (mut a, mut m) = space(4 * MIB);
    let p = a
        .mmap_anonymous(&mut m, 0x1000_0000, PAGE_SIZE, Prot::RW, MmapFlags::FIXED)
        .expect("mmap");
    let start = std::time::Instant::now();
    // Overlapping MAP_FIXED and mremap of 64 TiB: refused without
    // walking 2^34 pages.
    assert_eq!(
        a.mmap_anonymous(&mut m, 0x1000_0000, 1 << 46, Prot::RW, MmapFlags::FIXED),
        Err(MapError::NoMemory)
    );
    assert_eq!(
        a.mremap(&mut m, p, PAGE_SIZE, 1 << 46, true, Some(0x2000_0000)),
        Err(MapError::NoMemory)
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
    assert!(a.translate(&m, p).is_some(), "nothing changed");
}

#[test]
fn mremap_refuses_ranges_with_mixed_protections() {
    let (mut a, mut m) = space(4 * MIB);
    let p = a
        .mmap_anonymous(&mut m, 0, 2 * PAGE_SIZE, Prot::RW, MmapFlags::default())
        .expect("mmap");
    a.mprotect(&mut m, p + PAGE_SIZE, PAGE_SIZE, Prot::RX)
        .expect("mprotect");
    assert_eq!(
        a.mremap(&mut m, p, 2 * PAGE_SIZE, 4 * PAGE_SIZE, true, None),
        Err(MapError::NotMapped)
    );
    // One part of it is fine.
    assert!(a
        .mremap(&mut m, p, PAGE_SIZE, 4 * PAGE_SIZE, true, None)
        .is_ok());
}

#[test]
fn madvise_dontneed_zeroes_and_keeps_the_mapping() {
    let (mut a, mut m) = space(4 * MIB);
    let p = a
        .mmap_anonymous(&mut m, 0, 4 * PAGE_SIZE, Prot::RW, MmapFlags::default())
        .expect("mmap");
    fill(&mut a, &mut m, p, 4 * PAGE_SIZE as usize, 1);
    a.madvise_dontneed(&mut m, p + PAGE_SIZE, 2 * PAGE_SIZE, true)
        .expect("madvise");
    assert!(same(&mut a, &mut m, p, PAGE_SIZE as usize, 1));
    let mut mid = vec![1u8; 2 * PAGE_SIZE as usize];
    read_virt(&mut a, &mut m, p + PAGE_SIZE, &mut mid).expect("still mapped");
    assert!(mid.iter().all(|&b| b == 0));
    assert!(same(
        &mut a,
        &mut m,
        p + 3 * PAGE_SIZE,
        PAGE_SIZE as usize,
        1u8.wrapping_add((3 * PAGE_SIZE) as u8)
    ));
    // Other advice leaves data alone; unmapped ranges are ENOMEM.
    a.madvise_dontneed(&mut m, p, PAGE_SIZE, false)
        .expect("advice");
    assert!(same(&mut a, &mut m, p, PAGE_SIZE as usize, 1));
    assert_eq!(
        a.madvise_dontneed(&mut m, 0x5000_0000, PAGE_SIZE, true),
        Err(MapError::NoMemory)
    );
    assert_eq!(
        a.madvise_dontneed(&mut m, p + 1, PAGE_SIZE, true),
        Err(MapError::Invalid)
    );
}

#[test]
fn reserved_pages_cannot_be_changed() {
    let (mut a, mut m) = space(4 * MIB);
    let (vvar, text) = (0x7000_0000, 0x7000_1000);
    let (vvar_pa, text_pa) = (0x3000, 0x4000);
    a.map_reserved(&mut m, vvar, &[vvar_pa], Prot::R)
        .expect("vvar");
    a.map_reserved(&mut m, text, &[text_pa], Prot::RX)
        .expect("text");
    let before = a.user_bytes();
    let t = a.translate(&m, vvar).expect("mapped");
    assert_eq!(t.pa, vvar_pa);
    assert!(t.user_readable() && !t.user_writable());
    assert!(a
        .translate(&m, text)
        .is_some_and(|t| t.flags & NO_EXECUTE == 0));
    let page = PAGE_SIZE;
    // Every way the program could unmap, move, reprotect or replace them.
    assert_eq!(a.munmap(&mut m, vvar, page), Err(MapError::Reserved));
    assert_eq!(
        a.munmap(&mut m, vvar - 16 * page, 64 * page),
        Err(MapError::Reserved),
        "a larger range around it"
    );
    assert_eq!(
        a.mprotect(&mut m, vvar, page, Prot::RW),
        Err(MapError::Reserved)
    );
    assert_eq!(
        a.mprotect(&mut m, text, page, Prot::RWX),
        Err(MapError::Reserved)
    );
    assert_eq!(
        a.mmap_anonymous(&mut m, vvar, page, Prot::RW, MmapFlags::FIXED),
        Err(MapError::Reserved)
    );
    assert_eq!(
        a.mmap_anonymous(&mut m, vvar, page, Prot::RW, MmapFlags::NOREPLACE),
        Err(MapError::Exists)
    );
    assert_eq!(
        a.mremap(&mut m, vvar, page, 2 * page, true, None),
        Err(MapError::Reserved)
    );
    let p = a
        .mmap_anonymous(&mut m, 0, page, Prot::RW, MmapFlags::default())
        .expect("mmap");
    assert_eq!(
        a.mremap(&mut m, p, page, page, true, Some(text)),
        Err(MapError::Reserved)
    );
    assert_eq!(
        a.madvise_dontneed(&mut m, vvar, page, true),
        Err(MapError::Reserved)
    );
    a.madvise_dontneed(&mut m, vvar, page, false)
        .expect("advice without effect is fine");
    // A hint there is moved elsewhere, as for any mapped range.
    let q = a
        .mmap_anonymous(&mut m, vvar, page, Prot::RW, MmapFlags::default())
        .expect("hinted mmap");
    assert_ne!(q, vvar);
    // Still mapped as before; they never counted as the program's.
    assert_eq!(a.translate(&m, vvar).map(|t| t.pa), Some(vvar_pa));
    assert_eq!(a.translate(&m, text).map(|t| t.pa), Some(text_pa));
    assert_eq!(a.user_bytes(), before + 2 * page);
    // Readable for syscall buffers, never writable.
    let none = TunnelRanges::default();
    assert!(accessible_ranges(&a, &none, Access::Read).contains(&(vvar, text + page)));
    assert!(!accessible_ranges(&a, &none, Access::Write)
        .iter()
        .any(|&(s, e)| s < text + page && vvar < e));
}

#[test]
fn huge_fixed_mmap_over_a_mapping_is_refused_at_once() {
    // The memory check before replacing used to walk every page of the
    // requested range: 2^34 page walks for a 64 TiB MAP_FIXED, a
    // guest-triggered hang of the runner beyond any time limit.
    let (mut a, mut mem) = space(1 << 20);
    a.map_fixed(&mut mem, 0x40_0000, 0x2000, Prot::RW)
        .expect("map");
    let t = std::time::Instant::now();
    let r = a.mmap_anonymous(&mut mem, 0x40_0000, 1 << 46, Prot::RW, MmapFlags::FIXED);
    assert_eq!(r, Err(MapError::NoMemory));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    // Replacing within the limit still works and reuses the frames.
    let before = a.frames.user_bytes();
    let r = a.mmap_anonymous(&mut mem, 0x40_0000, 0x2000, Prot::RX, MmapFlags::FIXED);
    assert_eq!(r, Ok(0x40_0000));
    assert_eq!(a.frames.user_bytes(), before);
}

const AT: u64 = 0x4000_0000;

/// An address space with 2 MiB pages and `len` bytes mapped RW at `AT`,
/// filled, with the guest having "run" once since (every table sealed).
fn huge_space(len: u64) -> (AddressSpace, GuestMemory) {
    let (mut a, mut m) = space(32 * MIB);
    a.huge_pages = true;
    a.mmap_anonymous(&mut m, AT, len, Prot::RW, MmapFlags::FIXED)
        .expect("mmap");
    fill(&mut a, &mut m, AT, len as usize, 3);
    assert_eq!(a.before_entry(), None, "nothing moved the root yet");
    (a, m)
}

#[test]
fn whole_aligned_2_mib_become_huge_pages_and_the_rest_4_kib() {
    let (mut a, mut m) = huge_space(4 * MIB + 2 * PAGE_SIZE);
    assert_eq!(a.huge_counts.mapped, 2);
    let block = a.tables.huge_block(&m, AT).expect("2 MiB page at AT");
    assert_eq!(block % HUGE_SIZE, 0);
    assert!(a.tables.huge_block(&m, AT + 2 * MIB).is_some());
    assert!(
        a.tables.huge_block(&m, AT + 4 * MIB).is_none(),
        "tail in 4 KiB"
    );
    let t = a.translate(&m, AT + 0x12_3000).expect("mapped");
    assert_eq!(t.pa, block + 0x12_3000, "the 4 KiB frame inside the block");
    assert!(t.user_writable());
    assert_eq!(
        a.tables.frame_of(&m, AT + 0x12_3000),
        Some(block + 0x12_3000)
    );
    assert_eq!(a.frames.user_bytes(), 4 * MIB + 2 * PAGE_SIZE);
    assert!(same(
        &mut a,
        &mut m,
        AT,
        (4 * MIB + 2 * PAGE_SIZE) as usize,
        3
    ));
    // Unaligned or short mappings and spaces without the flag: 4 KiB.
    let (mut b, mut n) = space(32 * MIB);
    b.mmap_anonymous(&mut n, AT, 4 * MIB, Prot::RW, MmapFlags::FIXED)
        .expect("mmap");
    assert_eq!(b.huge_counts.mapped, 0);
    assert!(b.tables.huge_block(&n, AT).is_none());
}

#[test]
fn a_hole_splits_the_page_in_copied_tables_and_moves_the_root_once() {
    let (mut a, mut m) = huge_space(4 * MIB);
    let old_root = a.tables.root;
    a.munmap(&mut m, AT + 5 * PAGE_SIZE, PAGE_SIZE)
        .expect("hole");
    assert_eq!(a.huge_counts.split, 1);
    assert!(a.tables.huge_block(&m, AT).is_none(), "split");
    assert!(
        a.tables.huge_block(&m, AT + 2 * MIB).is_some(),
        "neighbour kept"
    );
    assert!(a.translate(&m, AT + 5 * PAGE_SIZE).is_none());
    assert!(same(&mut a, &mut m, AT, 5 * PAGE_SIZE as usize, 3));
    let rest = AT + 6 * PAGE_SIZE;
    let mut buf = vec![0u8; (4 * MIB - 6 * PAGE_SIZE) as usize];
    read_virt(&mut a, &mut m, rest, &mut buf).expect("rest mapped");
    assert!(buf
        .iter()
        .enumerate()
        .all(|(i, &b)| b == 3u8.wrapping_add((i + 6 * PAGE_SIZE as usize) as u8)));
    assert_ne!(a.tables.root, old_root, "a new root");
    // A second change before the guest runs again edits the fresh copies.
    let new_root = a.tables.root;
    a.munmap(&mut m, AT + 2 * MIB + 9 * PAGE_SIZE, PAGE_SIZE)
        .expect("second hole");
    assert_eq!(a.tables.root, new_root, "the copies are still private");
    assert_eq!(a.before_entry(), Some(new_root));
    assert_eq!(a.before_entry(), None);
    assert_eq!(a.huge_counts.root_switches, 1);
    assert_eq!(a.frames.user_bytes(), 4 * MIB - 2 * PAGE_SIZE);
}

#[test]
fn removing_a_whole_page_frees_its_block_and_old_tables_become_user_memory() {
    let (mut a, mut m) = huge_space(4 * MIB);
    let block = a.tables.huge_block(&m, AT).expect("huge");
    let old = a.tables.path(&m, AT);
    a.munmap(&mut m, AT, 2 * MIB).expect("munmap");
    assert_eq!(a.huge_counts.split, 0, "removed whole, not split");
    assert!(a.translate(&m, AT).is_none());
    assert!(same(&mut a, &mut m, AT + 2 * MIB, (2 * MIB) as usize, 3));
    assert_eq!(a.frames.user_bytes(), 2 * MIB);
    let new = a.tables.path(&m, AT + 2 * MIB);
    for (o, n) in old.iter().zip(new.iter()) {
        assert_ne!(o, n, "every table on the path was copied");
    }
    // The old directory and PDPT (the boot root is outside the
    // allocator) serve as user memory, zeroed, and never as tables.
    a.frames.begin_read_only();
    let u1 = a.frames.alloc_user().expect("user");
    let u2 = a.frames.alloc_user().expect("user");
    a.frames.end_read_only();
    let mut reused = [u1, u2];
    reused.sort_unstable();
    let mut retired = [old[1], old[2]];
    retired.sort_unstable();
    assert_eq!(reused, retired);
    assert!(m
        .slice(u1, PAGE_SIZE)
        .expect("frame")
        .iter()
        .all(|&b| b == 0));
    for _ in 0..64 {
        let t = a.frames.alloc_table().expect("table");
        assert!(!retired.contains(&t));
    }
    // Mapped again: a 2 MiB page again (the freed block), zero.
    a.mmap_anonymous(&mut m, AT, 2 * MIB, Prot::RW, MmapFlags::FIXED)
        .expect("again");
    assert_eq!(a.tables.huge_block(&m, AT), Some(block));
    let mut buf = vec![1u8; (2 * MIB) as usize];
    read_virt(&mut a, &mut m, AT, &mut buf).expect("mapped");
    assert!(buf.iter().all(|&b| b == 0));
}

#[test]
fn mprotect_of_whole_pages_changes_flags_in_place_and_of_part_splits() {
    let (mut a, mut m) = huge_space(4 * MIB);
    let root = a.tables.root;
    a.mprotect(&mut m, AT, 2 * MIB, Prot::R).expect("whole");
    assert_eq!(a.huge_counts.split, 0);
    assert_eq!(a.tables.root, root, "flags change in place");
    assert!(a.tables.huge_block(&m, AT).is_some());
    assert!(!a
        .translate(&m, AT + 0x1000)
        .expect("mapped")
        .user_writable());
    assert!(a.needs_tlb_flush);
    a.mprotect(&mut m, AT, 2 * MIB, Prot::NONE).expect("none");
    assert!(a.translate(&m, AT).is_none(), "PROT_NONE");
    assert!(a.tables.frame_of(&m, AT).is_some(), "the block is kept");
    a.mprotect(&mut m, AT, 2 * MIB, Prot::RW).expect("back");
    assert!(same(&mut a, &mut m, AT, (4 * MIB) as usize, 3));
    // Part of the second page: split, the rest keeps its protection.
    a.mprotect(&mut m, AT + 2 * MIB + PAGE_SIZE, PAGE_SIZE, Prot::R)
        .expect("part");
    assert_eq!(a.huge_counts.split, 1);
    assert!(!a
        .translate(&m, AT + 2 * MIB + PAGE_SIZE)
        .expect("mapped")
        .user_writable());
    assert!(a
        .translate(&m, AT + 2 * MIB)
        .expect("mapped")
        .user_writable());
    assert!(a
        .translate(&m, AT + 2 * MIB + 2 * PAGE_SIZE)
        .expect("mapped")
        .user_writable());
    assert!(same(&mut a, &mut m, AT, (4 * MIB) as usize, 3));
}

#[test]
fn mremap_and_madvise_work_on_huge_pages() {
    let (mut a, mut m) = huge_space(4 * MIB);
    a.madvise_dontneed(&mut m, AT + 3 * PAGE_SIZE, PAGE_SIZE, true)
        .expect("madvise");
    let mut page = vec![1u8; PAGE_SIZE as usize];
    read_virt(&mut a, &mut m, AT + 3 * PAGE_SIZE, &mut page).expect("mapped");
    assert!(page.iter().all(|&b| b == 0), "zeroed");
    assert!(same(&mut a, &mut m, AT, 3 * PAGE_SIZE as usize, 3));
    fill(&mut a, &mut m, AT, (4 * MIB) as usize, 4);
    let dst = 0x5000_0000;
    let q = a
        .mremap(&mut m, AT, 4 * MIB, 4 * MIB, true, Some(dst))
        .expect("moved");
    assert_eq!(q, dst);
    assert!(same(&mut a, &mut m, dst, (4 * MIB) as usize, 4));
    assert!(a.translate(&m, AT).is_none());
    assert_eq!(a.frames.user_bytes(), 4 * MIB);
}

#[test]
fn running_out_of_page_tables_leaves_the_mapping_intact() {
    let (mut a, mut m) = huge_space(4 * MIB);
    while a.frames.alloc_table().is_some() {}
    a.before_entry();
    let root = a.tables.root;
    assert_eq!(
        a.munmap(&mut m, AT + PAGE_SIZE, PAGE_SIZE),
        Err(MapError::NoMemory)
    );
    assert_eq!(
        a.mprotect(&mut m, AT + PAGE_SIZE, PAGE_SIZE, Prot::R),
        Err(MapError::NoMemory)
    );
    assert_eq!(a.munmap(&mut m, AT, 2 * MIB), Err(MapError::NoMemory));
    assert_eq!(a.tables.root, root);
    assert!(a.tables.huge_block(&m, AT).is_some());
    assert!(a
        .translate(&m, AT + PAGE_SIZE)
        .expect("mapped")
        .user_writable());
    assert!(same(&mut a, &mut m, AT, (4 * MIB) as usize, 3));
    assert_eq!(a.frames.user_bytes(), 4 * MIB);
    assert!(a.covered(AT, AT + 4 * MIB), "the mappings are all there");
}

#[test]
fn a_prot_none_page_is_mapped_for_the_fault_code() {
    let (mut a, mut m) = space(16 * MIB);
    let p = a
        .mmap_anonymous(&mut m, 0, 3 * PAGE_SIZE, Prot::NONE, MmapFlags::default())
        .expect("mmap");
    a.mprotect(&mut m, p + PAGE_SIZE, PAGE_SIZE, Prot::RW)
        .expect("mprotect");
    // Linux answers SEGV_ACCERR for a fault in any mapping, SEGV_MAPERR
    // outside them; the guard page's entries are not present either way.
    assert!(a.is_mapped(p) && a.is_mapped(p + PAGE_SIZE) && a.is_mapped(p + 3 * PAGE_SIZE - 1));
    assert!(!a.is_mapped(p + 3 * PAGE_SIZE) && !a.is_mapped(p - 1));
    a.munmap(&mut m, p, PAGE_SIZE).expect("munmap");
    assert!(!a.is_mapped(p) && a.is_mapped(p + PAGE_SIZE));
    assert!(!a.is_mapped(u64::MAX));
}

/// Room for the syscall ring's code (code_patch.rs): the closest free page
/// below the target, never the heap's way above it, within reach and
/// below the ceiling; and the runner's write into executable pages, with a
/// private copy of a page fork shares.
#[test]
fn ring_code_room_and_code_writes() {
    use crate::guest::layout::MIN_USER_VA;
    let (mut a, mut m) = space(16 * MIB);
    let rx = Prot {
        read: true,
        write: false,
        exec: true,
    };
    a.map_fixed(&mut m, 0x40_0000, 0x2000, rx).expect("image");
    a.set_brk_start(0x40_2000);
    let reach = 1 << 31;
    assert_eq!(
        a.find_gap_near(0x40_1000, 4096, reach, USER_END),
        Some(0x3f_f000)
    );
    // Nothing free below within reach: above, clear of the heap.
    a.map_fixed(&mut m, MIN_USER_VA, 0x40_0000 - MIN_USER_VA, Prot::RW)
        .expect("below");
    let above = a
        .find_gap_near(0x40_1000, 4096, reach, USER_END)
        .expect("above");
    assert!(above >= 0x40_2000 + reach / 4, "{above:#x}");
    assert_eq!(
        a.find_gap_near(0x40_1000, 4096, reach, 0x50_0000),
        None,
        "ceiling"
    );
    assert_eq!(
        a.find_gap_near(0x40_1000, 4096, 0x2000, USER_END),
        None,
        "reach"
    );
    // The runner writes read-only code; a forked copy keeps its own bytes.
    assert!(a
        .write_code(&mut m, 0x40_0ffe, &[1, 2, 3, 4])
        .expect("write"));
    let mut child = a.fork(&mut m).expect("fork");
    assert!(child
        .write_code(&mut m, 0x40_0ffe, &[9, 9, 9, 9])
        .expect("write"));
    let mut buf = [0u8; 4];
    read_virt(&mut a, &mut m, 0x40_0ffe, &mut buf).expect("read");
    assert_eq!(buf, [1, 2, 3, 4], "the parent's code is its own");
    read_virt(&mut child, &mut m, 0x40_0ffe, &mut buf).expect("read");
    assert_eq!(buf, [9, 9, 9, 9]);
    // Not into data, nor into unmapped memory.
    assert!(!a.write_code(&mut m, MIN_USER_VA, &[0]).expect("data"));
    assert!(!a.write_code(&mut m, 0x7000_0000, &[0]).expect("unmapped"));
}
