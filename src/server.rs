//! The HTTP server: routing (the platform API, the `/sim/v1` control plane, the 404 fallback),
//! one tracing span per request, internal faults logged once, and serving with graceful
//! shutdown that lets in-flight pushes finish, a header timeout and a connection cap
//! (`[server]`).
//!
//! The state it serves is built in [`crate::app`]; what each endpoint does is in [`crate::api`]
//! and [`crate::sim`], which never import this module.

use std::time::Duration;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::timeout;
use tower::ServiceExt;
use tracing::Instrument;

use crate::app::{AppState, StartError};
use crate::clock::{ClockMode, Stopwatch};
use crate::config::ServerConfig;
use crate::engine;
use crate::error::InternalFault;
use crate::shutdown::Shutdown;
use crate::tls::TlsError;
use crate::{api, console, sim};

/// Why Dialtone could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The simulation could not be built (a voice or tone file, the database).
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
    /// `server.tls_cert`/`tls_key` could not be read or do not match.
    #[error("HTTPS: {0}")]
    Tls(#[from] TlsError),
}

/// The whole HTTP surface: the platform API, the control plane, the console and the 404
/// fallback. Requests reach it through [`answer`].
pub fn build_router(state: AppState) -> Router {
    api::router()
        .merge(sim::router())
        .merge(console::router())
        .fallback(api::not_found)
        .with_state(state)
}

/// Answers one request with `app`, inside a `debug` span that records its `status` and `latency`:
/// - logs the [`InternalFault`] an error response carries, once, inside that span (rendering
///   an error never logs: axum's error-handling pattern);
/// - logs every answer on a platform API path, and publishes its refusals on the event stream
///   ([`sim::stream::Asked`]).
///
/// The span has the path only, never the query: legacy query strings carry tokens and passwords.
///
/// One step per request, not layers on the router: a router's layers wrap every route and are
/// cloned, boxed, for every request, and three of them (tower-http's trace and two `from_fn`)
/// cost more than a tenth of callVerify's throughput.
pub async fn answer(app: Router, state: &AppState, request: Request) -> Response {
    let platform =
        api::is_platform_path(request.uri().path()).then(|| sim::stream::Asked::of(&request));
    let span = tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        status = tracing::field::Empty,
        latency = tracing::field::Empty,
    );
    let watch = (!span.is_disabled()).then(Stopwatch::start);
    let mut response = match app.oneshot(request).instrument(span.clone()).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let _in = span.enter();
    if let Some(asked) = platform {
        asked.answered(state, &response);
    }
    if let Some(fault) = response.extensions_mut().remove::<InternalFault>() {
        tracing::error!(status = response.status().as_u16(), error = %fault, "internal fault");
    }
    if let Some(watch) = watch {
        span.record("status", response.status().as_u16());
        span.record("latency", tracing::field::debug(watch.elapsed()));
        tracing::debug!("answered");
    }
    response
}

/// Serves until `shutdown` fires, then waits (bounded by the push timeout) for pushes on the
/// wire to finish, so a Ctrl-C never cuts a webhook in half.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), RunError> {
    let driver = (state.config.clock.mode != ClockMode::Manual)
        .then(|| engine::spawn_driver(state.engine.clone(), shutdown.clone()));
    let engine = state.engine.clone();
    // Recording download URLs name the address actually bound (port 0 in tests).
    engine.set_listen_addr(listener.local_addr()?);
    let push_timeout = Duration::from_millis(state.config.push.timeout_ms);
    let settings = state.config.server.clone();
    let tls = tls_acceptor(&settings)?;
    let app = build_router(state.clone());
    let stop = shutdown.clone();
    // Stream connections are upgraded out of the server's graceful shutdown: end them when it
    // begins, with a close frame.
    let events = engine.events().clone();
    let closing = shutdown.clone();
    tokio::spawn(async move {
        closing.wait().await;
        events.close();
    });
    accept_loop(listener, tls, app, state, &settings, stop).await;
    if let Some(driver) = driver {
        driver.abort();
    }
    if !engine
        .wait_idle(push_timeout + Duration::from_secs(1))
        .await
    {
        tracing::warn!("shut down with pushes still on the wire");
    }
    Ok(())
}

/// The HTTPS side of the listener, when `server.tls_cert`/`tls_key` are set: the files are read
/// once, here (the binary calls this before printing its banner, so a bad file stops start-up).
pub fn tls_acceptor(
    settings: &ServerConfig,
) -> Result<Option<tokio_rustls::TlsAcceptor>, TlsError> {
    let Some(files) = &settings.tls else {
        return Ok(None);
    };
    let config = crate::tls::server_config(&files.cert, &files.key)?;
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}

