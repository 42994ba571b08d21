//! A VM: guest-physical memory slots backed by caller-owned memory, the MSR
//! filter, and vCPU creation.

use crate::capabilities::Capabilities;
use crate::cpuid::GuestCpuid;
use crate::error::{KmodError, Result};
use crate::memory::{GuestMemory, PAGE_SIZE};
use crate::msr;
use crate::vcpu::Vcpu;
use kvm_bindings::{kvm_userspace_memory_region, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY};
use kvm_ioctls::{MsrFilterDefaultAction, MsrFilterRange, MsrFilterRangeFlags, VmFd};
use std::collections::BTreeSet;

/// The least number of shadow page-table pages KVM may keep for a VM
/// ([`Vm::size_shadow_page_cache`]): room for 256 address spaces of about
/// sixteen pages each.
pub const SHADOW_PAGES_FLOOR: u64 = 4096;

/// How the guest may access a memory slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryAccess {
    /// Guest writes allowed (else the slot is read-only; writes exit as MMIO).
    pub write: bool,
    /// Record which pages the guest dirties (see [`Vm::dirty_pages`]).
    pub track_dirty: bool,
}

impl MemoryAccess {
    /// Read-write, no dirty tracking.
    pub const READ_WRITE: MemoryAccess = MemoryAccess {
        write: true,
        track_dirty: false,
    };
    /// Read-only.
    pub const READ_ONLY: MemoryAccess = MemoryAccess {
        write: false,
        track_dirty: false,
    };
}

/// Identifies a memory slot of one VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SlotId(u32);

impl SlotId {
    /// The first slot a VM hands out.
    pub const FIRST: SlotId = SlotId(0);
}

struct Slot {
    gpa: u64,
    memory: GuestMemory,
    access: MemoryAccess,
}

/// A VM. It owns the memory mapped into it, so guest-physical memory can never
/// outlive its host backing; dropping the VM removes every slot from KVM
/// before the memory is freed.
pub struct Vm {
    fd: VmFd,
    cpuid: GuestCpuid,
    caps: Capabilities,
    run_size: usize,
    slots: Vec<Option<Slot>>,
    native_msrs: BTreeSet<u32>,
    next_vcpu_id: u64,
    /// Set by [`Vm::seal_memory_layout`]: slots never change again.
    sealed: bool,
}

impl Vm {
    pub(crate) fn new(
        fd: VmFd,
        cpuid: GuestCpuid,
        caps: Capabilities,
        run_size: usize,
    ) -> Result<Vm> {
        let mut vm = Vm {
            fd,
            cpuid,
            caps,
            run_size,
            slots: Vec::new(),
            native_msrs: BTreeSet::new(),
            next_vcpu_id: 0,
            sealed: false,
        };
        vm.apply_msr_filter()?;
        Ok(vm)
    }

    fn region(&self, id: u32, slot: Option<&Slot>) -> kvm_userspace_memory_region {
        match slot {
            Some(s) => kvm_userspace_memory_region {
                slot: id,
                guest_phys_addr: s.gpa,
                memory_size: s.memory.len(),
                userspace_addr: s.memory.host_addr(),
                flags: (if s.access.write { 0 } else { KVM_MEM_READONLY })
                    | (if s.access.track_dirty {
                        KVM_MEM_LOG_DIRTY_PAGES
                    } else {
                        0
                    }),
            },
            // memory_size 0 deletes the slot.
            None => kvm_userspace_memory_region {
                slot: id,
                ..Default::default()
            },
        }
    }

    fn set_region(&self, region: kvm_userspace_memory_region) -> Result<()> {
        if self.sealed {
            return Err(KmodError::Slot(
                "the VM's memory layout is sealed (the guest is built)".into(),
            ));
        }
        // SAFETY: a region either deletes a slot (size 0) or describes memory
        // owned by a `Slot` in `self.slots`, which stays mapped until the slot
        // is deleted from KVM again (unmap_memory and Drop delete first, then
        // release the memory). Host addresses never leave this crate.
        unsafe { self.fd.set_user_memory_region(region) }
            .map_err(|e| KmodError::ioctl("KVM_SET_USER_MEMORY_REGION", e))
    }

