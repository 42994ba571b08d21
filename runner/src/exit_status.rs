//! Exit statuses of `runner` itself (the guest's own statuses and 128+N
//! deaths are in kernel::death).

/// The runner itself failed: bad arguments, bad policy, no KVM.
pub const RUNNER_FAILED: i32 = 125;
/// PROGRAM exists but cannot be loaded.
pub const CANNOT_LOAD: i32 = 126;
