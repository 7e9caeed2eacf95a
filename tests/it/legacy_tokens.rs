//! Every platform operation also works with a legacy access token in the query string (spec
//! §3.2), as old app servers send it.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn click_to_call_call_stop_and_the_recording_download_accept_a_legacy_token() {
    let sim = spawn_sim().await;
    let token = sim.legacy_token().await;
    let auth = format!("app_key={APP_KEY}&access_token={token}");
    let c2c = json!({"displayNbr": DISPLAY, "callerNbr": CALLEE,
        "displayCalleeNbr": "+862087654322", "calleeNbr": "+8613700005678", "recordFlag": "true"});
    let placed = sim
        .post(
            &format!("/rest/httpsessions/click2Call/v2.0?{auth}"),
            &[],
            c2c.to_string(),
        )
        .await;
    assert_eq!(placed.body["resultcode"], "0", "{}", placed.body);
    let session = placed.body["sessionId"].as_str().unwrap().to_owned();
    sim.advance("1m").await;
    let cdr = sim.receiver.cdr(&session);
    let object = cdr["recordObjectName"].as_str().unwrap().to_owned();
    let download = dialtone::tls::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!(
            "{}/rest/provision/voice/record/v1.0?{auth}&fileName={object}&recordDomain=ostor.huawei.com",
            sim.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 301);

    // callStop with a token: a second click-to-call, stopped while A rings.
    let placed = sim
        .post(
            &format!("/rest/httpsessions/click2Call/v2.0?{auth}"),
            &[],
            c2c.to_string(),
        )
        .await;
    let session = placed.body["sessionId"].as_str().unwrap().to_owned();
    sim.advance("3s").await;
    let stopped = sim
        .post(
            &format!("/rest/httpsessions/callStop/v2.0?{auth}"),
            &[],
            json!({"sessionid": session, "signal": "call_stop"}).to_string(),
        )
        .await;
    assert_eq!(
        stopped.body,
        json!({"resultcode": "0", "resultdesc": "Success"})
    );
    // A wrong token is the platform's 1010004 everywhere.
    sim.post(
        &format!("/rest/httpsessions/callStop/v2.0?app_key={APP_KEY}&access_token=nope"),
        &[],
        json!({"sessionid": session, "signal": "call_stop"}).to_string(),
    )
    .await
    .assert_error(401, "1010004", "Invalid access_token.");
}
