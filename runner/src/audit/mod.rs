//! `runner exec --verdict FILE`: an audit of what the program tried, and
//! at the end of the run a verdict, "clean" or "suspicious", with the
//! evidence (docs/verdict.md).
//!
//! The audit only watches; containment is the same with it on or off.
//! It sees what reaches the runner: every syscall (the in-VM monitor and
//! the syscall ring are off during an audited run, so none is answered
//! out of its sight), every fault the guest takes, the run's end, and the
//! program's code as loaded. Faults are analysed at the address where
//! they occur: the instruction's bytes are decoded, the mapping they came
//! from and the one the faulting access aimed at are named.
//!
//! A finding is "suspicious" when a benign program has no reason to do
//! it (a privileged or I/O instruction, a pointer into the runner's own
//! memory, an operation the policy refused, a write to code, a limit
//! reached) and a "note" when ordinary bugs do it too (a NULL
//! dereference, a divide by zero): notes are reported but leave the
//! verdict clean. What the audit cannot see on a platform (CPUID and
//! RDTSC executed at CPL3, hypercalls that the host kernel answers) is
//! looked for in the code instead, and said so.
//!
//! One `Audit` per run, in `Kernel::audit`, under the kernel lock like the
//! rest of the kernel's objects: every thread of every process adds to it.

pub mod calls;
pub mod faults;
pub mod places;
pub mod scan;
pub mod uses;

use serde::Serialize;
use std::collections::HashMap;

/// Why a finding was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The policy's `[syscalls]` refused a call.
    RefusedSyscall,
    /// The policy's `[[files]]` refused an access to a file (EACCES,
    /// EPERM or EROFS for a path).
    RefusedFile,
    /// The policy's `[network]` refused a socket, peer or port.
    RefusedNetwork,
    /// A syscall was given a pointer the tunnel refused (EFAULT) into
    /// memory out of user reach.
    BadPointer,
    /// A syscall was given a NULL, unmapped or read-only pointer (EFAULT),
    /// as buggy programs do.
    FaultyPointer,
    /// A limit of the policy was reached: memory, time, descriptors,
    /// processes, bytes written, Linux's IOV_MAX.
    Limit,
    /// A privileged instruction, or a jump or segment load towards
    /// privilege.
    PrivilegedInstruction,
    /// An `in`/`out`/`ins`/`outs`.
    IoInstruction,
    /// `int N` (a software interrupt into a gate of the IDT).
    SoftwareInterrupt,
    /// vmcall, vmmcall and the other VMX/SVM instructions, in the code.
    Hypercall,
    /// CPUID of the hypervisor leaves (0x40000000-0x400000ff), in the code.
    HypervisorProbe,
    /// An access to the runner's supervisor area, the kernel half or a
    /// non-canonical address.
    SupervisorAccess,
    /// Executing memory that is not executable (W^X).
    ExecuteData,
    /// Writing to executable memory (the program's code).
    WriteToCode,
    /// Asking for memory that is writable and executable, or making
    /// writable memory executable (W^X).
    WxMapping,
    /// Entering the runner other than by a real `syscall`: forged flags or
    /// return address, a stack outside every mapping, a forged signal
    /// frame, a way around the monitor's gates.
    ForgedEntry,
    /// The stack grew past its largest size.
    StackExhaustion,
    /// An ordinary crash: a fault benign bugs make too.
    Crash,
}

impl Reason {
    /// How much a finding of this reason weighs.
    pub fn severity(self) -> Severity {
        match self {
            Reason::Crash | Reason::FaultyPointer => Severity::Note,
            _ => Severity::Suspicious,
        }
    }

