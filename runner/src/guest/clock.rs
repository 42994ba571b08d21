//! The guest's clocks as the vDSO and the in-VM monitor compute them from
//! the TSC, without an exit: calibrated once at boot ([`GuestClock::anchor`],
//! one KVM_GET_TSC_KHZ and one KVM_GET_MSRS), then kept in step with the
//! host's clocks at exits that happen anyway ([`GuestClock::retune`]: host
//! TSC and clock readings and memory writes, no vCPU ioctl).
//!
//! Every clock is a line over the guest TSC (the layout vdso/vvar.h
//! describes):
//!
//! ```text
//! mono(tsc) = mono_base + ((max(tsc, tsc_base) - tsc_base) * mult) >> 32
//! clock c   = mono(tsc) + offsets[c]
//! ```
//!
//! Retuning starts a new line at a guest TSC value `switch` no guest
//! reading can have passed yet, and starts it at or above the old line's
//! value there, so CLOCK_MONOTONIC never goes backwards; its slope is the
//! host's CLOCK_MONOTONIC rate measured since the last retune.

use crate::abi::constants::MSR_IA32_TSC;
use rustix::time::ClockId;
use thinvisor_kmod::{host_tsc, KmodError, Vcpu};

/// Clock ids the lines cover (0..NCLOCKS).
pub const NCLOCKS: usize = 8;
/// The clocks answered from the TSC, by id: REALTIME (0), MONOTONIC (1),
/// MONOTONIC_RAW (4), REALTIME_COARSE (5), MONOTONIC_COARSE (6), BOOTTIME
/// (7), and what each is relative to CLOCK_MONOTONIC. The CPU-time clocks
/// (2, 3) are the runner's to answer.
const SERVED: [(usize, Offset); 6] = [
    (0, Offset::Realtime),
    (1, Offset::Zero),
    (4, Offset::Measured(ClockId::MonotonicRaw)),
    (5, Offset::Realtime),
    (6, Offset::Zero),
    (7, Offset::Measured(ClockId::Boottime)),
];

/// A served clock minus CLOCK_MONOTONIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offset {
    /// The same clock (the coarse one answers with full precision).
    Zero,
    /// The host's REALTIME - MONOTONIC, followed when the host's clock steps.
    Realtime,
    /// Taken once at boot and kept, so these clocks never go backwards
    /// (MONOTONIC_RAW then runs at the NTP-disciplined rate).
    Measured(ClockId),
}
/// How often, at most, an exit retunes the clock.
const RETUNE_EVERY_MS: u64 = 250;
/// Realtime steps smaller than this are measurement noise, not a step of
/// the host's clock (NTP slews REALTIME and MONOTONIC alike).
const REALTIME_STEP_NS: u64 = 1_000_000;
/// The guest TSC must run at the rate KVM reports to within this (parts
/// per million) for host TSC readings to stand for guest ones.
const MAX_RATE_ERROR_PPM: u64 = 500;
/// A retune that would move CLOCK_MONOTONIC further than this is not drift:
/// tracking stops and the last line stays.
const MAX_CORRECTION_NS: u64 = 20_000_000;
/// A host sample whose readings lie further apart than this (microseconds;
/// the runner was preempted between them) is not used.
const MAX_SAMPLE_SPAN_US: u64 = 10;
/// The boot reading of the guest's TSC (one ioctl, ~6 us on kvm_pvm) is
/// taken once more, and the tighter kept, when the host readings around it
/// lie further apart than this (microseconds): each retune starts its line
/// that far ahead of the estimated guest TSC, where the clock stands still.
const MAX_ANCHOR_SPAN_US: u64 = 100;

/// Why the clock could not be calibrated (the runner's failure).
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error(transparent)]
    Kvm(#[from] KmodError),
    #[error("KVM reports a guest TSC rate of 0 kHz")]
    NoRate,
}

/// `ticks * mult >> 32`, with the 128-bit product the guest computes.
fn scale(ticks: u64, mult: u64) -> u64 {
    ((u128::from(ticks) * u128::from(mult)) >> 32) as u64
}

/// A host clock in nanoseconds (wrapping: only differences matter).
fn host_ns(id: ClockId) -> u64 {
    let (s, n) = crate::host::clock(id);
    (s as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(n as u64)
}

/// The lines the guest reads (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockParams {
    pub tsc_base: u64,
    /// Nanoseconds per tick, 32.32 fixed point.
    pub mult: u64,
    pub mono_base: u64,
    /// Per clock id: the clock minus CLOCK_MONOTONIC (wrapping), or None
    /// when the runner answers that clock.
    pub offsets: [Option<u64>; NCLOCKS],
}

