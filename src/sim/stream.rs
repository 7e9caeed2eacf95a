//! `GET /sim/v1/stream`: the event stream over a WebSocket, one JSON text message per event, or
//! with `batch=ndjson` every message ready per frame, one per line ([`crate::events`] numbers
//! and buffers them), and the middleware that publishes the platform API's refusals.
//!
//! This module owns the socket side: the query (`since`, `app_key`, `session_id`, `kinds`,
//! `batch`), the filter and the framing, and one task per connection that forwards its
//! [`Subscription`] and notices the client leaving. A slow client only slows its own task: the
//! engine publishes into the bus's buffer and never waits (see [`crate::events`] for what a
//! client that falls behind is sent).

use std::borrow::Cow;
use std::collections::HashSet;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

use super::extract::ControlQuery;
use super::{bad_request, SimError};
use crate::api::AcceptedCall;
use crate::app::AppState;
use crate::auth::aksk;
use crate::clock;
use crate::error::Refusal;
use crate::events::{self, Published, Read, Refused, SimEvent, Stamp, Subscription};
use crate::logs;

/// The query of `GET /sim/v1/stream`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Replay what is still buffered after this seq first.
    since: Option<u64>,
    /// Only events about this app.
    app_key: Option<String>,
    /// Only events about this call.
    session_id: Option<String>,
    /// Only these kinds, comma-separated: `accepted,disconnect,push`.
    kinds: Option<String>,
    /// `ndjson`: a text frame carries every message ready, one per line.
    batch: Option<String>,
}

/// How messages are framed: one per WebSocket text frame, or as many as are ready per frame,
/// each followed by `\n` (`batch=ndjson`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    One,
    Ndjson,
}

impl Framing {
    fn parse(q: &StreamQuery) -> Result<Framing, String> {
        match q.batch.as_deref() {
            None => Ok(Framing::One),
            Some("ndjson") => Ok(Framing::Ndjson),
            Some(other) => Err(format!(
                "unknown batch `{other}`: expected `ndjson` (several messages per frame, one per \
                 line), or no batch for one message per frame"
            )),
        }
    }
}

/// Which messages a connection wants. Events about the whole simulator (clock, phone, faults,
/// reset) carry no app or call, so an `app_key` or `session_id` filter leaves them out; `gap` and
/// `lagged` always pass, since they say what the client did not get.
#[derive(Debug, Default)]
struct Filter {
    app_key: Option<String>,
    session_id: Option<String>,
    kinds: Option<HashSet<&'static str>>,
}

impl Filter {
    fn parse(q: &StreamQuery) -> Result<Filter, String> {
        let kinds = match q.kinds.as_deref() {
            None => None,
            Some(list) => {
                let known = events::kinds();
                let mut kinds = HashSet::new();
                for name in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                    let kind = known.iter().find(|k| **k == name).ok_or_else(|| {
                        format!(
                            "unknown kind `{name}`: expected some of {}",
                            known.join(", ")
                        )
                    })?;
                    kinds.insert(*kind);
                }
                Some(kinds)
            }
        };
        Ok(Filter {
            app_key: q.app_key.clone(),
            session_id: q.session_id.clone(),
            kinds,
        })
    }

    /// Whether the filter lets everything through.
    fn is_open(&self) -> bool {
        self.app_key.is_none() && self.session_id.is_none() && self.kinds.is_none()
    }

    fn passes(&self, p: &Published) -> bool {
        let e = &p.event;
        self.kinds.as_ref().is_none_or(|k| k.contains(e.kind()))
            && self
                .app_key
                .as_deref()
                .is_none_or(|a| e.app_key() == Some(a))
            && self.session_id.as_deref().is_none_or(|s| e.concerns(s))
    }
}