    /// The reason in words, for the summary line.
    pub fn words(self) -> &'static str {
        match self {
            Reason::RefusedSyscall => "syscall refused by the policy",
            Reason::RefusedFile => "file access refused by the policy",
            Reason::RefusedNetwork => "network access refused by the policy",
            Reason::BadPointer => "pointer into forbidden memory",
            Reason::FaultyPointer => "faulty pointer",
            Reason::Limit => "limit reached",
            Reason::PrivilegedInstruction => "privileged instruction",
            Reason::IoInstruction => "I/O instruction",
            Reason::SoftwareInterrupt => "software interrupt",
            Reason::Hypercall => "hypercall instruction",
            Reason::HypervisorProbe => "hypervisor probe",
            Reason::SupervisorAccess => "access to supervisor memory",
            Reason::ExecuteData => "executing data",
            Reason::WriteToCode => "write to code",
            Reason::WxMapping => "writable and executable memory",
            Reason::ForgedEntry => "forged entry into the runner",
            Reason::StackExhaustion => "stack exhausted",
            Reason::Crash => "crash",
        }
    }
}

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Makes the verdict "suspicious".
    Suspicious,
    /// Reported; the verdict stays "clean".
    Note,
}

/// One thing the program did, with its evidence. Findings alike (same
/// reason, same description) are one finding with a count.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub reason: Reason,
    pub severity: Severity,
    /// What happened, in a line: "wrmsr at 0x400160".
    pub what: String,
    /// How often.
    pub count: u64,
    /// The process that did it first.
    pub pid: u64,
    /// Where: the instruction (a syscall's `syscall`), in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rip: Option<String>,
    /// The mapping `rip` lies in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rip_mapping: Option<String>,
    /// The address an access aimed at, in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Where `addr` lies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr_mapping: Option<String>,
    /// The instruction's bytes at `rip`, in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<String>,
    /// The instruction, decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// How the program went on: "fatal" (the fault ended it), "handled"
    /// (its own signal handler ran), absent for what was not a fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
}

impl Finding {
    /// A finding of `reason` by process `pid`, described by `what`.
    pub fn new(reason: Reason, pid: u64, what: String) -> Finding {
        Finding {
            reason,
            severity: reason.severity(),
            what,
            count: 1,
            pid,
            rip: None,
            rip_mapping: None,
            addr: None,
            addr_mapping: None,
            bytes: None,
            instruction: None,
            outcome: None,
        }
    }

    /// Where it happened.
    pub fn at(mut self, rip: u64, mapping: String) -> Finding {
        self.rip = Some(format!("{rip:#x}"));
        self.rip_mapping = Some(mapping);
        self
    }

    /// The address it aimed at.
    pub fn aimed_at(mut self, addr: u64, mapping: String) -> Finding {
        self.addr = Some(format!("{addr:#x}"));
        self.addr_mapping = Some(mapping);
        self
    }
}

/// The most distinct findings kept; more are counted only.
pub const MAX_FINDINGS: usize = 256;

/// What the audit saw so far.
#[derive(Debug, Default)]
pub struct Audit {
    findings: Vec<Finding>,
    index: HashMap<(Reason, String), usize>,
    /// Findings past [`MAX_FINDINGS`].
    dropped: u64,
    /// Of those, the suspicious ones.
    dropped_suspicious: u64,
}

impl Audit {
    /// Adds `f`, or counts it once more when alike one seen before.
    pub fn add(&mut self, f: Finding) {
        let key = (f.reason, f.what.clone());
        if let Some(&i) = self.index.get(&key) {
            if let Some(seen) = self.findings.get_mut(i) {
                seen.count += 1;
            }
            return;
        }
        if self.findings.len() >= MAX_FINDINGS {
            self.dropped += 1;
            if f.severity == Severity::Suspicious {
                self.dropped_suspicious += 1;
            }
            return;
        }
        self.index.insert(key, self.findings.len());
        self.findings.push(f);
    }

    /// Every finding, in the order first seen.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Whether any finding makes the run suspicious.
    pub fn suspicious(&self) -> bool {
        self.dropped_suspicious > 0
            || self
                .findings
                .iter()
                .any(|f| f.severity == Severity::Suspicious)
    }

    /// The verdict document, once the run ended with `exit_status` and
    /// `ending` (the runner's line for a death, or "exited with N").
    pub fn verdict(&self, program: &str, exit_status: i32, ending: &str) -> Verdict<'_> {
        let mut reasons: Vec<Reason> = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Suspicious)
            .map(|f| f.reason)
            .collect();
        reasons.sort_unstable();
        reasons.dedup();
        Verdict {
            verdict: if self.suspicious() {
                "suspicious"
            } else {
                "clean"
            },
            program: program.to_string(),
            exit_status,
            ending: ending.to_string(),
            reasons,
            findings: &self.findings,
            findings_dropped: self.dropped,
            suspicious_dropped: self.dropped_suspicious,
            unseen: UNSEEN,
        }
    }
}

