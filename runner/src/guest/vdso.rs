//! The guest's vDSO (vdso/vdso.c, built by build.rs; docs/abi.md): its
//! image, mapping it with its data page into a guest, and writing the clock
//! into that page.
//!
//! The data page is mapped read-only for the program and written only here,
//! while the guest is stopped, so the vDSO never reads a half-written page.

use super::address_space::{AddressSpace, MapError};
use super::clock::{ClockParams, NCLOCKS};
use super::layout::{VDSO_PA, VDSO_PAGES, VDSO_VA, VVAR_PA, VVAR_VA};
use super::page_table::Prot;
use thinvisor_kmod::{GuestMemory, KmodError, PAGE_SIZE};

#[allow(dead_code)]
mod layout {
    include!(concat!(env!("OUT_DIR"), "/vdso_layout.rs"));
}
pub use layout::*;

/// The vDSO, an ELF shared object linked at 0 and mapped as it is.
pub const IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vdso.so"));

const _: () = {
    assert!(VVAR_NCLOCKS as usize == NCLOCKS);
    assert!(VVAR_SIZE == VVAR_OFFSET + 8 * VVAR_NCLOCKS && VVAR_SIZE <= PAGE_SIZE);
    assert!(
        VVAR_VA + PAGE_SIZE == VDSO_VA,
        "vdso.lds: the data page is right below"
    );
    assert!(IMAGE.len() as u64 <= VDSO_PAGES * PAGE_SIZE);
};

