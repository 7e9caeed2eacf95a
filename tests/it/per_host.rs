//! `push.max_in_flight_per_host`: a burst of pushes never has more than N connections open to
//! one receiver at a time. The receiver is a real axum app on loopback that counts how many
//! requests it is serving at once and takes 20 ms over each (a slow laptop server), so a burst
//! without the cap would overlap far beyond it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::json;

use crate::helpers::*;

#[derive(Default)]
struct Counting {
    now: AtomicUsize,
    most: AtomicUsize,
    served: AtomicUsize,
    done: tokio::sync::Notify,
}

async fn counting_receiver() -> (String, Arc<Counting>) {
    async fn serve(State(c): State<Arc<Counting>>) -> &'static str {
        let now = c.now.fetch_add(1, Ordering::SeqCst) + 1;
        c.most.fetch_max(now, Ordering::SeqCst);
        #[allow(clippy::disallowed_methods)] // a slow receiver is what is being tested.
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.now.fetch_sub(1, Ordering::SeqCst);
        c.served.fetch_add(1, Ordering::SeqCst);
        c.done.notify_waiters();
        r#"{"resultcode":"0"}"#
    }
    let counting = Arc::new(Counting::default());
    let app = Router::new()
        .route("/status", post(serve))
        .route("/fee", post(serve))
        .with_state(counting.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (format!("http://{addr}"), counting)
}

/// Waits until the receiver has served `n` requests (10 s at most).
async fn served(c: &Counting, n: usize) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let notified = c.done.notified();
            if c.served.load(Ordering::SeqCst) >= n {
                return;
            }
            notified.await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "served {} of {n}",
        c.served.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn a_burst_of_pushes_never_opens_more_than_the_cap_to_one_receiver() {
    let (url, counting) = counting_receiver().await;
    let sim = spawn_sim_with(|c, _| {
        c.push.max_in_flight_per_host = 3;
        c.apps[0].status_url = Some(format!("{url}/status"));
        c.apps[0].fee_url = Some(format!("{url}/fee"));
        c.frequency.rules.clear();
        c.apps[0].max_concurrent_calls = 100;
    })
    .await;
    // 40 calls, each answered and read to its end: their callouts all go out at once.
    for i in 0..40 {
        let mut body = verify_body("4815");
        body["calleeNbr"] = json!(format!("+86139000{:05}", 10_000 + i));
        sim.place_call(&body).await;
    }
    sim.advance("3m").await;
    // 4 status pushes each, and the CDRs in one batch of 40.
    served(&counting, 40 * 4 + 1).await;
    assert_eq!(
        counting.most.load(Ordering::SeqCst),
        3,
        "the cap is reached and never passed"
    );
}

#[tokio::test]
async fn the_cap_is_per_receiver_so_two_receivers_are_served_side_by_side() {
    let (first, at_first) = counting_receiver().await;
    let (second, at_second) = counting_receiver().await;
    let sim = spawn_sim_with(|c, _| {
        c.push.max_in_flight_per_host = 2;
        c.apps[0].status_url = Some(format!("{first}/status"));
        c.apps[0].fee_url = Some(format!("{first}/fee"));
        c.frequency.rules.clear();
        c.apps[0].max_concurrent_calls = 100;
    })
    .await;
    // Half the calls name the second receiver in their request's statusUrl.
    for i in 0..40 {
        let mut body = verify_body("4815");
        body["calleeNbr"] = json!(format!("+86139000{:05}", 20_000 + i));
        if i % 2 == 1 {
            body["statusUrl"] = json!(b64(&format!("{second}/status")));
        }
        sim.place_call(&body).await;
    }
    sim.advance("3m").await;
    // The first also gets the one CDR batch.
    served(&at_first, 20 * 4 + 1).await;
    served(&at_second, 20 * 4).await;
    assert_eq!(at_first.most.load(Ordering::SeqCst), 2);
    assert_eq!(at_second.most.load(Ordering::SeqCst), 2);
}
