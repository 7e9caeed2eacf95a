//! The answered part of a voice-notification call (spec §11.4): its segments played in order,
//! each optionally followed by digit collection, a collection that matches the segment's trigger
//! replaying it. Pure and sans-IO like the rest of [`crate::call`]: the [`Call`](super::Call)
//! owns a [`Playlist`], asks it for its next deadline, and feeds it time and keys.
//!
//! Timing (spec §11.4, §5.2): the first segment starts `media_start_ms` after answer, segments
//! are `segment_gap_ms` apart, a collection starts when its segment's audio ends, and the
//! platform hangs up `hangup_delay_ms` after the last segment (or its collection).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{CallTimings, StateCode};
use crate::clock::SimInstant;

/// One `playInfoList` entry, as the call needs it: how long it plays and what follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlaySegment {
    /// The segment's audio, voice file and template speech together.
    pub length_ms: u64,
    /// Template speech, at the segment's end (a voice file plays first, spec §11.1).
    pub tts_ms: u64,
    /// Whether a template plays in it (counted in the CDR's `ttsPlayTimes`).
    pub has_template: bool,
    /// 0: no collection; 1-32: collect up to that many digits after the segment (`collectInd`).
    pub collect: u8,
    /// Replay the segment when the collected digits equal this (`collectContentTriggerReplaying`
    /// with `replayAfterCollection` "true").
    pub replay_on: Option<String>,
}

/// Collection timing (the config's `[notify]` section, spec §11.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyTimings {
    /// How long a collection waits for the first key.
    pub collect_timeout_ms: u64,
    /// How long it waits for each further key.
    pub inter_digit_timeout_ms: u64,
}

impl Default for NotifyTimings {
    fn default() -> Self {
        NotifyTimings {
            collect_timeout_ms: 5000,
            inter_digit_timeout_ms: 5000,
        }
    }
}

/// The keys a simulated callee presses: one string per collection, in order (scenario `digits`),
/// starting `delay_ms` after a collection starts, `gap_ms` apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keypad {
    pub digits: VecDeque<String>,
    pub delay_ms: u64,
    pub gap_ms: u64,
}

/// What the playlist tells the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayOut {
    /// Segment `index` (from 0) started playing; `replay` if it plays again after its trigger.
    Playing {
        index: usize,
        replay: bool,
        at: SimInstant,
    },
    /// A digit collection started after segment `index`.
    Collecting { index: usize, at: SimInstant },
    /// The callee pressed `key`; `collected` says whether a collection took it.
    Key {
        key: char,
        collected: bool,
        at: SimInstant,
    },
    /// A collection ended with these digits (at least one): the `collectInfo` push.
    Collected { digits: String, at: SimInstant },
    /// The platform releases the call: 0 after the last segment, 8008 when a collection got
    /// nothing.
    Release { code: StateCode, at: SimInstant },
}

#[derive(Debug, Clone)]
enum Stage {
    /// Waiting to start segment `index` at `at`.
    Before {
        index: usize,
        replay: bool,
        at: SimInstant,
    },
    Playing {
        index: usize,
        started: SimInstant,
    },
    Collecting {
        index: usize,
        digits: String,
        /// When the collection gives up: the first-key timeout, then the inter-digit one.
        gives_up: SimInstant,
        /// The callee's scripted keys for this collection, with their times.
        scripted: VecDeque<(SimInstant, char)>,
    },
    /// The platform hangs up at `at` with `code`.
    Ending {
        code: StateCode,
        at: SimInstant,
    },
    Done,
}

/// The notification's segments and where playback stands.
#[derive(Debug, Clone)]
pub struct Playlist {
    segments: Vec<PlaySegment>,
    timings: CallTimings,
    notify: NotifyTimings,
    keypad: Keypad,
    stage: Stage,
    out: VecDeque<PlayOut>,
    /// Template segments started, replays included (`ttsPlayTimes`).
    template_plays: u32,
    /// Template speech played so far, in ms (`ttsTransDuration`, rounded up to seconds).
    tts_ms: u64,
    /// When the first collection started (`dynIVRStartTime`).
    ivr_start: Option<SimInstant>,
    /// Each non-empty collection's digits (`dynIVRPath`, joined with `-`).
    ivr_path: Vec<String>,
}

/// What a playlist contributes to the CDR (spec §11.5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlayFacts {
    pub template_plays: u32,
    pub tts_ms: u64,
    pub ivr_start: Option<SimInstant>,
    pub ivr_path: Vec<String>,
}

