//! The figures of docs/performance.md in one run, each Dialtone figure beside a bare anchor
//! measured in the same process on the same machine, so the ratios hold where absolute figures
//! on a shared 2-core box do not.
//!
//! 1. **callVerify throughput.** 64 keep-alive connections from a bare hyper client post
//!    legacy-token callVerify requests (a new callee each) for `SECS` seconds (default 8) to a
//!    bare axum server answering the same JSON, then to Dialtone (manual clock, so every call
//!    stays in flight; in memory; caps and frequency rules lifted). Then Dialtone again once it
//!    holds `IN_FLIGHT` calls (default 400 000): the rate should not fall as the table grows.
//!    Then that loaded server and a second, fresh one in turn, in short slices, so that the
//!    machine's drift falls on both alike: loaded against fresh, alternated.
//! 2. **Memory per call in flight:** the process's RSS growth over the calls Dialtone holds.
//! 3. **Webhook delivery.** A fresh Dialtone holding `BURST` calls (default 10 000) advances
//!    its clock once; the time until every status push and CDR reached a bare axum receiver,
//!    against the bare hyper client posting as many 900-byte bodies with 256 in flight, once
//!    before and once after: their mean is the anchor, so a drift of the machine's speed
//!    during the run falls on both sides alike.
//!
//! `cargo bench --bench ratios` (release build). Figures are printed, not asserted.
//! `RATIOS_ONLY=delivery` runs the third part alone (for profiling it).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::routing::post;
use axum::Router;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

mod common;
use common::{counting_receiver, cpu_seconds, now};

use dialtone::clock::ClockMode;
use dialtone::testing::{verify_body, APP_KEY};

/// Slices of the alternated fresh/loaded measurement.
const SLICES: usize = 4;

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Body>;

const ANSWER: &str = r#"{"resultcode":"0","resultdesc":"Success","sessionId":"1200_1_1_20260314101531@callenabler.home1.com"}"#;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// With `RATIOS_MARKS` set, prints the wall time at which a phase starts, to cut a profile taken
/// with `perf record -k realtime` by phase.
#[allow(clippy::disallowed_methods)] // perf's clock is the wall clock, not the simulated one
fn mark(phase: &str) {
    if std::env::var_os("RATIOS_MARKS").is_some() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        eprintln!("mark {phase} {:.6}", t.as_secs_f64());
    }
}

/// CPU time the whole process spent over some requests.
#[derive(Default)]
struct Cpu {
    seconds: f64,
    requests: f64,
}

impl Cpu {
    /// Runs `drive` (which answers requests per second), adding its CPU time and requests.
    async fn measure(&mut self, drive: impl std::future::Future<Output = f64>) -> f64 {
        let (cpu, started) = (cpu_seconds(), now());
        let rate = drive.await;
        self.seconds += cpu_seconds() - cpu;
        self.requests += rate * started.elapsed().as_secs_f64();
        rate
    }

    fn per_request_us(&self) -> f64 {
        self.seconds * 1e6 / self.requests
    }
}

