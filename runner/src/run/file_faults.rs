//! Page faults on the pages of shared file mappings that lie wholly past
//! the end of their file (syscalls/file_pages.rs hides them: at mmap, at a
//! truncation by the process, after mprotect): SIGBUS with BUS_ADRERR, as
//! on Linux, or, when the file has grown over the page since, the page
//! made accessible and the access run again.

use super::frame::Frame;
use super::run_loop::RunError;
use super::threads::State;
use crate::kernel::fds::Object;
use crate::kernel::Thread;
use thinvisor_kmod::PAGE_SIZE;

/// What a fault was.
pub enum FileFault {
    /// Not a touch of a hidden page of a shared file mapping.
    NotOne,
    /// The file grew over the page: it is accessible now; run again.
    Revealed,
    /// Past the end of the file: SIGBUS at this address.
    PastEnd(u64),
}

/// Classifies the user page fault `frame` of thread `t` (vector 14, not
/// present).
pub fn classify(
    st: &mut State<'_>,
    t: &mut Thread,
    vector: u8,
    frame: &Frame,
) -> Result<FileFault, RunError> {
    if vector != 14 || frame.error_code & 1 != 0 || frame.cs & 3 != 3 {
        return Ok(FileFault::NotOne);
    }
    let addr = t.vcpu.sregs()?.cr2;
    let page = addr & !(PAGE_SIZE - 1);
    let Some(m) = st.process.file_maps.at(page) else {
        return Ok(FileFault::NotOne);
    };
    if st.process.mm.prot_at(page).is_none_or(|p| p.is_none()) {
        // A PROT_NONE page: SIGSEGV as any.
        return Ok(FileFault::NotOne);
    }
    let Object::File(f) = &*m.file else {
        return Ok(FileFault::NotOne);
    };
    let offset = m.offset + (page - m.start);
    let size = rustix::fs::fstat(&f.fd).map_or(0, |s| s.st_size.max(0) as u64);
    if offset >= size {
        return Ok(FileFault::PastEnd(addr));
    }
    let mem = st.machine.vm.memory_mut(st.machine.slot)?;
    if st
        .process
        .mm
        .reveal_page(mem, page)
        .map_err(|e| RunError::Internal(format!("revealing a file page: {e}")))?
    {
        // This vCPU may hold the not-present translation: it reloads CR3
        // on its way back (no other vCPU can hold a present one).
        t.cpu_sync.request_flush();
        return Ok(FileFault::Revealed);
    }
    Ok(FileFault::NotOne)
}
