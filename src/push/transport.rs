//! One push attempt over real HTTP: sign, POST, classify the answer (spec §6.2, §8).
//!
//! The transport knows nothing of retry policy or ordering; the engine decides those and hands
//! it one [`PushJob`] at a time. Timeouts here are real time: real I/O keeps real time. Its
//! settings are [`PushSettings`] (the config's `[push]` section).

use std::time::Duration;

use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;

use super::faults::FaultKind;
use super::journal::PushError;
use super::sign::{self, CreatedTz};
use crate::clock::{transport_now, Stopwatch};
use crate::error::PLATFORM_CONTENT_TYPE;
use crate::tls::{self, TlsError};

/// How pushes go over the wire (the `[push]` section of the config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushSettings {
    /// A push must get a 2xx within this (real time).
    pub timeout_ms: u64,
    /// Check receivers' certificates against the system's trust store and `ca_file`.
    pub tls_verify: bool,
    /// More certificates to trust (PEM), e.g. mkcert's root or a staging CA; needs `tls_verify`.
    pub ca_file: Option<std::path::PathBuf>,
    pub created_tz: CreatedTz,
    /// At most this many pushes on the wire to one receiver (host and port); the rest wait, in
    /// order. A small development server (a default backlog of 5) is not flooded by a burst.
    pub max_in_flight_per_host: usize,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            timeout_ms: 5000,
            tls_verify: false,
            ca_file: None,
            created_tz: CreatedTz::BeijingWithZ,
            max_in_flight_per_host: 32,
        }
    }
}

/// Everything needed to make one attempt.
#[derive(Debug, Clone)]
pub struct PushJob {
    pub delivery_id: String,
    pub app_key: String,
    pub app_secret: String,
    pub url: String,
    pub body: Vec<u8>,
    /// Chosen by the engine, derived from the delivery in a seeded run.
    pub nonce: String,
    /// An injected fault for this attempt (`drop`, `duplicate`, `corrupt_signature`,
    /// `timeout` act here; the others only mark the journal).
    pub fault: Option<FaultKind>,
    /// `X-Dialtone-Idempotency-Key`: the same on every attempt of this push.
    pub idempotency_key: String,
    /// The time to sign with; `None` signs with the real wall clock at send time.
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What happened to one attempt.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    pub request_headers: Vec<(String, String)>,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<PushError>,
    pub latency_ms: u64,
    /// The injected fault that shaped this attempt.
    pub fault: Option<FaultKind>,
}

impl AttemptReport {
    /// Any 2xx within the timeout is a success (spec §6.2).
    pub fn delivered(&self) -> bool {
        self.error.is_none()
            && self
                .response_status
                .is_some_and(|s| (200..300).contains(&s))
    }
}

/// Dialtone's own push header (not the platform's): the same value on every attempt of one push
/// and after a restart, so a receiver can drop duplicates.
pub const IDEMPOTENCY_HEADER: &str = "x-dialtone-idempotency-key";

/// The headers of an attempt as the journal records them, in the order they are sent.
pub fn journal_headers(
    authorization: &str,
    x_aksk: &str,
    idempotency_key: &str,
) -> Vec<(String, String)> {
    vec![
        (CONTENT_TYPE.to_string(), PLATFORM_CONTENT_TYPE.to_owned()),
        (AUTHORIZATION.to_string(), authorization.to_owned()),
        ("x-aksk".to_owned(), x_aksk.to_owned()),
        (IDEMPOTENCY_HEADER.to_owned(), idempotency_key.to_owned()),
    ]
}

