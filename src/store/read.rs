//! Reading the store back: recovery after a restart, stored calls, reconciliation counts.
//!
//! Every function here runs after everything written before the read was asked for is committed,
//! on the store's reader connection (on the writer's in memory; see `Store::read`).

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::cdr::{self, CallFacts, CdrColumns};
use super::timeline::{AT_MS_SQL, DETAIL_SQL, EVENT_SQL, TIME_SQL};
use super::write::{
    body_from, event_code, event_from, parse_event_type, parse_kind, parse_outcome, time_from,
    FeeState,
};
use super::{pack, StoreError};
use crate::call::timeline::TimelineEvent;
use crate::clock::{PlatformTime, TimelineTime};
use crate::push::journal::{DeliveryOutcome, PushKind};
use crate::push::payload::EventType;

/// A call as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredCall {
    pub seq: u64,
    pub session_id: String,
    pub app_key: String,
    pub callee: String,
    pub display: String,
    pub accepted_ms: u64,
    pub accepted_at: String,
    pub request_json: String,
    pub status_url: Option<String>,
    pub fee_url: Option<String>,
    /// `None` while the call is in flight.
    pub ended: Option<StoredEnd>,
    pub fee_state: FeeState,
}

/// How a stored call ended (its `CallEnded` write).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredEnd {
    pub state_code: u32,
    pub ended_at: String,
    pub readings: u32,
    pub code_ms: u64,
    pub fee_json: String,
    /// Outcome, rule and announcement as the inspection API showed them (schema v3; `None`
    /// for a call ended before it).
    pub view_json: Option<String>,
}

/// One timeline entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredEvent {
    pub idx: u32,
    pub at_ms: u64,
    pub time: TimelineTime,
    pub event: TimelineEvent,
    pub detail: Option<String>,
}

/// A call accepted but not ended when the store was last written: the process stopped mid-call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlightCall {
    pub call: StoredCall,
    /// Its timeline so far, in order.
    pub events: Vec<StoredEvent>,
    /// Status pushes the call already has in the outbox: the restarted run numbers its next
    /// one after them, so delivery ids stay unique across restarts.
    pub status_pushes: u32,
}

/// A push in the outbox that was neither delivered nor given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedDelivery {
    pub id: String,
    pub kind: PushKind,
    pub app_key: String,
    pub url: String,
    pub body: Vec<u8>,
    pub event_type: EventType,
    pub session_ids: Vec<String>,
    pub idempotency_key: String,
    /// Attempts made so far (0: queued, never tried).
    pub attempt: u32,
    pub last_outcome: Option<DeliveryOutcome>,
    pub last_sent_at: Option<String>,
    /// When the policy meant to try again, `yyyy-MM-dd HH:mm:ss` UTC.
    pub next_attempt_at: Option<String>,
}

/// What a restarted engine needs to carry on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// In acceptance order. End each one consistently (a disconnect and a CDR saying so).
    pub calls_in_flight: Vec<InFlightCall>,
    /// In id order. Resume each on its retry schedule, with the same idempotency key.
    pub owed_deliveries: Vec<OwedDelivery>,
    /// Ended calls whose CDR is `pending` or `queued` but in no owed CDR push: the process
    /// stopped before their batch reached the outbox. Queue them again.
    pub cdrs_unsent: Vec<StoredCall>,
    /// The largest call sequence number in use, so new ones (and the delivery ids derived from
    /// them) continue after it.
    pub max_seq: u64,
    /// The latest simulated time recorded (`yyyy-MM-dd HH:mm:ss[.SSS]`), so a manual clock can
    /// resume after it instead of running backwards.
    pub last_time: Option<String>,
}

/// Which stored calls to list. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct CallQuery {
    pub app_key: Option<String>,
    pub callee: Option<String>,
    /// `Some(true)`: only calls not ended; `Some(false)`: only ended ones.
    pub in_flight: Option<bool>,
    /// At most this many, the most recent ones (returned oldest first).
    pub limit: Option<usize>,
}

