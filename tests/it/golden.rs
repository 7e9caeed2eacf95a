//! Golden sequences: every outcome's pushes, byte for byte, against `fixtures/golden/`.
//! `DIALTONE_BLESS=1 cargo test --test it golden` rewrites them after an intentional change.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::helpers::*;

#[derive(Deserialize)]
struct Scenario {
    name: String,
    about: String,
    /// `verify` (default), `notify` or `click2call`: which API places the call.
    #[serde(default)]
    api: Api,
    /// The behaviour of the number called (a click-to-call's A).
    phone: Value,
    /// A click-to-call's B behaviour (default: answers).
    #[serde(default)]
    b_phone: Option<Value>,
    #[serde(default)]
    request: serde_json::Map<String, Value>,
    #[serde(default = "one")]
    calls: usize,
}

fn one() -> usize {
    1
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Api {
    #[default]
    Verify,
    Notify,
    Click2call,
}

/// B of the click-to-call scenarios.
const B: &str = "+8613700005678";

impl Api {
    fn path(self) -> &'static str {
        match self {
            Api::Verify => "/rest/httpsessions/callVerify/v1.0",
            Api::Notify => "/rest/httpsessions/callnotify/v2.0",
            Api::Click2call => "/rest/httpsessions/click2Call/v2.0",
        }
    }

    /// The base request: the spec's example of each API (§4.4, §11.6, §12.5).
    fn body(self) -> Value {
        match self {
            Api::Verify => verify_body("4827"),
            Api::Notify => json!({"displayNbr": DISPLAY, "calleeNbr": CALLEE,
                "userData": "bill-2291",
                "playInfoList": [{"templateId": "tpl_bill",
                    "templateParas": ["张先生", "128.50"], "collectInd": 1,
                    "replayAfterCollection": "true", "collectContentTriggerReplaying": "1"}]}),
            Api::Click2call => json!({"displayNbr": DISPLAY, "callerNbr": CALLEE,
                "displayCalleeNbr": "+862087654322", "calleeNbr": B,
                "partyTypeRequiredInDisconnect": "true", "userData": "ticket-4410"}),
        }
    }
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden")
}

/// Runs a scenario on a fresh (reset) sim and renders what the receiver got.
async fn replay(sim: &TestSim, s: &Scenario) -> String {
    sim.reset().await;
    sim.set_phone(CALLEE, &s.phone.to_string()).await;
    if let Some(b) = &s.b_phone {
        sim.set_phone(B, &b.to_string()).await;
    }
    let mut body = s.api.body();
    for (k, v) in &s.request {
        body[k] = v.clone();
    }
    for i in 0..s.calls {
        if i > 0 {
            sim.advance("1m").await;
        }
        let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
        let reply = sim.post(s.api.path(), &headers, body.to_string()).await;
        assert_eq!(reply.body["resultcode"], "0", "{}: {}", s.name, reply.body);
    }
    sim.advance("10m").await;
    // Verification scenarios keep their original header (their files predate the other APIs).
    let api = match s.api {
        Api::Verify => String::new(),
        other => format!("# api: POST {}\n", other.path()),
    };
    let b_phone = match &s.b_phone {
        Some(b) => format!("# B phone: {b}\n"),
        None => String::new(),
    };
    let mut out = format!(
        "# {}: {}\n{api}# phone: {}\n{b_phone}# request: {}\n# calls: {}, then advance 10m\n",
        s.name, s.about, s.phone, body, s.calls
    );
    for push in sim.receiver.log() {
        out.push_str(&format!("\nPOST {}\n{}\n", push.path, push.raw));
    }
    out
}