impl ClockParams {
    /// CLOCK_MONOTONIC at guest TSC `tsc`, as the guest computes it.
    pub fn mono_at(&self, tsc: u64) -> u64 {
        let ticks = tsc.saturating_sub(self.tsc_base);
        self.mono_base.wrapping_add(scale(ticks, self.mult))
    }

    /// Clock `id` at guest TSC `tsc`, when it is served.
    pub fn clock_at(&self, id: usize, tsc: u64) -> Option<u64> {
        let offset = (*self.offsets.get(id)?)?;
        Some(self.mono_at(tsc).wrapping_add(offset))
    }
}

/// The host's TSC and clocks read together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HostSample {
    tsc: u64,
    mono: u64,
    real: u64,
}

impl HostSample {
    /// The host's clocks with the TSC read on both sides (the sample's TSC
    /// is their middle), and the ticks between those two readings.
    fn read() -> (HostSample, u64) {
        let before = host_tsc();
        let mono = host_ns(ClockId::Monotonic);
        let real = host_ns(ClockId::Realtime);
        let span = host_tsc().wrapping_sub(before);
        let sample = HostSample {
            tsc: before.wrapping_add(span / 2),
            mono,
            real,
        };
        (sample, span)
    }

    /// A sample whose TSC readings are at most `max_span` ticks apart;
    /// None when they are not (the runner was preempted between them).
    fn read_within(max_span: u64) -> Option<HostSample> {
        let (sample, span) = HostSample::read();
        (span <= max_span).then_some(sample)
    }

    /// The tightest of a few samples (the first call may also fault the
    /// host's vDSO pages in).
    fn read_best() -> HostSample {
        let mut best = HostSample::read();
        for _ in 0..3 {
            let next = HostSample::read();
            if next.1 < best.1 {
                best = next;
            }
        }
        best.0
    }
}

/// How the runner follows the guest's TSC between exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tracking {
    /// Guest TSC minus host TSC (wrapping).
    offset: u64,
    /// Ticks by which that offset may be wrong (the boot reading's span).
    margin: u64,
    /// The host sample of the last retune (or the anchor).
    last: HostSample,
}

/// The guest's clock of one run.
#[derive(Debug, Clone)]
pub struct GuestClock {
    params: ClockParams,
    /// KVM's rate, ns per tick << 32.
    nominal_mult: u64,
    /// Ticks between retunes.
    every: u64,
    /// The widest host sample used, in ticks.
    max_span: u64,
    /// None once the host TSC cannot stand for the guest's (then the last
    /// line stays, and the clocks drift as the rate's precision allows).
    tracking: Option<Tracking>,
}

impl GuestClock {
    /// Calibrates the guest's clock: the TSC rate KVM gives the guest, and
    /// one reading of the guest's TSC (`IA32_TSC`) between two host
    /// readings, whose midpoint it is taken to be.
    pub fn anchor(vcpu: &mut Vcpu) -> Result<GuestClock, ClockError> {
        let khz = u64::from(vcpu.tsc_khz()?);
        if khz == 0 {
            return Err(ClockError::NoRate);
        }
        let max_span = khz * MAX_SAMPLE_SPAN_US / 1000;
        let before = HostSample::read_best();
        let mut offsets = [None; NCLOCKS];
        for (id, offset) in SERVED {
            offsets[id] = Some(match offset {
                Offset::Zero => 0,
                Offset::Realtime => before.real.wrapping_sub(before.mono),
                Offset::Measured(clock) => host_ns(clock).wrapping_sub(host_ns(ClockId::Monotonic)),
            });
        }
        let read = |vcpu: &mut Vcpu| -> Result<(u64, u64, u64), KmodError> {
            let tsc0 = host_tsc();
            let guest = vcpu.msr(MSR_IA32_TSC)?;
            Ok((tsc0, guest, host_tsc()))
        };
        let span = |(tsc0, _, tsc1): (u64, u64, u64)| tsc1.wrapping_sub(tsc0);
        let mut best = read(vcpu)?;
        if span(best) > khz * MAX_ANCHOR_SPAN_US / 1000 {
            let again = read(vcpu)?;
            if span(again) < span(best) {
                best = again;
            }
        }
        let (tsc0, guest, tsc1) = best;
        let after = HostSample::read_best();
        // The guest's TSC was read between tsc0 and tsc1: at their middle
        // in host time, give or take half their span.
        let mid = tsc0.wrapping_add(tsc1.wrapping_sub(tsc0) / 2);
        let nominal_mult = ((1_000_000u128 << 32) / u128::from(khz)) as u64;
        // CLOCK_MONOTONIC at `mid`, from the sample after it.
        let back = scale(after.tsc.wrapping_sub(mid), nominal_mult);
        Ok(GuestClock {
            params: ClockParams {
                tsc_base: guest,
                mult: nominal_mult,
                mono_base: after.mono.wrapping_sub(back),
                offsets,
            },
            nominal_mult,
            every: khz * RETUNE_EVERY_MS,
            max_span,
            tracking: Some(Tracking {
                offset: guest.wrapping_sub(mid),
                margin: tsc1.wrapping_sub(tsc0),
                last: after,
            }),
        })
    }

