//! The bundled voices: `voices/<tag>/` embedded in the binary with `include_bytes!`, so Dialtone
//! speaks wherever it runs, with no path lookup.
//!
//! [`Voices::bundled`] parses every clip once and checks it is in the telephony format (8 kHz,
//! 16-bit, mono PCM; `voices/README.md` says how they are made) and that the voice has every
//! clip the announcement uses: `0.wav`…`9.wav` and `intro.wav`; `repeat.wav` is optional (only
//! `zh` has one). The words said come from the voice's `voice.toml`. Adding a voice is one line
//! in [`BUNDLED`]; a unit test fails if a folder under `voices/` is not embedded.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use serde::Deserialize;

use super::{AudioError, Clip, SAMPLE_RATE};

/// One embedded voice: its folder name, its `voice.toml`, and its clips by file name.
struct Bundled {
    tag: &'static str,
    manifest: &'static str,
    clips: &'static [(&'static str, &'static [u8])],
}

macro_rules! clip_file {
    ($tag:literal, $file:literal) => {
        (
            $file,
            include_bytes!(concat!("../../voices/", $tag, "/", $file)).as_slice(),
        )
    };
}

/// The standard clip set of a voice, plus any extra prompts it has.
macro_rules! bundled_voice {
    ($tag:literal $(, $extra:literal)*) => {
        Bundled {
            tag: $tag,
            manifest: include_str!(concat!("../../voices/", $tag, "/voice.toml")),
            clips: &[
                clip_file!($tag, "0.wav"),
                clip_file!($tag, "1.wav"),
                clip_file!($tag, "2.wav"),
                clip_file!($tag, "3.wav"),
                clip_file!($tag, "4.wav"),
                clip_file!($tag, "5.wav"),
                clip_file!($tag, "6.wav"),
                clip_file!($tag, "7.wav"),
                clip_file!($tag, "8.wav"),
                clip_file!($tag, "9.wav"),
                clip_file!($tag, "intro.wav"),
                clip_file!($tag, "goodbye.wav"),
                $(clip_file!($tag, $extra),)*
            ],
        }
    };
}

const BUNDLED: &[Bundled] = &[
    bundled_voice!("en"),
    bundled_voice!("es"),
    bundled_voice!("fr"),
    bundled_voice!("it"),
    bundled_voice!("ru"),
    bundled_voice!("zh", "repeat.wav"),
];

/// The part of `voice.toml` Dialtone uses; the rest (licence, credit, sources) is documentation.
#[derive(Deserialize)]
struct VoiceToml {
    tag: String,
    name: String,
    language_type: i64,
    clips: BTreeMap<String, ClipToml>,
}

#[derive(Deserialize)]
struct ClipToml {
    text: String,
}

/// A voice: the digits and prompts of one language.
#[derive(Debug)]
pub struct Voice {
    /// The folder name, which `languages` maps `languageType` values to: `en`, `zh`.
    pub tag: String,
    /// Who speaks, from `voice.toml`.
    pub name: String,
    /// The `languageType` the default configuration maps to this voice.
    pub language_type: i64,
    digits: [Arc<Clip>; 10],
    intro: Arc<Clip>,
    repeat: Option<Arc<Clip>>,
    all: Vec<Arc<Clip>>,
}

impl Voice {
    /// The clip of an ASCII digit `b'0'`…`b'9'`; `None` for anything else.
    pub fn digit(&self, ascii: u8) -> Option<&Arc<Clip>> {
        ascii
            .checked_sub(b'0')
            .and_then(|d| self.digits.get(usize::from(d)))
    }

    /// `intro.wav`, said before the code ("Your password is").
    pub fn intro(&self) -> &Arc<Clip> {
        &self.intro
    }

    /// `repeat.wav`, said before the code is read again ("我再说一遍"), if the voice has one.
    pub fn repeat(&self) -> Option<&Arc<Clip>> {
        self.repeat.as_ref()
    }

    /// Every clip of the voice, `goodbye.wav` included, sorted by file name.
    pub fn clips(&self) -> impl Iterator<Item = &Arc<Clip>> {
        self.all.iter()
    }
}

/// Every voice, by tag.
#[derive(Debug)]
pub struct Voices {
    voices: BTreeMap<String, Voice>,
}