/// Reconciliation counts for one app (`GET /sim/v1/reports/reconciliation`).
///
/// The call counts partition what was accepted: `accepted = in_progress + played_in_full +
/// hung_up_early + Σ failed_by_reason`. CDRs: `cdrs_generated = cdrs_delivered + cdrs_owed +
/// cdrs_abandoned + cdrs_not_pushed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppReconciliation {
    pub app_key: String,
    /// Requests answered `0`.
    pub accepted: u64,
    /// Calls with a `callout` event.
    pub placed: u64,
    /// Calls with an `alerting` event.
    pub rang: u64,
    /// Calls with an `answer` event.
    pub answered: u64,
    /// Not ended yet (or the process stopped before they did).
    pub in_progress: u64,
    /// Ended with stateCode 0: the announcement played to the end.
    pub played_in_full: u64,
    /// Ended with stateCode 8017: the callee hung up during playback.
    pub hung_up_early: u64,
    /// Every other ending, by stateCode (Dialtone decision: 0 and 8017 are counted above, not
    /// here, so the counts add up).
    pub failed_by_reason: BTreeMap<u32, u64>,
    /// Ended calls (each produces exactly one CDR, spec §7.1).
    pub cdrs_generated: u64,
    /// Acknowledged with a 2xx.
    pub cdrs_delivered: u64,
    /// Still to be delivered: pending, queued, or between retries.
    pub cdrs_owed: u64,
    /// Failed their last retry.
    pub cdrs_abandoned: u64,
    /// Kept, never pushed: no fee URL.
    pub cdrs_not_pushed: u64,
}

const CALL_COLUMNS: &str = "seq, session_id, app_key, callee, display, accepted_ms, accepted_at,
    request_json, status_url, fee_url, state_code, ended_at, readings, code_ms, fee_json,
    fee_state, view_json, cdr_start, cdr_alerting, cdr_answer, cdr_fail, cdr_fail_reason, cdr_sip,
    cdr_q850, cdr_sp_id, cdr_host, cdr_user_data";

fn call_from(row: &Row<'_>) -> Result<StoredCall, StoreError> {
    let session_id: String = row.get("session_id")?;
    let app_key: String = row.get("app_key")?;
    let callee: String = row.get("callee")?;
    let display: String = row.get("display")?;
    let accepted_at: String = row.get("accepted_at")?;
    let context = pack::call_context(&app_key, &display, &callee, &accepted_at, &session_id);
    // Packed with the call's context (schema v4), or text as it was written before.
    let unpacked = |column: &str| -> Result<Option<String>, StoreError> {
        match row.get_ref(column)? {
            ValueRef::Null => Ok(None),
            v => pack::unpack_text(v, &context).map(Some),
        }
    };
    let state_code: Option<u32> = row.get("state_code")?;
    let ended = match state_code {
        None => None,
        Some(state_code) => {
            let ended_at = row
                .get::<_, Option<String>>("ended_at")?
                .unwrap_or_default();
            let readings = row.get::<_, Option<u32>>("readings")?.unwrap_or_default();
            let code_ms = row.get::<_, Option<u64>>("code_ms")?.unwrap_or_default();
            // Schema v5: the CDR kept as its fields, made again by the code that pushed it.
            let fee_json = match CdrColumns::read(row)? {
                Some(cols) => {
                    let call = CallFacts {
                        seq: row.get("seq")?,
                        session_id: &session_id,
                        app_key: &app_key,
                        display: &display,
                        callee: &callee,
                        accepted_at: &accepted_at,
                        ended_at: &ended_at,
                        readings,
                        code_ms,
                    };
                    cdr::json(&cdr::fee(&cols, &call)?)
                }
                None => unpacked("fee_json")?.unwrap_or_default(),
            };
            Some(StoredEnd {
                state_code,
                ended_at,
                readings,
                code_ms,
                fee_json,
                view_json: unpacked("view_json")?,
            })
        }
    };
    Ok(StoredCall {
        seq: row.get("seq")?,
        accepted_ms: row.get("accepted_ms")?,
        request_json: unpacked("request_json")?.unwrap_or_default(),
        status_url: row.get("status_url")?,
        fee_url: row.get("fee_url")?,
        ended,
        fee_state: FeeState::parse(&row.get::<_, String>("fee_state")?)?,
        session_id,
        app_key,
        callee,
        display,
        accepted_at,
    })
}

fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(f(row)?);
    }
    Ok(out)
}

pub(super) fn call(conn: &Connection, session_id: &str) -> Result<Option<StoredCall>, StoreError> {
    let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE session_id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let row = stmt
        .query_row([session_id], |row| Ok(call_from(row)))
        .optional()?;
    row.transpose()
}

pub(super) fn calls(conn: &Connection, q: &CallQuery) -> Result<Vec<StoredCall>, StoreError> {
    let sql = format!(
        "SELECT {CALL_COLUMNS} FROM calls
         WHERE (?1 IS NULL OR app_key = ?1) AND (?2 IS NULL OR callee = ?2)
           AND (?3 IS NULL OR (state_code IS NULL) = ?3)
         ORDER BY seq DESC LIMIT ?4"
    );
    let mut out = collect(
        conn,
        &sql,
        params![q.app_key, q.callee, q.in_flight, sql_limit(q.limit)],
        call_from,
    )?;
    out.reverse();
    Ok(out)
}

