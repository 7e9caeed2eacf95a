//! callVerify validation: every documented bad input gets its code, and no call is created
//! (spec §4.1, §4.2).

use serde_json::{json, Value};

use crate::helpers::*;

/// Sends `body` (already broken) and asserts a 403 with `code`/`desc` and that no call exists.
async fn refused(body: String, code: &str, desc: &str) {
    let sim = spawn_sim().await;
    let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
    let reply = sim
        .post("/rest/httpsessions/callVerify/v1.0", &headers, body)
        .await;
    reply.assert_error(403, code, desc);
    assert_eq!(reply.body["sessionId"], "");
    assert_eq!(
        sim.call_count().await,
        0,
        "a refused request creates no call"
    );
    assert!(sim.receiver.pending().await.is_empty());
}

fn with(field: &str, value: Value) -> String {
    let mut body = verify_body("1234");
    body[field] = value;
    body.to_string()
}

fn without(field: &str) -> String {
    let mut body = verify_body("1234");
    body.as_object_mut().unwrap().remove(field);
    body.to_string()
}

macro_rules! bad_field {
    ($($name:ident: $body:expr => $param:literal;)*) => {$(
        #[tokio::test]
        async fn $name() {
            refused($body, "1010002", concat!("Invalid request. ", $param)).await;
        }
    )*};
}

bad_field! {
    display_number_missing: without("displayNbr") => "displayNbr";
    display_number_without_plus: with("displayNbr", json!("862087654321")) => "displayNbr";
    callee_number_missing: without("calleeNbr") => "calleeNbr";
    callee_number_too_short: with("calleeNbr", json!("+123456")) => "calleeNbr";
    callee_number_with_letters: with("calleeNbr", json!("+86139000O1234")) => "calleeNbr";
    callee_number_as_a_json_number: with("calleeNbr", json!(8613900001234u64)) => "calleeNbr";
    language_type_missing: without("languageType") => "languageType";
    language_type_not_configured: with("languageType", json!(99)) => "languageType";
    language_type_fractional: with("languageType", json!(2.5)) => "languageType";
    pre_tone_missing: without("preTone") => "preTone";
    pre_tone_not_wav: with("preTone", json!("welcome.mp3")) => "preTone";
    pre_tone_longer_than_128: with("preTone", json!(format!("{}.wav", "a".repeat(125)))) => "preTone";
    verify_code_missing: without("verifyCode") => "verifyCode";
    verify_code_with_a_letter: with("verifyCode", json!("48a7")) => "verifyCode";
    verify_code_of_one_digit: with("verifyCode", json!("4")) => "verifyCode";
    verify_code_of_nine_digits: with("verifyCode", json!("123456789")) => "verifyCode";
    verify_code_as_a_json_number: with("verifyCode", json!(4827)) => "verifyCode";
    pos_tone_not_wav: with("posTone", json!("bye")) => "posTone";
    times_above_nine: with("times", json!(10)) => "times";
    times_negative: with("times", json!(-1)) => "times";
    status_url_not_base64: with("statusUrl", json!("http://127.0.0.1/x")) => "statusUrl";
    status_url_not_http: with("statusUrl", json!(b64("ftp://127.0.0.1/x"))) => "statusUrl";
    status_url_without_host: with("statusUrl", json!(b64("http://"))) => "statusUrl";
    status_url_longer_than_128: with("statusUrl", json!(b64(&format!("http://h/{}", "a".repeat(100))))) => "statusUrl";
    fee_url_not_a_url: with("feeUrl", json!(b64("not a url"))) => "feeUrl";
    return_idle_port_not_a_flag: with("returnIdlePort", json!("yes")) => "returnIdlePort";
    user_data_longer_than_256: with("userData", json!("x".repeat(257))) => "userData";
    user_data_as_a_number: with("userData", json!(7781)) => "userData";
    unknown_pre_tone: with("preTone", json!("promo.wav")) => "preTone";
    unknown_pos_tone: with("posTone", json!("promo.wav")) => "posTone";
}

