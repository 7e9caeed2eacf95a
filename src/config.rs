//! Configuration (documented key by key in `fixtures/dialtone.example.toml`): a TOML file read
//! into its raw form, [`RawConfig`], then converted (`TryFrom`) into the validated, typed
//! [`Config`] the rest of Dialtone runs on.
//!
//! Each section's settings belong to the module that uses them: [`CallTimings`] to `call`,
//! [`ClockSettings`] to `clock`, [`PushSettings`] and [`RetrySchedule`] to `push`,
//! [`FrequencySettings`] to the engine's frequency control, scenario [`Rule`]s and blacklist
//! [`Pattern`]s to `call::scenario`, [`Template`]s to `call::template`, [`TtsSettings`] to
//! `audio::tts`. This file owns the file's shape, the sections with no other
//! home (server, developers, apps, auth, platform, journal, store, tones) and every check. Values
//! are parsed once, here: a pattern, a scenario or a retry policy that does not parse is a
//! [`ConfigError`] naming the file, the key and what is wrong, never skipped.
//!
//! With no `--config`, Dialtone runs on [`EMBEDDED_DEFAULT`], which is the commented example in
//! `fixtures/dialtone.example.toml`, so the example and the default can never disagree. Every key
//! has a serde default, so a user's file only needs what it changes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::audio::TtsSettings;
use crate::call::click2call::C2cTimings;
use crate::call::notify::NotifyTimings;
use crate::call::request::{PhoneNumber, PushUrl, ToneName};
use crate::call::scenario::{BehaviourSpec, Pattern, Rule};
use crate::call::template::{Template, TemplateAudio};
use crate::call::CallTimings;
use crate::clock::ClockSettings;
use crate::frequency::FrequencySettings;
use crate::push::faults::FaultRule;
use crate::push::retry::{Backoff, RetrySchedule};
use crate::push::transport::PushSettings;

/// The configuration Dialtone serves on when started without `--config`.
pub const EMBEDDED_DEFAULT: &str = include_str!("../fixtures/dialtone.example.toml");

/// A configuration problem: which file, which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config error in {file}: {key}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
}

/// What is wrong with one key, before it is known which file it came from: the error of
/// [`Config::try_from`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidKey {
    pub key: String,
    pub message: String,
}

impl InvalidKey {
    fn new(key: impl Into<String>, message: impl Into<String>) -> InvalidKey {
        InvalidKey {
            key: key.into(),
            message: message.into(),
        }
    }

    fn in_file(self, file: &str) -> ConfigError {
        ConfigError {
            file: file.into(),
            key: self.key,
            message: self.message,
        }
    }
}

/// The validated configuration: every value typed, every rule parsed. Built only from a
/// [`RawConfig`] (or the embedded default); tests and the command line may adjust fields after.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub developers: Vec<Developer>,
    pub apps: Vec<App>,
    pub auth: AuthConfig,
    pub api: ApiConfig,
    /// `languageType` → language tag of the clip set (docs/api.md, callVerify).
    pub languages: BTreeMap<String, String>,
    pub platform: PlatformConfig,
    pub call: CallTimings,
    /// Digit collection on notifications (docs/api.md, callnotify: collecting keys).
    pub notify: NotifyTimings,
    /// Click-to-call timing (docs/api.md, click2Call).
    pub c2c: C2cTimings,
    /// Click-to-call recordings (docs/api.md, click2Call and Recording download).
    pub recording: RecordingSettings,
    pub clock: ClockSettings,
    pub push: PushSettings,
    pub status_push: StatusPushConfig,
    pub fee_push: FeePushConfig,
    pub journal: JournalConfig,
    /// The event stream (`GET /sim/v1/stream`): how many events are kept for replays.
    pub stream: crate::events::StreamConfig,
    pub store: StoreConfig,
    /// How long finished calls stay in memory (`engine::retention`).
    pub retention: crate::engine::RetentionSettings,
    /// Webhook faults injected from start-up (`push::faults`; also `PUT /sim/v1/faults`).
    pub faults: Vec<FaultRule>,
    /// Callee behaviour rules, tried in order (docs/control-api.md, Phones; see
    /// `call::scenario`).
    pub scenarios: Vec<Rule>,
    pub frequency: FrequencySettings,
    /// Callee numbers (or patterns) the platform refuses to call: stateCode 7004.
    pub blacklist: Vec<Pattern>,
    pub tones: TonesConfig,
    /// Template TTS (docs/api.md, callnotify: templates).
    pub tts: TtsSettings,
    /// Seed for every random choice (ids, nonces). Absent: ids are unique per run, as on the platform.
    pub seed: Option<u64>,
}

/// The file as written: the TOML's shape with its defaults filled in, nothing checked yet.
/// [`Config::try_from`] checks it and builds the typed values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    developers: Vec<RawDeveloper>,
    #[serde(default)]
    apps: Vec<App>,
    #[serde(default)]
    auth: AuthConfig,
    #[serde(default)]
    api: ApiConfig,
    #[serde(default = "default_languages")]
    languages: BTreeMap<String, String>,
    #[serde(default)]
    platform: PlatformConfig,
    #[serde(default)]
    call: CallTimings,
    #[serde(default)]
    notify: NotifyTimings,
    #[serde(default)]
    c2c: C2cTimings,
    #[serde(default)]
    recording: RecordingSettings,
    #[serde(default)]
    clock: ClockSettings,
    #[serde(default)]
    push: PushSettings,
    #[serde(default)]
    status_push: RawStatusPush,
    #[serde(default)]
    fee_push: RawFeePush,
    #[serde(default)]
    journal: JournalConfig,
    #[serde(default)]
    stream: crate::events::StreamConfig,
    #[serde(default)]
    store: StoreConfig,
    #[serde(default)]
    retention: crate::engine::RetentionSettings,
    #[serde(default)]
    faults: Vec<FaultRule>,
    #[serde(default)]
    scenarios: Vec<BehaviourSpec>,
    #[serde(default)]
    frequency: FrequencySettings,
    #[serde(default)]
    blacklist: Vec<String>,
    #[serde(default)]
    tones: TonesConfig,
    #[serde(default)]
    tts: TtsSettings,
    #[serde(default)]
    seed: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    listen: String,
    header_timeout_ms: u64,
    max_connections: usize,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "127.0.0.1:8080".into(),
            header_timeout_ms: 10_000,
            max_connections: 1024,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `[server]`: where the HTTP server listens (also `--listen`), and how it protects itself from
