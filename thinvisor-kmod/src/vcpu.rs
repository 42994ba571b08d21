//! A vCPU: guest state through the cache, run, and interruption.

use crate::capabilities::Capabilities;
use crate::counters::VcpuCounters;
use crate::cpuid::GuestCpuid;
use crate::error::{KmodError, Result};
use crate::exit::VmExit;
use crate::interrupt::{Interrupter, Shared};
use crate::kick_timer::KickTimer;
use crate::msr;
use crate::remote_run::RemoteRun;
use crate::state_cache::StateCache;
use kvm_bindings::{kvm_fpu, kvm_msr_entry, kvm_regs, kvm_sregs, kvm_xcrs, kvm_xsave, Msrs};
use kvm_ioctls::{SyncReg, VcpuExit, VcpuFd};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes of the XSAVE area KVM_GET_XSAVE and KVM_SET_XSAVE move.
pub const XSAVE_AREA_BYTES: usize = 4096;

/// A vCPU's XSAVE area (standard format): the legacy FXSAVE region (512
/// bytes), the XSAVE header (64) and the extended components at the
/// offsets CPUID leaf 0xD gives.
pub type XsaveArea = [u8; XSAVE_AREA_BYTES];

/// One virtual CPU of a [`crate::Vm`].
pub struct Vcpu {
    pub(crate) fd: VcpuFd,
    id: u64,
    pub(crate) sync_regs: bool,
    pub(crate) cache: StateCache,
    pub(crate) counters: VcpuCounters,
    pub(crate) interrupt: Arc<Shared>,
    /// The helper thread that runs the vCPU once [`Vcpu::run_remotely`]
    /// asked for one (remote_run.rs).
    remote: Option<RemoteRun>,
    /// A run on the helper has started and its exit is not collected yet:
    /// every state call fails meanwhile.
    in_flight: bool,
    /// Bytes of the vCPU's run mapping (KVM_GET_VCPU_MMAP_SIZE): the run
    /// page and, after it, the port I/O data page.
    run_size: usize,
    /// [`Vcpu::tsc_khz`] once asked: it never changes, and asking again
    /// after a lock-down would be a request the filter refuses.
    tsc_khz: Option<u32>,
    /// Not Send: interrupters signal the thread that created the vCPU.
    _owner_thread: std::marker::PhantomData<*const ()>,
}

impl Vcpu {
    pub(crate) fn new(
        mut fd: VcpuFd,
        id: u64,
        cpuid: &GuestCpuid,
        caps: &Capabilities,
        run_size: usize,
    ) -> Result<Vcpu> {
        fd.set_cpuid2(&cpuid.table)
            .map_err(|e| KmodError::ioctl("KVM_SET_CPUID2", e))?;
        if caps.sync_regs {
            fd.set_sync_valid_reg(SyncReg::Register);
        }
        let immediate_exit = &mut fd.get_kvm_run().immediate_exit as *mut u8;
        let interrupt = Shared::new(immediate_exit);
        Ok(Vcpu {
            fd,
            id,
            sync_regs: caps.sync_regs,
            cache: StateCache::default(),
            counters: VcpuCounters {
                ioctls: 1,
                ..Default::default()
            },
            interrupt,
            remote: None,
            in_flight: false,
            run_size,
            tsc_khz: None,
            _owner_thread: std::marker::PhantomData,
        })
    }

    /// The vCPU's index in its VM.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// True when registers travel through the run page (no ioctl per exit).
    pub fn uses_sync_regs(&self) -> bool {
        self.sync_regs
    }

    /// Counters of ioctls and time so far.
    pub fn counters(&self) -> VcpuCounters {
        self.counters
    }