    /// The lines the guest reads now.
    pub fn params(&self) -> &ClockParams {
        &self.params
    }

    /// At an exit, with the guest stopped: when the last retune is long
    /// enough ago, starts new lines that follow the host's clocks. Costs
    /// one host TSC read otherwise. True when the lines changed (they must
    /// then be written where the guest reads them).
    pub fn retune(&mut self) -> bool {
        let Some(t) = self.tracking else {
            return false;
        };
        if host_tsc().wrapping_sub(t.last.tsc) < self.every {
            return false;
        }
        match HostSample::read_within(self.max_span) {
            Some(now) => self.retune_at(now),
            None => false, // preempted while sampling: at a later exit
        }
    }

    fn retune_at(&mut self, now: HostSample) -> bool {
        let Some(t) = self.tracking else {
            return false;
        };
        let ticks = now.tsc.wrapping_sub(t.last.tsc);
        let ns = now.mono.wrapping_sub(t.last.mono);
        let mult = if ticks == 0 {
            0
        } else {
            ((u128::from(ns) << 32) / u128::from(ticks)).min(u128::from(u64::MAX)) as u64
        };
        let tolerance = self.nominal_mult / 1_000_000 * MAX_RATE_ERROR_PPM;
        if mult.abs_diff(self.nominal_mult) > tolerance {
            // The guest's TSC does not run at the host's rate (or the host
            // clock jumped): host readings no longer stand for the guest's.
            self.tracking = None;
            return false;
        }
        // No guest reading so far can lie beyond `switch`: the guest is
        // stopped, and its TSC now is the estimate within the margin.
        let switch = now.tsc.wrapping_add(t.offset).wrapping_add(t.margin);
        let shown = self.params.mono_at(switch);
        let host = now.mono.wrapping_add(scale(t.margin, mult));
        if shown.abs_diff(host) > MAX_CORRECTION_NS {
            self.tracking = None;
            return false;
        }
        // Behind the host: catch up (forward only). Ahead: stay, and let
        // the corrected rate keep the gap from growing.
        let mono_base = shown.max(host);
        let mut offsets = self.params.offsets;
        let real = now.real.wrapping_sub(now.mono);
        for (id, offset) in SERVED {
            if let (Offset::Realtime, Some(old)) = (offset, offsets[id]) {
                if old.abs_diff(real) > REALTIME_STEP_NS {
                    offsets[id] = Some(real);
                }
            }
        }
        self.params = ClockParams {
            tsc_base: switch,
            mult,
            mono_base,
            offsets,
        };
        self.tracking = Some(Tracking { last: now, ..t });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2.5 GHz: 0.4 ns per tick.
    const KHZ: u64 = 2_500_000;
    const SEC: u64 = KHZ * 1000;

    fn clock(offset: u64) -> GuestClock {
        let nominal_mult = ((1_000_000u128 << 32) / u128::from(KHZ)) as u64;
        let mut offsets = [None; NCLOCKS];
        offsets[0] = Some(1_700_000_000_000_000_000);
        offsets[1] = Some(0);
        GuestClock {
            params: ClockParams {
                tsc_base: 1_000 + offset,
                mult: nominal_mult,
                mono_base: 5_000_000_000,
                offsets,
            },
            nominal_mult,
            every: KHZ * RETUNE_EVERY_MS,
            max_span: KHZ * MAX_SAMPLE_SPAN_US / 1000,
            tracking: Some(Tracking {
                offset,
                margin: 2_000,
                last: HostSample {
                    tsc: 1_000,
                    mono: 5_000_000_000,
                    real: 5_000_000_000 + 1_700_000_000_000_000_000,
                },
            }),
        }
    }

    /// The host's clocks at host TSC `tsc` when CLOCK_MONOTONIC runs at
    /// `ppm` parts per million away from the TSC's nominal rate.
    fn host(tsc: u64, ppm: i64) -> HostSample {
        let ns = (tsc - 1_000) as f64 * 0.4 * (1.0 + ppm as f64 / 1e6);
        let mono = 5_000_000_000 + ns as u64;
        HostSample {
            tsc,
            mono,
            real: mono + 1_700_000_000_000_000_000,
        }
    }

    #[test]
    fn scale_matches_the_nominal_rate() {
        let c = clock(0);
        let second = c.params.mono_at(1_000 + SEC) - 5_000_000_000;
        assert!(second.abs_diff(1_000_000_000) <= 1, "{second}");
        // Before the base: clamped, never negative.
        assert_eq!(c.params.mono_at(0), 5_000_000_000);
        assert_eq!(c.params.clock_at(2, 5_000), None, "CPU-time clock");
        assert_eq!(c.params.clock_at(99, 5_000), None);
    }

    #[test]
    fn retunes_follow_the_host_and_never_go_backwards() {
        let offset = 123_456_789; // guest TSC = host TSC + offset
        for ppm in [-300i64, -20, 0, 20, 300] {
            let mut c = clock(offset);
            let mut tsc = 1_000;
            let mut last_seen = 0u64;
            for step in 1..=40u64 {
                // The guest reads its clock right up to the exit.
                tsc += SEC / 4 + step * 977;
                let seen = c.params.mono_at(tsc + offset);
                assert!(seen >= last_seen, "{ppm} ppm, step {step}");
                last_seen = seen;
                assert!(c.retune_at(host(tsc, ppm)), "{ppm} ppm, step {step}");
                // Right after resuming, and a little later.
                for later in [0, 1, 10_000, SEC / 8] {
                    let v = c.params.mono_at(tsc + offset + later);
                    assert!(v >= seen, "{ppm} ppm, step {step}, +{later}");
                }
            }
            // After ten seconds the guest is as close to the host as after
            // the first quarter second (until then it ran at KVM's nominal
            // rate, which the host's clock differs from by `ppm`), where
            // without retuning 300 ppm would be 3 ms: behind, it catches
            // up; ahead, it runs at the host's rate, keeping that lead (it
            // cannot go back).
            let h = host(tsc + SEC / 8, ppm);
            let g = c.params.mono_at(tsc + SEC / 8 + offset);
            let first = ppm.unsigned_abs() * 250_000_000 / 1_000_000;
            assert!(
                g.abs_diff(h.mono) <= first + 1_000,
                "{ppm} ppm: {g} vs {}",
                h.mono
            );
            assert!(g + 1_000 >= h.mono, "{ppm} ppm: never behind");
            let real = c
                .params
                .clock_at(0, tsc + SEC / 8 + offset)
                .expect("served");
            assert!(real.abs_diff(h.real) <= first + 1_000, "{ppm} ppm realtime");
        }
    }

    #[test]
    fn realtime_follows_host_steps_but_not_noise() {
        let mut c = clock(0);
        let mut h = host(1_000 + SEC, 0);
        h.real += 500; // noise
        assert!(c.retune_at(h));
        assert_eq!(c.params.offsets[0], Some(1_700_000_000_000_000_000));
        let mut h = host(1_000 + 2 * SEC, 0);
        h.real -= 3_000_000_000; // the host's clock was set back 3 s
        assert!(c.retune_at(h));
        let real = c.params.clock_at(0, 1_000 + 2 * SEC).expect("served");
        assert!(real.abs_diff(h.real) < 1_000);
    }

    #[test]
    fn tracking_stops_when_the_tsc_does_not_follow_the_host() {
        // A guest TSC scaled 1% away from the host's.
        let mut c = clock(0);
        let before = c.params;
        assert!(!c.retune_at(host(1_000 + SEC, 10_000)));
        assert_eq!(c.params, before, "the last line stays");
        assert!(c.tracking.is_none());
        assert!(!c.retune(), "and no later exit retunes");
        // The right rate, but the guest's TSC is not where the offset says
        // (100 ms away): a correction that large is not drift.
        let mut c = clock(0);
        if let Some(t) = c.tracking.as_mut() {
            t.offset = KHZ * 100;
        }
        assert!(!c.retune_at(host(1_000 + SEC, 0)));
        assert!(c.tracking.is_none());
    }

    #[test]
    fn retune_waits_for_its_interval() {
        let mut c = clock(0);
        if let Some(t) = c.tracking.as_mut() {
            t.last.tsc = host_tsc();
        }
        assert!(!c.retune(), "too soon");
    }
}
