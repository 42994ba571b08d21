//! The syscall ring: syscalls without a VM exit (docs/architecture.md,
//! "Exitless syscalls").
//!
//! A guest thread's `syscall` traps out of the VM, which costs 50-100 us
//! on kvm_pvm and 1-3 us on hardware KVM. With the ring on, a site that
//! trapped once is patched to jump to a user-mode stub (stub.rs) that
//! posts the call in the thread's slot page (slot.rs) and spins; the
//! runner thread of that vCPU, free while a helper thread runs the vCPU
//! (thinvisor-kmod's remote runs), serves it with the same handlers, under
//! the same kernel lock and policy, and answers in the slot (run/ring_loop.rs).
//! Calls that could wait, touch the vCPU or change mappings go by trap as
//! before (run/ring_calls.rs); so does every call whose answer is late.

pub mod moved;
pub mod sites;
pub mod slot;
pub mod stub;

/// `--syscalls`: how guest syscalls reach the runner.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum SyscallMode {
    /// Every syscall traps out of the VM (an exit each).
    #[default]
    Exit,
    /// Patched sites post their calls in a shared-memory ring; the rest
    /// trap.
    Ring,
    /// The ring where it pays, decided at start-up ([`SyscallMode::resolve`]):
    /// on kvm_pvm, whose exits cost 50-110 us against the ring's ~1 us round
    /// trip, when the runner has a second CPU for the ring's server;
    /// exits otherwise (hardware KVM's exits cost 1-3 us, and the ring would
    /// keep a second CPU spinning to save that).
    Auto,
}

impl SyscallMode {
    /// The mode a run uses: `Auto` made concrete for a platform whose
    /// exits are slow (`slow_exits`: kvm_pvm) or not, with `cpus` CPUs the
    /// runner may run on.
    pub fn resolve(self, slow_exits: bool, cpus: u32) -> SyscallMode {
        match self {
            SyscallMode::Auto if slow_exits && cpus >= 2 => SyscallMode::Ring,
            SyscallMode::Auto => SyscallMode::Exit,
            chosen => chosen,
        }
    }

    /// For a run that asked for `self` and uses the ring: when each
    /// thread takes it.
    pub fn ring_start(self) -> RingStart {
        match self {
            SyscallMode::Auto => RingStart::OnReuse,
            SyscallMode::Ring | SyscallMode::Exit => RingStart::AtOnce,
        }
    }

    /// The name `--stats` and `runner info` show.
    pub fn name(self) -> &'static str {
        match self {
            SyscallMode::Exit => "exit",
            SyscallMode::Ring => "ring",
            SyscallMode::Auto => "auto",
        }
    }
}

/// When a thread of a run that uses the ring takes it: its vCPU moves to
/// a run thread of its own, and its sites are patched as they trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RingStart {
    /// From the first instruction (`--syscalls ring`).
    #[default]
    AtOnce,
    /// Once the thread traps at a `syscall` site that trapped before, in
    /// this thread or another of its process (`--syscalls auto`). Only a
    /// site used again can gain from the ring, and taking it has a price
    /// that a program whose calls each come from a site of their own never
    /// earns back: the run thread, each exit's hand-over between two
    /// threads, the instruction decoder's tables (0.4 ms on first use), a
    /// patch per site. A static hello (5 calls, 5 sites) or `busybox true`
    /// never pays it; a loop of reads pays one exit more than with the
    /// ring at once, and the decoder's tables within the run
    /// (docs/benchmarks.md, "When the ring starts").
    OnReuse,
}

#[cfg(test)]
mod tests {
    use super::SyscallMode::*;

    #[test]
    fn auto_takes_the_ring_only_where_exits_are_slow_and_a_cpu_is_free() {
        assert_eq!(Auto.resolve(true, 2), Ring);
        assert_eq!(Auto.resolve(true, 1), Exit);
        assert_eq!(Auto.resolve(false, 16), Exit);
        assert_eq!(Ring.resolve(false, 1), Ring);
        assert_eq!(Exit.resolve(true, 16), Exit);
    }

    #[test]
    fn only_auto_waits_for_a_site_used_again() {
        use super::RingStart;
        assert_eq!(Auto.ring_start(), RingStart::OnReuse);
        assert_eq!(Ring.ring_start(), RingStart::AtOnce);
        assert_eq!(Exit.ring_start(), RingStart::AtOnce);
    }
}
