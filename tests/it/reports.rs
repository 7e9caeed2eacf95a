//! Reconciliation, what is owed, and re-pushing by hand.

use serde_json::{json, Value};

use crate::helpers::*;

/// Four calls: played in full, busy, hung up early, and one still ringing.
async fn scenario(sim: &TestSim) -> Vec<String> {
    let mut sessions = Vec::new();
    for (number, behaviour) in [
        ("+8613911110001", r#"{"outcome":"answer"}"#),
        ("+8613911110002", r#"{"outcome":"busy"}"#),
        (
            "+8613911110003",
            r#"{"outcome":"hangup_during_playback","hangup_after_ms":4000}"#,
        ),
    ] {
        sim.set_phone(number, behaviour).await;
        let mut body = verify_body("4827");
        body["calleeNbr"] = json!(number);
        sessions.push(sim.place_call(&body).await);
    }
    sim.advance("1m").await;
    sessions.push(sim.place_call(&verify_body("12")).await);
    sim.advance("3s").await;
    sessions
}

fn expected_report() -> Value {
    json!([{
        "app_key": APP_KEY, "accepted": 4, "placed": 4, "rang": 3, "answered": 2, "in_progress": 1,
        "played_in_full": 1, "hung_up_early": 1, "failed_by_reason": {"8102": 1},
        "cdrs_generated": 3, "cdrs_delivered": 3, "cdrs_owed": 0, "cdrs_abandoned": 0, "cdrs_not_pushed": 0
    }])
}

#[tokio::test]
async fn reconciliation_counts_accepted_against_delivered_per_app() {
    let sim = TestSim::start().await;
    scenario(&sim).await;
    let report = sim.get("/sim/v1/reports/reconciliation").await;
    assert_eq!(report.status, 200);
    assert_eq!(report.body, expected_report());
    let window = sim
        .get("/sim/v1/reports/reconciliation?from=2026-03-14%2010:16:00&to=2026-03-14%2011:00:00")
        .await;
    assert_eq!(
        window.body[0]["accepted"], 1,
        "only the call accepted after 10:16"
    );
    let bad = sim
        .get("/sim/v1/reports/reconciliation?from=yesterday")
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["error"].as_str().unwrap().contains("from"));
}

#[tokio::test]
async fn the_database_gives_the_same_report_as_memory() {
    let dir = std::env::temp_dir().join(format!("dialtone-it-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sim = TestSim::start_with(|c, _| {
        c.store.ephemeral = false;
        c.store.data_dir = dir.clone();
    })
    .await;
    scenario(&sim).await;
    assert_eq!(
        sim.get("/sim/v1/reports/reconciliation").await.body,
        expected_report()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_abandoned_cdr_is_listed_as_owed_and_can_be_redelivered_by_hand() {
    let sim = TestSim::start_with(|c, _| {
        c.fee_push.retry = dialtone::push::retry::RetrySchedule::fidelity_fee(0, 3600)
    })
    .await;
    sim.receiver.reply_with(503);
    let session = sim.place_call(&verify_body("12")).await;
    sim.advance("1m").await;
    let owed = sim
        .get("/sim/v1/deliveries?state=failed&kind=fee")
        .await
        .body;
    let owed = owed.as_array().unwrap();
    assert_eq!(owed.len(), 1);
    assert_eq!(
        (owed[0]["delivery_id"].as_str(), owed[0]["outcome"].as_str()),
        (Some("f1"), Some("abandoned"))
    );
    let report = &sim.get("/sim/v1/reports/reconciliation").await.body[0];
    assert_eq!(
        (
            report["cdrs_abandoned"].as_u64(),
            report["cdrs_delivered"].as_u64()
        ),
        (Some(1), Some(0))
    );

    sim.receiver.reply_with(200);
    let before = sim.receiver.log().len();
    let redo = sim.post("/sim/v1/deliveries/f1/redeliver", &[], "").await;
    assert_eq!((redo.status, redo.body["attempt"].as_u64()), (202, Some(2)));
    sim.advance("0s").await; // settles: the attempt has been answered
    let log = sim.receiver.log();
    assert_eq!(log.len(), before + 1);
    let again = &log[before];
    assert_eq!(again.cdr_of(&session).unwrap()["sessionId"], json!(session));
    assert_eq!(
        again.headers["x-dialtone-idempotency-key"],
        format!("{session}/fee").as_str()
    );
    assert_eq!(sim.call(&session).await["cdr_state"], "delivered");
    assert!(sim
        .get("/sim/v1/deliveries?state=failed")
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["kind"] != "fee"));
    let report = &sim.get("/sim/v1/reports/reconciliation").await.body[0];
    assert_eq!(
        (
            report["cdrs_abandoned"].as_u64(),
            report["cdrs_delivered"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(
        sim.post("/sim/v1/deliveries/nope/redeliver", &[], "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn dialtone_report_prints_the_reconciliation() {
    let sim = TestSim::start().await;
    scenario(&sim).await;
    let base = sim.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_dialtone"))
            .args(["report", "--url", &base])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "requests accepted          4",
        "code played in full        1",
        "failed, stateCode 8102     1",
        "CDRs still owed            0",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
}

#[tokio::test]
async fn dialtone_report_sends_its_bounds_form_encoded() {
    let sim = TestSim::start().await;
    scenario(&sim).await;
    let base = sim.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_dialtone"))
            .args(["report", "--url", &base])
            .args([
                "--from",
                "2026-03-14 10:16:00",
                "--to",
                "2026-03-14 11:00:00",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("requests accepted          1"),
        "only the call accepted after 10:16:\n{text}"
    );
}
