//! The legacy token endpoints (spec §3.2): fastlogin, refresh, logout. The rules live in
//! [`crate::auth`]; these handlers only carry requests to it and answers back. Each is gated by
//! [`LegacyEnabled`] and reads its body through [`PlatformRequest`] (an oversized one is
//! refused, spec §1, even where the body is ignored).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::extract::{LegacyEnabled, PlatformRequest};
use crate::app::AppState;
use crate::error::{platform_json, ApiError};

/// `POST /rest/fastlogin/v1.0?app_key=…&username=…` with the password in `Authorization`; the
/// body is ignored.
pub async fn fastlogin(
    State(state): State<AppState>,
    _: LegacyEnabled,
    request: PlatformRequest,
) -> Result<Response, ApiError> {
    let pair = state.auth.fastlogin(&request.meta())?;
    Ok(platform_json(StatusCode::OK, &pair))
}

/// `POST /omp/oauth/refresh`, parameters in a form body or the query string.
pub async fn refresh(
    State(state): State<AppState>,
    _: LegacyEnabled,
    request: PlatformRequest,
) -> Result<Response, ApiError> {
    let pair = state.auth.refresh(&request.meta(), &request.body)?;
    Ok(platform_json(StatusCode::OK, &pair))
}

/// `POST /rest/logout/v1.0?app_key=…&access_token=…`.
pub async fn logout(
    State(state): State<AppState>,
    _: LegacyEnabled,
    request: PlatformRequest,
) -> Result<Response, ApiError> {
    state.auth.logout(&request.meta())?;
    Ok(platform_json(
        StatusCode::OK,
        &json!({"resultcode": "0", "resultdesc": "Success"}),
    ))
}
