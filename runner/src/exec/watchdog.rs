//! The wall-clock limit: a thread outside the vCPU that interrupts it when
//! the deadline passes, and keeps interrupting until the run loop notices.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use thinvisor_kmod::Interrupter;

/// A running watchdog; dropping it stops the thread.
pub struct Watchdog {
    fired: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Interrupts the vCPU after `limit`.
    pub fn start(limit: Duration, kick: Interrupter) -> Watchdog {
        let fired = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<()>();
        let flag = fired.clone();
        let thread = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                if !matches!(rx.recv_timeout(limit), Err(RecvTimeoutError::Timeout)) {
                    return;
                }
                flag.store(true, Ordering::SeqCst);
                // Repeat the kick until stopped: covers a kick that lands
                // while the vCPU thread is between two host calls.
                loop {
                    if !kick.interrupt() {
                        return;
                    }
                    if !matches!(
                        rx.recv_timeout(Duration::from_millis(20)),
                        Err(RecvTimeoutError::Timeout)
                    ) {
                        return;
                    }
                }
            })
            .ok();
        Watchdog {
            fired,
            stop: Some(tx),
            thread,
        }
    }

    /// True once the deadline has passed.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
