//! The Linux x86-64 initial process stack: argc, argv, envp, auxv and the
//! strings they point to, with RSP 16-byte aligned at argc.

use crate::abi::constants::{AT_EXECFN, AT_NULL, AT_PLATFORM, AT_RANDOM};

/// What the stack describes.
pub struct StackSpec<'a> {
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    /// Auxv entries without the pointer-valued ones (added here).
    pub auxv: &'a [(u64, u64)],
    pub random: [u8; 16],
    pub execfn: &'a [u8],
}

/// A built stack: `bytes` go at `[top - bytes.len(), top)`, RSP = `rsp`.
pub struct BuiltStack {
    pub bytes: Vec<u8>,
    pub rsp: u64,
}

/// Lays out the initial stack ending at `top` (exclusive).
pub fn build(top: u64, spec: &StackSpec<'_>) -> BuiltStack {
    // Strings area, built downwards from `top`: collect, then place.
    let mut strings: Vec<u8> = Vec::new();
    let add = |s: &[u8], strings: &mut Vec<u8>| -> usize {
        let off = strings.len();
        strings.extend_from_slice(s);
        strings.push(0);
        off
    };
    let argv_offs: Vec<usize> = spec.argv.iter().map(|a| add(a, &mut strings)).collect();
    let envp_offs: Vec<usize> = spec.envp.iter().map(|e| add(e, &mut strings)).collect();
    let execfn_off = add(spec.execfn, &mut strings);
    let platform_off = add(b"x86_64", &mut strings);
    let random_off = strings.len();
    strings.extend_from_slice(&spec.random);
    // 8 zero bytes at the very top, like Linux's end marker.
    let strings_base = (top - 8 - strings.len() as u64) & !15;
    let addr = |off: usize| strings_base + off as u64;

    let mut auxv: Vec<(u64, u64)> = spec.auxv.to_vec();
    auxv.push((AT_PLATFORM, addr(platform_off)));
    auxv.push((AT_RANDOM, addr(random_off)));
    auxv.push((AT_EXECFN, addr(execfn_off)));
    auxv.push((AT_NULL, 0));

    let mut words: Vec<u64> = Vec::new();
    words.push(spec.argv.len() as u64);
    words.extend(argv_offs.iter().map(|&o| addr(o)));
    words.push(0);
    words.extend(envp_offs.iter().map(|&o| addr(o)));
    words.push(0);
    for (k, v) in &auxv {
        words.push(*k);
        words.push(*v);
    }
    let mut rsp = strings_base - words.len() as u64 * 8;
    rsp &= !15;
    let total = (top - rsp) as usize;
    let mut bytes = vec![0u8; total];
    for (i, w) in words.iter().enumerate() {
        let o = i * 8;
        bytes[o..o + 8].copy_from_slice(&w.to_le_bytes());
    }
    let so = (strings_base - rsp) as usize;
    bytes[so..so + strings.len()].copy_from_slice(&strings);
    BuiltStack { bytes, rsp }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::constants::AT_PAGESZ;

    fn word(b: &[u8], i: usize) -> u64 {
        u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
    }

    #[test]
    fn layout_is_linux_like_and_aligned() {
        let argv = vec![b"prog".to_vec(), b"a b".to_vec()];
        let envp = vec![b"K=V".to_vec()];
        let top = 0x7fff_ffff_f000;
        let s = build(
            top,
            &StackSpec {
                argv: &argv,
                envp: &envp,
                auxv: &[(AT_PAGESZ, 4096)],
                random: [7; 16],
                execfn: b"prog",
            },
        );
        assert_eq!(s.rsp % 16, 0);
        assert_eq!(s.rsp + s.bytes.len() as u64, top);
        let b = &s.bytes;
        assert_eq!(word(b, 0), 2);
        let arg1 = (word(b, 2) - s.rsp) as usize;
        assert_eq!(&b[arg1..arg1 + 4], b"a b\0");
        assert_eq!(word(b, 3), 0);
        let env0 = (word(b, 4) - s.rsp) as usize;
        assert_eq!(&b[env0..env0 + 4], b"K=V\0");
        assert_eq!(word(b, 5), 0);
        assert_eq!((word(b, 6), word(b, 7)), (AT_PAGESZ, 4096));
        assert_eq!(word(b, 8), AT_PLATFORM);
        assert_eq!(word(b, 10), AT_RANDOM);
        let rnd = (word(b, 11) - s.rsp) as usize;
        assert_eq!(&b[rnd..rnd + 16], &[7; 16]);
    }
}
