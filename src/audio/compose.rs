//! Lays out one call's announcement from clips: which clip plays when, in ms from answer.
//!
//! The order and gaps are the engine's (spec §5.2, `call::announcement`): `call.media_start_ms`
//! after answer the `preTone`; `segment_gap_ms`; reading 1; `repeat_pause_ms`; reading 2 … ;
//! `segment_gap_ms`; the `posTone`; `hangup_delay_ms` later the platform releases. With
//! `times` = 0 readings follow each other while they start before `call.max_duration_s`, no
//! `posTone` plays and there is no planned release (the callee or the maximum duration ends it).
//! [`Manifest::to_announcement`] gives the engine the same plan with real durations.
//!
//! A reading is a lead-in, `digit_gap_ms`, then the digits separated by `digit_gap_ms`.
//! Dialtone decision: every reading has a lead-in, so a callee who missed the first still hears
//! what the digits are. Reading 1 opens with the voice's `intro.wav` ("Your password is");
//! later readings open with its `repeat.wav` ("我再说一遍", zh only) and, in voices without one,
//! with `intro.wav` again. The lead-in belongs to the reading: the CDR's `ttsPlayTimes` counts
//! readings and `ttsTransDuration` includes lead-ins.

use std::sync::Arc;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::{AudioError, AudioLibrary, Clip};
use crate::call::announcement::{Announcement, Segment, SegmentKind};
use crate::call::CallTimings;

/// What to announce: a callVerify request's audio fields, already validated by the API.
#[derive(Debug, Clone, Copy)]
pub struct AnnouncementRequest<'a> {
    /// Voice tag (`en`), i.e. the `languages` entry of the request's `languageType`.
    pub language: &'a str,
    /// The app whose own tones may be named, besides the shared ones; `None` for shared only.
    pub app_key: Option<&'a str>,
    pub pre_tone: &'a str,
    /// The verification code, digits only.
    pub code: &'a str,
    /// Readings of the code; 0 repeats until the callee hangs up or the maximum duration.
    pub times: u8,
    pub pos_tone: Option<&'a str>,
}

/// Which part of the announcement (verification) or of the entry (notification) a clip belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    PreTone,
    /// The n-th reading of the code, from 1, lead-in included.
    Reading(u32),
    PosTone,
    /// A notification's voice file (`notifyVoice`).
    Voice,
    /// A template's fixed text, spoken by TTS or played from its own recording.
    Template,
    /// The value of a template's n-th variable, from 1 (`templateParas[n - 1]`), spoken by TTS.
    Variable(u32),
}

/// One clip placed in time. Serialized as `{clip, text, part, start_ms, end_ms}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestSegment {
    pub clip: Arc<Clip>,
    pub part: Part,
    /// What of a template's text the clip says, where that differs from the clip's own text:
    /// `张` for `zh/syllables/zhang1.wav`, `1` for `en/1.wav` ("one"). `None` otherwise.
    pub reads: Option<String>,
    /// Offset from answer (or from the entry's start, in a [`super::Playback`]);
    /// × [`super::SAMPLES_PER_MS`] is the clip's first sample.
    pub start_ms: u64,
    /// `start_ms` + the clip's duration (rounded up to the ms, padded with silence).
    pub end_ms: u64,
}

impl ManifestSegment {
    /// The text the segment shows: what it reads, else the clip's own text.
    pub fn text(&self) -> &str {
        self.reads.as_deref().unwrap_or(&self.clip.text)
    }
}

impl Serialize for ManifestSegment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ManifestSegment", 5)?;
        st.serialize_field("clip", &self.clip.name)?;
        st.serialize_field("text", self.text())?;
        st.serialize_field("part", &self.part)?;
        st.serialize_field("start_ms", &self.start_ms)?;
        st.serialize_field("end_ms", &self.end_ms)?;
        st.end()
    }
}

/// The whole announcement of one call: every clip with its offset from answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// Voice tag.
    pub language: String,
    pub times: u8,
    /// Clips in playing order, never overlapping.
    pub segments: Vec<ManifestSegment>,
    /// When the platform hangs up; `None` for `times` = 0.
    pub release_ms: Option<u64>,
    /// `call.max_duration_s` in ms: no call lasts longer.
    pub max_duration_ms: u64,
}

impl Manifest {
    /// The part heard until `until_ms` after answer (a callee who hung up then): the clips that
    /// started before it, the last one cut there.
    pub fn until(&self, until_ms: u64) -> Manifest {
        let mut cut = self.clone();
        cut.segments.retain(|s| s.start_ms < until_ms);
        for s in &mut cut.segments {
            s.end_ms = s.end_ms.min(until_ms);
        }
        cut.release_ms = cut.release_ms.map(|r| r.min(until_ms));
        cut
    }

