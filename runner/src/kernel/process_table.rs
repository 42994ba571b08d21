//! The sandbox's processes as the syscalls that name other processes see
//! them (wait4, waitid, kill, setpgid, getppid): pids, parents, process
//! groups and sessions, and the status of each zombie until its parent
//! reaps it. The `Process` objects themselves (address space, descriptors,
//! dispositions) are held by the run (`run/threads.rs`, `Shared`), under
//! the same kernel lock as this table.
//!
//! Pids and tids come from one counter (`Tids`), as on Linux: a process's
//! pid is the tid of its first thread. The first program keeps pid 2
//! (`GUEST_PID`) and its parent, pid 1, is outside the sandbox; orphans
//! are reparented to the first program, which plays init's part: when it
//! ends, the run ends and every other process is killed.

use super::thread_group::ThreadGroup;
use crate::abi::Errno;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The sandbox's one tid (and pid) counter.
#[derive(Debug)]
pub struct Tids(AtomicU64);

impl Tids {
    /// Hands out `first`, then the numbers after it.
    pub fn starting_at(first: u64) -> Tids {
        Tids(AtomicU64::new(first))
    }

    /// The next unused tid; never reused within a run.
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// How a child ended, as wait4 and waitid report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildStatus {
    /// `exit`/`exit_group` with this status (0..=255).
    Exited(i32),
    /// Killed by this signal.
    Killed(i32),
}

impl ChildStatus {
    /// The `int *wstatus` of wait4: `code << 8`, or the signal number.
    pub fn wait_status(self) -> u32 {
        match self {
            ChildStatus::Exited(code) => ((code as u32) & 0xff) << 8,
            ChildStatus::Killed(sig) => (sig as u32) & 0x7f,
        }
    }

    /// waitid's `si_code` (CLD_EXITED, CLD_KILLED) and `si_status`.
    pub fn code_and_status(self) -> (i32, i32) {
        match self {
            ChildStatus::Exited(code) => (crate::abi::constants::CLD_EXITED, code & 0xff),
            ChildStatus::Killed(sig) => (crate::abi::constants::CLD_KILLED, sig),
        }
    }
}

/// A change of a live child's job-control state its parent has not
/// waited for yet (wait4 with WUNTRACED / WCONTINUED, waitid with
/// WSTOPPED / WCONTINUED). A later change replaces an earlier one, as on
/// Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEvent {
    /// Stopped by this signal.
    Stopped(u64),
    /// Continued by SIGCONT.
    Continued,
}

impl JobEvent {
    /// The `int *wstatus` of wait4: `sig << 8 | 0x7f`, or 0xffff.
    pub fn wait_status(self) -> u32 {
        match self {
            JobEvent::Stopped(sig) => (((sig as u32) & 0xff) << 8) | 0x7f,
            JobEvent::Continued => 0xffff,
        }
    }

    /// waitid's `si_code` (CLD_STOPPED, CLD_CONTINUED) and `si_status`.
    pub fn code_and_status(self) -> (i32, i32) {
        match self {
            JobEvent::Stopped(sig) => (crate::abi::constants::CLD_STOPPED, sig as i32),
            JobEvent::Continued => (
                crate::abi::constants::CLD_CONTINUED,
                crate::abi::constants::SIGCONT,
            ),
        }
    }
}

/// Which children a wait names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Any child (wait4 pid -1, waitid P_ALL).
    Any,
    /// The child with this pid.
    Pid(u64),
    /// Any child in this process group.
    Group(u64),
}

