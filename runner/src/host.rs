//! The few host services the emulation needs, through safe wrappers.

/// Fills `buf` from the host's random source (getrandom).
pub fn random_bytes(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => {
                // getrandom cannot fail on Linux >= 3.17 once the pool is
                // initialised; fall back to time-seeded bytes rather than zeros.
                let seed = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                for (i, b) in buf[filled..].iter_mut().enumerate() {
                    *b = (seed.rotate_left(i as u32 * 7) >> 3) as u8;
                }
                return;
            }
        }
    }
}

/// Host clock reading for `clock_gettime`: (seconds, nanoseconds).
pub fn clock(id: rustix::time::ClockId) -> (i64, i64) {
    let t = rustix::time::clock_gettime(id);
    (t.tv_sec, t.tv_nsec as i64)
}
