//! `dialtone phone NUMBER`: a virtual handset in the terminal. It attaches to a running
//! Dialtone's `GET /sim/v1/phones/{number}/handset` ([`crate::sim::handset`] has the protocol)
//! and *is* that callee until it leaves: it prints each call that rings, and the person answers,
//! rejects, keys and hangs up.
//!
//! Input is line-based (a key, then Enter): `a` answer, `r` reject, `h` hang up, digits/`#`/`*`
//! keys, `q` leave. Dialtone decision: no raw terminal mode, so no extra dependency, and the
//! same input works from a pipe or a script. A thread reads stdin, because the runtime has no
//! async stdin here; the end of input only stops reading (a scripted run keeps going).
//!
//! Scripted use: `--answer-after 3s` (real time: a person's reaction; on a manual clock nothing
//! moves meanwhile), `--reject`, `--hangup-after 4s` and `--digits-after` measured in *heard*
//! audio (frames are simulated time, so the hang-up lands at exactly that `heard_ms` on a manual
//! clock), `--digits 12#`. A scripted handset takes one call, then leaves. `--wav FILE` writes
//! what was heard; built with `--features play`, it also plays through the speakers as it comes.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, ClientError, SocketRefused};

/// What `dialtone phone NUMBER` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct PhoneOptions {
    /// Dialtone's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// The callee number this handset is, `+86…`.
    pub number: String,
    /// Answer this long (real time) after it starts ringing.
    pub answer_after: Option<Duration>,
    /// Reject as soon as it rings.
    pub reject: bool,
    /// Hang up once this much of the call has been heard (simulated time).
    pub hangup_after_ms: Option<u64>,
    /// Key these once answered, after `digits_after_ms` of the call was heard.
    pub digits: Option<String>,
    pub digits_after_ms: u64,
    /// Write what was heard (from the answer to the end) to this WAV file.
    pub wav: Option<PathBuf>,
    /// Play what is heard through the speakers (builds with the `play` feature only).
    pub play: bool,
}

impl PhoneOptions {
    /// A scripted handset takes one call and leaves.
    fn scripted(&self) -> bool {
        self.answer_after.is_some() || self.reject
    }
}

/// What the person typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Answer,
    Reject,
    Hangup,
    Digits(String),
    Leave,
}

/// Parses one typed line; `None` for an empty line; `Err` names what is understood.
pub fn parse_key(line: &str) -> Result<Option<Key>, String> {
    let line = line.trim();
    Ok(Some(match line {
        "" => return Ok(None),
        "a" => Key::Answer,
        "r" => Key::Reject,
        "h" => Key::Hangup,
        "q" => Key::Leave,
        keys if crate::call::scenario::is_keys(keys) => Key::Digits(keys.to_owned()),
        other => {
            return Err(format!(
                "`{other}`? a = answer, r = reject, h = hang up, 0-9 # * = keys, q = leave (then Enter)"
            ))
        }
    }))
}

/// The call on the handset, as this client follows it.
#[derive(Default)]
struct OnCall {
    session_id: String,
    answered: bool,
    /// Samples heard since the answer.
    heard: Vec<i16>,
    heard_count: usize,
    hung_up: bool,
    keyed: bool,
}

