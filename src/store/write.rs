//! What the engine tells the store ([`Write`]), and how each write becomes SQL.
//!
//! Writes are facts in the order they happened. The writer applies them in exactly that order,
//! so whatever a crash loses, the database is always a prefix of the stream: a call never has an
//! event without its acceptance, an attempt never precedes its delivery.

use std::sync::LazyLock;

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::cdr::{self, CallFacts};
use super::pack::{call_context, packed_sql, CALL_CONTEXT_SQL};
use super::StoreError;
use crate::call::timeline::TimelineEvent;
use crate::clock::TimelineTime;
use crate::push::journal::{DeliveryOutcome, JournalEntry, PushError, PushKind};
use crate::push::payload::{EventType, FeeInfo};
use crate::push::transport::usual_headers;

/// One fact for the store. Build it where the engine changes state, then hand it to
/// [`Store::write`](super::Store::write).
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// A callVerify request was answered `0`.
    CallAccepted {
        /// The engine's acceptance sequence number; orders listings and must be unique.
        seq: u64,
        session_id: String,
        app_key: String,
        /// `calleeNbr`.
        callee: String,
        /// `displayNbr`.
        display: String,
        /// Simulated ms since start.
        accepted_ms: u64,
        /// `yyyy-MM-dd HH:mm:ss` UTC; reconciliation windows compare against it.
        accepted_at: String,
        /// The validated request, serialised by the engine; recovery hands it back verbatim.
        request_json: String,
        /// The effective URLs (request's, else the app's).
        status_url: Option<String>,
        fee_url: Option<String>,
    },
    /// A timeline entry of a call. `idx` is its position (from 0); writing the same position
    /// again replaces it, so a restarted engine may re-emit without duplicating.
    CallEvent {
        session_id: String,
        idx: u32,
        at_ms: u64,
        /// Shown `yyyy-MM-dd HH:mm:ss.SSS` UTC; stored as Unix milliseconds (schema v5).
        time: TimelineTime,
        event: TimelineEvent,
        detail: Option<String>,
    },
    /// The call was released and its CDR built (spec §7.1).
    CallEnded {
        session_id: String,
        state_code: u32,
        ended_at: String,
        /// Code readings started (`ttsPlayTimes`).
        readings: u32,
        /// Milliseconds of code audio played.
        code_ms: u64,
        /// The FeeInfo as it is pushed (schema v5: kept as its fields when they make it again).
        fee: Box<FeeInfo>,
        /// What the inspection API shows besides the request (schema v3): outcome, the rule
        /// that chose it, the announcement's plan, as a JSON object.
        view_json: Option<String>,
    },
    /// Where these calls' CDRs stand.
    FeeState {
        session_ids: Vec<String>,
        state: FeeState,
    },
    /// A push body entered the outbox, before its first attempt.
    DeliveryQueued {
        id: String,
        kind: PushKind,
        app_key: String,
        url: String,
        body: Vec<u8>,
        event_type: EventType,
        session_ids: Vec<String>,
        /// Sent with every attempt of this delivery, so the app can drop repeats.
        idempotency_key: String,
    },
    /// One attempt, for the journal. The delivery's row (`entry.delivery_id`), if queued, follows
    /// it (attempt count, last outcome, next attempt) and a final outcome finishes it; a finished
    /// CDR push also sets its calls' `fee_state`, so outbox and calls cannot disagree after a crash.
    Attempt {
        entry: JournalEntry,
        /// The injected fault that shaped this attempt, if any (schema v2).
        fault: Option<String>,
    },
    /// An attempt made of its delivery as queued ([`JournalStore::record_queued`]): its kind,
    /// app, calls, event, URL, body and key are the delivery row's, so they are stored NULL
    /// without reading the row (which cost the writer a query and an unpacked body per attempt).
    ///
    /// [`JournalStore::record_queued`]: crate::push::journal::JournalStore::record_queued
    QueuedAttempt(std::sync::Arc<JournalEntry>),
    /// The delivery is over without (another) attempt: e.g. dropped by a reset. Like a final
    /// [`Write::Attempt`], it sets the `fee_state` of a CDR push's calls.
    DeliveryFinished {
        id: String,
        outcome: DeliveryOutcome,
    },
    /// Deletes a batch of finished calls past `store.retention_s` / `store.max_finished_calls`,
    /// with their events, deliveries and attempts; never a call with a push still owed
    /// ([`super::retention`]).
    Retain(super::retention::Retain),
    /// Forget the journal (`Journal::clear`); calls and deliveries stay.
    ClearJournal,
    /// Forget everything (`POST /sim/v1/reset`).
    Reset,
}

impl Write {
    /// Whether [`apply`] writes with a single statement for this write (so it needs no
    /// savepoint). A `CallEvent` may first give a new detail text its id (schema v5): should the
    /// event then fail, the text stays in `timeline_details`, which no reader shows on its own.
    pub(super) fn is_one_statement(&self) -> bool {
        match self {
            Write::CallAccepted { .. }
            | Write::CallEvent { .. }
            | Write::CallEnded { .. }
            | Write::DeliveryQueued { .. } => true,
            Write::FeeState { session_ids, .. } => session_ids.len() <= 1,
            // A status push's attempt kept in its outbox row is one UPDATE; any other way, it
            // takes a savepoint of its own (`apply_attempt`).
            Write::QueuedAttempt(e) => e.kind == PushKind::Status,
            Write::Attempt { .. }
            | Write::DeliveryFinished { .. }
            | Write::Retain(_)
            | Write::ClearJournal
            | Write::Reset => false,
        }
    }
}

