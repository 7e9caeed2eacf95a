//! Configuration: developers, apps, timings, clock, push policy (spec §12).
//!
//! With no `--config`, Dialtone runs on [`EMBEDDED_DEFAULT`], which is the commented example in
//! `fixtures/dialtone.example.toml`, so the example and the default can never disagree. Every key
//! has a serde default, so a user's file only needs what it changes. Loading validates everything
//! once; a [`ConfigError`] names the file, the key and what is wrong.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::call::scenario::{BehaviourSpec, Pattern, Rule};
use crate::call::FrequencyScope;
use crate::push::faults::FaultRule;

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub developers: Vec<Developer>,
    #[serde(default)]
    pub apps: Vec<App>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub api: ApiConfig,
    /// `languageType` → language tag of the clip set (spec §4.1).
    #[serde(default = "default_languages")]
    pub languages: BTreeMap<String, String>,
    #[serde(default)]
    pub platform: PlatformConfig,
    #[serde(default)]
    pub call: CallTimings,
    #[serde(default)]
    pub clock: ClockConfig,
    #[serde(default)]
    pub push: PushConfig,
    #[serde(default)]
    pub status_push: StatusPushConfig,
    #[serde(default)]
    pub fee_push: FeePushConfig,
    #[serde(default)]
    pub journal: JournalConfig,
    #[serde(default)]
    pub store: StoreConfig,
    /// Webhook faults injected from start-up (`push::faults`; also `PUT /sim/v1/faults`).
    #[serde(default)]
    pub faults: Vec<FaultRule>,
    /// Callee behaviour rules, tried in order (spec §5.1; see `call::scenario`).
    #[serde(default)]
    pub scenarios: Vec<BehaviourSpec>,
    #[serde(default)]
    pub frequency: FrequencyConfig,
    /// Callee numbers (or patterns) the platform refuses to call: stateCode 7004.
    #[serde(default)]
    pub blacklist: Vec<String>,
    #[serde(default)]
    pub tones: TonesConfig,
    /// Seed for every random choice (ids, nonces). Absent: ids are unique per run, as on the platform.
    #[serde(default)]
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
        }
    }
}

/// A developer account (spec §1): owns apps, holds the legacy login credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Developer {
    pub sp_id: String,
    pub username: String,
    pub password: String,
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
    /// approved for every app without configuration (spec §4.1, "Tones").
    #[serde(default)]
    pub tones: BTreeMap<String, PathBuf>,
    /// Default status push URL, plain (not Base64).
    #[serde(default)]
    pub status_url: Option<String>,
    /// Default CDR push URL, plain (not Base64).
    #[serde(default)]
    pub fee_url: Option<String>,
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Accept strings of digits for `languageType` and `times` (spec §4.1, "Types").
    pub lenient_types: bool,
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

/// Call timing (spec §5.2, §5.3). All delays run on the simulated clock.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallTimings {
    pub alerting_delay_ms: u64,
    pub answer_delay_ms: u64,
    pub media_start_ms: u64,
    pub segment_gap_ms: u64,
    pub repeat_pause_ms: u64,
    pub digit_gap_ms: u64,
    pub hangup_delay_ms: u64,
    pub ring_timeout_s: u64,
    pub max_duration_s: u64,
    pub fail_delay_ms: u64,
    pub precall_release_ms: u64,
}

impl Default for CallTimings {
    fn default() -> Self {
        CallTimings {
            alerting_delay_ms: 2000,
            answer_delay_ms: 4000,
            media_start_ms: 500,
            segment_gap_ms: 500,
            repeat_pause_ms: 1000,
            digit_gap_ms: 150,
            hangup_delay_ms: 500,
            ring_timeout_s: 60,
            max_duration_s: 120,
            fail_delay_ms: 2000,
            precall_release_ms: 500,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    /// Simulated time follows the wall clock.
    Real,
    /// Simulated time runs `clock.speed` times faster than the wall clock.
    Scaled,
    /// Simulated time moves only when `POST /sim/v1/clock/advance` says so.
    Manual,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockConfig {
    pub mode: ClockMode,
    pub speed: f64,
    /// Simulated epoch; absent means the wall clock at start-up.
    pub start: Option<DateTime<Utc>>,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            mode: ClockMode::Real,
            speed: 1.0,
            start: None,
        }
    }
}

/// Which time zone the `Created` value of push signatures is written in (spec §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CreatedTz {
    #[serde(rename = "utc+8")]
    BeijingWithZ,
    #[serde(rename = "utc")]
    Utc,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    pub timeout_ms: u64,
    pub tls_verify: bool,
    pub created_tz: CreatedTz,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            timeout_ms: 5000,
            tls_verify: false,
            created_tz: CreatedTz::BeijingWithZ,
        }
    }
}

