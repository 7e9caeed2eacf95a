//! The event bus behind `GET /sim/v1/stream`: one typed [`SimEvent`] per thing that happens (a
//! call accepted or refused, each timeline entry, each push attempt, the clock advanced, a phone
//! rule or the faults changed, a reset), numbered, kept in a bounded buffer and broadcast.
//!
//! It owns the numbering, the buffer and the broadcast channel; not the socket ([`crate::sim::stream`]
//! speaks WebSocket and filters) and not what the events mean (the engine publishes them where
//! they happen, each at one hook).
//!
//! * **Order.** [`Events::publish`] assigns `seq` and buffers the event under this module's own
//!   small mutex, and the engine publishes while it holds its state lock, at the point where the
//!   thing happens: `seq` order is the order of the engine's state changes. Publishing never
//!   awaits and never blocks on a subscriber (it wakes the ones waiting, each at most once until
//!   it reads again), so the engine never waits for a reader; the lock order is always engine,
//!   then events.
//! * **Replay.** The last `stream.buffer` events (default 10 000) are kept: a client that
//!   reconnects with `since=SEQ` gets everything after `SEQ` that is still there, then the live
//!   stream, with nothing lost or repeated in between (subscribers read the buffer itself). If
//!   the buffer no longer reaches back, a [`Missed`] of kind `gap` comes first.
//! * **Slow consumers.** A subscriber reads the buffer at its own pace; only what the buffer no
//!   longer holds is lost, and it is told so by a [`Missed`] of kind `lagged`, then carries on.
//! * **Batches.** Events read together stay together as a [`Chunk`] whose NDJSON text is built
//!   once, for the stream's `batch=ndjson` mode ([`bus`] explains how).
//!
//! Sequence numbers start at 1 with each Dialtone process; a reset does not restart them.

use std::sync::{Arc, OnceLock};

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};

use crate::call::timeline::TimelineEvent;
use crate::clock::{Clock, SimInstant, TimelineTime};
use crate::push::faults::FaultRule;
use crate::push::journal::{DeliveryOutcome, JournalEntry, PushError, PushKind};
use crate::push::payload::EventType;

mod bus;
pub use bus::{Chunk, Events, Read, Run, SinceAhead, Subscription, CHUNK_EVENTS};

/// `[stream]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Events kept for `since` replays and for refilling slow subscribers.
    pub buffer: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig { buffer: 10_000 }
    }
}

/// Something that happened, as the stream tells it. Serialised as the fields of its variant;
/// the envelope ([`Published`]) adds `seq`, `kind`, `at_ms` and `time`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SimEvent {
    /// `accepted`: the platform API answered a call request with resultcode "0".
    Accepted(CallAccepted),
    /// `refused`: the platform API answered with an error.
    Refused(Refused),
    /// `callout`, `alerting`, `answer`, `playing`, `disconnect`, `note`: a timeline entry.
    Timeline(TimelineItem),
    /// `push`: one push attempt, as journaled.
    Push(PushAttempt),
    /// `clock`: a manual clock is being advanced.
    Clock(ClockAdvanced),
    /// `phone`: a callee rule was set or removed through the control API.
    Phone(PhoneChanged),
    /// `faults`: the injected faults were replaced (an empty list: cleared).
    Faults(FaultsChanged),
    /// `reset`: `POST /sim/v1/reset`.
    Reset(ResetDone),
    /// `handset`: a virtual handset attached to a number or left it.
    Handset(HandsetChanged),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallAccepted {
    pub session_id: String,
    pub app_key: Arc<str>,
    pub caller: String,
    pub callee: String,
    pub resultcode: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refused {
    /// The app the request claimed to be from, if it named one (authenticated or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_key: Option<String>,
    pub path: String,
    pub http_status: u16,
    pub resultcode: String,
    pub resultdesc: String,
    /// Dialtone's explanation (the `X-Dialtone-Hint` header), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineItem {
    /// Gives the message its `kind`.
    #[serde(skip)]
    pub event: TimelineEvent,
    /// The call's own, shared: a call tells a dozen of these.
    pub session_id: Arc<str>,
    pub app_key: Arc<str>,
    /// Most are fixed phrases, as on the call's timeline: shared, not copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<std::borrow::Cow<'static, str>>,
    /// On `disconnect`: the platform's `stateCode` and its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_desc: Option<&'static str>,
    /// Whether the log tells it too: every event is, but the note an app without a status URL
    /// gets on each call, which the log tells for its first call only.
    #[serde(skip)]
    pub logged: bool,
}

/// `push`: one attempt as the journal has it, told by the stream in fewer fields. Holds the
/// journal's own entry rather than a copy of its fields: a burst of deliveries makes one entry
/// per attempt, not two.
#[derive(Debug, Clone, PartialEq)]
pub struct PushAttempt(Arc<JournalEntry>);

impl PushAttempt {
    pub fn new(entry: Arc<JournalEntry>) -> PushAttempt {
        PushAttempt(entry)
    }

    /// The attempt as journaled; the stream shows the fields of [`PushAttemptView`].
    pub fn entry(&self) -> &JournalEntry {
        &self.0
    }
}

impl Serialize for PushAttempt {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let e = &*self.0;
        PushAttemptView {
            delivery_id: &e.delivery_id,
            push: e.kind,
            app_key: &e.app_key,
            session_ids: &e.session_ids,
            event_type: e.event_type,
            url: &e.url,
            attempt: e.attempt,
            sent_at: &e.sent_at,
            status: e.response_status,
            error: e.error,
            latency_ms: e.latency_ms,
            outcome: e.outcome,
            fault: e.fault.as_deref(),
            next_attempt_at: e.next_attempt_at.as_deref(),
        }
        .serialize(serializer)
    }
}

