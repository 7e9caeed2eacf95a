//! `GET /sim/v1/stream`: the event stream over a WebSocket, one JSON text message per event
//! ([`crate::events`] numbers, buffers and broadcasts them), and the middleware that publishes
//! the platform API's refusals.
//!
//! This module owns the socket side: the query (`since`, `app_key`, `session_id`, `kinds`), the
//! filter, and one task per connection that forwards its [`Subscription`] and notices the client
//! leaving. A slow client only slows its own task: the engine publishes into a broadcast channel
//! and never waits (see [`crate::events`] for what a client that falls behind is sent).

use std::collections::HashSet;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

use super::extract::ControlQuery;
use super::{bad_request, SimError};
use crate::api::AcceptedCall;
use crate::app::AppState;
use crate::auth::aksk;
use crate::error::Refusal;
use crate::events::{self, Item, Refused, SimEvent, Stamp, Subscription};
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

    fn passes(&self, item: &Item) -> bool {
        let Item::Event(p) = item else {
            return true;
        };
        let e = &p.event;
        self.kinds.as_ref().is_none_or(|k| k.contains(e.kind()))
            && self
                .app_key
                .as_deref()
                .is_none_or(|a| e.app_key() == Some(a))
            && self.session_id.as_deref().is_none_or(|s| e.concerns(s))
    }
}

/// `GET /sim/v1/stream?since=&app_key=&session_id=&kinds=`: upgrades to a WebSocket and sends
/// every matching event from now on (after a replay from `since`). The subscription starts
/// before the upgrade is answered, so nothing between the two is lost.
pub async fn stream(
    State(state): State<AppState>,
    ControlQuery(q): ControlQuery<StreamQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, SimError> {
    let filter = Filter::parse(&q).map_err(bad_request)?;
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
    Ok(upgrade.on_upgrade(move |socket| forward(socket, subscription, filter)))
}

/// At most this many messages are written before the socket is flushed.
const BATCH: usize = 256;

/// One connection: forwards its subscription until the client leaves or Dialtone shuts down.
/// What is ready is written in one batch and flushed once, rather than a write per message.
async fn forward(socket: WebSocket, mut subscription: Subscription, filter: Filter) {
    let (mut sink, incoming) = socket.split();
    // The client's side is read by a task of its own, woken only when the client sends
    // something. Polling the socket for input beside every batch costs a read-buffer fill per
    // poll, which in a burst was more than the writing itself.
    let mut left = AbortOnDrop(tokio::spawn(client_leaves(incoming)));
    loop {
        tokio::select! {
            item = subscription.next() => {
                let Some(item) = item else {
                    let close = CloseFrame {
                        code: axum::extract::ws::close_code::AWAY,
                        reason: "Dialtone is shutting down".into(),
                    };
                    let _ = sink.send(Message::Close(Some(close))).await;
                    return;
                };
                // Events come in bursts (an advance fires many deadlines): letting the burst
                // build up for one scheduler round turns a wake-up, a poll and a write per
                // event into one per batch.
                tokio::task::yield_now().await;
                let mut ready = Some(item);
                let mut written = 0;
                while let Some(item) = ready.take() {
                    if filter.passes(&item) {
                        if sink.feed(Message::Text(item.text())).await.is_err() {
                            return;
                        }
                        written += 1;
                    }
                    if written < BATCH {
                        ready = subscription.try_next();
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            _ = &mut left.0 => return,
        }
    }
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

/// Middleware on the platform API: logs every answer, one line ([`logs::request`]), and
/// publishes each error answer (a [`Refusal`] on the response) as a `refused` event with the
/// path and the app the request named, authenticated or not.
pub async fn publish_answers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let claimed = claimed_app_key(&request);
    let response = next.run(request).await;
    let refusal = response.extensions().get::<Refusal>();
    logs::request(&logs::Answered {
        method: method.as_str(),
        path: &path,
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
            app_key: claimed,
            path,
            http_status: response.status().as_u16(),
            resultcode: refusal.resultcode.to_owned(),
            resultdesc: refusal.resultdesc.clone(),
            hint: refusal.hint.clone(),
        };
        let engine = &state.engine;
        let stamp = Stamp::new(engine.clock(), engine.clock().now());
        engine.events().publish(stamp, SimEvent::Refused(refused));
    }
    response
}

/// The app_key a request names: X-AKSK's `Username`, or a legacy `app_key` query parameter.
fn claimed_app_key(request: &Request) -> Option<String> {
    let x_aksk = request
        .headers()
        .get("x-aksk")
        .and_then(|v| v.to_str().ok());
    aksk::claimed_app_key(x_aksk).or_else(|| {
        url::form_urlencoded::parse(request.uri().query()?.as_bytes())
            .find(|(k, v)| k == "app_key" && !v.is_empty())
            .map(|(_, v)| v.into_owned())
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
