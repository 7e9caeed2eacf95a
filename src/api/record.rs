//! `GET /rest/provision/voice/record/v1.0?fileName=…&recordDomain=…`: where to download a
//! click-to-call's recording (spec §14).
//!
//! Success is HTTP 301 with an empty body and the file's address in `Location`; the platform
//! tells clients not to follow it but read `Location`. Dialtone serves the file there while it
//! is retained (`/dialtone/recordings/…`, see [`crate::sim`]).

use axum::extract::{RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::Authenticated;
use crate::app::AppState;
use crate::error::ApiError;

pub async fn record(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    request: Result<Authenticated, ApiError>,
) -> Result<Response, ApiError> {
    let Authenticated { app_key, .. } = request?;
    let param = |name: &str| -> Result<String, ApiError> {
        url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .filter(|v| (1..=128).contains(&v.chars().count()))
            .ok_or_else(|| ApiError::invalid(name))
    };
    let file_name = param("fileName")?;
    let domain = param("recordDomain")?;
    // Another app's file, a wrong domain or an expired one: as unknown (spec §14).
    let recording = state
        .engine
        .recording(&file_name)
        .filter(|r| r.app_key == app_key && r.domain == domain)
        .ok_or(ApiError::RecordNotFound)?;
    Ok((StatusCode::MOVED_PERMANENTLY, [(LOCATION, recording.url)]).into_response())
}
