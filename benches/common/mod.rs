//! Pieces the benchmarks share: real time, peak memory, and a receiver that only counts pushes.

// Each bench uses a subset of these.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use tokio::sync::Notify;

/// The allocator the `dialtone` binary ships with (`src/main.rs`), so that what runs in-process
/// here allocates as the server does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[allow(clippy::disallowed_methods)] // a benchmark measures real time.
pub fn now() -> Instant {
    Instant::now()
}

/// Peak resident memory of this process (VmHWM), in MiB.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// CPU seconds the threads of this process now alive have run (`/proc/self/task/*/schedstat`,
/// in nanoseconds). Other programs on the machine barely move it, unlike wall time. Threads
/// that ended are not counted: measure over a stretch in which the server's threads live on.
pub fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}

/// What a counting receiver has seen.
#[derive(Default)]
pub struct Counts {
    status: AtomicUsize,
    cdrs: AtomicUsize,
    done: Notify,
}

impl Counts {
    /// Status pushes and CDRs arrived so far.
    fn seen(&self) -> (usize, usize) {
        (
            self.status.load(Ordering::SeqCst),
            self.cdrs.load(Ordering::SeqCst),
        )
    }

    /// Waits until at least `status` status pushes and `cdrs` CDRs have arrived; panics after
    /// `bound` with what did arrive.
    pub async fn wait_for(&self, status: usize, cdrs: usize, bound: Duration) {
        let deadline = now() + bound;
        loop {
            let more = self.done.notified();
            let seen = self.seen();
            if seen.0 >= status && seen.1 >= cdrs {
                return;
            }
            assert!(
                now() < deadline,
                "incomplete: {} status, {} CDRs",
                seen.0,
                seen.1
            );
            let _ = tokio::time::timeout(Duration::from_millis(100), more).await;
        }
    }
}

async fn receive(State(c): State<Arc<Counts>>, body: Bytes) -> &'static str {
    // A CDR push lists its CDRs; everything else is one status event.
    let cdrs = body.windows(11).filter(|w| w == b"\"sessionId\"").count();
    if body.starts_with(br#"{"eventType":"fee""#) {
        c.cdrs.fetch_add(cdrs, Ordering::SeqCst);
    } else {
        c.status.fetch_add(1, Ordering::SeqCst);
    }
    c.done.notify_waiters();
    "ok"
}

/// Starts a receiver on loopback that answers 200 to every push and counts them.
pub async fn counting_receiver() -> (Arc<Counts>, SocketAddr) {
    let counts = Arc::new(Counts::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .fallback(post(receive))
        .with_state(counts.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (counts, addr)
}
