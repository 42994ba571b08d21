//! Unit tests of shared mappings (MAP_SHARED anonymous memory) across
//! fork: writes seen by both sides, munmap, release, mprotect, madvise,
//! mremap, PROT_NONE and 2 MiB pages. The helpers are fork_tests.rs's (a
//! program's write is `guest_write`, its read `guest_read`).

use super::fork_tests::{frame, guest_read, guest_write, page_of, space, AT, MIB, PAGE};
use super::*;
use crate::tunnel::{GuestPtr, Tunnel};
use sandbox_policy::TunnelRanges;

/// MAP_FIXED|MAP_SHARED.
const SHARED_AT: MmapFlags = MmapFlags {
    fixed: true,
    noreplace: false,
    shared: true,
};

/// `pages` shared RW pages at `AT`, page i filled with byte `seed + i`.
fn shared(limit: u64, pages: u64, seed: u8) -> (AddressSpace, GuestMemory) {
    let (mut a, mut m) = space(limit);
    a.mmap_anonymous(&mut m, AT, pages * PAGE_SIZE, Prot::RW, SHARED_AT)
        .expect("mmap");
    for i in 0..pages {
        let data = page_of(seed.wrapping_add(i as u8));
        guest_write(&mut a, &mut m, AT + i * PAGE_SIZE, &data);
    }
    a.before_entry();
    (a, m)
}

/// The page at `va` is writable, not copy-on-write, in `a`.
fn shared_writable(a: &AddressSpace, m: &GuestMemory, va: u64) -> bool {
    a.translate(m, va)
        .is_some_and(|t| t.user_writable() && !t.copy_on_write())
}

#[test]
fn after_fork_both_sides_see_each_others_writes_in_a_shared_mapping() {
    let (mut parent, mut m) = shared(16 * MIB, 2, 10);
    let private = AT + 16 * PAGE_SIZE;
    parent
        .map_fixed(&mut m, private, PAGE_SIZE, Prot::RW)
        .expect("map");
    guest_write(&mut parent, &mut m, private, &page_of(99));
    parent.before_entry();
    let leaves: Vec<Option<u64>> = (0..2)
        .map(|i| parent.tables.leaf(&m, AT + i * PAGE_SIZE))
        .collect();
    let used = parent.user_bytes();
    let mut child = parent.fork(&mut m).expect("fork");
    assert_eq!(parent.user_bytes(), used, "nothing copied");
    for i in 0..2 {
        let va = AT + i * PAGE_SIZE;
        assert_eq!(parent.tables.leaf(&m, va), leaves[i as usize], "unchanged");
        assert!(shared_writable(&parent, &m, va) && shared_writable(&child, &m, va));
        assert_eq!(frame(&parent, &m, va), frame(&child, &m, va), "one frame");
        assert!(parent.frames.is_shared_frame(frame(&parent, &m, va)));
    }
    assert!(child
        .translate(&m, private)
        .expect("mapped")
        .copy_on_write());
    // The child writes page 0, the parent page 1: each sees the other's.
    guest_write(&mut child, &mut m, AT + 8, &[0xc1; 8]);
    guest_write(&mut parent, &mut m, AT + PAGE_SIZE + 16, &[0xa1; 8]);
    assert_eq!(guest_read(&mut parent, &mut m, AT + 8, 8), vec![0xc1; 8]);
    assert_eq!(
        guest_read(&mut child, &mut m, AT + PAGE_SIZE + 16, 8),
        vec![0xa1; 8]
    );
    // The private page is the child's own once it writes it.
    guest_write(&mut child, &mut m, private, &[0xc2; 8]);
    assert_eq!(guest_read(&mut parent, &mut m, private, PAGE), page_of(99));
    assert_eq!(
        parent.user_bytes(),
        used + PAGE_SIZE,
        "one copy: the private page"
    );
    assert_eq!(parent.frames.shared_frames(), 2, "the shared mapping's");
    // The runner's writes through the tunnel land in the shared frame too.
    let no_ranges = TunnelRanges::default();
    Tunnel::new(&mut child, &mut m, &no_ranges)
        .write(GuestPtr::new(AT + 64), &[0xc3; 4])
        .expect("tunnel write");
    assert_eq!(guest_read(&mut parent, &mut m, AT + 64, 4), vec![0xc3; 4]);
    assert!(child.shared_at(AT) && !child.shared_at(private));
}

