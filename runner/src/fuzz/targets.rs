//! Fuzz targets for the code that parses untrusted input without a VM: the
//! policy parser, the program loader, the secure tunnel over a synthetic
//! guest address space, and syscall argument decoding. Each takes arbitrary
//! bytes and panics when an invariant breaks (a panic is the finding). The
//! cargo-fuzz targets in `fuzz/` call these functions; `runner fuzz
//! --target NAME` feeds them random and mutated inputs on the stable
//! toolchain.

// A panic is how a fuzz target reports a broken invariant to libFuzzer and
// to `runner fuzz`; nothing else calls these functions.
#![allow(clippy::panic)]

use crate::guest::address_space::{AddressSpace, MmapFlags};
use crate::guest::layout::*;
use crate::guest::page_table::Prot;
use crate::loader::{self, Format};
use crate::run::boot::{self, BootError, StartInfo};
use crate::syscalls::decode;
use crate::tunnel::{Access, GuestPtr, Tunnel};
use sandbox_policy::{Policy, TunnelRanges};
use std::collections::BTreeMap;
use thinvisor_kmod::GuestMemory;

/// The targets by name (as `--target` spells them).
pub const NAMES: &[&str] = &["policy", "loader", "tunnel", "syscall-args"];

/// Runs target `name` on `data`.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "policy" => policy(data),
        "loader" => loader(data),
        "tunnel" => tunnel(data),
        "syscall-args" => syscall_args(data),
        _ => panic!("unknown fuzz target {name}"),
    }
}

/// Policy text: parsing never panics; a policy that parses prints (as
/// `runner check` does) to text that parses back to the same policy.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = sandbox_policy::parse_size(text);
    let _ = sandbox_policy::parse_duration(text);
    let Ok(p) = Policy::from_str_named(text, "fuzz.toml") else {
        return;
    };
    let effective = p.to_effective_toml();
    match Policy::from_str_named(&effective, "effective.toml") {
        Ok(q) => assert_eq!(
            p, q,
            "the effective policy reads back differently:\n{effective}"
        ),
        Err(e) => panic!("the effective policy does not parse: {e}\n{effective}"),
    }
}

/// Program bytes: the loader refuses or builds an image, and the image is
/// either laid out in a guest (as boot would) or refused as not fitting.
pub fn loader(data: &[u8]) {
    for format in [Format::Auto, Format::Flat, Format::Elf] {
        let Ok(image) = loader::from_bytes("fuzz", data.to_vec(), format, 1 << 20) else {
            continue;
        };
        for seg in &image.segments {
            let end = seg.vaddr.checked_add(seg.mem_size);
            assert!(
                end.is_some_and(|e| e <= USER_END) && seg.data.len() as u64 <= seg.mem_size,
                "segment {:#x}+{:#x} escapes user space or its data",
                seg.vaddr,
                seg.mem_size
            );
        }
        let start = StartInfo {
            argv: &[b"fuzz".to_vec()],
            envp: &[],
            memory_limit: 1 << 20,
            monitor: None,
            vdso: true,
            huge_pages: true,
            identity: crate::kernel::process::GUEST_IDENTITY,
        };
        match boot::build_memory(&image, &start, &Default::default()) {
            Ok(_) | Err(BootError::Map(_)) => {}
            Err(e) => panic!("laying out a loaded image failed: {e}"),
        }
    }
}

/// Arguments and guest bytes for the decoders: whatever they accept is
/// within the ABI's bounds.
pub fn syscall_args(data: &[u8]) {
    let mut input = Input::new(data);
    let args: [u64; 6] = std::array::from_fn(|_| input.u64());
    if let Ok(n) = decode::iovec_array_bytes(args[2]) {
        assert!(n <= decode::MAX_IOV as usize * decode::IOVEC_SIZE);
    }
    if let Ok(parts) = decode::iovecs(input.rest()) {
        assert!(parts.len() <= decode::MAX_IOV as usize);
        let total = parts.iter().try_fold(0u64, |t, &(_, l)| t.checked_add(l));
        assert!(
            total.is_some_and(|t| t <= i64::MAX as u64),
            "iovec lengths overflow"
        );
    }
    if let Ok(r) = decode::mmap(&args) {
        assert!(r.len > 0 && args[2] <= 7 && args[3] & 0x20 != 0 && args[5] & 0xfff == 0);
    }
    if let Ok(len) = decode::rw_len(GuestPtr::new(args[0]), args[1]) {
        assert!(len <= decode::MAX_RW && len <= args[1]);
    }
    let _ = decode::mprotect_prot(args[3]);
}

