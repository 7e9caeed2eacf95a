//! The part of a click-to-call after A answered (spec §12.3): `preVoice` to A, the B leg placed
//! and rung, the record hint, the conversation, `maxDuration` with its last-minute voice, and
//! the one release. Pure and sans-IO: the [`Call`](super::Call) owns a [`Bridge`], asks it for
//! its next deadline and drains what it says.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{leg, CallTimings, Outcome, StateCode};
use crate::clock::SimInstant;

/// Click-to-call timing (the config's `[c2c]` section, spec §12.3, §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct C2cTimings {
    /// A's answer (or the end of `preVoice`) → B's callout.
    pub b_leg_delay_ms: u64,
    /// How long A and B talk unless B's rule says `talk_s`.
    pub talk_s: u64,
}

impl Default for C2cTimings {
    fn default() -> Self {
        C2cTimings {
            b_leg_delay_ms: 500,
            talk_s: 30,
        }
    }
}

/// Who ends the conversation (`hangup_by` on B's rule; `partyType` 0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Party {
    A,
    B,
}

/// A click-to-call's second leg and what surrounds it, fixed at acceptance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// What B does (the rule matching `calleeNbr`).
    pub b_outcome: Outcome,
    pub media: CallbackMedia,
    pub timings: C2cTimings,
}

/// What the request asks to play and limit, measured by the API from the clips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackMedia {
    /// `preVoice` played to A before B is called, its length.
    pub pre_voice_ms: Option<u64>,
    /// `recordHintTone` both hear after B answers, when recording; recording starts after it.
    pub record_hint_ms: Option<u64>,
    /// Whether the call is recorded (`recordFlag`).
    pub record: bool,
    /// `maxDuration` in minutes from B's answer; 0: no limit.
    pub max_duration_min: u32,
}

