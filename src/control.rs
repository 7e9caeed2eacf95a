//! The everyday control verbs of the CLI, so nobody needs curl for them: `dialtone advance 10m`,
//! `reset`, `phone set|rm|list`, `calls`, `deliveries`. Each is one request to `/sim/v1` and a
//! short printout (or the JSON answer with `--json`); a refusal comes back as the server's
//! `{"error"}` message.

use std::io::Write;

use serde_json::{json, Value};

use crate::client::ClientError;

/// A client of one Dialtone's control API.
pub struct Control {
    base: String,
    http: reqwest::Client,
}

impl Control {
    /// `url` is Dialtone's base URL, e.g. `http://127.0.0.1:8080`.
    pub fn new(url: &str) -> Control {
        Control {
            base: url.trim_end_matches('/').to_owned(),
            http: crate::tls::http_client(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let response = req
            .send()
            .await
            .map_err(ClientError::unreachable(&self.base))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::Unexpected(format!("{e}: {}", String::from_utf8_lossy(&bytes)))
            })?
        };
        if !status.is_success() {
            let error = body["error"]
                .as_str()
                .map_or(body.to_string(), str::to_owned);
            return Err(ClientError::Unexpected(format!(
                "HTTP {}: {error}",
                status.as_u16()
            )));
        }
        Ok(body)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /sim/v1/clock/advance`: `by` like `90s`, `10m` (a bare number is milliseconds);
    /// prints how far, in ms, and the time before and after, so `advance 10` meaning 10 ms
    /// cannot go unnoticed.
    pub async fn advance(
        &self,
        by: &str,
        settle: bool,
        out: &mut impl Write,
    ) -> Result<(), ClientError> {
        let before = self.send(self.http.get(self.url("/sim/v1/clock"))).await?;
        let body = json!({ "by": by, "settle": settle });
        let clock = self
            .send(
                self.http
                    .post(self.url("/sim/v1/clock/advance"))
                    .body(body.to_string()),
            )
            .await?;
        let ms = |c: &Value| c["now_ms"].as_u64().unwrap_or_default();
        writeln!(
            out,
            "advanced {} ms: {} → {}",
            ms(&clock).saturating_sub(ms(&before)),
            text(&before["now"]),
            text(&clock["now"])
        )?;
        Ok(())
    }

    /// `POST /sim/v1/reset`.
    pub async fn reset(&self, out: &mut impl Write) -> Result<(), ClientError> {
        let clock = self.send(self.http.post(self.url("/sim/v1/reset"))).await?;
        writeln!(out, "reset; clock: {}", text(&clock["now"]))?;
        Ok(())
    }

    /// `PUT /sim/v1/phones/{number}`. `behaviour` is an outcome (`busy`), a sequence
    /// (`busy,answer`: successive calls, the last repeating), or a JSON behaviour as the API takes.
    pub async fn phone_set(
        &self,
        number: &str,
        behaviour: &str,
        out: &mut impl Write,
    ) -> Result<(), ClientError> {
        let body = behaviour_json(behaviour);
        let set = self
            .send(
                self.http
                    .put(self.url(&format!("/sim/v1/phones/{}", path_segment(number))))
                    .body(body.to_string()),
            )
            .await?;
        writeln!(out, "{}: {}", text(&set["number"]), set["behaviour"])?;
        Ok(())
    }

    /// `DELETE /sim/v1/phones/{number}`.
    pub async fn phone_remove(
        &self,
        number: &str,
        out: &mut impl Write,
    ) -> Result<(), ClientError> {
        self.send(
            self.http
                .delete(self.url(&format!("/sim/v1/phones/{}", path_segment(number)))),
        )
        .await?;
        writeln!(out, "{number}: rule removed")?;
        Ok(())
    }

    /// `GET /sim/v1/phones`: one line per handset and rule, in the order they are tried, or the
    /// JSON.
    pub async fn phones(&self, json: bool, out: &mut impl Write) -> Result<(), ClientError> {
        let phones = self.send(self.http.get(self.url("/sim/v1/phones"))).await?;
        if json {
            writeln!(out, "{phones}")?;
            return Ok(());
        }
        let list = |k: &str| phones[k].as_array().cloned().unwrap_or_default();
        for number in list("handsets") {
            writeln!(out, "handset  {}", text(&number))?;
        }
        for (source, rules) in [("api", list("api")), ("config", list("config"))] {
            for rule in rules {
                writeln!(
                    out,
                    "{source:<8} {:<16} {}  calls {}",
                    text(&rule["match"]),
                    behaviour_text(&rule["behaviour"]),
                    rule["calls"]
                )?;
            }
        }
        for pair in list("magic") {
            writeln!(out, "magic    {:<16} {}", text(&pair[0]), text(&pair[1]))?;
        }
        Ok(())
    }

    /// `GET /sim/v1/calls?…`: one line per call, or the JSON list.
    pub async fn calls(
        &self,
        query: &[(&str, Option<String>)],
        json: bool,
        out: &mut impl Write,
    ) -> Result<(), ClientError> {
        let calls = self
            .send(
                self.http
                    .get(self.url(&format!("/sim/v1/calls?{}", form(query)))),
            )
            .await?;
        let calls = calls.as_array().cloned().unwrap_or_default();
        if json {
            writeln!(out, "{}", Value::Array(calls))?;
            return Ok(());
        }
        if calls.is_empty() {
            writeln!(out, "no calls")?;
        }
        for c in &calls {
            let code = c["state_code"]
                .as_u64()
                .map_or("-".into(), |c| c.to_string());
            writeln!(
                out,
                "{}  {:<9} stateCode {:<5} {}  {}  cdr {}",
                text(&c["session_id"]),
                text(&c["state"]),
                code,
                text(&c["callee"]),
                text(&c["accepted_at"]),
                text(&c["cdr_state"])
            )?;
        }
        Ok(())
    }

    /// `GET /sim/v1/deliveries?…`: one line per push attempt, or the JSON list.
    pub async fn deliveries(
        &self,
        query: &[(&str, Option<String>)],
        json: bool,
        out: &mut impl Write,
    ) -> Result<(), ClientError> {
        let attempts = self
            .send(
                self.http
                    .get(self.url(&format!("/sim/v1/deliveries?{}", form(query)))),
            )
            .await?;
        let attempts = attempts.as_array().cloned().unwrap_or_default();
        if json {
            writeln!(out, "{}", Value::Array(attempts))?;
            return Ok(());
        }
        if attempts.is_empty() {
            writeln!(out, "no deliveries")?;
        }
        for a in &attempts {
            let answer = match a["response_status"].as_u64() {
                Some(s) => format!("HTTP {s}"),
                None => text(&a["error"]),
            };
            writeln!(
                out,
                "{:<8} {}  {:<6} {:<10} {:<8} {:<17} {}",
                text(&a["id"]),
                text(&a["sent_at"]),
                text(&a["kind"]),
                text(&a["event_type"]),
                answer,
                text(&a["outcome"]),
                text(&a["url"])
            )?;
        }
        Ok(())
    }
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// A number in a path: `+` is literal in a path, but encoded it survives every proxy.
fn path_segment(number: &str) -> String {
    number.replace('+', "%2B")
}

/// The query string of the pairs that are set.
fn form(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    q.finish()
}

/// `busy` → `{"outcome":"busy"}`; `busy,answer` → a sequence; JSON passes through.
pub fn behaviour_json(spec: &str) -> Value {
    let spec = spec.trim();
    if spec.starts_with('{') {
        if let Ok(v) = serde_json::from_str(spec) {
            return v;
        }
    }
    let steps: Vec<Value> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|o| json!({ "outcome": o }))
        .collect();
    match steps.as_slice() {
        [one] => one.clone(),
        _ => json!({ "sequence": steps }),
    }
}

/// A behaviour as a person reads it: the bare outcome when it is only that, else its JSON.
fn behaviour_text(behaviour: &Value) -> String {
    match behaviour
        .as_object()
        .and_then(|o| o.get("outcome").filter(|_| o.len() == 1))
    {
        Some(outcome) => text(outcome),
        None => behaviour.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_behaviour_is_an_outcome_a_sequence_or_json() {
        assert_eq!(behaviour_json("busy"), json!({"outcome": "busy"}));
        assert_eq!(
            behaviour_json("busy, answer"),
            json!({"sequence": [{"outcome": "busy"}, {"outcome": "answer"}]})
        );
        let raw = r#"{"outcome":"hangup_during_playback","hangup_after_ms":4000}"#;
        assert_eq!(behaviour_json(raw)["hangup_after_ms"], 4000);
    }
}
