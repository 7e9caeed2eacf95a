//! The simulated call: a pure, sans-IO state machine (spec §5).
//!
//! A [`Call`] is driven by its owner (the engine) in the quinn-proto style: [`Call::accept`]
//! starts it, [`Call::next_deadline`] says when it next needs attention, [`Call::on_deadline`]
//! moves it on, and [`Call::poll_effect`] drains what the outside world must see (status events,
//! timeline notes). No I/O, no clock: time comes in as an argument, so unit tests step it by
//! jumping from deadline to deadline.
//!
//! Lifecycle: `accepted → callout → alerting → answered (playing) → released` (spec §5.1); which
//! of these happen, and when, depends on the call's [`Outcome`], fixed at acceptance, and on its
//! [`CallTimings`] (`timings`, the config's `[call]` section).

pub mod announcement;
pub mod codes;
pub mod request;
pub mod scenario;
pub mod template;
pub mod timeline;
pub mod timings;

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::clock::SimInstant;
use announcement::{Announcement, SegmentKind};
pub use codes::StateCode;
pub use timings::CallTimings;

/// What the callee (or the platform) does with this call, fixed when the call is accepted
/// (spec §5.1, §5.3). Parameters left `None` take the spec's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Answers after `ring_ms` of ringing (default `call.answer_delay_ms`) and listens to the end.
    Answer {
        ring_ms: Option<u64>,
    },
    /// Answers, then hangs up `hangup_after_ms` after answering (default: mid first reading).
    HangupDuringPlayback {
        hangup_after_ms: Option<u64>,
    },
    /// Busy before ringing.
    Busy,
    /// Rings; the network reports no answer after `no_answer_after_s` (default 30).
    NoAnswer {
        no_answer_after_s: Option<u64>,
    },
    /// Rings until `call.ring_timeout_s`; the platform cancels.
    RingTimeout,
    /// Declines while ringing, `reject_after_ms` after alerting (default 3000).
    Rejected {
        reject_after_ms: Option<u64>,
    },
    PoweredOff,
    Unreachable,
    NotExist,
    /// Refused before callout: the callee is blacklisted.
    Blacklisted,
    /// Refused before callout by a frequency rule of this scope.
    FrequencyControlled {
        scope: FrequencyScope,
    },
    /// Refused before callout: no platform voice port was free (spec §5.4).
    PortsExhausted,
}

impl Outcome {
    /// The default: the callee answers after the configured ring time and listens to the end.
    pub const ANSWER: Outcome = Outcome::Answer { ring_ms: None };

    /// Whether the call is refused before any leg is placed (spec §5.3).
    pub fn is_precall(&self) -> bool {
        matches!(
            self,
            Outcome::Blacklisted | Outcome::FrequencyControlled { .. } | Outcome::PortsExhausted
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrequencyScope {
    Developer,
    App,
    DisplayNumber,
    /// Calls to one callee number across the developer's apps (Dialtone's addition: the real
    /// platform protects phone owners from floods of code calls). Released with 7001.
    Callee,
}

/// Where a call stands, as the inspection API names it (`GET /sim/v1/calls?state=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallState {
    /// Accepted, not yet placed.
    Accepted,
    /// Placed, not yet ringing.
    Callout,
    /// Ringing.
    Alerting,
    Answered,
    Released,
}

impl CallState {
    /// The state a call reached, judged by the last status event on its timeline (for a call
    /// known only from the database).
    pub fn reached(
        timeline: impl DoubleEndedIterator<Item = timeline::TimelineEvent>,
    ) -> CallState {
        use timeline::TimelineEvent as E;
        let mut timeline = timeline.rev();
        loop {
            match timeline.next() {
                None => return CallState::Accepted,
                Some(E::Callout) => return CallState::Callout,
                Some(E::Alerting) => return CallState::Alerting,
                Some(E::Answer) => return CallState::Answered,
                Some(E::Disconnect) => return CallState::Released,
                Some(E::Playing | E::Note) => {}
            }
        }
    }
}

/// The call-status events an app can observe (spec §6.1 `eventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "eventType")]
pub enum StatusEvent {
    Callout,
    Alerting,
    Answer,
    Disconnect {
        #[serde(rename = "stateCode")]
        state_code: StateCode,
    },
}

impl StatusEvent {
    /// The `eventType` string.
    pub fn name(&self) -> &'static str {
        match self {
            StatusEvent::Callout => "callout",
            StatusEvent::Alerting => "alerting",
            StatusEvent::Answer => "answer",
            StatusEvent::Disconnect { .. } => "disconnect",
        }
    }
}

/// Something the outside world must learn from the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A status event, to be pushed to the app (spec §6).
    Status { event: StatusEvent, at: SimInstant },
    /// A part of the announcement started playing: recorded on the call's timeline only.
    Playing {
        segment: SegmentKind,
        at: SimInstant,
    },
}

