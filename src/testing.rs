//! Test against Dialtone from Rust: an in-process Dialtone on an ephemeral loopback port with a
//! manual clock and a fixed seed, a real recording webhook receiver, a signed client, and
//! assertions whose failures show expected and actual side by side.
//!
//! ```no_run
//! # async fn example() {
//! use dialtone::testing::{assert_sequence, verify_body, TestSim};
//! let sim = TestSim::start().await;                      // manual clock at 2026-03-14 10:15:31 UTC
//! sim.set_phone("+8613900005555", r#"{"outcome":"busy"}"#).await;
//! let mut body = verify_body("4815");
//! body["calleeNbr"] = "+8613900005555".into();
//! let session = sim.place_call(&body).await;             // pushes go to sim.receiver
//! sim.advance("30s").await;                              // two-minute timeouts take a millisecond
//! let events = sim.receiver.events_of(&session).await;   // eventType of each push, in order
//! assert_sequence(&["callout", "disconnect", "fee"], &events);
//! # }
//! ```
//!
//! Everything here panics with a readable message on failure: it is meant for tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::aksk;
use crate::clock::ClockMode;
use crate::config::Config;
use crate::shutdown::{self, ShutdownTrigger};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;

/// The simulated epoch of every test: the spec's worked example starts here (§5.2).
pub const START: &str = "2026-03-14T10:15:31Z";
pub const APP_KEY: &str = "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z";
pub const APP_SECRET: &str = "dT4xQ9pLm2vR8wYz";
pub const DISPLAY: &str = "+862087654321";
pub const CALLEE: &str = "+8613900001234";
/// How long a test waits for something that should happen promptly (real time).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The test configuration: the embedded default on a manual clock with a seed.
pub fn test_config() -> Config {
    let mut c = Config::embedded();
    c.clock.mode = ClockMode::Manual;
    c.store.ephemeral = true;
    c.clock.start = Some(START.parse().expect("valid start"));
    c.seed = Some(7);
    c
}

/// A running Dialtone and a receiver its app pushes to.
pub struct TestSim {
    pub base: String,
    pub http: reqwest::Client,
    pub receiver: PushReceiver,
    trigger: Option<ShutdownTrigger>,
    server: Option<JoinHandle<Result<(), crate::server::RunError>>>,
}

/// Starts Dialtone with the test config, changed by `customize`. The app's default push URLs
/// point at a fresh receiver (`/voice/status`, `/voice/fee`).
pub async fn spawn_sim_with(customize: impl FnOnce(&mut Config, &PushReceiver)) -> TestSim {
    spawn_sim_on(PushReceiver::start().await, customize).await
}

/// As [`spawn_sim_with`], pushing to an existing receiver (e.g. to run a scenario twice against
/// the same receiver port: see [`TestSim::stop_and_keep_receiver`]).
pub async fn spawn_sim_on(
    receiver: PushReceiver,
    customize: impl FnOnce(&mut Config, &PushReceiver),
) -> TestSim {
    let mut config = test_config();
    config.apps[0].status_url = Some(receiver.url("/voice/status"));
    config.apps[0].fee_url = Some(receiver.url("/voice/fee"));
    customize(&mut config, &receiver);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (trigger, signal) = shutdown::channel();
    // Served over HTTPS when the config says so: the client trusts exactly that certificate.
    let (scheme, http) = match &config.server.tls {
        Some(files) => {
            let tls = crate::tls::client_config(true, Some(&files.cert))
                .expect("the listener's certificate loads");
            let http = reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .build()
                .expect("a client with a rustls config builds");
            ("https", http)
        }
        None => ("http", crate::tls::http_client()),
    };
    let server = tokio::spawn(crate::run(config, listener, signal));
    TestSim {
        base: format!("{scheme}://{addr}"),
        http,
        receiver,
        trigger: Some(trigger),
        server: Some(server),
    }
}

pub async fn spawn_sim() -> TestSim {
    spawn_sim_with(|_, _| {}).await
}

/// A callVerify body like the spec's example (§4.4), pushing to the app's default URLs.
pub fn verify_body(code: &str) -> Value {
    json!({
        "displayNbr": DISPLAY,
        "calleeNbr": CALLEE,
        "languageType": 2,
        "preTone": "welcome.wav",
        "verifyCode": code,
        "posTone": "bye.wav",
        "times": 3,
        "returnIdlePort": "true",
        "userData": "order-7781",
    })
}