/// What an audit cannot see, on any platform: said in every verdict.
pub const UNSEEN: &[&str] = &[
    "CPUID and RDTSC run without an exit to the runner (natively at CPL3 on kvm_pvm, answered by the host kernel on hardware KVM): only CPUID of the hypervisor leaves is looked for, in the program's code",
    "hypercalls (vmcall, vmmcall) are answered by the host kernel: they are looked for in the program's code",
    "code in memory the program maps executable later (a JIT, a loaded library) is not scanned; its faults and syscalls are seen",
];

/// `--verdict`'s JSON.
#[derive(Debug, Serialize)]
pub struct Verdict<'a> {
    /// "clean" or "suspicious".
    pub verdict: &'static str,
    pub program: String,
    pub exit_status: i32,
    /// How the run ended, in the runner's words.
    pub ending: String,
    /// The reasons of the suspicious findings, each once.
    pub reasons: Vec<Reason>,
    pub findings: &'a [Finding],
    pub findings_dropped: u64,
    /// Of those, the suspicious ones.
    pub suspicious_dropped: u64,
    /// What the audit could not see.
    pub unseen: &'static [&'static str],
}

impl Verdict<'_> {
    /// The line `runner exec` prints on stderr: the verdict and its first
    /// suspicious finding.
    pub fn summary(&self) -> String {
        let first = self
            .findings
            .iter()
            .find(|f| f.severity == Severity::Suspicious);
        match first {
            None if self.suspicious_dropped > 0 => format!(
                "verdict: suspicious: {} suspicious findings past the first {MAX_FINDINGS} kept",
                self.suspicious_dropped
            ),
            None => {
                let notes = self.findings.len();
                if notes == 0 {
                    "verdict: clean".to_string()
                } else {
                    format!(
                        "verdict: clean ({notes} note{})",
                        if notes == 1 { "" } else { "s" }
                    )
                }
            }
            Some(f) => {
                let others = self
                    .findings
                    .iter()
                    .filter(|g| g.severity == Severity::Suspicious)
                    .count()
                    - 1
                    + self.suspicious_dropped as usize;
                let more = if others == 0 {
                    String::new()
                } else {
                    format!(" (and {others} more)")
                };
                format!(
                    "verdict: suspicious: {}: {}{more}",
                    f.reason.words(),
                    f.what
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alike_findings_are_counted_once() {
        let mut a = Audit::default();
        a.add(Finding::new(Reason::Crash, 2, "divide error".into()));
        a.add(Finding::new(Reason::Crash, 3, "divide error".into()));
        assert_eq!(a.findings().len(), 1);
        assert_eq!(a.findings()[0].count, 2);
        assert!(!a.suspicious(), "a crash alone is a note");
        assert_eq!(a.verdict("p", 136, "").summary(), "verdict: clean (1 note)");
        a.add(Finding::new(Reason::IoInstruction, 2, "out dx, al".into()));
        let v = a.verdict("p", 139, "");
        assert_eq!(v.verdict, "suspicious");
        assert_eq!(v.reasons, vec![Reason::IoInstruction]);
        assert_eq!(
            v.summary(),
            "verdict: suspicious: I/O instruction: out dx, al"
        );
    }

    #[test]
    fn past_the_cap_findings_are_counted_and_weigh_as_they_would() {
        let mut a = Audit::default();
        for i in 0..MAX_FINDINGS + 3 {
            a.add(Finding::new(Reason::Crash, 2, format!("crash {i}")));
        }
        assert_eq!(a.findings().len(), MAX_FINDINGS);
        assert!(!a.suspicious(), "notes past the cap are notes");
        a.add(Finding::new(Reason::IoInstruction, 2, "out".into()));
        assert!(
            a.suspicious(),
            "a suspicious finding past the cap still counts"
        );
        assert_eq!(
            a.verdict("p", 0, "").summary(),
            format!(
                "verdict: suspicious: 1 suspicious findings past the first {MAX_FINDINGS} kept"
            )
        );
    }
}
