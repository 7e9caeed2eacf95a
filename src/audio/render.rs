//! Renders a [`Manifest`] (verification) or a call's [`Playback`]s (notification) to what the
//! callee heard: 8 kHz mono PCM from answer to hang-up, and its WAV file. Pure; the only
//! allocation is the output.

use std::io::Cursor;

use super::{AudioError, Manifest, ManifestSegment, Playback, SAMPLES_PER_MS, SAMPLE_RATE};

/// The samples from answer (sample 0) to [`Manifest::end_ms`]`(until_ms)`: silence, each clip
/// at `start_ms × 8`, silence in the gaps, cut at the end. Pass the answer-to-release time as
/// `until_ms` for a call the callee ended; `None` renders up to the planned release (or, for
/// `times` = 0, the maximum call duration).
pub fn render(manifest: &Manifest, until_ms: Option<u64>) -> Vec<i16> {
    let mut out = vec![0i16; sample_index(manifest.end_ms(until_ms))];
    place(&mut out, &manifest.segments, 0);
    out
}

/// The samples of a notification call from answer (sample 0) to `total_ms`: each playback
/// placed at its start (ms from answer), silence elsewhere, cut at `total_ms` (pass the
/// answer-to-release time, which also cuts a playback the callee hung up on). The engine lays
/// the entries out, replays included, so gaps and collections are simply silence here.
/// Playbacks that overlap are mixed by the later one overwriting the earlier.
pub fn render_playbacks(playbacks: &[(&Playback, u64)], total_ms: u64) -> Vec<i16> {
    let mut out = vec![0i16; sample_index(total_ms)];
    for &(playback, start_ms) in playbacks {
        place(&mut out, &playback.pieces, start_ms);
    }
    out
}

/// Samples `from..to` (indices from answer, 8 per ms) of what [`render`] gives a call heard
/// at least up to `to`, without rendering what comes before: a handset's audio, frame by frame.
pub fn render_window(manifest: &Manifest, from: usize, to: usize) -> Vec<i16> {
    let mut out = vec![0i16; to.saturating_sub(from)];
    place_window(&mut out, from, &manifest.segments, 0);
    out
}

/// Samples `from..to` of what [`render_playbacks`] gives for `playbacks` heard at least up to
/// `to`.
pub fn render_playbacks_window(playbacks: &[(&Playback, u64)], from: usize, to: usize) -> Vec<i16> {
    let mut out = vec![0i16; to.saturating_sub(from)];
    for &(playback, start_ms) in playbacks {
        place_window(&mut out, from, &playback.pieces, start_ms);
    }
    out
}

/// Copies each segment's samples to `offset_ms` + its start, as far as `out` reaches.
fn place(out: &mut [i16], segments: &[ManifestSegment], offset_ms: u64) {
    place_window(out, 0, segments, offset_ms);
}

/// As [`place`], for `out` holding the samples from index `from` on: the whole rendering and
/// any window of it are the same code, so they agree sample for sample.
fn place_window(out: &mut [i16], from: usize, segments: &[ManifestSegment], offset_ms: u64) {
    let to = from.saturating_add(out.len());
    for segment in segments {
        let start = sample_index(offset_ms.saturating_add(segment.start_ms));
        if start >= to {
            break;
        }
        let samples = &segment.clip.samples;
        let lo = start.max(from);
        let hi = start.saturating_add(samples.len()).min(to);
        if lo < hi {
            out[lo - from..hi - from].copy_from_slice(&samples[lo - start..hi - start]);
        }
    }
}

fn sample_index(ms: u64) -> usize {
    usize::try_from(ms.saturating_mul(SAMPLES_PER_MS)).unwrap_or(usize::MAX)
}

