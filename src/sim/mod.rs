//! Dialtone's own control plane under `/sim/v1`: the clock, and inspection of calls and
//! deliveries. Not part of the emulated platform, so its errors are plain `{"error": "..."}`
//! with an HTTP status, never platform result codes. Requests are read by the extractors of
//! [`extract`], whose rejections are the same `{"error": "..."}`; a 500 also carries an
//! [`InternalFault`] for the server's logging middleware. Every route answers another method
//! with a 405 naming the allowed ones, and any other path under `/sim/v1` is a 404 of the same
//! shape (only paths outside it get the platform's `1010006`).

pub mod extract;
pub mod handset;
pub mod openapi;
pub mod stream;

use std::time::Duration;

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put, MethodRouter};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use self::extract::{ControlBody, ControlJson, ControlPath, ControlQuery, PhoneNumber};
use crate::app::AppState;
use crate::audio::{render, render_playbacks, wav_bytes, Playback};
use crate::call::click2call::Party;
use crate::call::scenario::{is_keys, BehaviourSpec};
use crate::call::timeline::TimelineEvent;
use crate::call::HangupError;
use crate::clock::MAX_SPAN_MS;
use crate::engine::{CallAudio, CallFilter, CallView, PressError, ReportError, TimelineEntry};
use crate::error::InternalFault;
use crate::push::faults::FaultRule;
use crate::push::journal::{JournalEntry, JournalQuery};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sim/v1/clock", only(get(clock), "GET"))
        .route("/sim/v1/clock/advance", only(post(advance), "POST"))
        .route("/sim/v1/calls", only(get(list_calls), "GET"))
        .route("/sim/v1/calls/{session_id}", only(get(call), "GET"))
        .route(
            "/sim/v1/calls/{session_id}/events",
            only(get(events), "GET"),
        )
        .route("/sim/v1/calls/{session_id}/dtmf", only(post(dtmf), "POST"))
        .route(
            "/sim/v1/calls/{session_id}/hangup",
            only(post(hangup), "POST"),
        )
        .route(
            "/sim/v1/calls/{session_id}/audio.wav",
            only(get(audio), "GET"),
        )
        .route(
            "/sim/v1/calls/{session_id}/announcement",
            only(get(announcement), "GET"),
        )
        .route("/sim/v1/deliveries", only(get(deliveries), "GET"))
        .route(
            "/dialtone/recordings/{bucket}/{object}",
            only(get(recording), "GET"),
        )
        .route(
            "/sim/v1/deliveries/{id}/redeliver",
            only(post(redeliver), "POST"),
        )
        .route(
            "/sim/v1/reports/reconciliation",
            only(get(reconciliation), "GET"),
        )
        .route("/sim/v1/phones", only(get(phones), "GET"))
        .route(
            "/sim/v1/phones/{number}",
            only(put(set_phone).delete(remove_phone), "PUT, DELETE"),
        )
        .route("/sim/v1/reset", only(post(reset), "POST"))
        .route("/sim/v1/stream", only(get(stream::stream), "GET"))
        .route(
            "/sim/v1/phones/{number}/handset",
            only(get(handset::handset), "GET"),
        )
        .route("/sim/v1/health", only(get(health), "GET"))
        .route("/health", only(get(health), "GET"))
        .route("/openapi.json", only(get(openapi::openapi), "GET"))
        .route(
            "/sim/v1/faults",
            only(
                get(faults).put(set_faults).delete(clear_faults),
                "GET, PUT, DELETE",
            ),
        )
        // Any other path under /sim/v1 is the control plane's 404, not the platform's 1010006.
        .route("/sim/v1", any(no_such_path))
        .route("/sim/v1/", any(no_such_path))
        .route("/sim/v1/{*rest}", any(no_such_path))
}

/// `route` answering any other method with a JSON 405 naming `allowed` (axum adds the `Allow`
/// header from the methods `route` serves, HEAD with GET).
fn only(route: MethodRouter<AppState>, allowed: &'static str) -> MethodRouter<AppState> {
    route.fallback(move |method: Method, uri: Uri| async move {
        SimError(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {}; use {allowed}", uri.path()),
        )
    })
}

async fn no_such_path(method: Method, uri: Uri) -> SimError {
    SimError(
        StatusCode::NOT_FOUND,
        format!(
            "no control endpoint {method} {} (the /sim/v1 routes are listed in docs/control-api.md)",
            uri.path()
        ),
    )
}

