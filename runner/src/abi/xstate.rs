//! The extended FPU state in a signal frame, as Linux writes it on x86-64
//! (arch/x86/include/uapi/asm/sigcontext.h, arch/x86/kernel/fpu/signal.c):
//! the XSAVE area in the standard (non-compacted) format, whose legacy
//! region's software-reserved bytes say "an XSAVE area follows" and whose
//! end carries a second magic word.
//!
//! ```text
//! fpstate +0     FXSAVE region (512): x87, MXCSR, XMM0-15;
//!         +464     _fpx_sw_bytes: magic1, extended_size, xfeatures, xstate_size
//!         +512   XSAVE header (64): XSTATE_BV, XCOMP_BV (0), reserved (0)
//!         +576   components at the offsets CPUID leaf 0xD gives (AVX,
//!                opmask, ZMM_Hi256, Hi16_ZMM)
//!         +size  FP_XSTATE_MAGIC2 (4 bytes)
//! ```
//!
//! Everything read back from a frame is the program's to forge:
//! [`from_frame`] accepts only what XRSTOR would load without faulting,
//! and answers as Linux does when the software bytes do not describe a
//! whole area (only the FXSAVE region is restored).

use thinvisor_kmod::{XsaveArea, XSAVE_AREA_BYTES};

/// `_fpx_sw_bytes.magic1`: an XSAVE area follows the FXSAVE region.
pub const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// The word right after the XSAVE area.
pub const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
/// uc_flags bit: the frame's fpstate is an XSAVE area.
pub const UC_FP_XSTATE: u64 = 0x1;
/// Bytes of the FXSAVE region (and of the whole fpstate without XSAVE).
pub const FXSAVE_BYTES: usize = 512;
/// Bytes of the FXSAVE region and the XSAVE header: the smallest area.
pub const XSAVE_MIN_BYTES: usize = 576;
/// Where the software-reserved bytes and the XSAVE header are.
const SW_BYTES_AT: usize = 464;
const HEADER_AT: usize = 512;
const MXCSR_AT: usize = 24;
const MXCSR_MASK_AT: usize = 28;
/// x87 and SSE: the features an FXSAVE region holds.
const FP_SSE: u64 = 0b11;
/// The MXCSR bits a CPU that reports no mask accepts (Intel SDM 10.5.1.2).
pub const DEFAULT_MXCSR_MASK: u32 = 0xffbf;
/// x87 control word and MXCSR after FNINIT / at process start.
pub const INIT_FCW: u16 = 0x37f;
pub const INIT_MXCSR: u32 = 0x1f80;

/// Which XSAVE components the guest's XCR0 enables, where each lies in
/// the standard-format area (CPUID leaf 0xD: the offsets differ between
/// CPUs, e.g. where MPX's components are absent), and how many bytes the
/// area takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XStateLayout {
    pub xcr0: u64,
    pub size: usize,
    /// `(offset, length)` of component `i` (bits 2 and up; `(0, 0)` where
    /// XCR0 leaves it off).
    pub components: [(usize, usize); MAX_COMPONENTS],
}

/// Components a guest XCR0 can enable: x87, SSE, AVX, and AVX-512's
/// opmask, ZMM_Hi256 and Hi16_ZMM (bits 0-7; boot.rs masks the rest).
pub const MAX_COMPONENTS: usize = 8;

impl XStateLayout {
    /// The layout for XCR0 `xcr0` on a CPU whose leaf 0xD subleaf `i`
    /// gives `component(i)` = (EAX, EBX): size and offset. Components
    /// past bit 7, and any that would end past what KVM moves, are left
    /// out of XCR0.
    pub fn new(xcr0: u64, component: impl Fn(u32) -> Option<(u32, u32)>) -> XStateLayout {
        let mut layout = XStateLayout {
            xcr0: FP_SSE,
            size: XSAVE_MIN_BYTES,
            components: [(0, 0); MAX_COMPONENTS],
        };
        for i in 2..MAX_COMPONENTS {
            if xcr0 & (1 << i) == 0 {
                continue;
            }
            let Some((len, offset)) = component(i as u32) else {
                continue;
            };
            let (offset, len) = (offset as usize, len as usize);
            if offset < XSAVE_MIN_BYTES || offset + len > XSAVE_AREA_BYTES {
                continue;
            }
            layout.xcr0 |= 1 << i;
            layout.components[i] = (offset, len);
            layout.size = layout.size.max(offset + len);
        }
        layout
    }

    /// Bytes the frame's fpstate takes: the area and the second magic.
    pub fn frame_bytes(&self) -> usize {
        self.size + 4
    }
}

