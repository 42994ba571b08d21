//! Programs read from the guest's file system view, and a dynamically
//! linked program's interpreter loaded beside it.
//!
//! Linux's `binfmt_elf` loads the file PT_INTERP names (the dynamic loader)
//! next to the program and starts it; the loader then maps the program's
//! libraries itself with `open` and `mmap`. Here the interpreter is looked
//! up like any guest path (the policy's `[[files]]`, links followed in the
//! guest's namespace) and must be runnable there: under a rule with an
//! `-exec` access, with an execute bit, as `execve` requires of a program.
//! Its segments join the program's image; the program starts at the
//! interpreter's entry with AT_BASE naming it and AT_ENTRY, AT_PHDR the
//! program.

use super::elf::{self, Role};
use super::{Image, Interpreter};
use crate::abi::Errno;
use crate::vfs::{Node, Vfs};
use rustix::fs::{Mode, OFlags};
use std::io::Read;
use std::path::Path;
use thinvisor_kmod::PAGE_SIZE;

/// Why a program's interpreter could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum InterpError {
    /// The guest cannot run the file: not shown, not a file, no `-exec`
    /// access, no execute bit.
    #[error("its interpreter {path} cannot be run in the sandbox ({})", errno_name(*.errno))]
    Unreachable { path: String, errno: Errno },
    /// The file is no interpreter (malformed, not ELF, has an interpreter
    /// of its own, does not fit).
    #[error("its interpreter {path}: {reason}")]
    Invalid { path: String, reason: String },
}

fn errno_name(e: Errno) -> String {
    sandbox_policy::errno_name(e.raw_os_error())
        .map_or_else(|| e.raw_os_error().to_string(), str::to_owned)
}

impl InterpError {
    /// What `execve` returns for it: the lookup's error, ELIBBAD for a bad
    /// interpreter (as Linux).
    pub fn errno(&self) -> Errno {
        match self {
            InterpError::Unreachable { errno, .. } => *errno,
            InterpError::Invalid { .. } => Errno::LIBBAD,
        }
    }

    /// The policy lines that would show the interpreter, for a refusal.
    pub fn policy_hint(&self) -> Option<String> {
        let InterpError::Unreachable { path, .. } = self else {
            return None;
        };
        let dir = Path::new(path).parent()?.display().to_string();
        Some(format!(
            "the policy must show it and the program's libraries with a \"read-exec\" rule, \
             e.g. [[files]] path = \"{dir}\" access = \"read-exec\" for it, and the library \
             directories (/lib, /usr/lib) likewise; sandbox-policy/examples/host-tools.toml \
             shows the host's system trees"
        ))
    }
}