/// What the stream tells of a push attempt.
#[derive(Serialize)]
pub struct PushAttemptView<'a> {
    pub delivery_id: &'a str,
    /// `status` or `fee`.
    pub push: PushKind,
    pub app_key: &'a str,
    pub session_ids: &'a [String],
    pub event_type: EventType,
    pub url: &'a str,
    pub attempt: u32,
    /// Simulated time the attempt was made (the message's own time is when it finished).
    pub sent_at: &'a str,
    /// The receiver's HTTP status; absent when none came back (see `error`).
    pub status: Option<u16>,
    pub error: Option<PushError>,
    pub latency_ms: u64,
    pub outcome: DeliveryOutcome,
    pub fault: Option<&'a str>,
    pub next_attempt_at: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClockAdvanced {
    pub from_ms: u64,
    pub to_ms: u64,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhoneChanged {
    pub number: String,
    /// `set` or `removed`.
    pub action: &'static str,
    /// The rule set, as `GET /sim/v1/phones` shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behaviour: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultsChanged {
    pub rules: Vec<FaultRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResetDone {}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandsetChanged {
    pub number: String,
    /// `attached` or `detached`.
    pub action: &'static str,
}

impl SimEvent {
    /// The message's `kind`: a timeline entry's is its event's name (`callout`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            SimEvent::Accepted(_) => "accepted",
            SimEvent::Refused(_) => "refused",
            SimEvent::Timeline(t) => t.event.name(),
            SimEvent::Push(_) => "push",
            SimEvent::Clock(_) => "clock",
            SimEvent::Phone(_) => "phone",
            SimEvent::Faults(_) => "faults",
            SimEvent::Reset(_) => "reset",
            SimEvent::Handset(_) => "handset",
        }
    }

    /// The app the event concerns; `None` for events about the whole simulator.
    pub fn app_key(&self) -> Option<&str> {
        match self {
            SimEvent::Accepted(a) => Some(&a.app_key),
            SimEvent::Refused(r) => r.app_key.as_deref(),
            SimEvent::Timeline(t) => Some(&t.app_key),
            SimEvent::Push(p) => Some(&p.entry().app_key),
            _ => None,
        }
    }

    /// Whether the event concerns the call `session_id` (a CDR batch concerns each of its calls).
    pub fn concerns(&self, session_id: &str) -> bool {
        match self {
            SimEvent::Accepted(a) => a.session_id == session_id,
            SimEvent::Timeline(t) => &*t.session_id == session_id,
            SimEvent::Push(p) => p.entry().session_ids.iter().any(|s| s == session_id),
            _ => false,
        }
    }
}

/// Every `kind` a message can have, [`Missed`] ones included: what `?kinds=` accepts.
pub fn kinds() -> Vec<&'static str> {
    let mut all = vec!["accepted", "refused"];
    all.extend(TimelineEvent::ALL.iter().map(|e| e.name()));
    all.extend([
        "push", "clock", "phone", "faults", "reset", "handset", "gap", "lagged",
    ]);
    all
}

/// When an event happened on the simulated clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub at_ms: u64,
    /// `yyyy-MM-dd HH:mm:ss.SSS` UTC, as on timelines; kept as a time and written when sent,
    /// which saves every event a string.
    pub time: TimelineTime,
}

impl Stamp {
    pub fn new(clock: &Clock, at: SimInstant) -> Stamp {
        Stamp {
            at_ms: at.ms(),
            time: TimelineTime::new(clock.wall(at)),
        }
    }
}

