//! Dialtone: a local simulator of a cloud voice-call platform (Huawei Cloud VoiceCall: voice
//! verification codes, voice notifications, click-to-call, call stop and recordings).
//!
//! The path of a request, top to bottom:
//!
//! - [`server`]: the router, a tracing span per request, internal faults logged once (from the
//!   response extension errors carry), graceful shutdown.
//! - [`app`]: the shared [`app::AppState`] both surfaces use, and its construction (audio,
//!   store, recovery, clock resume).
//! - [`api`]: the platform's endpoints, paths as the spec spells them; its extractors
//!   ([`api::extract`]) authenticate and read the body, so [`api::call_verify`] only parses the
//!   body into typed values and hands the call to the engine.
//! - [`auth`]: X-AKSK signatures, legacy tokens and lockout (spec §3).
//! - [`engine`]: every call, one timer queue, push ordering, CDR batching and retries; the
//!   virtual handsets' engine side (`engine/handset.rs`: who is attached, the calls ringing
//!   them, the audio-frame timer).
//! - [`frequency`]: frequency control (spec §5.4), the sliding windows admission consults.
//! - [`call`]: one call as a pure state machine (spec §5), with its announcement plan, codes and
//!   timings ([`call::timings`]), and the voice-notification templates ([`call::template`]).
//! - [`audio`]: voices, tones and Mandarin syllables loaded at start-up; the announcement, and a
//!   notification's voice files and templates (TTS, [`audio::tts`]), laid out from clips and
//!   rendered to WAV (`dialtone render`, `dialtone play`).
//! - [`push`]: push payloads (§6, §7), signing (§8), the HTTP transport and the retry schedules
//!   ([`push::retry`], resolved from the config at load).
//! - [`journal`]: every push attempt (§9).
//! - [`store`]: calls, events, CDRs, the push outbox and the journal in embedded SQLite, so
//!   nothing is lost across a restart; batched writes off the engine's path.
//! - [`sim`]: Dialtone's own control plane under `/sim/v1` (clock, inspection), with its own
//!   extractors ([`sim::extract`]) and `{"error": …}` answers; [`sim::stream`] serves the event
//!   stream over a WebSocket and publishes the platform API's refusals; [`sim::handset`] serves
//!   the virtual handset (a person who is a callee, hearing the call as PCM frames);
//!   [`sim::openapi`] serves `docs/openapi.json`, the contract of both surfaces.
//! - [`console`]: the browser console at `/`, its files embedded in the binary; a client of
//!   `/sim/v1`, the event stream and the handset WebSocket like any other.
//! - [`logs`]: the log lines that tell a run's story (requests, call events, pushes, locks,
//!   frequency hits), written where the stream publishes, and the binary's subscriber.
//! - [`events`]: the event stream's bus: one typed event per thing that happens, numbered under
//!   its own lock as the engine publishes, buffered for `since` replays and read by subscribers
//!   in chunks (shared NDJSON frames) without ever blocking the engine.
//! - [`load`]: `dialtone load`, placing calls at a rate and measuring the receiver.
//! - [`client`]: `dialtone call`, a signed callVerify client that follows the call on the stream;
//!   [`tail`]: `dialtone tail` and the stream client; [`control`]: the CLI's control verbs
//!   (`advance`, `reset`, `phone set|rm|list`, `calls`, `deliveries`); [`phone`]: `dialtone
//!   phone NUMBER`, a virtual handset in the terminal ([`sim::handset`] serves it).
//! - [`tls`]: HTTPS both ways with rustls and ring: the push client's config
//!   (`push.tls_verify`, `push.ca_file`), the listener's (`server.tls_cert`/`tls_key`), the
//!   `--tls-self-signed` certificate, and the process's crypto provider for every HTTP client.
//! - [`testing`]: an in-process Dialtone, a recording receiver and assertions for Rust tests.
//!
//! Foundations: [`config`] (the file, with the embedded default: raw TOML converted into
//! validated, typed settings, each type owned by the module that uses it), [`clock`] (simulated
//! time; the only place real time is read), [`ids`] (seedable ids and nonces), [`error`] (the
//! result codes), [`body`] (the request body limit both surfaces share), [`shutdown`].

pub mod api;
pub mod app;
pub mod audio;
pub mod auth;
pub mod body;
pub mod call;
pub mod client;
pub mod clock;
pub mod config;
pub mod console;
pub mod control;
pub mod engine;
pub mod error;
pub mod events;
pub mod frequency;
pub mod ids;
pub mod load;
pub mod logs;
pub mod phone;
pub mod push;
pub mod server;
pub mod shutdown;
pub mod sim;
pub mod store;
pub mod tail;
pub mod testing;
pub mod tls;

pub use config::Config;
pub use shutdown::{Shutdown, ShutdownTrigger};

/// Runs Dialtone on `listener` until `shutdown` fires: the single entry point for the binary and
/// for tests.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: Shutdown,
) -> Result<(), server::RunError> {
    server::serve(app::AppState::new(config)?, listener, shutdown).await
}