impl Playlist {
    /// A playlist that starts once the callee answers at `answer`.
    pub fn start(
        segments: Vec<PlaySegment>,
        timings: &CallTimings,
        notify: NotifyTimings,
        keypad: Keypad,
        answer: SimInstant,
    ) -> Playlist {
        let stage = if segments.is_empty() {
            Stage::Ending {
                code: StateCode::Released,
                at: answer.plus_ms(timings.hangup_delay_ms),
            }
        } else {
            Stage::Before {
                index: 0,
                replay: false,
                at: answer.plus_ms(timings.media_start_ms),
            }
        };
        Playlist {
            segments,
            timings: timings.clone(),
            notify,
            keypad,
            stage,
            out: VecDeque::new(),
            template_plays: 0,
            tts_ms: 0,
            ivr_start: None,
            ivr_path: Vec::new(),
        }
    }

    /// When the playlist next needs [`Playlist::on_deadline`]; `None` once it has released.
    pub fn next_deadline(&self) -> Option<SimInstant> {
        match &self.stage {
            Stage::Before { at, .. } | Stage::Ending { at, .. } => Some(*at),
            Stage::Playing { index, started } => {
                Some(started.plus_ms(self.segments[*index].length_ms))
            }
            Stage::Collecting {
                gives_up, scripted, ..
            } => Some(match scripted.front() {
                Some((key_at, _)) => (*key_at).min(*gives_up),
                None => *gives_up,
            }),
            Stage::Done => None,
        }
    }

