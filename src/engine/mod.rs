//! The engine: every call, one timer queue, and the push bookkeeping, behind one mutex.
//!
//! [`Engine`] is a cheap-clone handle (the mini-redis `Db` pattern). Its methods are synchronous:
//! lock, mutate plain data, collect the pushes to send, unlock, then hand those to the
//! dispatcher ([`crate::push::dispatch`]), whose results come back through `push_finished`.
//! One queue ordered by `(deadline, key)` gives a total, reproducible order of everything that
//! happens, which is what makes manual-clock runs repeatable.
//!
//! This file admits calls and turns their effects into timeline entries and pushes. Beside it:
//! - `driver`: how time moves the engine. [`Engine::fire_due`] is called by the real-time
//!   driver ([`spawn_driver`]) when a deadline passes, and by [`Engine::advance`], which steps a
//!   manual clock from deadline to deadline: the only places time enters call logic;
//! - `delivery`: how events become pushes: each call's status queue, CDR batching, the retry
//!   schedule, faults; its tests run the engine on a paused clock against a scripted receiver;
//! - `recovery`: carrying on after a restart from what the database says was unfinished;
//! - `report`: reconciliation; `view`: read-only views for the inspection API;
//! - `publish`: the hooks that publish each thing as it happens to the event stream
//!   ([`crate::events`]), one call at each place;
//! - `actions`: callStop, keys and hang-ups on a call in progress;
//! - `handset`: a person attached to a callee number, who answers, rejects, keys and hangs
//!   up, and the pacing of the audio they hear;
//! - `recordings`: what a recorded click-to-call keeps, and its download;
//! - `retention`: when finished calls leave memory, and the database's retention passes.
//!
//! The calls themselves are pure state machines ([`crate::call`]); admission consults
//! [`crate::frequency`]. A call entry holds the call, its request and timeline, and its CDR;
//! nothing of how its pushes are doing.

mod actions;
mod delivery;
mod driver;
mod handset;
mod inbox;
mod publish;
mod recordings;
mod recovery;
mod report;
mod retention;
mod seqmap;
mod timers;
mod view;

use seqmap::SeqMap;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::audio::compose::Manifest;
use crate::audio::Playback;
use crate::call::announcement::SegmentKind;
use crate::call::click2call::{Callback, CallbackMedia, Party};
use crate::call::request::CallRequest;
use crate::call::scenario::{Behaviour, Callees, Pattern, PhonesView, Source};
use crate::call::timeline::TimelineEvent;
use crate::call::{Call, Effect, Leg, Notification, Outcome, StatusEvent};
use crate::clock::{Clock, PlatformTime, SimInstant};
use crate::config::Config;
use crate::error::ApiError;
use crate::events::Events;
use crate::frequency::{Frequency, FrequencyMode, Keys};
use crate::ids::{self, IdGen};
use crate::push::dispatch::{Dispatcher, Transport};
use crate::push::faults::{FaultRule, FaultView, Faults};
use crate::push::journal::Journal;
use crate::push::payload::FeeInfo;
use crate::push::transport::{HttpTransport, PushJob};
use crate::store::{FeeState, Store, StoreError, Write};
pub use actions::{PressError, StopError};
use delivery::Deliveries;
pub use driver::{spawn_driver, ClockNotManual};
use handset::Found;
pub use handset::{Attached, HandsetAction, HandsetError, HandsetEvent, FRAME_MS};
pub use recordings::Recording;
pub use report::ReportError;
pub use retention::{CallsHeld, RetentionSettings};
pub use view::{CallAudio, CallFilter, CallSummary, CallView, ClockView, TimelineEntry};

/// What the callee will hear once connected, composed before acceptance: it sets the call's
/// timing.
#[derive(Debug, Clone)]
pub enum CallMedia {
    /// A verification call's announcement, clip by clip (also what `audio.wav` renders).
    Announcement(Arc<Manifest>),
    /// A notification's segments, as the call plays them, and what each one sounds like.
    Notification(Notification, Arc<Vec<Playback>>),
    /// A click-to-call's media and limits (B's behaviour is chosen here, at acceptance).
    Callback(CallbackMedia),
}

/// What a call keeps of its [`CallMedia`] for `audio.wav` and the views. A verification call
/// keeps no manifest (it was most of a call's memory): the [`Announcer`] composes the same one
/// again from the request when it is heard or shown.
#[derive(Debug, Clone)]
enum KeptMedia {
    Recompose,
    As(CallMedia),
}

/// Composes a verification request's announcement again: the same one as at acceptance (set by
/// the app, which holds the voices; see [`Engine::set_announcer`]).
pub type Announcer = Box<dyn Fn(&CallRequest) -> Option<Manifest> + Send + Sync>;

/// An app's `status_url` and `fee_url`.
type AppUrls = (Option<Arc<str>>, Option<Arc<str>>);

/// The answer to an accepted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub session_id: String,
    /// `platform.ports` minus all calls in progress, counting this one (spec §4.3).
    pub idle_port: u32,
    /// Dialtone's explanation when the call is accepted only to be released before callout
    /// (a frequency rule): sent as `X-Dialtone-Hint` with the "0".
    pub hint: Option<String>,
}

