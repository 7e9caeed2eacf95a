//! `GET /sim/v1/phones/{number}/handset`: the virtual handset over a WebSocket. While the
//! socket is open the person at the other end *is* the callee `number` (the engine side is
//! [`crate::engine`]'s `handset`): calls ring them, they answer, reject, key and hang up, and
//! hear the call as binary frames.
//!
//! Protocol. Server → client text messages, JSON with a `type`: `attached` (first), `ringing`,
//! `answered`, `digits` (the echo of keys the engine took), `ended` (`state_code`, `heard_ms`,
//! `reason`), `error` (a bad client message; the socket stays open, unless the attach itself was
//! refused). Binary messages: the audio as the callee hears it from the answer on, 8 kHz 16-bit
//! little-endian mono PCM, exactly 160 samples (20 ms) each, paced by the simulated clock; joined,
//! they are `audio.wav`'s samples from the answer on (a last partial frame is padded with
//! silence: `heard_ms` says where the call ended). Client → server: `{"action":"answer"}`,
//! `reject`, `hangup`, `{"action":"dtmf","digits":"12#"}`, each with an optional `session_id`
//! (default: the call on the handset).
//!
//! This module owns the socket: parsing the person's messages, rendering the frames (a window of
//! the call's audio at a time, [`crate::audio::render::render_window`]), and detaching when the
//! socket closes, however it closes.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::SinkExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::PhoneNumber;
use super::{bad_request, SimError};
use crate::app::AppState;
use crate::audio::render::{render_playbacks_window, render_window};
use crate::audio::Playback;
use crate::call::scenario::is_keys;
use crate::engine::{CallAudio, Engine, HandsetAction, HandsetEvent};

/// Samples in one binary frame: 20 ms at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// `GET /sim/v1/phones/{number}/handset`: upgrades, then attaches (a refusal is told on the
/// socket, which then closes).
pub async fn handset(
    State(state): State<AppState>,
    PhoneNumber(number): PhoneNumber,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, SimError> {
    let upgrade = upgrade.map_err(|e| {
        bad_request(format!(
            "{e}: this is a WebSocket endpoint (ws://…/sim/v1/phones/{{number}}/handset; `dialtone phone {number}` speaks it)"
        ))
    })?;
    let engine = state.engine.clone();
    Ok(upgrade.on_upgrade(move |socket| hold(socket, engine, number)))
}

/// What the person sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionIn {
    action: String,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    digits: Option<String>,
}

/// Parses one client message into the action and the call it names.
fn parse_action(text: &str) -> Result<(HandsetAction, Option<String>), String> {
    let msg: ActionIn = serde_json::from_str(text)
        .map_err(|e| format!("not a handset message ({e}): expected {{\"action\": …}}"))?;
    let action = match (msg.action.as_str(), msg.digits) {
        ("answer", None) => HandsetAction::Answer,
        ("reject", None) => HandsetAction::Reject,
        ("hangup", None) => HandsetAction::Hangup,
        ("dtmf", Some(d)) if !d.is_empty() && is_keys(&d) => HandsetAction::Dtmf(d),
        ("dtmf", Some(d)) => {
            return Err(format!("`digits` {d:?} is not keys: 1-32 of 0-9, * and #"))
        }
        ("dtmf", None) => return Err("`dtmf` needs `digits`, e.g. \"12#\"".into()),
        ("answer" | "reject" | "hangup", Some(_)) => {
            return Err(format!("`digits` does not apply to `{}`", msg.action))
        }
        (other, _) => {
            return Err(format!(
                "unknown action `{other}`: expected answer, reject, hangup or dtmf"
            ))
        }
    };
    Ok((action, msg.session_id))
}

/// The call being heard: how many of its samples have been sent.
struct Listening {
    session_id: String,
    sent: usize,
}

/// One handset connection, from attach to detach.
async fn hold(mut socket: WebSocket, engine: Engine, number: String) {
    let attached = match engine.attach_handset(&number) {
        Ok(a) => a,
        Err(e) => {
            let _ = socket
                .send(text(json!({"type": "error", "error": e.to_string()})))
                .await;
            let close = CloseFrame {
                code: axum::extract::ws::close_code::POLICY,
                reason: "a handset is already attached to this number".into(),
            };
            let _ = socket.send(Message::Close(Some(close))).await;
            return;
        }
    };
    let id = attached.id;
    let mut events = attached.events;
    let mut closing = engine.events().closing();
    let _ = converse(&mut socket, &engine, &number, id, &mut events, &mut closing).await;
    // However the conversation ended (the person left, a write failed, shutdown).
    engine.detach_handset(&number, id);
}

