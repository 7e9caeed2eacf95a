//! The `dialtone` binary: parses the command line and calls the library.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use dialtone::audio;
use dialtone::call::request::{
    CallKind, CallRequest, CallbackCall, NotifyCall, PlayInfo, VerifyCall,
};
use dialtone::client::{self, ClientCall};
use dialtone::clock::ClockMode;
use dialtone::config::Config;
use dialtone::control::Control;
use dialtone::tail::TailOptions;

#[derive(Parser)]
#[command(
    name = "dialtone",
    version,
    about = "A local simulator of a cloud voice-call platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the platform API (the default).
    Serve(ServeArgs),
    /// Place a verification call on a running Dialtone and follow it.
    Call(CallArgs),
    /// Place a voice notification (callnotify) on a running Dialtone and follow it: a voice file
    /// and/or a template, then optional digit collection.
    Notify(NotifyArgs),
    /// Place a click-to-call (click2Call) from A to B on a running Dialtone and follow it.
    Callback(CallbackArgs),
    /// Stop a call in progress (callStop).
    Stop(StopArgs),
    /// Print the reconciliation report of a running Dialtone: accepted against delivered, per app.
    Report(ReportArgs),
    /// Render a verification announcement (--code) or a notification template (--template) to a
    /// WAV file, offline (no server needed).
    Render(RenderArgs),
    /// Play a WAV file, or a call's audio from a running Dialtone, through the speakers.
    /// Needs a build with `--features play`.
    Play(PlayArgs),
    /// Print every event of a running Dialtone as it happens (its `/sim/v1/stream`).
    Tail(TailArgs),
    /// Advance a manual clock, e.g. `dialtone advance 10m` (a bare number is milliseconds).
    Advance(AdvanceArgs),
    /// Forget calls, deliveries, the journal, phone rules, frequency counts, used nonces, legacy
    /// tokens and authentication lockouts; a manual clock goes back to its start and ids start
    /// again from the seed.
    Reset(UrlArg),
    /// Be the callee NUMBER on a virtual handset (`dialtone phone +8613900001234`: answer,
    /// reject, keys, hang up, hear the call), or set, remove or list callee behaviours
    /// (`dialtone phone set +8613900001234 busy,answer`).
    Phone(PhoneArgs),
    /// List calls, one line each.
    Calls(CallsArgs),
    /// List push attempts (the delivery journal), one line each.
    Deliveries(DeliveriesArgs),
    /// Load-test your receiver through the whole platform path: place calls at a steady rate
    /// (`--rate 500/s --duration 60s`) with an outcome mix, and report your receiver's latency
    /// percentiles, errors, push failures and retries.
    Load(LoadArgs),
    /// Print a shell completion script: `dialtone completions bash > ~/.local/share/bash-completion/completions/dialtone`.
    Completions(CompletionsArgs),
}

#[derive(clap::Args)]
struct LoadArgs {
    /// The running Dialtone to load (ignored with --embedded).
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "DIALTONE_URL")]
    url: String,
    /// Start a Dialtone in this process instead, on a scaled clock (see --speed).
    #[arg(long, env = "DIALTONE_LOAD_EMBEDDED")]
    embedded: bool,
    /// With --embedded: simulated seconds per real second (a code call lasts ~15 s simulated).
    #[arg(
        long,
        default_value_t = 10.0,
        requires = "embedded",
        env = "DIALTONE_LOAD_SPEED"
    )]
    speed: f64,
    /// With --embedded: its configuration file, caps and all (default: the embedded one, with
    /// the app's call cap, the port pool and the frequency rules lifted to fit the load).
    #[arg(long, requires = "embedded", env = "DIALTONE_CONFIG")]
    config: Option<PathBuf>,
    /// Calls per second: 500/s, 30/m, or a number (per second).
    #[arg(long, default_value = "10/s", value_parser = dialtone::load::parse_rate, env = "DIALTONE_LOAD_RATE")]
    rate: f64,
    /// How long calls are placed: 500ms, 60s, 10m; a bare number is milliseconds.
    #[arg(long, default_value = "10s", value_parser = duration_ms, env = "DIALTONE_LOAD_DURATION")]
    duration: u64,
    /// The callees' outcomes, adding up to 100%: busy=10%,answer=80%,noanswer=5%,reject=5%
    /// (any outcome of `dialtone phone list` works too).
    #[arg(long, default_value = "answer=100%", value_parser = dialtone::load::OutcomeMix::parse, env = "DIALTONE_LOAD_OUTCOMES")]
    outcomes: dialtone::load::OutcomeMix,
    /// Your receiver's status push URL (statusUrl); default: the app's.
    #[arg(long, env = "DIALTONE_STATUS_URL")]
    status_url: Option<String>,
    /// Your receiver's CDR push URL (feeUrl); default: the app's.
    #[arg(long, env = "DIALTONE_FEE_URL")]
    fee_url: Option<String>,
    /// App key (default: the demo app's).
    #[arg(long, env = "DIALTONE_APP_KEY")]
    app_key: Option<String>,
    /// App secret (default: the demo app's).
    #[arg(long, env = "DIALTONE_APP_SECRET")]
    app_secret: Option<String>,
    /// Display number (default: the demo app's first).
    #[arg(long, env = "DIALTONE_DISPLAY")]
    display: Option<String>,
    /// Seed for the outcome draws and callee numbers: the same seed, the same calls.
    #[arg(long, env = "DIALTONE_LOAD_SEED")]
    seed: Option<u64>,
    /// Call requests in flight to the platform API at most.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096), env = "DIALTONE_LOAD_CONCURRENCY")]
    concurrency: u32,
    /// After the last call is placed, wait at most this long (real time) for calls to finish
    /// (30s, 2m; a bare number is milliseconds).
    #[arg(long, default_value = "30s", value_parser = duration_ms, env = "DIALTONE_LOAD_DRAIN")]
    drain: u64,
    /// Print one JSON summary instead of the table (and no progress line).
    #[arg(long, env = "DIALTONE_JSON")]
    json: bool,
}

#[derive(clap::Args)]
struct CompletionsArgs {
    /// The shell: bash, zsh, fish (also elvish, powershell).
    shell: clap_complete::Shell,
}

#[derive(clap::Args)]
struct UrlArg {
    /// Dialtone's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "DIALTONE_URL")]
    url: String,
}

