//! `GET /sim/v1/stream`: every event of a call in order, replays after a reconnect, filters,
//! slow readers, refusals; and `GET /health`.

use serde_json::{json, Value};

use crate::helpers::*;

/// The seq of each message, checked to increase strictly.
#[track_caller]
fn strictly_increasing(messages: &[Value]) -> Vec<u64> {
    let seqs: Vec<u64> = messages
        .iter()
        .map(|m| m["seq"].as_u64().expect("every message has a seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seqs do not increase: {seqs:?}"
    );
    seqs
}

#[tokio::test]
async fn the_stream_tells_a_call_in_the_order_of_its_timeline_and_its_journal() {
    let sim = spawn_sim().await;
    let mut stream = StreamClient::connect(&sim, "").await;
    let session = sim.place_call(&verify_body("4815")).await;
    sim.advance("30s").await;
    let messages = stream.until(is_fee_push).await;
    strictly_increasing(&messages);

    let accepted = &messages[0];
    assert_eq!(accepted["kind"], "accepted");
    assert_eq!(accepted["session_id"], session.as_str());
    assert_eq!(accepted["app_key"], APP_KEY);
    assert_eq!(accepted["callee"], CALLEE);
    assert_eq!(accepted["resultcode"], "0");
    // The callout happens at acceptance; the rest as the clock moves, each status push
    // answered before the call's next event (settled advance).
    assert_sequence(
        &[
            "accepted",
            "callout",
            "clock",
            "push",
            "alerting",
            "push",
            "answer",
            "push",
            "playing",
            "playing",
            "playing",
            "playing",
            "playing",
            "disconnect",
            "push",
            "push",
        ],
        &kinds(&messages),
    );
    let clock = &messages[2];
    assert_eq!(
        (&clock["from_ms"], &clock["to_ms"], &clock["to"]),
        (&json!(0), &json!(30_000), &json!("2026-03-14 10:16:01.000"))
    );

    let call = sim.call(&session).await;
    let timeline: Vec<&str> = call["timeline"]
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|t| t["event"].as_str().expect("event"))
        .collect();
    let streamed: Vec<&Value> = messages
        .iter()
        .filter(|m| timeline.contains(&m["kind"].as_str().unwrap_or_default()))
        .collect();
    let streamed_kinds: Vec<&str> = streamed
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_sequence(&timeline, &streamed_kinds);
    for (m, t) in streamed.iter().zip(call["timeline"].as_array().unwrap()) {
        assert_eq!(
            (&m["at_ms"], &m["time"], &m["detail"]),
            (&t["at_ms"], &t["time"], &t["detail"])
        );
        assert_eq!(m["session_id"], session.as_str());
    }
    let disconnect = streamed.last().expect("a disconnect");
    assert_eq!(
        (&disconnect["state_code"], &disconnect["state_desc"]),
        (&call["state_code"], &call["state_desc"])
    );

    let journal: Vec<String> = call["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| {
            format!(
                "{} {} {}",
                d["id"].as_str().unwrap(),
                d["event_type"],
                d["outcome"]
            )
        })
        .collect();
    let pushes: Vec<String> = messages
        .iter()
        .filter(|m| m["kind"] == "push")
        .map(|m| {
            format!(
                "{}#{} {} {}",
                m["delivery_id"].as_str().unwrap(),
                m["attempt"],
                m["event_type"],
                m["outcome"]
            )
        })
        .collect();
    assert_sequence(&journal, &pushes);
    let first = messages.iter().find(|m| m["kind"] == "push").unwrap();
    assert_eq!(
        (&first["push"], &first["status"], &first["url"]),
        (
            &json!("status"),
            &json!(200),
            &json!(sim.receiver.url("/voice/status"))
        )
    );
}

#[tokio::test]
async fn a_client_that_reconnects_with_since_loses_nothing() {
    let sim = spawn_sim().await;
    let mut watcher = StreamClient::connect(&sim, "").await;
    let mut flaky = StreamClient::connect(&sim, "").await;
    sim.place_call(&verify_body("4815")).await;
    sim.advance("1s").await;
    let before = flaky.until(|m| m["kind"] == "callout").await;
    let last = before.last().unwrap()["seq"].as_u64().unwrap();
    flaky.close().await;
    // While it is away the call goes on.
    sim.advance("30s").await;
    let mut back = StreamClient::connect(&sim, &format!("since={last}")).await;
    let after = back.until(is_fee_push).await;
    let all = watcher.until(is_fee_push).await;
    let seen: Vec<Value> = before.into_iter().chain(after).collect();
    strictly_increasing(&seen);
    assert_eq!(seen, all);
}

