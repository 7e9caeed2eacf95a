//! `dialtone render` and `dialtone play`, run as the real binary: what a user gets offline.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dialtone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dialtone"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the dialtone binary runs")
}

/// A fresh folder for one test under Cargo's scratch dir.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("render-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn render_writes_an_8k_mono_wav_of_the_announcement_and_its_manifest() {
    let dir = scratch("wav");
    let wav = dir.join("code.wav");
    let out = dialtone(&[
        "render",
        "--code",
        "4815",
        "--lang",
        "en",
        "--times",
        "2",
        "--pos-tone",
        "bye.wav",
        "--json",
        "-o",
        wav.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let manifest: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON manifest");
    let segments = manifest["segments"].as_array().unwrap();
    let clips: Vec<&str> = segments
        .iter()
        .map(|s| s["clip"].as_str().unwrap())
        .collect();
    assert_eq!(clips.first(), Some(&"tones/welcome.wav"));
    assert_eq!(clips.last(), Some(&"tones/bye.wav"));
    assert_eq!(clips.iter().filter(|c| **c == "en/intro.wav").count(), 2);
    assert_eq!(segments[2]["text"], "four");
    assert_eq!(segments[0]["start_ms"], 500);

    let reader = hound::WavReader::open(&wav).expect("a WAV file");
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16)
    );
    let release_ms = manifest["release_ms"].as_u64().unwrap();
    assert_eq!(u64::from(reader.duration()), release_ms * 8);
}

