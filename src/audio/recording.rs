//! A click-to-call's recording (spec §12.5): the file the platform would store, A-law 8 kHz mono
//! WAV, as its download serves it (spec §14).
//!
//! Dialtone decision: nobody really talks on a simulated call, so the recording is what a line
//! carries when both parties are silent: comfort noise at about -50 dBFS, seeded from the
//! recording's object name, so the same call always yields the same bytes. Its length is the
//! recorded time (from the end of the record hint, or B's answer, to the release).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use super::SAMPLES_PER_MS;

/// Peak of the comfort noise, in 16-bit sample units (about -50 dBFS).
const NOISE_PEAK: i16 = 100;

/// The recording of `duration_ms` named `object`, as an A-law WAV file.
pub fn recording_wav(object: &str, duration_ms: u64) -> Vec<u8> {
    let seed: [u8; 32] = Sha256::digest(object.as_bytes()).into();
    let mut rng = StdRng::from_seed(seed);
    let n = (duration_ms * SAMPLES_PER_MS) as usize;
    let samples = (0..n).map(|_| alaw(rng.random_range(-NOISE_PEAK..=NOISE_PEAK)));
    alaw_wav(samples, n)
}

/// A WAV file of `n` A-law bytes: `WAVE_FORMAT_ALAW` (6), 8 kHz, mono, 8 bits, with the `fact`
/// chunk non-PCM formats carry. (hound writes PCM only.)
fn alaw_wav(samples: impl Iterator<Item = u8>, n: usize) -> Vec<u8> {
    let data_len = n as u32;
    let mut out = Vec::with_capacity(58 + n + 1);
    out.extend_from_slice(b"RIFF");
    // fmt (8 + 18) + fact (8 + 4) + data (8 + n, padded to even) + "WAVE".
    let padded = data_len + (data_len & 1);
    out.extend_from_slice(&(4 + 26 + 12 + 8 + padded).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&6u16.to_le_bytes()); // WAVE_FORMAT_ALAW
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&8000u32.to_le_bytes()); // samples per second
    out.extend_from_slice(&8000u32.to_le_bytes()); // bytes per second
    out.extend_from_slice(&1u16.to_le_bytes()); // block align
    out.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(&0u16.to_le_bytes()); // no extra format bytes
    out.extend_from_slice(b"fact");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend(samples);
    if data_len & 1 == 1 {
        out.push(0);
    }
    out
}

/// G.711 A-law encoding of one 16-bit sample (ITU-T G.711, segment and mantissa, even bits
/// inverted).
pub fn alaw(sample: i16) -> u8 {
    let sign: u8 = if sample >= 0 { 0x80 } else { 0x00 };
    // G.711 works on 13-bit magnitudes.
    let magnitude = (i32::from(sample).unsigned_abs() >> 3).min(0x0FFF);
    let code = if magnitude < 32 {
        (magnitude >> 1) as u8
    } else {
        let segment = (31 - magnitude.leading_zeros()) - 4; // 1..=7
        let mantissa = (magnitude >> segment) & 0x0F;
        ((segment << 4) as u8) | mantissa as u8
    };
    (sign | code) ^ 0x55
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_law_matches_the_g711_reference_points() {
        // Silence, and the extremes of the scale.
        assert_eq!(alaw(0), 0xD5);
        assert_eq!(alaw(-1), 0x55);
        assert_eq!(alaw(i16::MAX), 0xAA);
        assert_eq!(alaw(i16::MIN), 0x2A);
        // Segment boundaries: 13-bit magnitude 32 starts segment 1.
        assert_eq!(alaw(32 << 3), (0x80 | 0x10) ^ 0x55);
        assert_eq!(alaw(31 << 3), (0x80 | 0x0F) ^ 0x55);
    }

    #[test]
    fn a_recording_is_a_valid_a_law_wav_of_its_length_and_the_same_every_time() {
        let wav = recording_wav("26031410301512000000017.wav", 3000);
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(&wav[8..16], b"WAVEfmt ");
        assert_eq!(
            u16::from_le_bytes([wav[20], wav[21]]),
            6,
            "WAVE_FORMAT_ALAW"
        );
        assert_eq!(wav.len(), 58 + 24_000);
        let riff_len = u32::from_le_bytes([wav[4], wav[5], wav[6], wav[7]]) as usize;
        assert_eq!(riff_len + 8, wav.len());
        assert_eq!(wav, recording_wav("26031410301512000000017.wav", 3000));
        assert_ne!(wav, recording_wav("26031410301512000000018.wav", 3000));
    }
}
