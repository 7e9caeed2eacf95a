//! Click-to-call (spec §12): two legs under one sessionId, each following the rule for its
//! number; every row of the §12.3 outcome table, the pushes that tell the legs apart, the
//! CDR's `fwd*` fields, and the refusals of §12.2.

use serde_json::{json, Value};

use crate::helpers::*;

const A: &str = "+8613900001234";
const B: &str = "+8613700005678";
const B_DISPLAY: &str = "+862087654322";

fn body() -> Value {
    json!({
        "displayNbr": DISPLAY, "callerNbr": A,
        "displayCalleeNbr": B_DISPLAY, "calleeNbr": B,
        "partyTypeRequiredInDisconnect": "true", "userData": "ticket-4410"
    })
}

/// Each push as `event called`, the disconnect with its stateCode and partyType.
async fn story(sim: &TestSim, session: &str) -> Vec<String> {
    sim.receiver
        .pushes_of(session)
        .await
        .iter()
        .map(|p| match p.event_type() {
            "disconnect" => format!(
                "disconnect {} {} party {}",
                p.info("called").as_str().unwrap(),
                p.info("stateCode"),
                p.info("partyType")
            ),
            "fee" => "fee".to_owned(),
            e => format!("{e} {}", p.info("called").as_str().unwrap()),
        })
        .collect()
}

fn both_legs(end: &str) -> Vec<String> {
    [
        format!("callout {A}"),
        format!("alerting {A}"),
        format!("answer {A}"),
        format!("callout {B}"),
        format!("alerting {B}"),
        format!("answer {B}"),
        end.to_owned(),
        "fee".to_owned(),
    ]
    .to_vec()
}

#[tokio::test]
async fn both_answer_and_b_hangs_up_after_talking() {
    let sim = spawn_sim().await;
    let session = place_click_to_call(&sim, &body()).await;
    sim.advance("2m").await;
    assert_sequence(
        &both_legs(&format!("disconnect {A} 0 party 1")),
        &story(&sim, &session).await,
    );
    let pushes = sim.receiver.pushes_of(&session).await;
    let b_callout = pushes
        .iter()
        .find(|p| p.event_type() == "callout" && p.info("called") == B)
        .unwrap();
    assert_eq!(
        b_callout.info("caller"),
        B_DISPLAY,
        "B sees displayCalleeNbr"
    );
    // A answers at 6 s; B is called 0.5 s later, rings 2 s, answers 4 s later; 30 s of talk.
    let cdr = sim.receiver.cdr(&session);
    let expected = json!({
        "calleeNum": A, "fwdDisplayNum": B_DISPLAY, "fwdDstNum": B,
        "callOutStartTime": "2026-03-14 10:15:31", "callOutAnswerTime": "2026-03-14 10:15:37",
        "fwdStartTime": "2026-03-14 10:15:37", "fwdAlertingTime": "2026-03-14 10:15:39",
        "fwdAnswerTime": "2026-03-14 10:15:43", "callEndTime": "2026-03-14 10:16:13",
        "fwdUnaswRsn": 0, "ulFailReason": 0, "sipStatusCode": 0, "callOutUnaswRsn": 0,
        "serviceType": "002", "userData": "ticket-4410"
    });
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&cdr[k], v, "{k} in {cdr}");
    }
    assert!(cdr.get("failTime").is_none());
}