#[test]
fn render_prints_a_summary_and_takes_a_language_type_for_lang() {
    let dir = scratch("lang");
    let by_tag = dir.join("en.wav");
    let by_type = dir.join("2.wav");
    let out = dialtone(&[
        "render",
        "--code",
        "27",
        "--lang",
        "en",
        "-o",
        by_tag.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("3 reading(s)"), "{summary}");
    assert!(summary.contains("en/intro.wav"), "{summary}");
    assert!(summary.contains("Your password is"), "{summary}");
    let out = dialtone(&[
        "render",
        "--code",
        "27",
        "--lang",
        "2",
        "-o",
        by_type.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(by_tag).unwrap(),
        std::fs::read(by_type).unwrap()
    );
}

#[test]
fn render_until_ms_prints_only_what_the_cut_wav_holds() {
    let dir = scratch("until");
    let wav = dir.join("cut.wav");
    let out = dialtone(&[
        "render",
        "--code",
        "4815",
        "--until-ms",
        "5000",
        "-o",
        wav.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("5.000 s from answer"), "{summary}");
    assert!(
        summary.contains("4.540 -    5.000"),
        "the clip cut at 5 s: {summary}"
    );
    assert!(
        !summary.contains("en/8.wav"),
        "nothing after the cut: {summary}"
    );
}

#[test]
fn render_refuses_an_unknown_language_a_bad_code_or_an_unapproved_tone() {
    let dir = scratch("bad");
    let wav = dir.join("x.wav");
    let wav = wav.to_str().unwrap();
    for (args, reason) in [
        (
            ["--code", "12", "--lang", "9"],
            "languageType 9 is not in the config's `languages`",
        ),
        (["--code", "12", "--lang", "de"], "no voice `de`"),
        (
            ["--code", "4a", "--lang", "en"],
            "the code `4a` is not 1 or more digits 0-9",
        ),
        (
            ["--code", "12", "--pre-tone", "promo.wav"],
            "no tone `promo.wav`",
        ),
    ] {
        let out = dialtone(&[&["render", "-o", wav][..], &args[..]].concat());
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains(reason),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert!(!Path::new(wav).exists(), "nothing is written on error");
}

#[test]
fn a_corrupt_file_in_the_tone_folder_stops_start_up_naming_it() {
    let dir = scratch("tones");
    std::fs::create_dir(dir.join("tones")).unwrap();
    let broken = dir.join("tones").join("broken.wav");
    std::fs::write(&broken, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
    let config = dir.join("dialtone.toml");
    let text_config = format!(
        "{}\n[tones]\ndir = \"tones\"\n",
        dialtone::config::EMBEDDED_DEFAULT
    );
    std::fs::write(&config, text_config).unwrap();
    let wav = dir.join("x.wav");
    let out = dialtone(&[
        "render",
        "--code",
        "12",
        "--config",
        config.to_str().unwrap(),
        "-o",
        wav.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "`{}` is not a readable WAV file",
            broken.display()
        )),
        "{stderr}"
    );
}

/// The committed sample is what `render --template` makes today, byte for byte: TTS is
/// deterministic. After a deliberate change to the clips or the reading rules, regenerate it with
/// `cargo run -- render --template tpl_bill --param 张先生 --param 128.50 -o fixtures/tts/tpl_bill.wav`.
#[test]
fn rendering_the_bill_template_reproduces_the_committed_sample_byte_for_byte() {
    let dir = scratch("tpl-bill");
    let wav = dir.join("tpl_bill.wav");
    let args = [
        "render",
        "--template",
        "tpl_bill",
        "--param",
        "张先生",
        "--param",
        "128.50",
    ];
    let out = dialtone(&[&args[..], &["-o", wav.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tts/tpl_bill.wav");
    let (rendered, committed) = (std::fs::read(&wav).unwrap(), std::fs::read(sample).unwrap());
    assert_eq!(rendered.len(), committed.len(), "length differs");
    assert!(
        rendered == committed,
        "fixtures/tts/tpl_bill.wav differs from a fresh rendering"
    );
    let summary = text(&out.stdout);
    assert!(
        summary.contains("template tpl_bill")
            && summary.contains("尊敬的张先生，您本月账单128.50元已出"),
        "{summary}"
    );
}

#[test]
fn render_template_prints_each_piece_with_what_it_reads_and_plays_a_voice_first() {
    let dir = scratch("tpl-json");
    let wav = dir.join("t.wav");
    let out = dialtone(&[
        "render",
        "--template",
        "tpl_bill",
        "--param",
        "Li",
        "--param",
        "9",
        "--voice",
        "welcome.wav",
        "--lang",
        "en",
        "--json",
        "-o",
        wav.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let playback: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let pieces = playback["pieces"].as_array().unwrap();
    let shown: Vec<(&str, &str)> = pieces
        .iter()
        .map(|p| (p["clip"].as_str().unwrap(), p["text"].as_str().unwrap()))
        .collect();
    assert_eq!(shown[0], ("tones/welcome.wav", "welcome tone"));
    assert_eq!(pieces[0]["part"], "voice");
    assert_eq!(shown[1], ("zh/syllables/zun1.wav", "尊"));
    assert_eq!(pieces[1]["part"], "template");
    // "Li": L spelled ai2 le4, i as ai4; then 9 from the English voice.
    assert_eq!(
        shown[4..7],
        [
            ("zh/syllables/ai2.wav", "L"),
            ("zh/syllables/le4.wav", "L"),
            ("zh/syllables/ai4.wav", "i")
        ]
    );
    assert_eq!(pieces[4]["part"], serde_json::json!({"variable": 1}));
    assert!(shown.contains(&("en/9.wav", "9")), "{shown:?}");
    assert_eq!(playback["language"], "en");
    assert_eq!(
        playback["text"],
        "尊敬的Li，您本月账单9元已出，重听请按1，确认请按2。"
    );
    let length_ms = playback["length_ms"].as_u64().unwrap();
    assert!(playback["tts_ms"].as_u64().unwrap() < length_ms);
    let reader = hound::WavReader::open(&wav).expect("a WAV file");
    assert_eq!(u64::from(reader.duration()), length_ms * 8);
}

#[test]
fn render_template_refuses_values_that_do_not_fit_and_unknown_templates() {
    let dir = scratch("tpl-bad");
    let wav = dir.join("x.wav");
    let wav = wav.to_str().unwrap();
    for (args, reason) in [
        (
            &["--template", "tpl_bill", "--param", "张先生"][..],
            "the template has 2 variable(s), 1 value(s) were given",
        ),
        (
            &["--template", "tpl_bill", "--param", "张先生", "--param", "一二三四五六七八九十一"],
            "${TXT_10} of templateParas does not meet template.",
        ),
        (
            &["--template", "tpl_nope"],
            "no template `tpl_nope` for app k3VdT9wQx2LpR7mN4sB8cY1fHj6Z (its developer's templates: tpl_bill)",
        ),
        (
            &["--template", "tpl_bill", "--param", "a", "--param", "b", "--lang", "fr"],
            "--lang `fr`: template speech is zh or en",
        ),
        (
            &["--template", "tpl_bill", "--param", "a", "--param", "b", "--voice", "promo.wav"],
            "no tone `promo.wav` is approved for the app",
        ),
        (&["--param", "a"], "--template"),
    ] {
        let out = dialtone(&[&["render", "-o", wav][..], args].concat());
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out.stderr).contains(reason), "{args:?}: {}", text(&out.stderr));
    }
    assert!(!Path::new(wav).exists(), "nothing is written on error");
}

#[cfg(not(feature = "play"))]
#[test]
fn play_without_the_play_feature_says_how_to_get_it() {
    let out = dialtone(&["play", "code.wav"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--features play"),
        "{}",
        text(&out.stderr)
    );
}
