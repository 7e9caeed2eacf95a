//! `dialtone play`: a WAV file, or a call's audio fetched from a running Dialtone, through the
//! speakers. Only with the cargo feature `play` (rodio playback, which needs ALSA headers on
//! Linux), so the default build stays free of system audio libraries.

use std::io::Cursor;

use super::AudioError;

/// Plays a WAV file's bytes on the default output device and returns when it has finished.
pub fn play_wav(bytes: Vec<u8>) -> Result<(), AudioError> {
    let source = rodio::Decoder::new_wav(Cursor::new(bytes)).map_err(|e| AudioError::NotWav {
        path: "(audio to play)".into(),
        reason: e.to_string(),
    })?;
    let mut sink = rodio::DeviceSinkBuilder::open_default_sink()
        .map_err(|e| AudioError::Playback(e.to_string()))?;
    // The sink is dropped only after the player has finished: nothing is cut off.
    sink.log_on_drop(false);
    let player = rodio::Player::connect_new(sink.mixer());
    player.append(source);
    player.sleep_until_end();
    Ok(())
}

/// Downloads a call's audio: `GET {base}/sim/v1/calls/{session_id}/audio.wav`.
pub async fn fetch_call_audio(base: &str, session_id: &str) -> Result<Vec<u8>, AudioError> {
    let fetch = |reason: String| AudioError::Fetch {
        url: base.to_owned(),
        reason,
    };
    let mut url = url::Url::parse(base).map_err(|e| fetch(e.to_string()))?;
    url.path_segments_mut()
        .map_err(|()| fetch("not a base URL".into()))?
        .pop_if_empty()
        .extend(["sim", "v1", "calls", session_id, "audio.wav"]);
    let response = reqwest::get(url.clone())
        .await
        .map_err(|e| fetch(e.to_string()))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| fetch(e.to_string()))?;
    if !status.is_success() {
        return Err(AudioError::Fetch {
            url: url.to_string(),
            reason: format!("{status}: {}", String::from_utf8_lossy(&body)),
        });
    }
    Ok(body.to_vec())
}

/// Plays PCM as it arrives (a handset's 20 ms frames), each piece queued behind the last on the
/// default output device.
pub struct LivePlayer {
    // Kept open for as long as the player plays into it.
    _sink: rodio::MixerDeviceSink,
    player: rodio::Player,
}

impl LivePlayer {
    pub fn open() -> Result<LivePlayer, AudioError> {
        let mut sink = rodio::DeviceSinkBuilder::open_default_sink()
            .map_err(|e| AudioError::Playback(e.to_string()))?;
        sink.log_on_drop(false);
        let player = rodio::Player::connect_new(sink.mixer());
        Ok(LivePlayer {
            _sink: sink,
            player,
        })
    }

    /// Queues 8 kHz mono samples.
    pub fn push(&self, samples: &[i16]) {
        let data: Vec<rodio::Sample> = samples
            .iter()
            .map(|s| rodio::Sample::from(*s) / 32768.0)
            .collect();
        let rate = rodio::SampleRate::new(super::SAMPLE_RATE).expect("8000 is not zero");
        self.player.append(rodio::buffer::SamplesBuffer::new(
            rodio::ChannelCount::MIN,
            rate,
            data,
        ));
    }
}
