//! Callees that behave like real phones: every outcome, how behaviour is chosen, and the
//! platform's own controls (frequency limits, blacklist).

use dialtone::call::scenario::{Behaviour, Pattern, Rule};
use dialtone::call::Outcome;
use serde_json::{json, Value};

use crate::helpers::*;

/// One row of the outcome table (spec §5.3) as an app server sees it.
struct Expect {
    behaviour: &'static str,
    events: &'static [&'static str],
    /// Simulated seconds from acceptance to disconnect; answered calls played to the end release
    /// 9.32 s after answer (times 1: welcome tone, one reading, bye tone).
    end_s: f64,
    state_code: u64,
    sip: u64,
    q850: u64,
    alerting: bool,
    answered: bool,
}

const PLACED_ANSWERED: &[&str] = &["callout", "alerting", "answer", "disconnect", "fee"];
const RANG: &[&str] = &["callout", "alerting", "disconnect", "fee"];
const NO_RING: &[&str] = &["callout", "disconnect", "fee"];
const NEVER_PLACED: &[&str] = &["disconnect", "fee"];

#[tokio::test]
async fn every_outcome_pushes_its_events_state_code_and_cdr() {
    let rows = [
        Expect {
            behaviour: r#"{"outcome":"answer"}"#,
            events: PLACED_ANSWERED,
            end_s: 6.0 + 9.32,
            state_code: 0,
            sip: 0,
            q850: 0,
            alerting: true,
            answered: true,
        },
        Expect {
            behaviour: r#"{"outcome":"hangup_during_playback","hangup_after_ms":4000}"#,
            events: PLACED_ANSWERED,
            end_s: 10.0,
            state_code: 8017,
            sip: 0,
            q850: 0,
            alerting: true,
            answered: true,
        },
        Expect {
            behaviour: r#"{"outcome":"slow_answer","ring_ms":20000}"#,
            events: PLACED_ANSWERED,
            end_s: 22.0 + 9.32,
            state_code: 0,
            sip: 0,
            q850: 0,
            alerting: true,
            answered: true,
        },
        Expect {
            behaviour: r#"{"outcome":"busy"}"#,
            events: NO_RING,
            end_s: 2.0,
            state_code: 8102,
            sip: 486,
            q850: 17,
            alerting: false,
            answered: false,
        },
        Expect {
            behaviour: r#"{"outcome":"no_answer"}"#,
            events: RANG,
            end_s: 32.0,
            state_code: 8101,
            sip: 480,
            q850: 19,
            alerting: true,
            answered: false,
        },
        Expect {
            behaviour: r#"{"outcome":"ring_timeout"}"#,
            events: RANG,
            end_s: 62.0,
            state_code: 8003,
            sip: 487,
            q850: 19,
            alerting: true,
            answered: false,
        },
        Expect {
            behaviour: r#"{"outcome":"rejected"}"#,
            events: RANG,
            end_s: 5.0,
            state_code: 8105,
            sip: 603,
            q850: 21,
            alerting: true,
            answered: false,
        },
        Expect {
            behaviour: r#"{"outcome":"suspended"}"#,
            events: RANG,
            end_s: 5.0,
            state_code: 8105,
            sip: 603,
            q850: 21,
            alerting: true,
            answered: false,
        },
        Expect {
            behaviour: r#"{"outcome":"powered_off"}"#,
            events: NO_RING,
            end_s: 2.0,
            state_code: 8104,
            sip: 480,
            q850: 20,
            alerting: false,
            answered: false,
        },
        Expect {
            behaviour: r#"{"outcome":"unreachable"}"#,
            events: NO_RING,
            end_s: 2.0,
            state_code: 8103,
            sip: 408,
            q850: 18,
            alerting: false,
            answered: false,
        },
        Expect {
            behaviour: r#"{"outcome":"weak_signal"}"#,
            events: NO_RING,
            end_s: 2.0,
            state_code: 8103,
            sip: 408,
            q850: 18,
            alerting: false,
            answered: false,
        },
        Expect {
            behaviour: r#"{"outcome":"not_exist"}"#,
            events: NO_RING,
            end_s: 2.0,
            state_code: 8100,
            sip: 404,
            q850: 1,
            alerting: false,
            answered: false,
        },
        Expect {
            behaviour: r#"{"outcome":"blacklisted"}"#,
            events: NEVER_PLACED,
            end_s: 0.5,
            state_code: 7004,
            sip: 0,
            q850: 0,
            alerting: false,
            answered: false,
        },
    ];
    let sim = TestSim::start().await;
    for row in rows {
        sim.reset().await;
        sim.set_phone(CALLEE, row.behaviour).await;
        let mut body = verify_body("4827");
        body["times"] = json!(1);
        let session = sim.place_call(&body).await;
        sim.advance("5m").await;
        let pushes = sim.receiver.pushes_of(&session).await;
        let events: Vec<&str> = pushes.iter().map(Push::event_type).collect();
        assert_sequence(row.events, &events);

        let disconnect = pushes
            .iter()
            .find(|p| p.event_type() == "disconnect")
            .expect("disconnect");
        assert_eq!(
            disconnect.info("stateCode").as_u64(),
            Some(row.state_code),
            "{}",
            row.behaviour
        );
        let end = start_plus(row.end_s);
        assert_eq!(
            disconnect.info("timestamp"),
            &json!(end),
            "{}",
            row.behaviour
        );

        let cdr = pushes
            .last()
            .and_then(|p| p.cdr_of(&session))
            .expect("a CDR")
            .clone();
        let field = |k: &str| cdr.get(k).cloned().unwrap_or(Value::Null);
        assert_eq!(
            (
                field("ulFailReason"),
                field("sipStatusCode"),
                field("callOutUnaswRsn")
            ),
            (json!(row.state_code), json!(row.sip), json!(row.q850)),
            "{}",
            row.behaviour
        );
        assert_eq!(field("callEndTime"), json!(end), "{}", row.behaviour);
        let placed = row.events[0] == "callout";
        assert_eq!(
            field("callOutStartTime").is_string(),
            placed,
            "{}",
            row.behaviour
        );
        assert_eq!(
            field("callOutAlertingTime").is_string(),
            row.alerting,
            "{}",
            row.behaviour
        );
        assert_eq!(
            field("callOutAnswerTime").is_string(),
            row.answered,
            "{}",
            row.behaviour
        );
        // failTime equals callEndTime for calls not answered, and is absent otherwise.
        let expected_fail = if row.answered {
            Value::Null
        } else {
            json!(end)
        };
        assert_eq!(field("failTime"), expected_fail, "{}", row.behaviour);
        if !row.answered {
            assert_eq!(
                (field("ttsPlayTimes"), field("ttsTransDuration")),
                (json!(0), json!(0)),
                "{}",
                row.behaviour
            );
        }
    }
}

