//! Read-only views of calls for the inspection API (`/sim/v1/calls`), and the CDR of a call.

use serde::{Deserialize, Serialize};

use std::sync::Arc;
use std::time::Duration;

use super::{CallEntry, Engine};
use crate::audio::compose::Manifest;
use crate::call::announcement::Segment;
use crate::call::scenario::Source;
use crate::call::timeline::TimelineEvent;
use crate::call::Outcome;
use crate::clock::{Clock, ClockMode, SimInstant};
use crate::push::payload::FeeInfo;
use crate::store::FeeState;

/// Something that happened to a call, on the simulated clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Simulated ms since start.
    pub at_ms: u64,
    /// Simulated calendar time, `yyyy-MM-dd HH:mm:ss.SSS` UTC.
    pub time: String,
    pub event: TimelineEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl TimelineEntry {
    pub(super) fn new(
        clock: &Clock,
        at: SimInstant,
        event: TimelineEvent,
        detail: Option<String>,
    ) -> Self {
        TimelineEntry {
            at_ms: at.ms(),
            time: clock.wall(at).format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            event,
            detail,
        }
    }
}

/// `GET /sim/v1/calls/{sessionId}`: the call's state, request, timeline and CDR.
#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    pub session_id: String,
    pub app_key: String,
    pub state: &'static str,
    pub outcome: Outcome,
    /// Which rule chose the outcome: `api`, `config` (with its `match`), `magic`, `platform`
    /// (ports, frequency, blacklist) or `default`.
    pub behaviour_from: Source,
    pub caller: String,
    pub callee: String,
    pub language_type: i64,
    pub verify_code: String,
    pub times: u8,
    pub pre_tone: String,
    pub pos_tone: Option<String>,
    pub user_data: Option<String>,
    pub status_url: Option<String>,
    pub fee_url: Option<String>,
    pub state_code: Option<u32>,
    pub state_desc: Option<&'static str>,
    pub timeline: Vec<TimelineEntry>,
    pub announcement: Vec<Segment>,
    pub cdr: Option<FeeInfo>,
    pub cdr_state: FeeState,
}

impl CallView {
    pub(super) fn of(e: &CallEntry, _clock: &Clock) -> CallView {
        let ending = e.call.ending();
        let verify = e.request.verify();
        CallView {
            session_id: e.session_id.clone(),
            app_key: e.request.app_key.clone(),
            state: e.call.state(),
            outcome: e.call.outcome().clone(),
            behaviour_from: e.source.clone(),
            caller: e.request.display_nbr.to_string(),
            callee: e.request.callee_nbr.to_string(),
            language_type: verify.language_type,
            verify_code: verify.verify_code.to_string(),
            times: verify.times,
            pre_tone: verify.pre_tone.to_string(),
            pos_tone: verify.pos_tone.as_ref().map(|t| t.to_string()),
            user_data: e.request.user_data.clone(),
            status_url: e.status_url.clone(),
            fee_url: e.fee_url.clone(),
            state_code: ending.map(|x| x.state_code.code()),
            state_desc: ending.map(|x| x.state_code.desc()),
            timeline: e.timeline.clone(),
            announcement: e.call.announcement().segments.clone(),
            cdr: e.fee.clone(),
            cdr_state: e.fee_state,
        }
    }
}

/// One line of `GET /sim/v1/calls`.
#[derive(Debug, Clone, Serialize)]
pub struct CallSummary {
    pub session_id: String,
    pub app_key: String,
    pub callee: String,
    pub state: &'static str,
    pub state_code: Option<u32>,
    pub accepted_at: String,
    pub cdr_state: FeeState,
}

impl CallSummary {
    pub(super) fn of(e: &CallEntry, clock: &Clock) -> CallSummary {
        CallSummary {
            session_id: e.session_id.clone(),
            app_key: e.request.app_key.clone(),
            callee: e.request.callee_nbr.to_string(),
            state: e.call.state(),
            state_code: e.call.ending().map(|x| x.state_code.code()),
            accepted_at: super::wall_string(clock, e.call.times().accepted),
            cdr_state: e.fee_state,
        }
    }
}

