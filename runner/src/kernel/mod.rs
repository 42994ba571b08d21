//! The kernel objects of the emulated Linux: how a guest process ends
//! (`death.rs`).

pub mod death;
