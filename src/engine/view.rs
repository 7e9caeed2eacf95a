//! Read-only views of calls for the inspection API (`/sim/v1/calls`), and the CDR of a call.

use serde::{Deserialize, Serialize};

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use super::retention::ViewExtras;
use super::{CallEntry, CallMedia, Engine, KeptMedia};
use crate::audio::compose::Manifest;
use crate::audio::Playback;
use crate::call::announcement::Segment;
use crate::call::request::{CallRequest, PlayInfo};
use crate::call::scenario::Source;
use crate::call::timeline::TimelineEvent;
use crate::call::{CallState, Outcome, StateCode};
use crate::clock::{Clock, ClockMode, SimInstant, TimelineTime};
use crate::push::payload::FeeInfo;
use crate::store::{CallQuery, FeeState, StoreError, StoredCall, StoredEvent};

/// Something that happened to a call, on the simulated clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Simulated ms since start.
    pub at_ms: u64,
    /// Simulated calendar time, `yyyy-MM-dd HH:mm:ss.SSS` UTC.
    pub time: TimelineTime,
    pub event: TimelineEvent,
    /// Most details are fixed phrases, kept without a copy per call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Cow<'static, str>>,
}

impl From<&StoredEvent> for TimelineEntry {
    fn from(e: &StoredEvent) -> TimelineEntry {
        TimelineEntry {
            at_ms: e.at_ms,
            time: e.time,
            event: e.event,
            detail: e.detail.clone().map(Cow::Owned),
        }
    }
}

impl TimelineEntry {
    pub(super) fn new(
        clock: &Clock,
        at: SimInstant,
        event: TimelineEvent,
        detail: Option<impl Into<Cow<'static, str>>>,
    ) -> Self {
        TimelineEntry {
            at_ms: at.ms(),
            time: TimelineTime::new(clock.wall(at)),
            event,
            detail: detail.map(Into::into),
        }
    }
}

/// `GET /sim/v1/calls/{sessionId}`: the call's state, request, timeline and CDR. The same
/// shape for a live call and for one known only from the database (an earlier run's).
#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    pub session_id: String,
    pub app_key: String,
    pub state: CallState,
    /// What the callee did. Not recorded in the database: absent for an earlier run's call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Which rule chose the outcome: `api`, `config` (with its `match`), `magic`, `platform`
    /// (ports, frequency, blacklist) or `default`. Absent for an earlier run's call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behaviour_from: Option<Source>,
    /// Simulated time of acceptance, `yyyy-MM-dd HH:mm:ss` UTC.
    pub accepted_at: String,
    pub caller: String,
    pub callee: String,
    /// Verification calls: the request's announcement fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_type: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_tone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos_tone: Option<String>,
    /// Notifications: the segments asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play_info_list: Option<Vec<PlayInfo>>,
    pub user_data: Option<String>,
    pub status_url: Option<String>,
    pub fee_url: Option<String>,
    pub state_code: Option<u32>,
    pub state_desc: Option<&'static str>,
    pub timeline: Vec<TimelineEntry>,
    /// The announcement's parts; empty for an earlier run's call (its audio is not kept).
    pub announcement: Vec<Segment>,
    pub cdr: Option<FeeInfo>,
    pub cdr_state: FeeState,
    /// Read from the database: a call of an earlier run (not one of this run that only left
    /// memory, see `engine::retention`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_database: bool,
}

impl CallView {
    pub(super) fn of(e: &CallEntry, clock: &Clock) -> CallView {
        let ending = e.call.ending();
        let state_code = ending.map(|x| x.state_code);
        CallView {
            state: e.call.state(),
            outcome: Some(e.call.outcome().clone()),
            behaviour_from: Some(e.source.clone()),
            accepted_at: super::wall_string(clock, e.call.times().accepted),
            timeline: e.timeline.clone(),
            announcement: e.call.announcement().segments.clone(),
            status_url: e.status_url.as_deref().map(str::to_owned),
            fee_url: e.fee_url.as_deref().map(str::to_owned),
            ..CallView::common(
                &e.session_id,
                &e.request,
                state_code,
                e.fee.as_deref().cloned(),
                e.fee_state,
            )
        }
    }