    /// A handle that interrupts this vCPU from another thread.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter::new(self.interrupt.clone())
    }

    /// A kernel timer that kicks this vCPU's thread out of `KVM_RUN` (or a
    /// blocking host call) once `after` has passed, then every `every`,
    /// until the timer is dropped. No thread is involved; see
    /// [`KickTimer`] for the one signal it can miss and why that is safe
    /// for a caller that checks its deadline before each run.
    pub fn kick_timer(&self, after: Duration, every: Duration) -> Result<KickTimer> {
        // A Vcpu never leaves the thread that created it (it is !Send), so
        // the calling thread is the one to kick; its run thread too, when
        // it has one (the guest runs there).
        let mut tids = vec![crate::interrupt::owner_tid()];
        if let Some(r) = &self.remote {
            tids.push(r.tid());
        }
        KickTimer::arm(&tids, after, every)
    }

    /// From now on the vCPU runs on a helper thread of its own
    /// (remote_run.rs), so that this thread can do other work while the
    /// guest runs ([`Vcpu::start_run`], [`Vcpu::finish_run`]). [`Vcpu::run`]
    /// goes through the helper too. Kick timers armed before do not reach
    /// the helper: arm them again.
    pub fn run_remotely(&mut self) -> Result<()> {
        if self.remote.is_none() {
            let r = RemoteRun::start(self.fd.as_raw_fd())?;
            self.interrupt.set_remote(r.pthread);
            self.remote = Some(r);
        }
        Ok(())
    }

    /// The kernel thread id of the vCPU's run thread, once it has one.
    pub fn run_thread_id(&self) -> Option<u64> {
        self.remote
            .as_ref()
            .and_then(|r| u64::try_from(r.tid()).ok())
            .filter(|&t| t != 0)
    }

    /// True when this thread and the vCPU's run thread share the only CPU
    /// the process may use (false without a run thread): the two cannot
    /// both run, so spinning here for the guest only delays it.
    pub fn shares_cpu_with_run_thread(&self) -> bool {
        self.remote.as_ref().is_some_and(RemoteRun::shares_cpu)
    }

    /// True once [`Vcpu::run_remotely`] gave the vCPU its helper.
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// Flushes deferred writes and starts a run on the helper thread
    /// ([`Vcpu::run_remotely`] first). Until [`Vcpu::finish_run`] returns
    /// the exit, every call on the vCPU's state fails.
    pub fn start_run(&mut self) -> Result<()> {
        self.flush()?;
        self.cache.invalidate_reads();
        let Some(r) = self.remote.as_mut() else {
            return Err(KmodError::MissingCapability("a vCPU run thread"));
        };
        self.counters.ioctls += 1;
        self.counters.runs += 1;
        self.in_flight = true;
        r.go();
        Ok(())
    }

    /// True while a run started by [`Vcpu::start_run`] has not been
    /// collected.
    pub fn run_in_flight(&self) -> bool {
        self.in_flight
    }

    /// The exit of the run [`Vcpu::start_run`] started, once it has ended:
    /// None while the guest still runs (after parking up to `wait`).
    pub fn finish_run(&mut self, wait: Option<Duration>) -> Result<Option<VmExit>> {
        let Some(r) = self.remote.as_mut() else {
            return Err(KmodError::MissingCapability("a vCPU run thread"));
        };
        if !self.in_flight {
            return Err(KmodError::Filtered("no run in flight".into()));
        }
        let Some((errno, took)) = r.done(wait) else {
            return Ok(None);
        };
        self.in_flight = false;
        self.counters.in_guest += took;
        let exit = match errno {
            0 => Ok(crate::remote_run::read_exit(
                self.fd.get_kvm_run(),
                self.run_size,
            )),
            libc::EINTR | libc::EAGAIN => Ok(VmExit::Interrupted),
            e => Err(KmodError::Ioctl {
                op: "KVM_RUN",
                source: std::io::Error::from_raw_os_error(e),
            }),
        };
        if matches!(exit, Ok(VmExit::Interrupted)) {
            self.interrupt.clear();
        }
        exit.map(Some)
    }

    /// Err while a run is in flight on the helper.
    pub(crate) fn idle(&self) -> Result<()> {
        if self.in_flight {
            return Err(KmodError::Filtered(
                "vCPU state used while the vCPU runs".into(),
            ));
        }
        Ok(())
    }

    /// General registers. With sync_regs this costs nothing; otherwise one
    /// KVM_GET_REGS per exit.
    pub fn regs(&mut self) -> Result<&kvm_regs> {
        self.idle()?;
        if self.sync_regs {
            return Ok(&self.fd.sync_regs_mut().regs);
        }
        self.fetch_regs()?;
        self.cache
            .regs
            .as_ref()
            .ok_or(KmodError::MissingCapability("register cache"))
    }

    /// General registers, to change; written back on the next run.
    pub fn regs_mut(&mut self) -> Result<&mut kvm_regs> {
        self.idle()?;
        if self.sync_regs {
            self.fd.set_sync_dirty_reg(SyncReg::Register);
            return Ok(&mut self.fd.sync_regs_mut().regs);
        }
        self.fetch_regs()?;
        self.cache.regs_dirty = true;
        self.cache
            .regs
            .as_mut()
            .ok_or(KmodError::MissingCapability("register cache"))
    }

    fn fetch_regs(&mut self) -> Result<()> {
        if self.cache.regs.is_none() {
            self.counters.ioctls += 1;
            self.cache.regs = Some(
                self.fd
                    .get_regs()
                    .map_err(|e| KmodError::ioctl("KVM_GET_REGS", e))?,
            );
        }
        Ok(())
    }

    /// Segment, descriptor-table and control registers (one KVM_GET_SREGS on
    /// first use after an exit).
    pub fn sregs(&mut self) -> Result<&kvm_sregs> {
        self.fetch_sregs()?;
        self.cache
            .sregs
            .as_ref()
            .ok_or(KmodError::MissingCapability("sregs cache"))
    }

    /// Segment and control registers, to change; written on the next run
    /// (through the run page when sync_regs is available).
    pub fn sregs_mut(&mut self) -> Result<&mut kvm_sregs> {
        self.fetch_sregs()?;
        self.cache.sregs_dirty = true;
        self.cache
            .sregs
            .as_mut()
            .ok_or(KmodError::MissingCapability("sregs cache"))
    }

    fn fetch_sregs(&mut self) -> Result<()> {
        self.idle()?;
        if self.cache.sregs.is_none() {
            self.counters.ioctls += 1;
            self.cache.sregs = Some(
                self.fd
                    .get_sregs()
                    .map_err(|e| KmodError::ioctl("KVM_GET_SREGS", e))?,
            );
        }
        Ok(())
    }

    /// FPU/SSE state (one KVM_GET_FPU on first use after an exit).
    pub fn fpu(&mut self) -> Result<&kvm_fpu> {
        self.fetch_fpu()?;
        self.cache
            .fpu
            .as_ref()
            .ok_or(KmodError::MissingCapability("fpu cache"))
    }

    /// FPU/SSE state, to change; written on the next run. It replaces any
    /// XSAVE area read before.
    pub fn fpu_mut(&mut self) -> Result<&mut kvm_fpu> {
        self.fetch_fpu()?;
        self.cache.fpu_dirty = true;
        self.cache.xsave = None;
        self.cache
            .fpu
            .as_mut()
            .ok_or(KmodError::MissingCapability("fpu cache"))
    }

    fn fetch_fpu(&mut self) -> Result<()> {
        self.idle()?;
        self.write_xsave()?;
        if self.cache.fpu.is_none() {
            self.counters.ioctls += 1;
            self.cache.fpu = Some(
                self.fd
                    .get_fpu()
                    .map_err(|e| KmodError::ioctl("KVM_GET_FPU", e))?,
            );
        }
        Ok(())
    }

    /// The vCPU's whole XSAVE area in the standard (non-compacted) format,
    /// as XSAVE would store it: x87, SSE, AVX and AVX-512 state with the
    /// XSAVE header (one KVM_GET_XSAVE on first use after an exit).
    pub fn xsave(&mut self) -> Result<&XsaveArea> {
        self.fetch_xsave()?;
        self.cache
            .xsave
            .as_deref()
            .ok_or(KmodError::MissingCapability("xsave cache"))
    }

    /// The XSAVE area, to change; written on the next run (KVM_SET_XSAVE,
    /// which refuses a header or MXCSR that XRSTOR would fault on). It
    /// replaces any FPU state read before.
    pub fn xsave_mut(&mut self) -> Result<&mut XsaveArea> {
        self.fetch_xsave()?;
        self.cache.xsave_dirty = true;
        self.cache.fpu = None;
        self.cache
            .xsave
            .as_deref_mut()
            .ok_or(KmodError::MissingCapability("xsave cache"))
    }

    fn fetch_xsave(&mut self) -> Result<()> {
        self.idle()?;
        self.write_fpu()?;
        if self.cache.xsave.is_none() {
            self.counters.ioctls += 1;
            let raw = self
                .fd
                .get_xsave()
                .map_err(|e| KmodError::ioctl("KVM_GET_XSAVE", e))?;
            let mut area = Box::new([0u8; XSAVE_AREA_BYTES]);
            for (bytes, word) in area.chunks_exact_mut(4).zip(raw.region.iter()) {
                bytes.copy_from_slice(&word.to_le_bytes());
            }
            self.cache.xsave = Some(area);
        }
        Ok(())
    }

    /// Writes a changed FPU state now (before the XSAVE area is read).
    fn write_fpu(&mut self) -> Result<()> {
        if self.cache.fpu_dirty {
            if let Some(fpu) = self.cache.fpu {
                self.counters.ioctls += 1;
                self.fd
                    .set_fpu(&fpu)
                    .map_err(|e| KmodError::ioctl("KVM_SET_FPU", e))?;
            }
            self.cache.fpu_dirty = false;
        }
        Ok(())
    }

    /// Writes a changed XSAVE area now (before the FPU state is read).
    fn write_xsave(&mut self) -> Result<()> {
        if self.cache.xsave_dirty {
            if let Some(area) = self.cache.xsave.as_deref() {
                let mut raw = kvm_xsave::default();
                for (word, bytes) in raw.region.iter_mut().zip(area.chunks_exact(4)) {
                    *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                }
                self.counters.ioctls += 1;
                // SAFETY: `raw` is a whole 4096-byte kvm_xsave and KVM reads
                // no more of it: it reads past 4096 bytes only for XSTATE
                // features a process enabled dynamically
                // (arch_prctl(ARCH_REQ_XCOMP_GUEST_PERM), AMX), which this
                // crate never requests, so no guest XCR0 includes them.
                unsafe { self.fd.set_xsave(&raw) }
                    .map_err(|e| KmodError::ioctl("KVM_SET_XSAVE", e))?;
            }
            self.cache.xsave_dirty = false;
        }
        Ok(())
    }

    /// Reads a guest-state MSR (one KVM_GET_MSRS). Host and control MSRs are
    /// refused by the filter.
    pub fn msr(&mut self, index: u32) -> Result<u64> {
        self.idle()?;
        if !msr::is_guest_state(index) {
            return Err(KmodError::Filtered(format!(
                "MSR {index:#x} is not guest state"
            )));
        }
        if let Some(&(_, v)) = self
            .cache
            .pending_msrs
            .iter()
            .rev()
            .find(|(i, _)| *i == index)
        {
            return Ok(v);
        }
        let mut msrs = Msrs::from_entries(&[kvm_msr_entry {
            index,
            ..Default::default()
        }])
        .map_err(|_| KmodError::Filtered("MSR list".into()))?;
        self.counters.ioctls += 1;
        let n = self
            .fd
            .get_msrs(&mut msrs)
            .map_err(|e| KmodError::ioctl("KVM_GET_MSRS", e))?;
        match (n, msrs.as_slice().first()) {
            (1, Some(e)) => Ok(e.data),
            _ => Err(KmodError::Filtered(format!(
                "KVM does not support MSR {index:#x}"
            ))),
        }
    }

    /// The frequency of the guest's time-stamp counter in kHz
    /// (KVM_GET_TSC_KHZ, one ioctl). With a reading of `IA32_TSC` this lets
    /// the caller convert guest TSC values to time, as a vDSO does. Asked
    /// once; later calls answer what the first one got.
    pub fn tsc_khz(&mut self) -> Result<u32> {
        if let Some(khz) = self.tsc_khz {
            return Ok(khz);
        }
        self.idle()?;
        self.counters.ioctls += 1;
        let khz = self
            .fd
            .get_tsc_khz()
            .map_err(|e| KmodError::ioctl("KVM_GET_TSC_KHZ", e))?;
        self.tsc_khz = Some(khz);
        Ok(khz)
    }

    /// Writes a guest-state MSR on the next run (batched into one ioctl).
    pub fn set_msr(&mut self, index: u32, value: u64) -> Result<()> {
        if !msr::is_guest_state(index) {
            return Err(KmodError::Filtered(format!(
                "MSR {index:#x} is not guest state"
            )));
        }
        self.cache.pending_msrs.push((index, value));
        Ok(())
    }

    /// Makes a vCPU other than the VM's first runnable at once. With the
    /// local APIC in the kernel, KVM starts every vCPU after the first in
    /// wait-for-SIPI (an application processor waiting for its INIT/SIPI
    /// sequence), where KVM_RUN blocks; the runner starts guest threads
    /// directly in user mode, so it sets the state to runnable instead.
    pub fn make_runnable(&mut self) -> Result<()> {
        self.idle()?;
        self.counters.ioctls += 1;
        self.fd
            .set_mp_state(kvm_bindings::kvm_mp_state {
                mp_state: kvm_bindings::KVM_MP_STATE_RUNNABLE,
            })
            .map_err(|e| KmodError::ioctl("KVM_SET_MP_STATE", e))
    }

    /// Whether KVM holds an exception it will deliver at the next KVM_RUN:
    /// one the vCPU raised (a fault KVM intercepts and reflects, as
    /// kvm_pvm does with every user-mode page fault) or was delivering when
    /// a kick stopped it. Its frame will be pushed with the RIP, RSP and
    /// privilege the vCPU has at that entry.
    pub fn exception_pending(&mut self) -> Result<bool> {
        self.idle()?;
        self.counters.ioctls += 1;
        let events = self
            .fd
            .get_vcpu_events()
            .map_err(|e| KmodError::ioctl("KVM_GET_VCPU_EVENTS", e))?;
        Ok(events.exception.injected != 0 || events.exception.pending != 0)
    }

    /// Drops any exception, interrupt or NMI KVM still holds for this vCPU
    /// from what it ran before. A vCPU kicked out of KVM_RUN while KVM was
    /// delivering a guest fault (the thread was killed, or stopped for a
    /// TLB shootdown) keeps that fault queued and injects it at the next
    /// KVM_RUN; a vCPU that runs another guest thread next (the runner's
    /// pool reuses vCPUs across threads and processes) must not get it, at
    /// its first instruction and with the old thread's CR2.
    pub fn clear_pending_events(&mut self) -> Result<()> {
        self.idle()?;
        self.counters.ioctls += 2;
        let mut events = self
            .fd
            .get_vcpu_events()
            .map_err(|e| KmodError::ioctl("KVM_GET_VCPU_EVENTS", e))?;
        events.exception.injected = 0;
        events.exception.pending = 0;
        events.exception.nr = 0;
        events.exception.has_error_code = 0;
        events.exception.error_code = 0;
        events.exception_has_payload = 0;
        events.exception_payload = 0;
        events.interrupt.injected = 0;
        events.nmi.injected = 0;
        events.nmi.pending = 0;
        self.fd
            .set_vcpu_events(&events)
            .map_err(|e| KmodError::ioctl("KVM_SET_VCPU_EVENTS", e))
    }

    /// Sets XCR0 (which XSAVE state components the guest may enable) on the
    /// next run; KVM refuses values the host cannot back.
    pub fn set_xcr0(&mut self, value: u64) {
        self.cache.pending_xcr0 = Some(value);
    }

    /// Writes every deferred change. Through the run page where possible.
    pub(crate) fn flush(&mut self) -> Result<()> {
        self.idle()?;
        if self.cache.regs_dirty {
            if let Some(regs) = self.cache.regs {
                self.counters.ioctls += 1;
                self.fd
                    .set_regs(&regs)
                    .map_err(|e| KmodError::ioctl("KVM_SET_REGS", e))?;
            }
            self.cache.regs_dirty = false;
        }
        if self.cache.sregs_dirty {
            if let Some(sregs) = self.cache.sregs {
                if self.sync_regs {
                    self.fd.sync_regs_mut().sregs = sregs;
                    self.fd.set_sync_dirty_reg(SyncReg::SystemRegister);
                } else {
                    self.counters.ioctls += 1;
                    self.fd
                        .set_sregs(&sregs)
                        .map_err(|e| KmodError::ioctl("KVM_SET_SREGS", e))?;
                }
            }
            self.cache.sregs_dirty = false;
        }
        self.write_fpu()?;
        self.write_xsave()?;
        if !self.cache.pending_msrs.is_empty() {
            let entries: Vec<kvm_msr_entry> = self
                .cache
                .pending_msrs
                .drain(..)
                .map(|(index, data)| kvm_msr_entry {
                    index,
                    data,
                    ..Default::default()
                })
                .collect();
            let msrs = Msrs::from_entries(&entries)
                .map_err(|_| KmodError::Filtered("too many MSRs".into()))?;
            self.counters.ioctls += 1;
            let n = self
                .fd
                .set_msrs(&msrs)
                .map_err(|e| KmodError::ioctl("KVM_SET_MSRS", e))?;
            if n != entries.len() {
                return Err(KmodError::Filtered(format!(
                    "KVM refused MSR {:#x}",
                    entries.get(n).map_or(0, |e| e.index)
                )));
            }
        }
        if let Some(xcr0) = self.cache.pending_xcr0.take() {
            let mut xcrs = kvm_xcrs {
                nr_xcrs: 1,
                ..Default::default()
            };
            xcrs.xcrs[0].xcr = 0;
            xcrs.xcrs[0].value = xcr0;
            self.counters.ioctls += 1;
            self.fd
                .set_xcrs(&xcrs)
                .map_err(|e| KmodError::ioctl("KVM_SET_XCRS", e))?;
        }
        Ok(())
    }

    /// Flushes deferred writes and runs the guest until the next exit.
    pub fn run(&mut self) -> Result<VmExit> {
        if self.remote.is_some() {
            self.start_run()?;
            loop {
                if let Some(exit) = self.finish_run(Some(Duration::from_secs(1)))? {
                    return Ok(exit);
                }
            }
        }
        self.flush()?;
        self.cache.invalidate_reads();
        self.counters.ioctls += 1;
        self.counters.runs += 1;
        let start = Instant::now();
        let mut result = self.fd.run();
        // A guest page whose host backing another thread of the runner has
        // made read-only for a moment (`GuestMemory::refresh` of a frame
        // that other processes map too) fails a guest write with EFAULT
        // before the instruction completes: entering again retries it once
        // the protection is back (two mprotect calls later).
        let mut retries = 0;
        while matches!(&result, Err(e) if e.errno() == libc::EFAULT) && retries < EFAULT_RETRIES {
            retries += 1;
            self.counters.ioctls += 1;
            std::thread::yield_now();
            result = self.fd.run();
        }
        let exit = match result {
            Ok(exit) => Ok(normalise(exit)),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                Ok(VmExit::Interrupted)
            }
            Err(e) => Err(KmodError::ioctl("KVM_RUN", e)),
        };
        self.counters.in_guest += start.elapsed();
        if matches!(exit, Ok(VmExit::Interrupted)) {
            self.interrupt.clear();
        }
        exit
    }
}