#[tokio::test]
async fn a_hangs_up_when_b_says_so() {
    let sim = spawn_sim().await;
    sim.set_phone(B, r#"{"outcome":"answer","talk_s":12,"hangup_by":"a"}"#)
        .await;
    let session = place_click_to_call(&sim, &body()).await;
    sim.advance("2m").await;
    assert_sequence(
        &both_legs(&format!("disconnect {A} 0 party 0")),
        &story(&sim, &session).await,
    );
    assert_eq!(
        sim.receiver.cdr(&session)["callEndTime"],
        "2026-03-14 10:15:55"
    );
}

#[tokio::test]
async fn a_leg_failures_use_the_calling_party_codes_and_never_call_b() {
    let cases = [
        ("busy", false, 8108, 486, 17, 2),
        ("no_answer", true, 8107, 480, 19, 2),
        ("unreachable", false, 8109, 408, 18, 2),
        ("powered_off", false, 8110, 480, 20, 2),
        ("not_exist", false, 8106, 404, 1, 2),
        ("rejected", true, 8111, 603, 21, 0),
        ("ring_timeout", true, 8003, 487, 19, 2),
    ];
    let sim = spawn_sim().await;
    for (outcome, rings, code, sip, q850, party) in cases {
        sim.reset().await;
        sim.set_phone(A, &json!({ "outcome": outcome }).to_string())
            .await;
        let session = place_click_to_call(&sim, &body()).await;
        sim.advance("3m").await;
        let mut expected = vec![format!("callout {A}")];
        if rings {
            expected.push(format!("alerting {A}"));
        }
        expected.push(format!("disconnect {A} {code} party {party}"));
        expected.push("fee".into());
        assert_sequence(&expected, &story(&sim, &session).await);
        let cdr = sim.receiver.cdr(&session);
        assert_eq!(
            (
                &cdr["ulFailReason"],
                &cdr["sipStatusCode"],
                &cdr["callOutUnaswRsn"]
            ),
            (&json!(code), &json!(sip), &json!(q850)),
            "{outcome}"
        );
        assert!(cdr.get("fwdDstNum").is_none() && cdr.get("fwdUnaswRsn").is_none());
        assert_eq!(cdr["serviceType"], "002");
    }
}

#[tokio::test]
async fn b_leg_failures_use_the_called_party_codes_with_q850_in_fwd_unasw_rsn() {
    let cases = [
        ("busy", false, 8102, 486, 17, 2),
        ("no_answer", true, 8101, 480, 19, 2),
        ("rejected", true, 8105, 603, 21, 1),
        ("ring_timeout", true, 8003, 487, 19, 2),
    ];
    let sim = spawn_sim().await;
    for (outcome, rings, code, sip, q850, party) in cases {
        sim.reset().await;
        sim.set_phone(B, &json!({ "outcome": outcome }).to_string())
            .await;
        let session = place_click_to_call(&sim, &body()).await;
        sim.advance("3m").await;
        let mut expected = vec![
            format!("callout {A}"),
            format!("alerting {A}"),
            format!("answer {A}"),
            format!("callout {B}"),
        ];
        if rings {
            expected.push(format!("alerting {B}"));
        }
        expected.push(format!("disconnect {A} {code} party {party}"));
        expected.push("fee".into());
        assert_sequence(&expected, &story(&sim, &session).await);
        let cdr = sim.receiver.cdr(&session);
        assert_eq!(
            (
                &cdr["ulFailReason"],
                &cdr["sipStatusCode"],
                &cdr["fwdUnaswRsn"],
                &cdr["callOutUnaswRsn"]
            ),
            (&json!(code), &json!(sip), &json!(q850), &json!(0)),
            "{outcome}"
        );
        assert_eq!(cdr["failTime"], cdr["callEndTime"], "{outcome}");
    }
}

#[tokio::test]
async fn a_giving_up_while_b_rings_is_8009_with_release_point_552() {
    let sim = spawn_sim().await;
    sim.set_phone(
        A,
        r#"{"outcome":"hangup_before_b_answer","hangup_after_ms":4000}"#,
    )
    .await;
    let session = place_click_to_call(&sim, &body()).await;
    sim.advance("1m").await;
    assert_sequence(
        &[
            format!("callout {A}"),
            format!("alerting {A}"),
            format!("answer {A}"),
            format!("callout {B}"),
            format!("alerting {B}"),
            format!("disconnect {A} 8009 party 0"),
            "fee".into(),
        ],
        &story(&sim, &session).await,
    );
    let cdr = sim.receiver.cdr(&session);
    assert_eq!(
        (&cdr["ulFailReason"], &cdr["sipStatusCode"]),
        (&json!(552), &json!(487))
    );
    // Before B rang: 553.
    sim.reset().await;
    sim.set_phone(
        A,
        r#"{"outcome":"hangup_before_b_answer","hangup_after_ms":1000}"#,
    )
    .await;
    let session = place_click_to_call(&sim, &body()).await;
    sim.advance("1m").await;
    assert_eq!(sim.receiver.cdr(&session)["ulFailReason"], 553);
}

#[tokio::test]
async fn max_duration_releases_with_8010_a_minute_after_the_last_minute_voice() {
    let sim = spawn_sim().await;
    sim.set_phone(B, r#"{"outcome":"answer","talk_s":600}"#)
        .await;
    let mut body = body();
    body["maxDuration"] = json!(2);
    let session = place_click_to_call(&sim, &body).await;
    sim.advance("5m").await;
    assert_sequence(
        &both_legs(&format!("disconnect {A} 8010 party 2")),
        &story(&sim, &session).await,
    );
    // B answered at 12.5 s: the last-minute voice at 72.5 s, the release at 132.5 s.
    let cdr = sim.receiver.cdr(&session);
    assert_eq!(cdr["callEndTime"], "2026-03-14 10:17:43");
    let timeline = sim.call(&session).await["timeline"].clone();
    let voice = timeline
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["detail"] == "lastMinVoice")
        .expect("the last-minute voice");
    assert_eq!(voice["at_ms"], 72_500);
}

#[tokio::test]
async fn play_pre_voice_delays_b_by_the_clip() {
    let sim = spawn_sim().await;
    let mut body = body();
    body["playPreVoice"] = json!("true");
    body["preVoice"] = json!("welcome.wav");
    let session = place_click_to_call(&sim, &body).await;
    sim.advance("2m").await;
    let timeline = sim.call(&session).await["timeline"].clone();
    let at = |detail: &str, event: &str| {
        timeline
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"] == event && e["detail"] == detail)
            .map(|e| e["at_ms"].as_u64().unwrap())
            .unwrap_or_else(|| panic!("{event} {detail} in {timeline}"))
    };
    let pre = at("preVoice", "playing");
    let b_callout = at("B leg", "callout");
    assert_eq!(pre, 6000);
    assert!(b_callout > 6500, "B waits for the preVoice: {b_callout}");
}

#[tokio::test]
async fn refusals_follow_the_validation_order() {
    let sim = spawn_sim_with(|c, _| c.apps[0].recording = false).await;
    let send = |body: Value| {
        let sim = &sim;
        async move {
            let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
            sim.post(CLICK2CALL, &headers, body.to_string()).await
        }
    };
    let with = |k: &str, v: Value| {
        let mut b = body();
        b[k] = v;
        b
    };
    send(with("callerNbr", json!("13900001234")))
        .await
        .assert_error(403, "1010024", "Invalid caller number.");
    send(with("calleeNbr", json!(A))).await.assert_error(
        403,
        "1010002",
        "Invalid request. calleeNbr",
    );
    send(with("displayCalleeNbr", json!("+861000000000")))
        .await
        .assert_error(403, "1010023", "Display number invalid.");
    send(with("waitVoice", json!("nope.wav")))
        .await
        .assert_error(403, "1010002", "Invalid request. waitVoice");
    let reply = send(with("recordFlag", json!("true"))).await;
    reply.assert_error(
        403,
        "1012012",
        "Application does not open recording function.",
    );
    assert_eq!(reply.body["sessionId"], "");
    assert_eq!(sim.call_count().await, 0);
    // The old v1.0 path stays unknown (spec §12).
    let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
    sim.post(
        "/rest/httpsessions/click2Call/v1.0",
        &headers,
        body().to_string(),
    )
    .await
    .assert_error(404, "1010006", "Invalid Rest API.");
}

#[tokio::test]
async fn a_click_to_call_holds_two_voice_ports() {
    let sim = spawn_sim().await;
    let mut b = body();
    b["returnIdlePort"] = json!("true");
    let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
    let reply = sim.post(CLICK2CALL, &headers, b.to_string()).await;
    assert_eq!(reply.body["idlePort"], 998);
}

async fn hang_up(sim: &TestSim, session: &str, party: &str) -> Reply {
    sim.post(
        &format!("/sim/v1/calls/{session}/hangup"),
        &[],
        json!({ "party": party }).to_string(),
    )
    .await
}

#[tokio::test]
async fn a_person_hangs_up_either_leg_through_the_control_api() {
    let sim = spawn_sim().await;
    // B hangs up mid-conversation (B answered at 12.5 s).
    let session = place_click_to_call(&sim, &body()).await;
    sim.advance("20s").await;
    assert_eq!(hang_up(&sim, &session, "b").await.status, 200);
    sim.advance("1m").await;
    assert_sequence(
        &both_legs(&format!("disconnect {A} 0 party 1")),
        &story(&sim, &session).await,
    );
    assert_eq!(
        sim.receiver.cdr(&session)["callEndTime"],
        "2026-03-14 10:15:51"
    );
    // A hangs up while B rings (B alerting at 8.5 s): 8009, release point 552.
    sim.reset().await;
    let session = place_click_to_call(&sim, &body()).await;
    sim.advance("10s").await;
    assert_eq!(hang_up(&sim, &session, "a").await.status, 200);
    sim.advance("1m").await;
    assert_eq!(sim.receiver.cdr(&session)["ulFailReason"], 552);
    // A verification call's callee hangs up mid-code: 8017; it has no B leg; an ended call: 409.
    sim.reset().await;
    let session = sim.place_call(&verify_body("4815")).await;
    sim.advance("9s").await;
    let no_b = hang_up(&sim, &session, "b").await;
    assert_eq!(no_b.status, 409, "{}", no_b.body);
    assert_eq!(hang_up(&sim, &session, "a").await.status, 200);
    sim.advance("1m").await;
    assert_eq!(sim.call(&session).await["state_code"], 8017);
    assert_eq!(hang_up(&sim, &session, "a").await.status, 409);
    assert_eq!(hang_up(&sim, "nope", "a").await.status, 404);
}

#[tokio::test]
async fn a_recorded_call_can_be_downloaded_while_retained_then_is_gone() {
    let sim = spawn_sim().await;
    let mut b = body();
    b["recordFlag"] = json!("true");
    b["recordHintTone"] = json!("welcome.wav");
    let session = place_click_to_call(&sim, &b).await;
    sim.advance("2m").await;
    let cdr = sim.receiver.cdr(&session);
    assert_eq!(cdr["recordFlag"], 1);
    let object = cdr["recordObjectName"].as_str().unwrap().to_owned();
    assert_eq!(object.len(), 27, "23 digits + .wav: {object}");
    assert_eq!(
        cdr["recordBucketName"],
        format!("sp-{}", APP_KEY.to_lowercase())
    );
    assert_eq!(cdr["recordDomain"], "ostor.huawei.com");
    let url = cdr["recordFileDownloadUrl"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&sim.base), "{url}");

    // The download API answers 301 with the address, not the file.
    let no_redirects = dialtone::tls::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ask = |object: &str, domain: &str| {
        let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
        let mut req = no_redirects.get(format!(
            "{}/rest/provision/voice/record/v1.0?fileName={object}&recordDomain={domain}",
            sim.base
        ));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let answer = ask(&object, "ostor.huawei.com").await.unwrap();
    assert_eq!(answer.status(), 301);
    assert_eq!(answer.headers()["location"], url.as_str());
    assert!(answer.bytes().await.unwrap().is_empty());

    // The file: A-law, 8 kHz, as long as the recorded talk (30 s after the hint).
    let file = sim.http.get(&url).send().await.unwrap();
    assert_eq!(file.headers()["content-type"], "audio/wav");
    let wav = file.bytes().await.unwrap();
    assert_eq!(
        u16::from_le_bytes([wav[20], wav[21]]),
        6,
        "WAVE_FORMAT_ALAW"
    );
    assert_eq!(wav.len(), 58 + 30 * 8000);

    // A wrong domain or an unknown file: 1016001; after the retention: gone too.
    let wrong = ask(&object, "example.com").await.unwrap();
    assert_eq!(wrong.status(), 404);
    let body: Value = serde_json::from_slice(&wrong.bytes().await.unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"resultcode": "1016001", "resultdesc": "The record does not exist."})
    );
    assert_eq!(
        ask("nope.wav", "ostor.huawei.com").await.unwrap().status(),
        404
    );
    sim.advance("168h").await;
    assert_eq!(
        ask(&object, "ostor.huawei.com").await.unwrap().status(),
        404
    );
    assert_eq!(sim.http.get(&url).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_recording_shorter_than_the_minimum_is_discarded() {
    let sim = spawn_sim().await;
    sim.set_phone(B, r#"{"outcome":"answer","talk_s":2}"#).await;
    let mut b = body();
    b["recordFlag"] = json!("true");
    let session = place_click_to_call(&sim, &b).await;
    sim.advance("2m").await;
    let cdr = sim.receiver.cdr(&session);
    assert_eq!(cdr["recordFlag"], 0);
    assert!(cdr.get("recordObjectName").is_none());
}

#[tokio::test]
async fn the_recording_download_refuses_a_missing_parameter_and_another_method() {
    let sim = spawn_sim().await;
    let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
    let mut req = sim.http.get(format!(
        "{}/rest/provision/voice/record/v1.0?recordDomain=ostor.huawei.com",
        sim.base
    ));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let reply = req.send().await.unwrap();
    assert_eq!(reply.status(), 403);
    let body: Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"resultcode": "1010002", "resultdesc": "Invalid request. fileName"})
    );
    let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
    sim.post(
        "/rest/provision/voice/record/v1.0?fileName=x.wav&recordDomain=ostor.huawei.com",
        &headers,
        "",
    )
    .await
    .assert_error(405, "1010006", "Invalid Rest API.");
    // Unauthenticated: the platform's auth codes.
    sim.get("/rest/provision/voice/record/v1.0?fileName=x.wav&recordDomain=ostor.huawei.com")
        .await
        .assert_error(
            400,
            "1023006",
            "Authorization not contained in the HTTP header.",
        );
}
