//! What `dialtone load` is asked for, parsed at the edge: the rate (`500/s`) and the outcome mix
//! (`busy=10%,answer=80%,noanswer=5%,reject=5%`), and the seeded draw that gives each generated
//! callee its outcome. Pure: no I/O, unit-tested here.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Calls per second, from `500/s`, `30/m`, `2/ms`… or a bare number (per second).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let (n, unit) = text.trim().split_once('/').unwrap_or((text.trim(), "s"));
    let n: f64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a rate: e.g. 500/s, 30/m or 500"))?;
    let per_s = match unit.trim() {
        "s" | "sec" => n,
        "m" | "min" => n / 60.0,
        "h" => n / 3600.0,
        other => return Err(format!("`{text}`: unknown unit `{other}` (s, m or h)")),
    };
    // Dialtone decision: the bound keeps the interval between calls above a microsecond and
    // says so, instead of silently placing calls as fast as the machine goes.
    if !(per_s > 0.0 && per_s <= 100_000.0) {
        return Err(format!(
            "`{text}`: the rate must be above 0 and at most 100000/s"
        ));
    }
    Ok(per_s)
}

/// One share of the mix: the platform outcome name (`PUT /sim/v1/phones` spelling) and its
/// weight in percent.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// The name the user wrote (`noanswer`), for the report.
    pub label: String,
    /// The behaviour's outcome (`no_answer`).
    pub outcome: String,
    pub percent: f64,
}

/// The outcome mix: shares adding up to 100 %.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeMix {
    pub shares: Vec<Share>,
}

/// Everyday spellings of the outcomes a load test mixes, onto the behaviour names of
/// [`crate::call::scenario::OUTCOME_NAMES`]; any of those names is accepted as it is.
const ALIASES: &[(&str, &str)] = &[
    ("noanswer", "no_answer"),
    ("no-answer", "no_answer"),
    ("reject", "rejected"),
    ("hangup", "hangup_during_playback"),
];

impl OutcomeMix {
    /// Every callee answers (the default).
    pub fn all_answer() -> OutcomeMix {
        OutcomeMix {
            shares: vec![Share {
                label: "answer".into(),
                outcome: "answer".into(),
                percent: 100.0,
            }],
        }
    }

    /// `busy=10%,answer=80%,noanswer=5%,reject=5%` (the `%` is optional). The shares must add
    /// up to 100; each name must be an outcome callees can have.
    pub fn parse(text: &str) -> Result<OutcomeMix, String> {
        let known = crate::call::scenario::OUTCOME_NAMES;
        let mut shares: Vec<Share> = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, pct) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected outcome=percent, e.g. busy=10%"))?;
            let name = name.trim();
            let outcome = ALIASES
                .iter()
                .find(|(alias, _)| *alias == name)
                .map_or(name, |(_, o)| *o);
            if !known.iter().any(|(n, _)| *n == outcome) {
                let names: Vec<&str> = ALIASES
                    .iter()
                    .map(|(a, _)| *a)
                    .chain(known.iter().map(|(n, _)| *n))
                    .collect();
                return Err(format!(
                    "`{name}` is not an outcome: expected one of {}",
                    names.join(", ")
                ));
            }
            let percent: f64 = pct
                .trim()
                .trim_end_matches('%')
                .trim()
                .parse()
                .ok()
                .filter(|p: &f64| (0.0..=100.0).contains(p))
                .ok_or_else(|| format!("`{part}`: the share must be a percentage 0-100"))?;
            if shares.iter().any(|s| s.outcome == outcome) {
                return Err(format!("`{name}` is given twice"));
            }
            shares.push(Share {
                label: name.to_owned(),
                outcome: outcome.to_owned(),
                percent,
            });
        }
        let total: f64 = shares.iter().map(|s| s.percent).sum();
        if shares.is_empty() || (total - 100.0).abs() > 0.01 {
            return Err(format!("`{text}`: the shares add up to {total}%, not 100%"));
        }
        Ok(OutcomeMix { shares })
    }
}

/// Draws each call's outcome from the mix: the same seed, the same sequence.
pub struct OutcomeDraw {
    rng: StdRng,
    /// Cumulative percentages, in the mix's order.
    bounds: Vec<f64>,
}

impl OutcomeDraw {
    /// `seed: None` draws from the operating system.
    pub fn new(mix: &OutcomeMix, seed: Option<u64>) -> OutcomeDraw {
        let mut acc = 0.0;
        let bounds = mix
            .shares
            .iter()
            .map(|s| {
                acc += s.percent;
                acc
            })
            .collect();
        OutcomeDraw {
            rng: match seed {
                Some(seed) => StdRng::seed_from_u64(seed),
                None => StdRng::from_os_rng(),
            },
            bounds,
        }
    }

    /// The index of the next call's share.
    pub fn next_share(&mut self) -> usize {
        let x: f64 = self.rng.random_range(0.0..100.0);
        self.bounds
            .iter()
            .position(|b| x < *b)
            .unwrap_or(self.bounds.len() - 1)
    }
}

/// The n-th generated callee of a run: `+86137` then `1` then 7 digits from `base + n`. The `1`
/// keeps clear of the magic numbers (`…0000` + a stateCode), and the base (from the seed, or the
/// run) keeps two runs against one Dialtone off each other's frequency windows.
pub fn callee(base: u32, n: u64) -> String {
    format!("+861371{:07}", (u64::from(base) + n) % 10_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_per_second() {
        assert_eq!(parse_rate("500/s"), Ok(500.0));
        assert_eq!(parse_rate("500"), Ok(500.0));
        assert_eq!(parse_rate("120/m"), Ok(2.0));
        assert!(parse_rate("0/s").unwrap_err().contains("above 0"));
        assert!(parse_rate("fast").unwrap_err().contains("not a rate"));
        assert!(parse_rate("5/d").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn a_mix_names_outcomes_and_adds_up_to_a_hundred() {
        let mix = OutcomeMix::parse("busy=10%,answer=80%,noanswer=5%,reject=5%").unwrap();
        let outcomes: Vec<&str> = mix.shares.iter().map(|s| s.outcome.as_str()).collect();
        assert_eq!(outcomes, ["busy", "answer", "no_answer", "rejected"]);
        assert!(OutcomeMix::parse("busy=10,answer=80")
            .unwrap_err()
            .contains("add up to 90%"));
        assert!(OutcomeMix::parse("bored=100%")
            .unwrap_err()
            .contains("`bored` is not an outcome"));
        assert!(OutcomeMix::parse("busy")
            .unwrap_err()
            .contains("outcome=percent"));
    }

    #[test]
    fn the_same_seed_draws_the_same_outcomes_in_about_the_asked_proportions() {
        let mix = OutcomeMix::parse("busy=10%,answer=90%").unwrap();
        let draw = |seed| {
            let mut d = OutcomeDraw::new(&mix, Some(seed));
            (0..10_000).map(|_| d.next_share()).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
        let busy = draw(3).iter().filter(|i| **i == 0).count();
        assert!((800..1200).contains(&busy), "{busy}");
    }

    #[test]
    fn generated_callees_are_distinct_and_clear_of_magic_numbers() {
        assert_eq!(callee(0, 42), "+8613710000042");
        assert_ne!(callee(5, 1), callee(5, 2));
    }
}