/// `(X-AKSK, idempotency key)` when `headers` are exactly what [`journal_headers`] makes with the
/// platform's `Authorization` ([`sign::PUSH_AUTHORIZATION`]): all the store keeps of them.
pub fn usual_headers(headers: &[(String, String)]) -> Option<(&str, &str)> {
    let [(ct, ct_v), (auth, auth_v), (aksk, aksk_v), (idem, idem_v)] = headers else {
        return None;
    };
    let usual = *ct == CONTENT_TYPE.as_str()
        && ct_v == PLATFORM_CONTENT_TYPE
        && *auth == AUTHORIZATION.as_str()
        && auth_v == sign::PUSH_AUTHORIZATION
        && aksk == "x-aksk"
        && idem == IDEMPOTENCY_HEADER;
    usual.then_some((aksk_v.as_str(), idem_v.as_str()))
}

/// Keeps at most this much of a response body for the journal (spec §9).
const RESPONSE_BODY_KEPT: usize = 4096;

/// The HTTP client side of pushes.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    /// Never pools, so a resend after a reset (see [`discarded_unread`]) goes out on a new
    /// connection rather than on another idle one the receiver may have closed too.
    fresh: reqwest::Client,
    created_tz: CreatedTz,
}

impl HttpTransport {
    /// Fails only if `push.ca_file` cannot be read or holds no certificate.
    pub fn new(config: &PushSettings) -> Result<HttpTransport, TlsError> {
        let tls = tls::client_config(config.tls_verify, config.ca_file.as_deref())?;
        let builder = || {
            reqwest::Client::builder()
                // Spec §6.2: redirects are not followed and count as failures.
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_millis(config.timeout_ms))
                .tls_backend_preconfigured(tls.clone())
        };
        let client = builder()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("a client with a rustls config and no proxy settings always builds");
        let fresh = builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("a client with a rustls config and no proxy settings always builds");
        Ok(HttpTransport {
            client,
            fresh,
            created_tz: config.created_tz,
        })
    }

    /// Signs and sends one push, never failing: every outcome is reported. An injected fault
    /// (`job.fault`, see [`super::faults`]) shapes the attempt here; `delay` and `out_of_order`
    /// are the engine's, which sends such a push later.
    pub async fn attempt(&self, job: &PushJob) -> AttemptReport {
        let created = sign::push_created(
            job.created_at.unwrap_or_else(transport_now),
            self.created_tz,
        );
        let mut digest = sign::push_digest(&job.app_secret, &job.url, &job.nonce, &created);
        if job.fault == Some(FaultKind::CorruptSignature) {
            // Still well-formed Base64 of 32 bytes, just not the right ones.
            digest = sign::push_digest("not the app secret", &job.url, &job.nonce, &created);
        }
        let (authorization, x_aksk) =
            sign::push_headers(&job.app_key, &digest, &job.nonce, &created);
        let request_headers = journal_headers(&authorization, &x_aksk, &job.idempotency_key);
        let mut report = AttemptReport {
            request_headers,
            response_status: None,
            response_body: None,
            error: None,
            latency_ms: 0,
            fault: job.fault,
        };
        if job.fault == Some(FaultKind::Drop) {
            return report;
        }
        let send_on = |client: &reqwest::Client| {
            client
                .post(&job.url)
                .header(CONTENT_TYPE, PLATFORM_CONTENT_TYPE)
                .header(AUTHORIZATION, &authorization)
                .header("X-AKSK", &x_aksk)
                .header(IDEMPOTENCY_HEADER, &job.idempotency_key)
                .body(job.body.clone())
                .send()
        };
        let send = || send_on(&self.client);
        let watch = Stopwatch::start();
        let mut sent = send().await;
        if let Err(e) = &sent {
            if discarded_unread(e) {
                // The receiver's socket threw the request away unread (typically a kept-alive
                // connection it was closing as we wrote): it cannot have acted on it, so the same
                // request, byte for byte, goes once more on a new connection, within this attempt.
                tracing::debug!(delivery = %job.delivery_id, error = %e, "push reset unread; resent");
                sent = send_on(&self.fresh).await;
            }
        }
        if job.fault == Some(FaultKind::Duplicate) {
            // The receiver sees the push twice; the journal records the first answer.
            let _ = send().await;
        }
        match sent {
            Ok(mut response) => {
                let status = response.status();
                report.response_status = Some(status.as_u16());
                if status.is_redirection() {
                    report.error = Some(PushError::Redirect);
                }
                let mut kept = Vec::new();
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            let room = RESPONSE_BODY_KEPT - kept.len();
                            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                            if kept.len() == RESPONSE_BODY_KEPT {
                                break;
                            }
                        }
                        Ok(None) => break,
                        // The status already arrived; a body cut short does not undo it.
                        Err(_) => break,
                    }
                }
                report.response_body = Some(String::from_utf8_lossy(&kept).into_owned());
            }
            Err(e) => report.error = Some(classify(&e)),
        }
        if job.fault == Some(FaultKind::Timeout) {
            // The receiver got the push (and may have acted on it); Dialtone acts as if no
            // answer came in time.
            report.response_status = None;
            report.response_body = None;
            report.error = Some(PushError::Timeout);
        }
        report.latency_ms = watch.elapsed_ms();
        report
    }
}

