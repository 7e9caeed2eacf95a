//! The platform's HTTP surface, paths as the spec spells them (§2). One line per route.
//!
//! `/sandbox` + any platform path behaves exactly like the path without it. Unknown paths get
//! 404 and known paths with another method 405, both `1010006` (spec §2).
//!
//! Requests are read by the extractors of [`extract`] (authentication, body limit, the legacy
//! gate), so each handler takes typed arguments and returns `Result<_, ApiError>`.

pub mod call_verify;
pub mod extract;
pub mod legacy;

use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Router;

use crate::app::AppState;
use crate::error::ApiError;

/// The platform routes, also mounted under `/sandbox`.
pub fn router() -> Router<AppState> {
    let platform = Router::new()
        .route(
            "/rest/httpsessions/callVerify/v1.0",
            only_post(post(call_verify::call_verify)),
        )
        .route("/rest/fastlogin/v1.0", only_post(post(legacy::fastlogin)))
        .route("/omp/oauth/refresh", only_post(post(legacy::refresh)))
        .route("/rest/logout/v1.0", only_post(post(legacy::logout)));
    Router::new()
        .merge(platform.clone())
        .nest("/sandbox", platform)
}

fn only_post(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.fallback(|| async {
        ApiError::InvalidRestApi {
            method_not_allowed: true,
        }
    })
}

/// Any path nobody serves.
pub async fn not_found() -> Response {
    ApiError::InvalidRestApi {
        method_not_allowed: false,
    }
    .into_response()
}
