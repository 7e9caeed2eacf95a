//! Webhook faults on demand: what the receiver sees, and what the journal records.

use serde_json::Value;

use crate::helpers::*;

async fn set_faults(sim: &TestSim, rules: &str) {
    let resp = sim
        .http
        .put(format!("{}/sim/v1/faults", sim.base))
        .body(rules.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
}

async fn journal(sim: &TestSim, session: &str) -> Vec<Value> {
    sim.call(session).await["deliveries"]
        .as_array()
        .unwrap()
        .clone()
}

fn summary(entries: &[Value]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap_or("-").to_owned();
            (s("event_type"), s("outcome"), s("fault"))
        })
        .collect()
}

fn row(event: &str, outcome: &str, fault: &str) -> (String, String, String) {
    (event.into(), outcome.into(), fault.into())
}

#[tokio::test]
async fn a_dropped_cdr_never_arrives_and_its_retry_does() {
    let sim = TestSim::start().await;
    set_faults(&sim, r#"[{"fault":"drop","push":"fee","times":1}]"#).await;
    let session = sim.place_call(&verify_body("12")).await;
    sim.advance("1m").await;
    assert_sequence(
        &["callout", "alerting", "answer", "disconnect"],
        &sim.receiver.events_of(&session).await,
    );
    sim.advance("1h").await;
    assert_sequence(
        &["callout", "alerting", "answer", "disconnect", "fee"],
        &sim.receiver.events_of(&session).await,
    );
    let fees: Vec<_> = summary(&journal(&sim, &session).await)
        .into_iter()
        .filter(|r| r.0 == "fee")
        .collect();
    assert_eq!(
        fees,
        [
            row("fee", "failed_will_retry", "drop"),
            row("fee", "delivered", "-")
        ]
    );
    assert_eq!(sim.get("/sim/v1/faults").await.body[0]["used"], 1);
}

#[tokio::test]
async fn a_delayed_status_push_arrives_late_and_holds_the_next_ones() {
    let sim = TestSim::start().await;
    set_faults(
        &sim,
        r#"[{"fault":"delay","push":"status","delay_ms":3000,"times":1}]"#,
    )
    .await;
    let session = sim.place_call(&verify_body("12")).await;
    assert!(
        sim.receiver.events_of(&session).await.is_empty(),
        "the callout is held"
    );
    sim.advance("2s").await;
    assert!(
        sim.receiver.events_of(&session).await.is_empty(),
        "alerting waits behind the callout"
    );
    sim.advance("1s").await;
    assert_sequence(
        &["callout", "alerting"],
        &sim.receiver.events_of(&session).await,
    );
    let first = &journal(&sim, &session).await[0];
    assert_eq!(
        (first["fault"].as_str(), first["sent_at_ms"].as_u64()),
        (Some("delay"), Some(3000))
    );
    let pushes = sim.receiver.pushes_of(&session).await;
    assert_eq!(
        pushes[0].info("timestamp"),
        "2026-03-14 10:15:31",
        "the payload keeps the event's time"
    );
}

#[tokio::test]
async fn a_duplicated_push_arrives_twice_with_one_idempotency_key() {
    let sim = TestSim::start().await;
    set_faults(&sim, r#"[{"fault":"duplicate","push":"fee"}]"#).await;
    let session = sim.place_call(&verify_body("12")).await;
    sim.advance("1m").await;
    let fees: Vec<Push> = sim
        .receiver
        .pushes_of(&session)
        .await
        .into_iter()
        .filter(|p| p.event_type() == "fee")
        .collect();
    assert_eq!(fees.len(), 2);
    assert_eq!(fees[0].raw, fees[1].raw);
    assert_eq!(
        fees[0].headers["x-dialtone-idempotency-key"],
        fees[1].headers["x-dialtone-idempotency-key"]
    );
    let rows = summary(&journal(&sim, &session).await);
    assert_eq!(
        rows.last(),
        Some(&row("fee", "delivered", "duplicate")),
        "one attempt, marked"
    );
}

#[tokio::test]
async fn out_of_order_sends_a_status_event_after_the_next_one() {
    let sim = TestSim::start().await;
    set_faults(&sim, r#"[{"fault":"out_of_order","times":1}]"#).await;
    let session = sim.place_call(&verify_body("12")).await;
    sim.advance("1m").await;
    assert_sequence(
        &["alerting", "callout", "answer", "disconnect", "fee"],
        &sim.receiver.events_of(&session).await,
    );
    let rows = summary(&journal(&sim, &session).await);
    assert!(
        rows.contains(&row("callout", "delivered", "out_of_order")),
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_corrupt_signature_does_not_verify_and_the_journal_says_it_was_injected() {
    let sim = TestSim::start().await;
    set_faults(
        &sim,
        r#"[{"fault":"corrupt_signature","push":"status","times":1}]"#,
    )
    .await;
    let session = sim.place_call(&verify_body("12")).await;
    sim.advance("0s").await; // settles: the callout has been answered
    let pushes = sim.receiver.pushes_of(&session).await;
    let url = sim.receiver.url("/voice/status");
    let first = pushes[0].clone();
    let verified = std::panic::catch_unwind(move || first.assert_signed(APP_SECRET, &url));
    assert!(verified.is_err(), "the digest must not verify");
    sim.advance("1m").await;
    let later = sim.receiver.pushes_of(&session).await;
    later[1].assert_signed(APP_SECRET, &sim.receiver.url("/voice/status"));
    assert_eq!(
        journal(&sim, &session).await[0]["fault"],
        "corrupt_signature"
    );
}

#[tokio::test]
async fn a_timeout_reaches_the_receiver_but_counts_as_failed_so_the_cdr_comes_again() {
    let sim = TestSim::start().await;
    set_faults(&sim, r#"[{"fault":"timeout","push":"fee","times":1}]"#).await;
    let session = sim.place_call(&verify_body("12")).await;
    sim.advance("1m").await;
    sim.advance("1h").await;
    let fees: Vec<Push> = sim
        .receiver
        .pushes_of(&session)
        .await
        .into_iter()
        .filter(|p| p.event_type() == "fee")
        .collect();
    assert_eq!(fees.len(), 2, "the receiver got it, then the retry");
    assert_eq!(
        fees[0].headers["x-dialtone-idempotency-key"],
        fees[1].headers["x-dialtone-idempotency-key"]
    );
    let entries = journal(&sim, &session).await;
    let first_fee = entries.iter().find(|d| d["kind"] == "fee").unwrap();
    assert_eq!(
        (first_fee["error"].as_str(), first_fee["fault"].as_str()),
        (Some("timeout"), Some("timeout"))
    );
}

#[tokio::test]
async fn seeded_faults_hit_the_same_pushes_every_run() {
    let sim = TestSim::start().await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        sim.reset().await;
        set_faults(
            &sim,
            r#"[{"fault":"drop","push":"status","probability":0.5}]"#,
        )
        .await;
        for i in 0..8 {
            let mut body = verify_body("12");
            body["calleeNbr"] = format!("+86139111{i:05}").into();
            sim.place_call(&body).await;
        }
        sim.advance("1m").await;
        let dropped: Vec<String> = sim
            .get("/sim/v1/deliveries?kind=status")
            .await
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["fault"] == "drop")
            .map(|d| d["delivery_id"].as_str().unwrap().to_owned())
            .collect();
        runs.push(dropped);
    }
    assert!(
        !runs[0].is_empty() && runs[0].len() < 32,
        "about half: {}",
        runs[0].len()
    );
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn a_bad_fault_rule_is_a_clear_400() {
    let sim = TestSim::start().await;
    for body in [
        r#"[{"fault":"explode"}]"#,
        r#"[{"fault":"drop","probability":2}]"#,
        r#"{"fault":"drop"}"#,
    ] {
        let resp = sim
            .http
            .put(format!("{}/sim/v1/faults", sim.base))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
    }
}

#[tokio::test]
async fn the_dev_policy_retries_status_pushes_quickly_with_jitter() {
    let sim = TestSim::start_with(|c, _| {
        c.status_push.retry = dialtone::push::retry::RetrySchedule::dev()
    })
    .await;
    sim.receiver.reply_with(500);
    let session = sim.place_call(&verify_body("12")).await;
    sim.advance("0s").await; // settles: the callout has been answered
    let first = journal(&sim, &session).await[0].clone();
    assert_eq!(first["outcome"], "failed_will_retry");
    sim.receiver.reply_with(200);
    sim.advance("2s").await; // 1 s ± 20 %
    let callouts: Vec<Value> = journal(&sim, &session)
        .await
        .into_iter()
        .filter(|d| d["event_type"] == "callout")
        .collect();
    assert_eq!(callouts.len(), 2);
    let retry_at = callouts[1]["sent_at_ms"].as_u64().unwrap();
    assert!((800..=1200).contains(&retry_at), "{retry_at}");
    assert_eq!(callouts[1]["outcome"], "delivered");
}
