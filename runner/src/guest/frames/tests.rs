//! Unit tests of the frame pool and its handles: the limit, the two ends,
//! retired tables, and frames shared by several address spaces.

use super::*;

fn mem(len: u64) -> GuestMemory {
    GuestMemory::new(len as usize).expect("guest memory")
}

#[test]
fn user_limit_is_enforced_and_frames_are_reused() {
    let mut f = FrameAllocator::new(0x1000, 0x100000, 2 * PAGE_SIZE);
    let mut m = mem(0x100000);
    let a = f.alloc_user().expect("first");
    let _b = f.alloc_user().expect("second");
    assert!(f.alloc_user().is_none(), "limit of two pages");
    assert!(
        f.alloc_table().is_some(),
        "tables are outside the user limit"
    );
    assert!(f.free_user(&mut m, a).expect("free"));
    assert_eq!(f.alloc_user(), Some(a));
    assert_eq!(f.peak_bytes(), 3 * PAGE_SIZE);
}

#[test]
fn huge_blocks_come_from_the_top_aligned_and_count_512_pages() {
    let end = 8 * HUGE_SIZE + 0x5000;
    let mut f = FrameAllocator::new(0x1000, end, 4 * HUGE_SIZE);
    let mut m = mem(end);
    let b = f.alloc_huge().expect("block");
    assert_eq!(b, 7 * HUGE_SIZE, "the highest aligned block below the end");
    assert_eq!(f.user_bytes(), HUGE_SIZE);
    let small = f.alloc_user().expect("4 KiB");
    assert_eq!(small, 0x1000, "4 KiB frames from the bottom");
    assert_eq!(f.untouched(), (0x2000, 7 * HUGE_SIZE));
    f.free_huge(&mut m, b).expect("free");
    assert_eq!(f.alloc_huge(), Some(b), "a freed block is reused whole");
    // The limit counts the block's 512 pages.
    let mut g = FrameAllocator::new(0x1000, end, HUGE_SIZE + PAGE_SIZE);
    g.alloc_user().expect("one page");
    assert!(g.alloc_huge().is_some());
    assert!(g.alloc_huge().is_none(), "512 more pages exceed the limit");
}

#[test]
fn the_two_ends_never_cross_and_free_blocks_feed_small_frames() {
    let mut f = FrameAllocator::new(0, 2 * HUGE_SIZE, 4 * HUGE_SIZE);
    let mut m = mem(2 * HUGE_SIZE);
    let b = f.alloc_huge().expect("upper block");
    assert_eq!(b, HUGE_SIZE);
    for _ in 0..HUGE_PAGES {
        f.alloc_user().expect("lower block as 4 KiB frames");
    }
    assert!(f.alloc_huge().is_none(), "nothing aligned is left");
    assert!(
        f.alloc_user().is_none(),
        "the 4 KiB end stops at the blocks"
    );
    f.free_huge(&mut m, b).expect("free");
    assert_eq!(f.alloc_user(), Some(b), "a free block is broken up");
    assert_eq!(
        f.alloc_table(),
        Some(b + PAGE_SIZE),
        "the rest are clean frames"
    );
}

#[test]
fn retired_tables_serve_only_as_user_memory() {
    let mut f = FrameAllocator::new(0x1000, 0x100000, 16 * PAGE_SIZE);
    let mut m = mem(0x100000);
    let t = f.alloc_table().expect("table");
    assert!(f.is_fresh_table(t));
    f.seal_tables();
    assert!(!f.is_fresh_table(t), "sealed when the guest runs");
    m.write(t, &[9; 8]).expect("write");
    f.retire_table(&mut m, t).expect("retire");
    let clean = f.alloc_user().expect("user");
    assert_ne!(
        clean, t,
        "a writable page takes a clean frame while one is left"
    );
    f.begin_read_only();
    let u = f.alloc_user().expect("user");
    f.end_read_only();
    assert_eq!(u, t, "a read-only program page takes a retired table first");
    assert!(f.free_user(&mut m, u).expect("free"));
    let t2 = f.alloc_table().expect("table");
    assert_ne!(t2, t, "never a table again");
    f.begin_read_only();
    assert_eq!(f.alloc_user(), Some(t), "still user memory");
    f.retire_table(&mut m, 0x0).expect("outside the pool");
    assert_ne!(
        f.alloc_user(),
        Some(0x0),
        "frames outside the area are not taken"
    );
    f.end_read_only();
}

#[test]
fn a_shared_frame_is_freed_and_zeroed_by_its_last_owner_only() {
    let mut m = mem(0x100000);
    let mut parent = FrameAllocator::new(0x1000, 0x100000, 4 * PAGE_SIZE);
    let mut child = parent.sibling();
    let pa = parent.alloc_user().expect("frame");
    m.write(pa, &[7; 16]).expect("write");
    child.add_owners(&[pa]);
    assert!(parent.is_shared_frame(pa) && child.is_shared_frame(pa));
    assert_eq!(parent.user_bytes(), PAGE_SIZE, "counted once");
    assert!(
        !child.free_user(&mut m, pa).expect("drop"),
        "the parent keeps it"
    );
    assert_eq!(m.slice(pa, 16).expect("bytes"), &[7; 16], "not zeroed");
    assert!(!parent.is_shared_frame(pa));
    assert_eq!(parent.user_bytes(), PAGE_SIZE);
    assert!(
        parent.free_user(&mut m, pa).expect("free"),
        "the last owner"
    );
    assert_eq!(m.slice(pa, 16).expect("bytes"), &[0; 16], "zeroed");
    assert_eq!(child.user_bytes(), 0, "one pool");
    assert_eq!(child.alloc_user(), Some(pa), "reused");
}

