//! The program's code, read once when it is loaded, for what the audit
//! cannot see executed: hypercalls (vmcall, vmmcall: the host kernel
//! answers them, no exit reaches the runner) and CPUID of the hypervisor
//! leaves (CPUID runs natively at CPL3 on kvm_pvm and is answered by the
//! host kernel on hardware KVM).
//!
//! The code is decoded in one linear sweep over each executable mapping.
//! x86 decoding resynchronises within a few instructions, so data in the
//! text segment costs at most a misread instruction or two; a finding
//! names the exact address, which `objdump -d` confirms.

use super::faults::{hex, is_hypercall, mnemonic};
use super::places::Places;
use super::{Finding, Reason};
use iced_x86::{Decoder, DecoderOptions, FlowControl, Mnemonic, OpKind, Register};
use thinvisor_kmod::GuestMemory;

/// The hypervisor CPUID leaves (Intel and AMD reserve them for it).
const HYPERVISOR_LEAVES: std::ops::RangeInclusive<u64> = 0x4000_0000..=0x4000_00ff;

/// The most code scanned in one mapping.
const MAX_SCAN: u64 = 64 << 20;

/// What process `pid`'s executable mappings hold of the above.
pub fn scan(places: &Places<'_>, mem: &GuestMemory, pid: u64) -> Vec<Finding> {
    let mut out = Vec::new();
    let code: Vec<(u64, u64)> = places
        .mm
        .regions()
        .filter(|(_, _, p, _)| p.exec)
        .map(|(s, e, _, _)| (s, e))
        .collect();
    for (start, end) in code {
        let len = (end - start).min(MAX_SCAN);
        let bytes = crate::ring::sites::read_code_up_to(places.mm, mem, start, len);
        sweep(places, &bytes, start, pid, &mut out);
    }
    out
}

fn sweep(places: &Places<'_>, bytes: &[u8], start: u64, pid: u64, out: &mut Vec<Finding>) {
    let mut d = Decoder::with_ip(64, bytes, start, DecoderOptions::NONE);
    // The hypervisor leaf last moved into EAX, while nothing else wrote it.
    let mut leaf: Option<u64> = None;
    for i in &mut d {
        if i.is_invalid() {
            leaf = None;
            continue;
        }
        let ip = i.ip();
        let here = |f: Finding| {
            let off = (ip - start) as usize;
            let mut f = f.at(ip, places.describe(ip));
            f.bytes = bytes.get(off..off + i.len()).map(hex);
            f.instruction = Some(mnemonic(&i));
            f
        };
        if is_hypercall(&i) {
            out.push(here(Finding::new(
                Reason::Hypercall,
                pid,
                format!(
                    "{} in the code at {ip:#x} (found by a scan of the code)",
                    mnemonic(&i)
                ),
            )));
            continue;
        }
        if i.mnemonic() == Mnemonic::Cpuid {
            if let Some(l) = leaf {
                out.push(here(Finding::new(
                    Reason::HypervisorProbe,
                    pid,
                    format!(
                        "cpuid of leaf {l:#x} in the code at {ip:#x} (found by a scan of the code)"
                    ),
                )));
            }
            leaf = None;
            continue;
        }
        let writes_eax = i.op_count() > 0
            && i.op0_kind() == OpKind::Register
            && i.op0_register().full_register() == Register::RAX;
        if writes_eax {
            let immediate = i.mnemonic() == Mnemonic::Mov
                && matches!(
                    i.op1_kind(),
                    OpKind::Immediate32 | OpKind::Immediate32to64 | OpKind::Immediate64
                );
            leaf = immediate
                .then(|| i.immediate(1))
                .filter(|v| HYPERVISOR_LEAVES.contains(v));
        } else if i.flow_control() != FlowControl::Next {
            leaf = None;
        }
    }
}
