//! The platform's HTTP surface, paths as the spec spells them (§2). One line per route.
//!
//! `/sandbox` + any platform path behaves exactly like the path without it. Unknown paths get
//! 404 and known paths with another method 405, both `1010006` (spec §2).
//!
//! Requests are read by the extractors of [`extract`] (authentication, body limit, the legacy
//! gate), so each handler takes typed arguments and returns `Result<_, ApiError>`.

pub mod call_notify;
pub mod call_stop;
pub mod call_verify;
pub mod click_to_call;
pub mod extract;
mod fields;
pub mod legacy;
#[cfg(test)]
mod parse_equivalence;
pub mod record;

use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use serde::Serialize;

use crate::app::AppState;
use axum::http::StatusCode;

use crate::call::request::CallRequest;
use crate::config::App;
use crate::engine::{Accepted, CallMedia};
use crate::error::ApiError;
use crate::error::{platform_json, set_hint};

/// The answer to an accepted call request, any kind (spec §4.3).
#[derive(Debug, Serialize)]
pub struct CallAccepted {
    resultcode: &'static str,
    resultdesc: &'static str,
    #[serde(rename = "sessionId")]
    session_id: String,
    #[serde(rename = "idlePort", skip_serializing_if = "Option::is_none")]
    idle_port: Option<u32>,
}

impl CallAccepted {
    pub fn new(accepted: Accepted, return_idle_port: bool) -> CallAccepted {
        CallAccepted {
            resultcode: "0",
            resultdesc: "Success",
            session_id: accepted.session_id,
            idle_port: return_idle_port.then_some(accepted.idle_port),
        }
    }
}

/// The call an accepted request started, on its response for the request's log line
/// ([`crate::logs::request`]).
#[derive(Debug, Clone)]
pub struct AcceptedCall {
    pub session_id: String,
}

/// Checks that `number` (the field `field`) is one of the app's display numbers (spec §4.2
/// step 3): 1010023 otherwise, with a hint listing the app's numbers.
fn ensure_display(app: &App, field: &str, number: &str) -> Result<(), ApiError> {
    if app.numbers.iter().any(|n| n == number) {
        return Ok(());
    }
    Err(ApiError::DisplayNumberInvalid.hint(format!(
        "{field} {number} is not a number of app {}: use one of {} (apps[].numbers in the \
         configuration)",
        app.app_key,
        app.numbers.join(", ")
    )))
}

/// The configured app an authenticated request came from.
fn app_of<'a>(state: &'a AppState, app_key: &str) -> Result<&'a App, ApiError> {
    state
        .config
        .app(app_key)
        .ok_or_else(|| ApiError::Internal(format!("authenticated unknown app {app_key}")))
}

/// The end every call API shares: the engine accepts the call, and the answer is "0" only once
/// the call is in the database (a crash after it loses nothing; a failed commit is 1010001).
async fn place(
    state: &AppState,
    call: CallRequest,
    media: CallMedia,
    return_idle_port: bool,
) -> Result<Response, ApiError> {
    let pending = state.engine.accept(call, media)?;
    let accepted = state.engine.confirm(pending).await?;
    let hint = accepted.hint.clone();
    let session_id = accepted.session_id.clone();
    let mut response = platform_json(
        StatusCode::OK,
        &CallAccepted::new(accepted, return_idle_port),
    );
    if let Some(hint) = hint {
        set_hint(&mut response, &hint);
    }
    response
        .extensions_mut()
        .insert(AcceptedCall { session_id });
    Ok(response)
}

/// The platform routes, also mounted under `/sandbox`.
pub fn router() -> Router<AppState> {
    let platform = Router::new()
        .route(
            "/rest/httpsessions/callVerify/v1.0",
            only_post(post(call_verify::call_verify)),
        )
        // Spec §11: only v2.0 is documented; demos say "v1.0 or v2.0" (Dialtone: the same).
        .route(
            "/rest/httpsessions/callnotify/v2.0",
            only_post(post(call_notify::call_notify)),
        )
        .route(
            "/rest/httpsessions/callnotify/v1.0",
            only_post(post(call_notify::call_notify)),
        )
        .route(
            "/rest/httpsessions/callStop/v2.0",
            only_post(post(call_stop::call_stop)),
        )
        // Spec §12: v2.0 only; v1.0, known from one old client, stays 404.
        .route(
            "/rest/httpsessions/click2Call/v2.0",
            only_post(post(click_to_call::click_to_call)),
        )
        .route(
            "/rest/provision/voice/record/v1.0",
            get(record::record).fallback(|| async {
                ApiError::InvalidRestApi {
                    method_not_allowed: true,
                }
            }),
        )
        .route("/rest/fastlogin/v1.0", only_post(post(legacy::fastlogin)))
        .route("/omp/oauth/refresh", only_post(post(legacy::refresh)))
        .route("/rest/logout/v1.0", only_post(post(legacy::logout)));
    Router::new()
        .merge(platform.clone())
        .nest("/sandbox", platform)
}

fn only_post(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.fallback(|method: axum::http::Method| async move {
        ApiError::InvalidRestApi {
            method_not_allowed: true,
        }
        .hint(format!("this platform API takes POST, not {method}"))
    })
}

/// Any path nobody serves.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    ApiError::InvalidRestApi {
        method_not_allowed: false,
    }
    .hint(format!(
        "nothing is served at {}: the platform paths are /rest/httpsessions/callVerify/v1.0, \
         /rest/httpsessions/callnotify/v2.0, /rest/httpsessions/click2Call/v2.0, \
         /rest/httpsessions/callStop/v2.0, /rest/provision/voice/record/v1.0, \
         /rest/fastlogin/v1.0, /omp/oauth/refresh and /rest/logout/v1.0 (each also under \
         /sandbox); Dialtone's own API is under /sim/v1",
        uri.path()
    ))
    .into_response()
}

#[cfg(test)]
mod props;
