//! The threads of a run: what they share (the kernel lock over the
//! machine, the kernel and the process), how a thread is started on its
//! own vCPU and host thread, and the pool of host threads that outlive
//! their guest threads.
//!
//! # Locks
//!
//! - **The kernel lock** (`Sandbox::state`, a mutex over [`State`]) is held
//!   while a host thread handles an exit of its vCPU: classifying it,
//!   running the syscall's handler, returning. It is never held while a
//!   vCPU runs guest code, nor while a call waits (`Wait`: futex, sleep,
//!   a pipe only another thread can change): the run loop lets it go,
//!   parks on the thread's `Parker`, and takes it again. Blocking host
//!   calls (a read of an idle stdin or socket, poll on host descriptors)
//!   are still made under it; they end at the latest at the deadline.
//!   This one lock is the first step of the finer plan in
//!   docs/architecture.md ("The lock plan").
//! - Taken after it, never before: the thread group's lock
//!   (kernel/thread_group.rs), then a member's `CpuSync` or `Parker`, and
//!   the pool's lock. A TLB shootdown holds the kernel lock and waits on
//!   other vCPUs' `CpuSync`, which their host threads update without the
//!   kernel lock, so it cannot deadlock.
//!
//! # Host threads
//!
//! The first guest thread runs on the host thread that runs the run (the
//! one the deadline's timer kicks). Every other guest thread runs on a
//! host thread of a scope (`std::thread::scope`) that the run joins before
//! it returns, so no host thread outlives the run. A host thread whose
//! guest thread exited keeps its vCPU and waits in the pool for the next
//! clone: KVM cannot destroy one vCPU of a VM, and reusing them keeps the
//! vCPU count at the most threads ever alive at once. The pool serves the
//! threads of every process. A clone or fork that comes while a host
//! thread is on its way back to the pool (its guest thread has exited)
//! waits for it rather than starting another, so the first program's
//! vCPUs never outnumber its `limits.threads`, and no thread gets a vCPU
//! past the VM's `MAX_VCPUS` (it fails with EAGAIN instead). A host thread
//! that panics ends the run ([`EndOnPanic`]) rather than leaving the
//! others waiting for it.

use super::boot::Machine;
use super::deadline::Deadline;
use super::fpu_state::FpuState;
use super::pool::{Offer, Pool};
use super::run_loop::{self, Entry, Return, RunError, ThreadEnd, USER_RFLAGS};
use super::stats::Stats;
use super::syscall_path::SyscallPath;
use crate::abi::constants::{MSR_FS_BASE, MSR_GS_BASE};
use crate::abi::Errno;
use crate::guest::cpu_area::CpuArea;
use crate::guest::layout::MAX_VCPUS;
use crate::kernel::death::Death;
use crate::kernel::process::GUEST_PID;
use crate::kernel::terminal::Terminal;
use crate::kernel::thread_group::{GroupEnd, ThreadGroup};
use crate::kernel::{Kernel, Objects, Process, Thread};
use crate::syscalls::{NewThread, Outcome};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::Scope;
use std::time::{Duration, Instant};
use thinvisor_kmod::{Regs, Vcpu};

/// What the kernel lock guards: the machine, the kernel, every process,
/// the statistics.
pub struct Shared<'a> {
    pub machine: &'a mut Machine,
    pub kernel: &'a mut Kernel,
    /// The first program's process (the run's `Objects` own it).
    first: &'a mut Process,
    /// Every other live process, by pid (run/processes.rs adds them at
    /// fork and removes them when they end).
    pub others: BTreeMap<u64, Process>,
    pub stats: &'a mut Stats,
}

/// One thread's view under the kernel lock: the shared parts and its own
/// process.
pub struct State<'s> {
    pub machine: &'s mut Machine,
    pub kernel: &'s mut Kernel,
    pub process: &'s mut Process,
    pub stats: &'s mut Stats,
}

impl<'a> Shared<'a> {
    /// The view of a thread of process `pid`.
    pub fn view(&mut self, pid: u64) -> Result<State<'_>, RunError> {
        let process = if pid == self.first.identity.pid {
            &mut *self.first
        } else {
            self.others
                .get_mut(&pid)
                .ok_or_else(|| RunError::Internal(format!("no process {pid}")))?
        };
        Ok(State {
            machine: &mut *self.machine,
            kernel: &mut *self.kernel,
            process,
            stats: &mut *self.stats,
        })
    }

    /// Process `pid`, if it lives.
    pub fn process_mut(&mut self, pid: u64) -> Option<&mut Process> {
        if pid == self.first.identity.pid {
            Some(&mut *self.first)
        } else {
            self.others.get_mut(&pid)
        }
    }

    /// The guest threads that run on, or wait for, a host thread of the
    /// pool: every live thread of every process but the first program's
    /// first one (the run's own host thread runs it). A process that is
    /// ending counts none: its host threads are on their way back.
    pub fn pool_threads(&self) -> usize {
        let first = &self.first.threads;
        let mut n = if first.is_ending() {
            0
        } else {
            first.live_others()
        };
        for p in self.others.values() {
            if !p.threads.is_ending() {
                n += p.threads.live();
            }
        }
        n
    }
}

