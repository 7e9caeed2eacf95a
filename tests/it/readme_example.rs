use dialtone::testing::{assert_sequence, verify_body, TestSim, CALLEE};

#[tokio::test]
async fn a_busy_callee_gets_a_retry_that_is_answered() {
    let sim = TestSim::start().await; // the demo app pushes to sim.receiver
    sim.set_phone(CALLEE, r#"{"sequence":[{"outcome":"busy"},{"outcome":"answer"}]}"#).await;

    let first = sim.place_call(&verify_body("4815")).await;
    sim.advance("1m").await;
    assert_sequence(&["callout", "disconnect", "fee"], &sim.receiver.events_of(&first).await);

    let retry = sim.place_call(&verify_body("4815")).await;
    sim.advance("1m").await;
    assert_sequence(
        &["callout", "alerting", "answer", "disconnect", "fee"],
        &sim.receiver.events_of(&retry).await,
    );
}