/// `2026-03-14 10:15:31` plus `s` seconds, truncated to the second.
fn start_plus(s: f64) -> String {
    let start: chrono::DateTime<chrono::Utc> = START.parse().unwrap();
    (start + chrono::Duration::milliseconds((s * 1000.0) as i64))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[tokio::test]
async fn a_hangup_mid_code_counts_the_readings_heard() {
    let sim = TestSim::start().await;
    // Reading 1 ("your password is 4 8 2 7") runs 2.415-7.144 s after answer, reading 2 from
    // 8.144 s: a hang-up at 9.144 s has heard 4.729 s + 1 s of code.
    sim.set_phone(
        CALLEE,
        r#"{"outcome":"hangup_during_playback","hangup_after_ms":9144}"#,
    )
    .await;
    let session = sim.place_call(&verify_body("4827")).await;
    sim.advance("1m").await;
    let pushes = sim.receiver.pushes_of(&session).await;
    let cdr = pushes.last().and_then(|p| p.cdr_of(&session)).unwrap();
    assert_eq!(
        (
            cdr["ttsPlayTimes"].as_u64(),
            cdr["ttsTransDuration"].as_u64()
        ),
        (Some(2), Some(6))
    );
    assert_eq!(cdr["callOutAnswerTime"], "2026-03-14 10:15:37");
    assert!(cdr.get("failTime").is_none());
}

#[tokio::test]
async fn magic_numbers_choose_outcomes_without_any_setup() {
    let sim = TestSim::start().await;
    let mut body = verify_body("12");
    body["calleeNbr"] = json!("+8613900008102");
    let busy = sim.place_call(&body).await;
    body["calleeNbr"] = json!("+8613900008104");
    let off = sim.place_call(&body).await;
    sim.advance("1m").await;
    assert_eq!(sim.call(&busy).await["state_code"], 8102);
    assert_eq!(sim.call(&off).await["state_code"], 8104);
    assert_eq!(sim.call(&off).await["behaviour_from"]["from"], "magic");
}

#[tokio::test]
async fn an_api_rule_beats_a_config_rule_which_beats_a_magic_number_which_beats_the_default() {
    let sim = TestSim::start_with(|c, _| {
        c.scenarios.push(Rule {
            pattern: Pattern::parse("*8102").unwrap(),
            text: "*8102".into(),
            behaviour: Behaviour::single(Outcome::PoweredOff),
        });
    })
    .await;
    let place = |n: &'static str| {
        let mut body = verify_body("12");
        body["calleeNbr"] = json!(n);
        body
    };
    let by_config = sim.place_call(&place("+8613900008102")).await; // config rule over magic busy
    let by_magic = sim.place_call(&place("+8613900008103")).await;
    let by_default = sim.place_call(&place("+8613900001234")).await;
    sim.set_phone("+8613900008102", r#"{"outcome":"rejected"}"#)
        .await;
    let by_api = sim.place_call(&place("+8613900008102")).await;
    sim.advance("1m").await;
    let code_and_source = |v: Value| {
        (
            v["state_code"].as_u64(),
            v["behaviour_from"]["from"].as_str().map(str::to_owned),
        )
    };
    assert_eq!(
        code_and_source(sim.call(&by_config).await),
        (Some(8104), Some("config".into()))
    );
    assert_eq!(
        code_and_source(sim.call(&by_magic).await),
        (Some(8103), Some("magic".into()))
    );
    assert_eq!(
        code_and_source(sim.call(&by_default).await),
        (Some(0), Some("default".into()))
    );
    assert_eq!(
        code_and_source(sim.call(&by_api).await),
        (Some(8105), Some("api".into()))
    );
    // Deleting the API rule falls back to the config rule.
    let deleted = sim
        .http
        .delete(format!("{}/sim/v1/phones/+8613900008102", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let again = sim.place_call(&place("+8613900008102")).await;
    sim.advance("1m").await;
    assert_eq!(
        code_and_source(sim.call(&again).await),
        (Some(8104), Some("config".into()))
    );
}

#[tokio::test]
async fn a_sequence_is_busy_first_then_answers_so_retry_logic_can_be_tested() {
    let sim = TestSim::start().await;
    sim.set_phone(
        CALLEE,
        r#"{"sequence":[{"outcome":"busy"},{"outcome":"answer"}]}"#,
    )
    .await;
    let first = sim.place_call(&verify_body("12")).await;
    sim.advance("1m").await;
    let retry = sim.place_call(&verify_body("12")).await;
    sim.advance("1m").await;
    assert_sequence(
        &["callout", "disconnect", "fee"],
        &sim.receiver.events_of(&first).await,
    );
    assert_sequence(PLACED_ANSWERED, &sim.receiver.events_of(&retry).await);
}

#[tokio::test]
async fn a_bad_phone_rule_is_a_clear_400() {
    let sim = TestSim::start().await;
    for (number, body) in [
        (CALLEE, r#"{"outcome":"bussy"}"#),
        (CALLEE, r#"{"outcome":"busy","ring_ms":1}"#),
        (CALLEE, r#"{"sequence":[]}"#),
        (CALLEE, r#"not json"#),
        ("12345", r#"{"outcome":"busy"}"#),
    ] {
        let resp = sim
            .http
            .put(format!("{}/sim/v1/phones/{number}", sim.base))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let err: Value =
            serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null);
        assert!(
            err["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}: {err}"
        );
    }
}

#[tokio::test]
async fn reset_forgets_calls_rules_and_time_and_starts_ids_again() {
    let sim = TestSim::start().await;
    sim.set_phone(CALLEE, r#"{"outcome":"busy"}"#).await;
    let before = sim.place_call(&verify_body("12")).await;
    sim.advance("1h").await;
    sim.reset().await;
    assert_eq!(sim.call_count().await, 0);
    assert_eq!(sim.get("/sim/v1/clock").await.body["now_ms"], 0);
    assert_eq!(
        sim.get("/sim/v1/deliveries")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        sim.get("/sim/v1/phones").await.body["api"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let after = sim.place_call(&verify_body("12")).await;
    assert_eq!(
        after, before,
        "a reset server hands out the same seeded ids as a fresh one"
    );
    sim.advance("1m").await;
    assert_eq!(
        sim.call(&after).await["state_code"],
        0,
        "the busy rule is gone"
    );
}

#[tokio::test]
async fn a_callee_frequency_limit_releases_the_eleventh_call_with_7001() {
    let sim = TestSim::start_with(|c, _| {
        c.frequency.rules = vec![dialtone::frequency::FrequencyRule {
            scope: dialtone::call::FrequencyScope::Callee,
            max_calls: 10,
            window_s: 86_400,
        }];
    })
    .await;
    for _ in 0..10 {
        sim.place_call(&verify_body("12")).await;
        sim.advance("1m").await;
    }
    let eleventh = sim.place_call(&verify_body("12")).await;
    sim.advance("1m").await;
    assert_sequence(
        &["disconnect", "fee"],
        &sim.receiver.events_of(&eleventh).await,
    );
    let call = sim.call(&eleventh).await;
    assert_eq!(
        (call["state_code"].as_u64(), call["state_desc"].as_str()),
        (Some(7001), Some("Developer call frequency restricted."))
    );
    // Another callee is not affected; after 24 h the first one can be called again.
    let mut other = verify_body("12");
    other["calleeNbr"] = json!("+8613900009999");
    let fine = sim.place_call(&other).await;
    sim.advance("24h").await;
    let later = sim.place_call(&verify_body("12")).await;
    sim.advance("1m").await;
    assert_eq!(sim.call(&fine).await["state_code"], 0);
    assert_eq!(sim.call(&later).await["state_code"], 0);
}

#[tokio::test]
async fn in_sync_mode_an_exceeded_rule_refuses_with_1013118_and_creates_no_call() {
    let sim = TestSim::start_with(|c, _| {
        c.frequency.mode = dialtone::frequency::FrequencyMode::Sync;
        c.frequency.rules = vec![dialtone::frequency::FrequencyRule {
            scope: dialtone::call::FrequencyScope::DisplayNumber,
            max_calls: 2,
            window_s: 3600,
        }];
    })
    .await;
    sim.place_call(&verify_body("12")).await;
    sim.place_call(&verify_body("12")).await;
    let refused = sim.call_verify(&verify_body("12")).await;
    refused.assert_error(403, "1013118", "Service number call frequency restricted.");
    assert_eq!(refused.body["sessionId"], "");
    assert_eq!(sim.call_count().await, 2);
}

#[tokio::test]
async fn app_and_developer_rules_release_with_7002_and_7001_in_async_mode() {
    for (scope, code) in [
        (dialtone::call::FrequencyScope::App, 7002),
        (dialtone::call::FrequencyScope::Developer, 7001),
        (dialtone::call::FrequencyScope::DisplayNumber, 7003),
    ] {
        let sim = TestSim::start_with(|c, _| {
            c.frequency.rules = vec![dialtone::frequency::FrequencyRule {
                scope,
                max_calls: 1,
                window_s: 60,
            }];
        })
        .await;
        sim.place_call(&verify_body("12")).await;
        let second = sim.place_call(&verify_body("12")).await;
        sim.advance("1s").await;
        assert_eq!(sim.call(&second).await["state_code"], code, "{scope:?}");
    }
}

#[tokio::test]
async fn a_blacklisted_callee_gets_only_a_disconnect_with_7004() {
    let sim = TestSim::start_with(|c, _| {
        c.blacklist = vec![Pattern::parse("+86139000012*").unwrap()];
    })
    .await;
    let session = sim.place_call(&verify_body("12")).await;
    sim.advance("1m").await;
    let pushes = sim.receiver.pushes_of(&session).await;
    assert_sequence(
        &["disconnect", "fee"],
        &pushes.iter().map(Push::event_type).collect::<Vec<_>>(),
    );
    assert_eq!(pushes[0].info("stateCode"), 7004);
    assert_eq!(pushes[0].info("stateDesc"), "The callee is blacklisted.");
    assert!(pushes[1]
        .cdr_of(&session)
        .unwrap()
        .get("callOutStartTime")
        .is_none());
}

#[test]
fn assert_sequence_shows_expected_and_actual_side_by_side() {
    let failure = std::panic::catch_unwind(|| {
        assert_sequence(
            &["callout", "alerting", "answer"],
            &["callout", "disconnect"],
        )
    });
    let message = failure
        .unwrap_err()
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert!(
        message.contains("expected") && message.contains("actual"),
        "{message}"
    );
    assert!(
        message.contains("  1 | alerting")
            && message.contains("| disconnect  <== first difference"),
        "{message}"
    );
    assert!(
        message.contains("  2 | answer") && message.contains("| -"),
        "{message}"
    );
}
