//! Click-to-call recordings (spec §12.5, §14): what a call keeps when it ends, under which names,
//! and where it is downloaded while retained. The file itself is rendered on request
//! ([`crate::audio::recording`]).

use super::{CallEntry, Engine};
use crate::clock::SimInstant;

/// A kept click-to-call recording (spec §12.5): its names, and when it stops being served.
#[derive(Debug, Clone)]
pub struct Recording {
    pub object: String,
    pub bucket: String,
    pub domain: String,
    pub url: String,
    pub app_key: String,
    pub start: SimInstant,
    pub duration_ms: u64,
    pub expires: SimInstant,
}

impl Engine {
    /// The recording a click-to-call that asked for one keeps, ending at `end`: from the end of
    /// the record hint (or B's answer), if at least `recording.min_duration_s` long (spec §12.5).
    pub(super) fn recording_of(&self, entry: &CallEntry, end: SimInstant) -> Option<Recording> {
        let cfg = &self.shared.config;
        let start = entry.call.b_times().recording?;
        let duration_ms = end.since(start);
        if !entry.request.callback().is_some_and(|c| c.record)
            || duration_ms < cfg.recording.min_duration_s * 1000
        {
            return None;
        }
        // Huawei's sample names: `<yyMMddHHmmss><node, 4 digits><7-digit sequence>.wav` in the
        // bucket `sp-<app_key, lower case>`.
        let object = format!(
            "{}{:04}{:07}.wav",
            self.shared.clock.wall(start).format("%y%m%d%H%M%S"),
            cfg.platform.node_id % 10_000,
            entry.seq % 10_000_000
        );
        let bucket = format!("sp-{}", entry.request.app_key.to_lowercase());
        let base = cfg.recording.public_base_url.clone().unwrap_or_else(|| {
            let scheme = match cfg.server.tls {
                Some(_) => "https",
                None => "http",
            };
            format!("{scheme}://{}", self.listen_addr())
        });
        Some(Recording {
            url: format!(
                "{}/dialtone/recordings/{bucket}/{object}",
                base.trim_end_matches('/')
            ),
            object,
            bucket,
            domain: cfg.recording.domain.clone(),
            app_key: entry.request.app_key.to_string(),
            start,
            duration_ms,
            expires: end.plus_s(cfg.recording.retention_s),
        })
    }

    /// Where Dialtone listens: set by the server once bound (the config's address before).
    fn listen_addr(&self) -> std::net::SocketAddr {
        *self
            .shared
            .listen
            .get()
            .unwrap_or(&self.shared.config.server.listen)
    }

    /// The server bound `addr`: download URLs point there (unless `recording.public_base_url`).
    pub fn set_listen_addr(&self, addr: std::net::SocketAddr) {
        let _ = self.shared.listen.set(addr);
        if let Some(store) = &self.shared.store {
            store.record_listen_addr(addr);
        }
    }

    /// The recording `object`, if it is still retained: for the download API (which checks the
    /// app and domain) and the file URL.
    pub fn recording(&self, object: &str) -> Option<Recording> {
        let now = self.shared.clock.now();
        let st = self.lock();
        let Some(seq) = st.recordings.get(object) else {
            // Its call may have left memory (`retention`); the recording stays until it expires.
            return st.retention.recording(object, now).cloned();
        };
        st.calls
            .get(seq)?
            .recording
            .as_deref()
            .filter(|r| now < r.expires)
            .cloned()
    }
}
