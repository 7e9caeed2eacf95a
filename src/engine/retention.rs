//! Retention: how long a finished call stays in memory, and when the database forgets it.
//!
//! A call is *settled* once it has ended and nothing is owed for it: its status pushes are done
//! (delivered, dropped or given up) and its CDR is delivered, abandoned or has no URL. Settled
//! calls leave memory, oldest end first, once more than `retention.max_finished_calls` have ended
//! or (if set) when one ended more than `retention.max_finished_age_s` ago (simulated time). A call with a
//! push still owed (queued, on the wire or waiting to retry) never leaves.
//!
//! When durable, an evicted call is still read from the database, with the same fields (its
//! outcome, rule and announcement are stored with its end, `store::Write::CallEnded`); its kept
//! recording stays downloadable until it expires. With `--ephemeral` it is gone: the inspection
//! API answers 404 for it, as for an unknown call.
//!
//! A call due to leave that still owes a push is set aside and looked at again when one of its
//! pushes finishes ([`Engine::settle`]), rather than on every sweep: a burst of calls ended
//! together otherwise had every push's sweep look past the same unsettled ones.
//!
//! The database's own retention (`store.retention_s`, `store.max_finished_calls`) is asked for
//! here too, as [`Write::Retain`] passes on the store's writer, at most one a simulated second
//! or every [`RETAIN_EVERY`] calls ended.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::{CallEntry, Engine, State};
use crate::call::announcement::Segment;
use crate::call::scenario::Source;
use crate::call::Outcome;
use crate::clock::SimInstant;
use crate::store::{FeeState, Retain, Write};

use super::recordings::Recording;

/// `[retention]`: how many finished calls stay in memory, and for how long.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Settled calls beyond this many finished ones leave memory, oldest first.
    pub max_finished_calls: usize,
    /// Settled calls that ended longer ago than this (simulated seconds) leave memory; 0: no
    /// age limit (the count alone bounds memory).
    pub max_finished_age_s: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        // No age by default: a test that advances a day to check a daily frequency rule still
        // finds its calls; the count is what bounds memory.
        RetentionSettings {
            max_finished_calls: 10_000,
            max_finished_age_s: 0,
        }
    }
}

/// A database retention pass is asked for after this many calls ended, if no simulated second
/// has passed before.
const RETAIN_EVERY: u64 = 256;
/// Calls a database pass looks at (the oldest ones): bounds the writer's time per pass.
const RETAIN_BATCH: u32 = 1024;

/// The finished calls still in memory, in the order they ended, and what outlives them.
#[derive(Default)]
pub(super) struct Finished {
    ended: VecDeque<(SimInstant, u64)>,
    /// Calls that were due to leave (over the count, or too old) but still owed a push, with
    /// when they ended: they leave when their last push finishes ([`Engine::settle`]).
    owed: super::SeqMap<SimInstant>,
    /// Recordings of evicted calls, downloadable until they expire (spec §12.5).
    recordings: HashMap<String, Recording>,
    /// `recordings.len()` after the last purge of expired ones.
    recordings_purged: usize,
    /// The last call sequence number of an earlier run: calls after it are this run's.
    pub(super) run_start_seq: u64,
    /// Calls that left memory since the start (or the last reset).
    pub(super) evicted: u64,
    last_retain: Option<SimInstant>,
    ended_since_retain: u64,
}

/// What the inspection API shows of a call besides its request and timeline, stored with its
/// end (`calls.view_json`) so that the call reads back the same once it left memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ViewExtras {
    pub(super) outcome: Outcome,
    pub(super) behaviour_from: Source,
    /// As `p:500-1915 c1:2415-4500 t:5000-6415` (pre-tone, code readings, post-tone): a
    /// tenth of its JSON, for every call in the database.
    #[serde(with = "compact_plan")]
    pub(super) announcement: Vec<Segment>,
}

/// The announcement's plan in a few bytes: `<kind>:<start>-<end>`, space separated.
mod compact_plan {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    use crate::call::announcement::{Segment, SegmentKind};

