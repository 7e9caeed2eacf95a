//! What the durable store costs the engine: `cargo bench --bench store`.
//!
//! 1. Burst: the writes of 10 000 call lifecycles (accepted, 5 events, ended, 5 deliveries queued,
//!    5 attempts: 170 000 writes) through `Store::write`; the time the engine spends queueing, and
//!    the time until the writer has committed everything (`flush`).
//! 2. `write_sync` of a `CallAccepted`, one after another: the latency of "committed before
//!    answering 0" when nobody shares the commit.
//! 3. The same guarantee under load: 200 concurrent requests, each `write` + `flushed().await`,
//!    10 000 in all, sharing commits.
//!
//! 4. The issue's burst: 1000 calls/s for 3 s, each waiting for its `CallAccepted` to commit.
//! 5. The writer's time per kind of write.
//! 6. The same on disk for the writes the engine makes of a verification call whose pushes all
//!    succeed at once: 9 timeline entries, 4 status pushes to the call's own URL each journaled
//!    as queued, its end and CDR state, and a CDR batch of 50 calls with its attempt.
//!
//! Each runs in memory (`--ephemeral`) and on disk (a fresh directory under the temp dir).
//! Figures are printed, not asserted.

#![allow(clippy::disallowed_methods)] // a benchmark measures real time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialtone::push::journal::{DeliveryOutcome, JournalEntry, PushKind};
use dialtone::push::payload::EventType;
use dialtone::store::{Store, Write};

const CALLS: u64 = 10_000;

fn session(seq: u64) -> String {
    format!("1200_{seq}_2841736025_20260314101531@callenabler.home1.com")
}

fn accepted(seq: u64) -> Write {
    Write::CallAccepted {
        seq,
        session_id: session(seq),
        app_key: "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z".into(),
        callee: "+8613900001234".into(),
        display: "+862087654321".into(),
        accepted_ms: seq,
        accepted_at: "2026-03-14 10:15:31".into(),
        request_json: r#"{"displayNbr":"+862087654321","calleeNbr":"+8613900001234","languageType":2,"preTone":"welcome","verifyCode":"1234","times":3,"userData":"order-7781"}"#.into(),
        status_url: Some("http://127.0.0.1:8080/status".into()),
        fee_url: Some("http://127.0.0.1:8080/fee".into()),
    }
}

