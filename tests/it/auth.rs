//! Both generations of authentication, through the real HTTP API (spec §3).

use serde_json::json;

use crate::helpers::*;

const CALL_VERIFY: &str = "/rest/httpsessions/callVerify/v1.0";

fn no_lockout(c: &mut dialtone::Config, _: &PushReceiver) {
    c.auth.lockout.enabled = false;
}

async fn send(sim: &TestSim, authorization: Option<&str>, x_aksk: Option<&str>) -> Reply {
    let mut headers = Vec::new();
    if let Some(a) = authorization {
        headers.push(("Authorization".to_owned(), a.to_owned()));
    }
    if let Some(x) = x_aksk {
        headers.push(("X-AKSK".to_owned(), x.to_owned()));
    }
    sim.post(CALL_VERIFY, &headers, verify_body("1234").to_string())
        .await
}

#[tokio::test]
async fn each_malformed_header_gets_its_own_code_and_creates_no_call() {
    let sim = spawn_sim_with(no_lockout).await;
    let good_auth = r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#;
    let x = |attrs: &str| format!("UsernameToken {attrs}");
    let full = r#"Username="k3VdT9wQx2LpR7mN4sB8cY1fHj6Z",PasswordDigest="abc=",Nonce="ABC123",Created="2026-03-14T10:15:30Z""#;
    type Case<'a> = (Option<String>, Option<String>, u16, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            None,
            Some(x(full)),
            400,
            "1023006",
            "Authorization not contained in the HTTP header.",
        ),
        (
            Some(r#"realm="SDP",profile="UsernameToken",type="Appkey""#.into()),
            Some(x(full)),
            400,
            "1023013",
            "WSSE not contained in Authorization.",
        ),
        (
            Some(r#"AKSK profile="UsernameToken",type="Appkey""#.into()),
            Some(x(full)),
            400,
            "1023007",
            "realm not contained in Authorization.",
        ),
        (
            Some(r#"AKSK realm="XYZ",profile="UsernameToken",type="Appkey""#.into()),
            Some(x(full)),
            400,
            "1023009",
            "The value of realm in Authorization must be SDP.",
        ),
        (
            Some(r#"AKSK realm="SDP",type="Appkey""#.into()),
            Some(x(full)),
            400,
            "1023008",
            "profile not contained in Authorization.",
        ),
        (
            Some(r#"AKSK realm="SDP",profile="Digest",type="Appkey""#.into()),
            Some(x(full)),
            400,
            "1023010",
            "The value of profile in Authorization must be UsernameToken.",
        ),
        (
            Some(r#"AKSK realm="SDP",profile="UsernameToken""#.into()),
            Some(x(full)),
            400,
            "1023012",
            "type not contained in Authorization.",
        ),
        (
            Some(r#"AKSK realm="SDP",profile="UsernameToken",type="Token""#.into()),
            Some(x(full)),
            400,
            "1023011",
            "The value of type in Authorization must be app_key.",
        ),
        (
            Some(good_auth.into()),
            None,
            400,
            "1023033",
            "HTTP header not found X-AKSK field.",
        ),
        (
            Some(good_auth.into()),
            Some(full.into()),
            400,
            "1023033",
            "HTTP header not found X-AKSK field.",
        ),
        (
            Some(good_auth.into()),
            Some(x(
                r#"PasswordDigest="abc=",Nonce="ABC123",Created="2026-03-14T10:15:30Z""#,
            )),
            400,
            "1023034",
            "UserName not contained in X-AKSK.",
        ),
        (
            Some(good_auth.into()),
            Some(x(
                r#"Username="k3VdT9wQx2LpR7mN4sB8cY1fHj6Z",PasswordDigest="abc=",Created="2026-03-14T10:15:30Z""#,
            )),
            400,
            "1023035",
            "Nonce not contained in X-AKSK.",
        ),
        (
            Some(good_auth.into()),
            Some(x(
                r#"Username="k3VdT9wQx2LpR7mN4sB8cY1fHj6Z",PasswordDigest="abc=",Nonce="not-alnum!",Created="2026-03-14T10:15:30Z""#,
            )),
            400,
            "1023035",
            "Nonce not contained in X-AKSK.",
        ),
        (
            Some(good_auth.into()),
            Some(x(
                r#"Username="k3VdT9wQx2LpR7mN4sB8cY1fHj6Z",PasswordDigest="abc=",Nonce="ABC123""#,
            )),
            400,
            "1023036",
            "Created not contained in X-AKSK.",
        ),
        (
            Some(good_auth.into()),
            Some(x(
                r#"Username="k3VdT9wQx2LpR7mN4sB8cY1fHj6Z",Nonce="ABC123",Created="2026-03-14T10:15:30Z""#,
            )),
            400,
            "1023037",
            "PasswordDigest not contained in X-AKSK.",
        ),
        (
            Some(good_auth.into()),
            Some(x(
                r#"Username="nosuchapp",PasswordDigest="abc=",Nonce="ABC123",Created="2026-03-14T10:15:30Z""#,
            )),
            401,
            "1010003",
            "Invalid app_key.",
        ),
    ];
    for (authorization, x_aksk, status, code, desc) in cases {
        let reply = send(&sim, authorization.as_deref(), x_aksk.as_deref()).await;
        reply.assert_error(status, code, desc);
        assert_eq!(
            reply.body["sessionId"], "",
            "callVerify errors carry an empty sessionId"
        );
    }
    assert_eq!(sim.call_count().await, 0);
}

#[tokio::test]
async fn a_wrong_digest_is_refused_with_1010010() {
    let sim = spawn_sim().await;
    let headers = signed_headers(APP_KEY, "not-the-secret", &nonce());
    let reply = sim
        .post(CALL_VERIFY, &headers, verify_body("1234").to_string())
        .await;
    reply.assert_error(401, "1010010", "Invalid digest.");
    assert_eq!(sim.call_count().await, 0);
}

#[tokio::test]
async fn a_created_ten_minutes_old_is_refused_with_1010013_but_utc_plus_8_is_fine() {
    let sim = spawn_sim().await;
    let sign = |created: String| {
        let n = nonce();
        let digest = dialtone::auth::aksk::request_digest(APP_SECRET, &n, &created);
        let (a, x) = dialtone::auth::aksk::client_headers(APP_KEY, &digest, &n, &created);
        vec![("Authorization".to_owned(), a), ("X-AKSK".to_owned(), x)]
    };
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let now = dialtone::clock::transport_now();
    let stale = sim
        .post(
            CALL_VERIFY,
            &sign(fmt(now - chrono::Duration::minutes(10))),
            verify_body("1234").to_string(),
        )
        .await;
    stale.assert_error(401, "1010013", "Time out limit.");
    let beijing = sim
        .post(
            CALL_VERIFY,
            &sign(fmt(now + chrono::Duration::hours(8))),
            verify_body("1234").to_string(),
        )
        .await;
    assert_eq!(beijing.body["resultcode"], "0", "{}", beijing.body);
    let fractional = sim
        .post(
            CALL_VERIFY,
            &sign(now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
            verify_body("1234").to_string(),
        )
        .await;
    assert_eq!(fractional.body["resultcode"], "0", "{}", fractional.body);
}

#[tokio::test]
async fn a_replayed_nonce_is_refused_with_1010010() {
    let sim = spawn_sim().await;
    let headers = signed_headers(APP_KEY, APP_SECRET, "REPLAY0001");
    let first = sim
        .post(CALL_VERIFY, &headers, verify_body("1234").to_string())
        .await;
    assert_eq!(first.body["resultcode"], "0");
    let again = sim
        .post(CALL_VERIFY, &headers, verify_body("1234").to_string())
        .await;
    again.assert_error(401, "1010010", "Invalid digest.");
    assert_eq!(sim.call_count().await, 1);
}

async fn login(sim: &TestSim) -> Reply {
    sim.post(
        &format!("/rest/fastlogin/v1.0?app_key={APP_KEY}&username=dialtone_dev01&format=json"),
        &[("Authorization".into(), "Dev#Pass2026".into())],
        "",
    )
    .await
}

async fn refresh(sim: &TestSim, refresh_token: &str) -> Reply {
    sim.post(
        "/omp/oauth/refresh",
        &[("Content-Type".into(), "application/x-www-form-urlencoded".into())],
        format!("app_key={APP_KEY}&app_secret={APP_SECRET}&grant_type=refresh_token&refresh_token={refresh_token}"),
    )
    .await
}

async fn call_with_token(sim: &TestSim, token: &str) -> Reply {
    sim.post(
        &format!("{CALL_VERIFY}?app_key={APP_KEY}&access_token={token}"),
        &[],
        verify_body("1234").to_string(),
    )
    .await
}

#[tokio::test]
async fn legacy_login_call_refresh_then_the_old_token_is_rejected_and_the_new_one_works() {
    let sim = spawn_sim().await;
    let pair = login(&sim).await;
    assert_eq!(pair.status, 200);
    assert_eq!(pair.body["expires_in"], "172800");
    assert!(
        pair.body.get("resultcode").is_none(),
        "a legacy success has no resultcode"
    );
    let access = pair.body["access_token"].as_str().unwrap().to_owned();
    let refresh_token = pair.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(access.len(), 32);

    assert_eq!(call_with_token(&sim, &access).await.body["resultcode"], "0");

    let renewed = refresh(&sim, &refresh_token).await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let new_access = renewed.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new_access, access);

    call_with_token(&sim, &access)
        .await
        .assert_error(401, "1010004", "Invalid access_token.");
    refresh(&sim, &refresh_token)
        .await
        .assert_error(401, "1010004", "Invalid access_token.");
    assert_eq!(
        call_with_token(&sim, &new_access).await.body["resultcode"],
        "0"
    );
    assert_eq!(sim.call_count().await, 2);
}

#[tokio::test]
async fn a_second_login_within_a_minute_is_flow_controlled() {
    let sim = spawn_sim().await;
    assert_eq!(login(&sim).await.status, 200);
    login(&sim)
        .await
        .assert_error(403, "1010009", "No more APIs can be invoked.");
    sim.advance("60s").await;
    assert_eq!(login(&sim).await.status, 200);
}

#[tokio::test]
async fn an_access_token_expires_after_48_simulated_hours_and_logout_ends_it_at_once() {
    let sim = spawn_sim().await;
    let access = login(&sim).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    sim.advance("47h").await;
    assert_eq!(call_with_token(&sim, &access).await.body["resultcode"], "0");
    sim.advance("1h").await;
    call_with_token(&sim, &access)
        .await
        .assert_error(401, "1010004", "Invalid access_token.");

    let access = login(&sim).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = sim
        .post(
            &format!("/rest/logout/v1.0?app_key={APP_KEY}&access_token={access}"),
            &[],
            "",
        )
        .await;
    assert_eq!(
        (out.status, out.body.clone()),
        (200, json!({"resultcode": "0", "resultdesc": "Success"}))
    );
    call_with_token(&sim, &access)
        .await
        .assert_error(401, "1010004", "Invalid access_token.");
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_the_sandbox_prefix_behaves_the_same() {
    let sim = spawn_sim().await;
    let bad = sim
        .post(
            &format!("/sandbox/rest/fastlogin/v1.0?app_key={APP_KEY}&username=dialtone_dev01"),
            &[("Authorization".into(), "guess".into())],
            "",
        )
        .await;
    bad.assert_error(401, "1010010", "Invalid digest.");
    let missing = sim
        .post(
            &format!("/rest/fastlogin/v1.0?app_key={APP_KEY}"),
            &[("Authorization".into(), "x".into())],
            "",
        )
        .await;
    missing.assert_error(403, "1010002", "Invalid request. username");
    let sandbox = sim
        .post(
            &format!("/sandbox/rest/fastlogin/v1.0?app_key={APP_KEY}&username=dialtone_dev01"),
            &[("Authorization".into(), "Dev#Pass2026".into())],
            "",
        )
        .await;
    assert_eq!(sandbox.status, 200);
}

#[tokio::test]
async fn five_failures_lock_that_address_for_the_app_key_for_thirty_minutes() {
    let sim = spawn_sim().await;
    for _ in 0..5 {
        let bad = sim
            .post(
                CALL_VERIFY,
                &signed_headers(APP_KEY, "wrong", &nonce()),
                verify_body("1234").to_string(),
            )
            .await;
        bad.assert_error(401, "1010010", "Invalid digest.");
    }
    let good = sim.call_verify(&verify_body("1234")).await;
    good.assert_error(403, "1020176", "Authentication failed, try again later");
    assert_eq!(good.body["sessionId"], "");
    // That address is locked for the key: even the legacy login is refused.
    login(&sim)
        .await
        .assert_error(403, "1020176", "Authentication failed, try again later");
    // The app's real server, at another address, keeps working (spec §3.3): the app_key is in
    // every push, so a lock on the key alone would let anyone shut the app out.
    let elsewhere = dialtone::tls::http_client_builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let mut req = elsewhere
        .post(format!("{}{CALL_VERIFY}", sim.base))
        .body(verify_body("1234").to_string());
    for (k, v) in signed_headers(APP_KEY, APP_SECRET, &nonce()) {
        req = req.header(k, v);
    }
    let answer: serde_json::Value =
        serde_json::from_slice(&req.send().await.unwrap().bytes().await.unwrap()).unwrap();
    assert_eq!(answer["resultcode"], "0", "{answer}");
    sim.advance("29m").await;
    sim.call_verify(&verify_body("1234")).await.assert_error(
        403,
        "1020176",
        "Authentication failed, try again later",
    );
    sim.advance("1m").await;
    assert_eq!(
        sim.call_verify(&verify_body("1234")).await.body["resultcode"],
        "0"
    );
    assert_eq!(sim.call_count().await, 2);
}

#[tokio::test]
async fn a_disabled_app_is_unavailable() {
    let sim = spawn_sim_with(|c, _| c.apps[0].enabled = false).await;
    sim.call_verify(&verify_body("1234")).await.assert_error(
        403,
        "1010021",
        "Application unavailable.",
    );
}
