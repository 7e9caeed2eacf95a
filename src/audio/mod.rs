//! The audio the callee hears: clips, the announcement laid out from them, and its rendering.
//!
//! - [`voices`]: the bundled voices (`voices/<tag>/`), embedded in the binary and parsed once.
//! - [`tones`]: the tone library: bundled `welcome.wav`/`bye.wav`, a `tones.dir` folder and each
//!   app's `tones`; user WAVs are converted to the telephony format on load.
//! - [`syllables`]: the Mandarin syllable clips of template TTS (embedded by `build.rs`).
//! - [`templates`]: templates' own recordings (`{text, audio}`), cut into their fixed-text pieces.
//! - [`compose`]: a callVerify request → a [`Manifest`]: every clip with its offset from answer.
//! - [`tts`]: template text → syllable, digit and letter clips with pauses (spec §11.2).
//! - [`playback`]: a callnotify `playInfoList` entry → a [`Playback`]: voice file and template.
//! - [`render`]: a manifest or playbacks → PCM samples → WAV bytes.
//! - `play` (cargo feature `play`): `dialtone play` through the speakers.
//!
//! Everything is 8 kHz, 16-bit, mono PCM ([`SAMPLE_RATE`]). A clip lasts `ceil(samples / 8)` ms
//! and is padded with silence to that whole ms, so every manifest offset × [`SAMPLES_PER_MS`] is
//! an exact sample position. [`AudioLibrary::load`] reads everything at start-up and reports
//! the first problem as an [`AudioError`] naming the file; after that, composing only clones
//! `Arc`s and rendering allocates only its output. This module knows nothing of calls or HTTP:
//! the engine turns a manifest into its plan with [`Manifest::to_announcement`].

use std::path::Path;
use std::sync::Arc;

use crate::config::Config;

pub mod compose;
#[cfg(feature = "play")]
pub mod play;
pub mod playback;
pub mod recording;
pub mod render;
pub mod syllables;
pub mod templates;
pub mod tones;
pub mod tts;
pub mod voices;

pub use compose::{compose, AnnouncementRequest, Manifest, ManifestSegment, Part};
pub use playback::{compose_playback, ComposeError, Playback};
pub use render::{render, render_playbacks, wav_bytes};
pub use syllables::Syllables;
pub use templates::TemplateRecordings;
pub use tones::ToneLibrary;
pub use tts::{TtsLanguage, TtsSettings};
pub use voices::{Voice, Voices};

/// The telephony sample rate every clip and every rendering uses.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples per millisecond at [`SAMPLE_RATE`].
pub const SAMPLES_PER_MS: u64 = SAMPLE_RATE as u64 / 1000;

/// One prerecorded piece of audio in the telephony format, shared by every manifest using it.
#[derive(Debug, PartialEq, Eq)]
pub struct Clip {
    /// Where it comes from, as shown in manifests: `en/4.wav`, `tones/welcome.wav`.
    pub name: String,
    /// What the callee hears: `four`, `welcome tone`.
    pub text: String,
    /// 8 kHz mono samples.
    pub samples: Vec<i16>,
}

impl Clip {
    /// Playing time in whole ms, rounded up; the renderer pads the rest with silence.
    pub fn duration_ms(&self) -> u64 {
        (self.samples.len() as u64).div_ceil(SAMPLES_PER_MS)
    }
}

/// What can go wrong loading clips or composing an announcement. Load errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a readable WAV file: {reason}")]
    NotWav { path: String, reason: String },
    #[error("`{path}` is {found}; bundled clips must be 8000 Hz 16-bit mono PCM")]
    Format { path: String, found: String },
    #[error("`{path}` holds no audio")]
    Empty { path: String },
    #[error("`{path}`: only .wav files belong in the tone folder (tones.dir)")]
    NotWavName { path: String },
    #[error("voice `{voice}`: {problem}")]
    Voice { voice: String, problem: String },
    #[error("languages.{language_type}: no voice `{tag}` (voices: {known})")]
    NoVoiceForLanguage {
        language_type: String,
        tag: String,
        known: String,
    },
    #[error("no voice `{0}`")]
    UnknownVoice(String),
    #[error("no tone `{0}` (bundled: welcome.wav, bye.wav; more via tones.dir or apps[].tones)")]
    UnknownTone(String),
    #[error("the code `{0}` is not 1 or more digits 0-9")]
    BadCode(String),
    #[error("cannot encode WAV: {0}")]
    Encode(String),
    #[error("cannot play: {0}")]
    Playback(String),
    #[error("cannot fetch the call's audio from {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("template `{template}` ({path}): {problem}")]
    TemplateAudio {
        template: String,
        path: String,
        problem: String,
    },
}

/// Every clip Dialtone can play: loaded once at start-up, then shared read-only.
#[derive(Debug)]
pub struct AudioLibrary {
    pub voices: Voices,
    pub tones: ToneLibrary,
    /// The Mandarin syllables of template TTS.
    pub syllables: Syllables,
    /// Templates' own recordings, by app.
    pub templates: TemplateRecordings,
}

impl AudioLibrary {
    /// The bundled voices, tones and syllables only (no files read).
    pub fn bundled() -> Result<AudioLibrary, AudioError> {
        Ok(AudioLibrary {
            voices: Voices::bundled()?,
            tones: ToneLibrary::bundled()?,
            syllables: Syllables::bundled()?,
            templates: TemplateRecordings::default(),
        })
    }

    /// Loads everything `config` names: the bundled voices, tones and syllables, `tones.dir`,
    /// every app's `tones` and every template's own recording. Call once at start-up; the error
    /// names the first bad file, or a `languages` entry without a voice.
    pub fn load(config: &Config) -> Result<AudioLibrary, AudioError> {
        let voices = Voices::bundled()?;
        for (language_type, tag) in &config.languages {
            if voices.get(tag).is_none() {
                return Err(AudioError::NoVoiceForLanguage {
                    language_type: language_type.clone(),
                    tag: tag.clone(),
                    known: voices.tags().collect::<Vec<_>>().join(", "),
                });
            }
        }
        Ok(AudioLibrary {
            voices,
            tones: ToneLibrary::load(config)?,
            syllables: Syllables::bundled()?,
            templates: TemplateRecordings::load(config)?,
        })
    }
}

fn path_string(path: &Path) -> String {
    path.display().to_string()
}

/// Shared by the loaders: a clip from already checked samples.
fn clip(name: String, text: String, samples: Vec<i16>) -> Arc<Clip> {
    Arc::new(Clip {
        name,
        text,
        samples,
    })
}
