//! Pages of a shared file mapping: 4 KiB pages only, and frames that
//! another mapping of the same file already holds taken over one by one
//! (kernel/shared_file_pages.rs keeps which frame is which file page).

use super::{AddressSpace, MapError, MmapFlags};
use crate::guest::frames::FrameRuns;
use crate::guest::page_table::{PageTables, Prot};
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

impl AddressSpace {
    /// [`AddressSpace::mmap_anonymous`] with 4 KiB pages only, whatever
    /// `huge_pages` says: each page of a file mapping is one file page.
    pub fn mmap_small_pages(
        &mut self,
        mem: &mut GuestMemory,
        hint: u64,
        len: u64,
        prot: Prot,
        flags: MmapFlags,
    ) -> Result<u64, MapError> {
        let huge = std::mem::replace(&mut self.huge_pages, false);
        let mapped = self.mmap_anonymous(mem, hint, len, prot, flags);
        self.huge_pages = huge;
        mapped
    }

    /// Points page `va` of a mapping just made (its fresh frame never yet
    /// seen by the program) at `pa`, a frame other mappings hold: the
    /// fresh frame is freed, `pa` gains this address space as an owner.
    /// The page keeps its protection.
    pub fn adopt_frame(&mut self, mem: &mut GuestMemory, va: u64, pa: u64) -> Result<(), MapError> {
        let entry = self.tables.leaf(mem, va).ok_or(MapError::NotMapped)?;
        let fresh = PageTables::leaf_frame(entry);
        if !self.tables.set_private(mem, va, pa, entry ^ fresh)? {
            return Err(MapError::NotMapped);
        }
        self.frames.add_owners(&[pa]);
        self.frames.free_user(mem, fresh)?;
        Ok(())
    }
}

/// A leaf that keeps its frame but is not present (as PROT_NONE's).
const HIDDEN: u64 = Prot {
    read: false,
    write: false,
    exec: false,
}
.user_pte_flags();

impl AddressSpace {
    /// Makes the pages of `[start, end)` inaccessible while keeping their
    /// frames: pages of a shared file mapping wholly past the end of the
    /// file, whose touch is SIGBUS (run/file_faults.rs). The hypervisor's
    /// translations of them are dropped and the caller flushes the TLBs.
    pub fn hide_pages(
        &mut self,
        mem: &mut GuestMemory,
        start: u64,
        end: u64,
    ) -> Result<(), MapError> {
        let mut downgraded = FrameRuns::default();
        let mut va = start;
        while va < end {
            if let Some(t) = self.tables.translate(mem, va) {
                downgraded.push_frame(t.pa);
            }
            self.tables.set_flags(mem, va, HIDDEN)?;
            va += PAGE_SIZE;
        }
        if !downgraded.is_empty() {
            self.refresh(mem, &downgraded)?;
            self.needs_tlb_flush = true;
        }
        Ok(())
    }

    /// Makes a hidden page ([`AddressSpace::hide_pages`]) accessible again
    /// with its mapping's protection (the file grew over it). False when
    /// `va` is not a hidden page of an accessible mapping.
    pub fn reveal_page(&mut self, mem: &mut GuestMemory, va: u64) -> Result<bool, MapError> {
        let page = va & !(PAGE_SIZE - 1);
        let Some((_, vma)) = self.vma_at(page) else {
            return Ok(false);
        };
        if vma.prot.is_none() || self.tables.translate(mem, page).is_some() {
            return Ok(false);
        }
        Ok(self
            .tables
            .set_flags(mem, page, vma.prot.user_pte_flags())?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fork_tests::{frame, guest_read, guest_write, page_of, space, AT, MIB};
    use super::*;

    const SHARED: MmapFlags = MmapFlags {
        fixed: true,
        noreplace: false,
        shared: true,
    };

    #[test]
    fn a_second_address_space_adopts_a_frame_and_both_see_every_write() {
        let (mut a, mut m) = space(16 * MIB);
        a.mmap_small_pages(&mut m, AT, PAGE_SIZE, Prot::RW, SHARED)
            .expect("mmap a");
        guest_write(&mut a, &mut m, AT, &page_of(7));
        let pa = frame(&a, &m, AT);
        let mut b = a.new_empty(&mut m).expect("second space");
        let at_b = AT + 4 * PAGE_SIZE;
        b.mmap_small_pages(&mut m, at_b, PAGE_SIZE, Prot::RW, SHARED)
            .expect("mmap b");
        let used = b.frames.user_bytes();
        b.adopt_frame(&mut m, at_b, pa).expect("adopt");
        assert_eq!(frame(&b, &m, at_b), pa);
        assert_eq!(
            b.frames.user_bytes(),
            used - PAGE_SIZE,
            "the fresh frame is freed"
        );
        assert_eq!(
            guest_read(&mut b, &mut m, at_b, 16),
            page_of(7)[..16].to_vec()
        );
        guest_write(&mut b, &mut m, at_b, b"from b");
        assert_eq!(guest_read(&mut a, &mut m, AT, 6), b"from b".to_vec());
        // A lets go: the frame stays B's, bytes and all.
        a.munmap(&mut m, AT, PAGE_SIZE).expect("munmap a");
        assert!(!b.frames.is_shared_frame(pa));
        assert_eq!(guest_read(&mut b, &mut m, at_b, 6), b"from b".to_vec());
    }

    #[test]
    fn a_hidden_page_keeps_its_frame_and_bytes_until_revealed() {
        let (mut a, mut m) = space(16 * MIB);
        a.mmap_small_pages(&mut m, AT, 2 * PAGE_SIZE, Prot::RW, SHARED)
            .expect("mmap");
        guest_write(&mut a, &mut m, AT + PAGE_SIZE, b"kept");
        let pa = frame(&a, &m, AT + PAGE_SIZE);
        a.hide_pages(&mut m, AT + PAGE_SIZE, AT + 2 * PAGE_SIZE)
            .expect("hide");
        assert!(a.needs_tlb_flush);
        assert!(a.translate(&m, AT + PAGE_SIZE).is_none(), "not present");
        assert_eq!(a.tables.frame_of(&m, AT + PAGE_SIZE), Some(pa));
        assert!(a.translate(&m, AT).is_some(), "the page before stays");
        assert!(a.reveal_page(&mut m, AT + PAGE_SIZE + 8).expect("reveal"));
        assert!(!a.reveal_page(&mut m, AT + PAGE_SIZE).expect("again"));
        assert!(a
            .translate(&m, AT + PAGE_SIZE)
            .is_some_and(|t| t.user_writable()));
        assert_eq!(
            guest_read(&mut a, &mut m, AT + PAGE_SIZE, 4),
            b"kept".to_vec()
        );
    }

    #[test]
    fn file_pages_are_4_kib_pages_even_with_huge_pages_on() {
        let (mut a, mut m) = space(16 * MIB);
        a.huge_pages = true;
        let at = 4 * MIB;
        a.mmap_small_pages(&mut m, at, 2 * MIB, Prot::RW, SHARED)
            .expect("mmap");
        assert!(a.huge_pages, "the setting is kept");
        assert_eq!(a.tables.huge_block(&m, at), None);
        assert!(a.tables.leaf(&m, at + MIB).is_some(), "a 4 KiB leaf");
    }
}