#[test]
fn munmap_in_the_child_leaves_the_parents_shared_data() {
    let (mut parent, mut m) = shared(16 * MIB, 4, 20);
    let used = parent.user_bytes();
    let mut child = parent.fork(&mut m).expect("fork");
    child.munmap(&mut m, AT, 2 * PAGE_SIZE).expect("munmap");
    assert!(child.translate(&m, AT).is_none());
    assert_eq!(parent.user_bytes(), used, "still the parent's");
    assert_eq!(guest_read(&mut parent, &mut m, AT, PAGE), page_of(20));
    assert_eq!(
        guest_read(&mut parent, &mut m, AT + PAGE_SIZE, PAGE),
        page_of(21)
    );
    guest_write(&mut parent, &mut m, AT, &[1; 8]);
    // What is left of the child's mapping is still shared.
    guest_write(&mut child, &mut m, AT + 2 * PAGE_SIZE, &[2; 8]);
    assert_eq!(
        guest_read(&mut parent, &mut m, AT + 2 * PAGE_SIZE, 8),
        vec![2; 8]
    );
    assert_eq!(parent.frames.shared_frames(), 2);
    // The parent unmaps a page the child still maps: the child keeps it.
    parent
        .munmap(&mut m, AT + 3 * PAGE_SIZE, PAGE_SIZE)
        .expect("munmap");
    assert_eq!(
        guest_read(&mut child, &mut m, AT + 3 * PAGE_SIZE, PAGE),
        page_of(23)
    );
    assert_eq!(parent.user_bytes(), used, "every frame still mapped once");
}

#[test]
fn releasing_the_child_keeps_the_shared_frames_for_the_parent() {
    let (mut parent, mut m) = shared(16 * MIB, 2, 30);
    let used = parent.user_bytes();
    let mut child = parent.fork(&mut m).expect("fork");
    child.before_entry();
    guest_write(&mut child, &mut m, AT, &[7; 8]);
    child.release(&mut m).expect("release");
    assert_eq!(parent.frames.shared_frames(), 0);
    assert_eq!(parent.user_bytes(), used);
    assert_eq!(guest_read(&mut parent, &mut m, AT, 8), vec![7; 8]);
    assert_eq!(
        guest_read(&mut parent, &mut m, AT + PAGE_SIZE, PAGE),
        page_of(31)
    );
    // The parent's release ends them.
    let mut again = parent.fork(&mut m).expect("fork");
    parent.release(&mut m).expect("release");
    assert_eq!(guest_read(&mut again, &mut m, AT, 8), vec![7; 8]);
    assert_eq!(again.user_bytes(), used);
    again.munmap(&mut m, AT, 2 * PAGE_SIZE).expect("munmap");
    assert_eq!(again.user_bytes(), 0);
}

#[test]
fn mprotect_keeps_a_mapping_shared_on_every_piece() {
    let (mut parent, mut m) = shared(16 * MIB, 3, 40);
    let mut child = parent.fork(&mut m).expect("fork");
    let middle = AT + PAGE_SIZE;
    child
        .mprotect(&mut m, middle, PAGE_SIZE, Prot::R)
        .expect("read-only");
    for i in 0..3 {
        assert!(child.shared_at(AT + i * PAGE_SIZE), "piece {i}");
    }
    let t = child.translate(&m, middle).expect("mapped");
    assert!(!t.user_writable() && !t.copy_on_write());
    assert_eq!(child.resolve_cow(&mut m, middle), Ok(false), "SIGSEGV");
    child
        .mprotect(&mut m, middle, PAGE_SIZE, Prot::RW)
        .expect("read-write");
    assert!(shared_writable(&child, &m, middle));
    guest_write(&mut child, &mut m, middle, &[3; 8]);
    assert_eq!(guest_read(&mut parent, &mut m, middle, 8), vec![3; 8]);
    // A fork of the split mapping shares every piece again.
    let mut grandchild = child.fork(&mut m).expect("fork");
    guest_write(&mut grandchild, &mut m, AT + 2 * PAGE_SIZE, &[4; 8]);
    assert_eq!(
        guest_read(&mut parent, &mut m, AT + 2 * PAGE_SIZE, 8),
        vec![4; 8]
    );
    assert_eq!(
        guest_read(&mut child, &mut m, AT + 2 * PAGE_SIZE, 8),
        vec![4; 8]
    );
}

#[test]
fn madvise_dontneed_keeps_a_shared_pages_data() {
    let (mut parent, mut m) = shared(16 * MIB, 2, 50);
    let private = AT + 2 * PAGE_SIZE;
    parent
        .map_fixed(&mut m, private, PAGE_SIZE, Prot::RW)
        .expect("map");
    guest_write(&mut parent, &mut m, private, &page_of(52));
    let used = parent.user_bytes();
    let mut child = parent.fork(&mut m).expect("fork");
    let before = frame(&child, &m, AT);
    child
        .madvise_dontneed(&mut m, AT, 3 * PAGE_SIZE, true)
        .expect("madvise");
    assert_eq!(guest_read(&mut child, &mut m, AT, PAGE), page_of(50));
    assert_eq!(
        guest_read(&mut child, &mut m, AT + PAGE_SIZE, PAGE),
        page_of(51)
    );
    assert_eq!(frame(&child, &m, AT), before, "the shared frame stays");
    assert_eq!(
        guest_read(&mut child, &mut m, private, PAGE),
        page_of(0),
        "zeroed"
    );
    assert_eq!(guest_read(&mut parent, &mut m, private, PAGE), page_of(52));
    guest_write(&mut child, &mut m, AT, &[5; 8]);
    assert_eq!(
        guest_read(&mut parent, &mut m, AT, 8),
        vec![5; 8],
        "still shared"
    );
    assert_eq!(
        parent.user_bytes(),
        used + PAGE_SIZE,
        "the child's zero page"
    );
    // With one owner left, the data stays too.
    child.release(&mut m).expect("release");
    parent
        .madvise_dontneed(&mut m, AT, 2 * PAGE_SIZE, true)
        .expect("madvise");
    assert_eq!(guest_read(&mut parent, &mut m, AT, 8), vec![5; 8]);
}

