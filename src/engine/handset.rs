//! The virtual handset, engine side: a person attached to a callee number *is* that callee
//! while attached (`GET /sim/v1/phones/{number}/handset`, [`crate::sim::handset`] owns the
//! socket). Calls to the number wait for them instead of following its rules: the call machine
//! stays pure, the person's answer, reject, hang-up and keys are inputs like a deadline.
//!
//! Each attached number has a line: an id (so a stale socket can never act on a newer one's
//! calls), the sender of what the engine tells the handset, and the call on it. What it is told
//! is sent under the engine's lock, where it happens, through an unbounded channel: the engine
//! never waits for a socket, and the order is the order of state changes. Audio is paced by a
//! timer in the engine's one queue ([`FRAME_MS`] of simulated time apart), so frames flow as the
//! simulated clock moves, on a manual clock as it is advanced.

use tokio::sync::mpsc;

use super::{CallEntry, Engine, Outbound, State, TimerKey};
use crate::call::click2call::Party;
use crate::call::request::CallKind;
use crate::call::{CallState, HangupError, Leg, StatusEvent};
use crate::clock::SimInstant;
use crate::events::{HandsetChanged, SimEvent};

/// Simulated time between two audio frames (160 samples at 8 kHz).
pub const FRAME_MS: u64 = 20;

/// An attached handset, as the engine keeps it.
pub(super) struct HandsetLine {
    id: u64,
    tx: mpsc::UnboundedSender<HandsetEvent>,
    /// The call on this handset (ringing or in progress), by its sequence number.
    pub(super) call: Option<u64>,
}

/// Which handset a call rings: the number and the line's id.
pub(super) type HandsetTie = (String, u64);

/// A handset a new call finds: free (the call rings it), or in a call (the caller hears busy).
pub(super) enum Found {
    Free(HandsetTie),
    InCall,
}

/// The handsets a call rings, by the phone they are: A (the callee, or a click-to-call's first
/// leg) and, for a click-to-call, B.
pub(super) type HandsetTies = Vec<(Party, HandsetTie)>;

/// What the engine tells a handset, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandsetEvent {
    /// A call rings the handset (its `alerting`).
    Ringing {
        session_id: String,
        /// The number shown to the callee (`displayNbr`).
        caller: String,
        app_key: String,
        /// `verify`, `notify` or `callback`.
        kind: &'static str,
    },
    /// The person answered; audio follows.
    Answered { session_id: String },
    /// The callee has now heard `heard_ms` of the call since the answer: send what is new.
    /// `last` at the end of the call (a partial last frame is padded).
    Heard {
        session_id: String,
        heard_ms: u64,
        last: bool,
    },
    /// Keys the engine took from the person.
    Digits { session_id: String, digits: String },
    /// The call left the handset.
    Ended {
        session_id: String,
        state_code: u32,
        /// From answer to the end; `None` if never answered.
        heard_ms: Option<u64>,
        reason: &'static str,
    },
}

/// A handset just attached: its id to act and detach with, and what the engine tells it.
pub struct Attached {
    pub id: u64,
    pub events: mpsc::UnboundedReceiver<HandsetEvent>,
}

/// What the person does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandsetAction {
    Answer,
    Reject,
    Hangup,
    /// Keys, already checked (`0`-`9`, `*`, `#`).
    Dtmf(String),
}

/// Why a handset could not attach or act.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandsetError {
    #[error("a handset is already attached to {0}: one at a time")]
    Taken(String),
    #[error("no call is on this handset")]
    NoCall,
    #[error("call `{0}` is not on this handset")]
    NotHere(String),
    #[error("the call is not ringing")]
    NotRinging,
    #[error("the call has not been answered: answer first")]
    NotAnswered,
    #[error("the call has ended")]
    Ended,
    #[error("this handset is no longer attached")]
    Detached,
}

impl Engine {
    /// Attaches a handset to `number`: from now on calls to it ring the handset. Fails if one is
    /// attached already. Detach with [`Engine::detach_handset`] when the person leaves.
    pub fn attach_handset(&self, number: &str) -> Result<Attached, HandsetError> {
        let mut st = self.lock();
        if st.handsets.contains_key(number) {
            return Err(HandsetError::Taken(number.to_owned()));
        }
        st.handset_seq += 1;
        let id = st.handset_seq;
        let (tx, events) = mpsc::unbounded_channel();
        st.handsets
            .insert(number.to_owned(), HandsetLine { id, tx, call: None });
        self.publish_handset(number, "attached");
        Ok(Attached { id, events })
    }

