//! The checks of the loadable segments (`PT_LOAD`: inside the file, in
//! the user range, within the memory limit, no overlap, W^X) and of
//! `PT_TLS`.

use super::{page_down, page_up, Load, MAX_SEGMENT_END};
use crate::guest::layout::MIN_USER_VA;
use crate::guest::page_table::Prot;
use goblin::elf::program_header::{ProgramHeader, PF_R, PF_W, PF_X, PT_LOAD, PT_TLS};
use thinvisor_kmod::PAGE_SIZE;

fn prot_of(flags: u32) -> Prot {
    Prot {
        read: flags & PF_R != 0,
        write: flags & PF_W != 0,
        exec: flags & PF_X != 0,
    }
}

pub(super) fn checked_loads<'a>(
    bytes: &'a [u8],
    phdrs: &[ProgramHeader],
    bias: u64,
    memory_limit: u64,
) -> Result<Vec<Load<'a>>, String> {
    let mut loads = Vec::new();
    let mut pages: u64 = 0;
    for (index, p) in phdrs.iter().enumerate() {
        if p.p_type != PT_LOAD || p.p_memsz == 0 {
            continue;
        }
        let what = format!("segment {index}");
        if p.p_filesz > p.p_memsz {
            return Err(format!(
                "{what}: file size {:#x} exceeds memory size {:#x}",
                p.p_filesz, p.p_memsz
            ));
        }
        let file_end = p.p_offset.checked_add(p.p_filesz);
        if file_end.filter(|&e| e <= bytes.len() as u64).is_none() {
            return Err(format!(
                "{what}: file bytes {:#x}+{:#x} lie outside the {}-byte file (truncated?)",
                p.p_offset,
                p.p_filesz,
                bytes.len()
            ));
        }
        if p.p_vaddr % PAGE_SIZE != p.p_offset % PAGE_SIZE {
            return Err(format!(
                "{what}: address {:#x} and file offset {:#x} differ modulo the page size",
                p.p_vaddr, p.p_offset
            ));
        }
        let vaddr = p.p_vaddr.wrapping_add(bias);
        let end = vaddr
            .checked_add(p.p_memsz)
            .and_then(page_up)
            .ok_or_else(|| format!("{what}: size {:#x} overflows", p.p_memsz))?;
        if vaddr < MIN_USER_VA {
            return Err(format!(
                "{what} at {vaddr:#x} is below {MIN_USER_VA:#x} (the NULL guard)"
            ));
        }
        if end > MAX_SEGMENT_END {
            return Err(format!(
                "{what} ({vaddr:#x}-{end:#x}) reaches the vDSO, the stack area or the kernel \
                 half (segments must end below {MAX_SEGMENT_END:#x})"
            ));
        }
        pages += (end - page_down(vaddr)) / PAGE_SIZE;
        if pages * PAGE_SIZE > memory_limit {
            return Err(format!(
                "segments need at least {} bytes, more than the guest memory limit of \
                 {memory_limit} bytes",
                pages * PAGE_SIZE
            ));
        }
        // In range: checked against the file length above.
        let start = p.p_offset as usize;
        let file = &bytes[start..start + p.p_filesz as usize];
        loads.push(Load {
            index,
            vaddr,
            end: vaddr + p.p_memsz,
            file,
            prot: prot_of(p.p_flags),
        });
    }
    if loads.is_empty() {
        return Err("no loadable (PT_LOAD) segment".into());
    }
    loads.sort_by_key(|l| l.vaddr);
    for w in loads.windows(2) {
        if w[1].vaddr < w[0].end {
            return Err(format!(
                "segments {} ({:#x}-{:#x}) and {} ({:#x}-{:#x}) overlap",
                w[0].index, w[0].vaddr, w[0].end, w[1].index, w[1].vaddr, w[1].end
            ));
        }
    }
    for l in &loads {
        if l.prot.write && l.prot.exec {
            return Err(format!(
                "segment {} ({:#x}-{:#x}) is both writable and executable: refused (W^X); \
                 relink without an RWX segment",
                l.index, l.vaddr, l.end
            ));
        }
    }
    Ok(loads)
}

/// PT_TLS must describe an initialisation image inside a loaded segment.
pub(super) fn check_tls(
    phdrs: &[ProgramHeader],
    loads: &[Load<'_>],
    bias: u64,
) -> Result<(), String> {
    let tls: Vec<&ProgramHeader> = phdrs.iter().filter(|p| p.p_type == PT_TLS).collect();
    if tls.len() > 1 {
        return Err("more than one PT_TLS segment".into());
    }
    let Some(t) = tls.first() else {
        return Ok(());
    };
    if t.p_filesz > t.p_memsz {
        return Err("PT_TLS: file size exceeds memory size".into());
    }
    if t.p_align > 1 && !t.p_align.is_power_of_two() {
        return Err(format!(
            "PT_TLS: alignment {:#x} is not a power of two",
            t.p_align
        ));
    }
    if t.p_memsz > MAX_SEGMENT_END || t.p_align > MAX_SEGMENT_END {
        return Err(format!("PT_TLS: size {:#x} is absurd", t.p_memsz));
    }
    if t.p_filesz > 0 {
        let start = t.p_vaddr.wrapping_add(bias);
        let inside = start
            .checked_add(t.p_filesz)
            .is_some_and(|e| loads.iter().any(|l| l.vaddr <= start && e <= l.end));
        if !inside {
            return Err(format!(
                "PT_TLS image at {:#x} is not inside a loaded segment",
                t.p_vaddr
            ));
        }
    }
    Ok(())
}
