//! Builds a ready-to-run guest from a loaded image: memory, page tables,
//! descriptor tables, entry code, the initial stack, and the vCPU's state at
//! the program's entry point at CPL3.

use crate::abi::constants::{
    MSR_CSTAR, MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_LSTAR, MSR_SFMASK, MSR_STAR,
};
use crate::abi::xstate::{self, XStateLayout};
use crate::guest::address_space::{AddressSpace, MapError};
use crate::guest::clock::{ClockError, ClockParams, GuestClock};
use crate::guest::cpu_area::CpuArea;
use crate::guest::descriptors;
use crate::guest::entry_code;
use crate::guest::frames::FrameAllocator;
use crate::guest::layout::*;
use crate::guest::page_table::{PageTables, NO_EXECUTE, PRESENT, WRITABLE};
use crate::guest::vdso::{self, VdsoError};
use crate::loader::start::{CpuAuxv, StartError, StartSpec};
use crate::loader::Image;
use crate::monitor::{Monitor, MonitorBoot, MonitorError};
use thinvisor_kmod::{
    GuestMemory, Hypervisor, KmodError, MemoryAccess, SlotId, Vcpu, Vm, PAGE_SIZE,
};

/// A guest ready to run its first instruction: the machine, the first
/// thread's vCPU and the first process's address space. The kernel objects
/// take the last two over (`kernel::Objects::for_run`): a thread owns its
/// vCPU, a process its address space.
pub struct Guest {
    pub machine: Machine,
    pub vcpu: Vcpu,
    pub aspace: AddressSpace,
}

/// The VM and what the runner keeps of it for the whole run, whichever
/// thread runs: its memory slot, the entry point, the monitor, the clock.
pub struct Machine {
    pub vm: Vm,
    pub slot: SlotId,
    /// The SYSCALL entry point (LSTAR): the runner's stub, or the monitor's
    /// syscall gate.
    pub lstar: u64,
    /// How every vCPU of this VM is set up (the first at boot, the others
    /// when threads start: run/threads.rs).
    pub cpu_setup: CpuSetup,
    /// The in-VM monitor, when this run uses one.
    pub monitor: Option<Monitor>,
    /// The clock the vDSO and the monitor compute in the VM, when either
    /// is present.
    pub clock: Option<GuestClock>,
    /// Whether the vDSO is mapped (and its data page must be kept filled).
    pub vdso: bool,
    /// What the aux vector says of the CPU (AT_HWCAP, AT_MINSIGSTKSZ) to
    /// the programs this VM starts (execve starts them as boot started the
    /// first).
    pub cpu: CpuAuxv,
}

impl Machine {
    /// At an exit (the guest stopped): keeps the in-VM clocks in step with
    /// the host's (guest/clock.rs), writing new lines where the vDSO and
    /// the monitor read them. No vCPU ioctl; usually one host TSC read.
    pub fn retune_clock(&mut self) -> Result<(), MonitorError> {
        let Some(clock) = self.clock.as_mut() else {
            return Ok(());
        };
        if !clock.retune() {
            return Ok(());
        }
        let params = *clock.params();
        let mem = self.vm.memory_mut(self.slot)?;
        write_clock(mem, &params, self.vdso, self.monitor.is_some())
    }
}

/// Writes the clock's lines where the guest reads them: the vDSO's data
/// page and the monitor's data, for those present.
fn write_clock(
    mem: &mut GuestMemory,
    params: &ClockParams,
    vdso: bool,
    monitor: bool,
) -> Result<(), MonitorError> {
    if vdso {
        vdso::publish(mem, params)?;
    }
    if monitor {
        Monitor::set_clock(mem, params)?;
    }
    Ok(())
}

/// The supervisor state every vCPU of a VM starts with: control
/// registers, descriptor tables (its own: guest/cpu_area.rs), the user
/// segments at CPL3, and the SYSCALL MSRs.
#[derive(Debug, Clone, Copy)]
pub struct CpuSetup {
    /// LSTAR (and CSTAR): the entry stub or the monitor's gate.
    pub lstar: u64,
    /// XCR0 and the XSAVE area's layout, when the guest's FPU state is
    /// an XSAVE area (what signal frames carry: run/fpu_state.rs).
    pub xstate: Option<XStateLayout>,
    /// CR4.OSXSAVE and XCR0 are set (the guest's CPUID table has XSAVE).
    pub osxsave: bool,
}

