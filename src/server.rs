//! The HTTP server: shared state, the router (platform API + `/sim/v1` control plane), and
//! serving with graceful shutdown that lets in-flight pushes finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::audio::{AudioError, AudioLibrary};
use crate::auth::Auth;
use crate::clock::{Clock, ClockMode};
use crate::config::Config;
use crate::engine::{self, Engine};
use crate::ids::IdGen;
use crate::journal::Journal;
use crate::shutdown::Shutdown;
use crate::store::{SqliteJournal, Store, StoreError};
use crate::{api, sim};

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub engine: Engine,
    pub auth: Arc<Auth>,
    /// Voices and tones, loaded once at start-up and shared by every call.
    pub audio: Arc<AudioLibrary>,
}

/// Why Dialtone could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A voice or tone file is missing or unreadable; the message names the file.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The database could not be opened, migrated or read back.
    #[error("the database in {dir}: {source}")]
    Store { dir: String, source: StoreError },
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

impl AppState {
    /// Builds the simulation `config` describes: audio, store, clock, id source, journal, engine,
    /// auth; then carries on with whatever a previous run left unfinished in the store. Fails if
    /// a configured tone file cannot be loaded or the database cannot be opened.
    pub fn new(config: Config) -> Result<AppState, RunError> {
        let audio = Arc::new(AudioLibrary::load(&config)?);
        let store_error = |source| RunError::Store {
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
            resume_manual_clock(&mut config, last);
        }
        let config = Arc::new(config);
        let clock = Arc::new(Clock::from_config(&config.clock));
        let ids = Arc::new(IdGen::new(config.seed));
        let engine = Engine::new(config.clone(), clock.clone(), ids.clone(), journal, store);
        if let Some(recovered) = recovered {
            engine.recover(recovered);
        }
        let auth = Arc::new(Auth::new(config.clone(), clock, ids));
        Ok(AppState {
            config,
            engine,
            auth,
            audio,
        })
    }
}

/// A manual clock on a data directory resumes a second after the latest time recorded there, so
/// simulated time never runs backwards across restarts (a call cut off by a crash must not end
/// before it started). Running clocks follow the wall clock anyway.
fn resume_manual_clock(config: &mut Config, last: &str) {
    // The latest time may be a timeline entry's, with milliseconds.
    let Ok(last) = crate::clock::PlatformTime::parse_truncating(last) else {
        return;
    };
    let last = last.utc() + chrono::Duration::seconds(1);
    if config.clock.mode == ClockMode::Manual && config.clock.start.is_none_or(|s| s < last) {
        tracing::info!(%last, "the manual clock resumes after the time the data directory records");
        config.clock.start = Some(last);
    }
}

/// The whole HTTP surface.
pub fn build_router(state: AppState) -> Router {
    api::router()
        .merge(sim::router())
        .fallback(api::not_found)
        .with_state(state)
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
    let push_timeout = Duration::from_millis(state.config.push.timeout_ms);
    let app = build_router(state).into_make_service_with_connect_info::<SocketAddr>();
    let stop = shutdown.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.wait().await })
        .await?;
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
