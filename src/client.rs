//! `dialtone call`, `notify`, `callback`, `stop`: a client for a running Dialtone. Signs and
//! sends a callVerify, callnotify or click2Call request (or a callStop) with X-AKSK headers,
//! prints the sessionId, then follows the call's events on the event stream
//! ([`crate::tail`]) until it ends. On a manual clock nothing happens until someone advances it,
//! so when the call goes quiet the client says so and how, rather than hang silently.

use std::io::Write;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::api::call_notify::CallNotifyIn;
use crate::api::call_verify::CallVerifyIn;
use crate::api::click_to_call::ClickToCallIn;
use crate::auth::aksk;
use crate::call::request::{CallKind, CallRequest};
use crate::call::timeline::TimelineEvent;
use crate::clock::transport_now;
use crate::ids::IdGen;
use crate::tail::{EventStream, Idle};

/// What to call, and where and how to send it.
#[derive(Debug, Clone)]
pub struct ClientCall {
    /// Dialtone's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub app_secret: String,
    /// The call (its `app_key` signs the request).
    pub request: CallRequest,
    /// Follow the call's events until it ends.
    pub follow: bool,
    /// With no event for this long, check the clock and, if it is manual, say how to advance it.
    pub idle_hint: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach Dialtone at {url}: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("Dialtone refused the call: HTTP {status}, resultcode {resultcode}, {resultdesc}{}",
        hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Refused {
        status: u16,
        resultcode: String,
        resultdesc: String,
        /// Dialtone's `X-Dialtone-Hint`: how to fix it.
        hint: Option<String>,
    },
    #[error("unexpected answer from Dialtone: {0}")]
    Unexpected(String),
    #[error("the event stream failed: {0}")]
    Stream(String),
    /// `dialtone phone`: the handset socket could not be opened or failed.
    #[error("the handset failed: {0}")]
    Handset(String),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl ClientError {
    /// For `map_err` on a request to Dialtone at `base` that got no answer.
    pub(crate) fn unreachable(base: &str) -> impl FnOnce(reqwest::Error) -> ClientError + '_ {
        move |source| ClientError::Unreachable {
            url: base.to_owned(),
            source,
        }
    }
}

/// Places the call and (with `follow`) prints its events as they happen; hints go to `notes`.
/// Returns the sessionId.
pub async fn place_call(
    call: &ClientCall,
    out: &mut impl Write,
    notes: &mut impl Write,
) -> Result<String, ClientError> {
    let http = crate::tls::http_client();
    let base = call.url.trim_end_matches('/');
    // Subscribed before the request, so the call's first events cannot slip by.
    let timeline_kinds: Vec<&str> = TimelineEvent::ALL.iter().map(|e| e.name()).collect();
    let mut stream = match call.follow {
        true => {
            Some(EventStream::connect(base, &format!("kinds={}", timeline_kinds.join(","))).await?)
        }
        false => None,
    };
    let req = &call.request;
    let (path, body) = wire(req);
    let (answer, hint) =
        signed_post(&http, base, path, &req.app_key, &call.app_secret, &body).await?;
    let text = |k: &str| answer[k].as_str().unwrap_or_default().to_owned();
    let session_id = text("sessionId");
    writeln!(out, "sessionId: {session_id}")?;
    if let Some(idle) = answer["idlePort"].as_u64() {
        writeln!(out, "idlePort:  {idle}")?;
    }
    // An accepted call can still carry a hint: a frequency rule releases it right after.
    if let Some(hint) = hint {
        writeln!(out, "hint:      {hint}")?;
    }
    let Some(stream) = stream.as_mut() else {
        return Ok(session_id);
    };
    let mut hinted = false;
    loop {
        let msg = match stream.next_within(call.idle_hint).await {
            Ok(msg) => msg?,
            Err(Idle) => {
                if !hinted && manual_clock(&http, base).await {
                    hinted = true;
                    writeln!(
                        notes,
                        "(quiet: the clock is manual, so the call waits for simulated time; \
                         advance it with `dialtone advance 30s --url {base}`)"
                    )?;
                }
                continue;
            }
        };
        let Some(msg) = msg else {
            return Err(ClientError::Stream("Dialtone closed the stream".into()));
        };
        if msg["session_id"] != session_id.as_str() {
            continue;
        }
        let text = |k: &str| msg[k].as_str().unwrap_or_default().to_owned();
        writeln!(
            out,
            "{}  {:<10} {}",
            text("time"),
            text("kind"),
            text("detail")
        )?;
        out.flush()?;
        if text("kind") == TimelineEvent::Disconnect.name() {
            return Ok(session_id);
        }
    }
}

/// The platform path and wire body that ask for `req`, whatever its kind.
fn wire(req: &CallRequest) -> (&'static str, Option<Value>) {
    match &req.kind {
        CallKind::Verify(_) => (
            "/rest/httpsessions/callVerify/v1.0",
            CallVerifyIn::body_for(req, true),
        ),
        CallKind::Notify(_) => (
            "/rest/httpsessions/callnotify/v2.0",
            CallNotifyIn::body_for(req, true),
        ),
        CallKind::Callback(_) => (
            "/rest/httpsessions/click2Call/v2.0",
            ClickToCallIn::body_for(req, true),
        ),
    }
}

/// A WebSocket to a running Dialtone: the event stream ([`crate::tail`]), a handset
/// ([`crate::phone`]).
pub(crate) type DialtoneSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a WebSocket to Dialtone did not open.
pub(crate) enum SocketRefused {
    /// Dialtone answered the upgrade with an HTTP error: its status and its `error` message (or
    /// the body as it came, when it is not our JSON).
    Http { status: u16, error: String },
    /// No WebSocket at all: `cannot open {url}: {cause}`.
    Unopened(String),
}

/// The WebSocket URL of `path` (with its query) on Dialtone at `base`: `wss://` for an
/// `https://` base, `ws://` otherwise, also for a bare `host:port`.
pub(crate) fn socket_url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    let ws_base = match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => format!("ws://{base}"),
    };
    format!("{ws_base}{path}")
}

