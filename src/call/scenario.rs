//! Callee behaviour: what the phone at the other end does with a call (spec §5.1, §5.3).
//!
//! For each call the outcome is chosen once, at acceptance, by the first of:
//!
//! 1. a rule set for that exact number through the control API (`PUT /sim/v1/phones/{number}`);
//! 2. the first `[[scenarios]]` rule in the config whose `match` fits the number: an exact
//!    number, a prefix ending in `*` (`+86139000099*`), a suffix starting with `*` (`*0486`), or
//!    `*` for every number;
//! 3. a built-in magic number ([`MAGIC_NUMBERS`]);
//! 4. the default: the callee answers after the configured ring time and listens to the end.
//!
//! A behaviour is one outcome or a sequence of them: the n-th call to the number under that rule
//! gets the n-th outcome, and the last one repeats (busy, then answer: retry logic can be tested).

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::{FrequencyScope, Outcome};

/// A behaviour as users write it, in the config (`[[scenarios]]`) or as the JSON body of
/// `PUT /sim/v1/phones/{number}`: either `outcome` (with its parameters) or `sequence` (a list of
/// the same shape, each with an `outcome`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourSpec {
    /// Config rules only: which numbers the rule applies to.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// `answer`/`slow_answer`: ring this long before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_ms: Option<u64>,
    /// `answer`: keys to press on a notification, one string per digit collection (spec §11.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digits: Option<Vec<String>>,
    /// `answer`: when keying starts after a collection starts (default 1500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtmf_delay_ms: Option<u64>,
    /// `answer`: between keys (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtmf_gap_ms: Option<u64>,
    /// `answer` (click-to-call B leg): talk this long after answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk_s: Option<u64>,
    /// `answer` (click-to-call B leg): who hangs up when the talk ends, `a` or `b`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hangup_by: Option<super::click2call::Party>,
    /// `hangup_during_playback`: hang up this long after answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hangup_after_ms: Option<u64>,
    /// `no_answer`: the network gives up after this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_answer_after_s: Option<u64>,
    /// `rejected`: decline this long after alerting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_after_ms: Option<u64>,
    /// `frequency_controlled`: which rule's scope refused the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<FrequencyScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Vec<BehaviourSpec>>,
}

/// The outcome names users may write, including the everyday reasons a code call fails, each
/// mapped onto the platform outcome that produces the same pushes.
pub const OUTCOME_NAMES: &[(&str, &str)] = &[
    (
        "answer",
        "answers after the ring time and listens to the end (stateCode 0)",
    ),
    (
        "slow_answer",
        "rings `ring_ms` (default 20000), then answers (stateCode 0)",
    ),
    (
        "intercepted",
        "the code is answered and played in full, by someone else (stateCode 0)",
    ),
    (
        "hangup_before_b_answer",
        "click-to-call A: answers, gives up `hangup_after_ms` (3000) later if B has not answered (8009)",
    ),
    (
        "hangup_during_playback",
        "answers, hangs up `hangup_after_ms` after answering (8017)",
    ),
    ("busy", "busy before ringing (8102)"),
    (
        "no_answer",
        "rings; no answer after `no_answer_after_s`, default 30 (8101)",
    ),
    (
        "ring_timeout",
        "rings until call.ring_timeout_s; the platform cancels (8003)",
    ),
    (
        "rejected",
        "declines while ringing, `reject_after_ms` after alerting (8105)",
    ),
    (
        "suspended",
        "line suspended for arrears: refused while ringing (8105)",
    ),
    ("powered_off", "phone switched off (8104)"),
    ("unreachable", "temporarily unreachable (8103)"),
    (
        "weak_signal",
        "no coverage or weak signal: temporarily unreachable (8103)",
    ),
    ("not_exist", "the number does not exist (8100)"),
    (
        "blacklisted",
        "refused before callout: callee blacklisted (7004)",
    ),
    (
        "operator_blacklist",
        "the operator blocks the display number: blacklisted (7004)",
    ),
    (
        "frequency_controlled",
        "refused before callout by a frequency rule of `scope` (7001-7003)",
    ),
];

/// Keys a callee can press: `0`-`9`, `*`, `#`, at most 32.
pub fn is_keys(s: &str) -> bool {
    s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
}