/// What every thread of a run shares.
pub struct Sandbox<'a> {
    state: Mutex<Shared<'a>>,
    /// The first program's threads: when they end, the run ends.
    pub group: Arc<ThreadGroup>,
    pub path: SyscallPath,
    /// The policy's wall time, for death lines.
    pub limit_secs: f64,
    /// When the run's wall-clock limit passes: no wait lasts beyond it.
    pub deadline: Instant,
    pool: Pool<Box<Job>>,
    /// The thread groups of the processes forked since the run started
    /// (a leaf lock): killed when the first program ends, without the
    /// kernel lock, which a child may hold in a blocking host call.
    children: Mutex<Vec<Arc<ThreadGroup>>>,
}

impl<'a> Sandbox<'a> {
    /// A forked process's threads, to be killed with the run. One forked
    /// while the run ends (after `kill_children` looked) is killed here.
    pub fn add_child(&self, group: Arc<ThreadGroup>) {
        {
            let mut c = crate::kernel::lock(&self.children);
            c.retain(|g| !g.is_torn_down());
            c.push(group.clone());
        }
        if self.group.is_ending() {
            group.end(Self::run_ended());
        }
    }

    /// Ends the run: the first program's group with `end`, every other
    /// process killed.
    pub fn end_run(&self, end: GroupEnd) {
        self.group.end(end);
        self.kill_children();
    }

    /// How a process ends when the run does.
    fn run_ended() -> GroupEnd {
        GroupEnd::Killed(Death::Signal {
            signal: crate::abi::constants::SIGKILL,
            cause: "the first program ended".into(),
            rip: 0,
            addr: None,
        })
    }

    /// Kills every forked process (the run is ending: the first program's
    /// group has ended, so a process forked from now on is killed by
    /// `add_child`).
    fn kill_children(&self) {
        let groups = crate::kernel::lock(&self.children).clone();
        for g in groups {
            g.end(Self::run_ended());
        }
    }

