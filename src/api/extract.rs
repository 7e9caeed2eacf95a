//! Extractors for the platform API: the request read at the edge, so handlers take typed
//! arguments. Every rejection is an [`ApiError`], rendered like any other platform error; no
//! request ever meets axum's plain-text rejections.
//!
//! * [`PlatformRequest`]: peer address, headers, query string and the body (at most
//!   [`crate::body::MAX_BODY_BYTES`], else `1010002`), for endpoints whose checks need them all.
//! * [`Authenticated`]: a business request authenticated first (spec §3.1), then its body read.
//! * [`LegacyEnabled`]: the gate of the legacy token endpoints, `404 1010006` when disabled.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};

use crate::app::AppState;
use crate::auth::RequestMeta;
use crate::body::read_limited;
use crate::error::ApiError;

/// A platform request, fully read: who sent it, its headers and query, and its body.
#[derive(Debug)]
pub struct PlatformRequest {
    /// The TCP peer; `X-Forwarded-For` is ignored (spec §3.3).
    pub peer: IpAddr,
    pub headers: HeaderMap,
    pub uri: Uri,
    pub body: Bytes,
}

impl PlatformRequest {
    /// What [`crate::auth`] checks.
    pub fn meta(&self) -> RequestMeta<'_> {
        RequestMeta {
            peer: self.peer,
            headers: &self.headers,
            query: self.uri.query(),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for PlatformRequest {
    type Rejection = ApiError;

    /// Errors: `1010002 "Invalid request."` for a body over the limit.
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let peer = peer(&mut parts, state).await?;
        let body = read_limited(body)
            .await
            .map_err(|_| ApiError::invalid_body())?;
        Ok(PlatformRequest {
            peer,
            headers: parts.headers,
            uri: parts.uri,
            body,
        })
    }
}

/// A business request whose sender has been authenticated (X-AKSK, or a legacy access token
/// when enabled), with its body.
#[derive(Debug)]
pub struct Authenticated {
    pub app_key: String,
    pub body: Bytes,
}

impl FromRequest<AppState> for Authenticated {
    type Rejection = ApiError;

    /// Authentication comes before the body, so an unauthenticated sender learns nothing about
    /// body checks. Errors: those of [`crate::auth::Auth::authenticate`], then `1010002` for a body
    /// over the limit.
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let meta = RequestMeta {
            peer: peer(&mut parts, state).await?,
            headers: &parts.headers,
            query: parts.uri.query(),
        };
        let app_key = state.auth.authenticate(&meta)?;
        let body = read_limited(body)
            .await
            .map_err(|_| ApiError::invalid_body())?;
        Ok(Authenticated { app_key, body })
    }
}

/// Admits a request only while the legacy token scheme is enabled (`auth.legacy.enabled`);
/// otherwise its endpoints do not exist: `404 1010006`, before the body is read.
#[derive(Debug, Clone, Copy)]
pub struct LegacyEnabled;

impl FromRequestParts<AppState> for LegacyEnabled {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.auth.legacy_enabled() {
            Ok(LegacyEnabled)
        } else {
            Err(ApiError::InvalidRestApi {
                method_not_allowed: false,
            })
        }
    }
}

/// The TCP peer's address. Missing only if the router is served without connect info (tests
/// can use `MockConnectInfo`): a wiring fault of ours.
async fn peer<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<IpAddr, ApiError> {
    ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
        .await
        .map(|ConnectInfo(addr)| addr.ip())
        .map_err(|e| ApiError::Internal(format!("no peer address on the request: {e}")))
}