/// X-AKSK headers for the demo app, signed now.
pub fn signed_headers(app_key: &str, secret: &str, nonce: &str) -> Vec<(String, String)> {
    let (authorization, x_aksk) = aksk::sign(app_key, secret, nonce, crate::clock::transport_now());
    vec![
        ("Authorization".into(), authorization),
        ("X-AKSK".into(), x_aksk),
    ]
}

/// A fresh random nonce (letters and digits).
pub fn nonce() -> String {
    uuid_like()
}

fn uuid_like() -> String {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{:016X}{:016X}", std::process::id(), n)
}

/// A response: HTTP status and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// Dialtone's explanation, the `X-Dialtone-Hint` header, if the answer carried one.
    pub hint: Option<String>,
}

impl Reply {
    /// Asserts a platform error: status, resultcode and resultdesc.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, desc: &str) {
        assert_eq!(
            (
                self.status,
                self.body["resultcode"].as_str(),
                self.body["resultdesc"].as_str()
            ),
            (status, Some(code), Some(desc)),
            "full body: {}",
            self.body
        );
    }
}

impl TestSim {
    /// Starts Dialtone on [`test_config`]: manual clock at [`START`], seed 7, the demo app pushing
    /// to this sim's [`PushReceiver`].
    pub async fn start() -> TestSim {
        spawn_sim().await
    }

    /// As [`TestSim::start`], with the config changed by `customize` first.
    pub async fn start_with(customize: impl FnOnce(&mut Config, &PushReceiver)) -> TestSim {
        spawn_sim_with(customize).await
    }

    /// Sets what the phone `number` does (`PUT /sim/v1/phones/{number}`), e.g.
    /// `{"outcome":"busy"}` or `{"sequence":[{"outcome":"busy"},{"outcome":"answer"}]}`.
    pub async fn set_phone(&self, number: &str, behaviour_json: &str) {
        let resp = self
            .http
            .put(format!("{}/sim/v1/phones/{number}", self.base))
            .body(behaviour_json.to_owned())
            .send()
            .await
            .expect("request reaches Dialtone");
        let reply = Self::reply(resp).await;
        assert_eq!(
            reply.status, 200,
            "PUT /sim/v1/phones/{number}: {}",
            reply.body
        );
    }

    /// `POST /sim/v1/reset`, and forgets what the receiver recorded.
    pub async fn reset(&self) {
        let reply = self.post("/sim/v1/reset", &[], "").await;
        assert_eq!(reply.status, 200, "reset: {}", reply.body);
        self.receiver.forget().await;
    }

    /// Waits (long-poll, at most [`PATIENCE`]) until the call has an event named `event`, and
    /// returns the call's whole timeline. On a manual clock, advance first.
    pub async fn wait_for(&self, session_id: &str, event: &str) -> Vec<Value> {
        let ms = PATIENCE.as_millis();
        let reply = self
            .get(&format!(
                "/sim/v1/calls/{session_id}/events?wait_for={event}&timeout_ms={ms}"
            ))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let events = reply.body["events"].as_array().cloned().unwrap_or_default();
        if reply.body["satisfied"] != true {
            let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
            panic!("no `{event}` for {session_id} within {PATIENCE:?}; timeline so far: {names:?}");
        }
        events
    }

    /// A legacy access token for the demo app (`fastlogin`, spec §3.2).
    pub async fn legacy_token(&self) -> String {
        let login = self
            .post(
                &format!(
                    "/rest/fastlogin/v1.0?app_key={APP_KEY}&username=dialtone_dev01&format=json"
                ),
                &[("Authorization".into(), "Dev#Pass2026".into())],
                "",
            )
            .await;
        login.body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {}", login.body))
            .to_owned()
    }

    /// Sends callVerify signed for the demo app.
    pub async fn call_verify(&self, body: &Value) -> Reply {
        let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
        self.post(
            "/rest/httpsessions/callVerify/v1.0",
            &headers,
            body.to_string(),
        )
        .await
    }