/// Filters of `GET /sim/v1/calls`: `state`, `app` (app_key), `callee`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallFilter {
    pub state: Option<String>,
    pub app: Option<String>,
    pub callee: Option<String>,
}

impl CallFilter {
    pub(super) fn matches(&self, e: &CallEntry) -> bool {
        self.state.as_deref().is_none_or(|s| e.call.state() == s)
            && self.app.as_deref().is_none_or(|a| e.request.app_key == a)
            && self
                .callee
                .as_deref()
                .is_none_or(|c| e.request.callee_nbr == c)
    }
}

impl Engine {
    /// A snapshot of one call for the inspection API.
    pub fn call_view(&self, session_id: &str) -> Option<CallView> {
        let st = self.lock();
        let seq = st.by_session.get(session_id)?;
        let entry = st.calls.get(seq)?;
        Some(CallView::of(entry, &self.shared.clock))
    }

    /// Calls matching `filter`, in acceptance order.
    pub fn list_calls(&self, filter: &CallFilter) -> Vec<CallSummary> {
        let st = self.lock();
        st.calls
            .values()
            .filter(|e| filter.matches(e))
            .map(|e| CallSummary::of(e, &self.shared.clock))
            .collect()
    }

    /// Waits until the call has timeline entries past the first `after` (or, with `wait_for`,
    /// an entry of that event), at most `bound` of real time. Returns the entries past `after`
    /// and whether the wait was satisfied; `None` for an unknown session.
    pub async fn wait_events(
        &self,
        session_id: &str,
        after: usize,
        wait_for: Option<TimelineEvent>,
        bound: Duration,
    ) -> Option<(Vec<TimelineEntry>, bool)> {
        let snapshot = || -> Option<(Vec<TimelineEntry>, bool)> {
            let st = self.lock();
            let entry = st.calls.get(st.by_session.get(session_id)?)?;
            let fresh = entry.timeline.get(after..).unwrap_or_default().to_vec();
            let done = match wait_for {
                Some(event) => entry.timeline.iter().any(|t| t.event == event),
                None => !fresh.is_empty(),
            };
            Some((fresh, done))
        };
        let wait = async {
            loop {
                let changed = self.shared.events_changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                let (fresh, done) = snapshot()?;
                if done {
                    return Some((fresh, true));
                }
                changed.await;
            }
        };
        match tokio::time::timeout(bound, wait).await {
            Ok(result) => result,
            Err(_) => snapshot(),
        }
    }

    /// The call's announcement and how much of it the callee heard so far (ms from answer;
    /// 0 if the call was never answered): what `audio.wav` renders.
    pub fn call_audio(&self, session_id: &str) -> Option<(Arc<Manifest>, u64)> {
        let st = self.lock();
        let entry = st.calls.get(st.by_session.get(session_id)?)?;
        let times = entry.call.times();
        let heard = match times.answer {
            Some(answer) => times
                .end
                .unwrap_or_else(|| self.shared.clock.now())
                .since(answer),
            None => 0,
        };
        Some((entry.manifest.clone(), heard))
    }

    /// The clock's state for `GET /sim/v1/clock`.
    pub fn clock_view(&self) -> ClockView {
        let clock = &self.shared.clock;
        let now = clock.now();
        ClockView {
            mode: clock.mode(),
            now_ms: now.ms(),
            now: clock
                .wall(now)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            start: clock
                .start()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            next_deadline_ms: self.next_deadline().map(SimInstant::ms),
        }
    }
}

/// `GET /sim/v1/clock`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClockView {
    pub mode: ClockMode,
    pub now_ms: u64,
    pub now: String,
    pub start: String,
    pub next_deadline_ms: Option<u64>,
}