    /// A call from what the database recorded: an earlier run's (`earlier`), or one of this run
    /// that left memory (`retention`), which reads the same as before it left.
    pub(super) fn stored(
        c: &StoredCall,
        events: &[StoredEvent],
        request: &CallRequest,
        earlier: bool,
    ) -> Result<CallView, StoreError> {
        let ended = c.ended.as_ref();
        let state_code = ended
            .map(|e| {
                StateCode::from_code(e.state_code).ok_or_else(|| StoreError::Corrupt {
                    column: "calls.state_code",
                    reason: format!("{} is no stateCode", e.state_code),
                })
            })
            .transpose()?;
        let cdr = ended
            .map(|e| serde_json::from_str(&e.fee_json))
            .transpose()
            .map_err(|e| StoreError::Corrupt {
                column: "calls.fee_json",
                reason: e.to_string(),
            })?;
        let extras = ended
            .and_then(|e| e.view_json.as_deref())
            .map(serde_json::from_str::<ViewExtras>)
            .transpose()
            .map_err(|e| StoreError::Corrupt {
                column: "calls.view_json",
                reason: e.to_string(),
            })?;
        let (outcome, behaviour_from, announcement) = match extras {
            Some(x) => (Some(x.outcome), Some(x.behaviour_from), x.announcement),
            None => (None, None, Vec::new()),
        };
        Ok(CallView {
            state: CallState::reached(events.iter().map(|e| e.event)),
            outcome,
            behaviour_from,
            accepted_at: c.accepted_at.clone(),
            timeline: events.iter().map(TimelineEntry::from).collect(),
            announcement,
            status_url: c.status_url.clone(),
            fee_url: c.fee_url.clone(),
            from_database: earlier,
            ..CallView::common(&c.session_id, request, state_code, cdr, c.fee_state)
        })
    }

    /// The fields a live and a stored call share.
    fn common(
        session_id: &str,
        request: &CallRequest,
        state_code: Option<StateCode>,
        cdr: Option<FeeInfo>,
        cdr_state: FeeState,
    ) -> CallView {
        let verify = request.verify();
        CallView {
            session_id: session_id.to_owned(),
            app_key: request.app_key.to_string(),
            state: CallState::Accepted,
            outcome: None,
            behaviour_from: None,
            accepted_at: String::new(),
            caller: request.display_nbr.to_string(),
            callee: request.callee_nbr.to_string(),
            language_type: verify.map(|v| v.language_type),
            verify_code: verify.map(|v| v.verify_code.to_string()),
            times: verify.map(|v| v.times),
            pre_tone: verify.map(|v| v.pre_tone.to_string()),
            pos_tone: verify
                .and_then(|v| v.pos_tone.as_ref())
                .map(|t| t.to_string()),
            play_info_list: request.notify().map(|n| n.play_info_list.clone()),
            user_data: request.user_data.clone(),
            status_url: None,
            fee_url: None,
            state_code: state_code.map(|c| c.code()),
            state_desc: state_code.map(|c| c.desc()),
            timeline: Vec::new(),
            announcement: Vec::new(),
            cdr,
            cdr_state,
            from_database: false,
        }
    }
}

/// One line of `GET /sim/v1/calls`.
#[derive(Debug, Clone, Serialize)]
pub struct CallSummary {
    pub session_id: String,
    pub app_key: String,
    pub caller: String,
    pub callee: String,
    /// What the callee does (the console's call list shows it).
    pub outcome: Outcome,
    pub state: CallState,
    pub state_code: Option<u32>,
    pub accepted_at: String,
    pub cdr_state: FeeState,
}

