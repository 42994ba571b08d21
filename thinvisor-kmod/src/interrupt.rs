//! Interrupting a running vCPU from another thread: set `immediate_exit` in
//! the vCPU's run page, then kick the vCPU's thread with a signal. Both
//! halves are needed: the flag covers a kick that lands just before the vCPU
//! enters the guest, the signal one that lands inside `KVM_RUN`, or inside a
//! blocking host call the runner makes on the guest's behalf (a `read` of an
//! idle stdin), which then returns EINTR.
//!
//! A `Vcpu` is not `Send`: it lives and dies on the thread that created it,
//! so that thread is alive whenever an interrupter can reach it.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Once};

/// The signal used to kick vCPU threads out of `KVM_RUN`. Its handler does
/// nothing; its only effect is that the ioctl returns EINTR.
pub const KICK_SIGNAL: libc::c_int = libc::SIGUSR2;

/// State shared between a vCPU and its interrupters.
pub(crate) struct Shared {
    inner: Mutex<Target>,
}

struct Target {
    /// `&kvm_run.immediate_exit`; null once the vCPU is gone.
    immediate_exit: *mut u8,
    /// The thread that owns the vCPU (created it, runs it, drops it).
    owner: libc::pthread_t,
    /// The vCPU's run thread, once it has one (remote_run.rs): the guest
    /// runs there, so a kick signals it as well as the owner.
    remote: Option<libc::pthread_t>,
}

/// The owner thread's kernel id, for timers that signal it
/// ([`crate::KickTimer`]). Fixed for the vCPU's life, like the owner.
pub(crate) fn owner_tid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

// SAFETY: the raw pointer is only dereferenced while the mutex is held and the
// vCPU (which owns the run page it points into) is alive; the vCPU clears it
// under the same mutex before the page is unmapped.
unsafe impl Send for Target {}

impl Shared {
    pub(crate) fn new(immediate_exit: *mut u8) -> Arc<Shared> {
        install_kick_handler();
        // SAFETY: pthread_self has no preconditions.
        let owner = unsafe { libc::pthread_self() };
        Arc::new(Shared {
            inner: Mutex::new(Target {
                immediate_exit,
                owner,
                remote: None,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Target> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets `immediate_exit` without signalling anyone: the next `KVM_RUN`
    /// finishes what KVM owes the last exit and returns at once
    /// (`Vcpu::restore`).
    pub(crate) fn set_immediate_exit(&self) {
        let t = self.lock();
        if !t.immediate_exit.is_null() {
            // SAFETY: as in `clear`: non-null means the vCPU and its run page
            // are alive, and the byte is only accessed atomically.
            unsafe { AtomicU8::from_ptr(t.immediate_exit) }.store(1, Ordering::SeqCst);
        }
    }

    /// Clears `immediate_exit` so the next run enters the guest.
    pub(crate) fn clear(&self) {
        let t = self.lock();
        if !t.immediate_exit.is_null() {
            // SAFETY: non-null means the vCPU and its run page are alive (see
            // `Target`); the byte is only accessed atomically from here on.
            unsafe { AtomicU8::from_ptr(t.immediate_exit) }.store(0, Ordering::SeqCst);
        }
    }

    /// The vCPU runs on `helper` from now on (remote_run.rs).
    pub(crate) fn set_remote(&self, helper: libc::pthread_t) {
        self.lock().remote = Some(helper);
    }

    /// Called when the vCPU is dropped: interrupters become no-ops.
    pub(crate) fn detach(&self) {
        self.lock().immediate_exit = std::ptr::null_mut();
    }

    fn kick(&self) -> bool {
        let t = self.lock();
        if t.immediate_exit.is_null() {
            return false;
        }
        // SAFETY: as in `clear`.
        unsafe { AtomicU8::from_ptr(t.immediate_exit) }.store(1, Ordering::SeqCst);
        // SAFETY: the vCPU is attached (checked above, under the lock), and a
        // vCPU never leaves its owner thread (it is !Send) and detaches under
        // this lock when dropped, so the owner thread is alive. The signal's
        // handler is a no-op.
        unsafe {
            libc::pthread_kill(t.owner, KICK_SIGNAL);
        }
        if let Some(helper) = t.remote {
            // SAFETY: the helper lives as long as the vCPU is attached: the
            // vCPU detaches (under this lock) before it joins the helper.
            unsafe {
                libc::pthread_kill(helper, KICK_SIGNAL);
            }
        }
        true
    }
}

/// A handle that interrupts one vCPU from any thread. Cheap to clone.
#[derive(Clone)]
pub struct Interrupter {
    shared: Arc<Shared>,
}

impl Interrupter {
    pub(crate) fn new(shared: Arc<Shared>) -> Interrupter {
        Interrupter { shared }
    }

    /// Makes the vCPU's current or next `run` return `VmExit::Interrupted`.
    /// Returns false when the vCPU no longer exists.
    pub fn interrupt(&self) -> bool {
        self.shared.kick()
    }
}

extern "C" fn on_kick(_: libc::c_int) {}

pub(crate) fn install_kick_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value;
        // the handler is an empty extern "C" fn, async-signal-safe. No
        // SA_RESTART, so KVM_RUN returns EINTR when the signal lands.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_kick as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(KICK_SIGNAL, &sa, std::ptr::null_mut());
        }
    });
}