#[derive(clap::Args)]
struct TailArgs {
    #[command(flatten)]
    url: UrlArg,
    /// Print each message as JSON, one per line (NDJSON).
    #[arg(long, env = "DIALTONE_JSON")]
    json: bool,
    /// Only events about this app.
    #[arg(long, env = "DIALTONE_TAIL_APP_KEY")]
    app_key: Option<String>,
    /// Only events about this call.
    #[arg(long, env = "DIALTONE_TAIL_SESSION_ID")]
    session_id: Option<String>,
    /// Only these kinds, comma-separated (accepted, refused, callout, alerting, answer, playing,
    /// disconnect, note, push, clock, phone, faults, reset, handset).
    #[arg(long, env = "DIALTONE_TAIL_KINDS")]
    kinds: Option<String>,
    /// First replay what is still buffered after this seq.
    #[arg(long, env = "DIALTONE_TAIL_SINCE")]
    since: Option<u64>,
}

#[derive(clap::Args)]
struct AdvanceArgs {
    /// How far: 500ms, 90s, 10m, 1h; a bare number is milliseconds.
    by: String,
    #[command(flatten)]
    url: UrlArg,
    /// Do not wait at each step for the pushes it caused.
    #[arg(long, env = "DIALTONE_ADVANCE_NO_SETTLE")]
    no_settle: bool,
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct PhoneArgs {
    #[command(subcommand)]
    action: Option<PhoneAction>,
    #[command(flatten)]
    handset: HandsetArgs,
}

/// `dialtone phone NUMBER`: a virtual handset. Keys (then Enter): a answer, r reject, h hang up,
/// 0-9 # * DTMF, q leave.
#[derive(clap::Args)]
struct HandsetArgs {
    /// The callee number to be, e.g. +8613900001234.
    #[arg(required = true)]
    number: Option<String>,
    #[command(flatten)]
    url: UrlArg,
    /// Answer this long after it rings (real time: a person's reaction), e.g. 3s or 0; a bare
    /// number is milliseconds.
    /// Scripted: takes one call, then leaves.
    #[arg(long, env = "DIALTONE_PHONE_ANSWER_AFTER", value_parser = duration_ms, conflicts_with = "reject")]
    answer_after: Option<u64>,
    /// Hang up once this much of the call has been heard (simulated time), e.g. 4s; a bare
    /// number is milliseconds.
    #[arg(long, env = "DIALTONE_PHONE_HANGUP_AFTER", value_parser = duration_ms, requires = "answer_after")]
    hangup_after: Option<u64>,
    /// Reject as soon as it rings. Scripted: takes one call, then leaves.
    #[arg(long, env = "DIALTONE_PHONE_REJECT")]
    reject: bool,
    /// Keys to press once answered (0-9, *, #), after --digits-after of the call was heard.
    #[arg(long, env = "DIALTONE_PHONE_DIGITS", requires = "answer_after")]
    digits: Option<String>,
    /// When to press --digits: after this much of the call was heard, e.g. 2s; a bare number is
    /// milliseconds (default 0: on answer).
    #[arg(long, env = "DIALTONE_PHONE_DIGITS_AFTER", value_parser = duration_ms, default_value = "0", requires = "digits")]
    digits_after: u64,
    /// Write what was heard, from the answer to the end, to this WAV file (8 kHz mono).
    #[arg(long, env = "DIALTONE_PHONE_WAV")]
    wav: Option<PathBuf>,
    /// Play what is heard through the speakers (needs a build with `--features play`).
    #[arg(long, env = "DIALTONE_PHONE_PLAY")]
    play: bool,
}

/// `500ms`, `3s`, `2m`, or milliseconds.
fn duration_ms(text: &str) -> Result<u64, String> {
    dialtone::sim::parse_duration_ms(text)
        .ok_or_else(|| format!("`{text}` is not a duration: 500ms, 3s, 2m, or milliseconds"))
}

#[derive(Subcommand)]
enum PhoneAction {
    /// What calls to NUMBER do: an outcome (busy), a sequence for successive calls
    /// (busy,answer; the last repeats), or a JSON behaviour.
    Set {
        /// The callee number, e.g. +8613900001234.
        number: String,
        /// An outcome (busy), a sequence (busy,answer) or a JSON behaviour.
        behaviour: String,
        #[command(flatten)]
        url: UrlArg,
    },
    /// Remove the rule for NUMBER.
    Rm {
        /// The callee number whose rule goes.
        number: String,
        #[command(flatten)]
        url: UrlArg,
    },
    /// Every rule, one line each: handsets, API rules, config rules, magic numbers.
    List {
        #[command(flatten)]
        url: UrlArg,
        /// The JSON of `GET /sim/v1/phones` instead of lines.
        #[arg(long, env = "DIALTONE_JSON")]
        json: bool,
    },
}

#[derive(clap::Args)]
struct CallsArgs {
    #[command(flatten)]
    url: UrlArg,
    /// accepted, callout, alerting, answered or released.
    #[arg(long, env = "DIALTONE_CALLS_STATE")]
    state: Option<String>,
    /// Only calls of this app.
    #[arg(long, env = "DIALTONE_CALLS_APP_KEY")]
    app_key: Option<String>,
    /// Only calls to this number.
    #[arg(long, env = "DIALTONE_CALLS_CALLEE")]
    callee: Option<String>,
    /// The JSON list instead of lines.
    #[arg(long, env = "DIALTONE_JSON")]
    json: bool,
}

#[derive(clap::Args)]
struct DeliveriesArgs {
    #[command(flatten)]
    url: UrlArg,
    /// Only pushes about this call.
    #[arg(long, env = "DIALTONE_DELIVERIES_SESSION_ID")]
    session_id: Option<String>,
    /// `failed`: the latest attempt of every push not delivered; `delivered`: the opposite.
    #[arg(long, env = "DIALTONE_DELIVERIES_STATE")]
    state: Option<String>,
    /// status or fee.
    #[arg(long, env = "DIALTONE_DELIVERIES_KIND")]
    kind: Option<String>,
    /// At most this many, the most recent.
    #[arg(long, env = "DIALTONE_DELIVERIES_LIMIT")]
    limit: Option<usize>,
    /// The JSON list instead of lines.
    #[arg(long, env = "DIALTONE_JSON")]
    json: bool,
}

#[derive(clap::Args, Clone)]
struct ServeArgs {
    /// Configuration file (TOML); without it the embedded default runs.
    #[arg(long, env = "DIALTONE_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address, overriding server.listen.
    #[arg(long, env = "DIALTONE_LISTEN")]
    listen: Option<String>,
    /// Clock mode, overriding clock.mode: real, scaled or manual.
    #[arg(long, value_parser = ["real", "scaled", "manual"], env = "DIALTONE_CLOCK")]
    clock: Option<String>,
    /// Speed factor; implies --clock scaled unless --clock is given.
    #[arg(long, env = "DIALTONE_SPEED")]
    speed: Option<f64>,
    /// Seed for ids and nonces, overriding `seed`.
    #[arg(long, env = "DIALTONE_SEED")]
    seed: Option<u64>,
    /// Folder for the database (calls, CDRs, deliveries), overriding store.data_dir.
    #[arg(long, env = "DIALTONE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Keep everything in memory: nothing survives a restart.
    #[arg(long, env = "DIALTONE_EPHEMERAL")]
    ephemeral: bool,
    /// Log format on stderr: human (text, colours on a terminal) or json (one object per line).
    #[arg(long, env = "DIALTONE_LOG_FORMAT", default_value = "human", value_parser = ["human", "json"])]
    log_format: String,
    /// Simulated epoch, e.g. 2026-03-14T10:15:31Z, overriding clock.start.
    #[arg(long, value_parser = parse_start, env = "DIALTONE_START")]
    start: Option<chrono::DateTime<chrono::Utc>>,
    /// Serve HTTPS with a certificate for localhost generated at start-up (its path is printed:
    /// trust it in your client); instead of server.tls_cert/tls_key.
    #[arg(long, env = "DIALTONE_TLS_SELF_SIGNED")]
    tls_self_signed: bool,
}

fn parse_start(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    s.parse()
        .map_err(|e| format!("`{s}` is not a time like 2026-03-14T10:15:31Z: {e}"))
}

#[derive(clap::Args)]
struct ReportArgs {
    /// Dialtone's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "DIALTONE_URL")]
    url: String,
    /// Calls accepted from this time on (UTC), e.g. "2026-03-14 10:00:00".
    #[arg(long, env = "DIALTONE_REPORT_FROM")]
    from: Option<String>,
    /// Calls accepted before this time (UTC).
    #[arg(long, env = "DIALTONE_REPORT_TO")]
    to: Option<String>,
}

#[derive(clap::Args)]
struct CallArgs {
    /// The number to call, e.g. +8613900001234.
    callee: String,
    /// The verification code to read out.
    #[arg(long, env = "DIALTONE_CALL_CODE")]
    code: String,
    /// The voice: a languageType (2) or its tag in the default mapping (en, zh, es, fr, it, ru).
    #[arg(long, default_value = "2", env = "DIALTONE_CALL_LANG")]
    lang: String,
    /// How many times the code is read (0-9; 0 repeats until hang-up).
    #[arg(long, default_value_t = 3, env = "DIALTONE_CALL_TIMES")]
    times: u8,
    /// The tone played before the code (preTone: an approved tone).
    #[arg(long, default_value = "welcome.wav", env = "DIALTONE_CALL_PRE_TONE")]
    pre_tone: String,
    /// The tone played after the last reading (posTone), e.g. bye.wav.
    #[arg(long, env = "DIALTONE_CALL_POS_TONE")]
    pos_tone: Option<String>,
    #[command(flatten)]
    placement: Placement,
}

/// Who places a call and where its pushes go: shared by `notify` and `callback`.
#[derive(clap::Args)]
struct Placement {
    /// Dialtone's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "DIALTONE_URL")]
    url: String,
    /// App key (default: the demo app's).
    #[arg(long, env = "DIALTONE_APP_KEY")]
    app_key: Option<String>,
    /// App secret (default: the demo app's).
    #[arg(long, env = "DIALTONE_APP_SECRET")]
    app_secret: Option<String>,
    /// Display number (default: the app's first, for the demo app).
    #[arg(long, env = "DIALTONE_DISPLAY")]
    display: Option<String>,
    /// Status push URL (plain; sent Base64-encoded).
    #[arg(long, env = "DIALTONE_STATUS_URL")]
    status_url: Option<String>,
    /// CDR push URL (plain; sent Base64-encoded).
    #[arg(long, env = "DIALTONE_FEE_URL")]
    fee_url: Option<String>,
    /// Your own reference for the call (userData, up to 256 characters), echoed back in every
    /// status push and in the CDR: e.g. an order id, to match pushes to your records.
    #[arg(long, env = "DIALTONE_USER_DATA")]
    user_data: Option<String>,
    /// Print the sessionId and return without following the call.
    #[arg(long, env = "DIALTONE_NO_FOLLOW")]
    no_follow: bool,
    /// Seconds without an event before saying that a manual clock needs advancing.
    #[arg(long, default_value_t = 5.0, hide = true, env = "DIALTONE_IDLE_HINT_S")]
    idle_hint_s: f64,
}

#[derive(clap::Args)]
struct NotifyArgs {
    /// The number to call, e.g. +8613900001234.
    callee: String,
    /// A voice file to play (notifyVoice: an approved tone, e.g. welcome.wav).
    #[arg(
        long,
        required_unless_present = "template",
        env = "DIALTONE_NOTIFY_VOICE"
    )]
    voice: Option<String>,
    /// A template to read (templateId; the embedded default has tpl_bill).
    #[arg(long, env = "DIALTONE_NOTIFY_TEMPLATE")]
    template: Option<String>,
    /// A value for the template's next variable (templateParas, in order); once per variable.
    #[arg(long = "param", requires = "template", env = "DIALTONE_NOTIFY_PARAM")]
    params: Vec<String>,
    /// Collect up to this many keys after the segment (collectInd, 0-32).
    #[arg(long, default_value_t = 0, env = "DIALTONE_NOTIFY_COLLECT")]
    collect: u8,
    /// Play the segment again when the keys collected are these (e.g. 1).
    #[arg(long, requires = "collect", env = "DIALTONE_NOTIFY_REPLAY_ON")]
    replay_on: Option<String>,
    #[command(flatten)]
    placement: Placement,
}