    /// The handset `id` left `number`, which returns to its rules. A call ringing it rings on
    /// unanswered (to the ring timeout); one in progress ends as the callee's hang-up, now.
    pub fn detach_handset(&self, number: &str, id: u64) {
        let now = self.shared.clock.now();
        self.fire_due(now);
        let mut out = Outbound::default();
        {
            let mut st = self.lock();
            let Some(line) = st.handsets.get(number).filter(|l| l.id == id) else {
                return;
            };
            if let Some(seq) = line.call {
                if let Some(entry) = st.calls.get_mut(&seq) {
                    let party = party_of(entry, number, id);
                    if let Some(party) = party.filter(|p| answered(entry, *p)) {
                        if entry.call.hangup(party, now).is_ok() {
                            self.drain_call(&mut st, seq, now, &mut out);
                        }
                    }
                }
            }
            st.handsets.remove(number);
            self.publish_handset(number, "detached");
        }
        self.send(out);
    }

    /// The person at handset `id` of `number` acts now on `session_id`, or on the call on the
    /// handset if `None`. Whatever was due first happens first.
    pub fn handset_act(
        &self,
        number: &str,
        id: u64,
        session_id: Option<&str>,
        action: HandsetAction,
    ) -> Result<(), HandsetError> {
        let now = self.shared.clock.now();
        self.fire_due(now);
        let mut out = Outbound::default();
        {
            let mut st = self.lock();
            let line = st
                .handsets
                .get(number)
                .filter(|l| l.id == id)
                .ok_or(HandsetError::Detached)?;
            let tx = line.tx.clone();
            let seq = match session_id {
                None => line.call.ok_or(HandsetError::NoCall)?,
                Some(s) => *st
                    .by_session
                    .get(s)
                    .ok_or_else(|| HandsetError::NotHere(s.to_owned()))?,
            };
            let entry = st.calls.get_mut(&seq).ok_or(HandsetError::NoCall)?;
            let party = party_of(entry, number, id)
                .ok_or_else(|| HandsetError::NotHere(session_id.unwrap_or_default().to_owned()))?;
            if entry.call.ending().is_some() {
                return Err(HandsetError::Ended);
            }
            match &action {
                HandsetAction::Answer => entry
                    .call
                    .pick_up(party, now)
                    .map_err(|_| HandsetError::NotRinging)?,
                HandsetAction::Reject => entry
                    .call
                    .reject(party, now)
                    .map_err(|_| HandsetError::NotRinging)?,
                HandsetAction::Hangup => entry.call.hangup(party, now).map_err(|e| match e {
                    HangupError::Ended => HandsetError::Ended,
                    HangupError::NotPlaced | HangupError::NoSuchLeg => HandsetError::NoCall,
                })?,
                HandsetAction::Dtmf(keys) => {
                    if !answered(entry, party) {
                        return Err(HandsetError::NotAnswered);
                    }
                    for key in keys.chars() {
                        entry.call.key(key, now);
                    }
                    // The echo comes before whatever the keys cause (a collection ending).
                    let _ = tx.send(HandsetEvent::Digits {
                        session_id: entry.session_id.to_string(),
                        digits: keys.clone(),
                    });
                }
            }
            self.drain_call(&mut st, seq, now, &mut out);
        }
        self.send(out);
        Ok(())
    }

    /// A frame timer of call `seq` fired at `at`: tells its handset how much has been heard and
    /// re-arms, while the call is answered and the handset attached.
    pub(super) fn handset_frame(&self, st: &mut State, seq: u64, at: SimInstant) {
        let Some(entry) = st.calls.get(&seq) else {
            return;
        };
        let Some(answer) = entry.call.times().answer else {
            return;
        };
        if entry.call.ending().is_some() {
            return;
        }
        let Some(line) = line_of(st, entry, Party::A) else {
            return;
        };
        let _ = line.tx.send(HandsetEvent::Heard {
            session_id: entry.session_id.to_string(),
            heard_ms: at.since(answer),
            last: false,
        });
        self.arm(st, at.plus_ms(FRAME_MS), TimerKey::HandsetFrame(seq));
    }

    /// Tells call `seq`'s handsets what its status events meant (collected by `drain_call`):
    /// starts A's audio on A's answer, frees each handset on the disconnect.
    pub(super) fn tell_handset(&self, st: &mut State, seq: u64, told: Vec<(Party, HandsetEvent)>) {
        let Some(entry) = st.calls.get(&seq) else {
            return;
        };
        let ties = entry.handsets.clone();
        let callback = entry.call.is_callback();
        let ended = entry.call.ending().is_some();
        let mut frames_from = None;
        for (party, event) in told {
            if let (HandsetEvent::Answered { .. }, Party::A) = (&event, party) {
                frames_from = entry.call.times().answer;
            }
            if let Some(line) = line_of(st, entry, party) {
                let _ = line.tx.send(event);
            }
        }
        if ended {
            for (_, (number, id)) in ties {
                if let Some(line) = st.handsets.get_mut(&number).filter(|l| l.id == id) {
                    if line.call == Some(seq) {
                        line.call = None;
                    }
                }
            }
        } else if let Some(answer) = frames_from.filter(|_| !callback) {
            // A click-to-call plays nothing to one callee (its audio is the recording).
            self.arm(st, answer.plus_ms(FRAME_MS), TimerKey::HandsetFrame(seq));
        }
    }