/// A byte reader that yields zeros once the input runs out.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    fn u8(&mut self) -> u8 {
        let (b, rest) = self
            .data
            .split_first()
            .map_or((0, &[][..]), |(b, r)| (*b, r));
        self.data = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | u16::from(self.u8()) << 8
    }
    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |v, i| v | u64::from(self.u8()) << (8 * i))
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
    /// An address near one of the guest's landmarks.
    fn pointer(&mut self) -> u64 {
        let bases = [
            0,
            FLAT_LOAD_VA,
            FLAT_LOAD_VA + 0x1000,
            STACK_TOP,
            STACK_TOP - stack_size(1 << 20),
            MMAP_TOP,
            KERNEL_BASE,
            KERNEL_BASE + ENTRY_CODE_PA,
            USER_END,
            0xffff_8000_0000_0000,
        ];
        let sel = self.u8();
        if sel == 0xff {
            return self.u64();
        }
        let base = bases[sel as usize % bases.len()];
        let off = i64::from(self.u16() as i16) * if sel & 0x80 != 0 { 4096 } else { 1 };
        base.wrapping_add(off as u64)
    }
    fn length(&mut self) -> u64 {
        match self.u8() % 4 {
            0 => u64::from(self.u8()),
            1 => u64::from(self.u16()),
            2 => u64::from(self.u8()) * 4096,
            _ => self.u64(),
        }
    }
}

/// Which pages the guest should be able to read and write, kept beside the
/// real address space from the same operations.
#[derive(Default)]
struct Model {
    /// Non-overlapping ranges [start, end) with their protection, by start.
    /// Ranges, not pages: a PROT_NONE reservation costs no guest memory, so
    /// a successful mmap or mprotect may name terabytes.
    ranges: BTreeMap<u64, (u64, Prot)>,
}

impl Model {
    /// Records `prot` (None: unmapped) for the pages of a range an
    /// operation succeeded on.
    fn set(&mut self, start: u64, len: u64, prot: Option<Prot>) {
        let start = start & !4095;
        let end = start.saturating_add(len).saturating_add(4095) & !4095;
        if end <= start {
            return;
        }
        // Cut what overlaps [start, end) out of the ranges there, keeping
        // the parts outside it.
        let first = self
            .ranges
            .range(..start)
            .next_back()
            .filter(|(_, &(e, _))| e > start)
            .map(|(&s, _)| s);
        let overlapping: Vec<u64> = first
            .into_iter()
            .chain(self.ranges.range(start..end).map(|(&s, _)| s))
            .collect();
        for s in overlapping {
            if let Some((e, p)) = self.ranges.remove(&s) {
                if s < start {
                    self.ranges.insert(s, (start, p));
                }
                if e > end {
                    self.ranges.insert(end, (e, p));
                }
            }
        }
        if let Some(x) = prot {
            self.ranges.insert(start, (end, x));
        }
    }

    fn allows(&self, page: u64, access: Access) -> bool {
        self.ranges
            .range(..=page)
            .next_back()
            .is_some_and(|(_, &(end, p))| {
                page < end
                    && match access {
                        Access::Read => p.read || p.write || p.exec,
                        Access::Write => p.write,
                    }
            })
    }
}

/// Operations on a synthetic guest (built exactly as boot builds one, but
/// never run): mmap, munmap, mprotect and brk change the address space and a
/// model of it beside; tunnel checks, copies and string reads must agree
/// with the model page for page, and never panic.
pub fn tunnel(data: &[u8]) {
    let code = vec![0x90u8; 100];
    let Ok(image) = loader::from_bytes("fuzz", code, Format::Flat, 1 << 20) else {
        return;
    };
    let start = StartInfo {
        argv: &[b"fuzz".to_vec()],
        envp: &[],
        memory_limit: 1 << 20,
        monitor: None,
        vdso: true,
        huge_pages: true,
        identity: crate::kernel::process::GUEST_IDENTITY,
    };
    let Ok(boot::Memory {
        mut mem,
        mut aspace,
        ..
    }) = boot::build_memory(&image, &start, &Default::default())
    else {
        panic!("a one-page program does not fit in 1 MiB");
    };
    let mut model = Model::default();
    model.set(FLAT_LOAD_VA, 4096, Some(Prot::RWX));
    let stack = stack_size(1 << 20);
    model.set(STACK_TOP - stack, stack, Some(Prot::RW));
    // The vDSO: every attempt to change it fails, so the model keeps it.
    model.set(VVAR_VA, 4096, Some(Prot::R));
    model.set(VDSO_VA, VDSO_PAGES * 4096, Some(Prot::RX));
    let mut brk = FLAT_LOAD_VA + 4096;
    let mut input = Input::new(data);
    for _ in 0..64 {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        let (ptr, len) = (input.pointer(), input.length());
        let prot = Prot::from_linux(u64::from(input.u8() & 7));
        match op % 8 {
            0 => {
                let flags = MmapFlags {
                    fixed: op & 0x10 != 0,
                    noreplace: op & 0x20 != 0,
                    shared: op & 0x40 != 0,
                };
                if let Ok(addr) = aspace.mmap_anonymous(&mut mem, ptr & !0xfff, len, prot, flags) {
                    model.set(addr, len, Some(prot));
                }
            }
            1 => {
                if aspace.munmap(&mut mem, ptr, len).is_ok() {
                    model.set(ptr, len, None);
                }
            }
            2 => {
                if aspace.mprotect(&mut mem, ptr, len, prot).is_ok() {
                    model.set(ptr, len, Some(prot));
                }
            }
            3 => {
                let old_top = brk.div_ceil(4096) * 4096;
                let new = aspace.brk(&mut mem, ptr);
                if new != brk {
                    let new_top = new.div_ceil(4096) * 4096;
                    if new_top > old_top {
                        model.set(old_top, new_top - old_top, Some(Prot::RW));
                    } else {
                        model.set(new_top, old_top - new_top, None);
                    }
                    brk = new;
                }
            }
            _ => {
                let access = if op & 0x40 != 0 {
                    Access::Write
                } else {
                    Access::Read
                };
                check_against_model(
                    &mut aspace,
                    &mut mem,
                    &model,
                    ptr,
                    len.min(1 << 20),
                    access,
                    op,
                );
            }
        }
    }
}

