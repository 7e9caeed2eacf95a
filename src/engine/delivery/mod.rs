//! How a call's events become pushes: strictly ordered per call (spec §6.2), CDRs batched by app,
//! URL and `callEndTime` (spec §7.2), retries as timers on the simulated clock, every attempt
//! journaled (spec §9). The retry schedules are configuration data ([`crate::push::retry`]);
//! this unit owns the bookkeeping: each call's [`StatusQueue`], the deliveries in progress, CDR
//! batches, delayed and reordered attempts. Payloads and CDRs are laid out in
//! [`crate::push::payload`]; attempts run on the [`crate::push::dispatch::Dispatcher`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use hyper::body::Bytes;

use super::inbox::Finished;
use super::{CallEntry, Engine, Outbound, State, TimelineEntry, TimerKey};
use crate::call::timeline::TimelineEvent;
use crate::call::{Leg, StatusEvent};
use crate::clock::{Clock, ClockMode, SimInstant};
use crate::config::Config;
use crate::events::{PushAttempt, SimEvent};
use crate::push::faults::{FaultKind, Faults, Target};
use crate::push::journal::{DeliveryOutcome, JournalEntry, PushKind};
use crate::push::payload::{
    to_body, CdrFacts, EventType, FeeInfo, FeePush, ForwardedLeg, RecordFacts, StatusInfo,
    StatusPush,
};
use crate::push::transport::PushJob;
use crate::store::{FeeState, Write};

/// At most this many CDRs share one push (spec §7.1).
const MAX_CDRS_PER_PUSH: usize = 50;

/// One call's status pushes: queued in event order, at most one on the wire (spec §6.2).
/// Kept here rather than on the call, so the call entry holds the call and nothing of its
/// delivery; dropped once the call has ended and its last status push is done.
#[derive(Default)]
pub(super) struct StatusQueue {
    waiting: VecDeque<StatusOut>,
    /// One of the call's pushes is on the wire or waiting to retry.
    busy: bool,
    /// Status pushes created so far: numbers the next one.
    created: u32,
    /// A status push held back by an `out_of_order` fault until the next event is queued.
    held: Option<String>,
    /// The push the `out_of_order` fault was last decided for (once per push).
    reorder_checked: Option<String>,
}

impl StatusQueue {
    /// Puts back pushes a previous run left owed, in id order, and numbers new ones after
    /// `created` (the call's highest push number in the outbox) and after them.
    pub(super) fn restore(&mut self, created: u32, mut owed: Vec<StatusOut>) {
        // `s<call>.<n>`: n orders a call's pushes (at most four, so one digit).
        owed.sort_by(|a, b| a.id.cmp(&b.id));
        let owed_max = owed
            .iter()
            .filter_map(|p| p.id.rsplit('.').next()?.parse().ok())
            .max()
            .unwrap_or(0);
        self.created = self.created.max(created).max(owed_max);
        self.waiting.extend(owed);
    }
}

/// A status push waiting its turn (already in the database's outbox).
pub(super) struct StatusOut {
    /// `s<call>.<n>`: the n-th status push of the call.
    pub(super) id: String,
    pub(super) event_type: EventType,
    /// Shared with the attempts that send it, never copied.
    pub(super) body: Bytes,
}

/// All pushes that are queued, on the wire or waiting to retry.
///
/// Ids are derived from event order, never from the order in which the network answers, so a
/// seeded manual-clock run names, signs and journals everything identically.
#[derive(Default)]
pub(super) struct Deliveries {
    /// Each call's status pushes, by call sequence number.
    queues: super::SeqMap<StatusQueue>,
    active: HashMap<String, Delivery>,
    /// CDRs collecting during their batch window, by batch key.
    batches: HashMap<String, FeeBatch>,
    /// Attempts held back by a `delay` fault until their timer fires.
    delayed: HashMap<String, PushJob>,
    /// Status pushes sent after the call's next one by an `out_of_order` fault.
    reordered: HashSet<String>,
    in_flight: usize,
}