/// Why a vDSO could not be mapped (the runner's failure).
#[derive(Debug, thiserror::Error)]
pub enum VdsoError {
    #[error(transparent)]
    Memory(#[from] KmodError),
    #[error("cannot map the vDSO: {0}")]
    Map(#[from] MapError),
}

/// Writes the vDSO's frames and maps them at their fixed addresses: the
/// data page read-only (NX), the image read+execute, both reserved (see
/// [`AddressSpace::map_reserved`]). The data page says "not filled" until
/// [`publish`] writes a clock, so until then every call makes the syscall.
pub fn map(mem: &mut GuestMemory, aspace: &mut AddressSpace) -> Result<(), VdsoError> {
    mem.zero(VVAR_PA, PAGE_SIZE)?;
    mem.zero(VDSO_PA, VDSO_PAGES * PAGE_SIZE)?;
    mem.write(VDSO_PA, IMAGE)?;
    map_written(mem, aspace)
}

/// Maps the vDSO's frames, already written by [`map`] at boot, into
/// another address space (a program execve started).
pub fn map_written(mem: &mut GuestMemory, aspace: &mut AddressSpace) -> Result<(), VdsoError> {
    aspace.map_reserved(mem, VVAR_VA, &[VVAR_PA], Prot::R)?;
    let text: Vec<u64> = (0..VDSO_PAGES).map(|i| VDSO_PA + i * PAGE_SIZE).collect();
    aspace.map_reserved(mem, VDSO_VA, &text, Prot::RX)?;
    Ok(())
}

/// The data page's used bytes for `params` (vdso/vvar.h; the rest of the
/// page stays zero).
pub fn data_page(params: &ClockParams) -> Vec<u8> {
    let mut page = vec![0u8; VVAR_SIZE as usize];
    let mut put = |off: u64, value: u64| {
        let at = off as usize;
        page[at..at + 8].copy_from_slice(&value.to_le_bytes());
    };
    let mut clocks = 0u64;
    for (id, offset) in params.offsets.iter().enumerate() {
        put(VVAR_OFFSET + 8 * id as u64, offset.unwrap_or(0));
        if offset.is_some() {
            clocks |= 1 << id;
        }
    }
    put(VVAR_TSC_BASE, params.tsc_base);
    put(VVAR_MULT, params.mult);
    put(VVAR_MONO_BASE, params.mono_base);
    put(VVAR_CLOCKS, clocks);
    put(VVAR_FORMAT, VVAR_FORMAT_1);
    page
}

/// Writes the clock's lines into the data page (with the guest stopped).
pub fn publish(mem: &mut GuestMemory, params: &ClockParams) -> Result<(), KmodError> {
    mem.write(VVAR_PA, &data_page(params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_DYNAMIC, PT_LOAD};
    use goblin::elf::Elf;

    const EXPORTS: [&str; 8] = [
        "__vdso_clock_gettime",
        "__vdso_gettimeofday",
        "__vdso_time",
        "__vdso_getcpu",
        "clock_gettime",
        "gettimeofday",
        "time",
        "getcpu",
    ];

    #[test]
    fn the_image_is_what_c_libraries_look_for() {
        let elf = Elf::parse(IMAGE).expect("the vDSO is an ELF file");
        assert_eq!(elf.header.e_type, goblin::elf::header::ET_DYN);
        // One read+execute segment holding the whole file at its offset, so
        // it can be mapped byte for byte; the dynamic section inside it.
        let loads: Vec<_> = elf
            .program_headers
            .iter()
            .filter(|p| p.p_type == PT_LOAD)
            .collect();
        assert_eq!(loads.len(), 1);
        assert_eq!((loads[0].p_offset, loads[0].p_vaddr), (0, 0));
        assert_eq!(loads[0].p_flags, PF_R | PF_X);
        assert!(elf.program_headers.iter().all(|p| p.p_flags & PF_W == 0));
        assert!(elf.program_headers.iter().any(|p| p.p_type == PT_DYNAMIC));
        // No relocations: nothing would apply them.
        assert!(elf.dynrelas.is_empty() && elf.dynrels.is_empty() && elf.pltrelocs.is_empty());
        assert_eq!(elf.soname, Some("linux-vdso.so.1"));
        // The exported functions, each in version LINUX_2.6 (musl and glibc
        // look them up by name and version).
        let verdef = elf.verdef.as_ref().expect("version definitions");
        let linux26 = verdef
            .iter()
            .find(|d| {
                d.iter()
                    .next()
                    .and_then(|aux| elf.dynstrtab.get_at(aux.vda_name))
                    == Some("LINUX_2.6")
            })
            .expect("LINUX_2.6 is defined")
            .vd_ndx;
        let versym = elf.versym.as_ref().expect("symbol versions");
        for name in EXPORTS {
            let (i, sym) = elf
                .dynsyms
                .iter()
                .enumerate()
                .find(|(_, s)| elf.dynstrtab.get_at(s.st_name) == Some(name))
                .unwrap_or_else(|| panic!("{name} is not exported"));
            assert!(sym.is_function() && sym.st_value > 0, "{name}");
            let v = versym.get_at(i).expect("a version per symbol");
            assert_eq!(v.version(), linux26, "{name}");
        }
        // Every function lies inside the image's code.
        for sym in elf.dynsyms.iter().filter(|s| s.is_function()) {
            assert!(sym.st_value + sym.st_size <= IMAGE.len() as u64);
        }
    }

    #[test]
    fn publish_fills_the_layout_the_vdso_reads() {
        let mut mem = GuestMemory::new(0x40000).expect("memory");
        let mut offsets = [None; NCLOCKS];
        offsets[0] = Some(7);
        offsets[1] = Some(0);
        let p = ClockParams {
            tsc_base: 11,
            mult: 22,
            mono_base: 33,
            offsets,
        };
        publish(&mut mem, &p).expect("publish");
        let at = |off: u64| mem.read_u64(VVAR_PA + off).expect("read");
        assert_eq!(at(VVAR_FORMAT), VVAR_FORMAT_1);
        assert_eq!(
            (at(VVAR_TSC_BASE), at(VVAR_MULT), at(VVAR_MONO_BASE)),
            (11, 22, 33)
        );
        assert_eq!(at(VVAR_CLOCKS), 0b11);
        assert_eq!(at(VVAR_OFFSET), 7);
    }
}
