//! `dialtone load`: load-tests *your* receiver through the whole platform path. Calls are
//! placed over the signed platform API at a steady rate against a running Dialtone (or one
//! started in-process, [`Target::Embedded`]), each to a fresh callee whose outcome is scripted
//! through the control API (`PUT /sim/v1/phones/{number}`) from the seeded mix; the event stream
//! (`GET /sim/v1/stream`) reports every push attempt with the receiver's status and latency.
//! The run ends when every accepted call has had its last push, or the drain time runs out.
//!
//! Only public surfaces are used, so what it measures is what your app would meet. The parsing
//! of the rate and mix is [`mix`]'s, the bookkeeping `tally`'s, the figures and their printing
//! [`report`]'s.

pub mod mix;
pub mod report;
mod tally;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};

use crate::api::call_verify::CallVerifyIn;
use crate::call::request::{CallKind, CallRequest, VerifyCall};
use crate::client::{self, ClientError};
use crate::clock::{ClockMode, Stopwatch};
use crate::config::Config;
use crate::ids::IdGen;
use crate::tail::EventStream;
use tally::{Completion, Placed, Tally};

pub use mix::{parse_rate, OutcomeMix};
pub use report::Summary;

/// Which Dialtone the calls go to.
pub enum Target {
    /// A running Dialtone at this base URL.
    Remote(String),
    /// One started in-process with this configuration (see [`embedded_config`]), stopped at
    /// the end of the run.
    Embedded(Box<Config>),
}

/// What to run.
pub struct LoadOptions {
    pub target: Target,
    /// Calls per second.
    pub rate_per_s: f64,
    /// How long calls are placed (real time).
    pub duration: Duration,
    pub mix: OutcomeMix,
    /// Where the calls' status and CDR pushes go (`statusUrl`, `feeUrl`); `None`: the app's.
    pub status_url: Option<String>,
    pub fee_url: Option<String>,
    pub app_key: String,
    pub app_secret: String,
    pub display: String,
    /// Outcome draws and callee numbers; `None`: fresh each run.
    pub seed: Option<u64>,
    /// Requests in flight to the platform API at most.
    pub concurrency: usize,
    /// After the last call is placed, how long to wait for calls to finish (real time).
    pub drain: Duration,
    /// Where the live progress line goes (`None`: no progress line).
    pub progress: Option<Box<dyn Write + Send>>,
    /// Ends the run early (Ctrl-C): no more calls, no drain, the summary of what was seen.
    pub stop: Option<crate::Shutdown>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot start the embedded Dialtone: {0}")]
    Embedded(String),
}

/// The configuration of an embedded run: `base` on a scaled clock at `speed`, in memory, pushing
/// to the given URLs. Dialtone decision: with `lift_caps` (no `--config` given) the app's call
/// cap, the port pool and the frequency rules are lifted to fit the load, since the run tests
/// the receiver, not the platform's limits; a user's own config is taken as it is, caps and all.
pub fn embedded_config(mut config: Config, speed: f64, lift_caps: bool, calls: u64) -> Config {
    config.clock.mode = ClockMode::Scaled;
    config.clock.speed = speed;
    config.store.ephemeral = true;
    if lift_caps {
        let room = u32::try_from(calls.max(1)).unwrap_or(u32::MAX);
        for app in &mut config.apps {
            app.max_concurrent_calls = app.max_concurrent_calls.max(room);
        }
        config.platform.ports = config.platform.ports.max(room.saturating_mul(2));
        config.frequency.rules.clear();
    }
    config
}

/// Calls due by the rate over the duration.
pub fn planned_calls(rate_per_s: f64, duration: Duration) -> u64 {
    (rate_per_s * duration.as_secs_f64()).ceil() as u64
}

