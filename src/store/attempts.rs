//! The delivery journal (spec §9) kept on disk: the `attempts` view (schema v6: the rows of
//! `attempt_rows`, and the first attempts kept in their outbox rows). [`SqliteJournal`] is a
//! [`JournalStore`], so `Journal::new(Arc::new(SqliteJournal::new(store)))` makes every caller
//! durable without changing.
//!
//! Same semantics as [`MemoryJournal`](crate::push::journal::MemoryJournal) with one deliberate
//! difference: `journal.max_entries` does not apply. The durable journal keeps every attempt
//! until a reset or `clear`; the limit exists to bound memory, and disk is the user's to manage.

use rusqlite::types::Value;
use rusqlite::{Connection, Row};

use super::write::{self, body_from, parse_error, parse_kind, parse_outcome, Write};
use super::{read, Store, StoreError};
use crate::push::journal::{JournalEntry, JournalError, JournalQuery, JournalStore};
use crate::push::sign::PUSH_AUTHORIZATION;
use crate::push::transport::journal_headers;

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
    /// Records an attempt, comparing it with its delivery's row (if any) to keep only what
    /// differs.
    fn record(&self, entry: JournalEntry) {
        let fault = entry.fault.clone();
        self.store.write(Write::Attempt { entry, fault });
    }

    /// The engine's attempts: made of their delivery as queued, so nothing is compared.
    fn record_queued(&self, entry: std::sync::Arc<JournalEntry>) {
        self.store.write(Write::QueuedAttempt(entry));
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

/// The columns of the `attempts` view (schema v6) from `attempt_rows r`, then from `outbox o`
/// (a first attempt kept in its delivery's row); the journal filters each part by itself, so
/// that each uses its own index.
const ROW_COLUMNS: &str = "r.seq, r.delivery_id, r.attempt, r.sent_at, r.sent_at_ms, r.aksk,
    r.response_status, r.response_body, r.error, r.latency_ms, r.outcome, r.next_attempt_at,
    r.fault, r.id, r.kind, r.app_key, r.session_ids, r.event_type, r.url, r.request_headers,
    r.request_body";
const FIRST_COLUMNS: &str = "NULL, o.id, 1, o.first_sent_at, o.first_sent_at_ms, o.first_aksk,
    o.first_response_status, o.first_response_body, o.first_error, o.first_latency_ms,
    CASE o.first_outcome WHEN 0 THEN 'delivered' WHEN 1 THEN 'failed_will_retry'
                         WHEN 2 THEN 'dropped' WHEN 3 THEN 'abandoned' END,
    o.first_next_attempt_at, o.first_fault, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL";

/// Matching entries, the most recent `q.limit`, oldest first. What an attempt row leaves NULL
/// comes from its delivery (schema v3). Parameters by number: `?1` the session, `?2` the
/// delivery, `?3` the app, `?4` the kind, `?5` the outcome, `?6` the limit (those not asked for
/// are bound NULL and not used).
pub(super) fn query(conn: &Connection, q: &JournalQuery) -> Result<Vec<JournalEntry>, StoreError> {
    let mut rows_where = String::from("1");
    let mut first_where = String::from("o.first_sent_at IS NOT NULL");
    // With a session, start from the call's deliveries (an index) rather than scanning every
    // attempt; attempts that name their own calls (no delivery row) are few, and indexed too.
    if q.session_id.is_some() {
        // A call's own status pushes are a range of the outbox (schema v5, `own_status_push`).
        let call_deliveries = format!(
            "SELECT dc.delivery_id FROM calls c JOIN delivery_calls dc ON dc.call_seq = c.seq
              WHERE c.session_id = ?1
             UNION ALL
             SELECT o2.id FROM calls c JOIN outbox o2 ON {own} WHERE c.session_id = ?1",
            own = write::own_status_push("o2", "c.seq")
        );
        rows_where.push_str(&format!(
            " AND r.seq IN (
                SELECT a2.seq FROM attempt_rows a2
                 WHERE a2.delivery_id IN ({call_deliveries}) AND a2.session_ids IS NULL
                UNION ALL
                SELECT a3.seq FROM attempt_rows a3
                 WHERE a3.session_ids IS NOT NULL
                   AND EXISTS (SELECT 1 FROM json_each(a3.session_ids) WHERE value = ?1))"
        ));
        first_where.push_str(&format!(" AND o.id IN ({call_deliveries})"));
    }
    if q.delivery_id.is_some() {
        rows_where.push_str(" AND r.delivery_id = ?2");
        first_where.push_str(" AND o.id = ?2");
    }
    let mut sql = format!(
        "SELECT coalesce(a.id, a.delivery_id || '#' || a.attempt), coalesce(a.kind, d.kind),
             coalesce(a.app_key, d.app_key), coalesce(a.session_ids, d.session_ids),
             coalesce(a.event_type, d.event_type), coalesce(a.url, d.url), a.attempt,
             a.sent_at, a.sent_at_ms, a.request_headers, coalesce(a.request_body, {body}),
             a.response_status, a.response_body, a.error, a.latency_ms, a.outcome,
             a.next_attempt_at, a.delivery_id, a.fault, a.aksk, {key}
         FROM (SELECT {ROW_COLUMNS} FROM attempt_rows r WHERE {rows_where}
               UNION ALL
               SELECT {FIRST_COLUMNS} FROM outbox o WHERE {first_where}) a
         LEFT JOIN deliveries d ON d.id = a.delivery_id WHERE 1",
        body = write::delivery_body(),
        key = write::DELIVERY_KEY,
    );
    if q.app_key.is_some() {
        sql.push_str(" AND coalesce(a.app_key, d.app_key) = ?3");
    }
    if q.kind.is_some() {
        sql.push_str(" AND coalesce(a.kind, d.kind) = ?4");
    }
    if q.outcome.is_some() {
        sql.push_str(" AND a.outcome = ?5");
    }
    // Simulated send time, then delivery and attempt: the order a seeded run repeats exactly,
    // whatever order the network answered in (as `MemoryJournal`).
    sql.push_str(
        " ORDER BY a.sent_at DESC, a.sent_at_ms DESC, a.delivery_id DESC, a.attempt DESC LIMIT ?6",
    );
    let text = |v: Option<&str>| v.map_or(Value::Null, |v| Value::Text(v.to_owned()));
    let args = [
        text(q.session_id.as_deref()),
        text(q.delivery_id.as_deref()),
        text(q.app_key.as_deref()),
        text(q.kind.map(write::kind_str)),
        text(q.outcome.map(write::outcome_str)),
        Value::Integer(read::sql_limit(q.limit)),
    ];
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
    let request_headers = match row.get::<_, Option<String>>(9)? {
        Some(text) => json("attempts.request_headers", &text)?,
        None => {
            let (aksk, key) = (row.get_ref(19)?, row.get::<_, Option<String>>(20)?);
            let (false, Some(key)) = (aksk == rusqlite::types::ValueRef::Null, key) else {
                return Err(StoreError::Corrupt {
                    column: "attempts.aksk",
                    reason: "neither headers nor X-AKSK with its delivery's key".into(),
                });
            };
            let app_key: String = row.get(2)?;
            journal_headers(PUSH_AUTHORIZATION, &write::full_aksk(aksk, &app_key)?, &key)
        }
    };
    let request_body = body_from(row.get_ref(10)?)?;
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
        request_headers,
        request_body: String::from_utf8_lossy(&request_body).into_owned(),
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
