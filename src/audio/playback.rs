//! One `playInfoList` entry of a voice notification (spec §11.1) as the callee hears it: a
//! [`Playback`], every clip with its offset from the entry's start, composed by
//! [`compose_playback`] from an approved voice file and/or a filled template.
//!
//! The engine lays the entries of a call out in time (gaps, collections, replays) and renders
//! them with [`super::render::render_playbacks`]. This module knows nothing of calls: it only
//! turns text and names into clips.

use std::sync::Arc;

use serde::Serialize;

use super::tts::{Speaker, Spoken, TtsLanguage, SENTENCE_PAUSE_MS};
use super::{AudioError, AudioLibrary, Clip, ManifestSegment, Part};
use crate::call::template::{FilledPiece, FilledTemplate};

/// One `playInfoList` entry as the callee hears it: clips with offsets from the entry's start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Playback {
    /// Clips in playing order, never overlapping; the first starts at 0.
    pub pieces: Vec<ManifestSegment>,
    /// Where the last clip ends: the entry's playing time.
    pub length_ms: u64,
    /// Template speech only (first to last template clip, pauses included): what
    /// `ttsTransDuration` counts (spec §11.5). 0 without a template.
    pub tts_ms: u64,
    /// Whether the entry plays a template (`ttsPlayTimes` counts it, spec §11.5).
    pub has_template: bool,
    /// The template id, if any.
    pub template_id: Option<String>,
    /// The filled template text in full, skipped characters included (spec §11.2: it appears in
    /// the manifest).
    pub text: Option<String>,
    /// The TTS language of the template's speech.
    pub language: Option<TtsLanguage>,
}

/// Why an entry cannot be composed. The API validates names and templates first, so for a
/// request it accepted only a library loaded from another configuration fails here.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("no tone `{0}` is approved for the app")]
    UnknownVoice(String),
    #[error("template `{0}` has its own recording, which this audio library did not load")]
    TemplateAudioNotLoaded(String),
    #[error("nothing to play: neither a voice file nor a template")]
    Empty,
    #[error(transparent)]
    Audio(#[from] AudioError),
}

/// Composes one entry: the voice file `voice` (an approved tone name, the app's own first), then
/// after a [`SENTENCE_PAUSE_MS`] pause the `template` spoken in `language` (spec §11.1 decision:
/// with both, the voice plays first). Fixed text is spoken by TTS ([`super::tts`]) or played from
/// the template's own recording ([`super::templates`]); the values always by TTS. Leading and
/// trailing pauses of the template are dropped.
///
/// Errors: [`ComposeError::UnknownVoice`] for a tone the app may not use,
/// [`ComposeError::Empty`] with neither, [`ComposeError::TemplateAudioNotLoaded`] if `lib` was
/// loaded from a configuration without the template's recording.
pub fn compose_playback(
    lib: &AudioLibrary,
    app_key: &str,
    voice: Option<&str>,
    template: Option<&FilledTemplate>,
    language: TtsLanguage,
) -> Result<Playback, ComposeError> {
    if voice.is_none() && template.is_none() {
        return Err(ComposeError::Empty);
    }
    let mut out = Layout::default();
    if let Some(name) = voice {
        let clip = lib
            .tones
            .get(Some(app_key), name)
            .ok_or_else(|| ComposeError::UnknownVoice(name.to_owned()))?;
        out.play(clip, Part::Voice, None);
        out.pause(SENTENCE_PAUSE_MS);
    }
    let mut tts_ms = 0;
    if let Some(filled) = template {
        let speaker = Speaker::new(lib, language)?;
        let recording = if filled.has_own_audio() {
            let r = lib.templates.get(app_key, filled.id());
            Some(r.ok_or_else(|| ComposeError::TemplateAudioNotLoaded(filled.id().to_owned()))?)
        } else {
            None
        };
        let first = out.pieces.len();
        let (mut fixed, mut value) = (0, 0u32);
        for piece in filled.pieces() {
            let mut spoken = Vec::new();
            let part = match piece {
                FilledPiece::Fixed(text) => {
                    fixed += 1;
                    match recording {
                        Some(r) => {
                            if let Some(clip) = &r.pieces[fixed - 1] {
                                spoken.push(Spoken::Clip {
                                    clip: clip.clone(),
                                    reads: text.clone(),
                                });
                            }
                        }
                        None => speaker.text(text, &mut spoken),
                    }
                    Part::Template
                }
                FilledPiece::Value { variable, value: v } => {
                    value += 1;
                    speaker.value(*variable, v, &mut spoken);
                    Part::Variable(value)
                }
            };
            for s in spoken {
                match s {
                    Spoken::Clip { clip, reads } => out.play(&clip, part, Some(reads)),
                    Spoken::Pause(ms) => out.pause(ms),
                }
            }
        }
        if let Some(start) = out.pieces.get(first).map(|p| p.start_ms) {
            tts_ms = out.at - start;
        }
    }
    Ok(Playback {
        length_ms: out.at,
        pieces: out.pieces,
        tts_ms,
        has_template: template.is_some(),
        template_id: template.map(|t| t.id().to_owned()),
        text: template.map(|t| t.text().to_owned()),
        language: template.map(|_| language),
    })
}

