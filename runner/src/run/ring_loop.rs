//! The runner's side of the syscall ring (ring/): while a thread's vCPU
//! runs on its helper thread, the thread's own host thread spins on the
//! thread's slot and serves the requests posted there, with the handlers,
//! policy checks and kernel lock of the trap path. It also patches sites
//! as they trap, and puts a thread stopped inside ring code back where the
//! program is before anything else looks at it.
//!
//! Locking: the slot lives in guest memory, inside the kernel lock's
//! `Shared`; every look at it takes the lock (uncontended, tens of ns) and
//! walks the page tables again, so a slot the program unmapped or moved is
//! never written through a stale translation. The lock is let go between
//! looks, so other threads go on. While its vCPU may be in the guest the
//! server only *tries* the lock: a holder may be shooting down TLBs and
//! waiting for this very vCPU to leave the guest (tlb.rs), which it does
//! once the server, seeing the exit, stops serving.

use super::deadline::Deadline;
use super::frame::{self, Frame};
use super::ring_calls as servable;
use super::run_loop::{dispatch_call, flush_others, RunError, USER_RFLAGS};
use super::signal_delivery::{self, Location};
use super::threads::{Sandbox, State};
use crate::abi::constants::MSR_GS_BASE;
use crate::guest::address_space::MmapFlags;
use crate::guest::layout::USER_END;
use crate::guest::page_table::{Prot, COPY_ON_WRITE};
use crate::kernel::thread_group::GroupEnd;
use crate::kernel::Thread;
use crate::ring::sites::{Patched, Resume, SlotView};
use crate::ring::{slot, RingStart, SyscallMode};
use crate::syscalls::CallerRegs;
use crate::syscalls::{self, table, Outcome};
use std::time::{Duration, Instant};
use thinvisor_kmod::{GuestMemory, VmExit, PAGE_SIZE};

/// How long the runner's thread spins without a request before it sleeps
/// until the vCPU exits. Requests posted while it sleeps are withdrawn by
/// the guest (whose spin budget drops to `GUEST_SPIN_ASLEEP`) and trap.
const HOST_SPIN: Duration = Duration::from_micros(100);
/// How many times the guest stub spins (`pause`, about 11 ns here) for
/// the runner's thread to take its request while that thread is awake, and
/// while it sleeps. An awake server takes a request within a fraction of a
/// microsecond (one it has taken is waited for however long it takes), so
/// a budget of ~25 us only runs out when the server is not on a CPU, and
/// then trapping is better than spinning on.
const GUEST_SPIN_AWAKE: u64 = 2_000;
const GUEST_SPIN_ASLEEP: u64 = 1;
/// How long one sleep for the vCPU's exit lasts before it looks again at
/// the deadline and the client, and how often it looks while it spins.
const SLEEP_SLICE: Duration = Duration::from_millis(20);
const LOOK_EVERY: Duration = Duration::from_millis(20);
/// How many idle turns of the serving loop (a look at the slot each) go
/// by between two reads of the clock.
const LOOK_SPINS: u32 = 32;

