//! The delivery journal (spec §9): every push attempt, successful or not, with exactly what was
//! sent and what came back.
//!
//! It lives with the pushes because it speaks their vocabulary ([`PushKind`], [`PushError`],
//! [`DeliveryOutcome`]). Callers use [`Journal`] only. Where entries live is a [`JournalStore`]:
//! [`MemoryJournal`] (keeping the most recent `journal.max_entries`) when ephemeral, the store's
//! attempt table (`store::SqliteJournal`) when durable.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::payload::EventType;

/// Which kind of push an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushKind {
    Status,
    Fee,
}

/// What became of an attempt (spec §9 `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    Delivered,
    /// Failed; the retry policy will try again at `next_attempt_at`.
    FailedWillRetry,
    /// Failed, and the policy never retries (fidelity policy, status pushes).
    Dropped,
    /// Failed its last retry.
    Abandoned,
}

/// A transport-level failure kind (spec §9 `error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushError {
    Timeout,
    Connect,
    Tls,
    Redirect,
    /// Any other transport failure (e.g. the connection closed mid-response).
    Io,
}

/// One push attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalEntry {
    /// `<delivery_id>#<attempt>`: unique, and the same in every seeded run.
    pub id: String,
    /// The push (one body, across its attempts): `s<call>.<n>` for the n-th status push of a
    /// call, `f<call>` for the CDR batch whose first call is `<call>`.
    pub delivery_id: String,
    pub kind: PushKind,
    pub app_key: std::sync::Arc<str>,
    pub session_ids: Vec<String>,
    pub event_type: EventType,
    pub url: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Simulated time the attempt was made, `yyyy-MM-dd HH:mm:ss` UTC, and in ms since start.
    pub sent_at: String,
    pub sent_at_ms: u64,
    pub request_headers: Vec<(String, String)>,
    pub request_body: String,
    pub response_status: Option<u16>,
    /// The first 4 KiB of the response body.
    pub response_body: Option<String>,
    pub error: Option<PushError>,
    pub latency_ms: u64,
    pub outcome: DeliveryOutcome,
    pub next_attempt_at: Option<String>,
    /// The injected fault (`PUT /sim/v1/faults`) that shaped this attempt, if any: tells an
    /// injected failure from a real one.
    pub fault: Option<String>,
}

/// Which entries to read. Empty fields match everything.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalQuery {
    pub session_id: Option<String>,
    pub delivery_id: Option<String>,
    pub app_key: Option<String>,
    pub kind: Option<PushKind>,
    pub outcome: Option<DeliveryOutcome>,
    /// At most this many, the most recent ones.
    pub limit: Option<usize>,
    /// Only the latest attempt of each delivery, and only deliveries in this state.
    pub state: Option<DeliveryState>,
}

/// Where a delivery (a push across its attempts) stands, judged by its latest attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Delivered,
    /// Not delivered: still retrying, dropped or abandoned. What is owed to the app.
    Failed,
}

impl JournalQuery {
    pub fn for_session(session_id: &str) -> JournalQuery {
        JournalQuery {
            session_id: Some(session_id.to_owned()),
            ..JournalQuery::default()
        }
    }

    fn matches(&self, e: &JournalEntry) -> bool {
        self.session_id
            .as_ref()
            .is_none_or(|s| e.session_ids.iter().any(|x| x == s))
            && self
                .delivery_id
                .as_ref()
                .is_none_or(|d| &e.delivery_id == d)
            && self.app_key.as_ref().is_none_or(|a| *e.app_key == **a)
            && self.kind.is_none_or(|k| e.kind == k)
            && self.outcome.is_none_or(|o| e.outcome == o)
    }
}

/// The journal could not be read: the store behind it failed. Not "no entries": callers answer
/// it as an error.
#[derive(Debug, thiserror::Error)]
#[error("reading the delivery journal: {0}")]
pub struct JournalError(Box<dyn std::error::Error + Send + Sync>);

