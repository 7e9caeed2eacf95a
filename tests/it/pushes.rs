//! Status pushes and CDRs as an app server receives them.

use std::collections::HashMap;

use dialtone::push::retry::{Backoff, RetrySchedule};
use serde_json::{json, Value};

use crate::helpers::*;

/// The spec's example call with the bundled English voice: answer at 10:15:37; welcome tone, three
/// readings of "your password is 4 8 2 7", bye tone: the platform releases 20.778 s after answer.
#[tokio::test]
async fn answered_call_pushes_callout_alerting_answer_disconnect_then_fee() {
    let sim = spawn_sim().await;
    let mut body = verify_body("4827");
    body["statusUrl"] = json!(b64(&sim.receiver.url("/voice/status")));
    body["feeUrl"] = json!(b64(&sim.receiver.url("/voice/fee?tenant=7")));
    let reply = sim.call_verify(&body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["resultcode"], "0");
    assert_eq!(reply.body["resultdesc"], "Success");
    assert_eq!(reply.body["idlePort"], 999);
    let session = reply.body["sessionId"].as_str().unwrap().to_owned();
    assert!(
        session.starts_with("1200_1_")
            && session.ends_with("_20260314101531@callenabler.home1.com"),
        "{session}"
    );

    let callout = sim.receiver.next().await;
    sim.advance("30s").await;
    let mut pushes = vec![callout];
    pushes.extend(sim.receiver.take(4).await);

    let kinds: Vec<&str> = pushes.iter().map(Push::event_type).collect();
    assert_eq!(
        kinds,
        ["callout", "alerting", "answer", "disconnect", "fee"]
    );
    let times: Vec<&str> = pushes[..4]
        .iter()
        .map(|p| p.info("timestamp").as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        [
            "2026-03-14 10:15:31",
            "2026-03-14 10:15:33",
            "2026-03-14 10:15:37",
            "2026-03-14 10:15:57"
        ]
    );
    for p in &pushes[..4] {
        assert_eq!(p.path, "/voice/status");
        assert_eq!(p.info("sessionId"), &json!(session));
        assert_eq!(p.info("caller"), DISPLAY);
        assert_eq!(p.info("called"), CALLEE);
        assert_eq!(p.info("userData"), "order-7781");
        assert_eq!(p.headers["content-type"], "application/json;charset=UTF-8");
        p.assert_signed(APP_SECRET, &sim.receiver.url("/voice/status"));
    }
    // Seeded on a manual clock, Created is the event's simulated time in UTC+8 with a Z, exactly
    // as in the spec's sample push (§6.3).
    assert_eq!(
        pushes[0].assert_signed(APP_SECRET, &sim.receiver.url("/voice/status")),
        "2026-03-14T18:15:31Z"
    );
    assert_eq!(
        pushes[0].info("stateCode"),
        &Value::Null,
        "only disconnect carries stateCode"
    );
    assert_eq!(pushes[3].info("stateCode"), 0);
    assert_eq!(pushes[3].info("stateDesc"), "The user releases the call.");

    // The CDR: signed over the fee URL byte for byte, consistent with the events.
    let fee = &pushes[4];
    assert_eq!(fee.path, "/voice/fee?tenant=7");
    fee.assert_signed(APP_SECRET, &sim.receiver.url("/voice/fee?tenant=7"));
    let cdrs = fee.body["feeLst"].as_array().unwrap();
    assert_eq!(cdrs.len(), 1);
    let cdr = &cdrs[0];
    let expected = json!({
        "direction": 0, "spId": "dialtone_sp01", "appKey": APP_KEY,
        "icid": "CAE-20260314181531-00000001", "bindNum": DISPLAY, "sessionId": session,
        "callerNum": DISPLAY, "calleeNum": CALLEE,
        "callOutStartTime": times[0], "callOutAlertingTime": times[1], "callOutAnswerTime": times[2],
        "callEndTime": times[3], "ulFailReason": 0, "sipStatusCode": 0, "callOutUnaswRsn": 0,
        "recordFlag": 0, "ttsPlayTimes": 3, "ttsTransDuration": 15, "serviceType": "001",
        "hostName": "callenabler.home1.com", "userData": "order-7781",
    });
    assert_eq!(cdr, &expected);

    // Nothing else arrived, and the journal holds exactly these five deliveries.
    assert!(sim.receiver.pending().await.is_empty());
    let call = sim.call(&session).await;
    assert_eq!(call["state"], "released");
    assert_eq!(call["cdr_state"], "delivered");
    let deliveries = call["deliveries"].as_array().unwrap();
    let summary: Vec<(String, String, u64)> = deliveries
        .iter()
        .map(|d| {
            (
                d["event_type"].as_str().unwrap().into(),
                d["outcome"].as_str().unwrap().into(),
                d["response_status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("callout".into(), "delivered".into(), 200),
            ("alerting".into(), "delivered".into(), 200),
            ("answer".into(), "delivered".into(), 200),
            ("disconnect".into(), "delivered".into(), 200),
            ("fee".into(), "delivered".into(), 200),
        ]
    );
    // The journal keeps exactly what was sent, signature headers included.
    assert_eq!(
        deliveries[0]["request_body"].as_str().unwrap(),
        pushes[0].raw
    );
    let sent_headers = deliveries[0]["request_headers"].as_array().unwrap();
    assert!(sent_headers
        .iter()
        .any(|h| h[0] == "x-aksk" && h[1] == pushes[0].headers["x-aksk"].to_str().unwrap()));
}

#[tokio::test]
async fn the_call_timeline_shows_each_reading_as_it_starts() {
    let sim = spawn_sim().await;
    let session = sim.place_call(&verify_body("4827")).await;
    sim.advance("30s").await;
    let call = sim.call(&session).await;
    let timeline: Vec<(u64, String)> = call["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["at_ms"].as_u64().unwrap(),
                format!(
                    "{} {}",
                    e["event"].as_str().unwrap(),
                    e["detail"].as_str().unwrap_or("")
                ),
            )
        })
        .collect();
    // Each part of the announcement starts at answer (6 s) + its first clip's offset.
    let manifest = sim
        .get(&format!("/sim/v1/calls/{session}/announcement"))
        .await
        .body["manifest"]
        .clone();
    let start_of = |part: Value| -> u64 {
        let first = manifest["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["part"] == part)
            .unwrap();
        6000 + first["start_ms"].as_u64().unwrap()
    };
    let release = 6000 + manifest["release_ms"].as_u64().unwrap();
    let expected: Vec<(u64, String)> = vec![
        (0, "callout ".into()),
        (2000, "alerting ".into()),
        (6000, "answer ".into()),
        (
            start_of(json!("pre_tone")),
            "playing preTone welcome.wav".into(),
        ),
        (
            start_of(json!({"reading": 1})),
            "playing code reading 1".into(),
        ),
        (
            start_of(json!({"reading": 2})),
            "playing code reading 2".into(),
        ),
        (
            start_of(json!({"reading": 3})),
            "playing code reading 3".into(),
        ),
        (
            start_of(json!("pos_tone")),
            "playing posTone bye.wav".into(),
        ),
        (
            release,
            "disconnect stateCode 0: The user releases the call.".into(),
        ),
    ];
    assert_eq!(timeline, expected);
    assert_eq!(release, 26_778);
}

#[tokio::test]
async fn without_push_urls_the_call_still_runs_and_keeps_its_cdr() {
    let sim = spawn_sim_with(|c, _| {
        c.apps[0].status_url = None;
        c.apps[0].fee_url = None;
    })
    .await;
    let session = sim.place_call(&verify_body("4827")).await;
    sim.advance("30s").await;
    let call = sim.call(&session).await;
    assert_eq!(call["state"], "released");
    assert_eq!(call["cdr_state"], "no_url");
    assert_eq!(call["cdr"]["ttsPlayTimes"], 3);
    assert!(call["deliveries"].as_array().unwrap().is_empty());
    assert!(sim.receiver.pending().await.is_empty());
}

#[tokio::test]
async fn failed_status_pushes_are_dropped_and_the_cdr_is_retried_an_hour_later() {
    let sim = spawn_sim().await;
    sim.receiver.reply_with(500);
    let session = sim.place_call(&verify_body("4827")).await;
    sim.advance("28s").await; // past the release at 26.778 s; the CDR batch is due at 27.778 s
    let seen = sim.receiver.take(5).await;
    assert_eq!(
        seen.iter().map(Push::event_type).collect::<Vec<_>>(),
        ["callout", "alerting", "answer", "disconnect", "fee"]
    );
    let call = sim.call(&session).await;
    let outcomes: Vec<&str> = call["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "dropped",
            "dropped",
            "dropped",
            "dropped",
            "failed_will_retry"
        ]
    );
    let fee_attempt = &call["deliveries"][4];
    assert_eq!(fee_attempt["response_status"], 500);
    assert_eq!(fee_attempt["next_attempt_at"], "2026-03-14 11:15:58");

    // Not a second earlier than the interval.
    sim.advance("59m").await;
    assert!(
        sim.receiver.pending().await.is_empty(),
        "no status push is ever retried, the CDR waits"
    );
    sim.receiver.reply_with(200);
    sim.advance("1m").await;
    let retry = sim.receiver.next().await;
    assert_eq!(retry.event_type(), "fee");
    assert_eq!(retry.raw, seen[4].raw, "a retry sends the same body");
    assert_ne!(
        retry.headers["x-aksk"], seen[4].headers["x-aksk"],
        "signed afresh"
    );
    let created = retry.assert_signed(APP_SECRET, &sim.receiver.url("/voice/fee"));
    assert_eq!(
        created, "2026-03-14T19:15:58Z",
        "signed at the retry's simulated time"
    );
    let call = sim.call(&session).await;
    assert_eq!(call["cdr_state"], "delivered");
    let last = call["deliveries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["attempt"].as_u64(), last["outcome"].as_str()),
        (Some(2), Some("delivered"))
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_the_cdr_once_it_comes_back() {
    let mut sim = spawn_sim().await;
    sim.receiver.stop();
    let session = sim.place_call(&verify_body("4827")).await;
    sim.advance("28s").await;
    let call = sim.call(&session).await;
    let attempts: Vec<(String, String, String)> = call["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["event_type"].as_str().unwrap().into(),
                d["outcome"].as_str().unwrap().into(),
                d["error"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(attempts.len(), 5);
    assert!(
        attempts[..4]
            .iter()
            .all(|(_, o, e)| o == "dropped" && e == "connect"),
        "{attempts:?}"
    );
    assert_eq!(
        attempts[4],
        ("fee".into(), "failed_will_retry".into(), "connect".into())
    );

    sim.advance("1h").await; // second attempt: still down
    sim.receiver.restart().await;
    sim.advance("1h").await;
    let cdr = sim.receiver.next().await;
    assert_eq!(cdr.event_type(), "fee");
    assert_eq!(cdr.body["feeLst"][0]["sessionId"], json!(session));
    let call = sim.call(&session).await;
    assert_eq!(call["cdr_state"], "delivered");
    assert_eq!(call["deliveries"].as_array().unwrap().len(), 7);
    assert!(
        sim.receiver.pending().await.is_empty(),
        "status pushes are not re-sent when the receiver returns"
    );
}

#[tokio::test]
async fn a_cdr_is_abandoned_after_its_last_retry() {
    let sim = spawn_sim_with(|c, _| {
        c.fee_push.retry = dialtone::push::retry::RetrySchedule::fidelity_fee(2, 60);
    })
    .await;
    sim.receiver.reply_with(503);
    let session = sim.place_call(&verify_body("12")).await;
    sim.advance("10m").await;
    let call = sim.call(&session).await;
    let fees: Vec<&Value> = call["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "fee")
        .collect();
    let outcomes: Vec<&str> = fees
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["failed_will_retry", "failed_will_retry", "abandoned"]
    );
    assert_eq!(call["cdr_state"], "abandoned");
    let failed = sim
        .get("/sim/v1/deliveries?kind=fee&outcome=abandoned")
        .await;
    assert_eq!(failed.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_backoff_policy_retries_status_pushes_and_holds_later_events() {
    let sim = spawn_sim_with(|c, _| {
        c.status_push.retry = RetrySchedule::Backoff(Backoff {
            max_retries: 2,
            initial_backoff_ms: 1000,
            multiplier: 2.0,
            max_backoff_ms: 60_000,
            jitter: 0.0,
        });
    })
    .await;
    sim.receiver.reply_with(500);
    let session = sim.place_call(&verify_body("12")).await;
    assert_eq!(sim.receiver.next().await.event_type(), "callout");
    sim.receiver.reply_with(200);
    sim.advance("1s").await; // the retry of callout, 1 s later
    assert_eq!(sim.receiver.next().await.event_type(), "callout");
    sim.advance("30s").await;
    let rest: Vec<String> = sim
        .receiver
        .take(4)
        .await
        .iter()
        .map(|p| p.event_type().to_owned())
        .collect();
    assert_eq!(rest, ["alerting", "answer", "disconnect", "fee"]);
    let call = sim.call(&session).await;
    let first = &call["deliveries"][0];
    assert_eq!(
        (first["outcome"].as_str(), first["next_attempt_at"].as_str()),
        (Some("failed_will_retry"), Some("2026-03-14 10:15:32"))
    );
}

/// Spec §5.4: a call over the platform's ports is accepted, then released with 7109.
#[tokio::test]
async fn with_no_free_port_the_call_is_released_with_7109() {
    let sim = spawn_sim_with(|c, _| c.platform.ports = 1).await;
    let first = sim.call_verify(&verify_body("11")).await;
    assert_eq!(first.body["idlePort"], 0);
    let second = sim.call_verify(&verify_body("22")).await;
    assert_eq!(second.body["resultcode"], "0");
    let session = second.body["sessionId"].as_str().unwrap().to_owned();
    sim.advance("1s").await;
    let pushes = sim.receiver.take(2).await; // callout of the first, disconnect of the second
    let disconnect = pushes
        .iter()
        .find(|p| p.info("sessionId") == &json!(session))
        .expect("second call's push");
    assert_eq!(disconnect.event_type(), "disconnect");
    assert_eq!(disconnect.info("stateCode"), 7109);
    assert_eq!(disconnect.info("stateDesc"), "Insufficient voice ports.");
    assert_eq!(disconnect.info("timestamp"), "2026-03-14 10:15:31");
}

/// Spec §7.2: CDRs of the same app, URL and callEndTime share a push, at most 50 to a push.
#[tokio::test]
async fn a_thousand_concurrent_calls_all_complete_with_every_event_and_a_cdr() {
    const CALLS: usize = 1000;
    let sim = spawn_sim_with(|c, _| {
        c.apps[0].max_concurrent_calls = CALLS as u32;
        c.platform.ports = 2 * CALLS as u32;
        c.journal.max_entries = 10 * CALLS;
    })
    .await;
    let sim = std::sync::Arc::new(sim);
    let mut placing = tokio::task::JoinSet::new();
    for i in 0..CALLS {
        let sim = sim.clone();
        placing.spawn(async move {
            let mut body = verify_body("4815");
            body["calleeNbr"] = json!(format!("+86139{:08}", i));
            sim.place_call(&body).await
        });
    }
    let mut sessions = Vec::new();
    while let Some(s) = placing.join_next().await {
        sessions.push(s.expect("placing task"));
    }
    sim.advance("30s").await;

    let mut per_call: HashMap<String, Vec<String>> = HashMap::new();
    let mut cdrs: HashMap<String, usize> = HashMap::new();
    let mut fee_pushes = 0;
    let mut seen = 0;
    while seen < 4 * CALLS + CALLS {
        let push = sim.receiver.next().await;
        if push.event_type() == "fee" {
            fee_pushes += 1;
            let list = push.body["feeLst"].as_array().unwrap();
            assert!(list.len() <= 50);
            for cdr in list {
                *cdrs
                    .entry(cdr["sessionId"].as_str().unwrap().to_owned())
                    .or_default() += 1;
                seen += 1;
            }
        } else {
            let id = push.info("sessionId").as_str().unwrap().to_owned();
            per_call
                .entry(id)
                .or_default()
                .push(push.event_type().to_owned());
            seen += 1;
        }
    }
    assert!(sim.receiver.pending().await.is_empty());
    assert_eq!(per_call.len(), CALLS);
    for s in &sessions {
        assert_eq!(
            per_call[s],
            ["callout", "alerting", "answer", "disconnect"],
            "{s}"
        );
        assert_eq!(cdrs.get(s), Some(&1), "{s}");
    }
    // All ended in the same second, so they batch: 1000 CDRs in 20 pushes.
    assert_eq!(fee_pushes, CALLS / 50);
}
