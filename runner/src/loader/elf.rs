//! Static x86-64 ELF executables (ET_EXEC, and static-pie ET_DYN without an
//! interpreter), parsed with `goblin` (header and program headers only; the
//! section headers are never read).
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
//! - `PT_INTERP` (a dynamically linked program) is refused: only static
//!   programs run, as there is no dynamic loader or shared library inside.
//!
//! Everything else a hostile file can say (truncated headers, segments
//! outside the file, overlapping, below 0x10000 or reaching the kernel half
//! or the stack, more memory than the limit, wrong class, byte order,
//! machine or type, an entry point outside executable code) is a
//! [`LoadError::Invalid`] with the reason.

use super::{Image, LoadError, Segment};
use crate::guest::initial_stack::at;
use crate::guest::layout::{MIN_USER_VA, VVAR_VA};
use crate::guest::page_table::Prot;
use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header::{EM_X86_64, ET_DYN, ET_EXEC};
use goblin::elf::program_header::{
    ProgramHeader, PF_R, PF_W, PF_X, PT_DYNAMIC, PT_INTERP, PT_LOAD, PT_TLS,
};
use goblin::elf64::header::Header;
use thinvisor_kmod::PAGE_SIZE;

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
/// Longest interpreter path quoted in the refusal message.
const MAX_INTERP_SHOWN: usize = 256;

fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(page_down)
}

fn prot_of(flags: u32) -> Prot {
    Prot {
        read: flags & PF_R != 0,
        write: flags & PF_W != 0,
        exec: flags & PF_X != 0,
    }
}

fn union(a: Prot, b: Prot) -> Prot {
    Prot {
        read: a.read || b.read,
        write: a.write || b.write,
        exec: a.exec || b.exec,
    }
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

/// Builds the image of a static ELF executable. `memory_limit` bounds the
/// memory its segments may need.
pub fn load(path: &str, bytes: &[u8], memory_limit: u64) -> Result<Image, LoadError> {
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

    if let Some(interp) = phdrs.iter().find(|p| p.p_type == PT_INTERP) {
        return Err(bad(format!(
            "dynamically linked program (interpreter {}): only static programs run \
             in the sandbox, which has no dynamic loader or shared libraries; \
             link it with -static (or -static-pie)",
            interp_name(bytes, interp)
        )));
    }
    let pie = header.e_type == ET_DYN;
    // static-pie: the lowest segment goes at PIE_BASE (Linux's load_bias).
    let lowest = phdrs
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
        .map(|p| page_down(p.p_vaddr))
        .min()
        .unwrap_or(0);
    let bias = if pie {
        PIE_BASE.wrapping_sub(lowest)
    } else {
        0
    };
    if pie && !phdrs.iter().any(|p| p.p_type == PT_DYNAMIC) {
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
            (at::PHDR, phdr_address(&header, &phdrs, bias)),
            (at::PHENT, PHENT_SIZE),
            (at::PHNUM, u64::from(header.e_phnum)),
        ],
    })
}