fn outcome_of(name: &str, p: &BehaviourSpec) -> Result<Outcome, String> {
    let allowed: &[&str] = match name {
        "answer" | "slow_answer" | "intercepted" => &[
            "ring_ms",
            "digits",
            "dtmf_delay_ms",
            "dtmf_gap_ms",
            "talk_s",
            "hangup_by",
        ],
        "hangup_during_playback" | "hangup_before_b_answer" => &["hangup_after_ms"],
        "no_answer" => &["no_answer_after_s"],
        "rejected" | "suspended" => &["reject_after_ms"],
        "frequency_controlled" => &["scope"],
        _ => &[],
    };
    let given = [
        ("ring_ms", p.ring_ms.is_some()),
        ("digits", p.digits.is_some()),
        ("dtmf_delay_ms", p.dtmf_delay_ms.is_some()),
        ("dtmf_gap_ms", p.dtmf_gap_ms.is_some()),
        ("talk_s", p.talk_s.is_some()),
        ("hangup_by", p.hangup_by.is_some()),
        ("hangup_after_ms", p.hangup_after_ms.is_some()),
        ("no_answer_after_s", p.no_answer_after_s.is_some()),
        ("reject_after_ms", p.reject_after_ms.is_some()),
        ("scope", p.scope.is_some()),
    ];
    if let Some((param, _)) = given.iter().find(|(n, set)| *set && !allowed.contains(n)) {
        return Err(format!("`{param}` does not apply to outcome `{name}`"));
    }
    Ok(match name {
        "answer" | "intercepted" | "slow_answer" => {
            if let Some(bad) = p.digits.iter().flatten().find(|d| !is_keys(d)) {
                return Err(format!(
                    "`digits` entry {bad:?} is not keys: 0-9, * and # only, at most 32"
                ));
            }
            let ring_ms = match name {
                "slow_answer" => Some(p.ring_ms.unwrap_or(20_000)),
                _ => p.ring_ms,
            };
            Outcome::Answer {
                ring_ms,
                digits: p.digits.clone(),
                dtmf_delay_ms: p.dtmf_delay_ms,
                dtmf_gap_ms: p.dtmf_gap_ms,
                talk_s: p.talk_s,
                hangup_by: p.hangup_by,
            }
        }
        "hangup_before_b_answer" => Outcome::HangupBeforeBAnswer {
            hangup_after_ms: p.hangup_after_ms,
        },
        "hangup_during_playback" => Outcome::HangupDuringPlayback {
            hangup_after_ms: p.hangup_after_ms,
        },
        "busy" => Outcome::Busy,
        "no_answer" => Outcome::NoAnswer {
            no_answer_after_s: p.no_answer_after_s,
        },
        "ring_timeout" => Outcome::RingTimeout,
        "rejected" | "suspended" => Outcome::Rejected {
            reject_after_ms: p.reject_after_ms,
        },
        "powered_off" => Outcome::PoweredOff,
        "unreachable" | "weak_signal" => Outcome::Unreachable,
        "not_exist" => Outcome::NotExist,
        "blacklisted" | "operator_blacklist" => Outcome::Blacklisted,
        "frequency_controlled" => Outcome::FrequencyControlled {
            scope: p.scope.ok_or("`frequency_controlled` needs a `scope`")?,
        },
        other => {
            let names: Vec<&str> = OUTCOME_NAMES.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "unknown outcome `{other}`; known: {}",
                names.join(", ")
            ));
        }
    })
}

/// A validated behaviour: the outcomes of successive calls, the last repeating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Behaviour {
    pub steps: Vec<Outcome>,
}

impl Behaviour {
    pub fn single(outcome: Outcome) -> Behaviour {
        Behaviour {
            steps: vec![outcome],
        }
    }

    /// The outcome of call number `n` (0-based) under this behaviour.
    pub fn nth(&self, n: usize) -> Outcome {
        self.steps[n.min(self.steps.len() - 1)].clone()
    }
}

impl BehaviourSpec {
    /// Validates the spec: exactly one of `outcome` and `sequence`, every name known.
    pub fn to_behaviour(&self) -> Result<Behaviour, String> {
        match (&self.outcome, &self.sequence) {
            (Some(name), None) => Ok(Behaviour::single(outcome_of(name, self)?)),
            (None, Some(seq)) if !seq.is_empty() => {
                let bare = BehaviourSpec {
                    pattern: self.pattern.clone(),
                    sequence: self.sequence.clone(),
                    ..BehaviourSpec::default()
                };
                if *self != bare {
                    return Err("with `sequence`, parameters go inside each step".into());
                }
                let step = |(i, s): (usize, &BehaviourSpec)| {
                    let name = match (&s.outcome, &s.sequence, &s.pattern) {
                        (Some(name), None, None) => name,
                        _ => return Err(format!("sequence[{i}]: each step is one `outcome`")),
                    };
                    outcome_of(name, s).map_err(|e| format!("sequence[{i}]: {e}"))
                };
                let steps = seq.iter().enumerate().map(step).collect::<Result<_, _>>()?;
                Ok(Behaviour { steps })
            }
            (None, Some(_)) => Err("`sequence` must not be empty".into()),
            (Some(_), Some(_)) => Err("give `outcome` or `sequence`, not both".into()),
            (None, None) => Err("give `outcome` (e.g. \"busy\") or `sequence`".into()),
        }
    }
}