/// `LIMIT` for an optional limit: -1 is "no limit" to SQLite.
pub(super) fn sql_limit(limit: Option<usize>) -> i64 {
    limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

pub(super) fn events(conn: &Connection, session_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
    // Schema v6: the timeline is a JSON array in the call's row (`super::timeline`).
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT j.key, {AT_MS_SQL}, {TIME_SQL}, {EVENT_SQL}, coalesce(d.text, {DETAIL_SQL})
             FROM calls c, json_each(c.timeline) j
             LEFT JOIN timeline_details d
                    ON typeof({DETAIL_SQL}) = 'integer' AND d.id = {DETAIL_SQL}
             WHERE c.session_id = ?1 AND j.type = 'array' ORDER BY j.key"
        )
    });
    collect(conn, &SQL, [session_id], |row| {
        Ok(StoredEvent {
            idx: row.get(0)?,
            at_ms: row.get(1)?,
            time: time_from(row.get_ref(2)?)?,
            event: event_from(row.get_ref(3)?)?,
            detail: row.get(4)?,
        })
    })
}

fn string_list(column: &'static str, json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        column,
        reason: e.to_string(),
    })
}

/// How many status pushes call `seq` has in the outbox: the largest `n` of its ids `s<seq>.<n>`.
fn status_pushes(conn: &Connection, seq: u64) -> Result<u32, StoreError> {
    let prefix = format!("s{seq}.");
    let n: Option<u32> = conn.query_row(
        &format!(
            "SELECT max(CAST(substr(id, length(?1) + 1) AS INTEGER)) FROM outbox
              WHERE {} = 'status' AND substr(id, 1, length(?1)) = ?1",
            super::write::KIND_SQL
        ),
        [&prefix],
        |r| r.get(0),
    )?;
    Ok(n.unwrap_or(0))
}

pub(super) fn recover(conn: &Connection) -> Result<Recovered, StoreError> {
    let in_flight = collect(
        conn,
        &format!("SELECT {CALL_COLUMNS} FROM calls WHERE state_code IS NULL ORDER BY seq"),
        [],
        call_from,
    )?;
    let mut calls_in_flight = Vec::with_capacity(in_flight.len());
    for call in in_flight {
        let events = events(conn, &call.session_id)?;
        let status_pushes = status_pushes(conn, call.seq)?;
        calls_in_flight.push(InFlightCall {
            call,
            events,
            status_pushes,
        });
    }
    let owed_deliveries = collect(
        conn,
        &format!(
            "SELECT d.id, d.kind, d.app_key, d.url, {body}, d.event_type, d.session_ids, {key},
                 d.attempts, d.last_outcome, d.last_sent_at, d.next_attempt_at
             FROM deliveries d WHERE d.finished_outcome IS NULL ORDER BY d.id",
            body = super::write::delivery_body(),
            key = super::write::DELIVERY_KEY,
        ),
        [],
        |row| {
            let last_outcome: Option<String> = row.get(9)?;
            Ok(OwedDelivery {
                id: row.get(0)?,
                kind: parse_kind(&row.get::<_, String>(1)?)?,
                app_key: row.get(2)?,
                url: row.get(3)?,
                body: body_from(row.get_ref(4)?)?,
                event_type: parse_event_type(&row.get::<_, String>(5)?)?,
                session_ids: string_list("deliveries.session_ids", &row.get::<_, String>(6)?)?,
                idempotency_key: row.get(7)?,
                attempt: row.get(8)?,
                last_outcome: last_outcome.as_deref().map(parse_outcome).transpose()?,
                last_sent_at: row.get(10)?,
                next_attempt_at: row.get(11)?,
            })
        },
    )?;
    let owed_cdrs: HashSet<&str> = owed_deliveries
        .iter()
        .filter(|d| d.kind == PushKind::Fee)
        .flat_map(|d| d.session_ids.iter().map(String::as_str))
        .collect();
    let cdrs_unsent = collect(
        conn,
        &format!(
            "SELECT {CALL_COLUMNS} FROM calls
             WHERE state_code IS NOT NULL AND fee_state IN ('pending', 'queued') ORDER BY seq"
        ),
        [],
        call_from,
    )?
    .into_iter()
    .filter(|c| !owed_cdrs.contains(c.session_id.as_str()))
    .collect();
    let max = |sql: &str| -> Result<u64, StoreError> {
        Ok(conn
            .query_row(sql, [], |r| r.get::<_, Option<u64>>(0))?
            .unwrap_or(0))
    };
    Ok(Recovered {
        calls_in_flight,
        owed_deliveries,
        cdrs_unsent,
        last_time: last_time(conn)?,
        max_seq: max("SELECT max(seq) FROM calls")?,
    })
}