/// Where a call's CDR stands; the same states as the engine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeState {
    /// The call has not ended, or its disconnect push is still being delivered.
    Pending,
    /// No fee URL: the CDR is kept, not pushed.
    NoUrl,
    /// Waiting in a batch, or between retries.
    Queued,
    Delivered,
    Abandoned,
}

impl FeeState {
    pub fn as_str(self) -> &'static str {
        match self {
            FeeState::Pending => "pending",
            FeeState::NoUrl => "no_url",
            FeeState::Queued => "queued",
            FeeState::Delivered => "delivered",
            FeeState::Abandoned => "abandoned",
        }
    }

    pub(super) fn parse(s: &str) -> Result<FeeState, StoreError> {
        Ok(match s {
            "pending" => FeeState::Pending,
            "no_url" => FeeState::NoUrl,
            "queued" => FeeState::Queued,
            "delivered" => FeeState::Delivered,
            "abandoned" => FeeState::Abandoned,
            _ => return Err(corrupt("fee_state", s)),
        })
    }
}

pub(super) fn kind_str(k: PushKind) -> &'static str {
    match k {
        PushKind::Status => "status",
        PushKind::Fee => "fee",
    }
}

pub(super) fn parse_kind(s: &str) -> Result<PushKind, StoreError> {
    match s {
        "status" => Ok(PushKind::Status),
        "fee" => Ok(PushKind::Fee),
        _ => Err(corrupt("kind", s)),
    }
}

pub(super) fn outcome_str(o: DeliveryOutcome) -> &'static str {
    match o {
        DeliveryOutcome::Delivered => "delivered",
        DeliveryOutcome::FailedWillRetry => "failed_will_retry",
        DeliveryOutcome::Dropped => "dropped",
        DeliveryOutcome::Abandoned => "abandoned",
    }
}

/// At most this many detail texts get an id in `timeline_details`; others are stored as they are,
/// so that free text (collected digits) cannot grow the table without bound.
const MAX_DETAIL_IDS: i64 = 10_000;

/// At most this many calls in flight are known to the writer ([`Known::calls`]); past that it
/// forgets them all and reads their rows again (about 250 bytes each).
const MAX_KNOWN_CALLS: usize = 16_384;

/// What the writer knows without reading the database: the ids of the timeline's detail texts
/// (schema v5), and the calls it accepted that have not ended, with their rows' own columns
/// (schema v6 work: a status push, a timeline update and a call's end each read the call's row
/// by its session id before). Forgotten whenever a write or a commit fails, so that nothing is
/// used whose row was rolled back.
#[derive(Debug, Default)]
pub(super) struct Known {
    ids: std::collections::HashMap<Box<str>, i64>,
    calls: std::collections::HashMap<Box<str>, KnownCall>,
}

/// A call's row as written by its acceptance (none of these columns changes afterwards).
#[derive(Debug, Clone)]
pub(super) struct KnownCall {
    pub(super) seq: i64,
    app_key: Box<str>,
    display: Box<str>,
    callee: Box<str>,
    accepted_at: Box<str>,
    status_url: Option<Box<str>>,
}

impl Known {
    pub(super) fn call(&self, session_id: &str) -> Option<&KnownCall> {
        self.calls.get(session_id)
    }

    fn accepted(&mut self, session_id: &str, call: KnownCall) {
        if self.calls.len() >= MAX_KNOWN_CALLS {
            self.calls.clear();
        }
        self.calls.insert(session_id.into(), call);
    }

    /// `text`'s id, added to `timeline_details` if new; `None` once the table is full.
    fn id(&mut self, conn: &Connection, text: &str) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.ids.get(text) {
            return Ok(Some(*id));
        }
        let known: Option<i64> = conn
            .prepare_cached("SELECT id FROM timeline_details WHERE text = ?1")?
            .query_row([text], |r| r.get(0))
            .optional()?;
        let id = match known {
            Some(id) => id,
            None => {
                let full: bool = conn
                    .prepare_cached("SELECT coalesce(max(id), 0) >= ?1 FROM timeline_details")?
                    .query_row([MAX_DETAIL_IDS], |r| r.get(0))?;
                if full {
                    return Ok(None);
                }
                conn.prepare_cached("INSERT INTO timeline_details (text) VALUES (?1)")?
                    .execute([text])?;
                conn.last_insert_rowid()
            }
        };
        self.ids.insert(text.into(), id);
        Ok(Some(id))
    }

    pub(super) fn forget(&mut self) {
        self.ids.clear();
        self.calls.clear();
    }
}

/// Whether the outbox row `o` is one of call `seq`'s own status pushes (both SQL expressions):
/// schema v5 no longer lists in `delivery_calls` a push whose id is `s<seq>.<n>` and that names
/// its call in `call_seq`, as every status push of a call to its own app and URL does; they are a
/// range of the outbox's key instead.
pub(super) fn own_status_push(o: &str, seq: &str) -> String {
    format!(
        "{o}.id >= 's' || {seq} || '.' AND {o}.id < 's' || {seq} || '/' AND {o}.call_seq = {seq}"
    )
}