/// Bytes the fpstate of a frame takes with `layout` (or the FXSAVE region
/// alone without XSAVE).
pub fn fpstate_bytes(layout: Option<&XStateLayout>) -> usize {
    layout.map_or(FXSAVE_BYTES, XStateLayout::frame_bytes)
}

/// AT_MINSIGSTKSZ: the largest signal frame (siginfo and ucontext, the
/// fpstate, and the alignment padding of both), rounded up to 16, as
/// Linux computes it (arch/x86/kernel/signal.c, init_sigframe_size).
pub fn min_signal_stack(layout: Option<&XStateLayout>) -> u64 {
    let bytes = super::sigframe::FRAME_SIZE as usize + 15 + fpstate_bytes(layout) + 63;
    bytes.next_multiple_of(16) as u64
}

/// The fpstate bytes a frame carries for `area` with `layout`: the area
/// with the software bytes filled in, then the second magic word.
pub fn to_frame(area: &XsaveArea, layout: &XStateLayout) -> Vec<u8> {
    let mut b = Vec::with_capacity(layout.frame_bytes());
    b.extend_from_slice(&area[..layout.size]);
    let extended = layout.frame_bytes() as u32;
    b[SW_BYTES_AT..HEADER_AT].fill(0);
    b[SW_BYTES_AT..SW_BYTES_AT + 4].copy_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
    b[SW_BYTES_AT + 4..SW_BYTES_AT + 8].copy_from_slice(&extended.to_le_bytes());
    b[SW_BYTES_AT + 8..SW_BYTES_AT + 16].copy_from_slice(&layout.xcr0.to_le_bytes());
    b[SW_BYTES_AT + 16..SW_BYTES_AT + 20].copy_from_slice(&(layout.size as u32).to_le_bytes());
    b.extend_from_slice(&FP_XSTATE_MAGIC2.to_le_bytes());
    b
}

/// How much of a frame's fpstate rt_sigreturn restores, from its FXSAVE
/// region `fx` (Linux's check_xstate_in_sigframe): `Some(n)`, an XSAVE
/// area of `n` bytes, when the software bytes say so and fit `layout`
/// (the caller then checks the second magic at `n`); `None`: the FXSAVE
/// region alone.
pub fn claimed_size(fx: &[u8; FXSAVE_BYTES], layout: &XStateLayout) -> Option<usize> {
    let magic1 = u32_at(fx, SW_BYTES_AT);
    let extended = u32_at(fx, SW_BYTES_AT + 4) as usize;
    let size = u32_at(fx, SW_BYTES_AT + 16) as usize;
    (magic1 == FP_XSTATE_MAGIC1
        && (XSAVE_MIN_BYTES..=layout.size).contains(&size)
        && size <= extended)
        .then_some(size)
}

/// Whether `tail` (the four bytes after a claimed area) is the second magic.
pub fn is_magic2(tail: [u8; 4]) -> bool {
    u32::from_le_bytes(tail) == FP_XSTATE_MAGIC2
}

/// Why a frame's FPU state cannot be restored (XRSTOR or FXRSTOR would
/// fault on it; Linux kills with SIGSEGV).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadXState {
    #[error("MXCSR {0:#x} sets reserved bits")]
    Mxcsr(u32),
    #[error("the XSAVE header's XSTATE_BV {0:#x} names components XCR0 does not enable")]
    Features(u64),
    #[error("the XSAVE header's reserved bytes (XCOMP_BV included) are not zero")]
    Header,
}