/// Which numbers a config rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Any,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, String> {
        let digits_ok = |t: &str| {
            let t = t.strip_prefix('+').unwrap_or(t);
            t.bytes().all(|b| b.is_ascii_digit())
        };
        let p = if s == "*" {
            Pattern::Any
        } else if let Some(prefix) = s.strip_suffix('*') {
            Pattern::Prefix(prefix.to_owned())
        } else if let Some(suffix) = s.strip_prefix('*') {
            Pattern::Suffix(suffix.to_owned())
        } else {
            Pattern::Exact(s.to_owned())
        };
        match &p {
            Pattern::Exact(t) | Pattern::Prefix(t) | Pattern::Suffix(t)
                if t.is_empty() || !digits_ok(t) =>
            {
                Err(format!(
                    "`{s}` is not a number, a prefix ending in *, a suffix starting with *, or *"
                ))
            }
            _ => Ok(p),
        }
    }

    pub fn matches(&self, number: &str) -> bool {
        match self {
            Pattern::Exact(n) => number == n,
            Pattern::Prefix(p) => number.starts_with(p.as_str()),
            Pattern::Suffix(s) => number.ends_with(s.as_str()),
            Pattern::Any => true,
        }
    }
}

/// Built-in magic numbers: any callee number ending in `0000` followed by the stateCode of the
/// outcome you want. `+8613900008102` is busy; `+8613900001234` (the spec's example) answers.
/// Only 7xxx/8xxx codes, so numbers counted up from `…0000000` stay ordinary for thousands of
/// calls.
pub const MAGIC_NUMBERS: &[(&str, &str)] = &[
    ("00008102", "busy"),
    ("00008101", "no_answer"),
    ("00008003", "ring_timeout"),
    ("00008105", "rejected"),
    ("00008104", "powered_off"),
    ("00008103", "unreachable"),
    ("00008100", "not_exist"),
    ("00008017", "hangup_during_playback"),
    ("00007004", "blacklisted"),
];

/// The magic outcome of `number`, if it is one.
pub fn magic(number: &str) -> Option<Outcome> {
    let (_, name) = MAGIC_NUMBERS
        .iter()
        .find(|(suffix, _)| number.ends_with(suffix))?;
    outcome_of(name, &BehaviourSpec::default()).ok()
}

/// A config rule, validated.
#[derive(Debug, Clone)]
pub struct Rule {
    pub pattern: Pattern,
    pub text: String,
    pub behaviour: Behaviour,
}

/// Where a call's outcome came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "from", content = "detail")]
pub enum Source {
    /// A rule set through `PUT /sim/v1/phones/{number}`.
    Api,
    /// A config `[[scenarios]]` rule: its `match`.
    Config(String),
    /// A built-in magic number.
    Magic,
    /// A platform control (ports, frequency rule, blacklist).
    Platform,
    /// A person at a virtual handset attached to the number (`/sim/v1/phones/{number}/handset`).
    Handset,
    Default,
}

/// The callee side of the simulation: rules and how many calls each has seen.
#[derive(Debug, Clone, Default)]
pub struct Callees {
    api: BTreeMap<String, (Behaviour, usize)>,
    config: Vec<Rule>,
    /// Calls per config rule, for `GET /sim/v1/phones`.
    config_totals: Vec<usize>,
    /// Calls so far per (config rule, number), kept only for rules with a sequence: a single
    /// outcome needs no position. At most [`SEQUENCE_NUMBERS_KEPT`] entries.
    positions: HashMap<(usize, String), usize>,
    /// The keys of `positions`, oldest first, for eviction at the cap.
    first_seen: VecDeque<(usize, String)>,
}

/// How many (rule, number) positions in config sequences are remembered.
///
/// Dialtone decision: a pattern rule (`*`, a prefix) with a sequence would otherwise remember
/// every number it ever matched. A sequence scripts a few numbers under test; past this many
/// distinct numbers (a load test) the number first seen longest ago is forgotten, and its next
/// call starts the sequence again. About 100 bytes each, so a few MB at most.
pub const SEQUENCE_NUMBERS_KEPT: usize = 100_000;

