//! The store's `attempts` table: the delivery journal (spec §9) kept on disk. [`SqliteJournal`] is a
//! [`JournalStore`], so `Journal::new(Arc::new(SqliteJournal::new(store)))` makes every caller
//! durable without changing.
//!
//! Same semantics as [`MemoryJournal`](crate::push::journal::MemoryJournal) with one deliberate
//! difference: `journal.max_entries` does not apply. The durable journal keeps every attempt
//! until a reset or `clear`; the limit exists to bound memory, and disk is the user's to manage.

use rusqlite::types::Value;
use rusqlite::{Connection, Row};

use super::write::{self, parse_error, parse_kind, parse_outcome, Write};
use super::{read, Store, StoreError};
use crate::push::journal::{JournalEntry, JournalError, JournalQuery, JournalStore};

/// A [`JournalStore`] backed by a [`Store`].
#[derive(Clone)]
pub struct SqliteJournal {
    store: Store,
}

impl SqliteJournal {
    pub fn new(store: Store) -> SqliteJournal {
        SqliteJournal { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl JournalStore for SqliteJournal {
    /// Records an attempt not tied to a delivery row. The engine, which knows the delivery, writes
    /// [`Write::Attempt`] with `delivery_id` itself instead of calling this.
    fn record(&self, entry: JournalEntry) {
        let fault = entry.fault.clone();
        self.store.write(Write::Attempt { entry, fault });
    }

    /// Reads after every write made before it (the reads are served in order with the writes).
    /// A database error is the [`JournalError`], never an empty list.
    fn query(&self, q: &JournalQuery) -> Result<Vec<JournalEntry>, JournalError> {
        let q = q.clone();
        self.store
            .read(move |conn| query(conn, &q))
            .map_err(JournalError::new)
    }

    fn clear(&self) {
        self.store.write(Write::ClearJournal);
    }
}

/// Matching entries, the most recent `q.limit`, oldest first.
pub(super) fn query(conn: &Connection, q: &JournalQuery) -> Result<Vec<JournalEntry>, StoreError> {
    let mut sql = String::from(
        "SELECT a.id, a.kind, a.app_key, a.session_ids, a.event_type, a.url, a.attempt,
             a.sent_at, a.sent_at_ms, a.request_headers, a.request_body, a.response_status,
             a.response_body, a.error, a.latency_ms, a.outcome, a.next_attempt_at, a.delivery_id,
             a.fault
         FROM attempts a",
    );
    let mut args: Vec<Value> = Vec::new();
    // With a session, start from the link table's index rather than scanning every attempt.
    if let Some(s) = &q.session_id {
        sql.push_str(" JOIN attempt_sessions s ON s.attempt_seq = a.seq AND s.session_id = ?");
        args.push(Value::Text(s.clone()));
    }
    sql.push_str(" WHERE 1");
    if let Some(d) = &q.delivery_id {
        sql.push_str(" AND a.delivery_id = ?");
        args.push(Value::Text(d.clone()));
    }
    if let Some(a) = &q.app_key {
        sql.push_str(" AND a.app_key = ?");
        args.push(Value::Text(a.clone()));
    }
    if let Some(k) = q.kind {
        sql.push_str(" AND a.kind = ?");
        args.push(Value::Text(write::kind_str(k).into()));
    }
    if let Some(o) = q.outcome {
        sql.push_str(" AND a.outcome = ?");
        args.push(Value::Text(write::outcome_str(o).into()));
    }
    // Simulated send time, then delivery and attempt: the order a seeded run repeats exactly,
    // whatever order the network answered in (as `MemoryJournal`).
    sql.push_str(
        " ORDER BY a.sent_at DESC, a.sent_at_ms DESC, a.delivery_id DESC, a.attempt DESC LIMIT ?",
    );
    args.push(Value::Integer(read::sql_limit(q.limit)));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(entry_from(row)?);
    }
    out.reverse();
    Ok(out)
}

fn json<T: serde::de::DeserializeOwned>(column: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        column,
        reason: e.to_string(),
    })
}

fn entry_from(row: &Row<'_>) -> Result<JournalEntry, StoreError> {
    let error: Option<String> = row.get(13)?;
    Ok(JournalEntry {
        id: row.get(0)?,
        kind: parse_kind(&row.get::<_, String>(1)?)?,
        app_key: row.get(2)?,
        session_ids: json("attempts.session_ids", &row.get::<_, String>(3)?)?,
        event_type: write::parse_event_type(&row.get::<_, String>(4)?)?,
        url: row.get(5)?,
        attempt: row.get(6)?,
        sent_at: row.get(7)?,
        sent_at_ms: row.get(8)?,
        request_headers: json("attempts.request_headers", &row.get::<_, String>(9)?)?,
        request_body: row.get(10)?,
        response_status: row.get(11)?,
        response_body: row.get(12)?,
        error: error.as_deref().map(parse_error).transpose()?,
        latency_ms: row.get(14)?,
        outcome: parse_outcome(&row.get::<_, String>(15)?)?,
        next_attempt_at: row.get(16)?,
        delivery_id: row.get(17)?,
        fault: row.get(18)?,
    })
}