/// slow and idle clients.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// A connection must send a request's whole header within this long, counted from when it
    /// opens or finished its previous request: a slowloris client, or an idle keep-alive
    /// connection, is closed after it. At least 1.
    pub header_timeout_ms: u64,
    /// Connections served at once; further ones wait in the listen backlog until one closes
    /// (logged as a warning). At least 1.
    pub max_connections: usize,
    /// Serve HTTPS with this certificate chain and key (`server.tls_cert`/`tls_key`, both or
    /// neither; also `--tls-self-signed`).
    pub tls: Option<TlsFiles>,
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A developer account (docs/api.md, Legacy tokens): owns apps, holds the legacy login
/// credentials and the templates all its apps share (docs/api.md, callnotify).
#[derive(Debug, Clone)]
pub struct Developer {
    pub sp_id: String,
    pub username: String,
    pub password: String,
    /// Approved voice-notification templates, by id.
    pub templates: BTreeMap<String, Template>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeveloper {
    sp_id: String,
    username: String,
    password: String,
    #[serde(default)]
    templates: BTreeMap<String, RawTemplate>,
}

/// `developers[].templates.<id>` as written: the content, or `{text, audio, cuts_ms}`.
#[derive(Debug, Clone)]
struct RawTemplate {
    text: String,
    audio: Option<PathBuf>,
    cuts_ms: Option<Vec<u64>>,
}

/// The table form of a template (`{text = "…", audio = "file.wav"}`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplateTable {
    text: String,
    #[serde(default)]
    audio: Option<PathBuf>,
    /// Where in `audio` each variable is spoken (ms); default: proportional (`audio::templates`).
    #[serde(default)]
    cuts_ms: Option<Vec<u64>>,
}

