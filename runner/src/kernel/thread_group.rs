//! A process's threads as the other threads see them: who is alive, how
//! to interrupt each, and how the group ends.
//!
//! Locks: the group's mutex is taken after the kernel lock when both are
//! held (clone, exit, a TLB shootdown), never the other way round; each
//! member's `CpuSync` and `Parker` are leaves taken after it. The host
//! thread that runs a member never holds the group lock while it runs
//! guest code or waits.

use super::death::Death;
use super::parker::Parker;
use super::process::GUEST_PID;
use super::process_table::Tids;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;
use thinvisor_kmod::Interrupter;

/// How the whole group ended.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupEnd {
    /// exit_group, or the last thread's exit: the status.
    Exited(i32),
    /// A fatal signal, the time limit, a policy kill...
    Killed(Death),
    /// The runner itself failed while running a thread (status 125).
    Failed(String),
}

/// What a vCPU's host thread and a thread changing the page tables or the
/// program's code agree on (run/tlb.rs): whether the vCPU may be running
/// guest code, whether it must flush its TLB (and load `root`) before it
/// runs guest code again, and whether it must look at its registers again
/// under the kernel lock first (a syscall site was patched meanwhile).
#[derive(Debug, Default)]
pub struct CpuSync {
    state: Mutex<CpuState>,
    left_guest: Condvar,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct CpuState {
    pub in_guest: bool,
    pub flush: bool,
    pub recheck: bool,
}

impl CpuSync {
    /// Before KVM_RUN: marks the vCPU in the guest and returns whether a
    /// flush or a second look is pending (the caller leaves and prepares
    /// again, under the kernel lock).
    pub fn enter(&self) -> bool {
        let mut s = super::lock(&self.state);
        s.in_guest = true;
        s.flush || s.recheck
    }

    /// Kicks the vCPU out of the guest with `kick` and waits until it is
    /// out; it runs no user code again before its thread has prepared its
    /// entry under the kernel lock (which the caller holds: the caller can
    /// change the program's code meanwhile).
    pub fn hold_out(&self, kick: Option<&Interrupter>) {
        let mut s = super::lock(&self.state);
        s.recheck = true;
        self.wait_out(s, kick);
    }

    /// The second look is being taken (under the kernel lock): whether
    /// one was asked for since the last.
    pub fn rechecked(&self) -> bool {
        std::mem::take(&mut super::lock(&self.state).recheck)
    }

    fn wait_out(&self, mut s: std::sync::MutexGuard<'_, CpuState>, kick: Option<&Interrupter>) {
        while s.in_guest {
            if let Some(k) = kick {
                k.interrupt();
            }
            s = match self
                .left_guest
                .wait_timeout(s, std::time::Duration::from_millis(5))
            {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// After KVM_RUN returned.
    pub fn leave(&self) {
        super::lock(&self.state).in_guest = false;
        self.left_guest.notify_all();
    }

    /// The pending flush was done (the vCPU will execute it before any
    /// user instruction).
    pub fn flushed(&self) {
        super::lock(&self.state).flush = false;
    }

    /// Asks for a flush before the vCPU next runs user code (it is not
    /// running: a reused vCPU before its new thread starts).
    pub fn request_flush(&self) {
        super::lock(&self.state).flush = true;
    }

    /// Whether a flush is pending.
    pub fn flush_pending(&self) -> bool {
        super::lock(&self.state).flush
    }

    /// Asks for a flush, kicks the vCPU out of the guest with `kick` and
    /// waits until it is out. From then on it cannot use a stale
    /// translation: it flushes before it runs user code again.
    pub fn shoot_down(&self, kick: Option<&Interrupter>) {
        let mut s = super::lock(&self.state);
        s.flush = true;
        self.wait_out(s, kick);
    }
}

/// One live thread.
#[derive(Debug, Clone)]
pub struct Member {
    pub tid: u64,
    pub cpu: Arc<CpuSync>,
    pub parker: Arc<Parker>,
    /// Signals other threads sent it (bits, signal N at bit N-1), taken
    /// into its pending set before it next runs user code.
    pub inbox: Arc<AtomicU64>,
    /// Set once its vCPU exists.
    pub interrupter: Option<InterrupterHandle>,
    /// Another thread of the process is execing: this one must end.
    pub zapped: Arc<AtomicBool>,
}

/// An `Interrupter` with a Debug impl.
#[derive(Clone)]
pub struct InterrupterHandle(pub Interrupter);

impl std::fmt::Debug for InterrupterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interrupter")
    }
}

#[derive(Debug)]
struct Members {
    live: BTreeMap<u64, Member>,
    /// The sandbox's tid counter (shared by every process's group).
    tids: Arc<Tids>,
    /// The first thread's tid: the process's pid.
    leader: u64,
    /// Host threads still running a member's loop (the process is torn
    /// down by the last one out once the group has ended).
    running: usize,
    /// The process was torn down (the last host thread out did it).
    torn_down: bool,
    max_threads: u64,
    leader_code: Option<i32>,
    end: Option<GroupEnd>,
}

/// The threads of one process.
#[derive(Debug)]
pub struct ThreadGroup {
    members: Mutex<Members>,
    /// Process-directed signals no thread has taken yet (bits, signal N at
    /// bit N-1): the first thread that does not block one claims it
    /// (`ThreadSignals::take_posted`).
    pub shared_pending: Arc<AtomicU64>,
    ended: Condvar,
    ending: AtomicBool,
    /// The process is gone: its zombie is in the process table (or it was
    /// reaped at once). Its pidfd is readable from then on, when waitid
    /// finds it; `ending` comes earlier, while its threads still run out.
    gone: AtomicBool,
}

/// Why a thread could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    /// `limits.threads` (or the vCPU limit) reached.
    Limit,
    /// The group is ending.
    Ending,
}

impl ThreadGroup {
    /// A group whose leader (tid `GUEST_PID`) is alive, allowing
    /// `max_threads` live threads at most.
    pub fn new(max_threads: u64, leader: Arc<Parker>) -> ThreadGroup {
        ThreadGroup::with_leader(
            GUEST_PID,
            Arc::new(Tids::starting_at(GUEST_PID + 1)),
            max_threads,
            leader,
        )
    }

