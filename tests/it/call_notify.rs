//! Voice notification (callnotify, spec §11): segments, digit collection by a scripted callee
//! and by a person through the control API, the pushes and the CDR at a real receiver, and
//! every refusal of §11.3.

use serde_json::{json, Value};

use crate::helpers::*;

/// `welcome.wav` then `bye.wav`; the second collects one key and replays on `1`.
fn notify_body() -> Value {
    json!({
        "displayNbr": DISPLAY,
        "calleeNbr": CALLEE,
        "userData": "bill-2291",
        "playInfoList": [
            {"notifyVoice": "welcome.wav"},
            {"notifyVoice": "bye.wav", "collectInd": 1,
             "replayAfterCollection": "true", "collectContentTriggerReplaying": "1"}
        ]
    })
}

#[tokio::test]
async fn a_callee_who_presses_1_then_2_hears_the_second_segment_twice_and_the_app_gets_both_keys() {
    let sim = spawn_sim().await;
    sim.set_phone(CALLEE, r#"{"outcome":"answer","digits":["1","2"]}"#)
        .await;
    let session = place_notify(&sim, &notify_body()).await;
    sim.advance("2m").await;

    let pushes = sim.receiver.pushes_of(&session).await;
    let events: Vec<&str> = pushes.iter().map(|p| p.event_type()).collect();
    assert_sequence(
        &[
            "callout",
            "alerting",
            "answer",
            "collectInfo",
            "collectInfo",
            "disconnect",
            "fee",
        ],
        &events,
    );
    let keys = collected_digits(&pushes);
    assert_eq!(keys, [&json!("1"), &json!("2")]);
    // Spec §11.5: collectInfo names no parties, and echoes userData.
    let first = pushes
        .iter()
        .find(|p| p.event_type() == "collectInfo")
        .unwrap();
    let raw = &first.raw;
    let at = |field: &str| raw.find(&format!("\"{field}\"")).unwrap_or(usize::MAX);
    assert!(
        at("sessionId") < at("timestamp")
            && at("timestamp") < at("digitInfo")
            && raw.ends_with(r#""digitInfo":"1","userData":"bill-2291"}}"#),
        "{raw}"
    );
    assert!(!raw.contains("caller") && !raw.contains("called"), "{raw}");
    let disconnect = pushes
        .iter()
        .find(|p| p.event_type() == "disconnect")
        .unwrap();
    assert_eq!(disconnect.info("stateCode"), 0);

    let cdr = sim.receiver.cdr(&session);
    assert_eq!(cdr["dynIVRPath"], "1-2");
    assert_eq!(
        cdr["ttsPlayTimes"], 0,
        "voice files only: no template played"
    );
    assert_eq!(cdr["serviceType"], "001");
    assert_eq!(cdr["ulFailReason"], 0);
    let ivr_start = cdr["dynIVRStartTime"].as_str().unwrap();
    let timeline = sim.call(&session).await["timeline"].clone();
    let plays: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "playing")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(plays, ["segment 1", "segment 2", "segment 2 again"]);
    let first_collection = timeline
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "collecting")
        .unwrap();
    assert!(
        first_collection["time"]
            .as_str()
            .unwrap()
            .starts_with(ivr_start),
        "dynIVRStartTime is when the first collection started: {ivr_start} vs {first_collection}"
    );
}

#[tokio::test]
async fn a_collection_that_gets_no_key_releases_the_call_with_8008_and_no_collect_info() {
    let sim = spawn_sim().await;
    let session = place_notify(&sim, &notify_body()).await;
    sim.advance("2m").await;
    let events = sim.receiver.events_of(&session).await;
    assert_sequence(
        &["callout", "alerting", "answer", "disconnect", "fee"],
        &events,
    );
    let pushes = sim.receiver.pushes_of(&session).await;
    let disconnect = pushes
        .iter()
        .find(|p| p.event_type() == "disconnect")
        .unwrap();
    assert_eq!(disconnect.info("stateCode"), 8008);
    assert_eq!(disconnect.info("stateDesc"), "Digit collection failed.");
    let cdr = sim.receiver.cdr(&session);
    assert_eq!(
        (&cdr["ulFailReason"], cdr.get("dynIVRPath")),
        (&json!(100), None)
    );
    assert!(cdr["dynIVRStartTime"].is_string());
}

