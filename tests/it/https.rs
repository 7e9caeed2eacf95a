//! HTTPS both ways: pushes to `https://` receivers (`push.tls_verify`, `push.ca_file`), and
//! Dialtone serving HTTPS from `server.tls_cert`/`tls_key` or `--tls-self-signed`.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cli::{lines_until, spawn_lines, spawn_lines_with};
use crate::helpers::*;

/// A call whose pushes go to `receiver`, placed on `sim`: its session id.
async fn call_pushing_to(sim: &TestSim, receiver: &PushReceiver) -> String {
    let mut body = verify_body("4827");
    body["statusUrl"] = json!(b64(&receiver.url("/voice/status")));
    sim.place_call(&body).await
}

/// The first push attempt the stream reports.
async fn first_attempt(stream: &mut StreamClient) -> Value {
    let messages = stream.until(|m| m["kind"] == "push").await;
    messages.last().expect("a push message").clone()
}

#[tokio::test]
async fn an_https_receiver_trusted_through_push_ca_file_gets_signed_pushes() {
    let certificate = test_certificate();
    let receiver = PushReceiver::start_tls(&certificate).await;
    let sim = TestSim::start_with(|c, _| {
        c.push.tls_verify = true;
        c.push.ca_file = Some(certificate.cert.clone());
    })
    .await;
    let url = receiver.url("/voice/status");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let session = call_pushing_to(&sim, &receiver).await;
    let callout = receiver.next().await;
    assert!(callout.concerns(&session));
    assert_eq!(callout.event_type(), "callout");
    callout.assert_signed(APP_SECRET, &url);
}

#[tokio::test]
async fn with_tls_verify_an_untrusted_receiver_fails_as_tls_and_is_not_retried_by_fidelity() {
    let receiver = PushReceiver::start_tls(&test_certificate()).await;
    let sim = TestSim::start_with(|c, _| c.push.tls_verify = true).await;
    let mut stream = StreamClient::connect(&sim, "kinds=push").await;

    let session = call_pushing_to(&sim, &receiver).await;
    let attempt = first_attempt(&mut stream).await;
    assert_eq!(attempt["error"], "tls", "{attempt}");
    // The platform's status pushes get one attempt.
    assert_eq!(attempt["outcome"], "dropped", "{attempt}");

    let journal = sim
        .get(&format!("/sim/v1/deliveries?session_id={session}"))
        .await
        .body;
    let first = &journal.as_array().expect("a list")[0];
    assert_eq!(first["error"], "tls", "{first}");
    assert_eq!(first["url"], receiver.url("/voice/status"));
    assert!(first["response_status"].is_null(), "{first}");
    assert!(receiver.log().is_empty(), "nothing reached the receiver");
}

#[tokio::test]
async fn with_tls_verify_and_a_retry_policy_an_untrusted_receiver_is_retried_and_fails_again() {
    let receiver = PushReceiver::start_tls(&test_certificate()).await;
    let sim = TestSim::start_with(|c, _| {
        c.push.tls_verify = true;
        c.status_push.retry = dialtone::push::retry::RetrySchedule::dev();
    })
    .await;
    let mut stream = StreamClient::connect(&sim, "kinds=push").await;

    call_pushing_to(&sim, &receiver).await;
    let attempt = first_attempt(&mut stream).await;
    assert_eq!(
        (&attempt["error"], &attempt["outcome"], &attempt["attempt"]),
        (&json!("tls"), &json!("failed_will_retry"), &json!(1)),
        "{attempt}"
    );
    assert!(attempt["next_attempt_at"].is_string(), "{attempt}");
    sim.advance("2s").await;
    let retry = first_attempt(&mut stream).await;
    assert_eq!(
        (&retry["error"], &retry["attempt"]),
        (&json!("tls"), &json!(2)),
        "{retry}"
    );
    assert!(receiver.log().is_empty(), "nothing reached the receiver");
}

#[tokio::test]
async fn without_tls_verify_any_certificate_is_accepted_as_the_platform_does_by_default() {
    let receiver = PushReceiver::start_tls(&test_certificate()).await;
    let sim = TestSim::start().await;
    assert!(!sim_config_default_verifies());

    let session = call_pushing_to(&sim, &receiver).await;
    let callout = receiver.next().await;
    assert!(callout.concerns(&session));
    callout.assert_signed(APP_SECRET, &receiver.url("/voice/status"));
}

fn sim_config_default_verifies() -> bool {
    dialtone::config::Config::embedded().push.tls_verify
}

#[tokio::test]
async fn a_push_ca_file_without_tls_verify_is_a_config_error_naming_both_keys() {
    let text = dialtone::config::EMBEDDED_DEFAULT.replace(
        "tls_verify = false",
        "tls_verify = false\nca_file = \"ca.pem\"",
    );
    let err = dialtone::config::Config::parse(&text, "dialtone.toml").expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("push.ca_file"), "{text}");
    assert!(text.contains("push.tls_verify = true"), "{text}");
}

#[tokio::test]
async fn a_tls_cert_without_its_key_is_a_config_error() {
    let text = dialtone::config::EMBEDDED_DEFAULT
        .replace("# tls_cert = \"cert.pem\"", "tls_cert = \"cert.pem\"");
    let err = dialtone::config::Config::parse(&text, "dialtone.toml").expect_err("refused");
    assert!(err.to_string().contains("server.tls_key"), "{err}");
}

