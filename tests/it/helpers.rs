//! The integration tests use the same harness users get: `dialtone::testing`, plus a client for
//! the event stream.

pub use dialtone::testing::*;

use std::collections::VecDeque;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The voice notification API (spec §11).
pub const NOTIFY: &str = "/rest/httpsessions/callnotify/v2.0";

/// Sends a voice notification request to `path` (a version or sandbox variant of [`NOTIFY`]),
/// signed for the demo app.
pub async fn call_notify(sim: &TestSim, path: &str, body: &Value) -> Reply {
    let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
    sim.post(path, &headers, body.to_string()).await
}

/// Places an accepted voice notification and returns its sessionId.
pub async fn place_notify(sim: &TestSim, body: &Value) -> String {
    let reply = call_notify(sim, NOTIFY, body).await;
    assert_eq!(reply.body["resultcode"], "0", "{}", reply.body);
    reply.body["sessionId"].as_str().unwrap().to_owned()
}

/// Forwards each line of a child's `pipe` to a channel, from a thread (blocking reads); the
/// channel closes when the pipe does.
pub fn forward_lines(
    pipe: impl std::io::Read + Send + 'static,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    use std::io::BufRead;
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The `digitInfo` of each collectInfo push among `pushes`, in order.
pub fn collected_digits(pushes: &[Push]) -> Vec<&Value> {
    pushes
        .iter()
        .filter(|p| p.event_type() == "collectInfo")
        .map(|p| p.info("digitInfo"))
        .collect()
}

/// The call's `audio.wav` (served as `audio/wav`): its format and its samples.
pub async fn audio_wav(sim: &TestSim, session: &str) -> (hound::WavSpec, Vec<i16>) {
    let resp = sim
        .http
        .get(format!("{}/sim/v1/calls/{session}/audio.wav", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/wav");
    let bytes = resp.bytes().await.unwrap();
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes.to_vec())).expect("a WAV file");
    let spec = reader.spec();
    (
        spec,
        reader.into_samples::<i16>().map(Result::unwrap).collect(),
    )
}

/// The click-to-call API (spec §12).
pub const CLICK2CALL: &str = "/rest/httpsessions/click2Call/v2.0";

/// Places an accepted click-to-call, signed for the demo app, and returns its sessionId.
pub async fn place_click_to_call(sim: &TestSim, body: &Value) -> String {
    let headers = signed_headers(APP_KEY, APP_SECRET, &nonce());
    let reply = sim.post(CLICK2CALL, &headers, body.to_string()).await;
    assert_eq!(reply.body["resultcode"], "0", "{}", reply.body);
    reply.body["sessionId"].as_str().unwrap().to_owned()
}

/// A client of `GET /sim/v1/stream`: each message parsed as JSON, awaited under [`PATIENCE`].
/// With `batch=ndjson` in the query it splits each frame into its lines, and checks that every
/// message ends with `\n`; without, that a frame is one message.
pub struct StreamClient {
    ws: WebSocketStream<TcpStream>,
    batched: bool,
    /// Messages of a frame not yet returned.
    pending: VecDeque<Value>,
    /// Text frames received so far.
    pub frames: usize,
}

impl StreamClient {
    /// Connects with `query` (e.g. `since=3&kinds=push`; empty for everything from now on).
    pub async fn connect(sim: &TestSim, query: &str) -> StreamClient {
        let addr = sim.base.trim_start_matches("http://");
        let tcp = TcpStream::connect(addr).await.expect("Dialtone listens");
        StreamClient::over(tcp, sim, query).await
    }

    /// As [`StreamClient::connect`], with a receive buffer of a few KiB: a client that stops
    /// reading soon holds the server's writes up.
    pub async fn connect_narrow(sim: &TestSim, query: &str) -> StreamClient {
        let addr = sim
            .base
            .trim_start_matches("http://")
            .parse()
            .expect("addr");
        let socket = TcpSocket::new_v4().expect("a socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let tcp = socket.connect(addr).await.expect("Dialtone listens");
        StreamClient::over(tcp, sim, query).await
    }

    async fn over(tcp: TcpStream, sim: &TestSim, query: &str) -> StreamClient {
        let url = format!(
            "{}/sim/v1/stream?{query}",
            sim.base.replace("http://", "ws://")
        );
        let (ws, response) = tokio_tungstenite::client_async(url.as_str(), tcp)
            .await
            .unwrap_or_else(|e| panic!("GET {url} upgrades: {e}"));
        assert_eq!(response.status().as_u16(), 101);
        StreamClient {
            ws,
            batched: query.split('&').any(|p| p == "batch=ndjson"),
            pending: VecDeque::new(),
            frames: 0,
        }
    }

    /// The next message, within [`PATIENCE`].
    pub async fn next(&mut self) -> Value {
        loop {
            if let Some(message) = self.pending.pop_front() {
                return message;
            }
            let msg = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a stream message within the patience bound")
                .expect("the stream is open")
                .expect("a well-formed frame");
            match msg {
                Message::Text(text) if self.batched => {
                    self.frames += 1;
                    let lines = text
                        .strip_suffix('\n')
                        .unwrap_or_else(|| panic!("a batched frame ends with a newline: {text}"));
                    for line in lines.split('\n') {
                        let message = serde_json::from_str(line)
                            .unwrap_or_else(|e| panic!("each line is a message: {e}: {line:?}"));
                        self.pending.push_back(message);
                    }
                }
                Message::Text(text) => {
                    self.frames += 1;
                    return serde_json::from_str(&text).expect("a frame is one message");
                }
                Message::Close(frame) => panic!("the stream closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Messages up to and including the first for which `last` holds.
    pub async fn until(&mut self, last: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let m = self.next().await;
            let done = last(&m);
            out.push(m);
            if done {
                return out;
            }
        }
    }

    /// Closes the connection (as a client that goes away).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The `kind` of each message.
pub fn kinds(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["kind"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// Whether `m` is the push attempt of a call's CDR.
pub fn is_fee_push(m: &Value) -> bool {
    m["kind"] == "push" && m["event_type"] == "fee"
}

/// The log lines written on this thread while it lives: what `dialtone` prints on stderr (human
/// format, no colours, no timestamps), for tests on the default current-thread runtime, where the
/// spawned Dialtone runs on the test's thread.
///
/// One subscriber serves the whole test binary, as the global default, and writes each line to
/// the capture of the thread that logged it (or nowhere). Not one subscriber per test
/// (`set_default`): while a single one is registered, tracing asks *the registering thread's*
/// default whether a new callsite is enabled, so a callsite first met by another test's thread
/// was cached as disabled for everyone, and a capture saw no line at all (seen in about half of
/// the runs of `cargo test --test it pushes`).
pub struct LogCapture {
    buffer: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

thread_local! {
    /// Where this thread's log lines go: the running test's capture, if it has one.
    static CAPTURE: std::cell::RefCell<Option<Captured>> = const { std::cell::RefCell::new(None) };
}

/// A line for the current thread's capture, if any.
struct ThisThread;

impl std::io::Write for ThisThread {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with_borrow_mut(|c| match c {
            Some(c) => c.write(buf),
            None => Ok(buf.len()),
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Captures what the binary's default filter (`dialtone=info`) lets through.
    pub fn start() -> LogCapture {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("dialtone=info"))
                .with_writer(|| ThisThread)
                .with_ansi(false)
                .without_time()
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("the only global subscriber of the tests");
        });
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        CAPTURE.set(Some(Captured(buffer.clone())));
        LogCapture { buffer }
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.buffer.lock().expect("not poisoned").clone();
        String::from_utf8(bytes)
            .expect("UTF-8 logs")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The lines containing every one of `needles`.
    pub fn matching(&self, needles: &[&str]) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .collect()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        CAPTURE.set(None);
    }
}

/// A `Write` into a buffer the test reads back: captured logs, a progress line.
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