impl Deliveries {
    /// The status queue of call `seq`.
    pub(super) fn queue(&mut self, seq: u64) -> &mut StatusQueue {
        self.queues.entry(seq).or_default()
    }

    /// Whether call `seq` still has status pushes queued or in progress.
    pub(super) fn owes_status(&self, seq: u64) -> bool {
        self.queues.contains_key(&seq)
    }

    /// Puts back a delivery carried over from a previous run.
    pub(super) fn restore(&mut self, id: String, d: Delivery) {
        self.active.insert(id, d);
    }

    /// Attempts handed to the transport and not yet finished.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Drops everything of call `seq`, whose first `held` attempts were counted in flight but
    /// never handed to the transport (see `Engine::confirm`).
    pub(super) fn forget_call(&mut self, seq: u64, held: usize) {
        self.queues.remove(&seq);
        let gone: Vec<String> = self
            .active
            .iter()
            .filter(|(_, d)| d.calls == [seq])
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.active.remove(&id);
            self.delayed.remove(&id);
            self.reordered.remove(&id);
        }
        self.in_flight = self.in_flight.saturating_sub(held);
    }
}

/// What a batch of push results leaves to do once the lock is released
/// ([`Engine::after_results`]).
#[derive(Default)]
pub(super) struct AfterResults {
    /// The attempts, for the journal, in the order they were handled.
    journal: Vec<Arc<JournalEntry>>,
    /// The pushes that follow.
    out: Outbound,
    /// A delivery changed: long-polls re-check.
    changed: bool,
    /// No push is on the wire any more.
    idle: bool,
}

/// One push (one body), across its attempts.
pub(super) struct Delivery {
    kind: PushKind,
    app_key: Arc<str>,
    url: String,
    body: Bytes,
    event_type: EventType,
    /// The calls concerned, by sequence number: one for status, up to 50 for a CDR batch.
    calls: Vec<u64>,
    session_ids: Vec<String>,
    attempt: u32,
    sent_at: SimInstant,
    /// Re-sent by hand (`POST /sim/v1/deliveries/{id}/redeliver`): one attempt, no retries, and
    /// the call's own ordered pushes are left alone.
    manual: bool,
}

impl Delivery {
    /// A delivery carried over from a previous run, `attempt` attempts made.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn restored(
        kind: PushKind,
        app_key: String,
        url: String,
        body: Bytes,
        event_type: EventType,
        calls: Vec<u64>,
        session_ids: Vec<String>,
        attempt: u32,
    ) -> Delivery {
        Delivery {
            kind,
            app_key: app_key.into(),
            url,
            body,
            event_type,
            calls,
            session_ids,
            attempt,
            sent_at: SimInstant::ZERO,
            manual: false,
        }
    }
}

/// CDRs that share app, fee URL and `callEndTime` (spec §7.2), collecting until the window ends.
struct FeeBatch {
    app_key: Arc<str>,
    url: String,
    calls: Vec<u64>,
}

/// The `X-Dialtone-Idempotency-Key` of a push: its first call's sessionId and its eventType.
/// The same on every attempt and after a restart, and unique across calls, so a receiver can
/// drop a duplicate it has already processed.
pub(super) fn idempotency_key(session_ids: &[String], event_type: EventType) -> String {
    format!(
        "{}/{}",
        session_ids.first().map_or("", String::as_str),
        event_type
    )
}