/// Clips placed back to back; a pause waits until the next clip, so trailing pauses vanish and a
/// run of pauses counts as its longest.
#[derive(Default)]
struct Layout {
    pieces: Vec<ManifestSegment>,
    at: u64,
    pending_pause: u64,
}

impl Layout {
    fn play(&mut self, clip: &Arc<Clip>, part: Part, reads: Option<String>) {
        if !self.pieces.is_empty() {
            self.at = self.at.saturating_add(self.pending_pause);
        }
        self.pending_pause = 0;
        let end_ms = self.at.saturating_add(clip.duration_ms());
        // A reading that is the clip's own text (a recording's piece) is not repeated.
        let reads = reads.filter(|r| *r != clip.text);
        self.pieces.push(ManifestSegment {
            clip: clip.clone(),
            part,
            reads,
            start_ms: self.at,
            end_ms,
        });
        self.at = end_ms;
    }

    fn pause(&mut self, ms: u64) {
        self.pending_pause = self.pending_pause.max(ms);
    }
}

/// A human summary: length, template and text, then one line per clip with what it reads.
impl std::fmt::Display for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |ms: u64| format!("{}.{:03}", ms / 1000, ms % 1000);
        write!(f, "{} s", secs(self.length_ms))?;
        if let (Some(id), Some(text)) = (&self.template_id, &self.text) {
            let language = self.language.map_or("", TtsLanguage::voice_tag);
            write!(
                f,
                ", template {id} ({} s of TTS, {language}): {text}",
                secs(self.tts_ms)
            )?;
        }
        writeln!(f)?;
        for s in &self.pieces {
            let part = match s.part {
                Part::Voice => "voice".to_owned(),
                Part::Template => "template".to_owned(),
                Part::Variable(n) => format!("value {n}"),
                Part::PreTone => "preTone".to_owned(),
                Part::Reading(n) => format!("reading {n}"),
                Part::PosTone => "posTone".to_owned(),
            };
            writeln!(
                f,
                "  {:>8} - {:>8}  {part:<8} {:<26} {}",
                secs(s.start_ms),
                secs(s.end_ms),
                s.clip.name,
                s.text()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::template::Template;
    use crate::config::Config;

    const APP: &str = "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z";
    const BILL: &str = "尊敬的${TXT_8}，您本月账单${TXT_10}元已出，重听请按1，确认请按2。";

    fn lib() -> AudioLibrary {
        AudioLibrary::load(&Config::embedded()).unwrap()
    }

    fn filled(content: &str, params: &[&str]) -> FilledTemplate {
        let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
        Template::parse("t", content)
            .unwrap()
            .fill(&params)
            .unwrap()
    }

    fn texts(p: &Playback) -> String {
        p.pieces
            .iter()
            .map(|s| s.text().to_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_spec_example_reads_every_character_digit_and_point_with_pauses_at_the_commas() {
        let lib = lib();
        let t = filled(BILL, &["张先生", "128.50"]);
        let p = compose_playback(&lib, APP, None, Some(&t), TtsLanguage::Zh).unwrap();
        assert_eq!(
            texts(&p),
            "尊 敬 的 张 先 生 您 本 月 账 单 1 2 8 . 5 0 元 已 出 重 听 请 按 1 确 认 请 按 2"
        );
        let parts: Vec<Part> = p.pieces.iter().map(|s| s.part).collect();
        assert_eq!(
            parts[..6],
            [
                Part::Template,
                Part::Template,
                Part::Template,
                Part::Variable(1),
                Part::Variable(1),
                Part::Variable(1)
            ]
        );
        assert_eq!(parts[11..17], [Part::Variable(2); 6]);
        assert_eq!(p.pieces[0].start_ms, 0);
        // Back to back, except a 150 ms pause at each comma; the final 。 adds nothing.
        let gaps: Vec<u64> = p
            .pieces
            .windows(2)
            .map(|w| w[1].start_ms - w[0].end_ms)
            .filter(|&g| g > 0)
            .collect();
        assert_eq!(gaps, [150, 150, 150]);
        assert_eq!(p.length_ms, p.pieces.last().unwrap().end_ms);
        assert_eq!(p.tts_ms, p.length_ms);
        assert!(p.has_template);
        assert_eq!(p.template_id.as_deref(), Some("t"));
        assert_eq!(
            p.text.as_deref(),
            Some("尊敬的张先生，您本月账单128.50元已出，重听请按1，确认请按2。")
        );
        let clips: Vec<&str> = p.pieces.iter().map(|s| s.clip.name.as_str()).collect();
        assert_eq!(clips[0], "zh/syllables/zun1.wav");
        assert_eq!(
            clips[11..17],
            [
                "zh/1.wav",
                "zh/2.wav",
                "zh/8.wav",
                "zh/syllables/dian3.wav",
                "zh/5.wav",
                "zh/0.wav"
            ]
        );
    }

    #[test]
    fn a_voice_file_plays_first_then_the_template_after_a_pause() {
        let lib = lib();
        let t = filled("您好${NUM_2}", &["42"]);
        let p =
            compose_playback(&lib, APP, Some("welcome.wav"), Some(&t), TtsLanguage::En).unwrap();
        let welcome = lib.tones.get(None, "welcome.wav").unwrap();
        assert_eq!(p.pieces[0].clip, *welcome);
        assert_eq!(p.pieces[0].part, Part::Voice);
        assert_eq!(
            p.pieces[1].start_ms,
            welcome.duration_ms() + SENTENCE_PAUSE_MS
        );
        assert_eq!(texts(&p), "welcome tone 您 好 4 2");
        assert_eq!(p.pieces[3].clip.name, "en/4.wav");
        assert_eq!(p.tts_ms, p.length_ms - p.pieces[1].start_ms);

        let only = compose_playback(&lib, APP, Some("bye.wav"), None, TtsLanguage::Zh).unwrap();
        assert_eq!(only.pieces.len(), 1);
        assert_eq!((only.tts_ms, only.has_template), (0, false));
        assert_eq!(
            only.length_ms,
            lib.tones.get(None, "bye.wav").unwrap().duration_ms()
        );
        assert_eq!(only.text, None);
    }

    #[test]
    fn leading_and_repeated_pauses_collapse() {
        let lib = lib();
        let t = filled("，，好！？${TXT_4}。", &["a b"]);
        let p = compose_playback(&lib, APP, None, Some(&t), TtsLanguage::Zh).unwrap();
        assert_eq!(texts(&p), "好 a b");
        assert_eq!(p.pieces[0].start_ms, 0);
        assert_eq!(p.pieces[1].start_ms - p.pieces[0].end_ms, SENTENCE_PAUSE_MS);
        assert_eq!(p.pieces[2].start_ms - p.pieces[1].end_ms, 150);
        assert_eq!(p.length_ms, p.pieces[2].end_ms);
    }

    #[test]
    fn a_templates_own_recording_plays_the_fixed_text_with_the_values_spoken_at_the_cuts() {
        let dir = std::env::temp_dir().join(format!("dialtone-playback-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wav = dir.join("rec.wav");
        // 1.2 s of a 300 Hz tone, half scale.
        let samples: Vec<i16> = (0..9600)
            .map(|i| ((i as f64 * 300.0 / 8000.0 * std::f64::consts::TAU).sin() * 16000.0) as i16)
            .collect();
        std::fs::write(&wav, crate::audio::wav_bytes(&samples).unwrap()).unwrap();
        let file = dir.join("d.toml");
        let config = crate::config::EMBEDDED_DEFAULT.replace(
            "[developers.templates]\n",
            "[developers.templates]\nrec = { text = \"您的${NUM_2}号，${TXT_4}。\", audio = \"rec.wav\", cuts_ms = [500, 1000] }\n",
        );
        std::fs::write(&file, config).unwrap();
        let config = Config::load(&file).unwrap();
        let lib = AudioLibrary::load(&config);
        let _ = std::fs::remove_dir_all(&dir);
        let lib = lib.unwrap();

        let template = config.template(APP, "rec").unwrap();
        let filled = template.fill(&["42".into(), "好".into()]).unwrap();
        let p = compose_playback(&lib, APP, None, Some(&filled), TtsLanguage::Zh).unwrap();
        let shown: Vec<(String, Part)> = p
            .pieces
            .iter()
            .map(|s| (format!("{} {}", s.clip.name, s.text()), s.part))
            .collect();
        assert_eq!(
            shown,
            [
                ("templates/rec.wav#1 您的".into(), Part::Template),
                ("zh/4.wav 4".into(), Part::Variable(1)),
                ("zh/2.wav 2".into(), Part::Variable(1)),
                ("templates/rec.wav#2 号，".into(), Part::Template),
                ("zh/syllables/hao3.wav 好".into(), Part::Variable(2)),
                ("templates/rec.wav#3 。".into(), Part::Template),
            ]
        );
        // The recording's pieces follow one another with the values between, no pauses added.
        let lengths: Vec<u64> = p.pieces.iter().map(|s| s.end_ms - s.start_ms).collect();
        assert_eq!([lengths[0], lengths[3], lengths[5]], [500, 500, 200]);
        assert!(p.pieces.windows(2).all(|w| w[0].end_ms == w[1].start_ms));
        assert_eq!(p.pieces[0].clip.samples, samples[..4000]);
        assert_eq!(p.tts_ms, p.length_ms);
        // Another app of another developer does not have it.
        assert!(lib.templates.get("other", "rec").is_none());
    }

    #[test]
    fn refusals() {
        let lib = lib();
        let e = compose_playback(&lib, APP, Some("promo.wav"), None, TtsLanguage::Zh).unwrap_err();
        assert_eq!(e.to_string(), "no tone `promo.wav` is approved for the app");
        let e = compose_playback(&lib, APP, None, None, TtsLanguage::Zh).unwrap_err();
        assert!(matches!(e, ComposeError::Empty));
        let own = Template::parse("rec", "您好${NUM_2}")
            .unwrap()
            .with_audio(crate::call::template::TemplateAudio {
                path: "x.wav".into(),
                cuts_ms: None,
            })
            .unwrap()
            .fill(&["1".into()])
            .unwrap();
        let e = compose_playback(&lib, APP, None, Some(&own), TtsLanguage::Zh).unwrap_err();
        assert!(
            matches!(e, ComposeError::TemplateAudioNotLoaded(ref id) if id == "rec"),
            "{e}"
        );
    }

    #[test]
    fn the_playback_serializes_its_pieces_with_what_they_read() {
        let lib = lib();
        let t = filled("张${NUM_1}", &["7"]);
        let p = compose_playback(&lib, APP, None, Some(&t), TtsLanguage::Zh).unwrap();
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["pieces"][0]["clip"], "zh/syllables/zhang1.wav");
        assert_eq!(json["pieces"][0]["text"], "张");
        assert_eq!(json["pieces"][0]["part"], "template");
        assert_eq!(json["pieces"][1]["text"], "7");
        assert_eq!(
            json["pieces"][1]["part"],
            serde_json::json!({"variable": 1})
        );
        assert_eq!(json["language"], "zh");
        assert_eq!(json["text"], "张7");
        assert_eq!(json["tts_ms"], p.tts_ms);
    }
}