#[derive(clap::Args)]
struct CallbackArgs {
    /// A: called first (callerNbr), e.g. +8613900001234.
    caller: String,
    /// B: called once A answers (calleeNbr), e.g. +8613700005678.
    callee: String,
    /// The number B sees (displayCalleeNbr; default: the display number).
    #[arg(long, env = "DIALTONE_CALLBACK_DISPLAY_CALLEE")]
    display_callee: Option<String>,
    /// Talk time limit in minutes from B's answer (maxDuration; 0: none).
    #[arg(long, default_value_t = 0, env = "DIALTONE_CALLBACK_MAX_DURATION")]
    max_duration: u32,
    /// Play this tone to A before B is called (playPreVoice + preVoice).
    #[arg(long, env = "DIALTONE_CALLBACK_PRE_VOICE")]
    pre_voice: Option<String>,
    /// Record the conversation (recordFlag; the app must allow recording).
    #[arg(long, env = "DIALTONE_CALLBACK_RECORD")]
    record: bool,
    /// Ask for partyType in the disconnect push.
    #[arg(long, env = "DIALTONE_CALLBACK_PARTY_TYPE")]
    party_type: bool,
    #[command(flatten)]
    placement: Placement,
}

#[derive(clap::Args)]
struct StopArgs {
    /// The sessionId of the call to stop.
    session_id: String,
    /// Dialtone's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "DIALTONE_URL")]
    url: String,
    /// App key (default: the demo app's).
    #[arg(long, env = "DIALTONE_APP_KEY")]
    app_key: Option<String>,
    /// App secret (default: the demo app's).
    #[arg(long, env = "DIALTONE_APP_SECRET")]
    app_secret: Option<String>,
}

