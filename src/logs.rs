//! The log lines that tell the story of a run: one line per platform request answered (app, path,
//! resultcode; for a refusal the reason and Dialtone's hint), per call event (with the stateCode
//! of a disconnect), per push attempt (url, status, latency, outcome, and what happens next), and,
//! logged where they are decided, per lock ([`crate::auth`]) and per frequency hit
//! ([`crate::engine`]).
//!
//! Each line is written at one point: requests as the server answers them
//! ([`crate::sim::stream::Asked::answered`], [`request`]), everything else as it is published on
//! the event bus ([`crate::events::Events::publish`] calls [`published`]), so the log and the
//! event stream cannot tell different stories. Lines published under the engine's lock are
//! written as it is let go ([`hold`]), so writing them does not lengthen the lock. Lines are `info` (refusals, locks and frequency hits
//! `warn`) under the targets `dialtone::request`, `dialtone::call`, `dialtone::push` and
//! `dialtone::sim`: the default filter `dialtone=info` shows them all.
//!
//! It also installs the binary's subscriber ([`init`]): human-readable text (colours only on a
//! terminal) or JSON, one object per line, handed to a thread that writes stderr, so a line
//! logged under the engine's lock never waits for a slow or paused reader (lines beyond
//! [`QUEUE_LINES`] are dropped and counted instead). In the plain text format under the default
//! filter, the story lines skip tracing's formatting and are written by hand (`DIRECT`), the
//! same text to the byte.

use std::cell::RefCell;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::events::{Published, PushAttempt, SimEvent, Stamp, TimelineItem};
use crate::push::journal::{DeliveryOutcome, PushKind};

/// How the binary writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One line of text per event; colours when stderr is a terminal.
    #[default]
    Human,
    /// One JSON object per line (fields as keys), for log collectors.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<LogFormat, String> {
        match s {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("`{other}` is no log format: human or json")),
        }
    }
}

/// Installs the process's subscriber, writing to stderr: `RUST_LOG` if set, else `dialtone=info`.
/// Call once, from the binary (tests capture their own), and keep the guard: dropping it waits
/// (a second at most) until every line queued so far is written.
pub fn init(format: LogFormat) -> FlushGuard {
    let (writer, guard) = queued(std::io::stderr(), QUEUE_LINES);
    let direct_writer = writer.clone();
    // Under the default filter every story line is shown and no span is ever entered (the
    // request span is `debug`), so a plain line is known exactly before tracing writes it.
    let default_filter = std::env::var_os("RUST_LOG").is_none();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "dialtone=info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(WallTime)
        .with_writer(writer);
    match format {
        // Colours only on a terminal: redirected logs stay plain text, written by PlainFields.
        LogFormat::Human if std::io::IsTerminal::is_terminal(&std::io::stderr()) => {
            builder.with_ansi(true).init()
        }
        LogFormat::Human => {
            if default_filter {
                let _ = DIRECT.set(direct_writer);
            }
            builder.with_ansi(false).fmt_fields(PlainFields).init()
        }
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    guard
}

/// The wall-clock time of a log line, `2026-03-14T10:15:31.123456Z` as tracing's own timer writes
/// it, with the part up to the second kept per thread: a busy server logs thousands of lines a
/// second, and writing the whole date each time was a sixth of the logging's cost.
struct WallTime;

impl tracing_subscriber::fmt::time::FormatTime for WallTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        wall_time(w)
    }
}

/// Writes [`WallTime`]'s text.
fn wall_time(w: &mut impl std::fmt::Write) -> std::fmt::Result {
    // The log's time is the host's, not the simulation's.
    let now = crate::clock::log_now();
    let second = now.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != Some(second) || text.is_empty() {
            text.clear();
            let at = i64::try_from(second)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or_default();
            text.push_str(&crate::clock::created_time(at));
            text.pop(); // the `Z`: the fraction goes before it
            *cached = Some(second);
        }
        w.write_str(text)
    })?;
    // Six digits of microseconds, written by hand: `write!` was a third of this function.
    let mut fraction = *b".000000Z";
    let mut micros = now.subsec_micros();
    for digit in fraction[1..7].iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    w.write_str(std::str::from_utf8(&fraction).unwrap_or(".000000Z"))
}