#[tokio::test]
async fn since_further_back_than_the_buffer_starts_with_a_gap() {
    let sim = spawn_sim_with(|c, _| c.stream.buffer = 5).await;
    for _ in 0..8 {
        sim.advance("1s").await;
    }
    let mut late = StreamClient::connect(&sim, "since=0").await;
    let gap = late.next().await;
    assert_eq!(
        gap,
        json!({"seq": 3, "kind": "gap", "from": 1, "to": 3, "missed": 3})
    );
    let replay = late.until(|m| m["seq"] == 8).await;
    assert_eq!(strictly_increasing(&replay), [4, 5, 6, 7, 8]);
}

#[tokio::test]
async fn filters_keep_the_asked_call_app_and_kinds() {
    let sim = spawn_sim().await;
    let first = sim.place_call(&verify_body("4815")).await;
    let mut body = verify_body("2271");
    body["calleeNbr"] = "+8613900005678".into();
    let second = sim.place_call(&body).await;
    sim.advance("30s").await;

    let mut one = StreamClient::connect(
        &sim,
        &format!("since=0&session_id={second}&kinds=accepted,answer,disconnect"),
    )
    .await;
    let got = one.until(|m| m["kind"] == "disconnect").await;
    assert_sequence(&["accepted", "answer", "disconnect"], &kinds(&got));
    assert!(
        got.iter().all(|m| m["session_id"] == second.as_str()),
        "{got:?}"
    );

    // CDR batches concern each of their calls.
    let mut fees =
        StreamClient::connect(&sim, &format!("since=0&session_id={first}&kinds=push")).await;
    let got = fees.until(is_fee_push).await;
    assert!(
        got.iter()
            .all(|m| m["session_ids"].as_array().unwrap().contains(&json!(first))),
        "{got:?}"
    );

    // Another app's filter sees none of this; the first message it gets is its own refusal.
    let mut other = StreamClient::connect(&sim, "since=0&app_key=someOtherApp").await;
    let headers = signed_headers("someOtherApp", "whatever", &nonce());
    sim.post(
        "/rest/httpsessions/callVerify/v1.0",
        &headers,
        verify_body("1").to_string(),
    )
    .await
    .assert_error(401, "1010003", "Invalid app_key.");
    let refused = other.next().await;
    assert_eq!(
        (&refused["kind"], &refused["app_key"]),
        (&json!("refused"), &json!("someOtherApp"))
    );
}

#[tokio::test]
async fn a_refused_call_appears_with_its_resultcode() {
    let sim = spawn_sim().await;
    let mut stream = StreamClient::connect(&sim, "kinds=refused,accepted").await;
    let mut body = verify_body("4815");
    body["preTone"] = "nope.wav".into();
    sim.call_verify(&body)
        .await
        .assert_error(403, "1010002", "Invalid request. preTone");
    let refused = stream.next().await;
    assert_eq!(
        refused.as_object().map(|o| {
            let mut o = o.clone();
            o.remove("seq");
            o.remove("time");
            o.remove("at_ms");
            Value::Object(o)
        }),
        Some(json!({
            "kind": "refused",
            "app_key": APP_KEY,
            "path": "/rest/httpsessions/callVerify/v1.0",
            "http_status": 403,
            "resultcode": "1010002",
            "resultdesc": "Invalid request. preTone",
            "hint": "preTone `nope.wav` is not an approved tone of app k3VdT9wQx2LpR7mN4sB8cY1fHj6Z: \
                     the bundled welcome.wav and bye.wav, [tones] dir, or the app's own `tones` \
                     in the configuration",
        }))
    );
    // Unsigned: no app named.
    sim.post("/rest/httpsessions/callVerify/v1.0", &[], "{}")
        .await;
    let unsigned = stream.next().await;
    assert_eq!(unsigned["kind"], "refused");
    assert!(unsigned.get("app_key").is_none(), "{unsigned}");
    assert!(
        unsigned["resultcode"].as_str().unwrap().starts_with("1023"),
        "{unsigned}"
    );
}

