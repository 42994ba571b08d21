//! A thread's FPU, SSE and AVX registers as the runner moves them: into a
//! signal frame and back (abi/xstate.rs has the frame's format), to a new
//! thread or a forked child, and to their initial state at execve and at a
//! handler's start.
//!
//! Where the guest CPU has XSAVE (every x86-64 CPU with AVX) the whole
//! XSAVE area travels, so AVX's and AVX-512's upper register halves and
//! mask registers survive a handler that uses them, as on Linux; without
//! it, the FXSAVE state (x87, MXCSR, XMM0-15) that KVM_GET_FPU gives.

use crate::abi::xstate::{self, XStateLayout, INIT_FCW, INIT_MXCSR};
use thinvisor_kmod::{Fpu, KmodError, Vcpu, XsaveArea};

/// The MXCSR bits FXRSTOR accepts without XSAVE: all 16 (DAZ included:
/// every x86-64 CPU has it; 0xffbf is the mask of some 32-bit Pentium 4s).
const LEGACY_MXCSR_MASK: u32 = 0xffff;

/// One thread's saved registers.
#[derive(Clone)]
pub enum FpuState {
    /// KVM_GET_FPU's state (the guest CPU has no XSAVE).
    Legacy(Box<Fpu>),
    /// The whole XSAVE area.
    Xsave(Box<XsaveArea>),
}

impl FpuState {
    /// The registers of `vcpu` (its XSAVE area when `layout` says the guest
    /// has one).
    pub fn save(vcpu: &mut Vcpu, layout: Option<&XStateLayout>) -> Result<FpuState, KmodError> {
        Ok(match layout {
            Some(_) => FpuState::Xsave(Box::new(*vcpu.xsave()?)),
            None => FpuState::Legacy(Box::new(*vcpu.fpu()?)),
        })
    }

    /// Gives `vcpu` these registers (on its next run).
    pub fn load(&self, vcpu: &mut Vcpu) -> Result<(), KmodError> {
        match self {
            FpuState::Legacy(fpu) => *vcpu.fpu_mut()? = **fpu,
            FpuState::Xsave(area) => *vcpu.xsave_mut()? = **area,
        }
        Ok(())
    }
}

/// Resets `vcpu`'s registers to their initial state: x87 control word
/// 0x37f, MXCSR 0x1f80, every vector register zero (execve; a handler's
/// start, as Linux's fpu__clear_user_states).
pub fn reset(vcpu: &mut Vcpu, layout: Option<&XStateLayout>) -> Result<(), KmodError> {
    match layout {
        Some(_) => {
            let fresh = xstate::initial(vcpu.xsave()?);
            *vcpu.xsave_mut()? = fresh;
        }
        None => {
            *vcpu.fpu_mut()? = Fpu {
                fcw: INIT_FCW,
                mxcsr: INIT_MXCSR,
                ..Fpu::default()
            };
        }
    }
    Ok(())
}

/// The fpstate bytes a signal frame carries for `vcpu`'s registers.
pub fn frame_image(vcpu: &mut Vcpu, layout: Option<&XStateLayout>) -> Result<Vec<u8>, KmodError> {
    Ok(match layout {
        Some(l) => xstate::to_frame(vcpu.xsave()?, l),
        None => fxsave_image(vcpu.fpu()?).to_vec(),
    })
}

/// Loads `vcpu`'s registers from a frame's fpstate `frame` (see
/// [`xstate::from_frame`]; without XSAVE, `frame` is the FXSAVE region).
/// The inner error: the state would fault XRSTOR, a bad frame.
pub fn load_frame(
    vcpu: &mut Vcpu,
    layout: Option<&XStateLayout>,
    frame: &[u8],
) -> Result<Result<(), xstate::BadXState>, KmodError> {
    match layout {
        Some(l) => {
            let area = match xstate::from_frame(frame, vcpu.xsave()?, l) {
                Ok(a) => a,
                Err(e) => return Ok(Err(e)),
            };
            *vcpu.xsave_mut()? = area;
        }
        None => {
            let mut fx = [0u8; xstate::FXSAVE_BYTES];
            fx.copy_from_slice(&frame[..xstate::FXSAVE_BYTES]);
            match fpu_from_image(&fx) {
                Ok(fpu) => *vcpu.fpu_mut()? = fpu,
                Err(e) => return Ok(Err(e)),
            }
        }
    }
    Ok(Ok(()))
}

/// The FXSAVE image of `fpu` (a frame's fpstate without XSAVE).
pub fn fxsave_image(fpu: &Fpu) -> [u8; xstate::FXSAVE_BYTES] {
    let mut b = [0u8; xstate::FXSAVE_BYTES];
    b[0..2].copy_from_slice(&fpu.fcw.to_le_bytes());
    b[2..4].copy_from_slice(&fpu.fsw.to_le_bytes());
    b[4] = fpu.ftwx;
    b[6..8].copy_from_slice(&fpu.last_opcode.to_le_bytes());
    b[8..16].copy_from_slice(&fpu.last_ip.to_le_bytes());
    b[16..24].copy_from_slice(&fpu.last_dp.to_le_bytes());
    b[24..28].copy_from_slice(&fpu.mxcsr.to_le_bytes());
    b[28..32].copy_from_slice(&LEGACY_MXCSR_MASK.to_le_bytes());
    for (i, st) in fpu.fpr.iter().enumerate() {
        b[32 + i * 16..48 + i * 16].copy_from_slice(st);
    }
    for (i, x) in fpu.xmm.iter().enumerate() {
        b[160 + i * 16..176 + i * 16].copy_from_slice(x);
    }
    b
}

/// The FPU state an FXSAVE image `b` describes; a MXCSR with reserved
/// bits set is refused (FXRSTOR would fault on it).
pub fn fpu_from_image(b: &[u8; xstate::FXSAVE_BYTES]) -> Result<Fpu, xstate::BadXState> {
    let mut fpu = Fpu::default();
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u64_at = |i: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(x)
    };
    let mxcsr = u32::from_le_bytes([b[24], b[25], b[26], b[27]]);
    if mxcsr & !LEGACY_MXCSR_MASK != 0 {
        return Err(xstate::BadXState::Mxcsr(mxcsr));
    }
    fpu.fcw = u16_at(0);
    fpu.fsw = u16_at(2);
    fpu.ftwx = b[4];
    fpu.last_opcode = u16_at(6);
    fpu.last_ip = u64_at(8);
    fpu.last_dp = u64_at(16);
    fpu.mxcsr = mxcsr;
    for (i, st) in fpu.fpr.iter_mut().enumerate() {
        st.copy_from_slice(&b[32 + i * 16..48 + i * 16]);
    }
    for (i, x) in fpu.xmm.iter_mut().enumerate() {
        x.copy_from_slice(&b[160 + i * 16..176 + i * 16]);
    }
    Ok(fpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fxsave_images_round_trip_and_reserved_mxcsr_bits_are_refused() {
        let mut fpu = Fpu {
            fcw: 0x37f,
            mxcsr: 0x1f80,
            ..Fpu::default()
        };
        fpu.xmm[3][0] = 0xab;
        fpu.fpr[7][9] = 0xcd;
        let back = fpu_from_image(&fxsave_image(&fpu)).expect("a valid image");
        assert_eq!(
            (back.fcw, back.mxcsr, back.xmm[3][0], back.fpr[7][9]),
            (0x37f, 0x1f80, 0xab, 0xcd)
        );
        let mut forged = fxsave_image(&fpu);
        forged[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            fpu_from_image(&forged).map(|f| f.mxcsr),
            Err(xstate::BadXState::Mxcsr(u32::MAX))
        );
    }
}