/// A push's event type as the outbox stores it from schema v5 on (the `deliveries` view names it).
pub(super) fn event_type_code(e: EventType) -> i64 {
    match e {
        EventType::Callout => 0,
        EventType::Alerting => 1,
        EventType::Answer => 2,
        EventType::Disconnect => 3,
        EventType::CollectInfo => 4,
        EventType::Fee => 5,
    }
}

/// The kind of push an event type is pushed as; `outbox.kind` is NULL when it is this (v5).
fn natural_kind(e: EventType) -> PushKind {
    match e {
        EventType::Fee => PushKind::Fee,
        _ => PushKind::Status,
    }
}

/// An outbox row's kind, for a query naming the `outbox` table (schema v5, [`natural_kind`]).
pub(super) const KIND_SQL: &str = "coalesce(kind, iif(event_type = 5, 'fee', 'status'))";

/// A delivery outcome as the outbox stores it from schema v5 on (the `deliveries` view names it).
fn outcome_code(o: DeliveryOutcome) -> i64 {
    match o {
        DeliveryOutcome::Delivered => 0,
        DeliveryOutcome::FailedWillRetry => 1,
        DeliveryOutcome::Dropped => 2,
        DeliveryOutcome::Abandoned => 3,
    }
}

pub(super) fn parse_outcome(s: &str) -> Result<DeliveryOutcome, StoreError> {
    match s {
        "delivered" => Ok(DeliveryOutcome::Delivered),
        "failed_will_retry" => Ok(DeliveryOutcome::FailedWillRetry),
        "dropped" => Ok(DeliveryOutcome::Dropped),
        "abandoned" => Ok(DeliveryOutcome::Abandoned),
        _ => Err(corrupt("outcome", s)),
    }
}

fn error_str(e: PushError) -> &'static str {
    match e {
        PushError::Timeout => "timeout",
        PushError::Connect => "connect",
        PushError::Tls => "tls",
        PushError::Redirect => "redirect",
        PushError::Io => "io",
    }
}

pub(super) fn parse_error(s: &str) -> Result<PushError, StoreError> {
    match s {
        "timeout" => Ok(PushError::Timeout),
        "connect" => Ok(PushError::Connect),
        "tls" => Ok(PushError::Tls),
        "redirect" => Ok(PushError::Redirect),
        "io" => Ok(PushError::Io),
        _ => Err(corrupt("error", s)),
    }
}

pub(super) fn parse_event_type(s: &str) -> Result<EventType, StoreError> {
    EventType::from_name(s).ok_or_else(|| corrupt("event_type", s))
}

pub(super) fn parse_event(s: &str) -> Result<TimelineEvent, StoreError> {
    s.parse().map_err(|_| corrupt("event", s))
}

/// A timeline event as its code, stored from schema v5 on (`call_events.event`; v6: element 2 of
/// an entry of `calls.timeline`); the table `timeline_event_names` says the same to `sqlite3`.
/// `playing`, the most frequent, is 0 (in v5, SQLite stored 0 and 1 in no byte).
pub(super) fn event_code(e: TimelineEvent) -> i64 {
    match e {
        TimelineEvent::Playing => 0,
        TimelineEvent::Callout => 1,
        TimelineEvent::Alerting => 2,
        TimelineEvent::Answer => 3,
        TimelineEvent::Disconnect => 4,
        TimelineEvent::Collecting => 5,
        TimelineEvent::Key => 6,
        TimelineEvent::CollectInfo => 7,
        TimelineEvent::Note => 8,
    }
}

/// A stored timeline event: its code (v5), or its name (before).
pub(super) fn event_from(v: ValueRef<'_>) -> Result<TimelineEvent, StoreError> {
    match v {
        ValueRef::Integer(code) => TimelineEvent::ALL
            .into_iter()
            .find(|e| event_code(*e) == code)
            .ok_or_else(|| corrupt("event", &code.to_string())),
        ValueRef::Text(t) => parse_event(&String::from_utf8_lossy(t)),
        other => Err(corrupt("event", &format!("{:?}", other.data_type()))),
    }
}

/// A stored timeline time: Unix milliseconds (v5), or its text (before).
pub(super) fn time_from(v: ValueRef<'_>) -> Result<TimelineTime, StoreError> {
    match v {
        ValueRef::Integer(ms) => chrono::DateTime::from_timestamp_millis(ms)
            .map(TimelineTime::new)
            .ok_or_else(|| corrupt("time", &ms.to_string())),
        ValueRef::Text(t) => parse_time(&String::from_utf8_lossy(t)),
        other => Err(corrupt("time", &format!("{:?}", other.data_type()))),
    }
}

pub(super) fn parse_time(s: &str) -> Result<crate::clock::TimelineTime, StoreError> {
    crate::clock::TimelineTime::parse(s).map_err(|_| corrupt("time", s))
}

pub(super) fn corrupt(column: &'static str, value: &str) -> StoreError {
    StoreError::Corrupt {
        column,
        reason: format!("unexpected value {value:?}"),
    }
}