fn check_against_model(
    aspace: &mut AddressSpace,
    mem: &mut GuestMemory,
    model: &Model,
    ptr: u64,
    len: u64,
    access: Access,
    op: u8,
) {
    let allowed = |access: Access| len == 0 || allowed_range(model, ptr, len, access);
    // The target has no `[[tunnel]]` table: the page tables alone decide.
    let no_ranges = TunnelRanges::default();
    let mut t = Tunnel::new(aspace, mem, &no_ranges);
    let got = t.check(GuestPtr::new(ptr), len, access);
    assert_eq!(
        got.is_ok(),
        allowed(access),
        "tunnel check of {ptr:#x}+{len:#x} for {access:?}: got {got:?}, the model disagrees"
    );
    if let Ok(runs) = &got {
        assert_eq!(
            runs.iter().map(|r| r.len).sum::<u64>(),
            len,
            "runs do not cover the range"
        );
    }
    let buf_len = len.min(8192) as usize;
    match op % 4 {
        0 => {
            let data: Vec<u8> = (0..buf_len).map(|i| (i as u8) ^ 0x5a).collect();
            let written = t.write(GuestPtr::new(ptr), &data).is_ok();
            assert_eq!(
                written,
                buf_len == 0 || allowed_range(model, ptr, buf_len as u64, Access::Write)
            );
            if written {
                let mut back = vec![0u8; buf_len];
                assert!(
                    t.read(GuestPtr::new(ptr), &mut back).is_ok(),
                    "written but unreadable"
                );
                assert_eq!(back, data, "read back differs at {ptr:#x}");
            }
        }
        1 => {
            let _ = t.read_cstring(GuestPtr::new(ptr), 4096);
        }
        2 => {
            let r = t.write_many_to_host(&[(GuestPtr::new(ptr), len)], &mut std::io::sink());
            assert_eq!(
                r.is_ok(),
                allowed(Access::Read),
                "write_many_to_host of {ptr:#x}+{len:#x}"
            );
        }
        _ => {
            let r = t.read_many_from_host(&[(GuestPtr::new(ptr), len)], &mut std::io::repeat(0xa5));
            assert_eq!(
                r.is_ok(),
                allowed(Access::Write),
                "read_many_from_host of {ptr:#x}+{len:#x}"
            );
        }
    }
}

fn allowed_range(model: &Model, ptr: u64, len: u64, access: Access) -> bool {
    ptr.checked_add(len).is_some_and(|end| {
        let mut page = ptr & !0xfff;
        while page < end {
            if !model.allows(page, access) {
                return false;
            }
            page += 4096;
        }
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_keeps_ranges_and_cuts_them() {
        let mut m = Model::default();
        // A terabyte reservation costs nothing to record.
        m.set(0x1000_0000, 1 << 40, Some(Prot::from_linux(0)));
        m.set(0x10_0000, 0x4000, Some(Prot::RW));
        assert!(m.allows(0x10_1000, Access::Write));
        m.set(0x10_1000, 0x1000, Some(Prot::R));
        assert!(m.allows(0x10_1000, Access::Read) && !m.allows(0x10_1000, Access::Write));
        assert!(m.allows(0x10_0000, Access::Write) && m.allows(0x10_2000, Access::Write));
        m.set(0x10_2000, 0x1000, None);
        assert!(!m.allows(0x10_2000, Access::Read));
        assert!(
            m.allows(0x10_3000, Access::Write),
            "the part after the cut stays"
        );
        assert!(!m.allows(0x10_4000, Access::Read), "past the end");
        assert!(!m.allows(0x2000_0000, Access::Read), "PROT_NONE");
        m.set(0, u64::MAX, None);
        assert!(m.ranges.is_empty());
    }
}
