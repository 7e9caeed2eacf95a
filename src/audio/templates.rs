//! Templates' own recordings (`developers[].templates.<id> = {text, audio}`, spec §11.2 and
//! §15): the WAV replaces the TTS of the template's fixed text, and the variables are spoken
//! between its pieces.
//!
//! A recording is cut into one piece per fixed text of the template (one more than the variables;
//! see [`Template::texts`]): piece k plays where text k would be spoken, then variable k. The
//! cuts are the template's `cuts_ms` (ms from the start of the recording, one per variable) or,
//! without them, Dialtone decision: the fixed texts' proportional points, each text getting a
//! share of the recording in proportion to its characters (a recording of
//! `尊敬的${TXT_8}，您本月账单${TXT_10}元已出…` 25 characters of fixed text long is cut at 3/25 and
//! 9/25 of its length). Set `cuts_ms` when that lands mid-word.
//!
//! Files are any WAV Dialtone reads, converted like tones ([`super::tones::convert`]); each file
//! is read once. All apps of the developer share the template (spec §11.2), so the recordings are
//! listed per app, like the tones. A file that cannot be read, or a cut past its end, is a
//! start-up error naming the file and the template.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::{path_string, AudioError, Clip, SAMPLES_PER_MS};
use crate::call::template::{Template, TemplateAudio};
use crate::config::Config;

/// A template's recording cut into the pieces of its fixed text.
#[derive(Debug, PartialEq, Eq)]
pub struct Recording {
    /// One per fixed text of the template, in order; `None` where the piece is empty (a cut at
    /// the very start, two equal cuts).
    pub pieces: Vec<Option<Arc<Clip>>>,
}

/// Every template recording, by app and template id.
#[derive(Debug, Default)]
pub struct TemplateRecordings {
    apps: BTreeMap<String, BTreeMap<String, Arc<Recording>>>,
}

impl TemplateRecordings {
    /// Reads and cuts the recording of every template in `config` that has one. Call once at
    /// start-up; the error names the first bad file.
    pub fn load(config: &Config) -> Result<TemplateRecordings, AudioError> {
        let mut files: BTreeMap<PathBuf, Vec<i16>> = BTreeMap::new();
        let mut lib = TemplateRecordings::default();
        for developer in &config.developers {
            let mut own = BTreeMap::new();
            for (id, template) in &developer.templates {
                let Some(audio) = template.audio() else {
                    continue;
                };
                if !files.contains_key(&audio.path) {
                    let bytes = std::fs::read(&audio.path).map_err(|source| AudioError::Io {
                        path: path_string(&audio.path),
                        source,
                    })?;
                    let samples = super::tones::convert(bytes, &path_string(&audio.path))?;
                    files.insert(audio.path.clone(), samples);
                }
                let samples = &files[&audio.path];
                own.insert(id.clone(), Arc::new(cut(template, audio, samples)?));
            }
            if own.is_empty() {
                continue;
            }
            for app in config
                .apps
                .iter()
                .filter(|a| a.developer == developer.sp_id)
            {
                lib.apps.insert(app.app_key.clone(), own.clone());
            }
        }
        Ok(lib)
    }

    /// The recording of template `id` as `app_key` uses it, if the template has one.
    pub fn get(&self, app_key: &str, id: &str) -> Option<&Arc<Recording>> {
        self.apps.get(app_key).and_then(|own| own.get(id))
    }
}

