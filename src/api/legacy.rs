//! The legacy token endpoints (spec §3.2): fastlogin, refresh, logout. The rules live in
//! [`crate::auth`]; these handlers only carry requests to it and answers back.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::read_body;
use crate::auth::RequestMeta;
use crate::error::{platform_json, ApiError};
use crate::server::AppState;

fn meta<'a>(peer: SocketAddr, uri: &'a Uri, headers: &'a HeaderMap) -> RequestMeta<'a> {
    RequestMeta {
        peer: peer.ip(),
        headers,
        query: uri.query(),
    }
}

/// When `auth.legacy.enabled` is false the legacy endpoints do not exist (404 1010006).
fn disabled() -> Response {
    ApiError::InvalidRestApi {
        method_not_allowed: false,
    }
    .into_response()
}

/// `POST /rest/fastlogin/v1.0?app_key=…&username=…` with the password in `Authorization`.
pub async fn fastlogin(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !state.auth.legacy_enabled() {
        return disabled();
    }
    // The body is ignored, but an oversized one is still refused (spec §1).
    if let Err(e) = read_body(body).await {
        return e.into_response();
    }
    match state.auth.fastlogin(&meta(peer, &uri, &headers)) {
        Ok(pair) => platform_json(StatusCode::OK, &pair),
        Err(e) => e.into_response(),
    }
}

/// `POST /omp/oauth/refresh`, parameters in a form body or the query string.
pub async fn refresh(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !state.auth.legacy_enabled() {
        return disabled();
    }
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match state.auth.refresh(&meta(peer, &uri, &headers), &bytes) {
        Ok(pair) => platform_json(StatusCode::OK, &pair),
        Err(e) => e.into_response(),
    }
}

/// `POST /rest/logout/v1.0?app_key=…&access_token=…`.
pub async fn logout(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !state.auth.legacy_enabled() {
        return disabled();
    }
    if let Err(e) = read_body(body).await {
        return e.into_response();
    }
    match state.auth.logout(&meta(peer, &uri, &headers)) {
        Ok(()) => platform_json(
            StatusCode::OK,
            &json!({"resultcode": "0", "resultdesc": "Success"}),
        ),
        Err(e) => e.into_response(),
    }
}