impl JournalError {
    /// Wraps whatever error the store behind a [`JournalStore`] has (boxed, so this module does
    /// not depend on any one store).
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> JournalError {
        JournalError(source.into())
    }
}

/// Where journal entries are kept.
pub trait JournalStore: Send + Sync {
    fn record(&self, entry: JournalEntry);
    /// Records an attempt made of its delivery as queued: its kind, app, calls, event, URL, body
    /// and idempotency key are the delivery's. A store that keeps the delivery may then keep only
    /// what differs without looking the delivery up. Shared: the event stream tells the same
    /// entry, and a store that keeps it whole keeps this one rather than a copy.
    fn record_queued(&self, entry: Arc<JournalEntry>) {
        self.record(Arc::unwrap_or_clone(entry))
    }
    /// Matching entries, oldest first; an error if the store cannot be read.
    fn query(&self, q: &JournalQuery) -> Result<Vec<JournalEntry>, JournalError>;
    fn clear(&self);
}

/// The handle everything records through and reads from.
#[derive(Clone)]
pub struct Journal(Arc<dyn JournalStore>);

impl Journal {
    pub fn new(store: Arc<dyn JournalStore>) -> Journal {
        Journal(store)
    }

    /// An in-memory journal keeping the most recent `max_entries`.
    pub fn in_memory(max_entries: usize) -> Journal {
        Journal(Arc::new(MemoryJournal::new(max_entries)))
    }

    pub fn record(&self, entry: JournalEntry) {
        self.0.record(entry)
    }

    /// As [`Journal::record`], for an attempt made of its delivery as queued (see
    /// [`JournalStore::record_queued`]).
    pub fn record_queued(&self, entry: impl Into<Arc<JournalEntry>>) {
        self.0.record_queued(entry.into())
    }

    /// Matching entries, oldest first. Fails only if the store behind the journal does.
    pub fn query(&self, q: &JournalQuery) -> Result<Vec<JournalEntry>, JournalError> {
        let Some(state) = q.state else {
            return self.0.query(q);
        };
        // The latest attempt of each delivery decides its state.
        let all = JournalQuery {
            state: None,
            limit: None,
            ..q.clone()
        };
        let mut latest: std::collections::HashMap<String, JournalEntry> =
            std::collections::HashMap::new();
        for e in self.0.query(&all)? {
            latest.insert(e.delivery_id.clone(), e);
        }
        let mut out: Vec<JournalEntry> = latest
            .into_values()
            .filter(|e| {
                (e.outcome == DeliveryOutcome::Delivered) == (state == DeliveryState::Delivered)
            })
            .collect();
        out.sort_by(|a, b| (a.sent_at_ms, &a.delivery_id).cmp(&(b.sent_at_ms, &b.delivery_id)));
        if let Some(n) = q.limit {
            out.drain(..out.len().saturating_sub(n));
        }
        Ok(out)
    }

    pub fn clear(&self) {
        self.0.clear()
    }
}

/// A bounded in-memory journal: the oldest entries make room for new ones.
///
/// Entries are ordered by (simulated send time, delivery, attempt), not by when the network
/// answered, so a seeded manual-clock run lists them identically every time.
pub struct MemoryJournal {
    max_entries: usize,
    entries: Mutex<BTreeSet<Ordered>>,
}

/// An entry in the journal's order. Behind a pointer: entries of one instant arrive in no key
/// order, and an insertion shifts the values of its B-tree node, which inline would be whole
/// entries; shared with the event that told it.
struct Ordered(Arc<JournalEntry>);

impl Ordered {
    fn key(&self) -> (u64, &str, u32) {
        (self.0.sent_at_ms, &self.0.delivery_id, self.0.attempt)
    }
}

