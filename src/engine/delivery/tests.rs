//! Delivery without sockets: the engine on a manual simulated clock, pushing through a scripted
//! transport, with tokio's clock paused so a slow receiver costs no real time.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::audio::compose::Manifest;
use crate::call::request::{CallKind, CallRequest, VerifyCall};
use crate::clock::Clock;
use crate::engine::{Accepted, CallMedia, Engine};
use crate::ids::IdGen;
use crate::push::dispatch::Transport;
use crate::push::faults::{FaultKind, FaultRule};
use crate::push::journal::{DeliveryOutcome, Journal, JournalEntry, JournalQuery};
use crate::push::payload::EventType;
use crate::push::transport::{AttemptReport, PushJob};
use crate::testing::{test_config, APP_KEY, CALLEE, DISPLAY, START};

const STATUS_URL: &str = "http://receiver.test/status";
const FEE_URL: &str = "http://receiver.test/fee";

/// A receiver in memory: answers 200 unless told otherwise for a delivery, optionally slowly,
/// and remembers when each attempt started and ended.
#[derive(Default)]
struct Scripted {
    /// `start s1.1`, `end s1.1`, … in the order they happened.
    log: Mutex<Vec<String>>,
    /// Statuses to answer, in order, per delivery id; then 200.
    answers: Mutex<HashMap<String, VecDeque<u16>>>,
    /// How long the receiver takes to answer a delivery (tokio time, paused in these tests).
    latency: Mutex<HashMap<String, Duration>>,
}

impl Scripted {
    fn answer(&self, delivery: &str, statuses: &[u16]) {
        self.answers
            .lock()
            .unwrap()
            .insert(delivery.into(), statuses.iter().copied().collect());
    }

    fn slow(&self, delivery: &str, by: Duration) {
        self.latency.lock().unwrap().insert(delivery.into(), by);
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Delivery ids in the order their attempts started.
    fn started(&self) -> Vec<String> {
        self.log()
            .iter()
            .filter_map(|l| l.strip_prefix("start ").map(str::to_owned))
            .collect()
    }
}

impl Transport for Scripted {
    fn attempt<'a>(
        &'a self,
        job: &'a PushJob,
    ) -> Pin<Box<dyn Future<Output = AttemptReport> + Send + 'a>> {
        Box::pin(async move {
            let id = &job.delivery_id;
            self.log.lock().unwrap().push(format!("start {id}"));
            let latency = self.latency.lock().unwrap().get(id).copied();
            if let Some(latency) = latency {
                // Tokio's clock is paused in these tests: this costs no real time.
                #[allow(clippy::disallowed_methods)]
                tokio::time::sleep(latency).await;
            }
            let status = self
                .answers
                .lock()
                .unwrap()
                .get_mut(id)
                .and_then(VecDeque::pop_front)
                .unwrap_or(200);
            self.log.lock().unwrap().push(format!("end {id}"));
            AttemptReport {
                request_headers: Vec::new(),
                response_status: Some(status),
                response_body: None,
                error: None,
                latency_ms: latency.map_or(0, |l| l.as_millis() as u64),
                fault: job.fault,
            }
        })
    }
}

/// An engine on a manual clock with a seed, pushing to `receiver`.
fn engine(receiver: &Arc<Scripted>) -> Engine {
    let config = Arc::new(test_config());
    let clock = Arc::new(Clock::manual(START.parse().expect("valid start")));
    Engine::with_transport(
        config,
        clock,
        Arc::new(IdGen::new(Some(7))),
        Journal::in_memory(10_000),
        None,
        receiver.clone(),
    )
}

/// Places a verification call to `callee` whose code plays for 3 s after answer.
fn call(engine: &Engine, callee: &str) -> Accepted {
    call_with(engine, callee, Some(STATUS_URL))
}