/// One process.
#[derive(Debug)]
pub struct Entry {
    pub ppid: u64,
    pub pgid: u64,
    pub sid: u64,
    /// Its threads: how a signal reaches it, and how it is killed.
    pub group: Arc<ThreadGroup>,
    /// The signal its parent gets when it ends (SIGCHLD after fork; 0:
    /// none, as clone allows).
    pub exit_signal: u64,
    /// Set once it has ended, until its parent reaps it.
    pub zombie: Option<ChildStatus>,
    /// It has called execve since fork (setpgid by the parent is EACCES
    /// from then on).
    pub execed: bool,
    /// A vfork child running in its parent's address space, lent to it
    /// until it execs or ends (run/processes.rs): the parent's pid.
    pub borrowed_from: Option<u64>,
    /// A stop or continue its parent has not waited for.
    pub job_event: Option<JobEvent>,
}

/// Every process of the sandbox, the zombies included.
#[derive(Debug)]
pub struct ProcessTable {
    entries: BTreeMap<u64, Entry>,
    /// The first program's pid (init's part: orphans go to it).
    first: u64,
    /// `limits.processes`.
    max: usize,
}

impl ProcessTable {
    /// The table of a run whose first program, `first` with threads
    /// `group`, is alone in its own process group and session; at most
    /// `max` processes (zombies included).
    pub fn new(first: u64, ppid: u64, group: Arc<ThreadGroup>, max: u32) -> ProcessTable {
        let entry = Entry {
            ppid,
            pgid: first,
            sid: first,
            group,
            exit_signal: 0,
            zombie: None,
            execed: true,
            borrowed_from: None,
            job_event: None,
        };
        ProcessTable {
            entries: BTreeMap::from([(first, entry)]),
            first,
            max: (max as usize).max(1),
        }
    }

    /// The first program's pid.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// Whether one more process fits under `limits.processes`.
    pub fn has_room(&self) -> bool {
        self.entries.len() < self.max
    }

    /// How many processes there are, zombies included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty (never: the first program stays).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `limits.processes`.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A forked child `pid` of `parent`, in its parent's group and session.
    pub fn add(
        &mut self,
        pid: u64,
        parent: u64,
        group: Arc<ThreadGroup>,
        exit_signal: u64,
    ) -> Result<(), Errno> {
        if !self.has_room() {
            return Err(Errno::AGAIN);
        }
        let (pgid, sid) = self
            .entries
            .get(&parent)
            .map_or((parent, parent), |p| (p.pgid, p.sid));
        self.entries.insert(
            pid,
            Entry {
                ppid: parent,
                pgid,
                sid,
                group,
                exit_signal,
                zombie: None,
                execed: false,
                borrowed_from: None,
                job_event: None,
            },
        );
        Ok(())
    }

    pub fn get(&self, pid: u64) -> Option<&Entry> {
        self.entries.get(&pid)
    }

    pub fn get_mut(&mut self, pid: u64) -> Option<&mut Entry> {
        self.entries.get_mut(&pid)
    }

    /// Process `pid` ended with `status`: it becomes a zombie, and its
    /// children (live or zombie) now belong to the first program.
    /// Returns its parent and the signal that parent is owed.
    pub fn exited(&mut self, pid: u64, status: ChildStatus) -> Option<(u64, u64)> {
        let first = self.first;
        for e in self.entries.values_mut() {
            if e.ppid == pid {
                e.ppid = first;
            }
        }
        let e = self.entries.get_mut(&pid)?;
        e.zombie = Some(status);
        Some((e.ppid, e.exit_signal))
    }

    /// Forgets zombie `pid` (reaped, or its parent ignores SIGCHLD).
    pub fn reap(&mut self, pid: u64) {
        if self.entries.get(&pid).is_some_and(|e| e.zombie.is_some()) {
            self.entries.remove(&pid);
        }
    }

    fn matches(&self, pid: u64, e: &Entry, parent: u64, which: Which) -> bool {
        e.ppid == parent
            && match which {
                Which::Any => true,
                Which::Pid(p) => p == pid,
                Which::Group(g) => e.pgid == g,
            }
    }

    /// The first zombie among `parent`'s children that `which` names.
    pub fn zombie_child(&self, parent: u64, which: Which) -> Option<(u64, ChildStatus)> {
        self.entries.iter().find_map(|(&pid, e)| {
            let status = e.zombie?;
            self.matches(pid, e, parent, which).then_some((pid, status))
        })
    }

