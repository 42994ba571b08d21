//! Building and describing the guest: layout, page tables, descriptor
//! tables, entry code, initial stack, address space, the vDSO and the clock
//! it reads.

pub mod address_space;
pub mod clock;
pub mod cpu_area;
pub mod descriptors;
pub mod entry_code;
pub mod frames;
pub mod initial_stack;
pub mod layout;
pub mod monitor_image;
pub mod page_table;
pub mod vdso;
