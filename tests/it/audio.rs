//! What the callee hears: the announcement sets the call's timing, the CDR counts it, and
//! `audio.wav` is the rendered audio, cut where the callee hung up.

use serde_json::{json, Value};

use crate::helpers::*;

fn clip(path: &str) -> Vec<i16> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("voices")
        .join(path);
    hound::WavReader::open(file)
        .unwrap()
        .into_samples::<i16>()
        .map(Result::unwrap)
        .collect()
}

async fn manifest(sim: &TestSim, session: &str) -> Value {
    sim.get(&format!("/sim/v1/calls/{session}/announcement"))
        .await
        .body
}

#[tokio::test]
async fn answer_to_disconnect_lasts_the_announcement_and_the_cdr_counts_its_readings() {
    let sim = TestSim::start().await;
    let session = sim.place_call(&verify_body("31415926")).await;
    sim.advance("2m").await;
    let announcement = manifest(&sim, &session).await;
    let release_ms = announcement["manifest"]["release_ms"].as_u64().unwrap();
    let timeline = sim.call(&session).await["timeline"].clone();
    let at = |event: &str| {
        timeline
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"] == event)
            .unwrap()["at_ms"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(at("disconnect") - at("answer"), release_ms);
    assert_eq!(announcement["heard_ms"], release_ms);

    let segments = announcement["manifest"]["segments"].as_array().unwrap();
    let reading_ms: u64 = segments
        .iter()
        .filter(|s| s["part"].get("reading").is_some())
        .map(|s| s["end_ms"].as_u64().unwrap() - s["start_ms"].as_u64().unwrap())
        .sum();
    let pushes = sim.receiver.pushes_of(&session).await;
    let cdr = pushes.last().unwrap().cdr_of(&session).unwrap().clone();
    assert_eq!(cdr["ttsPlayTimes"], 3);
    // Code audio is counted from each reading's first clip to its last, gaps included.
    let spans: Vec<(u64, u64)> = (1..=3)
        .map(|n| {
            let parts: Vec<&Value> = segments
                .iter()
                .filter(|s| s["part"] == json!({"reading": n}))
                .collect();
            (
                parts[0]["start_ms"].as_u64().unwrap(),
                parts.last().unwrap()["end_ms"].as_u64().unwrap(),
            )
        })
        .collect();
    let code_ms: u64 = spans.iter().map(|(a, b)| b - a).sum();
    assert!(code_ms >= reading_ms);
    assert_eq!(cdr["ttsTransDuration"], code_ms.div_ceil(1000));
    // Eight digits and the intro, in English, three times.
    assert_eq!(
        segments
            .iter()
            .filter(|s| s["clip"] == "en/intro.wav")
            .count(),
        3
    );
    assert_eq!(
        segments.iter().filter(|s| s["clip"] == "en/1.wav").count(),
        6
    );
}

#[tokio::test]
async fn the_audio_is_silence_then_the_welcome_tone_sample_for_sample_and_lasts_to_the_release() {
    let sim = TestSim::start().await;
    let session = sim.place_call(&verify_body("4827")).await;
    sim.advance("1m").await;
    let (spec, samples) = audio_wav(&sim, &session).await;
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16)
    );
    let release_ms = manifest(&sim, &session).await["manifest"]["release_ms"]
        .as_u64()
        .unwrap();
    assert_eq!(samples.len() as u64, release_ms * 8);
    // call.media_start_ms (500 ms) of silence, then welcome.wav exactly as bundled.
    assert!(samples[..4000].iter().all(|s| *s == 0));
    let welcome = clip("tones/welcome.wav");
    assert_eq!(&samples[4000..4000 + welcome.len()], &welcome[..]);
    // The first digit of reading 1 is en/4.wav, at its manifest offset.
    let announcement = manifest(&sim, &session).await;
    let four = announcement["manifest"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["clip"] == "en/4.wav")
        .unwrap()
        .clone();
    let at = four["start_ms"].as_u64().unwrap() as usize * 8;
    let digit = clip("en/4.wav");
    assert_eq!(&samples[at..at + digit.len()], &digit[..]);
}

#[tokio::test]
async fn a_callee_who_hangs_up_mid_code_heard_the_audio_only_up_to_there() {
    let sim = TestSim::start().await;
    let full = sim.place_call(&verify_body("4827")).await;
    sim.set_phone(
        CALLEE,
        r#"{"outcome":"hangup_during_playback","hangup_after_ms":4000}"#,
    )
    .await;
    let cut = sim.place_call(&verify_body("4827")).await;
    sim.advance("1m").await;
    let (_, whole) = audio_wav(&sim, &full).await;
    let (_, heard) = audio_wav(&sim, &cut).await;
    assert_eq!(heard.len(), 4000 * 8);
    assert_eq!(&heard[..], &whole[..heard.len()]);
    assert_eq!(manifest(&sim, &cut).await["heard_ms"], 4000);
}

#[tokio::test]
async fn an_unanswered_call_has_no_audio_and_chinese_calls_speak_mandarin() {
    let sim = TestSim::start().await;
    sim.set_phone(CALLEE, r#"{"outcome":"busy"}"#).await;
    let busy = sim.place_call(&verify_body("12")).await;
    let mut zh = verify_body("12");
    zh["languageType"] = json!(1);
    zh["calleeNbr"] = json!("+8613900002222");
    let mandarin = sim.place_call(&zh).await;
    sim.advance("1m").await;
    assert!(audio_wav(&sim, &busy).await.1.is_empty());
    let announcement = manifest(&sim, &mandarin).await;
    assert_eq!(announcement["manifest"]["language"], "zh");
    let clips: Vec<&str> = announcement["manifest"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["clip"].as_str().unwrap())
        .collect();
    assert!(
        clips.contains(&"zh/1.wav") && clips.contains(&"zh/intro.wav"),
        "{clips:?}"
    );
}

#[tokio::test]
async fn audio_of_an_unknown_call_is_404() {
    let sim = TestSim::start().await;
    assert_eq!(sim.get("/sim/v1/calls/nope/announcement").await.status, 404);
}
