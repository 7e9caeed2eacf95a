//! Dialtone's own control plane: the clock, call listings and the journal.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn the_manual_clock_shows_its_time_and_moves_only_when_advanced() {
    let sim = spawn_sim().await;
    let clock = sim.get("/sim/v1/clock").await.body;
    assert_eq!(
        (clock["mode"].as_str(), clock["now_ms"].as_u64()),
        (Some("manual"), Some(0))
    );
    assert_eq!(clock["now"], "2026-03-14T10:15:31.000Z");
    let moved = sim
        .post(
            "/sim/v1/clock/advance",
            &[],
            json!({"by_ms": 1500}).to_string(),
        )
        .await;
    assert_eq!(moved.body["now_ms"], 1500);
    sim.advance("2m").await;
    assert_eq!(sim.get("/sim/v1/clock").await.body["now_ms"], 121_500);
}

#[tokio::test]
async fn a_bad_advance_is_a_clear_400() {
    let sim = spawn_sim().await;
    for body in [
        json!({"by": "soon"}),
        json!({}),
        json!({"by": "1s", "by_ms": 5}),
        json!({"bye": "1s"}),
    ] {
        let reply = sim
            .post("/sim/v1/clock/advance", &[], body.to_string())
            .await;
        assert_eq!(reply.status, 400, "{body}");
        assert!(reply.body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
}

#[tokio::test]
async fn a_real_clock_cannot_be_advanced() {
    let sim = spawn_sim_with(|c, _| c.clock.mode = dialtone::clock::ClockMode::Real).await;
    let reply = sim
        .post(
            "/sim/v1/clock/advance",
            &[],
            json!({"by": "1s"}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 409);
    assert!(reply.body["error"].as_str().unwrap().contains("manual"));
}

#[tokio::test]
async fn the_call_list_is_in_the_order_the_calls_were_accepted() {
    // Enough calls that no table happens to hold them in order.
    let sim = spawn_sim_with(|c, _| c.apps[0].max_concurrent_calls = 100).await;
    let mut placed = Vec::new();
    for n in 0..40 {
        let mut body = verify_body("1234");
        body["calleeNbr"] = json!(format!("+86139000{:05}", 20_000 + n));
        placed.push(sim.place_call(&body).await);
    }
    let listed: Vec<String> = sim
        .get("/sim/v1/calls")
        .await
        .body
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|c| Some(c["session_id"].as_str()?.to_owned()))
        .collect();
    assert_eq!(listed, placed);
}

#[tokio::test]
async fn calls_can_be_listed_and_filtered_by_state_app_and_callee() {
    let sim = spawn_sim().await;
    let mut other = verify_body("1234");
    other["calleeNbr"] = json!("+8613900009999");
    sim.place_call(&verify_body("1234")).await;
    sim.place_call(&other).await;
    assert_eq!(sim.call_count().await, 2);
    let by_callee = sim.get("/sim/v1/calls?callee=%2B8613900009999").await.body;
    assert_eq!(by_callee.as_array().unwrap().len(), 1);
    // What the console's list shows: who calls, and what the callee will do.
    assert_eq!(by_callee[0]["caller"], DISPLAY);
    assert_eq!(by_callee[0]["outcome"]["outcome"], "answer");
    assert_eq!(
        sim.get(&format!("/sim/v1/calls?app={APP_KEY}&state=callout"))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let bogus = sim.get("/sim/v1/calls?state=ringing").await;
    assert_eq!(
        bogus.status, 400,
        "an unknown state is refused, not matched by nothing"
    );
    assert!(
        bogus.body["error"].as_str().unwrap().contains("state"),
        "{}",
        bogus.body
    );
    sim.advance("30s").await;
    assert_eq!(
        sim.get("/sim/v1/calls?state=released")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        sim.get("/sim/v1/calls?app=other")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn an_unknown_call_is_404() {
    let sim = spawn_sim().await;
    let reply = sim.get("/sim/v1/calls/nope@x").await;
    assert_eq!(reply.status, 404);
    assert_eq!(sim.get("/sim/v1/calls/nope@x/events").await.status, 404);
}

#[tokio::test]
async fn events_can_be_awaited_without_polling() {
    let sim = std::sync::Arc::new(spawn_sim().await);
    let session = sim.place_call(&verify_body("1234")).await;
    let waiter = {
        let sim = sim.clone();
        let session = session.clone();
        tokio::spawn(async move {
            sim.get(&format!(
                "/sim/v1/calls/{session}/events?after=1&wait_for=disconnect&timeout_ms=10000"
            ))
            .await
        })
    };
    sim.advance("30s").await;
    let reply = waiter.await.unwrap();
    assert_eq!(reply.body["satisfied"], true);
    let events: Vec<&str> = reply.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events.first(), Some(&"alerting"));
    assert_eq!(events.last(), Some(&"disconnect"));
    // Nothing more will come: a short wait times out and says so.
    let next = reply.body["next"].as_u64().unwrap();
    let idle = sim
        .get(&format!(
            "/sim/v1/calls/{session}/events?after={next}&timeout_ms=50"
        ))
        .await;
    assert_eq!(
        (
            idle.body["satisfied"].as_bool(),
            idle.body["events"].as_array().unwrap().len()
        ),
        (Some(false), 0)
    );
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_get_1010006() {
    let sim = spawn_sim().await;
    sim.get("/rest/httpsessions/callVerify/v1.0")
        .await
        .assert_error(405, "1010006", "Invalid Rest API.");
    sim.post("/rest/httpsessions/callNotify/v3.0", &[], "{}")
        .await
        .assert_error(404, "1010006", "Invalid Rest API.");
    sim.get("/rest/refreshkey/v2.0")
        .await
        .assert_error(404, "1010006", "Invalid Rest API.");
}

#[tokio::test]
async fn shutdown_waits_for_a_push_on_the_wire() {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let receiver = PushReceiver::start_gated(Some(gate.clone())).await;
    let url = receiver.url("/held");
    let mut sim = spawn_sim_with(|c, _| c.apps[0].status_url = Some(url)).await;
    sim.place_call(&verify_body("1234")).await;
    let held = receiver.next().await; // the callout push, held open by the gate
    assert_eq!(held.event_type(), "callout");
    let server = sim.begin_shutdown();
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), async {
        server.is_finished()
    })
    .await;
    assert_eq!(
        early.ok(),
        Some(false),
        "still running while a push is on the wire"
    );
    gate.add_permits(1);
    tokio::time::timeout(PATIENCE, server)
        .await
        .expect("finishes")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn an_advance_past_a_hundred_years_is_a_400_and_the_sim_keeps_answering() {
    let sim = spawn_sim().await;
    for body in [
        json!({"by_ms": 10_000_000_000_000_000u64}),
        json!({"by": "10000000000000h"}),
    ] {
        let reply = sim
            .post("/sim/v1/clock/advance", &[], body.to_string())
            .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert!(
            reply.body["error"]
                .as_str()
                .is_some_and(|e| e.contains("at most 100 years")),
            "{}",
            reply.body
        );
    }
    let clock = sim.get("/sim/v1/clock").await;
    assert_eq!((clock.status, &clock.body["now_ms"]), (200, &json!(0)));
    let reply = sim.call_verify(&verify_body("4827")).await;
    assert_eq!(reply.body["resultcode"], "0", "{}", reply.body);
}

/// Sends `method` to `path` and reads the answer as `{"error": …}`: status, `Allow`, message.
async fn control_error(sim: &TestSim, method: &str, path: &str) -> (u16, String, String) {
    let resp = sim
        .http
        .request(method.parse().unwrap(), format!("{}{}", sim.base, path))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let allow = resp
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = resp.bytes().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "{method} {path}: not JSON (HTTP {status}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    let error = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{method} {path}: no `error` in {body}"))
        .to_owned();
    (status, allow, error)
}

#[tokio::test]
async fn a_wrong_method_on_any_control_route_is_a_json_405_naming_the_allowed_ones() {
    let sim = spawn_sim().await;
    for (method, path) in [
        ("DELETE", "/sim/v1/clock"),
        ("GET", "/sim/v1/clock/advance"),
        ("POST", "/sim/v1/calls"),
        ("DELETE", "/sim/v1/calls/some-id"),
        ("GET", "/sim/v1/calls/some-id/dtmf"),
        ("GET", "/sim/v1/calls/some-id/hangup"),
        ("PUT", "/sim/v1/calls/some-id/events"),
        ("POST", "/sim/v1/calls/some-id/audio.wav"),
        ("POST", "/sim/v1/calls/some-id/announcement"),
        ("DELETE", "/sim/v1/deliveries"),
        ("GET", "/sim/v1/deliveries/some-id/redeliver"),
        ("POST", "/sim/v1/reports/reconciliation"),
        ("POST", "/sim/v1/phones"),
        ("GET", "/sim/v1/phones/+8613900001234"),
        ("GET", "/sim/v1/reset"),
        ("POST", "/sim/v1/stream"),
        ("POST", "/sim/v1/health"),
        ("POST", "/health"),
        ("POST", "/sim/v1/faults"),
        ("POST", "/dialtone/recordings/b/o"),
    ] {
        let (status, allow, error) = control_error(&sim, method, path).await;
        assert_eq!(status, 405, "{method} {path}: {error}");
        assert!(!allow.is_empty(), "{method} {path}: an Allow header");
        assert!(error.contains(method) && error.contains(path), "{error}");
        for allowed in allow.split(',').filter(|m| *m != "HEAD") {
            assert!(
                error.contains(allowed),
                "{method} {path}: `{error}` lacks {allowed}"
            );
        }
    }
}

#[tokio::test]
async fn a_path_segment_that_is_not_utf8_is_a_json_400() {
    let sim = spawn_sim().await;
    for path in [
        "/sim/v1/calls/%FF",
        "/sim/v1/calls/%FF/events",
        "/sim/v1/deliveries/%FF/redeliver",
        "/dialtone/recordings/%FF/o",
    ] {
        let method = if path.ends_with("redeliver") {
            "POST"
        } else {
            "GET"
        };
        let (status, _, error) = control_error(&sim, method, path).await;
        assert_eq!(status, 400, "{path}: {error}");
        assert!(error.contains("path"), "{path}: {error}");
    }
    let (status, _, error) = control_error(&sim, "DELETE", "/sim/v1/phones/%FF").await;
    assert_eq!(status, 400, "{error}");
}

#[tokio::test]
async fn an_unknown_control_path_is_a_json_404_and_an_unknown_platform_path_stays_1010006() {
    let sim = spawn_sim().await;
    for (method, path) in [
        ("GET", "/sim/v1/nope"),
        ("POST", "/sim/v1/nope"),
        ("GET", "/sim/v1"),
        ("GET", "/sim/v1/"),
        ("GET", "/sim/v1/calls/some-id/nope"),
        ("DELETE", "/sim/v1/clock/advance/more"),
    ] {
        let (status, _, error) = control_error(&sim, method, path).await;
        assert_eq!(status, 404, "{method} {path}: {error}");
        assert!(error.contains(path), "{error}");
    }
    sim.get("/rest/nope")
        .await
        .assert_error(404, "1010006", "Invalid Rest API.");
    sim.get("/nope")
        .await
        .assert_error(404, "1010006", "Invalid Rest API.");
}
