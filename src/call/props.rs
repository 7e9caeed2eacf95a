//! Property tests of the call machine: whatever the callee does and whatever the app and the
//! handset ask, at whatever times, a call ends exactly once, with one `disconnect`, and its
//! times never run backwards.

use proptest::prelude::*;

use super::announcement::Durations;
use super::click2call::Party;
use super::*;

/// Something the outside world does to a live call, after simulated time has moved on.
#[derive(Debug, Clone)]
enum Op {
    /// Time passes by this many ms; every deadline up to then fires in order.
    Advance(u64),
    /// callStop.
    Stop,
    /// The handset hangs up a party.
    Hangup(Party),
    /// The callee presses a key.
    Key(char),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..120_000).prop_map(Op::Advance),
        1 => Just(Op::Stop),
        1 => prop_oneof![Just(Party::A), Just(Party::B)].prop_map(Op::Hangup),
        1 => prop::sample::select(vec!['0', '5', '9', '*', '#']).prop_map(Op::Key),
    ]
}

fn ms() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(0u64..200_000)
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        ms().prop_map(|ring_ms| Outcome::Answer {
            ring_ms,
            digits: None,
            dtmf_delay_ms: None,
            dtmf_gap_ms: None,
            talk_s: None,
            hangup_by: None,
        }),
        ms().prop_map(|hangup_after_ms| Outcome::HangupDuringPlayback { hangup_after_ms }),
        ms().prop_map(|hangup_after_ms| Outcome::HangupBeforeBAnswer { hangup_after_ms }),
        Just(Outcome::Busy),
        prop::option::of(0u64..300).prop_map(|s| Outcome::NoAnswer {
            no_answer_after_s: s
        }),
        Just(Outcome::RingTimeout),
        ms().prop_map(|reject_after_ms| Outcome::Rejected { reject_after_ms }),
        Just(Outcome::PoweredOff),
        Just(Outcome::Unreachable),
        Just(Outcome::NotExist),
        Just(Outcome::Blacklisted),
        Just(Outcome::FrequencyControlled {
            scope: FrequencyScope::App
        }),
        Just(Outcome::PortsExhausted),
    ]
}

fn announcement(times: u8, pre_tone_ms: u64, reading_ms: u64) -> Announcement {
    let timings = CallTimings::default();
    let d = Durations {
        pre_tone_ms,
        reading_ms,
        pos_tone_ms: (times > 0).then_some(1800),
    };
    Announcement::plan(d, times, &timings, timings.max_duration_s * 1000)
}

/// What the owner saw: every status event of leg A, and the ending the first time it appeared.
#[derive(Default)]
struct Seen {
    /// Leg A's status events.
    statuses: Vec<(&'static str, SimInstant)>,
    /// A click-to-call's B-leg status events.
    b_statuses: Vec<(&'static str, SimInstant)>,
    ending: Option<Ending>,
}

impl Seen {
    fn drain(&mut self, call: &mut Call) {
        while let Some(effect) = call.poll_effect() {
            if let Effect::Status { event, at, leg } = effect {
                match leg {
                    Leg::A => self.statuses.push((event.name(), at)),
                    Leg::B => self.b_statuses.push((event.name(), at)),
                }
            }
        }
        match (&self.ending, call.ending()) {
            (None, Some(e)) => self.ending = Some(e.clone()),
            (Some(first), now) => assert_eq!(Some(first), now, "the ending changed"),
            (None, None) => {}
        }
    }
}

/// Fires every deadline up to `until`, in order, as the engine's driver does.
fn fire_until(call: &mut Call, seen: &mut Seen, until: SimInstant) {
    let mut guard = 0;
    while let Some(d) = call.next_deadline().filter(|d| *d <= until) {
        call.on_deadline(d);
        seen.drain(call);
        guard += 1;
        assert!(guard < 10_000, "deadlines never stop");
    }
}

proptest! {
    // proptest's default of 256 cases each; PROPTEST_CASES raises it.

    #[test]
    fn any_call_ends_once_with_one_disconnect_and_ordered_times(
        outcome in outcome(),
        // Some: a click-to-call whose B leg does this, with a preVoice of this length.
        callback in prop::option::of((outcome(), prop::option::of(0u64..20_000), any::<bool>(), 0u32..3)),
        times in 0u8..=3,
        pre_tone_ms in 0u64..10_000,
        reading_ms in 1u64..10_000,
        ops in prop::collection::vec(op(), 0..24),
    ) {
        let start = SimInstant(1_000);
        let is_callback = callback.is_some();
        let mut call = match callback {
            None => Call::accept(
                outcome,
                announcement(times, pre_tone_ms, reading_ms),
                &std::sync::Arc::new(CallTimings::default()),
                start,
            ),
            Some((b_outcome, pre_voice_ms, record, max_duration_min)) => Call::accept_callback(
                outcome,
                click2call::Callback {
                    b_outcome,
                    media: click2call::CallbackMedia {
                        pre_voice_ms,
                        record_hint_ms: record.then_some(2_000),
                        record,
                        max_duration_min,
                    },
                    timings: click2call::C2cTimings::default(),
                },
                &std::sync::Arc::new(CallTimings::default()),
                start,
            ),
        };
        let mut seen = Seen::default();
        seen.drain(&mut call);
        let mut now = start;
        for op in ops {
            match op {
                Op::Advance(by) => {
                    now = now.plus_ms(by);
                    fire_until(&mut call, &mut seen, now);
                }
                Op::Stop => {
                    call.stop(now);
                }
                Op::Hangup(party) => {
                    let _ = call.hangup(party, now);
                }
                Op::Key(key) => call.key(key, now),
            }
            seen.drain(&mut call);
        }
        // Then nobody does anything more: the call must still end on its own.
        fire_until(&mut call, &mut seen, SimInstant(u64::MAX / 2));

        prop_assert!(call.next_deadline().is_none());
        let ending = seen.ending.clone();
        prop_assert!(ending.is_some(), "never ended");
        let disconnects = seen.statuses.iter().filter(|(n, _)| *n == "disconnect").count();
        prop_assert_eq!(disconnects, 1, "{:?}", seen.statuses);
        prop_assert_eq!(seen.statuses.last().map(|s| s.0), Some("disconnect"));
        prop_assert!(
            seen.statuses.windows(2).all(|w| w[0].1 <= w[1].1),
            "events out of order: {:?}", seen.statuses
        );
        let t = call.times();
        let end = t.end.expect("an ended call has an end time");
        let mut last = t.accepted;
        for at in [t.callout, t.alerting, t.answer, Some(end)].into_iter().flatten() {
            prop_assert!(last <= at, "times run backwards: {:?}", t);
            last = at;
        }
        prop_assert_eq!(seen.statuses.last().map(|s| s.1), Some(end));
        if is_callback {
            let b = &seen.b_statuses;
            prop_assert!(b.windows(2).all(|w| w[0].1 <= w[1].1), "B out of order: {:?}", b);
            prop_assert!(b.iter().all(|s| s.1 <= end), "B after the end: {:?}", b);
        } else {
            prop_assert!(seen.b_statuses.is_empty());
        }
    }
}
