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
pub mod click2call;
pub mod codes;
mod leg;
pub mod notify;
pub mod request;
pub mod scenario;
pub mod template;
pub mod timeline;
pub mod timings;

use std::collections::VecDeque;
use std::sync::Arc;

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
    /// On a notification it keys `digits`, one string per collection (spec §11.4).
    Answer {
        ring_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digits: Option<Vec<String>>,
        /// When keying starts after a collection starts (default 1500).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dtmf_delay_ms: Option<u64>,
        /// Between keys (default 300).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dtmf_gap_ms: Option<u64>,
        /// Click-to-call B leg: talk this long after answering (default `c2c.talk_s`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        talk_s: Option<u64>,
        /// Click-to-call B leg: who hangs up when the talk ends (default `b`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hangup_by: Option<click2call::Party>,
    },
    /// Click-to-call A leg: answers, then gives up `hangup_after_ms` (default 3000) after
    /// answering if B has not answered by then (8009, spec §12.3). Elsewhere: answers.
    HangupBeforeBAnswer {
        hangup_after_ms: Option<u64>,
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
    /// A person at a virtual handset (`/sim/v1/phones/{number}/handset`) is this callee: the
    /// phone rings until they answer ([`Call::pick_up`]), reject ([`Call::reject`]) or the
    /// platform's ring timeout; once answered, only their hang-up (or the call's own end) ends it.
    Handset,
}

impl Outcome {
    /// The code of a call the platform releases before callout (blacklist, frequency, ports).
    pub fn precall_state_code(&self) -> Option<StateCode> {
        match self {
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

    /// The default: the callee answers after the configured ring time and listens to the end.
    pub const ANSWER: Outcome = Outcome::Answer {
        ring_ms: None,
        digits: None,
        dtmf_delay_ms: None,
        dtmf_gap_ms: None,
        talk_s: None,
        hangup_by: None,
    };

    /// The keys this callee presses on a notification (none unless the scenario gives `digits`).
    pub fn keypad(&self) -> notify::Keypad {
        match self {
            Outcome::Answer {
                digits,
                dtmf_delay_ms,
                dtmf_gap_ms,
                ..
            } => notify::Keypad {
                digits: digits.clone().unwrap_or_default().into(),
                delay_ms: dtmf_delay_ms.unwrap_or(1500),
                gap_ms: dtmf_gap_ms.unwrap_or(300),
            },
            _ => notify::Keypad::default(),
        }
    }

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
                Some(E::Answer | E::Collecting | E::Key | E::CollectInfo) => {
                    return CallState::Answered
                }
                Some(E::Disconnect) => return CallState::Released,
                Some(E::Playing | E::Note) => {}
            }
        }
    }
}

/// The call-status events an app can observe (spec §6.1 `eventType`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "eventType")]
pub enum StatusEvent {
    Callout,
    Alerting,
    Answer,
    /// Digits a notification collected (spec §11.5).
    #[serde(rename = "collectInfo")]
    CollectInfo {
        #[serde(rename = "digitInfo")]
        digits: String,
    },
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
            StatusEvent::CollectInfo { .. } => "collectInfo",
            StatusEvent::Disconnect { .. } => "disconnect",
        }
    }
}

/// Which leg an event concerns: every call has an A leg; a click-to-call also a B leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Leg {
    A,
    B,
}

/// Something the outside world must learn from the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A status event, to be pushed to the app (spec §6), of leg `leg`.
    Status {
        event: StatusEvent,
        leg: Leg,
        at: SimInstant,
    },
    /// Something else plays (click-to-call `preVoice`, the record hint, the last-minute voice):
    /// recorded on the call's timeline only.
    Media { what: &'static str, at: SimInstant },
    /// A part of the announcement started playing: recorded on the call's timeline only.
    Playing {
        segment: SegmentKind,
        at: SimInstant,
    },
    /// A notification's segment `index` (from 0) started playing; `replay` after its trigger.
    PlayingSegment {
        index: usize,
        replay: bool,
        at: SimInstant,
    },
    /// A notification's digit collection started after segment `index`.
    Collecting { index: usize, at: SimInstant },
    /// The callee pressed a key; `collected` if a collection took it.
    Key {
        key: char,
        collected: bool,
        at: SimInstant,
    },
}

