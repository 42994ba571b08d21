//! The guest side of the syscall ring: machine code the runner maps into a
//! process (user, read-execute) and the per-site entries that lead to it.
//!
//! A patched site (`mov $nr,%eax; syscall`, sites.rs) jumps to its entry:
//!
//! ```text
//! entry+0   mov  $nr,%eax            the instruction the jump replaced
//! entry+5   lea  site+7(%rip),%rcx   where the call returns (as SYSCALL sets RCX)
//! entry+12  jmp  STUB
//! ```
//!
//! The stub ([`STUB`]) saves RSP and switches to a stack at the top of the
//! thread's slot page (nothing is written below the program's RSP: its red
//! zone is safe), saves RFLAGS into R11 (as SYSCALL does), writes the request
//! into the slot and publishes it (`state` = REQUEST). It then spins up to
//! `spin` times for DONE. If the runner has not taken the request by then it
//! withdraws it (REQUEST -> WITHDRAWN, `lock cmpxchg`) and falls back: it
//! restores the program's registers and jumps to the site's own `syscall`
//! (site+5, left in place), which traps as it always did. A DONE request
//! whose verdict says "by trap" falls back the same way. Otherwise RAX takes
//! the result, RCX the return address, R11 and RFLAGS the saved flags, RSP
//! the program's, and the stub jumps back: the program sees exactly what a
//! SYSCALL would have left. Only RAX, RCX, R11 and RFLAGS change while it
//! runs, as SYSCALL may change them.
//!
//! An exit can stop the guest anywhere in here (a kick, a signal, a fault):
//! [`locate`] says which state the program is in at each address, and
//! sites.rs moves the thread back to the site's `syscall` or on past it,
//! so that no signal frame, fault report or death line ever shows a
//! stub address.
//!
//! Assembled from this listing with GNU as (`.intel_syntax noprefix`); the
//! offsets named below are checked against the bytes by the tests.

use super::slot;

