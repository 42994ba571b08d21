//! Unit tests of the 4 KiB page-table edits and of the monitor's mirror.

use super::*;

#[test]
fn map_translate_protect_unmap() {
    let mut mem = GuestMemory::new(0x40000).expect("mem");
    let mut frames = FrameAllocator::new(0x2000, 0x40000, 0x10000);
    let pt = PageTables::new(0x1000);
    let frame = frames.alloc_user().expect("frame");
    pt.map(
        &mut mem,
        &mut frames,
        0x40_0000,
        frame,
        Prot::RW.user_pte_flags(),
    )
    .expect("map");
    let t = pt.translate(&mem, 0x40_0000).expect("mapped");
    assert_eq!(t.pa, frame);
    assert!(t.user_writable());
    assert!(pt.translate(&mem, 0x40_1000).is_none());
    assert!(pt
        .set_flags(&mut mem, 0x40_0000, Prot::from_linux(1).user_pte_flags())
        .expect("prot"));
    assert!(!pt
        .translate(&mem, 0x40_0000)
        .expect("still mapped")
        .user_writable());
    assert!(pt
        .set_flags(&mut mem, 0x40_0000, Prot::NONE.user_pte_flags())
        .expect("none"));
    assert!(pt.translate(&mem, 0x40_0000).is_none());
    assert_eq!(pt.unmap(&mut mem, 0x40_0000).expect("unmap"), Some(frame));
    assert_eq!(pt.unmap(&mut mem, 0x40_0000).expect("unmap twice"), None);
}

#[test]
fn user_half_pml4_entries_are_mirrored_with_nx() {
    let mut mem = GuestMemory::new(0x40000).expect("mem");
    let mut frames = FrameAllocator::new(0x3000, 0x40000, 0x10000);
    let pt = PageTables {
        root: 0x1000,
        mirror: Some(0x2000),
    };
    let frame = frames.alloc_user().expect("frame");
    pt.map(
        &mut mem,
        &mut frames,
        0x40_0000,
        frame,
        Prot::RWX.user_pte_flags(),
    )
    .expect("map");
    let u = mem.read_u64(0x1000).expect("U slot 0");
    let m = mem.read_u64(0x2000).expect("M slot 0");
    assert_eq!(m, u | NO_EXECUTE, "same PDPT, NX in M");
    // The monitor's walk sees the page, never executable.
    let seen = PageTables::new(0x2000)
        .translate(&mem, 0x40_0000)
        .expect("mapped in M");
    assert_eq!(seen.pa, frame);
    assert_ne!(seen.flags & NO_EXECUTE, 0);
    // A second slot created later is mirrored too; kernel-half slots never.
    let f2 = frames.alloc_user().expect("frame");
    pt.map(
        &mut mem,
        &mut frames,
        0x7fff_0000_0000,
        f2,
        Prot::RW.user_pte_flags(),
    )
    .expect("map high");
    assert_eq!(
        mem.read_u64(0x2000 + 255 * 8).expect("M slot 255"),
        mem.read_u64(0x1000 + 255 * 8).expect("U slot 255") | NO_EXECUTE
    );
    pt.map(
        &mut mem,
        &mut frames,
        0xffff_ffff_8000_0000,
        0x3000,
        PRESENT,
    )
    .expect("map kernel");
    assert_eq!(mem.read_u64(0x2000 + 511 * 8).expect("M slot 511"), 0);
}
