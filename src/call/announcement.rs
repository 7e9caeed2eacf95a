//! What the callee hears after answering, as a timed plan (spec §5.2): `preTone`, the code read
//! `times` times with a pause between readings, `posTone`, then the platform hangs up.
//!
//! The plan only knows durations. Where they come from (the composed clips, `audio::compose`) is
//! the caller's business, so the call state machine never depends on audio.

use serde::Serialize;

use super::CallTimings;

/// One piece of the announcement, offsets in ms from the moment the callee answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub kind: SegmentKind,
    pub start_ms: u64,
    pub end_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "reading")]
pub enum SegmentKind {
    PreTone,
    /// The n-th reading of the code, from 1.
    Code(u32),
    PosTone,
}

/// Durations of the announcement's parts, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durations {
    pub pre_tone_ms: u64,
    /// One reading of the code, digits and inter-digit gaps included.
    pub reading_ms: u64,
    pub pos_tone_ms: Option<u64>,
}

/// The timed plan of one call's audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Announcement {
    /// Segments in order. With `times` = 0 the readings continue up to the planning horizon.
    pub segments: Vec<Segment>,
    /// When the platform hangs up if nobody else ends the call first; `None` for `times` = 0,
    /// which repeats until the callee hangs up or the maximum duration is reached.
    pub release_ms: Option<u64>,
}

impl Announcement {
    /// Lays out the announcement. `times` = 0 repeats the code; readings are planned only while
    /// they start before `horizon_ms` (the maximum call duration), so the plan stays finite.
    pub fn plan(d: Durations, times: u8, t: &CallTimings, horizon_ms: u64) -> Announcement {
        let mut segments = Vec::new();
        let mut at = t.media_start_ms;
        segments.push(Segment {
            kind: SegmentKind::PreTone,
            start_ms: at,
            end_ms: at + d.pre_tone_ms,
        });
        at += d.pre_tone_ms + t.segment_gap_ms;
        let mut reading = 0u32;
        loop {
            reading += 1;
            segments.push(Segment {
                kind: SegmentKind::Code(reading),
                start_ms: at,
                end_ms: at + d.reading_ms,
            });
            at += d.reading_ms;
            let more = if times == 0 {
                at + t.repeat_pause_ms < horizon_ms
            } else {
                reading < u32::from(times)
            };
            if !more {
                break;
            }
            at += t.repeat_pause_ms;
        }
        if times == 0 {
            return Announcement {
                segments,
                release_ms: None,
            };
        }
        if let Some(pos) = d.pos_tone_ms {
            at += t.segment_gap_ms;
            segments.push(Segment {
                kind: SegmentKind::PosTone,
                start_ms: at,
                end_ms: at + pos,
            });
            at += pos;
        }
        Announcement {
            segments,
            release_ms: Some(at + t.hangup_delay_ms),
        }
    }

    /// The readings of the code that started before `end_ms`, and the ms of code audio played by
    /// then: the CDR's `ttsPlayTimes` and (rounded up to seconds) `ttsTransDuration`.
    pub fn code_played_until(&self, end_ms: u64) -> (u32, u64) {
        self.segments
            .iter()
            .filter(|s| matches!(s.kind, SegmentKind::Code(_)) && s.start_ms < end_ms)
            .fold((0, 0), |(n, ms), s| {
                (n + 1, ms + s.end_ms.min(end_ms) - s.start_ms)
            })
    }

    /// The middle of the first reading: where a callee who "hangs up mid-code" hangs up by default.
    pub fn middle_of_first_reading(&self) -> u64 {
        self.segments
            .iter()
            .find(|s| matches!(s.kind, SegmentKind::Code(_)))
            .map(|s| (s.start_ms + s.end_ms) / 2)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_example() -> (Durations, CallTimings) {
        // Spec §5.2: welcome.wav 2.4 s, one reading of 4827 2.9 s, bye.wav 1.8 s.
        let d = Durations {
            pre_tone_ms: 2400,
            reading_ms: 2900,
            pos_tone_ms: Some(1800),
        };
        (d, CallTimings::default())
    }

    #[test]
    fn the_spec_timeline_is_reproduced() {
        let (d, t) = spec_example();
        let a = Announcement::plan(d, 3, &t, 120_000);
        let starts: Vec<_> = a.segments.iter().map(|s| (s.start_ms, s.end_ms)).collect();
        // Offsets from answer at t=6.0 s: 6.5-8.9, 9.4-12.3, 13.3-16.2, 17.2-20.1, 20.6-22.4, release 22.9.
        assert_eq!(
            starts,
            vec![
                (500, 2900),
                (3400, 6300),
                (7300, 10200),
                (11200, 14100),
                (14600, 16400)
            ]
        );
        assert_eq!(a.release_ms, Some(16_900));
        assert_eq!(a.code_played_until(16_900), (3, 8700));
    }

    #[test]
    fn times_zero_repeats_up_to_the_horizon_and_has_no_pos_tone() {
        let (d, t) = spec_example();
        let a = Announcement::plan(d, 0, &t, 20_000);
        assert_eq!(a.release_ms, None);
        assert!(a.segments.iter().all(|s| s.kind != SegmentKind::PosTone));
        let last = a.segments.last().unwrap();
        assert!(last.start_ms < 20_000, "{last:?}");
        assert_eq!(a.code_played_until(5000), (1, 1600));
    }
}
