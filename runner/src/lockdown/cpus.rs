//! `limits.cpus`: the runner narrows its own CPU affinity to that many of
//! the CPUs it may use, while it still has one thread, so every vCPU
//! thread it starts later inherits the set (affinity is per thread and
//! inherited at clone). The host scheduler then runs at most that many of
//! the guest's threads at once, with its own time slicing; nothing in the
//! run loop has to count. The CPUs are taken in the allowed set's order
//! from an offset derived from the process id, so sandboxes started one
//! after another spread over the host instead of piling onto CPU 0.

use rustix::thread::CpuSet;

#[derive(Debug, thiserror::Error)]
pub enum CpusError {
    #[error("cannot read the runner's CPU affinity: {0}")]
    Read(#[source] rustix::io::Errno),
    #[error("cannot narrow the runner's CPU affinity to {count} CPUs: {source}")]
    Set {
        count: u32,
        #[source]
        source: rustix::io::Errno,
    },
}

/// The CPUs of `allowed` (indices, ascending) to keep for `count` of them,
/// starting at `offset` and wrapping around; all of them when `count` is
/// not smaller.
pub fn choose(allowed: &[usize], count: u32, offset: usize) -> Vec<usize> {
    let count = count as usize;
    if allowed.is_empty() || count >= allowed.len() {
        return allowed.to_vec();
    }
    let start = offset % allowed.len();
    let mut chosen: Vec<usize> = (0..count)
        .map(|i| allowed[(start + i) % allowed.len()])
        .collect();
    chosen.sort_unstable();
    chosen
}

/// Narrows the calling thread's affinity to `count` CPUs (None: leaves it
/// alone). Returns the CPUs kept when it changed anything.
pub fn restrict(count: Option<u32>) -> Result<Option<Vec<usize>>, CpusError> {
    let Some(count) = count else {
        return Ok(None);
    };
    let current = rustix::thread::sched_getaffinity(None).map_err(CpusError::Read)?;
    let allowed: Vec<usize> = (0..CpuSet::MAX_CPU)
        .filter(|&c| current.is_set(c))
        .collect();
    if count as usize >= allowed.len() {
        return Ok(None);
    }
    let pid = rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs() as usize;
    let chosen = choose(&allowed, count, pid);
    let mut set = CpuSet::new();
    for &c in &chosen {
        set.set(c);
    }
    rustix::thread::sched_setaffinity(None, &set)
        .map_err(|source| CpusError::Set { count, source })?;
    Ok(Some(chosen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chosen_cpus_wrap_from_the_offset_and_never_exceed_the_allowed() {
        let allowed = [0, 2, 3, 7];
        assert_eq!(choose(&allowed, 2, 0), vec![0, 2]);
        assert_eq!(choose(&allowed, 2, 3), vec![0, 7]);
        assert_eq!(choose(&allowed, 3, 6), vec![0, 3, 7]);
        assert_eq!(choose(&allowed, 4, 1), allowed.to_vec());
        assert_eq!(choose(&allowed, 9, 1), allowed.to_vec());
        assert_eq!(choose(&[], 1, 5), Vec::<usize>::new());
    }
}
