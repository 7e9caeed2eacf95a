//! What the database costs a burst of calls: the same load against Dialtone `--ephemeral` and
//! durable (SQLite in a fresh data directory), over HTTP on loopback, on the manual clock.
//!
//! * (a) burst: 1 000 callVerify requests, 64 in flight, as fast as they go: wall time, calls/s,
//!   p50/p99 latency. Durable, the API answers "0" only once the call's acceptance is committed,
//!   so the latency is what persistence costs a client.
//! * (b) paced: 1 000 callVerify requests at 1 000/s (evenly spread over 1 s, each sent without
//!   waiting for the previous answer): p50/p99 latency, and whether 1 000/s was sustained.
//! * (c) after (b), the manual clock advances 60 s: time until all 4 000 status pushes and
//!   1 000 CDRs have reached a counting receiver, and the process's CPU time meanwhile (every
//!   thread: the server, the store's writer, the receiver), which the machine's other work
//!   moves far less than the wall time.
//!
//! * (d) database bytes per finished call: a durable run of `PERSISTENCE_DB_CALLS` (default
//!   10 000) verification calls, each placed over HTTP and taken to its end with its 4 status
//!   pushes and its CDR delivered; then the server stops (which checkpoints the WAL into the
//!   file) and the file's size is divided by the calls, with where the bytes go, per table and
//!   index (SQLite's `dbstat`).
//!
//! Each round runs both modes on fresh servers (the order alternates between rounds); the table
//! shows the median of the rounds and how much slower durable is. Figures are printed, not
//! asserted. The issue's bar: persistence may slow a 1 000 calls/s burst by at most 20 %.
//!
//! `cargo bench --bench persistence` (release build). `PERSISTENCE_ROUNDS=N` (default 5);
//! `PERSISTENCE_ONLY=bytes` runs (d) alone, `PERSISTENCE_ONLY=rounds` everything but (d);
//! `PERSISTENCE_KEEP_DB=path` keeps a copy of (d)'s database file there.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::{counting_receiver, cpu_seconds, now, Counts};

use dialtone::clock::ClockMode;
use dialtone::testing::{nonce, signed_headers, verify_body, APP_KEY, APP_SECRET, START};
use serde_json::json;
use tokio::task::JoinSet;

/// Calls in each of (a) and (b).
const CALLS: usize = 1000;
/// Requests in flight during the burst.
const IN_FLIGHT: usize = 64;
/// Calls per second in the paced burst.
const RATE: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ephemeral,
    Durable,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Ephemeral => "ephemeral",
            Mode::Durable => "durable",
        }
    }
}

/// A data directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "dialtone-bench-persistence-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One Dialtone server, its counting receiver and a client.
struct Sim {
    base: String,
    http: reqwest::Client,
    counts: Arc<Counts>,
    trigger: dialtone::ShutdownTrigger,
    server: tokio::task::JoinHandle<Result<(), dialtone::server::RunError>>,
    _dir: Option<TempDir>,
}

impl Sim {
    async fn start(mode: Mode, name: &str) -> Sim {
        Sim::start_sized(mode, name, CALLS).await
    }