#[tokio::test]
async fn a_body_that_is_not_json_is_an_invalid_request() {
    refused(
        "displayNbr=+862087654321".into(),
        "1010002",
        "Invalid request.",
    )
    .await;
}

#[tokio::test]
async fn a_json_array_is_an_invalid_request() {
    refused("[1,2,3]".into(), "1010002", "Invalid request.").await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_an_invalid_request() {
    refused(
        with("padding", json!("x".repeat(70 * 1024))),
        "1010002",
        "Invalid request.",
    )
    .await;
}

#[tokio::test]
async fn an_unconfigured_display_number_is_1010023() {
    refused(
        with("displayNbr", json!("+861012345678")),
        "1010023",
        "Display number invalid.",
    )
    .await;
}

#[tokio::test]
async fn the_first_bad_field_in_table_order_is_the_one_named() {
    let mut body = verify_body("12a");
    body["displayNbr"] = json!("bad");
    refused(body.to_string(), "1010002", "Invalid request. displayNbr").await;
}

#[tokio::test]
async fn unknown_fields_null_fields_and_obsolete_bind_nbr_are_accepted() {
    let sim = spawn_sim().await;
    let mut body = verify_body("0042");
    body["bindNbr"] = json!("+862000000000");
    body["somethingNew"] = json!({"x": 1});
    body["posTone"] = Value::Null;
    body["returnIdlePort"] = json!(true);
    let reply = sim.call_verify(&body).await;
    assert_eq!(reply.body["resultcode"], "0", "{}", reply.body);
    assert_eq!(reply.body["idlePort"], 999);
    let call = sim.call(reply.body["sessionId"].as_str().unwrap()).await;
    assert_eq!(
        (call["verify_code"].as_str(), call["pos_tone"].as_str()),
        (Some("0042"), None)
    );
}

#[tokio::test]
async fn idle_port_is_only_returned_when_asked() {
    let sim = spawn_sim().await;
    let mut body = verify_body("1234");
    body.as_object_mut().unwrap().remove("returnIdlePort");
    let reply = sim.call_verify(&body).await;
    assert_eq!(reply.body["resultcode"], "0");
    assert!(reply.body.get("idlePort").is_none(), "{}", reply.body);
}

#[tokio::test]
async fn over_the_apps_call_cap_is_1020165_and_creates_no_call() {
    let sim = spawn_sim_with(|c, _| c.apps[0].max_concurrent_calls = 2).await;
    sim.place_call(&verify_body("11")).await;
    sim.place_call(&verify_body("22")).await;
    let third = sim.call_verify(&verify_body("33")).await;
    third.assert_error(
        403,
        "1020165",
        "The number of app_key voice call ports exceeds the upper limit.",
    );
    assert_eq!(sim.call_count().await, 2);
    // Once a call ends, its slot is free again.
    sim.advance("30s").await;
    assert_eq!(
        sim.call_verify(&verify_body("33")).await.body["resultcode"],
        "0"
    );
}

/// Huawei's own Python sample sends `"languageType": "2"`: accepted by default (spec §4.1).
#[tokio::test]
async fn digit_strings_are_accepted_by_default_and_refused_with_strict_types() {
    let mut body = verify_body("1234");
    body["languageType"] = json!("2");
    body["times"] = json!("1");
    let sim = spawn_sim().await;
    assert_eq!(sim.call_verify(&body).await.body["resultcode"], "0");

    let strict = spawn_sim_with(|c, _| c.api.lenient_types = false).await;
    strict
        .call_verify(&body)
        .await
        .assert_error(403, "1010002", "Invalid request. languageType");
    body["languageType"] = json!(2);
    strict
        .call_verify(&body)
        .await
        .assert_error(403, "1010002", "Invalid request. times");
}
