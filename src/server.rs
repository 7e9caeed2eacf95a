//! The HTTP server: shared state, the router (platform API + `/sim/v1` control plane), and
//! serving with graceful shutdown that lets in-flight pushes finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::audio::{AudioError, AudioLibrary};
use crate::auth::Auth;
use crate::clock::Clock;
use crate::config::{ClockMode, Config};
use crate::engine::{self, Engine};
use crate::ids::IdGen;
use crate::journal::Journal;
use crate::shutdown::Shutdown;
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
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

impl AppState {
    /// Builds the simulation `config` describes: audio, clock, id source, journal, engine, auth.
    /// Fails if a configured tone file cannot be loaded.
    pub fn new(config: Config) -> Result<AppState, AudioError> {
        let audio = Arc::new(AudioLibrary::load(&config)?);
        let config = Arc::new(config);
        let clock = Arc::new(Clock::from_config(&config.clock));
        let ids = Arc::new(IdGen::new(config.seed));
        let journal = Journal::in_memory(config.journal.max_entries);
        let engine = Engine::new(config.clone(), clock.clone(), ids.clone(), journal);
        let auth = Arc::new(Auth::new(config.clone(), clock, ids));
        Ok(AppState {
            config,
            engine,
            auth,
            audio,
        })
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
