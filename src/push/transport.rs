//! One push attempt over real HTTP: sign, POST, classify the answer (spec §6.2, §8).
//!
//! The transport knows nothing of retry policy or ordering; the engine decides those and hands
//! it one [`PushJob`] at a time. Timeouts here are real time: real I/O keeps real time. Its
//! settings are [`PushSettings`] (the config's `[push]` section).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Deserialize;
use tokio::time::Sleep;
use tower::ServiceExt;

use super::faults::FaultKind;
use super::journal::PushError;
use super::reused::{Counted, History};
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
    pub app_key: std::sync::Arc<str>,
    pub app_secret: String,
    pub url: String,
    /// The delivery's body, shared: an attempt never copies it.
    pub body: Bytes,
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
        (
            CONTENT_TYPE.as_str().to_owned(),
            PLATFORM_CONTENT_TYPE.to_owned(),
        ),
        (AUTHORIZATION.as_str().to_owned(), authorization.to_owned()),
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

/// The push's own header names, checked once at compile time rather than on every push.
const X_AKSK: HeaderName = HeaderName::from_static("x-aksk");
const IDEMPOTENCY: HeaderName = HeaderName::from_static(IDEMPOTENCY_HEADER);

/// Keeps at most this much of a response body for the journal (spec §9).
const RESPONSE_BODY_KEPT: usize = 4096;

/// Plain TCP for `http://` receivers, rustls over it for `https://` ones.
type Tls = hyper_rustls::HttpsConnector<HttpConnector>;

/// What [`Tls`] connects, counted.
type Io = hyper_rustls::MaybeHttpsStream<hyper_util::rt::TokioIo<tokio::net::TcpStream>>;

/// Every connection knows whether it is being reused (see [`reused`](super::reused)).
type Connector = tower::util::MapResponse<Tls, fn(Io) -> Counted<Io>>;

/// A hyper client: no redirect or retry layers and no proxy lookups (spec §6.2: a redirect is a
/// failure, and the engine decides retries), so one attempt is one request on the wire.
type Client = hyper_util::client::legacy::Client<Connector, Full<Bytes>>;

/// The HTTP client side of pushes.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: Client,
    /// Never pools, so a resend (see [`went_unread`]) goes out on a new
    /// connection rather than on another idle one the receiver may have closed too.
    fresh: Client,
    timeout: Duration,
    created_tz: CreatedTz,
}

/// Why a request got no answer: the client's error, or the push's timeout.
#[derive(Debug)]
enum SendError {
    Timeout,
    Client(hyper_util::client::legacy::Error),
}

