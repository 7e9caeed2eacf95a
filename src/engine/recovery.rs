//! Carrying on after a restart (or a crash): what the database says was unfinished.
//!
//! Nothing answered "0" is lost. At start-up, in this order:
//!
//! 1. every call with an owed status push comes back, its owed pushes queued again in their
//!    original order and under their original ids (so the idempotency key is unchanged);
//! 2. calls that were still in progress are released now, as a platform restart would: a
//!    `disconnect` with stateCode 8000 ("Internal error.", a Dialtone decision) and a CDR whose
//!    times are those the previous run recorded, ending now;
//! 3. CDR pushes that were owed resume on their retry schedule (an attempt that was due while
//!    Dialtone was down goes out at once);
//! 4. ended calls whose CDR never reached the outbox are queued again.
//!
//! Simulated time starts afresh in each run; recorded times are kept as calendar times, and the
//! clock's start is moved so that the new run's times come after them (`app::resume_clock`).

use std::collections::HashMap;
use std::sync::Arc;

use super::delivery::{Delivery, StatusOut};
use super::{wall_string, CallEntry, CallMedia, Engine, Outbound, State, TimelineEntry, TimerKey};
use crate::audio::compose::Manifest;
use crate::call::request::CallRequest;
use crate::call::scenario::Source;
use crate::call::timeline::TimelineEvent;
use crate::call::{Call, CallTimes, Ending, Outcome, StateCode};
use crate::clock::{PlatformTime, SimInstant};
use crate::push::journal::PushKind;
use crate::push::payload::{CdrFacts, FeeInfo};
use crate::store::{FeeState, Recovered, StoredCall, StoredEvent, Write};

/// The stored form of a call's request (`calls.request_json`): everything but the audio manifest.
pub(super) fn request_json(r: &CallRequest) -> String {
    serde_json::to_string(r).expect("a CallRequest is plain strings and numbers")
}

/// A stored request, and the (empty) announcement a restored call gets: its audio is not rebuilt.
fn parse_request(c: &StoredCall) -> Option<(CallRequest, CallMedia)> {
    let request: CallRequest = match serde_json::from_str(&c.request_json) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(session = %c.session_id, error = %e, "unreadable stored request");
            return None;
        }
    };
    let manifest = Manifest {
        language: String::new(),
        times: request.verify().map_or(0, |v| v.times),
        segments: Vec::new(),
        release_ms: Some(0),
        max_duration_ms: 0,
    };
    Some((request, CallMedia::Announcement(Arc::new(manifest))))
}