impl CpuSetup {
    /// Sets `vcpu` up to run user code on the page tables at `root`, with
    /// the descriptor tables of `cpu`. General registers are the caller's.
    pub fn apply(&self, vcpu: &mut Vcpu, cpu: &CpuArea, root: u64) -> Result<(), KmodError> {
        let s = vcpu.sregs_mut()?;
        s.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
        s.cr3 = root;
        s.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | if self.osxsave { CR4_OSXSAVE } else { 0 };
        s.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
        s.gdt.base = cpu.gdt_va;
        s.gdt.limit = descriptors::GDT_SIZE - 1;
        s.idt.base = kva(IDT_PA);
        s.idt.limit = descriptors::IDT_SIZE - 1;
        s.tr = thinvisor_kmod::Segment {
            base: cpu.tss_va,
            limit: (cpu.tss_size() - 1) as u32,
            selector: TSS_SEL,
            type_: 11,
            present: 1,
            ..Default::default()
        };
        s.cs = segment(USER_CS, true);
        let ds = segment(USER_DS, false);
        s.ss = ds;
        s.ds = ds;
        s.es = ds;
        s.fs = ds;
        s.gs = ds;
        vcpu.set_msr(MSR_STAR, STAR)?;
        vcpu.set_msr(MSR_LSTAR, self.lstar)?;
        // Compatibility-mode SYSCALL cannot happen (no 32-bit user code
        // segment); point it at the same entry anyway.
        vcpu.set_msr(MSR_CSTAR, self.lstar)?;
        vcpu.set_msr(MSR_SFMASK, SFMASK)?;
        vcpu.set_msr(MSR_FS_BASE, 0)?;
        vcpu.set_msr(MSR_GS_BASE, 0)?;
        vcpu.set_msr(MSR_KERNEL_GS_BASE, 0)?;
        if let Some(x) = self.xstate.filter(|_| self.osxsave) {
            vcpu.set_xcr0(x.xcr0);
        }
        Ok(())
    }
}

/// The kernel code and data segments (CPL0), for a vCPU the runner sends
/// through the entry code's flush (run/tlb.rs).
pub fn kernel_segments() -> (thinvisor_kmod::Segment, thinvisor_kmod::Segment) {
    (segment(KERNEL_CS, true), segment(KERNEL_DS, false))
}