/// The CDR batch body a delivery's calls make: `{"eventType":"fee","feeLst":[…]}` of their
/// CDRs in the order of `session_ids` (`$ids`: an SQL expression of the JSON array). Through the
/// `cdrs` view, which makes a CDR kept as its fields (schema v5) again.
fn fee_body_of(ids: &str) -> String {
    format!(
        "(SELECT '{{\"eventType\":\"fee\",\"feeLst\":['
                 || group_concat(c.fee_json, ',' ORDER BY j.key)
                 || ']}}'
            FROM json_each({ids}) j JOIN cdrs c ON c.session_id = j.value)"
    )
}

/// What a delivery's body is packed with (schema v4, [`super::pack`]), for a query naming the
/// `deliveries` row `d` (the view says it).
const DELIVERY_CONTEXT: &str = "d.pack_context";

/// The columns of an attempt's delivery row that the attempt does not repeat.
struct DeliveryFacts {
    kind: String,
    app_key: String,
    session_ids: String,
    event_type: String,
    url: String,
    key: Option<String>,
    body: Option<Vec<u8>>,
}

/// The outbox insert, with `body` the SQL expression stored as the body: `?7` is the session
/// ids, `?3`, `?4` and `?10` the app, URL and session ids to store (NULL when they are those of
/// call `?9`, schema v4).
fn insert_delivery(body: &str) -> String {
    format!(
        "INSERT INTO outbox (id, kind, call_seq, app_key, url, body, event_type, session_ids,
             idempotency_key)
         VALUES (?1, ?2, ?9, ?3, ?4, {body}, ?11, ?10,
             CASE WHEN ?8 = json_extract(?7, '$[0]') || '/' || ?6 THEN NULL ELSE ?8 END)"
    )
}

/// The call a status push's app, URL and session ids are all those of, with its context (schema
/// v4: the outbox row then names the call instead of repeating them, and its body is packed with
/// the call's context).
fn own_call(
    conn: &Connection,
    known: &Known,
    kind: PushKind,
    app_key: &str,
    url: &str,
    session_ids: &[String],
) -> Result<Option<(i64, String)>, StoreError> {
    let [session_id] = session_ids else {
        return Ok(None);
    };
    if kind != PushKind::Status {
        return Ok(None);
    }
    if let Some(c) = known.call(session_id) {
        let own = &*c.app_key == app_key && c.status_url.as_deref() == Some(url);
        return Ok(own.then(|| {
            (
                c.seq,
                call_context(
                    &c.app_key,
                    &c.display,
                    &c.callee,
                    &c.accepted_at,
                    session_id,
                ),
            )
        }));
    }
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT c.seq, {CALL_CONTEXT_SQL} FROM calls c
              WHERE c.session_id = ?1 AND c.app_key = ?2 AND c.status_url = ?3"
        )
    });
    Ok(conn
        .prepare_cached(&SQL)?
        .query_row(params![session_id, app_key, url], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?)
}

/// A delivery's idempotency key, for a query naming the `deliveries` row `d`: stored NULL when it
/// is `<first session id>/<event type>` (schema v3).
pub(super) const DELIVERY_KEY: &str =
    "coalesce(d.idempotency_key, json_extract(d.session_ids, '$[0]') || '/' || d.event_type)";

/// A delivery's body, for a query naming the `deliveries` row `d`: a CDR batch's is stored NULL
/// when its calls' `fee_json` make it (schema v3), so each CDR is stored once; others are packed
/// (schema v4).
pub(super) fn delivery_body() -> String {
    format!(
        "coalesce(dialtone_unpack(d.body, {DELIVERY_CONTEXT}),
                  CASE WHEN d.kind = 'fee' THEN {} END)",
        fee_body_of("d.session_ids")
    )
}

/// A CDR batch body made from its calls, packed to be stored in its own right (retention, before
/// the calls go).
pub(super) fn delivery_body_packed() -> String {
    format!("dialtone_pack({}, {DELIVERY_CONTEXT})", delivery_body())
}

/// A push body as an attempt that differs from its delivery stores it (rare): TEXT when it is
/// UTF-8 (always, for JSON), so `json_extract` and `sqlite3` read it; a BLOB otherwise, so no
/// byte is ever altered. Bodies in the outbox are packed instead.
fn body_sql(body: &[u8]) -> ToSqlOutput<'_> {
    match std::str::from_utf8(body) {
        Ok(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
        Err(_) => ToSqlOutput::Owned(Value::Blob(body.to_vec())),
    }
}

/// Reads a body as SQL gives it: TEXT, or the bytes of a BLOB (unpacked already).
pub(super) fn body_from(v: ValueRef<'_>) -> Result<Vec<u8>, StoreError> {
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => Ok(b.to_vec()),
        other => Err(StoreError::Corrupt {
            column: "body",
            reason: format!("expected text, found {:?}", other.data_type()),
        }),
    }
}

pub(super) fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of strings always serialises")
}

/// A timeline entry as the call's row keeps it (schema v6, [`super::timeline`]); a detail seen
/// before is its id in `timeline_details` (v5).
pub(super) fn timeline_entry(
    conn: &Connection,
    details: &mut Known,
    idx: u32,
    at_ms: u64,
    time: TimelineTime,
    event: TimelineEvent,
    detail: Option<String>,
) -> Result<super::timeline::Entry, StoreError> {
    let detail = match detail {
        Some(text) => Some(match details.id(conn, &text)? {
            Some(id) => Value::Integer(id),
            None => Value::Text(text),
        }),
        None => None,
    };
    Ok(super::timeline::Entry {
        idx,
        at_ms,
        time_ms: time.utc().timestamp_millis(),
        event: event_code(event),
        detail,
    })
}