#[tokio::test]
async fn control_changes_are_events_in_the_order_they_were_made() {
    let sim = spawn_sim().await;
    let mut stream = StreamClient::connect(&sim, "").await;
    sim.set_phone(
        CALLEE,
        r#"{"sequence":[{"outcome":"busy"},{"outcome":"answer"}]}"#,
    )
    .await;
    let deleted = sim
        .http
        .delete(format!("{}/sim/v1/phones/{CALLEE}", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let faults = sim
        .http
        .put(format!("{}/sim/v1/faults", sim.base))
        .body(r#"[{"fault":"drop","times":1}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(faults.status().as_u16(), 200);
    sim.advance("2m").await;
    sim.reset().await;
    let got = stream.until(|m| m["kind"] == "reset").await;
    assert_sequence(
        &["phone", "phone", "faults", "clock", "reset"],
        &kinds(&got),
    );
    assert_eq!(
        (&got[0]["number"], &got[0]["action"]),
        (&json!(CALLEE), &json!("set"))
    );
    assert_eq!(
        got[0]["behaviour"]["steps"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        (&got[1]["action"], got[1].get("behaviour")),
        (&json!("removed"), None)
    );
    assert_eq!(got[2]["rules"][0]["fault"], "drop");
    assert_eq!(
        (&got[3]["from"], &got[3]["to"]),
        (
            &json!("2026-03-14 10:15:31.000"),
            &json!("2026-03-14 10:17:31.000")
        )
    );
    assert_eq!(got[4]["at_ms"], 0);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_told_what_it_lost_and_does_not_slow_the_calls() {
    stops_reading_then_resumes("").await;
}

#[tokio::test]
async fn a_batched_client_that_stops_reading_is_told_what_it_lost_and_does_not_slow_the_calls() {
    stops_reading_then_resumes("batch=ndjson").await;
}

/// A client on `query` that reads nothing while 300 calls run through a 200-event buffer.
async fn stops_reading_then_resumes(query: &str) {
    const CALLS: usize = 300;
    let sim = spawn_sim_with(|c, _| {
        c.stream.buffer = 200;
        c.apps[0].max_concurrent_calls = 1000;
        c.frequency.rules.clear();
    })
    .await;
    // Subscribed, never reading while the calls run: its socket fills, then the channel.
    let mut stuck = StreamClient::connect_narrow(&sim, query).await;
    for i in 0..CALLS {
        let mut body = verify_body("4815");
        body["calleeNbr"] = format!("+86139{i:08}").into();
        sim.place_call(&body).await;
    }
    sim.advance("1m").await;
    let released = sim.get("/sim/v1/calls?state=released").await;
    assert_eq!(released.body.as_array().map(Vec::len), Some(CALLS));

    // Reading again: what was in flight, then what it lost, then the buffer and what follows.
    let got = stuck.until(|m| m["kind"] == "lagged").await;
    let lagged = got.last().unwrap();
    let (from, to) = (
        lagged["from"].as_u64().unwrap(),
        lagged["to"].as_u64().unwrap(),
    );
    assert_eq!(lagged["missed"].as_u64(), Some(to - from + 1));
    assert!(lagged["missed"].as_u64().unwrap() > 0);
    assert_eq!(lagged["seq"].as_u64(), Some(to));
    let before: Vec<u64> = strictly_increasing(&got);
    assert_eq!(
        before[before.len() - 2] + 1,
        from,
        "nothing lost before the gap"
    );
    sim.set_phone(CALLEE, r#"{"outcome":"busy"}"#).await;
    let rest = stuck.until(|m| m["kind"] == "phone").await;
    let seqs = strictly_increasing(&rest);
    assert_eq!(seqs[0], to + 1, "it carries on right after what it lost");
}

#[tokio::test]
async fn batched_frames_carry_the_same_messages_in_the_same_order() {
    let sim = spawn_sim().await;
    let mut one = StreamClient::connect(&sim, "").await;
    let mut batched = StreamClient::connect(&sim, "batch=ndjson").await;
    let mut session = String::new();
    for i in 0..5 {
        let mut body = verify_body("4815");
        body["calleeNbr"] = format!("+86139000012{i:02}").into();
        session = sim.place_call(&body).await;
    }
    sim.advance("30s").await;
    let expected = one.until(is_last_fee(&session)).await;
    let got = batched.until(is_last_fee(&session)).await;
    strictly_increasing(&got);
    assert_eq!(got, expected);
    assert!(
        batched.frames < got.len(),
        "{} messages came in {} frames: none carried more than one",
        got.len(),
        batched.frames
    );
}

#[tokio::test]
async fn batched_filters_work_as_unbatched() {
    let sim = spawn_sim().await;
    let filter = format!("app_key={APP_KEY}&kinds=accepted,answer,disconnect,push");
    let mut one = StreamClient::connect(&sim, &filter).await;
    let mut batched = StreamClient::connect(&sim, &format!("{filter}&batch=ndjson")).await;
    sim.place_call(&verify_body("4815")).await;
    let mut body = verify_body("2271");
    body["calleeNbr"] = "+8613900005678".into();
    let second = sim.place_call(&body).await;
    sim.advance("30s").await;
    let expected = one.until(is_last_fee(&second)).await;
    let got = batched.until(is_last_fee(&second)).await;
    let kinds = kinds(&got);
    assert!(
        kinds
            .iter()
            .all(|k| ["accepted", "answer", "disconnect", "push"].contains(&k.as_str())),
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| *k == "accepted").count(), 2);
    assert_eq!(got, expected);
}

#[tokio::test]
async fn batched_since_replays_as_unbatched() {
    let sim = spawn_sim_with(|c, _| c.stream.buffer = 10).await;
    sim.place_call(&verify_body("4815")).await;
    let mut body = verify_body("2271");
    body["calleeNbr"] = "+8613900005678".into();
    let second = sim.place_call(&body).await;
    sim.advance("30s").await;

    // Two calls make more than 10 events: a replay from 0 starts with a gap, in both modes.
    let mut one = StreamClient::connect(&sim, "since=0").await;
    let mut batched = StreamClient::connect(&sim, "since=0&batch=ndjson").await;
    let expected = one.until(is_last_fee(&second)).await;
    let got = batched.until(is_last_fee(&second)).await;
    assert_eq!(got[0]["kind"], "gap");
    assert_eq!(got, expected);
}

/// Whether `m` is the CDR push attempt of `session`.
fn is_last_fee(session: &str) -> impl Fn(&Value) -> bool + '_ {
    move |m| {
        is_fee_push(m)
            && m["session_ids"]
                .as_array()
                .is_some_and(|s| s.contains(&json!(session)))
    }
}

#[tokio::test]
async fn stream_requests_that_cannot_be_served_are_json_errors() {
    let sim = spawn_sim().await;
    let reply = sim.get("/sim/v1/stream").await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body["error"].as_str().unwrap().contains("WebSocket"),
        "{}",
        reply.body
    );
    let reply = sim.get("/sim/v1/stream?kinds=answer,ringing").await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.body["error"]
            .as_str()
            .unwrap()
            .starts_with("unknown kind `ringing`"),
        "{}",
        reply.body
    );
    let reply = sim.get("/sim/v1/stream?batch=json").await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body["error"],
        "unknown batch `json`: expected `ndjson` (several messages per frame, one per line), \
         or no batch for one message per frame"
    );
    let reply = sim.get("/sim/v1/stream?since=99").await;
    assert_eq!(reply.status, 409);
    assert_eq!(
        reply.body["error"],
        "since=99 is ahead of the stream (latest seq 0); sequence numbers restart with Dialtone"
    );
}

#[tokio::test]
async fn health_says_ok_with_the_version_and_the_clock() {
    let sim = spawn_sim().await;
    for path in ["/health", "/sim/v1/health"] {
        let reply = sim.get(path).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["status"], "ok");
        assert_eq!(reply.body["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(reply.body["clock"]["mode"], "manual");
        assert_eq!(reply.body["clock"]["now"], "2026-03-14T10:15:31.000Z");
    }
}
