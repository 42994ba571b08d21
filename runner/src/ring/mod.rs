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
}
