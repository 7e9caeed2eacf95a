//! The call an app asked for, in one shape for all of Dialtone: the API parses the wire body
//! into it, the engine places it, the store keeps it (as JSON) so recovery can read it back, the
//! inspection views show it, and `dialtone call` builds one to send.
//!
//! Its parts are small domain types that cannot hold an invalid value: a [`PhoneNumber`], a
//! [`ToneName`], a [`VerifyCode`], a [`PushUrl`]. Each parses from text (and, through serde,
//! from the stored JSON) or says why not. What the request is *for* is its [`CallKind`]: a
//! verification code today, and the notification and click-to-call kinds when they arrive.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a value does not fit its domain type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(String);

/// Declares a string newtype that is checked by `$check` on every way in.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, InvalidValue> {
                $check(s).map(|()| $name(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(s: String) -> Result<Self, InvalidValue> {
                $check(&s).map(|()| $name(s))
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

checked_string!(
    /// A number in global format: `+` and 7-15 digits (spec §4.1), e.g. `+8613900001234`.
    PhoneNumber,
    check_phone_number
);

checked_string!(
    /// A tone's file name: 1-128 characters ending in `.wav`, any case (spec §4.1).
    ToneName,
    check_tone_name
);

checked_string!(
    /// The code a verification call reads out: 2-8 digits (spec §4.1).
    VerifyCode,
    check_verify_code
);

checked_string!(
    /// Where pushes go: an absolute `http`/`https` URL with a host (spec §4.1, "Push URLs").
    /// Requests carry it Base64-encoded; this is the decoded URL.
    PushUrl,
    check_push_url
);

fn check_phone_number(s: &str) -> Result<(), InvalidValue> {
    match s.strip_prefix('+') {
        Some(d) if (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(InvalidValue(format!(
            "`{s}` is not a number in global format: `+`, then 7 to 15 digits"
        ))),
    }
}

fn check_tone_name(s: &str) -> Result<(), InvalidValue> {
    let n = s.chars().count();
    if (5..=128).contains(&n) && s.to_ascii_lowercase().ends_with(".wav") {
        Ok(())
    } else {
        Err(InvalidValue(format!(
            "`{s}` is not a tone name: 1 to 128 characters ending in .wav"
        )))
    }
}

fn check_verify_code(s: &str) -> Result<(), InvalidValue> {
    if (2..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(InvalidValue(format!(
            "`{s}` is not a verification code: 2 to 8 digits"
        )))
    }
}

fn check_push_url(s: &str) -> Result<(), InvalidValue> {
    let url = url::Url::parse(s).map_err(|e| InvalidValue(format!("`{s}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(InvalidValue(format!("`{s}` is not an http or https URL")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(InvalidValue(format!("`{s}` has no host")));
    }
    Ok(())
}

/// A call an app asked the platform to place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRequest {
    /// The app that asked (authenticated). Shared by everything the call tells and sends.
    pub app_key: std::sync::Arc<str>,
    /// The number the callee sees (`displayNbr`): one of the app's.
    pub display_nbr: PhoneNumber,
    pub callee_nbr: PhoneNumber,
    /// `statusUrl`, decoded; `None` falls back to the app's `status_url`.
    pub status_url: Option<PushUrl>,
    /// `feeUrl`, decoded; `None` falls back to the app's `fee_url`.
    pub fee_url: Option<PushUrl>,
    /// Echoed in pushes and the CDR.
    pub user_data: Option<String>,
    /// What the call is for. Stored flat beside the fields above, so the stored JSON of a
    /// verification call is the same as before this type existed.
    #[serde(flatten)]
    pub kind: CallKind,
}

/// What a call does once answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CallKind {
    /// Reads a verification code (callVerify, spec §4).
    Verify(VerifyCall),
    /// Plays voice files and templates, collecting digits (callnotify, spec §11).
    Notify(NotifyCall),
    /// Calls A (the request's `callee_nbr`, i.e. `callerNbr`), then B, and connects them
    /// (click2Call, spec §12). Boxed: it is the largest kind by far, and every request would
    /// otherwise be its size.
    Callback(Box<CallbackCall>),
}

/// A click-to-call's B leg and options (spec §12.1). The request's `display_nbr` is shown to A
/// and its `callee_nbr` is A (`callerNbr`): the number the platform calls first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackCall {
    /// Shown to B (`displayCalleeNbr`).
    pub display_callee_nbr: PhoneNumber,
    /// B (`calleeNbr`).
    pub b_nbr: PhoneNumber,
    /// Talk time limit in minutes from B's answer; 0: none.
    pub max_duration: u32,
    pub last_min_voice: Option<ToneName>,
    /// Who hears `lastMinVoice`: `toa`, `tob` or `both`.
    pub last_min_to_ue: String,
    /// `preVoice` to A before B is called (`playPreVoice` "true").
    pub pre_voice: Option<ToneName>,
    pub play_pre_voice: bool,
    pub wait_voice: Option<ToneName>,
    /// `all`, `none` or `fail`.
    pub callee_media: String,
    pub record: bool,
    pub record_hint_tone: Option<ToneName>,
    /// Add `partyType` to the disconnect.
    pub party_type_in_disconnect: bool,
}

/// A notification's segments, played in order (spec §11.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyCall {
    pub play_info_list: Vec<PlayInfo>,
}

/// One segment of a notification (`PlayContentInfo`): a voice file, a template, or both (the
/// file first), then optionally digit collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayInfo {
    pub notify_voice: Option<ToneName>,
    pub template_id: Option<String>,
    /// The template's variable values, in order; empty without a template.
    #[serde(default)]
    pub template_paras: Vec<String>,
    /// 0: no collection; 1-32: collect up to that many digits.
    #[serde(default)]
    pub collect_ind: u8,
    /// Replay the segment when the collected digits equal this; `None`: never.
    #[serde(default)]
    pub replay_on: Option<String>,
}

/// A verification call's announcement: tones around a code read `times` times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyCall {
    /// The voice, by the platform's `languageType` number.
    pub language_type: i64,
    pub pre_tone: ToneName,
    pub verify_code: VerifyCode,
    pub pos_tone: Option<ToneName>,
    /// 0-9; 0 reads until the maximum duration.
    pub times: u8,
}