/// The identification bytes, checked before goblin parses anything, for
/// precise messages.
fn check_ident(bytes: &[u8]) -> Result<(), String> {
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

fn program_headers(bytes: &[u8], h: &Header) -> Result<Vec<ProgramHeader>, String> {
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
fn interp_name(bytes: &[u8], p: &ProgramHeader) -> String {
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

fn checked_loads<'a>(
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
fn check_tls(phdrs: &[ProgramHeader], loads: &[Load<'_>], bias: u64) -> Result<(), String> {
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

/// Page runs with one protection each: every segment's pages, a page two
/// segments share taking the union of their protections.
fn page_runs(loads: &[Load<'_>]) -> Result<Vec<Run>, String> {
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
fn run_data(run: &Run, loads: &[Load<'_>]) -> Vec<u8> {
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
fn phdr_address(h: &Header, phdrs: &[ProgramHeader], bias: u64) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 256 << 20;

    /// A program header for the crafted files: (type, flags, offset, vaddr,
    /// filesz, memsz).
    type Ph = (u32, u32, u64, u64, u64, u64);

    /// A crafted ELF64: header, program headers at 64, then `body` at
    /// offset 0x1000 (the file is padded up to it).
    fn elf(e_type: u16, entry: u64, phdrs: &[Ph], body: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&e_type.to_le_bytes());
        f[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&entry.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for &(t, flags, off, va, fsz, msz) in phdrs {
            let mut p = vec![0u8; 56];
            p[0..4].copy_from_slice(&t.to_le_bytes());
            p[4..8].copy_from_slice(&flags.to_le_bytes());
            p[8..16].copy_from_slice(&off.to_le_bytes());
            p[16..24].copy_from_slice(&va.to_le_bytes());
            p[24..32].copy_from_slice(&va.to_le_bytes());
            p[32..40].copy_from_slice(&fsz.to_le_bytes());
            p[40..48].copy_from_slice(&msz.to_le_bytes());
            p[48..56].copy_from_slice(&0x1000u64.to_le_bytes());
            f.extend_from_slice(&p);
        }
        f.resize(0x1000, 0);
        f.extend_from_slice(body);
        f
    }

    const RX: u32 = PF_R | PF_X;
    const RW: u32 = PF_R | PF_W;

    /// A minimal valid static executable: headers page R, code RX, data RW
    /// with bss.
    fn good() -> Vec<u8> {
        let body = vec![0xc3u8; 0x2000];
        elf(
            ET_EXEC,
            0x401000,
            &[
                (PT_LOAD, PF_R, 0, 0x400000, 0x200, 0x200),
                (PT_LOAD, RX, 0x1000, 0x401000, 0x1000, 0x1000),
                (PT_LOAD, RW, 0x2000, 0x402000, 0x100, 0x3000),
            ],
            &body,
        )
    }

    fn reason(bytes: &[u8]) -> String {
        match load("p", bytes, LIMIT) {
            Err(LoadError::Invalid { reason, .. }) => reason,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a bad ELF was accepted"),
        }
    }

    #[test]
    fn a_static_executable_loads_with_its_protections() {
        let img = load("p", &good(), LIMIT).expect("loads");
        assert_eq!(img.entry, 0x401000);
        let segs: Vec<(u64, u64, Prot)> = img
            .segments
            .iter()
            .map(|s| (s.vaddr, s.mem_size, s.prot))
            .collect();
        assert_eq!(
            segs,
            vec![
                (
                    0x400000,
                    0x1000,
                    Prot {
                        read: true,
                        write: false,
                        exec: false
                    }
                ),
                (0x401000, 0x1000, Prot::RX),
                (0x402000, 0x3000, Prot::RW),
            ]
        );
        assert_eq!(img.segments[2].data.len(), 0x100, "bss is not file data");
        assert_eq!(img.brk_start, 0x405000);
        assert!(img.auxv.contains(&(at::PHDR, 0x400040)));
        assert!(img.auxv.contains(&(at::PHENT, 56)));
        assert!(img.auxv.contains(&(at::PHNUM, 3)));
    }

    #[test]
    fn static_pie_is_placed_at_the_fixed_base() {
        let body = vec![0x90u8; 0x1000];
        let f = elf(
            ET_DYN,
            0x1010,
            &[
                (PT_LOAD, PF_R, 0, 0, 0x200, 0x200),
                (PT_LOAD, RX, 0x1000, 0x1000, 0x1000, 0x1000),
                (PT_DYNAMIC, RW, 0x1000, 0x1000, 0x10, 0x10),
            ],
            &body,
        );
        let img = load("p", &f, LIMIT).expect("static-pie loads");
        assert_eq!(img.entry, PIE_BASE + 0x1010);
        assert_eq!(img.segments[0].vaddr, PIE_BASE);
        assert!(img.auxv.contains(&(at::PHDR, PIE_BASE + 0x40)));
    }

    #[test]
    fn segments_sharing_a_page_get_the_union() {
        // Code ends and read-only data begins in the same page.
        let body = vec![0x90u8; 0x2000];
        let f = elf(
            ET_EXEC,
            0x401000,
            &[
                (PT_LOAD, RX, 0x1000, 0x401000, 0x800, 0x800),
                (PT_LOAD, PF_R, 0x1800, 0x401800, 0x900, 0x900),
            ],
            &body,
        );
        let img = load("p", &f, LIMIT).expect("loads");
        let segs: Vec<(u64, u64, Prot)> = img
            .segments
            .iter()
            .map(|s| (s.vaddr, s.mem_size, s.prot))
            .collect();
        assert_eq!(
            segs,
            vec![
                (0x401000, 0x1000, Prot::RX),
                (
                    0x402000,
                    0x1000,
                    Prot {
                        read: true,
                        write: false,
                        exec: false
                    }
                ),
            ]
        );
        assert_eq!(img.segments[0].data.len(), 0x1000);
        // Code then data: a shared page that would be W+X is refused.
        let f = elf(
            ET_EXEC,
            0x401000,
            &[
                (PT_LOAD, RX, 0x1000, 0x401000, 0x800, 0x800),
                (PT_LOAD, RW, 0x1800, 0x401800, 0x900, 0x900),
            ],
            &body,
        );
        assert!(reason(&f).contains("W^X"), "{}", reason(&f));
    }

    #[test]
    fn hostile_headers_are_refused_with_a_reason() {
        let g = good();
        assert!(reason(&g[..40]).contains("truncated ELF header"));
        let mut b = g.clone();
        b[4] = 1;
        assert!(reason(&b).contains("32-bit"));
        let mut b = g.clone();
        b[5] = 2;
        assert!(reason(&b).contains("little-endian"));
        let mut b = g.clone();
        b[18] = 3; // EM_386
        assert!(reason(&b).contains("not x86-64"));
        let mut b = g.clone();
        b[16] = 1; // ET_REL
        assert!(reason(&b).contains("not an executable"));
        let mut b = g.clone();
        b[56..58].copy_from_slice(&0u16.to_le_bytes());
        assert!(reason(&b).contains("no program headers"));
        let mut b = g.clone();
        b[54..56].copy_from_slice(&32u16.to_le_bytes());
        assert!(reason(&b).contains("program header size"));
        let mut b = g.clone();
        b[32..40].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
        assert!(reason(&b).contains("truncated program headers"));
        assert!(
            reason(&g[..0x100]).contains("outside the"),
            "segments past EOF"
        );
    }

    #[test]
    fn hostile_segments_are_refused_with_a_reason() {
        let body = vec![0u8; 0x1000];
        let one = |ph: Ph, entry: u64| elf(ET_EXEC, entry, &[ph], &body);
        assert!(
            reason(&one((PT_LOAD, RX, 0x1000, 0x1000, 0x100, 0x100), 0x1000))
                .contains("below 0x10000")
        );
        assert!(reason(&one(
            (PT_LOAD, RX, 0x1000, 0xffff_8000_0000_0000, 0x100, 0x100),
            0xffff_8000_0000_0000
        ))
        .contains("kernel half"));
        assert!(reason(&one(
            (PT_LOAD, RX, 0x1000, 0x7fff_fff0_0000, 0x100, 0x100),
            0x7fff_fff0_0000
        ))
        .contains("stack area"));
        assert!(reason(&one(
            (PT_LOAD, RX, 0x1000, 0x401000, 0x100, u64::MAX - 0x1000),
            0x401000
        ))
        .contains("overflows"));
        assert!(reason(&one(
            (PT_LOAD, RX, 0x1000, 0x401000, 0x100, 1 << 40),
            0x401000
        ))
        .contains("memory limit"));
        assert!(reason(&one(
            (PT_LOAD, RX, 0x1000, 0x401000, 0x200, 0x100),
            0x401000
        ))
        .contains("exceeds memory size"));
        assert!(reason(&one(
            (PT_LOAD, RX, 0x1000, 0x401800, 0x100, 0x100),
            0x401800
        ))
        .contains("modulo the page size"));
        assert!(reason(&one(
            (PT_LOAD, PF_R | PF_W | PF_X, 0x1000, 0x401000, 0x100, 0x100),
            0x401000
        ))
        .contains("W^X"));
        assert!(reason(&one(
            (PT_LOAD, RW, 0x1000, 0x401000, 0x100, 0x100),
            0x401000
        ))
        .contains("not inside an executable segment"));
        assert!(
            reason(&one((PT_NOTE_TYPE, PF_R, 0x1000, 0x401000, 0x10, 0x10), 0))
                .contains("no loadable")
        );
        let f = elf(
            ET_EXEC,
            0x401000,
            &[
                (PT_LOAD, RX, 0x1000, 0x401000, 0x1000, 0x1000),
                (PT_LOAD, PF_R, 0x1800, 0x401800, 0x100, 0x100),
            ],
            &body,
        );
        assert!(reason(&f).contains("overlap"));
    }

    const PT_NOTE_TYPE: u32 = 4;

    #[test]
    fn dynamic_programs_are_refused_and_the_interpreter_named() {
        let mut body = vec![0u8; 0x1000];
        body[..28].copy_from_slice(b"/lib64/ld-linux-x86-64.so.2\0");
        let f = elf(
            ET_DYN,
            0x1000,
            &[
                (PT_INTERP, PF_R, 0x1000, 0x1000, 28, 28),
                (PT_LOAD, RX, 0x1000, 0x1000, 0x1000, 0x1000),
            ],
            &body,
        );
        let r = reason(&f);
        assert!(r.contains("/lib64/ld-linux-x86-64.so.2"), "{r}");
        assert!(r.contains("only static programs"), "{r}");
        // A shared object without PT_DYNAMIC is no static-pie either.
        let f = elf(
            ET_DYN,
            0x1000,
            &[(PT_LOAD, RX, 0x1000, 0x1000, 0x1000, 0x1000)],
            &body,
        );
        assert!(reason(&f).contains("not a static-pie"));
    }

    #[test]
    fn bad_tls_is_refused() {
        let body = vec![0u8; 0x1000];
        let f = elf(
            ET_EXEC,
            0x401000,
            &[
                (PT_LOAD, RX, 0x1000, 0x401000, 0x1000, 0x1000),
                (PT_TLS, PF_R, 0x1000, 0x500000, 0x10, 0x20),
            ],
            &body,
        );
        assert!(reason(&f).contains("PT_TLS"));
    }

    #[test]
    fn garbage_never_panics() {
        // Every prefix and a few bit flips of a valid file: refused or
        // loaded, never a panic.
        let g = good();
        for n in 0..200 {
            let _ = load("p", &g[..n], LIMIT);
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut b = g.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let i = (state % 0x200) as usize;
                b[i] ^= (state >> 32) as u8;
            }
            let _ = load("p", &b, LIMIT);
        }
    }
}