// A string or a table. Written by hand rather than `#[serde(untagged)]`, so a mistake inside the
// table (an unknown key, a wrong type) is reported as such, not as "did not match any variant".
impl<'de> Deserialize<'de> for RawTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RawTemplate, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawTemplate;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the template text, or a table {text, audio}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawTemplate, E> {
                Ok(RawTemplate {
                    text: v.to_owned(),
                    audio: None,
                    cuts_ms: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawTemplate, A::Error> {
                let t = RawTemplateTable::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(RawTemplate {
                    text: t.text,
                    audio: t.audio,
                    cuts_ms: t.cuts_ms,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// An app: identity, display numbers, approved tones and default push URLs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub app_key: String,
    pub app_secret: String,
    /// The `sp_id` of the developer who owns the app.
    pub developer: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_max_concurrent_calls")]
    pub max_concurrent_calls: u32,
    #[serde(default)]
    pub numbers: Vec<String>,
    /// Further approved tones: name (`promo.wav`) → WAV file path. `welcome.wav` and `bye.wav` are
    /// approved for every app without configuration (docs/api.md, callVerify `preTone`).
    #[serde(default)]
    pub tones: BTreeMap<String, PathBuf>,
    /// Default status push URL, plain (not Base64).
    #[serde(default)]
    pub status_url: Option<String>,
    /// Default CDR push URL, plain (not Base64).
    #[serde(default)]
    pub fee_url: Option<String>,
    /// Click-to-call recording allowed (`recordFlag`; otherwise 1012012, docs/api.md, click2Call).
    #[serde(default)]
    pub recording: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub created_window_s: u64,
    pub reject_nonce_replay: bool,
    pub legacy: LegacyAuthConfig,
    pub lockout: LockoutConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            created_window_s: 300,
            reject_nonce_replay: true,
            legacy: LegacyAuthConfig::default(),
            lockout: LockoutConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LegacyAuthConfig {
    pub enabled: bool,
    pub token_ttl_s: u64,
    pub refresh_ttl_s: u64,
    pub login_interval_s: u64,
}

impl Default for LegacyAuthConfig {
    fn default() -> Self {
        LegacyAuthConfig {
            enabled: true,
            token_ttl_s: 172_800,
            refresh_ttl_s: 2_592_000,
            login_interval_s: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockoutConfig {
    pub enabled: bool,
    pub max_failures: u32,
    pub window_s: u64,
    pub lock_s: u64,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        LockoutConfig {
            enabled: true,
            max_failures: 5,
            window_s: 600,
            lock_s: 1800,
        }
    }
}

/// `[recording]`: click-to-call recordings (docs/api.md, click2Call and Recording download).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingSettings {
    /// The CDR's `recordDomain`, and what a download must name.
    pub domain: String,
    /// How long a recording can be downloaded after the call, simulated seconds.
    pub retention_s: u64,
    /// Shorter recordings are discarded (the CDR then says `recordFlag` 0).
    pub min_duration_s: u64,
    /// Base of download URLs; default `http://` + the address Dialtone listens on.
    pub public_base_url: Option<String>,
}

impl Default for RecordingSettings {
    fn default() -> Self {
        RecordingSettings {
            domain: "ostor.huawei.com".into(),
            retention_s: 604_800,
            min_duration_s: 3,
            public_base_url: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Accept strings of digits for integer fields (docs/api.md, Conventions). On by default:
    /// Huawei's own Python sample sends `"languageType": "2"`.
    pub lenient_types: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            lenient_types: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlatformConfig {
    pub node_id: u32,
    pub session_domain: String,
    pub host_name: String,
    pub ports: u32,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            node_id: 1200,
            session_domain: "callenabler.home1.com".into(),
            host_name: "callenabler.home1.com".into(),
            ports: 1000,
        }
    }
}

/// `status_push.retry` and `fee_push.retry` as written: `"fidelity"` (what the real platform
/// does), `"dev"`, or a backoff table. Resolved at load into a [`RetrySchedule`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RetryPolicy {
    Named(NamedPolicy),
    Backoff(Backoff),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamedPolicy {
    /// The real platform: status pushes are never retried; CDRs up to `fee_push.max_retries`
    /// times, `fee_push.retry_interval_s` apart.
    Fidelity,
    /// For development: both retried quickly, with exponential backoff and jitter
    /// ([`Backoff::dev`]).
    Dev,
}

impl RetryPolicy {
    /// The schedule this policy means, `fidelity` being the platform's for this kind of push;
    /// `key` names the policy in errors.
    fn resolve(self, fidelity: RetrySchedule, key: &str) -> Result<RetrySchedule, InvalidKey> {
        match self {
            RetryPolicy::Named(NamedPolicy::Fidelity) => Ok(fidelity),
            RetryPolicy::Named(NamedPolicy::Dev) => Ok(RetrySchedule::dev()),
            RetryPolicy::Backoff(b) => {
                if !(b.multiplier.is_finite() && b.multiplier >= 1.0) {
                    return Err(InvalidKey::new(
                        format!("{key}.multiplier"),
                        "must be at least 1",
                    ));
                }
                if !(0.0..=1.0).contains(&b.jitter) {
                    return Err(InvalidKey::new(format!("{key}.jitter"), "must be 0 to 1"));
                }
                Ok(RetrySchedule::Backoff(b))
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatusPush {
    #[serde(default = "fidelity")]
    retry: RetryPolicy,
}

impl Default for RawStatusPush {
    fn default() -> Self {
        RawStatusPush { retry: fidelity() }
    }
}

/// Status pushes (docs/api.md, Status pushes).
#[derive(Debug, Clone)]
pub struct StatusPushConfig {
    pub retry: RetrySchedule,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawFeePush {
    /// `"fidelity"` (the two keys below), `"dev"`, or a backoff table like `status_push.retry`.
    retry: RetryPolicy,
    max_retries: u32,
    retry_interval_s: u64,
    batch_window_ms: u64,
}

impl Default for RawFeePush {
    fn default() -> Self {
        RawFeePush {
            retry: fidelity(),
            max_retries: 6,
            retry_interval_s: 3600,
            batch_window_ms: 1000,
        }
    }
}

/// CDR pushes (docs/api.md, CDR pushes).
#[derive(Debug, Clone)]
pub struct FeePushConfig {
    pub retry: RetrySchedule,
    /// CDRs with the same app, URL and `callEndTime` finishing within this share a push.
    pub batch_window_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    pub max_entries: usize,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            max_entries: 10_000,
        }
    }
}

/// The shared tone library (see `audio::tones`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TonesConfig {
    /// A folder of `.wav` tones approved for every app, beside the bundled `welcome.wav` and
    /// `bye.wav` (a file of the same name replaces a bundled one). Relative to the config file.
    pub dir: Option<PathBuf>,
}

/// Where calls, CDRs and deliveries are kept (see `store`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The folder holding `dialtone.db` (SQLite, WAL). Relative to where Dialtone runs.
    pub data_dir: PathBuf,
    /// Keep everything in memory only (tests): a restart forgets all.
    pub ephemeral: bool,
    /// Finished calls (with their timeline, pushes and journal) are deleted from the database
    /// this long after they ended, in simulated seconds, once nothing is owed for them; 0
    /// keeps them (`store::retention`).
    pub retention_s: u64,
    /// Settled calls older than the newest this many (in acceptance order) are deleted from the
    /// database; 0: no limit.
    pub max_finished_calls: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            data_dir: PathBuf::from(".dialtone"),
            ephemeral: false,
            retention_s: 604_800,
            max_finished_calls: 1_000_000,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_max_concurrent_calls() -> u32 {
    20
}
fn fidelity() -> RetryPolicy {
    RetryPolicy::Named(NamedPolicy::Fidelity)
}
fn default_languages() -> BTreeMap<String, String> {
    [
        ("1", "zh"),
        ("2", "en"),
        ("3", "es"),
        ("4", "fr"),
        ("5", "it"),
        ("6", "ru"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl RawConfig {
    /// Reads TOML text into the raw form: syntax, types and unknown keys are checked here.
    pub fn from_toml(text: &str) -> Result<RawConfig, InvalidKey> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| InvalidKey::new("(syntax)", snippet(&e.to_string())))?;
        serde_path_to_error::deserialize(de)
            .map_err(|e| InvalidKey::new(e.path().to_string(), snippet(&e.inner().to_string())))
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = InvalidKey;

    /// Checks every key and builds the typed values: the listen address, the retry schedules,
    /// the scenario rules and the blacklist patterns. The first problem found is the error.
    fn try_from(raw: RawConfig) -> Result<Config, InvalidKey> {
        let listen =
            parse_listen(&raw.server.listen).map_err(|e| InvalidKey::new("server.listen", e))?;
        let developers = raw
            .developers
            .into_iter()
            .enumerate()
            .map(|(i, d)| developer(i, d))
            .collect::<Result<Vec<Developer>, InvalidKey>>()?;
        check_apps(&raw.apps, &developers)?;
        for (k, tag) in &raw.languages {
            if k.parse::<i64>().is_err() {
                return Err(InvalidKey::new(
                    format!("languages.{k}"),
                    "a languageType key must be an integer",
                ));
            }
            if tag.is_empty() {
                return Err(InvalidKey::new(
                    format!("languages.{k}"),
                    "the language tag must not be empty",
                ));
            }
        }
        // `times` 0 repeats the code until max_duration_s: the plan and the audio grow with it.
        if !(1..=3600).contains(&raw.call.max_duration_s) {
            return Err(InvalidKey::new(
                "call.max_duration_s",
                "must be 1 to 3600 seconds",
            ));
        }
        if raw.call.ring_timeout_s == 0 {
            return Err(InvalidKey::new("call.ring_timeout_s", "must be at least 1"));
        }
        if raw.platform.ports == 0 {
            return Err(InvalidKey::new("platform.ports", "must be at least 1"));
        }
        raw.clock
            .check()
            .map_err(|(key, message)| InvalidKey::new(key, message))?;
        let status_retry = raw
            .status_push
            .retry
            .resolve(RetrySchedule::fidelity_status(), "status_push.retry")?;
        let fee = raw.fee_push;
        let fee_fidelity = RetrySchedule::fidelity_fee(fee.max_retries, fee.retry_interval_s);
        let fee_retry = fee.retry.resolve(fee_fidelity, "fee_push.retry")?;
        let scenarios = raw
            .scenarios
            .iter()
            .enumerate()
            .map(|(i, spec)| scenario_rule(i, spec))
            .collect::<Result<Vec<Rule>, InvalidKey>>()?;
        for (i, rule) in raw.faults.iter().enumerate() {
            rule.check()
                .map_err(|m| InvalidKey::new(format!("faults[{i}]"), m))?;
        }
        let blacklist = raw
            .blacklist
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Pattern::parse(p).map_err(|m| InvalidKey::new(format!("blacklist[{i}]"), m))
            })
            .collect::<Result<Vec<Pattern>, InvalidKey>>()?;
        for (i, r) in raw.frequency.rules.iter().enumerate() {
            if r.max_calls == 0 || r.window_s == 0 {
                return Err(InvalidKey::new(
                    format!("frequency.rules[{i}]"),
                    "max_calls and window_s must be at least 1",
                ));
            }
        }
        if raw.journal.max_entries == 0 {
            return Err(InvalidKey::new("journal.max_entries", "must be at least 1"));
        }
        if raw.stream.buffer == 0 {
            return Err(InvalidKey::new("stream.buffer", "must be at least 1"));
        }
        if raw.server.header_timeout_ms == 0 {
            return Err(InvalidKey::new(
                "server.header_timeout_ms",
                "must be at least 1",
            ));
        }
        if raw.server.max_connections == 0 {
            return Err(InvalidKey::new(
                "server.max_connections",
                "must be at least 1",
            ));
        }
        let tls =
            match (raw.server.tls_cert, raw.server.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
                (None, None) => None,
                (Some(_), None) => return Err(InvalidKey::new(
                    "server.tls_key",
                    "is missing: HTTPS needs both server.tls_cert and server.tls_key (PEM files)",
                )),
                (None, Some(_)) => return Err(InvalidKey::new(
                    "server.tls_cert",
                    "is missing: HTTPS needs both server.tls_cert and server.tls_key (PEM files)",
                )),
            };
        if raw.push.max_in_flight_per_host == 0 {
            return Err(InvalidKey::new(
                "push.max_in_flight_per_host",
                "must be at least 1: pushes to a receiver would never go",
            ));
        }
        if raw.push.ca_file.is_some() && !raw.push.tls_verify {
            return Err(InvalidKey::new(
                "push.ca_file",
                "is only used to verify receivers' certificates: set push.tls_verify = true too",
            ));
        }
        Ok(Config {
            server: ServerConfig {
                listen,
                header_timeout_ms: raw.server.header_timeout_ms,
                max_connections: raw.server.max_connections,
                tls,
            },
            developers,
            apps: raw.apps,
            auth: raw.auth,
            api: raw.api,
            languages: raw.languages,
            platform: raw.platform,
            call: raw.call,
            notify: raw.notify,
            c2c: raw.c2c,
            recording: raw.recording,
            clock: raw.clock,
            push: raw.push,
            status_push: StatusPushConfig {
                retry: status_retry,
            },
            fee_push: FeePushConfig {
                retry: fee_retry,
                batch_window_ms: fee.batch_window_ms,
            },
            journal: raw.journal,
            stream: raw.stream,
            store: raw.store,
            retention: raw.retention,
            faults: raw.faults,
            scenarios,
            frequency: raw.frequency,
            blacklist,
            tones: raw.tones,
            tts: raw.tts,
            seed: raw.seed,
        })
    }
}

/// `developers[i]`: its templates parsed (docs/api.md, callnotify; Dialtone decision: a
/// malformed one is a start-up error naming its key).
fn developer(i: usize, raw: RawDeveloper) -> Result<Developer, InvalidKey> {
    let mut templates = BTreeMap::new();
    for (id, t) in raw.templates {
        // An id is a TOML bare key; one that is not is quoted, as TOML would.
        let bare = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let key = match bare {
            true => format!("developers[{i}].templates.{id}"),
            false => format!("developers[{i}].templates.{id:?}"),
        };
        let mut template =
            Template::parse(&id, &t.text).map_err(|e| InvalidKey::new(&key, e.to_string()))?;
        match (t.audio, t.cuts_ms) {
            (Some(path), cuts_ms) => {
                template = template
                    .with_audio(TemplateAudio { path, cuts_ms })
                    .map_err(|e| InvalidKey::new(&key, e.to_string()))?;
            }
            (None, Some(_)) => {
                return Err(InvalidKey::new(
                    format!("{key}.cuts_ms"),
                    "cuts_ms needs audio",
                ))
            }
            (None, None) => {}
        }
        templates.insert(id, template);
    }
    Ok(Developer {
        sp_id: raw.sp_id,
        username: raw.username,
        password: raw.password,
        templates,
    })
}

/// Apps: unique keys, a known developer, valid display numbers, tone names and push URLs.
fn check_apps(apps: &[App], developers: &[Developer]) -> Result<(), InvalidKey> {
    if apps.is_empty() {
        return Err(InvalidKey::new("apps", "at least one app is required"));
    }
    for (i, app) in apps.iter().enumerate() {
        let key = |field: &str| format!("apps[{i}].{field}");
        if app.app_key.is_empty() || app.app_key.len() > 32 {
            return Err(InvalidKey::new(key("app_key"), "must be 1-32 characters"));
        }
        if apps[..i].iter().any(|a| a.app_key == app.app_key) {
            return Err(InvalidKey::new(
                key("app_key"),
                format!("`{}` is used twice", app.app_key),
            ));
        }
        if app.app_secret.is_empty() {
            return Err(InvalidKey::new(key("app_secret"), "must not be empty"));
        }
        if !developers.iter().any(|d| d.sp_id == app.developer) {
            return Err(InvalidKey::new(
                key("developer"),
                format!("no developer has sp_id `{}`", app.developer),
            ));
        }
        if app.numbers.is_empty() {
            return Err(InvalidKey::new(
                key("numbers"),
                "at least one display number is required",
            ));
        }
        for (j, number) in app.numbers.iter().enumerate() {
            if number.parse::<PhoneNumber>().is_err() {
                return Err(InvalidKey::new(
                    format!("apps[{i}].numbers[{j}]"),
                    format!("`{number}` is not `+` followed by 7-15 digits"),
                ));
            }
        }
        for name in app.tones.keys() {
            if name.parse::<ToneName>().is_err() {
                return Err(InvalidKey::new(
                    format!("apps[{i}].tones.\"{name}\""),
                    "a tone name is 1-128 characters ending in .wav",
                ));
            }
        }
        for (field, url) in [("status_url", &app.status_url), ("fee_url", &app.fee_url)] {
            if let Some(url) = url {
                url.parse::<PushUrl>()
                    .map_err(|why| InvalidKey::new(key(field), why.to_string()))?;
            }
        }
    }
    Ok(())
}

/// `scenarios[i]`: its `match` and its behaviour, parsed into a rule.
fn scenario_rule(i: usize, spec: &BehaviourSpec) -> Result<Rule, InvalidKey> {
    let key = format!("scenarios[{i}]");
    let text = spec.pattern.clone().ok_or_else(|| {
        InvalidKey::new(
            key.clone(),
            "a scenario needs `match` (a number, prefix*, *suffix or *)",
        )
    })?;
    let pattern = Pattern::parse(&text).map_err(|m| InvalidKey::new(format!("{key}.match"), m))?;
    let behaviour = spec.to_behaviour().map_err(|m| InvalidKey::new(key, m))?;
    Ok(Rule {
        pattern,
        text,
        behaviour,
    })
}

impl Config {
    /// The embedded default configuration (the demo app and numbers).
    pub fn embedded() -> Config {
        Config::parse(EMBEDDED_DEFAULT, "<embedded default>")
            .expect("the embedded default configuration is valid: a unit test checks it")
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            key: "(file)".into(),
            message: format!("cannot read: {e}"),
        })?;
        let mut config = Config::parse(&text, &file)?;
        // Relative tone paths are relative to the config file, not to wherever Dialtone was started.
        if let Some(dir) = path.parent() {
            // Likewise TLS files.
            if let Some(tls) = config.server.tls.as_mut() {
                for file in [&mut tls.cert, &mut tls.key] {
                    if file.is_relative() {
                        *file = dir.join(&*file);
                    }
                }
            }
            if let Some(ca) = config.push.ca_file.as_mut().filter(|c| c.is_relative()) {
                *ca = dir.join(&*ca);
            }
            if let Some(tones) = config.tones.dir.as_mut().filter(|t| t.is_relative()) {
                *tones = dir.join(&*tones);
            }
            for app in &mut config.apps {
                for tone in app.tones.values_mut() {
                    if tone.is_relative() {
                        *tone = dir.join(&*tone);
                    }
                }
            }
            for developer in &mut config.developers {
                for template in developer.templates.values_mut() {
                    template.resolve_audio_path(dir);
                }
            }
        }
        config.validate_files(&file)?;
        Ok(config)
    }

    /// Parses and validates TOML text; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let raw = RawConfig::from_toml(text).map_err(|e| e.in_file(file))?;
        Config::try_from(raw).map_err(|e| e.in_file(file))
    }

    /// Checks that files the config names exist; separate from the conversion so the embedded
    /// default (which names none) never touches the disk.
    fn validate_files(&self, file: &str) -> Result<(), ConfigError> {
        let tls_files = self
            .server
            .tls
            .iter()
            .flat_map(|t| [("server.tls_cert", &t.cert), ("server.tls_key", &t.key)])
            .chain(self.push.ca_file.iter().map(|c| ("push.ca_file", c)));
        for (key, path) in tls_files {
            if !path.is_file() {
                return Err(ConfigError {
                    file: file.into(),
                    key: key.into(),
                    message: format!("`{}` does not exist", path.display()),
                });
            }
        }
        if let Some(dir) = self.tones.dir.as_ref().filter(|d| !d.is_dir()) {
            return Err(ConfigError {
                file: file.into(),
                key: "tones.dir".into(),
                message: format!("`{}` is not a folder", dir.display()),
            });
        }
        for (i, app) in self.apps.iter().enumerate() {
            for (name, path) in &app.tones {
                if !path.is_file() {
                    return Err(ConfigError {
                        file: file.into(),
                        key: format!("apps[{i}].tones.\"{name}\""),
                        message: format!("tone file `{}` does not exist", path.display()),
                    });
                }
            }
        }
        for (i, developer) in self.developers.iter().enumerate() {
            for (id, template) in &developer.templates {
                if let Some(audio) = template.audio().filter(|a| !a.path.is_file()) {
                    return Err(ConfigError {
                        file: file.into(),
                        key: format!("developers[{i}].templates.{id}.audio"),
                        message: format!("`{}` does not exist", audio.path.display()),
                    });
                }
            }
        }
        Ok(())
    }

    /// The app with this key, if configured.
    pub fn app(&self, app_key: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.app_key == app_key)
    }

    /// The approved template `id` as the app `app_key` may use it: its developer's (docs/api.md,
    /// callnotify: all apps of an account share its templates). `None` for an unknown app or
    /// template (`1012003`).
    pub fn template(&self, app_key: &str, id: &str) -> Option<&Template> {
        let app = self.app(app_key)?;
        self.developer_of(app).templates.get(id)
    }

    /// The developer owning `app`.
    /// The `spId` of the developer owning `app_key` (empty for an unknown app). Calls look it
    /// up here rather than keep a copy each.
    pub fn sp_id_of(&self, app_key: &str) -> &str {
        self.app(app_key).map_or("", |a| a.developer.as_str())
    }

    pub fn developer_of(&self, app: &App) -> &Developer {
        self.developers
            .iter()
            .find(|d| d.sp_id == app.developer)
            .expect("apps[].developer was validated when the config was loaded")
    }
}

/// A listen address as people write it: `127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`
/// (loopback), or a bare port `8080` (loopback).
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let port = s.strip_prefix("localhost:").unwrap_or(s);
    port.parse::<u16>()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        .map_err(|_| {
            format!(
                "`{s}` is not an address like 127.0.0.1:8080, localhost:8080 or a port like 8080"
            )
        })
}

/// toml's message as toml writes it: the line and column, then the offending line with a caret
/// under the spot. Multi-line messages start on their own line, so the snippet's columns line up.
fn snippet(s: &str) -> String {
    let s = s.trim_end();
    if s.contains('\n') {
        format!("\n{s}")
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_as_people_write_them() {
        assert_eq!(parse_listen("127.0.0.1:8092").unwrap().port(), 8092);
        assert_eq!(
            parse_listen("8092").unwrap(),
            "127.0.0.1:8092".parse().unwrap()
        );
        assert_eq!(
            parse_listen("localhost:8092").unwrap(),
            "127.0.0.1:8092".parse().unwrap()
        );
        assert!(parse_listen("[::1]:8092").is_ok());
        assert!(parse_listen("localhost").is_err());
        assert!(parse_listen("99999").is_err());
    }

    #[test]
    fn embedded_default_is_valid_and_has_the_demo_app() {
        let c = Config::embedded();
        assert_eq!(c.apps.len(), 1);
        assert_eq!(c.apps[0].numbers.len(), 2);
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.clock.mode, crate::clock::ClockMode::Real);
    }

    #[test]
    fn a_wrong_value_names_the_file_and_the_key() {
        let text = EMBEDDED_DEFAULT.replace("max_duration_s = 120", "max_duration_s = \"long\"");
        let e = Config::parse(&text, "my.toml").unwrap_err();
        assert_eq!(e.file, "my.toml");
        assert_eq!(e.key, "call.max_duration_s");
    }

    #[test]
    fn the_maximum_call_duration_is_bounded() {
        let text = EMBEDDED_DEFAULT.replace("max_duration_s = 120", "max_duration_s = 100000000");
        let e = Config::parse(&text, "x.toml").unwrap_err();
        assert_eq!(e.key, "call.max_duration_s");
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        let text = format!("{EMBEDDED_DEFAULT}\n[journal]\nmax_entires = 5\n");
        let e = Config::parse(&text, "x.toml").unwrap_err();
        assert!(e.to_string().contains("x.toml"), "{e}");
    }

    #[test]
    fn a_bad_display_number_names_its_index() {
        let text = EMBEDDED_DEFAULT.replace("\"+862087654322\"", "\"862087654322\"");
        let e = Config::parse(&text, "x.toml").unwrap_err();
        assert_eq!(e.key, "apps[0].numbers[1]");
    }

    #[test]
    fn retry_policies_are_resolved_into_schedules_at_load() {
        let c = Config::embedded();
        assert_eq!(c.status_push.retry, RetrySchedule::fidelity_status());
        assert_eq!(c.fee_push.retry, RetrySchedule::fidelity_fee(6, 3600));
        let text = EMBEDDED_DEFAULT
            .replace(
                "retry = \"fidelity\"",
                "retry = { max_retries = 3, initial_backoff_ms = 1000 }",
            )
            .replace("max_retries = 6", "retry = \"dev\"\nmax_retries = 6");
        let c = Config::parse(&text, "x").unwrap();
        let RetrySchedule::Backoff(b) = &c.status_push.retry else {
            panic!("not a backoff: {:?}", c.status_push.retry)
        };
        assert_eq!((b.max_retries, b.multiplier, b.jitter), (3, 2.0, 0.0));
        assert_eq!(c.fee_push.retry, RetrySchedule::dev());
    }

    #[test]
    fn a_backoff_table_is_checked_for_either_kind_of_push() {
        let table = |t: &str| {
            let text = EMBEDDED_DEFAULT.replace(
                "max_retries = 6",
                &format!("retry = {{ max_retries = 3, initial_backoff_ms = 1000, {t} }}"),
            );
            Config::parse(&text, "x.toml").unwrap_err()
        };
        let e = table("multiplier = 0.5");
        assert_eq!(
            e.to_string(),
            "config error in x.toml: fee_push.retry.multiplier: must be at least 1"
        );
        assert_eq!(table("jitter = 1.5").key, "fee_push.retry.jitter");
        let text = EMBEDDED_DEFAULT.replace("retry = \"fidelity\"", "retry = \"sometimes\"");
        let e = Config::parse(&text, "x.toml").unwrap_err();
        assert_eq!(e.key, "status_push.retry");
    }

    #[test]
    fn scenarios_are_validated_when_loaded() {
        let ok =
            format!("{EMBEDDED_DEFAULT}\n[[scenarios]]\nmatch = \"*0486\"\noutcome = \"busy\"\n");
        let rules = Config::parse(&ok, "x").unwrap().scenarios;
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].pattern, Pattern::Suffix("0486".into()));
        assert_eq!(rules[0].text, "*0486");
        let bad =
            format!("{EMBEDDED_DEFAULT}\n[[scenarios]]\nmatch = \"*0486\"\noutcome = \"bussy\"\n");
        let e = Config::parse(&bad, "x").unwrap_err();
        assert_eq!(e.key, "scenarios[0]");
        assert!(e.message.contains("unknown outcome"), "{e}");
        let no_match = format!("{EMBEDDED_DEFAULT}\n[[scenarios]]\noutcome = \"busy\"\n");
        assert!(Config::parse(&no_match, "x")
            .unwrap_err()
            .message
            .contains("match"));
        let bad_match =
            format!("{EMBEDDED_DEFAULT}\n[[scenarios]]\nmatch = \"12ab\"\noutcome = \"busy\"\n");
        assert_eq!(
            Config::parse(&bad_match, "x").unwrap_err().key,
            "scenarios[0].match"
        );
    }

    #[test]
    fn a_toml_error_keeps_its_line_column_and_caret() {
        let e = Config::parse("[server]\nlisten = \n", "bad.toml").unwrap_err();
        assert_eq!(e.key, "(syntax)");
        let text = e.to_string();
        assert!(
            text.starts_with(
                "config error in bad.toml: (syntax): \nTOML parse error at line 2, column 10\n"
            ),
            "{text}"
        );
        assert!(text.contains("2 | listen = \n  |          ^"), "{text}");
        let e = Config::parse("[server]\nlisten = 12\n", "bad.toml").unwrap_err();
        assert_eq!(e.key, "server.listen");
        assert!(e.message.contains("2 | listen = 12"), "{e}");
        assert!(e.message.contains("^^"), "{e}");
    }

    #[test]
    fn the_blacklist_is_parsed_into_patterns_and_a_bad_one_is_an_error() {
        let text = EMBEDDED_DEFAULT.replace(
            "blacklist = []",
            "blacklist = [\"+86139000012*\", \"+8613900001234\"]",
        );
        assert_eq!(
            Config::parse(&text, "x").unwrap().blacklist,
            [
                Pattern::Prefix("+86139000012".into()),
                Pattern::Exact("+8613900001234".into())
            ]
        );
        let text = EMBEDDED_DEFAULT.replace("blacklist = []", "blacklist = [\"*\", \"nobody\"]");
        let e = Config::parse(&text, "x.toml").unwrap_err();
        assert_eq!(e.key, "blacklist[1]");
        assert!(e.message.contains("`nobody` is not a number"), "{e}");
    }

    const DEMO_APP: &str = "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z";

    /// The embedded default with `line` added to the demo developer's templates.
    fn with_template(line: &str) -> String {
        EMBEDDED_DEFAULT.replace(
            "[developers.templates]\n",
            &format!("[developers.templates]\n{line}\n"),
        )
    }

    #[test]
    fn the_demo_developers_templates_are_looked_up_through_any_of_its_apps() {
        use crate::call::template::Variable;
        let c = Config::embedded();
        let bill = c
            .template(DEMO_APP, "tpl_bill")
            .expect("the sample template");
        assert_eq!(bill.variables(), [Variable::Txt(8), Variable::Txt(10)]);
        assert!(c.template(DEMO_APP, "tpl_none").is_none());
        assert!(c.template("no-such-app", "tpl_bill").is_none());
        assert_eq!(c.tts.language, crate::audio::TtsLanguage::Zh);
    }

    #[test]
    fn a_malformed_template_is_a_start_up_error_naming_its_key() {
        let e = Config::parse(&with_template("tpl_x = \"您好${NUM_0}\""), "x.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "config error in x.toml: developers[0].templates.tpl_x: `${NUM_0}` is not a variable: \
             use ${TXT_n} or ${NUM_n} (n from 1), ${DATE} or ${TIME}"
        );
        let e = Config::parse(&with_template("tpl_x = \"${DATE}${TIME}\""), "x").unwrap_err();
        assert_eq!(e.key, "developers[0].templates.tpl_x");
        assert!(e.message.contains("comma"), "{e}");
        let long = format!("tpl_x = \"{}\"", "您".repeat(301));
        let e = Config::parse(&with_template(&long), "x").unwrap_err();
        assert_eq!(e.message, "the content is 903 bytes of UTF-8; at most 900");
        let e = Config::parse(&with_template("\"tpl x\" = \"您好\""), "x").unwrap_err();
        assert_eq!(e.key, "developers[0].templates.\"tpl x\"");
        assert!(e.message.contains("template id"), "{e}");
    }

    #[test]
    fn a_template_table_takes_text_audio_and_cuts_and_nothing_else() {
        let ok = with_template(
            "rec = { text = \"您好${NUM_2}\", audio = \"rec.wav\", cuts_ms = [800] }",
        );
        let c = Config::parse(&ok, "x").unwrap();
        let rec = c.template(DEMO_APP, "rec").unwrap();
        let audio = rec.audio().unwrap();
        assert_eq!(
            (audio.path.to_str(), &audio.cuts_ms),
            (Some("rec.wav"), &Some(vec![800]))
        );
        let plain = with_template("plain = { text = \"您好\" }");
        assert!(Config::parse(&plain, "x")
            .unwrap()
            .template(DEMO_APP, "plain")
            .unwrap()
            .audio()
            .is_none());

        let e = |line: &str| Config::parse(&with_template(line), "x").unwrap_err();
        let typo = e("rec = { text = \"您好\", audoi = \"rec.wav\" }");
        assert!(typo.key.starts_with("developers[0].templates"), "{typo}");
        assert!(typo.message.contains("unknown field `audoi`"), "{typo}");
        assert!(e("rec = 5")
            .message
            .contains("the template text, or a table"));
        let cuts = e("rec = { text = \"您好${NUM_2}\", cuts_ms = [1] }");
        assert_eq!(
            (cuts.key.as_str(), cuts.message.as_str()),
            ("developers[0].templates.rec.cuts_ms", "cuts_ms needs audio")
        );
        let count = e("rec = { text = \"您好${NUM_2}\", audio = \"a.wav\", cuts_ms = [1, 2] }");
        assert_eq!(count.message, "cuts_ms has 2 cut(s) for 1 variable(s)");
    }

    #[test]
    fn a_template_recording_is_relative_to_the_config_file_and_must_exist() {
        let dir = std::env::temp_dir().join(format!("dialtone-config-tpl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("rec.wav"), b"not checked here").unwrap();
        let file = dir.join("d.toml");
        std::fs::write(
            &file,
            with_template("rec = { text = \"您好\", audio = \"rec.wav\" }"),
        )
        .unwrap();
        let c = Config::load(&file).unwrap();
        let path = c
            .template(DEMO_APP, "rec")
            .unwrap()
            .audio()
            .unwrap()
            .path
            .clone();
        std::fs::write(
            &file,
            with_template("rec = { text = \"您好\", audio = \"gone.wav\" }"),
        )
        .unwrap();
        let e = Config::load(&file).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(path, dir.join("rec.wav"));
        assert_eq!(e.key, "developers[0].templates.rec.audio");
        assert!(e.message.contains("gone.wav` does not exist"), "{e}");
    }

    #[test]
    fn tts_language_is_zh_or_en() {
        let en = EMBEDDED_DEFAULT.replace("language = \"zh\"", "language = \"en\"");
        assert_eq!(
            Config::parse(&en, "x").unwrap().tts.language,
            crate::audio::TtsLanguage::En
        );
        let fr = EMBEDDED_DEFAULT.replace("language = \"zh\"", "language = \"fr\"");
        let e = Config::parse(&fr, "x").unwrap_err();
        assert_eq!(e.key, "tts.language");
        assert!(e.message.contains("unknown variant `fr`"), "{e}");
    }

    #[test]
    fn the_server_guards_default_sanely_and_zero_is_refused() {
        let c = Config::parse(EMBEDDED_DEFAULT, "x").unwrap();
        assert_eq!(
            (c.server.header_timeout_ms, c.server.max_connections),
            (10_000, 1024)
        );
        let text = EMBEDDED_DEFAULT.replace("max_connections = 1024", "max_connections = 0");
        let e = Config::parse(&text, "x.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "config error in x.toml: server.max_connections: must be at least 1"
        );
    }

    #[test]
    fn a_bad_listen_address_is_an_error_naming_it() {
        let text = EMBEDDED_DEFAULT.replace("127.0.0.1:8080\"", "localhost:http\"");
        let e = Config::parse(&text, "x.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "config error in x.toml: server.listen: `localhost:http` is not an address like 127.0.0.1:8080, localhost:8080 or a port like 8080"
        );
    }

    #[test]
    fn tones_dir_is_relative_to_the_config_file_and_must_be_a_folder() {
        let dir = std::env::temp_dir().join(format!("dialtone-config-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("tones")).unwrap();
        let file = dir.join("d.toml");
        std::fs::write(
            &file,
            format!("{EMBEDDED_DEFAULT}\n[tones]\ndir = \"tones\"\n"),
        )
        .unwrap();
        let c = Config::load(&file).unwrap();
        assert_eq!(c.tones.dir, Some(dir.join("tones")));
        std::fs::write(
            &file,
            format!("{EMBEDDED_DEFAULT}\n[tones]\ndir = \"nope\"\n"),
        )
        .unwrap();
        let e = Config::load(&file).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(e.key, "tones.dir");
        assert!(e.message.contains("is not a folder"), "{e}");
    }
}