    /// Moves on if the deadline is due at `now` (stamping what happens with the deadline).
    pub fn on_deadline(&mut self, now: SimInstant) {
        let Some(at) = self.next_deadline().filter(|d| *d <= now) else {
            return;
        };
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Before { index, replay, .. } => self.play(index, replay, at),
            Stage::Playing { index, started } => {
                self.count_tts(index, started, at);
                self.after_segment(index, at);
            }
            Stage::Collecting {
                index,
                digits,
                gives_up,
                mut scripted,
            } => match scripted.front() {
                Some((key_at, key)) if *key_at <= gives_up => {
                    let key = *key;
                    scripted.pop_front();
                    self.stage = Stage::Collecting {
                        index,
                        digits,
                        gives_up,
                        scripted,
                    };
                    self.key(key, at);
                }
                _ => self.end_collection(index, digits, at),
            },
            Stage::Ending { code, .. } => {
                self.out.push_back(PlayOut::Release { code, at });
            }
            Stage::Done => {}
        }
    }

    /// The callee pressed `key` at `now` (a person through the control API or the handset).
    /// Collected while a collection runs (`0`-`9`, `*`; `#` ends it); otherwise only noted.
    pub fn key(&mut self, key: char, now: SimInstant) {
        if !matches!(self.stage, Stage::Collecting { .. }) {
            // Not collecting: spec §11.4 collects only after a segment; the key is noted, not used.
            self.out.push_back(PlayOut::Key {
                key,
                collected: false,
                at: now,
            });
            return;
        }
        let Stage::Collecting {
            index,
            mut digits,
            scripted,
            ..
        } = std::mem::replace(&mut self.stage, Stage::Done)
        else {
            return;
        };
        let collected = key.is_ascii_digit() || key == '*';
        self.out.push_back(PlayOut::Key {
            key,
            collected: collected || key == '#',
            at: now,
        });
        if collected {
            digits.push(key);
        }
        let full = digits.len() >= usize::from(self.segments[index].collect);
        if key == '#' || full {
            self.end_collection(index, digits, now);
        } else {
            self.stage = Stage::Collecting {
                index,
                gives_up: now.plus_ms(self.notify.inter_digit_timeout_ms),
                digits,
                scripted,
            };
        }
    }

    /// The call ended at `at` for another reason (hang-up, maximum duration): stop, counting the
    /// template speech heard until then.
    pub fn cut(&mut self, at: SimInstant) {
        if let Stage::Playing { index, started } = self.stage {
            self.count_tts(index, started, at);
        }
        self.stage = Stage::Done;
    }

    /// The next thing the call must act on, in order.
    pub fn poll(&mut self) -> Option<PlayOut> {
        self.out.pop_front()
    }

    /// What the CDR says about the playback so far.
    pub fn facts(&self) -> PlayFacts {
        PlayFacts {
            template_plays: self.template_plays,
            tts_ms: self.tts_ms,
            ivr_start: self.ivr_start,
            ivr_path: self.ivr_path.clone(),
        }
    }

    /// The default hang-up point of a callee who hangs up mid-playback: the middle of the first
    /// segment (spec §11.4), in ms after answer.
    pub fn middle_of_first_segment(segments: &[PlaySegment], timings: &CallTimings) -> u64 {
        timings.media_start_ms + segments.first().map_or(0, |s| s.length_ms / 2)
    }

    fn play(&mut self, index: usize, replay: bool, at: SimInstant) {
        if self.segments[index].has_template {
            self.template_plays += 1;
        }
        self.out.push_back(PlayOut::Playing { index, replay, at });
        self.stage = Stage::Playing { index, started: at };
    }

    /// Adds the template speech of segment `index` (started at `started`) heard until `until`.
    fn count_tts(&mut self, index: usize, started: SimInstant, until: SimInstant) {
        let s = &self.segments[index];
        let tts_start = s.length_ms.saturating_sub(s.tts_ms);
        let heard = until.since(started).min(s.length_ms);
        self.tts_ms += heard.saturating_sub(tts_start);
    }

    fn after_segment(&mut self, index: usize, at: SimInstant) {
        if self.segments[index].collect == 0 {
            return self.next_segment(index, at);
        }
        self.ivr_start.get_or_insert(at);
        self.out.push_back(PlayOut::Collecting { index, at });
        let scripted = match self.keypad.digits.pop_front() {
            Some(keys) => {
                let first = at.plus_ms(self.keypad.delay_ms);
                keys.chars()
                    .enumerate()
                    .map(|(i, k)| (first.plus_ms(i as u64 * self.keypad.gap_ms), k))
                    .collect()
            }
            None => VecDeque::new(),
        };
        self.stage = Stage::Collecting {
            index,
            digits: String::new(),
            gives_up: at.plus_ms(self.notify.collect_timeout_ms),
            scripted,
        };
    }

    fn end_collection(&mut self, index: usize, digits: String, at: SimInstant) {
        if digits.is_empty() {
            // Spec §11.4: nothing keyed fails the call (8008, release point 100), with no push.
            self.stage = Stage::Ending {
                code: StateCode::CollectFailed,
                at,
            };
            return self.on_deadline(at);
        }
        let replay = self.segments[index].replay_on.as_deref() == Some(digits.as_str());
        self.ivr_path.push(digits.clone());
        self.out.push_back(PlayOut::Collected { digits, at });
        if replay {
            self.stage = Stage::Before {
                index,
                replay: true,
                at: at.plus_ms(self.timings.segment_gap_ms),
            };
        } else {
            self.next_segment(index, at);
        }
    }

    fn next_segment(&mut self, index: usize, at: SimInstant) {
        self.stage = if index + 1 < self.segments.len() {
            Stage::Before {
                index: index + 1,
                replay: false,
                at: at.plus_ms(self.timings.segment_gap_ms),
            }
        } else {
            Stage::Ending {
                code: StateCode::Released,
                at: at.plus_ms(self.timings.hangup_delay_ms),
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bill(collect: u8, replay_on: Option<&str>) -> PlaySegment {
        PlaySegment {
            length_ms: 7800,
            tts_ms: 7800,
            has_template: true,
            collect,
            replay_on: replay_on.map(str::to_owned),
        }
    }

    fn keypad(digits: &[&str]) -> Keypad {
        Keypad {
            digits: digits.iter().map(|d| d.to_string()).collect(),
            delay_ms: 1500,
            gap_ms: 300,
        }
    }

    /// Runs a playlist answered at 6 s to its release, jumping from deadline to deadline;
    /// returns what it said, times in ms.
    fn run(p: &mut Playlist) -> Vec<(String, u64)> {
        let mut seen = Vec::new();
        while let Some(at) = p.next_deadline() {
            p.on_deadline(at);
            while let Some(o) = p.poll() {
                seen.push(describe(&o));
            }
            if seen.iter().any(|(s, _)| s.starts_with("release")) {
                break;
            }
        }
        seen
    }

    fn describe(o: &PlayOut) -> (String, u64) {
        match o {
            PlayOut::Playing { index, replay, at } => (
                format!("play {index}{}", if *replay { " again" } else { "" }),
                at.ms(),
            ),
            PlayOut::Collecting { index, at } => (format!("collect {index}"), at.ms()),
            PlayOut::Key { key, collected, at } => (format!("key {key} {collected}"), at.ms()),
            PlayOut::Collected { digits, at } => (format!("collected {digits}"), at.ms()),
            PlayOut::Release { code, at } => (format!("release {}", code.code()), at.ms()),
        }
    }

    fn start(segments: Vec<PlaySegment>, keys: Keypad) -> Playlist {
        Playlist::start(
            segments,
            &CallTimings::default(),
            NotifyTimings::default(),
            keys,
            SimInstant::from_ms(6000),
        )
    }

    #[test]
    fn the_spec_example_replays_on_1_then_releases_after_2() {
        let mut p = start(vec![bill(1, Some("1"))], keypad(&["1", "2"]));
        let seen = run(&mut p);
        let expect: Vec<(String, u64)> = [
            ("play 0", 6500),
            ("collect 0", 14_300),
            ("key 1 true", 15_800),
            ("collected 1", 15_800),
            ("play 0 again", 16_300),
            ("collect 0", 24_100),
            ("key 2 true", 25_600),
            ("collected 2", 25_600),
            ("release 0", 26_100),
        ]
        .iter()
        .map(|(s, t)| (s.to_string(), *t))
        .collect();
        assert_eq!(seen, expect);
        let facts = p.facts();
        assert_eq!(
            (facts.template_plays, facts.tts_ms, facts.ivr_path.clone()),
            (2, 15_600, vec!["1".to_owned(), "2".to_owned()])
        );
        assert_eq!(facts.ivr_start, Some(SimInstant::from_ms(14_300)));
    }

    #[test]
    fn nothing_keyed_fails_the_call_with_8008_after_the_collect_timeout() {
        let mut p = start(vec![bill(1, None)], Keypad::default());
        let seen = run(&mut p);
        assert_eq!(
            seen.last().unwrap(),
            &("release 8008".to_owned(), 14_300 + 5000)
        );
        assert!(!seen.iter().any(|(s, _)| s.starts_with("collected")));
        assert!(p.facts().ivr_path.is_empty());
    }

    #[test]
    fn hash_ends_a_collection_early_and_is_not_collected() {
        let mut p = start(vec![bill(4, None)], keypad(&["12#"]));
        let seen = run(&mut p);
        assert!(seen.contains(&("collected 12".to_owned(), 14_300 + 1500 + 600)));
        assert_eq!(
            seen.last().unwrap(),
            &("release 0".to_owned(), 16_400 + 500)
        );
    }

    #[test]
    fn the_inter_digit_timeout_ends_a_collection_that_got_fewer_keys_than_asked() {
        let mut p = start(vec![bill(4, None)], keypad(&["12"]));
        let seen = run(&mut p);
        // The second key comes at 16.1 s; 5 s later the collection gives up with what it has.
        assert!(seen.contains(&("collected 12".to_owned(), 16_100 + 5000)));
    }

    #[test]
    fn segments_play_in_order_and_keys_go_to_the_collection_they_fall_in() {
        let voice = PlaySegment {
            length_ms: 2000,
            tts_ms: 0,
            has_template: false,
            collect: 0,
            replay_on: None,
        };
        let mut p = start(vec![voice, bill(1, None)], Keypad::default());
        // A key during playback is noted but not collected.
        p.on_deadline(SimInstant::from_ms(6500));
        p.key('5', SimInstant::from_ms(7000));
        let seen = run(&mut p);
        assert!(seen.contains(&("key 5 false".to_owned(), 7000)));
        assert!(seen.contains(&("play 1".to_owned(), 9000)));
        // Pressed by a person mid-collection.
        let mut p = start(vec![bill(1, None)], Keypad::default());
        while p.next_deadline() != Some(SimInstant::from_ms(14_300 + 5000)) {
            let at = p.next_deadline().unwrap();
            p.on_deadline(at);
        }
        p.key('7', SimInstant::from_ms(15_000));
        let seen = run(&mut p);
        assert!(
            seen.contains(&("collected 7".to_owned(), 15_000)),
            "{seen:?}"
        );
        assert_eq!(seen.last().unwrap(), &("release 0".to_owned(), 15_500));
    }

    #[test]
    fn a_cut_counts_only_the_template_speech_heard() {
        let mut p = start(vec![bill(0, None)], Keypad::default());
        p.on_deadline(SimInstant::from_ms(6500));
        p.cut(SimInstant::from_ms(6500 + 3000));
        assert_eq!(p.facts().tts_ms, 3000);
        assert_eq!(p.next_deadline(), None);
    }
}