#[test]
fn a_shared_prot_none_mapping_has_frames_to_share() {
    let (mut parent, mut m) = space(16 * MIB);
    let flags = MmapFlags::default().shared();
    let at = parent
        .mmap_anonymous(&mut m, 0, 2 * PAGE_SIZE, Prot::NONE, flags)
        .expect("mmap");
    assert_eq!(parent.user_bytes(), 2 * PAGE_SIZE, "counted at once");
    assert_eq!(
        parent.mmap_anonymous(&mut m, 0, 32 * MIB, Prot::NONE, flags),
        Err(MapError::NoMemory),
        "past the limit"
    );
    let mut child = parent.fork(&mut m).expect("fork");
    child
        .mprotect(&mut m, at, 2 * PAGE_SIZE, Prot::RW)
        .expect("read-write");
    guest_write(&mut child, &mut m, at + PAGE_SIZE, &[6; 8]);
    parent
        .mprotect(&mut m, at, 2 * PAGE_SIZE, Prot::R)
        .expect("read-only");
    assert_eq!(
        guest_read(&mut parent, &mut m, at + PAGE_SIZE, 8),
        vec![6; 8]
    );
    assert_eq!(parent.user_bytes(), 2 * PAGE_SIZE, "nothing new");
}

#[test]
fn mremap_keeps_a_mapping_shared() {
    let (mut parent, mut m) = shared(16 * MIB, 1, 60);
    let to = 0x5000_0000;
    let moved = parent
        .mremap(&mut m, AT, PAGE_SIZE, 3 * PAGE_SIZE, true, Some(to))
        .expect("mremap");
    assert_eq!(moved, to);
    // And grown in place.
    parent
        .mremap(&mut m, to, 3 * PAGE_SIZE, 4 * PAGE_SIZE, false, None)
        .expect("grow");
    for i in 0..4 {
        assert!(parent.shared_at(to + i * PAGE_SIZE), "page {i}");
    }
    let mut child = parent.fork(&mut m).expect("fork");
    assert_eq!(guest_read(&mut child, &mut m, to, PAGE), page_of(60));
    guest_write(&mut child, &mut m, to + 2 * PAGE_SIZE, &[8; 8]);
    guest_write(&mut child, &mut m, to + 3 * PAGE_SIZE, &[9; 8]);
    assert_eq!(
        guest_read(&mut parent, &mut m, to + 2 * PAGE_SIZE, 8),
        vec![8; 8]
    );
    assert_eq!(
        guest_read(&mut parent, &mut m, to + 3 * PAGE_SIZE, 8),
        vec![9; 8]
    );
    // A move in the child moves its share: still one frame with the parent.
    let there = 0x6000_0000;
    child
        .mremap(&mut m, to, 4 * PAGE_SIZE, 4 * PAGE_SIZE, true, Some(there))
        .expect("move");
    guest_write(&mut child, &mut m, there, &[10; 8]);
    assert_eq!(guest_read(&mut parent, &mut m, to, 8), vec![10; 8]);
    // One range over a shared and a private mapping is not one mapping.
    let private = to + 4 * PAGE_SIZE;
    parent
        .map_fixed(&mut m, private, PAGE_SIZE, Prot::RW)
        .expect("map");
    assert_eq!(
        parent.mremap(&mut m, to, 5 * PAGE_SIZE, 6 * PAGE_SIZE, true, None),
        Err(MapError::NotMapped)
    );
}

#[test]
fn a_2_mib_shared_page_is_split_and_shared_by_fork() {
    let (mut parent, mut m) = space(32 * MIB);
    parent.huge_pages = true;
    parent
        .mmap_anonymous(&mut m, AT, 2 * MIB, Prot::RW, SHARED_AT)
        .expect("mmap");
    assert!(parent.tables.huge_block(&m, AT).is_some());
    guest_write(&mut parent, &mut m, AT + MIB, &[1; 8]);
    parent.before_entry();
    let used = parent.user_bytes();
    let mut child = parent.fork(&mut m).expect("fork");
    assert!(parent.tables.huge_block(&m, AT).is_none(), "split");
    assert!(shared_writable(&child, &m, AT + MIB));
    guest_write(&mut child, &mut m, AT + MIB + 8, &[2; 8]);
    assert_eq!(
        guest_read(&mut parent, &mut m, AT + MIB, 16),
        [[1; 8], [2; 8]].concat()
    );
    assert_eq!(parent.user_bytes(), used, "nothing copied");
    child.release(&mut m).expect("release");
    parent.munmap(&mut m, AT, 2 * MIB).expect("munmap");
    assert_eq!(parent.user_bytes(), 0);
}
