//! `X-Dialtone-Hint`: every refusal a newcomer meets explains itself in a header, while the body
//! stays exactly the platform's.

use dialtone::auth::aksk;
use dialtone::frequency::{FrequencyMode, FrequencyRule};
use serde_json::json;

use crate::helpers::*;

const VERIFY: &str = "/rest/httpsessions/callVerify/v1.0";

/// X-AKSK headers signed with `secret` over `nonce` and `created`, as a client would send them.
fn headers(secret: &str, nonce: &str, created: &str) -> Vec<(String, String)> {
    let digest = aksk::request_digest(secret, nonce, created);
    let (authorization, x_aksk) = aksk::client_headers(APP_KEY, &digest, nonce, created);
    vec![
        ("Authorization".into(), authorization),
        ("X-AKSK".into(), x_aksk),
    ]
}

fn now() -> String {
    aksk::format_created(dialtone::clock::transport_now())
}

#[track_caller]
fn hint(reply: &Reply) -> &str {
    reply
        .hint
        .as_deref()
        .unwrap_or_else(|| panic!("no X-Dialtone-Hint on {}", reply.body))
}

#[tokio::test]
async fn a_replayed_nonce_is_1010010_and_the_hint_says_to_send_a_fresh_one() {
    let sim = spawn_sim().await;
    let signed = headers(APP_SECRET, "N0NCE1", &now());
    let body = verify_body("4815").to_string();
    assert_eq!(sim.post(VERIFY, &signed, body.clone()).await.status, 200);
    let replay = sim.post(VERIFY, &signed, body).await;
    assert_eq!(
        replay.body,
        json!({"resultcode":"1010010","resultdesc":"Invalid digest.","sessionId":""})
    );
    let hint = hint(&replay);
    assert!(
        hint.starts_with("Nonce `N0NCE1` was already used by app k3VdT9wQx2LpR7mN4sB8cY1fHj6Z"),
        "{hint}"
    );
    assert!(
        hint.contains("send a fresh random Nonce with every request"),
        "{hint}"
    );
}

#[tokio::test]
async fn a_wrong_digest_is_1010010_and_the_hint_gives_the_string_to_sign_never_the_secret() {
    let sim = spawn_sim().await;
    let created = now();
    let reply = sim
        .post(
            VERIFY,
            &headers("wrong-secret", "ABC123", &created),
            verify_body("4815").to_string(),
        )
        .await;
    reply.assert_error(401, "1010010", "Invalid digest.");
    let hint = hint(&reply);
    assert!(
        hint.contains(&format!("HMAC over the string `ABC123{created}`")),
        "{hint}"
    );
    assert!(
        hint.contains("Base64(HMAC-SHA256(app_secret, Nonce + Created))"),
        "{hint}"
    );
    assert!(
        !hint.contains(APP_SECRET),
        "the secret never leaves: {hint}"
    );
}

#[tokio::test]
async fn a_stale_created_is_1010013_and_the_hint_measures_both_readings_and_the_window() {
    let sim = spawn_sim().await;
    let reply = sim
        .post(
            VERIFY,
            &headers(APP_SECRET, "OLD1", "2020-01-01T00:00:00Z"),
            verify_body("4815").to_string(),
        )
        .await;
    reply.assert_error(401, "1010013", "Time out limit.");
    let hint = hint(&reply);
    assert!(
        hint.starts_with("Created `2020-01-01T00:00:00Z` is "),
        "{hint}"
    );
    assert!(
        hint.contains("behind real time read as UTC, and "),
        "{hint}"
    );
    assert!(hint.contains("behind read as Beijing time (UTC+8); one reading must be within 300 s (auth.created_window_s)"), "{hint}");
}

#[tokio::test]
async fn a_locked_app_is_1020176_and_the_hint_says_until_when_and_how_to_clear_it() {
    let sim = spawn_sim().await;
    for i in 0..5 {
        let forged = headers("wrong-secret", &format!("F{i}"), &now());
        let reply = sim
            .post(VERIFY, &forged, verify_body("4815").to_string())
            .await;
        assert_eq!(reply.body["resultcode"], "1010010");
    }
    let locked = sim.call_verify(&verify_body("4815")).await;
    locked.assert_error(403, "1020176", "Authentication failed, try again later");
    assert_eq!(
        hint(&locked),
        "app_key k3VdT9wQx2LpR7mN4sB8cY1fHj6Z is locked for requests from 127.0.0.1 until \
         2026-03-14T10:45:31Z (simulated time) after 5 authentication failures within 600 s \
         (auth.lockout); `dialtone reset` (POST /sim/v1/reset) clears it"
    );
    sim.reset().await;
    assert_eq!(sim.call_verify(&verify_body("4815")).await.status, 200);
}

