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

/// The shape every legacy endpoint shares: 404 `1010006` when the scheme is disabled, the body
/// read (and an oversized one refused, spec §1), then `op` with the request and body.
async fn legacy<T: serde::Serialize>(
    state: &AppState,
    peer: SocketAddr,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    op: impl FnOnce(&RequestMeta, &[u8]) -> Result<T, ApiError>,
) -> Response {
    if !state.auth.legacy_enabled() {
        return ApiError::InvalidRestApi {
            method_not_allowed: false,
        }
        .into_response();
    }
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let meta = RequestMeta {
        peer: peer.ip(),
        headers,
        query: uri.query(),
    };
    match op(&meta, &bytes) {
        Ok(answer) => platform_json(StatusCode::OK, &answer),
        Err(e) => e.into_response(),
    }
}

/// `POST /rest/fastlogin/v1.0?app_key=…&username=…` with the password in `Authorization`; the
/// body is ignored.
pub async fn fastlogin(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    legacy(&state, peer, &uri, &headers, body, |meta, _| {
        state.auth.fastlogin(meta)
    })
    .await
}

/// `POST /omp/oauth/refresh`, parameters in a form body or the query string.
pub async fn refresh(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    legacy(&state, peer, &uri, &headers, body, |meta, bytes| {
        state.auth.refresh(meta, bytes)
    })
    .await
}

/// `POST /rest/logout/v1.0?app_key=…&access_token=…`.
pub async fn logout(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    legacy(&state, peer, &uri, &headers, body, |meta, _| {
        state.auth.logout(meta)?;
        Ok(json!({"resultcode": "0", "resultdesc": "Success"}))
    })
    .await
}
