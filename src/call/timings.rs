//! Call timing (spec §5.2, §5.3): how long each step of a call takes on the simulated clock.
//!
//! Owned here because the call machine and the announcement plan are what read it; the `[call]`
//! section of the config maps onto [`CallTimings`] key for key, and `config` checks the bounds
//! when it loads the file. This file holds no logic, only the settings and their defaults.

use serde::Deserialize;

/// Call timing (spec §5.2, §5.3). All delays run on the simulated clock.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallTimings {
    pub alerting_delay_ms: u64,
    pub answer_delay_ms: u64,
    pub media_start_ms: u64,
    pub segment_gap_ms: u64,
    pub repeat_pause_ms: u64,
    pub digit_gap_ms: u64,
    pub hangup_delay_ms: u64,
    /// At least 1 (checked at load).
    pub ring_timeout_s: u64,
    /// 1 to 3600 (checked at load): `times` 0 repeats the code until then, so the plan and the
    /// audio grow with it.
    pub max_duration_s: u64,
    pub fail_delay_ms: u64,
    pub precall_release_ms: u64,
    /// callStop -> release (spec §13).
    pub stop_delay_ms: u64,
}

impl Default for CallTimings {
    fn default() -> Self {
        CallTimings {
            alerting_delay_ms: 2000,
            answer_delay_ms: 4000,
            media_start_ms: 500,
            segment_gap_ms: 500,
            repeat_pause_ms: 1000,
            digit_gap_ms: 150,
            hangup_delay_ms: 500,
            ring_timeout_s: 60,
            max_duration_s: 120,
            fail_delay_ms: 2000,
            precall_release_ms: 500,
            stop_delay_ms: 200,
        }
    }
}
