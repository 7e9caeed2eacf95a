//! callStop (spec §13): the app ends its own call in progress; the disconnect and the CDR say so.

use serde_json::json;

use crate::helpers::*;

const STOP: &str = "/rest/httpsessions/callStop/v2.0";

async fn stop(sim: &TestSim, session: &str) -> Reply {
    let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
    let body = json!({"sessionid": session, "signal": "call_stop"});
    sim.post(STOP, &headers, body.to_string()).await
}

fn disconnect_of(pushes: &[Push]) -> &Push {
    pushes
        .iter()
        .find(|p| p.event_type() == "disconnect")
        .expect("a disconnect")
}

#[tokio::test]
async fn stopping_an_answered_call_releases_it_200_ms_later_with_release_point_1003() {
    let sim = spawn_sim().await;
    let session = sim.place_call(&verify_body("4815")).await;
    sim.advance("8s").await; // answered at 6 s, code playing
    let reply = stop(&sim, &session).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"resultcode": "0", "resultdesc": "Success"})
    );
    sim.advance("1m").await;
    let pushes = sim.receiver.pushes_of(&session).await;
    let events: Vec<&str> = pushes.iter().map(|p| p.event_type()).collect();
    assert_sequence(
        &["callout", "alerting", "answer", "disconnect", "fee"],
        &events,
    );
    assert_eq!(disconnect_of(&pushes).info("stateCode"), 0);
    let cdr = sim.receiver.cdr(&session);
    assert_eq!(cdr["ulFailReason"], 1003);
    assert_eq!(
        cdr["callEndTime"], "2026-03-14 10:15:39",
        "8.2 s after acceptance"
    );

    // A second stop, like one for a call that never existed, gets 1020001 and no sessionId.
    let again = stop(&sim, &session).await;
    again.assert_error(403, "1020001", "Parameter error.");
    assert!(again.body.get("sessionId").is_none());
    stop(&sim, "1200_1_nope@callenabler.home1.com")
        .await
        .assert_error(403, "1020001", "Parameter error.");
}

#[tokio::test]
async fn stopping_a_ringing_call_gives_8001_and_never_pushes_the_answer() {
    let sim = spawn_sim().await;
    let session = sim.place_call(&verify_body("4815")).await;
    sim.advance("3s").await; // alerting at 2 s; the callee would answer at 6 s
    assert_eq!(stop(&sim, &session).await.status, 200);
    sim.advance("1m").await;
    let pushes = sim.receiver.pushes_of(&session).await;
    let events: Vec<&str> = pushes.iter().map(|p| p.event_type()).collect();
    assert_sequence(&["callout", "alerting", "disconnect", "fee"], &events);
    let disconnect = disconnect_of(&pushes);
    assert_eq!(disconnect.info("stateCode"), 8001);
    assert_eq!(disconnect.info("stateDesc"), "The user is not connected.");
    assert_eq!(sim.receiver.cdr(&session)["ulFailReason"], 1003);
}

#[tokio::test]
async fn stopping_a_notification_mid_collection_pushes_no_collect_info() {
    let sim = spawn_sim().await;
    sim.set_phone(
        CALLEE,
        r#"{"outcome":"answer","digits":["1"],"dtmf_delay_ms":4000}"#,
    )
    .await;
    let body = json!({"displayNbr": DISPLAY, "calleeNbr": CALLEE,
        "playInfoList": [{"notifyVoice": "welcome.wav", "collectInd": 1}]});
    let reply = call_notify(&sim, NOTIFY, &body).await;
    let session = reply.body["sessionId"].as_str().unwrap().to_owned();
    sim.advance("10s").await; // collecting; the scripted key would come later
    assert_eq!(stop(&sim, &session).await.status, 200);
    sim.advance("1m").await;
    let events = sim.receiver.events_of(&session).await;
    assert_sequence(
        &["callout", "alerting", "answer", "disconnect", "fee"],
        &events,
    );
    let cdr = sim.receiver.cdr(&session);
    assert_eq!(
        (&cdr["ulFailReason"], cdr.get("dynIVRPath")),
        (&json!(1003), None)
    );
}

#[tokio::test]
async fn a_malformed_stop_names_the_field() {
    let sim = spawn_sim().await;
    let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
    sim.post(STOP, &headers, r#"{"sessionId":"x","signal":"call_stop"}"#)
        .await
        .assert_error(403, "1010002", "Invalid request. sessionid");
    let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
    sim.post(STOP, &headers, r#"{"sessionid":"x","signal":"hangup"}"#)
        .await
        .assert_error(403, "1010002", "Invalid request. signal");
    // Unauthenticated: the platform's auth codes.
    sim.post(STOP, &[], r#"{"sessionid":"x","signal":"call_stop"}"#)
        .await
        .assert_error(
            400,
            "1023006",
            "Authorization not contained in the HTTP header.",
        );
}