    /// The handset attached to `number`, if any, as a new call finds it.
    pub(super) fn handset_at(st: &State, number: &str) -> Option<Found> {
        let line = st.handsets.get(number)?;
        Some(match line.call {
            Some(_) => Found::InCall,
            None => Found::Free((number.to_owned(), line.id)),
        })
    }

    /// Puts call `seq` on the handset `tie`.
    pub(super) fn ring_handset(st: &mut State, seq: u64, tie: &HandsetTie) {
        if let Some(line) = st.handsets.get_mut(&tie.0).filter(|l| l.id == tie.1) {
            line.call = Some(seq);
        }
    }

    /// A handset attached (`attached`) or left (`detached`).
    fn publish_handset(&self, number: &str, action: &'static str) {
        let changed = HandsetChanged {
            number: number.to_owned(),
            action,
        };
        self.publish(self.shared.clock.now(), SimEvent::Handset(changed));
    }
}

/// The line of `party`'s handset on `entry`, if that handset is still attached.
fn line_of<'a>(st: &'a State, entry: &CallEntry, party: Party) -> Option<&'a HandsetLine> {
    let (_, (number, id)) = entry.handsets.iter().find(|(p, _)| *p == party)?;
    st.handsets.get(number).filter(|l| l.id == *id)
}

/// Which phone of `entry` the handset `id` of `number` is.
fn party_of(entry: &CallEntry, number: &str, id: u64) -> Option<Party> {
    entry
        .handsets
        .iter()
        .find(|(_, (n, i))| n == number && *i == id)
        .map(|(p, _)| *p)
}

/// Whether `party`'s phone has rung.
fn rang(entry: &CallEntry, party: Party) -> bool {
    match party {
        Party::A => entry.call.times().alerting.is_some(),
        Party::B => entry.call.b_times().alerting.is_some(),
    }
}

/// Whether `party`'s phone was answered, and the call goes on.
fn answered(entry: &CallEntry, party: Party) -> bool {
    let call = &entry.call;
    let answer = match party {
        Party::A => call.times().answer,
        Party::B => call.b_times().answer,
    };
    answer.is_some() && call.ending().is_none() && call.state() == CallState::Answered
}

/// What status `event` of leg `leg` tells the handsets of `entry` (none without one), each
/// with the phone it is for.
pub(super) fn told(entry: &CallEntry, event: &StatusEvent, leg: Leg) -> Vec<(Party, HandsetEvent)> {
    let mut told = Vec::new();
    for (party, _) in &entry.handsets {
        let session_id = entry.session_id.clone();
        let mine = matches!((party, leg), (Party::A, Leg::A) | (Party::B, Leg::B));
        match event {
            StatusEvent::Alerting if mine => {
                let caller = match (party, entry.request.callback()) {
                    (Party::B, Some(c)) => c.display_callee_nbr.to_string(),
                    _ => entry.request.display_nbr.to_string(),
                };
                let kind = match entry.request.kind {
                    CallKind::Verify(_) => "verify",
                    CallKind::Notify(_) => "notify",
                    CallKind::Callback(_) => "callback",
                };
                let ringing = HandsetEvent::Ringing {
                    session_id: session_id.to_string(),
                    caller,
                    app_key: entry.request.app_key.to_string(),
                    kind,
                };
                told.push((*party, ringing));
            }
            StatusEvent::Answer if mine => {
                told.push((
                    *party,
                    HandsetEvent::Answered {
                        session_id: session_id.to_string(),
                    },
                ));
            }
            // The one release ends both legs; a phone that never rang is not told.
            StatusEvent::Disconnect { state_code } if rang(entry, *party) => {
                let answer = match party {
                    Party::A => entry.call.times().answer,
                    Party::B => entry.call.b_times().answer,
                };
                let end = entry.call.times().end;
                let heard_ms = answer.zip(end).map(|(answer, end)| end.since(answer));
                if let Some(heard_ms) = heard_ms.filter(|_| !entry.call.is_callback()) {
                    let last = HandsetEvent::Heard {
                        session_id: session_id.to_string(),
                        heard_ms,
                        last: true,
                    };
                    told.push((*party, last));
                }
                let ended = HandsetEvent::Ended {
                    session_id: session_id.to_string(),
                    state_code: state_code.code(),
                    heard_ms,
                    reason: state_code.desc(),
                };
                told.push((*party, ended));
            }
            _ => {}
        }
    }
    told
}