/// A call admitted by [`Engine::accept`] whose first pushes wait for its commit: hand it to
/// [`Engine::confirm`].
#[must_use = "a pending call must be confirmed, or it never starts"]
pub struct Pending {
    accepted: Accepted,
    seq: u64,
    /// The commit of its `CallAccepted` (`None` when ephemeral).
    written: Option<Written>,
    out: Outbound,
}

/// A write's commit, awaited (see [`Store::write_acked`]).
type Written = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send>>;

/// Timers fired under one hold of the engine's lock. Ten thousand calls due at one instant are
/// then fired in slices, and between two the pushes on the wire report back: held for the whole
/// burst, the lock left every other worker thread blocked on it, half of a two-core machine idle
/// for a tenth of a second at a time.
const FIRE_SLICE: usize = 32;

/// What one slice of [`Engine::fire_due`] left.
struct Slice {
    /// More timers are due.
    more: bool,
    /// Pushes are on the wire (their results will want the lock).
    pushing: bool,
}

/// The simulation's shared state. Clone freely.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

struct Shared {
    config: Arc<Config>,
    clock: Arc<Clock>,
    ids: Arc<IdGen>,
    journal: Journal,
    /// The database, unless `--ephemeral`: every call, event, CDR and push goes there too.
    store: Option<Store>,
    /// Runs push attempts; each result comes back through `push_finished`.
    dispatcher: Dispatcher,
    blacklist: Vec<Pattern>,
    /// Each app's `status_url` and `fee_url`, shared by its calls.
    app_urls: HashMap<String, AppUrls>,
    /// The config's `[call]`, shared by every call.
    call_timings: Arc<crate::call::CallTimings>,
    /// The event stream: the engine publishes each thing as it happens (`publish`).
    events: Events,
    state: Mutex<State>,
    /// Push results waiting for `state`'s lock ([`inbox`]).
    inbox: inbox::Inbox,
    /// The runtime push results come back on, for handling them on a thread outside it.
    runtime: std::sync::OnceLock<tokio::runtime::Handle>,
    /// The earliest deadline may have changed: the real-time driver re-plans its sleep.
    timers_changed: Notify,
    /// A call's timeline or a delivery changed: long-polls re-check.
    events_changed: Notify,
    /// No push is on the wire any more.
    idle: Notify,
    /// The address the server bound, for download URLs.
    listen: std::sync::OnceLock<std::net::SocketAddr>,
    announcer: std::sync::OnceLock<Announcer>,
    /// Serialises manual-clock advances, so two callers never interleave their stepping.
    advancing: tokio::sync::Mutex<()>,
    /// Pushes waiting for the commit of their outbox rows ([`Engine::send`]).
    gate: Mutex<CommitGate>,
}

/// Sending a push once what was persisted before it is committed.
type Dispatch = Box<dyn FnOnce() + Send>;

/// Group commit for [`Engine::send`]: one flush of the store at a time, which releases every
/// push handed over before it was asked for; pushes handed over meanwhile wait for the next one.
/// A flush, its wake-up and a task per push cost the delivery phase about as much CPU as the
/// writer's commits (issue 11); one per commit is what ordering needs.
#[derive(Default)]
struct CommitGate {
    /// Waiting for the next flush.
    next: Vec<Dispatch>,
    /// A flush is on its way, with the pushes it releases.
    in_flight: bool,
}

/// Reopens the [`CommitGate`] if its flush task ends without doing so (a panic in a dispatch):
/// the pushes waiting then go with the next push's flush instead of waiting forever.
struct ReopenGate<'a>(&'a Engine);

impl Drop for ReopenGate<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock_gate().in_flight = false;
        }
    }
}

/// Everything behind the engine's lock.
#[derive(Default)]
struct State {
    /// Calls by their acceptance sequence number (which also orders listings: sort by it).
    /// Boxed: a table grows by doubling, and inline entries would leave their size again in
    /// empty slots.
    calls: SeqMap<Box<CallEntry>>,
    /// The same string as each entry's `session_id`, shared.
    by_session: HashMap<Arc<str>, u64>,
    /// Kept recordings by object name, for their download.
    recordings: HashMap<String, u64>,
    /// Ordered by time, then by key, so timers due at one instant fire in the same order in
    /// every run; the trailing sequence number only keeps entries distinct.
    timers: timers::Timers,
    timer_seq: u64,
    call_seq: u64,
    /// Calls in progress (accepted, not yet disconnected), per app and in all.
    in_progress_by_app: HashMap<Arc<str>, u32>,
    in_progress: u32,
    deliveries: Deliveries,
    callees: Callees,
    frequency: Frequency,
    /// Injected webhook faults (`push::faults`).
    faults: Faults,
    /// Bumped by a reset: pushes still on the wire from before it are ignored when they finish.
    epoch: u64,
    /// Attached virtual handsets by number (`handset`); they outlive a reset.
    handsets: HashMap<String, handset::HandsetLine>,
    handset_seq: u64,
    /// Finished calls in the order they ended, for `retention`.
    retention: retention::Finished,
    /// Apps whose first call without a status URL the log has told of (see `accept`).
    told_no_status_url: std::collections::HashSet<Arc<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    /// The call's own next deadline.
    Call(u64),
    /// The next audio frame of a call on a handset is due. After `Call`: a call that ends at
    /// this instant has ended before its frame.
    HandsetFrame(u64),
    /// A CDR batch's window closed: send it.
    FeeBatchDue(String),
    /// A failed push is due for another attempt.
    PushRetry(String),
    /// A push held back by a `delay` fault is due.
    DelayedSend(String),
}