    /// Places an accepted call and returns its sessionId.
    pub async fn place_call(&self, body: &Value) -> String {
        let reply = self.call_verify(body).await;
        assert_eq!(
            reply.body["resultcode"], "0",
            "call refused: {}",
            reply.body
        );
        reply.body["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_owned()
    }

    pub async fn post(
        &self,
        path: &str,
        headers: &[(String, String)],
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut req = self.http.post(format!("{}{}", self.base, path)).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        Self::reply(req.send().await.expect("request reaches Dialtone")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        let resp = self
            .http
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("request reaches Dialtone");
        Self::reply(resp).await
    }

    async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let hint = resp
            .headers()
            .get(crate::error::HINT_HEADER)
            .map(|v| v.to_str().expect("hints are ASCII").to_owned());
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "not JSON (HTTP {status}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        Reply { status, body, hint }
    }

    /// Advances the manual clock (settling pushes at each step).
    pub async fn advance(&self, by: &str) {
        let reply = self
            .post(
                "/sim/v1/clock/advance",
                &[],
                json!({ "by": by }).to_string(),
            )
            .await;
        assert_eq!(reply.status, 200, "advance failed: {}", reply.body);
    }

    /// The number of calls Dialtone knows.
    pub async fn call_count(&self) -> usize {
        let reply = self.get("/sim/v1/calls").await;
        reply.body.as_array().expect("a list").len()
    }

    pub async fn call(&self, session_id: &str) -> Value {
        let reply = self.get(&format!("/sim/v1/calls/{session_id}")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    /// As [`TestSim::start_with`], pushing to `receiver`.
    pub async fn start_on(
        receiver: PushReceiver,
        customize: impl FnOnce(&mut Config, &PushReceiver),
    ) -> TestSim {
        spawn_sim_on(receiver, customize).await
    }

    /// Shuts the server down (letting pushes on the wire finish) and hands back the receiver.
    pub async fn stop_and_keep_receiver(mut self) -> PushReceiver {
        let server = self.begin_shutdown();
        let _ = tokio::time::timeout(PATIENCE, server).await;
        let placeholder = PushReceiver::unstarted();
        std::mem::replace(&mut self.receiver, placeholder)
    }

    /// Fires the shutdown signal and hands back the server task, to watch it finish.
    pub fn begin_shutdown(&mut self) -> JoinHandle<Result<(), crate::server::RunError>> {
        if let Some(t) = self.trigger.take() {
            t.fire();
        }
        self.server.take().expect("running")
    }
}

/// One push as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Push {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body exactly as received.
    pub raw: String,
}

impl Push {
    pub fn event_type(&self) -> &str {
        self.body["eventType"].as_str().unwrap_or_default()
    }

    pub fn info(&self, field: &str) -> &Value {
        &self.body["statusInfo"][field]
    }

    /// Checks the X-AKSK signature independently of Dialtone's code (spec §8): HMAC-SHA256 over
    /// url + "\n" + nonce + "\n" + created, keyed with the app secret.
    /// Returns the `Created` value, which a seeded manual-clock run derives from simulated time.
    #[track_caller]
    pub fn assert_signed(&self, secret: &str, url: &str) -> String {
        let auth = self.headers["authorization"].to_str().expect("ascii");
        assert_eq!(
            auth,
            r#"AKSK realm="SDP",profile="UsernameToken",type="Appkey""#
        );
        let x = self.headers["x-aksk"].to_str().expect("ascii");
        let attr = |name: &str| -> String {
            let start = x
                .find(&format!("{name}=\""))
                .unwrap_or_else(|| panic!("{name} in {x}"));
            let rest = &x[start + name.len() + 2..];
            rest[..rest.find('"').expect("closing quote")].to_owned()
        };
        assert!(x.starts_with("UsernameToken "), "{x}");
        assert_eq!(attr("Username"), APP_KEY);
        let (nonce, created) = (attr("Nonce"), attr("Created"));
        assert!(
            nonce.len() == 32
                && nonce
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{url}\n{nonce}\n{created}").as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(
            attr("PasswordDigest"),
            expected,
            "signature of the push to {url}"
        );
        created
    }
}

/// A real webhook receiver on an ephemeral loopback port.
pub struct PushReceiver {
    pub addr: SocketAddr,
    status: Arc<AtomicU16>,
    rx: Mutex<mpsc::UnboundedReceiver<Push>>,
    tx: mpsc::UnboundedSender<Push>,
    stop: Option<ShutdownTrigger>,
    serving: Option<JoinHandle<std::io::Result<()>>>,
    /// Everything received, in arrival order, whether or not taken from the channel.
    log: Arc<std::sync::Mutex<Vec<Push>>>,
    /// When set, each request waits for one permit before answering (to hold a push on the wire).
    gate: Option<Arc<tokio::sync::Semaphore>>,
    /// When set, the receiver speaks HTTPS ([`PushReceiver::start_tls`]).
    tls: Option<tokio_rustls::TlsAcceptor>,
}

#[derive(Clone)]
struct ReceiverState {
    status: Arc<AtomicU16>,
    log: Arc<std::sync::Mutex<Vec<Push>>>,
    tx: mpsc::UnboundedSender<Push>,
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

async fn receive(
    State(s): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let push = Push {
        path: uri.to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: String::from_utf8_lossy(&body).into_owned(),
    };
    s.log
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(push.clone());
    let _ = s.tx.send(push);
    if let Some(gate) = &s.gate {
        let _permit = gate.acquire().await;
    }
    StatusCode::from_u16(s.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
}

impl PushReceiver {
    pub async fn start() -> PushReceiver {
        Self::start_gated(None).await
    }

    /// A receiver that is not listening (a placeholder).
    fn unstarted() -> PushReceiver {
        let (tx, rx) = mpsc::unbounded_channel();
        PushReceiver {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            status: Arc::new(AtomicU16::new(200)),
            rx: Mutex::new(rx),
            tx,
            stop: None,
            serving: None,
            log: Arc::default(),
            gate: None,
            tls: None,
        }
    }

    /// A receiver that holds each request until `gate` gives a permit.
    pub async fn start_gated(gate: Option<Arc<tokio::sync::Semaphore>>) -> PushReceiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut r = PushReceiver {
            addr: "127.0.0.1:0".parse().expect("addr"),
            status: Arc::new(AtomicU16::new(200)),
            rx: Mutex::new(rx),
            tx,
            stop: None,
            serving: None,
            log: Arc::default(),
            gate,
            tls: None,
        };
        r.listen_on("127.0.0.1:0".parse().expect("addr")).await;
        r
    }

    /// A receiver serving HTTPS with `certificate` (e.g. [`test_certificate`]): its URLs are
    /// `https://127.0.0.1:…`.
    pub async fn start_tls(certificate: &crate::tls::SelfSigned) -> PushReceiver {
        let config = crate::tls::server_config(&certificate.cert, &certificate.key)
            .expect("the test certificate loads");
        let mut r = PushReceiver::unstarted();
        r.tls = Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)));
        r.listen_on("127.0.0.1:0".parse().expect("addr")).await;
        r
    }