impl HttpTransport {
    /// Fails only if `push.ca_file` cannot be read or holds no certificate.
    pub fn new(config: &PushSettings) -> Result<HttpTransport, TlsError> {
        let tls = Arc::new(tls::client_config(
            config.tls_verify,
            config.ca_file.as_deref(),
        )?);
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        // Small requests answered at once: Nagle's delay would only add latency.
        tcp.set_nodelay(true);
        let tls: Tls = (tcp, tls).into();
        let connector: Connector = tls.map_response(Counted::new as fn(Io) -> Counted<Io>);
        let builder = || {
            let mut b = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
            b.pool_timer(TokioTimer::new());
            b
        };
        let client = builder()
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector.clone());
        let fresh = builder().pool_max_idle_per_host(0).build(connector);
        Ok(HttpTransport {
            client,
            fresh,
            timeout: Duration::from_millis(config.timeout_ms),
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
        let x_aksk = sign::push_x_aksk(&job.app_key, &digest, &job.nonce, &created);
        let mut report = AttemptReport {
            request_headers: Vec::new(),
            response_status: None,
            response_body: None,
            error: None,
            latency_ms: 0,
            fault: job.fault,
        };
        report.request_headers =
            journal_headers(sign::PUSH_AUTHORIZATION, &x_aksk, &job.idempotency_key);
        let request = PushRequest {
            job,
            x_aksk: &x_aksk,
        };
        let Some(first) = request.build() else {
            // Push URLs are checked on the way in (`call::request::PushUrl`) and the headers are
            // ASCII we made: not expected, and reported like any request that never left.
            report.error = Some(PushError::Io);
            return report;
        };
        if job.fault == Some(FaultKind::Drop) {
            return report;
        }
        let watch = Stopwatch::start();
        // One timer for the whole attempt (a timer costs a lock of tokio's timer wheel to set and
        // another to clear): the answer's head and the kept body are both due by `due`. Moved
        // only for a resend or a duplicate, which each get a whole timeout of their own.
        let due = tokio::time::Instant::now() + self.timeout;
        #[allow(clippy::disallowed_methods)] // the push timeout is real time, as real I/O is.
        let deadline = tokio::time::sleep_until(due);
        tokio::pin!(deadline);
        let mut sent = self.send(&self.client, first, deadline.as_mut()).await;
        let mut moved = false;
        if let Err(SendError::Client(e)) = &sent {
            if let Some(again) = went_unread(e).then(|| request.build()).flatten() {
                // Typically a kept-alive connection the receiver closed as we wrote: the same
                // request, byte for byte, goes once more on a new connection, within this attempt.
                tracing::debug!(delivery = %job.delivery_id, error = ?e, "push unread; resent");
                deadline
                    .as_mut()
                    .reset(tokio::time::Instant::now() + self.timeout);
                moved = true;
                sent = self.send(&self.fresh, again, deadline.as_mut()).await;
            }
        }
        let duplicate = job.fault == Some(FaultKind::Duplicate);
        if let Some(again) = duplicate.then(|| request.build()).flatten() {
            // The receiver sees the push twice; the journal records the first answer.
            deadline
                .as_mut()
                .reset(tokio::time::Instant::now() + self.timeout);
            if let Ok(response) = self.send(&self.client, again, deadline.as_mut()).await {
                deadline.as_mut().reset(due);
                let _ = self.read_kept(response, deadline.as_mut()).await;
            }
            moved = true;
        }
        if moved {
            deadline.as_mut().reset(due);
        }
        match sent {
            Ok(response) => {
                let status = response.status();
                report.response_status = Some(status.as_u16());
                if status.is_redirection() {
                    // Spec §6.2: redirects are not followed and count as failures.
                    report.error = Some(PushError::Redirect);
                }
                let kept = self.read_kept(response, deadline.as_mut()).await;
                let text = String::from_utf8(kept)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                report.response_body = Some(text);
            }
            Err(SendError::Timeout) => report.error = Some(PushError::Timeout),
            Err(SendError::Client(e)) => {
                // The journal keeps the kind; the cause is for whoever turns on
                // `RUST_LOG=dialtone::push::transport=debug`.
                tracing::debug!(
                    delivery = %job.delivery_id,
                    error = ?e,
                    "push got no answer"
                );
                report.error = Some(classify(&e));
            }
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

    /// Sends `request` on `client` and waits for the answer's head, until `deadline`.
    async fn send(
        &self,
        client: &Client,
        request: hyper::Request<Full<Bytes>>,
        deadline: Pin<&mut Sleep>,
    ) -> Result<hyper::Response<Incoming>, SendError> {
        tokio::select! {
            biased;
            sent = client.request(request) => sent.map_err(SendError::Client),
            () = deadline => Err(SendError::Timeout),
        }
    }

    /// The first [`RESPONSE_BODY_KEPT`] bytes of the answer's body, read until `deadline`. The
    /// status already arrived: a body cut short (closed, or too slow) does not undo it.
    async fn read_kept(
        &self,
        response: hyper::Response<Incoming>,
        deadline: Pin<&mut Sleep>,
    ) -> Vec<u8> {
        let mut body = response.into_body();
        let mut kept = Vec::new();
        let read = async {
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(chunk) = frame.into_data() else {
                    continue; // trailers
                };
                let room = RESPONSE_BODY_KEPT - kept.len();
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if kept.len() == RESPONSE_BODY_KEPT {
                    break;
                }
            }
        };
        tokio::select! {
            biased;
            () = read => {}
            () = deadline => {}
        }
        kept
    }
}

/// One push's request, built for each send (a resend and a duplicate are rare): moving the parts
/// into the request is cheaper than keeping one to clone.
struct PushRequest<'a> {
    job: &'a PushJob,
    x_aksk: &'a str,
}

impl PushRequest<'_> {
    /// `None` if the URL or a header value is not valid.
    fn build(&self) -> Option<hyper::Request<Full<Bytes>>> {
        let value = |v: &str| HeaderValue::from_str(v).ok();
        let mut request = hyper::Request::new(Full::new(self.job.body.clone()));
        *request.method_mut() = hyper::Method::POST;
        *request.uri_mut() = self.job.url.parse().ok()?;
        let headers = request.headers_mut();
        headers.reserve(4);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(PLATFORM_CONTENT_TYPE),
        );
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static(sign::PUSH_AUTHORIZATION),
        );
        headers.insert(X_AKSK, value(self.x_aksk)?);
        headers.insert(IDEMPOTENCY, value(&self.job.idempotency_key)?);
        Some(request)
    }
}