impl Engine {
    /// Takes over what a previous run left unfinished (module docs). Call once, at start-up,
    /// before serving.
    pub fn recover(&self, r: Recovered) {
        let now = self.shared.clock.now();
        let mut out = Outbound::default();
        let mut st = self.lock();
        st.call_seq = st.call_seq.max(r.max_seq);

        // 1. Calls with owed status pushes, and those still in progress, back in memory.
        let mut owed_status: HashMap<String, Vec<StatusOut>> = HashMap::new();
        let mut owed_fee = Vec::new();
        for d in r.owed_deliveries {
            match d.kind {
                PushKind::Status => owed_status
                    .entry(d.session_ids.first().cloned().unwrap_or_default())
                    .or_default()
                    .push(StatusOut {
                        id: d.id.clone(),
                        event_type: d.event_type,
                        body: d.body.clone().into(),
                    }),
                PushKind::Fee => owed_fee.push(d),
            }
        }
        let mut in_flight = Vec::new();
        for c in r.calls_in_flight {
            let seq = c.call.seq;
            if self.restore(&mut st, &c.call, &c.events, FeeState::Pending) {
                st.deliveries
                    .queue(seq)
                    .restore(c.status_pushes, Vec::new());
                in_flight.push(seq);
            }
        }
        // Calls named by owed pushes: their CDR is already in a push (or will be, once their
        // status pushes are done).
        let named: Vec<String> = owed_status
            .keys()
            .cloned()
            .chain(owed_fee.iter().flat_map(|d| d.session_ids.iter().cloned()))
            .collect();
        for session in named {
            if st.by_session.contains_key(session.as_str()) {
                continue;
            }
            match self.store().map(|s| s.call(&session)) {
                Some(Ok(Some(call))) => {
                    let fee_state = call.fee_state;
                    self.restore(&mut st, &call, &[], fee_state);
                }
                _ => tracing::warn!(%session, "an owed push names a call the database lacks"),
            }
        }
        for (session, pushes) in owed_status {
            let Some(seq) = st.by_session.get(session.as_str()).copied() else {
                continue;
            };
            st.deliveries.queue(seq).restore(0, pushes);
        }

        // 2. Calls cut off by the restart end now.
        for seq in &in_flight {
            self.release_restored(&mut st, *seq, now);
        }

        // 3. Owed CDR pushes resume where their schedule left them.
        let wall_now = self.shared.clock.wall(now);
        for d in owed_fee {
            let calls: Vec<u64> = d
                .session_ids
                .iter()
                .filter_map(|s| st.by_session.get(s.as_str()).copied())
                .collect();
            let next_at = d
                .next_attempt_at
                .as_deref()
                .and_then(|t| PlatformTime::parse(t).ok());
            let due = match (d.attempt, next_at) {
                (0, _) | (_, None) => now,
                (_, Some(next)) => {
                    let wait = (next.utc() - wall_now).num_milliseconds().max(0) as u64;
                    now.plus_ms(wait)
                }
            };
            let id = d.id.clone();
            st.deliveries.restore(
                id.clone(),
                Delivery::restored(
                    d.kind,
                    d.app_key,
                    d.url,
                    d.body.into(),
                    d.event_type,
                    calls,
                    d.session_ids,
                    d.attempt,
                ),
            );
            if due == now && d.attempt == 0 {
                self.start_attempt(&mut st, &id, &mut out);
            } else {
                self.arm(&mut st, due, TimerKey::PushRetry(id));
            }
        }

        // 4. CDRs that never reached the outbox, and everything restored, move on.
        for c in r.cdrs_unsent {
            match st.by_session.get(c.session_id.as_str()).copied() {
                // Restored above for an owed status push, its CDR said `queued`: the journal
                // writes a push's last attempt after the engine has queued the CDR, so a kill
                // between the two leaves it so. It is in no owed push: queue it again too.
                Some(seq) => {
                    if let Some(entry) = st.calls.get_mut(&seq) {
                        if entry.fee_state == FeeState::Queued {
                            entry.fee_state = FeeState::Pending;
                        }
                    }
                }
                // Pending: `pump_status` queues the CDR again.
                None => {
                    self.restore(&mut st, &c, &[], FeeState::Pending);
                }
            }
        }
        let mut restored: Vec<u64> = st.calls.keys().copied().collect();
        restored.sort_unstable();
        st.retention.run_start_seq = r.max_seq;
        for seq in restored {
            // Every restored call has ended (or was just released): retention may take it.
            st.retention.ended(seq, now);
            self.pump_status(&mut st, seq, now, &mut out);
        }
        drop(st);
        self.send(out);
    }

    /// Brings a stored call back into memory, ended or (if `events` are its in-progress
    /// timeline) about to be released, its CDR in `fee_state` (`Pending` queues it again once
    /// its status pushes are done). Returns false if the call cannot be restored (its app is no
    /// longer configured, or its row is unreadable).
    fn restore(
        &self,
        st: &mut State,
        c: &StoredCall,
        events: &[StoredEvent],
        fee_state: FeeState,
    ) -> bool {
        let cfg = &self.shared.config;
        let (Some((request, media)), Some(_)) = (parse_request(c), cfg.app(&c.app_key)) else {
            tracing::warn!(session = %c.session_id, "cannot restore a stored call: app or request missing");
            return false;
        };
        let fee: Option<FeeInfo> = c
            .ended
            .as_ref()
            .and_then(|e| serde_json::from_str(&e.fee_json).ok());
        let ending = c.ended.as_ref().map(|e| Ending {
            state_code: StateCode::from_code(e.state_code).unwrap_or(StateCode::InternalError),
            fail_reason: StateCode::from_code(e.state_code)
                .unwrap_or(StateCode::InternalError)
                .fail_reason(),
            readings: e.readings,
            code_ms: e.code_ms,
            ivr_start: None,
            ivr_path: String::new(),
            party: None,
        });
        let call = Call::restored(
            Outcome::ANSWER,
            CallTimes::default(),
            ending.unwrap_or(Ending {
                state_code: StateCode::InternalError,
                fail_reason: StateCode::InternalError.fail_reason(),
                readings: 0,
                code_ms: 0,
                ivr_start: None,
                ivr_path: String::new(),
                party: None,
            }),
            &self.shared.call_timings,
        );
        let accepted = PlatformTime::parse(&c.accepted_at)
            .map(PlatformTime::utc)
            .unwrap_or_else(|_| self.shared.clock.wall(SimInstant::ZERO));
        let entry = CallEntry {
            seq: c.seq,
            session_id: c.session_id.as_str().into(),
            accepted_at: accepted,
            request,
            media: super::KeptMedia::As(media),
            source: Source::Platform,
            status_url: c.status_url.as_deref().map(Arc::from),
            fee_url: c.fee_url.as_deref().map(Arc::from),
            call,
            timeline: events.iter().map(TimelineEntry::from).collect(),
            fee_state,
            fee: fee.map(Box::new),
            recording: None,
            plays: Vec::new(),
            handsets: Vec::new(),
        };
        st.by_session.insert(entry.session_id.clone(), c.seq);
        st.calls.insert(c.seq, Box::new(entry));
        true
    }