impl Engine {
    /// Builds the status push for `event`, writes it to the outbox and queues it behind the
    /// call's earlier ones.
    pub(super) fn queue_status(
        &self,
        entry: &CallEntry,
        queue: &mut StatusQueue,
        event: StatusEvent,
        leg: Leg,
        at: SimInstant,
    ) {
        let Some(url) = entry.status_url.as_deref().map(str::to_owned) else {
            return;
        };
        let clock = &self.shared.clock;
        let (state_code, state_desc) = match &event {
            StatusEvent::Disconnect { state_code } => {
                (Some(state_code.code()), Some(state_code.desc()))
            }
            _ => (None, None),
        };
        let event_type = EventType::from(&event);
        let (parties, digit_info) = match &event {
            // Spec §11.5: collectInfo names no parties, as Huawei's sample.
            StatusEvent::CollectInfo { digits } => (false, Some(digits.as_str())),
            _ => (true, None),
        };
        let callback = entry.request.callback();
        // Spec §12.4: B's events name B's display number and B; everything else the request's.
        let (caller, called) = match (leg, callback) {
            (Leg::B, Some(c)) => (c.display_callee_nbr.as_str(), c.b_nbr.as_str()),
            _ => (
                entry.request.display_nbr.as_str(),
                entry.request.callee_nbr.as_str(),
            ),
        };
        let party_type = match &event {
            StatusEvent::Disconnect { .. }
                if callback.is_some_and(|c| c.party_type_in_disconnect) =>
            {
                entry.call.ending().and_then(|e| e.party)
            }
            _ => None,
        };
        let push = StatusPush {
            event_type,
            status_info: StatusInfo {
                session_id: &entry.session_id,
                timestamp: super::wall_string(clock, at),
                caller: parties.then_some(caller),
                called: parties.then_some(called),
                digit_info,
                user_data: entry.request.user_data.as_deref(),
                state_code,
                state_desc,
                party_type,
            },
        };
        let body = Bytes::from(to_body(&push));
        queue.created += 1;
        let id = format!("s{}.{}", entry.seq, queue.created);
        let session_ids = vec![entry.session_id.to_string()];
        self.persist(|| Write::DeliveryQueued {
            id: id.clone(),
            kind: PushKind::Status,
            app_key: entry.request.app_key.to_string(),
            url,
            body: body.to_vec(),
            event_type,
            idempotency_key: idempotency_key(&session_ids, event_type),
            session_ids,
        });
        queue.waiting.push_back(StatusOut {
            id,
            event_type,
            body,
        });
    }

    /// Sends the call's next status push if none is on its way; once all are done and the call
    /// has ended, queues its CDR (spec §7.2: the app sees the disconnect before the CDR).
    pub(super) fn pump_status(
        &self,
        st: &mut State,
        seq: u64,
        now: SimInstant,
        out: &mut Outbound,
    ) {
        let Some(entry) = st.calls.get(&seq) else {
            return;
        };
        let Some(queue) = st.deliveries.queues.get_mut(&seq) else {
            // Nothing was ever queued (no status URL): once ended, its CDR may go.
            if entry.fee.is_some() && entry.fee_state == FeeState::Pending {
                self.queue_fee(st, seq, now);
            }
            return;
        };
        if queue.busy {
            return;
        }
        if !st.faults.is_empty() && !queue.waiting.is_empty() {
            self.reorder(entry, queue, &mut st.faults, &mut st.deliveries.reordered);
            if queue.held.is_some() {
                return;
            }
        }
        if let Some(next) = queue.waiting.pop_front() {
            let Some(url) = entry.status_url.as_deref().map(str::to_owned) else {
                return;
            };
            queue.busy = true;
            let delivery = Delivery {
                kind: PushKind::Status,
                app_key: entry.request.app_key.clone(),
                url,
                body: next.body,
                event_type: next.event_type,
                calls: vec![seq],
                session_ids: vec![entry.session_id.to_string()],
                attempt: 0,
                sent_at: now,
                manual: false,
            };
            st.deliveries.active.insert(next.id.clone(), delivery);
            self.start_attempt(st, &next.id, out);
            return;
        }
        if entry.fee.is_some() {
            // Ended, and its last status push is done: nothing more will be queued.
            st.deliveries.queues.remove(&seq);
            if entry.fee_state == FeeState::Pending {
                self.queue_fee(st, seq, now);
            }
        }
    }

