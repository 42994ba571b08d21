//! The host's time-stamp counter, for relating guest TSC readings to host
//! time. While KVM does not scale the guest's TSC (it runs at the host's
//! rate unless a caller sets another with KVM_SET_TSC_KHZ, which this crate
//! never does) the guest reads the host's counter plus a constant offset,
//! so one guest reading ([`crate::Vcpu::msr`] of `IA32_TSC`) between two
//! host readings gives that offset for the rest of the run.

/// Reads the host CPU's time-stamp counter (RDTSC, after an LFENCE so that
/// it is not taken before earlier instructions).
pub fn host_tsc() -> u64 {
    // SAFETY: LFENCE and RDTSC read no memory and change no state but
    // EDX:EAX; every x86-64 CPU has both (SSE2 and TSC are part of the
    // x86-64 baseline), and Linux lets user space execute RDTSC unless a
    // process opted into PR_TSC_SIGSEGV, which the runner never does.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_tsc_advances() {
        let a = host_tsc();
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert!(host_tsc() > a);
    }
}