#[tokio::test]
async fn a_frequency_release_is_accepted_with_a_hint_naming_the_rule_and_the_way_out() {
    let sim = spawn_sim_with(|c, _| {
        c.frequency.rules = vec![FrequencyRule {
            scope: dialtone::call::FrequencyScope::Callee,
            max_calls: 1,
            window_s: 86_400,
        }]
    })
    .await;
    let first = sim.call_verify(&verify_body("4815")).await;
    assert_eq!(
        (first.body["resultcode"].as_str(), first.hint.as_deref()),
        (Some("0"), None)
    );
    let second = sim.call_verify(&verify_body("4815")).await;
    assert_eq!(
        second.body["resultcode"], "0",
        "async mode accepts, then releases"
    );
    assert_eq!(
        hint(&second),
        "accepted, then released with stateCode 7001 \"Developer call frequency restricted.\": \
         frequency rule `callee` (max_calls 1 per callee in window_s 86400, [frequency] rules) \
         exceeded for dialtone_sp01/+8613900001234: 1 placed in the window; the next call is allowed \
         from 2026-03-15 10:15:31 (simulated time); `dialtone reset` (POST /sim/v1/reset) \
         clears the counts, or call another number"
    );
}

#[tokio::test]
async fn a_sync_frequency_refusal_is_1013118_with_the_same_explanation() {
    let sim = spawn_sim_with(|c, _| {
        c.frequency.mode = FrequencyMode::Sync;
        c.frequency.rules[0].max_calls = 1;
    })
    .await;
    sim.place_call(&verify_body("4815")).await;
    let refused = sim.call_verify(&verify_body("4815")).await;
    refused.assert_error(403, "1013118", "Service number call frequency restricted.");
    assert!(
        hint(&refused).starts_with("frequency rule `callee` (max_calls 1 per callee"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_callee_without_the_plus_is_1010002_and_the_hint_shows_the_value_and_the_format() {
    let sim = spawn_sim().await;
    let mut body = verify_body("4815");
    body["calleeNbr"] = json!("13900001234");
    let reply = sim.call_verify(&body).await;
    reply.assert_error(403, "1010002", "Invalid request. calleeNbr");
    assert_eq!(
        hint(&reply),
        "calleeNbr is \"13900001234\": expected a string in global format, `+` then the country \
         code and number (7 to 15 digits), e.g. \"+8613900001234\" rather than \"13900001234\""
    );
    let mut body = verify_body("4815");
    body.as_object_mut()
        .expect("an object")
        .remove("verifyCode");
    let reply = sim.call_verify(&body).await;
    reply.assert_error(403, "1010002", "Invalid request. verifyCode");
    assert!(hint(&reply).starts_with("verifyCode is missing: expected a string of 2 to 8 digits"));
}

#[tokio::test]
async fn an_accepted_call_carries_no_hint() {
    let sim = spawn_sim().await;
    let reply = sim.call_verify(&verify_body("4815")).await;
    assert_eq!((reply.status, reply.hint), (200, None));
}

#[tokio::test]
async fn missing_headers_are_1023xxx_and_the_hint_shows_both_headers() {
    let sim = spawn_sim().await;
    let reply = sim.post(VERIFY, &[], verify_body("4815").to_string()).await;
    reply.assert_error(
        400,
        "1023006",
        "Authorization not contained in the HTTP header.",
    );
    let hint = hint(&reply);
    assert!(
        hint.starts_with(r#"expected two headers: Authorization: AKSK realm="SDP",profile="UsernameToken",type="Appkey" and X-AKSK: UsernameToken Username="<app_key>","#),
        "{hint}"
    );
}

#[tokio::test]
async fn a_display_number_not_of_the_app_is_1010023_and_the_hint_lists_the_apps_numbers() {
    let sim = spawn_sim().await;
    let mut body = verify_body("4815");
    body["displayNbr"] = json!("+861000000000");
    let reply = sim.call_verify(&body).await;
    reply.assert_error(403, "1010023", "Display number invalid.");
    assert_eq!(
        hint(&reply),
        "displayNbr +861000000000 is not a number of app k3VdT9wQx2LpR7mN4sB8cY1fHj6Z: use one of \
         +862087654321, +862087654322 (apps[].numbers in the configuration)"
    );
}

#[tokio::test]
async fn legacy_logins_explain_a_wrong_password_and_a_login_too_soon() {
    let sim = spawn_sim().await;
    let login = |password: &'static str| {
        let path = format!("/rest/fastlogin/v1.0?app_key={APP_KEY}&username=dialtone_dev01");
        let sim = &sim;
        async move {
            sim.post(&path, &[("Authorization".into(), password.into())], "")
                .await
        }
    };
    let wrong = login("guess").await;
    assert_eq!(wrong.body["resultcode"], "1010010");
    assert!(
        hint(&wrong).starts_with("username and password (the Authorization header) are not those"),
        "{wrong:?}"
    );
    assert_eq!(login("Dev#Pass2026").await.status, 200);
    let soon = login("Dev#Pass2026").await;
    assert_eq!(soon.body["resultcode"], "1010009");
    assert!(
        hint(&soon).contains("logged in less than 60 s ago (auth.legacy.login_interval_s)"),
        "{soon:?}"
    );
}

#[tokio::test]
async fn a_wrong_path_or_method_is_1010006_and_the_hint_lists_the_paths_or_the_method() {
    let sim = spawn_sim().await;
    let typo = sim
        .post("/rest/httpsessions/callVerify/v2.0", &[], "{}")
        .await;
    typo.assert_error(404, "1010006", "Invalid Rest API.");
    assert!(
        hint(&typo).starts_with(
            "nothing is served at /rest/httpsessions/callVerify/v2.0: the platform paths are \
             /rest/httpsessions/callVerify/v1.0,"
        ),
        "{typo:?}"
    );
    let get = sim.get(VERIFY).await;
    get.assert_error(405, "1010006", "Invalid Rest API.");
    assert_eq!(hint(&get), "this platform API takes POST, not GET");
}

#[tokio::test]
async fn business_refusals_say_what_to_change() {
    let sim = spawn_sim_with(|c, _| c.apps[0].max_concurrent_calls = 1).await;
    let signed = || signed_headers(APP_KEY, APP_SECRET, &nonce());

    let stop = sim
        .post(
            "/rest/httpsessions/callStop/v2.0",
            &signed(),
            r#"{"sessionid":"nope","signal":"call_stop"}"#,
        )
        .await;
    stop.assert_error(403, "1020001", "Parameter error.");
    assert!(
        hint(&stop).starts_with("no call nope of app k3VdT9wQx2LpR7mN4sB8cY1fHj6Z is in progress")
    );

    let notify = json!({"displayNbr": DISPLAY, "calleeNbr": CALLEE,
        "playInfoList": [{"templateId": "tpl_nope", "templateParas": []}]});
    let reply = sim
        .post(
            "/rest/httpsessions/callnotify/v2.0",
            &signed(),
            notify.to_string(),
        )
        .await;
    assert_eq!(reply.body["resultcode"], "1012003");
    assert!(
        hint(&reply).starts_with("no template `tpl_nope` for app"),
        "{reply:?}"
    );

    sim.place_call(&verify_body("4815")).await;
    let busy = sim.call_verify(&verify_body("4815")).await;
    assert_eq!(busy.body["resultcode"], "1020165");
    assert!(
        hint(&busy).contains("has 1 calls in progress, its max_concurrent_calls"),
        "{busy:?}"
    );
}

#[tokio::test]
async fn each_authentication_failure_says_which_of_how_many_before_the_lock() {
    let sim = spawn_sim().await;
    for i in 1..=5 {
        let forged = headers("wrong-secret", &format!("C{i}"), &now());
        let reply = sim
            .post(VERIFY, &forged, verify_body("4815").to_string())
            .await;
        reply.assert_error(401, "1010010", "Invalid digest.");
        let hint = hint(&reply);
        // The explanation of the failure itself comes first, then the count.
        assert!(hint.starts_with("PasswordDigest does not match"), "{hint}");
        let then = match i {
            5 => "this failure locked",
            _ => "at 5 Dialtone locks",
        };
        assert!(
            hint.ends_with(&format!(
                "; authentication failure {i} of 5 within 600 s from this address (auth.lockout); \
                 {then} app_key k3VdT9wQx2LpR7mN4sB8cY1fHj6Z for this address until \
                 2026-03-14T10:45:31Z (simulated time); `dialtone reset` clears it"
            )),
            "{hint}"
        );
    }
    // What does not count towards the lock carries no count.
    sim.reset().await;
    let invalid = sim.call_verify(&json!({"bindNbr": "+8613900001234"})).await;
    assert!(
        !invalid
            .hint
            .clone()
            .unwrap_or_default()
            .contains("authentication failure"),
        "invalid requests do not count: {:?}",
        invalid.hint
    );
    assert_eq!(invalid.body["resultcode"], "1010002");
}