impl CallSummary {
    pub(super) fn of(e: &CallEntry, clock: &Clock) -> CallSummary {
        CallSummary {
            session_id: e.session_id.to_string(),
            app_key: e.request.app_key.to_string(),
            caller: e.request.display_nbr.to_string(),
            callee: e.request.callee_nbr.to_string(),
            outcome: e.call.outcome().clone(),
            state: e.call.state(),
            state_code: e.call.ending().map(|x| x.state_code.code()),
            accepted_at: super::wall_string(clock, e.call.times().accepted),
            cdr_state: e.fee_state,
        }
    }
}

impl CallSummary {
    /// A finished call that left memory, from the database; `None` without its stored outcome
    /// (an earlier run's call, which lists never showed).
    fn stored(c: &StoredCall) -> Option<CallSummary> {
        let ended = c.ended.as_ref()?;
        let extras: ViewExtras = serde_json::from_str(ended.view_json.as_deref()?).ok()?;
        let request: CallRequest = serde_json::from_str(&c.request_json).ok()?;
        Some(CallSummary {
            session_id: c.session_id.clone(),
            app_key: c.app_key.clone(),
            caller: request.display_nbr.to_string(),
            callee: request.callee_nbr.to_string(),
            outcome: extras.outcome,
            state: CallState::Released,
            state_code: Some(ended.state_code),
            accepted_at: c.accepted_at.clone(),
            cdr_state: c.fee_state,
        })
    }
}

/// Filters of `GET /sim/v1/calls`: `state`, `app` (app_key), `callee`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallFilter {
    pub state: Option<CallState>,
    pub app: Option<String>,
    pub callee: Option<String>,
}

