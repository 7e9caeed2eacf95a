//! The tone library: what `preTone` and `posTone` name (spec §4.1, "Tones").
//!
//! Three sources, loaded once by [`ToneLibrary::load`]:
//! - the bundled `welcome.wav` and `bye.wav` (embedded), approved for every app;
//! - every `.wav` in the folder `tones.dir`, approved for every app (Dialtone decision: a shared
//!   library is what a team testing several apps wants; a file named like a bundled tone
//!   replaces it);
//! - each app's `tones` map (name → file), approved for that app only, shadowing the shared ones.
//!
//! User files may be any WAV that rodio's decoder (symphonia) reads: PCM of any width, float,
//! A-law or µ-law, any rate from 4 kHz to 384 kHz, any channel count. They are converted on load
//! to the telephony format: channels averaged to mono, resampled to 8 kHz, rounded to 16 bits.
//! Levels are kept as they are. A file that cannot be read is a start-up error naming it.
//!
//! Dialtone decision: in `tones.dir`, hidden files (`.DS_Store`) and sub-folders are skipped;
//! any other file not ending in `.wav` is an error, so a mistyped `promo.wv` is not silently
//! left out.
//!
//! Why resampling and down-mixing are written here rather than taken from rodio: rodio 0.23's
//! `UniformSourceIterator` down-mixes by keeping the first channel (dropping the rest) and
//! resamples by linear interpolation without a low-pass filter, so a 44.1 kHz chime folds its
//! content above 4 kHz back into the telephone band as audible aliasing. [`resample`] is a
//! windowed-sinc filter, about 40 lines; rodio still does the decoding, which is the hard part.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rodio::Source;
use serde::Deserialize;

use super::voices::read_telephony_wav;
use super::{path_string, AudioError, Clip, SAMPLE_RATE};
use crate::config::Config;

const BUNDLED_MANIFEST: &str = include_str!("../../voices/tones/tones.toml");
const BUNDLED: &[(&str, &[u8])] = &[
    (
        "welcome.wav",
        include_bytes!("../../voices/tones/welcome.wav"),
    ),
    ("bye.wav", include_bytes!("../../voices/tones/bye.wav")),
];

/// User files at sample rates outside this range are refused: nothing real is recorded there,
/// and an absurd header rate must not make the resampler allocate gigabytes.
const RATES: std::ops::RangeInclusive<u32> = 4_000..=384_000;

#[derive(Deserialize)]
struct TonesToml {
    tones: BTreeMap<String, ToneToml>,
}

#[derive(Deserialize)]
struct ToneToml {
    name: String,
}

/// Every approved tone, converted and ready to play.
#[derive(Debug, Default)]
pub struct ToneLibrary {
    /// Approved for every app: bundled, then `tones.dir`.
    shared: BTreeMap<String, Arc<Clip>>,
    /// `apps[].tones`, by app key, then tone name.
    apps: BTreeMap<String, BTreeMap<String, Arc<Clip>>>,
}

impl ToneLibrary {
    /// The bundled `welcome.wav` and `bye.wav` only.
    pub fn bundled() -> Result<ToneLibrary, AudioError> {
        let manifest: TonesToml =
            toml::from_str(BUNDLED_MANIFEST).map_err(|e| AudioError::Voice {
                voice: "tones".into(),
                problem: format!("tones.toml: {}", e.message()),
            })?;
        let mut shared = BTreeMap::new();
        for &(file, bytes) in BUNDLED {
            let name = format!("tones/{file}");
            let text = match manifest.tones.get(file) {
                Some(t) => format!("{} tone", t.name),
                None => tone_text(file),
            };
            let samples = read_telephony_wav(bytes, &name)?;
            shared.insert(file.to_owned(), super::clip(name, text, samples));
        }
        Ok(ToneLibrary {
            shared,
            apps: BTreeMap::new(),
        })
    }

