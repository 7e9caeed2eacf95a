//! What a `dialtone load` run measured, as one [`Summary`]: built by the run's collector, printed
//! as a table for people or as one JSON object (`--json`). Pure: no I/O but the writer given.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

/// Latency percentiles in milliseconds (nearest rank); all zero when nothing was measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

impl Percentiles {
    /// Of `samples` (sorted in place).
    pub fn of(samples: &mut [u64]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let rank = |p: f64| {
            let i = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            samples[i.clamp(1, samples.len()) - 1]
        };
        Percentiles {
            count: samples.len() as u64,
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: samples[samples.len() - 1],
            mean: samples.iter().sum::<u64>() as f64 / samples.len() as f64,
        }
    }
}

/// The calls the run placed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Calls {
    /// Due by the rate over the duration.
    pub planned: u64,
    /// Requests sent to the platform API.
    pub placed: u64,
    /// Answered with resultcode "0".
    pub accepted: u64,
    /// Refused by the platform, per resultcode.
    pub refused: BTreeMap<String, u64>,
    /// Dialtone's explanation of each refusal code (its `X-Dialtone-Hint`, else resultdesc).
    pub refusal_reasons: BTreeMap<String, String>,
    /// No answer from the API at all (connection refused, reset, timeout).
    pub transport_errors: u64,
    /// Accepted calls whose last push (the CDR, or the disconnect when no CDR is expected)
    /// was seen before the run stopped.
    pub completed: u64,
    /// Accepted calls still going when the drain time ran out.
    pub unfinished: u64,
    /// Placed calls per outcome of the mix (the label the user wrote).
    pub by_outcome: BTreeMap<String, u64>,
    /// Disconnects seen, per stateCode.
    pub disconnects_by_state_code: BTreeMap<String, u64>,
}

/// The receiver's side: every push attempt the stream reported for the run's calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pushes {
    pub attempts: u64,
    pub delivered: u64,
    /// Attempts that failed (any reply but 2xx, or no reply).
    pub failed: u64,
    /// Attempts after the first of a push.
    pub retries: u64,
    /// Per push kind: `status`, `fee`.
    pub by_kind: BTreeMap<String, u64>,
    /// Per HTTP status the receiver answered.
    pub by_status: BTreeMap<String, u64>,
    /// Per transport failure (`timeout`, `connect`, `io`, …): no status came back.
    pub by_error: BTreeMap<String, u64>,
    pub failures_per_s: f64,
    pub retries_per_s: f64,
}

/// One run, as printed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// `embedded` or Dialtone's URL.
    pub target: String,
    pub rate_per_s: f64,
    pub duration_s: f64,
    /// Real time from the first call to the end of the drain.
    pub elapsed_s: f64,
    /// Calls actually placed per second while placing.
    pub achieved_rate_per_s: f64,
    pub calls: Calls,
    pub pushes: Pushes,
    /// The receiver's answer time per attempt, as Dialtone measured it.
    pub receiver_latency_ms: Percentiles,
    /// The platform API's answer time per call request, as this client measured it.
    pub api_latency_ms: Percentiles,
    /// Stopped early (Ctrl-C): calls not placed, no drain.
    pub interrupted: bool,
    /// Stream messages Dialtone dropped because this client fell behind (`lagged`): when not
    /// zero, the push figures undercount.
    pub stream_missed: u64,
}

impl Summary {
    /// The table for people.
    pub fn write_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        let c = &self.calls;
        let p = &self.pushes;
        writeln!(
            out,
            "dialtone load: {} at {}/s for {} s (took {:.1} s, placed at {:.1}/s)",
            self.target, self.rate_per_s, self.duration_s, self.elapsed_s, self.achieved_rate_per_s
        )?;
        if self.interrupted {
            writeln!(
                out,
                "interrupted: no more calls were placed and none was waited for"
            )?;
        }
        writeln!(out, "calls")?;
        writeln!(out, "  planned              {:>8}", c.planned)?;
        writeln!(out, "  placed               {:>8}", c.placed)?;
        writeln!(out, "  accepted             {:>8}", c.accepted)?;
        for (code, n) in &c.refused {
            let why = c.refusal_reasons.get(code).map_or("", String::as_str);
            writeln!(out, "  refused {code:<12} {n:>8}  {why}")?;
        }
        if c.transport_errors > 0 {
            writeln!(out, "  no answer from API   {:>8}", c.transport_errors)?;
        }
        writeln!(out, "  completed            {:>8}", c.completed)?;
        if c.unfinished > 0 {
            writeln!(
                out,
                "  unfinished           {:>8}  (still going when the drain time ran out)",
                c.unfinished
            )?;
        }
        for (outcome, n) in &c.by_outcome {
            writeln!(out, "  outcome {outcome:<12} {n:>8}")?;
        }
        for (code, n) in &c.disconnects_by_state_code {
            writeln!(out, "  stateCode {code:<10} {n:>8}")?;
        }
        writeln!(out, "pushes to your receiver")?;
        writeln!(out, "  attempts             {:>8}", p.attempts)?;
        writeln!(out, "  delivered            {:>8}", p.delivered)?;
        writeln!(
            out,
            "  failed               {:>8}  ({:.2}/s)",
            p.failed, p.failures_per_s
        )?;
        writeln!(
            out,
            "  retries              {:>8}  ({:.2}/s)",
            p.retries, p.retries_per_s
        )?;
        for (status, n) in &p.by_status {
            writeln!(out, "  HTTP {status:<15} {n:>8}")?;
        }
        for (error, n) in &p.by_error {
            writeln!(out, "  error {error:<14} {n:>8}")?;
        }
        let row = |name: &str, l: &Percentiles| {
            format!(
                "  {name:<20} p50 {:>5}  p90 {:>5}  p99 {:>5}  max {:>5}  (n={})",
                l.p50, l.p90, l.p99, l.max, l.count
            )
        };
        writeln!(out, "latency (ms)")?;
        writeln!(out, "{}", row("your receiver", &self.receiver_latency_ms))?;
        writeln!(out, "{}", row("platform API", &self.api_latency_ms))?;
        if !self.interrupted && self.achieved_rate_per_s < 0.9 * self.rate_per_s {
            writeln!(
                out,
                "note: calls were placed at {:.1}/s, below the {}/s asked: Dialtone answered \
                 slower than --concurrency allows (raise it, or run a --release build)",
                self.achieved_rate_per_s, self.rate_per_s
            )?;
        }
        if self.stream_missed > 0 {
            writeln!(
                out,
                "note: {} stream messages were missed (this client fell behind): push figures \
                 undercount",
                self.stream_missed
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples: Vec<u64> = (1..=100).rev().collect();
        let p = Percentiles::of(&mut samples);
        assert_eq!(
            (p.p50, p.p90, p.p99, p.max, p.count),
            (50, 90, 99, 100, 100)
        );
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
        assert_eq!(Percentiles::of(&mut [7]).p99, 7);
    }
}