/// How many times [`Vcpu::run`] enters again after KVM_RUN fails with
/// EFAULT before it reports the error.
const EFAULT_RETRIES: u32 = 1000;

fn normalise(exit: VcpuExit<'_>) -> VmExit {
    match exit {
        VcpuExit::IoOut(port, data) => {
            let mut buf = [0u8; 8];
            let n = data.len().min(8);
            buf[..n].copy_from_slice(&data[..n]);
            VmExit::IoOut {
                port,
                size: n as u8,
                data: u64::from_le_bytes(buf),
            }
        }
        VcpuExit::IoIn(port, data) => VmExit::IoIn {
            port,
            size: data.len().min(8) as u8,
        },
        VcpuExit::MmioRead(gpa, data) => VmExit::Mmio {
            gpa,
            len: data.len() as u32,
            write: false,
        },
        VcpuExit::MmioWrite(gpa, data) => VmExit::Mmio {
            gpa,
            len: data.len() as u32,
            write: true,
        },
        VcpuExit::Hlt => VmExit::Hlt,
        VcpuExit::Shutdown => VmExit::Shutdown,
        VcpuExit::Intr => VmExit::Interrupted,
        VcpuExit::FailEntry(reason, _) => VmExit::FailEntry { reason },
        VcpuExit::InternalError => VmExit::InternalError { suberror: 0 },
        VcpuExit::Debug(_) => VmExit::Debug,
        VcpuExit::X86Rdmsr(m) => VmExit::MsrAccess {
            index: m.index,
            write: false,
        },
        VcpuExit::X86Wrmsr(m) => VmExit::MsrAccess {
            index: m.index,
            write: true,
        },
        VcpuExit::Unsupported(r) => VmExit::Other(r),
        _ => VmExit::Other(u32::MAX),
    }
}

impl Drop for Vcpu {
    fn drop(&mut self) {
        if self.in_flight {
            // Never left so by the runner; if it were, the run is ended
            // before the helper and the descriptor go.
            self.interrupter().interrupt();
            while matches!(self.finish_run(Some(Duration::from_millis(10))), Ok(None)) {
                self.interrupter().interrupt();
            }
        }
        self.interrupt.detach();
        // The helper is joined before `fd` closes (fields drop after this).
        self.remote = None;
    }
}
