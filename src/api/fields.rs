//! Reading the platform's JSON bodies field by field, in the spec's table order, so the first bad
//! field is the one named in `1010002 "Invalid request. <field>"` (spec §4.2, §11.3, §12.2).
//! Shared by every call API.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::call::request::{CallRequest, PushUrl};
use crate::error::ApiError;

/// Adds the fields every call request shares when present: the push URLs (Base64), `userData`,
/// `returnIdlePort`. For the clients' `body_for`s.
pub(super) fn add_common(body: &mut Value, call: &CallRequest, return_idle_port: bool) {
    let b64 = |u: &PushUrl| base64::engine::general_purpose::STANDARD.encode(u.as_str());
    let optional = [
        ("statusUrl", call.status_url.as_ref().map(b64)),
        ("feeUrl", call.fee_url.as_ref().map(b64)),
        (
            "returnIdlePort",
            return_idle_port.then(|| "true".to_owned()),
        ),
        ("userData", call.user_data.clone()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            body[name] = Value::String(value);
        }
    }
}

/// The fields a callVerify and a callnotify body end with, in table order.
pub(super) struct Tail {
    pub status_url: Option<PushUrl>,
    pub fee_url: Option<PushUrl>,
    pub return_idle_port: bool,
    pub user_data: Option<String>,
}

/// A body's fields.
pub(super) struct Fields<'a>(pub(super) &'a Map<String, Value>);

/// A request body as a JSON object: anything else (not JSON, an array, a string) is the
/// platform's `1010002` for the body.
pub(super) fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(body)) => Ok(body),
        _ => Err(ApiError::invalid_body()),
    }
}

impl Fields<'_> {
    pub(super) fn optional<T>(
        &self,
        name: &str,
        parse: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => parse(v).map(Some).ok_or_else(|| {
                ApiError::invalid(name).hint(format!(
                    "{name} is {}: expected {}",
                    shown(v),
                    expected(name)
                ))
            }),
        }
    }

    /// `statusUrl`, `feeUrl`, `returnIdlePort`, `userData` (String(0-256)), in that order.
    pub(super) fn tail(&self) -> Result<Tail, ApiError> {
        Ok(Tail {
            status_url: self.optional("statusUrl", push_url)?,
            fee_url: self.optional("feeUrl", push_url)?,
            return_idle_port: self.optional("returnIdlePort", flag)?.unwrap_or(false),
            user_data: self.optional("userData", |v| {
                v.as_str()
                    .filter(|s| s.chars().count() <= 256)
                    .map(str::to_owned)
            })?,
        })
    }

    pub(super) fn required<T>(
        &self,
        name: &str,
        parse: impl Fn(&Value) -> Option<T>,
    ) -> Result<T, ApiError> {
        self.optional(name, parse)?.ok_or_else(|| {
            ApiError::invalid(name).hint(format!("{name} is missing: expected {}", expected(name)))
        })
    }
}

/// A value as the hint quotes it: JSON, cut short.
fn shown(v: &Value) -> String {
    let json = v.to_string();
    match json.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &json[..cut]),
        None => json,
    }
}

/// What a field must look like, in the words of the platform's field tables (spec §4.1, §11.1,
/// §12.1, §13): the second half of a 1010002 hint.
pub(super) fn expected(name: &str) -> &'static str {
    match name {
        "displayNbr" | "calleeNbr" | "callerNbr" | "displayCalleeNbr" => {
            "a string in global format, `+` then the country code and number (7 to 15 digits), \
             e.g. \"+8613900001234\" rather than \"13900001234\""
        }
        "verifyCode" => "a string of 2 to 8 digits, e.g. \"4815\" (a string keeps leading zeros)",
        "languageType" => "an integer languageType of the configuration's `languages`, e.g. 2 (en)",
        "preTone" | "posTone" | "notifyVoice" | "preVoice" | "waitVoice" | "lastMinVoice"
        | "recordHintTone" => {
            "the file name of an approved tone, 5 to 128 characters ending in .wav, e.g. \"welcome.wav\""
        }
        "times" => "an integer 0 to 9 (0: repeat until the callee hangs up)",
        "statusUrl" | "feeUrl" => {
            "the standard Base64 of an absolute http(s) URL, at most 128 characters \
             (`printf http://host/status | base64`)"
        }
        "returnIdlePort" | "recordFlag" | "partyTypeRequiredInDisconnect" | "playPreVoice"
        | "replayAfterCollection" => "\"true\" or \"false\"",
        "userData" => "a string of at most 256 characters",
        "maxDuration" => "an integer number of minutes, 0 to 1440 (0: no limit)",
        "collectInd" => "an integer 0 to 32: how many keys to collect",
        "templateParas" => "an array of strings, one per variable of the template",
        "playInfoList" => "an array of 1 to 5 segments, each with notifyVoice and/or templateId",
        "sessionid" => "the sessionId of a call of this app in progress",
        "signal" => "\"call_stop\"",
        _ => "a value as the platform's field table describes it",
    }
}

/// A string field that parses into its domain type: a phone number, a tone name, or a
/// verification code (a JSON string: a number would lose leading zeros, spec §4.1).
pub(super) fn domain<T: std::str::FromStr>(v: &Value) -> Option<T> {
    v.as_str()?.parse().ok()
}

/// A JSON integer; with `api.lenient_types`, also a string of digits.
pub(super) fn integer(v: &Value, lenient: bool) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if lenient && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// 1-128 characters of standard Base64 (padding optional) of an absolute http(s) URL.
pub(super) fn push_url(v: &Value) -> Option<PushUrl> {
    let s = v
        .as_str()
        .filter(|s| (1..=128).contains(&s.chars().count()))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
        .ok()?;
    // The decoded string is kept byte for byte: pushes go to, and sign, exactly this (spec §8).
    String::from_utf8(bytes).ok()?.parse().ok()
}

/// `"true"`/`"false"`, or (Dialtone decision) a JSON boolean.
pub(super) fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}