/// A control-plane error.
#[derive(Debug)]
pub struct SimError(StatusCode, String);

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(json!({ "error": &self.1 }))).into_response();
        if self.0.is_server_error() {
            response.extensions_mut().insert(InternalFault(self.1));
        }
        response
    }
}

fn bad_request(msg: impl Into<String>) -> SimError {
    SimError(StatusCode::BAD_REQUEST, msg.into())
}

/// A fault of Dialtone's own (the database cannot be read): logged here, once, and answered 500
/// with the reason, so a failure never passes for "not found" or "nothing".
fn internal(e: impl std::fmt::Display) -> SimError {
    // Logged once, by the server's middleware (the response carries it).
    SimError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// What a call's callee heard: from memory, or for a verification call that left memory
/// (`retention`), composed again from its stored request (the same clips for the same request).
fn heard(state: &AppState, id: &str) -> Result<CallAudio, SimError> {
    if let Some(audio) = state.engine.call_audio(id) {
        return Ok(audio);
    }
    let evicted = state
        .engine
        .evicted_verify_call(id)
        .map_err(|e| internal(format!("reading the database: {e}")))?;
    let Some((request, heard_ms)) = evicted else {
        return Err(no_audio(state, id));
    };
    if request.verify().is_none() {
        return Err(no_audio(state, id));
    }
    let manifest =
        crate::audio::compose::verify_announcement(&state.audio, &state.config, &request)
            .map_err(|e| internal(format!("composing the announcement again: {e}")))?;
    Ok(CallAudio::Announcement {
        manifest: std::sync::Arc::new(manifest),
        heard_ms,
    })
}

/// A call with no audio to serve: unknown, or known only from the database, which keeps none.
fn no_audio(state: &AppState, id: &str) -> SimError {
    match state.engine.stored_call(id) {
        Ok(Some(_)) => SimError(
            StatusCode::NOT_FOUND,
            format!(
                "call `{id}` is read from the database, which keeps no audio (a call of an \
                 earlier run, or one that left memory: see [retention])"
            ),
        ),
        Ok(None) => no_such_call(id),
        Err(e) => internal(format!("reading the database: {e}")),
    }
}

/// A call this run does not hold in memory: one the database knows has ended (it left memory, or
/// an earlier run's: calls in flight are recovered into memory), so `ended` (409), as for an
/// ended call still in memory; else unknown (404).
fn ended_or_unknown(state: &AppState, id: &str, ended: impl std::fmt::Display) -> SimError {
    match state.engine.stored_call(id) {
        Ok(Some(_)) => SimError(StatusCode::CONFLICT, ended.to_string()),
        Ok(None) => no_such_call(id),
        Err(e) => internal(format!("reading the database: {e}")),
    }
}

fn no_such_call(id: &str) -> SimError {
    SimError(
        StatusCode::NOT_FOUND,
        format!("no call with sessionId `{id}`"),
    )
}

/// `GET /health` (also `/sim/v1/health`): for readiness checks in scripts and CI. Answers once
/// the server is serving; `clock` is `GET /sim/v1/clock`'s answer.
async fn health(State(state): State<AppState>) -> Response {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "clock": state.engine.clock_view(),
        "calls": state.engine.calls_held(),
    }))
    .into_response()
}

async fn clock(State(state): State<AppState>) -> Response {
    Json(state.engine.clock_view()).into_response()
}

/// `POST /sim/v1/clock/advance` body: `{"by": "90s"}` or `{"by_ms": 90000}`; `"settle"`
/// (default true) waits at each step for the pushes it caused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceIn {
    by: Option<String>,
    by_ms: Option<u64>,
    settle: Option<bool>,
}

impl ControlBody for AdvanceIn {
    const EXPECTED: &'static str = r#"expected {"by": "90s"} or {"by_ms": 90000}"#;
}

async fn advance(
    State(state): State<AppState>,
    ControlJson(input): ControlJson<AdvanceIn>,
) -> Result<Response, SimError> {
    let by_ms = match (input.by.as_deref(), input.by_ms) {
        (Some(text), None) => parse_duration_ms(text).ok_or_else(|| {
            bad_request(format!(
                "`{text}` is not a duration like 500ms, 90s, 2m, 1h"
            ))
        })?,
        (None, Some(ms)) => ms,
        _ => return Err(bad_request("give exactly one of `by` and `by_ms`")),
    };
    // Dialtone decision: simulated time spans at most 100 years from `clock.start`, so every
    // timestamp stays a four-digit-year platform time and no date arithmetic can overflow.
    let left = MAX_SPAN_MS.saturating_sub(state.engine.clock_view().now_ms);
    if by_ms > left {
        return Err(bad_request(format!(
            "the clock runs at most 100 years ({MAX_SPAN_MS} ms) past its start: \
             {left} ms are left, {by_ms} ms asked"
        )));
    }
    state
        .engine
        .advance(by_ms, input.settle.unwrap_or(true))
        .await
        .map_err(|e| SimError(StatusCode::CONFLICT, e.to_string()))?;
    Ok(Json(state.engine.clock_view()).into_response())
}

