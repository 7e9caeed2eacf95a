//! Simulated time. The only file that reads the real clock or sleeps.
//!
//! Call logic sees a [`SimInstant`]: milliseconds of simulated time since the simulation started.
//! [`Clock::wall`] maps it onto a calendar time (`clock.start` + elapsed), so every payload
//! timestamp follows simulated time and a manual-clock run produces the same payloads every time
//! (spec §5.2). Three modes: `real`, `scaled` (`clock.speed` times faster) and `manual`, where time
//! moves only through [`Clock::set`], called by the engine while it steps from deadline to deadline.
//!
//! Transport-level concerns keep real time: the X-AKSK `Created` window, the `Created` header on
//! pushes ([`transport_now`]) and push latency ([`Stopwatch`]).
//!
//! The clock's settings ([`ClockSettings`], the `[clock]` section of the config) are defined here;
//! `config` reads them and checks `speed` at load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    /// Simulated time follows the wall clock.
    Real,
    /// Simulated time runs `clock.speed` times faster than the wall clock.
    Scaled,
    /// Simulated time moves only when `POST /sim/v1/clock/advance` says so.
    Manual,
}

/// How the simulation's clock runs (the `[clock]` section of the config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockSettings {
    pub mode: ClockMode,
    /// Simulated seconds per wall second in `scaled` mode: finite and above 0 (checked at load).
    pub speed: f64,
    /// Simulated epoch; absent means the wall clock at start-up.
    pub start: Option<DateTime<Utc>>,
}

impl Default for ClockSettings {
    fn default() -> Self {
        ClockSettings {
            mode: ClockMode::Real,
            speed: 1.0,
            start: None,
        }
    }
}

/// A point in simulated time: milliseconds since the simulation started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct SimInstant(pub u64);

impl SimInstant {
    pub const ZERO: SimInstant = SimInstant(0);

    pub fn ms(self) -> u64 {
        self.0
    }

    pub fn plus_ms(self, ms: u64) -> SimInstant {
        SimInstant(self.0.saturating_add(ms))
    }

    pub fn plus_s(self, s: u64) -> SimInstant {
        self.plus_ms(s.saturating_mul(1000))
    }

    /// Milliseconds from `earlier` to `self` (0 if `earlier` is later).
    pub fn since(self, earlier: SimInstant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// The simulation's clock, shared by everything that belongs to the simulated world.
#[derive(Debug)]
pub struct Clock {
    start: DateTime<Utc>,
    mode: ClockMode,
    source: Source,
}

#[derive(Debug)]
enum Source {
    /// Simulated ms = real elapsed × speed.
    Running { origin: Instant, speed: f64 },
    /// Simulated ms as set by the engine's manual stepping.
    Manual { now_ms: AtomicU64 },
}

impl Clock {
    /// Builds the clock `config` describes, starting now.
    pub fn from_config(config: &ClockSettings) -> Clock {
        let start = config.start.unwrap_or_else(transport_now);
        match config.mode {
            ClockMode::Real => Clock::running(start, ClockMode::Real, 1.0),
            ClockMode::Scaled => Clock::running(start, ClockMode::Scaled, config.speed),
            // A manual clock starts on a whole second, so its timestamps read cleanly.
            ClockMode::Manual => Clock::manual(start.trunc_subsecs(0)),
        }
    }

    /// A clock that moves only when told, starting at `start`.
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock {
            start,
            mode: ClockMode::Manual,
            source: Source::Manual {
                now_ms: AtomicU64::new(0),
            },
        }
    }

    fn running(start: DateTime<Utc>, mode: ClockMode, speed: f64) -> Clock {
        #[allow(clippy::disallowed_methods)] // clock.rs is where real time enters.
        let origin = Instant::now();
        Clock {
            start,
            mode,
            source: Source::Running { origin, speed },
        }
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    /// Current simulated time.
    pub fn now(&self) -> SimInstant {
        match &self.source {
            Source::Running { origin, speed } => {
                let real = origin.elapsed().as_secs_f64() * 1000.0;
                SimInstant((real * speed) as u64)
            }
            Source::Manual { now_ms } => SimInstant(now_ms.load(Ordering::Acquire)),
        }
    }

    /// Calendar time of a simulated instant: `clock.start` + elapsed.
    pub fn wall(&self, at: SimInstant) -> DateTime<Utc> {
        self.start + chrono::Duration::milliseconds(at.0 as i64)
    }

    /// The simulated epoch.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Moves a manual clock to `at` (never backwards). Only the engine calls this, while stepping
    /// through deadlines, so everything due in between fires in order. No effect on running clocks.
    pub(crate) fn set(&self, at: SimInstant) {
        if let Source::Manual { now_ms } = &self.source {
            now_ms.fetch_max(at.0, Ordering::AcqRel);
        }
    }

    /// Puts a manual clock back to its start (`POST /sim/v1/reset`). Running clocks keep going:
    /// their time is the wall clock's.
    pub(crate) fn reset(&self) {
        if let Source::Manual { now_ms } = &self.source {
            now_ms.store(0, Ordering::Release);
        }
    }

    /// Real time until simulated `at` arrives; `None` on a manual clock, where only `advance` helps.
    pub fn real_delay_until(&self, at: SimInstant) -> Option<Duration> {
        match &self.source {
            Source::Running { speed, .. } => {
                let sim_ms = at.since(self.now()) as f64;
                Some(Duration::from_secs_f64(sim_ms / 1000.0 / speed))
            }
            Source::Manual { .. } => None,
        }
    }
}

/// Sleeps for real time: used only by the real-time driver that wakes the engine at deadlines.
pub async fn sleep_real(d: Duration) {
    #[allow(clippy::disallowed_methods)] // the one sleep of the real-time driver.
    tokio::time::sleep(d).await
}

/// The real wall clock, for transport-level checks only (X-AKSK `Created`, push `Created`).
pub fn transport_now() -> DateTime<Utc> {
    #[allow(clippy::disallowed_methods)] // transport time is real by definition (spec §5.2).
    Utc::now()
}

/// Measures real elapsed time of I/O (push latency).
pub struct Stopwatch(Instant);

impl Stopwatch {
    pub fn start() -> Stopwatch {
        #[allow(clippy::disallowed_methods)] // latency of real I/O is real time.
        Stopwatch(Instant::now())
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// Formats a calendar time as the platform does in payloads: `yyyy-MM-dd HH:mm:ss`, UTC, truncated.
pub fn platform_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_set_and_never_backwards() {
        let start = "2026-03-14T10:15:31Z".parse().unwrap();
        let c = Clock::manual(start);
        assert_eq!(c.now(), SimInstant::ZERO);
        c.set(SimInstant(6000));
        c.set(SimInstant(10));
        assert_eq!(c.now(), SimInstant(6000));
        assert_eq!(platform_time(c.wall(c.now())), "2026-03-14 10:15:37");
        assert_eq!(c.real_delay_until(SimInstant(9000)), None);
    }

    #[test]
    fn scaled_clock_waits_a_fraction_of_simulated_time() {
        let cfg = ClockSettings {
            mode: ClockMode::Scaled,
            speed: 20.0,
            start: None,
        };
        let c = Clock::from_config(&cfg);
        let d = c.real_delay_until(SimInstant(60_000)).unwrap();
        assert!(d <= Duration::from_secs(3), "{d:?}");
    }
}