    /// Maps `memory` at guest-physical address `gpa`. The VM keeps the memory
    /// until [`Vm::unmap_memory`] returns it.
    pub fn map_memory(
        &mut self,
        gpa: u64,
        memory: GuestMemory,
        access: MemoryAccess,
    ) -> Result<SlotId> {
        if !gpa.is_multiple_of(PAGE_SIZE) {
            return Err(KmodError::Slot(format!(
                "guest-physical address {gpa:#x} is not page aligned"
            )));
        }
        let end = gpa
            .checked_add(memory.len())
            .ok_or_else(|| KmodError::Slot("guest-physical range overflows".into()))?;
        if !access.write && !self.caps.readonly_mem {
            return Err(KmodError::MissingCapability("KVM_CAP_READONLY_MEM"));
        }
        for s in self.slots.iter().flatten() {
            if gpa < s.gpa + s.memory.len() && s.gpa < end {
                return Err(KmodError::Slot(format!(
                    "{gpa:#x}..{end:#x} overlaps the slot at {:#x}",
                    s.gpa
                )));
            }
        }
        let id = self
            .slots
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.slots.len());
        let slot = Slot {
            gpa,
            memory,
            access,
        };
        self.set_region(self.region(id as u32, Some(&slot)))?;
        if id == self.slots.len() {
            self.slots.push(Some(slot));
        } else {
            self.slots[id] = Some(slot);
        }
        self.size_shadow_page_cache()?;
        Ok(SlotId(id as u32))
    }

    /// Raises KVM's limit on shadow page-table pages (KVM_SET_NR_MMU_PAGES)
    /// to at least [`SHADOW_PAGES_FLOOR`]. With a shadow MMU (kvm_pvm, or
    /// hardware without nested paging) KVM keeps about 2% of the VM's
    /// memory in pages, at least 64: a small guest with many address
    /// spaces in use at once (a process per vCPU, up to 256 of them) then
    /// runs out, and KVM_RUN fails with ENOSPC, where each root needs
    /// several pages of its own. The default stays when it is larger.
    /// Nothing is allocated up front: the limit only bounds the cache.
    fn size_shadow_page_cache(&self) -> Result<()> {
        if !self.caps.shadow_cache_control {
            return Ok(());
        }
        let pages: u64 = self
            .slots
            .iter()
            .flatten()
            .map(|s| s.memory.len() / PAGE_SIZE)
            .sum();
        let default = (pages * 20 / 1000).max(64);
        let limit = default.max(SHADOW_PAGES_FLOOR);
        // SAFETY: KVM_SET_NR_MMU_PAGES takes its argument by value (an
        // unsigned long page count) on this VM's descriptor, which `self`
        // owns; no memory is passed to the kernel.
        let r = unsafe {
            vmm_sys_util::ioctl::ioctl_with_val(
                &self.fd,
                crate::ioctl_numbers::KVM_SET_NR_MMU_PAGES,
                limit as std::os::raw::c_ulong,
            )
        };
        if r < 0 {
            return Err(KmodError::ioctl(
                "KVM_SET_NR_MMU_PAGES",
                kvm_ioctls::Error::last(),
            ));
        }
        Ok(())
    }

    /// Removes a slot from the guest and hands its memory back.
    pub fn unmap_memory(&mut self, id: SlotId) -> Result<GuestMemory> {
        self.slot(id)?;
        self.set_region(self.region(id.0, None))?;
        self.slots[id.0 as usize]
            .take()
            .map(|s| s.memory)
            .ok_or_else(|| KmodError::Slot(format!("no slot {}", id.0)))
    }

    /// Makes KVM forget everything it derived from a slot's memory, and
    /// lets `scrub` change that memory while no guest can reach it: the
    /// slot is deleted from KVM, `scrub` runs, and the same memory is
    /// registered again at the same place with the same access.
    ///
    /// Deleting a slot is what drops KVM's cached view of it: the shadow
    /// page tables a shadow MMU (kvm_pvm, or KVM without EPT/NPT) built
    /// from the guest's page tables, and every translation into the slot.
    /// A shadow MMU notices a change to guest page tables only when the
    /// guest writes them, so a VM whose memory is rewritten from the host
    /// for a new guest (the same page-table frames, new contents) must go
    /// through here before it runs again. No vCPU of the VM may be in
    /// `KVM_RUN` meanwhile (a vCPU's run thread is idle between runs).
    pub fn reset_memory(
        &mut self,
        id: SlotId,
        scrub: impl FnOnce(&mut GuestMemory) -> Result<()>,
    ) -> Result<()> {
        self.slot(id)?;
        self.set_region(self.region(id.0, None))?;
        let memory = &mut self.slots[id.0 as usize]
            .as_mut()
            .ok_or_else(|| KmodError::Slot(format!("no slot {}", id.0)))?
            .memory;
        let scrubbed = scrub(memory);
        // Registered again whatever `scrub` did: the slot's memory stays
        // owned by a registered slot, as everywhere else.
        let region = self.region(id.0, self.slots[id.0 as usize].as_ref());
        self.set_region(region)?;
        scrubbed
    }

    /// How many vCPUs this VM has had (KVM destroys none before the VM).
    pub fn vcpus_created(&self) -> u64 {
        self.next_vcpu_id
    }

    /// Changes a slot's access. KVM cannot change the read-only flag of a live
    /// slot, so the slot is deleted and re-created with the same memory.
    pub fn protect(&mut self, id: SlotId, access: MemoryAccess) -> Result<()> {
        if !access.write && !self.caps.readonly_mem {
            return Err(KmodError::MissingCapability("KVM_CAP_READONLY_MEM"));
        }
        let old = self.slot(id)?.access;
        if old == access {
            return Ok(());
        }
        self.set_region(self.region(id.0, None))?;
        if let Some(s) = self.slots[id.0 as usize].as_mut() {
            s.access = access;
        }
        let region = self.region(id.0, self.slots[id.0 as usize].as_ref());
        self.set_region(region)
    }

    fn slot(&self, id: SlotId) -> Result<&Slot> {
        self.slots
            .get(id.0 as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| KmodError::Slot(format!("no slot {}", id.0)))
    }

    /// The memory behind a slot.
    pub fn memory(&self, id: SlotId) -> Result<&GuestMemory> {
        Ok(&self.slot(id)?.memory)
    }

    /// The memory behind a slot, writable.
    pub fn memory_mut(&mut self, id: SlotId) -> Result<&mut GuestMemory> {
        self.slots
            .get_mut(id.0 as usize)
            .and_then(Option::as_mut)
            .map(|s| &mut s.memory)
            .ok_or_else(|| KmodError::Slot(format!("no slot {}", id.0)))
    }

    /// Page indices (relative to the slot) the guest wrote since the last
    /// call. The slot must have been mapped with `track_dirty`.
    pub fn dirty_pages(&mut self, id: SlotId) -> Result<Vec<u64>> {
        let s = self.slot(id)?;
        if !s.access.track_dirty {
            return Err(KmodError::Slot(format!(
                "slot {} does not track dirty pages",
                id.0
            )));
        }
        let bitmap = self
            .fd
            .get_dirty_log(id.0, s.memory.len() as usize)
            .map_err(|e| KmodError::ioctl("KVM_GET_DIRTY_LOG", e))?;
        let mut pages = Vec::new();
        for (word_index, word) in bitmap.iter().enumerate() {
            for bit in 0..64 {
                if word & (1 << bit) != 0 {
                    pages.push(word_index as u64 * 64 + bit);
                }
            }
        }
        Ok(pages)
    }

    /// Lets the guest read and write `msr` natively, without an exit. Only
    /// MSRs that KVM switches per guest are allowed (see
    /// [`msr::NATIVE_ALLOWABLE_MSRS`]); every other MSR stays denied.
    pub fn allow_native_msr(&mut self, index: u32) -> Result<()> {
        if !msr::is_native_allowable(index) {
            return Err(KmodError::Filtered(format!(
                "MSR {index:#x} cannot be opened to the guest"
            )));
        }
        self.native_msrs.insert(index);
        self.apply_msr_filter()
    }

    /// Installs KVM's MSR filter: default deny, except the MSRs opened with
    /// `allow_native_msr`. Host-initiated accesses (the vCPU cache) are not
    /// affected by the filter; they are filtered by `msr::is_guest_state`.
    fn apply_msr_filter(&mut self) -> Result<()> {
        if !self.caps.msr_filter {
            return Ok(());
        }
        let one_bit = [1u8];
        let all_zero = [0u8];
        // KVM refuses a deny-all filter without ranges (as a guard against
        // mistakes), so the first range explicitly denies MSR 0 (P5_MC_ADDR).
        let explicit_deny = MsrFilterRange {
            flags: MsrFilterRangeFlags::READ | MsrFilterRangeFlags::WRITE,
            base: 0,
            msr_count: 1,
            bitmap: &all_zero,
        };
        let ranges: Vec<MsrFilterRange<'_>> = std::iter::once(explicit_deny)
            .chain(self.native_msrs.iter().map(|&base| MsrFilterRange {
                flags: MsrFilterRangeFlags::READ | MsrFilterRangeFlags::WRITE,
                base,
                msr_count: 1,
                bitmap: &one_bit,
            }))
            .collect();
        self.fd
            .set_msr_filter(MsrFilterDefaultAction::DENY, &ranges)
            .map_err(|e| KmodError::ioctl("KVM_X86_SET_MSR_FILTER", e))
    }

    /// Creates the next vCPU, with the filtered CPUID installed.
    pub fn create_vcpu(&mut self) -> Result<Vcpu> {
        let id = self.next_vcpu_id;
        let fd = self
            .fd
            .create_vcpu(id)
            .map_err(|e| KmodError::ioctl("KVM_CREATE_VCPU", e))?;
        self.next_vcpu_id += 1;
        Vcpu::new(fd, id, &self.cpuid, &self.caps, self.run_size)
    }

    /// Fixes the memory layout for the rest of the VM's life: mapping,
    /// unmapping and protecting slots fail from now on, and dropping the VM
    /// issues no ioctl. A process that refuses KVM_SET_USER_MEMORY_REGION
    /// once its guest is built (the runner's seccomp filter) seals the VM
    /// first, so that dropping it stays within the filter.
    ///
    /// A sealed VM's drop closes the VM file descriptor before freeing the
    /// memory (fields drop in declaration order, `fd` first). Freeing memory
    /// that is still registered in a slot is safe for the host: KVM's MMU
    /// notifier drops every translation of unmapped host pages, as it does
    /// when a process exits with its VMs open. A vCPU of this VM run after
    /// that would only see KVM_RUN fail (the slot's host pages are gone).
    pub fn seal_memory_layout(&mut self) {
        self.sealed = true;
    }

    /// True once [`Vm::seal_memory_layout`] was called.
    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// The CPUID table the guest sees.
    pub fn cpuid(&self) -> &GuestCpuid {
        &self.cpuid
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if self.sealed {
            return;
        }
        for id in 0..self.slots.len() {
            if self.slots[id].is_some() {
                // If deleting fails the memory must not be freed under the
                // guest: leak it instead.
                if self.set_region(self.region(id as u32, None)).is_err() {
                    if let Some(slot) = self.slots[id].take() {
                        std::mem::forget(slot.memory);
                    }
                }
            }
        }
    }
}