/// Applies one write. The caller wraps it in a savepoint, so a failing write leaves no trace.
pub(super) fn apply(conn: &Connection, w: &Write, details: &mut Known) -> Result<(), StoreError> {
    match w {
        Write::CallAccepted {
            seq,
            session_id,
            app_key,
            callee,
            display,
            accepted_ms,
            accepted_at,
            request_json,
            status_url,
            fee_url,
        } => {
            conn.prepare_cached(
                "INSERT INTO calls (seq, session_id, app_key, callee, display, accepted_ms,
                     accepted_at, request_json, status_url, fee_url)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                seq,
                session_id,
                app_key,
                callee,
                display,
                accepted_ms,
                accepted_at,
                packed_sql(
                    request_json.as_bytes(),
                    &call_context(app_key, display, callee, accepted_at, session_id)
                ),
                status_url,
                fee_url
            ])?;
            if let Ok(seq) = i64::try_from(*seq) {
                details.accepted(
                    session_id,
                    KnownCall {
                        seq,
                        app_key: app_key.as_str().into(),
                        display: display.as_str().into(),
                        callee: callee.as_str().into(),
                        accepted_at: accepted_at.as_str().into(),
                        status_url: status_url.as_deref().map(Into::into),
                    },
                );
            }
        }
        Write::CallEvent {
            session_id,
            idx,
            at_ms,
            time,
            event,
            detail,
        } => {
            let entry = timeline_entry(conn, details, *idx, *at_ms, *time, *event, detail.clone())?;
            let seq = details.call(session_id).map(|c| c.seq);
            if !super::timeline::write(conn, session_id, seq, &[entry])? {
                return Err(StoreError::UnknownSession(session_id.clone()));
            }
        }
        Write::CallEnded {
            session_id,
            state_code,
            ended_at,
            readings,
            code_ms,
            fee,
            view_json,
        } => {
            // The row's own columns: what the CDR and the view are stored against (known to the
            // writer when it accepted the call; it is in flight no more).
            let known = details.calls.remove(session_id.as_str()).map(|c| {
                (
                    c.seq as u64,
                    String::from(c.app_key),
                    String::from(c.display),
                    String::from(c.callee),
                    String::from(c.accepted_at),
                )
            });
            let row = match known {
                Some(row) => Some(row),
                None => conn
                    .prepare_cached(
                        "SELECT seq, app_key, display, callee, accepted_at FROM calls
                     WHERE session_id = ?1",
                    )?
                    .query_row([session_id], |r| {
                        Ok((
                            r.get::<_, u64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                        ))
                    })
                    .optional()?,
            };
            let Some((seq, app_key, display, callee, accepted_at)) = row else {
                return Err(StoreError::UnknownSession(session_id.clone()));
            };
            let call = CallFacts {
                seq,
                session_id,
                app_key: &app_key,
                display: &display,
                callee: &callee,
                accepted_at: &accepted_at,
                ended_at,
                readings: *readings,
                code_ms: *code_ms,
            };
            let view = view_json.as_ref().map(|v| {
                packed_sql(
                    v.as_bytes(),
                    &call_context(&app_key, &display, &callee, &accepted_at, session_id),
                )
            });
            // Schema v5: the CDR as its fields when they make it again exactly, else its text
            // (plain, for the `cdrs` view).
            let cols = cdr::columns(fee, &call);
            let text = cols.is_none().then(|| cdr::json(fee));
            let cols = cols.as_ref();
            static UPDATE: LazyLock<String> = LazyLock::new(|| {
                format!(
                    "UPDATE calls SET state_code = ?2, ended_at = ?3, readings = ?4, code_ms = ?5,
                         fee_json = ?6, view_json = ?7,
                         ({}) = (?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
                     WHERE seq = ?1",
                    cdr::COLUMNS
                )
            });
            conn.prepare_cached(&UPDATE)?.execute(params![
                seq,
                state_code,
                ended_at,
                readings,
                code_ms,
                text,
                view,
                cols.and_then(|c| c.start),
                cols.and_then(|c| c.alerting),
                cols.and_then(|c| c.answer),
                cols.and_then(|c| c.fail),
                cols.map(|c| c.fail_reason),
                cols.map(|c| c.sip),
                cols.map(|c| c.q850),
                cols.map(|c| &c.sp_id),
                cols.and_then(|c| c.host.as_ref()),
                cols.and_then(|c| c.user_data.as_ref()),
            ])?;
        }
        Write::FeeState { session_ids, state } => {
            let mut update =
                conn.prepare_cached("UPDATE calls SET fee_state = ?2 WHERE session_id = ?1")?;
            for s in session_ids {
                update.execute(params![s, state.as_str()])?;
            }
        }
        Write::DeliveryQueued {
            id,
            kind,
            app_key,
            url,
            body,
            event_type,
            session_ids,
            idempotency_key,
        } => {
            // Schema v3: what can be derived is stored NULL (see `DELIVERY_KEY`, `delivery_body`);
            // v4: the rest packed, with the first session id as context. One statement per kind,
            // chosen here rather than by `?2 = 'fee'` in SQL (see `apply_attempt` on parameters
            // in conditions); a CDR batch is packed only when its calls do not make it.
            static INSERT_FEE: LazyLock<String> = LazyLock::new(|| {
                insert_delivery(&format!(
                    "CASE WHEN ?5 = {} THEN NULL
                          ELSE dialtone_pack(?5, json_extract(?7, '$[0]')) END",
                    fee_body_of("?7")
                ))
            });
            static INSERT_STATUS: LazyLock<String> = LazyLock::new(|| insert_delivery("?5"));
            let call = own_call(conn, details, *kind, app_key, url, session_ids)?;
            let context = match &call {
                Some((_, context)) => context.as_str(),
                None => session_ids.first().map_or("", String::as_str),
            };
            let (sql, body) = match kind {
                PushKind::Fee => (&*INSERT_FEE, body_sql(body)),
                PushKind::Status => (&*INSERT_STATUS, packed_sql(body, context)),
            };
            let call = call.map(|(seq, _)| seq);
            let ids = json_list(session_ids);
            let own = call.is_none();
            conn.prepare_cached(sql)?.execute(params![
                id,
                // Schema v5: NULL when it is the event type's own (`KIND_SQL`).
                (*kind != natural_kind(*event_type)).then(|| kind_str(*kind)),
                own.then_some(app_key),
                own.then_some(url),
                body,
                event_type.name(),
                ids,
                idempotency_key,
                call,
                own.then_some(&ids),
                event_type_code(*event_type),
            ])?;
        }
        Write::Attempt { entry, fault } => apply_attempt(conn, entry, fault.as_deref(), false)?,
        Write::QueuedAttempt(entry) => apply_attempt(conn, entry, entry.fault.as_deref(), true)?,
        Write::DeliveryFinished { id, outcome } => {
            conn.prepare_cached(
                // Schema v5: the last attempt's outcome is kept only when it is not this one.
                "UPDATE outbox SET
                     last_outcome = CASE WHEN attempts > 0
                                          AND coalesce(last_outcome, finished_outcome) IS NOT ?2
                                         THEN coalesce(last_outcome, finished_outcome) END,
                     finished_outcome = ?2, next_attempt_at = NULL
                 WHERE id = ?1",
            )?
            .execute(params![id, outcome_code(*outcome)])?;
            settle_fee_state(conn, id, *outcome)?;
        }
        Write::Retain(r) => {
            super::retention::apply(conn, r)?;
        }
        Write::ClearJournal => {
            // A delivery's last send time is its last attempt's (schema v5): kept before they go,
            // with the first attempts kept in the outbox rows (v6).
            conn.execute_batch(
                "UPDATE outbox SET last_sent_at = coalesce((
                         SELECT a.sent_at FROM attempt_rows a WHERE a.delivery_id = outbox.id
                          ORDER BY a.seq DESC LIMIT 1), first_sent_at)
                  WHERE last_sent_at IS NULL AND attempts > 0;
                 UPDATE outbox SET first_sent_at = NULL, first_sent_at_ms = NULL,
                     first_aksk = NULL, first_response_status = NULL,
                     first_response_body = NULL, first_error = NULL, first_latency_ms = NULL,
                     first_outcome = NULL, first_next_attempt_at = NULL, first_fault = NULL
                  WHERE first_sent_at IS NOT NULL;
                 DELETE FROM attempt_rows;",
            )?;
        }
        Write::Reset => {
            conn.execute_batch(
                "DELETE FROM attempt_rows; DELETE FROM delivery_calls; DELETE FROM outbox;
                 DELETE FROM calls;",
            )?;
            // The calls it knew are gone (a detail text's id stays valid, but is read again).
            details.forget();
        }
    }
    Ok(())
}

