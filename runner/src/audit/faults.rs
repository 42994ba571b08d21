//! A fault the guest took, analysed where it happened: the instruction at
//! RIP is read and decoded, the address it aimed at is placed, and the
//! fault is given its reason (a privileged or I/O instruction, a reach
//! into supervisor memory, data executed, code written, the stack
//! exhausted, or an ordinary crash).

use super::places::{Places, Region};
use super::{Finding, Reason};
use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};
use thinvisor_kmod::GuestMemory;

/// The longest x86 instruction.
const MAX_INSTRUCTION: u64 = 15;

/// A fault as the run loop saw it.
#[derive(Debug, Clone)]
pub struct FaultSeen {
    pub pid: u64,
    /// The exception vector, or None for a fault the runner found itself
    /// (an `out` the platform let exit).
    pub vector: Option<u8>,
    pub error_code: u64,
    pub rip: u64,
    /// CR2 for a page fault.
    pub addr: Option<u64>,
    /// The user registers at the fault, in the encoding's order (rax, rcx,
    /// rdx, rbx, rsp, rbp, rsi, rdi, r8-r15).
    pub gprs: [u64; 16],
    /// The runner's words for it ("general protection fault").
    pub cause: String,
    /// The program's own handler runs (else the fault ends it).
    pub handled: bool,
}

/// The finding for fault `f` in the process `places` describes.
pub fn classify(places: &Places<'_>, mem: &GuestMemory, f: &FaultSeen) -> Finding {
    let bytes = crate::ring::sites::read_code_up_to(places.mm, mem, f.rip, MAX_INSTRUCTION);
    let ins = decode(&bytes, f.rip);
    let name = ins.as_ref().map(mnemonic);
    let at = |what: &str| format!("{what} at {:#x}", f.rip);
    let (reason, what, aimed) = match (f.vector, ins.as_ref()) {
        (Some(14), _) => page_fault(places, f),
        (_, Some(i)) if is_io(i) => (Reason::IoInstruction, at(&io_text(i, &f.gprs)), None),
        (_, Some(i)) if is_hypercall(i) => (Reason::Hypercall, at(&mnemonic(i)), None),
        (_, Some(i)) if i.mnemonic() == Mnemonic::Int || i.mnemonic() == Mnemonic::Into => {
            (Reason::SoftwareInterrupt, at(&int_text(i)), None)
        }
        (_, Some(i))
            if i.is_privileged() || i.mnemonic() == Mnemonic::Rdpmc || toward_privilege(i) =>
        {
            (Reason::PrivilegedInstruction, at(&mnemonic(i)), None)
        }
        (Some(13), Some(i)) => match forbidden_operand(places, i, &f.gprs) {
            Some(addr) => (
                Reason::SupervisorAccess,
                format!(
                    "{} of {} at {:#x}",
                    mnemonic(i),
                    places.describe(addr),
                    f.rip
                ),
                Some(addr),
            ),
            None => (Reason::Crash, at(&f.cause), None),
        },
        _ => (Reason::Crash, at(&f.cause), None),
    };
    let mut finding = Finding::new(reason, f.pid, what).at(f.rip, places.describe(f.rip));
    if let Some(a) = aimed.or(f.addr) {
        finding = finding.aimed_at(a, places.describe(a));
    }
    if !bytes.is_empty() {
        let len = ins
            .as_ref()
            .map_or(bytes.len(), |i| i.len().min(bytes.len()));
        finding.bytes = Some(hex(&bytes[..len]));
    }
    finding.instruction = name;
    finding.outcome = Some(if f.handled { "handled" } else { "fatal" });
    finding
}

/// A page fault's reason: from the faulting address's place and the kind
/// of access (error code bits: 1 write, 16 instruction fetch).
fn page_fault(places: &Places<'_>, f: &FaultSeen) -> (Reason, String, Option<u64>) {
    let addr = f.addr.unwrap_or(0);
    let fetch = f.error_code & 16 != 0;
    let write = f.error_code & 2 != 0;
    let access = if fetch {
        "instruction fetch from"
    } else if write {
        "write to"
    } else {
        "read from"
    };
    let what = format!(
        "{access} {} ({addr:#x}) at {:#x}",
        places.describe(addr),
        f.rip
    );
    let reason = match places.region(addr) {
        r if r.is_forbidden() => Reason::SupervisorAccess,
        Region::Mapped { exec: false, .. } if fetch => Reason::ExecuteData,
        Region::Mapped {
            exec: true,
            write: false,
            ..
        } if write => Reason::WriteToCode,
        Region::Unmapped if write && places.below_stack(addr) => Reason::StackExhaustion,
        _ => Reason::Crash,
    };
    (reason, what, None)
}