/// Sorts a failed send into the journal's error kinds (spec §9) by the errors' types, walking
/// the `source()` chain (a rustls error deep inside the connector's counts), so no error text
/// is ever searched. A timeout never gets here: the transport times requests itself.
fn classify(e: &hyper_util::client::legacy::Error) -> PushError {
    if is_tls(e) {
        PushError::Tls
    } else if e.is_connect() {
        PushError::Connect
    } else {
        PushError::Io
    }
}

/// Whether a send that got no answer went unread by the receiver, as far as the client can
/// tell, so the same request may go once more at once. Two signs, each with no byte of an answer:
/// - a connection reset (or broken pipe): a socket closed with unread data answers with a reset;
/// - a clean close on a connection that had answered before: the receiver closed it after its
///   last answer, and the push was written into a socket already closed (see
///   [`reused`](super::reused)).
///
/// Dialtone decision (docs/decisions.md, "Push resends"): a clean close on a new connection is a
/// receiver that read the push and then closed (crashed, say), and is never resent. On a reused
/// connection the two cannot be told apart; the push is resent, as HTTP clients resend an
/// idempotent request there, and the receiver has the idempotency key to see it twice. A
/// request hyper had not yet written when it saw the connection close is resent by hyper itself
/// on a reused connection (hyper-util's `retry_canceled_requests`).
fn went_unread(e: &hyper_util::client::legacy::Error) -> bool {
    if e.is_connect() {
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
        if let Some(hyper) = inner.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() {
                return History::of_failed(e).is_some_and(|h| h.reused());
            }
        }
        source = inner.source();
    }
    false
}

