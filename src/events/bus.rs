//! The bus itself: numbering, the replay buffer (kept as [`Chunk`]s of consecutive events) and
//! subscriptions that read it. See [`crate::events`] for what it guarantees.
//!
//! Subscribers read the buffer itself rather than a channel of their own: a publish only bumps
//! the latest seq and wakes the subscribers that are waiting (each at most once until it reads
//! again), and a subscriber takes everything new in one read under the ring's lock. Events read
//! together stay together as a chunk whose NDJSON text is built once, so a batched subscriber
//! that filters nothing sends each chunk as one frame it did not have to build.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{watch, Notify};

use super::{Item, Missed, Published, SimEvent, Stamp, StreamConfig};

/// A chunk closes at this many events even if nobody reads it: the granularity at which the
/// buffer lets go of old events, and the most one shared frame carries.
pub const CHUNK_EVENTS: usize = 256;

/// The bus. Clone freely.
#[derive(Clone)]
pub struct Events {
    shared: Arc<Shared>,
}

struct Shared {
    ring: Mutex<Ring>,
    /// The seq of the latest event, readable without the ring's lock.
    latest: AtomicU64,
    /// Wakes subscribers waiting for an event after the one they last read.
    published: Notify,
    closed: watch::Sender<bool>,
}

/// Consecutive events, read together: the unit a batched subscriber sends as one frame.
#[derive(Debug)]
pub struct Chunk {
    events: Vec<Arc<Published>>,
    /// Every message followed by `\n`, built by the first subscriber that sends the chunk whole.
    ndjson: OnceLock<Utf8Bytes>,
}

impl Chunk {
    fn first(&self) -> u64 {
        self.events.first().map_or(0, |p| p.seq)
    }

    fn last(&self) -> u64 {
        self.events.last().map_or(0, |p| p.seq)
    }

    /// The chunk as NDJSON (each message followed by `\n`); a clone copies nothing.
    pub fn ndjson(&self) -> &Utf8Bytes {
        self.ndjson.get_or_init(|| {
            let mut out = Vec::with_capacity(self.events.len() * 400);
            for p in &self.events {
                p.write_json(&mut out);
                out.push(b'\n');
            }
            Utf8Bytes::try_from(out).expect("serde_json writes UTF-8")
        })
    }
}

/// Part of the stream one read yields: a chunk from its `skip`th event on.
#[derive(Debug, Clone)]
pub struct Run {
    chunk: Arc<Chunk>,
    skip: usize,
}

impl Run {
    /// The events of the run, in order.
    pub fn events(&self) -> &[Arc<Published>] {
        &self.chunk.events[self.skip..]
    }

    /// The run's NDJSON when it is a whole chunk: shared with every subscriber that reads it.
    pub fn whole(&self) -> Option<&Utf8Bytes> {
        (self.skip == 0).then(|| self.chunk.ndjson())
    }
}

/// What one read yields, in stream order.
#[derive(Debug, Clone)]
pub enum Read {
    Missed(Missed),
    Run(Run),
}

struct Ring {
    /// The seq of the next event.
    next: u64,
    /// The oldest seq still offered to readers: the buffer is `oldest..next`.
    oldest: u64,
    capacity: usize,
    /// Closed chunks, oldest first, contiguous. The first may start before `oldest`; it is let
    /// go of once all of it is older.
    chunks: VecDeque<Arc<Chunk>>,
    /// The newest events, not in a chunk yet: a read or [`CHUNK_EVENTS`] closes them into one.
    open: Vec<Arc<Published>>,
}

impl Ring {
    fn close_open(&mut self) {
        if !self.open.is_empty() {
            let events = std::mem::replace(&mut self.open, Vec::with_capacity(CHUNK_EVENTS));
            self.chunks.push_back(Arc::new(Chunk {
                events,
                ndjson: OnceLock::new(),
            }));
        }
    }

    fn push(&mut self, published: Arc<Published>) {
        self.next = published.seq + 1;
        self.open.push(published);
        if self.open.len() == CHUNK_EVENTS {
            self.close_open();
        }
        if self.next - self.oldest > self.capacity as u64 {
            self.oldest += 1;
            if self.chunks.front().is_some_and(|c| c.last() < self.oldest) {
                self.chunks.pop_front();
            }
        }
    }

