//! The ELF file header and the program-header table: the identification
//! bytes checked by hand for precise messages, the table parsed by goblin,
//! and the interpreter path quoted when a dynamic program is refused.

use super::{EHDR_SIZE, MAX_INTERP_SHOWN, MAX_PHNUM, PHENT_SIZE};
use goblin::container::{Container, Ctx, Endian};
use goblin::elf::program_header::ProgramHeader;
use goblin::elf64::header::Header;

/// The identification bytes, checked before goblin parses anything, for
/// precise messages.
pub(super) fn check_ident(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < EHDR_SIZE {
        return Err(format!(
            "truncated ELF header: {} bytes, an ELF64 header needs {EHDR_SIZE}",
            bytes.len()
        ));
    }
    if !bytes.starts_with(b"\x7fELF") {
        return Err("not an ELF file (no \\x7fELF magic)".into());
    }
    match bytes[4] {
        2 => {}
        1 => return Err("32-bit ELF (ELFCLASS32): only x86-64 ELF64 programs run".into()),
        c => return Err(format!("unknown ELF class {c}")),
    }
    if bytes[5] != 1 {
        return Err("big-endian or unknown ELF byte order: x86-64 is little-endian".into());
    }
    if bytes[6] != 1 {
        return Err(format!("ELF identification version {} is not 1", bytes[6]));
    }
    Ok(())
}

pub(super) fn program_headers(bytes: &[u8], h: &Header) -> Result<Vec<ProgramHeader>, String> {
    if h.e_phnum == 0 {
        return Err("no program headers: nothing to load".into());
    }
    if h.e_phnum > MAX_PHNUM {
        return Err(format!(
            "{} program headers (more than {MAX_PHNUM})",
            h.e_phnum
        ));
    }
    if u64::from(h.e_phentsize) != PHENT_SIZE {
        return Err(format!(
            "program header size {} is not {PHENT_SIZE}",
            h.e_phentsize
        ));
    }
    let table = u64::from(h.e_phnum) * PHENT_SIZE;
    let end = h.e_phoff.checked_add(table);
    if end.filter(|&e| e <= bytes.len() as u64).is_none() || h.e_phoff < EHDR_SIZE as u64 {
        return Err(format!(
            "truncated program headers: {} entries at offset {:#x} do not fit in the \
             {}-byte file",
            h.e_phnum,
            h.e_phoff,
            bytes.len()
        ));
    }
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let offset = usize::try_from(h.e_phoff).map_err(|_| "program header offset too large")?;
    ProgramHeader::parse(bytes, offset, usize::from(h.e_phnum), ctx)
        .map_err(|e| format!("malformed program headers: {e}"))
}

/// The interpreter path, printable and bounded, for the refusal message.
pub(super) fn interp_name(bytes: &[u8], p: &ProgramHeader) -> String {
    let start = usize::try_from(p.p_offset).unwrap_or(usize::MAX);
    let len = usize::try_from(p.p_filesz).unwrap_or(0);
    let Some(raw) = bytes.get(start..start.saturating_add(len).min(bytes.len())) else {
        return "(outside the file)".into();
    };
    let raw = raw.split(|&b| b == 0).next().unwrap_or(&[]);
    let shown: String = raw
        .iter()
        .take(MAX_INTERP_SHOWN)
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect();
    if shown.is_empty() {
        "(empty)".into()
    } else {
        shown
    }
}