    /// The bundled tones, every `.wav` in `tones.dir` and every app's `tones`. Call once at
    /// start-up: it reads and converts every file, and the error names the first bad one. A
    /// file named by several apps is read once.
    pub fn load(config: &Config) -> Result<ToneLibrary, AudioError> {
        let mut lib = ToneLibrary::bundled()?;
        let mut by_path: BTreeMap<PathBuf, Arc<Clip>> = BTreeMap::new();
        let mut load = |name: &str, path: &Path| -> Result<Arc<Clip>, AudioError> {
            if let Some(c) = by_path.get(path) {
                return Ok(c.clone());
            }
            let c = Arc::new(load_tone_file(name, path)?);
            by_path.insert(path.to_owned(), c.clone());
            Ok(c)
        };
        if let Some(dir) = &config.tones.dir {
            for (name, path) in tone_files(dir)? {
                let clip = load(&name, &path)?;
                lib.shared.insert(name, clip);
            }
        }
        for app in &config.apps {
            let mut own = BTreeMap::new();
            for (name, path) in &app.tones {
                own.insert(name.clone(), load(name, path)?);
            }
            if !own.is_empty() {
                lib.apps.insert(app.app_key.clone(), own);
            }
        }
        Ok(lib)
    }

    /// The tone `name` as `app_key` may use it: the app's own first, then the shared ones.
    /// `None` means the tone is not approved for that app (spec §4.2 step 4: `1010002`).
    pub fn get(&self, app_key: Option<&str>, name: &str) -> Option<&Arc<Clip>> {
        app_key
            .and_then(|k| self.apps.get(k))
            .and_then(|own| own.get(name))
            .or_else(|| self.shared.get(name))
    }

    /// Whether `app_key` may name the tone `name` in `preTone`/`posTone`.
    pub fn is_approved(&self, app_key: &str, name: &str) -> bool {
        self.get(Some(app_key), name).is_some()
    }

    /// The tones approved for every app, by name.
    pub fn shared(&self) -> impl Iterator<Item = (&str, &Arc<Clip>)> {
        self.shared.iter().map(|(n, c)| (n.as_str(), c))
    }
}

/// The `.wav` files of a tone folder, by file name; see the module docs for what is skipped.
fn tone_files(dir: &Path) -> Result<BTreeMap<String, PathBuf>, AudioError> {
    let io = |path: &Path| {
        let path = path_string(path);
        move |source| AudioError::Io { path, source }
    };
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let hidden = entry.file_name().as_encoded_bytes().starts_with(b".");
        if hidden || path.is_dir() {
            continue;
        }
        match entry.file_name().to_str() {
            Some(name) if name.to_ascii_lowercase().ends_with(".wav") => {
                files.insert(name.to_owned(), path);
            }
            _ => {
                return Err(AudioError::NotWavName {
                    path: path_string(&path),
                })
            }
        }
    }
    Ok(files)
}

/// Reads a user tone file and converts it to the telephony format. `name` is the tone name
/// (`promo.wav`); errors name the file path.
pub fn load_tone_file(name: &str, path: &Path) -> Result<Clip, AudioError> {
    let bytes = std::fs::read(path).map_err(|source| AudioError::Io {
        path: path_string(path),
        source,
    })?;
    Ok(Clip {
        name: format!("tones/{name}"),
        text: tone_text(name),
        samples: convert(bytes, &path_string(path))?,
    })
}

/// `promo.wav` → `promo tone`.
fn tone_text(name: &str) -> String {
    let stem = name.get(..name.len().saturating_sub(4)).unwrap_or(name);
    format!("{stem} tone")
}

