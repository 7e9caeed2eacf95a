//! Frequency control (spec §5.4): sliding windows over the calls placed, per rule and per key
//! (developer, app, display number, or callee). Calls a rule refuses do not count.
//!
//! The rules are defined here ([`FrequencySettings`], the `[frequency]` section of the config;
//! `config` checks them at load). The scope a rule counts by is the call's
//! ([`crate::call::FrequencyScope`]): a refused call's outcome names it.

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;

use crate::call::FrequencyScope;
use crate::clock::SimInstant;

/// Frequency control (spec §5.4): sliding-window limits on calls placed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrequencySettings {
    pub mode: FrequencyMode,
    /// Tried in order; the first one exceeded refuses the call.
    pub rules: Vec<FrequencyRule>,
}

/// What an exceeded rule does: release the accepted call before callout (`async`, stateCode
/// 7001-7003), or refuse the request with 1013118 (`sync`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrequencyMode {
    #[default]
    Async,
    Sync,
}

/// At most `max_calls` calls placed in any `window_s` seconds, counted per key of `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyRule {
    /// `developer`, `app`, `display_number` or `callee`.
    pub scope: FrequencyScope,
    /// At least 1 (checked at load).
    pub max_calls: u32,
    /// At least 1 (checked at load).
    pub window_s: u64,
}

/// A rule a call exceeded: which, for which key, and when it lets a call through again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequencyHit {
    pub rule: FrequencyRule,
    /// What the rule counts by: a sp_id, app_key, display number, or `sp_id/callee`.
    pub key: String,
    /// Calls counted in the window (at least `max_calls`).
    pub counted: usize,
    /// When the oldest counted call leaves the window.
    pub frees_at: Option<SimInstant>,
}

impl FrequencyHit {
    /// Which rule, the counts, when it frees, and how to clear it: the hint of a release with
    /// 7001-7003 or a 1013118, and the hit's log line. `wall` turns simulated time into UTC.
    pub fn explain(&self, wall: impl Fn(SimInstant) -> String) -> String {
        let scope = serde_json::to_value(self.rule.scope)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let frees = self
            .frees_at
            .map(|t| {
                format!(
                    "; the next call is allowed from {} (simulated time)",
                    wall(t)
                )
            })
            .unwrap_or_default();
        format!(
            "frequency rule `{scope}` (max_calls {} per {scope} in window_s {}, [frequency] \
             rules) exceeded for {}: {} placed in the window{frees}; `dialtone reset` (POST \
             /sim/v1/reset) clears the counts, or call another number",
            self.rule.max_calls, self.rule.window_s, self.key, self.counted
        )
    }
}

/// What a call is counted under.
pub struct Keys<'a> {
    pub sp_id: &'a str,
    pub app_key: &'a str,
    pub display: &'a str,
    pub callee: &'a str,
}

impl Keys<'_> {
    fn of(&self, scope: FrequencyScope) -> String {
        match scope {
            FrequencyScope::Developer => self.sp_id.to_owned(),
            FrequencyScope::App => self.app_key.to_owned(),
            FrequencyScope::DisplayNumber => self.display.to_owned(),
            // Per developer: the platform protects a phone owner from one account's floods.
            FrequencyScope::Callee => format!("{}/{}", self.sp_id, self.callee),
        }
    }
}

/// The counts of placed calls in each rule's window, per key. Plain data: the engine holds it
/// under its lock.
#[derive(Default)]
pub struct Frequency {
    rules: Vec<FrequencyRule>,
    placed: HashMap<(usize, String), VecDeque<SimInstant>>,
    /// Prune `placed` when it reaches this size, then set it to twice what survived: one key per
    /// callee would otherwise grow the map for as long as the server runs.
    prune_at: usize,
}

/// Below this many keys the map is never pruned.
const PRUNE_FLOOR: usize = 4096;

impl Frequency {
    /// Counters for `rules`, all empty.
    pub fn new(rules: Vec<FrequencyRule>) -> Frequency {
        Frequency {
            rules,
            placed: HashMap::new(),
            prune_at: PRUNE_FLOOR,
        }
    }

