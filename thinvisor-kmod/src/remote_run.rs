//! Running a vCPU on a helper thread, so that the thread that owns it stays
//! free while the guest runs: it can serve requests the guest posts in
//! shared memory (the runner's syscall ring) without the guest exiting.
//!
//! The helper (one per vCPU, started on demand, ended when the vCPU is
//! dropped) does one thing: `KVM_RUN` on the vCPU's descriptor when the
//! owner asks, then tells the owner it returned. Everything else (the state
//! cache, reading the exit from the run page) stays with the owner, which
//! touches none of the vCPU's state while a run is in flight
//! ([`crate::Vcpu::start_run`] makes every state call fail until
//! [`crate::Vcpu::finish_run`] has collected the exit).
//!
//! Once a vCPU has a helper every run of it goes through the helper: KVM
//! binds a vCPU to the task that last ran it and redoes that binding when
//! the task changes (older kernels waited for an RCU grace period,
//! milliseconds, each time), so the runs never alternate. A vCPU may run
//! on its creator first and move to a helper once, mid-run (the runner's
//! `--syscalls auto`); that one move costs nothing measurable here.

use crate::error::{KmodError, Result};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

/// Phases of the helper (`Shared::phase`).
const IDLE: u32 = 0;
const GO: u32 = 1;
const DONE: u32 = 2;
const QUIT: u32 = 3;

/// How many times the helper enters again after KVM_RUN fails with EFAULT
/// (a guest page another thread of the runner made read-only for a moment;
/// see `Vcpu::run`).
const EFAULT_RETRIES: u32 = 1000;

struct Shared {
    phase: AtomicU32,
    /// 0, or the errno KVM_RUN failed with.
    errno: AtomicI32,
    /// The helper's kernel thread id (for kick timers), set before it waits.
    tid: AtomicI32,
    /// The owner, to wake when a run ends.
    owner: Thread,
    /// The process may run on one CPU only: the helper and the owner take
    /// turns on it, so neither spins for the other (`shares_cpu`).
    one_cpu: bool,
}

/// The helper of one vCPU.
pub(crate) struct RemoteRun {
    shared: Arc<Shared>,
    helper: Option<JoinHandle<()>>,
    /// The helper's pthread, for kicks (`interrupt.rs`).
    pub(crate) pthread: libc::pthread_t,
    started: Instant,
}

impl RemoteRun {
    /// Starts the helper for the vCPU whose descriptor is `fd`. The caller
    /// (the vCPU) keeps the descriptor open until this value is dropped.
    pub(crate) fn start(fd: RawFd) -> Result<RemoteRun> {
        let shared = Arc::new(Shared {
            phase: AtomicU32::new(IDLE),
            errno: AtomicI32::new(0),
            tid: AtomicI32::new(0),
            owner: std::thread::current(),
            one_cpu: allowed_cpus() == 1,
        });
        let for_helper = shared.clone();
        // Unnamed: naming a thread is a prctl the runner's seccomp filter
        // does not allow once it is locked down.
        let helper = std::thread::Builder::new()
            .spawn(move || helper_loop(fd, &for_helper))
            .map_err(|e| KmodError::Timer {
                what: "starting the vCPU's run thread",
                source: e,
            })?;
        // The helper records its id before anything else.
        while shared.tid.load(Ordering::Acquire) == 0 {
            std::thread::yield_now();
        }
        use std::os::unix::thread::JoinHandleExt;
        let pthread = helper.as_pthread_t();
        Ok(RemoteRun {
            shared,
            helper: Some(helper),
            pthread,
            started: Instant::now(),
        })
    }

    /// The helper's kernel thread id.
    pub(crate) fn tid(&self) -> libc::pid_t {
        self.shared.tid.load(Ordering::Acquire)
    }

    /// Asks the helper to run the vCPU once.
    pub(crate) fn go(&mut self) {
        self.started = Instant::now();
        self.shared.phase.store(GO, Ordering::Release);
        if let Some(h) = &self.helper {
            h.thread().unpark();
        }
    }

    /// True when the owner and the helper share the only CPU the process
    /// may use (its affinity, which a locked-down runner cannot change):
    /// a wait spun out there only keeps the other from running.
    pub(crate) fn shares_cpu(&self) -> bool {
        self.shared.one_cpu
    }

    /// When the run has ended: Some(errno), 0 for a clean exit, and the
    /// time it took. `wait`: how long to park for it first.
    pub(crate) fn done(&mut self, wait: Option<Duration>) -> Option<(i32, Duration)> {
        if let Some(w) = wait {
            let until = Instant::now() + w;
            while self.shared.phase.load(Ordering::Acquire) != DONE {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                std::thread::park_timeout(until - now);
            }
        }
        if self.shared.phase.load(Ordering::Acquire) != DONE {
            return None;
        }
        self.shared.phase.store(IDLE, Ordering::Release);
        Some((
            self.shared.errno.load(Ordering::Acquire),
            self.started.elapsed(),
        ))
    }
}