#[derive(clap::Args)]
struct RenderArgs {
    /// The verification code to read out.
    #[arg(
        long,
        required_unless_present = "template",
        conflicts_with = "template",
        env = "DIALTONE_RENDER_CODE"
    )]
    code: Option<String>,
    /// Render this voice-notification template instead: an id of the app's developer's
    /// `templates` in the config (the embedded default has tpl_bill).
    #[arg(long, env = "DIALTONE_RENDER_TEMPLATE")]
    template: Option<String>,
    /// A value for the template's next variable (templateParas, in order); once per variable.
    #[arg(long = "param", requires = "template", env = "DIALTONE_RENDER_PARAM")]
    params: Vec<String>,
    /// A voice file (notifyVoice: an approved tone) played before the template.
    #[arg(long, requires = "template", env = "DIALTONE_RENDER_VOICE")]
    voice: Option<String>,
    /// Voice: a tag (en, zh, …) or a languageType of the config's `languages` (2 = en); default
    /// en. With --template: the TTS language, zh or en (default: the config's tts.language).
    #[arg(long, env = "DIALTONE_RENDER_LANG")]
    lang: Option<String>,
    /// How many times the code is read (0-9; 0 repeats up to call.max_duration_s).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(0..=9), env = "DIALTONE_RENDER_TIMES")]
    times: u8,
    /// The tone played before the code (preTone).
    #[arg(long, default_value = "welcome.wav", env = "DIALTONE_RENDER_PRE_TONE")]
    pre_tone: String,
    /// The tone played after the last reading (posTone), e.g. bye.wav.
    #[arg(long, env = "DIALTONE_RENDER_POS_TONE")]
    pos_tone: Option<String>,
    /// Configuration file for timings, `languages`, tones and templates (default: the embedded one).
    #[arg(long, env = "DIALTONE_CONFIG")]
    config: Option<PathBuf>,
    /// Also allow this app's own tones (apps[].tones); with --template, the app whose developer's
    /// templates are used (default: the config's first app).
    #[arg(long, env = "DIALTONE_APP_KEY")]
    app_key: Option<String>,
    /// Cut the audio here (ms from answer, or from the template's start), as if the callee hung up.
    #[arg(long, env = "DIALTONE_RENDER_UNTIL_MS")]
    until_ms: Option<u64>,
    /// Print the manifest as JSON instead of the summary.
    #[arg(long, env = "DIALTONE_JSON")]
    json: bool,
    /// The WAV file to write.
    #[arg(short, long, env = "DIALTONE_RENDER_OUTPUT")]
    output: PathBuf,
}

#[derive(clap::Args)]
struct PlayArgs {
    /// A WAV file, or the sessionId of a call on a running Dialtone.
    target: String,
    /// Dialtone's base URL, for a sessionId.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "DIALTONE_URL")]
    url: String,
}