    /// A group whose leader `leader_tid` is alive, taking new tids from
    /// `tids`, allowing `max_threads` live threads at most.
    pub fn with_leader(
        leader_tid: u64,
        tids: Arc<Tids>,
        max_threads: u64,
        leader: Arc<Parker>,
    ) -> ThreadGroup {
        let leader = Member {
            tid: leader_tid,
            cpu: Arc::new(CpuSync::default()),
            parker: leader,
            inbox: Arc::default(),
            interrupter: None,
            zapped: Arc::default(),
        };
        ThreadGroup {
            members: Mutex::new(Members {
                live: BTreeMap::from([(leader_tid, leader)]),
                tids,
                leader: leader_tid,
                running: 0,
                torn_down: false,
                max_threads: max_threads.max(1),
                leader_code: None,
                end: None,
            }),
            ended: Condvar::new(),
            ending: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            shared_pending: Arc::default(),
        }
    }

    /// A new member (not yet running), with the next tid. A leader that
    /// exited still counts against the limit, as a zombie leader does on
    /// Linux: the first program's keeps its vCPU and host thread until the
    /// run ends, so its threads' vCPUs stay within `limits.threads`.
    pub fn add(&self) -> Result<Member, AddError> {
        let mut m = super::lock(&self.members);
        if m.end.is_some() {
            return Err(AddError::Ending);
        }
        let leader_gone = u64::from(!m.live.contains_key(&m.leader));
        if m.live.len() as u64 + leader_gone >= m.max_threads {
            return Err(AddError::Limit);
        }
        let tid = m.tids.next();
        let member = Member {
            tid,
            cpu: Arc::new(CpuSync::default()),
            parker: Arc::new(Parker::default()),
            inbox: Arc::default(),
            interrupter: None,
            zapped: Arc::default(),
        };
        m.live.insert(tid, member.clone());
        Ok(member)
    }

    /// The member `tid`'s vCPU exists: others can interrupt it. If the
    /// group is already ending, it is interrupted at once. Its host thread
    /// runs the member's loop from now until [`ThreadGroup::leave`].
    pub fn attach(&self, tid: u64, interrupter: Interrupter) {
        let mut m = super::lock(&self.members);
        m.running += 1;
        let ending = m.end.is_some();
        if let Some(member) = m.live.get_mut(&tid) {
            if ending {
                interrupter.interrupt();
            }
            member.interrupter = Some(InterrupterHandle(interrupter));
        }
    }

    /// The member `tid` is gone (exited, or never started). When it was
    /// the last, the group ends with the leader's status (or `code`, this
    /// thread's, when the leader's is unknown).
    pub fn remove(&self, tid: u64, code: i32) {
        let mut m = super::lock(&self.members);
        m.live.remove(&tid);
        if tid == m.leader {
            m.leader_code = Some(code);
        }
        if m.live.is_empty() && m.end.is_none() {
            m.end = Some(GroupEnd::Exited(m.leader_code.unwrap_or(code)));
            self.ending.store(true, Ordering::SeqCst);
            self.ended.notify_all();
        }
    }

