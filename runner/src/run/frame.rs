//! The exception frame on a vCPU's interrupt stack (guest/cpu_area.rs):
//! what the CPU pushed when user code trapped, and what the entry code's
//! IRETQ returns to.

use super::run_loop::RunError;
use crate::guest::cpu_area::CpuArea;
use thinvisor_kmod::GuestMemory;

/// The frame, error code first (the stubs push 0 where the CPU does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Reads `cpu`'s frame.
pub fn read(mem: &GuestMemory, cpu: &CpuArea) -> Result<Frame, RunError> {
    let at = cpu.frame_pa();
    let q = |i: u64| mem.read_u64(at + i * 8);
    Ok(Frame {
        error_code: q(0)?,
        rip: q(1)?,
        cs: q(2)?,
        rflags: q(3)?,
        rsp: q(4)?,
        ss: q(5)?,
    })
}

/// Writes `cpu`'s frame.
pub fn write(mem: &mut GuestMemory, cpu: &CpuArea, f: &Frame) -> Result<(), RunError> {
    let at = cpu.frame_pa();
    for (i, v) in [f.error_code, f.rip, f.cs, f.rflags, f.rsp, f.ss]
        .iter()
        .enumerate()
    {
        mem.write_u64(at + i as u64 * 8, *v)?;
    }
    Ok(())
}
