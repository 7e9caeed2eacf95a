//! Database retention (`store.retention_s`, `store.max_finished_calls`): finished calls leave the
//! database with everything that is theirs alone (timeline, status deliveries and their attempts,
//! CDR batches once all their calls are gone), a bounded batch per [`Write::Retain`] so the
//! writer never stalls the writes queued behind it.
//!
//! A call is only deleted once nothing is owed for it: it has ended, its CDR is `delivered`,
//! `abandoned` or `no_url`, and none of its deliveries is unfinished. Age is counted from the
//! call's end (`ended_at`, simulated calendar time); the count keeps the newest calls by
//! acceptance order.
//!
//! [`Write::Retain`]: super::Write::Retain

use std::sync::LazyLock;

use rusqlite::{params, Connection};

use super::write::own_status_push;
use super::StoreError;

/// One retention pass: what to delete, and at most how much of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retain {
    /// Delete finished calls that ended before this (`yyyy-MM-dd HH:mm:ss` UTC).
    pub ended_before: Option<String>,
    /// Keep at most this many finished calls (the newest).
    pub max_finished: Option<u64>,
    /// Look at most at this many of the oldest calls in one pass (so a pass is bounded even when
    /// none of them may go yet).
    pub batch: u32,
}

/// Runs one pass; returns how many calls it deleted.
pub(super) fn apply(conn: &Connection, r: &Retain) -> Result<usize, StoreError> {
    // The seq at and below which calls are over the count (-1: none). Counted in acceptance
    // order from the newest call (one index lookup, not a count of finished calls): sequence
    // numbers are dense, and calls in progress among the newest are few.
    let over_count: i64 = match r.max_finished {
        Some(max) => {
            let newest: Option<i64> = conn
                .prepare_cached("SELECT max(seq) FROM calls")?
                .query_row([], |row| row.get(0))?;
            newest.map_or(-1, |n| {
                n.saturating_sub(i64::try_from(max).unwrap_or(i64::MAX))
            })
        }
        None => -1,
    };
    // The oldest calls first (acceptance order is close to end order), a window of `batch`. A
    // NULL `ended_before` makes `ended_at < ?1` NULL: no call is old enough.
    static DOOMED: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT c.seq, c.session_id
               FROM (SELECT seq, session_id, state_code, fee_state, ended_at FROM calls
                     ORDER BY seq LIMIT ?3) c
              WHERE c.state_code IS NOT NULL
                AND c.fee_state IN ('delivered', 'abandoned', 'no_url')
                AND (c.seq <= ?2 OR c.ended_at < ?1)
                AND NOT EXISTS (
                    SELECT 1 FROM delivery_calls dc JOIN outbox d ON d.id = dc.delivery_id
                     WHERE dc.call_seq = c.seq AND d.finished_outcome IS NULL)
                AND NOT EXISTS (
                    SELECT 1 FROM outbox o WHERE {} AND o.finished_outcome IS NULL)",
            own_status_push("o", "c.seq")
        )
    });
    let doomed: Vec<(i64, String)> = {
        let mut stmt = conn.prepare_cached(&DOOMED)?;
        let rows = stmt.query_map(params![r.ended_before, over_count, r.batch], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    if doomed.is_empty() {
        return Ok(0);
    }
    static DELIVERIES: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT delivery_id FROM delivery_calls WHERE call_seq = ?1
             UNION ALL SELECT o.id FROM outbox o WHERE {}",
            own_status_push("o", "?1")
        )
    });
    let mut deliveries = conn.prepare_cached(&DELIVERIES)?;
    let mut touched: Vec<String> = Vec::new();
    for (seq, _) in &doomed {
        let ids = deliveries.query_map([seq], |row| row.get::<_, String>(0))?;
        for id in ids {
            touched.push(id?);
        }
    }
    touched.sort();
    touched.dedup();
    // A CDR batch body made from its calls' CDRs is written out before any of them goes.
    let mut materialise = conn.prepare_cached(&format!(
        "UPDATE outbox SET body = (SELECT {} FROM deliveries d WHERE d.id = ?1)
          WHERE id = ?1 AND body IS NULL",
        super::write::delivery_body_packed()
    ))?;
    for id in &touched {
        materialise.execute([id])?;
    }
    let mut unlink = conn.prepare_cached("DELETE FROM delivery_calls WHERE call_seq = ?1")?;
    let mut call = conn.prepare_cached("DELETE FROM calls WHERE seq = ?1")?;
    for (seq, _) in &doomed {
        unlink.execute([seq])?;
        call.execute([seq])?;
    }
    // A delivery goes with its last call (a CDR batch names up to 50).
    let mut orphan = conn.prepare_cached(
        "SELECT NOT EXISTS (SELECT 1 FROM delivery_calls WHERE delivery_id = ?1)",
    )?;
    let mut attempts = conn.prepare_cached("DELETE FROM attempt_rows WHERE delivery_id = ?1")?;
    let mut delivery =
        conn.prepare_cached("DELETE FROM outbox WHERE id = ?1 AND finished_outcome IS NOT NULL")?;
    for id in &touched {
        if orphan.query_row([id], |row| row.get::<_, bool>(0))? {
            attempts.execute([id])?;
            delivery.execute([id])?;
        }
    }
    Ok(doomed.len())
}