/// Why a guest could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    Kvm(#[from] KmodError),
    #[error("the program does not fit: {0} (is the memory limit large enough?)")]
    Map(#[from] MapError),
    #[error("cannot map supervisor page: {0}")]
    Tables(#[from] crate::guest::page_table::PageTableError),
    #[error("internal: write outside the mapped stack at {0:#x}")]
    Stack(u64),
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    #[error("internal: a blank VM of {have} bytes cannot hold a guest that needs {need}")]
    BlankTooSmall { have: u64, need: u64 },
    #[error("guest clock: {0}")]
    Clock(#[from] ClockError),
    #[error(transparent)]
    Vdso(#[from] VdsoError),
}

impl BootError {
    /// 126 when the program itself cannot be placed in the guest (it does not
    /// fit the memory limit), else 125: the runner failed.
    pub fn exit_status(&self) -> i32 {
        match self {
            BootError::Map(_) => crate::exit_status::CANNOT_LOAD,
            _ => crate::exit_status::RUNNER_FAILED,
        }
    }
}

/// What the program is started with.
pub struct StartInfo<'a> {
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    pub memory_limit: u64,
    /// Install the in-VM monitor, entered this way.
    pub monitor: Option<MonitorBoot>,
    /// Map the vDSO and name it in the aux vector (only when the policy
    /// leaves the syscalls it answers unrestricted:
    /// `SyscallRules::vdso_allowed`).
    pub vdso: bool,
    /// Map whole, aligned 2 MiB of anonymous memory as 2 MiB pages
    /// (ignored with the monitor: `AddressSpace::huge_pages`).
    pub huge_pages: bool,
    /// The guest's ids (AT_UID, AT_GID and the effective ones).
    pub identity: crate::kernel::process::Identity,
}

const CR0_PE: u64 = 1;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const CR4_OSXSAVE: u64 = 1 << 18;
const EFER_SCE: u64 = 1;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;
/// RFLAGS bits SYSCALL clears: TF, IF, DF, AC, NT (the entry code runs with
/// interrupts and single-step off, whatever the guest had).
const SFMASK: u64 = (1 << 8) | (1 << 9) | (1 << 10) | (1 << 18) | (1 << 14);

/// Builds the supervisor area: descriptor tables, entry code, IST stack,
/// mapped in the kernel half and never user-accessible.
fn build_supervisor(
    mem: &mut GuestMemory,
    aspace: &mut AddressSpace,
    monitor: Option<MonitorBoot>,
) -> Result<(), BootError> {
    descriptors::write_gdt(mem)?;
    descriptors::write_tss(mem)?;
    let mut vectors = entry_code::VECTOR_ENTRY;
    if let Some(boot) = monitor {
        vectors[14] = Monitor::pf_vector(boot, vectors[14]);
    }
    descriptors::write_idt(mem, &vectors)?;
    mem.write(ENTRY_CODE_PA, entry_code::IMAGE)?;
    let data = PRESENT | WRITABLE | NO_EXECUTE;
    let code = PRESENT;
    let mut pages: Vec<(u64, u64)> = vec![
        (GDT_PA, data),
        (IDT_PA, data),
        (TSS_PA, data),
        (ENTRY_DATA_PA, data),
    ];
    for i in 0..ENTRY_CODE_PAGES {
        pages.push((ENTRY_CODE_PA + i * PAGE_SIZE, code));
    }
    let mut pa = IST_STACK_PA;
    while pa < IST_STACK_TOP_PA {
        pages.push((pa, data));
        pa += PAGE_SIZE;
    }
    for (pa, flags) in pages {
        let tables = aspace.tables;
        tables.map(mem, &mut aspace.frames, kva(pa), pa, flags)?;
    }
    Ok(())
}

fn segment(selector: u16, code: bool) -> thinvisor_kmod::Segment {
    thinvisor_kmod::Segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: if code { 11 } else { 3 },
        present: 1,
        dpl: (selector & 3) as u8,
        db: if code { 0 } else { 1 },
        s: 1,
        l: if code { 1 } else { 0 },
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// The guest's memory as [`boot`] lays it out, before any VM exists:
/// supervisor area, page tables, the program's segments and the initial
/// stack. Plain data, so tests and fuzz targets can build one without KVM.
pub struct Memory {
    pub mem: GuestMemory,
    pub aspace: AddressSpace,
    /// The initial stack pointer (at argc).
    pub rsp: u64,
    /// The in-VM monitor, when [`StartInfo::monitor`] asked for it.
    pub monitor: Option<Monitor>,
}

/// Lays out the guest's memory for `image`; `cpu` is what the aux vector
/// says of the guest's CPU.
pub fn build_memory(
    image: &Image,
    start: &StartInfo<'_>,
    cpu: &CpuAuxv,
) -> Result<Memory, BootError> {
    let mut mem = GuestMemory::new(physical_size(start.memory_limit) as usize)?;
    let Laid {
        aspace,
        rsp,
        monitor,
    } = lay_out(&mut mem, image, start, cpu)?;
    Ok(Memory {
        mem,
        aspace,
        rsp,
        monitor,
    })
}

/// What [`lay_out`] built in a guest's memory.
struct Laid {
    aspace: AddressSpace,
    rsp: u64,
    monitor: Option<Monitor>,
}

/// Lays out the guest's memory for `image` in `mem`, fresh (all zeros), of
/// at least `physical_size(start.memory_limit)` bytes: frames beyond that
/// are never handed out, and the limit on user memory is
/// `start.memory_limit` whatever the size.
fn lay_out(
    mem: &mut GuestMemory,
    image: &Image,
    start: &StartInfo<'_>,
    cpu: &CpuAuxv,
) -> Result<Laid, BootError> {
    let phys = mem.len();
    let frames = FrameAllocator::new(FIRST_FREE_PA, phys, start.memory_limit);
    let mut aspace = AddressSpace::new(PageTables::new(PML4_PA), frames);
    aspace.huge_pages = start.huge_pages && start.monitor.is_none();
    build_supervisor(mem, &mut aspace, start.monitor)?;
    let monitor = match start.monitor {
        Some(b) => Some(Monitor::install(mem, &mut aspace, b)?),
        None => None,
    };
    if start.vdso {
        vdso::map(mem, &mut aspace)?;
    }

    let execfn = start.argv.first().cloned().unwrap_or_default();
    let rsp = crate::loader::start::lay_out(
        mem,
        &mut aspace,
        image,
        &StartSpec {
            argv: start.argv,
            envp: start.envp,
            cpu: *cpu,
            vdso: start.vdso,
            memory_limit: start.memory_limit,
            uid: start.identity.uid,
            gid: start.identity.gid,
            execfn: &execfn,
        },
    )
    .map_err(|e| match e {
        StartError::Map(m) => BootError::from(m),
        StartError::Write(addr) => BootError::Stack(addr),
    })?;
    if monitor.is_some() {
        aspace.grant_heap_headroom(mem);
    }
    aspace.needs_tlb_flush = false;
    Ok(Laid {
        aspace,
        rsp,
        monitor,
    })
}

/// Builds the guest for `image`, its memory layout sealed.
pub fn boot(hv: &Hypervisor, image: &Image, start: &StartInfo<'_>) -> Result<Guest, BootError> {
    let mut guest = boot_unsealed(hv, image, start)?;
    // The one slot never changes again; sealing also makes dropping the VM
    // issue no ioctl, which the locked-down runner's filter would refuse.
    guest.machine.vm.seal_memory_layout();
    Ok(guest)
}

/// [`boot`] without sealing the VM's memory layout, for the fuzzer, which
/// maps its guard slot beside the guest's memory before sealing it
/// (`fuzz/canary.rs`).
pub fn boot_unsealed(
    hv: &Hypervisor,
    image: &Image,
    start: &StartInfo<'_>,
) -> Result<Guest, BootError> {
    boot_blank(Blank::new(hv, start.memory_limit)?, image, start)
}

/// A VM built before its program is known: created (CPUID, MSR filter,
/// the split irqchip), its one memory slot mapped, untouched, and its vCPU
/// created. Building one is most of a cold start's kernel work on kvm_pvm
/// (docs/benchmarks.md); `runner serve` keeps them ready. A `Blank` holds a
/// vCPU, so it stays on the thread that built it.
pub struct Blank {
    vm: Vm,
    slot: SlotId,
    vcpu: Vcpu,
}

impl Blank {
    /// A blank VM for programs whose memory limit is at most `memory_limit`.
    pub fn new(hv: &Hypervisor, memory_limit: u64) -> Result<Blank, BootError> {
        // The entry code never halts at CPL0, so the local APIC can stay in
        // the kernel, which makes the VM cheaper to create and destroy.
        let mut vm = hv.create_vm_with(thinvisor_kmod::VmOptions {
            kernel_lapic: hv.capabilities().split_irqchip,
        })?;
        let mem = GuestMemory::new(physical_size(memory_limit) as usize)?;
        let slot = vm.map_memory(0, mem, MemoryAccess::READ_WRITE)?;
        let vcpu = vm.create_vcpu()?;
        Ok(Blank { vm, slot, vcpu })
    }

    /// Asks now what filling it asks KVM with a request the locked-down
    /// runner's filter refuses (the TSC's rate, for the guest's clock),
    /// and seals its memory layout, so that dropping it unfilled (a request
    /// refused) stays within the filter too: for a worker that locks down
    /// before its request (run/ahead.rs).
    pub fn ready_for_lock_down(&mut self) -> Result<(), BootError> {
        self.vcpu.tsc_khz()?;
        self.vm.seal_memory_layout();
        Ok(())
    }

    /// A blank VM from its parts (run/recycle.rs, after a reset).
    pub(super) fn from_parts(vm: Vm, slot: SlotId, vcpu: Vcpu) -> Blank {
        Blank { vm, slot, vcpu }
    }

    /// Its vCPU, which has not run yet (run/recycle.rs takes its snapshot).
    pub(super) fn vcpu_mut(&mut self) -> &mut Vcpu {
        &mut self.vcpu
    }

    /// The host thread its vCPU runs on, when not on its owner's
    /// (`Vcpu::run_remotely`).
    pub fn run_thread(&self) -> Option<u64> {
        self.vcpu.run_thread_id()
    }

    /// Whether a program with `memory_limit` fits this VM's memory.
    pub fn fits(&self, memory_limit: u64) -> bool {
        self.vm
            .memory(self.slot)
            .is_ok_and(|m| m.len() >= physical_size(memory_limit))
    }
}

/// Builds the guest for `image` in `blank` (which must [`Blank::fits`] its
/// memory limit), its memory layout not yet sealed.
pub fn boot_blank(blank: Blank, image: &Image, start: &StartInfo<'_>) -> Result<Guest, BootError> {
    if !blank.fits(start.memory_limit) {
        return Err(BootError::BlankTooSmall {
            have: blank.vm.memory(blank.slot)?.len(),
            need: physical_size(start.memory_limit),
        });
    }
    let Blank {
        mut vm,
        slot,
        mut vcpu,
    } = blank;
    // XSAVE as the guest's CPUID table gives it: CR4.OSXSAVE and XCR0 can
    // be set (hardware KVM).
    let xsave = vm
        .cpuid()
        .query(1, 0)
        .is_some_and(|(_, _, ecx, _)| ecx & (1 << 26) != 0);
    // The state components KVM keeps for the guest (KVM_GET_XSAVE): x87,
    // SSE, AVX and AVX-512 (no MPX, no dynamically enabled AMX). On
    // kvm_pvm the table's leaf 1 shows no XSAVE, yet user code runs on the
    // host's CPU with the host's XCR0 and uses AVX: signal frames carry
    // these components whenever KVM reports AVX among them.
    let xcr0 = vm
        .cpuid()
        .query(0xd, 0)
        .map_or(3, |(eax, _, _, _)| u64::from(eax) & 0xe7);
    let xstate = (xsave || xcr0 & 4 != 0).then(|| {
        XStateLayout::new(xcr0, |i| {
            vm.cpuid()
                .query(0xd, i)
                .map(|(size, offset, _, _)| (size, offset))
        })
    });
    let cpu = CpuAuxv {
        hwcap: vm
            .cpuid()
            .query(1, 0)
            .map_or(0, |(_, _, _, edx)| u64::from(edx)),
        min_signal_stack: xstate::min_signal_stack(xstate.as_ref()),
    };
    let Laid {
        aspace,
        rsp,
        monitor,
    } = lay_out(vm.memory_mut(slot)?, image, start, &cpu)?;
    let lstar = start
        .monitor
        .map_or(entry_code::SYSCALL_ENTRY, Monitor::lstar);
    let cpu_setup = CpuSetup {
        lstar,
        xstate,
        osxsave: xsave,
    };
    cpu_setup.apply(&mut vcpu, &CpuArea::first(), aspace.tables.root)?;

    let r = vcpu.regs_mut()?;
    *r = thinvisor_kmod::Regs::default();
    r.rip = image.start_address();
    r.rsp = rsp;
    r.rflags = 0x202;
    // One calibration for both readers of the clock in the VM.
    let clock = if start.vdso || monitor.is_some() {
        let clock = GuestClock::anchor(&mut vcpu)?;
        let mem = vm.memory_mut(slot)?;
        write_clock(mem, clock.params(), start.vdso, monitor.is_some())?;
        Some(clock)
    } else {
        None
    };
    Ok(Guest {
        machine: Machine {
            vm,
            slot,
            lstar,
            cpu_setup,
            monitor,
            clock,
            vdso: start.vdso,
            cpu,
        },
        vcpu,
        aspace,
    })
}