#[derive(Debug, Clone)]
enum Phase {
    /// Accepted but not placed: only pre-call rejections wait here.
    Accepted,
    /// Callout sent, waiting for alerting or a failure.
    Dialing,
    /// The callee's phone rings.
    Ringing,
    /// Answered; the remaining announcement steps, in time order.
    Connected {
        steps: VecDeque<(SimInstant, Step)>,
    },
    Released,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Play(SegmentKind),
    Release(StateCode),
}

/// The facts of a call so far, for the CDR and the inspection API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallTimes {
    pub accepted: SimInstant,
    pub callout: Option<SimInstant>,
    pub alerting: Option<SimInstant>,
    pub answer: Option<SimInstant>,
    pub end: Option<SimInstant>,
}

/// How the call ended (present once released).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ending {
    pub state_code: StateCode,
    /// Readings of the code started: the CDR's `ttsPlayTimes`.
    pub readings: u32,
    /// Milliseconds of code audio played; the CDR's `ttsTransDuration` is this rounded up to seconds.
    pub code_ms: u64,
}

/// One simulated call. See the module docs for how to drive it.
#[derive(Debug, Clone)]
pub struct Call {
    outcome: Outcome,
    timings: CallTimings,
    announcement: Announcement,
    phase: Phase,
    deadline: Option<SimInstant>,
    times: CallTimes,
    ending: Option<Ending>,
    effects: VecDeque<Effect>,
}

impl Call {
    /// Starts a call accepted at `now`. Placed calls emit `callout` immediately (spec §5.2: callout
    /// follows the HTTP response); pre-call rejections release after `call.precall_release_ms`.
    pub fn accept(
        outcome: Outcome,
        announcement: Announcement,
        timings: &CallTimings,
        now: SimInstant,
    ) -> Call {
        let mut call = Call {
            outcome,
            timings: timings.clone(),
            announcement,
            phase: Phase::Accepted,
            deadline: None,
            times: CallTimes {
                accepted: now,
                ..CallTimes::default()
            },
            ending: None,
            effects: VecDeque::new(),
        };
        if call.precall_code().is_some() {
            call.deadline = Some(now.plus_ms(timings.precall_release_ms));
        } else {
            call.callout(now);
        }
        call
    }

    /// When [`Call::on_deadline`] must next be called; `None` once released.
    pub fn next_deadline(&self) -> Option<SimInstant> {
        self.deadline
    }

    /// Handles the deadline if it is due at `now`. Events are stamped with the deadline itself,
    /// not `now`, so a late wake-up never changes what the app sees.
    pub fn on_deadline(&mut self, now: SimInstant) {
        let Some(at) = self.deadline.filter(|d| *d <= now) else {
            return;
        };
        self.deadline = None;
        match std::mem::replace(&mut self.phase, Phase::Released) {
            Phase::Accepted => {
                let code = self
                    .precall_code()
                    .expect("only pre-call rejections wait in Accepted");
                self.release(at, code);
            }
            Phase::Dialing => self.after_dialing(at),
            Phase::Ringing => self.after_ringing(at),
            Phase::Connected { steps } => self.connected_step(at, steps),
            Phase::Released => {}
        }
    }

    /// A call carried over from a previous run by recovery: it has ended (`ending`), with the
    /// times that run recorded. It has no deadline and no effects.
    pub fn restored(
        outcome: Outcome,
        times: CallTimes,
        ending: Ending,
        timings: &CallTimings,
    ) -> Call {
        Call {
            outcome,
            timings: timings.clone(),
            announcement: Announcement {
                segments: Vec::new(),
                release_ms: None,
            },
            phase: Phase::Released,
            deadline: None,
            times,
            ending: Some(ending),
            effects: VecDeque::new(),
        }
    }