/// Whether thread `t` runs with the ring this time: moves its vCPU to a
/// run thread once it is due (`auto`), maps its slot and points its GS
/// base at it the first time (and after an execve). False when the run
/// does not use the ring, the thread has not used a site again yet, the
/// process turned it off, or its memory has no room for the slot.
pub fn prepare(st: &mut State<'_>, t: &mut Thread) -> Result<bool, RunError> {
    if st.kernel.syscall_mode != SyscallMode::Ring {
        return Ok(false);
    }
    // A vfork child runs on its parent's lent memory until it execs or
    // ends: a slot mapped there would stay in the parent's address space.
    let borrowed = st
        .kernel
        .procs
        .get(t.pid)
        .is_some_and(|e| e.borrowed_from.is_some());
    if borrowed {
        return Ok(false);
    }
    if st.process.ring.disabled {
        if t.ring_slot.take().is_some() {
            set_gs(t, t.gs_base)?;
        }
        return Ok(false);
    }
    if t.ring_slot.is_some() {
        return awake(st, t);
    }
    let Some(va) = slot::slot_va(t.vcpu.id()) else {
        return Ok(false);
    };
    // A page the program mapped there itself stays: no ring then (and no
    // run thread for a vCPU that has none yet).
    if !st.process.ring.owns_slot(va) && st.process.mm.is_mapped(va) {
        return Ok(false);
    }
    if !t.vcpu.is_remote() && !move_to_run_thread(st, t)? {
        return Ok(false);
    }
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    let mm = &mut st.process.mm;
    if !st.process.ring.owns_slot(va) {
        if mm
            .mmap_anonymous(mem, va, PAGE_SIZE, Prot::RW, MmapFlags::NOREPLACE)
            .is_err()
        {
            return Ok(false);
        }
        // The program's own memory calls never move, unmap or replace it
        // (the stub would write into whatever took its place).
        mm.guard(va, va + PAGE_SIZE);
        st.process.ring.slot_mapped(va);
    }
    let Some(pa) = slot_pa(st, va)? else {
        return Ok(false);
    };
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    // A slot a thread that ended used before: a fresh one.
    mem.write(pa, &[0u8; 0x70])?;
    mem.write_u64(pa + slot::STUB_STACK, va + PAGE_SIZE)?;
    set_gs(t, va)?;
    t.ring_slot = Some(va);
    awake(st, t)
}

/// Under `RingStart::OnReuse`: once the thread has trapped at a site that
/// trapped before ([`note_trap`]), its vCPU runs on a run thread of its
/// own from now on, so that this thread is free to serve its ring. True
/// once it does. (KVM binds a vCPU to the task that runs it; it moves
/// once, never back.)
fn move_to_run_thread(st: &mut State<'_>, t: &mut Thread) -> Result<bool, RunError> {
    if !t.ring_due && st.kernel.ring_start != RingStart::AtOnce {
        return Ok(false);
    }
    t.vcpu.run_remotely()?;
    // Kick timers armed before reach this thread only: the thread's timer
    // kick is armed again, now for its run thread too. (The deadline's
    // need not be: while the run thread is in the guest, this thread
    // serves the ring and looks at the deadline itself, `stop_if_over`.)
    t.timers_seen = st.process.timers_changed.wrapping_sub(1);
    super::timer_firing::arm_kick(st, t)?;
    Ok(true)
}

/// A syscall trap at `syscall_at`, under `RingStart::OnReuse` before the
/// thread has the ring: a site that trapped before (in any thread of the
/// process) makes the thread take the ring now, before the trap is served,
/// so that this very site is patched by this trap.
pub fn note_trap(st: &mut State<'_>, t: &mut Thread, syscall_at: u64) -> Result<(), RunError> {
    if st.kernel.syscall_mode == SyscallMode::Ring
        && st.kernel.ring_start == RingStart::OnReuse
        && !t.ring_due
        && !t.vcpu.is_remote()
        && st.process.ring.trapped_before(syscall_at)
    {
        t.ring_due = true;
        prepare(st, t)?;
    }
    Ok(())
}

/// Tells the guest the server is awake (it spins long for an answer),
/// unless the server shares the runner's only CPU with the guest's run
/// thread, where the guest's spin would only keep the server off the CPU.
/// False when the slot is not the program's own writable page now.
fn awake(st: &mut State<'_>, t: &Thread) -> Result<bool, RunError> {
    let Some(pa) = t.ring_slot.map(|va| slot_pa(st, va)).transpose()?.flatten() else {
        return Ok(false);
    };
    let spin = if t.vcpu.shares_cpu_with_run_thread() {
        GUEST_SPIN_ASLEEP
    } else {
        GUEST_SPIN_AWAKE
    };
    st.machine
        .vm
        .memory_mut(st.machine.slot)?
        .write_u64(pa + slot::SPIN, spin)?;
    Ok(true)
}

fn set_gs(t: &mut Thread, base: u64) -> Result<(), RunError> {
    t.vcpu.sregs_mut()?.gs.base = base;
    t.vcpu.set_msr(MSR_GS_BASE, base)?;
    Ok(())
}