/// A WAV file (8 kHz, 16-bit, mono PCM, plain 44-byte header) of `samples`.
/// Fails only past WAV's 4 GiB limit.
pub fn wav_bytes(samples: &[i16]) -> Result<Vec<u8>, AudioError> {
    let encode = |e: hound::Error| AudioError::Encode(e.to_string());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let n = u32::try_from(samples.len()).map_err(|_| AudioError::Encode("too long".into()))?;
    let mut buf = Cursor::new(Vec::with_capacity(44 + 2 * samples.len()));
    let mut writer = hound::WavWriter::new(&mut buf, spec).map_err(encode)?;
    let mut w = writer.get_i16_writer(n);
    for &s in samples {
        w.write_sample(s);
    }
    w.flush().map_err(encode)?;
    writer.finalize().map_err(encode)?;
    Ok(buf.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{compose, AnnouncementRequest, AudioLibrary, Clip, Part};
    use crate::call::CallTimings;

    fn silence(ms: u64) -> Vec<i16> {
        vec![0; (ms * 8) as usize]
    }

    /// The samples of `clip` padded with silence to its whole-ms duration.
    fn padded(clip: &Clip) -> Vec<i16> {
        let mut s = clip.samples.clone();
        s.resize((clip.duration_ms() * 8) as usize, 0);
        s
    }

    /// What the callee should hear, built independently of the manifest: the clips the request
    /// names, concatenated with the configured silences.
    fn expected(lib: &AudioLibrary, r: &AnnouncementRequest<'_>, t: &CallTimings) -> Vec<i16> {
        let voice = lib.voices.get(r.language).unwrap();
        let tone = |n| padded(lib.tones.get(None, n).unwrap());
        let mut out = silence(t.media_start_ms);
        out.extend(tone(r.pre_tone));
        out.extend(silence(t.segment_gap_ms));
        for reading in 1..=r.times {
            if reading > 1 {
                out.extend(silence(t.repeat_pause_ms));
            }
            let lead_in = match voice.repeat() {
                Some(repeat) if reading > 1 => repeat,
                _ => voice.intro(),
            };
            out.extend(padded(lead_in));
            for d in r.code.bytes() {
                out.extend(silence(t.digit_gap_ms));
                out.extend(padded(voice.digit(d).unwrap()));
            }
        }
        if let Some(pos) = r.pos_tone {
            out.extend(silence(t.segment_gap_ms));
            out.extend(tone(pos));
        }
        out.extend(silence(t.hangup_delay_ms));
        out
    }

    #[test]
    fn rendering_is_the_exact_concatenation_of_clips_and_silences() {
        let lib = AudioLibrary::bundled().unwrap();
        let default = CallTimings::default();
        let tight = CallTimings {
            media_start_ms: 0,
            segment_gap_ms: 0,
            repeat_pause_ms: 7,
            digit_gap_ms: 0,
            hangup_delay_ms: 3,
            ..CallTimings::default()
        };
        let cases = [
            ("en", "4815", 2, Some("bye.wav"), &default),
            ("zh", "20260314", 3, Some("bye.wav"), &default),
            ("fr", "07", 1, None, &default),
            ("ru", "999", 9, Some("welcome.wav"), &tight),
            ("it", "123456", 1, None, &tight),
            ("es", "5550", 4, Some("bye.wav"), &tight),
        ];
        for (language, code, times, pos_tone, t) in cases {
            let r = AnnouncementRequest {
                language,
                app_key: None,
                pre_tone: "welcome.wav",
                code,
                times,
                pos_tone,
            };
            let m = compose(&lib, &r, t).unwrap();
            let pcm = render(&m, None);
            let want = expected(&lib, &r, t);
            assert_eq!(pcm.len(), want.len(), "{language} {code} x{times}");
            assert!(pcm == want, "{language} {code} x{times}: samples differ");
            assert_eq!(pcm.len() as u64, m.release_ms.unwrap() * 8);
            // Every manifest offset × 8 is where that clip's samples are.
            for s in &m.segments {
                let at = (s.start_ms * 8) as usize;
                assert_eq!(&pcm[at..at + s.clip.samples.len()], &s.clip.samples[..]);
                assert_eq!((s.end_ms - s.start_ms) * 8, padded(&s.clip).len() as u64);
            }
        }
    }

    #[test]
    fn until_cuts_where_the_callee_hung_up() {
        let lib = AudioLibrary::bundled().unwrap();
        let t = CallTimings::default();
        let r = AnnouncementRequest {
            language: "en",
            app_key: None,
            pre_tone: "welcome.wav",
            code: "4815",
            times: 3,
            pos_tone: Some("bye.wav"),
        };
        let m = compose(&lib, &r, &t).unwrap();
        let full = render(&m, None);
        let mid = m
            .segments
            .iter()
            .find(|s| s.part == Part::Reading(2))
            .unwrap()
            .start_ms
            + 3;
        let cut = render(&m, Some(mid));
        assert_eq!(cut.len() as u64, mid * 8);
        assert_eq!(cut[..], full[..cut.len()]);
        // A hang-up after the release changes nothing.
        assert_eq!(render(&m, Some(m.release_ms.unwrap() + 5000)), full);
        assert!(render(&m, Some(0)).is_empty());
    }

    #[test]
    fn any_window_is_the_same_samples_as_the_whole_rendering() {
        let lib = AudioLibrary::bundled().unwrap();
        let t = CallTimings::default();
        let r = AnnouncementRequest {
            language: "zh",
            app_key: None,
            pre_tone: "welcome.wav",
            code: "4815",
            times: 2,
            pos_tone: Some("bye.wav"),
        };
        let m = compose(&lib, &r, &t).unwrap();
        let full = render(&m, None);
        let mut joined = Vec::new();
        for from in (0..full.len()).step_by(160) {
            let to = (from + 160).min(full.len());
            joined.extend(render_window(&m, from, to));
        }
        assert!(
            joined == full,
            "20 ms windows joined differ from the rendering"
        );
        assert_eq!(render_window(&m, 1000, 1003), full[1000..1003]);
        assert!(render_window(&m, 5, 5).is_empty());
    }

    #[test]
    fn times_zero_renders_up_to_the_maximum_duration() {
        let lib = AudioLibrary::bundled().unwrap();
        let t = CallTimings {
            max_duration_s: 20,
            ..CallTimings::default()
        };
        let r = AnnouncementRequest {
            language: "en",
            app_key: None,
            pre_tone: "welcome.wav",
            code: "12",
            times: 0,
            pos_tone: Some("bye.wav"),
        };
        let m = compose(&lib, &r, &t).unwrap();
        let pcm = render(&m, None);
        assert_eq!(pcm.len(), 20_000 * 8);
        // The last reading started before the limit; whatever of it fits is there.
        let last = m.readings();
        let first_of_last = m.segments.iter().find(|s| s.part == Part::Reading(last));
        assert!(first_of_last.unwrap().start_ms < 20_000);
        for s in m.segments.iter().filter(|s| s.start_ms < 20_000) {
            let at = (s.start_ms * 8) as usize;
            let n = (pcm.len() - at).min(s.clip.samples.len());
            assert_eq!(pcm[at..at + n], s.clip.samples[..n]);
        }
        assert_eq!(render(&m, Some(9_000)).len(), 9_000 * 8);
    }

    #[test]
    fn playbacks_are_placed_at_their_starts_with_silence_between_and_cut_at_the_end() {
        use crate::audio::{compose_playback, TtsLanguage};
        use crate::call::template::Template;
        let lib = AudioLibrary::bundled().unwrap();
        let filled = Template::parse("t", "您好${NUM_2}")
            .unwrap()
            .fill(&["42".into()])
            .unwrap();
        let app = "any";
        let p = compose_playback(
            &lib,
            app,
            Some("welcome.wav"),
            Some(&filled),
            TtsLanguage::Zh,
        )
        .unwrap();
        let alone = render_playbacks(&[(&p, 0)], p.length_ms);
        let mut expected = Vec::new();
        for s in &p.pieces {
            expected.resize((s.start_ms * 8) as usize, 0);
            expected.extend(padded(&s.clip));
        }
        assert_eq!(alone, expected);

        // Two entries 500 ms apart, the second a replay cut 100 ms before its end.
        let second = p.length_ms + 500;
        let total = second + p.length_ms - 100;
        let call = render_playbacks(&[(&p, 0), (&p, second)], total);
        assert_eq!(call.len() as u64, total * 8);
        assert_eq!(call[..alone.len()], alone[..]);
        assert!(call[alone.len()..(second * 8) as usize]
            .iter()
            .all(|&x| x == 0));
        assert_eq!(
            call[(second * 8) as usize..],
            alone[..call.len() - (second * 8) as usize]
        );
        assert!(render_playbacks(&[(&p, 0)], 0).is_empty());
    }

    #[test]
    fn wav_bytes_is_a_plain_8k_mono_16_bit_file() {
        let samples: Vec<i16> = (0..1000).map(|i| (i * 37 % 2000 - 1000) as i16).collect();
        let bytes = wav_bytes(&samples).unwrap();
        assert_eq!(bytes.len(), 44 + 2000);
        let reader = hound::WavReader::new(Cursor::new(&bytes)).unwrap();
        assert_eq!(
            (
                reader.spec().sample_rate,
                reader.spec().channels,
                reader.spec().bits_per_sample
            ),
            (8000, 1, 16)
        );
        let back: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
        assert_eq!(back, samples);
    }
}