/// What an attempt's delivery says, by delivery id (`?1`).
pub(super) static DELIVERY_FACTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT d.kind, d.app_key, d.session_ids, d.event_type, d.url, {DELIVERY_KEY}, {}
         FROM deliveries d WHERE d.id = ?1",
        delivery_body()
    )
});

fn apply_attempt(
    conn: &Connection,
    e: &JournalEntry,
    fault: Option<&str>,
    as_queued: bool,
) -> Result<(), StoreError> {
    // Schema v3: what the delivery row already says is stored as NULL (see schema/v3.sql), so an
    // attempt with no delivery row is kept whole. Compared here rather than in the INSERT: an
    // `INSERT … SELECT … LEFT JOIN deliveries ON id = ?1` was prepared again by SQLite at every
    // execution (a fifth of the writer's time, measured). The engine's attempts are their
    // delivery's as queued: nothing to read, and nothing to compare (each of their facts is the
    // delivery's by construction).
    let facts = if as_queued {
        None
    } else {
        conn.prepare_cached(&DELIVERY_FACTS)?
            .query_row([&e.delivery_id], |r| {
                Ok(DeliveryFacts {
                    kind: r.get(0)?,
                    app_key: r.get(1)?,
                    session_ids: r.get(2)?,
                    event_type: r.get(3)?,
                    url: r.get(4)?,
                    key: r.get(5)?,
                    body: match r.get_ref(6)? {
                        ValueRef::Text(b) | ValueRef::Blob(b) => Some(b.to_vec()),
                        _ => None,
                    },
                })
            })
            .optional()?
    };
    let facts = facts.as_ref();
    // `Some(value)` to store, `None` when the delivery says the same.
    fn differs<'v>(as_queued: bool, value: &'v str, theirs: Option<&str>) -> Option<&'v str> {
        (!as_queued && Some(value) != theirs).then_some(value)
    }
    let unless = |value, theirs| differs(as_queued, value, theirs);
    let session_ids = match as_queued {
        true => String::new(),
        false => json_list(&e.session_ids),
    };
    let usual = usual_headers(&e.request_headers)
        .filter(|(_, key)| as_queued || Some(*key) == facts.and_then(|f| f.key.as_deref()))
        .map(|(aksk, _)| short_aksk(aksk, &e.app_key))
        .map(|short| match super::pack::pack_aksk(short) {
            Some(packed) => Value::Blob(packed),
            None => Value::Text(short.to_owned()),
        });
    let headers = match usual {
        Some(_) => None,
        None => Some(
            serde_json::to_string(&e.request_headers).expect("pairs of strings always serialise"),
        ),
    };
    let same_body =
        as_queued || facts.and_then(|f| f.body.as_deref()) == Some(e.request_body.as_bytes());
    let own_id = (!is_usual_attempt_id(&e.id, &e.delivery_id, e.attempt)).then_some(&e.id);
    let kind = unless(kind_str(e.kind), facts.map(|f| f.kind.as_str()));
    let app_key = unless(&e.app_key, facts.map(|f| f.app_key.as_str()));
    let sessions = unless(&session_ids, facts.map(|f| f.session_ids.as_str()));
    let event_type = unless(e.event_type.name(), facts.map(|f| f.event_type.as_str()));
    let url = unless(&e.url, facts.map(|f| f.url.as_str()));
    let id = e.delivery_id.as_str();
    let finished = (e.outcome != DeliveryOutcome::FailedWillRetry).then(|| outcome_code(e.outcome));
    // Schema v6: a first attempt that is its delivery's as queued is kept in the outbox row, by
    // the update that records its outcome (no row of its own, no index entry). It takes the
    // usual way when the delivery has no row, or already keeps a first attempt.
    let as_its_delivery = headers.is_none()
        && same_body
        && [
            own_id.map(String::as_str),
            kind,
            app_key,
            sessions,
            event_type,
            url,
        ]
        .iter()
        .all(Option::is_none);
    if e.attempt == 1 && as_its_delivery {
        let kept = conn
            .prepare_cached(
                "UPDATE outbox SET attempts = max(attempts, 1),
                     last_outcome = CASE WHEN ?2 IS coalesce(?4, finished_outcome) THEN NULL
                                         ELSE ?2 END,
                     last_sent_at = NULL, next_attempt_at = ?3,
                     finished_outcome = coalesce(?4, finished_outcome),
                     first_sent_at = ?5, first_sent_at_ms = ?6, first_aksk = ?7,
                     first_response_status = ?8, first_response_body = ?9, first_error = ?10,
                     first_latency_ms = ?11, first_outcome = ?2, first_next_attempt_at = ?3,
                     first_fault = ?12
                 WHERE id = ?1 AND first_sent_at IS NULL",
            )?
            .execute(params![
                id,
                outcome_code(e.outcome),
                e.next_attempt_at,
                finished,
                e.sent_at,
                e.sent_at_ms,
                usual,
                e.response_status,
                e.response_body,
                e.error.map(error_str),
                e.latency_ms,
                fault,
            ])?;
        if kept == 1 {
            if e.kind == PushKind::Fee {
                settle_fee_state(conn, id, e.outcome)?;
            }
            return Ok(());
        }
    }
    conn.prepare_cached("SAVEPOINT attempt")?.execute([])?;
    let rows = || -> Result<(), StoreError> {
        let row = RowFacts {
            own_id,
            kind,
            app_key,
            sessions,
            event_type,
            url,
        };
        insert_attempt_row(
            conn,
            e,
            fault,
            usual.clone(),
            headers.clone(),
            same_body,
            row,
        )?;
        conn.prepare_cached(
            // Schema v5: the last send time is this attempt's; the `deliveries` view reads it
            // there.
            "UPDATE outbox SET attempts = max(attempts, ?2),
                 last_outcome = CASE WHEN ?3 IS coalesce(?5, finished_outcome) THEN NULL
                                     ELSE ?3 END,
                 last_sent_at = NULL, next_attempt_at = ?4,
                 finished_outcome = coalesce(?5, finished_outcome)
             WHERE id = ?1",
        )?
        .execute(params![
            id,
            e.attempt,
            outcome_code(e.outcome),
            e.next_attempt_at,
            finished
        ])?;
        if e.kind == PushKind::Fee {
            settle_fee_state(conn, id, e.outcome)?;
        }
        Ok(())
    };
    let result = rows();
    if result.is_err() {
        conn.prepare_cached("ROLLBACK TO attempt")?.execute([])?;
    }
    conn.prepare_cached("RELEASE attempt")?.execute([])?;
    result
}