    /// Readings laid out (for `times` = 0, those that start before the maximum duration).
    pub fn readings(&self) -> u32 {
        self.segments
            .iter()
            .filter_map(|s| match s.part {
                Part::Reading(n) => Some(n),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// Where the audio ends: at `until_ms` (the callee hung up) if given, at the release
    /// otherwise, and never after the maximum call duration.
    pub fn end_ms(&self, until_ms: Option<u64>) -> u64 {
        let end = self
            .release_ms
            .unwrap_or(self.max_duration_ms)
            .min(self.max_duration_ms);
        until_ms.map_or(end, |u| u.min(end))
    }

    /// The engine's coarse plan: one segment per part (`PreTone`, `Code(n)` spanning the whole
    /// reading, `PosTone`) and the same release.
    pub fn to_announcement(&self) -> Announcement {
        let mut segments: Vec<Segment> = Vec::new();
        for s in &self.segments {
            let kind = match s.part {
                Part::PreTone => SegmentKind::PreTone,
                Part::Reading(n) => SegmentKind::Code(n),
                Part::PosTone => SegmentKind::PosTone,
                // Notification parts come only in a `Playback`, never in a verification manifest.
                Part::Voice | Part::Template | Part::Variable(_) => continue,
            };
            match segments.last_mut() {
                Some(last) if last.kind == kind => last.end_ms = s.end_ms,
                _ => segments.push(Segment {
                    kind,
                    start_ms: s.start_ms,
                    end_ms: s.end_ms,
                }),
            }
        }
        Announcement {
            segments,
            release_ms: self.release_ms,
        }
    }
}

/// A human summary: total length, readings, release, then one line per clip.
impl std::fmt::Display for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |ms: u64| format!("{}.{:03}", ms / 1000, ms % 1000);
        write!(
            f,
            "{} s from answer, voice {}, {} reading(s) of the code, ",
            secs(self.end_ms(None)),
            self.language,
            self.readings()
        )?;
        match self.release_ms {
            Some(ms) => writeln!(f, "platform hangs up at {} s", secs(ms))?,
            None => writeln!(
                f,
                "repeating until the callee hangs up (at most {} s)",
                secs(self.max_duration_ms)
            )?,
        }
        for s in &self.segments {
            let part = match s.part {
                Part::PreTone => "preTone".to_owned(),
                Part::Reading(n) => format!("reading {n}"),
                Part::PosTone => "posTone".to_owned(),
                Part::Voice => "voice".to_owned(),
                Part::Template => "template".to_owned(),
                Part::Variable(n) => format!("value {n}"),
            };
            writeln!(
                f,
                "  {:>8} - {:>8}  {part:<10} {:<18} {}",
                secs(s.start_ms),
                secs(s.end_ms),
                s.clip.name,
                s.clip.text
            )?;
        }
        Ok(())
    }
}

/// The announcement of a verification call: its `languageType` through the config's
/// `languages`, then [`compose`]. The same request always gives the same announcement, so a call
/// in flight keeps only its plan, and this composes the clips again when they are heard or shown.
pub fn verify_announcement(
    lib: &AudioLibrary,
    config: &crate::config::Config,
    request: &crate::call::request::CallRequest,
) -> Result<Manifest, AudioError> {
    let verify = request
        .verify()
        .ok_or_else(|| AudioError::UnknownVoice("(not a verification call)".to_owned()))?;
    let language_type = verify.language_type.to_string();
    let language = config
        .languages
        .get(&language_type)
        .ok_or(AudioError::UnknownVoice(language_type))?;
    let req = AnnouncementRequest {
        language,
        app_key: Some(&request.app_key),
        pre_tone: verify.pre_tone.as_str(),
        code: verify.verify_code.as_str(),
        times: verify.times,
        pos_tone: verify.pos_tone.as_ref().map(|t| t.as_str()),
    };
    compose(lib, &req, &config.call)
}

/// Lays out `req` with the clips of `lib` and the gaps of `t`.
///
/// Errors: [`AudioError::UnknownVoice`], [`AudioError::UnknownTone`] (not approved for the
/// app) and [`AudioError::BadCode`]; the API validates all three first, so for a request it
/// accepted this does not fail.
pub fn compose(
    lib: &AudioLibrary,
    req: &AnnouncementRequest<'_>,
    t: &CallTimings,
) -> Result<Manifest, AudioError> {
    let voice = lib
        .voices
        .get(req.language)
        .ok_or_else(|| AudioError::UnknownVoice(req.language.to_owned()))?;
    let tone = |name: &str| {
        lib.tones
            .get(req.app_key, name)
            .ok_or_else(|| AudioError::UnknownTone(name.to_owned()))
    };
    let pre_tone = tone(req.pre_tone)?;
    let pos_tone = req.pos_tone.map(tone).transpose()?;
    let digits = req
        .code
        .bytes()
        .map(|b| voice.digit(b))
        .collect::<Option<Vec<_>>>()
        .filter(|d| !d.is_empty())
        .ok_or_else(|| AudioError::BadCode(req.code.to_owned()))?;
    let max_duration_ms = t.max_duration_s.saturating_mul(1000);

    // The tones and each reading's lead-in and digits, sized once (an endless announcement,
    // `times` 0, grows past its first reading).
    let readings = usize::from(req.times.max(1));
    let mut out = Layout {
        segments: Vec::with_capacity(2 + readings * (1 + digits.len())),
        at: t.media_start_ms,
    };
    out.play(pre_tone, Part::PreTone);
    out.wait(t.segment_gap_ms);
    let mut reading = 0u32;
    loop {
        reading += 1;
        let lead_in = match voice.repeat() {
            Some(repeat) if reading > 1 => repeat,
            _ => voice.intro(),
        };
        out.play(lead_in, Part::Reading(reading));
        for digit in &digits {
            out.wait(t.digit_gap_ms);
            out.play(digit, Part::Reading(reading));
        }
        // The same rule as `Announcement::plan`, so both agree on how many readings there are.
        let more = if req.times == 0 {
            out.at.saturating_add(t.repeat_pause_ms) < max_duration_ms
        } else {
            reading < u32::from(req.times)
        };
        if !more {
            break;
        }
        out.wait(t.repeat_pause_ms);
    }
    let release_ms = if req.times == 0 {
        None
    } else {
        if let Some(pos_tone) = pos_tone {
            out.wait(t.segment_gap_ms);
            out.play(pos_tone, Part::PosTone);
        }
        Some(out.at.saturating_add(t.hangup_delay_ms))
    };
    Ok(Manifest {
        language: voice.tag.clone(),
        times: req.times,
        segments: out.segments,
        release_ms,
        max_duration_ms,
    })
}

struct Layout {
    segments: Vec<ManifestSegment>,
    at: u64,
}

impl Layout {
    fn play(&mut self, clip: &Arc<Clip>, part: Part) {
        let end_ms = self.at.saturating_add(clip.duration_ms());
        self.segments.push(ManifestSegment {
            clip: clip.clone(),
            part,
            reads: None,
            start_ms: self.at,
            end_ms,
        });
        self.at = end_ms;
    }