/// Cuts `samples` (the converted recording) into the pieces of `template`'s fixed text.
pub fn cut(
    template: &Template,
    audio: &TemplateAudio,
    samples: &[i16],
) -> Result<Recording, AudioError> {
    let texts = template.texts();
    let len_ms = (samples.len() as u64).div_ceil(SAMPLES_PER_MS);
    let cuts: Vec<u64> = match &audio.cuts_ms {
        Some(cuts) => {
            if let Some(&late) = cuts.iter().find(|&&c| c > len_ms) {
                return Err(AudioError::TemplateAudio {
                    template: template.id().to_owned(),
                    path: path_string(&audio.path),
                    problem: format!(
                        "cuts_ms {late} is past the end of the recording ({len_ms} ms)"
                    ),
                });
            }
            cuts.clone()
        }
        None => {
            let mut weights: Vec<u64> = texts.iter().map(|t| t.chars().count() as u64).collect();
            if weights.iter().all(|&w| w == 0) {
                weights.fill(1);
            }
            let total: u64 = weights.iter().sum();
            let mut before = 0;
            weights[..weights.len() - 1]
                .iter()
                .map(|w| {
                    before += w;
                    len_ms * before / total
                })
                .collect()
        }
    };
    let file = audio.path.file_name().map_or_else(
        || path_string(&audio.path),
        |f| f.to_string_lossy().into_owned(),
    );
    let at = |ms: u64| {
        usize::try_from(ms * SAMPLES_PER_MS).map_or(samples.len(), |s| s.min(samples.len()))
    };
    let bounds: Vec<usize> = std::iter::once(0)
        .chain(cuts.iter().map(|&c| at(c)))
        .chain([samples.len()])
        .collect();
    let pieces = bounds
        .windows(2)
        .zip(texts)
        .enumerate()
        .map(|(k, (w, text))| {
            let piece = &samples[w[0]..w[1]];
            (!piece.is_empty()).then(|| {
                super::clip(
                    format!("templates/{file}#{}", k + 1),
                    text.clone(),
                    piece.to_vec(),
                )
            })
        })
        .collect();
    Ok(Recording { pieces })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BILL: &str = "尊敬的${TXT_8}，您本月账单${TXT_10}元已出，重听请按1，确认请按2。";

    fn audio(cuts: Option<Vec<u64>>) -> TemplateAudio {
        TemplateAudio {
            path: "/somewhere/bill.wav".into(),
            cuts_ms: cuts,
        }
    }

    fn ramp(ms: u64) -> Vec<i16> {
        (0..ms * SAMPLES_PER_MS)
            .map(|i| (i % 1000) as i16 + 1)
            .collect()
    }

    fn lengths(r: &Recording) -> Vec<Option<u64>> {
        r.pieces
            .iter()
            .map(|p| p.as_ref().map(|c| c.duration_ms()))
            .collect()
    }

    #[test]
    fn without_cuts_the_recording_is_shared_in_proportion_to_the_fixed_text() {
        let bill = Template::parse("tpl_bill", BILL).unwrap();
        // 3 + 6 + 16 = 25 characters of fixed text over 2500 ms: 100 ms a character.
        let r = cut(&bill, &audio(None), &ramp(2500)).unwrap();
        assert_eq!(lengths(&r), [Some(300), Some(600), Some(1600)]);
        let first = r.pieces[0].as_ref().unwrap();
        assert_eq!(
            (first.name.as_str(), first.text.as_str()),
            ("templates/bill.wav#1", "尊敬的")
        );
        assert_eq!(
            r.pieces[2].as_ref().unwrap().text,
            "元已出，重听请按1，确认请按2。"
        );
        // The pieces put together are the recording.
        let joined: Vec<i16> = r
            .pieces
            .iter()
            .flatten()
            .flat_map(|c| c.samples.clone())
            .collect();
        assert_eq!(joined, ramp(2500));
    }

    #[test]
    fn cuts_ms_place_the_variables_and_empty_pieces_are_none() {
        let t = Template::parse("t", "${NUM_4}号到${NUM_2}").unwrap();
        let r = cut(&t, &audio(Some(vec![0, 700])), &ramp(1000)).unwrap();
        assert_eq!(lengths(&r), [None, Some(700), Some(300)]);
        let r = cut(&t, &audio(Some(vec![0, 1000])), &ramp(1000)).unwrap();
        assert_eq!(lengths(&r), [None, Some(1000), None]);
        let e = cut(&t, &audio(Some(vec![0, 1001])), &ramp(1000)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "template `t` (/somewhere/bill.wav): cuts_ms 1001 is past the end of the recording (1000 ms)"
        );
        // Without cuts and without any fixed text, each (empty) text gets an equal share.
        let only = Template::parse("t", "${NUM_4}${NUM_2}").unwrap();
        let r = cut(&only, &audio(None), &ramp(900)).unwrap();
        assert_eq!(lengths(&r), [Some(300), Some(300), Some(300)]);
    }
}