    fn queue_fee(&self, st: &mut State, seq: u64, now: SimInstant) {
        let clock = &self.shared.clock;
        let Some(entry) = st.calls.get_mut(&seq) else {
            return;
        };
        let fee_state = |state| Write::FeeState {
            session_ids: vec![entry.session_id.to_string()],
            state,
        };
        let (Some(url), Some(fee)) = (
            entry.fee_url.as_deref().map(str::to_owned),
            entry.fee.as_ref(),
        ) else {
            self.persist(|| fee_state(FeeState::NoUrl));
            entry.fee_state = FeeState::NoUrl;
            let note = "no feeUrl and no app fee_url: the CDR is kept, not pushed";
            self.note(
                entry,
                TimelineEntry::new(clock, now, TimelineEvent::Note, Some(note)),
            );
            return;
        };
        self.persist(|| fee_state(FeeState::Queued));
        entry.fee_state = FeeState::Queued;
        let key = format!("{}\n{}\n{}", entry.request.app_key, url, fee.call_end_time);
        if let Some(batch) = st.deliveries.batches.get_mut(&key) {
            batch.calls.push(seq);
            return;
        }
        let batch = FeeBatch {
            app_key: entry.request.app_key.clone(),
            url,
            calls: vec![seq],
        };
        st.deliveries.batches.insert(key.clone(), batch);
        let due = now.plus_ms(self.shared.config.fee_push.batch_window_ms);
        self.arm(st, due, TimerKey::FeeBatchDue(key));
    }

    /// The batch window of `key` closed: send its CDRs, in call order, at most 50 to a push.
    pub(super) fn send_fee_batch(&self, st: &mut State, key: &str, out: &mut Outbound) {
        let Some(mut batch) = st.deliveries.batches.remove(key) else {
            return;
        };
        batch.calls.sort_unstable();
        for chunk in batch.calls.chunks(MAX_CDRS_PER_PUSH) {
            let entries: Vec<&CallEntry> = chunk
                .iter()
                .filter_map(|c| st.calls.get(c).map(|e| &**e))
                .collect();
            let fees = entries.iter().filter_map(|e| e.fee.as_deref()).collect();
            let delivery = Delivery {
                kind: PushKind::Fee,
                app_key: batch.app_key.clone(),
                url: batch.url.clone(),
                body: Bytes::from(to_body(&FeePush::new(fees))),
                event_type: EventType::Fee,
                session_ids: entries.iter().map(|e| e.session_id.to_string()).collect(),
                calls: chunk.to_vec(),
                attempt: 0,
                sent_at: SimInstant::ZERO,
                manual: false,
            };
            let id = format!("f{}", chunk[0]);
            self.persist(|| Write::DeliveryQueued {
                id: id.clone(),
                kind: PushKind::Fee,
                app_key: delivery.app_key.to_string(),
                url: delivery.url.clone(),
                body: delivery.body.to_vec(),
                event_type: EventType::Fee,
                idempotency_key: idempotency_key(&delivery.session_ids, EventType::Fee),
                session_ids: delivery.session_ids.clone(),
            });
            st.deliveries.active.insert(id.clone(), delivery);
            self.start_attempt(st, &id, out);
        }
    }

