//! Request bodies: the one size limit both HTTP surfaces share (spec §1), read before any
//! parsing. The platform API ([`crate::api::extract`]) and the control plane
//! ([`crate::sim::extract`]) each turn [`BodyTooLarge`] into their own error shape.

use axum::body::{Body, Bytes};

/// Bodies above this are refused (spec §1: 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The body was larger than [`MAX_BODY_BYTES`]. A body whose stream broke off ends up here too:
/// the client that sent it is gone and reads no answer either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("body larger than 64 KiB")]
pub struct BodyTooLarge;

/// Reads a request body of at most [`MAX_BODY_BYTES`].
pub async fn read_limited(body: Body) -> Result<Bytes, BodyTooLarge> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| BodyTooLarge)
}