fn decode(bytes: &[u8], rip: u64) -> Option<Instruction> {
    let mut d = Decoder::with_ip(64, bytes, rip, DecoderOptions::NONE);
    let i = d.decode();
    (!i.is_invalid()).then_some(i)
}

/// The instruction in Intel syntax: "mov cr3,rax".
pub fn mnemonic(i: &Instruction) -> String {
    use iced_x86::Formatter;
    let mut f = iced_x86::IntelFormatter::new();
    f.options_mut().set_first_operand_char_index(0);
    let mut out = String::new();
    f.format(i, &mut out);
    out
}

fn is_io(i: &Instruction) -> bool {
    use Mnemonic::*;
    matches!(
        i.mnemonic(),
        In | Out | Insb | Insw | Insd | Outsb | Outsw | Outsd
    )
}

/// The VMX and SVM instructions a guest could use to reach its host.
pub fn is_hypercall(i: &Instruction) -> bool {
    use Mnemonic::*;
    matches!(
        i.mnemonic(),
        Vmcall | Vmmcall | Vmfunc | Vmgexit | Tdcall | Vmlaunch | Vmresume | Vmrun
    )
}

/// Far transfers and segment loads that #GP from user mode only when they
/// aim at a more privileged segment (iretq to CPL0, `mov ss` of a kernel
/// selector, a far jump to the kernel's code segment).
fn toward_privilege(i: &Instruction) -> bool {
    use iced_x86::Code;
    use Mnemonic::*;
    let far = matches!(
        i.code(),
        Code::Jmp_m1616
            | Code::Jmp_m1632
            | Code::Jmp_m1664
            | Code::Call_m1616
            | Code::Call_m1632
            | Code::Call_m1664
            | Code::Jmp_ptr1616
            | Code::Jmp_ptr1632
            | Code::Call_ptr1616
            | Code::Call_ptr1632
    );
    let segment_load = matches!(
        i.op0_register(),
        Register::SS | Register::DS | Register::ES | Register::FS | Register::GS
    ) && matches!(i.mnemonic(), Mov | Pop);
    far || segment_load
        || matches!(
            i.mnemonic(),
            Iret | Iretd | Iretq | Retf | Lss | Lfs | Lgs | Sysexit | Sysexitq | Sysret | Sysretq
        )
}

fn io_text(i: &Instruction, gprs: &[u64; 16]) -> String {
    let port = [i.op0_kind(), i.op1_kind()]
        .iter()
        .zip([i.op0_register(), i.op1_register()])
        .find_map(|(k, r)| match k {
            OpKind::Immediate8 => Some(u64::from(i.immediate8())),
            OpKind::Register if r == Register::DX => Some(gprs[2] & 0xffff),
            _ => None,
        })
        .or_else(|| {
            // ins/outs use DX implicitly.
            (!matches!(i.mnemonic(), Mnemonic::In | Mnemonic::Out)).then_some(gprs[2] & 0xffff)
        });
    match port {
        Some(p) => format!("{} (port {p:#x})", mnemonic(i)),
        None => mnemonic(i),
    }
}

fn int_text(i: &Instruction) -> String {
    if i.mnemonic() == Mnemonic::Int {
        format!("int {:#x}", i.immediate8())
    } else {
        mnemonic(i)
    }
}

/// The first memory operand of `i` whose address is outside what user
/// mode may reach (a #GP's cause when it is non-canonical).
fn forbidden_operand(places: &Places<'_>, i: &Instruction, gprs: &[u64; 16]) -> Option<u64> {
    (0..i.op_count())
        .filter(|&op| i.op_kind(op) == OpKind::Memory)
        .filter_map(|op| i.virtual_address(op, 0, |r, _, _| register_value(r, gprs)))
        .find(|&a| places.region(a).is_forbidden())
}

/// The value of a 64-bit general register (segment bases are 0 here: the
/// ones that are not, FS and GS, do not make an address non-canonical
/// in a way the audit needs to name).
fn register_value(r: Register, gprs: &[u64; 16]) -> Option<u64> {
    use Register::*;
    let index = match r.full_register() {
        RAX => 0,
        RCX => 1,
        RDX => 2,
        RBX => 3,
        RSP => 4,
        RBP => 5,
        RSI => 6,
        RDI => 7,
        R8 => 8,
        R9 => 9,
        R10 => 10,
        R11 => 11,
        R12 => 12,
        R13 => 13,
        R14 => 14,
        R15 => 15,
        ES | CS | SS | DS | FS | GS => return Some(0),
        _ => return Option::None,
    };
    let v = gprs[index];
    Some(match r.size() {
        4 => v & 0xffff_ffff,
        2 => v & 0xffff,
        1 => v & 0xff,
        _ => v,
    })
}

/// Bytes in hex, spaced: "0f 30".
pub fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