    pub fn serialize<S: Serializer>(plan: &[Segment], s: S) -> Result<S::Ok, S::Error> {
        let parts: Vec<String> = plan
            .iter()
            .map(|p| {
                let kind = match p.kind {
                    SegmentKind::PreTone => "p".to_owned(),
                    SegmentKind::Code(n) => format!("c{n}"),
                    SegmentKind::PosTone => "t".to_owned(),
                };
                format!("{kind}:{}-{}", p.start_ms, p.end_ms)
            })
            .collect();
        s.serialize_str(&parts.join(" "))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Segment>, D::Error> {
        let text = String::deserialize(d)?;
        text.split_whitespace()
            .map(|part| {
                let bad = || D::Error::custom(format!("not a planned segment: {part:?}"));
                let (kind, span) = part.split_once(':').ok_or_else(bad)?;
                let (start, end) = span.split_once('-').ok_or_else(bad)?;
                let kind = match kind {
                    "p" => SegmentKind::PreTone,
                    "t" => SegmentKind::PosTone,
                    _ => SegmentKind::Code(
                        kind.strip_prefix('c')
                            .and_then(|n| n.parse().ok())
                            .ok_or_else(bad)?,
                    ),
                };
                Ok(Segment {
                    kind,
                    start_ms: start.parse().map_err(|_| bad())?,
                    end_ms: end.parse().map_err(|_| bad())?,
                })
            })
            .collect()
    }
}

impl ViewExtras {
    pub(super) fn of(e: &CallEntry) -> ViewExtras {
        ViewExtras {
            outcome: e.call.outcome().clone(),
            behaviour_from: e.source.clone(),
            announcement: e.call.announcement().segments.clone(),
        }
    }

    pub(super) fn json(&self) -> String {
        serde_json::to_string(self).expect("outcomes, sources and segments always serialise")
    }
}

impl Finished {
    /// Call `seq` has ended at `at`.
    pub(super) fn ended(&mut self, seq: u64, at: SimInstant) {
        self.ended.push_back((at, seq));
        self.ended_since_retain += 1;
    }

    /// The kept recording `object` of an evicted call, if not expired.
    pub(super) fn recording(&self, object: &str, now: SimInstant) -> Option<&Recording> {
        self.recordings.get(object).filter(|r| now < r.expires)
    }

    fn keep_recording(&mut self, r: Recording, now: SimInstant) {
        self.recordings.insert(r.object.clone(), r);
        // Purging costs the map's size, so only once it has doubled since the last purge.
        if self.recordings.len() >= 2 * self.recordings_purged.max(64) {
            self.recordings.retain(|_, r| now < r.expires);
            self.recordings_purged = self.recordings.len();
        }
    }
}

/// `calls` in `GET /sim/v1/health`: what memory holds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CallsHeld {
    /// Calls in memory, in progress or finished.
    pub in_memory: usize,
    /// Finished calls that left memory (`[retention]`) since the start or the last reset.
    pub evicted: u64,
}

impl Engine {
    /// How many calls memory holds, and how many left it.
    pub fn calls_held(&self) -> CallsHeld {
        let st = self.lock();
        CallsHeld {
            in_memory: st.calls.len(),
            evicted: st.retention.evicted,
        }
    }

    /// Lets settled calls leave memory as `[retention]` says, and asks the database for a
    /// retention pass when one is due. Call after anything that may end or settle calls.
    pub(super) fn retain(&self, st: &mut State, now: SimInstant) {
        let cfg = &self.shared.config.retention;
        let max_age_ms = match cfg.max_finished_age_s {
            0 => u64::MAX,
            s => s.saturating_mul(1000),
        };
        while let Some(&(at, seq)) = st.retention.ended.front() {
            let held = st.retention.ended.len() + st.retention.owed.len();
            let over = held > cfg.max_finished_calls;
            if !over && now.since(at) < max_age_ms {
                break;
            }
            st.retention.ended.pop_front();
            if !st.calls.contains_key(&seq) {
                continue;
            }
            if self.settled(st, seq) {
                self.evict(st, seq, now);
            } else {
                st.retention.owed.insert(seq, at);
            }
        }
        self.retain_database(st, now);
    }

