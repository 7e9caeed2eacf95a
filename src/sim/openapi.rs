//! `GET /openapi.json`: the OpenAPI 3.1 document of both surfaces (the platform API, its pushes
//! as webhooks, and `/sim/v1`), compiled in from `docs/openapi.json`. The integration tests
//! (`tests/it/openapi.rs`) check every route and real answer against it, so it cannot drift.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

/// The document, byte for byte as in the repository.
pub const DOCUMENT: &str = include_str!("../../docs/openapi.json");

pub async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}