    /// Ends a restored in-progress call now: stateCode 8000, a disconnect push and a CDR whose
    /// times are the recorded ones. "Now" is never before the latest recorded time: the clock
    /// resumes after it (`app::resume_clock`), and should a recorded time still lie ahead, the
    /// release is dated then, so a CDR never ends before its call started.
    fn release_restored(&self, st: &mut State, seq: u64, now: SimInstant) {
        let clock = &self.shared.clock;
        let cfg = &self.shared.config;
        let Some(entry) = st.calls.get_mut(&seq) else {
            return;
        };
        let latest = entry
            .timeline
            .iter()
            .map(|e| PlatformTime::new(e.time.utc()))
            .max();
        let now = match latest {
            Some(latest) => {
                let ahead = (latest.utc() - clock.wall(now)).num_milliseconds();
                now.plus_ms(u64::try_from(ahead).unwrap_or(0))
            }
            None => now,
        };
        let code = StateCode::InternalError;
        // Timeline times carry milliseconds; the CDR's are whole seconds.
        let recorded = |event: TimelineEvent| -> Option<String> {
            let e = entry.timeline.iter().find(|e| e.event == event)?;
            Some(PlatformTime::new(e.time.utc()).to_string())
        };
        let end = wall_string(clock, now);
        let icid = entry.icid();
        let fee = FeeInfo::new(CdrFacts {
            sp_id: cfg.sp_id_of(&entry.request.app_key),
            app_key: &entry.request.app_key,
            icid: &icid,
            session_id: &entry.session_id,
            display_nbr: entry.request.display_nbr.as_str(),
            callee_nbr: entry.request.callee_nbr.as_str(),
            user_data: entry.request.user_data.as_deref(),
            host_name: &cfg.platform.host_name,
            callout: recorded(TimelineEvent::Callout),
            alerting: recorded(TimelineEvent::Alerting),
            answer: recorded(TimelineEvent::Answer),
            end: end.clone(),
            state_code: Some(code),
            fail_reason: None,
            readings: 0,
            code_ms: 0,
            ivr_start: None,
            ivr_path: None,
            forwarded: None,
            recording: None,
        });
        let detail = format!(
            "stateCode {}: {} (Dialtone restarted)",
            code.code(),
            code.desc()
        );
        self.note(
            entry,
            TimelineEntry::new(clock, now, TimelineEvent::Disconnect, Some(detail)),
        );
        self.persist(|| Write::CallEnded {
            session_id: entry.session_id.to_string(),
            state_code: code.code(),
            ended_at: end,
            readings: 0,
            code_ms: 0,
            fee: Box::new(fee.clone()),
            // An earlier run's call: what it did was not recorded (the view leaves it out).
            view_json: None,
        });
        entry.fee = Some(Box::new(fee));
        entry.fee_state = FeeState::Pending;
        let queue = st.deliveries.queue(seq);
        self.queue_status(
            entry,
            queue,
            crate::call::StatusEvent::Disconnect { state_code: code },
            crate::call::Leg::A,
            now,
        );
    }
}