    /// Takes the kernel lock.
    pub fn lock(&self) -> MutexGuard<'_, Shared<'a>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The kernel lock when nobody holds it. A thread whose vCPU may be
    /// in the guest (the syscall ring's server) never waits for the lock:
    /// its holder may be waiting for that vCPU to leave the guest
    /// (tlb.rs's shoot-downs).
    pub fn try_lock(&self) -> Option<MutexGuard<'_, Shared<'a>>> {
        match self.state.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

/// Runs the booted guest in `machine` with `objects` (its first thread,
/// process and kernel) until its thread group ends, under `deadline`.
/// `Ok(Ok(code))`: the process exited; `Ok(Err(death))`: it was killed;
/// `Err`: the runner failed.
pub fn run(
    machine: &mut Machine,
    objects: &mut Objects,
    path: SyscallPath,
    deadline: &Deadline,
    limit_secs: f64,
    stats: &mut Stats,
) -> Result<Result<i32, Death>, RunError> {
    let Objects {
        kernel,
        process,
        thread,
    } = objects;
    let group = process.threads.clone();
    group.attach(GUEST_PID, thread.vcpu.interrupter());
    let sb = Sandbox {
        state: Mutex::new(Shared {
            machine,
            kernel,
            first: process,
            others: BTreeMap::new(),
            stats,
        }),
        group: group.clone(),
        path,
        limit_secs,
        deadline: deadline.at(),
        pool: Pool::default(),
        children: Mutex::default(),
    };
    let main = std::thread::scope(|scope| {
        let _unwinding = EndOnPanic(&sb);
        if let Some(pipe) = deadline.relayed() {
            let sb = &sb;
            scope.spawn(move || relay_signals(sb, pipe));
        }
        let r = run_first(&sb, scope, thread, deadline);
        if let Err(e) = &r {
            sb.group.end(GroupEnd::Failed(e.to_string()));
        }
        // The first program's end is the run's: every other process is
        // killed, as a container's are when its init ends.
        sb.kill_children();
        sb.pool.close();
        r
    });
    main?;
    // The first program's shared file mappings reach their files, as the
    // children's do when they end (processes::tear_down).
    {
        let mut g = sb.lock();
        let slot = g.machine.slot;
        let Shared {
            machine,
            kernel,
            first,
            ..
        } = &mut *g;
        if !first.file_maps.is_empty() {
            let mem = machine.vm.memory_mut(slot)?;
            let _ = crate::kernel::file_maps::write_back_all(
                &first.file_maps,
                &mut first.mm,
                mem,
                &mut kernel.budget,
            );
        }
    }
    match group.outcome() {
        Some(GroupEnd::Exited(code)) => Ok(Ok(code)),
        Some(GroupEnd::Killed(death)) => Ok(Err(death)),
        Some(GroupEnd::Failed(why)) => Err(RunError::Internal(why)),
        None => Err(RunError::Internal("the thread group did not end".into())),
    }
}

/// `--forward-signals` and a lent terminal: until the run ends, passes
/// each signal the runner's handler wrote into `pipe` on to the guest, as
/// a kill from outside the sandbox (SI_USER, pid 0): a terminal's
/// (`kernel::terminal::TERMINAL_SIGNALS`, with a terminal lent) to every
/// process of its foreground group, the others to the first process. At
/// most one poll interval (50 ms) late.
fn relay_signals(sb: &Sandbox<'_>, pipe: std::os::fd::BorrowedFd<'_>) {
    loop {
        if sb
            .group
            .wait_end(Instant::now() + Duration::from_millis(50))
            .is_some()
        {
            return;
        }
        let mut buf = [0u8; 64];
        let n = match rustix::io::read(pipe, &mut buf) {
            Ok(n) => n,
            Err(_) => continue,
        };
        if n == 0 {
            return;
        }
        let mut g = sb.lock();
        for &sig in &buf[..n] {
            let sig = u64::from(sig);
            let targets = match g.kernel.terminal {
                Some(t) if Terminal::sends(sig) => g.kernel.procs.group_members(t.foreground),
                _ => vec![GUEST_PID],
            };
            for pid in targets {
                super::processes::signal_from_outside(&mut g, pid, sig);
            }
        }
    }
}

/// Ends the run when a host thread of it panics: without it, the scope
/// would wait forever for the others (idle ones wait for the pool, running
/// ones for the deadline), and the panic would never be reported. The
/// scope then joins them and passes the panic on.
struct EndOnPanic<'s, 'a>(&'s Sandbox<'a>);

impl Drop for EndOnPanic<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0
                .end_run(GroupEnd::Failed("a host thread of the run panicked".into()));
            self.0.pool.close();
        }
    }
}

/// The first thread: runs, and when it exits before the others, waits for
/// the group to end (watching the deadline, whose timer kicks this thread).
fn run_first<'scope, 'env, 'a>(
    sb: &'env Sandbox<'a>,
    scope: &'scope Scope<'scope, 'env>,
    thread: &mut Thread,
    deadline: &Deadline,
) -> Result<(), RunError>
where
    'a: 'env,
{
    if run_loop::run_thread(sb, scope, thread, Some(deadline))? == ThreadEnd::Group {
        return Ok(());
    }
    loop {
        let slice = Instant::now() + Duration::from_millis(50);
        if sb.group.wait_end(slice.min(sb.deadline)).is_some() {
            return Ok(());
        }
        if deadline.passed() {
            sb.group.end(GroupEnd::Killed(Death::TimeLimit {
                rip: 0,
                limit_secs: sb.limit_secs,
            }));
            return Ok(());
        }
        if deadline.client_gone() {
            sb.group.end(GroupEnd::Killed(Death::ClientGone { rip: 0 }));
            return Ok(());
        }
    }
}

/// A thread to start: what clone asked for, and the registers, TLS bases,
/// FPU state and name it inherits from its creator; the process it joins
/// (the creator's for a thread, the new child's for fork).
pub struct Job {
    pub new: NewThread,
    pub group: Arc<ThreadGroup>,
    pub regs: Regs,
    pub fpu: FpuState,
    pub fs_base: u64,
    pub gs_base: u64,
    pub comm: [u8; 16],
}