    async fn listen_on(&mut self, addr: SocketAddr) {
        let listener = TcpListener::bind(addr).await.expect("receiver bind");
        self.addr = listener.local_addr().expect("addr");
        let state = ReceiverState {
            status: self.status.clone(),
            log: self.log.clone(),
            tx: self.tx.clone(),
            gate: self.gate.clone(),
        };
        let app = Router::new().fallback(post(receive)).with_state(state);
        let (trigger, signal) = shutdown::channel();
        self.stop = Some(trigger);
        let tls = self.tls.clone();
        self.serving = Some(tokio::spawn(async move {
            let stop = async move { signal.wait().await };
            match tls {
                None => {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(stop)
                        .await
                }
                Some(tls) => {
                    axum::serve(TlsListener { listener, tls }, app)
                        .with_graceful_shutdown(stop)
                        .await
                }
            }
        }));
    }

    /// The receiver's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        let scheme = match self.tls {
            Some(_) => "https",
            None => "http",
        };
        format!("{scheme}://{}{}", self.addr, path)
    }

    /// From now on, answer every push with `status`.
    pub fn reply_with(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Stops listening: pushes now fail to connect.
    pub fn stop(&mut self) {
        if let Some(t) = self.stop.take() {
            t.fire();
        }
    }

    /// Listens again on the same port, once the old listener has closed.
    pub async fn restart(&mut self) {
        self.stop();
        if let Some(old) = self.serving.take() {
            let _ = tokio::time::timeout(PATIENCE, old).await;
        }
        let addr = self.addr;
        self.listen_on(addr).await;
    }

    /// The next push, waiting at most [`PATIENCE`].
    pub async fn next(&self) -> Push {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .expect("a push within the patience bound")
            .expect("receiver channel open")
    }

    /// The next `n` pushes.
    pub async fn take(&self, n: usize) -> Vec<Push> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }

    /// Pushes already received and not yet taken, without waiting. After a settled advance every
    /// attempt has been answered, so this is exact.
    pub async fn pending(&self) -> Vec<Push> {
        let mut rx = self.rx.lock().await;
        let mut out = Vec::new();
        while let Ok(p) = rx.try_recv() {
            out.push(p);
        }
        out
    }
}