/// Runs the handset until the person leaves (`q`, Ctrl-C), Dialtone closes the socket, or a
/// scripted handset's call ends. Refused attach and connection failures are errors.
pub async fn run(opts: &PhoneOptions, out: &mut impl Write) -> Result<(), ClientError> {
    let url = handset_url(&opts.url, &opts.number);
    let mut ws = match client::open_socket(&url).await {
        Ok(ws) => ws,
        Err(SocketRefused::Http { status, error }) => {
            return Err(ClientError::Handset(format!(
                "refused: HTTP {status}: {error}"
            )));
        }
        Err(SocketRefused::Unopened(why)) => return Err(ClientError::Handset(why)),
    };
    let mut keys = read_keys();
    let mut speaker = Speaker::open(opts.play)?;
    let mut call: Option<OnCall> = None;
    let mut attached = false;
    // A scripted answer waits in real time; `None` when nothing is pending.
    let mut answer_at: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>> = None;
    loop {
        let mut send = Vec::new();
        tokio::select! {
            msg = ws.next() => {
                let msg = match msg {
                    None | Some(Ok(Message::Close(_))) => {
                        writeln!(out, "Dialtone closed the handset")?;
                        return Ok(());
                    }
                    Some(Err(e)) => return Err(ClientError::Handset(e.to_string())),
                    Some(Ok(m)) => m,
                };
                match msg {
                    Message::Binary(frame) => {
                        let Some(c) = call.as_mut() else { continue };
                        let samples: Vec<i16> = frame
                            .chunks_exact(2)
                            .map(|b| i16::from_le_bytes([b[0], b[1]]))
                            .collect();
                        c.heard_count += samples.len();
                        speaker.push(&samples);
                        if opts.wav.is_some() {
                            c.heard.extend(samples);
                        }
                        send.extend(script_after_audio(opts, c));
                    }
                    Message::Text(text) => {
                        let v: Value = serde_json::from_str(&text)
                            .map_err(|e| ClientError::Unexpected(format!("{e}: {text}")))?;
                        match v["type"].as_str().unwrap_or("") {
                            "attached" => {
                                attached = true;
                                writeln!(
                                    out,
                                    "attached as {} (a answer, r reject, h hang up, 0-9#* keys, q leave; then Enter)",
                                    v["number"].as_str().unwrap_or("?")
                                )?
                            }
                            "ringing" => {
                                writeln!(
                                    out,
                                    "ringing: {} call {} from {}",
                                    v["kind"].as_str().unwrap_or("?"),
                                    v["session_id"].as_str().unwrap_or("?"),
                                    v["caller"].as_str().unwrap_or("?")
                                )?;
                                call = Some(OnCall {
                                    session_id: v["session_id"].as_str().unwrap_or("").to_owned(),
                                    ..OnCall::default()
                                });
                                if opts.reject {
                                    send.push(json!({"action": "reject"}));
                                } else if let Some(after) = opts.answer_after {
                                    answer_at = Some(Box::pin(crate::clock::sleep_real(after)));
                                }
                            }
                            "answered" => {
                                writeln!(out, "answered {}", v["session_id"].as_str().unwrap_or("?"))?;
                                if let Some(c) = call.as_mut() {
                                    c.answered = true;
                                    send.extend(script_after_audio(opts, c));
                                }
                            }
                            "digits" => writeln!(out, "keyed {}", v["digits"].as_str().unwrap_or("?"))?,
                            "ended" => {
                                let heard = v["heard_ms"].as_u64();
                                writeln!(
                                    out,
                                    "ended: stateCode {} ({}), heard {}",
                                    v["state_code"],
                                    v["reason"].as_str().unwrap_or(""),
                                    heard.map_or("nothing".to_owned(), |ms| format!("{ms} ms"))
                                )?;
                                answer_at = None;
                                if let (Some(path), Some(mut c)) = (&opts.wav, call.take()) {
                                    // The last frame may be padded: heard_ms says where it ended.
                                    c.heard.truncate(heard.unwrap_or(0) as usize * 8);
                                    write_wav(path, &c.heard)?;
                                    writeln!(out, "wrote {}", path.display())?;
                                }
                                call = None;
                                if opts.scripted() {
                                    let _ = ws.close(None).await;
                                    return Ok(());
                                }
                            }
                            // Before `attached`: the attach was refused (the socket closes).
                            "error" if !attached => {
                                return Err(ClientError::Handset(
                                    v["error"].as_str().unwrap_or("?").to_owned(),
                                ));
                            }
                            "error" => {
                                writeln!(out, "error: {}", v["error"].as_str().unwrap_or("?"))?;
                            }
                            _ => writeln!(out, "{text}")?,
                        }
                    }
                    _ => {}
                }
            }
            key = keys.recv() => match key {
                Some(line) => match parse_key(&line) {
                    Ok(None) => {}
                    Ok(Some(Key::Leave)) => {
                        let _ = ws.close(None).await;
                        writeln!(out, "left")?;
                        return Ok(());
                    }
                    Ok(Some(Key::Answer)) => send.push(json!({"action": "answer"})),
                    Ok(Some(Key::Reject)) => send.push(json!({"action": "reject"})),
                    Ok(Some(Key::Hangup)) => send.push(json!({"action": "hangup"})),
                    Ok(Some(Key::Digits(d))) => send.push(json!({"action": "dtmf", "digits": d})),
                    Err(hint) => writeln!(out, "{hint}")?,
                },
                // The end of input only stops reading.
                None => keys = mpsc::unbounded_channel().1,
            },
            () = async { answer_at.as_mut().expect("guarded").await }, if answer_at.is_some() => {
                answer_at = None;
                send.push(json!({"action": "answer"}));
            }
        }
        for msg in send {
            ws.send(Message::Text(msg.to_string().into()))
                .await
                .map_err(|e| ClientError::Handset(e.to_string()))?;
        }
    }
}