    /// Makes the next attempt of delivery `id`, with a nonce derived from it (seeded) or fresh.
    pub(super) fn start_attempt(&self, st: &mut State, id: &str, out: &mut Outbound) {
        let clock = &self.shared.clock;
        let now = clock.now();
        let ids = &self.shared.ids;
        let Some(d) = st.deliveries.active.get_mut(id) else {
            return;
        };
        let Some(app) = self.shared.config.app(&d.app_key) else {
            return;
        };
        d.attempt += 1;
        d.sent_at = now;
        // Manual re-sends are never faulted; out_of_order is decided when the call's pushes are
        // ordered (`pump_status`), the rest here, per attempt, from the seed.
        let target = Target {
            app_key: &d.app_key,
            url: &d.url,
            kind: d.kind,
        };
        let decided = if d.manual {
            None
        } else {
            st.faults.decide(
                &target,
                |k| k != FaultKind::OutOfOrder,
                |rule| ids.unit_for(&format!("{id}/fault{rule}"), d.attempt),
            )
        };
        let reordered = st
            .deliveries
            .reordered
            .remove(id)
            .then_some((FaultKind::OutOfOrder, 0));
        let fault = decided.or(reordered);
        // Seeded on a manual clock, the whole push is reproducible, `Created` included: it then
        // follows simulated time (docs/decisions.md). Otherwise it is real time (spec §5.2).
        let reproducible = ids.is_seeded() && clock.mode() == ClockMode::Manual;
        let job = PushJob {
            delivery_id: id.to_owned(),
            app_key: d.app_key.clone(),
            app_secret: app.app_secret.clone(),
            url: d.url.clone(),
            body: d.body.clone(),
            nonce: ids.nonce_for(id, d.attempt),
            idempotency_key: idempotency_key(&d.session_ids, d.event_type),
            fault: fault.map(|(k, _)| k),
            created_at: reproducible.then(|| clock.wall(now)),
        };
        if let Some((FaultKind::Delay, delay_ms)) = fault {
            // Sent `delay_ms` later on the simulated clock; the call's later events wait.
            let at = now.plus_ms(delay_ms);
            if let Some(d) = st.deliveries.active.get_mut(id) {
                d.sent_at = at;
            }
            let job = PushJob {
                created_at: reproducible.then(|| clock.wall(at)),
                ..job
            };
            st.deliveries.delayed.insert(id.to_owned(), job);
            self.arm(st, at, TimerKey::DelayedSend(id.to_owned()));
            return;
        }
        out.epoch = st.epoch;
        out.jobs.push(job);
        st.deliveries.in_flight += 1;
    }

    /// The `out_of_order` fault: the first status push waiting is held until the call's next
    /// event is queued, and that one goes first. A `disconnect` is never held (nothing follows
    /// it), so every call still ends.
    fn reorder(
        &self,
        entry: &CallEntry,
        queue: &mut StatusQueue,
        faults: &mut Faults,
        reordered: &mut HashSet<String>,
    ) {
        if queue.held.is_none() {
            let Some(front) = queue.waiting.front() else {
                return;
            };
            if queue.reorder_checked.as_deref() == Some(front.id.as_str())
                || front.event_type == EventType::Disconnect
            {
                return;
            }
            queue.reorder_checked = Some(front.id.clone());
            let target = Target {
                app_key: &entry.request.app_key,
                url: entry.status_url.as_deref().unwrap_or_default(),
                kind: PushKind::Status,
            };
            let id = front.id.clone();
            let hit = faults.decide(
                &target,
                |k| k == FaultKind::OutOfOrder,
                |rule| self.shared.ids.unit_for(&format!("{id}/fault{rule}"), 0),
            );
            if hit.is_none() {
                return;
            }
            queue.held = Some(id);
        }
        if queue.waiting.len() >= 2 {
            queue.waiting.swap(0, 1);
            if let Some(held) = queue.held.take() {
                reordered.insert(held);
            }
        }
    }

    /// A delayed push's time has come.
    pub(super) fn send_delayed(&self, st: &mut State, id: &str, out: &mut Outbound) {
        if let Some(job) = st.deliveries.delayed.remove(id) {
            out.epoch = st.epoch;
            out.jobs.push(job);
            st.deliveries.in_flight += 1;
        }
    }

