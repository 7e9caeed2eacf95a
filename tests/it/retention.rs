//! Retention: finished calls leave memory once settled (`[retention]`); with a database they
//! read back the same from it, with `--ephemeral` they are gone; the database forgets them too
//! (`store.retention_s`), never while a push is owed.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::helpers::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dialtone-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A verification call to its own callee (so no frequency rule is near).
fn call_to(n: u32) -> Value {
    let mut body = verify_body("4827");
    body["calleeNbr"] = json!(format!("+86139000{n:05}"));
    body
}

/// `calls` of `GET /sim/v1/health`: in memory and evicted.
async fn held(sim: &TestSim) -> Value {
    sim.get("/sim/v1/health").await.body["calls"].clone()
}

/// Everything the inspection API says about one call.
async fn everything_about(sim: &TestSim, session: &str) -> Vec<Value> {
    let list = sim.get("/sim/v1/calls").await.body;
    let listed = list
        .as_array()
        .expect("a list")
        .iter()
        .find(|c| c["session_id"] == session)
        .cloned()
        .unwrap_or(Value::Null);
    let mut out = vec![listed];
    for path in [
        format!("/sim/v1/calls/{session}"),
        format!("/sim/v1/calls/{session}/events"),
        format!("/sim/v1/calls/{session}/events?after=2&wait_for=disconnect"),
        format!("/sim/v1/deliveries?session_id={session}"),
    ] {
        let reply = sim.get(&path).await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
        out.push(reply.body);
    }
    out
}

