//! `dialtone tail`: reads the event stream of a running Dialtone (`GET /sim/v1/stream`) and
//! prints one readable line per event, or the messages as they come (`--json`, NDJSON). Also
//! the stream connection `dialtone call` follows its call on.
//!
//! It owns the client side of the stream and the one-line rendering of each kind
//! ([`line`], pure); the stream's schema is [`crate::events`]'s.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, ClientError, DialtoneSocket, SocketRefused};

/// An open stream connection, in `batch=ndjson` mode: a frame carries every message ready.
pub struct EventStream {
    ws: DialtoneSocket,
    /// Messages of the last frame not yet returned.
    pending: VecDeque<Value>,
}

/// What `dialtone tail` asks for.
#[derive(Debug, Clone, Default)]
pub struct TailOptions {
    /// Dialtone's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub app_key: Option<String>,
    pub session_id: Option<String>,
    /// Comma-separated kinds, e.g. `accepted,disconnect`.
    pub kinds: Option<String>,
    pub since: Option<u64>,
    /// Print each message as received (NDJSON) instead of a line for people.
    pub json: bool,
    /// ANSI colours (only when stdout is a terminal).
    pub colour: bool,
}

impl TailOptions {
    fn query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        let params = [
            ("app_key", self.app_key.clone()),
            ("session_id", self.session_id.clone()),
            ("kinds", self.kinds.clone()),
            ("since", self.since.map(|s| s.to_string())),
        ];
        for (k, v) in params {
            if let Some(v) = v {
                q.append_pair(k, &v);
            }
        }
        q.finish()
    }
}

impl EventStream {
    /// Connects to `base`'s stream with `query` (form-encoded, may be empty). A refusal (bad
    /// filter, `since` ahead) comes back with the server's message.
    pub async fn connect(base: &str, query: &str) -> Result<EventStream, ClientError> {
        let query = match query {
            "" => "batch=ndjson".to_owned(),
            q => format!("{q}&batch=ndjson"),
        };
        let url = client::socket_url(base, &format!("/sim/v1/stream?{query}"));
        match client::open_socket(&url).await {
            Ok(ws) => Ok(EventStream {
                ws,
                pending: VecDeque::new(),
            }),
            Err(SocketRefused::Http { status, error }) => Err(ClientError::Unexpected(format!(
                "the stream refused: HTTP {status}: {error}"
            ))),
            Err(SocketRefused::Unopened(why)) => Err(ClientError::Stream(why)),
        }
    }

    /// The next message as JSON; `None` when Dialtone closes the stream. Cancel-safe.
    pub async fn next(&mut self) -> Result<Option<Value>, ClientError> {
        if let Some(message) = self.pending.pop_front() {
            return Ok(Some(message));
        }
        while let Some(msg) = self.ws.next().await {
            match msg.map_err(|e| ClientError::Stream(e.to_string()))? {
                Message::Text(text) => {
                    for line in text.lines().filter(|l| !l.is_empty()) {
                        let message = serde_json::from_str(line)
                            .map_err(|e| ClientError::Unexpected(format!("{e}: {line}")))?;
                        self.pending.push_back(message);
                    }
                    if let Some(message) = self.pending.pop_front() {
                        return Ok(Some(message));
                    }
                }
                Message::Close(_) => return Ok(None),
                _ => {}
            }
        }
        Ok(None)
    }

    /// As [`EventStream::next`], giving up after `idle` with `Err(Idle)`.
    pub async fn next_within(
        &mut self,
        idle: Duration,
    ) -> Result<Result<Option<Value>, ClientError>, Idle> {
        tokio::time::timeout(idle, self.next())
            .await
            .map_err(|_| Idle)
    }
}

/// Nothing arrived in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idle;

/// `dialtone tail`: prints every message until Dialtone closes the stream.
pub async fn tail(opts: &TailOptions, out: &mut impl Write) -> Result<(), ClientError> {
    let mut stream = EventStream::connect(&opts.url, &opts.query()).await?;
    while let Some(msg) = stream.next().await? {
        if opts.json {
            writeln!(out, "{msg}")?;
        } else {
            writeln!(out, "{}", line(&msg, opts.colour))?;
        }
        out.flush()?;
    }
    Ok(())
}