/// Decodes any WAV rodio reads and converts it to 8 kHz 16-bit mono. `path` is for errors.
pub fn convert(bytes: Vec<u8>, path: &str) -> Result<Vec<i16>, AudioError> {
    let not_wav = |reason: String| AudioError::NotWav {
        path: path.to_owned(),
        reason,
    };
    let decoder = rodio::Decoder::new_wav(Cursor::new(bytes)).map_err(|e| not_wav(reason(&e)))?;
    let channels = usize::from(decoder.channels().get());
    let rate = decoder.sample_rate().get();
    if !RATES.contains(&rate) {
        return Err(not_wav(format!(
            "a sample rate of {rate} Hz is not supported (4000-384000 Hz)"
        )));
    }
    let interleaved: Vec<f32> = decoder.collect();
    let mono: Vec<f32> = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    if mono.is_empty() {
        return Err(AudioError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(resample(&mono, rate, SAMPLE_RATE)
        .into_iter()
        // rodio maps i16 to f32 as x / 32768, so this is exact for 16-bit input.
        .map(|x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect())
}

fn reason(e: &rodio::decoder::DecoderError) -> String {
    use rodio::decoder::DecoderError as E;
    match e {
        E::UnrecognizedFormat => "the data is not a WAV encoding Dialtone can decode".into(),
        E::IoError(detail) => format!("read error: {detail}"),
        other => other.to_string(),
    }
}

/// Zero crossings of the sinc on each side of the centre: the filter's length and sharpness.
const ZERO_CROSSINGS: f64 = 16.0;
/// The pass band ends this fraction of the way to the lower Nyquist frequency.
const ROLLOFF: f64 = 0.92;

/// Band-limited resampling from `from` Hz to `to` Hz: a Blackman-windowed sinc low-pass at the
/// lower of the two Nyquist frequencies, evaluated as a polyphase table (the output positions
/// fall on `to / gcd` distinct fractional offsets, so the kernel is computed once per offset).
fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to {
        return input.to_vec();
    }
    let g = gcd(from, to);
    let (up, down) = (u64::from(to / g), u64::from(from / g));
    // Cut-off in cycles per input sample.
    let cutoff = 0.5 * (f64::from(to) / f64::from(from)).min(1.0) * ROLLOFF;
    let reach = (ZERO_CROSSINGS / (2.0 * cutoff)).ceil() as i64;
    let taps = (2 * reach) as usize;
    // table[phase][j]: weight of input sample `i - reach + 1 + j` for an output at `i + phase/up`.
    let table: Vec<f32> = (0..up)
        .flat_map(|phase| {
            let frac = phase as f64 / up as f64;
            (0..taps).map(move |j| {
                let d = (j as i64 - reach + 1) as f64 - frac;
                kernel(d, cutoff, reach as f64) as f32
            })
        })
        .collect();
    let out_len = (input.len() as u64 * up).div_ceil(down);
    (0..out_len)
        .map(|n| {
            let pos = n * down;
            let (i, phase) = ((pos / up) as i64, (pos % up) as usize);
            let weights = &table[phase * taps..(phase + 1) * taps];
            let first = i - reach + 1;
            weights
                .iter()
                .enumerate()
                .filter_map(|(j, w)| {
                    let k = usize::try_from(first + j as i64).ok()?;
                    input.get(k).map(|x| x * w)
                })
                .sum()
        })
        .collect()
}

/// The windowed-sinc low-pass kernel at `d` input samples from the centre; its taps sum to ~1.
fn kernel(d: f64, cutoff: f64, half_width: f64) -> f64 {
    use std::f64::consts::PI;
    if d.abs() >= half_width {
        return 0.0;
    }
    let x = 2.0 * cutoff * d;
    let sinc = if x == 0.0 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    };
    let t = d / half_width;
    let blackman = 0.42 + 0.5 * (PI * t).cos() + 0.08 * (2.0 * PI * t).cos();
    2.0 * cutoff * sinc * blackman
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(label: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("dialtone-tones-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write_wav(path: &Path, rate: u32, channels: u16, frames: &[Vec<i16>]) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for frame in frames {
            for &s in frame {
                w.write_sample(s).unwrap();
            }
        }
        w.finalize().unwrap();
    }

    fn sine(freq: f64, rate: u32, n: usize, amplitude: f64) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (amplitude * (2.0 * std::f64::consts::PI * freq * t).sin() * 32767.0).round() as i16
            })
            .collect()
    }

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
    }

    fn config_with(dir: Option<&Path>, app_tones: &[(&str, &Path)]) -> Config {
        let mut c = Config::embedded();
        c.tones.dir = dir.map(Path::to_owned);
        c.apps[0].tones = app_tones
            .iter()
            .map(|(n, p)| (n.to_string(), p.to_path_buf()))
            .collect();
        c
    }

    #[test]
    fn the_bundled_tones_are_welcome_and_bye() {
        let lib = ToneLibrary::bundled().unwrap();
        let names: Vec<_> = lib.shared().map(|(n, _)| n).collect();
        assert_eq!(names, ["bye.wav", "welcome.wav"]);
        let welcome = lib.get(None, "welcome.wav").unwrap();
        assert_eq!(
            (welcome.name.as_str(), welcome.text.as_str()),
            ("tones/welcome.wav", "welcome tone")
        );
        assert!(lib.get(None, "promo.wav").is_none());
    }

    #[test]
    fn a_44k1_stereo_wav_is_down_mixed_and_resampled_to_8k_mono() {
        let tmp = TempDir::new("stereo");
        let path = tmp.0.join("promo.wav");
        // Left 440 Hz at half scale, right silent: the mono mix is 440 Hz at quarter scale.
        let left = sine(440.0, 44_100, 44_100, 0.5);
        let frames: Vec<Vec<i16>> = left.iter().map(|&l| vec![l, 0]).collect();
        write_wav(&path, 44_100, 2, &frames);

        let clip = load_tone_file("promo.wav", &path).unwrap();
        assert_eq!(
            (clip.name.as_str(), clip.text.as_str()),
            ("tones/promo.wav", "promo tone")
        );
        assert_eq!(clip.samples.len(), 8000);
        assert_eq!(clip.duration_ms(), 1000);
        // Away from the edges, the output is the same sine sampled at 8 kHz.
        let expected = sine(440.0, 8000, 8000, 0.25);
        let mid = 200..7800;
        let err = clip.samples[mid.clone()]
            .iter()
            .zip(&expected[mid])
            .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
            .max()
            .unwrap();
        assert!(err <= 40, "max deviation {err} of 8192");
    }

    #[test]
    fn content_above_4khz_is_filtered_out_not_aliased() {
        let tmp = TempDir::new("alias");
        let path = tmp.0.join("hiss.wav");
        // 6 kHz would alias to 2 kHz if decimated without a low-pass.
        let s = sine(6000.0, 48_000, 48_000, 0.5);
        let frames: Vec<Vec<i16>> = s.iter().map(|&x| vec![x]).collect();
        write_wav(&path, 48_000, 1, &frames);
        let clip = load_tone_file("hiss.wav", &path).unwrap();
        assert_eq!(clip.samples.len(), 8000);
        let level = rms(&clip.samples[200..7800]) / rms(&s);
        assert!(level < 0.01, "6 kHz leaks through at {level}");
    }

    #[test]
    fn a_telephony_wav_passes_through_bit_exact() {
        let tmp = TempDir::new("exact");
        let path = tmp.0.join("same.wav");
        let s = sine(1000.0, 8000, 4004, 0.3);
        let frames: Vec<Vec<i16>> = s.iter().map(|&x| vec![x]).collect();
        write_wav(&path, 8000, 1, &frames);
        let clip = load_tone_file("same.wav", &path).unwrap();
        assert_eq!(clip.samples, s);
        assert_eq!(clip.duration_ms(), 501);
    }

    #[test]
    fn the_folder_adds_tones_for_every_app_and_an_app_map_for_that_app_only() {
        let tmp = TempDir::new("lib");
        let dir = tmp.0.join("lib");
        std::fs::create_dir(&dir).unwrap();
        let frames: Vec<Vec<i16>> = sine(500.0, 16_000, 1600, 0.2)
            .into_iter()
            .map(|x| vec![x])
            .collect();
        write_wav(&dir.join("promo.wav"), 16_000, 1, &frames);
        write_wav(&dir.join("welcome.wav"), 16_000, 1, &frames);
        std::fs::write(dir.join(".DS_Store"), b"junk").unwrap();
        std::fs::create_dir(dir.join("old")).unwrap();
        let own = tmp.0.join("vip.wav");
        write_wav(&own, 16_000, 1, &frames);

        let config = config_with(Some(&dir), &[("vip.wav", &own)]);
        let key = config.apps[0].app_key.clone();
        let lib = ToneLibrary::load(&config).unwrap();
        let names: Vec<_> = lib.shared().map(|(n, _)| n).collect();
        assert_eq!(names, ["bye.wav", "promo.wav", "welcome.wav"]);
        // The folder's welcome.wav replaced the bundled one: 1600 samples at 16 kHz → 800.
        assert_eq!(lib.get(None, "welcome.wav").unwrap().samples.len(), 800);
        assert!(lib.is_approved(&key, "promo.wav"));
        assert!(lib.is_approved(&key, "vip.wav"));
        assert!(!lib.is_approved("another-app", "vip.wav"));
        assert!(lib.get(None, "vip.wav").is_none());
    }

    #[test]
    fn a_corrupt_file_in_the_tone_folder_is_a_start_up_error_naming_it() {
        let tmp = TempDir::new("corrupt");
        let path = tmp.0.join("broken.wav");
        // Deterministic garbage: a small LCG, no RNG needed.
        let mut x: u32 = 12345;
        let junk: Vec<u8> = (0..4096)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) as u8
            })
            .collect();
        std::fs::write(&path, junk).unwrap();
        let e = ToneLibrary::load(&config_with(Some(&tmp.0), &[])).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "`{}` is not a readable WAV file: ",
                path.display()
            )),
            "{text}"
        );
    }

    #[test]
    fn a_non_wav_file_in_the_tone_folder_is_a_start_up_error_naming_it() {
        let tmp = TempDir::new("notwav");
        // A text file with a .wav name, and a file that is not .wav at all.
        let fake = tmp.0.join("fake.wav");
        std::fs::write(&fake, "this is not audio\n").unwrap();
        let e = ToneLibrary::load(&config_with(Some(&tmp.0), &[])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("`{}` is not a readable WAV file", fake.display())),
            "{e}"
        );
        std::fs::remove_file(&fake).unwrap();
        let notes = tmp.0.join("notes.txt");
        std::fs::write(&notes, "hello").unwrap();
        let e = ToneLibrary::load(&config_with(Some(&tmp.0), &[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "`{}`: only .wav files belong in the tone folder (tones.dir)",
                notes.display()
            )
        );
    }

    #[test]
    fn an_app_tone_that_is_empty_or_unreadable_is_named() {
        let tmp = TempDir::new("app");
        let empty = tmp.0.join("empty.wav");
        write_wav(&empty, 8000, 1, &[]);
        let e = ToneLibrary::load(&config_with(None, &[("empty.wav", &empty)])).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("`{}` holds no audio", empty.display())
        );
        let missing = tmp.0.join("missing.wav");
        let e = ToneLibrary::load(&config_with(None, &[("m.wav", &missing)])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("cannot read `{}`: ", missing.display())),
            "{e}"
        );
    }

    #[test]
    fn the_resampler_keeps_dc_level_and_length() {
        let out = resample(&[0.5; 441], 44_100, 8000);
        assert_eq!(out.len(), 80);
        assert!(
            out[20..60].iter().all(|x| (x - 0.5).abs() < 0.002),
            "{out:?}"
        );
        let up = resample(&[0.25; 300], 6000, 8000);
        assert_eq!(up.len(), 400);
        assert!(up[50..350].iter().all(|x| (x - 0.25).abs() < 0.002));
    }
}
