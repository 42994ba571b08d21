//! The heap: where it starts, the break, and the headroom above it that
//! the in-VM monitor may hand out without an exit.

use super::{page_up, AddressSpace};
use crate::guest::page_table::Prot;
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

impl AddressSpace {
    /// Sets where the heap starts (just after the loaded image).
    pub fn set_brk_start(&mut self, addr: u64) {
        let a = page_up(addr).unwrap_or(addr);
        self.brk_start = a;
        self.brk = a;
        self.heap_end = a;
    }

    /// Where the heap starts, the current break, and the end of the mapped
    /// heap pages (headroom included).
    pub fn heap(&self) -> (u64, u64, u64) {
        (self.brk_start, self.brk, self.heap_end)
    }

    /// Takes a break the in-VM monitor moved without an exit. Only values
    /// inside the mapped heap are accepted (the monitor never goes beyond
    /// it); returns false for anything else.
    pub fn set_brk_from_monitor(&mut self, brk: u64) -> bool {
        if brk < self.brk_start || brk > self.heap_end {
            return false;
        }
        self.brk = brk;
        true
    }

    /// Maps up to `brk_headroom` bytes above the heap, as far as the memory
    /// limit leaves room (at most a quarter of what is left) and nothing else
    /// is mapped there.
    pub fn grant_heap_headroom(&mut self, mem: &mut GuestMemory) {
        let left = self.frames.user_pages_left() / 4 * PAGE_SIZE;
        let want = self.brk_headroom.min(left);
        if want == 0 || self.heap_end == 0 {
            return;
        }
        if self.map_fixed(mem, self.heap_end, want, Prot::RW).is_ok() {
            self.heap_end += want;
        }
    }

    /// Gives the headroom above the break back (under memory pressure).
    /// True when something was released.
    pub fn release_heap_headroom(&mut self, mem: &mut GuestMemory) -> bool {
        let Some(top) = page_up(self.brk) else {
            return false;
        };
        if self.heap_end <= top {
            return false;
        }
        if self.munmap(mem, top, self.heap_end - top).is_err() {
            return false;
        }
        self.heap_end = top;
        true
    }
}
