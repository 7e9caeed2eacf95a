//! The event bus behind `GET /sim/v1/stream`: one typed [`SimEvent`] per thing that happens (a
//! call accepted or refused, each timeline entry, each push attempt, the clock advanced, a phone
//! rule or the faults changed, a reset), numbered, kept in a bounded buffer and broadcast.
//!
//! It owns the numbering, the buffer and the broadcast channel; not the socket ([`crate::sim::stream`]
//! speaks WebSocket and filters) and not what the events mean (the engine publishes them where
//! they happen, each at one hook).
//!
//! * **Order.** [`Events::publish`] assigns `seq` and broadcasts under this module's own small
//!   mutex, and the engine publishes while it holds its state lock, at the point where the thing
//!   happens: `seq` order is the order of the engine's state changes. Publishing never awaits and
//!   never blocks on a subscriber (a `tokio::sync::broadcast` send), so the engine never waits
//!   for a reader; the lock order is always engine, then events.
//! * **Replay.** The last `stream.buffer` events (default 10 000) are kept: a client that
//!   reconnects with `since=SEQ` gets everything after `SEQ` that is still there, then the live
//!   stream, with nothing lost or repeated in between (the replay is taken and the channel joined
//!   under the same mutex). If the buffer no longer reaches back, a [`Missed`] of kind `gap`
//!   comes first.
//! * **Slow consumers.** A subscriber that falls behind the channel (whose capacity is the
//!   buffer's, at most [`CHANNEL_CAPACITY`]) is refilled from the buffer; only what the buffer no
//!   longer holds is lost, and it is told so by a [`Missed`] of kind `lagged`, then carries on.
//!
//! Sequence numbers start at 1 with each Dialtone process; a reset does not restart them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::call::timeline::TimelineEvent;
use crate::clock::{Clock, SimInstant};
use crate::push::faults::FaultRule;
use crate::push::journal::{DeliveryOutcome, JournalEntry, PushError, PushKind};
use crate::push::payload::EventType;

/// The broadcast channel never holds more than this many events; a subscriber further behind
/// is refilled from the buffer.
pub const CHANNEL_CAPACITY: usize = 1024;

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
    pub app_key: String,
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
    pub session_id: String,
    pub app_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// On `disconnect`: the platform's `stateCode` and its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_desc: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushAttempt {
    pub delivery_id: String,
    /// `status` or `fee`.
    pub push: PushKind,
    pub app_key: String,
    pub session_ids: Vec<String>,
    pub event_type: EventType,
    pub url: String,
    pub attempt: u32,
    /// Simulated time the attempt was made (the message's own time is when it finished).
    pub sent_at: String,
    /// The receiver's HTTP status; absent when none came back (see `error`).
    pub status: Option<u16>,
    pub error: Option<PushError>,
    pub latency_ms: u64,
    pub outcome: DeliveryOutcome,
    pub fault: Option<String>,
    pub next_attempt_at: Option<String>,
}