    /// The next effect to act on, in the order they happened.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    pub fn announcement(&self) -> &Announcement {
        &self.announcement
    }

    pub fn times(&self) -> &CallTimes {
        &self.times
    }

    /// How the call ended; `None` while it is in progress.
    pub fn ending(&self) -> Option<&Ending> {
        self.ending.as_ref()
    }

    /// Where the call stands.
    pub fn state(&self) -> CallState {
        match self.phase {
            Phase::Accepted => CallState::Accepted,
            Phase::Dialing => CallState::Callout,
            Phase::Ringing => CallState::Alerting,
            Phase::Connected { .. } => CallState::Answered,
            Phase::Released => CallState::Released,
        }
    }

    fn precall_code(&self) -> Option<StateCode> {
        match self.outcome {
            Outcome::Blacklisted => Some(StateCode::Blacklisted),
            Outcome::FrequencyControlled { scope } => Some(match scope {
                FrequencyScope::Developer | FrequencyScope::Callee => StateCode::DeveloperFrequency,
                FrequencyScope::App => StateCode::AppFrequency,
                FrequencyScope::DisplayNumber => StateCode::DisplayNumberFrequency,
            }),
            Outcome::PortsExhausted => Some(StateCode::NoPorts),
            _ => None,
        }
    }

    /// Failures that never ring: released `call.fail_delay_ms` after callout (spec §5.3).
    fn failure_without_ringing(&self) -> Option<StateCode> {
        match self.outcome {
            Outcome::Busy => Some(StateCode::Busy),
            Outcome::PoweredOff => Some(StateCode::PoweredOff),
            Outcome::Unreachable => Some(StateCode::Unreachable),
            Outcome::NotExist => Some(StateCode::NotExist),
            _ => None,
        }
    }

    fn callout(&mut self, at: SimInstant) {
        self.times.callout = Some(at);
        self.emit(StatusEvent::Callout, at);
        self.phase = Phase::Dialing;
        self.deadline = Some(match self.failure_without_ringing() {
            Some(_) => at.plus_ms(self.timings.fail_delay_ms),
            None => at.plus_ms(self.timings.alerting_delay_ms),
        });
    }

    fn after_dialing(&mut self, at: SimInstant) {
        if let Some(code) = self.failure_without_ringing() {
            return self.release(at, code);
        }
        self.times.alerting = Some(at);
        self.emit(StatusEvent::Alerting, at);
        self.phase = Phase::Ringing;
        // Whatever the callee does, the platform stops ringing at the ring timeout (spec §5.2).
        let timeout_ms = self.timings.ring_timeout_s * 1000;
        let callee_ms = match self.outcome {
            Outcome::Answer { ring_ms } => ring_ms.unwrap_or(self.timings.answer_delay_ms),
            Outcome::HangupDuringPlayback { .. } => self.timings.answer_delay_ms,
            Outcome::NoAnswer { no_answer_after_s } => no_answer_after_s.unwrap_or(30) * 1000,
            Outcome::Rejected { reject_after_ms } => reject_after_ms.unwrap_or(3000),
            _ => timeout_ms,
        };
        self.deadline = Some(at.plus_ms(callee_ms.min(timeout_ms)));
    }

    fn after_ringing(&mut self, at: SimInstant) {
        let rang_ms = at.since(self.times.alerting.unwrap_or(at));
        let timed_out = rang_ms >= self.timings.ring_timeout_s * 1000;
        match self.outcome {
            Outcome::Answer { .. } | Outcome::HangupDuringPlayback { .. } if !timed_out => {
                self.answer(at)
            }
            Outcome::NoAnswer { .. } if !timed_out => self.release(at, StateCode::NoAnswer),
            Outcome::Rejected { .. } if !timed_out => self.release(at, StateCode::Rejected),
            _ => self.release(at, StateCode::RingTimeout),
        }
    }

    fn answer(&mut self, at: SimInstant) {
        self.times.answer = Some(at);
        self.emit(StatusEvent::Answer, at);
        // The call ends at the first of: the platform's release after the announcement, the
        // callee hanging up, the maximum call duration (spec §5.2, §5.3).
        let max_ms = self.timings.max_duration_s * 1000;
        let mut end = (max_ms, StateCode::MaxDuration);
        if let Some(release) = self.announcement.release_ms.filter(|r| *r <= end.0) {
            end = (release, StateCode::Released);
        }
        if let Outcome::HangupDuringPlayback { hangup_after_ms } = self.outcome {
            let hangup =
                hangup_after_ms.unwrap_or_else(|| self.announcement.middle_of_first_reading());
            if hangup < end.0 {
                end = (hangup, StateCode::UserHangup);
            }
        }
        let mut steps: VecDeque<_> = self
            .announcement
            .segments
            .iter()
            .filter(|s| s.start_ms < end.0)
            .map(|s| (at.plus_ms(s.start_ms), Step::Play(s.kind)))
            .collect();
        steps.push_back((at.plus_ms(end.0), Step::Release(end.1)));
        self.schedule_connected(steps);
    }

    fn connected_step(&mut self, at: SimInstant, mut steps: VecDeque<(SimInstant, Step)>) {
        match steps.pop_front() {
            Some((_, Step::Play(segment))) => {
                self.effects.push_back(Effect::Playing { segment, at });
                self.schedule_connected(steps);
            }
            Some((_, Step::Release(code))) => self.release(at, code),
            None => self.release(at, StateCode::Released),
        }
    }

    fn schedule_connected(&mut self, steps: VecDeque<(SimInstant, Step)>) {
        self.deadline = steps.front().map(|(t, _)| *t);
        self.phase = Phase::Connected { steps };
    }

    fn release(&mut self, at: SimInstant, state_code: StateCode) {
        let (readings, code_ms) = match self.times.answer {
            Some(answer) => self.announcement.code_played_until(at.since(answer)),
            None => (0, 0),
        };
        self.times.end = Some(at);
        self.ending = Some(Ending {
            state_code,
            readings,
            code_ms,
        });
        self.phase = Phase::Released;
        self.deadline = None;
        self.emit(StatusEvent::Disconnect { state_code }, at);
    }

    fn emit(&mut self, event: StatusEvent, at: SimInstant) {
        self.effects.push_back(Effect::Status { event, at });
    }
}