#[tokio::test]
async fn every_outcome_matches_its_golden_sequence_byte_for_byte() {
    let scenarios: Vec<Scenario> = serde_json::from_str(
        &std::fs::read_to_string(golden_dir().join("scenarios.json")).unwrap(),
    )
    .unwrap();
    let bless = std::env::var_os("DIALTONE_BLESS").is_some();
    let sim = TestSim::start().await;
    let mut mismatches = Vec::new();
    for s in &scenarios {
        let actual = replay(&sim, s).await;
        let path = golden_dir().join(format!("{}.txt", s.name));
        if bless {
            std::fs::write(&path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!(
                "--- {} expected\n{expected}\n+++ actual\n{actual}",
                path.display()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "golden sequences differ (if intended: DIALTONE_BLESS=1 cargo test --test it golden):\n{}",
        mismatches.join("\n")
    );
}

#[tokio::test]
async fn every_golden_file_has_a_scenario_and_every_outcome_is_covered() {
    let scenarios: Vec<Scenario> = serde_json::from_str(
        &std::fs::read_to_string(golden_dir().join("scenarios.json")).unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    for outcome in [
        "answer",
        "hangup_during_playback",
        "slow_answer",
        "busy",
        "no_answer",
        "ring_timeout",
        "rejected",
        "powered_off",
        "unreachable",
        "not_exist",
        "blacklisted",
    ] {
        assert!(names.contains(&outcome), "no golden scenario for {outcome}");
    }
    // Every digit-collection case of spec §11.4 and every row of the §12.3 table.
    for case in [
        "notify_replay_then_done",
        "notify_no_key",
        "notify_hash_ends_collection",
        "notify_inter_digit_timeout",
        "notify_no_collection",
        "notify_hangup_mid_segment",
        "c2c_b_hangs_up",
        "c2c_a_hangs_up",
        "c2c_a_busy",
        "c2c_a_no_answer",
        "c2c_a_unreachable",
        "c2c_a_powered_off",
        "c2c_a_not_exist",
        "c2c_a_rejected",
        "c2c_a_ring_timeout",
        "c2c_b_busy",
        "c2c_b_rejected",
        "c2c_a_gives_up",
        "c2c_max_duration",
        "c2c_blacklisted",
    ] {
        assert!(names.contains(&case), "no golden scenario for {case}");
    }
    for entry in std::fs::read_dir(golden_dir()).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        if let Some(name) = file.strip_suffix(".txt") {
            assert!(names.contains(&name), "{file} has no scenario");
        }
    }
}

/// The same scenario run twice, on two servers started with the same seed and pushing to the
/// same receiver port: identical pushes (bodies and signature headers), journals and audio.
#[tokio::test]
async fn the_same_seed_and_scenario_give_identical_pushes_journals_and_audio() {
    let mut receiver = PushReceiver::start().await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let sim = TestSim::start_on(receiver, |_, _| {}).await;
        sim.set_phone(
            "+8613900005555",
            r#"{"sequence":[{"outcome":"busy"},{"outcome":"answer"}]}"#,
        )
        .await;
        sim.receiver.reply_with(500); // every status push dropped, the CDRs retried
        let callees = [
            "+8613900001234",
            "+8613900005555",
            "+8613900008017",
            "+8613900005555",
            "+8613900008101",
        ];
        for (i, callee) in callees.iter().enumerate() {
            let mut body = verify_body(&format!("{}", 1000 + i));
            body["calleeNbr"] = json!(callee);
            sim.place_call(&body).await;
            sim.advance("7s").await;
        }
        sim.advance("30m").await;
        sim.receiver.reply_with(200);
        sim.advance("1h").await;
        let pushes: Vec<String> = sim
            .receiver
            .log()
            .iter()
            .map(|p| {
                format!(
                    "{} {:?} {:?} {}",
                    p.path, p.headers["authorization"], p.headers["x-aksk"], p.raw
                )
            })
            .collect();
        let mut journal = sim.get("/sim/v1/deliveries").await.body;
        for entry in journal.as_array_mut().unwrap() {
            // The one measured quantity: real time spent on the wire.
            entry.as_object_mut().unwrap().remove("latency_ms");
        }
        let calls = sim.get("/sim/v1/calls").await.body;
        let mut audio = Vec::new();
        for call in calls.as_array().unwrap() {
            let url = format!(
                "{}/sim/v1/calls/{}/audio.wav",
                sim.base,
                call["session_id"].as_str().unwrap()
            );
            audio.push(
                sim.http
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap(),
            );
        }
        assert!(
            audio.iter().any(|a| a.len() > 100_000),
            "some call was heard at length"
        );
        assert!(pushes.len() > 20, "{}", pushes.len());
        runs.push((pushes, journal.to_string(), calls.to_string(), audio));
        receiver = sim.stop_and_keep_receiver().await;
        receiver.forget().await;
    }
    let (first, second) = (&runs[0], &runs[1]);
    assert_sequence(&first.0, &second.0);
    assert_eq!(first.1, second.1, "journals differ");
    assert_eq!(first.2, second.2, "call listings differ");
    assert!(first.3 == second.3, "audio differs");
}