/// Opens the WebSocket at `url` (from [`socket_url`]).
pub(crate) async fn open_socket(url: &str) -> Result<DialtoneSocket, SocketRefused> {
    match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            let error = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
            Err(SocketRefused::Http {
                status: response.status().as_u16(),
                error,
            })
        }
        Err(e) => Err(SocketRefused::Unopened(format!("cannot open {url}: {e}"))),
    }
}

/// A POST of the JSON `body` to `url` as an app sends it: signed with X-AKSK for `app_key` now
/// (spec §3.1). Shared with `dialtone load`, which keeps its own nonces and its own error handling.
pub(crate) fn signed_request(
    http: &reqwest::Client,
    url: String,
    app_key: &str,
    app_secret: &str,
    nonce: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    let (authorization, x_aksk) = aksk::sign(app_key, app_secret, nonce, transport_now());
    http.post(url)
        .header("Content-Type", "application/json;charset=UTF-8")
        .header("Authorization", authorization)
        .header("X-AKSK", x_aksk)
        .body(body.to_string())
}

/// POSTs `body` to `path`, signed with X-AKSK for `app_key`; the platform's answer with
/// Dialtone's hint if it sent one (an accepted call may have one too), or
/// [`ClientError::Refused`] with its resultcode.
async fn signed_post(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    app_key: &str,
    app_secret: &str,
    body: &Option<Value>,
) -> Result<(Value, Option<String>), ClientError> {
    let body = body
        .as_ref()
        .ok_or_else(|| ClientError::Unexpected(format!("no body for {path}")))?;
    let nonce = IdGen::new(None).nonce();
    let response = signed_request(
        http,
        format!("{base}{path}"),
        app_key,
        app_secret,
        &nonce,
        body,
    )
    .send()
    .await
    .map_err(ClientError::unreachable(base))?;
    let status = response.status().as_u16();
    let hint = response
        .headers()
        .get(crate::error::HINT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let answer: Value = read_json(response).await?;
    let text = |k: &str| answer[k].as_str().unwrap_or_default().to_owned();
    if text("resultcode") != "0" {
        return Err(ClientError::Refused {
            status,
            resultcode: text("resultcode"),
            resultdesc: text("resultdesc"),
            hint,
        });
    }
    Ok((answer, hint))
}

/// `dialtone stop`: ends call `session_id` of the app (callStop, spec §13).
pub async fn stop_call(
    url: &str,
    app_key: &str,
    app_secret: &str,
    session_id: &str,
) -> Result<(), ClientError> {
    let base = url.trim_end_matches('/');
    let body = serde_json::json!({"sessionid": session_id, "signal": "call_stop"});
    signed_post(
        &crate::tls::http_client(),
        base,
        "/rest/httpsessions/callStop/v2.0",
        app_key,
        app_secret,
        &Some(body),
    )
    .await
    .map(|_| ())
}

/// Whether Dialtone's clock is manual (false if it cannot be told).
async fn manual_clock(http: &reqwest::Client, base: &str) -> bool {
    let Ok(response) = http.get(format!("{base}/sim/v1/clock")).send().await else {
        return false;
    };
    let clock: Value = read_json(response).await.unwrap_or_default();
    clock["mode"] == "manual"
}

/// `dialtone report`: fetches the reconciliation report and prints it, one block per app.
pub async fn report(
    url: &str,
    from: Option<&str>,
    to: Option<&str>,
    out: &mut impl Write,
) -> Result<(), ClientError> {
    let base = url.trim_end_matches('/');
    let resp = crate::tls::http_client()
        .get(report_url(base, from, to))
        .send()
        .await
        .map_err(ClientError::unreachable(base))?;
    let ok = resp.status().is_success();
    let body: Value = read_json(resp).await?;
    if !ok {
        return Err(ClientError::Unexpected(
            body["error"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    let apps = body.as_array().cloned().unwrap_or_default();
    if apps.is_empty() {
        writeln!(out, "no calls in that period")?;
    }
    for app in apps {
        let n = |k: &str| app[k].as_u64().unwrap_or(0);
        writeln!(out, "app {}", app["app_key"].as_str().unwrap_or_default())?;
        writeln!(out, "  requests accepted   {:>8}", n("accepted"))?;
        writeln!(out, "  calls placed        {:>8}", n("placed"))?;
        writeln!(out, "  rang                {:>8}", n("rang"))?;
        writeln!(out, "  answered            {:>8}", n("answered"))?;
        writeln!(out, "  code played in full {:>8}", n("played_in_full"))?;
        writeln!(out, "  hung up early       {:>8}", n("hung_up_early"))?;
        writeln!(out, "  in progress         {:>8}", n("in_progress"))?;
        if let Some(reasons) = app["failed_by_reason"].as_object() {
            for (code, count) in reasons {
                writeln!(
                    out,
                    "  failed, stateCode {code} {:>5}",
                    count.as_u64().unwrap_or(0)
                )?;
            }
        }
        writeln!(out, "  CDRs generated      {:>8}", n("cdrs_generated"))?;
        writeln!(out, "  CDRs delivered      {:>8}", n("cdrs_delivered"))?;
        writeln!(out, "  CDRs still owed     {:>8}", n("cdrs_owed"))?;
        writeln!(out, "  CDRs abandoned      {:>8}", n("cdrs_abandoned"))?;
        writeln!(out, "  CDRs not pushed     {:>8}", n("cdrs_not_pushed"))?;
    }
    Ok(())
}

/// The reconciliation URL, `from` and `to` form-encoded (they hold a space and colons, and a
/// mistyped bound must reach the server intact to be named in its 400).
fn report_url(base: &str, from: Option<&str>, to: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(f) = from {
        query.append_pair("from", f);
    }
    if let Some(t) = to {
        query.append_pair("to", t);
    }
    format!("{base}/sim/v1/reports/reconciliation?{}", query.finish())
}

async fn read_json<T: for<'de> Deserialize<'de>>(
    response: reqwest::Response,
) -> Result<T, ClientError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ClientError::Unexpected(e.to_string()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Unexpected(format!("{e}: {}", String::from_utf8_lossy(&bytes))))
}

#[cfg(test)]
mod tests {
    use super::report_url;

    #[test]
    fn report_bounds_are_form_encoded_and_read_back_unchanged() {
        let from = "2026-03-14 10:00:00";
        let to = "a+b&c=d%20é";
        let url = report_url("http://127.0.0.1:8080", Some(from), Some(to));
        assert_eq!(
            url,
            "http://127.0.0.1:8080/sim/v1/reports/reconciliation\
             ?from=2026-03-14+10%3A00%3A00&to=a%2Bb%26c%3Dd%2520%C3%A9"
        );
        let query = url.split_once('?').expect("a query").1;
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            pairs,
            [("from".into(), from.into()), ("to".into(), to.into())]
        );
    }
}