    /// A server that admits `calls` calls at once.
    async fn start_sized(mode: Mode, name: &str, calls: usize) -> Sim {
        let (counts, raddr) = counting_receiver().await;

        let mut config = dialtone::Config::embedded();
        config.clock.mode = ClockMode::Manual;
        config.clock.start = Some(START.parse().unwrap());
        config.seed = Some(1);
        config.apps[0].max_concurrent_calls = calls as u32;
        config.platform.ports = 2 * calls as u32;
        config.frequency.rules.clear();
        config.journal.max_entries = 10 * CALLS;
        config.apps[0].status_url = Some(format!("http://{raddr}/status"));
        config.apps[0].fee_url = Some(format!("http://{raddr}/fee"));
        let dir = match mode {
            Mode::Ephemeral => {
                config.store.ephemeral = true;
                None
            }
            Mode::Durable => {
                let dir = TempDir::new(name);
                config.store.ephemeral = false;
                config.store.data_dir = dir.0.clone();
                Some(dir)
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (trigger, signal) = dialtone::shutdown::channel();
        let server = tokio::spawn(dialtone::run(config, listener, signal));
        let sim = Sim {
            base,
            http: dialtone::tls::http_client(),
            counts,
            trigger,
            server,
            _dir: dir,
        };
        sim.warm_up().await;
        sim
    }

    /// Opens the client's connections (and waits for the server to answer) before measuring.
    async fn warm_up(&self) {
        let mut warming = JoinSet::new();
        for _ in 0..IN_FLIGHT {
            let (http, url) = (self.http.clone(), format!("{}/sim/v1/clock", self.base));
            warming.spawn(async move {
                let reply = http.get(url).send().await.unwrap();
                assert!(reply.status().is_success());
                reply.bytes().await.unwrap();
            });
        }
        while let Some(r) = warming.join_next().await {
            r.unwrap();
        }
    }

    /// Places call `i` and returns how long the request took.
    fn call(&self, i: usize) -> impl std::future::Future<Output = Duration> + Send + 'static {
        let mut body = verify_body("48151623");
        // A 1 before the counter keeps clear of the magic numbers (`…0000` + stateCode).
        body["calleeNbr"] = json!(format!("+861391{:07}", i));
        let mut req = self
            .http
            .post(format!("{}/rest/httpsessions/callVerify/v1.0", self.base))
            .body(body.to_string());
        for (k, v) in signed_headers(APP_KEY, APP_SECRET, &nonce()) {
            req = req.header(k, v);
        }
        async move {
            let sent = now();
            let answer = req.send().await.unwrap().bytes().await.unwrap();
            let took = sent.elapsed();
            assert!(
                answer.starts_with(br#"{"resultcode":"0""#),
                "{}",
                String::from_utf8_lossy(&answer)
            );
            took
        }
    }

    async fn stop(self) {
        self.trigger.fire();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        // `_dir` is removed now that the server has closed the database.
    }
}

/// (a): `CALLS` requests, `IN_FLIGHT` at a time. Returns the wall time and each latency.
async fn burst(sim: &Sim) -> (Duration, Vec<Duration>) {
    burst_of(sim, CALLS).await
}

/// `calls` requests, `IN_FLIGHT` at a time.
async fn burst_of(sim: &Sim, calls: usize) -> (Duration, Vec<Duration>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut placing = JoinSet::new();
    let started = now();
    for i in 0..calls {
        let call = sim.call(i);
        let slots = slots.clone();
        placing.spawn(async move {
            let _slot = slots.acquire_owned().await.unwrap();
            call.await
        });
    }
    let mut latencies = Vec::with_capacity(calls);
    while let Some(r) = placing.join_next().await {
        latencies.push(r.unwrap());
    }
    (started.elapsed(), latencies)
}

/// (b): `CALLS` requests at `RATE` a second. Returns the latencies, when the last request was
/// sent and when the last answer came (both from the first send).
async fn paced(sim: &Sim) -> (Vec<Duration>, Duration, Duration) {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    let mut placing = JoinSet::new();
    let started = now();
    for i in 0..CALLS {
        tick.tick().await;
        let call = sim.call(i);
        placing.spawn(async move {
            let took = call.await;
            (took, started.elapsed())
        });
    }
    let last_sent = started.elapsed();
    let mut latencies = Vec::with_capacity(CALLS);
    let mut last_answer = Duration::ZERO;
    while let Some(r) = placing.join_next().await {
        let (took, answered) = r.unwrap();
        latencies.push(took);
        last_answer = last_answer.max(answered);
    }
    (latencies, last_sent, last_answer)
}

/// (c): advances the clock 60 s and waits for every status push and CDR of `CALLS` calls.
async fn drain(sim: &Sim) -> (Duration, Duration) {
    let (started, cpu) = (now(), cpu_seconds());
    let reply = sim
        .http
        .post(format!("{}/sim/v1/clock/advance", sim.base))
        .body(r#"{"by":"60s"}"#)
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());
    sim.counts
        .wait_for(4 * CALLS, CALLS, Duration::from_secs(30))
        .await;
    let wall = started.elapsed();
    (
        wall,
        Duration::from_secs_f64((cpu_seconds() - cpu).max(0.0)),
    )
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// One mode's figures from one round.
#[derive(Debug, Clone, Copy)]
struct Figures {
    burst_wall: Duration,
    burst_rate: f64,
    burst_p50: Duration,
    burst_p99: Duration,
    paced_p50: Duration,
    paced_p99: Duration,
    paced_max: Duration,
    paced_last_sent: Duration,
    paced_last_answer: Duration,
    paced_rate: f64,
    drain: Duration,
    /// The process's CPU time over (c): the server, the writer, the receiver, all threads.
    drain_cpu: Duration,
}

async fn measure(mode: Mode, round: usize) -> Figures {
    let sim = Sim::start(mode, &format!("burst-{round}")).await;
    let (burst_wall, mut burst_lat) = burst(&sim).await;
    sim.stop().await;
    burst_lat.sort();

    let sim = Sim::start(mode, &format!("paced-{round}")).await;
    let (mut paced_lat, paced_last_sent, paced_last_answer) = paced(&sim).await;
    let (drain, drain_cpu) = drain(&sim).await;
    sim.stop().await;
    paced_lat.sort();

    Figures {
        burst_wall,
        burst_rate: CALLS as f64 / burst_wall.as_secs_f64(),
        burst_p50: percentile(&burst_lat, 50),
        burst_p99: percentile(&burst_lat, 99),
        paced_p50: percentile(&paced_lat, 50),
        paced_p99: percentile(&paced_lat, 99),
        paced_max: paced_lat[paced_lat.len() - 1],
        paced_last_sent,
        paced_last_answer,
        paced_rate: CALLS as f64 / paced_last_answer.as_secs_f64(),
        drain,
        drain_cpu,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A row of the table: how to read a metric from figures, and whether more is better.
struct Metric {
    name: &'static str,
    unit: &'static str,
    get: fn(&Figures) -> f64,
    higher_is_better: bool,
}

fn metrics() -> Vec<Metric> {
    let t = |name, get| Metric {
        name,
        unit: "ms",
        get,
        higher_is_better: false,
    };
    vec![
        t("(a) burst wall time", |f| ms(f.burst_wall)),
        Metric {
            name: "(a) burst throughput",
            unit: "calls/s",
            get: |f| f.burst_rate,
            higher_is_better: true,
        },
        t("(a) burst latency p50", |f| ms(f.burst_p50)),
        t("(a) burst latency p99", |f| ms(f.burst_p99)),
        t("(b) paced latency p50", |f| ms(f.paced_p50)),
        t("(b) paced latency p99", |f| ms(f.paced_p99)),
        t("(b) paced latency max", |f| ms(f.paced_max)),
        t("(b) last request sent", |f| ms(f.paced_last_sent)),
        t("(b) last answer", |f| ms(f.paced_last_answer)),
        Metric {
            name: "(b) achieved rate",
            unit: "calls/s",
            get: |f| f.paced_rate,
            higher_is_better: true,
        },
        t("(c) 4000 status + 1000 CDRs", |f| ms(f.drain)),
        t("(c) CPU time, all threads", |f| ms(f.drain_cpu)),
    ]
}

/// (d): the database's size per finished call, and where the bytes go.
async fn bytes_per_call() {
    let calls: usize = std::env::var("PERSISTENCE_DB_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(10_000);
    let sim = Sim::start_sized(Mode::Durable, "bytes", calls).await;
    let dir = sim._dir.as_ref().expect("a durable sim").0.clone();
    burst_of(&sim, calls).await;
    // Settles: every push of every call is attempted (and journaled) before the answer.
    let reply = sim
        .http
        .post(format!("{}/sim/v1/clock/advance", sim.base))
        .body(r#"{"by":"120s"}"#)
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());
    sim.counts
        .wait_for(4 * calls, calls, Duration::from_secs(60))
        .await;
    // Keep the directory past the server's stop, which checkpoints the WAL into the file.
    let Sim {
        trigger,
        server,
        _dir: kept,
        ..
    } = sim;
    trigger.fire();
    let _ = tokio::time::timeout(Duration::from_secs(30), server).await;
    let db = dir.join(dialtone::store::DB_FILE);
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = size(&db.with_extension("db-wal"));
    let file = size(&db);
    println!();
    println!(
        "(d) database bytes per finished call: {:.0} ({calls} verification calls, 4 status \
         pushes + a CDR each, all delivered; file {file} B, WAL {wal} B)",
        (file + wal) as f64 / calls as f64
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    breakdown(&conn, calls);
    // `PERSISTENCE_KEEP_DB=path`: a copy of the file to look into with sqlite3.
    if let Ok(keep) = std::env::var("PERSISTENCE_KEEP_DB") {
        std::fs::copy(&db, &keep).unwrap();
        println!("(d) database kept as {keep}");
    }
    drop(conn);
    drop(kept);
}

/// Bytes per call of each table and index.
fn breakdown(conn: &rusqlite::Connection, calls: usize) {
    let stat = conn.prepare(
        "SELECT name, sum(pgsize), sum(payload) FROM dbstat GROUP BY name ORDER BY 2 DESC",
    );
    match stat {
        Ok(mut stat) => {
            let rows = stat
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .unwrap();
            println!(
                "{:<28} {:>12} {:>12}",
                "table or index", "B per call", "payload"
            );
            for row in rows {
                let (name, pages, payload) = row.unwrap();
                println!(
                    "{name:<28} {:>12.0} {:>12.0}",
                    pages as f64 / calls as f64,
                    payload as f64 / calls as f64
                );
            }
        }
        Err(e) => println!("(no dbstat in this SQLite build: {e})"),
    }
}

#[tokio::main]
async fn main() {
    let only = std::env::var("PERSISTENCE_ONLY").unwrap_or_default();
    if only != "rounds" {
        bytes_per_call().await;
    }
    if only == "bytes" {
        return;
    }
    let rounds: usize = std::env::var("PERSISTENCE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(5);
    let mut ephemeral = Vec::new();
    let mut durable = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [Mode::Ephemeral, Mode::Durable]
        } else {
            [Mode::Durable, Mode::Ephemeral]
        };
        for mode in order {
            let f = measure(mode, round).await;
            println!(
                "round {} {:<9}: burst {:6.1} ms ({:5.0} calls/s, p50 {:.2} ms, p99 {:.2} ms); \
                 paced p50 {:.2} ms, p99 {:.2} ms, last answer {:6.1} ms; drain {:6.1} ms (CPU {:6.1} ms)",
                round + 1,
                mode.label(),
                ms(f.burst_wall),
                f.burst_rate,
                ms(f.burst_p50),
                ms(f.burst_p99),
                ms(f.paced_p50),
                ms(f.paced_p99),
                ms(f.paced_last_answer),
                ms(f.drain),
                ms(f.drain_cpu),
            );
            match mode {
                Mode::Ephemeral => ephemeral.push(f),
                Mode::Durable => durable.push(f),
            }
        }
    }

    println!();
    println!(
        "{CALLS} calls per burst; median of {rounds} round(s); slowdown = how much slower \
         durable is than ephemeral"
    );
    println!(
        "{:<30} {:>10} {:>10}  {:<8} {:>9}",
        "metric", "ephemeral", "durable", "unit", "slowdown"
    );
    for m in metrics() {
        let e = median(ephemeral.iter().map(m.get).collect());
        let d = median(durable.iter().map(m.get).collect());
        let slowdown = if m.higher_is_better {
            e / d - 1.0
        } else {
            d / e - 1.0
        };
        let flag = if slowdown > 0.20 { "  > 20 %" } else { "" };
        println!(
            "{:<30} {:>10.2} {:>10.2}  {:<8} {:>+8.1}%{flag}",
            m.name,
            e,
            d,
            m.unit,
            slowdown * 100.0
        );
    }
    let sustained = |fs: &[Figures]| {
        let rate = median(fs.iter().map(|f| f.paced_rate).collect());
        if rate >= 0.95 * RATE as f64 {
            "yes"
        } else {
            "no"
        }
    };
    println!(
        "(b) {RATE} calls/s sustained (achieved ≥ 95 %): ephemeral {}, durable {}",
        sustained(&ephemeral),
        sustained(&durable)
    );
}