    /// The first live child of `parent` that `which` names with a job
    /// event `wanted` accepts; the event is consumed unless `keep`.
    pub fn job_event_child(
        &mut self,
        parent: u64,
        which: Which,
        wanted: impl Fn(JobEvent) -> bool,
        keep: bool,
    ) -> Option<(u64, JobEvent)> {
        let pid = self.entries.iter().find_map(|(&pid, e)| {
            e.job_event.filter(|&ev| wanted(ev) && e.zombie.is_none())?;
            self.matches(pid, e, parent, which).then_some(pid)
        })?;
        let e = self.entries.get_mut(&pid)?;
        let event = e.job_event?;
        if !keep {
            e.job_event = None;
        }
        Some((pid, event))
    }

    /// Whether process group `pgid` is orphaned (POSIX): no member has a
    /// parent in another group of the same session. The first program's
    /// parent is outside the sandbox and counts for nothing, as a parent
    /// outside the session.
    pub fn is_orphaned_group(&self, pgid: u64) -> bool {
        !self.entries.values().any(|e| {
            e.pgid == pgid
                && e.zombie.is_none()
                && self
                    .entries
                    .get(&e.ppid)
                    .is_some_and(|p| p.pgid != pgid && p.sid == e.sid)
        })
    }

    /// Whether `parent` has a child (live or zombie) that `which` names.
    pub fn has_child(&self, parent: u64, which: Which) -> bool {
        self.entries
            .iter()
            .any(|(&pid, e)| self.matches(pid, e, parent, which))
    }

    /// The live children of `parent`.
    pub fn children_of(&self, parent: u64) -> Vec<u64> {
        self.entries
            .iter()
            .filter(|(_, e)| e.ppid == parent && e.zombie.is_none())
            .map(|(&pid, _)| pid)
            .collect()
    }

    /// The live processes of process group `pgid`.
    pub fn group_members(&self, pgid: u64) -> Vec<u64> {
        self.entries
            .iter()
            .filter(|(_, e)| e.pgid == pgid && e.zombie.is_none())
            .map(|(&pid, _)| pid)
            .collect()
    }

    /// Every live process.
    pub fn live(&self) -> Vec<u64> {
        self.entries
            .iter()
            .filter(|(_, e)| e.zombie.is_none())
            .map(|(&pid, _)| pid)
            .collect()
    }

    /// Every live process's threads.
    pub fn groups(&self) -> Vec<Arc<ThreadGroup>> {
        self.entries
            .values()
            .filter(|e| e.zombie.is_none())
            .map(|e| e.group.clone())
            .collect()
    }

    /// setpgid(pid, pgid) by `caller` (pid 0: the caller; pgid 0: pid).
    /// Linux's rules: the caller itself or one of its children that has
    /// not execed, in the caller's session; the group is the target's own
    /// pid or an existing group of that session; a session leader cannot
    /// move.
    pub fn set_pgid(&mut self, caller: u64, pid: u64, pgid: u64) -> Result<(), Errno> {
        let pid = if pid == 0 { caller } else { pid };
        let pgid = if pgid == 0 { pid } else { pgid };
        if pgid > i32::MAX as u64 {
            return Err(Errno::INVAL);
        }
        let caller_sid = self
            .entries
            .get(&caller)
            .map(|e| e.sid)
            .ok_or(Errno::SRCH)?;
        let target = self
            .entries
            .get(&pid)
            .filter(|e| e.zombie.is_none())
            .ok_or(Errno::SRCH)?;
        if pid != caller {
            if target.ppid != caller {
                return Err(Errno::SRCH);
            }
            if target.execed {
                return Err(Errno::ACCESS);
            }
        }
        if target.sid != caller_sid {
            return Err(Errno::PERM);
        }
        if target.sid == pid {
            return Err(Errno::PERM);
        }
        if pgid != pid
            && !self
                .entries
                .values()
                .any(|e| e.pgid == pgid && e.sid == caller_sid)
        {
            return Err(Errno::PERM);
        }
        if let Some(e) = self.entries.get_mut(&pid) {
            e.pgid = pgid;
        }
        Ok(())
    }

