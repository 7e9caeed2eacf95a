//! Request bodies: the one size limit both HTTP surfaces share (spec §1), read before any
//! parsing. The platform API ([`crate::api::extract`]) and the control plane
//! ([`crate::sim::extract`]) each turn [`BodyTooLarge`] into their own error shape.

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;

/// Bodies above this are refused (spec §1: 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The body was larger than [`MAX_BODY_BYTES`]. A body whose stream broke off ends up here too:
/// the client that sent it is gone and reads no answer either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("body larger than 64 KiB")]
pub struct BodyTooLarge;

/// Reads a request body of at most [`MAX_BODY_BYTES`]. A body that comes in one piece, as a
/// small request's does, is that piece, not copied: collecting it through `http-body-util`'s
/// buffer list cost an allocation per request (1.6 % of a callVerify under `wrk`).
pub async fn read_limited(mut body: Body) -> Result<Bytes, BodyTooLarge> {
    let mut whole: Option<Bytes> = None;
    let mut joined: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| BodyTooLarge)?.into_data() else {
            continue; // trailers
        };
        let read = whole.as_ref().map_or(0, Bytes::len) + joined.len() + data.len();
        if read > MAX_BODY_BYTES {
            return Err(BodyTooLarge);
        }
        match whole.take() {
            None if joined.is_empty() => whole = Some(data),
            earlier => {
                joined.extend_from_slice(earlier.as_deref().unwrap_or_default());
                joined.extend_from_slice(&data);
            }
        }
    }
    Ok(whole.unwrap_or_else(|| Bytes::from(joined)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body streamed in `chunks`.
    fn streamed(chunks: Vec<Vec<u8>>) -> Body {
        let frames = chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(hyper::body::Frame::data(Bytes::from(c))));
        Body::new(http_body_util::StreamBody::new(futures_util::stream::iter(
            frames,
        )))
    }

    #[tokio::test]
    async fn a_body_is_read_whole_in_one_piece_or_in_many() {
        assert_eq!(read_limited(Body::empty()).await, Ok(Bytes::new()));
        assert_eq!(
            read_limited(Body::from("{\"a\":1}")).await,
            Ok(Bytes::from_static(b"{\"a\":1}"))
        );
        let pieces = vec![b"{\"a\"".to_vec(), b":".to_vec(), b"1}".to_vec()];
        assert_eq!(
            read_limited(streamed(pieces)).await,
            Ok(Bytes::from_static(b"{\"a\":1}"))
        );
    }

    #[tokio::test]
    async fn a_body_over_64_kib_is_refused_whether_in_one_piece_or_in_many() {
        let at_limit = vec![b'x'; MAX_BODY_BYTES];
        assert_eq!(
            read_limited(Body::from(at_limit.clone()))
                .await
                .map(|b| b.len()),
            Ok(MAX_BODY_BYTES)
        );
        assert_eq!(
            read_limited(Body::from(vec![b'x'; MAX_BODY_BYTES + 1])).await,
            Err(BodyTooLarge)
        );
        let halves = vec![at_limit[..MAX_BODY_BYTES / 2].to_vec(); 2];
        assert_eq!(
            read_limited(streamed(halves)).await.map(|b| b.len()),
            Ok(MAX_BODY_BYTES)
        );
        let over = vec![
            vec![b'x'; MAX_BODY_BYTES / 2],
            vec![b'x'; MAX_BODY_BYTES / 2 + 1],
        ];
        assert_eq!(read_limited(streamed(over)).await, Err(BodyTooLarge));
    }
}