/// `500ms`, `90s`, `2m`, `1h`, or a bare number of milliseconds. Too many to count saturates at
/// `u64::MAX` (a bound says "too long" better than "not a duration").
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return None;
    }
    // Only digits, so the one way to fail is overflow.
    let n: u64 = digits.parse().unwrap_or(u64::MAX);
    let factor = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    Some(n.saturating_mul(factor))
}

async fn list_calls(
    State(state): State<AppState>,
    ControlQuery(filter): ControlQuery<CallFilter>,
) -> Response {
    match state.engine.list_calls(&filter) {
        Ok(calls) => Json(calls).into_response(),
        Err(e) => internal(format!("reading the database: {e}")).into_response(),
    }
}

/// `GET /sim/v1/calls/{sessionId}`: the call plus every delivery attempt that concerns it.
#[derive(Serialize)]
struct CallOut {
    #[serde(flatten)]
    call: CallView,
    deliveries: Vec<JournalEntry>,
}

async fn call(
    State(state): State<AppState>,
    ControlPath(id): ControlPath<String>,
) -> Result<Response, SimError> {
    let call = match state.engine.call_view(&id) {
        Some(call) => call,
        // A call from an earlier run, or one that left memory, is still in the database.
        None => state
            .engine
            .stored_call(&id)
            .map_err(|e| internal(format!("reading the database: {e}")))?
            .ok_or_else(|| no_such_call(&id))?,
    };
    let deliveries = state
        .engine
        .journal()
        .query(&JournalQuery::for_session(&id))
        .map_err(internal)?;
    Ok(Json(CallOut { call, deliveries }).into_response())
}

/// `GET /sim/v1/calls/{sessionId}/events?after=N&wait_for=disconnect&timeout_ms=T`: long-polls
/// until the call has events past the first `after` (or one named `wait_for`).
#[derive(Debug, Default, Deserialize)]
struct EventsQuery {
    after: Option<usize>,
    wait_for: Option<TimelineEvent>,
    timeout_ms: Option<u64>,
}

#[derive(Serialize)]
struct EventsOut {
    events: Vec<TimelineEntry>,
    /// Index to pass as `after` next time.
    next: usize,
    /// False when the wait ended by timeout.
    satisfied: bool,
}

/// Long polls hold a connection; cap them so a forgotten client cannot hold one forever.
const MAX_POLL_MS: u64 = 60_000;

async fn events(
    State(state): State<AppState>,
    ControlPath(id): ControlPath<String>,
    ControlQuery(q): ControlQuery<EventsQuery>,
) -> Result<Response, SimError> {
    let after = q.after.unwrap_or(0);
    let bound = Duration::from_millis(q.timeout_ms.unwrap_or(0).min(MAX_POLL_MS));
    let (events, satisfied) = state
        .engine
        .wait_events(&id, after, q.wait_for, bound)
        .await
        .map_err(|e| internal(format!("reading the database: {e}")))?
        .ok_or_else(|| no_such_call(&id))?;
    let next = after + events.len();
    Ok(Json(EventsOut {
        events,
        next,
        satisfied,
    })
    .into_response())
}

async fn deliveries(
    State(state): State<AppState>,
    ControlQuery(q): ControlQuery<JournalQuery>,
) -> Result<Response, SimError> {
    let entries = state.engine.journal().query(&q).map_err(internal)?;
    Ok(Json(entries).into_response())
}

/// `GET /sim/v1/calls/{sessionId}/audio.wav`: what the callee heard, up to now or the hang-up
/// (empty if the call was never answered), as 8 kHz 16-bit mono WAV.
async fn audio(
    State(state): State<AppState>,
    ControlPath(id): ControlPath<String>,
) -> Result<Response, SimError> {
    let samples = match heard(&state, &id)? {
        CallAudio::Announcement { manifest, heard_ms } => render(&manifest, Some(heard_ms)),
        CallAudio::Notification { played, heard_ms } => {
            let played: Vec<(&Playback, u64)> = played.iter().map(|(p, at)| (p, *at)).collect();
            render_playbacks(&played, heard_ms)
        }
        CallAudio::None => {
            return Err(SimError(
                StatusCode::NOT_FOUND,
                format!(
                "call `{id}` plays nothing to one callee: a click-to-call's audio is its recording"
            ),
            ))
        }
    };
    let wav = wav_bytes(&samples).map_err(internal)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "audio/wav")], wav).into_response())
}