/// mimalloc: under load glibc's malloc and free were a fifth of the process's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Before any HTTP client is built: reqwest carries no crypto provider of its own.
    dialtone::tls::install_provider();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader went away (`dialtone call … | head`): nothing left to say, and no error.
        Err(e) if broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        // Printed ourselves, message and causes on one line: returning the error from `main`
        // would print its Debug form, a stack trace under RUST_BACKTRACE=1.
        Err(e) => {
            eprintln!("Error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// `e` and its causes joined by `: `, like `{e:#}`, leaving out a cause whose text an outer
/// message already quotes (ours often say `cannot reach …: {source}`).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Whether `e` comes from writing to a closed pipe.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<client::ClientError>()
                .is_some_and(|c| matches!(c, client::ClientError::Output(io) if io.kind() == std::io::ErrorKind::BrokenPipe))
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Call(args)) => runtime()?.block_on(call(args)),
        Some(Command::Notify(args)) => runtime()?.block_on(notify(args)),
        Some(Command::Callback(args)) => runtime()?.block_on(callback(args)),
        Some(Command::Stop(args)) => runtime()?.block_on(async move {
            let demo = Config::embedded();
            let app = &demo.apps[0];
            client::stop_call(
                &args.url,
                &args.app_key.unwrap_or_else(|| app.app_key.clone()),
                &args.app_secret.unwrap_or_else(|| app.app_secret.clone()),
                &args.session_id,
            )
            .await?;
            println!("stopped: {}", args.session_id);
            Ok(())
        }),
        Some(Command::Report(args)) => runtime()?.block_on(async move {
            let mut stdout = std::io::stdout();
            client::report(
                &args.url,
                args.from.as_deref(),
                args.to.as_deref(),
                &mut stdout,
            )
            .await?;
            Ok(())
        }),
        Some(Command::Serve(args)) => runtime()?.block_on(serve(args)),
        Some(Command::Render(args)) => render(args),
        Some(Command::Play(args)) => play(args),
        Some(Command::Tail(args)) => runtime()?.block_on(tail(args)),
        Some(Command::Advance(args)) => control(async move {
            Control::new(&args.url.url)
                .advance(&args.by, !args.no_settle, &mut std::io::stdout())
                .await
        }),
        Some(Command::Reset(args)) => {
            control(async move { Control::new(&args.url).reset(&mut std::io::stdout()).await })
        }
        Some(Command::Phone(args)) => control(async move {
            let out = &mut std::io::stdout();
            let Some(action) = args.action else {
                return handset(args.handset, out).await;
            };
            match action {
                PhoneAction::Set {
                    number,
                    behaviour,
                    url,
                } => {
                    Control::new(&url.url)
                        .phone_set(&number, &behaviour, out)
                        .await
                }
                PhoneAction::Rm { number, url } => {
                    Control::new(&url.url).phone_remove(&number, out).await
                }
                PhoneAction::List { url, json } => Control::new(&url.url).phones(json, out).await,
            }
        }),
        Some(Command::Calls(args)) => control(async move {
            let query = [
                ("state", args.state),
                ("app", args.app_key),
                ("callee", args.callee),
            ];
            Control::new(&args.url.url)
                .calls(&query, args.json, &mut std::io::stdout())
                .await
        }),
        Some(Command::Deliveries(args)) => control(async move {
            let query = [
                ("session_id", args.session_id),
                ("state", args.state),
                ("kind", args.kind),
                ("limit", args.limit.map(|l| l.to_string())),
            ];
            Control::new(&args.url.url)
                .deliveries(&query, args.json, &mut std::io::stdout())
                .await
        }),
        Some(Command::Load(args)) => runtime()?.block_on(load(args)),
        Some(Command::Completions(args)) => {
            use clap::CommandFactory;
            // Into a buffer first: the generator panics on a write error, and `| head` is one.
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "dialtone", &mut script);
            std::io::stdout().write_all(&script)?;
            Ok(())
        }
        None => runtime()?.block_on(serve(cli.serve)),
    }
}

/// `dialtone load`.
async fn load(args: LoadArgs) -> anyhow::Result<()> {
    use dialtone::load::{self, LoadOptions, Target};
    use std::io::IsTerminal;
    let demo = Config::embedded();
    let app = &demo.apps[0];
    let duration = std::time::Duration::from_millis(args.duration);
    let target = if args.embedded {
        if args.status_url.is_none() && args.fee_url.is_none() {
            anyhow::bail!(
                "--embedded needs --status-url and/or --fee-url: where your receiver listens"
            );
        }
        let config = match &args.config {
            Some(path) => Config::load(path)?,
            None => Config::embedded(),
        };
        let calls = load::planned_calls(args.rate, duration);
        let mut config = load::embedded_config(config, args.speed, args.config.is_none(), calls);
        if let Err((key, message)) = config.clock.check() {
            anyhow::bail!("{} {message}", key.replace("clock.", "--"));
        }
        config.seed = args.seed;
        Target::Embedded(Box::new(config))
    } else {
        Target::Remote(args.url)
    };
    let display = match (args.display, args.app_key.is_some()) {
        (Some(d), _) => d,
        (None, false) => app.numbers[0].clone(),
        (None, true) => anyhow::bail!("--display is required with --app-key"),
    };
    let stderr = std::io::stderr();
    let progress: Option<Box<dyn Write + Send>> = match !args.json && stderr.is_terminal() {
        true => Some(Box::new(stderr)),
        false => None,
    };
    // Ctrl-C ends the run early, and the summary still comes.
    let (trigger, stop) = dialtone::shutdown::channel();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            trigger.fire();
        }
        // Kept until the process ends: dropping it would read as a stop.
        std::future::pending::<()>().await
    });
    let summary = load::run(LoadOptions {
        target,
        rate_per_s: args.rate,
        duration,
        mix: args.outcomes,
        status_url: args.status_url,
        fee_url: args.fee_url,
        app_key: args.app_key.unwrap_or_else(|| app.app_key.clone()),
        app_secret: args.app_secret.unwrap_or_else(|| app.app_secret.clone()),
        display,
        seed: args.seed,
        concurrency: args.concurrency as usize,
        drain: std::time::Duration::from_millis(args.drain),
        progress,
        stop: Some(stop),
    })
    .await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&summary)?)?;
    } else {
        summary.write_table(&mut out)?;
    }
    Ok(())
}

/// Runs a control verb.
fn control(
    verb: impl std::future::Future<Output = Result<(), client::ClientError>>,
) -> anyhow::Result<()> {
    Ok(runtime()?.block_on(verb)?)
}

