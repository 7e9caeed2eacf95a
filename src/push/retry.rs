//! When a failed push is tried again (spec §6.2, §7.2): a schedule that is data, resolved from the
//! config once, at load (the svix idea).
//!
//! A [`RetrySchedule`] answers one question, purely: after failed attempt number n, how long until
//! the next one, if any. The engine arms that as a timer and journals the answer; it does not
//! interpret policies itself. Which schedule the config's `"fidelity"`, `"dev"` or backoff table
//! means is decided here, by the constructors.

use serde::Deserialize;

/// The retry schedule of one kind of push (status or CDR).
#[derive(Debug, Clone, PartialEq)]
pub enum RetrySchedule {
    /// One attempt; a failed push is dropped (spec §6.2: the platform never re-sends a status
    /// push).
    Never,
    /// Up to `max_retries` retries after the first attempt, `interval_ms` apart (spec §7.2).
    Fixed { max_retries: u32, interval_ms: u64 },
    /// Exponential backoff with jitter drawn from the seed.
    Backoff(Backoff),
}

impl RetrySchedule {
    /// `status_push.retry = "fidelity"`: the real platform never retries a status push (§6.2).
    pub fn fidelity_status() -> RetrySchedule {
        RetrySchedule::Never
    }

    /// `fee_push.retry = "fidelity"`: the real platform retries a CDR push up to `max_retries`
    /// times, `interval_s` apart (spec §7.2: 6 times, an hour apart).
    pub fn fidelity_fee(max_retries: u32, interval_s: u64) -> RetrySchedule {
        RetrySchedule::Fixed {
            max_retries,
            interval_ms: interval_s.saturating_mul(1000),
        }
    }

    /// `retry = "dev"`, for either kind: retried quickly ([`Backoff::dev`]).
    pub fn dev() -> RetrySchedule {
        RetrySchedule::Backoff(Backoff::dev())
    }

    /// Milliseconds from failed attempt number `attempt` (1-based) to the next attempt, or `None`
    /// to give up. `jitter_unit` gives a number in [0, 1) that places a backoff delay within its
    /// jitter; it is asked for only when a backoff retry is due, because an unseeded run draws it
    /// from the shared random source.
    pub fn delay_ms(&self, attempt: u32, jitter_unit: impl FnOnce() -> f64) -> Option<u64> {
        match self {
            RetrySchedule::Never => None,
            RetrySchedule::Fixed {
                max_retries,
                interval_ms,
            } => (attempt <= *max_retries).then_some(*interval_ms),
            RetrySchedule::Backoff(b) => {
                (attempt <= b.max_retries).then(|| b.delay_ms(attempt, jitter_unit()))
            }
        }
    }

    /// Whether a failed push is dropped at once, as the platform drops status pushes (journaled
    /// `dropped`), rather than abandoned after its retries.
    pub fn drops(&self) -> bool {
        matches!(self, RetrySchedule::Never)
    }
}

/// An exponential backoff table, as written in the config (`retry = { max_retries = 3, … }`).
/// `config` checks at load that `multiplier` is at least 1 and `jitter` is 0 to 1.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    pub max_retries: u32,
    pub initial_backoff_ms: u64,
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Each delay varies by up to this fraction either way (0 to 1), drawn from the seed.
    #[serde(default)]
    pub jitter: f64,
}

fn default_multiplier() -> f64 {
    2.0
}

fn default_max_backoff_ms() -> u64 {
    60_000
}

impl Backoff {
    /// The `dev` policy: 8 retries from 1 s, doubling, at most a minute apart, ±20 % jitter.
    pub fn dev() -> Backoff {
        Backoff {
            max_retries: 8,
            initial_backoff_ms: 1000,
            multiplier: 2.0,
            max_backoff_ms: 60_000,
            jitter: 0.2,
        }
    }

    /// Delay before retry number `retry` (1-based); `unit` in [0, 1) places it within the jitter.
    pub fn delay_ms(&self, retry: u32, unit: f64) -> u64 {
        let factor = self.multiplier.powi(retry.saturating_sub(1) as i32);
        let ms = (self.initial_backoff_ms as f64 * factor).min(self.max_backoff_ms as f64);
        let jittered = ms * (1.0 + self.jitter * (2.0 * unit - 1.0));
        jittered.max(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdGen;

    fn no_jitter() -> f64 {
        panic!("this schedule has no jitter to draw")
    }

    #[test]
    fn fidelity_status_pushes_are_never_retried_and_are_dropped() {
        let s = RetrySchedule::fidelity_status();
        assert_eq!(s.delay_ms(1, no_jitter), None);
        assert!(s.drops());
    }

    #[test]
    fn fidelity_cdrs_are_retried_max_retries_times_an_interval_apart() {
        let s = RetrySchedule::fidelity_fee(6, 3600);
        let delays: Vec<Option<u64>> = (1..=7).map(|n| s.delay_ms(n, no_jitter)).collect();
        assert_eq!(delays[..6], [Some(3_600_000); 6]);
        assert_eq!(delays[6], None, "the seventh failure is the last");
        assert!(!s.drops());
        assert_eq!(
            RetrySchedule::fidelity_fee(0, 60).delay_ms(1, no_jitter),
            None
        );
    }

    #[test]
    fn dev_backs_off_from_a_second_with_seeded_jitter_then_gives_up() {
        let s = RetrySchedule::dev();
        let ids = IdGen::new(Some(7));
        let delays: Vec<u64> = (1..=8)
            .map(|n| s.delay_ms(n, || ids.unit_for("s1.1", n)).unwrap())
            .collect();
        for (n, d) in delays.iter().enumerate() {
            let nominal = (1000u64 << n).min(60_000) as f64;
            let within = nominal * 0.8..=nominal * 1.2;
            assert!(within.contains(&(*d as f64)), "retry {}: {d} ms", n + 1);
        }
        let again = IdGen::new(Some(7));
        assert_eq!(
            s.delay_ms(3, || again.unit_for("s1.1", 3)),
            Some(delays[2]),
            "the same seed gives the same jitter"
        );
        assert_eq!(s.delay_ms(9, || 0.5), None);
        assert!(!s.drops());
    }

    #[test]
    fn a_custom_backoff_doubles_up_to_its_cap_and_stops_after_max_retries() {
        let s = RetrySchedule::Backoff(Backoff {
            max_retries: 4,
            initial_backoff_ms: 1000,
            multiplier: 2.0,
            max_backoff_ms: 5000,
            jitter: 0.0,
        });
        let delays: Vec<Option<u64>> = (1..=5).map(|n| s.delay_ms(n, || 0.9)).collect();
        assert_eq!(
            delays,
            [Some(1000), Some(2000), Some(4000), Some(5000), None]
        );
        let dev = Backoff::dev();
        assert_eq!(
            (
                dev.delay_ms(1, 0.0),
                dev.delay_ms(1, 1.0),
                dev.delay_ms(9, 0.5)
            ),
            (800, 1200, 60_000)
        );
    }
}
