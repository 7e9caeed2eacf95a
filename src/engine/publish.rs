//! The engine's hooks into the event stream ([`crate::events`]): each is called where the thing
//! happens, with the engine's lock held (an advance: the lock that serialises advances), so
//! stream order is the order of state changes. They build the event and publish it; publishing
//! never blocks (see [`Events::publish`]).
//!
//! Dialtone decision: this is the one place the engine wakes anyone under its lock (a publish
//! wakes the stream's socket tasks that are waiting, each at most once until it reads again). Numbering outside the lock could not keep
//! `seq` in the order of state changes, and the woken tasks never take the engine's lock: a
//! wake only schedules them.

use super::{CallEntry, Engine, TimelineEntry};
use crate::call::scenario::Behaviour;
use crate::call::timeline::TimelineEvent;
use crate::clock::SimInstant;
use crate::events::{
    CallAccepted, ClockAdvanced, Events, FaultsChanged, PhoneChanged, ResetDone, SimEvent, Stamp,
    TimelineItem,
};
use crate::push::faults::FaultRule;

impl Engine {
    /// The event bus: subscribe here for `GET /sim/v1/stream`.
    pub fn events(&self) -> &Events {
        &self.shared.events
    }

    /// Publishes `event` as happening at `at` on the simulated clock.
    pub(super) fn publish(&self, at: SimInstant, event: SimEvent) {
        self.shared
            .events
            .publish(Stamp::new(&self.shared.clock, at), event);
    }

    /// Appends `t` to the call's timeline and the database, and publishes it.
    pub(super) fn note(&self, entry: &mut CallEntry, t: TimelineEntry) {
        self.note_logged(entry, t, true);
    }

    /// [`Engine::note`], with the log told only if `logged`.
    pub(super) fn note_logged(&self, entry: &mut CallEntry, t: TimelineEntry, logged: bool) {
        let ending = match t.event {
            TimelineEvent::Disconnect => entry.call.ending().map(|e| e.state_code),
            _ => None,
        };
        let item = TimelineItem {
            event: t.event,
            session_id: entry.session_id.clone(),
            app_key: entry.request.app_key.clone(),
            detail: t.detail.clone(),
            state_code: ending.map(|c| c.code()),
            state_desc: ending.map(|c| c.desc()),
            logged,
        };
        let stamp = Stamp {
            at_ms: t.at_ms,
            time: t.time,
        };
        self.shared.events.publish(stamp, SimEvent::Timeline(item));
        entry.note(self.store(), t);
    }

    /// A call was accepted (resultcode "0"); published before any of its timeline.
    pub(super) fn publish_accepted(&self, entry: &CallEntry, at: SimInstant) {
        let accepted = CallAccepted {
            session_id: entry.session_id.to_string(),
            app_key: entry.request.app_key.clone(),
            caller: entry.request.display_nbr.to_string(),
            callee: entry.request.callee_nbr.to_string(),
            resultcode: "0",
        };
        self.publish(at, SimEvent::Accepted(accepted));
    }

    /// A manual clock starts moving from `from` to `to`; what happens on the way follows.
    pub(super) fn publish_advance(&self, from: SimInstant, to: SimInstant) {
        let clock = &self.shared.clock;
        let advanced = ClockAdvanced {
            from_ms: from.ms(),
            to_ms: to.ms(),
            from: Stamp::new(clock, from).time.to_string(),
            to: Stamp::new(clock, to).time.to_string(),
        };
        self.publish(from, SimEvent::Clock(advanced));
    }

    /// A callee rule was set (`Some`) or removed (`None`) through the control API.
    pub(super) fn publish_phone(&self, number: &str, behaviour: Option<&Behaviour>) {
        let changed = PhoneChanged {
            number: number.to_owned(),
            action: if behaviour.is_some() {
                "set"
            } else {
                "removed"
            },
            behaviour: behaviour.and_then(|b| serde_json::to_value(b).ok()),
        };
        self.publish(self.shared.clock.now(), SimEvent::Phone(changed));
    }

    /// The injected faults were replaced.
    pub(super) fn publish_faults(&self, rules: &[FaultRule]) {
        let changed = FaultsChanged {
            rules: rules.to_vec(),
        };
        self.publish(self.shared.clock.now(), SimEvent::Faults(changed));
    }

    /// The simulation was reset (a manual clock is back at its start).
    pub(super) fn publish_reset(&self) {
        self.publish(self.shared.clock.now(), SimEvent::Reset(ResetDone {}));
    }
}
