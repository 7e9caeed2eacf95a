//! The browser console at `/`: plain HTML, CSS and ES modules from `console/`, embedded in the
//! binary so it works offline and needs no build step (no node, no bundler, no CDN).
//!
//! It owns serving the files only: content types, caching and security headers. Everything the
//! console shows it reads as any client would, from the control API (`/sim/v1`) and the event
//! stream; the browser phone speaks the handset WebSocket. Unknown paths under `/console/` are a
//! plain 404; every other unknown path keeps the platform's own 404 (the server's fallback).

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

/// One embedded file: its path under `/console/`, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!("../console/", $path)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Every file of `console/` (a unit test checks none is missing).
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/ui.js", JS),
    asset!("js/calls.js", JS),
    asset!("js/call.js", JS),
    asset!("js/phone.js", JS),
    asset!("js/rules.js", JS),
    asset!("js/reconciliation.js", JS),
];

/// Only our own files and our own origin (its WebSockets included); inline styles for the
/// positions the audio bar computes. Nothing is fetched from elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `GET /` and `GET /console/{path}`. Other methods on `/` answer as any unknown platform path.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index).fallback(crate::api::not_found))
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/{*path}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    serve(
        find("index.html").expect("index.html is embedded"),
        &headers,
    )
}

async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match find(&path) {
        Some(i) => serve(i, &headers),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no console file `{path}`\n"),
        )
            .into_response(),
    }
}

fn find(path: &str) -> Option<usize> {
    ASSETS.iter().position(|a| a.path == path)
}

/// Each file's ETag: a hash of its bytes, computed once.
fn etag(i: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    &TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.bytes);
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })[i]
}

/// Dialtone decision: `no-cache` with an ETag. The browser revalidates each load (a 304 is a
/// few bytes on loopback), so a new Dialtone binary is never shown with an old script.
fn serve(i: usize, request: &HeaderMap) -> Response {
    let asset = &ASSETS[i];
    let tag = etag(i);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.bytes).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_static(tag));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.content_type == HTML {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str, if_none_match: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        router::<()>()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("infallible")
    }

    #[test]
    fn every_file_in_the_console_folder_is_embedded() {
        fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("console/ is readable") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else {
                    let rel = path.strip_prefix(base).expect("under console/");
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut files = Vec::new();
        walk(&base, &base, &mut files);
        for f in files {
            assert!(find(&f).is_some(), "console/{f} is not in ASSETS");
        }
    }

    #[tokio::test]
    async fn the_root_is_the_console_page_with_its_headers() {
        let r = get("/", None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], HTML);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
        assert!(r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii")
            .starts_with("default-src 'self'"));
        let body = to_bytes(r.into_body(), 1 << 20).await.expect("body");
        assert!(std::str::from_utf8(&body)
            .expect("utf-8")
            .contains(r#"<script type="module" src="/console/js/main.js">"#));
    }

    #[tokio::test]
    async fn scripts_are_javascript_and_revalidate_to_a_304() {
        let r = get("/console/js/phone.js", None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], JS);
        let tag = r.headers()[header::ETAG]
            .to_str()
            .expect("ascii")
            .to_owned();
        let again = get("/console/js/phone.js", Some(&tag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], tag.as_str());
    }

    #[tokio::test]
    async fn an_unknown_console_file_is_a_plain_404() {
        let r = get("/console/js/nope.js", None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let body = to_bytes(r.into_body(), 1 << 20).await.expect("body");
        assert_eq!(&body[..], b"no console file `js/nope.js`\n");
    }
}