/// As [`call`], with this status URL, or none (the test config's app has none either).
fn call_with(engine: &Engine, callee: &str, status_url: Option<&str>) -> Accepted {
    let request = CallRequest {
        app_key: APP_KEY.into(),
        display_nbr: DISPLAY.parse().unwrap(),
        callee_nbr: callee.parse().unwrap(),
        status_url: status_url.map(|u| u.parse().unwrap()),
        fee_url: Some(FEE_URL.parse().unwrap()),
        user_data: None,
        kind: CallKind::Verify(VerifyCall {
            language_type: 2,
            pre_tone: "welcome.wav".parse().unwrap(),
            verify_code: "4815".parse().unwrap(),
            pos_tone: None,
            times: 1,
        }),
    };
    let manifest = Manifest {
        language: "en".into(),
        times: 1,
        segments: Vec::new(),
        release_ms: Some(3000),
        max_duration_ms: 60_000,
    };
    let pending = engine
        .accept(request, CallMedia::Announcement(Arc::new(manifest)))
        .unwrap();
    // No store: nothing to wait for.
    engine.start_uncommitted(pending)
}

fn journal(engine: &Engine) -> Vec<JournalEntry> {
    engine
        .journal()
        .query(&JournalQuery::default())
        .expect("the in-memory journal reads")
}

fn outcomes(engine: &Engine) -> Vec<(String, DeliveryOutcome)> {
    journal(engine)
        .into_iter()
        .map(|e| (e.id, e.outcome))
        .collect()
}

const MINUTE: u64 = 60_000;

#[tokio::test(start_paused = true)]
async fn a_calls_status_pushes_go_out_one_at_a_time_in_event_order_even_behind_a_slow_receiver() {
    let receiver = Arc::new(Scripted::default());
    receiver.slow("s1.1", Duration::from_secs(20));
    let engine = engine(&receiver);
    call(&engine, CALLEE);
    engine.advance(MINUTE, true).await.unwrap();
    assert!(engine.wait_idle(Duration::from_secs(60)).await);

    assert_eq!(
        receiver.log(),
        [
            "start s1.1",
            "end s1.1",
            "start s1.2",
            "end s1.2",
            "start s1.3",
            "end s1.3",
            "start s1.4",
            "end s1.4",
            "start f1",
            "end f1"
        ],
        "the callout's slow answer holds back alerting, answer and disconnect; the CDR comes last"
    );
}