/// `dialtone phone NUMBER`.
async fn handset(args: HandsetArgs, out: &mut impl Write) -> Result<(), client::ClientError> {
    // clap requires NUMBER without a subcommand.
    let number = args.number.unwrap_or_default();
    if let Some(bad) = args
        .digits
        .as_deref()
        .filter(|d| !dialtone::call::scenario::is_keys(d))
    {
        return Err(client::ClientError::Unexpected(format!(
            "--digits {bad:?}: 0-9, * and # only, at most 32"
        )));
    }
    let opts = dialtone::phone::PhoneOptions {
        url: args.url.url,
        number,
        answer_after: args.answer_after.map(std::time::Duration::from_millis),
        reject: args.reject,
        hangup_after_ms: args.hangup_after,
        digits: args.digits,
        digits_after_ms: args.digits_after,
        wav: args.wav,
        play: args.play,
    };
    dialtone::phone::run(&opts, out).await
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::embedded(),
    };
    // The overrides come from outside too: they are checked like the file's keys.
    let text = args
        .config
        .as_ref()
        .map_or("<command line>".into(), |p| p.display().to_string());
    if let Some(listen) = &args.listen {
        config.server.listen = dialtone::config::parse_listen(listen)
            .map_err(|e| anyhow::anyhow!("config error in {text}: --listen: {e}"))?;
    }
    if let Some(speed) = args.speed {
        // Dialtone decision: only the scaled clock has a speed; saying it with another clock is
        // a mistake worth stopping for, not a setting to ignore.
        if let Some(mode) = args.clock.as_deref().filter(|m| *m != "scaled") {
            anyhow::bail!(
                "--speed {speed} applies to the scaled clock only, and --clock is {mode}: drop \
                 --speed (or DIALTONE_SPEED), or use --clock scaled"
            );
        }
        config.clock.speed = speed;
        config.clock.mode = ClockMode::Scaled;
    }
    if let Some(mode) = &args.clock {
        config.clock.mode = match mode.as_str() {
            "manual" => ClockMode::Manual,
            "scaled" => ClockMode::Scaled,
            _ => ClockMode::Real,
        };
    }
    if args.seed.is_some() {
        config.seed = args.seed;
    }
    if args.start.is_some() {
        config.clock.start = args.start;
    }
    if let Some(dir) = &args.data_dir {
        config.store.data_dir = dir.clone();
    }
    // Dialtone decision (docs/decisions.md): `--seed` promises the same ids and pushes on every
    // run, which an earlier run's database would break (its calls and clock carry on), so a seed
    // given on the command line keeps the store in memory unless --data-dir says where to keep it.
    if args.ephemeral || (args.seed.is_some() && args.data_dir.is_none()) {
        config.store.ephemeral = true;
    }
    // Likewise a seeded manual clock starts at a fixed epoch unless told otherwise: sessionIds
    // and every pushed time carry the simulated date.
    if args.seed.is_some() && config.clock.mode == ClockMode::Manual && config.clock.start.is_none()
    {
        config.clock.start = Some(
            dialtone::clock::SEEDED_START
                .parse()
                .expect("a literal calendar time"),
        );
    }
    // The flags are checked as the file's keys are: `--speed` and `--start` by the same bounds.
    if let Err((key, message)) = config.clock.check() {
        let flag = key.replace("clock.", "--");
        anyhow::bail!("{flag} {message}");
    }
    Ok(config)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Held to the end: dropping it waits for the queued log lines to be written.
    let _logs = dialtone::logs::init(args.log_format.parse().map_err(anyhow::Error::msg)?);
    let config = load_config(&args)?;
    let addr = config.server.listen;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                " (another program, perhaps another Dialtone, holds it: choose another with \
                 --listen 127.0.0.1:8081, or DIALTONE_LISTEN=8081)"
            }
            _ => "",
        };
        anyhow::anyhow!("cannot listen on {addr}: {e}{hint}")
    })?;
    let mut config = config;
    let bound = listener.local_addr()?;
    if args.tls_self_signed {
        // Beside the database when there is one, else in a per-run temporary folder: a new
        // certificate at every start, written where the banner says.
        let dir = match config.store.ephemeral {
            true => std::env::temp_dir().join(format!("dialtone-tls-{}", std::process::id())),
            false => config.store.data_dir.join("tls"),
        };
        let extra = (!bound.ip().is_loopback() && !bound.ip().is_unspecified())
            .then(|| bound.ip().to_string());
        let made = dialtone::tls::self_signed(&dir, extra)
            .map_err(|e| anyhow::anyhow!("--tls-self-signed: {e}"))?;
        config.server.tls = Some(dialtone::config::TlsFiles {
            cert: made.cert,
            key: made.key,
        });
    }
    // A bad certificate or key stops start-up before the banner, like a bad tone file.
    dialtone::server::tls_acceptor(&config.server)?;
    // Voices and tones load before anything is printed, so a bad tone file stops start-up at once.
    let state = dialtone::app::AppState::new(config)?;
    print_banner(&state.config, &bound);
    let (trigger, shutdown) = dialtone::shutdown::channel();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("shutting down: finishing pushes on the wire...");
        }
        trigger.fire();
    });
    dialtone::server::serve(state, listener, shutdown).await?;
    Ok(())
}