impl PushReceiver {
    /// Every push received so far, in arrival order.
    pub fn log(&self) -> Vec<Push> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The CDR of `session_id` received so far. Panics if none arrived (advance first).
    pub fn cdr(&self, session_id: &str) -> Value {
        self.log()
            .iter()
            .find_map(|p| p.cdr_of(session_id).cloned())
            .unwrap_or_else(|| panic!("no CDR for {session_id} yet"))
    }

    /// The pushes concerning `session_id` (status pushes and CDR batches holding its CDR), in
    /// arrival order. After a settled advance every push has arrived.
    pub async fn pushes_of(&self, session_id: &str) -> Vec<Push> {
        self.log()
            .into_iter()
            .filter(|p| p.concerns(session_id))
            .collect()
    }

    /// The `eventType` of each push concerning `session_id`, in arrival order.
    pub async fn events_of(&self, session_id: &str) -> Vec<String> {
        let pushes = self.pushes_of(session_id).await;
        pushes.iter().map(|p| p.event_type().to_owned()).collect()
    }

    /// Forgets everything received.
    pub async fn forget(&self) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.pending().await;
    }
}

impl Push {
    /// Whether this push is about `session_id`.
    pub fn concerns(&self, session_id: &str) -> bool {
        self.info("sessionId") == session_id
            || self.body["feeLst"]
                .as_array()
                .is_some_and(|l| l.iter().any(|c| c["sessionId"] == session_id))
    }

    /// The CDR of `session_id` in this push, if it carries it.
    pub fn cdr_of(&self, session_id: &str) -> Option<&Value> {
        self.body["feeLst"]
            .as_array()?
            .iter()
            .find(|c| c["sessionId"] == session_id)
    }
}

/// Asserts that `actual` is `expected`; on failure, prints both side by side, marking the first
/// difference.
#[track_caller]
pub fn assert_sequence<E: AsRef<str>, A: AsRef<str>>(expected: &[E], actual: &[A]) {
    let exp: Vec<&str> = expected.iter().map(AsRef::as_ref).collect();
    let act: Vec<&str> = actual.iter().map(AsRef::as_ref).collect();
    if exp == act {
        return;
    }
    let width = exp.iter().map(|s| s.len()).max().unwrap_or(0).max(8);
    let mut table = format!("  # | {:<width$} | actual\n", "expected");
    let mut marked = false;
    for i in 0..exp.len().max(act.len()) {
        let e = exp.get(i).copied().unwrap_or("-");
        let a = act.get(i).copied().unwrap_or("-");
        let mark = if e != a && !marked {
            marked = true;
            "  <== first difference"
        } else {
            ""
        };
        table.push_str(&format!("{i:>3} | {e:<width$} | {a}{mark}\n"));
    }
    panic!("sequences differ:\n{table}");
}

/// A TLS listener for axum's `serve`: connections whose handshake fails are skipped.
struct TlsListener {
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, peer)) = self.listener.accept().await else {
                continue;
            };
            // Handshakes are quick on loopback and tests make one at a time.
            if let Ok(Ok(stream)) = tokio::time::timeout(PATIENCE, self.tls.accept(stream)).await {
                return (stream, peer);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A certificate and key for `localhost`, `127.0.0.1` and `::1`, written to a fresh folder under
/// the system's temporary directory: for HTTPS receivers and listeners in tests. A client
/// trusts it with `push.ca_file` / [`crate::tls::client_config`].
pub fn test_certificate() -> crate::tls::SelfSigned {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dialtone-test-tls-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    crate::tls::self_signed(&dir, None).expect("a certificate for a test")
}

impl Drop for PushReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Base64 of a URL, as callVerify's statusUrl/feeUrl want it.
pub fn b64(url: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(url)
}