/// The latest time recorded: of the timeline (Unix ms from schema v5, text before: a database
/// upgraded in place has only one kind) and of the journal, as text compared as text.
fn last_time(conn: &Connection) -> Result<Option<String>, StoreError> {
    let timeline = conn
        .query_row(
            &format!(
                "SELECT max({TIME_SQL}) FROM calls c, json_each(c.timeline) j
                  WHERE j.type = 'array'"
            ),
            [],
            |r| {
                Ok(match r.get_ref(0)? {
                    ValueRef::Null => None,
                    v => Some(time_from(v)),
                })
            },
        )?
        .transpose()?
        .map(|t| t.to_string());
    let journal: Option<String> =
        conn.query_row("SELECT max(sent_at) FROM attempts", [], |r| r.get(0))?;
    Ok(timeline.max(journal))
}

/// Checks a reconciliation bound: `yyyy-MM-dd HH:mm:ss`, the form `accepted_at` is stored in,
/// so that comparing strings compares times.
fn check_time(field: &'static str, value: Option<&str>) -> Result<(), StoreError> {
    let Some(v) = value else { return Ok(()) };
    PlatformTime::parse(v)
        .map(|_| ())
        .map_err(|_| StoreError::InvalidTime {
            field,
            value: v.to_owned(),
        })
}

pub(super) fn reconciliation(
    conn: &Connection,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<AppReconciliation>, StoreError> {
    check_time("from", from)?;
    check_time("to", to)?;
    const WINDOW: &str =
        "(?1 IS NULL OR c.accepted_at >= ?1) AND (?2 IS NULL OR c.accepted_at < ?2)";
    let had = |event: TimelineEvent| {
        format!(
            "EXISTS (SELECT 1 FROM json_each(c.timeline) j
                     WHERE j.type = 'array' AND {EVENT_SQL} = {})",
            event_code(event)
        )
    };
    let sql = format!(
        "SELECT c.app_key, count(*),
             sum({placed}), sum({rang}), sum({answered}),
             sum(c.state_code IS NULL), sum(c.state_code = 0), sum(c.state_code = 8017),
             sum(c.state_code IS NOT NULL),
             sum(c.state_code IS NOT NULL AND c.fee_state = 'delivered'),
             sum(c.state_code IS NOT NULL AND c.fee_state IN ('pending', 'queued')),
             sum(c.state_code IS NOT NULL AND c.fee_state = 'abandoned'),
             sum(c.state_code IS NOT NULL AND c.fee_state = 'no_url')
         FROM calls c WHERE {WINDOW}
         GROUP BY c.app_key ORDER BY c.app_key",
        placed = had(TimelineEvent::Callout),
        rang = had(TimelineEvent::Alerting),
        answered = had(TimelineEvent::Answer),
    );
    let mut apps = collect(conn, &sql, params![from, to], |row| {
        Ok(AppReconciliation {
            app_key: row.get(0)?,
            accepted: row.get(1)?,
            placed: row.get(2)?,
            rang: row.get(3)?,
            answered: row.get(4)?,
            in_progress: row.get(5)?,
            played_in_full: row.get(6)?,
            hung_up_early: row.get(7)?,
            failed_by_reason: BTreeMap::new(),
            cdrs_generated: row.get(8)?,
            cdrs_delivered: row.get(9)?,
            cdrs_owed: row.get(10)?,
            cdrs_abandoned: row.get(11)?,
            cdrs_not_pushed: row.get(12)?,
        })
    })?;
    let failures = collect(
        conn,
        &format!(
            "SELECT c.app_key, c.state_code, count(*) FROM calls c
             WHERE {WINDOW} AND c.state_code IS NOT NULL AND c.state_code NOT IN (0, 8017)
             GROUP BY c.app_key, c.state_code"
        ),
        params![from, to],
        |row| Ok((row.get::<_, String>(0)?, row.get::<_, u32>(1)?, row.get(2)?)),
    )?;
    for (app_key, code, n) in failures {
        if let Some(app) = apps.iter_mut().find(|a| a.app_key == app_key) {
            app.failed_by_reason.insert(code, n);
        }
    }
    Ok(apps)
}