/// The guest-physical page of the slot at `va` when the program has it
/// mapped writable as its own (not shared by a fork): the only state in
/// which the runner reads or writes it.
fn slot_pa(st: &mut State<'_>, va: u64) -> Result<Option<u64>, RunError> {
    let mem = st.machine.vm.memory(st.machine.slot)?;
    Ok(st
        .process
        .mm
        .translate(mem, va)
        .filter(|t| t.user_writable() && t.flags & COPY_ON_WRITE == 0)
        .map(|t| t.pa))
}

/// Reads the fields the fix-up and the server need.
fn read_slot(mem: &GuestMemory, pa: u64) -> Result<SlotView, RunError> {
    let state = mem
        .atomic_u32(pa + slot::STATE)?
        .load(std::sync::atomic::Ordering::Acquire);
    let mut b = [0u8; 0x70];
    mem.read(pa, &mut b)?;
    let mut req = [0u8; slot::REQUEST_BYTES];
    let at = slot::NR as usize;
    req.copy_from_slice(&b[at..at + slot::REQUEST_BYTES]);
    let word = |o: u64| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[o as usize..o as usize + 8]);
        u64::from_le_bytes(w)
    };
    Ok(SlotView {
        state,
        verdict: word(slot::VERDICT) as u32,
        request: slot::Request::from_bytes(&req),
        result: word(slot::RESULT),
        saved_rsp: word(slot::SAVED_RSP),
    })
}

/// Runs thread `t`'s vCPU once on its helper, serving the ring meanwhile,
/// and returns the exit. `deadline`: the first thread's (its client may
/// hang up).
pub fn run(
    sb: &Sandbox<'_>,
    t: &mut Thread,
    deadline: Option<&Deadline>,
) -> Result<VmExit, RunError> {
    t.vcpu.start_run()?;
    match serve_while_running(sb, t, deadline) {
        Ok(exit) => Ok(exit),
        Err(e) => {
            // The run ends before the error goes up: the vCPU is never left
            // running without its server.
            loop {
                t.vcpu.interrupter().interrupt();
                if !matches!(t.vcpu.finish_run(Some(SLEEP_SLICE)), Ok(None)) {
                    break;
                }
            }
            Err(e)
        }
    }
}

/// The loop of [`run`] once the run has started.
fn serve_while_running(
    sb: &Sandbox<'_>,
    t: &mut Thread,
    deadline: Option<&Deadline>,
) -> Result<VmExit, RunError> {
    // The clock is read after every served call and once every LOOK_SPINS
    // idle turns of the loop (a read costs as much as a look at the slot):
    // `idle_since` is when a look at the clock first found no request
    // served since the one before.
    let mut idle_since: Option<Instant> = None;
    let mut served = false;
    let mut next_look = Instant::now() + LOOK_EVERY;
    let mut turns = 0u32;
    loop {
        if let Some(exit) = t.vcpu.finish_run(None)? {
            return Ok(exit);
        }
        let served_now = serve_one(sb, t)?;
        served |= served_now;
        turns = turns.wrapping_add(1);
        // After a served call the guest is on its way already: the clock
        // costs it nothing then, and a slow call (an fsync) never puts
        // many calls between two looks at the deadline and the client.
        if !served_now && !turns.is_multiple_of(LOOK_SPINS) {
            std::hint::spin_loop();
            continue;
        }
        let now = Instant::now();
        if now >= next_look {
            next_look = now + LOOK_EVERY;
            stop_if_over(sb, t, deadline);
        }
        if std::mem::take(&mut served) {
            idle_since = None;
            continue;
        }
        let since = *idle_since.get_or_insert(now);
        // On the one CPU the run thread also needs, spinning only delays
        // the guest: sleep at once (its calls trap, as without the ring);
        // so also with no slot to serve.
        let crowded = t.ring_slot.is_none() || t.vcpu.shares_cpu_with_run_thread();
        if (crowded || now.duration_since(since) >= HOST_SPIN)
            && set_spin(sb, t, GUEST_SPIN_ASLEEP)?
        {
            // A request posted before the guest saw the budget drop.
            if serve_one(sb, t)? {
                if !crowded {
                    set_spin(sb, t, GUEST_SPIN_AWAKE)?;
                }
                idle_since = None;
                continue;
            }
            loop {
                if let Some(exit) = t.vcpu.finish_run(Some(SLEEP_SLICE))? {
                    return Ok(exit);
                }
                stop_if_over(sb, t, deadline);
            }
        }
        std::hint::spin_loop();
    }
}