/// A call and everything Dialtone knows about it.
struct CallEntry {
    seq: u64,
    session_id: Arc<str>,
    /// When the call was accepted, in wall time: its CDR's `icid` is made from it and `seq`
    /// (`ids::icid`) when the CDR is built, rather than kept as text all the call long.
    accepted_at: chrono::DateTime<chrono::Utc>,
    request: CallRequest,
    /// What the callee hears, as far as the call keeps it (its timing is in `call`).
    media: KeptMedia,
    /// Which rule chose the call's outcome.
    source: Source,
    /// The request's URLs, or the app's, shared with every call of the app.
    status_url: Option<Arc<str>>,
    fee_url: Option<Arc<str>>,
    call: Call,
    timeline: Vec<TimelineEntry>,
    /// Boxed, as the recording: most of a call's life has neither.
    fee: Option<Box<FeeInfo>>,
    fee_state: FeeState,
    /// A click-to-call's kept recording.
    recording: Option<Box<Recording>>,
    /// A notification's segments as they started playing: (index, when).
    plays: Vec<(usize, SimInstant)>,
    /// The virtual handsets this call rings (A's, and a click-to-call's B's); empty when the
    /// callees are scripted.
    handsets: handset::HandsetTies,
}

impl CallEntry {
    /// The CDR's `icid` (spec §7.1): the acceptance time and the call's sequence number.
    fn icid(&self) -> String {
        ids::icid(self.seq, self.accepted_at)
    }

    /// Appends to the call's timeline, and to the database.
    fn note(&mut self, store: Option<&Store>, t: TimelineEntry) {
        if let Some(store) = store {
            store.write(Write::CallEvent {
                session_id: self.session_id.to_string(),
                idx: self.timeline.len() as u32,
                at_ms: t.at_ms,
                time: t.time,
                event: t.event,
                detail: t.detail.as_deref().map(str::to_owned),
            });
        }
        self.timeline.push(t);
    }
}

/// Pushes to hand to the transport once the lock is released.
#[derive(Default)]
struct Outbound {
    jobs: Vec<PushJob>,
    /// The engine epoch the jobs belong to.
    epoch: u64,
}

impl Engine {
    /// An engine that pushes over HTTP(S); fails only on an unreadable `push.ca_file`.
    pub fn new(
        config: Arc<Config>,
        clock: Arc<Clock>,
        ids: Arc<IdGen>,
        journal: Journal,
        store: Option<Store>,
    ) -> Result<Engine, crate::tls::TlsError> {
        let transport = Arc::new(HttpTransport::new(&config.push)?);
        Ok(Engine::with_transport(
            config, clock, ids, journal, store, transport,
        ))
    }

