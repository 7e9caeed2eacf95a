//! Nothing lost: calls, CDRs and deliveries survive a restart, and a kill -9.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::helpers::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dialtone-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_cdr_owed_at_shutdown_is_delivered_after_a_restart_under_the_same_idempotency_key() {
    let dir = scratch("restart");
    let durable = |c: &mut dialtone::Config, _: &PushReceiver| {
        c.store.ephemeral = false;
        c.store.data_dir = dir.clone();
    };
    let sim = TestSim::start_with(durable).await;
    sim.receiver.reply_with(500);
    let session = sim.place_call(&verify_body("4827")).await;
    sim.advance("30s").await;
    let first_try = sim
        .receiver
        .log()
        .into_iter()
        .find(|p| p.event_type() == "fee")
        .expect("a CDR attempt");
    let key = first_try.headers["x-dialtone-idempotency-key"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(key, format!("{session}/fee"));
    let journal = sim
        .get(&format!("/sim/v1/deliveries?session_id={session}"))
        .await
        .body;
    assert_eq!(
        journal.as_array().unwrap().len(),
        5,
        "the durable journal answers like the in-memory one"
    );
    let receiver = sim.stop_and_keep_receiver().await;

    receiver.reply_with(200);
    let sim = TestSim::start_on(receiver, durable).await;
    // The retry is due an hour after the first attempt; the new run resumes the clock just
    // after the time the data directory last recorded.
    sim.advance("2h").await;
    let cdrs: Vec<Push> = sim
        .receiver
        .log()
        .into_iter()
        .filter(|p| p.event_type() == "fee")
        .collect();
    assert_eq!(
        cdrs.len(),
        2,
        "the first failed attempt, then the retry after the restart"
    );
    assert_eq!(cdrs[1].headers["x-dialtone-idempotency-key"], key.as_str());
    assert_eq!(cdrs[1].raw, first_try.raw, "the same CDR body");
    let call = sim.call(&session).await;
    assert_eq!(call["cdr_state"], "delivered");
    let attempts: Vec<u64> = call["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "fee")
        .map(|d| d["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2]);
    // A call from the earlier run with nothing left to do is still readable, from the database.
    let earlier = sim.call(&session).await;
    assert_eq!(earlier["cdr_state"], "delivered");
    let sim = TestSim::start_on(sim.stop_and_keep_receiver().await, durable).await;
    let from_db = sim.call(&session).await;
    assert_eq!(
        (
            from_db["from_database"].as_bool(),
            from_db["state_code"].as_u64()
        ),
        (Some(true), Some(0))
    );
    assert_eq!(
        from_db["timeline"].as_array().unwrap().last().unwrap()["event"],
        "disconnect"
    );
    // The same view as a live call's: the same state names, the request's fields.
    assert_eq!(
        (
            &from_db["state"],
            &from_db["verify_code"],
            &from_db["callee"]
        ),
        (&json!("released"), &json!("4827"), &json!(CALLEE))
    );
    assert_eq!(from_db["deliveries"].as_array().unwrap().len(), 6);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A running `dialtone` binary, its stdout read to know when it listens.
fn start_binary(config: &PathBuf, data: &PathBuf, port: u16) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args([
            "serve",
            "--clock",
            "manual",
            "--start",
            START,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the dialtone binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.starts_with("Dialtone listening on"), "{first}");
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    headers: &[(String, String)],
    body: String,
) -> Value {
    let mut req = http.post(format!("{base}{path}")).body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let bytes = req
        .send()
        .await
        .expect("Dialtone answers")
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn every_call_accepted_before_a_kill_9_ends_with_a_cdr_after_the_restart() {
    let dir = scratch("kill9");
    let receiver = PushReceiver::start().await;
    let config = dir.join("dialtone.toml");
    let text = dialtone::config::EMBEDDED_DEFAULT
        .replace(
            "# status_url = \"http://127.0.0.1:9000/voice/status\"",
            &format!("status_url = \"{}\"", receiver.url("/voice/status")),
        )
        .replace(
            "# fee_url = \"http://127.0.0.1:9000/voice/fee\"",
            &format!("fee_url = \"{}\"", receiver.url("/voice/fee")),
        )
        .replace("max_concurrent_calls = 20", "max_concurrent_calls = 100");
    std::fs::write(&config, text).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let http = dialtone::tls::http_client();
    let data = dir.join("data");

    let mut dialtone = start_binary(&config, &data, port);
    let mut sessions = Vec::new();
    let place = |i: usize| {
        let mut body = verify_body("4827");
        body["calleeNbr"] = json!(format!("+861391{:07}", i));
        body.to_string()
    };
    for i in 0..5 {
        let answer = post(
            &http,
            &base,
            "/rest/httpsessions/callVerify/v1.0",
            &signed_headers(APP_KEY, APP_SECRET, &nonce()),
            place(i),
        )
        .await;
        sessions.push(answer["sessionId"].as_str().unwrap().to_owned());
    }
    post(
        &http,
        &base,
        "/sim/v1/clock/advance",
        &[],
        r#"{"by":"40s"}"#.into(),
    )
    .await; // these five complete
    for i in 5..15 {
        let answer = post(
            &http,
            &base,
            "/rest/httpsessions/callVerify/v1.0",
            &signed_headers(APP_KEY, APP_SECRET, &nonce()),
            place(i),
        )
        .await;
        assert_eq!(answer["resultcode"], "0");
        sessions.push(answer["sessionId"].as_str().unwrap().to_owned());
    }
    post(
        &http,
        &base,
        "/sim/v1/clock/advance",
        &[],
        r#"{"by":"3s"}"#.into(),
    )
    .await; // ringing
    dialtone.kill().expect("SIGKILL");
    dialtone.wait().unwrap();

    let mut dialtone = start_binary(&config, &data, port);
    // A new client: the old one's pooled connections died with the old process.
    let http = dialtone::tls::http_client();
    post(
        &http,
        &base,
        "/sim/v1/clock/advance",
        &[],
        r#"{"by":"2m"}"#.into(),
    )
    .await;
    let log = receiver.log();
    for (i, session) in sessions.iter().enumerate() {
        let cdrs: Vec<&Value> = log.iter().filter_map(|p| p.cdr_of(session)).collect();
        assert_eq!(cdrs.len(), 1, "call {i} ({session}) has exactly one CDR");
        let disconnects: Vec<&Push> = log
            .iter()
            .filter(|p| p.event_type() == "disconnect" && p.info("sessionId") == session.as_str())
            .collect();
        assert_eq!(disconnects.len(), 1, "call {i} has one disconnect");
        let code = if i < 5 { 0 } else { 8000 };
        assert_eq!(disconnects[0].info("stateCode"), code, "call {i}");
        assert_eq!(cdrs[0]["ulFailReason"], code, "call {i}");
    }
    let cut = log.iter().find_map(|p| p.cdr_of(&sessions[7])).unwrap();
    assert_eq!(
        cut["callOutStartTime"], "2026-03-14 10:16:11",
        "times recorded before the kill are kept"
    );
    assert!(cut.get("callOutAnswerTime").is_none() && cut["failTime"] == cut["callEndTime"]);

    // The restarted run numbers its pushes after the ones the killed run made: every journal
    // entry has its own id, and each cut call's disconnect has a delivery id of its own.
    let journal = http
        .get(format!("{base}/sim/v1/deliveries?limit=100000"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let journal: Value = serde_json::from_slice(&journal).unwrap();
    let ids: Vec<&str> = journal
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let unique: std::collections::HashSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "journal ids are unique: {ids:?}");
    dialtone.kill().unwrap();
    dialtone.wait().unwrap();

    // What the restarted run owed was in the outbox before it was sent: each cut call's
    // disconnect is a row of its own in `deliveries`.
    let db = rusqlite::Connection::open(data.join("dialtone.db")).unwrap();
    for session in &sessions[5..] {
        let events: Vec<String> = db
            .prepare("SELECT event_type FROM deliveries WHERE session_ids LIKE ?1 ORDER BY id")
            .unwrap()
            .query_map([format!("%{session}%")], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            events.iter().filter(|e| *e == "disconnect").count(),
            1,
            "{session}: {events:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts a sim on a database in `dir`, to be broken behind its back by [`drop_table`].
async fn start_durable(dir: &Path) -> TestSim {
    let dir = dir.to_owned();
    TestSim::start_with(move |c: &mut dialtone::Config, _: &PushReceiver| {
        c.store.ephemeral = false;
        c.store.data_dir = dir;
    })
    .await
}

/// Drops `table` from a second connection: a database Dialtone can no longer read.
fn drop_table(dir: &Path, table: &str) {
    let conn = rusqlite::Connection::open(dir.join(dialtone::store::DB_FILE)).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn.execute_batch(&format!("DROP TABLE {table}")).unwrap();
}

#[tokio::test]
async fn a_journal_the_database_cannot_read_is_a_500_not_an_empty_list() {
    let dir = scratch("unreadable-journal");
    let sim = start_durable(&dir).await;
    let session = sim.place_call(&verify_body("4827")).await;
    sim.advance("30s").await;
    drop_table(&dir, "attempt_rows");
    let expected = json!({
        "error": "reading the delivery journal: database error: no such table: attempt_rows"
    });
    for path in [
        "/sim/v1/deliveries".to_owned(),
        format!("/sim/v1/deliveries?session_id={session}"),
        format!("/sim/v1/calls/{session}"),
    ] {
        let reply = sim.get(&path).await;
        assert_eq!((reply.status, &reply.body), (500, &expected), "GET {path}");
    }
    let reply = sim
        .post("/sim/v1/deliveries/f1/redeliver", &[], Vec::new())
        .await;
    assert_eq!((reply.status, &reply.body), (500, &expected), "redeliver");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_stored_call_the_database_cannot_read_is_a_500_not_a_404() {
    let dir = scratch("unreadable-calls");
    let sim = start_durable(&dir).await;
    let path = "/sim/v1/calls/1200_1_0000000000_20260314101531@callenabler.home1.com";
    // Also waits for the server (and so the database) to be up before breaking it.
    assert_eq!(sim.get(path).await.status, 404, "unknown while readable");
    drop_table(&dir, "calls");
    let reply = sim.get(path).await;
    assert_eq!(
        (reply.status, reply.body),
        (
            500,
            json!({ "error": "reading the database: database error: no such table: calls" })
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_real_clock_resumes_after_the_recorded_time_and_the_cut_call_never_ends_before_it_started(
) {
    let dir = scratch("forward");
    let data = dir.clone();
    // A manual clock far ahead of the wall clock records the call's times in 2099.
    let sim = TestSim::start_with(move |c: &mut dialtone::Config, _: &PushReceiver| {
        c.store.ephemeral = false;
        c.store.data_dir = data;
        c.clock.start = Some("2099-01-01T00:00:00Z".parse().unwrap());
    })
    .await;
    let session = sim.place_call(&verify_body("4827")).await;
    sim.advance("8s").await; // answered, the announcement playing
    let timeline = sim.call(&session).await["timeline"].clone();
    let recorded = timeline.as_array().unwrap().last().unwrap()["time"]
        .as_str()
        .unwrap()
        .replace(' ', "T");
    assert!(recorded.starts_with("2099-01-01T"), "{recorded}");
    let receiver = sim.stop_and_keep_receiver().await;

    let data = dir.clone();
    let sim = TestSim::start_on(
        receiver,
        move |c: &mut dialtone::Config, _: &PushReceiver| {
            c.store.ephemeral = false;
            c.store.data_dir = data;
            c.clock.mode = dialtone::clock::ClockMode::Real;
            c.clock.start = None;
        },
    )
    .await;
    let clock = sim.get("/sim/v1/clock").await.body;
    let now = clock["now"].as_str().unwrap();
    assert!(
        now > recorded.as_str(),
        "the clock resumed at {now}, the store records {recorded}"
    );
    let cdr = loop {
        let push = sim.receiver.next().await;
        if let Some(cdr) = push.cdr_of(&session) {
            break cdr.clone();
        }
    };
    let started = cdr["callOutStartTime"].as_str().unwrap();
    let ended = cdr["callEndTime"].as_str().unwrap();
    assert!(
        started.starts_with("2099-01-01") && ended >= started,
        "callOutStartTime {started}, callEndTime {ended}"
    );
    assert!(ended >= cdr["callOutAnswerTime"].as_str().unwrap(), "{cdr}");
}

#[tokio::test]
async fn a_second_simulator_on_the_same_data_directory_is_refused_naming_the_first() {
    let dir = scratch("locked");
    let sim = start_durable(&dir).await;
    // The sim starts in its own task: once it answers, it holds the directory.
    assert_eq!(sim.get("/health").await.status, 200);
    let mut config = test_config();
    config.store.ephemeral = false;
    config.store.data_dir = dir.clone();
    let refused = dialtone::app::AppState::new(config.clone())
        .err()
        .expect("the data directory is in use");
    let message = refused.to_string();
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    let addr = sim.base.trim_start_matches("http://");
    assert!(message.contains(addr), "{message}");
    // The first one's calls were not touched: it still serves, and its lock goes with it.
    drop(sim.stop_and_keep_receiver().await);
    dialtone::app::AppState::new(config).expect("the directory is free again");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_second_dialtone_process_on_the_same_data_directory_exits_naming_the_first() {
    let dir = scratch("locked-bin");
    let config = dir.join("dialtone.toml");
    std::fs::write(&config, dialtone::config::EMBEDDED_DEFAULT).unwrap();
    let data = dir.join("data");
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let first_port = free_port();
    let mut first = start_binary(&config, &data, first_port);
    let second = Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the dialtone binary starts");
    let second_pid = second.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(second.wait_with_output()));
    let output = rx.recv_timeout(PATIENCE);
    first.kill().expect("SIGKILL");
    first.wait().unwrap();
    if output.is_err() {
        let _ = Command::new("kill").arg(second_pid.to_string()).status();
    }
    let output = output.expect("the second process exits at once").unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{first_port}")),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Found by `scripts/crash-test.sh`: the journal writes a status push's last attempt after the
/// engine has queued the call's CDR, so a kill between the two leaves the CDR `queued` while a
/// status push is still owed, and no CDR push in the outbox. After the restart the CDR must still
/// be pushed once the status pushes are done.
#[tokio::test]
async fn a_cdr_marked_queued_but_in_no_push_is_pushed_after_a_restart_behind_its_owed_status_push()
{
    let dir = scratch("queued-cdr");
    let durable = |c: &mut dialtone::Config, _: &PushReceiver| {
        c.store.ephemeral = false;
        c.store.data_dir = dir.clone();
    };
    let sim = TestSim::start_with(durable).await;
    let session = sim.place_call(&verify_body("4827")).await;
    sim.advance("2m").await;
    assert_eq!(sim.receiver.cdr(&session)["sessionId"], session.as_str());
    let receiver = sim.stop_and_keep_receiver().await;
    receiver.forget().await;
    // The state the kill left: the disconnect push owed, the CDR said queued, no CDR push.
    {
        let db = rusqlite::Connection::open(dir.join(dialtone::store::DB_FILE)).unwrap();
        let disconnect: String = db
            .query_row(
                "SELECT id FROM deliveries WHERE event_type = 'disconnect'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        db.execute_batch(&format!(
            "DELETE FROM attempt_rows WHERE delivery_id IN
                 (SELECT id FROM deliveries WHERE kind = 'fee' OR id = '{disconnect}');
             UPDATE outbox SET attempts = 0, last_outcome = NULL, last_sent_at = NULL,
                 finished_outcome = NULL, first_sent_at = NULL WHERE id = '{disconnect}';
             DELETE FROM delivery_calls
              WHERE delivery_id IN (SELECT id FROM deliveries WHERE kind = 'fee');
             DELETE FROM outbox WHERE id IN (SELECT id FROM deliveries WHERE kind = 'fee');
             UPDATE calls SET fee_state = 'queued';"
        ))
        .unwrap();
    }
    let sim = TestSim::start_on(receiver, durable).await;
    sim.advance("2m").await;
    assert_eq!(
        sim.receiver.events_of(&session).await,
        ["disconnect", "fee"]
    );
    assert_eq!(sim.call(&session).await["cdr_state"], "delivered");
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}
