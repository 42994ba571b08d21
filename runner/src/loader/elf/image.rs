//! Building the image from checked segments: page runs with one
//! protection each (shared pages take the union, W^X still holds), the file
//! bytes of each run, and AT_PHDR.

use super::{page_down, page_up, Load, Run};
use crate::guest::page_table::Prot;
use goblin::elf::program_header::{ProgramHeader, PT_LOAD};
use goblin::elf64::header::Header;
use thinvisor_kmod::PAGE_SIZE;

fn union(a: Prot, b: Prot) -> Prot {
    Prot {
        read: a.read || b.read,
        write: a.write || b.write,
        exec: a.exec || b.exec,
    }
}

/// Page runs with one protection each: every segment's pages, a page two
/// segments share taking the union of their protections.
pub(super) fn page_runs(loads: &[Load<'_>]) -> Result<Vec<Run>, String> {
    let mut runs: Vec<Run> = Vec::new();
    for l in loads {
        let mut start = page_down(l.vaddr);
        // Loads are checked: `end` was page-rounded without overflow.
        let end = page_up(l.end).unwrap_or(l.end);
        if let Some(last) = runs.last_mut() {
            if start < last.end {
                // The loads do not overlap, so only the last page is shared.
                let shared = last.end - PAGE_SIZE;
                let prot = union(last.prot, l.prot);
                let mut from = last.from.clone();
                from.push(l.index);
                last.end = shared;
                if last.start == last.end {
                    runs.pop();
                }
                if prot.write && prot.exec {
                    return Err(format!(
                        "segments {from:?} share page {shared:#x}, which would have to be \
                         both writable and executable: refused (W^X)"
                    ));
                }
                runs.push(Run {
                    start: shared,
                    end: shared + PAGE_SIZE,
                    prot,
                    from,
                });
                start = shared + PAGE_SIZE;
            }
        }
        if start < end {
            runs.push(Run {
                start,
                end,
                prot: l.prot,
                from: vec![l.index],
            });
        }
    }
    Ok(runs)
}

/// The file bytes that fall in `run`, from its start (zeros between).
pub(super) fn run_data(run: &Run, loads: &[Load<'_>]) -> Vec<u8> {
    let mut data = Vec::new();
    for l in loads {
        let file_end = l.vaddr + l.file.len() as u64;
        let s = l.vaddr.max(run.start);
        let e = file_end.min(run.end);
        if s >= e {
            continue;
        }
        let at = (s - run.start) as usize;
        let n = (e - s) as usize;
        if data.len() < at + n {
            data.resize(at + n, 0);
        }
        let from = (s - l.vaddr) as usize;
        data[at..at + n].copy_from_slice(&l.file[from..from + n]);
    }
    data
}

/// AT_PHDR: where the program headers are in memory, found as Linux does
/// (the PT_LOAD whose file bytes hold them); 0 when no segment loads them.
pub(super) fn phdr_address(h: &Header, phdrs: &[ProgramHeader], bias: u64) -> u64 {
    phdrs
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.p_memsz > 0)
        .find(|p| p.p_offset <= h.e_phoff && h.e_phoff - p.p_offset < p.p_filesz)
        .map_or(0, |p| {
            p.p_vaddr
                .wrapping_add(h.e_phoff - p.p_offset)
                .wrapping_add(bias)
        })
}
