//! Audio figures, printed, not asserted: start-up with every voice, tone and syllable loaded,
//! the time to compose and render one 8-digit code read 3 times, and the same for the spec's
//! template example.
//!
//! `cargo bench --bench audio` (release profile). Goals from the issues: start-up ≤ 50 ms,
//! rendering ≥ 5000× faster than real time.

#![allow(clippy::disallowed_methods, reason = "a benchmark measures real time")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use dialtone::audio::{self, AnnouncementRequest, AudioLibrary, TtsLanguage};
use dialtone::config::Config;

fn main() {
    let config = Config::embedded();

    let startup = sample(20, || {
        black_box(AudioLibrary::load(&config).expect("the bundled audio loads"));
    });
    println!(
        "start-up (6 voices, 2 tones, 1549 syllables, embedded): median {:.2} ms, min {:.2} ms",
        ms(startup.0),
        ms(startup.1)
    );
    // Syllables are decoded on first use; this is what decoding all of them up front would add.
    let all_syllables = sample(20, || {
        let lib = AudioLibrary::load(&config).expect("the bundled audio loads");
        for pinyin in lib.syllables.pinyins() {
            black_box(lib.syllables.get(pinyin));
        }
    });
    println!(
        "start-up with every syllable decoded: median {:.2} ms, min {:.2} ms",
        ms(all_syllables.0),
        ms(all_syllables.1)
    );

    let library = AudioLibrary::load(&config).expect("the bundled audio loads");
    let request = AnnouncementRequest {
        language: "en",
        app_key: None,
        pre_tone: "welcome.wav",
        code: "48151623",
        times: 3,
        pos_tone: Some("bye.wav"),
    };
    let manifest = audio::compose(&library, &request, &config.call).expect("composes");
    let audio_ms = manifest.end_ms(None);
    let render = sample(200, || {
        let m = audio::compose(&library, black_box(&request), &config.call).expect("composes");
        black_box(audio::render(&m, None));
    });
    let factor = Duration::from_millis(audio_ms).as_secs_f64() / render.0.as_secs_f64();
    println!(
        "compose + render, 8 digits x 3 ({:.3} s of audio): median {:.1} us, min {:.1} us, {:.0}x real time",
        audio_ms as f64 / 1000.0,
        render.0.as_secs_f64() * 1e6,
        render.1.as_secs_f64() * 1e6,
        factor
    );

    let app_key = &config.apps[0].app_key;
    let template = config
        .template(app_key, "tpl_bill")
        .expect("the embedded default has tpl_bill");
    let params = ["张先生".to_owned(), "128.50".to_owned()];
    let playback = |lib: &AudioLibrary| {
        let filled = template.fill(black_box(&params)).expect("the values fit");
        let p = audio::compose_playback(lib, app_key, None, Some(&filled), TtsLanguage::Zh)
            .expect("composes");
        let pcm = audio::render_playbacks(&[(&p, 0)], p.length_ms);
        black_box(pcm);
        p.length_ms
    };
    let tpl_ms = playback(&library);
    let tts = sample(200, || {
        playback(&library);
    });
    println!(
        "fill + compose + render tpl_bill ({:.3} s of audio): median {:.1} us, min {:.1} us, {:.0}x real time",
        tpl_ms as f64 / 1000.0,
        tts.0.as_secs_f64() * 1e6,
        tts.1.as_secs_f64() * 1e6,
        Duration::from_millis(tpl_ms).as_secs_f64() / tts.0.as_secs_f64()
    );

    let pcm = audio::render(&manifest, None);
    let wav = sample(200, || {
        black_box(audio::wav_bytes(black_box(&pcm)).expect("encodes"));
    });
    println!(
        "wav_bytes of it: median {:.1} us",
        wav.0.as_secs_f64() * 1e6
    );
}

/// Runs `f` `n` times; the median and the minimum duration.
fn sample(n: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[n / 2], times[0])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