#[tokio::test]
async fn a_person_presses_keys_mid_call_through_the_control_api() {
    let sim = spawn_sim().await;
    let session = place_notify(&sim, &notify_body()).await;
    // Answer at 6 s, welcome from 6.5 s, bye after it; its collection then waits 5 s.
    sim.advance("12s").await;
    let timeline = sim.call(&session).await["timeline"].clone();
    assert!(
        timeline
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "collecting"),
        "collecting by 12 s: {timeline}"
    );
    let pressed = sim
        .post(
            &format!("/sim/v1/calls/{session}/dtmf"),
            &[],
            json!({"digits": "2"}).to_string(),
        )
        .await;
    assert_eq!(pressed.status, 200, "{}", pressed.body);
    sim.advance("10s").await;
    let pushes = sim.receiver.pushes_of(&session).await;
    let collected = collected_digits(&pushes);
    assert_eq!(collected, [&json!("2")]);
    let disconnect = pushes
        .iter()
        .find(|p| p.event_type() == "disconnect")
        .unwrap();
    assert_eq!(disconnect.info("stateCode"), 0);

    // After the call: a 409; bad keys: a 400; an unknown call: a 404.
    let late = sim
        .post(
            &format!("/sim/v1/calls/{session}/dtmf"),
            &[],
            json!({"digits": "1"}).to_string(),
        )
        .await;
    assert_eq!(late.status, 409, "{}", late.body);
    let bad = sim
        .post(
            &format!("/sim/v1/calls/{session}/dtmf"),
            &[],
            json!({"digits": "12a"}).to_string(),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let unknown = sim
        .post(
            "/sim/v1/calls/nope/dtmf",
            &[],
            json!({"digits": "1"}).to_string(),
        )
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn keys_pressed_on_a_verification_call_are_noted_and_change_nothing() {
    let sim = spawn_sim().await;
    let session = sim.place_call(&verify_body("4815")).await;
    sim.advance("8s").await;
    let pressed = sim
        .post(
            &format!("/sim/v1/calls/{session}/dtmf"),
            &[],
            json!({"digits": "5"}).to_string(),
        )
        .await;
    assert_eq!(pressed.status, 200, "{}", pressed.body);
    sim.advance("1m").await;
    let call = sim.call(&session).await;
    assert_eq!(call["state_code"], 0);
    assert!(call["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "key" && e["detail"] == "5 (not collecting: ignored)"));
}

#[tokio::test]
async fn v1_0_sandbox_and_legacy_tokens_reach_the_same_notification() {
    let sim = spawn_sim().await;
    for path in [
        "/rest/httpsessions/callnotify/v1.0",
        "/sandbox/rest/httpsessions/callnotify/v2.0",
    ] {
        let reply = call_notify(&sim, path, &notify_body()).await;
        assert_eq!(reply.body["resultcode"], "0", "{path}: {}", reply.body);
    }
    let token = sim.legacy_token().await;
    let reply = sim
        .post(
            &format!("{NOTIFY}?app_key={APP_KEY}&access_token={token}"),
            &[],
            notify_body().to_string(),
        )
        .await;
    assert_eq!(reply.body["resultcode"], "0", "{}", reply.body);
    assert_eq!(sim.call_count().await, 3);
    // A GET is the wrong method.
    let get = sim.get(NOTIFY).await;
    get.assert_error(405, "1010006", "Invalid Rest API.");
}

/// Sends `body` and asserts a 403 with `code`/`desc`, `sessionId` "", and no call created.
async fn refused(body: Value, code: &str, desc: &str) {
    let sim = spawn_sim().await;
    let reply = call_notify(&sim, NOTIFY, &body).await;
    reply.assert_error(403, code, desc);
    assert_eq!(reply.body["sessionId"], "");
    assert_eq!(
        sim.call_count().await,
        0,
        "a refused request creates no call"
    );
}

fn with(path: &[&str], value: Value) -> Value {
    let mut body = notify_body();
    let mut at = &mut body;
    for (i, key) in path.iter().enumerate() {
        if i + 1 == path.len() {
            match key.parse::<usize>() {
                Ok(n) => at[n] = value.clone(),
                Err(_) => at[*key] = value.clone(),
            }
            break;
        }
        at = match key.parse::<usize>() {
            Ok(n) => &mut at[n],
            Err(_) => &mut at[*key],
        };
    }
    body
}

#[tokio::test]
async fn every_refusal_of_the_validation_order_has_its_code() {
    let invalid = |p: &str| format!("Invalid request. {p}");
    let cases: Vec<(Value, &str, String)> = vec![
        (json!([1, 2]), "1010002", "Invalid request.".into()),
        (
            with(&["displayNbr"], json!("862087654321")),
            "1010002",
            invalid("displayNbr"),
        ),
        (
            with(&["calleeNbr"], json!("13900001234")),
            "1010002",
            invalid("calleeNbr"),
        ),
        (
            with(&["playInfoList"], json!([])),
            "1010002",
            invalid("playInfoList"),
        ),
        (
            with(&["playInfoList", "0"], json!({"collectInd": 1})),
            "1010002",
            invalid("playInfoList"),
        ),
        (
            with(&["playInfoList", "1", "collectInd"], json!(40)),
            "1010002",
            invalid("collectInd"),
        ),
        (
            with(&["playInfoList", "0", "notifyVoice"], json!("welcome.mp3")),
            "1010002",
            invalid("notifyVoice"),
        ),
        (
            with(&["statusUrl"], json!("not base64!")),
            "1010002",
            invalid("statusUrl"),
        ),
        (
            with(&["displayNbr"], json!("+861000000000")),
            "1010023",
            "Display number invalid.".into(),
        ),
        (
            with(&["playInfoList", "0", "notifyVoice"], json!("nope.wav")),
            "1010002",
            invalid("notifyVoice"),
        ),
        (
            with(
                &["playInfoList", "0"],
                json!({"templateId": "tpl_none", "templateParas": []}),
            ),
            "1012003",
            "The template ID does not exist.".into(),
        ),
    ];
    for (body, code, desc) in cases {
        refused(body, code, &desc).await;
    }
}

#[tokio::test]
async fn the_body_is_checked_before_the_display_number_and_segments_in_order() {
    // A bad callee and an unconfigured display number: the field check comes first.
    let body = with(&["calleeNbr"], json!("123"));
    let mut body = body;
    body["displayNbr"] = json!("+861000000000");
    refused(body, "1010002", "Invalid request. calleeNbr").await;
    // An unapproved voice in segment 1 and an unknown template in segment 2: segment 1 first.
    let mut body = notify_body();
    body["playInfoList"][0]["notifyVoice"] = json!("nope.wav");
    body["playInfoList"][1] = json!({"templateId": "tpl_none", "templateParas": []});
    refused(body, "1010002", "Invalid request. notifyVoice").await;
}

/// The spec's §11.6 example body: `tpl_bill` (in the embedded default), press 1 to hear it again.
fn bill_body() -> Value {
    json!({"displayNbr": DISPLAY, "calleeNbr": CALLEE, "userData": "bill-2291",
        "playInfoList": [{"templateId": "tpl_bill", "templateParas": ["张先生", "128.50"],
            "collectInd": 1, "replayAfterCollection": "true",
            "collectContentTriggerReplaying": "1"}]})
}

#[tokio::test]
async fn the_spec_example_reads_the_bill_twice_and_counts_the_template_speech() {
    let sim = spawn_sim().await;
    sim.set_phone(CALLEE, r#"{"outcome":"answer","digits":["1","2"]}"#)
        .await;
    let session = place_notify(&sim, &bill_body()).await;
    sim.advance("2m").await;
    let events = sim.receiver.events_of(&session).await;
    assert_sequence(
        &[
            "callout",
            "alerting",
            "answer",
            "collectInfo",
            "collectInfo",
            "disconnect",
            "fee",
        ],
        &events,
    );
    let heard = sim
        .get(&format!("/sim/v1/calls/{session}/announcement"))
        .await
        .body;
    let played = heard["played"].as_array().unwrap();
    assert_eq!(played.len(), 2, "played twice: {heard}");
    let tts_ms = played[0]["playback"]["tts_ms"].as_u64().unwrap();
    assert!(played[0]["playback"]["text"]
        .as_str()
        .unwrap()
        .contains("张先生"));
    let cdr = sim.receiver.cdr(&session);
    assert_eq!(cdr["ttsPlayTimes"], 2);
    assert_eq!(cdr["ttsTransDuration"], (2 * tts_ms).div_ceil(1000));
    assert_eq!(cdr["dynIVRPath"], "1-2");

    // What the callee heard is rendered from the segments as they played.
    let wav = sim
        .http
        .get(format!("{}/sim/v1/calls/{session}/audio.wav", sim.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let heard_ms = heard["heard_ms"].as_u64().unwrap();
    assert_eq!(wav.len(), 44 + 2 * 8 * heard_ms as usize);
    let first = played[0]["start_ms"].as_u64().unwrap() as usize;
    let sample = |ms: usize| i16::from_le_bytes([wav[44 + ms * 16], wav[45 + ms * 16]]);
    assert_eq!(
        sample(first.saturating_sub(100)),
        0,
        "silence before the segment"
    );
    assert!(
        (first..first + 1000).any(|ms| sample(ms) != 0),
        "speech once the segment plays"
    );
}

#[tokio::test]
async fn template_refusals_name_the_count_or_the_variable() {
    let mut one = bill_body();
    one["playInfoList"][0]["templateParas"] = json!(["张先生"]);
    refused(one, "1012004", "The template ID does not exist.").await;
    let mut long = bill_body();
    long["playInfoList"][0]["templateParas"] = json!(["张先生张先生张先生", "128.50"]);
    refused(
        long,
        "1012005",
        "${TXT_8} of templateParas does not meet template.",
    )
    .await;
}