/// Everything a newcomer needs to copy into a first request.
fn print_banner(config: &Config, addr: &std::net::SocketAddr) {
    let app = &config.apps[0];
    let dev = config.developer_of(app);
    let speed = match config.clock.mode {
        ClockMode::Scaled => format!(" (x{})", config.clock.speed),
        _ => String::new(),
    };
    let scheme = match config.server.tls {
        Some(_) => "https",
        None => "http",
    };
    println!(
        "Dialtone listening on {scheme}://{addr}  clock: {:?}{speed}",
        config.clock.mode
    );
    if let Some(tls) = &config.server.tls {
        println!("  certificate  {}", tls.cert.display());
    }
    println!("  app_key      {}", app.app_key);
    println!("  app_secret   {}", app.app_secret);
    println!(
        "  sp username  {}   password {}",
        dev.username, dev.password
    );
    println!("  numbers      {}", app.numbers.join(", "));
    if config.apps.len() > 1 {
        println!("  (+{} more apps in the config)", config.apps.len() - 1);
    }
    println!(
        "  timings      alerting {} ms, answer {} ms, ring timeout {} s",
        config.call.alerting_delay_ms, config.call.answer_delay_ms, config.call.ring_timeout_s
    );
    for rule in &config.frequency.rules {
        println!(
            "  frequency    at most {} calls per {} in {} s ({} mode)",
            rule.max_calls,
            serde_json::to_value(rule.scope)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            rule.window_s,
            if config.frequency.mode == dialtone::frequency::FrequencyMode::Sync {
                "sync"
            } else {
                "async"
            }
        );
    }
    if config.store.ephemeral {
        println!("  store        in memory (--ephemeral): a restart forgets everything");
    } else {
        println!(
            "  store        {}",
            config
                .store
                .data_dir
                .join(dialtone::store::DB_FILE)
                .display()
        );
    }
    if let Some(seed) = config.seed {
        println!("  seed         {seed} (ids and nonces are reproducible)");
    }
    if let (ClockMode::Manual, Some(start)) = (config.clock.mode, config.clock.start) {
        println!(
            "  clock start  {}",
            start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    // A client must trust the certificate: say how for the CLI's own (rustls reads SSL_CERT_FILE).
    let trust = config
        .server
        .tls
        .as_ref()
        .map(|t| format!("SSL_CERT_FILE={} ", t.cert.display()))
        .unwrap_or_default();
    println!("Try:  {trust}dialtone call +8613900001234 --code 4815 --url {scheme}://{addr}");
}

async fn call(args: CallArgs) -> anyhow::Result<()> {
    // A tag is looked up in the default `languages`; a number is sent as it is, so Dialtone (with
    // its own configuration) judges it.
    let language_type = match args.lang.parse::<i64>() {
        Ok(n) => n,
        Err(_) => Config::embedded()
            .languages
            .iter()
            .find(|(_, tag)| **tag == args.lang)
            .and_then(|(n, _)| n.parse().ok())
            .with_context(|| {
                format!(
                    "--lang `{}`: a languageType number or en, zh, es, fr, it, ru",
                    args.lang
                )
            })?,
    };
    let kind = CallKind::Verify(VerifyCall {
        language_type,
        pre_tone: args.pre_tone.parse().context("--pre-tone")?,
        verify_code: args.code.parse().context("--code")?,
        pos_tone: args
            .pos_tone
            .map(|t| t.parse())
            .transpose()
            .context("--pos-tone")?,
        times: args.times,
    });
    place(args.placement, &args.callee, kind).await
}

/// Places `kind` to `callee` as `p` says, and follows it.
async fn place(p: Placement, callee: &str, kind: CallKind) -> anyhow::Result<()> {
    let demo = Config::embedded();
    let app = &demo.apps[0];
    let display = match (p.display, p.app_key.is_some()) {
        (Some(d), _) => d,
        (None, false) => app.numbers[0].clone(),
        (None, true) => anyhow::bail!("--display is required with --app-key"),
    };
    let parse_url = |u: Option<String>, flag: &str| {
        u.map(|u| u.parse())
            .transpose()
            .with_context(|| flag.to_owned())
    };
    let request = CallRequest {
        app_key: p.app_key.unwrap_or_else(|| app.app_key.clone()).into(),
        display_nbr: display.parse().context("--display")?,
        callee_nbr: callee.parse().context("the number to call")?,
        status_url: parse_url(p.status_url, "--status-url")?,
        fee_url: parse_url(p.fee_url, "--fee-url")?,
        user_data: p.user_data,
        kind,
    };
    let call = ClientCall {
        url: p.url,
        app_secret: p.app_secret.unwrap_or_else(|| app.app_secret.clone()),
        request,
        follow: !p.no_follow,
        idle_hint: std::time::Duration::from_secs_f64(p.idle_hint_s.max(0.01)),
    };
    client::place_call(&call, &mut std::io::stdout(), &mut std::io::stderr()).await?;
    Ok(())
}

async fn notify(args: NotifyArgs) -> anyhow::Result<()> {
    let segment = PlayInfo {
        notify_voice: args
            .voice
            .map(|v| v.parse())
            .transpose()
            .context("--voice")?,
        template_id: args.template,
        template_paras: args.params,
        collect_ind: args.collect,
        replay_on: args.replay_on,
    };
    let kind = CallKind::Notify(NotifyCall {
        play_info_list: vec![segment],
    });
    place(args.placement, &args.callee, kind).await
}

async fn callback(args: CallbackArgs) -> anyhow::Result<()> {
    let demo = Config::embedded();
    let display_callee = match (&args.display_callee, &args.placement.display) {
        (Some(d), _) | (None, Some(d)) => d.clone(),
        (None, None) => demo.apps[0].numbers[0].clone(),
    };
    let kind = CallKind::Callback(Box::new(CallbackCall {
        display_callee_nbr: display_callee.parse().context("--display-callee")?,
        b_nbr: args.callee.parse().context("the callee (B)")?,
        max_duration: args.max_duration,
        last_min_voice: None,
        last_min_to_ue: "both".into(),
        play_pre_voice: args.pre_voice.is_some(),
        pre_voice: args
            .pre_voice
            .map(|t| t.parse())
            .transpose()
            .context("--pre-voice")?,
        wait_voice: None,
        callee_media: "all".into(),
        record: args.record,
        record_hint_tone: None,
        party_type_in_disconnect: args.party_type,
    }));
    place(args.placement, &args.caller, kind).await
}

async fn tail(args: TailArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let stdout = std::io::stdout();
    let opts = TailOptions {
        url: args.url.url,
        app_key: args.app_key,
        session_id: args.session_id,
        kinds: args.kinds,
        since: args.since,
        json: args.json,
        colour: stdout.is_terminal(),
    };
    dialtone::tail::tail(&opts, &mut stdout.lock()).await?;
    Ok(())
}

fn render(args: RenderArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::embedded(),
    };
    let rendered = match (&args.template, &args.code) {
        (Some(id), _) => render_template(&args, &config, id)?,
        (None, Some(code)) => render_code(&args, &config, code)?,
        (None, None) => anyhow::bail!("--code or --template is required"),
    };
    std::fs::write(&args.output, rendered.wav)
        .with_context(|| format!("cannot write `{}`", args.output.display()))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", rendered.json)?;
    } else {
        write!(out, "{}: {}", args.output.display(), rendered.summary)?;
    }
    Ok(())
}

/// A rendering: the WAV, and the manifest to print as a summary or as JSON.
struct Rendered {
    wav: Vec<u8>,
    summary: String,
    json: String,
}

impl Rendered {
    fn new<T: std::fmt::Display + serde::Serialize>(
        wav: Vec<u8>,
        manifest: &T,
    ) -> anyhow::Result<Rendered> {
        Ok(Rendered {
            wav,
            summary: manifest.to_string(),
            json: serde_json::to_string_pretty(manifest)?,
        })
    }
}

/// `render --code`: the announcement's WAV, and the manifest to print (`{:#}` as JSON).
fn render_code(args: &RenderArgs, config: &Config, code: &str) -> anyhow::Result<Rendered> {
    let lang = args.lang.as_deref().unwrap_or("en");
    let language = match lang.parse::<i64>() {
        Ok(_) => config.languages.get(lang).with_context(|| {
            let known: Vec<_> = config
                .languages
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            format!(
                "languageType {lang} is not in the config's `languages` ({})",
                known.join(", ")
            )
        })?,
        Err(_) => lang,
    };
    let library = audio::AudioLibrary::load(config)?;
    let request = audio::AnnouncementRequest {
        language,
        app_key: args.app_key.as_deref(),
        pre_tone: &args.pre_tone,
        code,
        times: args.times,
        pos_tone: args.pos_tone.as_deref(),
    };
    let manifest = audio::compose(&library, &request, &config.call)?;
    let wav = audio::wav_bytes(&audio::render(&manifest, args.until_ms))?;
    // What is printed is what the WAV holds.
    match args.until_ms {
        Some(until) => Rendered::new(wav, &manifest.until(until)),
        None => Rendered::new(wav, &manifest),
    }
}