/// What the bridge tells the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeOut {
    /// A B-leg status event: `callout`, `alerting` or `answer`.
    B { event: BEvent, at: SimInstant },
    /// Something starts playing (for the timeline): `preVoice`, `recordHintTone`,
    /// `lastMinVoice`.
    Media { what: &'static str, at: SimInstant },
    /// Recording starts (after the hint, or at B's answer).
    Recording { at: SimInstant },
    /// The one release: `code`, and `partyType` (0 A, 1 B, 2 the platform).
    Release {
        code: StateCode,
        party: u8,
        at: SimInstant,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BEvent {
    Callout,
    Alerting,
    Answer,
}

#[derive(Debug, Clone)]
enum Stage {
    /// `preVoice` plays to A until then.
    PreVoice {
        until: SimInstant,
    },
    /// B is called at `at`.
    BeforeB {
        at: SimInstant,
    },
    /// B's callout went out; at `at` B rings or fails with `fails`.
    BDialing {
        at: SimInstant,
        fails: Option<StateCode>,
    },
    /// B rings until `until`; then answers (`None`) or fails.
    BRinging {
        until: SimInstant,
        result: Option<StateCode>,
    },
    /// Both talk; at `until` the conversation ends (`party` hangs up).
    Talking {
        until: SimInstant,
        party: Party,
    },
    Done,
}

/// The bridge from A's answer to the release.
#[derive(Debug, Clone)]
pub struct Bridge {
    plan: Callback,
    timings: CallTimings,
    stage: Stage,
    /// A gives up then if B has not answered (`hangup_before_b_answer`).
    a_gives_up: Option<SimInstant>,
    /// After B's answer: `maxDuration`'s last-minute voice, then its release.
    last_minute: Option<SimInstant>,
    limit: Option<SimInstant>,
    out: VecDeque<BridgeOut>,
    b_times: BTimes,
}

/// The B leg's times, for the CDR's `fwd*` fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BTimes {
    pub callout: Option<SimInstant>,
    pub alerting: Option<SimInstant>,
    pub answer: Option<SimInstant>,
    pub recording: Option<SimInstant>,
    /// B's failure, if B failed (its Q.850 goes in `fwdUnaswRsn`).
    pub failed: Option<StateCode>,
}

impl Bridge {
    /// A answered at `answer`; `a` is A's outcome (for `hangup_before_b_answer`).
    pub fn start(plan: Callback, a: &Outcome, timings: &CallTimings, answer: SimInstant) -> Bridge {
        let stage = match plan.media.pre_voice_ms {
            Some(ms) => Stage::PreVoice {
                until: answer.plus_ms(ms),
            },
            None => Stage::BeforeB {
                at: answer.plus_ms(plan.timings.b_leg_delay_ms),
            },
        };
        let a_gives_up = match a {
            Outcome::HangupBeforeBAnswer { hangup_after_ms } => {
                Some(answer.plus_ms(hangup_after_ms.unwrap_or(3000)))
            }
            _ => None,
        };
        let mut out = VecDeque::new();
        if plan.media.pre_voice_ms.is_some() {
            out.push_back(BridgeOut::Media {
                what: "preVoice",
                at: answer,
            });
        }
        Bridge {
            plan,
            timings: timings.clone(),
            stage,
            a_gives_up,
            last_minute: None,
            limit: None,
            out,
            b_times: BTimes::default(),
        }
    }

    /// The B leg so far.
    pub fn b_times(&self) -> BTimes {
        self.b_times
    }

    /// When [`Bridge::on_deadline`] is next needed; `None` once released.
    pub fn next_deadline(&self) -> Option<SimInstant> {
        let stage = match &self.stage {
            Stage::PreVoice { until } | Stage::BRinging { until, .. } => Some(*until),
            Stage::BeforeB { at } | Stage::BDialing { at, .. } => Some(*at),
            Stage::Talking { until, .. } => Some(*until),
            Stage::Done => return None,
        };
        [stage, self.gives_up(), self.last_minute, self.limit]
            .into_iter()
            .flatten()
            .min()
    }

    /// A gives up only while B has not answered.
    fn gives_up(&self) -> Option<SimInstant> {
        self.a_gives_up.filter(|_| self.b_times.answer.is_none())
    }

    /// Moves on at the deadline, if it is due at `now`.
    pub fn on_deadline(&mut self, now: SimInstant) {
        let Some(at) = self.next_deadline().filter(|d| *d <= now) else {
            return;
        };
        if self.gives_up() == Some(at) {
            let b_ringing = matches!(self.stage, Stage::BRinging { .. });
            return self.release(StateCode::CallerGaveUp { b_ringing }, 0, at);
        }
        if self.limit == Some(at) {
            return self.release(StateCode::MaxDuration, 2, at);
        }
        if self.last_minute == Some(at) {
            self.last_minute = None;
            self.out.push_back(BridgeOut::Media {
                what: "lastMinVoice",
                at,
            });
            return;
        }
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::PreVoice { .. } => {
                self.stage = Stage::BeforeB {
                    at: at.plus_ms(self.plan.timings.b_leg_delay_ms),
                }
            }
            Stage::BeforeB { .. } => {
                self.b_times.callout = Some(at);
                self.emit(BEvent::Callout, at);
                let fails = leg::failure_without_ringing(&self.plan.b_outcome);
                let delay = match fails {
                    Some(_) => self.timings.fail_delay_ms,
                    None => self.timings.alerting_delay_ms,
                };
                self.stage = Stage::BDialing {
                    at: at.plus_ms(delay),
                    fails,
                };
            }
            Stage::BDialing {
                fails: Some(code), ..
            } => self.b_failed(code, at),
            Stage::BDialing { fails: None, .. } => {
                self.b_times.alerting = Some(at);
                self.emit(BEvent::Alerting, at);
                let (until, result) = leg::ringing(&self.plan.b_outcome, &self.timings, at);
                self.stage = Stage::BRinging { until, result };
            }
            Stage::BRinging {
                result: Some(code), ..
            } => self.b_failed(code, at),
            Stage::BRinging { result: None, .. } => self.b_answered(at),
            Stage::Talking { party, .. } => {
                let party = match party {
                    Party::A => 0,
                    Party::B => 1,
                };
                self.release(StateCode::Released, party, at)
            }
            Stage::Done => {}
        }
    }

    /// The next thing the call must act on, in order.
    pub fn poll(&mut self) -> Option<BridgeOut> {
        self.out.pop_front()
    }

    /// B's phone failed: the call ends with B's code (spec §12.3: partyType 2, rejected: 1).
    fn b_failed(&mut self, code: StateCode, at: SimInstant) {
        self.b_times.failed = Some(code);
        let party = match code {
            StateCode::Rejected => 1,
            _ => 2,
        };
        self.release(code, party, at);
    }

    fn b_answered(&mut self, at: SimInstant) {
        self.b_times.answer = Some(at);
        self.emit(BEvent::Answer, at);
        let mut talk_from = at;
        if self.plan.media.record {
            if let Some(hint) = self.plan.media.record_hint_ms {
                self.out.push_back(BridgeOut::Media {
                    what: "recordHintTone",
                    at,
                });
                talk_from = at.plus_ms(hint);
            }
            self.b_times.recording = Some(talk_from);
            self.out.push_back(BridgeOut::Recording { at: talk_from });
        }
        let (talk_s, party) = match &self.plan.b_outcome {
            Outcome::Answer {
                talk_s, hangup_by, ..
            } => (
                talk_s.unwrap_or(self.plan.timings.talk_s),
                hangup_by.unwrap_or(Party::B),
            ),
            // A person at B's handset talks until someone hangs up, or the limit below.
            Outcome::Handset => (self.timings.max_duration_s, Party::B),
            _ => (self.plan.timings.talk_s, Party::B),
        };
        self.stage = Stage::Talking {
            until: talk_from.plus_s(talk_s),
            party,
        };
        let max_min = self.plan.media.max_duration_min;
        if max_min > 0 {
            let limit = at.plus_s(u64::from(max_min) * 60);
            self.limit = Some(limit);
            // Spec §12.3: a minute before the limit (at once when the limit is one minute).
            self.last_minute = Some(at.plus_s(u64::from(max_min - 1) * 60));
        } else if self.plan.b_outcome == Outcome::Handset {
            // No `maxDuration`: the platform's own maximum ends a person's call (8010).
            self.limit = Some(talk_from.plus_s(self.timings.max_duration_s));
        }
    }

    /// The person at B's handset answers at `at`; false unless B is ringing.
    pub fn pick_up_b(&mut self, at: SimInstant) -> bool {
        if !self.b_ringing() {
            return false;
        }
        self.b_answered(at);
        true
    }

    /// Whether B's phone is ringing.
    pub fn b_ringing(&self) -> bool {
        matches!(self.stage, Stage::BRinging { .. })
    }

    fn emit(&mut self, event: BEvent, at: SimInstant) {
        self.out.push_back(BridgeOut::B { event, at });
    }

    fn release(&mut self, code: StateCode, party: u8, at: SimInstant) {
        self.stage = Stage::Done;
        self.a_gives_up = None;
        self.last_minute = None;
        self.limit = None;
        self.out.push_back(BridgeOut::Release { code, party, at });
    }

    /// A person hangs up `party`'s phone at `at` (the control API): in the conversation it
    /// ends normally; before B answered, A giving up is 8009 and B hanging up a refusal (8105).
    pub fn hangup(&mut self, party: Party, at: SimInstant) {
        if matches!(self.stage, Stage::Done) {
            return;
        }
        match (party, self.b_times.answer) {
            (Party::A, Some(_)) => self.release(StateCode::Released, 0, at),
            (Party::B, Some(_)) => self.release(StateCode::Released, 1, at),
            (Party::A, None) => {
                let b_ringing = matches!(self.stage, Stage::BRinging { .. });
                self.release(StateCode::CallerGaveUp { b_ringing }, 0, at)
            }
            (Party::B, None) => self.b_failed(StateCode::Rejected, at),
        }
    }

    /// Whether B's phone has been called.
    pub fn b_called(&self) -> bool {
        self.b_times.callout.is_some()
    }

    /// The call ended for another reason (callStop): nothing more happens.
    pub fn cut(&mut self) {
        self.stage = Stage::Done;
        self.a_gives_up = None;
        self.last_minute = None;
        self.limit = None;
    }
}
