//! Extractors for the control plane: bodies, query strings and path segments read at the edge,
//! each rejection a [`SimError`] (`400 {"error": "..."}`), never axum's plain text.

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::{bad_request, SimError};
use crate::body::read_limited;
use crate::call::request;

/// A control-plane body type, with the shape to suggest when a body does not parse.
pub trait ControlBody: DeserializeOwned {
    /// Put before serde's message, e.g. `expected {"by": "90s"} or {"by_ms": 90000}`.
    const EXPECTED: &'static str;
}

/// A JSON body of at most [`crate::body::MAX_BODY_BYTES`], deserialized into `T`. The
/// `Content-Type` is not checked: curl users forget it.
#[derive(Debug)]
pub struct ControlJson<T>(pub T);

impl<S: Send + Sync, T: ControlBody> FromRequest<S> for ControlJson<T> {
    type Rejection = SimError;

    async fn from_request(req: Request, _: &S) -> Result<Self, SimError> {
        let bytes = read_limited(req.into_body())
            .await
            .map_err(|e| bad_request(e.to_string()))?;
        serde_json::from_slice(&bytes)
            .map(ControlJson)
            .map_err(|e| bad_request(format!("{}: {e}", T::EXPECTED)))
    }
}

/// A query string deserialized into `T`.
#[derive(Debug)]
pub struct ControlQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ControlQuery<T> {
    type Rejection = SimError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, SimError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ControlQuery(v))
            .map_err(|e| bad_request(format!("bad query string: {e}")))
    }
}

/// The route's path parameters deserialized into `T` (a `String`, or a tuple of them); a segment
/// that is not UTF-8 is a 400 naming the parameter.
#[derive(Debug)]
pub struct ControlPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ControlPath<T> {
    type Rejection = SimError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, SimError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ControlPath(v))
            .map_err(|e| bad_request(format!("bad path: {}", e.body_text())))
    }
}

/// The route's one path parameter, a phone number as the platform writes them: `+` and 7-15
/// digits.
#[derive(Debug)]
pub struct PhoneNumber(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PhoneNumber {
    type Rejection = SimError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, SimError> {
        let ControlPath(number) = ControlPath::<String>::from_request_parts(parts, state).await?;
        if number.parse::<request::PhoneNumber>().is_err() {
            return Err(bad_request(format!(
                "`{number}` is not `+` followed by 7-15 digits"
            )));
        }
        Ok(PhoneNumber(number))
    }
}