/// `GET /sim/v1/phones`.
#[derive(Debug, Clone, Serialize)]
pub struct PhonesView {
    /// Rules set through the API: number → behaviour and calls made under it.
    pub api: Vec<PhoneRuleView>,
    /// Config rules, in the order they are tried.
    pub config: Vec<PhoneRuleView>,
    /// The built-in magic numbers (suffix → outcome).
    pub magic: Vec<(String, String)>,
    /// Numbers a virtual handset is attached to (they come before every rule), sorted.
    pub handsets: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhoneRuleView {
    #[serde(rename = "match")]
    pub pattern: String,
    pub behaviour: Behaviour,
    pub calls: usize,
}

impl Callees {
    pub fn new(config: Vec<Rule>) -> Callees {
        Callees {
            config_totals: vec![0; config.len()],
            config,
            ..Callees::default()
        }
    }

    /// Chooses the outcome of a new call to `number`, counting it against its rule.
    pub fn choose(&mut self, number: &str) -> (Outcome, Source) {
        if let Some((behaviour, calls)) = self.api.get_mut(number) {
            *calls += 1;
            return (behaviour.nth(*calls - 1), Source::Api);
        }
        if let Some((i, rule)) = self
            .config
            .iter()
            .enumerate()
            .find(|(_, r)| r.pattern.matches(number))
        {
            if let Some(total) = self.config_totals.get_mut(i) {
                *total += 1;
            }
            let step = if rule.behaviour.steps.len() > 1 {
                let key = (i, number.to_owned());
                if !self.positions.contains_key(&key) {
                    if self.first_seen.len() >= SEQUENCE_NUMBERS_KEPT {
                        if let Some(oldest) = self.first_seen.pop_front() {
                            self.positions.remove(&oldest);
                        }
                    }
                    self.first_seen.push_back(key.clone());
                }
                let calls = self.positions.entry(key).or_default();
                *calls += 1;
                *calls - 1
            } else {
                0
            };
            return (rule.behaviour.nth(step), Source::Config(rule.text.clone()));
        }
        if let Some(outcome) = magic(number) {
            return (outcome, Source::Magic);
        }
        (Outcome::ANSWER, Source::Default)
    }

    /// Sets (or replaces) the API rule for `number`; its call count starts again.
    pub fn set(&mut self, number: &str, behaviour: Behaviour) {
        self.api.insert(number.to_owned(), (behaviour, 0));
    }

    /// Removes the API rule for `number`; whether there was one.
    pub fn remove(&mut self, number: &str) -> bool {
        self.api.remove(number).is_some()
    }

    /// Forgets API rules and every call count (`POST /sim/v1/reset`).
    pub fn reset(&mut self) {
        self.api.clear();
        self.config_totals.iter_mut().for_each(|t| *t = 0);
        self.positions.clear();
        self.first_seen.clear();
    }

