//! A call's timeline in its own `calls` row (schema v6): `calls.timeline`, one JSON array whose
//! element `i` is the entry at position `i`, `[at_ms, time, event]` or `[at_ms, time, event,
//! detail]`:
//!
//! - `at_ms`: simulated ms after the call's `accepted_ms`;
//! - `time`: ms after the call's `accepted_at` (Unix ms), or a text kept as it was (a time v5
//!   could not read);
//! - `event`: its code (`timeline_event_names`);
//! - `detail`: the id of its text in `timeline_details`, or the text.
//!
//! A position no write reached (one whose write failed) is `null`, and no reader shows it.
//!
//! Why not a row per entry (v5): each of the nine entries of a call was an insert into a B-tree
//! of its own, and each commit wrote that B-tree's last page again. The writer now gathers a
//! transaction's entries by call and writes each call's with one update of its row
//! ([`Pending`]), the row its end is written to anyway. Entries still reach the database as they
//! happen (recovery reads an unfinished call's timeline), each in the transaction it came in.

use std::collections::HashMap;

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Connection};
use serde_json::Value as Json;

use super::StoreError;

/// One entry to write, with absolute times (the update makes them relative to its call's).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub(super) idx: u32,
    pub(super) at_ms: u64,
    /// Unix ms.
    pub(super) time_ms: i64,
    pub(super) event: i64,
    /// An id in `timeline_details`, or the text.
    pub(super) detail: Option<Value>,
}

impl Entry {
    /// `[idx, at_ms, time_ms, event(, detail)]`, as [`set_entries`] reads it.
    fn json(&self) -> Json {
        let mut e = vec![
            Json::from(self.idx),
            Json::from(self.at_ms),
            Json::from(self.time_ms),
            Json::from(self.event),
        ];
        match &self.detail {
            Some(Value::Integer(id)) => e.push(Json::from(*id)),
            Some(Value::Text(t)) => e.push(Json::from(t.as_str())),
            _ => {}
        }
        Json::Array(e)
    }
}

/// Writes `entries` (in order) into the timeline of call `session_id` (by its `seq` when the
/// writer knows it: the primary key rather than the session id's index); `false` when there is
/// no such call.
pub(super) fn write(
    conn: &Connection,
    session_id: &str,
    seq: Option<i64>,
    entries: &[Entry],
) -> Result<bool, StoreError> {
    let new = Json::Array(entries.iter().map(Entry::json).collect()).to_string();
    let n = match seq {
        Some(seq) => conn
            .prepare_cached(
                "UPDATE calls SET timeline = dialtone_timeline_set(timeline, accepted_ms,
                     coalesce(unixepoch(accepted_at) * 1000, 0), ?2)
                 WHERE seq = ?1",
            )?
            .execute(params![seq, new])?,
        None => conn
            .prepare_cached(
                "UPDATE calls SET timeline = dialtone_timeline_set(timeline, accepted_ms,
                     coalesce(unixepoch(accepted_at) * 1000, 0), ?2)
                 WHERE session_id = ?1",
            )?
            .execute(params![session_id, new])?,
    };
    Ok(n == 1)
}

/// The entries the writer holds for its open transaction, by call, in the order they came.
#[derive(Debug, Default)]
pub(super) struct Pending {
    calls: Vec<(String, Vec<Entry>)>,
    index: HashMap<String, usize>,
}

impl Pending {
    pub(super) fn push(&mut self, session_id: &str, entry: Entry) {
        let i = match self.index.get(session_id) {
            Some(i) => *i,
            None => {
                self.calls.push((session_id.to_owned(), Vec::new()));
                self.index
                    .insert(session_id.to_owned(), self.calls.len() - 1);
                self.calls.len() - 1
            }
        };
        self.calls[i].1.push(entry);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Every call's entries, emptying the set.
    pub(super) fn take(&mut self) -> Vec<(String, Vec<Entry>)> {
        self.index.clear();
        std::mem::take(&mut self.calls)
    }
}

/// SQL expressions of an entry, for a query that names the call `c` and `json_each(c.timeline)`
/// `j` (and keeps `j.type = 'array'`: not a position no write reached).
pub(super) const AT_MS_SQL: &str = "c.accepted_ms + (j.value ->> 0)";
/// Unix ms (or the text kept as it was).
pub(super) const TIME_SQL: &str = "CASE WHEN typeof(j.value ->> 1) = 'integer'
     THEN coalesce(unixepoch(c.accepted_at) * 1000, 0) + (j.value ->> 1) ELSE j.value ->> 1 END";
pub(super) const EVENT_SQL: &str = "(j.value ->> 2)";
pub(super) const DETAIL_SQL: &str = "(j.value ->> 3)";

/// `dialtone_timeline_set(timeline, accepted_ms, accepted_unix_ms, entries)`: the timeline with
/// each of `entries` (`[[idx, at_ms, time_ms, event(, detail)], …]`, absolute) set at its
/// position, made relative to the call; positions skipped on the way are `null`.
pub(super) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "dialtone_timeline_set",
        4,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| set_entries(ctx).map_err(|e| rusqlite::Error::UserFunctionError(e.into())),
    )
}

fn set_entries(ctx: &Context<'_>) -> Result<String, String> {
    let mut timeline: Vec<Json> = match ctx.get_raw(0) {
        ValueRef::Null => Vec::new(),
        ValueRef::Text(t) => serde_json::from_slice(t).map_err(|e| format!("timeline: {e}"))?,
        other => return Err(format!("timeline: {:?}, not JSON text", other.data_type())),
    };
    let accepted_ms: i64 = ctx.get(1).map_err(|e| e.to_string())?;
    let accepted_unix_ms: i64 = ctx.get(2).map_err(|e| e.to_string())?;
    let entries: Vec<Vec<Json>> = match ctx.get_raw(3) {
        ValueRef::Text(t) => serde_json::from_slice(t).map_err(|e| format!("entries: {e}"))?,
        _ => return Err("entries: not JSON text".into()),
    };
    for e in entries {
        let int = |i: usize| {
            e.get(i)
                .and_then(Json::as_i64)
                .ok_or_else(|| format!("entry {e:?}: no integer at {i}"))
        };
        let idx = usize::try_from(int(0)?).map_err(|_| format!("entry {e:?}: position"))?;
        let mut stored = vec![
            Json::from(int(1)? - accepted_ms),
            Json::from(int(2)? - accepted_unix_ms),
            Json::from(int(3)?),
        ];
        stored.extend(e.get(4).cloned());
        if timeline.len() <= idx {
            timeline.resize(idx + 1, Json::Null);
        }
        timeline[idx] = Json::Array(stored);
    }
    Ok(Json::Array(timeline).to_string())
}
