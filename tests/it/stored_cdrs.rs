//! Schema v5 keeps most CDRs as their fields, not their text: what the database gives back, to
//! Dialtone and to a user's plain `sqlite3` through the `cdrs` view, is still byte for byte the
//! CDR that was pushed, for every kind of call.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::helpers::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dialtone-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn verify_to(callee: &str) -> Value {
    let mut body = verify_body("4827");
    body["calleeNbr"] = json!(callee);
    body
}

/// The `cdrs` view's columns and the FeeInfo field each one shows.
const VIEW_COLUMNS: &[(&str, &str)] = &[
    ("direction", "direction"),
    ("sp_id", "spId"),
    ("app_key", "appKey"),
    ("icid", "icid"),
    ("bind_num", "bindNum"),
    ("caller_num", "callerNum"),
    ("callee_num", "calleeNum"),
    ("call_out_start_time", "callOutStartTime"),
    ("call_out_alerting_time", "callOutAlertingTime"),
    ("call_out_answer_time", "callOutAnswerTime"),
    ("call_end_time", "callEndTime"),
    ("fail_time", "failTime"),
    ("ul_fail_reason", "ulFailReason"),
    ("sip_status_code", "sipStatusCode"),
    ("call_out_unasw_rsn", "callOutUnaswRsn"),
    ("record_flag", "recordFlag"),
    ("tts_play_times", "ttsPlayTimes"),
    ("tts_trans_duration", "ttsTransDuration"),
    ("service_type", "serviceType"),
    ("host_name", "hostName"),
    ("user_data", "userData"),
];

fn sql_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(r) => json!(r),
        ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
        ValueRef::Blob(_) => json!("<blob>"),
    }
}

#[tokio::test]
async fn every_kind_of_cdr_reads_back_from_the_database_byte_for_byte_as_pushed() {
    let dir = scratch("stored-cdrs");
    let data = dir.clone();
    let sim = TestSim::start_with(move |c: &mut dialtone::Config, _: &PushReceiver| {
        c.store.ephemeral = false;
        c.store.data_dir = data;
    })
    .await;
    // (what it is, its sessionId, whether its CDR is kept as fields)
    let mut calls: Vec<(&str, String, bool)> = Vec::new();
    for (kind, callee, behaviour) in [
        ("answered", "+8613900000001", r#"{"outcome":"answer"}"#),
        ("busy", "+8613900000002", r#"{"outcome":"busy"}"#),
        ("no answer", "+8613900000003", r#"{"outcome":"no_answer"}"#),
        ("failed", "+8613900000004", r#"{"outcome":"powered_off"}"#),
        (
            "hung up early",
            "+8613900000005",
            r#"{"outcome":"hangup_during_playback","hangup_after_ms":4000}"#,
        ),
    ] {
        sim.set_phone(callee, behaviour).await;
        calls.push((kind, sim.place_call(&verify_to(callee)).await, true));
    }
    sim.set_phone("+8613900000006", r#"{"outcome":"answer"}"#)
        .await;
    let notification = json!({
        "displayNbr": DISPLAY, "calleeNbr": "+8613900000006", "userData": "bill \"2291\"\n",
        "playInfoList": [{"notifyVoice": "welcome.wav"}]
    });
    calls.push((
        "notification",
        place_notify(&sim, &notification).await,
        true,
    ));
    sim.set_phone("+8613900000007", r#"{"outcome":"answer","digits":["1"]}"#)
        .await;
    let collecting = json!({
        "displayNbr": DISPLAY, "calleeNbr": "+8613900000007",
        "playInfoList": [{"notifyVoice": "bye.wav", "collectInd": 1}]
    });
    // Digit collection adds fields (dynIVR…) the columns do not hold: kept as text.
    calls.push((
        "notification collecting digits",
        place_notify(&sim, &collecting).await,
        false,
    ));
    let click_to_call = json!({
        "displayNbr": DISPLAY, "callerNbr": "+8613900000008",
        "displayCalleeNbr": "+862087654322", "calleeNbr": "+8613700005678",
    });
    // A B leg (fwd…, serviceType 002): kept as text.
    calls.push((
        "click-to-call",
        place_click_to_call(&sim, &click_to_call).await,
        false,
    ));
    sim.advance("10m").await;
    let batches: Vec<Push> = sim
        .receiver
        .log()
        .into_iter()
        .filter(|p| p.event_type() == "fee")
        .collect();
    for (kind, session, _) in &calls {
        assert!(
            batches.iter().any(|b| b.cdr_of(session).is_some()),
            "the {kind} call's CDR was pushed"
        );
    }
    sim.stop_and_keep_receiver().await;

    // Dialtone's own reader: the CDR made again from its fields by the code that pushed it.
    let store = dialtone::store::Store::open(&dir).expect("the data directory opens again");
    let from_dialtone = |session: &str| -> String {
        store
            .call(session)
            .expect("readable")
            .expect("stored")
            .ended
            .expect("ended")
            .fee_json
    };
    // A user's sqlite3: no function of Dialtone's.
    let plain = rusqlite::Connection::open(dir.join(dialtone::store::DB_FILE)).expect("opens");
    let from_sqlite = |session: &str| -> String {
        plain
            .query_row(
                "SELECT fee_json FROM cdrs WHERE session_id = ?1",
                [session],
                |r| r.get(0),
            )
            .expect("the cdrs view in plain SQLite")
    };
    for batch in &batches {
        let sessions: Vec<&str> = batch.body["feeLst"]
            .as_array()
            .expect("feeLst")
            .iter()
            .map(|c| c["sessionId"].as_str().expect("sessionId"))
            .collect();
        let joined = |read: &dyn Fn(&str) -> String| {
            let cdrs: Vec<String> = sessions.iter().map(|s| read(s)).collect();
            format!(r#"{{"eventType":"fee","feeLst":[{}]}}"#, cdrs.join(","))
        };
        assert_eq!(joined(&from_dialtone), batch.raw, "Dialtone's reader");
        assert_eq!(joined(&from_sqlite), batch.raw, "the cdrs view");
    }
    for (kind, session, as_fields) in &calls {
        let pushed = batches
            .iter()
            .find_map(|b| b.cdr_of(session))
            .expect("pushed");
        // Every column of the view shows the pushed field (NULL for an absent one).
        let columns: Vec<&str> = VIEW_COLUMNS.iter().map(|(c, _)| *c).collect();
        let row: Vec<Value> = plain
            .query_row(
                &format!(
                    "SELECT {} FROM cdrs WHERE session_id = ?1",
                    columns.join(", ")
                ),
                [session],
                |r| {
                    (0..columns.len())
                        .map(|i| r.get_ref(i).map(sql_value))
                        .collect()
                },
            )
            .expect("a row");
        for ((column, field), value) in VIEW_COLUMNS.iter().zip(row) {
            assert_eq!(value, pushed[field], "the {kind} call's {column}");
        }
        let text_kept: bool = plain
            .query_row(
                "SELECT fee_json IS NOT NULL FROM calls WHERE session_id = ?1",
                [session],
                |r| r.get(0),
            )
            .expect("the call");
        assert_eq!(!text_kept, *as_fields, "how the {kind} call's CDR is kept");
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