/// `GET /sim/v1/stream?since=&app_key=&session_id=&kinds=&batch=`: upgrades to a WebSocket and sends
/// every matching event from now on (after a replay from `since`). The subscription starts
/// before the upgrade is answered, so nothing between the two is lost.
pub async fn stream(
    State(state): State<AppState>,
    ControlQuery(q): ControlQuery<StreamQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, SimError> {
    let filter = Filter::parse(&q).map_err(bad_request)?;
    let framing = Framing::parse(&q).map_err(bad_request)?;
    let subscription = state
        .engine
        .events()
        .subscribe(q.since)
        .map_err(|e| SimError(StatusCode::CONFLICT, e.to_string()))?;
    let upgrade = upgrade.map_err(|e| {
        bad_request(format!(
            "{e}: this is a WebSocket endpoint (ws://…/sim/v1/stream; `dialtone tail` reads it)"
        ))
    })?;
    let thread = state.stream_thread.clone();
    Ok(upgrade.on_upgrade(move |socket| async move {
        thread.spawn(forward(socket, subscription, filter, framing));
    }))
}

/// The thread the stream's sockets are served on, with a runtime of its own: filtering,
/// framing and writing for watchers never occupy the runtime that the engine, the platform API
/// and push deliveries share, so a watcher takes spare CPU rather than delaying a call. The
/// sockets stay registered with the main runtime's I/O driver; only their tasks run here.
/// The thread ends when the last handle goes (with the [`AppState`]), its tasks with it.
#[derive(Clone)]
pub struct StreamThread {
    runtime: tokio::runtime::Handle,
    /// Dropped with the last handle: the thread's `block_on` returns.
    _stop: std::sync::Arc<tokio::sync::oneshot::Sender<()>>,
}

impl StreamThread {
    /// Starts the thread.
    pub fn start() -> std::io::Result<StreamThread> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("dialtone-stream".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(StreamThread {
            runtime: handle,
            _stop: std::sync::Arc::new(stop),
        })
    }

    /// Runs `task` on the thread.
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.runtime.spawn(task);
    }
}

/// About this many events are read (and written) before the socket is flushed.
const BATCH: usize = 512;

/// After writing all there was, a connection waits this long before its next write: a burst
/// then goes out in a few large frames rather than many small ones, each of which costs a
/// wake-up, a read of the bus, a system call and the client's reading. The first event after
/// a quiet spell goes out at once; a backlog is written without pause.
const PACE: Duration = Duration::from_millis(25);