/// Runs the load and returns what it measured.
pub async fn run(mut opts: LoadOptions) -> Result<Summary, LoadError> {
    let (base, target, _embedded) =
        match std::mem::replace(&mut opts.target, Target::Remote(String::new())) {
            Target::Remote(url) => {
                let base = url.trim_end_matches('/').to_owned();
                (base.clone(), base, None)
            }
            Target::Embedded(config) => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| LoadError::Embedded(e.to_string()))?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| LoadError::Embedded(e.to_string()))?;
                let state = crate::app::AppState::new(*config)
                    .map_err(|e| LoadError::Embedded(e.to_string()))?;
                let (trigger, signal) = crate::shutdown::channel();
                tokio::spawn(crate::server::serve(state, listener, signal));
                // Dropped at the end of the run: the embedded Dialtone shuts down with it.
                (
                    format!("http://{addr}"),
                    "embedded".to_owned(),
                    Some(trigger),
                )
            }
        };
    let http = crate::tls::http_client();
    refuse_manual_clock(&http, &base).await?;
    let template = request_template(&opts)?;
    let planned = planned_calls(opts.rate_per_s, opts.duration);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("app_key", &opts.app_key)
        .append_pair("kinds", "disconnect,push,lagged,gap")
        .finish();
    // Subscribed before the first call, so none of its pushes slips by.
    let mut stream = EventStream::connect(&base, &query).await?;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let placer = tokio::spawn(place_all(Placer {
        http: http.clone(),
        base: base.clone(),
        app_secret: opts.app_secret.clone(),
        template,
        mix: opts.mix.clone(),
        seed: opts.seed,
        rate_per_s: opts.rate_per_s,
        planned,
        slots: Arc::new(Semaphore::new(opts.concurrency.max(1))),
        tx,
    }));

    let completion = match (&opts.fee_url, &opts.status_url) {
        (Some(_), _) => Completion::Fee,
        (None, Some(_)) => Completion::DisconnectPush,
        (None, None) => Completion::Disconnect,
    };
    let mut tally = Tally::new(&opts.mix, completion);
    let clock = Stopwatch::start();
    let mut placing_ms = None;
    let mut drain_from: Option<Stopwatch> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stream_open = true;
    let mut interrupted = false;
    loop {
        tokio::select! {
            _ = stop_requested(&opts.stop) => {
                interrupted = true;
                placer.abort();
                placing_ms.get_or_insert(clock.elapsed_ms());
                break;
            }
            // Guarded: a closed channel answers at once, and the drain must not spin on it.
            placed = rx.recv(), if placing_ms.is_none() => match placed {
                Some(p) => tally.placed(p),
                None => {
                    if placing_ms.is_none() {
                        placing_ms = Some(clock.elapsed_ms());
                        drain_from = Some(Stopwatch::start());
                    }
                }
            },
            msg = stream.next(), if stream_open => match msg {
                Ok(Some(m)) => tally.event(&m),
                Ok(None) | Err(_) => stream_open = false,
            },
            _ = tick.tick() => {
                if let Some(out) = opts.progress.as_mut() {
                    let _ = write!(out, "\r{}\x1b[K", tally.progress_line(planned));
                    let _ = out.flush();
                }
                let drained = drain_from
                    .as_ref()
                    .is_some_and(|d| d.elapsed_ms() >= opts.drain.as_millis() as u64);
                if placing_ms.is_some() && (tally.all_complete() || drained || !stream_open) {
                    break;
                }
            }
        }
    }
    if let Some(out) = opts.progress.as_mut() {
        let _ = writeln!(out);
    }
    let _ = placer.await;
    let elapsed_ms = clock.elapsed_ms();
    let placing_s = placing_ms.unwrap_or(elapsed_ms).max(1) as f64 / 1000.0;
    let mut summary = tally.summary(elapsed_ms as f64 / 1000.0);
    summary.interrupted = interrupted;
    summary.target = target;
    summary.rate_per_s = opts.rate_per_s;
    summary.duration_s = opts.duration.as_secs_f64();
    summary.calls.planned = planned;
    summary.achieved_rate_per_s = summary.calls.placed as f64 / placing_s;
    Ok(summary)
}

/// Resolves when `stop` fires; never without one.
async fn stop_requested(stop: &Option<crate::Shutdown>) {
    match stop {
        Some(stop) => stop.wait().await,
        None => std::future::pending().await,
    }
}

/// On a manual clock no call would ever end: say so before placing any.
async fn refuse_manual_clock(http: &reqwest::Client, base: &str) -> Result<(), LoadError> {
    let response = http
        .get(format!("{base}/sim/v1/clock"))
        .send()
        .await
        .map_err(ClientError::unreachable(base))?;
    let bytes = response.bytes().await.unwrap_or_default();
    let clock: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if clock["mode"] == "manual" {
        return Err(LoadError::Setup(format!(
            "Dialtone at {base} runs a manual clock, so no call would ever end: start it with \
             --clock scaled --speed 10 (or the real clock), or use `dialtone load --embedded`"
        )));
    }
    Ok(())
}

/// The call every request is a copy of, but for its callee; checked once, before any is placed.
fn request_template(opts: &LoadOptions) -> Result<CallRequest, LoadError> {
    let bad = |flag: &str, e: &dyn std::fmt::Display| LoadError::Setup(format!("{flag}: {e}"));
    let url = |u: &Option<String>, flag: &str| {
        u.as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| bad(flag, &e))
    };
    Ok(CallRequest {
        app_key: opts.app_key.as_str().into(),
        display_nbr: opts.display.parse().map_err(|e| bad("--display", &e))?,
        callee_nbr: mix::callee(0, 0).parse().map_err(|e| bad("callee", &e))?,
        status_url: url(&opts.status_url, "--status-url")?,
        fee_url: url(&opts.fee_url, "--fee-url")?,
        user_data: None,
        kind: CallKind::Verify(VerifyCall {
            language_type: 2,
            pre_tone: "welcome.wav".parse().map_err(|e| bad("preTone", &e))?,
            verify_code: "4815".parse().map_err(|e| bad("verifyCode", &e))?,
            pos_tone: None,
            times: 1,
        }),
    })
}