    /// setsid by `pid`: a new session and group led by it, unless a
    /// process group with its pid exists (it leads one already).
    pub fn set_sid(&mut self, pid: u64) -> Result<u64, Errno> {
        if self.entries.values().any(|e| e.pgid == pid) {
            return Err(Errno::PERM);
        }
        let e = self.entries.get_mut(&pid).ok_or(Errno::SRCH)?;
        e.sid = pid;
        e.pgid = pid;
        Ok(pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::parker::Parker;

    fn group() -> Arc<ThreadGroup> {
        Arc::new(ThreadGroup::new(4, Arc::new(Parker::default())))
    }

    #[test]
    fn a_zombie_is_reported_once_and_orphans_go_to_the_first_program() {
        let mut t = ProcessTable::new(2, 1, group(), 8);
        t.add(3, 2, group(), 17).expect("room");
        t.add(4, 3, group(), 17).expect("room");
        assert!(t.has_child(2, Which::Any));
        assert_eq!(t.zombie_child(2, Which::Any), None);
        assert_eq!(t.exited(3, ChildStatus::Exited(5)), Some((2, 17)));
        assert_eq!(t.get(4).map(|e| e.ppid), Some(2), "reparented");
        assert_eq!(
            t.zombie_child(2, Which::Pid(3)),
            Some((3, ChildStatus::Exited(5)))
        );
        t.reap(3);
        assert_eq!(t.zombie_child(2, Which::Any), None);
        assert!(t.has_child(2, Which::Pid(4)));
        assert!(!t.has_child(2, Which::Pid(3)));
    }

    #[test]
    fn the_limit_counts_zombies() {
        let mut t = ProcessTable::new(2, 1, group(), 2);
        t.add(3, 2, group(), 17).expect("room");
        assert_eq!(t.add(4, 2, group(), 17), Err(Errno::AGAIN));
        t.exited(3, ChildStatus::Killed(9));
        assert_eq!(
            t.add(4, 2, group(), 17),
            Err(Errno::AGAIN),
            "a zombie counts"
        );
        t.reap(3);
        assert_eq!(t.add(4, 2, group(), 17), Ok(()));
    }

    #[test]
    fn statuses_encode_as_linux_does() {
        assert_eq!(ChildStatus::Exited(3).wait_status(), 0x300);
        assert_eq!(ChildStatus::Killed(15).wait_status(), 15);
    }

    #[test]
    fn process_groups_follow_linux_rules() {
        let mut t = ProcessTable::new(2, 1, group(), 8);
        t.add(3, 2, group(), 17).expect("room");
        t.add(4, 2, group(), 17).expect("room");
        assert_eq!(t.set_pgid(2, 3, 0), Ok(()));
        assert_eq!(t.set_pgid(2, 4, 3), Ok(()));
        assert_eq!(t.group_members(3), vec![3, 4]);
        assert_eq!(t.set_pgid(2, 2, 0), Err(Errno::PERM), "a session leader");
        assert_eq!(t.set_pgid(3, 4, 0), Err(Errno::SRCH), "not its child");
        assert_eq!(t.set_pgid(2, 4, 99), Err(Errno::PERM), "no such group");
        if let Some(e) = t.get_mut(4) {
            e.execed = true;
        }
        assert_eq!(t.set_pgid(2, 4, 0), Err(Errno::ACCESS));
        assert_eq!(t.set_sid(3), Err(Errno::PERM), "leads a group");
        assert_eq!(t.set_sid(4), Ok(4));
        assert_eq!(t.get(4).map(|e| (e.sid, e.pgid)), Some((4, 4)));
    }
}