    /// An engine that pushes through `transport` (a fake one in tests).
    pub fn with_transport(
        config: Arc<Config>,
        clock: Arc<Clock>,
        ids: Arc<IdGen>,
        journal: Journal,
        store: Option<Store>,
        transport: Arc<dyn Transport>,
    ) -> Engine {
        let blacklist = config.blacklist.clone();
        let call_timings = Arc::new(config.call.clone());
        let app_urls = config
            .apps
            .iter()
            .map(|a| {
                let urls = (
                    a.status_url.as_deref().map(Arc::from),
                    a.fee_url.as_deref().map(Arc::from),
                );
                (a.app_key.clone(), urls)
            })
            .collect();
        let dispatcher = Dispatcher::new(transport, config.push.max_in_flight_per_host);
        let events = Events::new(&config.stream);
        let state = State {
            callees: Callees::new(config.scenarios.clone()),
            frequency: Frequency::new(config.frequency.rules.clone()),
            faults: Faults::new(config.faults.clone()),
            ..State::default()
        };
        Engine {
            shared: Arc::new(Shared {
                config,
                clock,
                ids,
                journal,
                store,
                dispatcher,
                blacklist,
                call_timings,
                app_urls,
                events,
                state: Mutex::new(state),
                inbox: inbox::Inbox::default(),
                runtime: std::sync::OnceLock::new(),
                timers_changed: Notify::new(),
                events_changed: Notify::new(),
                idle: Notify::new(),
                listen: std::sync::OnceLock::new(),
                announcer: std::sync::OnceLock::new(),
                advancing: tokio::sync::Mutex::new(()),
                gate: Mutex::new(CommitGate::default()),
            }),
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    pub fn journal(&self) -> &Journal {
        &self.shared.journal
    }

    /// Sets how a verification call's announcement is composed again (once, at start-up).
    pub fn set_announcer(&self, announcer: Announcer) {
        let _ = self.shared.announcer.set(announcer);
    }

    /// The app's default push URLs (none for an unknown app).
    fn app_urls(&self, app_key: &str) -> AppUrls {
        self.shared
            .app_urls
            .get(app_key)
            .cloned()
            .unwrap_or_default()
    }

    /// Admits a call (spec §4.2 steps 5-7). The caller has authenticated the app and validated
    /// every field, and must hand the [`Pending`] call to [`Engine::confirm`] before answering:
    /// its first pushes wait for the commit. Fails with `1020165` when the app is at its call
    /// cap, and with `1013118` when a frequency rule is exceeded in `sync` mode.
    ///
    /// The outcome is fixed here, by the first of: no free platform port (7109), an exceeded
    /// frequency rule (7001-7003), the blacklist (7004), then the callee's behaviour
    /// ([`crate::call::scenario`]).
    pub fn accept(&self, req: CallRequest, media: CallMedia) -> Result<Pending, ApiError> {
        let cfg = &self.shared.config;
        let app = cfg
            .app(&req.app_key)
            .ok_or_else(|| ApiError::Internal(format!("accept for unknown app {}", req.app_key)))?;
        let now = self.shared.clock.now();
        let mut out = Outbound::default();
        let accepted = {
            let mut st = self.lock();
            let app_calls = st
                .in_progress_by_app
                .get(&*req.app_key)
                .copied()
                .unwrap_or(0);
            if app_calls >= app.max_concurrent_calls {
                return Err(ApiError::TooManyCalls.hint(format!(
                    "app {} has {app_calls} calls in progress, its max_concurrent_calls \
                     (apps[].max_concurrent_calls): wait for one to end, or stop one (callStop)",
                    req.app_key
                )));
            }
            let sp_id = cfg.developer_of(app).sp_id.as_str();
            let keys = Keys {
                sp_id,
                app_key: &req.app_key,
                display: req.display_nbr.as_str(),
                callee: req.callee_nbr.as_str(),
            };
            // Spec §5.4: with no port free the call is still accepted, then released with 7109.
            let mut hint = None;
            let (outcome, source) = if st.in_progress >= cfg.platform.ports {
                (Outcome::PortsExhausted, Source::Platform)
            } else if let Some(hit) = st.frequency.exceeded(&keys, now) {
                let explained = hit.explain(|t| wall_string(&self.shared.clock, t));
                if cfg.frequency.mode == FrequencyMode::Sync {
                    tracing::warn!(app_key = %req.app_key, "frequency hit, refused with 1013118: {explained}");
                    return Err(ApiError::FrequencyRestricted.hint(explained));
                }
                let scope = hit.rule.scope;
                let released = Outcome::FrequencyControlled { scope }
                    .precall_state_code()
                    .map(|c| format!("stateCode {} \"{}\"", c.code(), c.desc()))
                    .unwrap_or_default();
                let explained = format!("accepted, then released with {released}: {explained}");
                tracing::warn!(app_key = %req.app_key, callee = %req.callee_nbr, "frequency hit: {explained}");
                hint = Some(explained);
                (Outcome::FrequencyControlled { scope }, Source::Platform)
            } else if self
                .shared
                .blacklist
                .iter()
                .any(|p| p.matches(req.callee_nbr.as_str()))
            {
                (Outcome::Blacklisted, Source::Platform)
            } else if let Some(found) = Engine::handset_at(&st, req.callee_nbr.as_str()) {
                // A person holds this phone: its rules wait. Dialtone decision: a handset already
                // in a call is busy (no call waiting).
                match found {
                    Found::Free(_) => (Outcome::Handset, Source::Handset),
                    Found::InCall => (Outcome::Busy, Source::Handset),
                }
            } else {
                st.callees.choose(req.callee_nbr.as_str())
            };
            let mut handsets = Vec::new();
            if outcome == Outcome::Handset {
                if let Some(Found::Free(tie)) = Engine::handset_at(&st, req.callee_nbr.as_str()) {
                    handsets.push((Party::A, tie));
                }
            }
            if !outcome.is_precall() {
                st.frequency.record(&keys, now);
            }
            st.call_seq += 1;
            let seq = st.call_seq;
            let accepted_at = self.shared.clock.wall(now);
            let session_id = loop {
                let id = ids::session_id(
                    cfg.platform.node_id,
                    seq,
                    self.shared.ids.session_rand(),
                    accepted_at,
                    &cfg.platform.session_domain,
                );
                if !st.by_session.contains_key(id.as_str()) {
                    break id;
                }
            };
            let call = match &media {
                CallMedia::Announcement(manifest) => {
                    // Only the plan stays with the call; the clips are composed again if asked.
                    Call::accept(
                        outcome,
                        manifest.to_announcement(),
                        &self.shared.call_timings,
                        now,
                    )
                }
                CallMedia::Notification(n, _) => {
                    Call::accept_notification(outcome, n.clone(), &self.shared.call_timings, now)
                }
                CallMedia::Callback(m) => {
                    // Spec §12.3: A follows the rule for callerNbr, B the rule for calleeNbr.
                    let b_nbr = req.callback().map_or("", |c| c.b_nbr.as_str());
                    // B's handset, like A's, comes before B's rules; B is held from now.
                    let b_handset = match outcome.is_precall() {
                        true => None,
                        false => Engine::handset_at(&st, b_nbr),
                    };
                    let b_outcome = match b_handset {
                        Some(Found::Free(tie)) => {
                            handsets.push((Party::B, tie));
                            Outcome::Handset
                        }
                        Some(Found::InCall) => Outcome::Busy,
                        None => st.callees.choose(b_nbr).0,
                    };
                    let callback = Callback {
                        b_outcome,
                        media: m.clone(),
                        timings: cfg.c2c,
                    };
                    Call::accept_callback(outcome, callback, &self.shared.call_timings, now)
                }
            };
            // A click-to-call holds two voice ports (spec §12.2 step 6).
            let ports = if call.is_callback() { 2 } else { 1 };
            let shared_id: Arc<str> = Arc::from(session_id.as_str());
            let mut entry = CallEntry {
                seq,
                session_id: shared_id.clone(),
                accepted_at,
                source,
                status_url: match &req.status_url {
                    Some(u) => Some(Arc::from(u.as_str())),
                    None => self.app_urls(&req.app_key).0,
                },
                fee_url: match &req.fee_url {
                    Some(u) => Some(Arc::from(u.as_str())),
                    None => self.app_urls(&req.app_key).1,
                },
                request: req,
                media: match media {
                    CallMedia::Announcement(_) => KeptMedia::Recompose,
                    other => KeptMedia::As(other),
                },
                call,
                // Two entries (callout, and a note or alerting) cover a call until it is answered.
                timeline: Vec::with_capacity(2),
                fee: None,
                fee_state: FeeState::Pending,
                recording: None,
                plays: Vec::new(),
                handsets,
            };
            for (_, tie) in &entry.handsets {
                Engine::ring_handset(&mut st, seq, tie);
            }
            let written = self.persist_acked(|| Write::CallAccepted {
                seq,
                session_id: session_id.clone(),
                app_key: entry.request.app_key.to_string(),
                callee: entry.request.callee_nbr.to_string(),
                display: entry.request.display_nbr.to_string(),
                accepted_ms: now.ms(),
                accepted_at: wall_string(&self.shared.clock, now),
                request_json: recovery::request_json(&entry.request),
                status_url: entry.status_url.as_deref().map(str::to_owned),
                fee_url: entry.fee_url.as_deref().map(str::to_owned),
            });
            self.publish_accepted(&entry, now);
            if entry.status_url.is_none() {
                let note = "no statusUrl and no app status_url: events are recorded, not pushed";
                let clock = &self.shared.clock;
                // Every call of such an app would log the same line: the log tells the app's
                // first call; each call's timeline and the stream still carry the note.
                let app_key = &entry.request.app_key;
                let first = !st.told_no_status_url.contains(app_key);
                if first {
                    st.told_no_status_url.insert(app_key.clone());
                }
                self.note_logged(
                    &mut entry,
                    TimelineEntry::new(clock, now, TimelineEvent::Note, Some(note)),
                    first,
                );
            }
            *st.in_progress_by_app
                .entry(entry.request.app_key.clone())
                .or_default() += 1;
            st.in_progress += ports;
            st.by_session.insert(shared_id, seq);
            st.calls.insert(seq, Box::new(entry));
            let idle_port = cfg.platform.ports.saturating_sub(st.in_progress);
            self.drain_call(&mut st, seq, now, &mut out);
            (
                seq,
                written,
                Accepted {
                    session_id,
                    idle_port,
                    hint,
                },
            )
        };
        let (seq, written, accepted) = accepted;
        Ok(Pending {
            accepted,
            seq,
            written,
            out,
        })
    }

    /// Waits until the [`Pending`] call is in the database, then sends its first pushes and
    /// hands back the answer. If the commit fails (a full disk), the call is forgotten, as if
    /// never accepted, and the answer is `1010001`: the app is told "0" only for a call that
    /// survives a crash, and never hears of one it was told failed.
    pub async fn confirm(&self, pending: Pending) -> Result<Accepted, ApiError> {
        // The call's own write is acknowledged with its batch: a flush alone could come after
        // that batch failed and find nothing left to commit.
        let written = match pending.written {
            Some(written) => written.await,
            None => Ok(()),
        };
        match written.and(self.committed().await) {
            Ok(()) => {
                self.send(pending.out);
                Ok(pending.accepted)
            }
            Err(e) => {
                self.forget_uncommitted(pending.seq, pending.out.jobs.len());
                Err(ApiError::Internal(format!(
                    "call {} not accepted: {e}",
                    pending.accepted.session_id
                )))
            }
        }
    }

    /// Starts a pending call without waiting for its commit: for engine tests with no store.
    #[cfg(test)]
    pub(crate) fn start_uncommitted(&self, pending: Pending) -> Accepted {
        self.send(pending.out);
        pending.accepted
    }

    /// Undoes an accept whose commit failed: the call, its ports, its timers and its unsent
    /// pushes go. Its frequency count stays (the platform saw the attempt).
    fn forget_uncommitted(&self, seq: u64, held: usize) {
        {
            let mut st = self.lock();
            let Some(entry) = st.calls.remove(&seq) else {
                return;
            };
            st.by_session.remove(&entry.session_id);
            if let Some(n) = st.in_progress_by_app.get_mut(&*entry.request.app_key) {
                *n = n.saturating_sub(1);
            }
            let ports = if entry.call.is_callback() { 2 } else { 1 };
            st.in_progress = st.in_progress.saturating_sub(ports);
            st.timers.retain(|(_, key, _)| *key != TimerKey::Call(seq));
            st.deliveries.forget_call(seq, held);
        }
        self.shared.idle.notify_waiters();
    }

    /// Processes every timer due at or before `now`, in deadline order, [`FIRE_SLICE`] at a
    /// time: between two slices the lock is free and the slice's pushes leave.
    pub fn fire_due(&self, now: SimInstant) {
        while self.fire_slice(now).more {}
    }

    /// As [`Engine::fire_due`], letting the runtime run other tasks between two slices while
    /// pushes are on the wire: the advance and the real-time driver fire this way, so that a
    /// burst of deadlines does not hold a worker thread while the pushes it makes wait for one.
    /// With none on the wire (a burst of timeline entries) it does not yield: each yield wakes
    /// an idle worker thread that would find nothing to do.
    pub(super) async fn fire_due_yielding(&self, now: SimInstant) {
        loop {
            let slice = self.fire_slice(now);
            if !slice.more {
                return;
            }
            if slice.pushing {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Fires up to [`FIRE_SLICE`] of the timers due at or before `now` under one hold of the
    /// lock, then sends their pushes.
    fn fire_slice(&self, now: SimInstant) -> Slice {
        let mut out = Outbound::default();
        let slice = {
            let mut st = self.lock();
            self.fire_timers(&mut st, now, &mut out);
            let more = st.timers.first().is_some_and(|(at, _, _)| *at <= now);
            if !more {
                self.retain(&mut st, now);
            }
            Slice {
                more,
                pushing: st.deliveries.in_flight() > 0,
            }
        };
        self.send(out);
        slice
    }

    /// Fires up to [`FIRE_SLICE`] of the timers due at or before `now`.
    fn fire_timers(&self, st: &mut State, now: SimInstant, out: &mut Outbound) {
        for _ in 0..FIRE_SLICE {
            if st.timers.first().is_none_or(|(at, _, _)| *at > now) {
                return;
            }
            let Some((at, key, _)) = st.timers.pop_first() else {
                return;
            };
            match key {
                TimerKey::Call(call) => {
                    if let Some(entry) = st.calls.get_mut(&call) {
                        entry.call.on_deadline(at);
                        self.drain_call(st, call, at, out);
                    }
                }
                TimerKey::HandsetFrame(call) => self.handset_frame(st, call, at),
                TimerKey::FeeBatchDue(key) => self.send_fee_batch(st, &key, out),
                TimerKey::PushRetry(id) => self.start_attempt(st, &id, out),
                TimerKey::DelayedSend(id) => self.send_delayed(st, &id, out),
            }
        }
    }

    /// The earliest pending deadline.
    pub fn next_deadline(&self) -> Option<SimInstant> {
        self.lock().timers.first().map(|(at, _, _)| *at)
    }

    /// Turns the call's effects into timeline entries and pushes, then re-arms its timer.
    fn drain_call(&self, st: &mut State, seq: u64, now: SimInstant, out: &mut Outbound) {
        let clock = &self.shared.clock;
        let cfg = &self.shared.config;
        let mut disconnected = false;
        let mut told = Vec::new();
        {
            let Some(entry) = st.calls.get_mut(&seq) else {
                return;
            };
            while let Some(effect) = entry.call.poll_effect() {
                let verify = entry.request.verify();
                match effect {
                    Effect::Playing { segment, at } => {
                        let detail = match segment {
                            SegmentKind::PreTone => {
                                format!("preTone {}", verify.map_or("", |v| v.pre_tone.as_str()))
                            }
                            SegmentKind::Code(n) => format!("code reading {n}"),
                            SegmentKind::PosTone => format!(
                                "posTone {}",
                                verify
                                    .and_then(|v| v.pos_tone.as_ref())
                                    .map_or("", |t| t.as_str())
                            ),
                        };
                        self.note(
                            entry,
                            TimelineEntry::new(clock, at, TimelineEvent::Playing, Some(detail)),
                        );
                    }
                    Effect::PlayingSegment { index, replay, at } => {
                        entry.plays.push((index, at));
                        let again = if replay { " again" } else { "" };
                        let detail = format!("segment {}{again}", index + 1);
                        self.note(
                            entry,
                            TimelineEntry::new(clock, at, TimelineEvent::Playing, Some(detail)),
                        );
                    }
                    Effect::Collecting { index, at } => {
                        let detail = format!("digits after segment {}", index + 1);
                        self.note(
                            entry,
                            TimelineEntry::new(clock, at, TimelineEvent::Collecting, Some(detail)),
                        );
                    }
                    Effect::Key { key, collected, at } => {
                        let detail = match collected {
                            true => key.to_string(),
                            false => format!("{key} (not collecting: ignored)"),
                        };
                        self.note(
                            entry,
                            TimelineEntry::new(clock, at, TimelineEvent::Key, Some(detail)),
                        );
                    }
                    Effect::Media { what, at } => {
                        self.note(
                            entry,
                            TimelineEntry::new(clock, at, TimelineEvent::Playing, Some(what)),
                        );
                    }
                    Effect::Status { event, leg, at } => {
                        told.extend(handset::told(entry, &event, leg));
                        let detail = match &event {
                            StatusEvent::Disconnect { state_code } => Some(format!(
                                "stateCode {}: {}",
                                state_code.code(),
                                state_code.desc()
                            )),
                            StatusEvent::CollectInfo { digits } => Some(digits.clone()),
                            // A click-to-call's leg events say which leg they are.
                            _ if entry.call.is_callback() => Some(match leg {
                                Leg::A => "A leg".to_owned(),
                                Leg::B => "B leg".to_owned(),
                            }),
                            _ => None,
                        };
                        self.note(
                            entry,
                            TimelineEntry::new(clock, at, (&event).into(), detail),
                        );
                        if let StatusEvent::Disconnect { state_code } = event {
                            entry.recording = self.recording_of(entry, at).map(Box::new);
                            if let Some(r) = &entry.recording {
                                st.recordings.insert(r.object.clone(), seq);
                            }
                            let fee = delivery::fee_info(entry, cfg, clock);
                            let ending = entry.call.ending();
                            self.persist(|| Write::CallEnded {
                                session_id: entry.session_id.to_string(),
                                state_code: state_code.code(),
                                ended_at: fee.call_end_time.clone(),
                                readings: ending.map_or(0, |e| e.readings),
                                code_ms: ending.map_or(0, |e| e.code_ms),
                                fee: Box::new(fee.clone()),
                                view_json: Some(retention::ViewExtras::of(entry).json()),
                            });
                            entry.fee = Some(Box::new(fee));
                            disconnected = true;
                        }
                        // A call with no status URL never gets a queue: at hundreds of
                        // thousands in flight, empty queues were a tenth of their memory.
                        if entry.status_url.is_some() {
                            let queue = st.deliveries.queue(seq);
                            self.queue_status(entry, queue, event, leg, at);
                        }
                    }
                }
            }
            if let Some(deadline) = entry.call.next_deadline() {
                self.arm(st, deadline, TimerKey::Call(seq));
            }
        }
        if !told.is_empty() || disconnected {
            self.tell_handset(st, seq, told);
        }
        if disconnected {
            let app_key = st.calls[&seq].request.app_key.clone();
            if let Some(n) = st.in_progress_by_app.get_mut(&*app_key) {
                *n = n.saturating_sub(1);
            }
            let ports = if st.calls[&seq].call.is_callback() {
                2
            } else {
                1
            };
            st.in_progress = st.in_progress.saturating_sub(ports);
            st.retention.ended(seq, now);
        }
        self.pump_status(st, seq, now, out);
        self.shared.events_changed.notify_waiters();
    }

    /// The database, unless ephemeral.
    fn store(&self) -> Option<&Store> {
        self.shared.store.as_ref()
    }

    /// The database, unless ephemeral: for inspection and fault injection
    /// ([`Store::fail_commits`]) from tests.
    pub fn database(&self) -> Option<&Store> {
        self.store()
    }

    /// Writes what `w` builds to the database, if there is one; never blocks (the store batches
    /// off this path). In memory only, the write (a request as JSON, a push body's copy) is not
    /// even built.
    fn persist(&self, w: impl FnOnce() -> Write) {
        if let Some(store) = &self.shared.store {
            store.write(w());
        }
    }

    /// As [`Engine::persist`], with a future that says whether the write itself was committed.
    fn persist_acked(&self, w: impl FnOnce() -> Write) -> Option<Written> {
        let store = self.shared.store.as_ref()?;
        Some(Box::pin(store.write_acked(w())))
    }

    /// Resolves once everything persisted so far is committed (at once when ephemeral), or with
    /// the store's error if it could not be.
    fn committed(
        &self,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static {
        let flushed = self.shared.store.as_ref().map(Store::flushed);
        async move {
            match flushed {
                Some(flushed) => flushed.await,
                None => Ok(()),
            }
        }
    }

    /// Arms a timer for `key` at `at`.
    fn arm(&self, st: &mut State, at: SimInstant, key: TimerKey) {
        st.timer_seq += 1;
        let tseq = st.timer_seq;
        // The real-time driver sleeps until the earliest deadline: only an earlier one wakes it.
        let earliest = st.timers.first().is_none_or(|(first, _, _)| at < *first);
        st.timers.insert((at, key, tseq));
        if earliest {
            self.shared.timers_changed.notify_one();
        }
    }

    /// Hands jobs to the dispatcher once everything persisted so far (their outbox rows
    /// included) is committed; each result comes back through `push_finished`.
    ///
    /// Why wait: a push sent before its outbox row is in the database can reach the receiver
    /// and then be forgotten by a crash. A CDR batch is then formed again after the restart,
    /// with other calls and so another idempotency key, and the receiver cannot tell it is a
    /// repeat (found by `scripts/crash-test.sh`). If the commit fails (a full disk), the push
    /// goes anyway: delivering it beats holding it for a database that may never recover.
    fn send(&self, out: Outbound) {
        if out.jobs.is_empty() {
            return;
        }
        let epoch = out.epoch;
        let engine = self.clone();
        let dispatch = move || {
            for job in out.jobs {
                let finished = engine.clone();
                engine.shared.dispatcher.dispatch(job, move |job, report| {
                    finished.push_finished(inbox::Finished {
                        epoch,
                        delivery_id: job.delivery_id,
                        report,
                    });
                });
            }
        };
        let Some(store) = &self.shared.store else {
            return dispatch();
        };
        let first = {
            let mut gate = self.lock_gate();
            gate.next.push(Box::new(dispatch));
            if gate.in_flight {
                // Released by the flush after the one on its way, which is asked for only once
                // this push's rows were queued.
                return;
            }
            gate.in_flight = true;
            (std::mem::take(&mut gate.next), store.flushed())
        };
        let (engine, store) = (self.clone(), store.clone());
        tokio::spawn(async move {
            let _reopen = ReopenGate(&engine);
            let (mut pushes, mut flushed) = first;
            loop {
                if let Err(e) = flushed.await {
                    tracing::warn!(error = %e, "pushes sent although their outbox rows were not committed");
                }
                for dispatch in pushes {
                    dispatch();
                }
                let mut gate = engine.lock_gate();
                if gate.next.is_empty() {
                    gate.in_flight = false;
                    return;
                }
                // Taken and flushed under the lock: a push handed over after this flush was
                // asked for waits for the next one.
                (pushes, flushed) = (std::mem::take(&mut gate.next), store.flushed());
            }
        });
    }

    fn lock_gate(&self) -> MutexGuard<'_, CommitGate> {
        self.shared.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets every call, delivery, phone rule and frequency count, puts a manual clock back to
    /// its start and restarts the id sequence, so one server can serve many tests as if fresh.
    /// Pushes still on the wire finish, but nothing follows from them.
    pub fn reset(&self) {
        {
            let mut st = self.lock();
            let epoch = st.epoch + 1;
            let callees = {
                let mut c = std::mem::take(&mut st.callees);
                c.reset();
                c
            };
            let mut frequency = std::mem::take(&mut st.frequency);
            frequency.reset();
            // The people holding handsets are still there; their calls are forgotten.
            let mut handsets = std::mem::take(&mut st.handsets);
            for line in handsets.values_mut() {
                line.call = None;
            }
            *st = State {
                callees,
                frequency,
                handsets,
                handset_seq: st.handset_seq,
                faults: Faults::new(self.shared.config.faults.clone()),
                epoch,
                ..State::default()
            };
            self.shared.clock.reset();
            self.shared.ids.restart();
            self.shared.journal.clear();
            self.persist(|| Write::Reset);
            self.publish_reset();
        }
        self.shared.timers_changed.notify_one();
        self.shared.events_changed.notify_waiters();
        self.shared.idle.notify_waiters();
    }

    /// Replaces the injected webhook faults (`PUT /sim/v1/faults`; an empty list clears them).
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        let mut st = self.lock();
        self.publish_faults(&rules);
        st.faults = Faults::new(rules);
    }

    /// The injected faults and how often each was used.
    pub fn faults(&self) -> Vec<FaultView> {
        self.lock().faults.view()
    }

    /// Sets the behaviour of calls to `number` (`PUT /sim/v1/phones/{number}`).
    pub fn set_phone(&self, number: &str, behaviour: Behaviour) {
        let mut st = self.lock();
        self.publish_phone(number, Some(&behaviour));
        st.callees.set(number, behaviour);
    }

    /// Removes the API rule for `number`; whether there was one.
    pub fn remove_phone(&self, number: &str) -> bool {
        let mut st = self.lock();
        let removed = st.callees.remove(number);
        if removed {
            self.publish_phone(number, None);
        }
        removed
    }

    /// Every callee rule: API, config, magic; and the numbers with a handset attached.
    pub fn phones(&self) -> PhonesView {
        let st = self.lock();
        let mut view = st.callees.view();
        view.handsets = st.handsets.keys().cloned().collect();
        view.handsets.sort();
        view
    }
}

/// Formats a simulated instant as payload time.
fn wall_string(clock: &Clock, at: SimInstant) -> String {
    PlatformTime::new(clock.wall(at)).to_string()
}
