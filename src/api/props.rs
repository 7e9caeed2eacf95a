//! Property tests of the request parsers: whatever the body, parsing never panics, and a refusal
//! is always one of the platform's documented codes with its text, never an internal error.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::call_notify::CallNotifyIn;
use super::call_verify::CallVerifyIn;
use super::click_to_call::ClickToCallIn;
use crate::error::ApiError;

/// Every field name the platform's call APIs read, so generated bodies hit real checks.
const FIELDS: &[&str] = &[
    "displayNbr",
    "calleeNbr",
    "languageType",
    "preTone",
    "posTone",
    "times",
    "verifyCode",
    "statusUrl",
    "feeUrl",
    "returnIdlePort",
    "userData",
    "playInfoList",
    "templateId",
    "templateParas",
    "notifyVoice",
    "collectInd",
    "replayAfterCollection",
    "collectContentTriggerReplaying",
    "displayCalleeNbr",
    "callerNbr",
    "maxDuration",
    "lastMinVoice",
    "lastMinToUE",
    "playPreVoice",
    "preVoice",
    "waitVoice",
    "recordFlag",
    "recordHintTone",
    "calleeMedia",
    "partyTypeRequiredInDisconnect",
    "sessionid",
    "signal",
];

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec![
            "+8613800000001",
            "8613800000001",
            "welcome.wav",
            "1234",
            "http://127.0.0.1:9/s",
            "https://x/",
            "call_stop",
            "true",
            "0",
            "",
            "both",
            "TPL001",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ]
    .boxed()
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body as a client might send it: an object of known fields with values of any shape.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::btree_map(prop::sample::select(FIELDS.to_vec()), json_value(), 0..12)
            .prop_map(|m| {
                let o: Map<String, Value> = m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                serde_json::to_vec(&Value::Object(o)).expect("a Value serialises")
            }),
        json_value().prop_map(|v| serde_json::to_vec(&v).expect("a Value serialises")),
        prop::collection::vec(any::<u8>(), 0..256),
    ]
}

fn documented(result: Result<(), ApiError>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        prop_assert_ne!(e.resultcode(), "1010001", "an internal error: {:?}", e);
        prop_assert!(
            e.resultcode().len() == 7 && e.resultcode().bytes().all(|b| b.is_ascii_digit())
        );
        prop_assert!(!e.resultdesc().is_empty());
    }
    Ok(())
}

proptest! {
    // proptest's default of 256 cases each; PROPTEST_CASES raises it.

    #[test]
    fn call_bodies_never_panic_and_refusals_carry_a_documented_code(
        bytes in body(),
        lenient in any::<bool>(),
    ) {
        let languages = BTreeMap::from([("1".to_owned(), "zh_CN".to_owned())]);
        documented(CallVerifyIn::parse(&bytes, "app", &languages, lenient).map(|_| ()))?;
        documented(CallNotifyIn::parse(&bytes, "app", lenient).map(|_| ()))?;
        documented(ClickToCallIn::parse(&bytes, "app", lenient).map(|_| ()))?;
        documented(super::call_stop::parse(&bytes).map(|_| ()))?;
    }
}