/// Dialtone serving HTTPS from `server.tls_cert`/`tls_key`, header timeout and cap as given.
async fn https_sim(header_timeout_ms: u64, max_connections: usize) -> TestSim {
    let certificate = test_certificate();
    TestSim::start_with(move |c, _| {
        c.server.tls = Some(dialtone::config::TlsFiles {
            cert: certificate.cert,
            key: certificate.key,
        });
        c.server.header_timeout_ms = header_timeout_ms;
        c.server.max_connections = max_connections;
    })
    .await
}

async fn raw_connect(sim: &TestSim) -> TcpStream {
    TcpStream::connect(sim.base.trim_start_matches("https://"))
        .await
        .expect("Dialtone listens")
}

/// Reads until the server closes the connection, or `bound` passes (`None`).
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    tokio::time::timeout(bound, stream.read_to_end(&mut bytes))
        .await
        .ok()
        .map(|_| bytes)
}

#[tokio::test]
async fn a_call_placed_over_https_from_tls_cert_and_key_is_accepted_and_pushed() {
    let sim = https_sim(10_000, 1024).await;
    assert!(sim.base.starts_with("https://"), "{}", sim.base);
    let session = sim.place_call(&verify_body("4827")).await;
    let callout = sim.receiver.next().await;
    assert!(callout.concerns(&session));
    assert_eq!(sim.get("/health").await.status, 200);
}

#[tokio::test]
async fn plain_http_sent_to_the_https_port_is_closed_at_once_not_left_hanging() {
    // A header timeout far beyond the patience bound: only the failed handshake can close it.
    let sim = https_sim(600_000, 1024).await;
    let mut plain = raw_connect(&sim).await;
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: dialtone\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut plain, PATIENCE)
        .await
        .expect("closed at once");
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "no plain answer: {answer:?}"
    );
    assert_eq!(sim.get("/health").await.status, 200);
}

#[tokio::test]
async fn a_client_that_stalls_its_tls_handshake_is_cut_after_the_header_timeout() {
    let sim = https_sim(200, 1024).await;
    let mut stalled = raw_connect(&sim).await;
    // The first bytes of a ClientHello record, then nothing.
    stalled.write_all(&[0x16, 0x03, 0x01, 0x02]).await.unwrap();
    assert!(
        read_until_closed(&mut stalled, PATIENCE).await.is_some(),
        "the server closed the connection"
    );
    // Others are served meanwhile and after.
    assert_eq!(sim.get("/health").await.status, 200);
}

#[tokio::test]
async fn the_connection_cap_counts_connections_still_in_their_tls_handshake() {
    let sim = https_sim(10_000, 2).await;
    let first = raw_connect(&sim).await;
    let _second = raw_connect(&sim).await;
    let capped = sim
        .http
        .get(format!("{}/health", sim.base))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(capped.is_err(), "not served while two connections are open");
    drop(first);
    assert_eq!(sim.get("/health").await.status, 200);
}

/// `--tls-self-signed` through the real binary: the banner says where the certificate is; a
/// client trusting that file places a call over HTTPS; `dialtone call` and `tail` reach it too
/// (trusting it through `SSL_CERT_FILE`, as any rustls or OpenSSL client on Linux can).
#[tokio::test]
async fn tls_self_signed_prints_its_certificate_which_a_client_trusts_to_place_a_call() {
    let (mut child, mut out, _err) = spawn_lines(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-self-signed",
        "--ephemeral",
        "--clock",
        "manual",
    ]);
    let banner = lines_until(&mut out, "  certificate  ").await;
    let url = banner
        .iter()
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("https://")))
        .expect("the banner names an https URL")
        .to_owned();
    let cert = banner
        .last()
        .and_then(|l| l.split_whitespace().last())
        .expect("the banner names the certificate")
        .to_owned();

    let tls = dialtone::tls::client_config(true, Some(std::path::Path::new(&cert)))
        .expect("the printed certificate loads");
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    let mut request = client.post(format!("{url}/rest/httpsessions/callVerify/v1.0"));
    for (k, v) in signed_headers(APP_KEY, APP_SECRET, &nonce()) {
        request = request.header(k, v);
    }
    let reply = request
        .body(verify_body("4827").to_string())
        .send()
        .await
        .expect("an HTTPS answer")
        .text()
        .await
        .expect("a body");
    let reply: Value = serde_json::from_str(&reply).expect("JSON");
    assert_eq!(reply["resultcode"], "0", "{reply}");

    // A client that does not trust it is refused by its own TLS stack.
    let untrusting = dialtone::tls::http_client()
        .get(format!("{url}/health"))
        .send()
        .await
        .expect_err("an unknown certificate");
    assert!(untrusting.is_connect(), "{untrusting:?}");

    // The CLI clients over https:// and wss://.
    let calls = tokio::process::Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(["calls", "--url", &url])
        .env("SSL_CERT_FILE", &cert)
        .output()
        .await
        .expect("runs");
    assert!(calls.status.success(), "{calls:?}");
    assert!(
        String::from_utf8_lossy(&calls.stdout).contains(reply["sessionId"].as_str().unwrap()),
        "{calls:?}"
    );
    let (mut tail, mut tail_out, _) = spawn_lines_with(
        &["tail", "--url", &url, "--since", "0"],
        &[("SSL_CERT_FILE", &cert)],
    );
    let lines = lines_until(&mut tail_out, " accepted ").await;
    let _ = tail.kill();
    let _ = tail.wait();
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains(reply["sessionId"].as_str().unwrap())),
        "{lines:#?}"
    );

    let _ = child.kill();
    let _ = child.wait();
}