/// Sorts a failed send into the journal's error kinds (spec §9) with reqwest's typed
/// predicates, which walk the error's `source()` chain themselves (a `TimedOut` I/O error or
/// hyper's connect error deep inside counts), so no error text is ever searched.
fn classify(e: &reqwest::Error) -> PushError {
    if e.is_timeout() {
        PushError::Timeout
    } else if is_tls(e) {
        PushError::Tls
    } else if e.is_connect() {
        PushError::Connect
    } else if e.is_redirect() {
        PushError::Redirect
    } else {
        // Includes a request that could not be built: push URLs are checked on the way in
        // (`call::request::PushUrl`), so that is not expected.
        PushError::Io
    }
}

/// Whether a send that got no answer failed because the receiver reset the connection before
/// reading the request: a connection reset (or broken pipe) on the request's own connection,
/// with no byte of an answer.
///
/// Dialtone decision (docs/decisions.md, "Push resends"): a socket closed with unread data
/// answers with a reset, while a receiver that read the whole request and then closed (crashed,
/// say) closes cleanly, which hyper reports as an incomplete message. Only the reset proves the
/// request went unread, so only it is resent; a clean close, a timeout or any answer never is.
/// A request hyper had not yet written when it saw the connection close is resent by hyper
/// itself on a reused connection (hyper-util's `retry_canceled_requests`).
fn discarded_unread(e: &reqwest::Error) -> bool {
    if e.is_timeout() || e.is_connect() || e.status().is_some() {
        return false;
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
            );
        }
        source = inner.source();
    }
    false
}

