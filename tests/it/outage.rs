//! The receiver goes away for a while under load, then comes back: every CDR still arrives, once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::helpers::*;

/// How many calls the outage test places: `OUTAGE_CALLS`, default 10 000 (the figure).
fn outage_calls() -> usize {
    std::env::var("OUTAGE_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_down_for_ten_minutes_during_ten_thousand_calls_still_gets_every_cdr_exactly_once(
) {
    let calls = outage_calls();
    let mut sim = TestSim::start_with(|c, _| {
        c.apps[0].max_concurrent_calls = calls as u32;
        c.platform.ports = 2 * calls as u32;
        c.frequency.rules.clear();
        // 4 status attempts per call, and a few per CDR batch.
        c.journal.max_entries = 10 * calls;
        // Retries every 5 simulated minutes, so two fail during the outage and one lands after.
        c.fee_push.retry = dialtone::push::retry::RetrySchedule::fidelity_fee(6, 300);
    })
    .await;
    sim.receiver.stop();

    let sim_shared = Arc::new(sim);
    let slots = Arc::new(tokio::sync::Semaphore::new(64));
    let mut placing = tokio::task::JoinSet::new();
    for i in 0..calls {
        let (sim, slots) = (sim_shared.clone(), slots.clone());
        placing.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("semaphore open");
            let mut body = verify_body("4815");
            // A 1 before the counter keeps clear of the magic numbers (`…0000` + stateCode).
            body["calleeNbr"] = json!(format!("+861391{:07}", i));
            sim.place_call(&body).await
        });
    }
    let mut sessions = Vec::with_capacity(calls);
    while let Some(s) = placing.join_next().await {
        sessions.push(s.expect("placing task"));
    }
    let Ok(mut sim) = Arc::try_unwrap(sim_shared) else {
        panic!("every placing task has finished");
    };

    // Ten simulated minutes down: the calls run and end, their status pushes and two attempts
    // at each CDR batch (about 28 s and 5 min 28 s in) fail to connect.
    for _ in 0..10 {
        sim.advance("1m").await;
    }
    assert!(
        sim.receiver.log().is_empty(),
        "nothing reaches a stopped receiver"
    );
    sim.receiver.restart().await;
    sim.advance("30m").await;

    let log = sim.receiver.log();
    let mut cdrs_per_session: HashMap<&str, usize> = HashMap::new();
    for push in log.iter().filter(|p| p.event_type() == "fee") {
        let list = push.body["feeLst"].as_array().expect("feeLst");
        assert!(
            !list.is_empty() && list.len() <= 50,
            "a CDR push carries 1 to 50 CDRs, not {}",
            list.len()
        );
        for cdr in list {
            let id = cdr["sessionId"].as_str().expect("sessionId");
            *cdrs_per_session.entry(id).or_default() += 1;
        }
    }
    for s in &sessions {
        assert_eq!(cdrs_per_session.get(s.as_str()), Some(&1), "CDRs of {s}");
    }
    assert_eq!(
        cdrs_per_session.len(),
        calls,
        "no CDR of a call that was not placed"
    );

    // The journal: every CDR batch failed to connect during the outage and ended delivered.
    let journal = sim.get("/sim/v1/deliveries?kind=fee").await;
    assert_eq!(journal.status, 200, "{}", journal.body);
    let mut attempts: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for e in journal.body.as_array().expect("a list") {
        let id = e["delivery_id"].as_str().expect("delivery_id");
        attempts.entry(id).or_default().push(e);
    }
    assert!(
        attempts.len() >= calls.div_ceil(50),
        "{} CDR deliveries for {calls} calls",
        attempts.len()
    );
    for (id, tries) in &mut attempts {
        tries.sort_by_key(|e| e["attempt"].as_u64());
        let (last, failed) = tries.split_last().expect("at least one attempt");
        assert_eq!(
            last["outcome"], "delivered",
            "final attempt of {id}: {last}"
        );
        assert!(!failed.is_empty(), "{id} was first tried during the outage");
        for f in failed {
            assert_eq!(
                (&f["outcome"], &f["error"]),
                (&json!("failed_will_retry"), &json!("connect")),
                "{f}"
            );
        }
    }

    let listed = sim.get("/sim/v1/calls").await;
    let listed = listed.body.as_array().expect("a list");
    assert_eq!(listed.len(), calls);
    for call in listed {
        assert_eq!(call["cdr_state"], "delivered", "{call}");
    }

    // Reconciliation agrees: everything accepted was delivered, nothing is owed.
    let report = sim.get("/sim/v1/reports/reconciliation").await.body;
    let app = &report[0];
    let n = |k: &str| app[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!(n("accepted"), sessions.len() as u64, "{app}");
    assert_eq!(
        (n("cdrs_generated"), n("cdrs_delivered")),
        (n("accepted"), n("accepted")),
        "{app}"
    );
    assert_eq!(
        (n("cdrs_owed"), n("cdrs_abandoned"), n("in_progress")),
        (0, 0, 0),
        "{app}"
    );
}