/// Reads the program at the normalized guest path `path` for running it:
/// it must lie under a rule with an `-exec` access and be a regular file
/// with an execute bit (else EACCES), and fit in `limit` bytes (else
/// ENOMEM). A final link is followed unless `nofollow`.
pub fn read_runnable(vfs: &Vfs, path: &Path, nofollow: bool, limit: u64) -> Result<Vec<u8>, Errno> {
    let node = if nofollow {
        vfs.resolve(path)?
    } else {
        vfs.resolve_following(path)?
    };
    let real = match node {
        Node::Real(real) => real,
        // A synthesized directory.
        Node::Virtual(_) => return Err(Errno::ACCESS),
    };
    let mut flags = OFlags::RDONLY | OFlags::CLOEXEC;
    if nofollow {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = real.open(flags, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    if st.st_mode & 0o170000 != 0o100000 {
        return Err(Errno::ACCESS);
    }
    if !real.root.exec || st.st_mode & 0o111 == 0 {
        return Err(Errno::ACCESS);
    }
    if st.st_size as u64 > limit {
        return Err(Errno::NOMEM);
    }
    let mut bytes = Vec::with_capacity(st.st_size as usize);
    std::fs::File::from(fd)
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| e.raw_os_error().map_or(Errno::IO, Errno::from_raw_os_error))?;
    Ok(bytes)
}

/// Loads the interpreter `image` names (if any) from `vfs` and joins it
/// to the image. `limit` is the guest memory limit.
pub fn attach(mut image: Image, vfs: &Vfs, limit: u64) -> Result<Image, InterpError> {
    let Some(raw) = image.interp.take() else {
        return Ok(image);
    };
    let path = String::from_utf8_lossy(&raw).into_owned();
    let guest =
        crate::vfs::path::normalize(Path::new("/"), &raw).map_err(|e| InterpError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let bytes = read_runnable(vfs, &guest.path, false, limit).map_err(|errno| {
        InterpError::Unreachable {
            path: path.clone(),
            errno,
        }
    })?;
    let interp = elf::load_as(&path, &bytes, limit, Role::Interpreter).map_err(|e| {
        InterpError::Invalid {
            path: path.clone(),
            reason: match e {
                super::LoadError::Invalid { reason, .. } => reason,
                other => other.to_string(),
            },
        }
    })?;
    join(image, interp).map_err(|reason| InterpError::Invalid { path, reason })
}

/// The program's image with the interpreter's segments added; the
/// program starts at the interpreter's entry.
fn join(mut program: Image, interp: Image) -> Result<Image, String> {
    let pages = |i: &Image| -> Vec<(u64, u64)> {
        i.segments
            .iter()
            .map(|s| {
                let start = s.vaddr & !(PAGE_SIZE - 1);
                (start, (s.vaddr + s.mem_size).next_multiple_of(PAGE_SIZE))
            })
            .collect()
    };
    for (a, b) in pages(&program) {
        if let Some((c, d)) = pages(&interp).into_iter().find(|&(c, d)| a < d && c < b) {
            return Err(format!(
                "its segment {c:#x}-{d:#x} overlaps the program's {a:#x}-{b:#x}"
            ));
        }
    }
    let base = interp
        .segments
        .iter()
        .map(|s| s.vaddr)
        .min()
        .unwrap_or_default();
    program.interpreter = Some(Interpreter {
        base,
        entry: interp.entry,
    });
    program.segments.extend(interp.segments);
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::page_table::Prot;
    use crate::loader::Segment;

    fn image(vaddr: u64, size: u64, entry: u64) -> Image {
        Image {
            segments: vec![Segment {
                vaddr,
                data: vec![0x90; 16],
                mem_size: size,
                prot: Prot::RX,
            }],
            entry,
            brk_start: vaddr + size,
            auxv: Vec::new(),
            interp: None,
            interpreter: None,
        }
    }

    #[test]
    fn the_program_starts_at_the_interpreter_and_keeps_its_own_entry() {
        let joined = join(
            image(0x40_0000, 0x2000, 0x40_0100),
            image(0x7fff_f7fc_3000, 0x1000, 0x7fff_f7fc_3010),
        )
        .expect("joined");
        assert_eq!(joined.entry, 0x40_0100);
        assert_eq!(joined.start_address(), 0x7fff_f7fc_3010);
        assert_eq!(joined.interpreter.map(|i| i.base), Some(0x7fff_f7fc_3000));
        assert_eq!(joined.segments.len(), 2);
        assert_eq!(joined.brk_start, 0x40_2000);
    }

    #[test]
    fn an_interpreter_over_the_program_is_refused() {
        let e = join(
            image(0x40_0000, 0x3000, 0x40_0000),
            image(0x40_2000, 0x1000, 0x40_2000),
        )
        .expect_err("overlap");
        assert!(e.contains("overlaps"), "{e}");
    }

    #[test]
    fn a_missing_interpreter_names_its_path_and_the_policy_lines() {
        let mut img = image(0x40_0000, 0x1000, 0x40_0000);
        img.interp = Some(b"/lib64/ld-linux-x86-64.so.2".to_vec());
        let e = attach(img, &Vfs::empty(), 1 << 30).expect_err("no files");
        assert_eq!(e.errno(), Errno::NOENT);
        assert!(e.to_string().contains("/lib64/ld-linux-x86-64.so.2"), "{e}");
        let hint = e.policy_hint().expect("hint");
        assert!(hint.contains("path = \"/lib64\""), "{hint}");
    }
}