/// Starts the thread `new` that thread `t` asked for in the syscall
/// returning through `ret` (with registers `r` at the syscall), under the
/// kernel lock `g`. Returns the value for `t`: the new tid, or -EAGAIN
/// when no thread can be started.
pub fn spawn<'scope, 'env, 'a>(
    sb: &'env Sandbox<'a>,
    scope: &'scope Scope<'scope, 'env>,
    g: &mut MutexGuard<'env, Shared<'a>>,
    t: &mut Thread,
    new: NewThread,
    ret: &Return,
    r: &Regs,
) -> Result<u64, RunError>
where
    'a: 'env,
{
    let tid = new.member.tid;
    let st = g.view(t.pid)?;
    if st.machine.monitor.is_some() {
        t.group.remove(tid, 0);
        if st.kernel.reports.first(u64::MAX - 1) {
            crate::say!(
                "runner: clone refused: the in-VM monitor runs one thread; run threaded \
                 programs with --monitor off; returned EAGAIN"
            );
        }
        return Ok(Outcome::errno_value(Errno::AGAIN));
    }
    // From now on several vCPUs share the address space (tlb.rs).
    st.process.mm.share();
    let regs = child_regs(r, ret, new.stack);
    let job = Job {
        group: t.group.clone(),
        fs_base: new.tls.unwrap_or(t.fs_base),
        gs_base: t.gs_base,
        regs,
        fpu: FpuState::save(&mut t.vcpu, g.machine.cpu_setup.xstate.as_ref())?,
        comm: t.comm,
        new,
    };
    let others = g.pool_threads();
    match start(sb, scope, Box::new(job), others) {
        Ok(()) => Ok(tid),
        Err(e) => {
            t.group.remove(tid, 0);
            // After the run's end nothing sees the answer.
            if e.is_reported() && g.kernel.reports.first(u64::MAX - 2) {
                crate::say!("runner: clone failed: {e}; returned EAGAIN");
            }
            Ok(Outcome::errno_value(Errno::AGAIN))
        }
    }
}

/// Why a thread got no host thread.
#[derive(Debug, thiserror::Error)]
pub enum NotStarted {
    /// The run is over (the first program's group ended meanwhile, which
    /// can happen without the kernel lock: the deadline, a panic).
    #[error("the run is ending")]
    RunEnded,
    /// Every vCPU the VM can have runs a guest thread.
    #[error("all {MAX_VCPUS} vCPUs of the VM run threads")]
    NoVcpu,
    #[error("cannot start a host thread ({0})")]
    Host(std::io::Error),
}

impl NotStarted {
    /// Whether it is worth a line on stderr.
    pub fn is_reported(&self) -> bool {
        !matches!(self, NotStarted::RunEnded)
    }
}

/// The registers a new thread or forked child starts with: its creator's
/// at the syscall (`r`, returning through `ret`), with RAX 0, returning to
/// where the syscall returns, on `stack` (0: the creator's stack).
pub fn child_regs(r: &Regs, ret: &Return, stack: u64) -> Regs {
    let user_rsp = match ret.entry {
        Entry::Frame(f) => f.rsp,
        Entry::Sysret => r.rsp,
    };
    let flags = (ret.user_flags & USER_RFLAGS) | 0x202;
    let mut regs = *r;
    regs.rax = 0;
    regs.rip = ret.user_rip;
    regs.rcx = ret.user_rip;
    regs.rflags = flags;
    regs.r11 = flags;
    regs.rsp = if stack != 0 { stack } else { user_rsp };
    regs
}

/// Hands `job` to a host thread of the pool that is idle or on its way
/// back, or starts a new one. `others` is [`Shared::pool_threads`], `job`'s
/// thread included, taken under the kernel lock the caller holds. No host
/// thread starts once the run has ended.
pub fn start<'scope, 'env, 'a>(
    sb: &'env Sandbox<'a>,
    scope: &'scope Scope<'scope, 'env>,
    job: Box<Job>,
    others: usize,
) -> Result<(), NotStarted>
where
    'a: 'env,
{
    if sb.group.is_ending() {
        return Err(NotStarted::RunEnded);
    }
    let job = match sb.pool.offer(job, others) {
        Offer::Queued => return Ok(()),
        Offer::Start(job) => job,
        Offer::Closed => return Err(NotStarted::RunEnded),
        Offer::Full => return Err(NotStarted::NoVcpu),
    };
    // Unnamed: naming a thread is a prctl the locked-down runner refuses.
    std::thread::Builder::new()
        .spawn_scoped(scope, move || worker(sb, scope, job))
        .map(|_| ())
        .map_err(|e| {
            sb.pool.not_started();
            NotStarted::Host(e)
        })
}

