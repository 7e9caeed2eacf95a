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
//! `config` reads them and checks them at load ([`ClockSettings::check`]), as `main` does after
//! `--speed` and `--start`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, SubsecRound, TimeZone, Timelike, Utc};
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

/// Where a seeded manual clock starts when no `clock.start` is given (`dialtone --clock manual
/// --seed N`): a fixed epoch, so that ids and timestamps repeat run after run. The spec's
/// example time.
pub const SEEDED_START: &str = "2026-03-14T10:15:31Z";

/// How far simulated time may run past `clock.start`: 100 years of 365.25 days. An advance past
/// it is refused, and `clock.start` must leave room for it. Dialtone decision: far past any
/// test's need, and every timestamp keeps a four-digit year.
pub const MAX_SPAN_MS: u64 = 36_525 * 86_400_000;

/// The slowest and fastest `clock.speed`: below, a deadline's real delay stops being a number;
/// above, a millisecond of real time is more than a quarter of an hour of simulated time.
pub const SPEED_RANGE: std::ops::RangeInclusive<f64> = 0.001..=1_000_000.0;

impl ClockSettings {
    /// Checks `speed` and `start`: the `(key, message)` of the first out of bounds.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(self.speed.is_finite() && SPEED_RANGE.contains(&self.speed)) {
            return Err((
                "clock.speed",
                format!(
                    "must be a number from {} to {}",
                    SPEED_RANGE.start(),
                    SPEED_RANGE.end()
                ),
            ));
        }
        if let Some(start) = self.start {
            let latest = latest_start();
            if start < DateTime::UNIX_EPOCH || start > latest {
                return Err((
                    "clock.start",
                    format!(
                        "must be from 1970-01-01T00:00:00Z to {}, so 100 years of simulated time fit",
                        latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The latest `clock.start`: 100 years before the last second of year 9999, the last a platform
/// time can write with four digits.
fn latest_start() -> DateTime<Utc> {
    let last: DateTime<Utc> = "9999-12-31T23:59:59Z"
        .parse()
        .expect("a literal calendar time");
    last - chrono::Duration::milliseconds(MAX_SPAN_MS as i64)
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

    /// The instant `ms` after the simulation start.
    pub fn from_ms(ms: u64) -> SimInstant {
        SimInstant(ms)
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

    /// Calendar time of a simulated instant: `clock.start` + elapsed, saturating at chrono's
    /// last representable time rather than panicking (inputs are bounded, so this is a guard).
    pub fn wall(&self, at: SimInstant) -> DateTime<Utc> {
        i64::try_from(at.0)
            .ok()
            .and_then(chrono::TimeDelta::try_milliseconds)
            .and_then(|d| self.start.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
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
                // Saturates: a delay too long to represent is a sleep that never ends.
                Some(Duration::try_from_secs_f64(sim_ms / 1000.0 / speed).unwrap_or(Duration::MAX))
            }
            Source::Manual { .. } => None,
        }
    }
}

/// Sleeps for real time: used only by the real-time driver that wakes the engine at deadlines,
/// by `dialtone phone --answer-after` (a person's reaction, outside the simulation), and by the
/// event stream pacing its writes to a socket (I/O, outside the simulation).
pub async fn sleep_real(d: Duration) {
    #[allow(clippy::disallowed_methods)] // the one real sleep; see above.
    tokio::time::sleep(d).await
}

/// The real wall clock, for transport-level checks only (X-AKSK `Created`, push `Created`).
pub fn transport_now() -> DateTime<Utc> {
    #[allow(clippy::disallowed_methods)] // transport time is real by definition (spec §5.2).
    Utc::now()
}

/// The real wall clock as time since the Unix epoch, for log lines' times: cheaper than
/// [`transport_now`] when only the seconds and the fraction are needed.
pub fn log_now() -> std::time::Duration {
    #[allow(clippy::disallowed_methods)] // a log line's time is the host's, not the simulation's.
    let now = std::time::SystemTime::now();
    // A host clock before 1970 is not one Dialtone's logs need to describe.
    now.duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
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

    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A calendar time as the platform writes it in payloads and Dialtone stores it:
/// `yyyy-MM-dd HH:mm:ss`, UTC, whole seconds (spec §6, §7). The one place that format is written
/// ([`Display`](std::fmt::Display)) and read ([`PlatformTime::parse`], [`FromStr`]).
///
/// Only the canonical form parses, so comparing two such strings compares the times (the store's
/// reconciliation bounds rely on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlatformTime(DateTime<Utc>);

/// A string that is not a platform time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a time like 2026-03-14 10:15:31 (yyyy-MM-dd HH:mm:ss, UTC)")]
pub struct PlatformTimeError(String);

impl PlatformTime {
    const FORMAT: &'static str = "%Y-%m-%d %H:%M:%S";

    /// `t` truncated to the second, as the platform writes it.
    pub fn new(t: DateTime<Utc>) -> PlatformTime {
        PlatformTime(t.trunc_subsecs(0))
    }

    /// Reads exactly `yyyy-MM-dd HH:mm:ss`: no fraction, no zone, no missing zero padding.
    pub fn parse(s: &str) -> Result<PlatformTime, PlatformTimeError> {
        let bad = || PlatformTimeError(s.to_owned());
        let t = chrono::NaiveDateTime::parse_from_str(s, Self::FORMAT).map_err(|_| bad())?;
        let t = PlatformTime(t.and_utc());
        // chrono is lenient (unpadded fields, extra whitespace); only the canonical form is a
        // platform time, which the round trip checks.
        if t.to_string() != s {
            return Err(bad());
        }
        Ok(t)
    }

    /// Reads a platform time optionally followed by a fraction of a second (the timeline's
    /// `yyyy-MM-dd HH:mm:ss.SSS`), dropping the fraction.
    pub fn parse_truncating(s: &str) -> Result<PlatformTime, PlatformTimeError> {
        let bad = || PlatformTimeError(s.to_owned());
        let (head, fraction) = s.split_at_checked(19).ok_or_else(bad)?;
        let fraction_ok = fraction.is_empty()
            || fraction
                .strip_prefix('.')
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
        if !fraction_ok {
            return Err(bad());
        }
        PlatformTime::parse(head).map_err(|_| bad())
    }

    /// The calendar time.
    pub fn utc(self) -> DateTime<Utc> {
        self.0
    }
}

impl From<DateTime<Utc>> for PlatformTime {
    fn from(t: DateTime<Utc>) -> PlatformTime {
        PlatformTime::new(t)
    }
}

impl std::fmt::Display for PlatformTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = Calendar::of(&self.0);
        match c.digits(b' ') {
            Some(text) => f.write_str(ascii(&text)),
            None => write!(
                f,
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                c.year, c.month, c.day, c.hour, c.minute, c.second
            ),
        }
    }
}

/// The calendar fields of a time, for the formats Dialtone writes for every call, event and push.
/// They are written out field by field: chrono's `format` parses its pattern anew on each call,
/// which showed in the platform API's profile.
struct Calendar {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
}

impl Calendar {
    /// `yyyy-MM-dd HH:mm:ss` with `sep` between date and time, digit by digit (the formatter's
    /// padded integers showed in the delivery profile: every push and event writes a time);
    /// `None` for a year outside 0-9999, which the callers write with `write!`.
    fn digits(&self, sep: u8) -> Option<[u8; 19]> {
        let year = u32::try_from(self.year).ok().filter(|y| *y <= 9999)?;
        let mut text = *b"0000-00-00 00:00:00";
        for (at, n) in [
            (0, year / 100),
            (2, year % 100),
            (5, self.month),
            (8, self.day),
            (11, self.hour),
            (14, self.minute),
            (17, self.second),
        ] {
            text[at] = b'0' + (n / 10) as u8;
            text[at + 1] = b'0' + (n % 10) as u8;
        }
        text[10] = sep;
        Some(text)
    }

    fn of<Tz: TimeZone>(t: &DateTime<Tz>) -> Calendar {
        Calendar {
            year: t.year(),
            month: t.month(),
            day: t.day(),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            // Times here are whole milliseconds from a start: no leap second arises.
            millis: t.timestamp_subsec_millis() % 1000,
        }
    }
}

/// A calendar time shown to the millisecond, `yyyy-MM-dd HH:mm:ss.SSS` UTC: the `time` of a
/// timeline entry and of a stream message. Kept as a time and written when shown, so the
/// timelines of a million calls in flight hold no strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimelineTime(DateTime<Utc>);

impl TimelineTime {
    pub fn new(t: DateTime<Utc>) -> TimelineTime {
        TimelineTime(t)
    }

    /// Reads exactly `yyyy-MM-dd HH:mm:ss.SSS`, as [`Display`](std::fmt::Display) writes it.
    pub fn parse(s: &str) -> Result<TimelineTime, PlatformTimeError> {
        let bad = || PlatformTimeError(s.to_owned());
        let t =
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.3f").map_err(|_| bad())?;
        let t = TimelineTime(t.and_utc());
        if t.to_string() != s {
            return Err(bad());
        }
        Ok(t)
    }

    pub fn utc(self) -> DateTime<Utc> {
        self.0
    }
}

impl std::fmt::Display for TimelineTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = Calendar::of(&self.0);
        let Some(date_time) = c.digits(b' ') else {
            return write!(
                f,
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
                c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
            );
        };
        let mut text = [b'.'; 23];
        text[..19].copy_from_slice(&date_time);
        text[20] = b'0' + (c.millis / 100) as u8;
        text[21] = b'0' + (c.millis / 10 % 10) as u8;
        text[22] = b'0' + (c.millis % 10) as u8;
        f.write_str(ascii(&text))
    }
}

/// Digits and separators written by [`Calendar::digits`].
fn ascii(text: &[u8]) -> &str {
    std::str::from_utf8(text).expect("digits and separators are ASCII")
}

impl Serialize for TimelineTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimelineTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TimelineTime, D::Error> {
        let s = String::deserialize(d)?;
        TimelineTime::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `yyyyMMddHHmmss` in `t`'s own zone, as in sessionIds and icids.
pub fn compact_time<Tz: TimeZone>(t: &DateTime<Tz>) -> String {
    let c = Calendar::of(t);
    match c.digits(b' ') {
        // The digits of `yyyy-MM-dd HH:mm:ss` without its separators: every sessionId and icid
        // writes one.
        Some(text) => {
            let mut compact = [0u8; 14];
            for (to, from) in compact
                .iter_mut()
                .zip(text.iter().filter(|b| b.is_ascii_digit()))
            {
                *to = *from;
            }
            ascii(&compact).to_owned()
        }
        None => format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        ),
    }
}

/// `yyyy-MM-ddTHH:mm:ssZ`, the form of a WSSE `Created`.
pub fn created_time(t: DateTime<Utc>) -> String {
    let c = Calendar::of(&t);
    match c.digits(b'T') {
        Some(text) => {
            let mut created = String::with_capacity(20);
            created.push_str(ascii(&text));
            created.push('Z');
            created
        }
        None => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        ),
    }
}

impl std::str::FromStr for PlatformTime {
    type Err = PlatformTimeError;

    fn from_str(s: &str) -> Result<PlatformTime, PlatformTimeError> {
        PlatformTime::parse(s)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_written_by_hand_read_as_chrono_would_write_them() {
        use chrono::TimeZone;
        let beijing = chrono::FixedOffset::east_opt(8 * 3600).expect("a valid offset");
        // Every ms of a day would be slow; a stride through years covers each field's padding.
        let mut ms: i64 = 0;
        while ms < 4_102_444_800_000 {
            let t = Utc.timestamp_millis_opt(ms).single().expect("in range");
            let shown = super::TimelineTime::new(t).to_string();
            assert_eq!(shown, t.format("%Y-%m-%d %H:%M:%S%.3f").to_string());
            assert_eq!(super::TimelineTime::parse(&shown).map(|t| t.utc()), Ok(t));
            assert_eq!(
                super::PlatformTime::new(t).to_string(),
                t.format("%Y-%m-%d %H:%M:%S").to_string()
            );
            assert_eq!(
                super::compact_time(&t),
                t.format("%Y%m%d%H%M%S").to_string()
            );
            let b = t.with_timezone(&beijing);
            assert_eq!(
                super::compact_time(&b),
                b.format("%Y%m%d%H%M%S").to_string()
            );
            assert_eq!(
                super::created_time(t),
                t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            );
            ms += 7_919_999_837;
        }
        // Years past 9999 (a saturated wall time) take the formatter's path, unpadded.
        let far = Utc
            .timestamp_millis_opt(300_000_000_000_000)
            .single()
            .expect("in range");
        assert_eq!(
            super::TimelineTime::new(far).to_string(),
            "11476-08-15 05:20:00.000"
        );
        assert_eq!(super::created_time(far), "11476-08-15T05:20:00Z");
    }

    use super::*;

    #[test]
    fn manual_clock_moves_only_when_set_and_never_backwards() {
        let start = "2026-03-14T10:15:31Z".parse().unwrap();
        let c = Clock::manual(start);
        assert_eq!(c.now(), SimInstant::ZERO);
        c.set(SimInstant(6000));
        c.set(SimInstant(10));
        assert_eq!(c.now(), SimInstant(6000));
        assert_eq!(
            PlatformTime::new(c.wall(c.now())).to_string(),
            "2026-03-14 10:15:37"
        );
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

    #[test]
    fn wall_time_saturates_instead_of_panicking() {
        let c = Clock::manual("2026-03-14T10:15:31Z".parse().unwrap());
        assert_eq!(c.wall(SimInstant(u64::MAX)), DateTime::<Utc>::MAX_UTC);
        assert_eq!(
            c.wall(SimInstant(10_000_000_000_000_000)),
            DateTime::<Utc>::MAX_UTC
        );
        let running = Clock::from_config(&ClockSettings {
            mode: ClockMode::Scaled,
            speed: *SPEED_RANGE.start(),
            start: None,
        });
        assert_eq!(
            running.real_delay_until(SimInstant(u64::MAX)),
            Some(Duration::MAX)
        );
    }

    #[test]
    fn speed_and_start_are_bounded() {
        let with = |speed: f64, start: Option<&str>| ClockSettings {
            mode: ClockMode::Scaled,
            speed,
            start: start.map(|s| s.parse().unwrap()),
        };
        assert_eq!(with(20.0, Some("2026-03-14T10:15:31Z")).check(), Ok(()));
        for speed in [0.0, -1.0, 1e-300, 1e300, f64::NAN, f64::INFINITY] {
            assert_eq!(
                with(speed, None).check().unwrap_err().0,
                "clock.speed",
                "{speed}"
            );
        }
        for start in ["1969-12-31T23:59:59Z", "9950-01-01T00:00:00Z"] {
            assert_eq!(with(1.0, Some(start)).check().unwrap_err().0, "clock.start");
        }
    }

    #[test]
    fn a_platform_time_formats_truncated_and_parses_back() {
        let t: DateTime<Utc> = "2026-03-14T10:15:31.987Z".parse().unwrap();
        let p = PlatformTime::new(t);
        assert_eq!(p.to_string(), "2026-03-14 10:15:31");
        assert_eq!(p.utc(), t.trunc_subsecs(0));
        assert_eq!(PlatformTime::parse("2026-03-14 10:15:31"), Ok(p));
        assert_eq!("2026-03-14 10:15:31".parse::<PlatformTime>(), Ok(p));
        assert_eq!(
            PlatformTime::parse_truncating("2026-03-14 10:15:31.987"),
            Ok(p)
        );
        assert_eq!(PlatformTime::parse_truncating("2026-03-14 10:15:31"), Ok(p));
    }

    #[test]
    fn only_the_canonical_form_is_a_platform_time() {
        for bad in [
            "",
            "2026-03-14",
            "2026-03-14T10:15:31Z",
            "2026-03-14 10:15:31Z",
            "2026-03-14 10:15:31.250",
            "2026-3-14 10:15:31",
            " 2026-03-14 10:15:31",
            "2026-03-14  10:15:31",
            "2026-02-30 10:15:31",
            "2026-03-14 24:00:00",
            "２026-03-14 10:15:31",
        ] {
            let err = PlatformTime::parse(bad).expect_err(bad);
            assert_eq!(
                err.to_string(),
                format!(
                    "`{bad}` is not a time like 2026-03-14 10:15:31 (yyyy-MM-dd HH:mm:ss, UTC)"
                )
            );
        }
        for bad in [
            "2026-03-14 10:15:31.",
            "2026-03-14 10:15:31.5x",
            "2026-03-14 10:15:3é",
        ] {
            assert!(PlatformTime::parse_truncating(bad).is_err(), "{bad}");
        }
    }
}