    /// A push of each of `calls` finished (delivered, or given up): those set aside by
    /// [`Engine::retain`] because they owed it leave memory now if nothing more is owed, and the
    /// count or the age still says so; otherwise they go back to the front of the line.
    pub(super) fn settle(&self, st: &mut State, calls: &[u64], now: SimInstant) {
        if st.retention.owed.is_empty() {
            return;
        }
        let cfg = &self.shared.config.retention;
        for &seq in calls {
            let Some(at) = st.retention.owed.remove(&seq) else {
                continue;
            };
            if !self.settled(st, seq) {
                st.retention.owed.insert(seq, at);
                continue;
            }
            let held = st.retention.ended.len() + st.retention.owed.len();
            let too_old = cfg.max_finished_age_s > 0
                && now.since(at) >= cfg.max_finished_age_s.saturating_mul(1000);
            if held >= cfg.max_finished_calls || too_old {
                self.evict(st, seq, now);
            } else {
                st.retention.ended.push_front((at, seq));
            }
        }
    }

    /// Ended, and nothing owed for it.
    fn settled(&self, st: &State, seq: u64) -> bool {
        let Some(entry) = st.calls.get(&seq) else {
            return false;
        };
        entry.call.ending().is_some()
            && !st.deliveries.owes_status(seq)
            && matches!(
                entry.fee_state,
                FeeState::Delivered | FeeState::Abandoned | FeeState::NoUrl
            )
    }

    fn evict(&self, st: &mut State, seq: u64, now: SimInstant) {
        let Some(entry) = st.calls.remove(&seq) else {
            return;
        };
        st.by_session.remove(&entry.session_id);
        if let Some(r) = entry.recording {
            st.recordings.remove(&r.object);
            st.retention.keep_recording(*r, now);
        }
        st.retention.evicted += 1;
    }

    /// Queues a database retention pass, if the store has a policy and one is due.
    fn retain_database(&self, st: &mut State, now: SimInstant) {
        let Some(store) = self.store() else {
            return;
        };
        let cfg = &self.shared.config.store;
        if cfg.retention_s == 0 && cfg.max_finished_calls == 0 {
            return;
        }
        let r = &mut st.retention;
        let a_second_on = r.last_retain.is_none_or(|last| now.since(last) >= 1000);
        if r.ended_since_retain == 0 || !(a_second_on || r.ended_since_retain >= RETAIN_EVERY) {
            return;
        }
        r.last_retain = Some(now);
        r.ended_since_retain = 0;
        let clock = &self.shared.clock;
        // A retention longer than the calendar reaches back keeps everything.
        let ended_before = (cfg.retention_s > 0)
            .then(|| {
                let age = chrono::Duration::try_seconds(i64::try_from(cfg.retention_s).ok()?)?;
                let cutoff = clock.wall(now).checked_sub_signed(age)?;
                Some(crate::clock::PlatformTime::new(cutoff).to_string())
            })
            .flatten();
        if cfg.max_finished_calls == 0 && ended_before.is_none() {
            return;
        }
        store.write(Write::Retain(Retain {
            ended_before,
            max_finished: (cfg.max_finished_calls > 0).then_some(cfg.max_finished_calls),
            batch: RETAIN_BATCH,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::announcement::SegmentKind;

    #[test]
    fn a_stored_view_reads_back_as_it_was_written() {
        let extras = ViewExtras {
            outcome: Outcome::ANSWER,
            behaviour_from: Source::Config("+86139*".into()),
            announcement: vec![
                Segment {
                    kind: SegmentKind::PreTone,
                    start_ms: 500,
                    end_ms: 1915,
                },
                Segment {
                    kind: SegmentKind::Code(12),
                    start_ms: 2415,
                    end_ms: 4500,
                },
                Segment {
                    kind: SegmentKind::PosTone,
                    start_ms: 5000,
                    end_ms: 6415,
                },
            ],
        };
        let json = extras.json();
        assert!(
            json.contains(r#""announcement":"p:500-1915 c12:2415-4500 t:5000-6415""#),
            "{json}"
        );
        let back: ViewExtras = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back.outcome, extras.outcome);
        assert_eq!(back.behaviour_from, extras.behaviour_from);
        assert_eq!(back.announcement, extras.announcement);
        let broken = json.replace("c12", "x12");
        assert!(serde_json::from_str::<ViewExtras>(&broken)
            .expect_err("an unknown kind is an error")
            .to_string()
            .contains("not a planned segment"));
    }
}