/// Kicks the vCPU out of the guest when the run is over: its deadline has
/// passed or its client hung up. The kernel timer and the client's signal
/// reach this thread (and the timer the helper), but this thread, not in a
/// host call, only notices them here.
fn stop_if_over(sb: &Sandbox<'_>, t: &Thread, deadline: Option<&Deadline>) {
    let over = Instant::now() >= sb.deadline
        || t.group.is_ending()
        || deadline.is_some_and(|d| d.passed() || d.client_gone());
    if over {
        t.vcpu.interrupter().interrupt();
    }
}

/// Sets the guest's spin budget in `t`'s slot. False when the kernel
/// lock was busy (nothing changed).
fn set_spin(sb: &Sandbox<'_>, t: &Thread, spin: u64) -> Result<bool, RunError> {
    let Some(va) = t.ring_slot else {
        return Ok(true);
    };
    let Some(mut g) = sb.try_lock() else {
        return Ok(false);
    };
    let mut st = g.view(t.pid)?;
    if let Some(pa) = slot_pa(&mut st, va)? {
        st.machine
            .vm
            .memory_mut(st.machine.slot)?
            .write_u64(pa + slot::SPIN, spin)?;
    }
    Ok(true)
}

/// Serves the request in `t`'s slot, if there is one. True when it did.
fn serve_one(sb: &Sandbox<'_>, t: &mut Thread) -> Result<bool, RunError> {
    use std::sync::atomic::Ordering;
    let Some(va) = t.ring_slot else {
        return Ok(false);
    };
    let Some(mut g) = sb.try_lock() else {
        return Ok(false);
    };
    let mut st = g.view(t.pid)?;
    let Some(pa) = slot_pa(&mut st, va)? else {
        return Ok(false);
    };
    {
        let mem = st.machine.vm.memory(st.machine.slot)?;
        let state = mem.atomic_u32(pa + slot::STATE)?;
        // Looked at before it is claimed: a compare-and-swap takes the
        // line from the guest's CPU even when it fails, and the guest is
        // writing its request there.
        if state.load(Ordering::Relaxed) != slot::REQUEST {
            return Ok(false);
        }
        if state
            .compare_exchange(
                slot::REQUEST,
                slot::TAKEN,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return Ok(false);
        }
    }
    // Copied once, now that the guest can no longer withdraw it: the first
    // line only (slot.rs), which the state word brought here already.
    let mut line = [0u8; slot::CALL_LINE as usize];
    st.machine.vm.memory(st.machine.slot)?.read(pa, &mut line)?;
    let (nr, args) = slot::call_from_line(&line);
    t.signals
        .take_posted(&t.inbox, &st.process.threads.shared_pending, 0);
    let by_trap = !servable::serves(st.process, nr, &args)
        || t.signals.next_deliverable().is_some()
        || t.zapped.load(Ordering::SeqCst)
        || t.group.is_ending()
        || st.process.stopped.is_some()
        || st.process.mm_lent
        || syscalls::refusal(&st.kernel.rules, nr, &args).is_some();
    let mut answer = (slot::VERDICT_TRAP, 0u64);
    let mut ends_group = false;
    if !by_trap {
        let outcome = dispatch_call(&mut st, t, nr, &args, CallerRegs::InSlot(pa))?;
        answer = match outcome {
            Outcome::Return(v) => (slot::VERDICT_RESULT, v),
            // Nothing was done: the trap path makes the call and waits.
            Outcome::Block(_) => (slot::VERDICT_TRAP, 0),
            // The call ends the process, as on the trap path (SIGPIPE's
            // default action for a write nobody reads): the guest waits
            // for the exit, whose thread then sees its group ending.
            Outcome::Kill(death) => {
                st.process.threads.end(GroupEnd::Killed(death));
                ends_group = true;
                (slot::VERDICT_RESULT, 0)
            }
            Outcome::Exit(code) => {
                st.process.threads.end(GroupEnd::Exited(code));
                ends_group = true;
                (slot::VERDICT_RESULT, 0)
            }
            other => {
                return Err(RunError::Internal(format!(
                    "the ring served {} and it asked for {other:?}",
                    table::name_of(nr)
                )))
            }
        };
    }
    if answer.0 == slot::VERDICT_RESULT {
        st.stats.count_syscall(&table::name_of(nr));
        st.stats.ring_calls += 1;
    } else {
        st.stats.ring_fallbacks += 1;
    }
    // A call that changed page tables (a copy-on-write page of a buffer
    // got its own frame) must not let the guest read on through a stale
    // translation: its vCPU leaves the VM and flushes before it goes on.
    // Nor may it run on past a signal the call raised (SIGPIPE for a
    // write to a pipe nobody reads, SIGXFSZ): the exit delivers it.
    let flushed = flush_others(&mut st, t)?;
    t.signals
        .take_posted(&t.inbox, &st.process.threads.shared_pending, 0);
    let must_exit = flushed || ends_group || t.signals.next_deliverable().is_some();
    // The page may have moved under the served call.
    let Some(pa) = slot_pa(&mut st, va)? else {
        return Ok(true);
    };
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    mem.write_u64(pa + slot::RESULT, answer.1)?;
    mem.atomic_u32(pa + slot::VERDICT)?
        .store(answer.0, Ordering::Relaxed);
    let state = if must_exit {
        slot::DONE_EXIT
    } else {
        slot::DONE
    };
    mem.atomic_u32(pa + slot::STATE)?
        .store(state, Ordering::Release);
    if must_exit {
        if flushed {
            t.cpu_sync.request_flush();
        }
        t.vcpu.interrupter().interrupt();
    }
    Ok(true)
}