/// The vCPU state rt_sigreturn loads from a frame's fpstate `frame` (the
/// FXSAVE region alone, or the `claimed_size` bytes of an XSAVE area
/// whose second magic matched), as Linux does (fpu/signal.c,
/// __restore_fpregs_from_user): XRSTOR with the software bytes' feature
/// mask loads each component the mask names and the frame's XSTATE_BV
/// marks present; every other component takes its initial state. With the
/// FXSAVE region alone, x87 and SSE come from the frame and the rest is
/// initial. `current` gives only MXCSR_MASK, which is not state.
pub fn from_frame(
    frame: &[u8],
    current: &XsaveArea,
    layout: &XStateLayout,
) -> Result<XsaveArea, BadXState> {
    let mask = match u32_at(current, MXCSR_MASK_AT) {
        0 => DEFAULT_MXCSR_MASK,
        m => m,
    };
    let (requested, bv) = if frame.len() < XSAVE_MIN_BYTES {
        (FP_SSE, FP_SSE)
    } else {
        let bv = u64_at(frame, HEADER_AT);
        if bv & !layout.xcr0 != 0 {
            return Err(BadXState::Features(bv));
        }
        if frame[HEADER_AT + 8..XSAVE_MIN_BYTES]
            .iter()
            .any(|&b| b != 0)
        {
            return Err(BadXState::Header);
        }
        (u64_at(frame, SW_BYTES_AT + 8) & layout.xcr0, bv)
    };
    let mut area = initial(current);
    // MXCSR: loaded with SSE or AVX, whatever XSTATE_BV says.
    if requested & 0b110 != 0 {
        let mxcsr = u32_at(frame, MXCSR_AT);
        if mxcsr & !mask != 0 {
            return Err(BadXState::Mxcsr(mxcsr));
        }
        area[MXCSR_AT..MXCSR_AT + 4].copy_from_slice(&mxcsr.to_le_bytes());
    }
    let present = requested & bv;
    // x87: the FXSAVE region before MXCSR, and ST0-7.
    if present & 1 != 0 {
        area[..MXCSR_AT].copy_from_slice(&frame[..MXCSR_AT]);
        area[X87_REGS.0..X87_REGS.1].copy_from_slice(&frame[X87_REGS.0..X87_REGS.1]);
    }
    // SSE: XMM0-15.
    if present & 2 != 0 {
        area[XMM_REGS.0..XMM_REGS.1].copy_from_slice(&frame[XMM_REGS.0..XMM_REGS.1]);
    }
    let mut loaded = present & FP_SSE;
    for (i, &(offset, len)) in layout.components.iter().enumerate().skip(2) {
        let range = offset..offset + len;
        if len != 0 && present & (1 << i) != 0 && range.end <= frame.len() {
            area[range.clone()].copy_from_slice(&frame[range]);
            loaded |= 1 << i;
        }
    }
    // Initial x87 and SSE state is what the legacy region now holds.
    put_u64(&mut area, HEADER_AT, loaded | FP_SSE);
    Ok(area)
}

/// Where ST0-7 and XMM0-15 are in the FXSAVE region.
const X87_REGS: (usize, usize) = (32, 160);
const XMM_REGS: (usize, usize) = (160, 416);

