use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;

use super::*;
use crate::call::timeline::TimelineEvent;
use crate::push::journal::{
    DeliveryOutcome, JournalEntry, JournalQuery, JournalStore, MemoryJournal, PushError, PushKind,
};
use crate::push::payload::{CdrFacts, EventType, FeeInfo};

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("dialtone-store-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn session(n: u64) -> String {
    format!("1200_{n}_0000000000_20260314101531@callenabler.home1.com")
}

fn accepted(seq: u64, app: &str, at: &str) -> Write {
    Write::CallAccepted {
        seq,
        session_id: session(seq),
        app_key: app.into(),
        callee: "+8613900001234".into(),
        display: "+862087654321".into(),
        accepted_ms: seq * 1000,
        accepted_at: at.into(),
        request_json: format!(r#"{{"verifyCode":"{seq:04}"}}"#),
        status_url: Some("http://127.0.0.1:9/status".into()),
        fee_url: Some("http://127.0.0.1:9/fee".into()),
    }
}

fn event(seq: u64, idx: u32, name: &str) -> Write {
    let at_ms = seq * 1000 + u64::from(idx) * 100;
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-14T10:15:30Z").expect("a time");
    let at = start.to_utc() + chrono::Duration::milliseconds(i64::try_from(at_ms).expect("small"));
    Write::CallEvent {
        session_id: session(seq),
        idx,
        at_ms,
        time: crate::clock::TimelineTime::new(at),
        event: name.parse().expect("a timeline event name"),
        detail: (name == "disconnect").then(|| "stateCode 0".into()),
    }
}

/// The CDR of [`ended`]'s call, when accepted at 2026-03-14 10:15:31 by [`accepted`].
fn fee(seq: u64, app: &str, code: u32) -> FeeInfo {
    let session = session(seq);
    let icid = format!("CAE-20260314181531-{seq:08}");
    let code = crate::call::codes::StateCode::from_code(code).expect("a stateCode");
    FeeInfo::new(CdrFacts {
        sp_id: "sp01",
        app_key: app,
        icid: &icid,
        session_id: &session,
        display_nbr: "+862087654321",
        callee_nbr: "+8613900001234",
        user_data: Some("order-7781"),
        host_name: "callenabler.home1.com",
        callout: Some("2026-03-14 10:15:31".into()),
        alerting: Some("2026-03-14 10:15:33".into()),
        answer: (code.code() == 0).then(|| "2026-03-14 10:15:37".into()),
        end: "2026-03-14 10:15:53".into(),
        state_code: Some(code),
        fail_reason: None,
        readings: 3,
        code_ms: 8200,
        ivr_start: None,
        ivr_path: None,
        forwarded: None,
        recording: None,
    })
}

fn fee_json(seq: u64, app: &str, code: u32) -> String {
    serde_json::to_string(&fee(seq, app, code)).expect("serialises")
}

fn ended(seq: u64, app: &str, code: u32) -> Write {
    Write::CallEnded {
        session_id: session(seq),
        state_code: code,
        ended_at: "2026-03-14 10:15:53".into(),
        readings: 3,
        code_ms: 8200,
        fee: Box::new(fee(seq, app, code)),
        view_json: None,
    }
}

fn queued(id: u64, kind: PushKind, seqs: &[u64]) -> Write {
    Write::DeliveryQueued {
        id: id.to_string(),
        kind,
        app_key: "app".into(),
        url: format!("http://127.0.0.1:9/{}", write::kind_str(kind)),
        body: format!(r#"{{"eventType":"{}"}}"#, write::kind_str(kind)).into_bytes(),
        event_type: if kind == PushKind::Fee {
            EventType::Fee
        } else {
            EventType::Callout
        },
        session_ids: seqs.iter().map(|s| session(*s)).collect(),
        idempotency_key: format!("idem-{id}"),
    }
}

fn entry(
    id: u64,
    kind: PushKind,
    seqs: &[u64],
    attempt: u32,
    outcome: DeliveryOutcome,
) -> JournalEntry {
    let failed = outcome != DeliveryOutcome::Delivered;
    JournalEntry {
        id: id.to_string(),
        // The attempt ids of these fixtures are the delivery id followed by one digit.
        delivery_id: (id / 10).to_string(),
        kind,
        app_key: "app".into(),
        session_ids: seqs.iter().map(|s| session(*s)).collect(),
        event_type: if kind == PushKind::Fee {
            EventType::Fee
        } else {
            EventType::Callout
        },
        url: "http://127.0.0.1:9/".into(),
        attempt,
        sent_at: "2026-03-14 10:15:53".into(),
        sent_at_ms: 22_000 + id,
        request_headers: vec![
            (
                "content-type".into(),
                "application/json;charset=UTF-8".into(),
            ),
            (
                "x-aksk".into(),
                format!("UsernameToken Nonce=\"{id:032X}\""),
            ),
        ],
        request_body: r#"{"eventType":"fee"}"#.into(),
        response_status: (!failed).then_some(200).or(Some(503)),
        response_body: Some("busy".into()),
        error: None,
        latency_ms: 3,
        outcome,
        next_attempt_at: (outcome == DeliveryOutcome::FailedWillRetry)
            .then(|| "2026-03-14 11:15:53".into()),
        fault: None,
    }
}

fn attempt(delivery: u64, mut e: JournalEntry) -> Write {
    e.delivery_id = delivery.to_string();
    Write::Attempt {
        entry: e,
        fault: None,
    }
}

/// One call from acceptance to its CDR: callout, alerting, answer, disconnect (each pushed),
/// then the CDR, failing twice before it is delivered.
fn full_lifecycle(store: &Store, seq: u64) {
    let s = seq * 10;
    store.write(accepted(seq, "app", "2026-03-14 10:15:31"));
    for (idx, name) in ["callout", "alerting", "answer", "playing", "disconnect"]
        .iter()
        .enumerate()
    {
        store.write(event(seq, idx as u32, name));
        if *name != "playing" {
            let id = s + idx as u64;
            store.write(queued(id, PushKind::Status, &[seq]));
            store.write(attempt(
                id,
                entry(id, PushKind::Status, &[seq], 1, DeliveryOutcome::Delivered),
            ));
        }
    }
    store.write(ended(seq, "app", 0));
    store.write(Write::FeeState {
        session_ids: vec![session(seq)],
        state: FeeState::Queued,
    });
    let fee = s + 9;
    store.write(queued(fee, PushKind::Fee, &[seq]));
    for (n, outcome) in [
        DeliveryOutcome::FailedWillRetry,
        DeliveryOutcome::FailedWillRetry,
        DeliveryOutcome::Delivered,
    ]
    .into_iter()
    .enumerate()
    {
        store.write(attempt(
            fee,
            entry(
                fee * 10 + n as u64,
                PushKind::Fee,
                &[seq],
                n as u32 + 1,
                outcome,
            ),
        ));
    }
}

#[test]
fn a_finished_call_leaves_nothing_in_flight_or_owed() {
    let store = Store::in_memory().expect("in-memory store");
    full_lifecycle(&store, 1);
    let r = store.recover().expect("recover");
    assert_eq!(r.calls_in_flight, vec![]);
    assert_eq!(r.owed_deliveries, vec![]);
    assert_eq!(r.cdrs_unsent, vec![]);
    assert_eq!(r.max_seq, 1);
    let call = store.call(&session(1)).expect("read").expect("stored");
    assert_eq!(call.fee_state, FeeState::Delivered);
    assert_eq!(call.ended.expect("ended").state_code, 0);
    let events = store.call_events(&session(1)).expect("events");
    assert_eq!(events.len(), 5);
    assert_eq!(events[4].event, TimelineEvent::Disconnect);
    assert_eq!(store.stats().failed_writes, 0);
}

#[test]
fn a_call_stopped_midway_is_recovered_in_flight_with_its_owed_cdr_push() {
    let store = Store::in_memory().expect("in-memory store");
    full_lifecycle(&store, 1);
    // Call 2 rang and is still ringing; its alerting push is queued, never tried.
    store.write(accepted(2, "app", "2026-03-14 10:16:00"));
    store.write(event(2, 0, "callout"));
    store.write(event(2, 1, "alerting"));
    store.write(queued(21, PushKind::Status, &[2]));
    // Call 3 ended; its CDR push failed once and waits for the retry an hour later.
    store.write(accepted(3, "app", "2026-03-14 10:16:01"));
    store.write(ended(3, "app", 8102));
    store.write(queued(31, PushKind::Fee, &[3]));
    store.write(attempt(
        31,
        entry(
            311,
            PushKind::Fee,
            &[3],
            1,
            DeliveryOutcome::FailedWillRetry,
        ),
    ));
    // Call 4 ended, but the process stopped before its CDR batch reached the outbox.
    store.write(accepted(4, "app", "2026-03-14 10:16:02"));
    store.write(ended(4, "app", 8017));
    store.write(Write::FeeState {
        session_ids: vec![session(4)],
        state: FeeState::Queued,
    });

    let r = store.recover().expect("recover");
    assert_eq!(r.calls_in_flight.len(), 1);
    let call = &r.calls_in_flight[0];
    assert_eq!(call.call.session_id, session(2));
    assert_eq!(call.call.request_json, r#"{"verifyCode":"0002"}"#);
    assert_eq!(
        call.events
            .iter()
            .map(|e| e.event.name())
            .collect::<Vec<_>>(),
        vec!["callout", "alerting"]
    );
    let owed: Vec<(u64, u32, Option<&str>)> = r
        .owed_deliveries
        .iter()
        .map(|d| {
            (
                d.id.parse().unwrap(),
                d.attempt,
                d.next_attempt_at.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        owed,
        vec![(21, 0, None), (31, 1, Some("2026-03-14 11:15:53"))]
    );
    let fee = &r.owed_deliveries[1];
    assert_eq!(fee.kind, PushKind::Fee);
    assert_eq!(fee.body, br#"{"eventType":"fee"}"#);
    assert_eq!(fee.idempotency_key, "idem-31");
    assert_eq!(fee.last_outcome, Some(DeliveryOutcome::FailedWillRetry));
    assert_eq!(
        r.cdrs_unsent.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![4]
    );
    assert_eq!(r.max_seq, 4);
}

#[test]
fn data_survives_closing_and_reopening_the_file() {
    let dir = TempDir::new("reopen");
    {
        let store = Store::open(&dir.0).expect("open");
        assert_eq!(store.path(), Some(dir.0.join(DB_FILE).as_path()));
        full_lifecycle(&store, 1);
        store.write(accepted(2, "app", "2026-03-14 10:16:00"));
        // No flush: dropping the last handle commits what was queued.
    }
    let store = Store::open(&dir.0).expect("reopen");
    assert_eq!(store.calls(&CallQuery::default()).expect("calls").len(), 2);
    let r = store.recover().expect("recover");
    assert_eq!(r.calls_in_flight.len(), 1);
    assert_eq!(r.max_seq, 2);
    let journal = SqliteJournal::new(store.clone());
    assert_eq!(
        journal
            .query(&JournalQuery::for_session(&session(1)))
            .expect("query")
            .len(),
        7
    );
    drop((journal, store));

    // Plain SQLite reads the calls' states, outcomes and times, and the CDRs through the `cdrs`
    // view: push bodies, requests and views are packed (schema v4), the CDR is not.
    let conn = Connection::open(dir.0.join(DB_FILE)).expect("plain open");
    let (state_code, ended_at, fee_state): (u32, String, String) = conn
        .query_row(
            "SELECT state_code, ended_at, fee_state FROM calls WHERE session_id = ?1",
            [session(1)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("calls");
    assert_eq!(
        (state_code, ended_at.as_str(), fee_state.as_str()),
        (0, "2026-03-14 10:15:53", "delivered")
    );
    let outcomes: Vec<String> = conn
        .prepare("SELECT outcome FROM attempts ORDER BY seq")
        .expect("attempts")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(outcomes.len(), 7);
    let (icid, reason, state): (String, u32, String) = conn
        .query_row(
            "SELECT icid, ul_fail_reason, fee_state FROM cdrs WHERE session_id = ?1",
            [session(1)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("cdrs view in plain SQLite");
    assert_eq!(
        (icid.as_str(), reason, state.as_str()),
        ("CAE-20260314181531-00000001", 0, "delivered")
    );
    // Schema v5: the CDR is kept as its fields, and the view makes its text as pushed; the
    // timeline and the outbox keep codes, and their views name them.
    let (kept, cdr): (Option<String>, String) = conn
        .query_row(
            "SELECT c.fee_json, v.fee_json FROM calls c JOIN cdrs v ON v.seq = c.seq
              WHERE c.session_id = ?1",
            [session(1)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("cdrs view in plain SQLite");
    assert_eq!((kept, cdr), (None, fee_json(1, "app", 0)));
    let timeline = rows(
        &conn,
        "SELECT time, event, detail FROM timeline ORDER BY call_seq, idx",
    );
    use rusqlite::types::Value::{Null, Text};
    assert_eq!(
        timeline.first(),
        Some(&vec![
            Text("2026-03-14 10:15:31.000".into()),
            Text("callout".into()),
            Null
        ])
    );
    assert_eq!(
        timeline.last(),
        Some(&vec![
            Text("2026-03-14 10:15:31.400".into()),
            Text("disconnect".into()),
            Text("stateCode 0".into())
        ])
    );
    let fee_push = rows(
        &conn,
        "SELECT kind, event_type, attempts, last_outcome, last_sent_at, finished_outcome
           FROM deliveries WHERE id = '19'",
    );
    assert_eq!(
        fee_push,
        vec![vec![
            Text("fee".into()),
            Text("fee".into()),
            rusqlite::types::Value::Integer(3),
            Text("delivered".into()),
            Text("2026-03-14 10:15:53".into()),
            Text("delivered".into())
        ]]
    );
}

#[test]
fn the_database_is_in_wal_mode() {
    let dir = TempDir::new("wal");
    let store = Store::open(&dir.0).expect("open");
    let mode: String = store
        .read(|c| Ok(c.pragma_query_value(None, "journal_mode", |r| r.get(0))?))
        .expect("pragma");
    assert_eq!(mode, "wal");
}

/// A report over every stored call can take seconds on a large database; the writes queued
/// meanwhile (each call's request, push bodies, answers waiting for their commit) must not wait
/// for it, or memory follows the database's size.
#[test]
fn a_long_read_does_not_hold_up_the_writes_queued_behind_it() {
    let dir = TempDir::new("long-read");
    let store = Store::open(&dir.0).expect("open");
    store.write(accepted(1, "app", "2026-03-14 10:15:00"));
    let (started_tx, started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let reading = {
        let store = store.clone();
        std::thread::spawn(move || {
            store.read(move |conn| {
                let seen: i64 = conn.query_row("SELECT count(*) FROM calls", [], |r| r.get(0))?;
                let _ = started_tx.send(());
                // The read goes on until the test lets it finish.
                let _ = released.recv_timeout(Duration::from_secs(30));
                Ok(seen)
            })
        })
    };
    started
        .recv_timeout(Duration::from_secs(10))
        .expect("the read started");
    let (committed_tx, committed) = mpsc::channel();
    {
        let store = store.clone();
        std::thread::spawn(move || {
            let _ = committed_tx.send(store.write_sync(accepted(2, "app", "2026-03-14 10:16:00")));
        });
    }
    let written = committed.recv_timeout(Duration::from_secs(10));
    let _ = release.send(());
    assert!(
        matches!(written, Ok(Ok(()))),
        "a write queued during a long read was not committed before the read ended: {written:?}"
    );
    let seen = reading.join().expect("the read thread").expect("the read");
    assert_eq!(
        seen, 1,
        "the read saw the write queued before it, not the one after"
    );
    assert_eq!(store.calls(&CallQuery::default()).expect("calls").len(), 2);
}

fn journal_fixture() -> Vec<JournalEntry> {
    use DeliveryOutcome::*;
    let mut e = vec![
        entry(1, PushKind::Status, &[1], 1, Delivered),
        entry(2, PushKind::Status, &[2], 1, Dropped),
        entry(3, PushKind::Fee, &[1, 2], 1, FailedWillRetry),
        entry(4, PushKind::Status, &[3], 1, Delivered),
        entry(5, PushKind::Fee, &[1, 2], 2, Abandoned),
        entry(6, PushKind::Fee, &[3], 1, Delivered),
    ];
    e[1].app_key = "other".into();
    e[1].error = Some(PushError::Connect);
    e[1].response_status = None;
    e[1].response_body = None;
    e[3].app_key = "other".into();
    e
}

#[test]
fn the_sqlite_journal_answers_queries_like_the_memory_journal() {
    let sql = SqliteJournal::new(Store::in_memory().expect("store"));
    let mem = MemoryJournal::new(1000);
    for e in journal_fixture() {
        sql.record(e.clone());
        mem.record(e);
    }
    let q = |f: fn(&mut JournalQuery)| {
        let mut q = JournalQuery::default();
        f(&mut q);
        q
    };
    let cases: Vec<(&str, JournalQuery, Vec<u64>)> = vec![
        ("everything", q(|_| {}), vec![1, 2, 3, 4, 5, 6]),
        (
            "one call",
            JournalQuery::for_session(&session(1)),
            vec![1, 3, 5],
        ),
        (
            "a call inside a CDR batch",
            JournalQuery::for_session(&session(2)),
            vec![2, 3, 5],
        ),
        ("unknown call", JournalQuery::for_session("nope"), vec![]),
        ("app", q(|q| q.app_key = Some("other".into())), vec![2, 4]),
        ("kind", q(|q| q.kind = Some(PushKind::Fee)), vec![3, 5, 6]),
        (
            "outcome",
            q(|q| q.outcome = Some(DeliveryOutcome::Delivered)),
            vec![1, 4, 6],
        ),
        ("most recent", q(|q| q.limit = Some(2)), vec![5, 6]),
        ("limit 0", q(|q| q.limit = Some(0)), vec![]),
        (
            "limit past the end",
            q(|q| q.limit = Some(99)),
            vec![1, 2, 3, 4, 5, 6],
        ),
        (
            "call + kind + limit",
            q(|q| {
                q.session_id = Some(session(1));
                q.kind = Some(PushKind::Fee);
                q.limit = Some(1);
            }),
            vec![5],
        ),
        (
            "app + outcome",
            q(|q| {
                q.app_key = Some("app".into());
                q.outcome = Some(DeliveryOutcome::FailedWillRetry);
            }),
            vec![3],
        ),
    ];
    for (name, query, ids) in cases {
        let got = sql.query(&query).expect("sql query");
        assert_eq!(
            got,
            mem.query(&query).expect("memory query"),
            "{name}: same entries as MemoryJournal"
        );
        let got_ids: Vec<u64> = got.iter().map(|e| e.id.parse().unwrap()).collect();
        assert_eq!(got_ids, ids, "{name}");
    }
    sql.clear();
    mem.clear();
    assert_eq!(sql.query(&JournalQuery::default()).expect("query"), vec![]);
}

#[test]
fn a_journal_the_database_cannot_read_is_an_error_not_an_empty_list() {
    let store = Store::in_memory().expect("store");
    let sql = SqliteJournal::new(store.clone());
    for e in journal_fixture() {
        sql.record(e);
    }
    store
        .read(|c| Ok(c.execute_batch("ALTER TABLE attempt_rows RENAME TO attempts_gone")?))
        .expect("break the table");
    let err = sql
        .query(&JournalQuery::default())
        .expect_err("a failed read is not an empty journal");
    assert_eq!(
        err.to_string(),
        "reading the delivery journal: database error: no such table: attempt_rows"
    );
}

#[test]
fn an_empty_file_is_migrated_to_the_current_schema() {
    let dir = TempDir::new("empty");
    std::fs::create_dir_all(&dir.0).expect("mkdir");
    std::fs::write(dir.0.join(DB_FILE), b"").expect("empty file");
    let store = Store::open(&dir.0).expect("open");
    let version = store.read(schema::version).expect("version");
    assert_eq!(version, schema::SCHEMA_VERSION);
    let written_by: String = store
        .read(|c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = 'written_by'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .expect("meta");
    assert!(written_by.starts_with("dialtone "), "{written_by}");
    assert_eq!(store.recover().expect("recover"), Recovered::default());
}

#[test]
fn a_v1_database_with_data_is_migrated_to_v2_intact() {
    let dir = TempDir::new("v1");
    std::fs::create_dir_all(&dir.0).expect("mkdir");
    {
        // What a v1 Dialtone left behind: one ended call, its CDR push and an attempt.
        let mut conn = Connection::open(dir.0.join(DB_FILE)).expect("open v1");
        schema::migrate_to(&mut conn, 1).expect("v1 schema");
        assert_eq!(schema::version(&conn).expect("version"), 1);
        conn.execute(
            "INSERT INTO calls (seq, session_id, app_key, callee, display, accepted_ms,
                 accepted_at, request_json, state_code, ended_at, readings, code_ms, fee_json,
                 fee_state)
             VALUES (7, ?1, 'app', '+8613900001234', '+862087654321', 0, '2026-03-14 10:15:31',
                 '{}', 0, '2026-03-14 10:15:53', 3, 8200, ?2, 'queued')",
            [session(7), fee_json(7, "app", 0)],
        )
        .expect("v1 call");
        conn.execute(
            "INSERT INTO deliveries (id, kind, app_key, url, body, event_type, session_ids,
                 idempotency_key, attempts, last_outcome, next_attempt_at)
             VALUES (70, 'fee', 'app', 'http://x/fee', '{}', 'fee', ?1, 'idem-70', 1,
                 'failed_will_retry', '2026-03-14 11:15:53')",
            [write::json_list(&[session(7)])],
        )
        .expect("v1 delivery");
        conn.execute(
            "INSERT INTO attempts (id, delivery_id, kind, app_key, session_ids, event_type, url,
                 attempt, sent_at, sent_at_ms, request_headers, request_body, latency_ms, outcome,
                 next_attempt_at)
             VALUES (700, 70, 'fee', 'app', ?1, 'fee', 'http://x/fee', 1, '2026-03-14 10:15:54',
                 23000, '[]', '{}', 5, 'failed_will_retry', '2026-03-14 11:15:53')",
            [write::json_list(&[session(7)])],
        )
        .expect("v1 attempt");
        conn.execute(
            "INSERT INTO attempt_sessions (session_id, attempt_seq) VALUES (?1, 1)",
            [session(7)],
        )
        .expect("v1 link");
    }
    let store = Store::open(&dir.0).expect("open migrates");
    assert_eq!(
        store.read(schema::version).expect("version"),
        schema::SCHEMA_VERSION
    );
    let call = store.call(&session(7)).expect("read").expect("kept");
    assert_eq!(call.fee_state, FeeState::Queued);
    let r = store.recover().expect("recover");
    assert_eq!(r.owed_deliveries.len(), 1);
    assert_eq!(r.owed_deliveries[0].attempt, 1);
    let journal = SqliteJournal::new(store.clone());
    let entries = journal
        .query(&JournalQuery::for_session(&session(7)))
        .expect("query");
    assert_eq!(
        entries.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        vec!["700"]
    );
    // The v2 additions work on the old rows.
    let (icid, fault): (String, Option<String>) = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT (SELECT icid FROM cdrs), (SELECT fault FROM attempts)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .expect("v2 columns");
    assert_eq!(
        (icid.as_str(), fault),
        ("CAE-20260314181531-00000007", None)
    );
    // And new attempts record their fault.
    let mut e = entry(701, PushKind::Fee, &[7], 2, DeliveryOutcome::Delivered);
    e.error = Some(PushError::Timeout);
    e.delivery_id = "70".into();
    store.write(Write::Attempt {
        entry: e,
        fault: Some("timeout".into()),
    });
    let fault: Option<String> = store
        .read(|c| {
            Ok(
                c.query_row("SELECT fault FROM attempts WHERE id = 701", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .expect("fault");
    assert_eq!(fault.as_deref(), Some("timeout"));
    assert_eq!(
        store
            .call(&session(7))
            .expect("read")
            .expect("kept")
            .fee_state,
        FeeState::Delivered
    );
}

#[test]
fn a_database_from_a_newer_dialtone_is_refused() {
    let dir = TempDir::new("newer");
    std::fs::create_dir_all(&dir.0).expect("mkdir");
    {
        let conn = Connection::open(dir.0.join(DB_FILE)).expect("open");
        conn.pragma_update(None, "user_version", 99)
            .expect("version");
    }
    match Store::open(&dir.0) {
        Err(StoreError::NewerSchema {
            found: 99,
            supported: schema::SCHEMA_VERSION,
        }) => {}
        Err(e) => panic!("expected NewerSchema, got {e}"),
        Ok(_) => panic!("expected NewerSchema, got a store"),
    }
}

#[test]
fn reconciliation_counts_each_app_within_the_window() {
    let store = Store::in_memory().expect("store");
    type Fixture<'a> = (u64, &'a str, &'a str, &'a [&'a str], Option<u32>, FeeState);
    let calls: [Fixture; 7] = [
        // Answered, played in full, CDR delivered.
        (
            1,
            "a",
            "2026-03-14 10:00:00",
            &["callout", "alerting", "answer", "disconnect"],
            Some(0),
            FeeState::Delivered,
        ),
        // Hung up during playback, CDR between retries.
        (
            2,
            "a",
            "2026-03-14 10:00:01",
            &["callout", "alerting", "answer", "disconnect"],
            Some(8017),
            FeeState::Queued,
        ),
        // Busy, CDR abandoned.
        (
            3,
            "a",
            "2026-03-14 10:00:02",
            &["callout", "disconnect"],
            Some(8102),
            FeeState::Abandoned,
        ),
        // Busy again, no fee URL.
        (
            4,
            "a",
            "2026-03-14 10:00:03",
            &["callout", "disconnect"],
            Some(8102),
            FeeState::NoUrl,
        ),
        // Still ringing.
        (
            5,
            "a",
            "2026-03-14 10:00:04",
            &["callout", "alerting"],
            None,
            FeeState::Pending,
        ),
        // Another app: blacklisted before callout, CDR pending behind its disconnect push.
        (
            6,
            "b",
            "2026-03-14 10:00:05",
            &["disconnect"],
            Some(7004),
            FeeState::Pending,
        ),
        // Outside the window.
        (
            7,
            "a",
            "2026-03-14 11:00:00",
            &["callout"],
            Some(0),
            FeeState::Delivered,
        ),
    ];
    for (seq, app, at, events, code, fee) in calls {
        store.write(accepted(seq, app, at));
        for (idx, name) in events.iter().enumerate() {
            store.write(event(seq, idx as u32, name));
        }
        if let Some(code) = code {
            store.write(ended(seq, app, code));
        }
        store.write(Write::FeeState {
            session_ids: vec![session(seq)],
            state: fee,
        });
    }
    let got = store
        .reconciliation(Some("2026-03-14 10:00:00"), Some("2026-03-14 11:00:00"))
        .expect("report");
    let a = AppReconciliation {
        app_key: "a".into(),
        accepted: 5,
        placed: 5,
        rang: 3,
        answered: 2,
        in_progress: 1,
        played_in_full: 1,
        hung_up_early: 1,
        failed_by_reason: [(8102, 2)].into(),
        cdrs_generated: 4,
        cdrs_delivered: 1,
        cdrs_owed: 1,
        cdrs_abandoned: 1,
        cdrs_not_pushed: 1,
    };
    let b = AppReconciliation {
        app_key: "b".into(),
        accepted: 1,
        failed_by_reason: [(7004, 1)].into(),
        cdrs_generated: 1,
        cdrs_owed: 1,
        ..AppReconciliation::default()
    };
    assert_eq!(got, vec![a, b]);
    let all = store.reconciliation(None, None).expect("report");
    assert_eq!(all[0].accepted, 6);
    assert_eq!(
        serde_json::to_value(&all[1]).expect("json")["failed_by_reason"],
        serde_json::json!({"7004": 1})
    );
}

#[test]
fn reconciliation_names_a_malformed_bound() {
    let store = Store::in_memory().expect("store");
    match store.reconciliation(Some("2026-03-14"), None) {
        Err(StoreError::InvalidTime { field: "from", .. }) => {}
        other => panic!("expected InvalidTime for from, got {other:?}"),
    }
    match store.reconciliation(None, Some("2026-03-14T10:00:00Z")) {
        Err(StoreError::InvalidTime { field: "to", .. }) => {}
        other => panic!("expected InvalidTime for to, got {other:?}"),
    }
}

#[test]
fn ten_thousand_writes_are_committed_in_a_few_transactions() {
    let store = Store::in_memory().expect("store");
    store.write(accepted(1, "app", "2026-03-14 10:00:00"));
    // Hold the writer, so the 10 000 writes queue up as a burst from the engine would.
    let (release, gate) = mpsc::channel::<()>();
    store
        .send(Msg::Read(Box::new(move |_| {
            let _ = gate.recv();
        })))
        .expect("hold");
    for idx in 0..10_000 {
        store.write(event(1, idx, "playing"));
    }
    release.send(()).expect("release");
    store.flush().expect("flush");
    let stats = store.stats();
    assert_eq!((stats.writes, stats.failed_writes), (10_001, 0));
    // One for the acceptance, then 10 000 / MAX_BATCH rounded up.
    assert!(stats.commits <= 3, "{stats:?}");
    assert_eq!(
        store.call_events(&session(1)).expect("events").len(),
        10_000
    );
}

#[test]
fn a_refused_write_is_rolled_back_alone_and_reported_to_write_sync() {
    let store = Store::in_memory().expect("store");
    store
        .write_sync(accepted(1, "app", "2026-03-14 10:00:00"))
        .expect("first");
    // The same session again violates its uniqueness; the write after it still lands.
    let mut dup = accepted(2, "app", "2026-03-14 10:00:00");
    if let Write::CallAccepted { session_id, .. } = &mut dup {
        *session_id = session(1);
    }
    match store.write_sync(dup) {
        Err(StoreError::WriteFailed(msg)) => assert!(msg.contains("UNIQUE"), "{msg}"),
        other => panic!("expected WriteFailed, got {other:?}"),
    }
    assert!(matches!(
        store.write_sync(ended(9, "app", 0)),
        Err(StoreError::WriteFailed(_))
    ));
    store
        .write_sync(accepted(3, "app", "2026-03-14 10:00:00"))
        .expect("third");
    let seqs: Vec<u64> = store
        .calls(&CallQuery::default())
        .expect("calls")
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(seqs, vec![1, 3]);
    assert_eq!(store.stats().failed_writes, 2);
}

#[tokio::test]
async fn flushed_resolves_once_the_write_is_committed() {
    let store = Store::in_memory().expect("store");
    let before = store.stats().commits;
    store.write(accepted(1, "app", "2026-03-14 10:00:00"));
    store.flushed().await.expect("flushed");
    assert!(store.stats().commits > before);
    assert_eq!(store.stats().writes, 1);
}

#[test]
fn calls_are_listed_by_filter_most_recent_last() {
    let store = Store::in_memory().expect("store");
    for seq in 1..=4 {
        store.write(accepted(
            seq,
            if seq % 2 == 0 { "b" } else { "a" },
            "2026-03-14 10:00:00",
        ));
    }
    store.write(ended(1, "a", 0));
    let seqs = |q: CallQuery| -> Vec<u64> {
        store
            .calls(&q)
            .expect("calls")
            .iter()
            .map(|c| c.seq)
            .collect()
    };
    assert_eq!(seqs(CallQuery::default()), vec![1, 2, 3, 4]);
    assert_eq!(
        seqs(CallQuery {
            app_key: Some("a".into()),
            ..Default::default()
        }),
        vec![1, 3]
    );
    assert_eq!(
        seqs(CallQuery {
            in_flight: Some(true),
            ..Default::default()
        }),
        vec![2, 3, 4]
    );
    assert_eq!(
        seqs(CallQuery {
            in_flight: Some(false),
            ..Default::default()
        }),
        vec![1]
    );
    assert_eq!(
        seqs(CallQuery {
            limit: Some(2),
            ..Default::default()
        }),
        vec![3, 4]
    );
    assert_eq!(store.call("nope").expect("read"), None);
}

#[test]
fn reset_forgets_everything_and_a_binary_body_survives_byte_for_byte() {
    let store = Store::in_memory().expect("store");
    store.write(accepted(1, "app", "2026-03-14 10:00:00"));
    let mut q = queued(5, PushKind::Status, &[1]);
    if let Write::DeliveryQueued { body, .. } = &mut q {
        *body = vec![0xff, 0x00, b'{'];
    }
    store.write(q);
    let r = store.recover().expect("recover");
    assert_eq!(r.owed_deliveries[0].body, vec![0xff, 0x00, b'{']);
    store.write(Write::Reset);
    assert_eq!(store.recover().expect("recover"), Recovered::default());
}

#[test]
fn a_delivery_finished_without_an_attempt_settles_its_cdrs() {
    let store = Store::in_memory().expect("store");
    store.write(accepted(1, "app", "2026-03-14 10:00:00"));
    store.write(ended(1, "app", 0));
    store.write(queued(9, PushKind::Fee, &[1]));
    store.write(Write::DeliveryFinished {
        id: "9".into(),
        outcome: DeliveryOutcome::Abandoned,
    });
    let r = store.recover().expect("recover");
    assert_eq!((r.owed_deliveries.len(), r.cdrs_unsent.len()), (0, 0));
    let call = store.call(&session(1)).expect("read").expect("kept");
    assert_eq!(call.fee_state, FeeState::Abandoned);
}

#[test]
fn a_second_store_on_a_locked_directory_is_refused_until_the_first_is_dropped() {
    let dir = std::env::temp_dir().join(format!("dialtone-store-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = Store::open(&dir).expect("the directory is free");
    first.record_listen_addr(([127, 0, 0, 1], 8080).into());
    let refused = Store::open(&dir).err().expect("the directory is locked");
    assert!(
        refused.to_string().contains(&format!(
            "(pid {}, listening on 127.0.0.1:8080)",
            std::process::id()
        )),
        "{refused}"
    );
    drop(first);
    Store::open(&dir).expect("free again once the first store is gone");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An attempt as the transport journals it: the usual four headers, the delivery's body.
fn sent(
    id: u64,
    kind: PushKind,
    seqs: &[u64],
    attempt: u32,
    outcome: DeliveryOutcome,
) -> JournalEntry {
    let Write::DeliveryQueued {
        id: delivery_id,
        url,
        body,
        idempotency_key,
        ..
    } = queued(id, kind, seqs)
    else {
        unreachable!("queued builds a DeliveryQueued")
    };
    JournalEntry {
        id: format!("{delivery_id}#{attempt}"),
        delivery_id,
        url,
        request_body: String::from_utf8(body).expect("utf-8"),
        request_headers: crate::push::transport::journal_headers(
            crate::push::sign::PUSH_AUTHORIZATION,
            &format!("UsernameToken Username=\"app\",Nonce=\"{id:032X}{attempt}\""),
            &idempotency_key,
        ),
        ..entry(id, kind, seqs, attempt, outcome)
    }
}

#[test]
fn an_attempt_stores_only_what_its_delivery_does_not_say_and_reads_back_whole() {
    let store = Store::in_memory().expect("store");
    let journal = SqliteJournal::new(store.clone());
    store.write(accepted(1, "app", "2026-03-14 10:15:31"));
    store.write(queued(10, PushKind::Status, &[1]));
    let first = sent(
        10,
        PushKind::Status,
        &[1],
        1,
        DeliveryOutcome::FailedWillRetry,
    );
    let mut odd = sent(10, PushKind::Status, &[1], 2, DeliveryOutcome::Delivered);
    odd.request_headers.push(("x-extra".into(), "1".into()));
    for e in [&first, &odd] {
        store.write(Write::Attempt {
            entry: e.clone(),
            fault: None,
        });
    }
    /// id, request_body, aksk, request_headers
    type Row = [Option<String>; 4];
    let rows: Vec<Row> = store
        .read(|c| {
            let mut s = c.prepare(
                "SELECT id, request_body, aksk, request_headers FROM attempts ORDER BY seq",
            )?;
            let rows = s.query_map([], |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .expect("rows");
    // The first keeps X-AKSK alone; the second's headers are not the usual ones: kept whole.
    assert_eq!(rows[0][0], None);
    assert_eq!(rows[0][1], None, "the body is the delivery's");
    assert!(rows[0][2].as_deref().is_some_and(|a| a.contains("Nonce")));
    assert_eq!(rows[0][3], None);
    assert_eq!(rows[1][1], None);
    assert_eq!(rows[1][2], None);
    assert!(rows[1][3].as_deref().is_some_and(|h| h.contains("x-extra")));
    let read = journal
        .query(&JournalQuery::for_session(&session(1)))
        .expect("query");
    assert_eq!(read, vec![first, odd]);
}

#[test]
fn the_engines_attempts_are_stored_as_compactly_without_reading_their_delivery() {
    let store = Store::in_memory().expect("store");
    let journal = SqliteJournal::new(store.clone());
    store.write(accepted(1, "app", "2026-03-14 10:15:31"));
    store.write(queued(10, PushKind::Status, &[1]));
    store.write(queued(11, PushKind::Status, &[1]));
    let compared = sent(10, PushKind::Status, &[1], 1, DeliveryOutcome::Delivered);
    let as_queued = sent(11, PushKind::Status, &[1], 1, DeliveryOutcome::Delivered);
    journal.record(compared.clone());
    journal.record_queued(as_queued.clone().into());
    let rows: Vec<Vec<Option<String>>> = store
        .read(|c| {
            let mut s = c.prepare(
                "SELECT id, kind, app_key, session_ids, event_type, url, request_headers,
                     request_body, typeof(aksk) FROM attempts ORDER BY seq",
            )?;
            let rows = s.query_map([], |r| (0..9).map(|i| r.get(i)).collect())?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .expect("rows");
    // Both keep only what their delivery does not say: X-AKSK (as text: this one is not shaped
    // like a real signature, which would be packed).
    let mut compact = vec![None; 8];
    compact.push(Some("text".to_owned()));
    assert_eq!(rows, vec![compact.clone(), compact]);
    let read = journal
        .query(&JournalQuery::for_session(&session(1)))
        .expect("query");
    assert_eq!(read, vec![compared, as_queued]);
}

/// Call `seq`, ended with its CDR, and its status push `delivery` (not attempted), as Dialtone
/// wrote them before v4: the request, CDR and body as text (columns common to v1 to v3).
fn old_call_and_push(conn: &Connection, seq: u64, delivery: u64) {
    let Write::CallAccepted {
        session_id,
        app_key,
        callee,
        display,
        accepted_ms,
        accepted_at,
        request_json,
        status_url,
        fee_url,
        ..
    } = accepted(seq, "app", "2026-03-14 10:15:31")
    else {
        unreachable!()
    };
    conn.execute(
        "INSERT INTO calls (seq, session_id, app_key, callee, display, accepted_ms, accepted_at,
             request_json, status_url, fee_url, state_code, ended_at, readings, code_ms, fee_json,
             fee_state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, '2026-03-14 10:15:53', 3, 8200,
             ?11, 'delivered')",
        rusqlite::params![
            seq,
            session_id,
            app_key,
            callee,
            display,
            accepted_ms,
            accepted_at,
            request_json,
            status_url,
            fee_url,
            fee_json(seq, "app", 0)
        ],
    )
    .expect("old call");
    let Write::DeliveryQueued {
        id,
        app_key,
        url,
        body,
        session_ids,
        idempotency_key,
        ..
    } = queued(delivery, PushKind::Status, &[seq])
    else {
        unreachable!()
    };
    conn.execute(
        "INSERT INTO deliveries (id, kind, app_key, url, body, event_type, session_ids,
             idempotency_key)
         VALUES (?1, 'status', ?2, ?3, ?4, 'callout', ?5, ?6)",
        rusqlite::params![
            id,
            app_key,
            url,
            String::from_utf8(body).expect("JSON"),
            write::json_list(&session_ids),
            idempotency_key
        ],
    )
    .expect("old push");
}

#[test]
fn a_v2_database_is_upgraded_in_place_and_reads_the_same() {
    let dir = TempDir::new("v2");
    std::fs::create_dir_all(&dir.0).expect("mkdir");
    let e = sent(20, PushKind::Status, &[2], 1, DeliveryOutcome::Delivered);
    {
        // What a v2 Dialtone left behind: a call, its status push, one attempt in full.
        let mut conn = Connection::open(dir.0.join(DB_FILE)).expect("open v2");
        schema::migrate_to(&mut conn, 2).expect("v2 schema");
        old_call_and_push(&conn, 2, 20);
        conn.execute(
            "INSERT INTO attempts (id, delivery_id, kind, app_key, session_ids, event_type, url,
                 attempt, sent_at, sent_at_ms, request_headers, request_body, response_status,
                 response_body, latency_ms, outcome)
             VALUES (?1, ?2, 'status', 'app', ?3, 'callout', ?4, 1, ?5, ?6, ?7, ?8, 200, 'busy',
                 3, 'delivered')",
            rusqlite::params![
                e.id,
                e.delivery_id,
                write::json_list(&e.session_ids),
                e.url,
                e.sent_at,
                e.sent_at_ms,
                serde_json::to_string(&e.request_headers).expect("headers"),
                e.request_body
            ],
        )
        .expect("v2 attempt");
        conn.execute(
            "INSERT INTO attempt_sessions (session_id, attempt_seq) VALUES (?1, 1)",
            [session(2)],
        )
        .expect("v2 link");
    }
    let store = Store::open(&dir.0).expect("open migrates");
    assert_eq!(
        store.read(schema::version).expect("version"),
        schema::SCHEMA_VERSION
    );
    let journal = SqliteJournal::new(store.clone());
    assert_eq!(
        journal
            .query(&JournalQuery::for_session(&session(2)))
            .expect("query"),
        vec![e.clone()],
        "the old attempt reads as it did"
    );
    // Compacted in place: the body is the delivery's; the headers stay as they were.
    let (body, headers): (Option<String>, Option<String>) = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT request_body, request_headers FROM attempts",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .expect("row");
    assert_eq!(body, None);
    assert!(headers.is_some());
    let links: i64 = store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM delivery_calls", [], |r| r.get(0))?))
        .expect("links");
    assert_eq!(links, 1);
    let cdrs: i64 = store
        .read(|c| Ok(c.query_row("SELECT count(*) FROM cdrs", [], |r| r.get(0))?))
        .expect("the cdrs view");
    assert_eq!(cdrs, 1);
}

/// A call that ended at `ended_at`, its status push delivered and its CDR in `fee` batch
/// (delivered or not).
fn finished(store: &Store, seq: u64, ended_at: &str) {
    store.write(accepted(seq, "app", "2026-03-01 10:15:31"));
    store.write(event(seq, 0, "callout"));
    store.write(event(seq, 1, "disconnect"));
    let Write::CallEnded {
        session_id,
        state_code,
        readings,
        code_ms,
        fee,
        view_json,
        ..
    } = ended(seq, "app", 0)
    else {
        unreachable!()
    };
    store.write(Write::CallEnded {
        session_id,
        state_code,
        ended_at: ended_at.into(),
        readings,
        code_ms,
        fee,
        view_json,
    });
    store.write(queued(seq * 10, PushKind::Status, &[seq]));
    store.write(Write::Attempt {
        entry: sent(
            seq * 10,
            PushKind::Status,
            &[seq],
            1,
            DeliveryOutcome::Delivered,
        ),
        fault: None,
    });
}

fn count(store: &Store, sql: &'static str) -> i64 {
    store
        .read(move |c| Ok(c.query_row(sql, [], |r| r.get(0))?))
        .expect("count")
}

#[test]
fn retention_deletes_settled_calls_past_their_age_and_never_one_owed_a_push() {
    let store = Store::in_memory().expect("store");
    // 1: old and settled. 2: old, its CDR (shared with 1) still retrying. 3: old and settled,
    // CDR delivered alone. 4: recent. 5: still in flight.
    for seq in 1..=3 {
        finished(&store, seq, "2026-03-01 10:16:00");
    }
    finished(&store, 4, "2026-03-14 10:16:00");
    store.write(accepted(5, "app", "2026-03-01 10:15:31"));
    store.write(queued(1000, PushKind::Fee, &[1, 2]));
    store.write(Write::Attempt {
        entry: sent(
            1000,
            PushKind::Fee,
            &[1, 2],
            1,
            DeliveryOutcome::FailedWillRetry,
        ),
        fault: None,
    });
    store.write(queued(3000, PushKind::Fee, &[3]));
    store.write(Write::Attempt {
        entry: sent(3000, PushKind::Fee, &[3], 1, DeliveryOutcome::Delivered),
        fault: None,
    });
    store.write(Write::FeeState {
        session_ids: vec![session(1), session(4)],
        state: FeeState::Delivered,
    });
    store.write(Write::Retain(Retain {
        ended_before: Some("2026-03-07 00:00:00".into()),
        max_finished: None,
        batch: 100,
    }));
    let left: Vec<u64> = store
        .calls(&CallQuery::default())
        .expect("calls")
        .iter()
        .map(|c| c.seq)
        .collect();
    // 1 is settled in the database's view (its CDR row says delivered) but its batch is owed.
    assert_eq!(left, vec![1, 2, 4, 5]);
    assert_eq!(store.call_events(&session(3)).expect("events"), vec![]);
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM deliveries WHERE id IN ('30', '3000')"
        ),
        0
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM attempts WHERE delivery_id IN ('30', '3000')"
        ),
        0
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM delivery_calls WHERE call_seq = 3"
        ),
        0
    );

    // The batch is delivered: 1 and 2 go, and the batch with them.
    store.write(Write::Attempt {
        entry: sent(1000, PushKind::Fee, &[1, 2], 2, DeliveryOutcome::Delivered),
        fault: None,
    });
    store.write(Write::Retain(Retain {
        ended_before: Some("2026-03-07 00:00:00".into()),
        max_finished: None,
        batch: 100,
    }));
    let left: Vec<u64> = store
        .calls(&CallQuery::default())
        .expect("calls")
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(left, vec![4, 5]);
    assert_eq!(count(&store, "SELECT count(*) FROM deliveries"), 1);
    assert_eq!(count(&store, "SELECT count(*) FROM attempts"), 1);
}

#[test]
fn retention_keeps_the_newest_finished_calls_up_to_the_count() {
    let store = Store::in_memory().expect("store");
    for seq in 1..=5 {
        finished(&store, seq, "2026-03-14 10:16:00");
        store.write(Write::FeeState {
            session_ids: vec![session(seq)],
            state: FeeState::NoUrl,
        });
    }
    store.write(accepted(6, "app", "2026-03-14 10:16:00"));
    // The newest three: 4, 5 and 6 (in flight, never deleted).
    store.write(Write::Retain(Retain {
        ended_before: None,
        max_finished: Some(3),
        batch: 100,
    }));
    let left: Vec<u64> = store
        .calls(&CallQuery::default())
        .expect("calls")
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(left, vec![4, 5, 6]);
}

/// A CDR batch of `seqs` whose body is exactly their CDRs, as the engine builds it.
fn cdr_batch(id: u64, seqs: &[u64]) -> (Write, Vec<u8>) {
    let cdrs: Vec<String> = seqs.iter().map(|s| fee_json(*s, "app", 0)).collect();
    let body = format!(r#"{{"eventType":"fee","feeLst":[{}]}}"#, cdrs.join(",")).into_bytes();
    let Write::DeliveryQueued {
        id,
        kind,
        app_key,
        url,
        event_type,
        session_ids,
        ..
    } = queued(id, PushKind::Fee, seqs)
    else {
        unreachable!("queued builds a DeliveryQueued")
    };
    let idempotency_key = format!("{}/fee", session_ids[0]);
    let w = Write::DeliveryQueued {
        id,
        kind,
        app_key,
        url,
        body: body.clone(),
        event_type,
        session_ids,
        idempotency_key,
    };
    (w, body)
}

#[test]
fn a_cdr_batch_is_stored_once_and_recovered_byte_for_byte() {
    let store = Store::in_memory().expect("store");
    for seq in [1, 2] {
        store.write(accepted(seq, "app", "2026-03-14 10:15:31"));
        store.write(ended(seq, "app", 0));
    }
    let (w, body) = cdr_batch(100, &[1, 2]);
    store.write(w);
    let (stored_body, stored_key): (Option<String>, Option<String>) = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT body, idempotency_key FROM deliveries WHERE id = '100'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .expect("row");
    assert_eq!(
        (stored_body, stored_key),
        (None, None),
        "both made from the calls"
    );
    let owed = store.recover().expect("recover").owed_deliveries;
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].body, body);
    assert_eq!(owed[0].idempotency_key, format!("{}/fee", session(1)));
}

#[test]
fn a_cdr_batch_keeps_its_body_when_retention_takes_one_of_its_calls() {
    let store = Store::in_memory().expect("store");
    for seq in [1, 2] {
        finished(&store, seq, "2026-03-14 10:16:00");
    }
    let (w, body) = cdr_batch(100, &[1, 2]);
    store.write(w);
    let mut attempt = sent(100, PushKind::Fee, &[1, 2], 1, DeliveryOutcome::Delivered);
    attempt.request_body = String::from_utf8(body.clone()).expect("utf-8");
    store.write(Write::Attempt {
        entry: attempt.clone(),
        fault: None,
    });
    // Only the newest call is kept: 1 goes, 2 and the batch stay.
    store.write(Write::Retain(Retain {
        ended_before: None,
        max_finished: Some(1),
        batch: 100,
    }));
    let left: Vec<u64> = store
        .calls(&CallQuery::default())
        .expect("calls")
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(left, vec![2]);
    let journal = SqliteJournal::new(store.clone());
    let read = journal
        .query(&JournalQuery {
            delivery_id: Some("100".into()),
            ..JournalQuery::default()
        })
        .expect("query");
    assert_eq!(read, vec![attempt], "the whole batch, as sent");
}

#[test]
fn a_v3_database_is_upgraded_in_place_and_what_it_held_reads_byte_for_byte() {
    let dir = TempDir::new("v3");
    std::fs::create_dir_all(&dir.0).expect("mkdir");
    let e = sent(30, PushKind::Status, &[3], 1, DeliveryOutcome::Delivered);
    // A push whose body is not UTF-8: v3 kept such bytes as a BLOB (JSON never is one).
    let odd_body = vec![0x01, 0xff, b'{', 0x00, 0xfe];
    {
        // What a v3 Dialtone left behind: an ended call with its status push and attempt (all
        // text), and a push still owed.
        let mut conn = Connection::open(dir.0.join(DB_FILE)).expect("open v3");
        schema::migrate_to(&mut conn, 3).expect("v3 schema");
        old_call_and_push(&conn, 3, 30);
        conn.execute(
            "UPDATE calls SET view_json = '{\"outcome\":\"answer\"}' WHERE seq = 3",
            [],
        )
        .expect("v3 view");
        // As v3 stored an attempt: what its delivery says left NULL, X-AKSK as text.
        let aksk = &e.request_headers[2].1;
        assert!(aksk.starts_with("UsernameToken "), "{aksk}");
        conn.execute(
            "INSERT INTO attempts (delivery_id, attempt, sent_at, sent_at_ms, aksk,
                 response_status, response_body, latency_ms, outcome)
             VALUES (?1, 1, ?2, ?3, ?4, 200, 'busy', 3, 'delivered')",
            rusqlite::params![e.delivery_id, e.sent_at, e.sent_at_ms, aksk],
        )
        .expect("v3 attempt");
        conn.execute(
            "UPDATE deliveries SET attempts = 1, last_outcome = 'delivered',
                 finished_outcome = 'delivered' WHERE id = ?1",
            [&e.delivery_id],
        )
        .expect("v3 delivered");
        conn.execute(
            "INSERT INTO deliveries (id, kind, app_key, url, body, event_type, session_ids,
                 idempotency_key)
             VALUES ('31', 'status', 'app', 'http://x/status', ?1, 'callout', ?2, 'idem-31')",
            rusqlite::params![odd_body, write::json_list(&[session(3)])],
        )
        .expect("v3 odd push");
    }
    let store = Store::open(&dir.0).expect("open migrates");
    assert_eq!(
        store.read(schema::version).expect("version"),
        schema::SCHEMA_VERSION
    );

    // The old rows stay text, and read as they did.
    let call = store.call(&session(3)).expect("read").expect("kept");
    assert_eq!(call.request_json, r#"{"verifyCode":"0003"}"#);
    let end = call.ended.expect("ended");
    assert_eq!(end.fee_json, fee_json(3, "app", 0));
    assert_eq!(end.view_json.as_deref(), Some(r#"{"outcome":"answer"}"#));
    let journal = SqliteJournal::new(store.clone());
    assert_eq!(
        journal
            .query(&JournalQuery::for_session(&session(3)))
            .expect("query"),
        vec![e],
        "the old attempt and its body read as they did"
    );
    let owed = store.recover().expect("recover").owed_deliveries;
    assert_eq!(
        owed.iter()
            .map(|d| (d.id.as_str(), d.body.clone()))
            .collect::<Vec<_>>(),
        vec![("31", odd_body)],
        "the owed push is re-sent with the same bytes"
    );
    let icid: String = store
        .read(|c| Ok(c.query_row("SELECT icid FROM cdrs", [], |r| r.get(0))?))
        .expect("the cdrs view");
    // The status push to the call's own app and URL names the call instead of repeating them;
    // the deliveries view shows them still.
    let outbox: Vec<(String, Option<i64>, Option<String>, String)> = store
        .read(|c| {
            let mut stmt = c.prepare(
                "SELECT o.id, o.call_seq, o.app_key, d.app_key FROM outbox o
                   JOIN deliveries d ON d.id = o.id ORDER BY o.id",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .expect("outbox");
    assert_eq!(
        outbox,
        vec![
            ("30".into(), Some(3), None, "app".into()),
            ("31".into(), None, Some("app".into()), "app".into())
        ]
    );
    assert_eq!(icid, "CAE-20260314181531-00000003");

    // What is written from now on is packed, and reads back the same.
    full_lifecycle(&store, 4);
    let types: (String, String, String) = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT typeof(c.request_json), typeof(c.fee_json), typeof(d.body)
                   FROM calls c, deliveries d WHERE c.seq = 4 AND d.id = '40'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .expect("types");
    // The CDR is kept as its fields (v5); the `cdrs` view makes its text for `sqlite3` users.
    assert_eq!(types, ("blob".into(), "null".into(), "blob".into()));
    let call = store.call(&session(4)).expect("read").expect("kept");
    assert_eq!(call.request_json, r#"{"verifyCode":"0004"}"#);
    assert_eq!(call.ended.expect("ended").fee_json, fee_json(4, "app", 0));
    let e = sent(48, PushKind::Status, &[4], 1, DeliveryOutcome::Delivered);
    store.write(queued(48, PushKind::Status, &[4]));
    store.write(Write::Attempt {
        entry: e.clone(),
        fault: None,
    });
    let stored: (Option<String>, String) = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT a.request_body, typeof(d.body) FROM attempts a
                   JOIN deliveries d ON d.id = a.delivery_id WHERE d.id = '48'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .expect("row");
    assert_eq!(
        stored,
        (None, "blob".into()),
        "the body is stored once, packed"
    );
    let mut q = JournalQuery::for_session(&session(4));
    q.delivery_id = Some("48".into());
    assert_eq!(journal.query(&q).expect("query"), vec![e]);
}

#[test]
fn the_writers_per_attempt_query_is_prepared_once_and_the_journal_reads_by_index() {
    // Measured: a `deliveries` view made with a join was prepared again at every attempt, and
    // materialised whole under the journal's LEFT JOIN.
    let store = Store::in_memory().expect("store");
    full_lifecycle(&store, 1);
    full_lifecycle(&store, 2);
    let (reprepared, plan) = store
        .read(|c| {
            let mut stmt = c.prepare(&write::DELIVERY_FACTS)?;
            for id in ["10", "20", "19", "11", "nope"] {
                stmt.query([id])?.next()?;
            }
            let reprepared = stmt.get_status(rusqlite::StatementStatus::RePrepare);
            let plan: Vec<String> = c
                .prepare(
                    "EXPLAIN QUERY PLAN SELECT a.seq, d.url FROM attempts a
                       LEFT JOIN deliveries d ON d.id = a.delivery_id",
                )?
                .query_map([], |r| r.get::<_, String>(3))?
                .collect::<Result<_, _>>()?;
            Ok((reprepared, plan))
        })
        .expect("read");
    assert_eq!(reprepared, 0);
    assert!(
        !plan.iter().any(|step| step.contains("MATERIALIZE")),
        "{plan:?}"
    );
}

/// Every row of `sql`, each value as SQLite gives it.
fn rows(conn: &Connection, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let mut stmt = conn.prepare(sql).expect("prepares");
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .expect("runs")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn a_v4_database_is_upgraded_in_place_and_its_views_read_exactly_as_before() {
    let dir = TempDir::new("v4");
    std::fs::create_dir_all(&dir.0).expect("mkdir");
    const DELIVERIES: &str = "SELECT * FROM deliveries ORDER BY id";
    const CDRS: &str = "SELECT * FROM cdrs ORDER BY seq";
    let (deliveries, cdrs, timeline) = {
        // What a v4 Dialtone left behind: an ended call with its CDR as text, its timeline with
        // text times and event names, a status push delivered, one still owed after a failed
        // attempt, and a CDR batch its call's CDR makes (body NULL).
        let mut conn = Connection::open(dir.0.join(DB_FILE)).expect("open v4");
        schema::migrate_to(&mut conn, 3).expect("v3 schema");
        old_call_and_push(&conn, 3, 30);
        for (idx, name) in ["callout", "alerting", "answer", "playing", "disconnect"]
            .iter()
            .enumerate()
        {
            let Write::CallEvent {
                idx,
                at_ms,
                time,
                detail,
                ..
            } = event(3, idx as u32, name)
            else {
                unreachable!()
            };
            conn.execute(
                "INSERT INTO call_events (call_seq, idx, at_ms, time, event, detail)
                 VALUES (3, ?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![idx, at_ms, time.to_string(), name, detail],
            )
            .expect("v3 event");
        }
        schema::migrate_to(&mut conn, 4).expect("v4 schema");
        pack::register(&conn).expect("functions");
        conn.execute_batch(
            "UPDATE outbox SET attempts = 1, last_outcome = 'delivered',
                 last_sent_at = '2026-03-14 10:15:53', finished_outcome = 'delivered'
              WHERE id = '30';
             INSERT INTO outbox (id, kind, call_seq, body, event_type, attempts, last_outcome,
                 last_sent_at, next_attempt_at)
             VALUES ('31', 'status', 3, dialtone_pack('{\"eventType\":\"alerting\"}',
                 (SELECT app_key || display || callee || accepted_at || session_id
                    FROM calls WHERE seq = 3)),
                 'alerting', 1, 'failed_will_retry', '2026-03-14 10:15:53',
                 '2026-03-14 10:16:53');
             INSERT INTO outbox (id, kind, app_key, url, body, event_type, session_ids,
                 attempts, last_outcome, last_sent_at, finished_outcome)
             VALUES ('f3', 'fee', 'app', 'http://127.0.0.1:9/fee', NULL, 'fee',
                 json_array((SELECT session_id FROM calls WHERE seq = 3)), 2, 'delivered',
                 '2026-03-14 10:16:00', 'delivered');",
        )
        .expect("v4 outbox");
        let timeline = rows(
            &conn,
            "SELECT call_seq, idx, at_ms, time, event, detail FROM call_events
              ORDER BY call_seq, idx",
        );
        (rows(&conn, DELIVERIES), rows(&conn, CDRS), timeline)
    };
    assert_eq!(deliveries.len(), 3);
    assert_eq!(timeline.len(), 5);
    let store = Store::open(&dir.0).expect("open migrates");
    assert_eq!(
        store.read(schema::version).expect("version"),
        schema::SCHEMA_VERSION
    );

    // Plain SQL reads the same: the outbox through `deliveries`, the CDRs through `cdrs`, the
    // timeline (now Unix ms and codes) through `timeline`.
    let plain = Connection::open(dir.0.join(DB_FILE)).expect("plain open");
    assert_eq!(rows(&plain, DELIVERIES), deliveries);
    assert_eq!(rows(&plain, CDRS), cdrs);
    assert_eq!(
        rows(
            &plain,
            "SELECT call_seq, idx, at_ms, time, event, detail FROM timeline
              ORDER BY call_seq, idx"
        ),
        timeline
    );
    let stored: Vec<Vec<rusqlite::types::Value>> = rows(
        &plain,
        // (v6: the timeline is in the call's row, `[at_ms, time, event, detail]`.)
        "SELECT typeof(timeline ->> '$[0][1]'), typeof(timeline ->> '$[0][2]'),
                typeof(last_outcome), typeof(finished_outcome)
           FROM calls, outbox WHERE seq = 3 AND id = '30'",
    );
    use rusqlite::types::Value::Text;
    assert_eq!(
        stored,
        vec![vec![
            Text("integer".into()),
            Text("integer".into()),
            Text("null".into()),
            Text("integer".into())
        ]],
        "converted in place"
    );

    // Dialtone reads them as before: the CDR's text, the timeline, the owed push, the CDR batch
    // made from its call, the reconciliation counts.
    let call = store.call(&session(3)).expect("read").expect("kept");
    assert_eq!(call.ended.expect("ended").fee_json, fee_json(3, "app", 0));
    let events = store.call_events(&session(3)).expect("events");
    assert_eq!(
        events
            .iter()
            .map(|e| e.time.to_string())
            .collect::<Vec<_>>(),
        timeline
            .iter()
            .map(|r| match &r[3] {
                Text(t) => t.clone(),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(events[4].event, TimelineEvent::Disconnect);
    let r = store.recover().expect("recover");
    assert_eq!(
        r.owed_deliveries
            .iter()
            .map(|d| (d.id.as_str(), d.attempt, d.last_outcome, d.body.clone()))
            .collect::<Vec<_>>(),
        vec![(
            "31",
            1,
            Some(DeliveryOutcome::FailedWillRetry),
            br#"{"eventType":"alerting"}"#.to_vec()
        )]
    );
    assert_eq!(r.last_time.as_deref(), Some("2026-03-14 10:15:33.400"));
    let apps = store.reconciliation(None, None).expect("report");
    assert_eq!(
        (
            apps[0].accepted,
            apps[0].placed,
            apps[0].rang,
            apps[0].answered
        ),
        (1, 1, 1, 1)
    );

    // What is written from now on is in the v5 form and reads the same through the views.
    full_lifecycle(&store, 4);
    store.write(Write::DeliveryFinished {
        id: "31".into(),
        outcome: DeliveryOutcome::Dropped,
    });
    store.flush().expect("flush");
    let outcomes = rows(
        &plain,
        "SELECT id, attempts, last_outcome, finished_outcome FROM deliveries
          WHERE id IN ('31', '40', '49') ORDER BY id",
    );
    use rusqlite::types::Value::Integer;
    assert_eq!(
        outcomes,
        vec![
            vec![
                Text("31".into()),
                Integer(1),
                Text("failed_will_retry".into()),
                Text("dropped".into())
            ],
            vec![
                Text("40".into()),
                Integer(1),
                Text("delivered".into()),
                Text("delivered".into())
            ],
            vec![
                Text("49".into()),
                Integer(3),
                Text("delivered".into()),
                Text("delivered".into())
            ],
        ]
    );
    let new_cdr: (Option<String>, String) = plain
        .query_row(
            "SELECT c.fee_json, v.fee_json FROM calls c JOIN cdrs v ON v.seq = c.seq
              WHERE c.seq = 4",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("call 4");
    assert_eq!(new_cdr, (None, fee_json(4, "app", 0)), "kept as its fields");
}

#[test]
fn a_delivery_keeps_its_last_send_time_when_the_journal_is_cleared() {
    let store = Store::in_memory().expect("store");
    full_lifecycle(&store, 1);
    let read = |store: &Store| {
        store
            .read(|c| {
                Ok(rows(
                    c,
                    "SELECT id, attempts, last_outcome, last_sent_at FROM deliveries ORDER BY id",
                ))
            })
            .expect("deliveries")
    };
    let before = read(&store);
    assert_eq!(before.len(), 5);
    assert!(
        before
            .iter()
            .all(|r| r[3] == rusqlite::types::Value::Text("2026-03-14 10:15:53".into())),
        "{before:?}"
    );
    SqliteJournal::new(store.clone()).clear();
    assert_eq!(read(&store), before);
}

#[test]
fn timeline_details_are_stored_once_and_read_back_after_a_failed_commit_and_past_the_cap() {
    let store = Store::in_memory().expect("store");
    store.write(accepted(1, "app", "2026-03-14 10:15:31"));
    store.flush().expect("flush");
    let detail = |seq: u64, idx: u32, text: &str| {
        let Write::CallEvent {
            session_id,
            at_ms,
            time,
            event,
            ..
        } = event(seq, idx, "playing")
        else {
            unreachable!()
        };
        Write::CallEvent {
            session_id,
            idx,
            at_ms,
            time,
            event,
            detail: Some(text.into()),
        }
    };
    // A commit that fails takes the new text's row with it: the next use must not point at it.
    // (`write_sync` hears its own commit's fate; a flush sent after it could find the failed
    // batch already gone and an empty one of its own to commit.)
    store.fail_commits(true);
    assert!(store.write_sync(detail(1, 0, "code reading 1")).is_err());
    store.fail_commits(false);
    store.write(detail(1, 0, "code reading 1"));
    store.write(detail(1, 1, "code reading 1"));
    // Past 10 000 texts, new ones are stored as they are.
    for i in 0..10_001u32 {
        store.write(detail(1, 2 + i, &format!("key {i}")));
    }
    let events = store.call_events(&session(1)).expect("events");
    assert_eq!(events.len(), 10_003);
    assert_eq!(events[0].detail.as_deref(), Some("code reading 1"));
    assert_eq!(events[1].detail.as_deref(), Some("code reading 1"));
    for (i, e) in events[2..].iter().enumerate() {
        assert_eq!(e.detail, Some(format!("key {i}")));
    }
    let (texts, inline): (i64, i64) = store
        .read(|c| {
            Ok(c.query_row(
                "SELECT (SELECT count(*) FROM timeline_details),
                        (SELECT count(*) FROM calls, json_each(timeline) j
                          WHERE typeof(j.value ->> 3) = 'text')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .expect("counts");
    // "code reading 1" and "key 0" to "key 9998" have ids.
    assert_eq!((texts, inline), (10_000, 2));
}

/// `sent`, failed and to be tried again a minute later.
fn failed_first(id: u64) -> JournalEntry {
    JournalEntry {
        response_status: Some(503),
        outcome: DeliveryOutcome::FailedWillRetry,
        next_attempt_at: Some("2026-03-14 10:16:53".into()),
        ..sent(id, PushKind::Status, &[1], 1, DeliveryOutcome::Delivered)
    }
}

#[test]
fn a_first_attempt_is_kept_in_its_outbox_row_and_a_retry_in_a_row_of_its_own() {
    let store = Store::in_memory().expect("store");
    let journal = SqliteJournal::new(store.clone());
    store.write(accepted(1, "app", "2026-03-14 10:15:31"));
    store.write(queued(10, PushKind::Status, &[1]));
    store.write(queued(11, PushKind::Status, &[1]));
    store.write(queued(12, PushKind::Fee, &[1]));
    let delivered = sent(10, PushKind::Status, &[1], 1, DeliveryOutcome::Delivered);
    let failed = failed_first(11);
    let retried = JournalEntry {
        sent_at: "2026-03-14 10:16:53".into(),
        ..sent(11, PushKind::Status, &[1], 2, DeliveryOutcome::Delivered)
    };
    // Compared with its row (`record`) or not (`record_queued`), a first attempt as queued is
    // kept in the row; so is a CDR push's, which also settles its call's CDR.
    let fee = JournalEntry {
        fault: Some("slow".into()),
        ..sent(12, PushKind::Fee, &[1], 1, DeliveryOutcome::Delivered)
    };
    journal.record_queued(delivered.clone().into());
    journal.record(failed.clone());
    journal.record_queued(retried.clone().into());
    journal.record_queued(fee.clone().into());
    let count = |sql: &'static str| -> i64 {
        store
            .read(move |c| Ok(c.query_row(sql, [], |r| r.get(0))?))
            .expect("count")
    };
    assert_eq!(count("SELECT count(*) FROM attempt_rows"), 1, "the retry");
    assert_eq!(
        count("SELECT count(*) FROM attempts"),
        4,
        "the view shows every one"
    );
    assert_eq!(
        count("SELECT count(*) FROM outbox WHERE first_sent_at IS NOT NULL"),
        3
    );
    let call = store.call(&session(1)).expect("read").expect("kept");
    assert_eq!(call.fee_state, FeeState::Delivered);

    // The journal reads them back exactly, whichever way it is asked.
    let all = vec![
        delivered.clone(),
        failed.clone(),
        fee.clone(),
        retried.clone(),
    ];
    let by_session = journal
        .query(&JournalQuery::for_session(&session(1)))
        .expect("by session");
    assert_eq!(by_session, all);
    assert_eq!(journal.query(&JournalQuery::default()).expect("all"), all);
    let of_11 = JournalQuery {
        delivery_id: Some("11".into()),
        ..JournalQuery::default()
    };
    assert_eq!(journal.query(&of_11).expect("of 11"), vec![failed, retried]);
    let failures = JournalQuery {
        outcome: Some(DeliveryOutcome::FailedWillRetry),
        ..JournalQuery::default()
    };
    assert_eq!(
        journal.query(&failures).expect("failures"),
        vec![failed_first(11)]
    );
    let fees = JournalQuery {
        kind: Some(PushKind::Fee),
        ..JournalQuery::default()
    };
    assert_eq!(journal.query(&fees).expect("fees"), vec![fee]);

    // The outbox reads as before: attempts, outcomes and last send times.
    let deliveries = store
        .read(|c| {
            Ok(rows(
                c,
                "SELECT id, attempts, last_outcome, last_sent_at, finished_outcome
                   FROM deliveries ORDER BY id",
            ))
        })
        .expect("deliveries");
    use rusqlite::types::Value::{Integer, Text};
    let row = |id: &str, n: i64, sent_at: &str| {
        vec![
            Text(id.into()),
            Integer(n),
            Text("delivered".into()),
            Text(sent_at.into()),
            Text("delivered".into()),
        ]
    };
    assert_eq!(
        deliveries,
        vec![
            row("10", 1, "2026-03-14 10:15:53"),
            row("11", 2, "2026-03-14 10:16:53"),
            row("12", 1, "2026-03-14 10:15:53"),
        ]
    );

    // Cleared, the journal forgets them all and the outbox keeps its last send times.
    journal.clear();
    assert_eq!(
        journal.query(&JournalQuery::default()).expect("all"),
        vec![]
    );
    assert_eq!(count("SELECT count(*) FROM attempts"), 0);
    assert_eq!(
        store
            .read(|c| Ok(rows(
                c,
                "SELECT id, attempts, last_outcome, last_sent_at, finished_outcome
                   FROM deliveries ORDER BY id",
            )))
            .expect("deliveries"),
        deliveries
    );
}

#[test]
fn a_v5_database_is_upgraded_in_place_and_its_journal_reads_exactly_as_before() {
    let dir = TempDir::new("v5");
    std::fs::create_dir_all(&dir.0).expect("mkdir");
    const ATTEMPTS: &str = "SELECT * FROM attempts ORDER BY seq";
    const DELIVERIES: &str = "SELECT * FROM deliveries ORDER BY id";
    const TIMELINE: &str = "SELECT * FROM timeline ORDER BY call_seq, idx";
    let delivered = sent(10, PushKind::Status, &[1], 1, DeliveryOutcome::Delivered);
    let failed = failed_first(11);
    let (attempts, deliveries, timeline) = {
        // What a v5 Dialtone left behind: a call, a status push delivered at once and one owed
        // after a failed attempt, each attempt a row of `attempts` (as v5 stored an attempt of
        // its delivery as queued: X-AKSK, no repeat of the delivery).
        let mut conn = Connection::open(dir.0.join(DB_FILE)).expect("open v5");
        schema::migrate_to(&mut conn, 5).expect("v5 schema");
        pack::register(&conn).expect("functions");
        let mut details = write::Known::default();
        for w in [
            accepted(1, "app", "2026-03-14 10:15:31"),
            queued(10, PushKind::Status, &[1]),
            queued(11, PushKind::Status, &[1]),
        ] {
            write::apply(&conn, &w, &mut details).expect("v5 write");
        }
        for e in [&delivered, &failed] {
            let aksk = &e.request_headers[2].1;
            conn.execute(
                "INSERT INTO attempts (delivery_id, attempt, sent_at, sent_at_ms, aksk,
                     response_status, response_body, error, latency_ms, outcome,
                     next_attempt_at)
                 VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?9)",
                rusqlite::params![
                    e.delivery_id,
                    e.sent_at,
                    e.sent_at_ms,
                    aksk,
                    e.response_status,
                    e.response_body,
                    e.latency_ms,
                    write::outcome_str(e.outcome),
                    e.next_attempt_at
                ],
            )
            .expect("v5 attempt");
        }
        conn.execute_batch(
            "UPDATE outbox SET attempts = 1, finished_outcome = 0 WHERE id = '10';
             UPDATE outbox SET attempts = 1, last_outcome = 1,
                 next_attempt_at = '2026-03-14 10:16:53' WHERE id = '11';",
        )
        .expect("v5 outbox");
        // Its timeline: a detail by id, one as text, one entry without, and a position (2) no
        // write reached.
        conn.execute_batch(
            "INSERT INTO timeline_details (id, text) VALUES (1, 'code reading 1');
             INSERT INTO call_events (call_seq, idx, at_ms, time, event, detail) VALUES
                 (1, 0, 1000, 1773483331000, 1, NULL),
                 (1, 1, 3000, 1773483333250, 2, 'ringing'),
                 (1, 3, 7000, 1773483337999, 0, 1);",
        )
        .expect("v5 timeline");
        (
            rows(&conn, ATTEMPTS),
            rows(&conn, DELIVERIES),
            rows(&conn, TIMELINE),
        )
    };
    assert_eq!(timeline.len(), 3);
    assert_eq!(attempts.len(), 2);
    assert!(
        attempts[0][2..] != attempts[1][2..],
        "two different attempts"
    );
    let store = Store::open(&dir.0).expect("open migrates");
    assert_eq!(store.read(schema::version).expect("version"), 6);

    // Plain SQL reads the same through `attempts` (now a view) and `deliveries`.
    let plain = Connection::open(dir.0.join(DB_FILE)).expect("plain open");
    assert_eq!(rows(&plain, ATTEMPTS), attempts);
    assert_eq!(rows(&plain, DELIVERIES), deliveries);
    assert_eq!(rows(&plain, TIMELINE), timeline);
    let events = store.call_events(&session(1)).expect("events");
    assert_eq!(
        events
            .iter()
            .map(|e| (e.idx, e.at_ms, e.time.to_string(), e.detail.as_deref()))
            .collect::<Vec<_>>(),
        vec![
            (0, 1000, "2026-03-14 10:15:31.000".to_owned(), None),
            (
                1,
                3000,
                "2026-03-14 10:15:33.250".to_owned(),
                Some("ringing")
            ),
            (
                3,
                7000,
                "2026-03-14 10:15:37.999".to_owned(),
                Some("code reading 1")
            ),
        ]
    );
    // Dialtone's journal reads them whole, and recovery finds the owed push as it was left.
    let journal = SqliteJournal::new(store.clone());
    let read = journal
        .query(&JournalQuery::for_session(&session(1)))
        .expect("journal");
    assert_eq!(read, vec![delivered.clone(), failed.clone()]);
    let r = store.recover().expect("recover");
    assert_eq!(
        r.owed_deliveries
            .iter()
            .map(|d| (d.id.as_str(), d.attempt, d.last_outcome))
            .collect::<Vec<_>>(),
        vec![("11", 1, Some(DeliveryOutcome::FailedWillRetry))]
    );
    assert_eq!(r.last_time.as_deref(), Some("2026-03-14 10:15:53"));
    assert_eq!(r.calls_in_flight[0].events, events);

    // From now on a first attempt is kept in its outbox row, a retry in `attempt_rows`; both
    // read back with the old ones, in order.
    store.write(queued(12, PushKind::Status, &[1]));
    let new_first = sent(12, PushKind::Status, &[1], 1, DeliveryOutcome::Delivered);
    let retry = JournalEntry {
        sent_at: "2026-03-14 10:16:53".into(),
        ..sent(11, PushKind::Status, &[1], 2, DeliveryOutcome::Delivered)
    };
    journal.record_queued(new_first.clone().into());
    journal.record_queued(retry.clone().into());
    assert_eq!(
        journal
            .query(&JournalQuery::for_session(&session(1)))
            .expect("journal"),
        vec![delivered, failed, new_first, retry]
    );
    let kept: (i64, i64) = plain
        .query_row(
            "SELECT (SELECT count(*) FROM attempt_rows),
                    (SELECT count(*) FROM outbox WHERE first_sent_at IS NOT NULL)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("counts");
    assert_eq!(kept, (3, 1));
    // A new timeline entry joins the ones moved into the call's row.
    store.write(event(1, 4, "disconnect"));
    store.flush().expect("flush");
    let now = rows(&plain, TIMELINE);
    assert_eq!(now[..3], timeline[..]);
    assert_eq!(now.len(), 4);
    assert_eq!(
        now[3][2..],
        [
            rusqlite::types::Value::Integer(4),
            rusqlite::types::Value::Integer(1400),
            rusqlite::types::Value::Text("2026-03-14 10:15:31.400".into()),
            rusqlite::types::Value::Text("disconnect".into()),
            rusqlite::types::Value::Text("stateCode 0".into()),
        ]
    );
}