/// An event with its number and time: one stream message.
#[derive(Debug)]
pub struct Published {
    pub seq: u64,
    pub stamp: Stamp,
    pub event: SimEvent,
    /// Serialised once, by whichever subscriber needs it first, off the engine's path, and
    /// shared by all of them: already the text of a WebSocket frame, so no subscriber checks
    /// or copies it again.
    json: OnceLock<Utf8Bytes>,
}

impl Published {
    pub fn new(seq: u64, stamp: Stamp, event: SimEvent) -> Published {
        Published {
            seq,
            stamp,
            event,
            json: OnceLock::new(),
        }
    }

    /// The message as the stream sends it.
    pub fn json(&self) -> &str {
        self.text().as_str()
    }

    /// The message as the stream sends it, as shared text (a clone copies nothing).
    pub fn text(&self) -> &Utf8Bytes {
        self.json.get_or_init(|| {
            let mut out = Vec::with_capacity(400);
            self.write_json(&mut out);
            Utf8Bytes::try_from(out).expect("serde_json writes UTF-8")
        })
    }

    /// Appends the message to `out`: the envelope (`seq`, `kind`, `at_ms`, `time`), then the
    /// event's fields. The event's own object is spliced in rather than flattened by serde,
    /// whose `flatten` goes through a map and cost more than the rest of the message.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        if let Some(text) = self.json.get() {
            out.extend_from_slice(text.as_bytes());
            return;
        }
        #[derive(Serialize)]
        struct Envelope<'a> {
            seq: u64,
            kind: &'a str,
            at_ms: u64,
            time: TimelineTime,
        }
        let envelope = Envelope {
            seq: self.seq,
            kind: self.event.kind(),
            at_ms: self.stamp.at_ms,
            time: self.stamp.time,
        };
        serde_json::to_writer(&mut *out, &envelope).expect("plain data always serialises");
        // `{…envelope…}` + `{…event…}` → `{…envelope…,…event…}`.
        out.pop();
        let event = out.len();
        serde_json::to_writer(&mut *out, &self.event).expect("plain data always serialises");
        if out.len() - event == 2 {
            // `{}`: an event with no fields of its own.
            out.truncate(event);
            out.push(b'}');
        } else {
            out[event] = b',';
        }
    }
}

/// Events a subscriber will never see: `from..=to` were no longer buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Missed {
    /// `gap` (at subscription: `since` reaches back further than the buffer) or `lagged` (the
    /// subscriber fell further behind than the buffer).
    pub kind: &'static str,
    pub from: u64,
    pub to: u64,
}

impl Missed {
    /// The message: `seq` is `to`, so numbers still increase and `since=seq` resumes after it.
    pub fn json(&self) -> String {
        serde_json::json!({
            "seq": self.to,
            "kind": self.kind,
            "from": self.from,
            "to": self.to,
            "missed": self.to - self.from + 1,
        })
        .to_string()
    }
}

/// What a subscription yields.
#[derive(Debug, Clone)]
pub enum Item {
    Event(Arc<Published>),
    Missed(Missed),
}

impl Item {
    pub fn json(&self) -> String {
        match self {
            Item::Event(p) => p.json().to_owned(),
            Item::Missed(m) => m.json(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Stamp {
        Stamp {
            at_ms: 0,
            time: TimelineTime::parse("2026-03-14 10:15:31.000").unwrap(),
        }
    }

    #[test]
    fn a_message_is_the_envelope_and_the_fields_of_its_event() {
        let reset = Published::new(1, stamp(), SimEvent::Reset(ResetDone {}));
        assert_eq!(
            reset.json(),
            r#"{"seq":1,"kind":"reset","at_ms":0,"time":"2026-03-14 10:15:31.000"}"#
        );
        let handset = SimEvent::Handset(HandsetChanged {
            number: "+8613900001234".into(),
            action: "attached",
        });
        let handset = Published::new(2, stamp(), handset);
        let mut written = Vec::new();
        handset.write_json(&mut written);
        assert_eq!(
            String::from_utf8(written).as_deref(),
            Ok(
                r#"{"seq":2,"kind":"handset","at_ms":0,"time":"2026-03-14 10:15:31.000","number":"+8613900001234","action":"attached"}"#
            )
        );
        let mut again = Vec::new();
        handset.write_json(&mut again);
        assert_eq!(handset.json().as_bytes(), again.as_slice());
        let missed = Missed {
            kind: "lagged",
            from: 3,
            to: 7,
        };
        assert_eq!(
            missed.json(),
            r#"{"from":3,"kind":"lagged","missed":5,"seq":7,"to":7}"#
        );
    }
}