/// Whether `id` is `<delivery_id>#<attempt>`, the id an attempt gets unless told otherwise
/// (stored NULL then), without formatting it.
fn is_usual_attempt_id(id: &str, delivery_id: &str, attempt: u32) -> bool {
    let Some(n) = id
        .strip_prefix(delivery_id)
        .and_then(|rest| rest.strip_prefix('#'))
    else {
        return false;
    };
    // The digits as `attempt` writes them: no sign, no leading zero.
    n.bytes().all(|b| b.is_ascii_digit())
        && (n == "0" || !n.starts_with('0'))
        && n.parse::<u32>() == Ok(attempt)
}

/// What an attempt row holds besides its delivery's (those of `row` that are `Some`).
struct RowFacts<'a> {
    own_id: Option<&'a String>,
    kind: Option<&'a str>,
    app_key: Option<&'a str>,
    sessions: Option<&'a str>,
    event_type: Option<&'a str>,
    url: Option<&'a str>,
}

fn insert_attempt_row(
    conn: &Connection,
    e: &JournalEntry,
    fault: Option<&str>,
    usual: Option<Value>,
    headers: Option<String>,
    same_body: bool,
    row: RowFacts<'_>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO attempt_rows (delivery_id, attempt, sent_at, sent_at_ms, aksk,
             response_status, response_body, error, latency_ms, outcome, next_attempt_at, fault,
             id, kind, app_key, session_ids, event_type, url, request_headers, request_body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
             ?19, ?20)",
    )?
    .execute(params![
        e.delivery_id,
        e.attempt,
        e.sent_at,
        e.sent_at_ms,
        usual,
        e.response_status,
        e.response_body,
        e.error.map(error_str),
        e.latency_ms,
        outcome_str(e.outcome),
        e.next_attempt_at,
        fault,
        row.own_id,
        row.kind,
        row.app_key,
        row.sessions,
        row.event_type,
        row.url,
        headers,
        (!same_body).then_some(&e.request_body),
    ])?;
    Ok(())
}

