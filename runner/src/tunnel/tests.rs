//! Unit tests of the tunnel's two ways in: the policy's `[[tunnel]]` table
//! applies to guest-named pointers (and to the monitor's range tables), not
//! to the runner's own layout; the page tables apply to both.

use super::*;
use crate::guest::frames::FrameAllocator;
use crate::guest::page_table::{PageTables, Prot};
use sandbox_policy::Policy;
use thinvisor_kmod::PAGE_SIZE;

const MIB: u64 = 1 << 20;
const AT: u64 = 0x40_0000;

/// A space with four read-write pages at `AT` and one read-only after them.
fn space() -> (AddressSpace, GuestMemory) {
    let limit = 4 * MIB;
    let phys = crate::guest::layout::physical_size(limit);
    let mut mem = GuestMemory::new(phys as usize).expect("guest memory");
    let frames = FrameAllocator::new(0x11000, phys, limit);
    let mut a = AddressSpace::new(PageTables::new(0x10000), frames);
    a.map_fixed(&mut mem, AT, 4 * PAGE_SIZE, Prot::RW)
        .expect("rw pages");
    a.map_fixed(&mut mem, AT + 4 * PAGE_SIZE, PAGE_SIZE, Prot::RW)
        .expect("last page");
    a.mprotect(&mut mem, AT + 4 * PAGE_SIZE, PAGE_SIZE, Prot::R)
        .expect("read-only");
    (a, mem)
}

/// The policy's table: the first page read-only, the next two read-write.
fn table() -> TunnelRanges {
    let text = "[[tunnel]]\nstart = 0x400000\nend = 0x401000\naccess = \"r\"\n\
                [[tunnel]]\nstart = 0x401000\nend = 0x403000\naccess = \"rw\"\n";
    Policy::from_str_named(text, "test.toml")
        .expect("policy")
        .tunnel
}

#[test]
fn guest_pointers_stay_inside_the_policy_table() {
    let (mut a, mut m) = space();
    let ranges = table();
    let mut t = Tunnel::new(&mut a, &mut m, &ranges);
    let page = PAGE_SIZE as usize;
    assert!(t
        .write(GuestPtr::new(AT + PAGE_SIZE), &vec![7; 2 * page])
        .is_ok());
    let mut buf = vec![0; 3 * page];
    assert!(t.read(GuestPtr::new(AT), &mut buf).is_ok(), "r then rw");
    assert_eq!(
        t.write(GuestPtr::new(AT), &[1]),
        Err(TunnelError::Fault(AT)),
        "the first page is read-only in the table, writable in the page tables"
    );
    assert_eq!(
        t.read(GuestPtr::new(AT + 3 * PAGE_SIZE), &mut [0]),
        Err(TunnelError::Fault(AT + 3 * PAGE_SIZE)),
        "mapped, outside the table"
    );
    assert!(t
        .check(
            GuestPtr::new(AT + 2 * PAGE_SIZE),
            2 * PAGE_SIZE,
            Access::Read
        )
        .is_err());
}

#[test]
fn the_runners_layout_ignores_the_policy_table_but_not_the_page_tables() {
    let (mut a, mut m) = space();
    let mut t = Tunnel::for_runner_layout(&mut a, &mut m);
    assert!(t.write(GuestPtr::new(AT), &[1, 2, 3]).is_ok());
    assert!(t.write(GuestPtr::new(AT + 3 * PAGE_SIZE), &[4]).is_ok());
    let mut back = [0; 3];
    assert!(t.read(GuestPtr::new(AT), &mut back).is_ok());
    assert_eq!(back, [1, 2, 3]);
    let ro = AT + 4 * PAGE_SIZE;
    assert_eq!(
        t.write(GuestPtr::new(ro), &[1]),
        Err(TunnelError::Fault(ro))
    );
    assert!(t.read(GuestPtr::new(ro), &mut [0]).is_ok());
    let end = AT + 5 * PAGE_SIZE;
    assert_eq!(
        t.read(GuestPtr::new(end), &mut [0]),
        Err(TunnelError::Fault(end))
    );
}

#[test]
fn accessible_ranges_are_the_mappings_cut_to_the_table() {
    let (a, _) = space();
    let none = TunnelRanges::default();
    let page = PAGE_SIZE;
    assert_eq!(
        accessible_ranges(&a, &none, Access::Read),
        vec![(AT, AT + 5 * page)]
    );
    assert_eq!(
        accessible_ranges(&a, &none, Access::Write),
        vec![(AT, AT + 4 * page)]
    );
    let ranges = table();
    assert_eq!(
        accessible_ranges(&a, &ranges, Access::Read),
        vec![(AT, AT + 3 * page)]
    );
    assert_eq!(
        accessible_ranges(&a, &ranges, Access::Write),
        vec![(AT + page, AT + 3 * page)]
    );
}