/// `GET /sim/v1/calls/{sessionId}/announcement`: every clip with its offsets from answer, and how
/// much the callee heard.
async fn announcement(
    State(state): State<AppState>,
    ControlPath(id): ControlPath<String>,
) -> Result<Response, SimError> {
    match heard(&state, &id)? {
        CallAudio::Announcement { manifest, heard_ms } => {
            Ok(Json(json!({ "manifest": &*manifest, "heard_ms": heard_ms })).into_response())
        }
        CallAudio::Notification { played, heard_ms } => {
            let played: Vec<_> = played
                .iter()
                .map(|(p, at)| json!({ "start_ms": at, "playback": p }))
                .collect();
            Ok(Json(json!({ "played": played, "heard_ms": heard_ms })).into_response())
        }
        CallAudio::None => Ok(Json(json!({ "played": [], "heard_ms": 0 })).into_response()),
    }
}

/// `POST /sim/v1/deliveries/{id}/redeliver`: one more attempt of a push, now.
async fn redeliver(
    State(state): State<AppState>,
    ControlPath(id): ControlPath<String>,
) -> Result<Response, SimError> {
    let attempt = state
        .engine
        .redeliver(&id)
        .map_err(internal)?
        .ok_or_else(|| {
            SimError(
                StatusCode::NOT_FOUND,
                format!("no delivery `{id}` in the journal"),
            )
        })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "delivery_id": id, "attempt": attempt })),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /sim/v1/reports/reconciliation?from=…&to=…`: per app, accepted against delivered.
async fn reconciliation(
    State(state): State<AppState>,
    ControlQuery(q): ControlQuery<ReportQuery>,
) -> Result<Response, SimError> {
    // With a data directory the report reads every stored call (seconds on a large database):
    // off the runtime's worker threads, which meanwhile serve the platform's requests.
    let engine = state.engine.clone();
    let report = tokio::task::spawn_blocking(move || {
        engine.reconciliation(q.from.as_deref(), q.to.as_deref())
    })
    .await
    .map_err(internal)?
    .map_err(|e| match e {
        ReportError::BadTime { .. } => bad_request(e.to_string()),
        ReportError::Store(_) => internal(e),
    })?;
    Ok(Json(report).into_response())
}

/// `POST /sim/v1/calls/{sessionId}/dtmf` body: the keys the callee presses now.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DtmfIn {
    digits: String,
}

impl ControlBody for DtmfIn {
    const EXPECTED: &'static str = r#"expected {"digits": "1#"}"#;
}

/// The callee presses keys now, on any clock: a notification collecting digits takes them
/// (spec §11.4); on any other call they are only noted on the timeline.
async fn dtmf(
    State(state): State<AppState>,
    ControlPath(id): ControlPath<String>,
    ControlJson(body): ControlJson<DtmfIn>,
) -> Result<Response, SimError> {
    if body.digits.is_empty() || !is_keys(&body.digits) {
        return Err(bad_request(format!(
            "`{}` is not keys: 1 to 32 of 0-9, * and #",
            body.digits
        )));
    }
    match state.engine.press(&id, &body.digits) {
        Ok(()) => Ok(Json(json!({ "pressed": body.digits })).into_response()),
        Err(PressError::UnknownCall) => Err(ended_or_unknown(&state, &id, PressError::Ended)),
        Err(e @ PressError::Ended) => Err(SimError(StatusCode::CONFLICT, e.to_string())),
    }
}

/// `POST /sim/v1/calls/{sessionId}/hangup` body: whose phone hangs up, `a` (the callee, or a
/// click-to-call's A) or `b` (a click-to-call's B).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HangupIn {
    #[serde(default = "party_a")]
    party: Party,
}

fn party_a() -> Party {
    Party::A
}

impl ControlBody for HangupIn {
    const EXPECTED: &'static str = r#"expected {"party": "a"} or {"party": "b"}"#;
}

/// A person hangs up a phone of the call now, on any clock.
async fn hangup(
    State(state): State<AppState>,
    ControlPath(id): ControlPath<String>,
    ControlJson(body): ControlJson<HangupIn>,
) -> Result<Response, SimError> {
    if state.engine.call_view(&id).is_none() {
        return Err(ended_or_unknown(&state, &id, HangupError::Ended));
    }
    state
        .engine
        .hangup(&id, body.party)
        .map_err(|e| SimError(StatusCode::CONFLICT, e.to_string()))?;
    Ok(Json(json!({ "hung_up": body.party })).into_response())
}

/// A recording's file, while retained: where the download API's `Location` points (spec §14),
/// unauthenticated like the platform's object-store links.
async fn recording(
    State(state): State<AppState>,
    ControlPath((bucket, object)): ControlPath<(String, String)>,
) -> Result<Response, SimError> {
    let r = state
        .engine
        .recording(&object)
        .filter(|r| r.bucket == bucket)
        .ok_or_else(|| {
            SimError(
                StatusCode::NOT_FOUND,
                format!("no recording {bucket}/{object} (unknown or expired)"),
            )
        })?;
    let wav = crate::audio::recording::recording_wav(&r.object, r.duration_ms);
    Ok(([(axum::http::header::CONTENT_TYPE, "audio/wav")], wav).into_response())
}

async fn faults(State(state): State<AppState>) -> Response {
    Json(state.engine.faults()).into_response()
}

impl ControlBody for Vec<FaultRule> {
    const EXPECTED: &'static str = r#"expected a list of rules like [{"fault": "drop"}]"#;
}

/// `PUT /sim/v1/faults` body: a list of rules, e.g.
/// `[{"fault":"drop","push":"fee","times":1}, {"fault":"delay","delay_ms":3000}]`; replaces the
/// active rules (config ones included; `POST /sim/v1/reset` brings those back).
async fn set_faults(
    State(state): State<AppState>,
    ControlJson(rules): ControlJson<Vec<FaultRule>>,
) -> Result<Response, SimError> {
    for (i, rule) in rules.iter().enumerate() {
        rule.check()
            .map_err(|m| bad_request(format!("rule {i}: {m}")))?;
    }
    state.engine.set_faults(rules);
    Ok(Json(state.engine.faults()).into_response())
}

async fn clear_faults(State(state): State<AppState>) -> Response {
    state.engine.set_faults(Vec::new());
    StatusCode::NO_CONTENT.into_response()
}

async fn phones(State(state): State<AppState>) -> Response {
    Json(state.engine.phones()).into_response()
}

impl ControlBody for BehaviourSpec {
    const EXPECTED: &'static str = r#"expected {"outcome": "busy"} or {"sequence": [...]}"#;
}

/// `PUT /sim/v1/phones/{number}` body: `{"outcome":"busy"}`, with parameters
/// (`{"outcome":"hangup_during_playback","hangup_after_ms":4000}`), or
/// `{"sequence":[{"outcome":"busy"},{"outcome":"answer"}]}`. The number is checked before the
/// body is read.
async fn set_phone(
    State(state): State<AppState>,
    PhoneNumber(number): PhoneNumber,
    ControlJson(spec): ControlJson<BehaviourSpec>,
) -> Result<Response, SimError> {
    if spec.pattern.is_some() {
        return Err(bad_request(
            "`match` belongs in config rules; here the number is in the path",
        ));
    }
    let behaviour = spec.to_behaviour().map_err(bad_request)?;
    state.engine.set_phone(&number, behaviour.clone());
    Ok(Json(json!({ "number": number, "behaviour": behaviour })).into_response())
}

async fn remove_phone(
    State(state): State<AppState>,
    ControlPath(number): ControlPath<String>,
) -> Result<Response, SimError> {
    if state.engine.remove_phone(&number) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(SimError(
            StatusCode::NOT_FOUND,
            format!("no rule for `{number}`"),
        ))
    }
}

/// `POST /sim/v1/reset`: calls, journal, phone rules, frequency counts, legacy tokens and
/// lockouts forgotten; a manual clock back at its start; ids restart from the seed.
async fn reset(State(state): State<AppState>) -> Response {
    state.engine.reset();
    state.auth.reset();
    Json(state.engine.clock_view()).into_response()
}

#[cfg(test)]
mod tests {
    use super::parse_duration_ms;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("90s"), Some(90_000));
        assert_eq!(parse_duration_ms("2m"), Some(120_000));
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
        assert_eq!(parse_duration_ms("250"), Some(250));
        assert_eq!(parse_duration_ms("1d"), None);
        assert_eq!(parse_duration_ms("s"), None);
        assert_eq!(
            parse_duration_ms("99999999999999999999999h"),
            Some(u64::MAX)
        );
    }
}