/// The 17 writes of one answered call whose pushes all succeed at once (the CDR after one
/// failure: 4 status attempts + 1 fee attempt = 5).
fn lifecycle(seq: u64) -> Vec<Write> {
    let s = session(seq);
    let mut w = vec![accepted(seq)];
    let events = ["callout", "alerting", "answer", "playing", "disconnect"];
    for (idx, event) in events.iter().enumerate() {
        w.push(Write::CallEvent {
            session_id: s.clone(),
            idx: idx as u32,
            at_ms: seq + idx as u64 * 1000,
            time: dialtone::clock::TimelineTime::parse("2026-03-14 10:15:33.000").expect("a time"),
            event: event.parse().expect("a timeline event name"),
            // As the engine writes them: the same few texts on every call.
            detail: match *event {
                "playing" => Some("code reading 1".into()),
                "disconnect" => Some("stateCode 0: The user releases the call.".into()),
                _ => None,
            },
        });
    }
    w.push(Write::CallEnded {
        session_id: s.clone(),
        state_code: 0,
        ended_at: "2026-03-14 10:15:53".into(),
        readings: 3,
        code_ms: 8200,
        fee: serde_json::from_str(&format!(r#"{{"direction":0,"spId":"dialtone_sp01","appKey":"k3VdT9wQx2LpR7mN4sB8cY1fHj6Z","icid":"CAE-20260314181531-{seq:08}","bindNum":"+862087654321","sessionId":"1200_{seq}_2841736025_20260314101531@callenabler.home1.com","callerNum":"+862087654321","calleeNum":"+8613900001234","callOutStartTime":"2026-03-14 10:15:31","callOutAlertingTime":"2026-03-14 10:15:33","callOutAnswerTime":"2026-03-14 10:15:37","callEndTime":"2026-03-14 10:15:53","ulFailReason":0,"sipStatusCode":0,"callOutUnaswRsn":0,"recordFlag":0,"ttsPlayTimes":3,"ttsTransDuration":9,"serviceType":"001","hostName":"callenabler.home1.com","userData":"order-7781"}}"#))
        .expect("a CDR"),
        view_json: None,
    });
    let pushes = [
        (PushKind::Status, "callout"),
        (PushKind::Status, "alerting"),
        (PushKind::Status, "answer"),
        (PushKind::Status, "disconnect"),
        (PushKind::Fee, "fee"),
    ];
    for (n, (kind, event_type)) in pushes.iter().enumerate() {
        let id = seq * 10 + n as u64;
        let body = format!(
            r#"{{"eventType":"{event_type}","statusInfo":{{"sessionId":"{s}","timestamp":"2026-03-14 10:15:53","caller":"+862087654321","called":"+8613900001234"}}}}"#
        );
        w.push(Write::DeliveryQueued {
            id: id.to_string(),
            kind: *kind,
            app_key: "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z".into(),
            url: "http://127.0.0.1:8080/status".into(),
            body: body.clone().into_bytes(),
            event_type: EventType::from_name(event_type).expect("an eventType"),
            session_ids: vec![s.clone()],
            idempotency_key: format!("{id:032X}"),
        });
    }
    for (n, (kind, event_type)) in pushes.iter().enumerate() {
        let id = seq * 10 + n as u64;
        w.push(Write::Attempt {
            entry: JournalEntry {
                id: format!("{id}#1"),
                delivery_id: id.to_string(),
                kind: *kind,
                app_key: "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z".into(),
                session_ids: vec![s.clone()],
                event_type: EventType::from_name(event_type).expect("an eventType"),
                url: "http://127.0.0.1:8080/status".into(),
                attempt: 1,
                sent_at: "2026-03-14 10:15:53".into(),
                sent_at_ms: seq,
                request_headers: vec![
                    ("content-type".into(), "application/json;charset=UTF-8".into()),
                    ("authorization".into(), r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#.into()),
                    ("x-aksk".into(), r#"UsernameToken Username="k3VdT9wQx2LpR7mN4sB8cY1fHj6Z",PasswordDigest="ZmFrZWRpZ2VzdGZha2VkaWdlc3RmYWtlZGlnZXN0PQ==",Nonce="66C92B11FF8A425FB8D4CCFE0ED9ED1F",Created="2026-03-14T18:15:53Z""#.into()),
                ],
                request_body: "{}".into(),
                response_status: Some(200),
                response_body: Some(String::new()),
                error: None,
                latency_ms: 2,
                outcome: DeliveryOutcome::Delivered,
                next_attempt_at: None,
                fault: None,
            },
            fault: None,
        });
    }
    w
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("dialtone-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn burst(label: &str, store: &Store) -> Result<(), Box<dyn std::error::Error>> {
    let writes: Vec<Write> = (1..=CALLS).flat_map(lifecycle).collect();
    let n = writes.len();
    let t = Instant::now();
    for w in writes {
        store.write(w);
    }
    let queued = t.elapsed();
    store.flush()?;
    let flushed = t.elapsed();
    let stats = store.stats();
    println!(
        "burst     {label:<9} {n} writes: queued in {:7.1} ms ({:.2} µs/call), committed after {:7.1} ms \
         ({:.0} writes/s, {} commits, {} refused)",
        ms(queued),
        us(queued) / CALLS as f64,
        ms(flushed),
        n as f64 / flushed.as_secs_f64(),
        stats.commits,
        stats.failed_writes
    );
    Ok(())
}

fn write_sync(label: &str, store: &Store) -> Result<(), Box<dyn std::error::Error>> {
    const N: u64 = 2000;
    let mut lat = Vec::with_capacity(N as usize);
    for seq in 1..=N {
        let t = Instant::now();
        store.write_sync(accepted(1_000_000 + seq))?;
        lat.push(t.elapsed());
    }
    lat.sort();
    let total: Duration = lat.iter().sum();
    println!(
        "write_sync {label:<8} {N} calls, one at a time: mean {:6.1} µs, p50 {:6.1} µs, p99 {:6.1} µs",
        us(total) / N as f64,
        us(lat[lat.len() / 2]),
        us(lat[lat.len() * 99 / 100]),
    );
    Ok(())
}

fn concurrent(label: &str, store: &Store) -> Result<(), Box<dyn std::error::Error>> {
    const TASKS: u64 = 200;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    let store = Arc::new(store.clone());
    let t = Instant::now();
    let mut lat: Vec<Duration> = rt.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                for i in 0..CALLS / TASKS {
                    let t = Instant::now();
                    store.write(accepted(2_000_000 + task * CALLS + i));
                    store.flushed().await.map(|()| lat.push(t.elapsed()))?;
                }
                Ok::<_, dialtone::store::StoreError>(lat)
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            if let Ok(Ok(lat)) = task.await {
                all.extend(lat);
            }
        }
        all
    });
    let took = t.elapsed();
    lat.sort();
    if lat.is_empty() {
        return Err("no call completed".into());
    }
    println!(
        "flushed   {label:<9} {} calls, {TASKS} at a time: {:.0} calls/s, p50 {:6.1} µs, p99 {:6.1} µs",
        lat.len(),
        lat.len() as f64 / took.as_secs_f64(),
        us(lat[lat.len() / 2]),
        us(lat[lat.len() * 99 / 100]),
    );
    Ok(())
}

/// 1000 calls/s for 3 s, as the issue's burst: each request writes its `CallAccepted` and waits
/// for the commit before "answering", then the call's other 16 writes follow. Reports the wait.
fn paced(label: &str, store: &Store) -> Result<(), Box<dyn std::error::Error>> {
    const RATE: u64 = 1000;
    const SECONDS: u64 = 3;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let start = Instant::now();
    let mut lat: Vec<Duration> = rt.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
        let mut tasks = Vec::new();
        for i in 0..RATE * SECONDS {
            tick.tick().await;
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut writes = lifecycle(3_000_000 + i).into_iter();
                let t = Instant::now();
                if let Some(first) = writes.next() {
                    store.write(first);
                }
                let waited = store.flushed().await.map(|()| t.elapsed());
                for w in writes {
                    store.write(w);
                }
                waited
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            if let Ok(Ok(d)) = task.await {
                all.push(d);
            }
        }
        all
    });
    store.flush()?;
    let took = start.elapsed();
    lat.sort();
    if lat.is_empty() {
        return Err("no call completed".into());
    }
    println!(
        "paced     {label:<9} {} calls at {RATE}/s: commit wait p50 {:6.1} µs, p99 {:6.1} µs, \
         max {:6.1} µs; all committed {:.0} ms after the {SECONDS} s",
        lat.len(),
        us(lat[lat.len() / 2]),
        us(lat[lat.len() * 99 / 100]),
        us(lat[lat.len() - 1]),
        ms(took.saturating_sub(Duration::from_secs(SECONDS))),
    );
    Ok(())
}

