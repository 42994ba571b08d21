//! The syscall table as data: number, name, handler, and why the runner
//! emulates it. Anything not here returns -ENOSYS (and is reported).

use super::{io, memory, process, time, Handler};
use std::borrow::Cow;
use std::sync::OnceLock;

/// One emulated syscall.
pub struct Entry {
    pub nr: u64,
    pub name: &'static str,
    pub handler: Handler,
    /// Why it is emulated and how (for readers and docs/compatibility.md).
    pub why: &'static str,
}

/// Every emulated syscall.
pub static TABLE: &[Entry] = &[
    Entry {
        nr: 0,
        name: "read",
        handler: io::read,
        why: "stdin; copied straight into guest memory through the tunnel",
    },
    Entry {
        nr: 1,
        name: "write",
        handler: io::write,
        why: "stdout/stderr; written from guest memory without a copy",
    },
    Entry {
        nr: 9,
        name: "mmap",
        handler: memory::mmap,
        why: "anonymous private memory, counted against the memory limit",
    },
    Entry {
        nr: 10,
        name: "mprotect",
        handler: memory::mprotect,
        why: "page protections of the guest's own mappings",
    },
    Entry {
        nr: 11,
        name: "munmap",
        handler: memory::munmap,
        why: "frees guest pages back to the limit",
    },
    Entry {
        nr: 12,
        name: "brk",
        handler: memory::brk,
        why: "heap after the image, counted against the memory limit",
    },
    Entry {
        nr: 20,
        name: "writev",
        handler: io::writev,
        why: "stdio; all iovecs checked before one vectored host write",
    },
    Entry {
        nr: 39,
        name: "getpid",
        handler: process::getpid,
        why: "a fixed pid: the guest is alone in its VM",
    },
    Entry {
        nr: 60,
        name: "exit",
        handler: process::exit,
        why: "single-threaded: ends the process",
    },
    Entry {
        nr: 63,
        name: "uname",
        handler: process::uname,
        why: "fixed identity; no host details leak",
    },
    Entry {
        nr: 102,
        name: "getuid",
        handler: process::getuid,
        why: "a fixed uid (1000, as in the auxv)",
    },
    Entry {
        nr: 104,
        name: "getgid",
        handler: process::getgid,
        why: "a fixed gid (1000, as in the auxv)",
    },
    Entry {
        nr: 107,
        name: "geteuid",
        handler: process::getuid,
        why: "no set-uid: euid = uid",
    },
    Entry {
        nr: 108,
        name: "getegid",
        handler: process::getgid,
        why: "no set-gid: egid = gid",
    },
    Entry {
        nr: 110,
        name: "getppid",
        handler: process::getppid,
        why: "a fixed parent: the VM's notional init (1)",
    },
    Entry {
        nr: 158,
        name: "arch_prctl",
        handler: process::arch_prctl,
        why: "FS/GS base for TLS, through the vCPU cache",
    },
    Entry {
        nr: 186,
        name: "gettid",
        handler: process::getpid,
        why: "single thread: tid = pid",
    },
    Entry {
        nr: 218,
        name: "set_tid_address",
        handler: process::set_tid_address,
        why: "libc start-up; returns the tid",
    },
    Entry {
        nr: 228,
        name: "clock_gettime",
        handler: time::clock_gettime,
        why: "host clocks (realtime, monotonic, boottime, cpu)",
    },
    Entry {
        nr: 231,
        name: "exit_group",
        handler: process::exit,
        why: "ends the process",
    },
    Entry {
        nr: 318,
        name: "getrandom",
        handler: time::getrandom,
        why: "host getrandom, copied through the tunnel",
    },
];

fn index() -> &'static [Option<u16>] {
    static INDEX: OnceLock<Vec<Option<u16>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let max = TABLE.iter().map(|e| e.nr).max().unwrap_or(0) as usize;
        let mut v = vec![None; max + 1];
        for (i, e) in TABLE.iter().enumerate() {
            v[e.nr as usize] = Some(i as u16);
        }
        v
    })
}

/// The entry for `nr`, if emulated.
pub fn lookup(nr: u64) -> Option<&'static Entry> {
    let i = (*index().get(usize::try_from(nr).ok()?)?)?;
    TABLE.get(i as usize)
}

/// A syscall's name for reports: the table's, else Linux's, else `nr_N`.
pub fn name_of(nr: u64) -> Cow<'static, str> {
    if let Some(e) = lookup(nr) {
        return Cow::Borrowed(e.name);
    }
    u32::try_from(nr)
        .ok()
        .and_then(sandbox_policy::syscall_name)
        .map_or_else(|| Cow::Owned(format!("nr_{nr}")), Cow::Borrowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::BTreeSet::new();
        for e in TABLE {
            assert!(seen.insert(e.nr), "duplicate {}", e.nr);
            assert!(std::ptr::eq(lookup(e.nr).expect("indexed"), e));
            assert!(!e.why.is_empty());
        }
        assert!(lookup(999).is_none());
        assert_eq!(name_of(999), "nr_999");
    }
}