/// The call's `audio.wav` bytes and its announcement.
async fn audio_of(sim: &TestSim, session: &str) -> (Vec<u8>, Value) {
    let wav = sim
        .http
        .get(format!("{}/sim/v1/calls/{session}/audio.wav", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(wav.status(), 200);
    let wav = wav.bytes().await.unwrap().to_vec();
    assert!(
        wav.len() > 44 + 8000,
        "a few seconds of audio: {} bytes",
        wav.len()
    );
    let announcement = sim
        .get(&format!("/sim/v1/calls/{session}/announcement"))
        .await;
    assert_eq!(announcement.status, 200, "{}", announcement.body);
    (wav, announcement.body)
}

#[tokio::test]
async fn a_call_that_left_memory_reads_back_the_same_from_the_database() {
    let dir = scratch("evicted-durable");
    let data = dir.clone();
    let sim = TestSim::start_with(move |c: &mut dialtone::Config, _: &PushReceiver| {
        c.store.ephemeral = false;
        c.store.data_dir = data;
        c.retention.max_finished_calls = 1;
    })
    .await;
    let first = sim.place_call(&call_to(1)).await;
    sim.advance("2m").await;
    assert_eq!(sim.receiver.cdr(&first)["sessionId"], first.as_str());
    let before = everything_about(&sim, &first).await;
    let heard_before = audio_of(&sim, &first).await;
    assert_eq!(held(&sim).await, json!({ "in_memory": 1, "evicted": 0 }));

    let second = sim.place_call(&call_to(2)).await;
    sim.advance("2m").await;
    assert_eq!(sim.receiver.cdr(&second)["sessionId"], second.as_str());
    assert_eq!(held(&sim).await, json!({ "in_memory": 1, "evicted": 1 }));

    let after = everything_about(&sim, &first).await;
    assert_eq!(
        after, before,
        "the same JSON from the database as from memory"
    );
    let list = sim.get("/sim/v1/calls").await.body;
    let order: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|c| c["session_id"].as_str())
        .collect();
    assert_eq!(order, vec![first.as_str(), second.as_str()]);
    // Its announcement is composed again from the stored request: the same audio.
    assert_eq!(audio_of(&sim, &first).await, heard_before);
    // Hanging up or pressing keys on it is refused as on any ended call, not as unknown.
    for (action, body) in [
        ("hangup", r#"{"party":"a"}"#),
        ("dtmf", r#"{"digits":"1"}"#),
    ] {
        let [evicted, in_memory] = [&first, &second].map(|s| format!("/sim/v1/calls/{s}/{action}"));
        let evicted = sim.post(&evicted, &[], body).await;
        let in_memory = sim.post(&in_memory, &[], body).await;
        assert_eq!(
            (evicted.status, &evicted.body),
            (409, &in_memory.body),
            "{action}"
        );
    }
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn with_ephemeral_a_call_that_left_memory_is_gone() {
    let sim = TestSim::start_with(|c: &mut dialtone::Config, _: &PushReceiver| {
        c.retention.max_finished_calls = 1;
    })
    .await;
    let first = sim.place_call(&call_to(1)).await;
    sim.advance("2m").await;
    let second = sim.place_call(&call_to(2)).await;
    sim.advance("2m").await;
    assert_eq!(held(&sim).await, json!({ "in_memory": 1, "evicted": 1 }));
    let reply = sim.get(&format!("/sim/v1/calls/{first}")).await;
    assert_eq!(
        (reply.status, reply.body),
        (
            404,
            json!({ "error": format!("no call with sessionId `{first}`") })
        )
    );
    for route in ["events", "audio.wav", "announcement"] {
        let reply = sim.get(&format!("/sim/v1/calls/{first}/{route}")).await;
        assert_eq!(reply.status, 404, "{route}: {}", reply.body);
    }
    for (action, body) in [
        ("hangup", r#"{"party":"a"}"#),
        ("dtmf", r#"{"digits":"1"}"#),
    ] {
        let reply = sim
            .post(&format!("/sim/v1/calls/{first}/{action}"), &[], body)
            .await;
        assert_eq!(reply.status, 404, "{action}: {}", reply.body);
    }
    assert_eq!(sim.call(&second).await["state"], "released");
    assert_eq!(sim.call_count().await, 1);
}

#[tokio::test]
async fn a_call_owed_its_cdr_stays_in_memory_until_the_retry_delivers_it() {
    let sim = TestSim::start_with(|c: &mut dialtone::Config, _: &PushReceiver| {
        c.retention.max_finished_calls = 0;
    })
    .await;
    sim.receiver.reply_with(500);
    let session = sim.place_call(&call_to(1)).await;
    sim.advance("2m").await;
    // Ended, its status pushes given up (not retried), its CDR waiting an hour to retry.
    assert_eq!(sim.call(&session).await["cdr_state"], "queued");
    assert_eq!(held(&sim).await, json!({ "in_memory": 1, "evicted": 0 }));
    sim.receiver.reply_with(200);
    sim.advance("61m").await;
    let cdrs = sim.receiver.log();
    let tries = cdrs.iter().filter(|p| p.cdr_of(&session).is_some()).count();
    assert_eq!(tries, 2, "the retry delivered");
    assert_eq!(held(&sim).await, json!({ "in_memory": 0, "evicted": 1 }));
    assert_eq!(
        sim.get(&format!("/sim/v1/calls/{session}")).await.status,
        404
    );
}

#[tokio::test]
async fn calls_over_the_count_that_owed_their_cdr_leave_once_it_is_delivered_the_newest_stays() {
    let sim = TestSim::start_with(|c: &mut dialtone::Config, _: &PushReceiver| {
        c.retention.max_finished_calls = 1;
    })
    .await;
    sim.receiver.reply_with(500);
    let mut sessions = Vec::new();
    for n in 1..=3 {
        sessions.push(sim.place_call(&call_to(n)).await);
    }
    sim.advance("2m").await;
    // Two are over the count, but every CDR waits an hour to retry: all three stay.
    assert_eq!(held(&sim).await, json!({ "in_memory": 3, "evicted": 0 }));
    sim.receiver.reply_with(200);
    sim.advance("61m").await;
    assert_eq!(held(&sim).await, json!({ "in_memory": 1, "evicted": 2 }));
    for session in &sessions[..2] {
        let status = sim.get(&format!("/sim/v1/calls/{session}")).await.status;
        assert_eq!(status, 404, "{session} left memory");
    }
    assert_eq!(sim.call(&sessions[2]).await["cdr_state"], "delivered");
}

#[tokio::test]
async fn a_finished_call_leaves_memory_once_older_than_its_age() {
    let sim = TestSim::start_with(|c: &mut dialtone::Config, _: &PushReceiver| {
        c.retention.max_finished_age_s = 600;
    })
    .await;
    let session = sim.place_call(&call_to(1)).await;
    sim.advance("2m").await;
    assert_eq!(held(&sim).await, json!({ "in_memory": 1, "evicted": 0 }));
    sim.advance("10m").await;
    assert_eq!(held(&sim).await, json!({ "in_memory": 0, "evicted": 1 }));
    assert_eq!(
        sim.get(&format!("/sim/v1/calls/{session}")).await.status,
        404
    );
}

/// The calls the database file holds, by a second connection.
fn stored_calls(dir: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(dir.join(dialtone::store::DB_FILE)).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let mut stmt = conn
        .prepare("SELECT session_id FROM calls ORDER BY seq")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

#[tokio::test]
async fn the_database_forgets_a_settled_call_past_store_retention() {
    let dir = scratch("store-retention");
    let data = dir.clone();
    let sim = TestSim::start_with(move |c: &mut dialtone::Config, _: &PushReceiver| {
        c.store.ephemeral = false;
        c.store.data_dir = data;
        c.store.retention_s = 3600;
        c.retention.max_finished_age_s = 1800;
    })
    .await;
    let old = sim.place_call(&call_to(1)).await;
    sim.advance("2m").await;
    sim.advance("2h").await;
    // Out of memory, still in the database: read from it.
    assert_eq!(held(&sim).await, json!({ "in_memory": 0, "evicted": 1 }));
    assert_eq!(sim.call(&old).await["state"], "released");
    // The next call to end brings a retention pass with it.
    let new = sim.place_call(&call_to(2)).await;
    sim.advance("2m").await;
    assert_eq!(sim.receiver.cdr(&new)["sessionId"], new.as_str());
    assert_eq!(
        sim.get(&format!("/sim/v1/calls/{old}")).await.status,
        404,
        "gone from the database too"
    );
    assert_eq!(stored_calls(&dir), vec![new.clone()]);
    let journal = sim
        .get(&format!("/sim/v1/deliveries?session_id={old}"))
        .await;
    assert_eq!(journal.body, json!([]));
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_recording_stays_downloadable_after_its_call_left_memory_until_it_expires() {
    let sim = TestSim::start_with(|c: &mut dialtone::Config, _: &PushReceiver| {
        c.retention.max_finished_calls = 0;
    })
    .await;
    let body = json!({
        "displayNbr": DISPLAY, "callerNbr": "+8613900001234",
        "displayCalleeNbr": "+862087654322", "calleeNbr": "+8613700005678",
        "recordFlag": "true", "recordHintTone": "welcome.wav"
    });
    let session = place_click_to_call(&sim, &body).await;
    sim.advance("2m").await;
    assert_eq!(held(&sim).await, json!({ "in_memory": 0, "evicted": 1 }));
    let url = sim.receiver.cdr(&session)["recordFileDownloadUrl"]
        .as_str()
        .expect("a recording")
        .to_owned();
    let file = sim.http.get(&url).send().await.unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.bytes().await.unwrap().len(), 58 + 30 * 8000);
    sim.advance("168h").await;
    assert_eq!(sim.http.get(&url).send().await.unwrap().status(), 404);
}
