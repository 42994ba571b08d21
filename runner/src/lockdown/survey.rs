//! Facts about the runner process that lock-down needs, read from /proc
//! before Landlock makes /proc unreachable.

use std::io;

/// What lock-down needs to know about the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Survey {
    /// Threads of the process that run user code.
    pub threads: u32,
    /// The highest open file descriptor.
    pub highest_fd: u64,
    /// The kernel's highest capability number.
    pub cap_last_cap: u8,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read {what} from /proc: {source}")]
pub struct SurveyError {
    what: &'static str,
    #[source]
    source: io::Error,
}

fn invalid(text: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("unexpected {text:?}"))
}

/// PF_USER_WORKER (include/linux/sched.h): a kernel thread in a user
/// process's thread group, such as KVM's "kvm-nx-lpage-recovery" worker. It
/// runs only kernel code, so it is not one of the runner's threads.
pub const PF_USER_WORKER: u64 = 0x4000;

/// The `flags` field of a /proc/.../stat line (the 9th; the command name
/// before it is in parentheses and may hold spaces).
pub fn stat_flags(stat: &str) -> Option<u64> {
    let (_, after_comm) = stat.rsplit_once(')')?;
    after_comm.split_whitespace().nth(6)?.parse().ok()
}

/// The threads of /proc/self/task that run user code.
fn threads() -> io::Result<u32> {
    let mut count = 0;
    for entry in std::fs::read_dir("/proc/self/task")? {
        let stat = match std::fs::read_to_string(entry?.path().join("stat")) {
            Ok(stat) => stat,
            // The thread ended between the listing and the read: it is no
            // longer one of ours.
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(3) => {
                continue
            }
            Err(e) => return Err(e),
        };
        let flags = stat_flags(&stat).ok_or_else(|| invalid(&stat))?;
        if flags & PF_USER_WORKER == 0 {
            count += 1;
        }
    }
    Ok(count)
}

/// The highest entry of /proc/self/fd (including the directory's own
/// descriptor while it is read).
fn highest_fd() -> io::Result<u64> {
    let mut highest = 0;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let name = entry?.file_name();
        let fd: u64 = name
            .to_str()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| invalid(&name.to_string_lossy()))?;
        highest = highest.max(fd);
    }
    Ok(highest)
}

fn cap_last_cap() -> io::Result<u8> {
    let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")?;
    text.trim().parse().map_err(|_| invalid(&text))
}

/// Reads the facts.
pub fn survey() -> Result<Survey, SurveyError> {
    let err = |what| move |source| SurveyError { what, source };
    Ok(Survey {
        threads: threads().map_err(err("the thread count"))?,
        highest_fd: highest_fd().map_err(err("the open descriptors"))?,
        cap_last_cap: cap_last_cap().map_err(err("the last capability number"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_read_past_a_command_name_with_spaces_and_parens() {
        let stat = "42 (kvm (x) y) S 1 42 42 0 -1 4210752 0 0";
        assert_eq!(stat_flags(stat), Some(4210752));
        assert_eq!(stat_flags("42 (x) S 1"), None);
    }

    #[test]
    fn survey_of_this_process_reads_every_fact() {
        let s = survey().expect("survey");
        assert!(s.threads >= 1);
        assert!(s.highest_fd >= 2);
        assert!(s.cap_last_cap >= 30);
    }
}