/// A handshake failure (untrusted certificate, wrong name, plain HTTP on the other end) is a
/// rustls error somewhere down the chain, possibly wrapped in I/O errors; found by type, not
/// by text.
fn is_tls(e: &hyper_util::client::legacy::Error) -> bool {
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
        body: Bytes::from_static(b"{}"),
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

    fn transport() -> HttpTransport {
        HttpTransport::new(&PushSettings::default()).expect("no CA file to read")
    }

    /// How the one push to `url` failed.
    async fn push_error(transport: &HttpTransport, url: &str) -> Option<PushError> {
        let report = transport.attempt(&job(url, 1)).await;
        assert!(!report.delivered(), "{report:?}");
        report.error
    }

    #[tokio::test]
    async fn an_https_url_to_a_plain_http_receiver_fails_as_tls() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/voice/status", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        assert_eq!(push_error(&transport(), &url).await, Some(PushError::Tls));
    }

    #[tokio::test]
    async fn an_https_url_nobody_listens_on_fails_as_connect_not_tls() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let url = format!("https://{addr}/voice/status");
        assert_eq!(
            push_error(&transport(), &url).await,
            Some(PushError::Connect)
        );
    }

    #[tokio::test]
    async fn a_port_nobody_listens_on_fails_as_connect() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let url = format!("http://{addr}/voice/status");
        assert_eq!(
            push_error(&transport(), &url).await,
            Some(PushError::Connect)
        );
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_fails_as_timeout() {
        // Never accepted: the kernel completes the handshake, nobody answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/voice/status", listener.local_addr().unwrap());
        let quick = HttpTransport::new(&PushSettings {
            timeout_ms: 100,
            ..PushSettings::default()
        })
        .expect("no CA file to read");
        assert_eq!(push_error(&quick, &url).await, Some(PushError::Timeout));
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
        assert_eq!(push_error(&transport(), &url).await, Some(PushError::Io));
    }

    #[tokio::test]
    async fn a_redirect_is_a_failure_with_its_status_and_body_kept() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/voice/status", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            read_push(&mut socket).await;
            let answer = "HTTP/1.1 302 Found\r\nlocation: http://elsewhere.test/\r\ncontent-length: 5\r\n\r\nmoved";
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        let report = transport().attempt(&job(&url, 1)).await;
        assert_eq!(report.error, Some(PushError::Redirect), "{report:?}");
        assert_eq!(report.response_status, Some(302));
        assert_eq!(report.response_body.as_deref(), Some("moved"));
    }

    #[tokio::test]
    async fn the_push_goes_out_with_the_platform_headers_and_the_first_4_kib_of_the_answer_is_kept()
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/voice/status", listener.local_addr().unwrap());
        let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let seen = read_push(&mut socket).await;
            let body = "x".repeat(5000);
            let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n{body}");
            socket.write_all(answer.as_bytes()).await.unwrap();
            let _ = seen_tx.send(seen);
        });
        let report = transport().attempt(&job(&url, 1)).await;
        assert!(report.delivered(), "{report:?}");
        assert_eq!(
            report.response_body.map(|b| b.len()),
            Some(RESPONSE_BODY_KEPT)
        );
        let seen = String::from_utf8(seen_rx.await.unwrap())
            .unwrap()
            .to_lowercase();
        assert!(
            seen.starts_with("post /voice/status http/1.1\r\n"),
            "{seen}"
        );
        for (name, value) in &report.request_headers {
            let line = format!("\r\n{name}: {}\r\n", value.to_lowercase());
            assert!(seen.contains(&line), "{line:?} not in {seen}");
        }
        assert!(seen.contains("\r\ncontent-length: 2\r\n"), "{seen}");
    }

    /// How [`closing_receiver`]'s first connection treats the second push written on it.
    #[derive(Clone, Copy)]
    enum Second {
        /// Thrown away unread as it arrives: the close-while-writing race, made deterministic.
        Reset,
        /// Read whole, then the connection closed without an answer: a receiver that crashed
        /// after reading.
        ReadAndDropped,
    }

    /// A receiver on raw TCP, so the test decides exactly when a kept-alive connection closes.
    /// Its first connection answers one push and keeps alive; the second push on it goes as
    /// `second` says. Later connections answer every push with 200. `read` counts pushes read
    /// whole.
    async fn closing_receiver(second: Second) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/voice/status", listener.local_addr().unwrap());
        let read = Arc::new(AtomicUsize::new(0));
        let counted = read.clone();
        tokio::spawn(async move {
            let (mut first, _) = listener.accept().await.unwrap();
            read_push(&mut first).await;
            counted.fetch_add(1, Ordering::SeqCst);
            first.write_all(OK).await.unwrap();
            match second {
                Second::Reset => first.readable().await.unwrap(),
                Second::ReadAndDropped => {
                    read_push(&mut first).await;
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            }
            drop(first); // unread bytes pending make the kernel answer with a reset
            answer_every_push(listener, counted).await;
        });
        (url, read)
    }

    /// Answers every push on every connection `listener` accepts with 200, counting them.
    async fn answer_every_push(listener: TcpListener, read: Arc<AtomicUsize>) {
        while let Ok((mut next, _)) = listener.accept().await {
            let read = read.clone();
            tokio::spawn(async move {
                while read_whole_push(&mut next).await.is_some() {
                    read.fetch_add(1, Ordering::SeqCst);
                    if next.write_all(OK).await.is_err() {
                        return;
                    }
                }
            });
        }
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";

    /// Reads one request whose body is `{}`; what was read.
    async fn read_push(socket: &mut tokio::net::TcpStream) -> Vec<u8> {
        read_whole_push(socket).await.expect("the push ended early")
    }

    /// Reads one request whose body is `{}`; `None` if the connection closed first.
    async fn read_whole_push(socket: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        while !(seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.ends_with(b"{}")) {
            let n = socket.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            seen.extend_from_slice(&chunk[..n]);
        }
        Some(seen)
    }

    use super::test_job as job;

    #[tokio::test]
    async fn a_push_reset_unread_on_a_kept_alive_connection_is_resent_at_once() {
        let (url, read) = closing_receiver(Second::Reset).await;
        let transport = transport();
        assert!(transport.attempt(&job(&url, 1)).await.delivered());
        let second = transport.attempt(&job(&url, 2)).await;
        assert!(second.delivered(), "{second:?}");
        assert_eq!(read.load(Ordering::SeqCst), 2, "each push read once");
    }

    #[tokio::test]
    async fn a_push_closed_without_an_answer_on_a_kept_alive_connection_is_resent_at_once() {
        // From the client, a receiver that read the push and crashed looks the same as one that
        // closed the connection just before the push arrived: resent, with the same
        // idempotency key, so the receiver may see it twice.
        let (url, read) = closing_receiver(Second::ReadAndDropped).await;
        let transport = transport();
        assert!(transport.attempt(&job(&url, 1)).await.delivered());
        let second = transport.attempt(&job(&url, 2)).await;
        assert!(second.delivered(), "{second:?}");
        assert_eq!(read.load(Ordering::SeqCst), 3, "the second push read twice");
    }

    /// A receiver whose first connection reads one push, writes `partial` (perhaps nothing) and
    /// closes; later connections answer every push with 200, so a resend would be delivered.
    async fn first_connection_closing(partial: &'static [u8]) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/voice/status", listener.local_addr().unwrap());
        let read = Arc::new(AtomicUsize::new(0));
        let counted = read.clone();
        tokio::spawn(async move {
            let (mut first, _) = listener.accept().await.unwrap();
            read_push(&mut first).await;
            counted.fetch_add(1, Ordering::SeqCst);
            first.write_all(partial).await.unwrap();
            drop(first);
            answer_every_push(listener, counted).await;
        });
        (url, read)
    }

    #[tokio::test]
    async fn a_push_half_answered_and_closed_on_a_new_connection_is_not_resent() {
        // Bytes came in on the connection, but no request was written after them: not reused.
        let (url, read) = first_connection_closing(b"HTTP/1.1 200 OK\r\ncontent-le").await;
        let report = transport().attempt(&job(&url, 1)).await;
        assert_eq!(report.error, Some(PushError::Io), "{report:?}");
        assert_eq!(read.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_push_read_and_then_dropped_on_a_new_connection_is_not_resent() {
        let (url, read) = first_connection_closing(b"").await;
        let report = transport().attempt(&job(&url, 1)).await;
        assert_eq!(report.error, Some(PushError::Io), "{report:?}");
        assert_eq!(read.load(Ordering::SeqCst), 1);
    }
}
