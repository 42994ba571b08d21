//! Unit tests of the ELF loader on crafted files: what loads, and every
//! refusal with its reason.

use super::*;
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_TLS};

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
    assert!(img.auxv.contains(&(AT_PHDR, 0x400040)));
    assert!(img.auxv.contains(&(AT_PHENT, 56)));
    assert!(img.auxv.contains(&(AT_PHNUM, 3)));
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
    assert!(img.auxv.contains(&(AT_PHDR, PIE_BASE + 0x40)));
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
        reason(&one((PT_LOAD, RX, 0x1000, 0x1000, 0x100, 0x100), 0x1000)).contains("below 0x10000")
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
        reason(&one((PT_NOTE_TYPE, PF_R, 0x1000, 0x401000, 0x10, 0x10), 0)).contains("no loadable")
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

/// A body whose PT_INTERP (at offset 0x1000) holds `interp`.
fn with_interp(e_type: u16, interp: &[u8], filesz: u64) -> Vec<u8> {
    let mut body = vec![0u8; 0x1000];
    body[..interp.len()].copy_from_slice(interp);
    elf(
        e_type,
        0x1000,
        &[
            (PT_INTERP, PF_R, 0x1000, 0x1000, filesz, filesz),
            (PT_LOAD, RX, 0x1000, 0x1000, 0x1000, 0x1000),
        ],
        &body,
    )
}

#[test]
fn dynamic_programs_name_their_interpreter_and_load_at_the_pie_base() {
    let path = b"/lib64/ld-linux-x86-64.so.2\0";
    let img = load("p", &with_interp(ET_DYN, path, 28), LIMIT).expect("loads");
    assert_eq!(img.interp.as_deref(), Some(&path[..27]));
    assert_eq!(img.segments[0].vaddr, PIE_BASE);
    assert_eq!(img.entry, PIE_BASE);
    assert_eq!(img.interpreter, None);
    // The same file as an interpreter: refused, as Linux does.
    let e = load_as(
        "i",
        &with_interp(ET_DYN, path, 28),
        LIMIT,
        Role::Interpreter,
    )
    .expect_err("an interpreter's interpreter");
    assert!(e.to_string().contains("/lib64/ld-linux-x86-64.so.2"), "{e}");
    // Lying PT_INTERPs: no NUL, a NUL inside, relative, empty, huge.
    for (text, len, why) in [
        (&b"/lib/ld.so"[..], 10, "NUL-terminated"),
        (b"/lib\0ld.so\0", 12, "NUL-terminated"),
        (b"ld.so\0", 6, "absolute"),
        (b"", 0, "not a path"),
        (b"/x\0", 0x10_0000, "not a path"),
    ] {
        let r = reason(&with_interp(ET_DYN, text, len));
        assert!(r.contains(why), "{text:?}: {r}");
    }
    // An interpreter is loaded at INTERP_BASE.
    let mut body = vec![0u8; 0x1000];
    body[0] = 0xc3;
    let ld = elf(
        ET_DYN,
        0x1000,
        &[
            (PT_LOAD, RX, 0x1000, 0x1000, 0x1000, 0x1000),
            (PT_DYNAMIC, PF_R, 0x1000, 0x1000, 0x10, 0x10),
        ],
        &body,
    );
    let img = load_as("ld", &ld, LIMIT, Role::Interpreter).expect("loads");
    assert_eq!(img.segments[0].vaddr, INTERP_BASE);
    assert_eq!(img.entry, INTERP_BASE);
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