/// One message as a line for people: seq, simulated time, kind, then what matters for the kind.
pub fn line(m: &Value, colour: bool) -> String {
    let s = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
    let n = |k: &str| m[k].as_u64().map_or(String::new(), |v| v.to_string());
    let kind = s("kind");
    let short_time = s("time").get(11..).unwrap_or_default().to_owned();
    let what = match kind.as_str() {
        "accepted" => format!(
            "{}  {} -> {}  app {}",
            s("session_id"),
            s("caller"),
            s("callee"),
            s("app_key")
        ),
        "refused" => {
            let app = m["app_key"]
                .as_str()
                .map_or(String::new(), |a| format!("  app {a}"));
            format!(
                "{} {}  {}  {}{app}",
                n("http_status"),
                s("resultcode"),
                s("resultdesc"),
                s("path")
            )
        }
        "push" => {
            let answer = match m["status"].as_u64() {
                Some(status) => format!("HTTP {status}"),
                None => s("error"),
            };
            let mut text = format!(
                "{}#{} {} {} -> {answer} {} {}ms",
                s("delivery_id"),
                n("attempt"),
                s("push"),
                s("event_type"),
                s("outcome"),
                n("latency_ms")
            );
            if let Some(f) = m["fault"].as_str() {
                text.push_str(&format!(" fault {f}"));
            }
            if let Some(next) = m["next_attempt_at"].as_str() {
                text.push_str(&format!(" next {next}"));
            }
            text
        }
        "clock" => format!("advanced {} -> {}", s("from"), s("to")),
        "phone" => match m.get("behaviour") {
            Some(b) => format!("{} set {b}", s("number")),
            None => format!("{} removed", s("number")),
        },
        "faults" => format!("now {}", m["rules"]),
        "reset" => "calls, journal, rules forgotten".to_owned(),
        "handset" => format!("{} {}", s("number"), s("action")),
        "gap" | "lagged" => format!(
            "missed {} events ({}..={}): no longer buffered",
            n("missed"),
            n("from"),
            n("to")
        ),
        // A timeline entry: callout, alerting, answer, playing, disconnect, note, and whatever
        // comes later.
        _ => format!("{}  {}", s("session_id"), s("detail")),
    };
    let kind_text = format!("{kind:<10}");
    let kind_text = if colour {
        paint(&kind, m, &kind_text)
    } else {
        kind_text
    };
    format!("{:>6} {short_time} {kind_text} {what}", n("seq"))
        .trim_end()
        .to_owned()
}

/// ANSI colour by kind: green for things going well, red for failures, yellow for loss.
fn paint(kind: &str, m: &Value, text: &str) -> String {
    let code = match kind {
        "accepted" | "answer" => "32",
        "refused" => "31",
        "disconnect" if m["state_code"].as_u64().unwrap_or(0) != 0 => "31",
        "disconnect" => "32",
        "push" if m["outcome"] == "delivered" => "36",
        "push" => "31",
        "gap" | "lagged" => "33;1",
        "clock" | "reset" | "phone" | "faults" | "handset" => "35",
        _ => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_reads_as_one_line() {
        let answer = json!({"seq": 7, "kind": "answer", "time": "2026-03-14 10:15:37.000",
            "session_id": "1200_1_x", "app_key": "k"});
        assert_eq!(
            line(&answer, false),
            "     7 10:15:37.000 answer     1200_1_x"
        );
        let push = json!({"seq": 8, "kind": "push", "time": "2026-03-14 10:15:37.000",
            "delivery_id": "f1", "attempt": 2, "push": "fee", "event_type": "fee",
            "status": null, "error": "connect", "outcome": "failed_will_retry", "latency_ms": 3,
            "fault": null, "next_attempt_at": "2026-03-14 11:15:37"});
        assert_eq!(
            line(&push, false),
            "     8 10:15:37.000 push       f1#2 fee fee -> connect failed_will_retry 3ms next 2026-03-14 11:15:37"
        );
        let handset = json!({"seq": 9, "kind": "handset", "time": "2026-03-14 10:15:37.000",
            "number": "+8613900001234", "action": "attached"});
        assert_eq!(
            line(&handset, false),
            "     9 10:15:37.000 handset    +8613900001234 attached"
        );
        let lagged = json!({"seq": 40, "kind": "lagged", "from": 11, "to": 40, "missed": 30});
        assert_eq!(
            line(&lagged, false),
            "    40  lagged     missed 30 events (11..=40): no longer buffered"
        );
        assert_eq!(
            line(&answer, true),
            "     7 10:15:37.000 \x1b[32manswer    \x1b[0m 1200_1_x"
        );
    }
}