#[tokio::test(start_paused = true)]
async fn pushes_of_different_calls_do_not_wait_for_each_other() {
    let receiver = Arc::new(Scripted::default());
    receiver.slow("s1.1", Duration::from_secs(20));
    let engine = engine(&receiver);
    call(&engine, CALLEE);
    call(&engine, "+8613900005678");
    // Both callouts go out at once; the second call's don't wait for the first's slow answer.
    engine.advance(0, false).await.unwrap();
    tokio::task::yield_now().await;
    let log = receiver.log();
    assert!(
        log.starts_with(&["start s1.1".into(), "start s2.1".into()]),
        "{log:?}"
    );
    assert!(engine.wait_idle(Duration::from_secs(60)).await);
    let log = receiver.log();
    let pos = |l: &str| log.iter().position(|x| x == l).unwrap();
    assert!(pos("end s2.1") < pos("end s1.1"), "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_cdr_is_retried_an_hour_later_on_the_fidelity_policy() {
    let receiver = Arc::new(Scripted::default());
    receiver.answer("f1", &[500, 200]);
    let engine = engine(&receiver);
    call(&engine, CALLEE);
    engine.advance(MINUTE, true).await.unwrap();
    assert_eq!(
        outcomes(&engine).last().unwrap(),
        &("f1#1".into(), DeliveryOutcome::FailedWillRetry)
    );

    let first = journal(&engine).pop().unwrap();
    let retry_due = first.sent_at_ms + 60 * MINUTE;
    let now = engine.clock().now().ms();
    engine.advance(retry_due - 1 - now, true).await.unwrap();
    assert_eq!(
        receiver.started().iter().filter(|d| *d == "f1").count(),
        1,
        "not a millisecond early"
    );

    engine.advance(1, true).await.unwrap();
    assert_eq!(
        outcomes(&engine).last().unwrap(),
        &("f1#2".into(), DeliveryOutcome::Delivered)
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_status_push_is_dropped_and_the_next_one_still_goes() {
    let receiver = Arc::new(Scripted::default());
    receiver.answer("s1.2", &[503]);
    let engine = engine(&receiver);
    call(&engine, CALLEE);
    engine.advance(2 * 60 * MINUTE, true).await.unwrap();
    let status: Vec<_> = outcomes(&engine)
        .into_iter()
        .filter(|(id, _)| id.starts_with('s'))
        .collect();
    use DeliveryOutcome::*;
    assert_eq!(
        status,
        [
            ("s1.1#1".into(), Delivered),
            ("s1.2#1".into(), Dropped),
            ("s1.3#1".into(), Delivered),
            ("s1.4#1".into(), Delivered),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_out_of_order_fault_sends_a_status_push_after_the_next_one() {
    let receiver = Arc::new(Scripted::default());
    let engine = engine(&receiver);
    engine.set_faults(vec![FaultRule {
        fault: FaultKind::OutOfOrder,
        app_key: None,
        url: None,
        push: None,
        probability: 1.0,
        delay_ms: None,
        times: Some(1),
    }]);
    call(&engine, CALLEE);
    engine.advance(MINUTE, true).await.unwrap();
    assert_eq!(receiver.started(), ["s1.2", "s1.1", "s1.3", "s1.4", "f1"]);
    let marked: Vec<_> = journal(&engine)
        .into_iter()
        .filter(|e| e.fault.is_some())
        .map(|e| e.id)
        .collect();
    assert_eq!(
        marked,
        ["s1.1#1"],
        "the journal names the push the fault held back"
    );
}

#[tokio::test(start_paused = true)]
async fn cdrs_of_calls_that_end_in_the_same_second_share_one_push() {
    let receiver = Arc::new(Scripted::default());
    let engine = engine(&receiver);
    let a = call(&engine, CALLEE);
    let b = call(&engine, "+8613900005678");
    engine.advance(MINUTE, true).await.unwrap();
    let fees: Vec<JournalEntry> = journal(&engine)
        .into_iter()
        .filter(|e| e.event_type == EventType::Fee)
        .collect();
    assert_eq!(fees.len(), 1);
    assert_eq!(fees[0].session_ids, [a.session_id, b.session_id]);
}

#[tokio::test(start_paused = true)]
async fn a_result_that_finds_the_engine_busy_waits_for_the_lock_and_is_handled_as_it_is_let_go() {
    let receiver = Arc::new(Scripted::default());
    let engine = engine(&receiver);
    call(&engine, CALLEE);
    engine.advance(0, false).await.unwrap();

    // Something else holds the engine (an advance firing timers, say) while the callout's answer
    // comes back: the worker does not wait for the lock, it leaves the result.
    let held = engine.lock();
    for _ in 0..100 {
        if receiver.log().contains(&"end s1.1".to_owned()) {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(receiver.log(), ["start s1.1", "end s1.1"]);
    assert!(
        journal(&engine).is_empty(),
        "not handled while the lock is held"
    );

    drop(held);
    assert_eq!(
        outcomes(&engine),
        [("s1.1#1".to_owned(), DeliveryOutcome::Delivered)],
        "handled by whoever let go of the lock"
    );
    assert!(engine.wait_idle(Duration::from_secs(1)).await);
}

#[tokio::test(start_paused = true)]
async fn a_call_with_no_status_url_holds_no_status_queue_and_its_cdr_still_goes() {
    let receiver = Arc::new(Scripted::default());
    let engine = engine(&receiver);
    call_with(&engine, CALLEE, None);
    assert!(
        engine.lock().deliveries.queues.is_empty(),
        "nothing to push, nothing queued while the call is in progress"
    );
    engine.advance(MINUTE, true).await.unwrap();
    assert_eq!(receiver.started(), ["f1"], "the CDR, and no status push");
    assert!(engine.lock().deliveries.queues.is_empty());
}