    fn wait(&mut self, ms: u64) {
        self.at = self.at.saturating_add(ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::announcement::Durations;

    fn lib() -> AudioLibrary {
        AudioLibrary::bundled().unwrap()
    }

    fn req<'a>(language: &'a str, code: &'a str, times: u8) -> AnnouncementRequest<'a> {
        AnnouncementRequest {
            language,
            app_key: None,
            pre_tone: "welcome.wav",
            code,
            times,
            pos_tone: Some("bye.wav"),
        }
    }

    fn ms(lib: &AudioLibrary, voice: &str, file: &str) -> u64 {
        let v = lib.voices.get(voice).unwrap();
        v.clips()
            .find(|c| c.name == format!("{voice}/{file}"))
            .unwrap()
            .duration_ms()
    }

    #[test]
    fn the_announcement_is_pre_tone_readings_and_pos_tone_with_the_configured_gaps() {
        let lib = lib();
        let t = CallTimings::default();
        let m = compose(&lib, &req("en", "4815", 2), &t).unwrap();
        let names: Vec<_> = m.segments.iter().map(|s| s.clip.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "tones/welcome.wav",
                "en/intro.wav",
                "en/4.wav",
                "en/8.wav",
                "en/1.wav",
                "en/5.wav",
                "en/intro.wav",
                "en/4.wav",
                "en/8.wav",
                "en/1.wav",
                "en/5.wav",
                "tones/bye.wav"
            ]
        );
        let welcome = lib.tones.get(None, "welcome.wav").unwrap().duration_ms();
        let s = &m.segments;
        assert_eq!((s[0].start_ms, s[0].end_ms), (500, 500 + welcome));
        assert_eq!(s[1].start_ms, 500 + welcome + 500);
        assert_eq!(s[2].start_ms, s[1].end_ms + 150);
        assert_eq!(s[6].start_ms, s[5].end_ms + 1000);
        assert_eq!(s[11].start_ms, s[10].end_ms + 500);
        assert_eq!(m.release_ms, Some(s[11].end_ms + 500));
        assert_eq!(m.readings(), 2);
        assert_eq!(s[3].part, Part::Reading(1));
        assert_eq!(s[7].part, Part::Reading(2));
        for (a, b) in s.iter().zip(&s[1..]) {
            assert!(a.end_ms <= b.start_ms, "{a:?} overlaps {b:?}");
            assert_eq!(a.end_ms - a.start_ms, a.clip.duration_ms());
        }
    }

    #[test]
    fn zh_opens_later_readings_with_its_repeat_prompt() {
        let lib = lib();
        let m = compose(&lib, &req("zh", "27", 3), &CallTimings::default()).unwrap();
        let lead_ins: Vec<_> = m
            .segments
            .iter()
            .filter(|s| s.clip.name.ends_with("intro.wav") || s.clip.name.ends_with("repeat.wav"))
            .map(|s| (s.part, s.clip.name.as_str()))
            .collect();
        assert_eq!(
            lead_ins,
            [
                (Part::Reading(1), "zh/intro.wav"),
                (Part::Reading(2), "zh/repeat.wav"),
                (Part::Reading(3), "zh/repeat.wav")
            ]
        );
    }

    /// With equal readings, the coarse plan is exactly what the engine's planner makes from the
    /// same durations: both lay out the announcement the same way.
    #[test]
    fn to_announcement_matches_the_engines_plan_for_every_times() {
        let lib = lib();
        let t = CallTimings::default();
        let horizon = t.max_duration_s * 1000;
        for (voice, code, pos) in [("en", "4815", true), ("ru", "90210347", false)] {
            for times in [0, 1, 3, 9] {
                let r = AnnouncementRequest {
                    pos_tone: pos.then_some("bye.wav"),
                    ..req(voice, code, times)
                };
                let m = compose(&lib, &r, &t).unwrap();
                let a = m.to_announcement();
                let reading = &a.segments[1];
                let d = Durations {
                    pre_tone_ms: a.segments[0].end_ms - a.segments[0].start_ms,
                    reading_ms: reading.end_ms - reading.start_ms,
                    pos_tone_ms: pos.then(|| lib.tones.get(None, "bye.wav").unwrap().duration_ms()),
                };
                assert_eq!(
                    a,
                    Announcement::plan(d, times, &t, horizon),
                    "{voice} {times}"
                );
                let expected_reading = ms(&lib, voice, "intro.wav")
                    + code
                        .bytes()
                        .map(|b| ms(&lib, voice, &format!("{}.wav", char::from(b))))
                        .sum::<u64>()
                    + code.len() as u64 * t.digit_gap_ms;
                assert_eq!(d.reading_ms, expected_reading);
            }
        }
    }

    #[test]
    fn times_zero_repeats_while_readings_start_before_the_maximum_duration() {
        let lib = lib();
        let t = CallTimings {
            max_duration_s: 30,
            ..CallTimings::default()
        };
        let m = compose(&lib, &req("en", "4815", 0), &t).unwrap();
        assert_eq!(m.release_ms, None);
        assert!(m.segments.iter().all(|s| s.part != Part::PosTone));
        let a = m.to_announcement();
        let last = a.segments.last().unwrap();
        assert!(last.start_ms < 30_000, "{last:?}");
        assert!(
            last.end_ms + t.repeat_pause_ms >= 30_000,
            "one more would fit: {last:?}"
        );
        assert_eq!(m.readings() as usize, a.segments.len() - 1);
        assert!(m.readings() >= 3);
        assert_eq!(m.end_ms(None), 30_000);
    }

    #[test]
    fn the_manifest_serializes_clip_text_part_and_offsets() {
        let lib = lib();
        let m = compose(&lib, &req("en", "48", 1), &CallTimings::default()).unwrap();
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["segments"][0]["clip"], "tones/welcome.wav");
        assert_eq!(json["segments"][0]["text"], "welcome tone");
        assert_eq!(json["segments"][0]["part"], "pre_tone");
        assert_eq!(json["segments"][0]["start_ms"], 500);
        assert_eq!(json["segments"][2]["text"], "four");
        assert_eq!(
            json["segments"][2]["part"],
            serde_json::json!({"reading": 1})
        );
        assert_eq!(json["segments"][4]["part"], "pos_tone");
        assert_eq!(json["language"], "en");
        assert_eq!(json["release_ms"], m.release_ms.unwrap());
    }

    #[test]
    fn unknown_voice_tone_or_bad_code_is_refused() {
        let lib = lib();
        let t = CallTimings::default();
        let e = |r| compose(&lib, &r, &t).unwrap_err().to_string();
        assert_eq!(e(req("de", "12", 1)), "no voice `de`");
        assert_eq!(
            e(req("en", "1a", 1)),
            "the code `1a` is not 1 or more digits 0-9"
        );
        assert_eq!(
            e(req("en", "", 1)),
            "the code `` is not 1 or more digits 0-9"
        );
        let r = AnnouncementRequest {
            pre_tone: "promo.wav",
            ..req("en", "12", 1)
        };
        assert!(e(r).starts_with("no tone `promo.wav` "));
    }
}