    /// Ends the group (the first end wins) and interrupts every member:
    /// running vCPUs leave the guest, waiting threads stop waiting.
    pub fn end(&self, end: GroupEnd) {
        let mut m = super::lock(&self.members);
        if m.end.is_none() {
            m.end = Some(end);
        }
        self.ending.store(true, Ordering::SeqCst);
        for member in m.live.values() {
            member.parker.interrupt();
            if let Some(k) = &member.interrupter {
                k.0.interrupt();
            }
        }
        self.ended.notify_all();
    }

    /// A host thread finished running member `tid`'s loop. True for the
    /// last one out of an ended group: it tears the process down.
    pub fn leave(&self) -> bool {
        let mut m = super::lock(&self.members);
        m.running = m.running.saturating_sub(1);
        if m.running == 0 && m.end.is_some() && !m.torn_down {
            m.torn_down = true;
            return true;
        }
        false
    }

    /// Whether the process was torn down (a member's host thread that
    /// starts late finds nothing to run).
    pub fn is_torn_down(&self) -> bool {
        super::lock(&self.members).torn_down
    }

    /// The sandbox's tid counter this group takes tids from.
    pub fn tids(&self) -> Arc<Tids> {
        super::lock(&self.members).tids.clone()
    }

    /// `limits.threads` as this group applies it.
    pub fn max_threads(&self) -> u64 {
        super::lock(&self.members).max_threads
    }

    /// The process's pid (its first thread's tid).
    pub fn leader(&self) -> u64 {
        super::lock(&self.members).leader
    }

    /// Whether the group is ending (cheap: one atomic load).
    pub fn is_ending(&self) -> bool {
        self.ending.load(Ordering::SeqCst)
    }

    /// The process is gone (run/processes.rs, `tear_down`): its zombie
    /// is in the process table, or it was reaped.
    pub fn mark_gone(&self) {
        self.gone.store(true, Ordering::SeqCst);
    }

    /// Whether [`ThreadGroup::mark_gone`] was called.
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }

    /// How the group ended, once it has.
    pub fn outcome(&self) -> Option<GroupEnd> {
        super::lock(&self.members).end.clone()
    }

