//! The log tells the story of a run: requests, call events, push attempts, locks and frequency
//! hits, one line each, at the default level (`dialtone=info`), captured as the binary writes it.

use dialtone::auth::aksk;
use serde_json::json;

use crate::helpers::*;

#[track_caller]
fn one(logs: &LogCapture, needles: &[&str]) -> String {
    let found = logs.matching(needles);
    assert_eq!(
        found.len(),
        1,
        "one line with {needles:?} in:\n{}",
        logs.lines().join("\n")
    );
    found[0].clone()
}

#[tokio::test]
async fn an_answered_call_logs_its_request_each_event_and_each_push() {
    let logs = LogCapture::start();
    let sim = spawn_sim().await;
    let session = sim.place_call(&verify_body("4815")).await;
    sim.advance("1m").await;
    let s = format!("session_id={session}");

    let request = one(&logs, &["dialtone::request: accepted"]);
    for field in [
        "app_key=k3VdT9wQx2LpR7mN4sB8cY1fHj6Z",
        "method=POST path=/rest/httpsessions/callVerify/v1.0 status=200 resultcode=0",
        &s,
    ] {
        assert!(request.contains(field), "{field} in {request}");
    }
    for event in ["callout", "alerting", "answer"] {
        one(
            &logs,
            &[&format!("dialtone::call: {event} at=2026-03-14"), &s],
        );
    }
    let disconnect = one(&logs, &["dialtone::call: disconnect", &s]);
    assert!(disconnect.contains("state_code=0"), "{disconnect}");
    let status_url = sim.receiver.url("/voice/status");
    for event in ["callout", "alerting", "answer", "disconnect"] {
        let push = one(
            &logs,
            &[&format!(
                "status push {event} to {status_url}: HTTP 200 in "
            )],
        );
        assert!(
            push.contains(" ms, delivered") && push.contains(&s),
            "{push}"
        );
    }
    one(
        &logs,
        &[&format!(
            "CDR push (fee) to {}: HTTP 200",
            sim.receiver.url("/voice/fee")
        )],
    );
}

#[tokio::test]
async fn failed_pushes_say_whether_and_when_they_are_retried() {
    let logs = LogCapture::start();
    let sim = spawn_sim().await;
    sim.receiver.reply_with(500);
    sim.place_call(&verify_body("4815")).await;
    sim.advance("1m").await;
    let callout = one(&logs, &["WARN dialtone::push: status push callout"]);
    assert!(
        callout.contains(": HTTP 500 in ")
            && callout.contains("failed, not retried: fidelity policy"),
        "{callout}"
    );
    let fee = one(&logs, &["WARN dialtone::push: CDR push (fee)"]);
    assert!(
        fee.contains(": HTTP 500 in ") && fee.contains("failed, will retry at 2026-03-14 11:15:58"),
        "{fee}"
    );
}

#[tokio::test]
async fn a_refusal_logs_the_reason_and_the_hint() {
    let logs = LogCapture::start();
    let sim = spawn_sim().await;
    let mut body = verify_body("4815");
    body["calleeNbr"] = json!("13900001234");
    sim.call_verify(&body).await;
    let line = one(
        &logs,
        &["WARN dialtone::request: refused: Invalid request. calleeNbr"],
    );
    for field in [
        "app_key=k3VdT9wQx2LpR7mN4sB8cY1fHj6Z",
        "status=403 resultcode=1010002",
        r#"hint="calleeNbr is \"13900001234\": expected a string in global format"#,
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
}

#[tokio::test]
async fn a_lock_and_a_frequency_hit_each_get_their_line() {
    let logs = LogCapture::start();
    let sim = spawn_sim_with(|c, _| c.frequency.rules[0].max_calls = 1).await;
    sim.place_call(&verify_body("4815")).await;
    sim.place_call(&verify_body("4815")).await;
    let hit = one(&logs, &["WARN dialtone::engine: frequency hit"]);
    assert!(hit.contains("released with stateCode 7001"), "{hit}");
    for i in 0..5 {
        let created = aksk::format_created(dialtone::clock::transport_now());
        let digest = aksk::request_digest("wrong", &format!("L{i}"), &created);
        let (authorization, x_aksk) =
            aksk::client_headers(APP_KEY, &digest, &format!("L{i}"), &created);
        let headers = [
            ("Authorization".to_owned(), authorization),
            ("X-AKSK".to_owned(), x_aksk),
        ];
        sim.post("/rest/httpsessions/callVerify/v1.0", &headers, "{}")
            .await;
    }
    let lock = one(
        &logs,
        &["WARN dialtone::auth: locked: app_key k3VdT9wQx2LpR7mN4sB8cY1fHj6Z"],
    );
    assert!(lock.contains("`dialtone reset`"), "{lock}");
    assert_eq!(logs.matching(&["refused: Invalid digest."]).len(), 5);
}

#[tokio::test]
async fn nothing_below_info_is_shown_by_default() {
    let logs = LogCapture::start();
    let sim = spawn_sim().await;
    sim.place_call(&verify_body("4815")).await;
    assert!(
        logs.lines().iter().all(|l| !l.contains("DEBUG")),
        "{:#?}",
        logs.lines()
    );
    assert!(!logs.lines().is_empty());
}

#[tokio::test]
async fn an_app_without_a_status_url_is_told_so_once_and_each_call_keeps_the_note() {
    let logs = LogCapture::start();
    let sim = spawn_sim_with(|c, _| c.apps[0].status_url = None).await;
    let first = sim.place_call(&verify_body("4815")).await;
    let mut to_another = verify_body("4816");
    to_another["calleeNbr"] = json!("+8613900001235");
    let second = sim.place_call(&to_another).await;
    let note = "no statusUrl and no app status_url: events are recorded, not pushed";

    let told = one(&logs, &["dialtone::call: note", note]);
    assert!(told.contains(&format!("session_id={first}")), "{told}");
    one(
        &logs,
        &["dialtone::call: callout", &format!("session_id={second}")],
    );
    for session in [&first, &second] {
        let timeline = sim.call(session).await["timeline"].clone();
        let notes: Vec<_> = timeline
            .as_array()
            .expect("a timeline")
            .iter()
            .filter(|e| e["event"] == "note")
            .collect();
        assert_eq!(notes.len(), 1, "{session}: {timeline:#}");
        assert_eq!(notes[0]["detail"], note);
    }
}
