//! What a person or the app does to a call in progress, on any clock: the app stops it
//! (callStop, spec §13), a person presses keys or hangs up a phone (`/sim/v1/calls/{id}/dtmf`,
//! `/hangup`). Each fires what was due first, then hands the input to the call's state machine
//! and turns its effects into timeline entries and pushes, like a deadline would.

use super::{Engine, Outbound};
use crate::call::click2call::Party;
use crate::call::HangupError;

impl Engine {
    /// The app `app_key` stops its call `session_id` (callStop, spec §13): released within
    /// `call.stop_delay_ms`. Fails for an unknown call, another app's, one that has ended or is
    /// already stopping: the platform answers all of them alike (1020001).
    pub fn stop(&self, app_key: &str, session_id: &str) -> Result<(), StopError> {
        let now = self.shared.clock.now();
        self.fire_due(now);
        let mut out = Outbound::default();
        {
            let mut st = self.lock();
            let seq = *st.by_session.get(session_id).ok_or(StopError)?;
            let entry = st.calls.get_mut(&seq).ok_or(StopError)?;
            if *entry.request.app_key != *app_key || !entry.call.stop(now) {
                return Err(StopError);
            }
            self.drain_call(&mut st, seq, now, &mut out);
        }
        self.send(out);
        Ok(())
    }

    /// A person hangs up `party`'s phone of call `session_id` now (`POST
    /// /sim/v1/calls/{id}/hangup`, the handset); see [`Call::hangup`] for what it means when.
    pub fn hangup(&self, session_id: &str, party: Party) -> Result<(), HangupError> {
        let now = self.shared.clock.now();
        self.fire_due(now);
        let mut out = Outbound::default();
        {
            let mut st = self.lock();
            let seq = *st.by_session.get(session_id).ok_or(HangupError::Ended)?;
            let entry = st.calls.get_mut(&seq).ok_or(HangupError::Ended)?;
            entry.call.hangup(party, now)?;
            self.drain_call(&mut st, seq, now, &mut out);
        }
        self.send(out);
        Ok(())
    }

    /// The callee of call `session_id` presses `keys` now (`POST /sim/v1/calls/{id}/dtmf`, the
    /// handset): a notification collecting digits takes them; otherwise they are only noted on
    /// the timeline. The caller checked the keys (`0`-`9`, `*`, `#`).
    pub fn press(&self, session_id: &str, keys: &str) -> Result<(), PressError> {
        let now = self.shared.clock.now();
        // Whatever was due before the keys happens first (a real clock's driver may lag).
        self.fire_due(now);
        let mut out = Outbound::default();
        {
            let mut st = self.lock();
            let seq = *st
                .by_session
                .get(session_id)
                .ok_or(PressError::UnknownCall)?;
            let entry = st.calls.get_mut(&seq).ok_or(PressError::UnknownCall)?;
            if entry.call.ending().is_some() {
                return Err(PressError::Ended);
            }
            for key in keys.chars() {
                entry.call.key(key, now);
            }
            self.drain_call(&mut st, seq, now, &mut out);
        }
        self.send(out);
        Ok(())
    }
}

/// callStop found no call of the app in progress with that id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no call of the app in progress has this sessionId")]
pub struct StopError;

/// Why keys could not be pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PressError {
    #[error("no call in progress has this sessionId")]
    UnknownCall,
    #[error("the call has ended")]
    Ended,
}
