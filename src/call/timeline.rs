//! What can appear on a call's timeline: its status events as the app sees them, the parts of
//! the announcement as they start, and Dialtone's notes. The engine records entries of these;
//! the store keeps them by [`TimelineEvent::name`]; the inspection API and `dialtone call` show
//! them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::StatusEvent;

/// The kind of a timeline entry; serialised as its name (`callout`, …, `note`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimelineEvent {
    Callout,
    Alerting,
    Answer,
    /// A part of the announcement started playing (the detail says which).
    Playing,
    /// A notification's digit collection started.
    Collecting,
    /// The callee pressed a key (the detail says which, and whether a collection took it).
    Key,
    /// A collection ended with digits: the `collectInfo` push.
    #[serde(rename = "collectInfo")]
    CollectInfo,
    Disconnect,
    /// Something Dialtone wants the reader to know (e.g. no push URL).
    Note,
}

impl TimelineEvent {
    pub const ALL: [TimelineEvent; 9] = [
        TimelineEvent::Callout,
        TimelineEvent::Alerting,
        TimelineEvent::Answer,
        TimelineEvent::Playing,
        TimelineEvent::Collecting,
        TimelineEvent::Key,
        TimelineEvent::CollectInfo,
        TimelineEvent::Disconnect,
        TimelineEvent::Note,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TimelineEvent::Callout => "callout",
            TimelineEvent::Alerting => "alerting",
            TimelineEvent::Answer => "answer",
            TimelineEvent::Playing => "playing",
            TimelineEvent::Collecting => "collecting",
            TimelineEvent::Key => "key",
            TimelineEvent::CollectInfo => "collectInfo",
            TimelineEvent::Disconnect => "disconnect",
            TimelineEvent::Note => "note",
        }
    }
}

impl From<&StatusEvent> for TimelineEvent {
    fn from(e: &StatusEvent) -> TimelineEvent {
        match e {
            StatusEvent::Callout => TimelineEvent::Callout,
            StatusEvent::Alerting => TimelineEvent::Alerting,
            StatusEvent::Answer => TimelineEvent::Answer,
            StatusEvent::CollectInfo { .. } => TimelineEvent::CollectInfo,
            StatusEvent::Disconnect { .. } => TimelineEvent::Disconnect,
        }
    }
}

impl fmt::Display for TimelineEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no timeline event; says which ones are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown event {0:?}: expected one of callout, alerting, answer, playing, collecting, key, \
     collectInfo, disconnect, note"
)]
pub struct UnknownEvent(pub String);

impl FromStr for TimelineEvent {
    type Err = UnknownEvent;

    fn from_str(s: &str) -> Result<TimelineEvent, UnknownEvent> {
        TimelineEvent::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| UnknownEvent(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_reads_back_from_its_name_and_serialises_as_it() {
        for e in TimelineEvent::ALL {
            assert_eq!(e.name().parse::<TimelineEvent>(), Ok(e));
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.name())
            );
        }
        assert_eq!(
            "ringing".parse::<TimelineEvent>(),
            Err(UnknownEvent("ringing".into()))
        );
    }
}
