//! The shared application state: what every handler of both HTTP surfaces may reach, and how it
//! is built from a [`Config`] (audio load, store open and recovery, clock resume).
//!
//! [`crate::api`] and [`crate::sim`] import [`AppState`] from here; this module knows nothing of
//! routing or serving ([`crate::server`] does), so neither surface depends on the server that
//! mounts it.

use std::sync::Arc;

use crate::audio::{AudioError, AudioLibrary};
use crate::auth::Auth;
use crate::clock::Clock;
use crate::clock::ClockMode;
use crate::config::Config;
use crate::engine::Engine;
use crate::ids::IdGen;
use crate::push::journal::Journal;
use crate::sim::stream::StreamThread;
use crate::store::{SqliteJournal, Store, StoreError};

/// Everything a handler may need. Cheap to clone: one reference count, as axum clones the state
/// for every extractor and middleware of every request.
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

impl std::ops::Deref for AppState {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// What an [`AppState`] shares.
pub struct Parts {
    pub config: Arc<Config>,
    pub engine: Engine,
    pub auth: Arc<Auth>,
    /// Voices and tones, loaded once at start-up and shared by every call.
    pub audio: Arc<AudioLibrary>,
    /// Where the event stream's sockets are served.
    pub stream_thread: StreamThread,
}

/// Why the simulation could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A voice or tone file is missing or unreadable; the message names the file.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The database could not be opened, migrated or read back.
    #[error("the database in {dir}: {source}")]
    Store { dir: String, source: StoreError },
    /// `push.ca_file` could not be read or holds no certificate.
    #[error("push.ca_file: {0}")]
    PushTls(#[from] crate::tls::TlsError),
    /// The event stream's thread could not be started.
    #[error("the event stream's thread: {0}")]
    StreamThread(std::io::Error),
}

impl AppState {
    /// Builds the simulation `config` describes: audio, store, clock, id source, journal, engine,
    /// auth; then carries on with whatever a previous run left unfinished in the store. Fails if
    /// a configured tone file cannot be loaded or the database cannot be opened.
    pub fn new(config: Config) -> Result<AppState, StartError> {
        let audio = Arc::new(AudioLibrary::load(&config)?);
        let store_error = |source| StartError::Store {
            dir: config.store.data_dir.display().to_string(),
            source,
        };
        let store = match config.store.ephemeral {
            true => None,
            false => Some(Store::open(&config.store.data_dir).map_err(store_error)?),
        };
        let recovered = match &store {
            Some(s) => Some(s.recover().map_err(store_error)?),
            None => None,
        };
        let journal = match &store {
            Some(s) => Journal::new(Arc::new(SqliteJournal::new(s.clone()))),
            None => Journal::in_memory(config.journal.max_entries),
        };
        let mut config = config;
        if let Some(last) = recovered.as_ref().and_then(|r| r.last_time.as_deref()) {
            resume_clock(&mut config, last);
        }
        let config = Arc::new(config);
        let clock = Arc::new(Clock::from_config(&config.clock));
        let ids = Arc::new(IdGen::new(config.seed));
        let engine = Engine::new(config.clone(), clock.clone(), ids.clone(), journal, store)?;
        let (voices, settings) = (audio.clone(), config.clone());
        engine.set_announcer(Box::new(move |request| {
            crate::audio::compose::verify_announcement(&voices, &settings, request).ok()
        }));
        if let Some(recovered) = recovered {
            engine.recover(recovered);
        }
        let auth = Arc::new(Auth::new(config.clone(), clock, ids));
        Ok(AppState(Arc::new(Parts {
            config,
            engine,
            auth,
            audio,
            stream_thread: StreamThread::start().map_err(StartError::StreamThread)?,
        })))
    }
}

/// A clock on a data directory resumes after the latest time recorded there, so simulated time
/// never runs backwards across restarts (a call cut off by a crash must not end before it
/// started). A manual clock resumes a second after it. A running clock (real or scaled) whose
/// start (the wall clock, unless `clock.start` is set) is before that second starts there
/// instead: its time then runs ahead of the wall clock by the same offset.
fn resume_clock(config: &mut Config, last: &str) {
    // The latest time may be a timeline entry's, with milliseconds.
    let Ok(last) = crate::clock::PlatformTime::parse_truncating(last) else {
        return;
    };
    let last = last.utc() + chrono::Duration::seconds(1);
    let behind = match config.clock.mode {
        ClockMode::Manual => config.clock.start.is_none_or(|s| s < last),
        ClockMode::Real | ClockMode::Scaled => {
            config
                .clock
                .start
                .unwrap_or_else(crate::clock::transport_now)
                < last
        }
    };
    if behind {
        tracing::info!(%last, mode = ?config.clock.mode, "the clock resumes after the time the data directory records");
        config.clock.start = Some(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resumed(mode: ClockMode, start: Option<&str>, last: &str) -> Option<String> {
        let mut config = Config::embedded();
        config.clock.mode = mode;
        config.clock.start = start.map(|s| s.parse().unwrap());
        resume_clock(&mut config, last);
        config
            .clock
            .start
            .map(|s| s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }

    #[test]
    fn every_clock_resumes_after_a_recorded_time_ahead_of_it() {
        for mode in [ClockMode::Real, ClockMode::Scaled, ClockMode::Manual] {
            assert_eq!(
                resumed(mode, None, "2099-01-01 00:00:06.500").as_deref(),
                Some("2099-01-01T00:00:07Z"),
                "{mode:?}"
            );
        }
        // A running clock already past the recorded time keeps following the wall clock.
        assert_eq!(resumed(ClockMode::Real, None, "2001-01-01 00:00:00"), None);
        assert_eq!(
            resumed(
                ClockMode::Scaled,
                Some("2030-01-01T00:00:00Z"),
                "2001-01-01 00:00:00"
            )
            .as_deref(),
            Some("2030-01-01T00:00:00Z")
        );
    }
}