/// A plain log line's fields, as tracing's default writes them without colours (`name=value`,
/// the message first and bare, control characters in it escaped), written with fewer steps:
/// under load the fields were most of the cost of a line.
struct PlainFields;

impl<'w> tracing_subscriber::fmt::FormatFields<'w> for PlainFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: tracing_subscriber::fmt::format::Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'w> {
    writer: tracing_subscriber::fmt::format::Writer<'w>,
    first: bool,
    result: std::fmt::Result,
}

impl PlainVisitor<'_> {
    fn field(&mut self, name: &str, value: std::fmt::Arguments) {
        if self.result.is_ok() {
            let first = std::mem::take(&mut self.first);
            self.result = write_field(&mut self.writer, first, name, value);
        }
    }
}

fn write_field(
    w: &mut tracing_subscriber::fmt::format::Writer<'_>,
    first: bool,
    name: &str,
    value: std::fmt::Arguments,
) -> std::fmt::Result {
    if !first {
        w.write_char(' ')?;
    }
    if name == "message" {
        return std::fmt::Write::write_fmt(&mut Escaping(w), value);
    }
    w.write_str(name.strip_prefix("r#").unwrap_or(name))?;
    w.write_char('=')?;
    w.write_fmt(value)
}

impl tracing::field::Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.field("message", format_args!("{value}"));
        } else {
            self.field(field.name(), format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.field(field.name(), format_args!("{value:?}"));
    }
}

/// Escapes the control characters a terminal acts on (ESC, BEL, BS, FF, DEL and the C1 range),
/// as tracing does for a message; text without them (every line Dialtone writes) passes whole.
struct Escaping<'a, W>(&'a mut W);