    /// The first rule a new call at `now` would exceed, and by what.
    pub fn exceeded(&mut self, keys: &Keys, now: SimInstant) -> Option<FrequencyHit> {
        for (i, rule) in self.rules.iter().enumerate() {
            let window_ms = rule.window_s * 1000;
            let key = keys.of(rule.scope);
            if let Some(times) = self.placed.get_mut(&(i, key.clone())) {
                while times.front().is_some_and(|t| now.since(*t) >= window_ms) {
                    times.pop_front();
                }
                if times.len() >= rule.max_calls as usize {
                    return Some(FrequencyHit {
                        rule: rule.clone(),
                        key,
                        counted: times.len(),
                        frees_at: times.front().map(|t| t.plus_ms(window_ms)),
                    });
                }
            }
        }
        None
    }

    /// Counts a placed call against every rule.
    pub fn record(&mut self, keys: &Keys, now: SimInstant) {
        if self.placed.len() >= self.prune_at {
            self.prune(now);
        }
        for (i, rule) in self.rules.iter().enumerate() {
            self.placed
                .entry((i, keys.of(rule.scope)))
                .or_default()
                .push_back(now);
        }
    }

    /// Drops the keys with no call left inside their rule's window.
    fn prune(&mut self, now: SimInstant) {
        let rules = &self.rules;
        self.placed.retain(|(i, _), times| {
            let window_ms = rules.get(*i).map_or(0, |r| r.window_s * 1000);
            times.back().is_some_and(|t| now.since(*t) < window_ms)
        });
        self.prune_at = (self.placed.len() * 2).max(PRUNE_FLOOR);
    }

    /// Forgets every count (a reset); the rules stay.
    pub fn reset(&mut self) {
        self.placed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_of_callees_long_gone_are_forgotten_so_the_map_stays_bounded() {
        let rule = FrequencyRule {
            scope: FrequencyScope::Callee,
            max_calls: 10,
            window_s: 60,
        };
        let mut f = Frequency::new(vec![rule]);
        for i in 0..100_000u64 {
            let callee = format!("+86139{i:08}");
            let keys = Keys {
                sp_id: "sp",
                app_key: "k",
                display: "+862087654321",
                callee: &callee,
            };
            // One new callee a second: only the last minute's stay counted.
            f.record(&keys, SimInstant::ZERO.plus_s(i));
        }
        assert!(f.placed.len() <= 2 * PRUNE_FLOOR, "{}", f.placed.len());
    }

    #[test]
    fn a_callee_rule_allows_max_calls_per_window_then_frees_up() {
        let rule = FrequencyRule {
            scope: FrequencyScope::Callee,
            max_calls: 2,
            window_s: 60,
        };
        let mut f = Frequency::new(vec![rule.clone()]);
        let k = Keys {
            sp_id: "sp",
            app_key: "a",
            display: "+1",
            callee: "+8613900001234",
        };
        let other = Keys {
            sp_id: "sp",
            app_key: "a",
            display: "+1",
            callee: "+8613900009999",
        };
        for t in [0, 1000] {
            assert_eq!(f.exceeded(&k, SimInstant(t)), None);
            f.record(&k, SimInstant(t));
        }
        let hit = f
            .exceeded(&k, SimInstant(2000))
            .expect("the third call exceeds");
        assert_eq!(
            hit,
            FrequencyHit {
                rule,
                key: "sp/+8613900001234".into(),
                counted: 2,
                frees_at: Some(SimInstant(60_000)),
            }
        );
        assert_eq!(
            hit.explain(|t| format!("{}ms", t.ms())),
            "frequency rule `callee` (max_calls 2 per callee in window_s 60, [frequency] rules) \
             exceeded for sp/+8613900001234: 2 placed in the window; the next call is allowed \
             from 60000ms (simulated time); `dialtone reset` (POST /sim/v1/reset) clears the \
             counts, or call another number"
        );
        assert_eq!(f.exceeded(&other, SimInstant(2000)), None);
        assert_eq!(
            f.exceeded(&k, SimInstant(60_000)),
            None,
            "the first call left the window"
        );
    }
}