impl CallRequest {
    /// The verification part, for a callVerify call.
    pub fn verify(&self) -> Option<&VerifyCall> {
        match &self.kind {
            CallKind::Verify(v) => Some(v),
            _ => None,
        }
    }

    /// The notification part, for a callnotify call.
    pub fn notify(&self) -> Option<&NotifyCall> {
        match &self.kind {
            CallKind::Notify(n) => Some(n),
            _ => None,
        }
    }

    /// The click-to-call part, for a click2Call call.
    pub fn callback(&self) -> Option<&CallbackCall> {
        match &self.kind {
            CallKind::Callback(c) => Some(&**c),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_values_refuse_what_the_spec_refuses_and_say_why() {
        assert!("+8613900001234".parse::<PhoneNumber>().is_ok());
        let e = "13900001234".parse::<PhoneNumber>().unwrap_err();
        assert!(e.to_string().contains("`+`, then 7 to 15 digits"), "{e}");
        assert!("+123456".parse::<PhoneNumber>().is_err());
        assert!("+1234567890123456".parse::<PhoneNumber>().is_err());
        assert!("Welcome.WAV".parse::<ToneName>().is_ok());
        assert!(".wav".parse::<ToneName>().is_err());
        assert!("welcome.mp3".parse::<ToneName>().is_err());
        assert!("48".parse::<VerifyCode>().is_ok());
        assert!("4".parse::<VerifyCode>().is_err());
        assert!("123456789".parse::<VerifyCode>().is_err());
        assert!("48a7".parse::<VerifyCode>().is_err());
        assert!("https://example.com/x".parse::<PushUrl>().is_ok());
        assert!("ftp://example.com/x".parse::<PushUrl>().is_err());
        assert!("/voice/status".parse::<PushUrl>().is_err());
    }

    /// The JSON the database holds for calls accepted before `CallRequest` existed.
    const STORED: &str = r#"{"app_key":"k3Vd","display_nbr":"+862087654321","callee_nbr":"+8613900001234","language_type":2,"pre_tone":"welcome.wav","verify_code":"4827","pos_tone":null,"times":3,"status_url":"http://127.0.0.1:9000/voice/status","fee_url":null,"user_data":"order-7781"}"#;

    #[test]
    fn a_stored_request_reads_back_and_writes_the_same_fields() {
        let r: CallRequest = serde_json::from_str(STORED).unwrap();
        assert_eq!(r.verify().unwrap().verify_code, "4827");
        assert_eq!(r.callee_nbr, "+8613900001234");
        let again: serde_json::Value = serde_json::to_value(&r).unwrap();
        let stored: serde_json::Value = serde_json::from_str(STORED).unwrap();
        assert_eq!(again, stored);
    }

    #[test]
    fn a_stored_request_with_an_invalid_value_is_refused() {
        let bad = STORED.replace("+8613900001234", "13900001234");
        let e = serde_json::from_str::<CallRequest>(&bad).unwrap_err();
        assert!(e.to_string().contains("global format"), "{e}");
    }
}
