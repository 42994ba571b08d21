//! x86-64 ELF executables (ET_EXEC, static-pie ET_DYN, and dynamically
//! linked programs of either type) and their interpreters (the dynamic
//! loader, `ld-linux-x86-64.so.2` or `ld-musl-x86_64.so.1`), parsed with
//! `goblin` (header and program headers only; the section headers are
//! never read).
//!
//! What is honoured (see docs/abi.md, "ELF programs"):
//!
//! - `PT_LOAD`: each segment's file bytes at its address, the rest of its
//!   memory size zero-filled (bss), with the segment's protection. Pages two
//!   segments share get the union of both protections.
//! - **W^X**: a segment, or a page shared by two segments, that would be both
//!   writable and executable is refused (status 126), never silently
//!   downgraded: a program that needs such memory can still ask for it with
//!   `mprotect`, but the loader does not create it.
//! - static-pie (`ET_DYN`, no `PT_INTERP`) is loaded at the fixed base
//!   [`PIE_BASE`] (Linux's base without address randomisation), so runs are
//!   reproducible; the program relocates itself.
//! - `PT_TLS`: checked for sanity; the C library sets up TLS itself with
//!   `arch_prctl(ARCH_SET_FS)`.
//! - `PT_GNU_STACK`: the stack is never executable, whatever it asks.
//! - `PT_INTERP` (a dynamically linked program): the interpreter's path is
//!   kept in the image ([`Image::interp`]); `loader::interpreter` loads that
//!   file from the guest's file system view at [`INTERP_BASE`] and the
//!   program starts there, as on Linux. A position-independent program
//!   with an interpreter is loaded at [`PIE_BASE`]. An interpreter with an
//!   interpreter of its own is refused.
//!
//! Everything else a hostile file can say (truncated headers, segments
//! outside the file, overlapping, below 0x10000 or reaching the kernel half
//! or the stack, more memory than the limit, wrong class, byte order,
//! machine or type, an entry point outside executable code) is a
//! [`LoadError::Invalid`] with the reason.
//!
//! The files: `headers.rs` (the identification bytes and the program-header
//! table), `segments.rs` (the `PT_LOAD` and `PT_TLS` checks), `image.rs`
//! (page runs, their bytes, AT_PHDR); this file puts them together.

use super::{Image, LoadError, Segment};
use crate::abi::constants::{AT_PHDR, AT_PHENT, AT_PHNUM};
use crate::guest::layout::{INTERP_BASE, MIN_USER_VA, VVAR_VA};
use crate::guest::page_table::Prot;
use goblin::elf::header::{EM_X86_64, ET_DYN, ET_EXEC};
use goblin::elf::program_header::{PT_DYNAMIC, PT_INTERP, PT_LOAD};
use goblin::elf64::header::Header;
use thinvisor_kmod::PAGE_SIZE;

mod headers;
mod image;
mod segments;
#[cfg(test)]
mod tests;

use headers::{check_ident, interp_name, program_headers};
use image::{page_runs, phdr_address, run_data};
use segments::{check_tls, checked_loads};

/// Where a static-pie program is loaded: Linux's ELF_ET_DYN_BASE for x86-64
/// without address randomisation (2/3 of the user address space).
pub const PIE_BASE: u64 = 0x5555_5555_4000;
/// Segments must end below the vDSO, which lies below the initial stack's
/// area (guest/layout.rs).
pub const MAX_SEGMENT_END: u64 = VVAR_VA;
/// Size of one ELF64 program header.
const PHENT_SIZE: u64 = 56;
/// Size of the ELF64 file header.
const EHDR_SIZE: usize = 64;
/// More program headers than this is not a real program.
const MAX_PHNUM: u16 = 512;
/// Longest interpreter path quoted in messages.
const MAX_INTERP_SHOWN: usize = 256;
/// Longest interpreter path loaded (Linux's PATH_MAX).
const MAX_INTERP_PATH: u64 = 4096;

/// What the file is loaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The program itself: static, static-pie or dynamically linked.
    Program,
    /// A program's interpreter: position-independent code goes at
    /// [`INTERP_BASE`]; it may not name an interpreter itself.
    Interpreter,
}

fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(page_down)
}

/// A `PT_LOAD` after validation, with its final (biased) address.
struct Load<'a> {
    index: usize,
    vaddr: u64,
    end: u64,
    file: &'a [u8],
    prot: Prot,
}

/// A run of pages with one protection.
struct Run {
    start: u64,
    end: u64,
    prot: Prot,
    /// Program-header indices that contribute (for messages).
    from: Vec<usize>,
}

/// Builds the image of an ELF program. `memory_limit` bounds the memory its
/// segments may need. A dynamically linked program's image names its
/// interpreter, still to be loaded (`loader::interpreter`).
pub fn load(path: &str, bytes: &[u8], memory_limit: u64) -> Result<Image, LoadError> {
    load_as(path, bytes, memory_limit, Role::Program)
}

