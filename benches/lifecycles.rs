//! 10 000 complete call lifecycles on the manual clock: every call placed over HTTP, all four
//! status events and a CDR delivered to a loopback receiver. Prints wall time and peak memory.
//!
//! `cargo bench --bench lifecycles` (release build). `LIFECYCLES=N` changes the count;
//! `SUBSCRIBERS=N` has N clients watch the whole run on `GET /sim/v1/stream?batch=ndjson`,
//! reading every message, to measure what the event stream costs the engine (`FRAMING=one`:
//! without `batch`, one message per frame); `PER_HOST=N` sets `push.max_in_flight_per_host`
//! (default 32), to measure what the per-receiver cap costs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

mod common;
use common::{counting_receiver, now, peak_rss_mib};

use dialtone::clock::ClockMode;
use dialtone::testing::{signed_headers, verify_body, APP_KEY, APP_SECRET};
use serde_json::json;

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("LIFECYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (counts, raddr) = counting_receiver().await;

    let mut config = dialtone::Config::embedded();
    config.clock.mode = ClockMode::Manual;
    // The engine alone; benches/persistence.rs measures what the database adds.
    config.store.ephemeral = true;
    config.clock.start = Some("2026-03-14T10:15:31Z".parse().unwrap());
    config.seed = Some(1);
    config.apps[0].max_concurrent_calls = n as u32;
    config.platform.ports = 2 * n as u32;
    config.frequency.rules.clear();
    config.journal.max_entries = 6 * n;
    if let Some(per_host) = std::env::var("PER_HOST").ok().and_then(|v| v.parse().ok()) {
        config.push.max_in_flight_per_host = per_host;
    }
    config.apps[0].status_url = Some(format!("http://{raddr}/status"));
    config.apps[0].fee_url = Some(format!("http://{raddr}/fee"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (_trigger, signal) = dialtone::shutdown::channel();
    tokio::spawn(dialtone::run(config, listener, signal));

    let subscribers: usize = std::env::var("SUBSCRIBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let batched = std::env::var("FRAMING").map_or(true, |f| f != "one");
    // `CLIENT_READ_BUFFER=BYTES`: the watching clients' read buffer (tungstenite's default,
    // 128 KiB, is zero-filled before every read of the socket).
    let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
    if let Some(bytes) = std::env::var("CLIENT_READ_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config = config.read_buffer_size(bytes);
    }
    let received = Arc::new(AtomicUsize::new(0));
    let frames = Arc::new(AtomicUsize::new(0));
    let lagged = Arc::new(AtomicUsize::new(0));
    // The watchers run on a thread of their own (as another process would), so the CPU their
    // reading costs can be told apart from the server's.
    let (connected_tx, connected) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watchers = {
        let (received, frames, lagged) = (received.clone(), frames.clone(), lagged.clone());
        let query = if batched { "?batch=ndjson" } else { "" };
        let url = format!("{}/sim/v1/stream{query}", base.replace("http://", "ws://"));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                for _ in 0..subscribers {
                    let (mut ws, _) =
                        tokio_tungstenite::connect_async_with_config(&url, Some(config), false)
                            .await
                            .unwrap();
                    let (received, frames, lagged) =
                        (received.clone(), frames.clone(), lagged.clone());
                    tokio::spawn(async move {
                        while let Some(Ok(msg)) = ws.next().await {
                            if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                                frames.fetch_add(1, Ordering::Relaxed);
                                // A batched frame is one message per line.
                                for message in text.lines() {
                                    received.fetch_add(1, Ordering::Relaxed);
                                    if message.contains(r#""kind":"lagged""#) {
                                        lagged.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                        }
                    });
                }
                let _ = connected_tx.send(());
                let _ = stopped.await;
            });
            cpu_seconds("/proc/thread-self/stat")
        })
    };
    connected.await.unwrap();

    let http = dialtone::tls::http_client();
    let started = now();
    let mut placing = tokio::task::JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(64));
    for i in 0..n {
        let (http, base, slots) = (http.clone(), base.clone(), slots.clone());
        placing.spawn(async move {
            let _slot = slots.acquire_owned().await.unwrap();
            let mut body = verify_body("48151623");
            // A 1 before the counter keeps clear of the magic numbers (`…0000` + stateCode).
            body["calleeNbr"] = json!(format!("+861391{:07}", i));
            let mut req = http
                .post(format!("{base}/rest/httpsessions/callVerify/v1.0"))
                .body(body.to_string());
            for (k, v) in signed_headers(APP_KEY, APP_SECRET, &format!("N{i:031}")) {
                req = req.header(k, v);
            }
            let answer = req.send().await.unwrap().bytes().await.unwrap();
            assert!(
                answer.starts_with(br#"{"resultcode":"0""#),
                "{}",
                String::from_utf8_lossy(&answer)
            );
        });
    }
    while let Some(r) = placing.join_next().await {
        r.unwrap();
    }
    let placed = started.elapsed();
    let advanced = now();
    let reply = http
        .post(format!("{base}/sim/v1/clock/advance"))
        .body(r#"{"by":"60s"}"#)
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());
    counts.wait_for(4 * n, n, Duration::from_secs(20)).await;
    let lifecycle = advanced.elapsed();
    let total = started.elapsed();
    println!(
        "{n} call lifecycles on the manual clock ({} status pushes, {} CDRs)",
        4 * n,
        n
    );
    println!(
        "  place {n} calls over HTTP:           {:>8.3} s",
        placed.as_secs_f64()
    );
    println!(
        "  advance 60 s: events + CDRs delivered: {:>8.3} s",
        lifecycle.as_secs_f64()
    );
    println!(
        "  total wall time:                      {:>8.3} s",
        total.as_secs_f64()
    );
    println!(
        "  peak memory (VmHWM, whole process):   {:>8.1} MiB",
        peak_rss_mib()
    );
    let _ = stop.send(());
    let watchers_cpu = watchers.join().unwrap();
    println!(
        "  CPU time, whole process:              {:>8.3} s",
        cpu_seconds("/proc/self/stat")
    );
    if subscribers > 0 {
        println!("  CPU time, the {subscribers} watching clients:      {watchers_cpu:>8.3} s");
        println!(
            "  {subscribers} stream subscribers ({}): {} messages in {} frames read by the end, {} lagged notices",
            if batched { "batch=ndjson" } else { "a frame per message" },
            received.load(Ordering::Relaxed),
            frames.load(Ordering::Relaxed),
            lagged.load(Ordering::Relaxed)
        );
    }
}

/// User plus system CPU time from a `/proc/…/stat` file, in seconds (at the usual 100 ticks/s).
fn cpu_seconds(stat: &str) -> f64 {
    let text = std::fs::read_to_string(stat).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15; after the command name, field 3 is index 0.
    (ticks(11) + ticks(12)) / 100.0
}
