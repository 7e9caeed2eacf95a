//! Webhook faults on demand, so an app server can rehearse every delivery failure.
//!
//! Rules come from the config (`[[faults]]`) and `PUT /sim/v1/faults`. Each attempt of a push is
//! matched against the rules in order; the first rule that matches (app, URL prefix, push kind),
//! still has uses left (`times`) and wins its draw (`probability`, drawn from the seed, so a
//! failing test replays exactly) shapes that attempt. The journal names the fault, so a test can
//! tell an injected failure from a real one.
//!
//! | fault | what the receiver sees | what Dialtone records |
//! |---|---|---|
//! | `drop` | nothing | a failed attempt (retried per policy) |
//! | `delay` | the push, `delay_ms` of simulated time late (later events of the call wait) | the attempt when sent |
//! | `duplicate` | the same push twice, same idempotency key | one attempt |
//! | `out_of_order` | this status event after the call's next one | each attempt when sent |
//! | `corrupt_signature` | the push with a wrong `PasswordDigest` | whatever the receiver answers |
//! | `timeout` | the push (it may well process it) | a `timeout` failure, retried per policy |

use serde::{Deserialize, Serialize};

use super::journal::PushKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Drop,
    Delay,
    Duplicate,
    OutOfOrder,
    CorruptSignature,
    Timeout,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Drop => "drop",
            FaultKind::Delay => "delay",
            FaultKind::Duplicate => "duplicate",
            FaultKind::OutOfOrder => "out_of_order",
            FaultKind::CorruptSignature => "corrupt_signature",
            FaultKind::Timeout => "timeout",
        }
    }
}

/// One fault rule. Empty filters match every push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    pub fault: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_key: Option<String>,
    /// Pushes whose URL starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `status` or `fee`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushKind>,
    /// Chance an attempt is hit, above 0 and at most 1.
    #[serde(default = "always")]
    pub probability: f64,
    /// `delay`: how late, in simulated ms (default 5000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// At most this many attempts are hit; absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

fn always() -> f64 {
    1.0
}

impl FaultRule {
    /// What is wrong with the rule, if anything.
    pub fn check(&self) -> Result<(), String> {
        if !(self.probability > 0.0 && self.probability <= 1.0) {
            return Err("`probability` must be above 0 and at most 1".into());
        }
        if self.delay_ms.is_some() && self.fault != FaultKind::Delay {
            return Err("`delay_ms` only applies to the `delay` fault".into());
        }
        if self.fault == FaultKind::OutOfOrder && self.push == Some(PushKind::Fee) {
            return Err(
                "`out_of_order` reorders a call's status events; it cannot apply to `fee`".into(),
            );
        }
        Ok(())
    }
}

/// The attempt a fault is decided for.
pub struct Target<'a> {
    pub app_key: &'a str,
    pub url: &'a str,
    pub kind: PushKind,
}

/// The active rules and how often each has been used.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Vec<(FaultRule, u32)>,
}

/// `GET /sim/v1/faults`.
#[derive(Debug, Clone, Serialize)]
pub struct FaultView {
    #[serde(flatten)]
    pub rule: FaultRule,
    pub used: u32,
}

impl Faults {
    pub fn new(rules: Vec<FaultRule>) -> Faults {
        Faults {
            rules: rules.into_iter().map(|r| (r, 0)).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The fault (and, for `delay`, how late) of one attempt, among rules of the kinds `wanted`
    /// accepts. `unit(i)` is the seeded draw for rule `i`, in [0, 1).
    pub fn decide(
        &mut self,
        t: &Target,
        wanted: impl Fn(FaultKind) -> bool,
        unit: impl Fn(usize) -> f64,
    ) -> Option<(FaultKind, u64)> {
        for (i, (rule, used)) in self.rules.iter_mut().enumerate() {
            let applies = wanted(rule.fault)
                && rule.app_key.as_deref().is_none_or(|a| a == t.app_key)
                && rule.url.as_deref().is_none_or(|u| t.url.starts_with(u))
                && rule.push.is_none_or(|k| k == t.kind)
                && rule.times.is_none_or(|n| *used < n)
                && unit(i) < rule.probability;
            if applies {
                *used += 1;
                return Some((rule.fault, rule.delay_ms.unwrap_or(5000)));
            }
        }
        None
    }

    pub fn view(&self) -> Vec<FaultView> {
        self.rules
            .iter()
            .map(|(rule, used)| FaultView {
                rule: rule.clone(),
                used: *used,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> FaultRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_first_matching_rule_with_uses_left_wins() {
        let mut f = Faults::new(vec![
            rule(r#"{"fault":"drop","push":"fee","times":1}"#),
            rule(r#"{"fault":"timeout","url":"http://a/"}"#),
        ]);
        let fee = Target {
            app_key: "k",
            url: "http://a/fee",
            kind: PushKind::Fee,
        };
        let any = |_| true;
        assert_eq!(f.decide(&fee, any, |_| 0.0), Some((FaultKind::Drop, 5000)));
        assert_eq!(
            f.decide(&fee, any, |_| 0.0),
            Some((FaultKind::Timeout, 5000))
        );
        let elsewhere = Target {
            app_key: "k",
            url: "http://b/",
            kind: PushKind::Status,
        };
        assert_eq!(f.decide(&elsewhere, any, |_| 0.0), None);
        assert_eq!(f.view()[0].used, 1);
    }

    #[test]
    fn probability_compares_with_the_seeded_draw() {
        let mut f = Faults::new(vec![rule(r#"{"fault":"duplicate","probability":0.25}"#)]);
        let t = Target {
            app_key: "k",
            url: "u",
            kind: PushKind::Status,
        };
        assert_eq!(f.decide(&t, |_| true, |_| 0.3), None);
        assert!(f.decide(&t, |_| true, |_| 0.2).is_some());
    }

    #[test]
    fn bad_rules_are_explained() {
        assert!(rule(r#"{"fault":"drop","probability":0}"#).check().is_err());
        assert!(rule(r#"{"fault":"drop","delay_ms":5}"#).check().is_err());
        assert!(rule(r#"{"fault":"out_of_order","push":"fee"}"#)
            .check()
            .is_err());
        assert!(serde_json::from_str::<FaultRule>(r#"{"fault":"explode"}"#).is_err());
    }
}
