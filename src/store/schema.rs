//! The database schema and its migrations.
//!
//! The schema is plain SQL in `src/store/schema/v<N>.sql`, applied in order; `PRAGMA
//! user_version` holds the version a database is at. Every open migrates: it applies
//! what is missing, each version in its own transaction, so an interrupted upgrade leaves the file
//! at the last complete version. A file from a newer Dialtone is refused, never downgraded.
//!
//! What is in `dialtone.db` (version 6), for anyone opening it with `sqlite3`. Read through the
//! views (`cdrs`, `timeline`, `deliveries`, `attempts`): the tables under them keep codes and
//! leave out what can be derived.
//!
//! | table / view | one row per | notes |
//! |---|---|---|
//! | `calls` | accepted callVerify request | `state_code IS NULL` while in flight; `fee_state` is `pending`, `no_url`, `queued`, `delivered` or `abandoned`; `view_json` (v3): outcome, rule and announcement as the inspection API shows them; v4: `request_json` and `view_json` are **packed** BLOBs (below); v5: the CDR is kept as its fields (`cdr_*`: times as seconds after `accepted_at`, release codes, `spId`, `hostName` when not the default, `userData`) and `fee_json` is NULL, unless they would not make it again exactly (a click-to-call, a recording, digit collection, any CDR written before v5): then `fee_json` is its text; v6: `timeline` is the call's timeline, a JSON array whose element *i* is the entry at position *i*: `[at_ms, time, event]` or `[at_ms, time, event, detail]`, `at_ms` and `time` in ms after `accepted_ms` and `accepted_at`, `event` a code (`timeline_event_names`), `detail` the id of its text in `timeline_details` or the text (a position no write reached is `null`) |
//! | `cdrs` (view, v2) | CDR | FeeInfo fields (spec §7.1) as snake_case columns, plus `fee_state`; `fee_json` is the CDR's text as pushed (v5: made in plain SQL from the fields) |
//! | `timeline` (view, v5) | timeline entry | as the inspection API shows it: `session_id`, `call_seq`, `idx`, `at_ms`, `time` as `yyyy-MM-dd HH:mm:ss.SSS`, `event` by name (`callout`, `alerting`, `answer`, `playing`, `collecting`, `key`, `collectInfo`, `disconnect`, `note`), `detail` as text; v6: read from `calls.timeline` with `json_each` (the table `call_events`, one row per entry, is gone) |
//! | `outbox` (v4) | push body | written before the first attempt; `finished_outcome IS NULL` = still owed; `body` packed; a status push of one call to that call's app and status URL names it in `call_seq` and leaves `app_key`, `url`, `session_ids` NULL; `idempotency_key` NULL when it is `<first session id>/<event_type>`, a CDR batch's `body` NULL when its calls' CDRs make it; v5: `WITHOUT ROWID`, `event_type` and the outcomes are codes, `kind` NULL when the event type's own, `last_outcome` NULL when it is the finished one, `last_sent_at` NULL when it is the last attempt's; v6: `first_*` hold its first attempt when that attempt is the delivery's as queued (id `<delivery>#1`, the usual headers, the delivery's body), which is then not a row of `attempt_rows` |
//! | `deliveries` (view, v4) | push body | `outbox` with every column filled in and named (the table of that name before v4); read bodies and keys through `store::write::delivery_body` / `DELIVERY_KEY` |
//! | `attempts` (view, v6) | push attempt (the journal, spec §9) | the table `attempt_rows` (called `attempts` before v6) and the first attempts kept in their outbox rows, with the table's columns; `seq` (storage order) is NULL for the latter, so order by `sent_at, sent_at_ms`; the table's columns: `fault` (v2) names an injected fault, if any; v3: columns the delivery already holds (body, URL, app, kind, calls) are NULL, and the headers are kept as `aksk` (X-AKSK) when they are the usual four; v4: a usual `aksk` is a 57-byte BLOB (digest, nonce, `Created`) |
//! | `delivery_calls` (v3) | (call, delivery) pair | which calls each push concerns: the journal per call, and retention; v5: not a call's own status push (`s<seq>.<n>` with `call_seq`), found by the outbox's key instead |
//! | `timeline_event_names`, `timeline_details` (v5) | code, text | what a timeline entry's `event` and `detail` stand for |
//! | `meta` | key/value | `written_by`: the Dialtone version that last opened the file |
//!
//! **Packed values (v4, `store::pack`).** A push body, a call's request and its inspection view
//! are stored as a BLOB: one byte saying how, then the text as an LZ4 block compressed against a
//! dictionary built into Dialtone and what the call's row already says (its app key, numbers,
//! acceptance time and session id). Plain `sqlite3` cannot read those three values; Dialtone's
//! own connection has `dialtone_unpack(value, context)` and `dialtone_pack(text, context)`, and
//! the API serves them (`GET /sim/v1/calls/{id}`, `dialtone deliveries`). Plain `sqlite3` reads
//! the rest: the CDRs (`cdrs`), the calls' numbers, times, state codes and CDR states, the
//! timeline (`timeline`), the outbox's states, outcomes and times (`deliveries`), and the
//! journal's times, URLs, HTTP statuses and outcomes (`attempts`). A value written before v4 stays TEXT and
//! reads as it is.
//!
//! ```sql
//! -- CDRs of one app still owed to it
//! SELECT session_id, call_end_time, ul_fail_reason FROM cdrs
//!  WHERE app_key = 'k3Vd…' AND fee_state IN ('pending', 'queued');
//! -- one call's timeline
//! SELECT time, event, detail FROM timeline WHERE session_id = '1200_…' ORDER BY idx;
//! -- every attempt at one push
//! SELECT a.attempt, a.sent_at, a.response_status, a.error, a.outcome
//!   FROM attempts a WHERE a.delivery_id = 'f17' ORDER BY a.attempt;
//! ```

use rusqlite::Connection;

use super::StoreError;

/// The migrations, in order: entry `i` takes a database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("schema/v1.sql"),
    include_str!("schema/v2.sql"),
    include_str!("schema/v3.sql"),
    include_str!("schema/v4.sql"),
    include_str!("schema/v5.sql"),
    include_str!("schema/v6.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The version `conn`'s database is at (0 for an empty file).
pub(super) fn version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Brings the database up to [`SCHEMA_VERSION`]. Returns the version it was at.
pub(super) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    migrate_to(conn, SCHEMA_VERSION)
}

/// Brings the database up to `target` (tests build old databases with it).
pub(super) fn migrate_to(conn: &mut Connection, target: u32) -> Result<u32, StoreError> {
    let found = version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for to in found + 1..=target.min(SCHEMA_VERSION) {
        let sql = MIGRATIONS[(to - 1) as usize];
        let step = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", to)?;
            tx.commit()
        };
        step(conn).map_err(|source| StoreError::Migration {
            version: to,
            source,
        })?;
    }
    Ok(found)
}