/// The scripted actions due now that `c` has heard what it has: keys, then the hang-up.
fn script_after_audio(opts: &PhoneOptions, c: &mut OnCall) -> Vec<Value> {
    let mut send = Vec::new();
    if !c.answered {
        return send;
    }
    let heard_ms = (c.heard_count / 8) as u64;
    if let Some(digits) = &opts.digits {
        if !c.keyed && heard_ms >= opts.digits_after_ms {
            c.keyed = true;
            send.push(json!({"action": "dtmf", "digits": digits}));
        }
    }
    if let Some(after) = opts.hangup_after_ms {
        if !c.hung_up && heard_ms >= after {
            c.hung_up = true;
            send.push(json!({"action": "hangup", "session_id": c.session_id}));
        }
    }
    send
}

/// `ws://…/sim/v1/phones/%2B86…/handset` from the base URL.
fn handset_url(base: &str, number: &str) -> String {
    let number = number.replace('+', "%2B");
    client::socket_url(base, &format!("/sim/v1/phones/{number}/handset"))
}

/// Lines typed on stdin, from a thread (blocking reads), until the input ends.
fn read_keys() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        while stdin.read_line(&mut line).is_ok_and(|n| n > 0) {
            if tx.send(std::mem::take(&mut line)).is_err() {
                return;
            }
        }
    });
    rx
}

fn write_wav(path: &std::path::Path, samples: &[i16]) -> Result<(), ClientError> {
    let bytes =
        crate::audio::wav_bytes(samples).map_err(|e| ClientError::Unexpected(e.to_string()))?;
    std::fs::write(path, bytes)?;
    Ok(())
}

/// The speakers, when asked for and built in.
struct Speaker {
    #[cfg(feature = "play")]
    live: Option<crate::audio::play::LivePlayer>,
}

impl Speaker {
    #[cfg(feature = "play")]
    fn open(play: bool) -> Result<Speaker, ClientError> {
        let live = match play {
            true => Some(
                crate::audio::play::LivePlayer::open()
                    .map_err(|e| ClientError::Unexpected(e.to_string()))?,
            ),
            false => None,
        };
        Ok(Speaker { live })
    }

    #[cfg(not(feature = "play"))]
    fn open(play: bool) -> Result<Speaker, ClientError> {
        match play {
            true => Err(ClientError::Unexpected(
                "this dialtone was built without the `play` feature: rebuild with `cargo build --features play`, or use --wav".into(),
            )),
            false => Ok(Speaker {}),
        }
    }

    fn push(&mut self, _samples: &[i16]) {
        #[cfg(feature = "play")]
        if let Some(live) = &self.live {
            live.push(_samples);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_lines_become_keys() {
        assert_eq!(parse_key("a\n"), Ok(Some(Key::Answer)));
        assert_eq!(parse_key(" 12#*\n"), Ok(Some(Key::Digits("12#*".into()))));
        assert_eq!(parse_key("\n"), Ok(None));
        assert_eq!(parse_key("q"), Ok(Some(Key::Leave)));
        assert!(parse_key("x").unwrap_err().starts_with("`x`? a = answer"));
    }

    #[test]
    fn the_number_is_escaped_in_the_socket_url() {
        assert_eq!(
            handset_url("http://127.0.0.1:8080/", "+8613900001234"),
            "ws://127.0.0.1:8080/sim/v1/phones/%2B8613900001234/handset"
        );
    }
}