/// After an exit that stopped thread `t` in user mode at `rip` (regs or
/// an exception frame say where): when that is ring code, where the
/// program is. None when it is not ring code.
pub fn resume_for(
    st: &mut State<'_>,
    t: &Thread,
    rip: u64,
    rcx: u64,
) -> Result<Option<Resume>, RunError> {
    if st.process.ring.offset_in_code(rip).is_none() {
        return Ok(None);
    }
    let view = match t.ring_slot {
        Some(va) => match slot_pa(st, va)? {
            Some(pa) => read_slot(st.machine.vm.memory(st.machine.slot)?, pa)?,
            None => SlotView::default(),
        },
        None => SlotView::default(),
    };
    let resume = st.process.ring.resume_at(rip, rcx, &view);
    // The request is settled either way: the slot is free for the next.
    if matches!(resume, Some(Resume::Before { .. } | Resume::After { .. })) {
        if let Some(pa) = t.ring_slot.map(|va| slot_pa(st, va)).transpose()?.flatten() {
            st.machine
                .vm
                .memory(st.machine.slot)?
                .atomic_u32(pa + slot::STATE)?
                .store(slot::IDLE, std::sync::atomic::Ordering::Release);
        }
    }
    Ok(resume.filter(|r| match *r {
        Resume::Before { rip, .. } | Resume::After { rip, .. } => rip < USER_END,
        Resume::JumpToRcx => rcx < USER_END,
    }))
}

/// The registers a [`Resume`] sets: RIP, RSP and RFLAGS (in the vCPU or
/// an exception frame), RAX, RCX and R11.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserState {
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    pub rax: u64,
    pub rcx: u64,
    pub r11: u64,
}

/// Applies `resume` to `s`.
pub fn apply(resume: Resume, s: &mut UserState) {
    let flags = |f: u64| (f & USER_RFLAGS) | 0x202;
    match resume {
        Resume::Before {
            rip,
            rax,
            rsp,
            rflags,
        } => {
            s.rip = rip;
            if let Some(a) = rax {
                s.rax = a;
            }
            if let Some(r) = rsp {
                s.rsp = r;
            }
            if let Some(f) = rflags {
                s.rflags = flags(f);
            }
        }
        Resume::After {
            rip,
            rax,
            rflags,
            rsp,
        } => {
            s.rip = rip;
            s.rax = rax;
            s.rcx = rip;
            s.r11 = flags(rflags);
            s.rflags = flags(rflags);
            s.rsp = rsp;
        }
        Resume::JumpToRcx => s.rip = s.rcx,
    }
}

