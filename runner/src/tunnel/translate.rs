//! The page walk under the tunnel: a guest *virtual* range turned into the
//! guest-physical runs that back it, through the guest page tables, after
//! checking every page is mapped user-accessible with the needed right.
//! Only [`super::Tunnel`] calls it.

use super::TunnelError;
use crate::guest::address_space::AddressSpace;
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

/// The right a range must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    Read,
    /// Writable now.
    Write,
    /// Writable now, or copy-on-write in a writable mapping (writable
    /// once the address space gives the page a frame of its own).
    WriteAfterCopy,
}

/// A guest-physical run backing part of a virtual range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhysRun {
    pub pa: u64,
    pub len: u64,
}

/// Resolves `[va, va+len)` to physical runs (adjacent frames merged), after
/// checking every page is user-accessible with the right `need` says.
/// Nothing is touched unless the whole range passes; a failure names the
/// first address that failed. The flag is true when some page is
/// copy-on-write (with [`Need::WriteAfterCopy`]): its run is the shared
/// frame, which must not be written.
pub(super) fn resolve(
    aspace: &AddressSpace,
    mem: &GuestMemory,
    va: u64,
    len: u64,
    need: Need,
) -> Result<(Vec<PhysRun>, bool), TunnelError> {
    let mut runs: Vec<PhysRun> = Vec::new();
    let mut copy_pending = false;
    if len == 0 {
        return Ok((runs, copy_pending));
    }
    let end = va.checked_add(len).ok_or(TunnelError::Fault(va))?;
    let mut cur = va;
    while cur < end {
        if cfg!(feature = "planted-bug") && cur != va {
            // PLANTED BUG, compiled only with the test-only `planted-bug`
            // feature (docs/fuzzing.md): the pages after the first are not
            // walked; the range is assumed to continue physically after the
            // first page's frame. `runner fuzz` must find this.
            if let Some(last) = runs.last_mut() {
                last.len += end - cur;
            }
            break;
        }
        let page = cur & !(PAGE_SIZE - 1);
        let t = aspace.translate(mem, page).ok_or(TunnelError::Fault(cur))?;
        let ok = match need {
            Need::Read => t.user_readable(),
            Need::Write => t.user_writable(),
            Need::WriteAfterCopy if t.user_writable() => true,
            Need::WriteAfterCopy => {
                let later = t.user_readable() && t.copy_on_write() && aspace.writable_at(page);
                copy_pending |= later;
                later
            }
        };
        if !ok {
            return Err(TunnelError::Fault(cur));
        }
        let off = cur - page;
        let n = (PAGE_SIZE - off).min(end - cur);
        let pa = t.pa + off;
        match runs.last_mut() {
            Some(last) if last.pa + last.len == pa => last.len += n,
            _ => runs.push(PhysRun { pa, len: n }),
        }
        cur += n;
    }
    Ok((runs, copy_pending))
}