/// `status_push.retry`: `"fidelity"` (one attempt, as the real platform) or a backoff table.
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    pub max_retries: u32,
    pub initial_backoff_ms: u64,
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Each delay varies by up to this fraction either way (0 to 1), drawn from the seed.
    #[serde(default)]
    pub jitter: f64,
}

impl Backoff {
    /// The `dev` policy: 8 retries from 1 s, doubling, at most a minute apart, ±20 % jitter.
    pub fn dev() -> Backoff {
        Backoff {
            max_retries: 8,
            initial_backoff_ms: 1000,
            multiplier: 2.0,
            max_backoff_ms: 60_000,
            jitter: 0.2,
        }
    }

    /// Delay before retry number `retry` (1-based); `unit` in [0, 1) places it within the jitter.
    pub fn delay_ms(&self, retry: u32, unit: f64) -> u64 {
        let factor = self.multiplier.powi(retry.saturating_sub(1) as i32);
        let ms = (self.initial_backoff_ms as f64 * factor).min(self.max_backoff_ms as f64);
        let jittered = ms * (1.0 + self.jitter * (2.0 * unit - 1.0));
        jittered.max(0.0) as u64
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusPushConfig {
    #[serde(default = "fidelity")]
    pub retry: RetryPolicy,
}

impl Default for StatusPushConfig {
    fn default() -> Self {
        StatusPushConfig { retry: fidelity() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeePushConfig {
    /// `"fidelity"` (the two keys below), `"dev"`, or a backoff table like `status_push.retry`.
    pub retry: RetryPolicy,
    pub max_retries: u32,
    pub retry_interval_s: u64,
    pub batch_window_ms: u64,
}

impl Default for FeePushConfig {
    fn default() -> Self {
        FeePushConfig {
            retry: fidelity(),
            max_retries: 6,
            retry_interval_s: 3600,
            batch_window_ms: 1000,
        }
    }
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

/// Frequency control (spec §5.4): sliding-window limits on calls placed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrequencyConfig {
    pub mode: FrequencyMode,
    pub rules: Vec<FrequencyRule>,
}

/// What an exceeded rule does: release the accepted call before callout (`async`, stateCode
/// 7001-7003), or refuse the request with 1013118 (`sync`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrequencyMode {
    #[default]
    Async,
    Sync,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyRule {
    /// `developer`, `app`, `display_number` or `callee`.
    pub scope: FrequencyScope,
    pub max_calls: u32,
    pub window_s: u64,
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
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            data_dir: PathBuf::from(".dialtone"),
            ephemeral: false,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_max_concurrent_calls() -> u32 {
    20
}
fn default_multiplier() -> f64 {
    2.0
}
fn default_max_backoff_ms() -> u64 {
    60_000
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
        }
        config.validate_files(&file)?;
        Ok(config)
    }

    /// Parses and validates TOML text; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ConfigError {
            file: file.into(),
            key: "(syntax)".into(),
            message: one_line(&e.to_string()),
        })?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| ConfigError {
            file: file.into(),
            key: e.path().to_string(),
            message: one_line(&e.inner().to_string()),
        })?;
        config.validate(file)?;
        Ok(config)
    }

    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let err = |key: String, message: String| ConfigError {
            file: file.into(),
            key,
            message,
        };
        if self.server.listen.parse::<SocketAddr>().is_err() {
            return Err(err(
                "server.listen".into(),
                format!(
                    "`{}` is not an address like 127.0.0.1:8080",
                    self.server.listen
                ),
            ));
        }
        if self.apps.is_empty() {
            return Err(err("apps".into(), "at least one app is required".into()));
        }
        for (i, app) in self.apps.iter().enumerate() {
            let key = |field: &str| format!("apps[{i}].{field}");
            if app.app_key.is_empty() || app.app_key.len() > 32 {
                return Err(err(key("app_key"), "must be 1-32 characters".into()));
            }
            if self.apps[..i].iter().any(|a| a.app_key == app.app_key) {
                return Err(err(
                    key("app_key"),
                    format!("`{}` is used twice", app.app_key),
                ));
            }
            if app.app_secret.is_empty() {
                return Err(err(key("app_secret"), "must not be empty".into()));
            }
            if !self.developers.iter().any(|d| d.sp_id == app.developer) {
                return Err(err(
                    key("developer"),
                    format!("no developer has sp_id `{}`", app.developer),
                ));
            }
            if app.numbers.is_empty() {
                return Err(err(
                    key("numbers"),
                    "at least one display number is required".into(),
                ));
            }
            for (j, number) in app.numbers.iter().enumerate() {
                if !is_global_number(number) {
                    return Err(err(
                        format!("apps[{i}].numbers[{j}]"),
                        format!("`{number}` is not `+` followed by 7-15 digits"),
                    ));
                }
            }
            for name in app.tones.keys() {
                if !is_tone_name(name) {
                    return Err(err(
                        format!("apps[{i}].tones.\"{name}\""),
                        "a tone name is 1-128 characters ending in .wav".into(),
                    ));
                }
            }
            for (field, url) in [("status_url", &app.status_url), ("fee_url", &app.fee_url)] {
                if let Some(url) = url {
                    if let Err(why) = check_push_url(url) {
                        return Err(err(key(field), why));
                    }
                }
            }
        }
        for (k, tag) in &self.languages {
            if k.parse::<i64>().is_err() {
                return Err(err(
                    format!("languages.{k}"),
                    "a languageType key must be an integer".into(),
                ));
            }
            if tag.is_empty() {
                return Err(err(
                    format!("languages.{k}"),
                    "the language tag must not be empty".into(),
                ));
            }
        }
        // `times` 0 repeats the code until max_duration_s: the plan and the audio grow with it.
        if !(1..=3600).contains(&self.call.max_duration_s) {
            return Err(err(
                "call.max_duration_s".into(),
                "must be 1 to 3600 seconds".into(),
            ));
        }
        if self.call.ring_timeout_s == 0 {
            return Err(err(
                "call.ring_timeout_s".into(),
                "must be at least 1".into(),
            ));
        }
        if self.platform.ports == 0 {
            return Err(err("platform.ports".into(), "must be at least 1".into()));
        }
        if !(self.clock.speed.is_finite() && self.clock.speed > 0.0) {
            return Err(err("clock.speed".into(), "must be a number above 0".into()));
        }
        if let RetryPolicy::Backoff(b) = &self.status_push.retry {
            if !(b.multiplier.is_finite() && b.multiplier >= 1.0) {
                return Err(err(
                    "status_push.retry.multiplier".into(),
                    "must be at least 1".into(),
                ));
            }
        }
        for (i, spec) in self.scenarios.iter().enumerate() {
            let key = format!("scenarios[{i}]");
            let pattern = spec.pattern.as_deref().ok_or_else(|| {
                err(
                    key.clone(),
                    "a scenario needs `match` (a number, prefix*, *suffix or *)".into(),
                )
            })?;
            Pattern::parse(pattern).map_err(|m| err(format!("{key}.match"), m))?;
            spec.to_behaviour().map_err(|m| err(key, m))?;
        }
        for (i, rule) in self.faults.iter().enumerate() {
            rule.check().map_err(|m| err(format!("faults[{i}]"), m))?;
        }
        for (i, p) in self.blacklist.iter().enumerate() {
            Pattern::parse(p).map_err(|m| err(format!("blacklist[{i}]"), m))?;
        }
        for (i, r) in self.frequency.rules.iter().enumerate() {
            if r.max_calls == 0 || r.window_s == 0 {
                return Err(err(
                    format!("frequency.rules[{i}]"),
                    "max_calls and window_s must be at least 1".into(),
                ));
            }
        }
        if self.journal.max_entries == 0 {
            return Err(err(
                "journal.max_entries".into(),
                "must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// Checks that files the config names exist; separate from `validate` so the embedded
    /// default (which names none) never touches the disk.
    fn validate_files(&self, file: &str) -> Result<(), ConfigError> {
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
        Ok(())
    }

    /// The `[[scenarios]]` rules, in order (validated at load).
    pub fn scenario_rules(&self) -> Vec<Rule> {
        self.scenarios
            .iter()
            .filter_map(|spec| {
                let text = spec.pattern.clone()?;
                Some(Rule {
                    pattern: Pattern::parse(&text).ok()?,
                    behaviour: spec.to_behaviour().ok()?,
                    text,
                })
            })
            .collect()
    }

    /// The blacklist patterns (validated at load).
    pub fn blacklist_patterns(&self) -> Vec<Pattern> {
        self.blacklist
            .iter()
            .filter_map(|p| Pattern::parse(p).ok())
            .collect()
    }

    /// The listen address (validated at load).
    pub fn listen_addr(&self) -> SocketAddr {
        self.server
            .listen
            .parse()
            .expect("server.listen was validated when the config was loaded")
    }

    /// The app with this key, if configured.
    pub fn app(&self, app_key: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.app_key == app_key)
    }

    /// The developer owning `app`.
    pub fn developer_of(&self, app: &App) -> &Developer {
        self.developers
            .iter()
            .find(|d| d.sp_id == app.developer)
            .expect("apps[].developer was validated when the config was loaded")
    }
}

/// `+` followed by 7-15 digits (spec §4.1).
pub fn is_global_number(s: &str) -> bool {
    match s.strip_prefix('+') {
        Some(digits) => {
            (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// A tone name: 1-128 characters ending in `.wav`, case-insensitively (spec §4.1).
pub fn is_tone_name(s: &str) -> bool {
    let n = s.chars().count();
    (1..=128).contains(&n) && s.to_ascii_lowercase().ends_with(".wav") && n > 4
}

/// An absolute `http`/`https` URL with a host (spec §4.1, "Push URLs").
pub fn check_push_url(s: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{s}` is not an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{s}` has no host"));
    }
    Ok(url)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid_and_has_the_demo_app() {
        let c = Config::embedded();
        assert_eq!(c.apps.len(), 1);
        assert_eq!(c.apps[0].numbers.len(), 2);
        assert_eq!(c.listen_addr().to_string(), "127.0.0.1:8080");
        assert_eq!(c.clock.mode, ClockMode::Real);
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
    fn status_retry_is_fidelity_or_a_backoff_table() {
        let text = EMBEDDED_DEFAULT.replace(
            "retry = \"fidelity\"",
            "retry = { max_retries = 3, initial_backoff_ms = 1000 }",
        );
        let c = Config::parse(&text, "x").unwrap();
        let RetryPolicy::Backoff(b) = c.status_push.retry else {
            panic!("not a backoff")
        };
        assert_eq!(
            (b.delay_ms(1, 0.5), b.delay_ms(2, 0.5), b.delay_ms(3, 0.5)),
            (1000, 2000, 4000)
        );
        let dev = Backoff::dev();
        assert_eq!(
            (
                dev.delay_ms(1, 0.0),
                dev.delay_ms(1, 1.0),
                dev.delay_ms(9, 0.5)
            ),
            (800, 1200, 60_000)
        );
    }

    #[test]
    fn scenarios_are_validated_when_loaded() {
        let ok =
            format!("{EMBEDDED_DEFAULT}\n[[scenarios]]\nmatch = \"*0486\"\noutcome = \"busy\"\n");
        assert_eq!(Config::parse(&ok, "x").unwrap().scenario_rules().len(), 1);
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

    #[test]
    fn number_and_tone_formats() {
        assert!(is_global_number("+8613900001234"));
        assert!(!is_global_number("+123456"));
        assert!(!is_global_number("+1234567890123456"));
        assert!(!is_global_number("+86139a0001234"));
        assert!(is_tone_name("welcome.WAV"));
        assert!(!is_tone_name(".wav"));
        assert!(!is_tone_name("welcome.mp3"));
    }
}