/// The writer's cost per kind of write, in memory: where its time goes.
fn per_kind() -> Result<(), Box<dyn std::error::Error>> {
    let calls: Vec<Vec<Write>> = (1..=CALLS).map(lifecycle).collect();
    let kinds = [
        ("CallAccepted", 0..1),
        ("CallEvent", 1..6),
        ("CallEnded", 6..7),
        ("DeliveryQueued", 7..12),
        ("Attempt", 12..17),
    ];
    let store = Store::in_memory()?;
    for (name, range) in kinds {
        let before = store.stats().writes;
        let t = Instant::now();
        for call in &calls {
            for w in &call[range.clone()] {
                store.write(w.clone());
            }
        }
        store.flush()?;
        let n = store.stats().writes - before;
        println!(
            "per kind  {name:<15} {n} writes: {:5.2} µs a write",
            us(t.elapsed()) / n as f64
        );
    }
    Ok(())
}

const APP: &str = "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z";

/// The engine's writes of call `seq` in the order of [`engine_per_kind`]'s kinds (`None`: not
/// this call's part), the CDR batch written with every 50th call.
fn engine_lifecycle(seq: u64) -> Vec<Vec<Write>> {
    let s = session(seq);
    let at = |ms: i64| {
        dialtone::clock::TimelineTime::new(
            chrono::DateTime::from_timestamp_millis(1_773_483_331_000 + ms).expect("a time"),
        )
    };
    let events = [
        ("callout", 0, None),
        ("alerting", 2000, None),
        ("answer", 6000, None),
        ("playing", 6000, Some("code reading 1")),
        ("playing", 9000, Some("code reading 2")),
        ("playing", 12000, Some("code reading 3")),
        ("playing", 15000, Some("closing")),
        (
            "disconnect",
            22000,
            Some("stateCode 0: The user releases the call."),
        ),
        ("note", 22000, Some("CDR queued")),
    ];
    let timeline = events
        .iter()
        .enumerate()
        .map(|(idx, (event, ms, detail))| Write::CallEvent {
            session_id: s.clone(),
            idx: idx as u32,
            at_ms: seq + *ms as u64,
            time: at(*ms),
            event: event.parse().expect("a timeline event name"),
            detail: detail.map(str::to_owned),
        })
        .collect();
    let status = ["callout", "alerting", "answer", "disconnect"];
    let body = |event: &str| {
        format!(
            r#"{{"eventType":"{event}","statusInfo":{{"sessionId":"{s}","timestamp":"2026-03-14 10:15:53","caller":"+862087654321","called":"+8613900001234","stateCode":0,"stateDesc":"The user releases the call.","userData":"order-7781"}}}}"#
        )
    };
    let queued = |id: String, kind, event: &str, body: String, sessions: Vec<String>, url: &str| {
        Write::DeliveryQueued {
            id,
            kind,
            app_key: APP.into(),
            url: url.into(),
            body: body.into_bytes(),
            event_type: EventType::from_name(event).expect("an eventType"),
            idempotency_key: format!("{}/{event}", sessions[0]),
            session_ids: sessions,
        }
    };
    let attempt = |w: &Write| {
        let Write::DeliveryQueued {
            id,
            kind,
            url,
            body,
            event_type,
            session_ids,
            idempotency_key,
            ..
        } = w
        else {
            unreachable!()
        };
        Write::QueuedAttempt(std::sync::Arc::new(JournalEntry {
            id: format!("{id}#1"),
            delivery_id: id.clone(),
            kind: *kind,
            app_key: APP.into(),
            session_ids: session_ids.clone(),
            event_type: *event_type,
            url: url.clone(),
            attempt: 1,
            sent_at: "2026-03-14 10:15:53".into(),
            sent_at_ms: seq,
            request_headers: dialtone::push::transport::journal_headers(
                dialtone::push::sign::PUSH_AUTHORIZATION,
                &format!(
                    r#"UsernameToken Username="{APP}",PasswordDigest="ZmFrZWRpZ2VzdGZha2VkaWdlc3RmYWtlZGlnZXN0PQ==",Nonce="66C92B11FF8A425FB8D4CCFE{seq:08X}",Created="2026-03-14T18:15:53Z""#
                ),
                idempotency_key,
            ),
            request_body: String::from_utf8(body.clone()).expect("utf-8"),
            response_status: Some(200),
            response_body: Some(String::new()),
            error: None,
            latency_ms: 2,
            outcome: DeliveryOutcome::Delivered,
            next_attempt_at: None,
            fault: None,
        }))
    };
    let status_queued: Vec<Write> = status
        .iter()
        .enumerate()
        .map(|(n, event)| {
            queued(
                format!("s{seq}.{}", n + 1),
                PushKind::Status,
                event,
                body(event),
                vec![s.clone()],
                "http://127.0.0.1:8080/status",
            )
        })
        .collect();
    let attempts = status_queued.iter().map(attempt).collect();
    let Write::CallEnded { fee, .. } = &lifecycle(seq)[6] else {
        unreachable!()
    };
    let ended = Write::CallEnded {
        session_id: s.clone(),
        state_code: 0,
        ended_at: "2026-03-14 10:15:53".into(),
        readings: 3,
        code_ms: 8200,
        fee: fee.clone(),
        view_json: Some(
            r#"{"outcome":"answered","behaviour_from":"default","announcement":["preTone","code","code","code"]}"#
                .into(),
        ),
    };
    let fee_state = Write::FeeState {
        session_ids: vec![s.clone()],
        state: dialtone::store::FeeState::Queued,
    };
    let mut batch = Vec::new();
    if seq.is_multiple_of(50) {
        let sessions: Vec<String> = (seq - 49..=seq).map(session).collect();
        let fees: Vec<String> = (seq - 49..=seq)
            .map(|n| {
                let Write::CallEnded { fee, .. } = &lifecycle(n)[6] else {
                    unreachable!()
                };
                serde_json::to_string(fee).expect("a CDR")
            })
            .collect();
        let w = queued(
            format!("f{}", seq - 49),
            PushKind::Fee,
            "fee",
            format!(r#"{{"eventType":"fee","feeLst":[{}]}}"#, fees.join(",")),
            sessions,
            "http://127.0.0.1:8080/fee",
        );
        batch.push(attempt(&w));
        batch.insert(0, w);
    }
    vec![
        vec![accepted(seq)],
        timeline,
        status_queued,
        attempts,
        vec![ended, fee_state],
        batch,
    ]
}

/// The writer's cost per kind of the engine's writes, on disk, each kind committed in batches
/// of 50 calls (about what the delivery phase of the `persistence` bench commits at once).
fn engine_per_kind() -> Result<(), Box<dyn std::error::Error>> {
    let calls: Vec<Vec<Vec<Write>>> = (1..=CALLS).map(engine_lifecycle).collect();
    let kinds = [
        "CallAccepted",
        "CallEvent",
        "DeliveryQueued",
        "QueuedAttempt",
        "CallEnded+FeeState",
        "CDR batch",
    ];
    let dir = TempDir::new("engine");
    let store = Store::open(&dir.0)?;
    let mut total = Duration::ZERO;
    for (k, name) in kinds.iter().enumerate() {
        let before = store.stats().writes;
        let t = Instant::now();
        for chunk in calls.chunks(50) {
            for call in chunk {
                for w in &call[k] {
                    store.write(w.clone());
                }
            }
            store.flush()?;
        }
        let took = t.elapsed();
        total += took;
        let n = store.stats().writes - before;
        println!(
            "engine    {name:<18} {n:6} writes: {:6.2} µs a write, {:6.1} µs a call",
            us(took) / n as f64,
            us(took) / CALLS as f64
        );
    }
    println!(
        "engine    all kinds: {:6.1} µs a call ({} refused)",
        us(total) / CALLS as f64,
        store.stats().failed_writes
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var("STORE_ONLY").as_deref() == Ok("engine") {
        return engine_per_kind();
    }
    // `cargo bench` passes `--bench`; there is nothing to select.
    let memory = Store::in_memory()?;
    let dir = TempDir::new("store");
    let disk = Store::open(&dir.0)?;
    for (label, store) in [("ephemeral", &memory), ("disk", &disk)] {
        burst(label, store)?;
    }
    for (label, store) in [("ephemeral", &memory), ("disk", &disk)] {
        write_sync(label, store)?;
    }
    for (label, store) in [("ephemeral", &memory), ("disk", &disk)] {
        concurrent(label, store)?;
    }
    for (label, store) in [("ephemeral", &memory), ("disk", &disk)] {
        paced(label, store)?;
    }
    per_kind()?;
    engine_per_kind()
}