impl From<&JournalEntry> for PushAttempt {
    fn from(e: &JournalEntry) -> PushAttempt {
        PushAttempt {
            delivery_id: e.delivery_id.clone(),
            push: e.kind,
            app_key: e.app_key.clone(),
            session_ids: e.session_ids.clone(),
            event_type: e.event_type,
            url: e.url.clone(),
            attempt: e.attempt,
            sent_at: e.sent_at.clone(),
            status: e.response_status,
            error: e.error,
            latency_ms: e.latency_ms,
            outcome: e.outcome,
            fault: e.fault.clone(),
            next_attempt_at: e.next_attempt_at.clone(),
        }
    }
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
            SimEvent::Push(p) => Some(&p.app_key),
            _ => None,
        }
    }

    /// Whether the event concerns the call `session_id` (a CDR batch concerns each of its calls).
    pub fn concerns(&self, session_id: &str) -> bool {
        match self {
            SimEvent::Accepted(a) => a.session_id == session_id,
            SimEvent::Timeline(t) => t.session_id == session_id,
            SimEvent::Push(p) => p.session_ids.iter().any(|s| s == session_id),
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
    /// `yyyy-MM-dd HH:mm:ss.SSS` UTC, as on timelines.
    pub time: String,
}

impl Stamp {
    pub fn new(clock: &Clock, at: SimInstant) -> Stamp {
        Stamp {
            at_ms: at.ms(),
            time: crate::clock::TimelineTime::new(clock.wall(at)).to_string(),
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
    /// The message as the stream sends it.
    pub fn json(&self) -> &str {
        self.text().as_str()
    }

    /// The message as the stream sends it, as shared text (a clone copies nothing).
    pub fn text(&self) -> &Utf8Bytes {
        self.json.get_or_init(|| {
            #[derive(Serialize)]
            struct Out<'a> {
                seq: u64,
                kind: &'a str,
                at_ms: u64,
                time: &'a str,
                #[serde(flatten)]
                event: &'a SimEvent,
            }
            let json = serde_json::to_string(&Out {
                seq: self.seq,
                kind: self.event.kind(),
                at_ms: self.stamp.at_ms,
                time: &self.stamp.time,
                event: &self.event,
            })
            .expect("events are plain data and always serialise");
            Utf8Bytes::from(json)
        })
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

    /// [`Item::json`] as a WebSocket text; for an event, shared with every other subscriber.
    pub fn text(&self) -> Utf8Bytes {
        match self {
            Item::Event(p) => p.text().clone(),
            Item::Missed(m) => Utf8Bytes::from(m.json()),
        }
    }
}

/// The bus. Clone freely.
#[derive(Clone)]
pub struct Events {
    shared: Arc<Shared>,
}

struct Shared {
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Arc<Published>>,
    capacity: usize,
    closed: watch::Sender<bool>,
}

struct Ring {
    /// The seq of the next event.
    next: u64,
    buffer: VecDeque<Arc<Published>>,
}

impl Ring {
    /// What is buffered after `after`, and the range before it that is gone.
    fn after(&self, after: u64) -> (Option<(u64, u64)>, Vec<Arc<Published>>) {
        let oldest = self.buffer.front().map_or(self.next, |p| p.seq);
        let gap = (after + 1 < oldest).then_some((after + 1, oldest - 1));
        let skip = after
            .saturating_sub(oldest - 1)
            .min(self.buffer.len() as u64) as usize;
        (gap, self.buffer.iter().skip(skip).cloned().collect())
    }
}

/// `since` is ahead of the stream: not a number this process has given out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("since={since} is ahead of the stream (latest seq {latest}); sequence numbers restart with Dialtone")]
pub struct SinceAhead {
    pub since: u64,
    pub latest: u64,
}

impl Events {
    /// A bus keeping the last `config.buffer` events (at least one).
    pub fn new(config: &StreamConfig) -> Events {
        let capacity = config.buffer.max(1);
        let (tx, _) = broadcast::channel(capacity.min(CHANNEL_CAPACITY));
        Events {
            shared: Arc::new(Shared {
                ring: Mutex::new(Ring {
                    next: 1,
                    buffer: VecDeque::with_capacity(capacity.min(CHANNEL_CAPACITY)),
                }),
                tx,
                capacity,
                closed: watch::channel(false).0,
            }),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // Plain data updated in one step; a panic elsewhere leaves it usable.
        self.shared.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Numbers, buffers and broadcasts `event`; returns its seq. Never blocks on subscribers;
    /// call it where the thing happens (under the engine's lock for engine events), so `seq`
    /// follows the order of events.
    pub fn publish(&self, stamp: Stamp, event: SimEvent) -> u64 {
        // The log tells the story the stream tells, from the same point.
        crate::logs::event(&stamp, &event);
        let mut ring = self.ring();
        let seq = ring.next;
        ring.next += 1;
        let published = Arc::new(Published {
            seq,
            stamp,
            event,
            json: OnceLock::new(),
        });
        if ring.buffer.len() == self.shared.capacity {
            ring.buffer.pop_front();
        }
        ring.buffer.push_back(published.clone());
        // Sent under the ring's lock, so the channel carries events in seq order. An error only
        // means nobody is subscribed.
        let _ = self.shared.tx.send(published);
        seq
    }

    /// The seq of the latest event (0 before the first).
    pub fn latest(&self) -> u64 {
        self.ring().next - 1
    }

    /// Subscribes: with `since`, first what is still buffered after it (a `gap` first if the
    /// buffer does not reach back), then every new event. Fails if `since` is ahead of the
    /// stream.
    pub fn subscribe(&self, since: Option<u64>) -> Result<Subscription, SinceAhead> {
        let ring = self.ring();
        let latest = ring.next - 1;
        let mut pending = VecDeque::new();
        if let Some(since) = since {
            if since > latest {
                return Err(SinceAhead { since, latest });
            }
            let (gap, replay) = ring.after(since);
            if let Some((from, to)) = gap {
                pending.push_back(Item::Missed(Missed {
                    kind: "gap",
                    from,
                    to,
                }));
            }
            pending.extend(replay.into_iter().map(Item::Event));
        }
        // Joined under the ring's lock: the channel starts exactly after the replay.
        let rx = self.shared.tx.subscribe();
        let next = ring.next;
        drop(ring);
        Ok(Subscription {
            events: self.clone(),
            rx,
            next,
            pending,
            closed: self.shared.closed.subscribe(),
        })
    }

    /// Resolves-to-`true` watch of the bus closing (at shutdown): for sockets that are not
    /// subscriptions (the handset) to end with the stream.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.shared.closed.subscribe()
    }

    /// Ends every subscription (at shutdown): their `next` returns `None`.
    pub fn close(&self) {
        self.shared.closed.send_replace(true);
    }
}

/// One subscriber's view of the stream. See the module docs for what it guarantees.
pub struct Subscription {
    events: Events,
    rx: broadcast::Receiver<Arc<Published>>,
    /// The seq of the next event this subscriber should see.
    next: u64,
    pending: VecDeque<Item>,
    closed: watch::Receiver<bool>,
}

impl Subscription {
    /// The next message; `None` once the bus is closed. Cancel-safe.
    pub async fn next(&mut self) -> Option<Item> {
        loop {
            if *self.closed.borrow() {
                return None;
            }
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            let received = tokio::select! {
                r = self.rx.recv() => r,
                _ = self.closed.changed() => continue,
            };
            match received {
                // Already sent from the buffer after a lag.
                Ok(p) if p.seq < self.next => continue,
                Ok(p) => {
                    self.next = p.seq + 1;
                    return Some(Item::Event(p));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.refill(),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next message if one is ready now, without waiting: lets a writer batch what is
    /// ready before flushing. `None` when nothing is (or the bus is closed).
    pub fn try_next(&mut self) -> Option<Item> {
        loop {
            if *self.closed.borrow() {
                return None;
            }
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            match self.rx.try_recv() {
                Ok(p) if p.seq < self.next => continue,
                Ok(p) => {
                    self.next = p.seq + 1;
                    return Some(Item::Event(p));
                }
                Err(broadcast::error::TryRecvError::Lagged(_)) => self.refill(),
                Err(_) => return None,
            }
        }
    }

    /// Fell behind the channel: take what the buffer still has, and say what it does not.
    fn refill(&mut self) {
        let (gap, items) = self.events.ring().after(self.next - 1);
        if let Some((from, to)) = gap {
            self.pending.push_back(Item::Missed(Missed {
                kind: "lagged",
                from,
                to,
            }));
            self.next = to + 1;
        }
        if let Some(last) = items.last() {
            self.next = last.seq + 1;
        }
        self.pending.extend(items.into_iter().map(Item::Event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Stamp {
        Stamp {
            at_ms: 0,
            time: "2026-03-14 10:15:31.000".into(),
        }
    }

    fn reset() -> SimEvent {
        SimEvent::Reset(ResetDone {})
    }

    fn bus(buffer: usize) -> Events {
        Events::new(&StreamConfig { buffer })
    }

    async fn seqs(sub: &mut Subscription, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(match sub.next().await.expect("open") {
                Item::Event(p) => p.seq.to_string(),
                Item::Missed(m) => format!("{}:{}-{}", m.kind, m.from, m.to),
            });
        }
        out
    }

    #[test]
    fn the_replay_buffer_keeps_only_the_last_stream_buffer_events() {
        let events = bus(100);
        for _ in 0..1000 {
            events.publish(stamp(), reset());
        }
        let ring = events.ring();
        assert_eq!(ring.buffer.len(), 100);
        assert_eq!(ring.buffer.front().map(|p| p.seq), Some(901));
    }

    #[test]
    fn a_message_is_the_envelope_and_the_fields_of_its_event() {
        let events = bus(10);
        events.publish(stamp(), reset());
        let sub = events.subscribe(Some(0)).expect("not ahead");
        let Some(Item::Event(p)) = sub.pending.front() else {
            panic!("a replayed event");
        };
        assert_eq!(
            p.json(),
            r#"{"seq":1,"kind":"reset","at_ms":0,"time":"2026-03-14 10:15:31.000"}"#
        );
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

    #[tokio::test]
    async fn since_replays_what_is_buffered_then_goes_live_without_repeats() {
        let events = bus(10);
        for _ in 0..3 {
            events.publish(stamp(), reset());
        }
        let mut sub = events.subscribe(Some(1)).expect("not ahead");
        events.publish(stamp(), reset());
        assert_eq!(seqs(&mut sub, 3).await, ["2", "3", "4"]);
        let mut live = events.subscribe(None).expect("not ahead");
        events.publish(stamp(), reset());
        assert_eq!(seqs(&mut live, 1).await, ["5"]);
    }

    #[tokio::test]
    async fn since_beyond_the_buffer_starts_with_a_gap() {
        let events = bus(3);
        for _ in 0..5 {
            events.publish(stamp(), reset());
        }
        let mut sub = events.subscribe(Some(0)).expect("not ahead");
        assert_eq!(seqs(&mut sub, 4).await, ["gap:1-2", "3", "4", "5"]);
        assert_eq!(
            events.subscribe(Some(6)).err(),
            Some(SinceAhead {
                since: 6,
                latest: 5
            })
        );
    }

    #[tokio::test]
    async fn a_subscriber_behind_the_channel_is_refilled_from_the_buffer() {
        // Buffer 2000, channel 1024: 1500 unread events overflow the channel but not the buffer.
        let events = bus(2000);
        let mut sub = events.subscribe(None).expect("not ahead");
        for _ in 0..1500 {
            events.publish(stamp(), reset());
        }
        let got = seqs(&mut sub, 1500).await;
        let expected: Vec<String> = (1..=1500).map(|s| s.to_string()).collect();
        assert_eq!(got, expected);
        events.publish(stamp(), reset());
        assert_eq!(seqs(&mut sub, 1).await, ["1501"]);
    }

    #[tokio::test]
    async fn a_subscriber_behind_the_buffer_is_told_what_it_lost_then_continues() {
        let events = bus(10);
        let mut sub = events.subscribe(None).expect("not ahead");
        for _ in 0..25 {
            events.publish(stamp(), reset());
        }
        let mut expected = vec!["lagged:1-15".to_owned()];
        expected.extend((16..=25).map(|s| s.to_string()));
        assert_eq!(seqs(&mut sub, 11).await, expected);
        events.publish(stamp(), reset());
        assert_eq!(seqs(&mut sub, 1).await, ["26"]);
    }

    #[tokio::test]
    async fn closing_ends_every_subscription() {
        let events = bus(10);
        let mut sub = events.subscribe(None).expect("not ahead");
        events.close();
        assert!(sub.next().await.is_none());
    }
}