impl PartialEq for Ordered {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl MemoryJournal {
    pub fn new(max_entries: usize) -> MemoryJournal {
        MemoryJournal {
            max_entries,
            entries: Mutex::new(BTreeSet::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<Ordered>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl JournalStore for MemoryJournal {
    fn record(&self, entry: JournalEntry) {
        self.record_queued(Arc::new(entry))
    }

    fn record_queued(&self, entry: Arc<JournalEntry>) {
        let evicted = {
            let mut entries = self.lock();
            // A second record of one attempt replaces the first, as a map would.
            entries.replace(Ordered(entry));
            (entries.len() > self.max_entries)
                .then(|| entries.pop_first())
                .flatten()
        };
        // Freed outside the lock: an entry is a dozen allocations.
        drop(evicted);
    }

    fn query(&self, q: &JournalQuery) -> Result<Vec<JournalEntry>, JournalError> {
        let entries = self.lock();
        let newest_first = entries.iter().rev().map(|e| &*e.0).filter(|e| q.matches(e));
        let mut picked: Vec<JournalEntry> = newest_first
            .take(q.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect();
        picked.reverse();
        Ok(picked)
    }

    fn clear(&self) {
        self.lock().clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, session: &str, outcome: DeliveryOutcome) -> JournalEntry {
        JournalEntry {
            id: format!("s{id}.1#1"),
            delivery_id: format!("s{id}.1"),
            kind: PushKind::Status,
            app_key: "app".into(),
            session_ids: vec![session.into()],
            event_type: EventType::Callout,
            url: "http://127.0.0.1:1/".into(),
            attempt: 1,
            sent_at: "2026-03-14 10:15:31".into(),
            sent_at_ms: id,
            request_headers: vec![],
            request_body: "{}".into(),
            response_status: Some(200),
            response_body: None,
            error: None,
            latency_ms: 1,
            outcome,
            next_attempt_at: None,
            fault: None,
        }
    }

    #[test]
    fn keeps_the_most_recent_entries_and_filters() {
        let j = Journal::in_memory(3);
        for id in 1..=4 {
            let o = if id % 2 == 0 {
                DeliveryOutcome::Dropped
            } else {
                DeliveryOutcome::Delivered
            };
            j.record(entry(id, if id < 3 { "a" } else { "b" }, o));
        }
        let all: Vec<u64> = j
            .query(&JournalQuery::default())
            .unwrap()
            .iter()
            .map(|e| e.sent_at_ms)
            .collect();
        assert_eq!(all, vec![2, 3, 4]);
        assert_eq!(j.query(&JournalQuery::for_session("b")).unwrap().len(), 2);
        let dropped = JournalQuery {
            outcome: Some(DeliveryOutcome::Dropped),
            ..Default::default()
        };
        assert_eq!(
            j.query(&dropped)
                .unwrap()
                .iter()
                .map(|e| e.sent_at_ms)
                .collect::<Vec<_>>(),
            vec![2, 4]
        );
        let last = JournalQuery {
            limit: Some(1),
            ..Default::default()
        };
        assert_eq!(j.query(&last).unwrap()[0].sent_at_ms, 4);
    }

    /// A store that cannot be read, as a broken database.
    struct Unreadable;

    impl JournalStore for Unreadable {
        fn record(&self, _: JournalEntry) {}
        fn query(&self, _: &JournalQuery) -> Result<Vec<JournalEntry>, JournalError> {
            Err(JournalError::new("disk I/O error"))
        }
        fn clear(&self) {}
    }

    #[test]
    fn a_store_that_cannot_be_read_is_an_error_for_every_query_not_an_empty_list() {
        let j = Journal::new(Arc::new(Unreadable));
        let by_state = JournalQuery {
            state: Some(DeliveryState::Failed),
            ..Default::default()
        };
        for q in [JournalQuery::default(), by_state] {
            let err = j.query(&q).expect_err("not an empty list");
            assert_eq!(
                err.to_string(),
                "reading the delivery journal: disk I/O error"
            );
        }
    }
}