/// Patches the site of the syscall thread `t` just made by trap (its
/// `syscall` at `syscall_at`), when the ring may serve call `nr`. The
/// process's other threads are held out of the guest while the code
/// changes (they take a second look under the kernel lock before they run
/// user code again: [`into_moved_entries`]).
pub fn patch_site(
    st: &mut State<'_>,
    t: &Thread,
    syscall_at: u64,
    nr: u64,
) -> Result<(), RunError> {
    if st.kernel.syscall_mode != SyscallMode::Ring
        || t.ring_slot.is_none()
        || !servable::patchable(nr)
        || st.process.ring.disabled
        || st.process.mm_lent
        || st
            .kernel
            .procs
            .get(t.pid)
            .is_some_and(|e| e.borrowed_from.is_some())
    {
        return Ok(());
    }
    if !st.process.ring.candidate(syscall_at) {
        return Ok(());
    }
    if t.group.live() > 1 {
        super::tlb::hold_out(&t.group, t.tid);
    }
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    match st
        .process
        .ring
        .patch(&mut st.process.mm, mem, syscall_at, nr)
    {
        Ok(Some(how)) => {
            st.stats.ring_sites += 1;
            st.stats.ring_sites_moved += u64::from(how == Patched::Moved);
        }
        Ok(None) => {}
        Err(e) => return Err(RunError::Internal(format!("patching a syscall site: {e}"))),
    }
    Ok(())
}

/// The program set a GS base of its own (arch_prctl): the ring stubs need
/// GS, so the process stops using the ring and every site is restored.
pub fn gs_taken(st: &mut State<'_>, t: &mut Thread) -> Result<(), RunError> {
    if st.process.ring.disabled || st.kernel.syscall_mode != SyscallMode::Ring {
        return Ok(());
    }
    // No other thread may be fetching a site while its bytes go back.
    if t.group.live() > 1 {
        super::tlb::hold_out(&t.group, t.tid);
    }
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    st.process
        .ring
        .disable(&mut st.process.mm, mem)
        .map_err(|e| RunError::Internal(format!("restoring syscall sites: {e}")))?;
    // Its GS base is the program's now (the handler set it).
    t.ring_slot = None;
    Ok(())
}

/// Before thread `t` runs user code again (under the kernel lock): a
/// thread whose next instruction lies inside a moved site's span (it
/// stopped there, or a call it was waiting in returns there, while
/// another thread moved the site) continues at the matching place in the
/// site's entry. Only a thread another one held out for a patch can be
/// there (the patching thread's own call returns into the entry, and
/// rt_sigreturn translates its frame): the others pay no look.
pub fn into_moved_entries(st: &mut State<'_>, t: &mut Thread) -> Result<(), RunError> {
    if !t.cpu_sync.rechecked() || !st.process.ring.has_moved() {
        return Ok(());
    }
    let regs = *t.vcpu.regs()?;
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    let ring = &st.process.ring;
    let mm = &st.process.mm;
    match signal_delivery::locate(&regs, &t.cpu, t.on_out) {
        Some(Location::User) => {
            let rip = ring.ring_rip(mm, mem, regs.rip);
            if rip != regs.rip {
                t.vcpu.regs_mut()?.rip = rip;
            }
        }
        Some(Location::IretFrame) => {
            let f = frame::read(mem, &t.cpu)?;
            let rip = ring.ring_rip(mm, mem, f.rip);
            if rip != f.rip {
                frame::write(mem, &t.cpu, &Frame { rip, ..f })?;
            }
        }
        Some(Location::Sysret) => {
            let rip = ring.ring_rip(mm, mem, regs.rcx);
            if rip != regs.rcx {
                t.vcpu.regs_mut()?.rcx = rip;
            }
        }
        None => {}
    }
    Ok(())
}