/// What starts every X-AKSK of `app_key`'s pushes (spec §8): stored once, not per attempt.
pub(super) fn aksk_prefix(app_key: &str) -> String {
    format!("UsernameToken Username=\"{app_key}\",PasswordDigest=\"")
}

/// X-AKSK without [`aksk_prefix`], when it has it (read back by [`full_aksk`]).
fn short_aksk<'a>(aksk: &'a str, app_key: &str) -> &'a str {
    aksk.strip_prefix(&aksk_prefix(app_key)).unwrap_or(aksk)
}

/// X-AKSK as sent, from what [`short_aksk`] stored: a full header starts `UsernameToken `,
/// a shortened one with the digest (Base64); a BLOB is one packed (schema v4,
/// [`super::pack::pack_aksk`]).
pub(super) fn full_aksk(stored: ValueRef<'_>, app_key: &str) -> Result<String, StoreError> {
    let stored = match stored {
        ValueRef::Blob(b) => super::pack::unpack_aksk(b)?,
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        other => {
            return Err(StoreError::Corrupt {
                column: "attempts.aksk",
                reason: format!("expected text or blob, found {:?}", other.data_type()),
            })
        }
    };
    Ok(match stored.starts_with("UsernameToken ") {
        true => stored,
        false => aksk_prefix(app_key) + &stored,
    })
}

/// A CDR push is over: its calls' CDRs are delivered, or abandoned.
fn settle_fee_state(
    conn: &Connection,
    delivery_id: &str,
    outcome: DeliveryOutcome,
) -> Result<(), StoreError> {
    let state = match outcome {
        DeliveryOutcome::Delivered => FeeState::Delivered,
        DeliveryOutcome::FailedWillRetry => return Ok(()),
        DeliveryOutcome::Dropped | DeliveryOutcome::Abandoned => FeeState::Abandoned,
    };
    // Two indexed steps rather than `UPDATE … WHERE session_id IN (SELECT … json_each …)`,
    // which SQLite plans as a scan of every call (measured: 45 µs a write at 10 000 calls).
    let sessions: Option<String> = conn
        .prepare_cached(&format!(
            "SELECT session_ids FROM outbox WHERE id = ?1 AND {KIND_SQL} = 'fee'"
        ))?
        .query_row([delivery_id], |r| r.get(0))
        .optional()?;
    let Some(sessions) = sessions else {
        return Ok(());
    };
    let sessions: Vec<String> =
        serde_json::from_str(&sessions).map_err(|e| StoreError::Corrupt {
            column: "deliveries.session_ids",
            reason: e.to_string(),
        })?;
    let mut update =
        conn.prepare_cached("UPDATE calls SET fee_state = ?2 WHERE session_id = ?1")?;
    for s in &sessions {
        update.execute(params![s, state.as_str()])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_usual_attempt_id;

    #[test]
    fn an_attempt_id_is_the_usual_one_only_when_spelled_as_it_is_made() {
        assert!(is_usual_attempt_id("s7.2#3", "s7.2", 3));
        assert!(is_usual_attempt_id("f12#10", "f12", 10));
        for (id, delivery, attempt) in [
            ("s7.2#4", "s7.2", 3),
            ("s7.2#03", "s7.2", 3),
            ("s7.2#+3", "s7.2", 3),
            ("s7.2#3 ", "s7.2", 3),
            ("s7.2#", "s7.2", 3),
            ("s7.2/3", "s7.2", 3),
            ("s7.23", "s7.2", 3),
            ("x#3", "s7.2", 3),
        ] {
            assert!(!is_usual_attempt_id(id, delivery, attempt), "{id}");
        }
    }
}