/// The stub, placed at the start of each ring code page.
pub const STUB: &[u8] = &[
    0x65, 0x48, 0x89, 0x24, 0x25, 0x60, 0x00, 0x00, 0x00, // 0x000 mov gs:0x60,rsp
    0x65, 0x48, 0x8b, 0x24, 0x25, 0x68, 0x00, 0x00, 0x00, // 0x009 mov rsp,gs:0x68
    0x9c, // 0x012 pushf
    0x41, 0x5b, // 0x013 pop r11
    0x65, 0x48, 0x89, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00, // 0x015 mov gs:0x8,rax
    0x65, 0x48, 0x89, 0x3c, 0x25, 0x10, 0x00, 0x00, 0x00, // 0x01e mov gs:0x10,rdi
    0x65, 0x48, 0x89, 0x34, 0x25, 0x18, 0x00, 0x00, 0x00, // 0x027 mov gs:0x18,rsi
    0x65, 0x48, 0x89, 0x14, 0x25, 0x20, 0x00, 0x00, 0x00, // 0x030 mov gs:0x20,rdx
    0x65, 0x4c, 0x89, 0x14, 0x25, 0x28, 0x00, 0x00, 0x00, // 0x039 mov gs:0x28,r10
    0x65, 0x4c, 0x89, 0x04, 0x25, 0x30, 0x00, 0x00, 0x00, // 0x042 mov gs:0x30,r8
    0x65, 0x4c, 0x89, 0x0c, 0x25, 0x38, 0x00, 0x00, 0x00, // 0x04b mov gs:0x38,r9
    0x65, 0x48, 0x89, 0x0c, 0x25, 0x40, 0x00, 0x00, 0x00, // 0x054 mov gs:0x40,rcx
    0x65, 0x4c, 0x89, 0x1c, 0x25, 0x48, 0x00, 0x00, 0x00, // 0x05d mov gs:0x48,r11
    0x65, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, // 0x066 mov dword gs:0x0,0x1
    0x65, 0x4c, 0x8b, 0x1c, 0x25, 0x58, 0x00, 0x00, 0x00, // 0x072 mov r11,gs:0x58
    0xf3, 0x90, // 0x07b pause
    0x65, 0x83, 0x3c, 0x25, 0x00, 0x00, 0x00, 0x00, 0x02, // 0x07d cmp dword gs:0x0,0x2
    0x74, 0x29, // 0x086 je b1
    0x49, 0x83, 0xeb, 0x01, // 0x088 sub r11,0x1
    0x75, 0xed, // 0x08c jne 7b
    0xb8, 0x01, 0x00, 0x00, 0x00, // 0x08e mov eax,0x1
    0xb9, 0x03, 0x00, 0x00, 0x00, // 0x093 mov ecx,0x3
    0x65, 0xf0, 0x0f, 0xb1, 0x0c, 0x25, 0x00, 0x00, 0x00,
    0x00, // 0x098 lock cmpxchg dword gs:0x0,ecx
    0x74, 0x4d, // 0x0a2 je f1
    0xf3, 0x90, // 0x0a4 pause
    0x65, 0x83, 0x3c, 0x25, 0x00, 0x00, 0x00, 0x00, 0x02, // 0x0a6 cmp dword gs:0x0,0x2
    0x75, 0xf3, // 0x0af jne a4
    0x65, 0x83, 0x3c, 0x25, 0x04, 0x00, 0x00, 0x00, 0x00, // 0x0b1 cmp dword gs:0x4,0x0
    0x75, 0x35, // 0x0ba jne f1
    0x65, 0x48, 0x8b, 0x04, 0x25, 0x10, 0x00, 0x00, 0x00, // 0x0bc mov rax,gs:0x10
    0x65, 0x4c, 0x8b, 0x1c, 0x25, 0x48, 0x00, 0x00, 0x00, // 0x0c5 mov r11,gs:0x48
    0x41, 0x53, // 0x0ce push r11
    0x9d, // 0x0d0 popf
    0x65, 0x48, 0x8b, 0x24, 0x25, 0x60, 0x00, 0x00, 0x00, // 0x0d1 mov rsp,gs:0x60
    0x65, 0x48, 0x8b, 0x0c, 0x25, 0x40, 0x00, 0x00, 0x00, // 0x0da mov rcx,gs:0x40
    0x65, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, // 0x0e3 mov dword gs:0x0,0x0
    0xff, 0xe1, // 0x0ef jmp rcx
    0x65, 0x48, 0x8b, 0x0c, 0x25, 0x40, 0x00, 0x00, 0x00, // 0x0f1 mov rcx,gs:0x40
    0x48, 0x83, 0xe9, 0x02, // 0x0fa sub rcx,0x2
    0x65, 0x4c, 0x8b, 0x1c, 0x25, 0x48, 0x00, 0x00, 0x00, // 0x0fe mov r11,gs:0x48
    0x41, 0x53, // 0x107 push r11
    0x9d, // 0x109 popf
    0x65, 0x48, 0x8b, 0x24, 0x25, 0x60, 0x00, 0x00, 0x00, // 0x10a mov rsp,gs:0x60
    0x65, 0x48, 0x8b, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00, // 0x113 mov rax,gs:0x8
    0x65, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, // 0x11c mov dword gs:0x0,0x0
    0xff, 0xe1, // 0x128 jmp rcx
];

/// The publishing store (`state` = REQUEST) and the first instruction
/// after it.
pub const PUBLISH: u64 = 0x066;
pub const PUBLISHED: u64 = 0x072;
/// After this instruction RSP is the stub stack (the program's is in the
/// slot).
pub const ON_STUB_STACK: u64 = 0x012;
/// The two final jumps: every register but RIP is the program's already.
pub const RETURN_JUMP: u64 = 0x0ef;
pub const FALLBACK_JUMP: u64 = 0x128;
/// Where the per-site entries start, and their size.
pub const ENTRIES: u64 = 0x140;
pub const ENTRY_SIZE: u64 = 32;
/// Entries per ring code page.
pub const ENTRIES_PER_PAGE: u64 = (4096 - ENTRIES) / ENTRY_SIZE;

const _: () = assert!(STUB.len() as u64 == FALLBACK_JUMP + 2);
const _: () = assert!(STUB.len() as u64 <= ENTRIES);
const _: () = assert!(slot::SAVED_RSP == 0x60 && slot::STUB_STACK == 0x68 && slot::SPIN == 0x58);
const _: () = assert!(slot::RESULT == 0x10 && slot::VERDICT == 0x4 && slot::STATE == 0);

/// The bytes of the entry at `entry` for the site at `site` (its `mov`),
/// whose call number is `nr`, in a page whose stub is at `stub`. None when
/// a displacement does not fit in 32 bits.
pub fn entry_bytes(entry: u64, site: u64, nr: u32, stub: u64) -> Option<[u8; ENTRY_SIZE as usize]> {
    let rel = |from: u64, to: u64| i32::try_from(to.wrapping_sub(from) as i64).ok();
    let mut b = [0xcc_u8; ENTRY_SIZE as usize];
    b[0] = 0xb8;
    b[1..5].copy_from_slice(&nr.to_le_bytes());
    b[5..8].copy_from_slice(&[0x48, 0x8d, 0x0d]);
    b[8..12].copy_from_slice(&rel(entry + 12, site + 7)?.to_le_bytes());
    b[12] = 0xe9;
    b[13..17].copy_from_slice(&rel(entry + 17, stub)?.to_le_bytes());
    Some(b)
}