impl CallFilter {
    pub(super) fn matches(&self, e: &CallEntry) -> bool {
        self.state.is_none_or(|s| e.call.state() == s)
            && self.app.as_deref().is_none_or(|a| *e.request.app_key == *a)
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

    /// This run's calls matching `filter`, in acceptance order: those in memory, and when
    /// durable those that left it (`retention`), read back from the database. Fails only if
    /// the database cannot be read.
    pub fn list_calls(&self, filter: &CallFilter) -> Result<Vec<CallSummary>, StoreError> {
        let (mut listed, run_start, evicted): (Vec<(u64, CallSummary)>, u64, bool) = {
            let st = self.lock();
            let listed = st
                .calls
                .values()
                .filter(|e| filter.matches(e))
                .map(|e| (e.seq, CallSummary::of(e, &self.shared.clock)))
                .collect();
            (listed, st.retention.run_start_seq, st.retention.evicted > 0)
        };
        listed.sort_unstable_by_key(|(seq, _)| *seq);
        let Some(store) = self.store().filter(|_| evicted) else {
            return Ok(listed.into_iter().map(|(_, c)| c).collect());
        };
        // Evicted calls have all ended: released.
        if filter.state.is_some_and(|s| s != CallState::Released) {
            return Ok(listed.into_iter().map(|(_, c)| c).collect());
        }
        // Read after the memory snapshot: a call evicted in between is in the database already.
        let stored = store.calls(&CallQuery {
            app_key: filter.app.clone(),
            callee: filter.callee.clone(),
            in_flight: Some(false),
            limit: None,
        })?;
        let known: std::collections::HashSet<u64> = listed.iter().map(|(seq, _)| *seq).collect();
        listed.extend(
            stored
                .iter()
                .filter(|c| c.seq > run_start && !known.contains(&c.seq))
                .filter_map(|c| Some((c.seq, CallSummary::stored(c)?))),
        );
        listed.sort_unstable_by_key(|(seq, _)| *seq);
        Ok(listed.into_iter().map(|(_, c)| c).collect())
    }

    /// Waits until the call has timeline entries past the first `after` (or, with `wait_for`,
    /// an entry of that event), at most `bound` of real time. Returns the entries past `after`
    /// and whether the wait was satisfied; `None` for an unknown session. A call that left
    /// memory (`retention`) has ended: its stored timeline is answered at once. Fails only if
    /// the database cannot be read.
    pub async fn wait_events(
        &self,
        session_id: &str,
        after: usize,
        wait_for: Option<TimelineEvent>,
        bound: Duration,
    ) -> Result<Option<(Vec<TimelineEntry>, bool)>, StoreError> {
        let past = |timeline: &[TimelineEntry]| {
            let fresh = timeline.get(after..).unwrap_or_default().to_vec();
            let done = match wait_for {
                Some(event) => timeline.iter().any(|t| t.event == event),
                None => !fresh.is_empty(),
            };
            (fresh, done)
        };
        let snapshot = || -> Option<(Vec<TimelineEntry>, bool)> {
            let st = self.lock();
            let entry = st.calls.get(st.by_session.get(session_id)?)?;
            Some(past(&entry.timeline))
        };
        let stored = || -> Result<Option<(Vec<TimelineEntry>, bool)>, StoreError> {
            Ok(self.stored_timeline(session_id)?.map(|t| past(&t)))
        };
        if snapshot().is_none() {
            return stored();
        }
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
        let waited = match tokio::time::timeout(bound, wait).await {
            Ok(result) => result,
            Err(_) => snapshot(),
        };
        match waited {
            Some(w) => Ok(Some(w)),
            // It left memory while we waited.
            None => stored(),
        }
    }

    /// What the callee heard so far, from answer: what `audio.wav` renders. `None` for an
    /// unknown call.
    pub fn call_audio(&self, session_id: &str) -> Option<CallAudio> {
        let (request, heard_ms) = {
            let st = self.lock();
            let entry = st.calls.get(st.by_session.get(session_id)?)?;
            match &entry.media {
                KeptMedia::Recompose => (entry.request.clone(), heard(&self.shared.clock, entry)),
                KeptMedia::As(media) => return Some(kept_audio(&self.shared.clock, entry, media)),
            }
        };
        // Composed outside the lock: the engine need not wait for the clips to be laid out.
        let manifest = self.shared.announcer.get()?(&request)?;
        Some(CallAudio::Announcement {
            manifest: Arc::new(manifest),
            heard_ms,
        })
    }
}

/// How long the callee has heard the call, from answer.
fn heard(clock: &Clock, entry: &CallEntry) -> u64 {
    let times = entry.call.times();
    match times.answer {
        Some(answer) => times.end.unwrap_or_else(|| clock.now()).since(answer),
        None => 0,
    }
}

/// What the callee heard, from the media the call kept.
fn kept_audio(clock: &Clock, entry: &CallEntry, media: &CallMedia) -> CallAudio {
    let heard = heard(clock, entry);
    let times = entry.call.times();
    match media {
        CallMedia::Announcement(manifest) => CallAudio::Announcement {
            manifest: manifest.clone(),
            heard_ms: heard,
        },
        CallMedia::Notification(_, playbacks) => CallAudio::Notification {
            played: entry
                .plays
                .iter()
                .filter_map(|(index, at)| {
                    let from = at.since(times.answer?);
                    Some((playbacks.get(*index)?.clone(), from))
                })
                .collect(),
            heard_ms: heard,
        },
        // A click-to-call's conversation is its recording (`recordFileDownloadUrl`).
        CallMedia::Callback(_) => CallAudio::None,
    }
}

impl Engine {
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

/// What a call's callee heard, for `audio.wav` and the announcement view.
#[derive(Debug, Clone)]
pub enum CallAudio {
    /// A verification call: its announcement, heard for `heard_ms` from answer.
    Announcement {
        manifest: Arc<Manifest>,
        heard_ms: u64,
    },
    /// A notification: each segment as it played (what it sounds like, its start from answer).
    Notification {
        played: Vec<(Playback, u64)>,
        heard_ms: u64,
    },
    /// Nothing played to a single callee (a click-to-call).
    None,
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
