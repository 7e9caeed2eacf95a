//! `dialtone load` against a real receiver: an axum app on loopback that answers some pushes
//! slowly and some with a 500, and an embedded Dialtone on a fast scaled clock (a manual clock
//! would need someone to advance it; a load test is about real time, so the scaled clock is the
//! honest driver: 100 simulated seconds per real second).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use dialtone::config::{Config, EMBEDDED_DEFAULT};
use dialtone::load::{self, LoadError, LoadOptions, OutcomeMix, Target};

use crate::helpers::*;

/// Counts what it served: every 7th request takes 60 ms, every 10th status push and every 4th
/// CDR push get a 500.
#[derive(Default)]
struct Served {
    status: AtomicU64,
    fee: AtomicU64,
    errors: AtomicU64,
}

async fn receiver() -> (String, Arc<Served>) {
    async fn answer(served: &Served, n: u64, fail_every: u64) -> StatusCode {
        if n.is_multiple_of(7) {
            #[allow(clippy::disallowed_methods)] // a slow receiver is what is being measured.
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        if n.is_multiple_of(fail_every) {
            served.errors.fetch_add(1, Ordering::SeqCst);
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        StatusCode::OK
    }
    let app = Router::new()
        .route(
            "/status",
            post(|State(s): State<Arc<Served>>| async move {
                let n = s.status.fetch_add(1, Ordering::SeqCst) + 1;
                answer(&s, n, 10).await
            }),
        )
        .route(
            "/fee",
            post(|State(s): State<Arc<Served>>| async move {
                let n = s.fee.fetch_add(1, Ordering::SeqCst) + 1;
                answer(&s, n, 4).await
            }),
        );
    let served = Arc::new(Served::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = app.with_state(served.clone());
    tokio::spawn(async move { axum::serve(listener, app.into_make_service()).await.ok() });
    (format!("http://{addr}"), served)
}

/// The embedded default, CDR retries a simulated second apart (10 ms at speed 100).
fn fast_retries() -> Config {
    let text = EMBEDDED_DEFAULT.replace("retry_interval_s = 3600", "retry_interval_s = 1");
    Config::parse(&text, "test").expect("valid config")
}

fn options(target: Target, url: &str, rate: f64, duration_ms: u64, mix: &str) -> LoadOptions {
    LoadOptions {
        target,
        rate_per_s: rate,
        duration: Duration::from_millis(duration_ms),
        mix: OutcomeMix::parse(mix).expect("valid mix"),
        status_url: Some(format!("{url}/status")),
        fee_url: Some(format!("{url}/fee")),
        app_key: APP_KEY.into(),
        app_secret: APP_SECRET.into(),
        display: DISPLAY.into(),
        seed: Some(11),
        concurrency: 32,
        drain: Duration::from_secs(15),
        progress: None,
        stop: None,
    }
}

#[tokio::test]
async fn load_reports_what_a_slow_and_flaky_receiver_went_through() {
    let (url, served) = receiver().await;
    let config = load::embedded_config(fast_retries(), 100.0, true, 100);
    let opts = options(
        Target::Embedded(Box::new(config)),
        &url,
        100.0,
        1000,
        "busy=10%,answer=80%,noanswer=5%,reject=5%",
    );
    let summary = tokio::time::timeout(Duration::from_secs(30), load::run(opts))
        .await
        .expect("the run ends")
        .expect("the run works");
    let c = &summary.calls;
    assert_eq!((c.planned, c.placed, c.accepted), (100, 100, 100), "{c:?}");
    assert!(c.refused.is_empty() && c.transport_errors == 0, "{c:?}");
    assert_eq!((c.completed, c.unfinished), (100, 0), "every CDR settled");

    // Each call got the outcome drawn for it: the stateCodes match the mix one for one.
    let drawn = |label: &str| c.by_outcome.get(label).copied().unwrap_or(0);
    let ended = |code: &str| c.disconnects_by_state_code.get(code).copied().unwrap_or(0);
    assert_eq!(drawn("busy"), ended("8102"), "{c:?}");
    assert_eq!(drawn("noanswer"), ended("8101"), "{c:?}");
    assert_eq!(drawn("reject"), ended("8105"), "{c:?}");
    assert_eq!(drawn("answer"), ended("0"), "{c:?}");
    assert!((65..=95).contains(&drawn("answer")), "80% of 100: {c:?}");
    assert!((2..=20).contains(&drawn("busy")), "10% of 100: {c:?}");

    // Every attempt the receiver answered is counted, each under the status it got.
    let p = &summary.pushes;
    let served_total = served.status.load(Ordering::SeqCst) + served.fee.load(Ordering::SeqCst);
    assert_eq!(p.attempts, served_total, "{p:?}");
    assert_eq!(
        p.by_status.get("500").copied(),
        Some(served.errors.load(Ordering::SeqCst))
    );
    assert_eq!(
        p.by_status.values().sum::<u64>(),
        p.attempts,
        "no transport errors"
    );
    assert_eq!(p.delivered + p.failed, p.attempts);
    assert_eq!(p.failed, served.errors.load(Ordering::SeqCst));
    assert!(
        p.retries > 0 && p.retries_per_s > 0.0,
        "failed CDRs were retried: {p:?}"
    );
    assert!(p.by_kind["fee"] > p.retries, "{p:?}");

    // One in seven answers took 60 ms, so the tail does (the median depends on how busy the
    // machine is, so it is only held to be ordered).
    let l = &summary.receiver_latency_ms;
    assert_eq!(l.count, p.attempts);
    assert!(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max, "{l:?}");
    assert!(l.p99 >= 60 && l.max < 5000, "{l:?}");
    assert_eq!(summary.api_latency_ms.count, 100);
    assert_eq!(summary.stream_missed, 0);

    let json = serde_json::to_value(&summary).expect("serialises");
    for path in [
        "/target",
        "/rate_per_s",
        "/elapsed_s",
        "/calls/accepted",
        "/calls/refused",
        "/calls/by_outcome/busy",
        "/pushes/failures_per_s",
        "/pushes/retries_per_s",
        "/pushes/by_status/500",
        "/receiver_latency_ms/p99",
        "/api_latency_ms/p50",
    ] {
        assert!(json.pointer(path).is_some(), "{path} missing in {json:#}");
    }
    assert_eq!(json["target"], "embedded");
}

#[tokio::test]
async fn load_counts_refusals_by_resultcode_and_says_why() {
    let (url, _served) = receiver().await;
    // The app's own cap (20 calls at once) kept: 50 calls in half a second, each lasting about
    // a real second at speed 10, overrun it.
    let config = load::embedded_config(fast_retries(), 10.0, false, 50);
    let mut opts = options(
        Target::Embedded(Box::new(config)),
        &url,
        100.0,
        500,
        "answer=100%",
    );
    opts.drain = Duration::from_secs(10);
    let summary = load::run(opts).await.expect("the run works");
    let c = &summary.calls;
    let capped = c.refused.get("1020165").copied().unwrap_or(0);
    assert!(capped > 0, "{c:?}");
    assert_eq!(c.accepted + capped, c.placed, "{c:?}");
    assert!(
        !c.refusal_reasons["1020165"].is_empty(),
        "the refusal is explained: {c:?}"
    );
    let mut table = Vec::new();
    summary.write_table(&mut table).expect("in memory");
    let table = String::from_utf8(table).expect("UTF-8");
    assert!(table.contains("refused 1020165"), "{table}");
}

#[tokio::test]
async fn load_refuses_a_dialtone_on_a_manual_clock_saying_how_to_fix_it() {
    let sim = spawn_sim().await;
    let opts = options(
        Target::Remote(sim.base.clone()),
        &sim.receiver.url(""),
        10.0,
        100,
        "answer=100%",
    );
    let Err(LoadError::Setup(message)) = load::run(opts).await else {
        panic!("a manual clock is refused");
    };
    assert!(
        message.contains("manual clock") && message.contains("--clock scaled"),
        "{message}"
    );
    assert_eq!(sim.call_count().await, 0, "no call was placed");
}

#[tokio::test]
async fn the_load_command_prints_one_json_summary() {
    let (url, served) = receiver().await;
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["load", "--embedded", "--speed", "100", "--rate", "40/s"])
        .args(["--duration", "500ms", "--seed", "5", "--json"])
        // A failed CDR is retried an hour later (36 s here): the drain does not wait that long.
        .args(["--drain", "2s"])
        .args(["--outcomes", "busy=50%,answer=50%"])
        .args(["--status-url", &format!("{url}/status")])
        .args(["--fee-url", &format!("{url}/fee")])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the command ends")
        .expect("the command runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    assert!(out.stderr.is_empty(), "no progress line off a terminal");
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let calls = &summary["calls"];
    assert_eq!(calls["accepted"], 20, "{summary:#}");
    let settled =
        calls["completed"].as_u64().unwrap_or(0) + calls["unfinished"].as_u64().unwrap_or(0);
    assert_eq!(settled, 20, "{summary:#}");
    assert!(
        calls["unfinished"].as_u64() > Some(0),
        "a CDR awaits its retry: {summary:#}"
    );
    let busy = summary["calls"]["by_outcome"]["busy"].as_u64().unwrap_or(0);
    assert_eq!(summary["calls"]["disconnects_by_state_code"]["8102"], busy);
    let served = served.status.load(Ordering::SeqCst) + served.fee.load(Ordering::SeqCst);
    assert_eq!(summary["pushes"]["attempts"], served, "{summary:#}");
}

#[tokio::test]
async fn load_drives_a_running_dialtone_and_shows_its_progress() {
    let (url, served) = receiver().await;
    let sim = spawn_sim_with(|c, _| {
        c.clock.mode = dialtone::clock::ClockMode::Scaled;
        c.clock.speed = 100.0;
        c.frequency.rules.clear();
        c.apps[0].max_concurrent_calls = 100;
        c.fee_push = fast_retries().fee_push;
    })
    .await;
    let progress = Captured::default();
    let mut opts = options(
        Target::Remote(sim.base.clone()),
        &url,
        60.0,
        500,
        "busy=20%,answer=80%",
    );
    opts.progress = Some(Box::new(progress.clone()));
    let summary = load::run(opts).await.expect("the run works");
    assert_eq!(summary.target, sim.base);
    assert_eq!((summary.calls.accepted, summary.calls.completed), (30, 30));
    assert_eq!(
        sim.call_count().await,
        30,
        "every call is on the running Dialtone"
    );
    let served = served.status.load(Ordering::SeqCst) + served.fee.load(Ordering::SeqCst);
    assert_eq!(summary.pushes.attempts, served);
    // Each callee's rule went once its call was accepted: a long run leaves none behind.
    let phones = sim.get("/sim/v1/phones").await;
    assert_eq!(phones.body["api"], serde_json::json!([]), "{}", phones.body);
    let shown = String::from_utf8(progress.0.lock().expect("not poisoned").clone()).expect("UTF-8");
    assert!(
        shown.contains("\rplaced ") && shown.contains("/30  accepted"),
        "{shown:?}"
    );
}

#[tokio::test]
async fn a_stopped_run_ends_at_once_with_what_it_saw() {
    let (url, _served) = receiver().await;
    let config = load::embedded_config(fast_retries(), 100.0, true, 1000);
    let mut opts = options(
        Target::Embedded(Box::new(config)),
        &url,
        100.0,
        10_000,
        "answer=100%",
    );
    let (trigger, stop) = dialtone::shutdown::channel();
    opts.stop = Some(stop);
    trigger.fire();
    let summary = tokio::time::timeout(Duration::from_secs(5), load::run(opts))
        .await
        .expect("a stop is prompt")
        .expect("the run works");
    assert!(summary.interrupted);
    assert_eq!(summary.calls.planned, 1000);
    assert!(summary.calls.placed < 1000, "{:?}", summary.calls);
    let mut table = Vec::new();
    summary.write_table(&mut table).expect("in memory");
    assert!(String::from_utf8_lossy(&table).contains("interrupted"));
}