/// The state a signal handler starts with (Linux resets the FPU for it):
/// x87 and SSE at their initial values, every other component initial,
/// over `current`'s MXCSR_MASK.
pub fn initial(current: &XsaveArea) -> XsaveArea {
    let mut area = [0u8; XSAVE_AREA_BYTES];
    area[0..2].copy_from_slice(&INIT_FCW.to_le_bytes());
    area[MXCSR_AT..MXCSR_AT + 4].copy_from_slice(&INIT_MXCSR.to_le_bytes());
    area[MXCSR_MASK_AT..MXCSR_MASK_AT + 4]
        .copy_from_slice(&current[MXCSR_MASK_AT..MXCSR_MASK_AT + 4]);
    put_u64(&mut area, HEADER_AT, FP_SSE);
    area
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AVX and AVX-512 at the offsets an Intel CPU reports.
    fn intel(i: u32) -> Option<(u32, u32)> {
        match i {
            2 => Some((256, 576)),
            5 => Some((64, 1088)),
            6 => Some((512, 1152)),
            7 => Some((1024, 1664)),
            _ => None,
        }
    }

    fn vcpu_area(layout: &XStateLayout) -> XsaveArea {
        let mut a = [0u8; XSAVE_AREA_BYTES];
        a[MXCSR_MASK_AT..MXCSR_MASK_AT + 4].copy_from_slice(&0xffffu32.to_le_bytes());
        a[MXCSR_AT..MXCSR_AT + 4].copy_from_slice(&0x3fc0u32.to_le_bytes());
        a[XMM_REGS.0] = 0x11;
        a[576] = 0x22; // YMM0's upper half
        a[1664] = 0x33; // ZMM16
        put_u64(&mut a, HEADER_AT, layout.xcr0);
        a
    }

    #[test]
    fn layouts_follow_cpuid_and_frames_are_sized_as_linux() {
        let l = XStateLayout::new(0xe7, intel);
        assert_eq!((l.xcr0, l.size), (0xe7, 2688));
        assert_eq!(l.components[5], (1088, 64));
        // AVX only; a component past what KVM moves is left out.
        let avx = XStateLayout::new(0x7, intel);
        assert_eq!((avx.xcr0, avx.size), (0x7, 832));
        let huge = XStateLayout::new(0x87, |i| (i == 7).then_some((1024, 4000)).or(intel(i)));
        assert_eq!((huge.xcr0, huge.size), (0x7, 832));
        // Linux on such a CPU: 440 + 15 + 2688 + 4 + 63, rounded up to 16.
        assert_eq!(min_signal_stack(Some(&l)), 3216);
        assert_eq!(min_signal_stack(None), 1040);
    }

    #[test]
    fn a_frame_round_trips_and_says_what_it_holds() {
        let l = XStateLayout::new(0xe7, intel);
        let area = vcpu_area(&l);
        let frame = to_frame(&area, &l);
        assert_eq!(frame.len(), 2692);
        assert_eq!(u32_at(&frame, SW_BYTES_AT), FP_XSTATE_MAGIC1);
        assert_eq!(u32_at(&frame, SW_BYTES_AT + 4), 2692);
        assert_eq!(u64_at(&frame, SW_BYTES_AT + 8), 0xe7);
        assert!(is_magic2([
            frame[2688],
            frame[2689],
            frame[2690],
            frame[2691]
        ]));
        let mut fx = [0u8; FXSAVE_BYTES];
        fx.copy_from_slice(&frame[..FXSAVE_BYTES]);
        assert_eq!(claimed_size(&fx, &l), Some(2688));
        let back = from_frame(&frame[..2688], &area, &l).expect("valid");
        assert_eq!(back[..SW_BYTES_AT], area[..SW_BYTES_AT]);
        assert_eq!(back[HEADER_AT..2688], area[HEADER_AT..2688]);
    }

    #[test]
    fn forged_software_bytes_leave_the_fxsave_region_alone() {
        let l = XStateLayout::new(0xe7, intel);
        let area = vcpu_area(&l);
        let mut fx = [0u8; FXSAVE_BYTES];
        fx.copy_from_slice(&to_frame(&area, &l)[..FXSAVE_BYTES]);
        for (at, v) in [(0, 0u32), (16, 575), (16, 2689), (4, 100)] {
            let mut f = fx;
            f[SW_BYTES_AT + at..SW_BYTES_AT + at + 4].copy_from_slice(&v.to_le_bytes());
            assert_eq!(claimed_size(&f, &l), None, "field {at} = {v}");
        }
        // The FXSAVE region alone: XMM and MXCSR come back, AVX and
        // AVX-512 are initial.
        let back = from_frame(&fx, &area, &l).expect("valid");
        assert_eq!((back[XMM_REGS.0], back[576], back[1664]), (0x11, 0, 0));
        assert_eq!(u32_at(&back, MXCSR_AT), 0x3fc0);
        assert_eq!(u64_at(&back, HEADER_AT), FP_SSE);
    }

    #[test]
    fn what_xrstor_would_fault_on_is_refused() {
        let l = XStateLayout::new(0x7, intel);
        let area = vcpu_area(&l);
        let frame = to_frame(&area, &l);
        let mut f = frame.clone();
        put_u64(&mut f, HEADER_AT, 0xe7);
        assert_eq!(
            from_frame(&f[..l.size], &area, &l),
            Err(BadXState::Features(0xe7))
        );
        let mut f = frame.clone();
        f[HEADER_AT + 15] = 0x80; // compacted
        assert_eq!(from_frame(&f[..l.size], &area, &l), Err(BadXState::Header));
        let mut f = frame.clone();
        f[MXCSR_AT + 2] = 1;
        assert_eq!(
            from_frame(&f[..l.size], &area, &l),
            Err(BadXState::Mxcsr(0x1_3fc0))
        );
    }

    #[test]
    fn components_outside_the_mask_or_marked_absent_are_initial() {
        let l = XStateLayout::new(0xe7, intel);
        let area = vcpu_area(&l);
        let mut f = to_frame(&area, &l);
        // Only x87, SSE and AVX requested: AVX-512 starts over.
        put_u64(&mut f, SW_BYTES_AT + 8, 0x7);
        let back = from_frame(&f[..l.size], &area, &l).expect("valid");
        assert_eq!((back[576], back[1664]), (0x22, 0));
        assert_eq!(u64_at(&back, HEADER_AT), 0x7);
        // AVX marked absent in XSTATE_BV: its upper halves are zero.
        put_u64(&mut f, SW_BYTES_AT + 8, 0xe7);
        put_u64(&mut f, HEADER_AT, 0xe3);
        let back = from_frame(&f[..l.size], &area, &l).expect("valid");
        assert_eq!((back[576], back[1664]), (0, 0x33));
        // The handler's start: initial x87 and SSE state.
        let fresh = initial(&area);
        assert_eq!(u32_at(&fresh, MXCSR_AT), INIT_MXCSR);
        assert_eq!(u32_at(&fresh, MXCSR_MASK_AT), 0xffff);
        assert_eq!((fresh[XMM_REGS.0], fresh[576]), (0, 0));
    }
}