    /// Waits until the group has ended or `until` passes.
    pub fn wait_end(&self, until: Instant) -> Option<GroupEnd> {
        let mut m = super::lock(&self.members);
        loop {
            if let Some(e) = &m.end {
                return Some(e.clone());
            }
            let now = Instant::now();
            if now >= until {
                return None;
            }
            m = match self.ended.wait_timeout(m, until - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// The live member `tid`.
    pub fn member(&self, tid: u64) -> Option<Member> {
        super::lock(&self.members).live.get(&tid).cloned()
    }

    /// Posts signal `sig` to thread `tid` and makes it notice: a running
    /// vCPU is kicked out of the guest, a waiting thread stops waiting.
    /// False when no such thread lives.
    pub fn post(&self, tid: u64, sig: u64) -> bool {
        let m = super::lock(&self.members);
        let Some(member) = m.live.get(&tid) else {
            return false;
        };
        member.inbox.fetch_or(1u64 << (sig - 1), Ordering::SeqCst);
        member.parker.signal();
        if let Some(k) = &member.interrupter {
            k.0.interrupt();
        }
        true
    }

    /// Posts process-directed signal `sig`: it waits in the shared set and
    /// every thread is woken or kicked out of the guest, so one that does
    /// not block it takes it.
    pub fn post_process(&self, sig: u64) {
        self.shared_pending
            .fetch_or(1u64 << (sig - 1), Ordering::SeqCst);
        let m = super::lock(&self.members);
        for member in m.live.values() {
            member.parker.signal();
            if let Some(k) = &member.interrupter {
                k.0.interrupt();
            }
        }
    }

    /// Job control: every running vCPU of the group leaves the guest, so
    /// that its thread sees the process stopped before it runs user code
    /// again (run_loop.rs, `prepare_entry`).
    pub fn kick_all(&self) {
        let m = super::lock(&self.members);
        for member in m.live.values() {
            if let Some(k) = &member.interrupter {
                k.0.interrupt();
            }
        }
    }

    /// Job control: every thread parked because its process was stopped
    /// looks again (a thread waiting in a syscall takes this as a stray
    /// wake and goes on waiting).
    pub fn wake_all(&self) {
        let m = super::lock(&self.members);
        for member in m.live.values() {
            member.parker.wake();
        }
    }

    /// Drops the signals in `mask` (bits, signal N at bit N-1) that wait
    /// for the process or in a thread's inbox: SIGCONT discards pending
    /// stop signals and a stop signal pending SIGCONT, as on Linux.
    pub fn discard(&self, mask: u64) {
        self.shared_pending.fetch_and(!mask, Ordering::SeqCst);
        let m = super::lock(&self.members);
        for member in m.live.values() {
            member.inbox.fetch_and(!mask, Ordering::SeqCst);
        }
    }

    /// execve from thread `tid`: every other member must end. Each is
    /// flagged, its vCPU kicked out of the guest and its wait ended; its
    /// run loop ends it (run_loop.rs, `exit_zapped`).
    pub fn zap_others(&self, tid: u64) {
        let m = super::lock(&self.members);
        for member in m.live.values().filter(|x| x.tid != tid) {
            member.zapped.store(true, Ordering::SeqCst);
            member.parker.signal();
            if let Some(k) = &member.interrupter {
                k.0.interrupt();
            }
        }
    }

    /// execve from thread `tid`, now the only one, which takes over the
    /// process's pid as its tid (Linux's de_thread): it becomes the leader.
    pub fn take_over_leader(&self, tid: u64) {
        let mut m = super::lock(&self.members);
        let leader = m.leader;
        if tid == leader {
            return;
        }
        if let Some(mut member) = m.live.remove(&tid) {
            member.tid = leader;
            m.live.insert(leader, member);
        }
        m.leader_code = None;
    }

    /// Every live member but `tid`.
    pub fn others(&self, tid: u64) -> Vec<Member> {
        let m = super::lock(&self.members);
        m.live.values().filter(|x| x.tid != tid).cloned().collect()
    }

    /// How many threads are alive.
    pub fn live(&self) -> usize {
        super::lock(&self.members).live.len()
    }

    /// How many threads other than the leader are alive.
    pub fn live_others(&self) -> usize {
        let m = super::lock(&self.members);
        m.live.len() - usize::from(m.live.contains_key(&m.leader))
    }

    /// Whether thread `tid` is alive.
    pub fn is_alive(&self, tid: u64) -> bool {
        super::lock(&self.members).live.contains_key(&tid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tids_are_handed_out_up_to_the_limit() {
        let g = ThreadGroup::new(3, Arc::new(Parker::default()));
        let a = g.add().ok().map(|m| m.tid);
        let b = g.add().ok().map(|m| m.tid);
        assert_eq!(a, Some(GUEST_PID + 1));
        assert_eq!(b, Some(GUEST_PID + 2));
        assert_eq!(g.add().err(), Some(AddError::Limit));
        g.remove(GUEST_PID + 1, 0);
        let c = g.add().ok().map(|m| m.tid);
        assert_eq!(c, Some(GUEST_PID + 3), "tids are not reused");
        assert_eq!(g.live(), 3);
    }

    #[test]
    fn an_exited_leader_still_counts_against_the_limit() {
        let g = ThreadGroup::new(3, Arc::new(Parker::default()));
        let a = g.add().map(|m| m.tid).unwrap_or(0);
        assert_eq!(g.live_others(), 1);
        g.remove(GUEST_PID, 0);
        let b = g.add().map(|m| m.tid).unwrap_or(0);
        assert_eq!(g.add().err(), Some(AddError::Limit), "leader, {a} and {b}");
        assert_eq!((g.live(), g.live_others()), (2, 2));
    }

    #[test]
    fn the_leader_status_is_the_group_status_when_the_last_thread_exits() {
        let g = ThreadGroup::new(4, Arc::new(Parker::default()));
        let t = g.add().map(|m| m.tid).unwrap_or(0);
        g.remove(GUEST_PID, 7);
        assert_eq!(g.outcome(), None, "another thread is alive");
        g.remove(t, 3);
        assert_eq!(g.outcome(), Some(GroupEnd::Exited(7)));
        assert!(g.is_ending());
    }

    #[test]
    fn the_first_end_wins_and_interrupts_waiters() {
        let leader = Arc::new(Parker::default());
        let g = ThreadGroup::new(4, leader.clone());
        g.end(GroupEnd::Exited(3));
        g.end(GroupEnd::Exited(4));
        assert_eq!(g.outcome(), Some(GroupEnd::Exited(3)));
        assert_eq!(
            leader.park(Instant::now() + std::time::Duration::from_secs(5)),
            super::super::parker::Parked::Interrupted
        );
        assert_eq!(g.add().err(), Some(AddError::Ending));
    }
}
