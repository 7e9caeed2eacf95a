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

const CALL_VERIFY: &str = "/rest/httpsessions/callVerify/v1.0";
// Spec §11: only v2.0 is documented; demos say "v1.0 or v2.0" (Dialtone: the same).
const CALL_NOTIFY: &str = "/rest/httpsessions/callnotify/v2.0";
const CALL_NOTIFY_V1: &str = "/rest/httpsessions/callnotify/v1.0";
const CALL_STOP: &str = "/rest/httpsessions/callStop/v2.0";
// Spec §12: v2.0 only; v1.0, known from one old client, stays 404.
const CLICK_TO_CALL: &str = "/rest/httpsessions/click2Call/v2.0";
const RECORD: &str = "/rest/provision/voice/record/v1.0";
const FASTLOGIN: &str = "/rest/fastlogin/v1.0";
const REFRESH: &str = "/omp/oauth/refresh";
const LOGOUT: &str = "/rest/logout/v1.0";

/// Every path [`router`] serves, each also under `/sandbox`.
const PATHS: [&str; 9] = [
    CALL_VERIFY,
    CALL_NOTIFY,
    CALL_NOTIFY_V1,
    CALL_STOP,
    CLICK_TO_CALL,
    RECORD,
    FASTLOGIN,
    REFRESH,
    LOGOUT,
];

/// Whether `path` is one of the platform API's (the server logs every answer on them).
pub fn is_platform_path(path: &str) -> bool {
    let path = path.strip_prefix("/sandbox").unwrap_or(path);
    PATHS.contains(&path)
}

/// The platform routes ([`PATHS`]), also mounted under `/sandbox`.
pub fn router() -> Router<AppState> {
    let platform = Router::new()
        .route(CALL_VERIFY, only_post(post(call_verify::call_verify)))
        .route(CALL_NOTIFY, only_post(post(call_notify::call_notify)))
        .route(CALL_NOTIFY_V1, only_post(post(call_notify::call_notify)))
        .route(CALL_STOP, only_post(post(call_stop::call_stop)))
        .route(CLICK_TO_CALL, only_post(post(click_to_call::click_to_call)))
        .route(
            RECORD,
            get(record::record).fallback(|| async {
                ApiError::InvalidRestApi {
                    method_not_allowed: true,
                }
            }),
        )
        .route(FASTLOGIN, only_post(post(legacy::fastlogin)))
        .route(REFRESH, only_post(post(legacy::refresh)))
        .route(LOGOUT, only_post(post(legacy::logout)));
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::error::HINT_HEADER;

    /// The server logs answers on the paths `is_platform_path` names: they must be the router's.
    #[tokio::test]
    async fn the_platform_paths_are_the_ones_the_router_serves_and_only_those() {
        let state = AppState::new(crate::testing::test_config()).expect("the test config builds");
        let app = router().fallback(not_found).with_state(state);
        let served = |path: String| {
            let app = app.clone();
            async move {
                let request = Request::put(path.as_str()).body(Body::empty());
                let response = app
                    .oneshot(request.expect("a valid request"))
                    .await
                    .expect("infallible");
                let hint = response.headers().get(HINT_HEADER);
                let hint = hint.and_then(|h| h.to_str().ok()).unwrap_or_default();
                !hint.starts_with("nothing is served at")
            }
        };
        for path in PATHS {
            for path in [path.to_owned(), format!("/sandbox{path}")] {
                assert!(is_platform_path(&path), "{path}");
                assert!(served(path.clone()).await, "{path} is routed");
            }
        }
        for path in [
            "/rest/httpsessions/click2Call/v1.0",
            "/rest/httpsessions/callVerify/v1.0/",
            "/sandboxrest/fastlogin/v1.0",
            "/sim/v1/calls",
            "/",
        ] {
            assert!(!is_platform_path(path), "{path}");
            assert!(!served(path.to_owned()).await, "{path} is not routed");
        }
    }
}