impl<W: std::fmt::Write> std::fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        // 0xC2 leads the UTF-8 of U+0080..U+00BF, which holds the C1 range.
        if !s
            .bytes()
            .any(|b| matches!(b, 0x07 | 0x08 | 0x0c | 0x1b | 0x7f | 0xc2))
        {
            return self.0.write_str(s);
        }
        for c in s.chars() {
            match c {
                '\x07' | '\x08' | '\x0c' | '\x1b' | '\x7f' => {
                    write!(self.0, "\\x{:02x}", c as u32)?
                }
                '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", c as u32)?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

thread_local! {
    /// The second a thread last logged in, and its text up to the fraction.
    static SECOND: std::cell::RefCell<(Option<u64>, String)> =
        const { std::cell::RefCell::new((None, String::new())) };
}

/// How long the writer thread lets lines gather after each write (a busy server logs thousands
/// of lines a second; waking the thread for each cost more than formatting them).
const LINGER: std::time::Duration = std::time::Duration::from_millis(5);

/// Lines waiting for stderr before new ones are dropped.
pub const QUEUE_LINES: usize = 16_384;

/// A writer that hands each line to a thread writing stderr. Dialtone logs where things happen,
/// some under the engine's lock, and a full pipe (`dialtone 2>&1 | less`, paused) must not stall
/// the simulation: past [`QUEUE_LINES`] waiting, lines are dropped, and the writer says how many
/// once it catches up.
///
/// Lines gather in one buffer that the thread takes whole: under load a wake-up and a `write`
/// carry many lines, and a line logged while the thread is busy costs a copy and no wake-up
/// (a channel woke the thread once per line, which halved the platform API's throughput).
#[derive(Clone)]
struct QueuedStderr(Arc<Queue>);

struct Queue {
    state: Mutex<Buffered>,
    /// Lines are waiting and the thread sleeps.
    ready: Condvar,
    /// The thread wrote what it took.
    written: Condvar,
    capacity: usize,
}

#[derive(Default)]
struct Buffered {
    bytes: Vec<u8>,
    /// Lines in `bytes`.
    lines: usize,
    /// Lines dropped since the thread last said so.
    dropped: u64,
    /// Lines ever queued, and of those, written.
    queued: u64,
    written: u64,
    /// The thread waits on `ready`: only then does a new line need to wake it.
    idle: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Buffered> {
        // Plain bytes and counters: a panic elsewhere leaves them usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Queue {
    /// Queues one whole line, or counts it dropped.
    fn push(&self, line: &[u8]) {
        let mut st = self.lock();
        if st.lines >= self.capacity {
            st.dropped += 1;
        } else {
            st.bytes.extend_from_slice(line);
            st.lines += 1;
            st.queued += 1;
            if st.idle {
                st.idle = false;
                self.ready.notify_one();
            }
        }
    }
}

impl std::io::Write for QueuedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The fmt layer writes each event as one buffer, so a line is never split.
        self.0.push(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for QueuedStderr {
    type Writer = QueuedStderr;
    fn make_writer(&'a self) -> QueuedStderr {
        self.clone()
    }
}

/// Waits, when dropped, for the lines queued before it to reach stderr.
pub struct FlushGuard(Arc<Queue>);

impl Drop for FlushGuard {
    fn drop(&mut self) {
        let queue = &self.0;
        let st = queue.lock();
        let target = st.queued;
        let _ = queue
            .written
            .wait_timeout_while(st, std::time::Duration::from_secs(1), |st| {
                st.written < target
            });
    }
}

/// A [`QueuedStderr`] over `sink` holding up to `capacity` lines, and its guard.
fn queued(
    mut sink: impl std::io::Write + Send + 'static,
    capacity: usize,
) -> (QueuedStderr, FlushGuard) {
    let queue = Arc::new(Queue {
        state: Mutex::new(Buffered::default()),
        ready: Condvar::new(),
        written: Condvar::new(),
        capacity,
    });
    let shared = queue.clone();
    // Two buffers change places: the one just written goes back, emptied but with its capacity,
    // so lines are never copied into a buffer that is still growing.
    let mut chunk = Vec::new();
    std::thread::spawn(move || loop {
        let (lost, upto) = {
            let mut st = shared.lock();
            while st.bytes.is_empty() && st.dropped == 0 {
                st.idle = true;
                st = shared.ready.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            st.lines = 0;
            std::mem::swap(&mut st.bytes, &mut chunk);
            (std::mem::take(&mut st.dropped), st.queued)
        };
        if lost > 0 {
            let _ = writeln!(
                sink,
                "(dialtone: {lost} log lines dropped: stderr was not read)"
            );
        }
        let _ = sink.write_all(&chunk);
        let _ = sink.flush();
        chunk.clear();
        shared.lock().written = upto;
        shared.written.notify_all();
        // Let lines gather before looking again: while this thread is not idle, a line costs
        // its writer a copy and no wake-up. A lone line still goes out at once.
        std::thread::sleep(LINGER);
    });
    (QueuedStderr(queue.clone()), FlushGuard(queue))
}

/// The binary's writer, when story lines skip tracing's formatting: [`init`] sets it for the
/// plain text format under the default filter, where every story line is shown and the line
/// tracing would write is known exactly (a test holds the two equal). Under `wrk`, tracing's
/// formatting of the three lines of a callVerify was a tenth of the request's CPU.
static DIRECT: std::sync::OnceLock<QueuedStderr> = std::sync::OnceLock::new();

/// Writes a story line by hand, as the plain format would (`time LEVEL target: message
/// name=value…`), when [`DIRECT`] is set; says whether it did.
fn direct(level: tracing::Level, target: &str, fill: impl FnOnce(&mut Line)) -> bool {
    #[cfg(test)]
    if tests::capturing() {
        tests::capture(|text| {
            let mut line = Line::start(text, level, target);
            fill(&mut line);
            text.push('\n');
        });
        return true;
    }
    let Some(sink) = DIRECT.get() else {
        return false;
    };
    LINE.with_borrow_mut(|text| {
        text.clear();
        let _ = wall_time(text);
        text.push(' ');
        let mut line = Line::start(text, level, target);
        fill(&mut line);
        text.push('\n');
        sink.0.push(text.as_bytes());
    });
    true
}

/// Whether story lines are written by hand (and so all shown).
fn direct_on() -> bool {
    #[cfg(test)]
    if tests::capturing() {
        return true;
    }
    DIRECT.get().is_some()
}

thread_local! {
    /// The text of the line a thread is writing by hand; its room serves the next one.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// A line being written by hand: the message first, then the fields in their order, each
/// written as [`PlainFields`] writes it.
struct Line<'a>(&'a mut String);

impl<'a> Line<'a> {
    /// Opens a line after its time: the level as tracing pads it, and the target.
    fn start(text: &'a mut String, level: tracing::Level, target: &str) -> Line<'a> {
        text.push_str(match level {
            tracing::Level::ERROR => "ERROR",
            tracing::Level::WARN => " WARN",
            tracing::Level::INFO => " INFO",
            tracing::Level::DEBUG => "DEBUG",
            tracing::Level::TRACE => "TRACE",
        });
        text.push(' ');
        text.push_str(target);
        text.push_str(": ");
        Line(text)
    }

    /// The message, bare, control characters escaped.
    fn message(&mut self, message: std::fmt::Arguments) {
        let _ = std::fmt::Write::write_fmt(&mut Escaping(self.0), message);
    }

    fn name(&mut self, name: &str) {
        self.0.push(' ');
        self.0.push_str(name);
        self.0.push('=');
    }

    /// A `%value` field.
    fn display(&mut self, name: &str, value: impl std::fmt::Display) {
        self.name(name);
        let _ = std::fmt::Write::write_fmt(self.0, format_args!("{value}"));
    }

    /// A `%value` field of text.
    fn text(&mut self, name: &str, value: &str) {
        self.name(name);
        self.0.push_str(value);
    }

    /// A text field (as `{:?}` writes it: quoted, escaped); none is left out.
    fn quoted(&mut self, name: &str, value: Option<&str>) {
        let Some(value) = value else { return };
        self.name(name);
        if value
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
        {
            self.0.push('"');
            self.0.push_str(value);
            self.0.push('"');
        } else {
            let _ = std::fmt::Write::write_fmt(self.0, format_args!("{value:?}"));
        }
    }

    /// A number field; none is left out.
    fn number(&mut self, name: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.display(name, value);
        }
    }
}

/// A platform request answered: `0` (with the call's sessionId, if one was accepted) or a refusal
/// with the platform's text and Dialtone's hint.
pub struct Answered<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The app the request named (authenticated or not).
    pub app_key: Option<&'a str>,
    pub http_status: u16,
    /// `None` for an answer that is no platform JSON (a recording's redirect).
    pub resultcode: Option<&'a str>,
    pub resultdesc: Option<&'a str>,
    pub hint: Option<&'a str>,
    pub session_id: Option<&'a str>,
}

/// Logs one platform request: `accepted` or `refused`.
pub fn request(a: &Answered) {
    let app = a.app_key.unwrap_or("-");
    let code = a.resultcode.unwrap_or("-");
    let accepted = a.http_status < 400;
    let level = match accepted {
        true => tracing::Level::INFO,
        false => tracing::Level::WARN,
    };
    let written = direct(level, "dialtone::request", |l| {
        match accepted {
            true => l.message(format_args!("accepted")),
            false => l.message(format_args!(
                "refused: {}",
                a.resultdesc.unwrap_or("no platform answer")
            )),
        }
        l.text("app_key", app);
        l.text("method", a.method);
        l.text("path", a.path);
        l.number("status", Some(a.http_status.into()));
        l.text("resultcode", code);
        match accepted {
            true => {
                if let Some(session_id) = a.session_id {
                    l.text("session_id", session_id);
                }
            }
            false => l.quoted("hint", a.hint),
        }
    });
    if written {
        return;
    }
    if accepted {
        tracing::info!(
            target: "dialtone::request",
            app_key = %app,
            method = %a.method,
            path = %a.path,
            status = a.http_status,
            resultcode = %code,
            session_id = a.session_id.map(tracing::field::display),
            "accepted",
        );
    } else {
        tracing::warn!(
            target: "dialtone::request",
            app_key = %app,
            method = %a.method,
            path = %a.path,
            status = a.http_status,
            resultcode = %code,
            hint = a.hint,
            "refused: {}",
            a.resultdesc.unwrap_or("no platform answer"),
        );
    }
}

/// Logs a published event now, or, while this thread holds lines back ([`hold`]), once it lets
/// go.
pub fn published(p: &Arc<Published>) {
    let logged_now = HELD.with_borrow_mut(|held| {
        if held.holds == 0 {
            return false;
        }
        held.lines.push(p.clone());
        true
    });
    if !logged_now {
        event(&p.stamp, &p.event);
    }
}

/// Holds back this thread's event lines until the returned guard (the last one, if nested) is
/// dropped. The engine holds them while it holds its lock: a line costs a microsecond or two to
/// write, which the other threads waiting for the lock would wait out too. One hold's lines
/// keep their order; two holds' lines may come out in either order (docs/decisions.md).
pub fn hold() -> LogHold {
    HELD.with_borrow_mut(|held| held.holds += 1);
    LogHold(std::marker::PhantomData)
}

/// See [`hold`]. Tied to its thread (the lines are held per thread).
pub struct LogHold(std::marker::PhantomData<*const ()>);

impl Drop for LogHold {
    fn drop(&mut self) {
        let lines = HELD.with_borrow_mut(|held| {
            held.holds -= 1;
            match held.holds {
                0 => std::mem::take(&mut held.lines),
                _ => Vec::new(),
            }
        });
        if std::thread::panicking() {
            // Writing them could panic again, which would abort.
            return;
        }
        for p in &lines {
            event(&p.stamp, &p.event);
        }
        // The list's room serves the next hold.
        let mut lines = lines;
        lines.clear();
        HELD.with_borrow_mut(|held| {
            if held.lines.capacity() < lines.capacity() {
                held.lines = lines;
            }
        });
    }
}

#[derive(Default)]
struct Held {
    holds: u32,
    lines: Vec<Arc<Published>>,
}

thread_local! {
    /// The lines this thread holds back, and how many holds it has.
    static HELD: RefCell<Held> = RefCell::new(Held::default());
}

/// Logs a published event (requests excepted: [`request`] has them, with their path).
pub fn event(stamp: &Stamp, event: &SimEvent) {
    let at = tracing::field::display(&stamp.time);
    match event {
        SimEvent::Accepted(_) | SimEvent::Refused(_) => {}
        SimEvent::Timeline(t) => call_event(at, t),
        SimEvent::Push(p) => push(at, p),
        SimEvent::Clock(c) => {
            tracing::info!(target: "dialtone::sim", at, "clock advanced to {}", c.to)
        }
        SimEvent::Phone(p) => tracing::info!(
            target: "dialtone::sim",
            at,
            number = %p.number,
            behaviour = p.behaviour.as_ref().map(|b| b.to_string()),
            "phone rule {}", p.action,
        ),
        SimEvent::Faults(f) => tracing::info!(
            target: "dialtone::sim",
            at,
            "push faults replaced: {} rule(s)",
            f.rules.len()
        ),
        SimEvent::Reset(_) => tracing::info!(
            target: "dialtone::sim",
            at,
            "reset: calls, journal, phone rules, locks and frequency counts forgotten"
        ),
        SimEvent::Handset(h) => tracing::info!(
            target: "dialtone::sim",
            at,
            number = %h.number,
            "handset {}",
            h.action,
        ),
    }
}

/// The simulated time of the event, as the stream's `time`.
type At<'a> = tracing::field::DisplayValue<&'a crate::clock::TimelineTime>;

fn call_event(at: At, t: &TimelineItem) {
    if !t.logged {
        return;
    }
    let written = direct(tracing::Level::INFO, "dialtone::call", |l| {
        l.message(format_args!("{}", t.event.name()));
        l.display("at", &at);
        l.text("session_id", &t.session_id);
        l.text("app_key", &t.app_key);
        l.number("state_code", t.state_code.map(u64::from));
        l.quoted("state_desc", t.state_desc);
        l.quoted("detail", t.detail.as_deref());
    });
    if written {
        return;
    }
    tracing::info!(
        target: "dialtone::call",
        at,
        session_id = %t.session_id,
        app_key = %t.app_key,
        state_code = t.state_code,
        state_desc = t.state_desc,
        detail = t.detail.as_deref(),
        "{}",
        t.event.name(),
    );
}

fn push(at: At, p: &PushAttempt) {
    // The line is put together by hand: skip that when nobody would read it.
    if !direct_on() && !tracing::enabled!(target: "dialtone::push", tracing::Level::WARN) {
        return;
    }
    let p = p.entry();
    let what = match p.kind {
        PushKind::Status => format!("status push {}", p.event_type.name()),
        PushKind::Fee => "CDR push (fee)".to_owned(),
    };
    let answer = match (p.response_status, p.error) {
        (Some(status), _) => format!("HTTP {status}"),
        (None, Some(error)) => format!("{error:?} error").to_lowercase(),
        (None, None) => "no answer".to_owned(),
    };
    let next = match (p.outcome, &p.next_attempt_at) {
        (DeliveryOutcome::Delivered, _) => "delivered".to_owned(),
        (DeliveryOutcome::FailedWillRetry, Some(when)) => format!("failed, will retry at {when}"),
        (DeliveryOutcome::FailedWillRetry, None) => "failed, will retry".to_owned(),
        (DeliveryOutcome::Dropped, _) => "failed, not retried: fidelity policy".to_owned(),
        (DeliveryOutcome::Abandoned, _) => {
            format!("failed, abandoned after attempt {}", p.attempt)
        }
    };
    let sessions = p.session_ids.join(",");
    let message = format!(
        "{what} to {}: {answer} in {} ms, {next}",
        p.url, p.latency_ms
    );
    let level = match p.outcome {
        DeliveryOutcome::Delivered => tracing::Level::INFO,
        _ => tracing::Level::WARN,
    };
    let written = direct(level, "dialtone::push", |l| {
        l.message(format_args!("{message}"));
        l.display("at", &at);
        l.text("session_id", &sessions);
        l.number("attempt", Some(p.attempt.into()));
        l.quoted("fault", p.fault.as_deref());
    });
    if written {
        return;
    }
    if p.outcome == DeliveryOutcome::Delivered {
        tracing::info!(
            target: "dialtone::push",
            at,
            session_id = %sessions,
            attempt = p.attempt,
            fault = p.fault.as_deref(),
            "{message}"
        );
    } else {
        tracing::warn!(
            target: "dialtone::push",
            at,
            session_id = %sessions,
            attempt = p.attempt,
            fault = p.fault.as_deref(),
            "{message}"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A sink that writes nothing until the gate opens, like a paused pipe.
    struct Gated {
        gate: std::sync::mpsc::Receiver<()>,
        open: bool,
        out: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if !self.open {
                let _ = self.gate.recv();
                self.open = true;
            }
            self.out
                .lock()
                .expect("not poisoned")
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_stderr_never_blocks_a_log_line_and_the_dropped_ones_are_counted() {
        let (open, gate) = std::sync::mpsc::channel();
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = Gated {
            gate,
            open: false,
            out: out.clone(),
        };
        let (mut writer, guard) = queued(sink, 2);
        // The thread takes the first line and stalls on it; two more fill the queue; the rest
        // are dropped. None of these writes waits.
        for i in 0..10 {
            writer
                .write_all(format!("line {i}\n").as_bytes())
                .expect("never fails");
        }
        open.send(()).expect("the writer thread waits");
        writer.write_all(b"after\n").expect("never fails");
        drop(guard);
        let text = String::from_utf8(out.lock().expect("not poisoned").clone()).expect("UTF-8");
        let dropped: u64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("(dialtone: "))
            .filter_map(|l| l.split(' ').next()?.parse::<u64>().ok())
            .sum();
        let kept = text
            .lines()
            .filter(|l| l.starts_with("line ") || *l == "after")
            .count() as u64;
        assert!(dropped > 0, "{text}");
        assert_eq!(kept + dropped, 11, "every line written or counted: {text}");
        assert!(
            (1..=4).contains(&kept),
            "at most the queue and the line in hand: {text}"
        );
    }

    #[test]
    fn log_lines_carry_the_wall_time_as_tracing_writes_it() {
        use tracing_subscriber::fmt::format::Writer;
        use tracing_subscriber::fmt::time::FormatTime;
        // Twice: the second line reuses the cached second (or crosses into the next one).
        for _ in 0..2 {
            let (mut ours, mut theirs) = (String::new(), String::new());
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut theirs))
                .expect("formats");
            WallTime
                .format_time(&mut Writer::new(&mut ours))
                .expect("formats");
            assert_eq!(ours.len(), theirs.len(), "{ours} against {theirs}");
            let parsed = |s: &str| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .unwrap_or_else(|e| panic!("{s}: {e}"))
                    .timestamp_micros()
            };
            let (a, b) = (parsed(&theirs), parsed(&ours));
            assert!((0..1_000_000).contains(&(b - a)), "{ours} after {theirs}");
        }
    }

    /// A subscriber's lines, in one buffer shared by its writers.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    #[test]
    fn plain_lines_read_exactly_as_tracing_writes_them() {
        let story = || {
            let session = "1200_1_3084225985_20260314101531@callenabler.home1.com";
            tracing::info!(target: "dialtone::call", at = %"2026-03-14 10:15:31.000",
                session_id = %session, state_code = 0u32, detail = Some("quoted \"detail\""),
                absent = None::<&str>, "callout");
            tracing::warn!(target: "dialtone::request", app_key = %"k\x1b[31m", status = 400u16,
                r#type = "x", "refused: {} \x1b[2J \u{9b}2J tab\tend", "bad \x07 bell");
            let span = tracing::info_span!("request", method = "POST", n = 3);
            let _in = span.enter();
            tracing::info!(target: "dialtone::push", ok = true, ms = -4i64, "in a span");
        };
        let (ours, theirs) = (Lines::default(), Lines::default());
        let ours_sub = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .fmt_fields(PlainFields)
            .with_writer(ours.clone())
            .finish();
        let theirs_sub = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(theirs.clone())
            .finish();
        tracing::subscriber::with_default(ours_sub, story);
        tracing::subscriber::with_default(theirs_sub, story);
        let text = |l: &Lines| String::from_utf8(l.0.lock().expect("not poisoned").clone());
        let ours = text(&ours).expect("UTF-8");
        assert_eq!(ours, text(&theirs).expect("UTF-8"));
        assert_eq!(ours.lines().count(), 3, "{ours}");
        assert!(ours.contains("\\x1b[2J"), "escaped: {ours}");
    }

    thread_local! {
        /// Lines written by hand on this thread, without their time, while a test captures.
        static CAPTURED: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    pub(super) fn capturing() -> bool {
        CAPTURED.with_borrow(Option::is_some)
    }

    pub(super) fn capture(write: impl FnOnce(&mut String)) {
        CAPTURED.with_borrow_mut(|text| write(text.get_or_insert_with(String::new)));
    }

    /// The lines `story` writes by hand.
    fn by_hand(story: impl Fn()) -> String {
        CAPTURED.set(Some(String::new()));
        story();
        CAPTURED.take().expect("still capturing")
    }

    #[test]
    fn story_lines_written_by_hand_read_exactly_as_tracing_writes_them() {
        use crate::call::timeline::TimelineEvent;
        use crate::clock::TimelineTime;
        use crate::push::journal::{JournalEntry, PushError};
        use crate::push::payload::EventType;

        let at = Stamp {
            at_ms: 1_500,
            time: TimelineTime::new(
                chrono::DateTime::from_timestamp_millis(1_773_483_332_500).expect("a time"),
            ),
        };
        let item = |event, detail: Option<&str>, state: Option<(u32, &'static str)>| {
            SimEvent::Timeline(TimelineItem {
                event,
                session_id: "1200_1_3084225985_20260314101531@callenabler.home1.com".into(),
                app_key: "appKey01".into(),
                detail: detail.map(|d| d.to_owned().into()),
                state_code: state.map(|s| s.0),
                state_desc: state.map(|s| s.1),
                logged: true,
            })
        };
        let attempt = |outcome, status, error, fault: Option<&str>| {
            SimEvent::Push(PushAttempt::new(Arc::new(JournalEntry {
                id: "s1.1#2".into(),
                delivery_id: "s1.1".into(),
                kind: PushKind::Status,
                app_key: "appKey01".into(),
                session_ids: vec!["a@x".into(), "b@x".into()],
                event_type: EventType::Answer,
                url: "http://127.0.0.1:9/status".into(),
                attempt: 2,
                sent_at: "2026-03-14 10:15:32".into(),
                sent_at_ms: 1_500,
                request_headers: vec![],
                request_body: "{}".into(),
                response_status: status,
                response_body: None,
                error,
                latency_ms: 12,
                outcome,
                next_attempt_at: None,
                fault: fault.map(str::to_owned),
            })))
        };
        let answered = |status, resultcode, desc, hint, session_id| Answered {
            method: "POST",
            path: "/rest/httpsessions/callVerify/v1.0",
            app_key: Some("appKey01"),
            http_status: status,
            resultcode,
            resultdesc: desc,
            hint,
            session_id,
        };
        let story = || {
            event(&at, &item(TimelineEvent::Callout, None, None));
            event(
                &at,
                &item(
                    TimelineEvent::Playing,
                    Some("clip \"1\" of 3, back\\slash, tab\t, 你好, bell \x07"),
                    None,
                ),
            );
            event(
                &at,
                &item(
                    TimelineEvent::Disconnect,
                    Some("no answer"),
                    Some((13, "The called party does not answer.")),
                ),
            );
            event(
                &at,
                &attempt(DeliveryOutcome::Delivered, Some(200), None, None),
            );
            event(
                &at,
                &attempt(
                    DeliveryOutcome::Dropped,
                    None,
                    Some(PushError::Io),
                    Some("reset \"after headers\""),
                ),
            );
            request(&answered(200, Some("0"), None, None, Some("a@x")));
            request(&answered(200, None, None, None, None));
            request(&answered(
                400,
                Some("1010002"),
                Some("Invalid request \x1b[2J \u{9b}2J"),
                Some("calleeNbr: \"+86\" is too short"),
                None,
            ));
            request(&Answered {
                app_key: None,
                ..answered(401, None, None, None, None)
            });
        };
        let theirs = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .fmt_fields(PlainFields)
            .with_writer(theirs.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, story);
        let theirs = String::from_utf8(theirs.0.lock().expect("not poisoned").clone());
        let theirs = theirs.expect("UTF-8");
        assert_eq!(theirs.lines().count(), 9, "{theirs}");
        assert_eq!(by_hand(story), theirs);
    }

    #[test]
    fn lines_held_back_while_the_engine_is_locked_are_written_in_order_once_it_is_let_go() {
        use crate::clock::TimelineTime;
        use crate::events::{ClockAdvanced, ResetDone};

        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(lines.clone())
            .finish();
        let written = || String::from_utf8(lines.0.lock().expect("not poisoned").clone());
        let at = |ms: u64| Stamp {
            at_ms: ms,
            time: TimelineTime::new(chrono::DateTime::UNIX_EPOCH),
        };
        let advanced = SimEvent::Clock(ClockAdvanced {
            from_ms: 0,
            to_ms: 1,
            from: "a".into(),
            to: "b".into(),
        });
        tracing::subscriber::with_default(subscriber, || {
            let outer = hold();
            published(&Arc::new(Published::new(1, at(0), advanced)));
            let inner = hold();
            published(&Arc::new(Published::new(
                2,
                at(1),
                SimEvent::Reset(ResetDone {}),
            )));
            drop(inner);
            assert_eq!(
                written().expect("UTF-8"),
                "",
                "held until the last hold goes"
            );
            drop(outer);
            let text = written().expect("UTF-8");
            let kinds: Vec<&str> = text
                .lines()
                .map(|l| {
                    if l.contains("clock advanced") {
                        "clock"
                    } else {
                        "reset"
                    }
                })
                .collect();
            assert_eq!(kinds, ["clock", "reset"], "{text}");
            // Not held: written at once.
            published(&Arc::new(Published::new(
                3,
                at(2),
                SimEvent::Reset(ResetDone {}),
            )));
            assert_eq!(written().expect("UTF-8").lines().count(), 3);
        });
    }

    #[test]
    fn log_formats_parse_by_name_and_refuse_others_saying_which_exist() {
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!("human".parse(), Ok(LogFormat::Human));
        assert_eq!(
            "xml".parse::<LogFormat>(),
            Err("`xml` is no log format: human or json".to_owned())
        );
    }
}