    /// What is buffered from `from` on, about `max` events (whole chunks): the range before the
    /// buffer that is gone, if any, and the runs.
    fn read(&mut self, from: u64, max: usize) -> (Option<(u64, u64)>, Vec<Run>) {
        self.close_open();
        let gap = (from < self.oldest).then(|| (from, self.oldest - 1));
        let start = from.max(self.oldest);
        let first = self.chunks.partition_point(|c| c.last() < start);
        let mut runs = Vec::new();
        let mut taken = 0;
        for chunk in self.chunks.iter().skip(first) {
            if taken >= max {
                break;
            }
            let skip = start.saturating_sub(chunk.first()) as usize;
            taken += chunk.events.len() - skip;
            runs.push(Run {
                chunk: chunk.clone(),
                skip,
            });
        }
        (gap, runs)
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
        Events {
            shared: Arc::new(Shared {
                ring: Mutex::new(Ring {
                    next: 1,
                    oldest: 1,
                    capacity: config.buffer.max(1),
                    chunks: VecDeque::new(),
                    open: Vec::with_capacity(CHUNK_EVENTS),
                }),
                latest: AtomicU64::new(0),
                published: Notify::new(),
                closed: watch::channel(false).0,
            }),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // Plain data updated in one step; a panic elsewhere leaves it usable.
        self.shared.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Numbers and buffers `event`, and wakes the subscribers waiting for one; returns its seq.
    /// Never blocks on subscribers; call it where the thing happens (under the engine's lock
    /// for engine events), so `seq` follows the order of events.
    pub fn publish(&self, stamp: Stamp, event: SimEvent) -> u64 {
        let mut ring = self.ring();
        let seq = ring.next;
        let published = Arc::new(Published::new(seq, stamp, event));
        ring.push(published.clone());
        // Under the ring's lock, so `latest` never runs ahead of what a read finds.
        self.shared.latest.store(seq, Ordering::Release);
        drop(ring);
        // The log tells the story the stream tells, from the same point (written once the
        // engine's lock is let go, if this thread holds it: `logs::hold`).
        crate::logs::published(&published);
        // Wakes only subscribers waiting now; one that is busy reads this event with the rest.
        self.shared.published.notify_waiters();
        seq
    }

    /// The seq of the latest event (0 before the first).
    pub fn latest(&self) -> u64 {
        self.shared.latest.load(Ordering::Acquire)
    }

    /// Subscribes: with `since`, first what is still buffered after it (a `gap` first if the
    /// buffer does not reach back), then every new event. Fails if `since` is ahead of the
    /// stream.
    pub fn subscribe(&self, since: Option<u64>) -> Result<Subscription, SinceAhead> {
        let ring = self.ring();
        let latest = ring.next - 1;
        let mut next = ring.next;
        let mut gap = None;
        if let Some(since) = since {
            if since > latest {
                return Err(SinceAhead { since, latest });
            }
            next = since + 1;
            if next < ring.oldest {
                gap = Some(Missed {
                    kind: "gap",
                    from: next,
                    to: ring.oldest - 1,
                });
                next = ring.oldest;
            }
        }
        drop(ring);
        Ok(Subscription {
            events: self.clone(),
            next,
            gap,
            pending: VecDeque::new(),
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

/// One subscriber's view of the stream. See [`crate::events`] for what it guarantees.
pub struct Subscription {
    events: Events,
    /// The seq of the next event this subscriber should see.
    next: u64,
    /// Said first: `since` reached back further than the buffer.
    gap: Option<Missed>,
    /// What [`Subscription::next`] has read and not yet returned.
    pending: VecDeque<Item>,
    closed: watch::Receiver<bool>,
}

impl Subscription {
    /// Waits until there is something to read; `false` once the bus is closed. Cancel-safe: it
    /// reads nothing.
    pub async fn ready(&mut self) -> bool {
        let shared = self.events.shared.clone();
        loop {
            if *self.closed.borrow() {
                return false;
            }
            // Registered before looking, so a publish in between is not missed.
            let published = shared.published.notified();
            tokio::pin!(published);
            published.as_mut().enable();
            if self.gap.is_some() || shared.latest.load(Ordering::Acquire) >= self.next {
                return true;
            }
            tokio::select! {
                _ = published => {}
                _ = self.closed.changed() => {}
            }
        }
    }

    /// Everything there is to read now, about `max` events at most, without waiting: a
    /// `gap` or `lagged` first if events this subscriber should have seen are gone.
    pub fn read(&mut self, max: usize) -> Vec<Read> {
        let mut out = Vec::new();
        if let Some(gap) = self.gap.take() {
            out.push(Read::Missed(gap));
        }
        let (lost, runs) = self.events.ring().read(self.next, max);
        if let Some((from, to)) = lost {
            out.push(Read::Missed(Missed {
                kind: "lagged",
                from,
                to,
            }));
            self.next = to + 1;
        }
        if let Some(last) = runs.last() {
            self.next = last.chunk.last() + 1;
        }
        out.extend(runs.into_iter().map(Read::Run));
        out
    }

    /// The next message, one at a time; `None` once the bus is closed. Cancel-safe.
    pub async fn next(&mut self) -> Option<Item> {
        loop {
            if *self.closed.borrow() {
                return None;
            }
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if !self.ready().await {
                return None;
            }
            for read in self.read(CHUNK_EVENTS) {
                match read {
                    Read::Missed(m) => self.pending.push_back(Item::Missed(m)),
                    Read::Run(run) => self
                        .pending
                        .extend(run.events().iter().cloned().map(Item::Event)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ResetDone;

    fn stamp() -> Stamp {
        Stamp {
            at_ms: 0,
            time: crate::clock::TimelineTime::parse("2026-03-14 10:15:31.000").unwrap(),
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

    /// What one read yields, as `gap:1-2`, `lagged:…` and `3..5` for the runs (`+` when whole).
    fn reads(sub: &mut Subscription, max: usize) -> Vec<String> {
        sub.read(max)
            .into_iter()
            .map(|r| match r {
                Read::Missed(m) => format!("{}:{}-{}", m.kind, m.from, m.to),
                Read::Run(run) => {
                    let e = run.events();
                    let whole = if run.whole().is_some() { "+" } else { "" };
                    format!("{}..{}{whole}", e[0].seq, e[e.len() - 1].seq)
                }
            })
            .collect()
    }

    #[tokio::test]
    async fn the_replay_buffer_keeps_only_the_last_stream_buffer_events() {
        let events = bus(100);
        for _ in 0..1000 {
            events.publish(stamp(), reset());
        }
        let mut sub = events.subscribe(Some(0)).expect("not ahead");
        let mut expected = vec!["gap:1-900".to_owned()];
        expected.extend((901..=1000).map(|s| s.to_string()));
        assert_eq!(seqs(&mut sub, 101).await, expected);
        // Whole chunks are let go of: never more than a chunk's worth beyond the buffer.
        let ring = events.ring();
        let held: usize = ring.chunks.iter().map(|c| c.events.len()).sum();
        assert!(held < 100 + CHUNK_EVENTS, "{held} events held");
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
    async fn a_subscriber_far_behind_is_served_from_the_buffer_without_loss() {
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

    #[test]
    fn subscribers_reading_together_share_whole_chunks() {
        let events = bus(1000);
        let mut early = events.subscribe(None).expect("not ahead");
        for _ in 0..3 {
            events.publish(stamp(), reset());
        }
        let mut joins = events.subscribe(Some(2)).expect("not ahead");
        // The first read closes 1..3 into a chunk; a subscriber starting inside it gets a part.
        assert_eq!(reads(&mut early, 100), ["1..3+"]);
        assert_eq!(reads(&mut joins, 100), ["3..3"]);
        for _ in 0..300 {
            events.publish(stamp(), reset());
        }
        // 256 events close a chunk without a reader; the rest closes when read.
        assert_eq!(reads(&mut early, 1000), ["4..259+", "260..303+"]);
        assert_eq!(reads(&mut joins, 100), ["4..259+"]);
        assert_eq!(reads(&mut joins, 100), ["260..303+"]);
        assert!(reads(&mut joins, 100).is_empty());
        // A whole chunk's text: its messages, each on a line of its own.
        let mut late = events.subscribe(Some(3)).expect("not ahead");
        let Some(Read::Run(run)) = late.read(1).into_iter().next() else {
            panic!("a run");
        };
        let text = run.whole().expect("4..259 is a whole chunk").as_str();
        assert_eq!(text.lines().count(), CHUNK_EVENTS);
        assert!(text.ends_with("}\n"), "{text}");
        assert_eq!(
            text.lines().next(),
            Some(r#"{"seq":4,"kind":"reset","at_ms":0,"time":"2026-03-14 10:15:31.000"}"#)
        );
    }

    #[tokio::test]
    async fn closing_ends_every_subscription() {
        let events = bus(10);
        let mut sub = events.subscribe(None).expect("not ahead");
        events.close();
        assert!(sub.next().await.is_none());
        assert!(!sub.ready().await);
    }
}