struct Placer {
    http: reqwest::Client,
    base: String,
    app_secret: String,
    template: CallRequest,
    mix: OutcomeMix,
    seed: Option<u64>,
    rate_per_s: f64,
    planned: u64,
    slots: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<Placed>,
}

/// Places `planned` calls, the n-th due at n / rate: a token bucket on tokio's timer. When the
/// platform answers slower than the rate allows at the concurrency given, calls wait for a slot
/// and the achieved rate (reported) falls below the asked one.
async fn place_all(p: Placer) {
    let mut draw = mix::OutcomeDraw::new(&p.mix, p.seed);
    let nonces = Arc::new(IdGen::new(None));
    // The callee base: from the seed, or the run's first nonce, so runs do not share callees.
    let base_n = match p.seed {
        Some(seed) => (seed % 10_000_000) as u32,
        None => u32::from_str_radix(&nonces.nonce()[..6], 16).unwrap_or(0),
    };
    let mut bucket = tokio::time::interval(Duration::from_secs_f64(1.0 / p.rate_per_s));
    bucket.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..p.planned {
        bucket.tick().await;
        let Ok(slot) = p.slots.clone().acquire_owned().await else {
            break;
        };
        let share = draw.next_share();
        let mut request = p.template.clone();
        let callee = mix::callee(base_n, n);
        let Ok(nbr) = callee.parse() else {
            break;
        };
        request.callee_nbr = nbr;
        let one = OneCall {
            http: p.http.clone(),
            base: p.base.clone(),
            app_secret: p.app_secret.clone(),
            outcome: p.mix.shares[share].outcome.clone(),
            callee,
            request,
            nonces: nonces.clone(),
        };
        let tx = p.tx.clone();
        calls.spawn(async move {
            let placed = one.place(share).await;
            drop(slot);
            let _ = tx.send(placed);
        });
    }
    while calls.join_next().await.is_some() {}
}

struct OneCall {
    http: reqwest::Client,
    base: String,
    app_secret: String,
    outcome: String,
    callee: String,
    request: CallRequest,
    nonces: Arc<IdGen>,
}

impl OneCall {
    /// Scripts the callee, places the call, then removes the callee's rule: the outcome is
    /// fixed at acceptance, and a long run must not leave a rule per call behind.
    async fn place(self, share: usize) -> Placed {
        let rule = format!(
            "{}/sim/v1/phones/{}",
            self.base,
            self.callee.replace('+', "%2B")
        );
        let placed = self.script_and_place(&rule, share).await;
        // Best effort: a rule left behind changes nothing but `GET /sim/v1/phones`.
        let _ = self.http.delete(&rule).send().await;
        placed
    }

    async fn script_and_place(&self, rule: &str, share: usize) -> Placed {
        let failed = |error: String| Placed::Failed { share, error };
        let rule = self
            .http
            .put(rule)
            .body(json!({ "outcome": self.outcome }).to_string())
            .send()
            .await;
        match rule {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                return failed(format!(
                    "setting the callee's behaviour: HTTP {status}: {text}"
                ));
            }
            Err(e) => return failed(format!("setting the callee's behaviour: {e}")),
        }
        let Some(body) = CallVerifyIn::body_for(&self.request, false) else {
            return failed("no callVerify body".into());
        };
        let nonce = self.nonces.nonce();
        let watch = Stopwatch::start();
        let response = client::signed_request(
            &self.http,
            format!("{}/rest/httpsessions/callVerify/v1.0", self.base),
            &self.request.app_key,
            &self.app_secret,
            &nonce,
            &body,
        )
        .send()
        .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return failed(format!("callVerify: {e}")),
        };
        let hint = response
            .headers()
            .get(crate::error::HINT_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status().as_u16();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return failed(format!("callVerify: {e}")),
        };
        let answer: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => return failed(format!("callVerify answered HTTP {status}: {e}")),
        };
        let api_ms = watch.elapsed_ms();
        let text = |k: &str| answer[k].as_str().unwrap_or_default().to_owned();
        match text("resultcode").as_str() {
            "0" => Placed::Accepted {
                share,
                session_id: text("sessionId"),
                api_ms,
            },
            code => Placed::Refused {
                share,
                resultcode: code.to_owned(),
                reason: hint.unwrap_or_else(|| text("resultdesc")),
                api_ms,
            },
        }
    }
}