/// A handshake failure (untrusted certificate, wrong name, plain HTTP on the other end) is a
/// rustls error somewhere down the chain, possibly wrapped in an I/O error; found by type, not
/// by text.
fn is_tls(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<rustls::Error>() {
            return true;
        }
        // An I/O error's `source()` skips the error it wraps: step into it instead.
        source = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

/// The `n`-th push of delivery `s1` to `url`, for the push tests.
#[cfg(test)]
pub(crate) fn test_job(url: &str, n: u32) -> PushJob {
    PushJob {
        delivery_id: format!("s1.{n}"),
        app_key: "key".into(),
        app_secret: "secret".into(),
        url: url.into(),
        body: b"{}".to_vec(),
        nonce: format!("nonce{n}"),
        fault: None,
        idempotency_key: format!("s1.{n}"),
        created_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn send_error(client: &reqwest::Client, url: &str) -> reqwest::Error {
        client
            .post(url)
            .body("{}")
            .send()
            .await
            .expect_err("the push fails")
    }

    fn transport() -> HttpTransport {
        HttpTransport::new(&PushSettings::default()).expect("no CA file to read")
    }

    fn pushes() -> reqwest::Client {
        transport().client
    }

    #[tokio::test]
    async fn an_https_url_to_a_plain_http_receiver_fails_as_tls() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/voice/status", listener.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let e = send_error(&pushes(), &url).await;
        assert_eq!(classify(&e), PushError::Tls, "{e:?}");
    }

    #[tokio::test]
    async fn an_https_url_nobody_listens_on_fails_as_connect_not_tls() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = send_error(&pushes(), &format!("https://{addr}/voice/status")).await;
        assert_eq!(classify(&e), PushError::Connect, "{e:?}");
    }

    #[tokio::test]
    async fn a_port_nobody_listens_on_fails_as_connect() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = send_error(&pushes(), &format!("http://{addr}/voice/status")).await;
        assert_eq!(classify(&e), PushError::Connect, "{e:?}");
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_fails_as_timeout() {
        // Never accepted: the kernel completes the handshake, nobody answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/voice/status", listener.local_addr().unwrap());
        let client = crate::tls::http_client_builder()
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap();
        let e = send_error(&client, &url).await;
        assert_eq!(classify(&e), PushError::Timeout, "{e:?}");
    }

    #[tokio::test]
    async fn a_connection_closed_before_the_answer_fails_as_io() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/voice/status", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let e = send_error(&pushes(), &url).await;
        assert_eq!(classify(&e), PushError::Io, "{e:?}");
    }

    /// A receiver on raw TCP, so the test decides exactly when a kept-alive connection closes.
    /// Its first connection answers one push and keeps alive; the second push on it is either
    /// thrown away unread as it arrives (the close-while-writing race, made deterministic) or
    /// read whole and then dropped without an answer (a receiver that crashed after reading).
    /// Later connections answer every push with 200. `read` counts pushes read whole.
    async fn closing_receiver(read_second: bool) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/voice/status", listener.local_addr().unwrap());
        let read = Arc::new(AtomicUsize::new(0));
        let counted = read.clone();
        tokio::spawn(async move {
            let (mut first, _) = listener.accept().await.unwrap();
            read_push(&mut first).await;
            counted.fetch_add(1, Ordering::SeqCst);
            first.write_all(OK).await.unwrap();
            if read_second {
                read_push(&mut first).await;
                counted.fetch_add(1, Ordering::SeqCst);
                drop(first);
                return; // and accepts nothing more
            }
            first.readable().await.unwrap();
            drop(first); // unread bytes pending: the kernel answers with a reset
            while let Ok((mut next, _)) = listener.accept().await {
                read_push(&mut next).await;
                counted.fetch_add(1, Ordering::SeqCst);
                next.write_all(OK).await.unwrap();
            }
        });
        (url, read)
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";

    /// Reads one request whose body is `{}`.
    async fn read_push(socket: &mut tokio::net::TcpStream) {
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        while !(seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.ends_with(b"{}")) {
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the push ended early");
            seen.extend_from_slice(&chunk[..n]);
        }
    }

    use super::test_job as job;

    #[tokio::test]
    async fn a_push_reset_unread_on_a_kept_alive_connection_is_resent_at_once() {
        let (url, read) = closing_receiver(false).await;
        let transport = transport();
        assert!(transport.attempt(&job(&url, 1)).await.delivered());
        let second = transport.attempt(&job(&url, 2)).await;
        assert!(second.delivered(), "{second:?}");
        assert_eq!(read.load(Ordering::SeqCst), 2, "each push read once");
    }

    #[tokio::test]
    async fn a_push_read_and_then_dropped_without_an_answer_is_not_resent() {
        let (url, read) = closing_receiver(true).await;
        let transport = transport();
        assert!(transport.attempt(&job(&url, 1)).await.delivered());
        let second = transport.attempt(&job(&url, 2)).await;
        // A resend would wait on a receiver that accepts nothing more and time out instead.
        assert_eq!(second.error, Some(PushError::Io), "{second:?}");
        assert_eq!(read.load(Ordering::SeqCst), 2);
    }
}