impl Voices {
    /// Parses the embedded voices. Fails only if `voices/` was regenerated into something
    /// invalid, which the unit tests catch first; the error names the clip.
    pub fn bundled() -> Result<Voices, AudioError> {
        let voices = BUNDLED
            .iter()
            .map(|b| Ok((b.tag.to_owned(), parse_voice(b)?)))
            .collect::<Result<_, AudioError>>()?;
        Ok(Voices { voices })
    }

    /// The voice with this tag (`en`), if bundled.
    pub fn get(&self, tag: &str) -> Option<&Voice> {
        self.voices.get(tag)
    }

    /// The tags of every voice, sorted.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.voices.keys().map(String::as_str)
    }

    /// Every voice, by tag.
    pub fn iter(&self) -> impl Iterator<Item = &Voice> {
        self.voices.values()
    }
}

fn parse_voice(b: &Bundled) -> Result<Voice, AudioError> {
    let problem = |problem: String| AudioError::Voice {
        voice: b.tag.to_owned(),
        problem,
    };
    let toml: VoiceToml =
        toml::from_str(b.manifest).map_err(|e| problem(format!("voice.toml: {}", e.message())))?;
    if toml.tag != b.tag {
        return Err(problem(format!(
            "voice.toml says tag `{}`, the folder is `{}`",
            toml.tag, b.tag
        )));
    }
    let mut clips = BTreeMap::new();
    for &(file, bytes) in b.clips {
        let name = format!("{}/{file}", b.tag);
        let text = match toml.clips.get(file) {
            Some(c) => c.text.clone(),
            None => {
                return Err(problem(format!(
                    "voice.toml has no [clips] entry for {file}"
                )))
            }
        };
        let samples = read_telephony_wav(bytes, &name)?;
        clips.insert(file, super::clip(name, text, samples));
    }
    if let Some(file) = toml.clips.keys().find(|f| !clips.contains_key(f.as_str())) {
        return Err(problem(format!(
            "voice.toml lists {file}, which is not embedded"
        )));
    }
    let take = |file: &str| {
        clips
            .get(file)
            .cloned()
            .ok_or_else(|| problem(format!("{file} is missing")))
    };
    let digits = [
        take("0.wav")?,
        take("1.wav")?,
        take("2.wav")?,
        take("3.wav")?,
        take("4.wav")?,
        take("5.wav")?,
        take("6.wav")?,
        take("7.wav")?,
        take("8.wav")?,
        take("9.wav")?,
    ];
    Ok(Voice {
        tag: toml.tag,
        name: toml.name,
        language_type: toml.language_type,
        intro: take("intro.wav")?,
        repeat: clips.get("repeat.wav").cloned(),
        digits,
        all: clips.into_values().collect(),
    })
}

