//! The run's bookkeeping: what became of each call request, and what the event stream said about
//! the run's calls, folded into the [`Summary`]. Fed by one task, so it needs no lock.

use std::collections::HashMap;

use serde_json::Value;

use super::report::{self, Summary};
use super::OutcomeMix;

/// What became of one call request.
pub(super) enum Placed {
    Accepted {
        share: usize,
        session_id: String,
        api_ms: u64,
    },
    Refused {
        share: usize,
        resultcode: String,
        reason: String,
        api_ms: u64,
    },
    Failed {
        share: usize,
        error: String,
    },
}

/// Which push marks a call as finished.
#[derive(Clone, Copy)]
pub(super) enum Completion {
    /// Its CDR push settling: delivered, or failed for good (a fee URL was given).
    Fee,
    /// Its disconnect status push (a status URL only).
    DisconnectPush,
    /// Its disconnect event (no push URL given: the app's own, which may be none).
    Disconnect,
}

/// Sessions not (yet) known to be this run's whose messages are kept for when they are.
const EARLY_SESSIONS: usize = 100_000;

/// The run's counts, fed by placement results and stream messages in one task.
pub(super) struct Tally {
    labels: Vec<String>,
    completion: Completion,
    calls: report::Calls,
    pushes: report::Pushes,
    /// Accepted calls of this run: finished yet?
    ours: HashMap<String, bool>,
    /// Stream messages about sessions whose acceptance has not come back yet (the stream can
    /// be faster than the HTTP answer), replayed when it does.
    early: HashMap<String, Vec<Value>>,
    receiver_ms: Vec<u64>,
    api_ms: Vec<u64>,
    missed: u64,
    first_error: Option<String>,
}

impl Tally {
    pub(super) fn new(mix: &OutcomeMix, completion: Completion) -> Tally {
        Tally {
            labels: mix.shares.iter().map(|s| s.label.clone()).collect(),
            completion,
            calls: report::Calls::default(),
            pushes: report::Pushes::default(),
            ours: HashMap::new(),
            early: HashMap::new(),
            receiver_ms: Vec::new(),
            api_ms: Vec::new(),
            missed: 0,
            first_error: None,
        }
    }

    pub(super) fn placed(&mut self, p: Placed) {
        self.calls.placed += 1;
        let share = match &p {
            Placed::Accepted { share, .. }
            | Placed::Refused { share, .. }
            | Placed::Failed { share, .. } => *share,
        };
        *self
            .calls
            .by_outcome
            .entry(self.labels[share].clone())
            .or_default() += 1;
        match p {
            Placed::Accepted {
                session_id, api_ms, ..
            } => {
                self.calls.accepted += 1;
                self.api_ms.push(api_ms);
                self.ours.insert(session_id.clone(), false);
                for m in self.early.remove(&session_id).unwrap_or_default() {
                    self.event(&m);
                }
            }
            Placed::Refused {
                resultcode,
                reason,
                api_ms,
                ..
            } => {
                self.api_ms.push(api_ms);
                *self.calls.refused.entry(resultcode.clone()).or_default() += 1;
                self.calls
                    .refusal_reasons
                    .entry(resultcode)
                    .or_insert(reason);
            }
            Placed::Failed { error, .. } => {
                self.calls.transport_errors += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }

    pub(super) fn event(&mut self, m: &Value) {
        let kind = m["kind"].as_str().unwrap_or_default();
        if matches!(kind, "lagged" | "gap") {
            let (from, to) = (m["from"].as_u64(), m["to"].as_u64());
            if let (Some(from), Some(to)) = (from, to) {
                self.missed += to.saturating_sub(from) + 1;
            }
            return;
        }
        let session = match kind {
            "push" => m["session_ids"][0].as_str(),
            _ => m["session_id"].as_str(),
        }
        .unwrap_or_default()
        .to_owned();
        if !self.ours.contains_key(&session) {
            // The stream can beat the HTTP answer by a few milliseconds. Bounded, since another
            // client's calls on the same app are never claimed: past the bound they are ignored.
            if self.early.len() < EARLY_SESSIONS || self.early.contains_key(&session) {
                self.early.entry(session).or_default().push(m.clone());
            }
            return;
        }
        match kind {
            "disconnect" => {
                let code = m["state_code"]
                    .as_u64()
                    .map_or("?".into(), |c| c.to_string());
                *self
                    .calls
                    .disconnects_by_state_code
                    .entry(code)
                    .or_default() += 1;
                if matches!(self.completion, Completion::Disconnect) {
                    self.complete(&session);
                }
            }
            "push" => self.push(m),
            _ => {}
        }
    }

    fn push(&mut self, m: &Value) {
        let p = &mut self.pushes;
        p.attempts += 1;
        let kind = m["push"].as_str().unwrap_or("?");
        *p.by_kind.entry(kind.to_owned()).or_default() += 1;
        if m["outcome"] == "delivered" {
            p.delivered += 1;
        } else {
            p.failed += 1;
        }
        if m["attempt"].as_u64().unwrap_or(1) > 1 {
            p.retries += 1;
        }
        match (m["status"].as_u64(), m["error"].as_str()) {
            (Some(status), _) => *p.by_status.entry(status.to_string()).or_default() += 1,
            (None, Some(error)) => *p.by_error.entry(error.to_owned()).or_default() += 1,
            (None, None) => {}
        }
        self.receiver_ms.push(m["latency_ms"].as_u64().unwrap_or(0));
        // A failed CDR push the policy retries is not the end: the run waits for its retries.
        let settled = m["outcome"] != "failed_will_retry";
        let finishes = match self.completion {
            Completion::Fee => kind == "fee" && settled,
            Completion::DisconnectPush => m["event_type"] == "disconnect",
            Completion::Disconnect => false,
        };
        if finishes {
            let sessions: Vec<String> = m["session_ids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            for s in sessions {
                self.complete(&s);
            }
        }
    }

    fn complete(&mut self, session: &str) {
        if let Some(done) = self.ours.get_mut(session) {
            if !*done {
                *done = true;
                self.calls.completed += 1;
            }
        }
    }

    pub(super) fn all_complete(&self) -> bool {
        self.calls.completed == self.calls.accepted
    }

    pub(super) fn progress_line(&self, planned: u64) -> String {
        let c = &self.calls;
        let refused: u64 = c.refused.values().sum();
        format!(
            "placed {}/{planned}  accepted {}  refused {refused}  completed {}  pushes {}  \
             failed {}  retries {}",
            c.placed,
            c.accepted,
            c.completed,
            self.pushes.attempts,
            self.pushes.failed,
            self.pushes.retries
        )
    }

    pub(super) fn summary(mut self, elapsed_s: f64) -> Summary {
        let mut calls = self.calls;
        calls.unfinished = calls.accepted - calls.completed;
        if let Some(error) = self.first_error {
            calls.refusal_reasons.insert("no answer".into(), error);
        }
        let mut pushes = self.pushes;
        let secs = elapsed_s.max(0.001);
        pushes.failures_per_s = pushes.failed as f64 / secs;
        pushes.retries_per_s = pushes.retries as f64 / secs;
        Summary {
            elapsed_s,
            calls,
            pushes,
            receiver_latency_ms: report::Percentiles::of(&mut self.receiver_ms),
            api_latency_ms: report::Percentiles::of(&mut self.api_ms),
            stream_missed: self.missed,
            ..Summary::default()
        }
    }
}