impl Drop for RemoteRun {
    fn drop(&mut self) {
        // The owner never drops a vCPU with a run in flight (the vCPU waits
        // for it first), so the helper is idle: it sees QUIT and returns.
        self.shared.phase.store(QUIT, Ordering::Release);
        if let Some(h) = self.helper.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

/// How long the helper spins for the next run before it sleeps: the
/// owner usually handles an exit and starts the next run within this, and
/// a wake-up through the kernel (futex, and an inter-processor interrupt
/// when the helper sleeps on another CPU) costs tens of microseconds in a
/// nested VM. On a single CPU it does not spin at all: the owner could not
/// handle the exit until the spin ran out.
const SPIN_FOR_NEXT: Duration = Duration::from_micros(200);

/// How many CPUs the calling thread may run on (its affinity); 0 when
/// that cannot be read.
fn allowed_cpus() -> usize {
    // SAFETY: an all-zero cpu_set_t is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a cpu_set_t of the size passed; the kernel writes
    // at most that many bytes into it.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if r != 0 {
        return 0;
    }
    // SAFETY: CPU_COUNT only reads the set it is given.
    usize::try_from(unsafe { libc::CPU_COUNT(&set) }).unwrap_or(0)
}

fn helper_loop(fd: RawFd, shared: &Shared) {
    shared
        .tid
        .store(crate::interrupt::owner_tid(), Ordering::Release);
    let mut idle_since = Instant::now();
    loop {
        match shared.phase.load(Ordering::Acquire) {
            QUIT => return,
            GO => {}
            _ => {
                if !shared.one_cpu && idle_since.elapsed() < SPIN_FOR_NEXT {
                    std::hint::spin_loop();
                } else {
                    std::thread::park();
                }
                continue;
            }
        }
        let mut errno = kvm_run(fd);
        let mut retries = 0;
        while errno == libc::EFAULT && retries < EFAULT_RETRIES {
            retries += 1;
            std::thread::yield_now();
            errno = kvm_run(fd);
        }
        shared.errno.store(errno, Ordering::Release);
        shared.phase.store(DONE, Ordering::Release);
        shared.owner.unpark();
        idle_since = Instant::now();
    }
}

/// One KVM_RUN: 0, or the errno it failed with.
fn kvm_run(fd: RawFd) -> i32 {
    // SAFETY: `fd` is the vCPU's descriptor, open for as long as this
    // helper lives (the vCPU drops the helper, joining it, before it
    // closes the descriptor). KVM_RUN takes no argument; the run page it
    // fills is mapped by the vCPU for its whole life and read by the owner
    // only after this call has returned (`phase` DONE, release/acquire).
    let r = unsafe { libc::ioctl(fd, crate::ioctl_numbers::KVM_RUN as _, 0) };
    if r < 0 {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    } else {
        0
    }
}

/// The exit KVM left in the run mapping (`run`, its first page, of a
/// mapping of `run_size` bytes) after a KVM_RUN that returned 0.
pub(crate) fn read_exit(run: &kvm_bindings::kvm_run, run_size: usize) -> crate::exit::VmExit {
    use crate::exit::VmExit;
    use kvm_bindings::*;
    match run.exit_reason {
        KVM_EXIT_IO => {
            // SAFETY: with exit_reason KVM_EXIT_IO the `io` member of the
            // union is the one KVM wrote.
            let io = unsafe { run.__bindgen_anon_1.io };
            let size = io.size.min(8);
            if u32::from(io.direction) == KVM_EXIT_IO_OUT {
                let mut buf = [0u8; 8];
                let base = run as *const kvm_run as *const u8;
                let len = usize::from(size);
                let off = io.data_offset as usize;
                // The data lies in the run mapping (KVM puts it on the page
                // after the struct): checked against the mapping's size
                // before it is read.
                if off.checked_add(len).is_some_and(|e| e <= run_size) {
                    // SAFETY: `run` is the start of the vCPU's run mapping
                    // of `run_size` bytes (kvm-ioctls maps it, hands out
                    // this reference into it, and reads the port data the
                    // same way), mapped and readable while `run` is
                    // borrowed; the range was checked just above.
                    let data = unsafe { std::slice::from_raw_parts(base.add(off), len) };
                    buf[..len].copy_from_slice(data);
                }
                VmExit::IoOut {
                    port: io.port,
                    size,
                    data: u64::from_le_bytes(buf),
                }
            } else {
                VmExit::IoIn {
                    port: io.port,
                    size,
                }
            }
        }
        KVM_EXIT_MMIO => {
            // SAFETY: with exit_reason KVM_EXIT_MMIO the `mmio` member is
            // the one KVM wrote.
            let m = unsafe { run.__bindgen_anon_1.mmio };
            VmExit::Mmio {
                gpa: m.phys_addr,
                len: m.len,
                write: m.is_write != 0,
            }
        }
        KVM_EXIT_HLT => VmExit::Hlt,
        KVM_EXIT_SHUTDOWN => VmExit::Shutdown,
        KVM_EXIT_INTR => VmExit::Interrupted,
        KVM_EXIT_FAIL_ENTRY => {
            // SAFETY: the `fail_entry` member for this exit reason.
            let f = unsafe { run.__bindgen_anon_1.fail_entry };
            VmExit::FailEntry {
                reason: f.hardware_entry_failure_reason,
            }
        }
        KVM_EXIT_INTERNAL_ERROR => {
            // SAFETY: the `internal` member for this exit reason.
            let i = unsafe { run.__bindgen_anon_1.internal };
            VmExit::InternalError {
                suberror: i.suberror,
            }
        }
        KVM_EXIT_DEBUG => VmExit::Debug,
        KVM_EXIT_X86_RDMSR | KVM_EXIT_X86_WRMSR => {
            // SAFETY: the `msr` member for these exit reasons.
            let m = unsafe { run.__bindgen_anon_1.msr };
            VmExit::MsrAccess {
                index: m.index,
                write: run.exit_reason == KVM_EXIT_X86_WRMSR,
            }
        }
        other => VmExit::Other(other),
    }
}