/// How long the accept loop waits after a failed `accept` (axum's `serve` waits a second).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts connections until `shutdown` fires, then asks each to finish its request in hand and
/// waits for them all. At most `max_connections` are served at once: past that, new ones wait
/// unaccepted in the listen backlog (a warning says so), so idle sockets cannot grow without
/// bound. A connection that has not sent a whole request header `header_timeout_ms` after it
/// opened, or after its previous answer, is closed: slowloris and idle keep-alive alike.
/// WebSocket upgrades leave the count once upgraded (the stream ends them at shutdown).
///
/// With `tls`, each connection's handshake runs in its own task, within the same header timeout
/// (a client that stalls its handshake is cut as a slowloris is), so a slow handshake never
/// holds up accepting; a failed one (plain HTTP sent to the HTTPS port) just closes it.
async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    state: AppState,
    settings: &ServerConfig,
    shutdown: Shutdown,
) {
    let max = settings.max_connections;
    let permits = Arc::new(Semaphore::new(max));
    let header_timeout = Duration::from_millis(settings.header_timeout_ms);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                tracing::warn!(
                    max_connections = max,
                    "connection cap reached: new connections wait until one closes"
                );
                tokio::select! {
                    permit = permits.clone().acquire_owned() => {
                        permit.expect("the semaphore is never closed")
                    }
                    () = shutdown.wait() => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Per-connection failures (reset before accept, out of descriptors): the
                    // listener itself is fine. Back off as `axum::serve` does, or running out
                    // of descriptors would spin this loop.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    #[allow(clippy::disallowed_methods)] // real I/O keeps real time (STYLE §4).
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = shutdown.wait() => break,
        };
        let (app, state) = (app.clone(), state.clone());
        // What axum's `into_make_service_with_connect_info` would insert, for `ConnectInfo`.
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let (app, state) = (app.clone(), state.clone());
            async move { Ok::<_, std::convert::Infallible>(answer(app, &state, request).await) }
        });
        let http = http.clone();
        let stop = shutdown.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_connection(&http, stream, service, peer, stop).await,
                Some(tls) => {
                    let handshake = tokio::select! {
                        done = timeout(header_timeout, tls.accept(stream)) => done,
                        () = stop.wait() => return,
                    };
                    match handshake {
                        Ok(Ok(stream)) => {
                            serve_connection(&http, stream, service, peer, stop).await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    // Every permit back: every connection has finished.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
}

/// Serves HTTP/1.1 on one connection, plain or TLS, until it ends or shutdown asks it to finish
/// the request in hand.
async fn serve_connection<I, S>(
    http: &hyper::server::conn::http1::Builder,
    io: I,
    service: S,
    peer: std::net::SocketAddr,
    stop: Shutdown,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Body> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = stop.wait() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %e, "connection closed");
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::extract::connect_info::MockConnectInfo;
    use axum::http::{Request, StatusCode};

    use super::*;
    use crate::testing::test_config;

    /// The router and its state, as [`serve`] has them.
    fn served() -> (Router, AppState) {
        let state = AppState::new(test_config()).expect("the test config builds");
        (build_router(state.clone()), state)
    }

    /// One request answered as the accept loop answers it.
    async fn ask(request: Request<Body>) -> Response {
        let (router, state) = served();
        answer(router, &state, request).await
    }

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("an in-memory body");
        String::from_utf8(bytes.to_vec()).expect("JSON is UTF-8")
    }

    /// Log lines written while it is the thread's default subscriber.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The log of this whole test binary. A subscriber for the process rather than for one
    /// thread: with tests running in parallel, a thread's own subscriber can miss a log line
    /// whose callsite another thread met first (tracing caches callsite interest per process).
    fn process_log() -> &'static Captured {
        static LOG: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
        LOG.get_or_init(|| {
            let log = Captured::default();
            let writer = log.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other test sets a global subscriber");
            log
        })
    }

    #[tokio::test]
    async fn an_internal_fault_is_answered_with_1010001_and_logged_once() {
        let log = process_log();
        // Served without connect info, callVerify has no peer address: a wiring fault of ours.
        let response = ask(Request::post("/rest/httpsessions/callVerify/v1.0")
            .body(Body::from("{}"))
            .expect("a valid request"))
        .await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.extensions().get::<InternalFault>().is_none());
        assert_eq!(
            text(response).await,
            r#"{"resultcode":"1010001","resultdesc":"Internal system error.","sessionId":""}"#
        );
        let log = String::from_utf8(log.0.lock().expect("not poisoned").clone()).expect("UTF-8");
        // Other tests log too: this one's fault is the one without a peer address.
        let faults: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("no peer address"))
            .collect();
        assert_eq!(faults.len(), 1, "{log}");
        assert!(faults[0].contains("ERROR"), "{log}");
    }

    #[tokio::test]
    async fn an_oversized_legacy_body_is_1010002_and_a_sandbox_path_the_same() {
        let (router, state) = served();
        let router = router.layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 9))));
        for path in ["/omp/oauth/refresh", "/sandbox/omp/oauth/refresh"] {
            let response = answer(
                router.clone(),
                &state,
                Request::post(path)
                    .body(Body::from(vec![b'a'; crate::body::MAX_BODY_BYTES + 1]))
                    .expect("a valid request"),
            )
            .await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
            assert_eq!(
                text(response).await,
                r#"{"resultcode":"1010002","resultdesc":"Invalid request."}"#
            );
        }
    }

    fn signed_call_verify() -> Request<Body> {
        use crate::testing::{nonce, signed_headers, verify_body, APP_KEY, APP_SECRET};
        let mut request = Request::post("/rest/httpsessions/callVerify/v1.0");
        for (k, v) in signed_headers(APP_KEY, APP_SECRET, &nonce()) {
            request = request.header(k, v);
        }
        request
            .body(Body::from(verify_body("4827").to_string()))
            .expect("a valid request")
    }

    #[tokio::test]
    async fn a_call_the_database_cannot_commit_is_refused_with_1010001_and_forgotten() {
        let dir = std::env::temp_dir().join(format!("dialtone-commit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut config = test_config();
        config.store.ephemeral = false;
        config.store.data_dir = dir.clone();
        let receiver = crate::testing::PushReceiver::start().await;
        config.apps[0].status_url = Some(receiver.url("/voice/status"));
        let state = AppState::new(config).expect("the test config builds");
        let store = state.engine.database().expect("a durable store").clone();
        let router = build_router(state.clone())
            .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 9))));

        store.fail_commits(true);
        let refused = answer(router.clone(), &state, signed_call_verify()).await;
        assert_eq!(refused.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            text(refused).await,
            r#"{"resultcode":"1010001","resultdesc":"Internal system error.","sessionId":""}"#
        );
        let calls = state.engine.list_calls(&Default::default()).expect("calls");
        assert!(calls.is_empty(), "the refused call is forgotten: {calls:?}");
        assert!(
            state.engine.wait_idle(Duration::from_secs(1)).await,
            "its held pushes are not counted on the wire"
        );

        store.fail_commits(false);
        let accepted = answer(router, &state, signed_call_verify()).await;
        assert_eq!(accepted.status(), StatusCode::OK);
        let body: serde_json::Value =
            serde_json::from_str(&text(accepted).await).expect("a JSON body");
        assert_eq!(body["resultcode"], "0");
        let session = body["sessionId"].as_str().expect("a session id");
        assert!(store.call(session).expect("readable").is_some());
        assert_eq!(
            state
                .engine
                .list_calls(&Default::default())
                .expect("calls")
                .len(),
            1
        );
        // The app hears of the accepted call only: the refused one never pushed.
        let first = receiver.next().await;
        assert!(first.concerns(session), "{:?}", first.body);
        assert!(receiver.log().iter().all(|p| p.concerns(session)));
        drop((state, store));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn at_debug_level_each_request_has_a_span_with_its_path_status_and_latency() {
        let lines = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer({
                let lines = lines.clone();
                move || lines.clone()
            })
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let response = ask(Request::get("/nowhere?access_token=secret")
            .body(Body::empty())
            .expect("a valid request"))
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let text = String::from_utf8(lines.0.lock().expect("not poisoned").clone());
        let text = text.expect("UTF-8");
        let answered = text
            .lines()
            .find(|l| l.ends_with("answered"))
            .unwrap_or_else(|| panic!("no `answered` line: {text}"));
        assert!(
            answered.contains("request{method=GET path=/nowhere status=404 latency="),
            "{answered}"
        );
        assert!(
            !text.contains("secret"),
            "the query is never logged: {text}"
        );
    }

    #[tokio::test]
    async fn a_bad_control_body_is_a_json_400_not_plain_text() {
        let response = ask(Request::post("/sim/v1/clock/advance")
            .body(Body::from("{"))
            .expect("a valid request"))
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value =
            serde_json::from_str(&text(response).await).expect("a JSON body");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with(r#"expected {"by": "90s"} or {"by_ms": 90000}: "#),
            "{error}"
        );
    }
}
