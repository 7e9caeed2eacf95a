//! Reconciliation (`GET /sim/v1/reports/reconciliation`, `dialtone report`): per app, what was
//! accepted against what reached the app, the counts an operations team reconciles.
//!
//! With a database the report covers every run recorded there; with `--ephemeral` it is
//! computed from memory, in the same shape, with the same rules (`store::AppReconciliation`).

use std::collections::BTreeMap;

use super::{CallView, Engine, TimelineEntry};
use crate::call::request::CallRequest;
use crate::call::timeline::TimelineEvent;
use crate::clock::PlatformTime;
use crate::store::{AppReconciliation, FeeState, StoreError};

/// A bad `from`/`to`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReportError {
    #[error("`{field}` must be a time like 2026-03-14 10:15:31 (UTC), not `{value}`")]
    BadTime { field: &'static str, value: String },
    #[error("reading the database: {0}")]
    Store(String),
}

/// A reconciliation bound, `None` when not given.
fn parse_bound(
    field: &'static str,
    value: Option<&str>,
) -> Result<Option<PlatformTime>, ReportError> {
    value
        .map(|v| {
            PlatformTime::parse(v).map_err(|_| ReportError::BadTime {
                field,
                value: v.to_owned(),
            })
        })
        .transpose()
}

impl Engine {
    /// A call known only to the database (an earlier run's), for `GET /sim/v1/calls/{id}`: the
    /// request, how it ended, its timeline and CDR, as recorded. `None` when ephemeral or unknown;
    /// the error if the database cannot be read (not "unknown": that would be a false 404).
    pub fn stored_call(&self, session_id: &str) -> Result<Option<CallView>, StoreError> {
        let Some(store) = self.store() else {
            return Ok(None);
        };
        let Some(call) = store.call(session_id)? else {
            return Ok(None);
        };
        let events = store.call_events(session_id)?;
        let request: CallRequest =
            serde_json::from_str(&call.request_json).map_err(|e| StoreError::Corrupt {
                column: "calls.request_json",
                reason: e.to_string(),
            })?;
        let earlier = call.seq <= self.lock().retention.run_start_seq;
        CallView::stored(&call, &events, &request, earlier).map(Some)
    }

    /// The stored timeline of a call this run no longer holds in memory; `None` when ephemeral
    /// or unknown.
    pub(super) fn stored_timeline(
        &self,
        session_id: &str,
    ) -> Result<Option<Vec<TimelineEntry>>, StoreError> {
        let Some(store) = self.store() else {
            return Ok(None);
        };
        if store.call(session_id)?.is_none() {
            return Ok(None);
        }
        let events = store.call_events(session_id)?;
        Ok(Some(events.iter().map(TimelineEntry::from).collect()))
    }

    /// A verification call of this run that left memory (`retention`), for its audio: its
    /// request, and how long the callee heard (answer to release, from the stored timeline).
    /// `None` when ephemeral, unknown, an earlier run's or not a verification call.
    pub fn evicted_verify_call(
        &self,
        session_id: &str,
    ) -> Result<Option<(CallRequest, u64)>, StoreError> {
        let Some(store) = self.store() else {
            return Ok(None);
        };
        let Some(call) = store.call(session_id)? else {
            return Ok(None);
        };
        if call.seq <= self.lock().retention.run_start_seq || call.ended.is_none() {
            return Ok(None);
        }
        let request: CallRequest =
            serde_json::from_str(&call.request_json).map_err(|e| StoreError::Corrupt {
                column: "calls.request_json",
                reason: e.to_string(),
            })?;
        if request.verify().is_none() {
            return Ok(None);
        }
        let events = store.call_events(session_id)?;
        let at = |event: TimelineEvent| events.iter().find(|e| e.event == event).map(|e| e.at_ms);
        let heard = match (at(TimelineEvent::Answer), at(TimelineEvent::Disconnect)) {
            (Some(answer), Some(end)) => end.saturating_sub(answer),
            _ => 0,
        };
        Ok(Some((request, heard)))
    }

    /// Calls accepted in `[from, to)` (simulated UTC, `yyyy-MM-dd HH:mm:ss`), per app.
    pub fn reconciliation(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Vec<AppReconciliation>, ReportError> {
        let from_time = parse_bound("from", from)?;
        let to_time = parse_bound("to", to)?;
        if let Some(store) = self.store() {
            return store
                .reconciliation(from, to)
                .map_err(|e| ReportError::Store(e.to_string()));
        }
        let clock = &self.shared.clock;
        let st = self.lock();
        let mut apps: BTreeMap<String, AppReconciliation> = BTreeMap::new();
        for e in st.calls.values() {
            let times = e.call.times();
            let accepted_at = PlatformTime::new(clock.wall(times.accepted));
            let after_from = from_time.is_none_or(|f| accepted_at >= f);
            let before_to = to_time.is_none_or(|t| accepted_at < t);
            if !(after_from && before_to) {
                continue;
            }
            let r = apps
                .entry(e.request.app_key.to_string())
                .or_insert_with(|| AppReconciliation {
                    app_key: e.request.app_key.to_string(),
                    ..AppReconciliation::default()
                });
            r.accepted += 1;
            r.placed += u64::from(times.callout.is_some());
            r.rang += u64::from(times.alerting.is_some());
            r.answered += u64::from(times.answer.is_some());
            match e.call.ending().map(|x| x.state_code.code()) {
                None => r.in_progress += 1,
                Some(0) => r.played_in_full += 1,
                Some(8017) => r.hung_up_early += 1,
                Some(code) => *r.failed_by_reason.entry(code).or_default() += 1,
            }
            if e.fee.is_some() {
                r.cdrs_generated += 1;
                match e.fee_state {
                    FeeState::Delivered => r.cdrs_delivered += 1,
                    FeeState::Abandoned => r.cdrs_abandoned += 1,
                    FeeState::NoUrl => r.cdrs_not_pushed += 1,
                    FeeState::Pending | FeeState::Queued => r.cdrs_owed += 1,
                }
            }
        }
        Ok(apps.into_values().collect())
    }
}