    /// The transport finished an attempt: journal it, then deliver the next push, retry on the
    /// policy's schedule, or give up. Under the lock ([`super::inbox`]); what follows outside it
    /// goes into `after`.
    pub(super) fn finish_push(&self, st: &mut State, finished: Finished, after: &mut AfterResults) {
        let Finished {
            epoch,
            delivery_id: id,
            report,
        } = finished;
        if st.epoch != epoch {
            // Sent before a reset: its calls and deliveries are gone.
            return;
        }
        let now = self.shared.clock.now();
        let clock = &self.shared.clock;
        st.deliveries.in_flight = st.deliveries.in_flight.saturating_sub(1);
        after.changed = true;
        after.idle = st.deliveries.in_flight == 0;
        let Some(d) = st.deliveries.active.get(&id) else {
            // Forgotten meanwhile (a reset): nothing to journal or continue.
            return;
        };
        let delivered = report.delivered();
        let retry_in = if delivered || d.manual {
            None
        } else {
            self.retry_delay_ms(d.kind, &id, d.attempt)
        };
        let outcome = match (delivered, retry_in, d.kind) {
            (true, _, _) => DeliveryOutcome::Delivered,
            (false, Some(_), _) => DeliveryOutcome::FailedWillRetry,
            (false, None, PushKind::Status) if self.status_fidelity() => DeliveryOutcome::Dropped,
            (false, None, _) => DeliveryOutcome::Abandoned,
        };
        let next_at = retry_in.map(|ms| now.plus_ms(ms));
        let journal_entry = Arc::new(JournalEntry {
            id: format!("{id}#{}", d.attempt),
            delivery_id: id.clone(),
            kind: d.kind,
            app_key: d.app_key.clone(),
            session_ids: d.session_ids.clone(),
            event_type: d.event_type,
            url: d.url.clone(),
            attempt: d.attempt,
            sent_at: super::wall_string(clock, d.sent_at),
            sent_at_ms: d.sent_at.ms(),
            request_headers: report.request_headers,
            request_body: body_text(&d.body),
            response_status: report.response_status,
            response_body: report.response_body,
            error: report.error,
            latency_ms: report.latency_ms,
            outcome,
            next_attempt_at: next_at.map(|at| super::wall_string(clock, at)),
            fault: report.fault.map(|f| f.name().to_owned()),
        });
        self.publish(now, SimEvent::Push(PushAttempt::new(journal_entry.clone())));
        after.journal.push(journal_entry);
        if let Some(at) = next_at {
            self.arm(st, at, TimerKey::PushRetry(id));
        } else if let Some(d) = st.deliveries.active.remove(&id) {
            match d.kind {
                // A manual re-send leaves the call's ordered pushes alone.
                PushKind::Status if d.manual => {}
                PushKind::Status => {
                    let seq = d.calls[0];
                    if let Some(queue) = st.deliveries.queues.get_mut(&seq) {
                        queue.busy = false;
                    }
                    self.pump_status(st, seq, now, &mut after.out);
                }
                PushKind::Fee => {
                    let state = if delivered {
                        FeeState::Delivered
                    } else {
                        FeeState::Abandoned
                    };
                    for seq in &d.calls {
                        if let Some(entry) = st.calls.get_mut(seq) {
                            entry.fee_state = state;
                        }
                    }
                }
            }
            self.settle(st, &d.calls, now);
        }
        self.retain(st, now);
        after.idle = st.deliveries.in_flight == 0;
    }

    /// What follows a batch of results, outside the lock: the journal, the next pushes, and the
    /// waiters woken.
    pub(super) fn after_results(&self, after: AfterResults) {
        for entry in after.journal {
            self.shared.journal.record_queued(entry);
        }
        if after.changed {
            self.shared.events_changed.notify_waiters();
        }
        self.send(after.out);
        if after.changed && after.idle {
            self.shared.idle.notify_waiters();
        }
    }