#[cfg(test)]
mod tests {
    use super::announcement::Durations;
    use super::*;

    fn timings() -> CallTimings {
        CallTimings::default()
    }

    /// The §5.2 example announcement: welcome 2.4 s, reading 2.9 s, bye 1.8 s, times 3.
    fn spec_announcement(times: u8) -> Announcement {
        let d = Durations {
            pre_tone_ms: 2400,
            reading_ms: 2900,
            pos_tone_ms: (times > 0).then_some(1800),
        };
        Announcement::plan(d, times, &timings(), timings().max_duration_s * 1000)
    }

    /// Runs a call to the end by jumping from deadline to deadline; returns the status events.
    fn run(outcome: Outcome, times: u8) -> (Call, Vec<(&'static str, u64)>) {
        let mut call = Call::accept(outcome, spec_announcement(times), &timings(), SimInstant(0));
        let mut seen = Vec::new();
        let mut guard = 0;
        loop {
            while let Some(effect) = call.poll_effect() {
                if let Effect::Status { event, at } = effect {
                    seen.push((event.name(), at.ms()));
                }
            }
            let Some(deadline) = call.next_deadline() else {
                break;
            };
            call.on_deadline(deadline);
            guard += 1;
            assert!(guard < 1000, "call never ended");
        }
        (call, seen)
    }

    fn code_of(call: &Call) -> u32 {
        call.ending().unwrap().state_code.code()
    }

    #[test]
    fn answered_call_follows_the_spec_timeline() {
        let (call, events) = run(Outcome::ANSWER, 3);
        assert_eq!(
            events,
            vec![
                ("callout", 0),
                ("alerting", 2000),
                ("answer", 6000),
                ("disconnect", 22_900)
            ]
        );
        let ending = call.ending().unwrap();
        assert_eq!(
            (ending.state_code, ending.readings, ending.code_ms),
            (StateCode::Released, 3, 8700)
        );
    }

    #[test]
    fn answered_call_notes_each_segment_as_it_starts() {
        let mut call = Call::accept(
            Outcome::ANSWER,
            spec_announcement(2),
            &timings(),
            SimInstant(0),
        );
        let mut playing = Vec::new();
        while let Some(d) = call.next_deadline() {
            call.on_deadline(d);
            while let Some(e) = call.poll_effect() {
                if let Effect::Playing { segment, at } = e {
                    playing.push((segment, at.ms()));
                }
            }
        }
        assert_eq!(
            playing,
            vec![
                (SegmentKind::PreTone, 6500),
                (SegmentKind::Code(1), 9400),
                (SegmentKind::Code(2), 13_300),
                (SegmentKind::PosTone, 16_700),
            ]
        );
    }

    #[test]
    fn hangup_mid_code_ends_with_8017_and_counts_the_partial_reading() {
        let (call, events) = run(
            Outcome::HangupDuringPlayback {
                hangup_after_ms: Some(8000),
            },
            3,
        );
        assert_eq!(events.last(), Some(&("disconnect", 14_000)));
        let e = call.ending().unwrap();
        assert_eq!(
            (code_of(&call), e.readings, e.code_ms),
            (8017, 2, 2900 + 700)
        );
    }

    #[test]
    fn hangup_default_is_the_middle_of_the_first_reading() {
        let (call, events) = run(
            Outcome::HangupDuringPlayback {
                hangup_after_ms: None,
            },
            3,
        );
        assert_eq!(events.last(), Some(&("disconnect", 6000 + 4850)));
        assert_eq!(call.ending().unwrap().readings, 1);
    }

    #[test]
    fn a_hangup_after_the_platform_released_changes_nothing() {
        let (call, _) = run(
            Outcome::HangupDuringPlayback {
                hangup_after_ms: Some(60_000),
            },
            3,
        );
        assert_eq!(code_of(&call), 0);
    }

    #[test]
    fn times_zero_repeats_until_the_maximum_duration() {
        let (call, events) = run(Outcome::ANSWER, 0);
        assert_eq!(events.last(), Some(&("disconnect", 6000 + 120_000)));
        assert_eq!(code_of(&call), 8010);
        assert!(call.ending().unwrap().readings > 20);
    }

    #[test]
    fn failures_without_ringing_release_after_the_fail_delay() {
        for (outcome, code) in [
            (Outcome::Busy, 8102),
            (Outcome::PoweredOff, 8104),
            (Outcome::Unreachable, 8103),
            (Outcome::NotExist, 8100),
        ] {
            let (call, events) = run(outcome, 3);
            assert_eq!(events, vec![("callout", 0), ("disconnect", 2000)]);
            assert_eq!(code_of(&call), code);
            assert_eq!(call.times().alerting, None);
        }
    }

    #[test]
    fn ringing_failures_release_at_their_own_time() {
        let cases = [
            (
                Outcome::NoAnswer {
                    no_answer_after_s: None,
                },
                2000 + 30_000,
                8101,
            ),
            (
                Outcome::NoAnswer {
                    no_answer_after_s: Some(90),
                },
                2000 + 60_000,
                8003,
            ),
            (Outcome::RingTimeout, 2000 + 60_000, 8003),
            (
                Outcome::Rejected {
                    reject_after_ms: None,
                },
                2000 + 3000,
                8105,
            ),
            (
                Outcome::Answer {
                    ring_ms: Some(61_000),
                },
                2000 + 60_000,
                8003,
            ),
        ];
        for (outcome, end, code) in cases {
            let (call, events) = run(outcome.clone(), 3);
            assert_eq!(
                events,
                vec![("callout", 0), ("alerting", 2000), ("disconnect", end)],
                "{outcome:?}"
            );
            assert_eq!(code_of(&call), code, "{outcome:?}");
        }
    }

    #[test]
    fn slow_answer_rings_longer_then_plays_the_code() {
        let (call, events) = run(
            Outcome::Answer {
                ring_ms: Some(20_000),
            },
            1,
        );
        assert_eq!(events[2], ("answer", 22_000));
        assert_eq!(code_of(&call), 0);
    }

    #[test]
    fn precall_rejections_push_only_a_disconnect() {
        for (outcome, code) in [
            (Outcome::Blacklisted, 7004),
            (
                Outcome::FrequencyControlled {
                    scope: FrequencyScope::Developer,
                },
                7001,
            ),
            (
                Outcome::FrequencyControlled {
                    scope: FrequencyScope::App,
                },
                7002,
            ),
            (
                Outcome::FrequencyControlled {
                    scope: FrequencyScope::DisplayNumber,
                },
                7003,
            ),
            (Outcome::PortsExhausted, 7109),
        ] {
            let (call, events) = run(outcome, 3);
            assert_eq!(events, vec![("disconnect", 500)]);
            assert_eq!(code_of(&call), code);
            assert_eq!(call.times().callout, None);
        }
    }

    #[test]
    fn a_deadline_not_yet_due_does_nothing() {
        let mut call = Call::accept(
            Outcome::ANSWER,
            spec_announcement(1),
            &timings(),
            SimInstant(0),
        );
        call.poll_effect();
        call.on_deadline(SimInstant(1999));
        assert_eq!(call.poll_effect(), None);
        assert_eq!(call.state(), CallState::Callout);
    }

    #[test]
    fn a_late_wake_up_stamps_events_with_the_deadline() {
        let mut call = Call::accept(
            Outcome::ANSWER,
            spec_announcement(1),
            &timings(),
            SimInstant(0),
        );
        call.poll_effect();
        call.on_deadline(SimInstant(2500));
        assert_eq!(
            call.poll_effect(),
            Some(Effect::Status {
                event: StatusEvent::Alerting,
                at: SimInstant(2000)
            })
        );
    }
}
