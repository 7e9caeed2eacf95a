//! The call state machine, driven as its owner drives it: jump to the next deadline, drain.

use super::announcement::Durations;
use super::*;

fn timings() -> std::sync::Arc<CallTimings> {
    std::sync::Arc::new(CallTimings::default())
}

/// The §5.2 example announcement: welcome 2.4 s, reading 2.9 s, bye 1.8 s, times 3.
fn spec_announcement(times: u8) -> Announcement {
    let d = Durations {
        pre_tone_ms: 2400,
        reading_ms: 2900,
        pos_tone_ms: (times > 0).then_some(1800),
    };
    Announcement::plan(d, times, &timings(), timings().max_duration_s * 1000)
}

/// Runs a call to the end by jumping from deadline to deadline; returns the status events.
fn run(outcome: Outcome, times: u8) -> (Call, Vec<(&'static str, u64)>) {
    let mut call = Call::accept(outcome, spec_announcement(times), &timings(), SimInstant(0));
    let mut seen = Vec::new();
    let mut guard = 0;
    loop {
        while let Some(effect) = call.poll_effect() {
            if let Effect::Status { event, at, .. } = effect {
                seen.push((event.name(), at.ms()));
            }
        }
        let Some(deadline) = call.next_deadline() else {
            break;
        };
        call.on_deadline(deadline);
        guard += 1;
        assert!(guard < 1000, "call never ended");
    }
    (call, seen)
}

fn code_of(call: &Call) -> u32 {
    call.ending().unwrap().state_code.code()
}

#[test]
fn answered_call_follows_the_spec_timeline() {
    let (call, events) = run(Outcome::ANSWER, 3);
    assert_eq!(
        events,
        vec![
            ("callout", 0),
            ("alerting", 2000),
            ("answer", 6000),
            ("disconnect", 22_900)
        ]
    );
    let ending = call.ending().unwrap();
    assert_eq!(
        (ending.state_code, ending.readings, ending.code_ms),
        (StateCode::Released, 3, 8700)
    );
}

#[test]
fn answered_call_notes_each_segment_as_it_starts() {
    let mut call = Call::accept(
        Outcome::ANSWER,
        spec_announcement(2),
        &timings(),
        SimInstant(0),
    );
    let mut playing = Vec::new();
    while let Some(d) = call.next_deadline() {
        call.on_deadline(d);
        while let Some(e) = call.poll_effect() {
            if let Effect::Playing { segment, at } = e {
                playing.push((segment, at.ms()));
            }
        }
    }
    assert_eq!(
        playing,
        vec![
            (SegmentKind::PreTone, 6500),
            (SegmentKind::Code(1), 9400),
            (SegmentKind::Code(2), 13_300),
            (SegmentKind::PosTone, 16_700),
        ]
    );
}

#[test]
fn hangup_mid_code_ends_with_8017_and_counts_the_partial_reading() {
    let (call, events) = run(
        Outcome::HangupDuringPlayback {
            hangup_after_ms: Some(8000),
        },
        3,
    );
    assert_eq!(events.last(), Some(&("disconnect", 14_000)));
    let e = call.ending().unwrap();
    assert_eq!(
        (code_of(&call), e.readings, e.code_ms),
        (8017, 2, 2900 + 700)
    );
}

#[test]
fn hangup_default_is_the_middle_of_the_first_reading() {
    let (call, events) = run(
        Outcome::HangupDuringPlayback {
            hangup_after_ms: None,
        },
        3,
    );
    assert_eq!(events.last(), Some(&("disconnect", 6000 + 4850)));
    assert_eq!(call.ending().unwrap().readings, 1);
}

#[test]
fn a_hangup_after_the_platform_released_changes_nothing() {
    let (call, _) = run(
        Outcome::HangupDuringPlayback {
            hangup_after_ms: Some(60_000),
        },
        3,
    );
    assert_eq!(code_of(&call), 0);
}

#[test]
fn times_zero_repeats_until_the_maximum_duration() {
    let (call, events) = run(Outcome::ANSWER, 0);
    assert_eq!(events.last(), Some(&("disconnect", 6000 + 120_000)));
    assert_eq!(code_of(&call), 8010);
    assert!(call.ending().unwrap().readings > 20);
}

#[test]
fn failures_without_ringing_release_after_the_fail_delay() {
    for (outcome, code) in [
        (Outcome::Busy, 8102),
        (Outcome::PoweredOff, 8104),
        (Outcome::Unreachable, 8103),
        (Outcome::NotExist, 8100),
    ] {
        let (call, events) = run(outcome, 3);
        assert_eq!(events, vec![("callout", 0), ("disconnect", 2000)]);
        assert_eq!(code_of(&call), code);
        assert_eq!(call.times().alerting, None);
    }
}

#[test]
fn ringing_failures_release_at_their_own_time() {
    let cases = [
        (
            Outcome::NoAnswer {
                no_answer_after_s: None,
            },
            2000 + 30_000,
            8101,
        ),
        (
            Outcome::NoAnswer {
                no_answer_after_s: Some(90),
            },
            2000 + 60_000,
            8003,
        ),
        (Outcome::RingTimeout, 2000 + 60_000, 8003),
        (
            Outcome::Rejected {
                reject_after_ms: None,
            },
            2000 + 3000,
            8105,
        ),
        (
            Outcome::Answer {
                ring_ms: Some(61_000),
                digits: None,
                dtmf_delay_ms: None,
                dtmf_gap_ms: None,
                talk_s: None,
                hangup_by: None,
            },
            2000 + 60_000,
            8003,
        ),
    ];
    for (outcome, end, code) in cases {
        let (call, events) = run(outcome.clone(), 3);
        assert_eq!(
            events,
            vec![("callout", 0), ("alerting", 2000), ("disconnect", end)],
            "{outcome:?}"
        );
        assert_eq!(code_of(&call), code, "{outcome:?}");
    }
}

#[test]
fn slow_answer_rings_longer_then_plays_the_code() {
    let (call, events) = run(
        Outcome::Answer {
            ring_ms: Some(20_000),
            digits: None,
            dtmf_delay_ms: None,
            dtmf_gap_ms: None,
            talk_s: None,
            hangup_by: None,
        },
        1,
    );
    assert_eq!(events[2], ("answer", 22_000));
    assert_eq!(code_of(&call), 0);
}

#[test]
fn precall_rejections_push_only_a_disconnect() {
    for (outcome, code) in [
        (Outcome::Blacklisted, 7004),
        (
            Outcome::FrequencyControlled {
                scope: FrequencyScope::Developer,
            },
            7001,
        ),
        (
            Outcome::FrequencyControlled {
                scope: FrequencyScope::App,
            },
            7002,
        ),
        (
            Outcome::FrequencyControlled {
                scope: FrequencyScope::DisplayNumber,
            },
            7003,
        ),
        (Outcome::PortsExhausted, 7109),
    ] {
        let (call, events) = run(outcome, 3);
        assert_eq!(events, vec![("disconnect", 500)]);
        assert_eq!(code_of(&call), code);
        assert_eq!(call.times().callout, None);
    }
}

#[test]
fn a_deadline_not_yet_due_does_nothing() {
    let mut call = Call::accept(
        Outcome::ANSWER,
        spec_announcement(1),
        &timings(),
        SimInstant(0),
    );
    call.poll_effect();
    call.on_deadline(SimInstant(1999));
    assert_eq!(call.poll_effect(), None);
    assert_eq!(call.state(), CallState::Callout);
}

#[test]
fn a_late_wake_up_stamps_events_with_the_deadline() {
    let mut call = Call::accept(
        Outcome::ANSWER,
        spec_announcement(1),
        &timings(),
        SimInstant(0),
    );
    call.poll_effect();
    call.on_deadline(SimInstant(2500));
    assert_eq!(
        call.poll_effect(),
        Some(Effect::Status {
            event: StatusEvent::Alerting,
            leg: Leg::A,
            at: SimInstant(2000)
        })
    );
}

/// Drains the status events a call emitted so far.
fn statuses(call: &mut Call) -> Vec<(&'static str, u64)> {
    let mut seen = Vec::new();
    while let Some(effect) = call.poll_effect() {
        if let Effect::Status { event, at, .. } = effect {
            seen.push((event.name(), at.ms()));
        }
    }
    seen
}

#[test]
fn a_handset_left_ringing_times_out() {
    let (call, events) = run(Outcome::Handset, 3);
    assert_eq!(
        events,
        vec![("callout", 0), ("alerting", 2000), ("disconnect", 62_000)]
    );
    assert_eq!(code_of(&call), 8003);
}

#[test]
fn a_handset_answers_when_the_person_does_and_hangs_up_mid_code() {
    let mut call = Call::accept(
        Outcome::Handset,
        spec_announcement(3),
        &timings(),
        SimInstant(0),
    );
    assert_eq!(
        call.pick_up(click2call::Party::A, SimInstant(1000)),
        Err(NotRinging)
    );
    call.on_deadline(SimInstant(2000));
    call.pick_up(click2call::Party::A, SimInstant(5000))
        .unwrap();
    assert_eq!(
        call.pick_up(click2call::Party::A, SimInstant(5000)),
        Err(NotRinging)
    );
    assert_eq!(
        call.reject(click2call::Party::A, SimInstant(6000)),
        Err(NotRinging)
    );
    call.hangup(click2call::Party::A, SimInstant(9000)).unwrap();
    assert_eq!(
        statuses(&mut call),
        vec![
            ("callout", 0),
            ("alerting", 2000),
            ("answer", 5000),
            ("disconnect", 9000)
        ]
    );
    assert_eq!(code_of(&call), 8017);
}

#[test]
fn a_handset_rejects_while_ringing() {
    let mut call = Call::accept(
        Outcome::Handset,
        spec_announcement(3),
        &timings(),
        SimInstant(0),
    );
    call.on_deadline(SimInstant(2000));
    call.reject(click2call::Party::A, SimInstant(2500)).unwrap();
    assert_eq!(statuses(&mut call).last(), Some(&("disconnect", 2500)));
    assert_eq!(code_of(&call), 8105);
    assert_eq!(call.next_deadline(), None);
}
