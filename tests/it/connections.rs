//! The server protects itself: slow and idle clients are closed, and connections are capped.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn connect(sim: &TestSim) -> TcpStream {
    TcpStream::connect(sim.base.trim_start_matches("http://"))
        .await
        .expect("Dialtone listens")
}

/// Reads until the server closes the connection, or `bound` passes (`None`).
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> Option<String> {
    let mut text = Vec::new();
    tokio::time::timeout(bound, stream.read_to_end(&mut text))
        .await
        .ok()
        .map(|_| String::from_utf8_lossy(&text).into_owned())
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_line_is_disconnected_after_the_header_timeout() {
    let sim = TestSim::start_with(|c, _| c.server.header_timeout_ms = 200).await;
    let mut slow = connect(&sim).await;
    slow.write_all(b"GET /hea").await.unwrap();
    assert!(
        read_until_closed(&mut slow, PATIENCE).await.is_some(),
        "the server closed the connection"
    );
    // Others are still served.
    assert_eq!(sim.get("/health").await.status, 200);
}

#[tokio::test]
async fn with_two_connections_allowed_a_third_is_served_only_once_one_closes() {
    let sim = TestSim::start_with(|c, _| c.server.max_connections = 2).await;
    let first = connect(&sim).await;
    let _second = connect(&sim).await;
    let mut third = connect(&sim).await;
    third
        .write_all(b"GET /health HTTP/1.1\r\nHost: dialtone\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_until_closed(&mut third, Duration::from_millis(300)).await,
        None,
        "not served while two connections are open"
    );
    drop(first);
    let answer = read_until_closed(&mut third, PATIENCE)
        .await
        .expect("served once one closes");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let sim = TestSim::start_with(|c, _| c.server.header_timeout_ms = 200).await;
    let mut silent = connect(&sim).await;
    assert!(
        read_until_closed(&mut silent, PATIENCE).await.is_some(),
        "a connection that never sends is closed"
    );
    let mut kept = connect(&sim).await;
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: dialtone\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut kept, PATIENCE)
        .await
        .expect("closed once idle after its answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