/// The five bytes that replace a site's `mov $nr,%eax`: `jmp entry`.
pub fn site_jump(site: u64, entry: u64) -> Option<[u8; 5]> {
    let rel = i32::try_from(entry.wrapping_sub(site + 5) as i64).ok()?;
    let mut b = [0xe9, 0, 0, 0, 0];
    b[1..].copy_from_slice(&rel.to_le_bytes());
    Some(b)
}

/// A moved site's entry (moved.rs): the `syscall` and the instructions
/// after it moved here. `site` is the `syscall`'s address:
///
/// ```text
/// entry+0   lea  entry+14(%rip),%rcx  where the stub returns
/// entry+7   jmp  STUB
/// entry+12  syscall                   the fallback (the stub jumps to RCX - 2)
/// entry+14  lea  site+2(%rip),%rcx    RCX as SYSCALL leaves it
/// entry+21  the moved instructions, then jmp site+len
/// ```
pub const MOVED_FALLBACK: u64 = 12;
pub const MOVED_AFTER: u64 = 14;
pub const MOVED_BODY: u64 = 21;

/// The bytes of a moved site's entry at `entry` (see [`MOVED_BODY`]):
/// `body` encoded to run at `entry + MOVED_BODY`, padded with int3 to
/// whole entries. None when a displacement does not fit in 32 bits.
pub fn moved_entry_bytes(entry: u64, site: u64, body: &[u8], stub: u64) -> Option<Vec<u8>> {
    let rel = |from: u64, to: u64| i32::try_from(to.wrapping_sub(from) as i64).ok();
    let mut b = Vec::with_capacity(MOVED_BODY as usize + body.len());
    b.extend_from_slice(&[0x48, 0x8d, 0x0d]);
    b.extend_from_slice(&rel(entry + 7, entry + MOVED_AFTER)?.to_le_bytes());
    b.push(0xe9);
    b.extend_from_slice(&rel(entry + 12, stub)?.to_le_bytes());
    b.extend_from_slice(&[0x0f, 0x05]);
    b.extend_from_slice(&[0x48, 0x8d, 0x0d]);
    b.extend_from_slice(&rel(entry + MOVED_BODY, site + 2)?.to_le_bytes());
    b.extend_from_slice(body);
    let whole = b.len().div_ceil(ENTRY_SIZE as usize) * ENTRY_SIZE as usize;
    b.resize(whole, 0xcc);
    Some(b)
}

/// The bytes that replace a moved site's span of `len` bytes: `jmp
/// entry`, then int3.
pub fn span_jump(site: u64, len: u64, entry: u64) -> Option<Vec<u8>> {
    let mut b = site_jump(site, entry)?.to_vec();
    b.resize(len as usize, 0xcc);
    Some(b)
}

/// Where in a ring code page's stub a stopped thread is, by its offset
/// in the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Among the per-site entries (sites.rs knows which entry and kind).
    InEntries,
    /// In the stub before the request is published: the program is at
    /// the site's `syscall` (RCX - 2), RAX the number; `on_stub_stack`:
    /// its RSP is in the slot.
    BeforePublish { on_stub_stack: bool },
    /// After publishing: the slot says what happened.
    Published,
    /// On a final jump: all registers are the program's but RIP, which is
    /// RCX.
    FinalJump,
    /// Not an instruction of the stub (padding after it).
    Nowhere,
}

/// The place of offset `off` of a ring code page.
pub fn locate(off: u64) -> Place {
    if off >= ENTRIES {
        return Place::InEntries;
    }
    match off {
        RETURN_JUMP | FALLBACK_JUMP => Place::FinalJump,
        o if o <= PUBLISH => Place::BeforePublish {
            on_stub_stack: o >= ON_STUB_STACK,
        },
        o if o < FALLBACK_JUMP + 2 => Place::Published,
        _ => Place::Nowhere,
    }
}

