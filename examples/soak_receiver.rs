//! A push receiver for `scripts/soak.sh`: answers every POST with 200 at once and prints, when
//! stopped (Ctrl-C or SIGTERM), how many it took and on how many connections. A soak at 500
//! calls/s means about 2 500 pushes a second; this keeps up, so what the soak measures is
//! Dialtone, not the receiver.
//!
//! Like a quick handler, it answers without reading the body. hyper then closes a connection
//! now and then just after answering on it (when the body had not arrived yet), and a push
//! Dialtone writes on that connection an instant later gets no answer: the soak checks that
//! every such push is still delivered.
//!
//! `cargo run --release --example soak_receiver -- 19302`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(19302);
    let count = Arc::new(AtomicU64::new(0));
    let connections = Arc::new(AtomicU64::new(0));
    let opened = connections.clone();
    let counted = count.clone();
    let app = Router::new().fallback(post(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::Relaxed);
            r#"{"resultcode":"0"}"#
        }
    }));
    // Counted so a soak can tell a pool that keeps its connections from one that keeps opening
    // new ones.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        .tap_io(move |_| {
            opened.fetch_add(1, Ordering::Relaxed);
        });
    let stop = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await?;
    eprintln!(
        "receiver: {} pushes on {} connections",
        count.load(Ordering::Relaxed),
        connections.load(Ordering::Relaxed)
    );
    Ok(())
}