/// The person at a handset answered or rejected a call that is not ringing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the call is not ringing")]
pub struct NotRinging;

/// Why a hang-up could not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HangupError {
    #[error("the call has ended")]
    Ended,
    #[error("the call has not been placed yet")]
    NotPlaced,
    #[error("that leg does not exist (yet): only a click-to-call has a B leg, once B is called")]
    NoSuchLeg,
}

/// What the callee hears once connected, besides the verification announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub segments: Vec<notify::PlaySegment>,
    pub timings: notify::NotifyTimings,
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
    /// Stopped by the app (callStop, spec §13): released at the deadline with `code`; nothing
    /// else happens until then. A notification's playlist is kept to count what was heard.
    Stopping {
        code: StateCode,
        playlist: Option<Box<notify::Playlist>>,
    },
    /// Click-to-call: A answered; the bridge calls B and runs the conversation.
    Bridged {
        bridge: Box<click2call::Bridge>,
    },
    /// Answered, playing a notification until it releases, or `end` comes first (the callee
    /// hangs up, the maximum duration).
    Notifying {
        playlist: Box<notify::Playlist>,
        end: (SimInstant, StateCode),
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ending {
    pub state_code: StateCode,
    /// The CDR's `ulFailReason`: the stateCode's release point, or 1003 for a callStop.
    pub fail_reason: u32,
    /// Click-to-call: who released, `partyType` (0 A, 1 B, 2 the platform).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<u8>,
    /// Readings of the code (or, on a notification, template segments) started: the CDR's
    /// `ttsPlayTimes`.
    pub readings: u32,
    /// Milliseconds of code (or template) speech played; the CDR's `ttsTransDuration` is this
    /// rounded up to seconds.
    pub code_ms: u64,
    /// A notification's first digit collection (`dynIVRStartTime`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ivr_start: Option<SimInstant>,
    /// Each collection's digits joined with `-` (`dynIVRPath`); empty without collections.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ivr_path: String,
}

/// One simulated call. See the module docs for how to drive it.
#[derive(Debug, Clone)]
pub struct Call {
    outcome: Outcome,
    /// Shared by every call (the config's `[call]`), not copied into each.
    timings: Arc<CallTimings>,
    announcement: Announcement,
    notification: Option<Box<Notification>>,
    /// What the notification's playback contributes to the CDR, set when it stops.
    play_facts: Option<Box<notify::PlayFacts>>,
    /// Released by a callStop (`ulFailReason` 1003).
    stop_requested: bool,
    /// A click-to-call's B leg and surroundings; `None` for single-leg calls.
    callback: Option<Box<click2call::Callback>>,
    /// The B leg's times, once the bridge ended.
    b_times: Option<Box<click2call::BTimes>>,
    /// `partyType` of the release about to happen (click-to-call).
    party: Option<u8>,
    phase: Phase,
    deadline: Option<SimInstant>,
    times: CallTimes,
    /// Boxed, as the other parts only some calls or only ended ones have: a call in flight
    /// stays small.
    ending: Option<Box<Ending>>,
    effects: VecDeque<Effect>,
}

impl Call {
    /// Starts a call accepted at `now`. Placed calls emit `callout` immediately (spec §5.2: callout
    /// follows the HTTP response); pre-call rejections release after `call.precall_release_ms`.
    pub fn accept(
        outcome: Outcome,
        announcement: Announcement,
        timings: &Arc<CallTimings>,
        now: SimInstant,
    ) -> Call {
        Call::start(outcome, announcement, None, None, timings, now)
    }

    /// Starts a notification call (spec §11.4): after answer it plays `notification`.
    pub fn accept_notification(
        outcome: Outcome,
        notification: Notification,
        timings: &Arc<CallTimings>,
        now: SimInstant,
    ) -> Call {
        let empty = Announcement {
            segments: Vec::new(),
            release_ms: None,
        };
        Call::start(outcome, empty, Some(notification), None, timings, now)
    }

    /// Starts a click-to-call (spec §12): `outcome` is A's; after A answers, `callback` calls B.
    pub fn accept_callback(
        outcome: Outcome,
        callback: click2call::Callback,
        timings: &Arc<CallTimings>,
        now: SimInstant,
    ) -> Call {
        let empty = Announcement {
            segments: Vec::new(),
            release_ms: None,
        };
        Call::start(outcome, empty, None, Some(callback), timings, now)
    }

    /// The B leg of a click-to-call (empty for other calls).
    pub fn b_times(&self) -> click2call::BTimes {
        match &self.phase {
            Phase::Bridged { bridge } => bridge.b_times(),
            _ => self.b_times.as_deref().copied().unwrap_or_default(),
        }
    }

    /// Whether this is a click-to-call.
    pub fn is_callback(&self) -> bool {
        self.callback.is_some()
    }

    fn start(
        outcome: Outcome,
        announcement: Announcement,
        notification: Option<Notification>,
        callback: Option<click2call::Callback>,
        timings: &Arc<CallTimings>,
        now: SimInstant,
    ) -> Call {
        let mut call = Call {
            callback: callback.map(Box::new),
            b_times: None,
            party: None,
            outcome,
            timings: timings.clone(),
            announcement,
            notification: notification.map(Box::new),
            play_facts: None,
            stop_requested: false,
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
            Phase::Notifying { playlist, end } => self.notifying_step(at, playlist, end),
            Phase::Bridged { mut bridge } => {
                bridge.on_deadline(at);
                self.drain_bridge(bridge);
            }
            Phase::Stopping { code, playlist, .. } => {
                if let Some(mut playlist) = playlist {
                    playlist.cut(at);
                    self.play_facts = Some(Box::new(playlist.facts()));
                }
                self.stop_requested = true;
                self.release(at, code);
            }
            Phase::Released => {}
        }
    }

    /// The app asked the platform to end the call (callStop, spec §13): every leg is released
    /// `call.stop_delay_ms` after `now`, and nothing else happens meanwhile. stateCode 0 if the
    /// callee had answered, 8001 otherwise; the CDR's `ulFailReason` is 1003. Returns false if the
    /// call has ended or is already stopping.
    pub fn stop(&mut self, now: SimInstant) -> bool {
        let playlist = match std::mem::replace(&mut self.phase, Phase::Released) {
            Phase::Released => return false,
            phase @ Phase::Stopping { .. } => {
                self.phase = phase;
                return false;
            }
            Phase::Notifying { mut playlist, .. } => {
                // What was heard up to the stop counts; the playlist stops here.
                playlist.cut(now);
                Some(playlist)
            }
            Phase::Bridged { mut bridge } => {
                bridge.cut();
                self.b_times = Some(Box::new(bridge.b_times()));
                None
            }
            _ => None,
        };
        // For a click-to-call the callee is B (spec §13).
        let answered = match self.callback {
            Some(_) => self.b_times().answer,
            None => self.times.answer,
        };
        let code = match answered {
            Some(_) => StateCode::Released,
            None => StateCode::NotConnected,
        };
        self.party = Some(2);
        let at = now.plus_ms(self.timings.stop_delay_ms);
        self.phase = Phase::Stopping { code, playlist };
        self.deadline = Some(at);
        true
    }

    /// A person hangs up `party`'s phone at `now` (`POST /sim/v1/calls/{id}/hangup`, the
    /// handset). `A` is the callee of a single-leg call. Ringing: a refusal (8105, A of a
    /// click-to-call 8111); answered: 8017 during playback, a normal end (0) in a click-to-call's
    /// conversation; before B answered, A giving up is 8009 (spec §12.3).
    pub fn hangup(&mut self, party: click2call::Party, now: SimInstant) -> Result<(), HangupError> {
        use click2call::Party;
        match (std::mem::replace(&mut self.phase, Phase::Released), party) {
            (Phase::Released, _) => return Err(HangupError::Ended),
            (phase @ Phase::Stopping { .. }, _) => {
                self.phase = phase;
                return Err(HangupError::Ended);
            }
            (Phase::Bridged { mut bridge }, party) => {
                if party == Party::B && !bridge.b_called() {
                    self.phase = Phase::Bridged { bridge };
                    return Err(HangupError::NoSuchLeg);
                }
                bridge.hangup(party, now);
                self.drain_bridge(bridge);
            }
            (phase, Party::B) => {
                self.phase = phase;
                return Err(HangupError::NoSuchLeg);
            }
            (Phase::Accepted, Party::A) => {
                self.phase = Phase::Accepted;
                return Err(HangupError::NotPlaced);
            }
            (Phase::Dialing | Phase::Ringing, Party::A) => {
                let code = match self.callback {
                    Some(_) => {
                        self.party = Some(0);
                        StateCode::CallerRejected
                    }
                    None => StateCode::Rejected,
                };
                self.release(now, code);
            }
            (Phase::Connected { .. }, Party::A) => self.release(now, StateCode::UserHangup),
            (Phase::Notifying { mut playlist, .. }, Party::A) => {
                playlist.cut(now);
                self.play_facts = Some(Box::new(playlist.facts()));
                self.release(now, StateCode::UserHangup);
            }
        }
        Ok(())
    }

    /// The person at `party`'s handset answers at `now` (outcome [`Outcome::Handset`]): what a
    /// scripted callee does at its ring deadline, on the person's time. Only while that phone
    /// rings (B: a click-to-call's second leg).
    pub fn pick_up(&mut self, party: click2call::Party, now: SimInstant) -> Result<(), NotRinging> {
        use click2call::Party;
        match (std::mem::replace(&mut self.phase, Phase::Released), party) {
            (Phase::Ringing, Party::A) => {
                self.deadline = None;
                self.answer(now);
                Ok(())
            }
            (Phase::Bridged { mut bridge }, Party::B) => {
                let answered = bridge.pick_up_b(now);
                self.drain_bridge(bridge);
                answered.then_some(()).ok_or(NotRinging)
            }
            (phase, _) => {
                self.phase = phase;
                Err(NotRinging)
            }
        }
    }

    /// The person at `party`'s handset declines while it rings: a hang-up of a ringing phone
    /// (8105; A of a click-to-call 8111). Only while ringing, so a late "reject" never ends a
    /// conversation.
    pub fn reject(&mut self, party: click2call::Party, now: SimInstant) -> Result<(), NotRinging> {
        let ringing = match (&self.phase, party) {
            (Phase::Ringing, click2call::Party::A) => true,
            (Phase::Bridged { bridge }, click2call::Party::B) => bridge.b_ringing(),
            _ => false,
        };
        if !ringing {
            return Err(NotRinging);
        }
        self.hangup(party, now).map_err(|_| NotRinging)
    }

    /// The callee pressed `key` at `now`: collected if a notification is collecting digits,
    /// otherwise only noted (it changes nothing). Call after every deadline up to `now` fired.
    pub fn key(&mut self, key: char, now: SimInstant) {
        match std::mem::replace(&mut self.phase, Phase::Released) {
            Phase::Notifying { mut playlist, end } => {
                playlist.key(key, now);
                self.drain_playlist(now, playlist, end);
            }
            phase => {
                self.phase = phase;
                if self.phase_is_live() {
                    self.effects.push_back(Effect::Key {
                        key,
                        collected: false,
                        at: now,
                    });
                }
            }
        }
    }

    fn phase_is_live(&self) -> bool {
        !matches!(self.phase, Phase::Released | Phase::Accepted)
    }

    /// A call carried over from a previous run by recovery: it has ended (`ending`), with the
    /// times that run recorded. It has no deadline and no effects.
    pub fn restored(
        outcome: Outcome,
        times: CallTimes,
        ending: Ending,
        timings: &Arc<CallTimings>,
    ) -> Call {
        Call {
            outcome,
            timings: timings.clone(),
            announcement: Announcement {
                segments: Vec::new(),
                release_ms: None,
            },
            notification: None,
            play_facts: None,
            stop_requested: false,
            callback: None,
            b_times: None,
            party: None,
            phase: Phase::Released,
            deadline: None,
            times,
            ending: Some(Box::new(ending)),
            effects: VecDeque::new(),
        }
    }

    /// The next effect to act on, in the order they happened.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        let effect = self.effects.pop_front();
        if effect.is_none() {
            // Drained: a call waiting for its next step keeps no empty queue (a million calls
            // in flight would hold 160 bytes each for nothing).
            self.effects = VecDeque::new();
        }
        effect
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
        self.ending.as_deref()
    }

    /// Where the call stands.
    pub fn state(&self) -> CallState {
        match self.phase {
            Phase::Accepted => CallState::Accepted,
            Phase::Dialing => CallState::Callout,
            Phase::Ringing => CallState::Alerting,
            Phase::Connected { .. } | Phase::Notifying { .. } | Phase::Bridged { .. } => {
                CallState::Answered
            }
            Phase::Stopping { .. } if self.times.answer.is_some() => CallState::Answered,
            Phase::Stopping { .. } if self.times.alerting.is_some() => CallState::Alerting,
            Phase::Stopping { .. } => CallState::Callout,
            Phase::Released => CallState::Released,
        }
    }

    fn precall_code(&self) -> Option<StateCode> {
        self.outcome.precall_state_code()
    }

    fn failure_without_ringing(&self) -> Option<StateCode> {
        leg::failure_without_ringing(&self.outcome)
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
            if self.callback.is_some() {
                return self.release(at, code.as_caller());
            }
            return self.release(at, code);
        }
        self.times.alerting = Some(at);
        self.emit(StatusEvent::Alerting, at);
        self.phase = Phase::Ringing;
        let (end, _) = leg::ringing(&self.outcome, &self.timings, at);
        self.deadline = Some(end);
    }

    fn after_ringing(&mut self, at: SimInstant) {
        let alerting = self.times.alerting.unwrap_or(at);
        match leg::ringing(&self.outcome, &self.timings, alerting).1 {
            None => self.answer(at),
            // A click-to-call's A leg fails with the calling-party codes (spec §12.3).
            Some(code) if self.callback.is_some() => self.release(at, code.as_caller()),
            Some(code) => self.release(at, code),
        }
    }

    fn answer(&mut self, at: SimInstant) {
        self.times.answer = Some(at);
        self.emit(StatusEvent::Answer, at);
        if let Some(n) = self.notification.clone() {
            return self.answer_notification(at, *n);
        }
        if let Some(plan) = self.callback.clone() {
            let bridge = click2call::Bridge::start(*plan, &self.outcome, &self.timings, at);
            return self.drain_bridge(Box::new(bridge));
        }
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

    /// A notification plays until it releases, the callee hangs up (default: the middle of the
    /// first segment, spec §11.4) or the maximum duration passes.
    fn answer_notification(&mut self, at: SimInstant, n: Notification) {
        let mut end = (
            at.plus_s(self.timings.max_duration_s),
            StateCode::MaxDuration,
        );
        if let Outcome::HangupDuringPlayback { hangup_after_ms } = self.outcome {
            let hangup = hangup_after_ms.unwrap_or_else(|| {
                notify::Playlist::middle_of_first_segment(&n.segments, &self.timings)
            });
            if at.plus_ms(hangup) < end.0 {
                end = (at.plus_ms(hangup), StateCode::UserHangup);
            }
        }
        let playlist = notify::Playlist::start(
            n.segments,
            &self.timings,
            n.timings,
            self.outcome.keypad(),
            at,
        );
        self.schedule_notifying(Box::new(playlist), end);
    }

    fn notifying_step(
        &mut self,
        at: SimInstant,
        mut playlist: Box<notify::Playlist>,
        end: (SimInstant, StateCode),
    ) {
        if playlist.next_deadline().is_none_or(|d| end.0 < d) && end.0 <= at {
            playlist.cut(at);
            self.play_facts = Some(Box::new(playlist.facts()));
            return self.release(at, end.1);
        }
        playlist.on_deadline(at);
        self.drain_playlist(at, playlist, end);
    }

    /// Turns what the playlist said into effects; releases or re-arms.
    fn drain_playlist(
        &mut self,
        now: SimInstant,
        mut playlist: Box<notify::Playlist>,
        end: (SimInstant, StateCode),
    ) {
        while let Some(out) = playlist.poll() {
            match out {
                notify::PlayOut::Playing { index, replay, at } => self
                    .effects
                    .push_back(Effect::PlayingSegment { index, replay, at }),
                notify::PlayOut::Collecting { index, at } => {
                    self.effects.push_back(Effect::Collecting { index, at })
                }
                notify::PlayOut::Key { key, collected, at } => {
                    self.effects.push_back(Effect::Key { key, collected, at })
                }
                notify::PlayOut::Collected { digits, at } => {
                    self.emit(StatusEvent::CollectInfo { digits }, at)
                }
                notify::PlayOut::Release { code, at } => {
                    self.play_facts = Some(Box::new(playlist.facts()));
                    return self.release(at, code);
                }
            }
        }
        let _ = now;
        self.schedule_notifying(playlist, end);
    }

    fn schedule_notifying(
        &mut self,
        playlist: Box<notify::Playlist>,
        end: (SimInstant, StateCode),
    ) {
        self.deadline = Some(match playlist.next_deadline() {
            Some(d) => d.min(end.0),
            None => end.0,
        });
        self.phase = Phase::Notifying { playlist, end };
    }

    /// Turns what the bridge said into effects; releases or re-arms.
    fn drain_bridge(&mut self, mut bridge: Box<click2call::Bridge>) {
        use click2call::{BEvent, BridgeOut};
        while let Some(out) = bridge.poll() {
            match out {
                BridgeOut::B { event, at } => {
                    let event = match event {
                        BEvent::Callout => StatusEvent::Callout,
                        BEvent::Alerting => StatusEvent::Alerting,
                        BEvent::Answer => StatusEvent::Answer,
                    };
                    self.effects.push_back(Effect::Status {
                        event,
                        leg: Leg::B,
                        at,
                    });
                }
                BridgeOut::Media { what, at } => self.effects.push_back(Effect::Media { what, at }),
                BridgeOut::Recording { .. } => {}
                BridgeOut::Release { code, party, at } => {
                    self.b_times = Some(Box::new(bridge.b_times()));
                    self.party = Some(party);
                    return self.release(at, code);
                }
            }
        }
        self.deadline = bridge.next_deadline();
        self.phase = Phase::Bridged { bridge };
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
        let facts = self.play_facts.take();
        let (readings, code_ms) = match (&facts, self.times.answer) {
            (Some(f), _) => (f.template_plays, f.tts_ms),
            (None, Some(answer)) => self.announcement.code_played_until(at.since(answer)),
            (None, None) => (0, 0),
        };
        self.times.end = Some(at);
        self.ending = Some(Box::new(Ending {
            state_code,
            // Spec §13: release point 1003, "the SP called the release API".
            fail_reason: match self.stop_requested {
                true => 1003,
                false => state_code.fail_reason(),
            },
            // A click-to-call's A-leg failures: the platform released, or A if A rejected.
            party: self.callback.as_ref().map(|_| {
                self.party.take().unwrap_or(match state_code {
                    StateCode::CallerRejected => 0,
                    _ => 2,
                })
            }),
            readings,
            code_ms,
            ivr_start: facts.as_ref().and_then(|f| f.ivr_start),
            ivr_path: facts.map(|f| f.ivr_path.join("-")).unwrap_or_default(),
        }));
        self.phase = Phase::Released;
        self.deadline = None;
        self.emit(StatusEvent::Disconnect { state_code }, at);
    }

    fn emit(&mut self, event: StatusEvent, at: SimInstant) {
        self.effects.push_back(Effect::Status {
            event,
            leg: Leg::A,
            at,
        });
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
