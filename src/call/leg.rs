//! One placed leg, as every kind of call shares it (spec §5.3): whether the phone fails before
//! ringing, and when ringing ends and how. The single leg of a verification or notification
//! call and both legs of a click-to-call are decided by these.

use super::{CallTimings, Outcome, StateCode};
use crate::clock::SimInstant;

/// Failures that never ring: released `call.fail_delay_ms` after callout.
pub fn failure_without_ringing(outcome: &Outcome) -> Option<StateCode> {
    match outcome {
        Outcome::Busy => Some(StateCode::Busy),
        Outcome::PoweredOff => Some(StateCode::PoweredOff),
        Outcome::Unreachable => Some(StateCode::Unreachable),
        Outcome::NotExist => Some(StateCode::NotExist),
        _ => None,
    }
}

/// A phone that started ringing at `alerting`: when ringing ends, and `None` if it is answered
/// then or the failure code otherwise. Whatever the callee does, the platform stops ringing at
/// `call.ring_timeout_s` (spec §5.2).
pub fn ringing(
    outcome: &Outcome,
    timings: &CallTimings,
    alerting: SimInstant,
) -> (SimInstant, Option<StateCode>) {
    let timeout_ms = timings.ring_timeout_s * 1000;
    let (callee_ms, result) = match outcome {
        Outcome::Answer { ring_ms, .. } => (ring_ms.unwrap_or(timings.answer_delay_ms), None),
        Outcome::HangupDuringPlayback { .. } | Outcome::HangupBeforeBAnswer { .. } => {
            (timings.answer_delay_ms, None)
        }
        Outcome::NoAnswer { no_answer_after_s } => (
            no_answer_after_s.unwrap_or(30) * 1000,
            Some(StateCode::NoAnswer),
        ),
        Outcome::Rejected { reject_after_ms } => {
            (reject_after_ms.unwrap_or(3000), Some(StateCode::Rejected))
        }
        _ => (timeout_ms, Some(StateCode::RingTimeout)),
    };
    if callee_ms >= timeout_ms {
        (alerting.plus_ms(timeout_ms), Some(StateCode::RingTimeout))
    } else {
        (alerting.plus_ms(callee_ms), result)
    }
}