/// Serves `app` on a fresh loopback port; its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A Dialtone on a manual clock, in memory, with nothing capping calls; its base URL.
async fn dialtone(push_to: Option<std::net::SocketAddr>) -> String {
    let mut config = dialtone::Config::embedded();
    config.clock.mode = ClockMode::Manual;
    config.clock.start = Some("2026-03-14T10:15:31Z".parse().unwrap());
    config.store.ephemeral = true;
    config.seed = Some(1);
    config.apps[0].max_concurrent_calls = u32::MAX;
    config.platform.ports = u32::MAX;
    config.frequency.rules.clear();
    config.auth.lockout.enabled = false;
    config.auth.legacy.login_interval_s = 0;
    config.journal.max_entries = 1000;
    if let Some(addr) = push_to {
        config.apps[0].status_url = Some(format!("http://{addr}/status"));
        config.apps[0].fee_url = Some(format!("http://{addr}/fee"));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (trigger, signal) = dialtone::shutdown::channel();
    // Kept running until the process ends.
    std::mem::forget(trigger);
    tokio::spawn(dialtone::run(config, listener, signal));
    for _ in 0..100 {
        if reqwest_free_get(&format!("{base}/health")).await {
            break;
        }
    }
    base
}

/// One GET through a plain connection: true on 200.
async fn reqwest_free_get(url: &str) -> bool {
    let http: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    match http.get(url.parse().unwrap()).await {
        Ok(r) => r.status().is_success(),
        Err(_) => {
            tokio::task::yield_now().await;
            false
        }
    }
}

/// The callVerify path with a legacy token for the demo app.
async fn verify_path(base: &str) -> String {
    let http: Http = Client::builder(TokioExecutor::new()).build_http();
    let login = hyper::Request::post(format!(
        "{base}/rest/fastlogin/v1.0?app_key={APP_KEY}&username=dialtone_dev01&format=json"
    ))
    .header("Authorization", "Dev#Pass2026")
    .body(Body::empty())
    .unwrap();
    let res = http.request(login).await.unwrap();
    let body = axum::body::to_bytes(Body::new(res.into_body()), 1 << 20)
        .await
        .unwrap();
    let token: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let token = token["access_token"].as_str().unwrap();
    format!("/rest/httpsessions/callVerify/v1.0?app_key={APP_KEY}&access_token={token}")
}

/// Posts callVerify requests on 64 connections until `secs` have passed or `until` calls were
/// answered; answers per second. Callee numbers continue from `next`.
async fn drive(url: &str, secs: f64, until: usize, next: &Arc<AtomicUsize>) -> f64 {
    let http: Http = Client::builder(TokioExecutor::new()).build_http();
    let done = Arc::new(AtomicUsize::new(0));
    let started = now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (http, url, done, next) = (http.clone(), url.to_owned(), done.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while now() < deadline && done.load(Ordering::Relaxed) < until {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let mut body = verify_body("4815");
                body["calleeNbr"] = json!(format!("+861{:010}", i));
                let req = hyper::Request::post(url.as_str())
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap();
                let res = http.request(req).await.unwrap();
                let ok = res.status().is_success();
                let _ = axum::body::to_bytes(Body::new(res.into_body()), 1 << 20).await;
                if ok {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The bare hyper client posting `n` 900-byte bodies with 256 in flight: posts per second.
/// The anchor of webhook delivery: posts/s and CPU seconds per post of [`post_bodies`].
async fn anchor(url: &str, n: usize) -> (f64, f64) {
    let cpu = cpu_seconds();
    let rate = post_bodies(url, n).await;
    (rate, (cpu_seconds() - cpu) / n as f64)
}

async fn post_bodies(url: &str, n: usize) -> f64 {
    let http: Http = Client::builder(TokioExecutor::new()).build_http();
    let next = Arc::new(AtomicUsize::new(0));
    let body = axum::body::Bytes::from(vec![b'x'; 900]);
    let started = now();
    let mut tasks = Vec::new();
    for _ in 0..256 {
        let (http, url, body, next) = (http.clone(), url.to_owned(), body.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let req = hyper::Request::post(url.as_str())
                    .header("content-type", "application/json")
                    .body(Body::from(body.clone()))
                    .unwrap();
                let res = http.request(req).await.unwrap();
                let _ = axum::body::to_bytes(Body::new(res.into_body()), 1 << 20).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let secs = env("SECS", 8) as f64;
    let in_flight = env("IN_FLIGHT", 400_000);
    let burst = env("BURST", 10_000);
    let next = Arc::new(AtomicUsize::new(0));
    if std::env::var("RATIOS_ONLY").as_deref() == Ok("delivery") {
        // Callee numbers past the built-in magic ones (`…00008102` is busy), as after part 1.
        next.store(200_000, Ordering::Relaxed);
    } else {
        throughput(secs, in_flight, &next).await;
    }
    delivery(burst, &next).await;
}

/// 1. Throughput, fresh and with calls held; 2. memory per call.
async fn throughput(secs: f64, in_flight: usize, next: &Arc<AtomicUsize>) {
    let bare = serve(Router::new().fallback(post(|| async {
        ([("content-type", "application/json;charset=UTF-8")], ANSWER)
    })))
    .await;
    // The bare server's callees are counted apart, so `next` counts Dialtone's calls.
    let elsewhere = Arc::new(AtomicUsize::new(1_000_000_000));
    let bare_rate = drive(&format!("{bare}/x"), secs, usize::MAX, &elsewhere).await;
    let base = dialtone(None).await;
    let url = format!("{base}{}", verify_path(&base).await);
    let rss_before = rss_kib();
    let fresh = drive(&url, secs, usize::MAX, next).await;
    let remaining = in_flight.saturating_sub(next.load(Ordering::Relaxed));
    drive(&url, 3600.0, remaining, next).await;
    let held = next.load(Ordering::Relaxed);
    let rss_held = rss_kib();
    let loaded = drive(&url, secs, usize::MAX, next).await;
    // A shared 2-core box drifts by more than the effect looked for between phases seconds
    // apart. So the bare server, the loaded Dialtone and a second, fresh one (in the same
    // process) are measured again in turn, in short slices: drift falls on all three alike.
    let other = dialtone(None).await;
    let other_url = format!("{other}{}", verify_path(&other).await);
    let other_next = Arc::new(AtomicUsize::new(2_000_000_000));
    let slice = secs / SLICES as f64;
    let (mut bare_sliced, mut loaded_sliced, mut fresh_sliced) = (0.0, 0.0, 0.0);
    // The process's CPU time per request, which other programs on the box barely move.
    let (mut bare_cpu, mut loaded_cpu, mut fresh_cpu) =
        (Cpu::default(), Cpu::default(), Cpu::default());
    for _ in 0..SLICES {
        mark("bare");
        bare_sliced += bare_cpu
            .measure(drive(&format!("{bare}/x"), slice, usize::MAX, &elsewhere))
            .await;
        mark("loaded");
        loaded_sliced += loaded_cpu
            .measure(drive(&url, slice, usize::MAX, next))
            .await;
        mark("fresh");
        fresh_sliced += fresh_cpu
            .measure(drive(&other_url, slice, usize::MAX, &other_next))
            .await;
    }
    mark("end");
    let bare_again = drive(&format!("{bare}/x"), secs, usize::MAX, &elsewhere).await;
    println!("callVerify throughput (64 connections, {secs} s each, legacy token)");
    println!(
        "  bare axum answering the same JSON:     {:>9.0} req/s (mean of {bare_rate:.0} before and {bare_again:.0} after)",
        (bare_rate + bare_again) / 2.0
    );
    let bare_rate = (bare_rate + bare_again) / 2.0;
    println!(
        "  Dialtone, fresh:                       {fresh:>9.0} req/s = {:.2} x bare",
        fresh / bare_rate
    );
    println!(
        "  Dialtone, {held} calls in flight: {loaded:>9.0} req/s = {:.2} x bare",
        loaded / bare_rate
    );
    println!("  the three in turn, {SLICES} slices of {slice:.1} s each:");
    println!(
        "    bare axum:                           {bare_sliced:>9.0} req/s",
        bare_sliced = bare_sliced / SLICES as f64
    );
    println!(
        "    Dialtone holding {held}+ calls: {:>9.0} req/s = {:.2} x bare",
        loaded_sliced / SLICES as f64,
        loaded_sliced / bare_sliced
    );
    println!(
        "    a fresh Dialtone:                    {:>9.0} req/s = {:.2} x bare (loaded = {:.2} x fresh)",
        fresh_sliced / SLICES as f64,
        fresh_sliced / bare_sliced,
        loaded_sliced / fresh_sliced
    );
    println!(
        "    process CPU per request (client included): bare {:.1} us, loaded {:.1} us, fresh {:.1} us: loaded = {:.2} x fresh",
        bare_cpu.per_request_us(),
        loaded_cpu.per_request_us(),
        fresh_cpu.per_request_us(),
        loaded_cpu.per_request_us() / fresh_cpu.per_request_us()
    );
    println!(
        "memory per call in flight: {:.0} bytes ({:.0} MiB over {held} calls)",
        (rss_held - rss_before) * 1024.0 / held as f64,
        (rss_held - rss_before) / 1024.0
    );
}

/// 3. Webhook delivery after one advance, against the bare client.
async fn delivery(burst: usize, next: &Arc<AtomicUsize>) {
    let (counts, raddr) = counting_receiver().await;
    let base = dialtone(Some(raddr)).await;
    let url = format!("{base}{}", verify_path(&base).await);
    let first = next.load(Ordering::Relaxed);
    let from = Arc::new(AtomicUsize::new(first));
    drive(&url, 3600.0, burst, &from).await;
    // The 64 connections may place a few more than asked.
    let burst = from.load(Ordering::Relaxed) - first;
    let batches = burst.div_ceil(50);
    let pushes = 4 * burst + batches;
    let http: Http = Client::builder(TokioExecutor::new()).build_http();
    let anchor_url = format!("http://{raddr}/status");
    mark("delivery-anchor-before");
    // Not counted: the first run warms the receiver and the process (its connections, buffers
    // and the allocator's fresh pages) for what follows, Dialtone's burst and the anchor alike.
    let warm_up = anchor(&anchor_url, pushes).await;
    let before = anchor(&anchor_url, pushes).await;
    mark("delivery");
    let (started, cpu) = (now(), cpu_seconds());
    let advance = hyper::Request::post(format!("{base}/sim/v1/clock/advance"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"by":"3m"}"#))
        .unwrap();
    let res = http.request(advance).await.unwrap();
    assert!(res.status().is_success(), "advance: {}", res.status());
    counts
        // The receiver counts the anchor's posts as status pushes.
        .wait_for(pushes + 4 * burst, burst, Duration::from_secs(600))
        .await;
    let delivered = pushes as f64 / started.elapsed().as_secs_f64();
    let cpu_per_push = (cpu_seconds() - cpu) / pushes as f64;
    mark("delivery-anchor");
    let after = anchor(&anchor_url, pushes).await;
    let (anchor, anchor_cpu) = ((before.0 + after.0) / 2.0, (before.1 + after.1) / 2.0);
    println!("webhook delivery ({burst} calls: {pushes} pushes after one advance)");
    println!(
        "  bare hyper client, 256 in flight:      {anchor:>9.0} posts/s   CPU {:5.1} us/post \
         (before {:.0}, after {:.0}; warm-up {:.0})",
        anchor_cpu * 1e6,
        before.0,
        after.0,
        warm_up.0
    );
    println!(
        "  Dialtone:                              {delivered:>9.0} pushes/s = {:.2} x bare   \
         CPU {:5.1} us/push = {:.2} x bare   (against the anchor after alone: {:.2} x)",
        delivered / anchor,
        cpu_per_push * 1e6,
        cpu_per_push / anchor_cpu,
        delivered / after.0
    );
}