    pub fn view(&self) -> PhonesView {
        let config_calls = |i: usize| self.config_totals.get(i).copied().unwrap_or(0);
        PhonesView {
            api: self
                .api
                .iter()
                .map(|(n, (b, calls))| PhoneRuleView {
                    pattern: n.clone(),
                    behaviour: b.clone(),
                    calls: *calls,
                })
                .collect(),
            config: self
                .config
                .iter()
                .enumerate()
                .map(|(i, r)| PhoneRuleView {
                    pattern: r.text.clone(),
                    behaviour: r.behaviour.clone(),
                    calls: config_calls(i),
                })
                .collect(),
            magic: MAGIC_NUMBERS
                .iter()
                .map(|(s, n)| (format!("*{s}"), (*n).to_owned()))
                .collect(),
            handsets: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<Behaviour, String> {
        serde_json::from_str::<BehaviourSpec>(json)
            .map_err(|e| e.to_string())?
            .to_behaviour()
    }

    #[test]
    fn an_api_rule_beats_config_beats_magic_beats_default() {
        let rule = Rule {
            pattern: Pattern::parse("*8102").unwrap(),
            text: "*8102".into(),
            behaviour: Behaviour::single(Outcome::PoweredOff),
        };
        let mut c = Callees::new(vec![rule]);
        assert_eq!(
            c.choose("+8613900008103"),
            (Outcome::Unreachable, Source::Magic)
        );
        assert_eq!(
            c.choose("+8613900008102"),
            (Outcome::PoweredOff, Source::Config("*8102".into()))
        );
        c.set("+8613900008102", Behaviour::single(Outcome::Busy));
        assert_eq!(c.choose("+8613900008102"), (Outcome::Busy, Source::Api));
        assert_eq!(
            c.choose("+8613900001234"),
            (Outcome::ANSWER, Source::Default)
        );
    }

    fn catch_all(behaviour: Behaviour) -> Callees {
        Callees::new(vec![Rule {
            pattern: Pattern::parse("*").unwrap(),
            text: "*".into(),
            behaviour,
        }])
    }

    #[test]
    fn a_catch_all_rule_remembers_no_number_and_still_counts_its_calls() {
        let mut c = catch_all(Behaviour::single(Outcome::Busy));
        for n in 0..10_000 {
            assert_eq!(c.choose(&format!("+86139{n:08}")).0, Outcome::Busy);
        }
        assert_eq!(c.positions.len(), 0);
        assert_eq!(c.view().config[0].calls, 10_000);
    }

    #[test]
    fn a_catch_all_sequence_remembers_a_bounded_number_of_callees() {
        let b = spec(r#"{"sequence":[{"outcome":"busy"},{"outcome":"answer"}]}"#).unwrap();
        let mut c = catch_all(b);
        let first = "+8613900000000";
        assert_eq!(c.choose(first).0, Outcome::Busy);
        assert_eq!(c.choose(first).0, Outcome::ANSWER);
        for n in 1..=SEQUENCE_NUMBERS_KEPT + 10 {
            assert_eq!(c.choose(&format!("+86139{n:08}")).0, Outcome::Busy);
        }
        assert_eq!(c.positions.len(), SEQUENCE_NUMBERS_KEPT);
        assert_eq!(c.first_seen.len(), SEQUENCE_NUMBERS_KEPT);
        // The number seen longest ago was forgotten: its script starts again.
        assert_eq!(c.choose(first).0, Outcome::Busy);
        // A recent one is still on its second step.
        let recent = format!("+86139{:08}", SEQUENCE_NUMBERS_KEPT + 10);
        assert_eq!(c.choose(&recent).0, Outcome::ANSWER);
    }

    #[test]
    fn a_sequence_steps_per_call_and_repeats_its_last_outcome() {
        let b = spec(r#"{"sequence":[{"outcome":"busy"},{"outcome":"answer"}]}"#).unwrap();
        let mut c = Callees::default();
        c.set("+8613900005555", b);
        let seen: Vec<Outcome> = (0..3).map(|_| c.choose("+8613900005555").0).collect();
        assert_eq!(seen, [Outcome::Busy, Outcome::ANSWER, Outcome::ANSWER]);
    }

    #[test]
    fn specs_are_validated_with_clear_messages() {
        assert_eq!(
            spec(r#"{"outcome":"hangup_during_playback","hangup_after_ms":4000}"#).unwrap(),
            Behaviour::single(Outcome::HangupDuringPlayback {
                hangup_after_ms: Some(4000)
            })
        );
        assert!(spec(r#"{"outcome":"bussy"}"#)
            .unwrap_err()
            .contains("unknown outcome `bussy`"));
        assert!(spec(r#"{"outcome":"busy","ring_ms":5}"#)
            .unwrap_err()
            .contains("`ring_ms` does not apply"));
        assert!(spec(r#"{}"#).is_err());
        assert!(spec(r#"{"sequence":[]}"#).is_err());
        assert!(spec(r#"{"sequence":[{"outcome":"nope"}]}"#)
            .unwrap_err()
            .starts_with("sequence[0]"));
        assert!(spec(r#"{"outcome":"frequency_controlled"}"#)
            .unwrap_err()
            .contains("scope"));
        assert_eq!(
            spec(r#"{"outcome":"slow_answer"}"#).unwrap(),
            Behaviour::single(Outcome::Answer {
                ring_ms: Some(20_000),
                digits: None,
                dtmf_delay_ms: None,
                dtmf_gap_ms: None,
                talk_s: None,
                hangup_by: None,
            })
        );
    }

    #[test]
    fn patterns_match_exact_prefix_suffix_and_any() {
        assert!(Pattern::parse("+86139000099*")
            .unwrap()
            .matches("+8613900009912"));
        assert!(Pattern::parse("*0486").unwrap().matches("+8613900000486"));
        assert!(!Pattern::parse("+8613900000486")
            .unwrap()
            .matches("+86139000004860"));
        assert!(Pattern::parse("*").unwrap().matches("+1"));
        assert!(Pattern::parse("abc*").is_err());
        assert!(Pattern::parse("**").is_err());
    }

    #[test]
    fn every_magic_number_names_a_real_outcome() {
        for (suffix, name) in MAGIC_NUMBERS {
            assert!(magic(&format!("+86139{suffix}")).is_some(), "{name}");
        }
        assert_eq!(magic("+8613900001234"), None);
    }
}