/// Instruction starts in an entry of the `mov` kind ([`entry_bytes`]):
/// the `mov`, the `lea` and the `jmp`.
pub const MOV_ENTRY_STARTS: [u64; 3] = [0, 5, 12];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_offsets_fall_on_the_instructions_they_name() {
        // mov dword gs:0, 1 (publish); mov r11, gs:0x58 (spin budget)
        assert_eq!(
            &STUB[PUBLISH as usize..PUBLISH as usize + 3],
            &[0x65, 0xc7, 0x04]
        );
        assert_eq!(STUB[PUBLISH as usize + 8], 1);
        assert_eq!(
            &STUB[PUBLISHED as usize..PUBLISHED as usize + 3],
            &[0x65, 0x4c, 0x8b]
        );
        // pushf right after the stack switch
        assert_eq!(STUB[ON_STUB_STACK as usize], 0x9c);
        for j in [RETURN_JUMP, FALLBACK_JUMP] {
            assert_eq!(
                &STUB[j as usize..j as usize + 2],
                &[0xff, 0xe1],
                "jmp rcx at {j:#x}"
            );
        }
        // no SYSCALL anywhere in the stub: it never traps by itself
        assert!(!STUB.windows(2).any(|w| w == [0x0f, 0x05]));
    }

    #[test]
    fn entries_encode_their_site_and_stub() {
        let page = 0x7f00_0000_0000;
        let entry = page + ENTRIES;
        let site = page - 0x1234;
        let b = entry_bytes(entry, site, 39, page).unwrap();
        assert_eq!(&b[..5], &[0xb8, 39, 0, 0, 0]);
        let lea = i32::from_le_bytes(b[8..12].try_into().unwrap());
        assert_eq!((entry + 12).wrapping_add(lea as i64 as u64), site + 7);
        let jmp = i32::from_le_bytes(b[13..17].try_into().unwrap());
        assert_eq!((entry + 17).wrapping_add(jmp as i64 as u64), page);
        let j = site_jump(site, entry).unwrap();
        let rel = i32::from_le_bytes(j[1..].try_into().unwrap());
        assert_eq!((site + 5).wrapping_add(rel as i64 as u64), entry);
        assert!(
            site_jump(0x40_0000, 0x7f00_0000_0000).is_none(),
            "out of reach"
        );
    }

    #[test]
    fn moved_entries_encode_their_site_and_stub() {
        let (page, site) = (0x7000_0000_u64, 0x7000_5000_u64);
        let entry = page + ENTRIES;
        // cmp $-4096,%rax moved, then the jump back (as moved.rs encodes)
        let body = [0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff, 0xe9, 0, 0, 0, 0];
        let b = moved_entry_bytes(entry, site, &body, page).unwrap();
        assert_eq!(b.len() as u64 % ENTRY_SIZE, 0);
        let disp = |at: usize| i32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as i64;
        // lea entry+14(%rip),%rcx; jmp STUB; syscall; lea site+2(%rip),%rcx
        assert_eq!(&b[..3], &[0x48, 0x8d, 0x0d]);
        assert_eq!(
            (entry + 7).wrapping_add(disp(3) as u64),
            entry + MOVED_AFTER
        );
        assert_eq!(b[7], 0xe9);
        assert_eq!((entry + 12).wrapping_add(disp(8) as u64), page);
        assert_eq!(&b[MOVED_FALLBACK as usize..][..2], &[0x0f, 0x05]);
        assert_eq!(&b[MOVED_AFTER as usize..][..3], &[0x48, 0x8d, 0x0d]);
        assert_eq!((entry + MOVED_BODY).wrapping_add(disp(17) as u64), site + 2);
        assert_eq!(&b[MOVED_BODY as usize..][..body.len()], &body);
        assert!(b[MOVED_BODY as usize + body.len()..]
            .iter()
            .all(|&x| x == 0xcc));
        let j = span_jump(site, 8, entry).unwrap();
        assert_eq!(j.len(), 8);
        assert_eq!(j[0], 0xe9);
        assert_eq!(&j[5..], &[0xcc; 3]);
    }

    #[test]
    fn every_offset_has_one_place() {
        assert_eq!(
            locate(0),
            Place::BeforePublish {
                on_stub_stack: false
            }
        );
        assert_eq!(
            locate(0x13),
            Place::BeforePublish {
                on_stub_stack: true
            }
        );
        assert_eq!(
            locate(PUBLISH),
            Place::BeforePublish {
                on_stub_stack: true
            }
        );
        assert_eq!(locate(PUBLISHED), Place::Published);
        assert_eq!(locate(RETURN_JUMP), Place::FinalJump);
        assert_eq!(locate(FALLBACK_JUMP), Place::FinalJump);
        assert_eq!(locate(FALLBACK_JUMP + 2), Place::Nowhere);
        assert_eq!(locate(ENTRIES), Place::InEntries);
        assert_eq!(locate(ENTRIES + ENTRY_SIZE + 5), Place::InEntries);
    }
}