/// Builds the image of an ELF file loaded as `role`.
pub fn load_as(
    path: &str,
    bytes: &[u8],
    memory_limit: u64,
    role: Role,
) -> Result<Image, LoadError> {
    let bad = |reason: String| LoadError::Invalid {
        path: path.into(),
        reason,
    };
    check_ident(bytes).map_err(bad)?;
    let header =
        Header::parse(bytes).map_err(|e| bad(format!("truncated or malformed ELF header: {e}")))?;
    match header.e_type {
        ET_EXEC | ET_DYN => {}
        t => {
            return Err(bad(format!(
                "ELF type {t} is not an executable (expected ET_EXEC or ET_DYN)"
            )))
        }
    }
    if header.e_machine != EM_X86_64 {
        return Err(bad(format!(
            "ELF machine {} is not x86-64 ({EM_X86_64})",
            header.e_machine
        )));
    }
    if header.e_version != 1 {
        return Err(bad(format!("ELF version {} is not 1", header.e_version)));
    }
    let phdrs = program_headers(bytes, &header).map_err(bad)?;

    let interps: Vec<_> = phdrs.iter().filter(|p| p.p_type == PT_INTERP).collect();
    if interps.len() > 1 {
        return Err(bad("more than one PT_INTERP".into()));
    }
    let interp = match (interps.first(), role) {
        (None, _) => None,
        (Some(p), Role::Program) => Some(interp_path(bytes, p).map_err(bad)?),
        (Some(p), Role::Interpreter) => {
            return Err(bad(format!(
                "an interpreter that names an interpreter of its own ({}): refused, as Linux does",
                interp_name(bytes, p)
            )))
        }
    };
    let pie = header.e_type == ET_DYN;
    // Position-independent: the lowest segment goes at the base (Linux's
    // load_bias without address randomisation).
    let lowest = phdrs
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
        .map(|p| page_down(p.p_vaddr))
        .min()
        .unwrap_or(0);
    let base = match role {
        Role::Program => PIE_BASE,
        Role::Interpreter => INTERP_BASE,
    };
    let bias = if pie { base.wrapping_sub(lowest) } else { 0 };
    if pie && interp.is_none() && !phdrs.iter().any(|p| p.p_type == PT_DYNAMIC) {
        return Err(bad(
            "ET_DYN file without PT_DYNAMIC or PT_INTERP: not a static-pie executable".into(),
        ));
    }

    let loads = checked_loads(bytes, &phdrs, bias, memory_limit).map_err(bad)?;
    check_tls(&phdrs, &loads, bias).map_err(bad)?;

    let entry = header.e_entry.wrapping_add(bias);
    if !loads
        .iter()
        .any(|l| l.prot.exec && l.vaddr <= entry && entry < l.end)
    {
        return Err(bad(format!(
            "entry point {entry:#x} is not inside an executable segment"
        )));
    }

    let runs = page_runs(&loads).map_err(bad)?;
    let segments = runs
        .iter()
        .map(|r| Segment {
            vaddr: r.start,
            data: run_data(r, &loads),
            mem_size: r.end - r.start,
            prot: r.prot,
        })
        .collect();
    let brk_start = runs.iter().map(|r| r.end).max().unwrap_or(MIN_USER_VA);

    Ok(Image {
        segments,
        entry,
        brk_start,
        auxv: vec![
            (AT_PHDR, phdr_address(&header, &phdrs, bias)),
            (AT_PHENT, PHENT_SIZE),
            (AT_PHNUM, u64::from(header.e_phnum)),
        ],
        interp,
        interpreter: None,
    })
}

/// The interpreter's path: PT_INTERP's bytes inside the file, one
/// NUL-terminated, absolute, non-empty path.
fn interp_path(
    bytes: &[u8],
    p: &goblin::elf::program_header::ProgramHeader,
) -> Result<Vec<u8>, String> {
    let shown = interp_name(bytes, p);
    if p.p_filesz == 0 || p.p_filesz > MAX_INTERP_PATH {
        return Err(format!("PT_INTERP of {} bytes is not a path", p.p_filesz));
    }
    let raw = p
        .p_offset
        .checked_add(p.p_filesz)
        .filter(|&e| e <= bytes.len() as u64)
        .map(|e| &bytes[p.p_offset as usize..e as usize])
        .ok_or_else(|| "PT_INTERP lies outside the file (truncated?)".to_string())?;
    let path = match raw.split_last() {
        Some((0, path)) if !path.contains(&0) => path,
        _ => {
            return Err(format!(
                "PT_INTERP ({shown}) is not one NUL-terminated path"
            ))
        }
    };
    if path.first() != Some(&b'/') {
        return Err(format!("PT_INTERP ({shown}) is not an absolute path"));
    }
    Ok(path.to_vec())
}