/// One connection: forwards its subscription until the client leaves or Dialtone shuts down.
/// What is ready is read at once, written as one batch and flushed once.
async fn forward(
    socket: WebSocket,
    mut subscription: Subscription,
    filter: Filter,
    framing: Framing,
) {
    let (mut sink, incoming) = socket.split();
    // The client's side is read by a task of its own, woken only when the client sends
    // something. Polling the socket for input beside every batch costs a read-buffer fill per
    // poll, which in a burst was more than the writing itself.
    let mut left = AbortOnDrop(tokio::spawn(client_leaves(incoming)));
    loop {
        tokio::select! {
            open = subscription.ready() => if !open {
                let close = CloseFrame {
                    code: axum::extract::ws::close_code::AWAY,
                    reason: "Dialtone is shutting down".into(),
                };
                let _ = sink.send(Message::Close(Some(close))).await;
                return;
            },
            _ = &mut left.0 => return,
        }
        // Events come in bursts (an advance fires many deadlines): letting the burst build up
        // for one scheduler round turns a wake-up, a read and a write per event into one per
        // batch.
        tokio::task::yield_now().await;
        let reads = subscription.read(BATCH);
        let caught_up = reads
            .iter()
            .map(|r| match r {
                Read::Run(run) => run.events().len(),
                Read::Missed(_) => 0,
            })
            .sum::<usize>()
            < BATCH;
        let frames = match framing {
            Framing::One => one_per_frame(reads, &filter),
            Framing::Ndjson => ndjson_frames(reads, &filter),
        };
        for frame in frames {
            if sink.feed(Message::Text(frame)).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
        if caught_up {
            tokio::select! {
                _ = clock::sleep_real(PACE) => {}
                _ = &mut left.0 => return,
            }
        }
    }
}

/// A frame per message; each event's text is shared with every other subscriber.
fn one_per_frame(reads: Vec<Read>, filter: &Filter) -> Vec<Utf8Bytes> {
    let mut frames = Vec::new();
    for read in reads {
        match read {
            Read::Missed(m) => frames.push(Utf8Bytes::from(m.json())),
            Read::Run(run) => frames.extend(
                run.events()
                    .iter()
                    .filter(|p| filter.passes(p))
                    .map(|p| p.text().clone()),
            ),
        }
    }
    frames
}

/// As few frames as can be, each message followed by `\n`. Without a filter a whole chunk is
/// sent as the text every subscriber shares; anything else (a `gap` or `lagged`, part of a
/// chunk, filtered events) is gathered into frames of this connection's own.
fn ndjson_frames(reads: Vec<Read>, filter: &Filter) -> Vec<Utf8Bytes> {
    let mut frames = Vec::new();
    let mut own = Vec::new();
    let finish = |own: &mut Vec<u8>, frames: &mut Vec<Utf8Bytes>| {
        if !own.is_empty() {
            let text = Utf8Bytes::try_from(std::mem::take(own)).expect("messages are UTF-8");
            frames.push(text);
        }
    };
    for read in reads {
        match read {
            Read::Missed(m) => {
                own.extend_from_slice(m.json().as_bytes());
                own.push(b'\n');
            }
            Read::Run(run) => match run.whole().filter(|_| filter.is_open()) {
                Some(shared) => {
                    finish(&mut own, &mut frames);
                    frames.push(shared.clone());
                }
                None => {
                    for p in run.events().iter().filter(|p| filter.passes(p)) {
                        own.extend_from_slice(p.json().as_bytes());
                        own.push(b'\n');
                    }
                }
            },
        }
    }
    finish(&mut own, &mut frames);
    frames
}

/// Reads what the client sends until it closes or goes away. Pings are answered by the
/// WebSocket layer; anything else the client says is ignored.
async fn client_leaves(mut incoming: SplitStream<WebSocket>) {
    while let Some(Ok(message)) = incoming.next().await {
        if let Message::Close(_) = message {
            return;
        }
    }
}

/// Stops the reading task when its connection's forwarding ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A platform API request as it was asked, kept until it is answered ([`Asked::answered`]).
/// The URI's parts are shared bytes: keeping it costs no copy of the path or query.
pub struct Asked {
    uri: Uri,
    method: Method,
    x_aksk: Option<HeaderValue>,
}

impl Asked {
    pub fn of(request: &Request) -> Asked {
        Asked {
            uri: request.uri().clone(),
            method: request.method().clone(),
            x_aksk: request.headers().get("x-aksk").cloned(),
        }
    }

    /// Logs the answer, one line ([`logs::request`]), and publishes an error answer (a
    /// [`Refusal`] on the response) as a `refused` event with the path and the app the request
    /// named, authenticated or not.
    pub fn answered(self, state: &AppState, response: &Response) {
        let claimed = claimed_app_key(self.x_aksk.as_ref(), &self.uri);
        let path = self.uri.path();
        let refusal = response.extensions().get::<Refusal>();
        logs::request(&logs::Answered {
            method: self.method.as_str(),
            path,
            app_key: claimed.as_deref(),
            http_status: response.status().as_u16(),
            resultcode: match refusal {
                Some(r) => Some(r.resultcode),
                None => response.status().is_success().then_some("0"),
            },
            resultdesc: refusal.map(|r| r.resultdesc.as_str()),
            hint: refusal.and_then(|r| r.hint.as_deref()),
            session_id: response
                .extensions()
                .get::<AcceptedCall>()
                .map(|a| a.session_id.as_str()),
        });
        if let Some(refusal) = refusal {
            let refused = Refused {
                app_key: claimed.map(Cow::into_owned),
                path: path.to_owned(),
                http_status: response.status().as_u16(),
                resultcode: refusal.resultcode.to_owned(),
                resultdesc: refusal.resultdesc.clone(),
                hint: refusal.hint.clone(),
            };
            let engine = &state.engine;
            let stamp = Stamp::new(engine.clock(), engine.clock().now());
            engine.events().publish(stamp, SimEvent::Refused(refused));
        }
    }
}

/// The app_key a request names: X-AKSK's `Username`, or a legacy `app_key` query parameter.
fn claimed_app_key<'a>(x_aksk: Option<&HeaderValue>, uri: &'a Uri) -> Option<Cow<'a, str>> {
    let x_aksk = x_aksk.and_then(|v| v.to_str().ok());
    aksk::claimed_app_key(x_aksk).map(Cow::Owned).or_else(|| {
        url::form_urlencoded::parse(uri.query()?.as_bytes())
            .find(|(k, v)| k == "app_key" && !v.is_empty())
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_kind_is_refused_naming_the_known_ones() {
        let q = StreamQuery {
            kinds: Some("answer,ringing".into()),
            ..Default::default()
        };
        let err = Filter::parse(&q).expect_err("ringing is no kind");
        assert!(
            err.starts_with("unknown kind `ringing`: expected some of accepted, refused, callout"),
            "{err}"
        );
    }
}