/// Relays between the person and the engine until either side goes. `Err` when the socket
/// failed.
async fn converse(
    socket: &mut WebSocket,
    engine: &Engine,
    number: &str,
    id: u64,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<HandsetEvent>,
    closing: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), axum::Error> {
    socket
        .send(text(json!({"type": "attached", "number": number})))
        .await?;
    let mut listening: Option<Listening> = None;
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return Ok(()) };
                tell(socket, engine, &mut listening, event).await?;
                // An advance fires many frames at once: write what is ready, then flush once.
                while let Ok(event) = events.try_recv() {
                    tell(socket, engine, &mut listening, event).await?;
                }
                socket.flush().await?;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(t))) => {
                    let done = parse_action(t.as_str()).and_then(|(action, session)| {
                        engine
                            .handset_act(number, id, session.as_deref(), action)
                            .map_err(|e| e.to_string())
                    });
                    if let Err(error) = done {
                        socket.send(text(json!({"type": "error", "error": error}))).await?;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let error = "binary messages carry audio to the handset only; send JSON actions";
                    socket.send(text(json!({"type": "error", "error": error}))).await?;
                }
                // Pings are answered by the WebSocket layer.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Ok(()),
            },
            changed = closing.changed() => {
                let closed = changed.is_err() || *closing.borrow_and_update();
                if !closed {
                    continue;
                }
                let close = CloseFrame {
                    code: axum::extract::ws::close_code::AWAY,
                    reason: "Dialtone is shutting down".into(),
                };
                let _ = socket.send(Message::Close(Some(close))).await;
                return Ok(());
            }
        }
    }
}

/// Writes (without flushing) what `event` tells the person.
async fn tell(
    socket: &mut WebSocket,
    engine: &Engine,
    listening: &mut Option<Listening>,
    event: HandsetEvent,
) -> Result<(), axum::Error> {
    let message = match event {
        HandsetEvent::Ringing {
            session_id,
            caller,
            app_key,
            kind,
        } => json!({"type": "ringing", "session_id": session_id, "caller": caller,
                    "app_key": app_key, "kind": kind}),
        HandsetEvent::Answered { session_id } => {
            *listening = Some(Listening {
                session_id: session_id.clone(),
                sent: 0,
            });
            json!({"type": "answered", "session_id": session_id})
        }
        HandsetEvent::Digits { session_id, digits } => {
            json!({"type": "digits", "session_id": session_id, "digits": digits})
        }
        HandsetEvent::Ended {
            session_id,
            state_code,
            heard_ms,
            reason,
        } => {
            if listening
                .as_ref()
                .is_some_and(|l| l.session_id == session_id)
            {
                *listening = None;
            }
            json!({"type": "ended", "session_id": session_id, "state_code": state_code,
                   "heard_ms": heard_ms, "reason": reason})
        }
        HandsetEvent::Heard {
            session_id,
            heard_ms,
            last,
        } => {
            let Some(l) = listening.as_mut().filter(|l| l.session_id == session_id) else {
                return Ok(());
            };
            let heard = usize::try_from(heard_ms.saturating_mul(8)).unwrap_or(usize::MAX);
            let upto = match last {
                true => heard,
                false => heard - heard % FRAME_SAMPLES,
            };
            if upto <= l.sent {
                return Ok(());
            }
            let mut samples = match engine.call_audio(&session_id) {
                Some(CallAudio::Announcement { manifest, .. }) => {
                    render_window(&manifest, l.sent, upto)
                }
                Some(CallAudio::Notification { played, .. }) => {
                    let played: Vec<(&Playback, u64)> =
                        played.iter().map(|(p, at)| (p, *at)).collect();
                    render_playbacks_window(&played, l.sent, upto)
                }
                // Forgotten by a reset, or nothing to one callee.
                Some(CallAudio::None) | None => return Ok(()),
            };
            l.sent = upto;
            // Dialtone decision: frames are always whole; the last is padded with silence.
            samples.resize(samples.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES, 0);
            for frame in samples.chunks(FRAME_SAMPLES) {
                let bytes: Vec<u8> = frame.iter().flat_map(|s| s.to_le_bytes()).collect();
                socket.feed(Message::Binary(bytes.into())).await?;
            }
            return Ok(());
        }
    };
    socket.feed(text(message)).await
}

fn text(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_parsed_and_bad_ones_named() {
        assert_eq!(
            parse_action(r#"{"action":"answer"}"#).unwrap(),
            (HandsetAction::Answer, None)
        );
        assert_eq!(
            parse_action(r#"{"action":"dtmf","digits":"12#","session_id":"s"}"#).unwrap(),
            (HandsetAction::Dtmf("12#".into()), Some("s".into()))
        );
        let bad = [
            (
                r#"{"action":"dtmf","digits":"1a"}"#,
                "`digits` \"1a\" is not keys",
            ),
            (r#"{"action":"dtmf"}"#, "`dtmf` needs `digits`"),
            (
                r#"{"action":"answer","digits":"1"}"#,
                "`digits` does not apply to `answer`",
            ),
            (r#"{"action":"pickup"}"#, "unknown action `pickup`"),
            (r#"{"action":"answer","volume":3}"#, "not a handset message"),
            ("answer", "not a handset message"),
        ];
        for (msg, want) in bad {
            let err = parse_action(msg).unwrap_err();
            assert!(err.starts_with(want), "{msg}: {err}");
        }
    }
}