#[test]
fn while_several_vcpus_share_a_space_its_holds_drop_after_their_flush() {
    let mut m = mem(0x100000);
    let mut a = FrameAllocator::new(0x1000, 0x100000, 8 * PAGE_SIZE);
    let mut b = a.sibling();
    let shared = a.alloc_user().expect("frame");
    let own = a.alloc_user().expect("frame");
    b.add_owners(&[shared]);
    a.share();
    assert!(!a.free_user(&mut m, shared).expect("drop"));
    assert!(a.is_shared_frame(shared), "still shared until the flush");
    assert!(a.free_user(&mut m, own).expect("free"), "zeroed at once");
    assert_eq!(a.user_bytes(), PAGE_SIZE, "uncounted at once");
    assert_ne!(b.alloc_user(), Some(own), "not reused before the flush");
    a.release_deferred(&mut m).expect("flushed");
    assert!(!a.is_shared_frame(shared), "b is the only owner now");
    assert!(b.free_user(&mut m, shared).expect("free"));
    // A hold dropped after the others went frees the frame itself.
    let c = b.alloc_user().expect("frame");
    let mut d = b.sibling();
    d.add_owners(&[c]);
    d.share();
    let used = d.user_bytes();
    assert!(!d.free_user(&mut m, c).expect("held"));
    assert!(!b.free_user(&mut m, c).expect("d still holds it"));
    d.release_deferred(&mut m).expect("flushed");
    assert_eq!(
        d.user_bytes(),
        used - PAGE_SIZE,
        "freed by the deferred drop"
    );
}

#[test]
fn a_table_no_vcpu_walked_goes_back_clean_and_others_retire() {
    let mut m = mem(0x100000);
    let mut f = FrameAllocator::new(0x1000, 0x100000, 8 * PAGE_SIZE);
    let fresh = f.alloc_table().expect("table");
    m.write(fresh, &[1; 8]).expect("write");
    f.free_table(&mut m, fresh).expect("free");
    assert_eq!(m.slice(fresh, 8).expect("bytes"), &[0; 8], "zeroed");
    assert_eq!(f.alloc_table(), Some(fresh), "a table again");
    f.seal_tables();
    f.free_table(&mut m, fresh).expect("retire");
    assert_ne!(
        f.alloc_table(),
        Some(fresh),
        "walked once: never a table again"
    );
    f.begin_read_only();
    assert_eq!(f.alloc_user(), Some(fresh), "user memory");
    f.end_read_only();
}

/// Retired tables back writable pages only when no other frame is left
/// (kvm_pvm emulates writes to frames it still shadows as tables, and
/// cannot emulate AVX stores): the limit stays the limit.
#[test]
fn writable_pages_take_retired_tables_only_as_a_last_resort() {
    let mut m = mem(0x4000);
    let mut f = FrameAllocator::new(0x1000, 0x4000, 16 * PAGE_SIZE);
    let t = f.alloc_table().expect("table");
    f.seal_tables();
    f.retire_table(&mut m, t).expect("retire");
    let a = f.alloc_user().expect("a clean frame");
    let b = f.alloc_user().expect("a clean frame");
    assert!(a != t && b != t);
    assert_eq!(f.alloc_user(), Some(t), "the last frame left");
    assert_eq!(f.alloc_user(), None);
}

#[test]
fn a_tracked_frame_is_reported_when_its_last_owner_lets_go() {
    let mut a = FrameAllocator::new(0x1000, 0x100000, 16 * PAGE_SIZE);
    let mut b = a.sibling();
    let mut m = mem(0x100000);
    let pa = a.alloc_user().expect("frame");
    a.track(pa);
    b.add_owners(&[pa]);
    // b runs several vCPUs: its hold on a frame a maps too waits for their
    // flush.
    b.share();
    assert!(!b.free_user(&mut m, pa).expect("b lets go"));
    assert!(!a.free_user(&mut m, pa).expect("a lets go"));
    assert_eq!(a.take_freed_tracked(), Vec::<u64>::new(), "b's hold waits");
    b.release_deferred(&mut m).expect("flushed");
    assert_eq!(a.take_freed_tracked(), vec![pa]);
    assert_eq!(a.take_freed_tracked(), Vec::<u64>::new(), "reported once");
    // An untracked frame is never reported.
    let other = a.alloc_user().expect("frame");
    assert!(a.free_user(&mut m, other).expect("free"));
    assert_eq!(a.take_freed_tracked(), Vec::<u64>::new());
}