/// Reads a WAV that must already be in the telephony format (bundled clips and tones): the
/// samples, or an error naming `name` and what is wrong.
pub(crate) fn read_telephony_wav(bytes: &[u8], name: &str) -> Result<Vec<i16>, AudioError> {
    let not_wav = |e: hound::Error| AudioError::NotWav {
        path: name.to_owned(),
        reason: e.to_string(),
    };
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(not_wav)?;
    let spec = reader.spec();
    if (
        spec.channels,
        spec.sample_rate,
        spec.bits_per_sample,
        spec.sample_format,
    ) != (1, SAMPLE_RATE, 16, hound::SampleFormat::Int)
    {
        return Err(AudioError::Format {
            path: name.to_owned(),
            found: format!(
                "{} Hz {}-bit {} {}-channel",
                spec.sample_rate,
                spec.bits_per_sample,
                match spec.sample_format {
                    hound::SampleFormat::Int => "PCM",
                    hound::SampleFormat::Float => "float",
                },
                spec.channels
            ),
        });
    }
    let samples = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(not_wav)?;
    if samples.is_empty() {
        return Err(AudioError::Empty {
            path: name.to_owned(),
        });
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::SAMPLES_PER_MS;

    fn voices() -> Voices {
        Voices::bundled().expect("the bundled voices load")
    }

    #[test]
    fn every_voice_folder_is_embedded_with_every_wav_in_it() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("voices");
        let mut folders = Vec::new();
        for entry in std::fs::read_dir(&root).unwrap() {
            let path = entry.unwrap().path();
            if !path.join("voice.toml").is_file() {
                continue;
            }
            let tag = path.file_name().unwrap().to_str().unwrap().to_owned();
            let bundled = BUNDLED.iter().find(|b| b.tag == tag);
            let bundled = bundled.unwrap_or_else(|| panic!("voices/{tag} is not in BUNDLED"));
            let mut on_disk: Vec<String> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|f| f.ends_with(".wav"))
                .collect();
            on_disk.sort();
            let mut embedded: Vec<String> =
                bundled.clips.iter().map(|(f, _)| f.to_string()).collect();
            embedded.sort();
            assert_eq!(on_disk, embedded, "voices/{tag}");
            folders.push(tag);
        }
        folders.sort();
        assert_eq!(folders, voices().tags().collect::<Vec<_>>());
    }

    #[test]
    fn every_voice_has_ten_digits_and_an_intro_and_zh_a_repeat() {
        let v = voices();
        assert_eq!(
            v.tags().collect::<Vec<_>>(),
            ["en", "es", "fr", "it", "ru", "zh"]
        );
        for voice in v.iter() {
            for d in b'0'..=b'9' {
                let clip = voice.digit(d).expect("digit");
                assert_eq!(clip.name, format!("{}/{}.wav", voice.tag, char::from(d)));
                assert!(!clip.text.is_empty());
            }
            assert!(voice.digit(b'a').is_none() && voice.digit(b'/').is_none());
            assert_eq!(voice.intro().name, format!("{}/intro.wav", voice.tag));
            assert_eq!(voice.repeat().is_some(), voice.tag == "zh", "{}", voice.tag);
            assert_eq!(voice.clips().count(), 12 + usize::from(voice.tag == "zh"));
        }
        let en = v.get("en").unwrap();
        assert_eq!(en.digit(b'4').unwrap().text, "four");
        assert_eq!(en.intro().text, "Your password is");
        assert_eq!(en.language_type, 2);
        assert_eq!(v.get("zh").unwrap().repeat().unwrap().text, "我再说一遍");
    }

    /// Loudness as `voices/README.md` promises: RMS −20 dBFS ± 1 dB, peak ≤ −1 dBFS, measured
    /// like `sox stats` (full scale = 32768).
    #[test]
    fn every_bundled_clip_is_telephony_format_and_within_loudness_bounds() {
        let v = voices();
        let tones = crate::audio::ToneLibrary::bundled().unwrap();
        let clips = v
            .iter()
            .flat_map(Voice::clips)
            .chain(tones.shared().map(|(_, c)| c));
        let mut n = 0;
        for clip in clips {
            n += 1;
            let s = &clip.samples;
            assert!(
                s.len() as u64 >= 100 * SAMPLES_PER_MS,
                "{} too short",
                clip.name
            );
            let sum_sq: f64 = s.iter().map(|&x| (f64::from(x) / 32768.0).powi(2)).sum();
            let rms_db = 10.0 * (sum_sq / s.len() as f64).log10();
            let peak = s.iter().map(|&x| i32::from(x).abs()).max().unwrap();
            let peak_db = 20.0 * (f64::from(peak) / 32768.0).log10();
            assert!(
                (rms_db + 20.0).abs() <= 1.0,
                "{}: RMS {rms_db:.2} dBFS",
                clip.name
            );
            assert!(peak_db <= -1.0, "{}: peak {peak_db:.2} dBFS", clip.name);
        }
        assert_eq!(n, 6 * 12 + 1 + 2);
    }

    #[test]
    fn a_clip_in_another_format_is_refused_naming_it() {
        let mut w = Vec::new();
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::new(Cursor::new(&mut w), spec).unwrap();
        writer.write_sample(0i16).unwrap();
        writer.write_sample(0i16).unwrap();
        writer.finalize().unwrap();
        let e = read_telephony_wav(&w, "xx/1.wav").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`xx/1.wav` is 44100 Hz 16-bit PCM 2-channel; bundled clips must be 8000 Hz 16-bit mono PCM"
        );
        let e = read_telephony_wav(b"RIFF....", "xx/2.wav").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("`xx/2.wav` is not a readable WAV file"),
            "{e}"
        );
    }
}