/// `render --template`: the template (with `--voice` first) as one playInfoList entry plays it,
/// from its first sound to its last, and its pieces to print.
fn render_template(args: &RenderArgs, config: &Config, id: &str) -> anyhow::Result<Rendered> {
    let app_key = match &args.app_key {
        Some(key) => key.as_str(),
        None => &config.apps[0].app_key,
    };
    let app = config
        .app(app_key)
        .with_context(|| format!("no app `{app_key}` in the config"))?;
    let template = config.template(app_key, id).with_context(|| {
        let known: Vec<&str> = config
            .developer_of(app)
            .templates
            .keys()
            .map(String::as_str)
            .collect();
        format!(
            "no template `{id}` for app {app_key} (its developer's templates: {})",
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        )
    })?;
    let filled = template
        .fill(&args.params)
        .with_context(|| format!("--param for template `{id}` ({})", template.content()))?;
    let language = match args.lang.as_deref() {
        None => config.tts.language,
        Some("zh") => audio::TtsLanguage::Zh,
        Some("en") => audio::TtsLanguage::En,
        Some(other) => anyhow::bail!("--lang `{other}`: template speech is zh or en"),
    };
    let library = audio::AudioLibrary::load(config)?;
    let playback = audio::compose_playback(
        &library,
        app_key,
        args.voice.as_deref(),
        Some(&filled),
        language,
    )?;
    let end = args
        .until_ms
        .map_or(playback.length_ms, |u| u.min(playback.length_ms));
    let wav = audio::wav_bytes(&audio::render_playbacks(&[(&playback, 0)], end))?;
    Rendered::new(wav, &playback)
}

#[cfg(feature = "play")]
fn play(args: PlayArgs) -> anyhow::Result<()> {
    let path = std::path::Path::new(&args.target);
    let wav = if path.is_file() {
        std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?
    } else if args.target.to_ascii_lowercase().ends_with(".wav") {
        anyhow::bail!("no file `{}`", args.target);
    } else {
        runtime()?.block_on(audio::play::fetch_call_audio(&args.url, &args.target))?
    };
    audio::play::play_wav(wav)?;
    Ok(())
}

/// Dialtone decision: the subcommand exists in every build, so `dialtone play` explains how to
/// get it instead of clap's "unrecognized subcommand".
#[cfg(not(feature = "play"))]
fn play(_: PlayArgs) -> anyhow::Result<()> {
    anyhow::bail!(
        "this dialtone was built without playback; rebuild with the `play` feature \
         (`cargo run --release --features play -- play FILE.wav`; on Linux it needs \
         libasound2-dev). `dialtone render` writes WAV files any player can open."
    )
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every command and subcommand, depth first.
    fn commands(command: &clap::Command) -> Vec<&clap::Command> {
        let mut all = vec![command];
        for sub in command.get_subcommands() {
            all.extend(commands(sub));
        }
        all
    }

    #[test]
    fn every_flag_has_help_text_and_an_environment_variable() {
        let cli = Cli::command();
        let mut missing = Vec::new();
        for command in commands(&cli) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                let name = format!("{} {id}", command.get_name());
                if arg.get_help().is_none() {
                    missing.push(format!("{name}: no help text"));
                }
                let positional = arg.get_long().is_none() && arg.get_short().is_none();
                let env = arg.get_env().and_then(|e| e.to_str());
                if !positional && !env.is_some_and(|e| e.starts_with("DIALTONE_")) {
                    missing.push(format!("{name}: no DIALTONE_ environment variable"));
                }
            }
        }
        assert!(missing.is_empty(), "{missing:#?}");
    }

    #[test]
    fn a_manual_clock_with_a_speed_is_refused_saying_why() {
        let cli = Cli::try_parse_from(["dialtone", "--clock", "manual", "--speed", "5"])
            .expect("both flags parse");
        let err = load_config(&cli.serve).expect_err("speed needs the scaled clock");
        assert_eq!(
            err.to_string(),
            "--speed 5 applies to the scaled clock only, and --clock is manual: drop --speed \
             (or DIALTONE_SPEED), or use --clock scaled"
        );
        let scaled = Cli::try_parse_from(["dialtone", "--clock", "scaled", "--speed", "5"])
            .expect("both flags parse");
        assert_eq!(load_config(&scaled.serve).expect("valid").clock.speed, 5.0);
    }

    #[test]
    fn a_seed_on_the_command_line_keeps_the_store_in_memory_unless_a_data_dir_is_given() {
        let seeded = Cli::try_parse_from(["dialtone", "--seed", "7"]).expect("parses");
        assert!(load_config(&seeded.serve).expect("valid").store.ephemeral);
        let kept =
            Cli::try_parse_from(["dialtone", "--seed", "7", "--data-dir", "d"]).expect("parses");
        assert!(!load_config(&kept.serve).expect("valid").store.ephemeral);
        let unseeded = Cli::try_parse_from(["dialtone"]).expect("parses");
        assert!(!load_config(&unseeded.serve).expect("valid").store.ephemeral);
    }

    #[test]
    fn a_seeded_manual_clock_starts_at_a_fixed_epoch_unless_one_is_given() {
        let start = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).expect("parses");
            load_config(&cli.serve).expect("valid").clock.start
        };
        let fixed = Some(dialtone::clock::SEEDED_START.parse().expect("a time"));
        assert_eq!(
            start(&["dialtone", "--clock", "manual", "--seed", "7"]),
            fixed
        );
        assert_eq!(start(&["dialtone", "--clock", "manual"]), None);
        assert_eq!(
            start(&["dialtone", "--seed", "7"]),
            None,
            "a real clock runs from now"
        );
        assert_eq!(
            start(&[
                "dialtone",
                "--clock",
                "manual",
                "--seed",
                "7",
                "--start",
                "2027-01-01T00:00:00Z"
            ]),
            Some("2027-01-01T00:00:00Z".parse().expect("a time"))
        );
    }
}