    /// Re-sends one push now (`POST /sim/v1/deliveries/{id}/redeliver`), as the real platform's
    /// support can re-push a CDR by hand: one more attempt with the same body and idempotency
    /// key, signed afresh, no retries. A push still waiting to retry is tried now instead.
    /// Returns the attempt number, `None` for an unknown delivery, or the error if the journal
    /// cannot be read.
    pub fn redeliver(&self, id: &str) -> Result<Option<u32>, crate::push::journal::JournalError> {
        let last = self
            .shared
            .journal
            .query(&crate::push::journal::JournalQuery {
                delivery_id: Some(id.to_owned()),
                limit: Some(1),
                ..Default::default()
            })?
            .pop();
        let mut out = Outbound::default();
        let attempt = {
            let mut st = self.lock();
            if st.deliveries.active.contains_key(id) {
                // Waiting to retry: bring the retry forward.
                st.timers
                    .retain(|(_, k, _)| *k != TimerKey::PushRetry(id.to_owned()));
            } else {
                let Some(last) = last else {
                    return Ok(None);
                };
                let calls = last
                    .session_ids
                    .iter()
                    .filter_map(|s| st.by_session.get(s.as_str()).copied())
                    .collect();
                let d = Delivery {
                    kind: last.kind,
                    app_key: last.app_key,
                    url: last.url,
                    body: Bytes::from(last.request_body.into_bytes()),
                    event_type: last.event_type,
                    calls,
                    session_ids: last.session_ids,
                    attempt: last.attempt,
                    sent_at: SimInstant::ZERO,
                    manual: true,
                };
                st.deliveries.active.insert(id.to_owned(), d);
            }
            self.start_attempt(&mut st, id, &mut out);
            st.deliveries.active.get(id).map(|d| d.attempt)
        };
        self.send(out);
        Ok(attempt)
    }

    fn status_fidelity(&self) -> bool {
        self.shared.config.status_push.retry.drops()
    }

    /// Delay before retrying delivery `id` after its failed attempt number `attempt`, or `None`
    /// to stop: the policy is configuration data (`status_push.retry`, `fee_push.retry`).
    fn retry_delay_ms(&self, kind: PushKind, id: &str, attempt: u32) -> Option<u64> {
        let cfg = &self.shared.config;
        let policy = match kind {
            PushKind::Status => &cfg.status_push.retry,
            PushKind::Fee => &cfg.fee_push.retry,
        };
        policy.delay_ms(attempt, || self.shared.ids.unit_for(id, attempt))
    }
}

/// A push body as the journal keeps it: our own JSON, so UTF-8, checked on the fast path
/// (a lossy conversion looks at it character by character).
fn body_text(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

/// The call's CDR, consistent with its events (spec §7.1). Built once, at release.
pub(super) fn fee_info(e: &CallEntry, cfg: &Config, clock: &Clock) -> FeeInfo {
    let times = e.call.times();
    let wall = |at: SimInstant| super::wall_string(clock, at);
    let ending = e.call.ending();
    let icid = e.icid();
    FeeInfo::new(CdrFacts {
        sp_id: cfg.sp_id_of(&e.request.app_key),
        app_key: &e.request.app_key,
        icid: &icid,
        session_id: &e.session_id,
        display_nbr: e.request.display_nbr.as_str(),
        callee_nbr: e.request.callee_nbr.as_str(),
        user_data: e.request.user_data.as_deref(),
        host_name: &cfg.platform.host_name,
        callout: times.callout.map(wall),
        alerting: times.alerting.map(wall),
        answer: times.answer.map(wall),
        end: wall(times.end.unwrap_or(times.accepted)),
        state_code: ending.map(|x| x.state_code),
        fail_reason: ending.map(|x| x.fail_reason),
        readings: ending.map_or(0, |x| x.readings),
        code_ms: ending.map_or(0, |x| x.code_ms),
        ivr_start: ending.and_then(|x| x.ivr_start).map(wall),
        ivr_path: ending.map(|x| x.ivr_path.clone()).filter(|p| !p.is_empty()),
        forwarded: e.request.callback().map(|c| {
            let b = e.call.b_times();
            ForwardedLeg {
                display_nbr: c.display_callee_nbr.as_str(),
                b_nbr: c.b_nbr.as_str(),
                start: b.callout.map(wall),
                alerting: b.alerting.map(wall),
                answer: b.answer.map(wall),
                failed: b.failed,
            }
        }),
        recording: e.recording.as_ref().map(|r| RecordFacts {
            start: wall(r.start),
            object_name: r.object.clone(),
            bucket_name: r.bucket.clone(),
            domain: r.domain.clone(),
            download_url: r.url.clone(),
        }),
    })
}

#[cfg(test)]
mod tests;