/// A host thread of the pool: creates its vCPU once, runs the guest
/// threads it is given one after another, and ends with the run.
fn worker<'scope, 'env, 'a>(
    sb: &'env Sandbox<'a>,
    scope: &'scope Scope<'scope, 'env>,
    first: Box<Job>,
) where
    'a: 'env,
{
    let _unwinding = EndOnPanic(sb);
    let mut cpu: Option<(Vcpu, CpuArea)> = None;
    let mut job = first;
    loop {
        let tid = job.new.member.tid;
        let group = job.group.clone();
        match run_job(sb, scope, &mut cpu, *job) {
            Ok(()) => {}
            Err(e) => {
                group.remove(tid, 0);
                sb.end_run(GroupEnd::Failed(format!("thread {tid}: {e}")));
                break;
            }
        }
        if sb.group.is_ending() {
            break;
        }
        match sb.pool.next() {
            Some(j) => job = j,
            None => break,
        }
    }
    // What this vCPU cost goes into the run's statistics.
    if let Some((vcpu, _)) = &cpu {
        sb.lock().stats.add_vcpu(vcpu.counters());
    }
}

/// Runs one guest thread on this host thread's vCPU (made on first use).
fn run_job<'scope, 'env, 'a>(
    sb: &'env Sandbox<'a>,
    scope: &'scope Scope<'scope, 'env>,
    cpu: &mut Option<(Vcpu, CpuArea)>,
    job: Job,
) -> Result<(), RunError>
where
    'a: 'env,
{
    let reused = cpu.is_some();
    let member = job.new.member;
    let group = job.group;
    let pid = group.leader();
    let (vcpu, area, root) = {
        let mut g = sb.lock();
        if group.is_torn_down() || g.process_mut(pid).is_none() {
            // Its process ended before this host thread got to it.
            group.remove(member.tid, 0);
            return Ok(());
        }
        let State {
            machine,
            process,
            kernel,
            ..
        } = g.view(pid)?;
        let ring = kernel.syscall_mode == crate::ring::SyscallMode::Ring
            && kernel.ring_start == crate::ring::RingStart::AtOnce;
        let (mut vcpu, area) = match cpu.take() {
            Some((mut vcpu, area)) => {
                // A fault KVM was delivering to the guest thread this vCPU
                // ran before (killed, or stopped by a kick) must not reach
                // this one.
                vcpu.clear_pending_events()?;
                (vcpu, area)
            }
            None => {
                let mut vcpu = machine.vm.create_vcpu()?;
                vcpu.make_runnable()?;
                // With the syscall ring taken from the start, the guest runs
                // on the vCPU's own helper thread from its first run on;
                // under `auto` it moves there later, if at all (ring_loop.rs).
                if ring {
                    vcpu.run_remotely()?;
                }
                let mem = machine.vm.memory_mut(machine.slot)?;
                let area = CpuArea::build(mem, &mut process.mm, vcpu.id())
                    .map_err(|e| RunError::Internal(e.to_string()))?;
                (vcpu, area)
            }
        };
        let root = process.mm.tables.root;
        machine.cpu_setup.apply(&mut vcpu, &area, root)?;
        *vcpu.regs_mut()? = job.regs;
        job.fpu.load(&mut vcpu)?;
        // The segment bases are the TLS bases in 64-bit mode; KVM_SET_SREGS
        // (pending from `apply`) would overwrite MSR writes made before it.
        let s = vcpu.sregs_mut()?;
        s.fs.base = job.fs_base;
        s.gs.base = job.gs_base;
        vcpu.set_msr(MSR_FS_BASE, job.fs_base)?;
        vcpu.set_msr(MSR_GS_BASE, job.gs_base)?;
        (vcpu, area, root)
    };
    // A reused vCPU may still hold translations from before its last
    // thread exited (shootdowns since then skipped it): flush on entry.
    if reused {
        member.cpu.request_flush();
    }
    let mut thread = Thread::cloned(vcpu, &member, area, job.comm, root, group.clone());
    thread.clear_child_tid = job.new.clear_child_tid;
    thread.signals.mask = job.new.signal_mask;
    thread.fs_base = job.fs_base;
    thread.gs_base = job.gs_base;
    group.attach(member.tid, thread.vcpu.interrupter());
    // Kicked at the run's deadline (and every REPEAT after), as the first
    // thread is: a blocking host call this thread makes under the kernel
    // lock then returns, and the thread ends the group (run_loop.rs).
    let left = sb.deadline.saturating_duration_since(Instant::now());
    let deadline_kick = thread
        .vcpu
        .kick_timer(left.max(Duration::from_micros(1)), super::deadline::REPEAT);
    let end = match deadline_kick {
        Ok(kick) => {
            let end = run_loop::run_thread(sb, scope, &mut thread, None);
            drop(kick);
            end
        }
        Err(e) => Err(e.into()),
    };
    if group.leave() && pid != sb.group.leader() {
        // The last host thread out of an ended child process.
        super::processes::tear_down(sb, pid, &group)?;
    }
    let area = thread.cpu;
    *cpu = Some((thread.into_vcpu(), area));
    end.map(|_| ())
}
