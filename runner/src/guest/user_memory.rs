//! Copying between the runner and the guest's *virtual* memory, page by page
//! through the guest page tables. This is the mechanism under the secure
//! tunnel (crate::tunnel), which adds the policy checks; the runner uses it
//! directly only for memory it lays out itself (the initial stack).

use super::address_space::AddressSpace;
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

/// A guest-physical run backing part of a virtual range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhysRun {
    pub pa: u64,
    pub len: u64,
}

/// The guest range is not entirely mapped with the needed permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unmapped {
    /// First address that failed.
    pub at: u64,
}

/// Resolves `[va, va+len)` to physical runs (adjacent frames merged), after
/// checking every page is user-accessible (and writable when `write`).
/// Nothing is touched unless the whole range passes.
pub fn resolve(
    aspace: &AddressSpace,
    mem: &GuestMemory,
    va: u64,
    len: u64,
    write: bool,
) -> Result<Vec<PhysRun>, Unmapped> {
    let mut runs: Vec<PhysRun> = Vec::new();
    if len == 0 {
        return Ok(runs);
    }
    va.checked_add(len).ok_or(Unmapped { at: va })?;
    let mut cur = va;
    let end = va + len;
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
        let t = aspace.translate(mem, page).ok_or(Unmapped { at: cur })?;
        let ok = if write {
            t.user_writable()
        } else {
            t.user_readable()
        };
        if !ok {
            return Err(Unmapped { at: cur });
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
    Ok(runs)
}

/// Writes `data` at guest virtual `va` (user-writable pages only).
pub fn write_virt(
    aspace: &AddressSpace,
    mem: &mut GuestMemory,
    va: u64,
    data: &[u8],
) -> Result<(), Unmapped> {
    let runs = resolve(aspace, mem, va, data.len() as u64, true)?;
    let mut done = 0usize;
    for r in runs {
        let n = r.len as usize;
        mem.write(r.pa, &data[done..done + n])
            .map_err(|_| Unmapped {
                at: va + done as u64,
            })?;
        done += n;
    }
    Ok(())
}

/// Reads `buf.len()` bytes at guest virtual `va` (user-readable pages only).
#[cfg(test)]
pub fn read_virt(
    aspace: &AddressSpace,
    mem: &GuestMemory,
    va: u64,
    buf: &mut [u8],
) -> Result<(), Unmapped> {
    let runs = resolve(aspace, mem, va, buf.len() as u64, false)?;
    let mut done = 0usize;
    for r in runs {
        let n = r.len as usize;
        mem.read(r.pa, &mut buf[done..done + n])
            .map_err(|_| Unmapped {
                at: va + done as u64,
            })?;
        done += n;
    }
    Ok(())
}
