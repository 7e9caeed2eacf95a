//! Reading the platform's JSON bodies field by field, in the spec's table order, so the first bad
//! field is the one named in `1010002 "Invalid request. <field>"` (spec §4.2, §11.3, §12.2).
//! Shared by every call API.

use std::borrow::Cow;

use base64::Engine as _;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

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

/// A JSON value read from a request body, its strings borrowed from the body's bytes (owned only
/// when they hold escapes).
///
/// Why not `serde_json::Value`: building one gave every key and string its own allocation and
/// every object a `BTreeMap`, half of a callVerify's parsing time under load. This is filled by
/// the same serde_json deserializer through the same `visit_*` calls as `Value`, so it accepts and
/// rejects exactly the same bodies (syntax, UTF-8, escapes, number range, nesting depth), and its
/// numbers are `Number`s made the same way. `src/api/parse_equivalence.rs` compares the two on a
/// table of tricky bodies.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Every member in body order, duplicates included; [`Fields`] reads the last, as `Value`'s map
    /// keeps it.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The same value as a `serde_json::Value`: what the hints quote (error paths only).
    pub(super) fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.to_string()),
            Json::Array(a) => Value::Array(a.iter().map(Json::to_value).collect()),
            // Collecting into a `Map` inserts in order: the last duplicate wins, as in `Value`.
            Json::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }

    fn into_owned(self) -> Json<'static> {
        match self {
            Json::Null => Json::Null,
            Json::Bool(b) => Json::Bool(b),
            Json::Number(n) => Json::Number(n),
            Json::String(s) => Json::String(Cow::Owned(s.into_owned())),
            Json::Array(a) => Json::Array(a.into_iter().map(Json::into_owned).collect()),
            Json::Object(o) => Json::Object(
                o.into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json<'de>, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

/// The first key by which `serde_json::Value` recognises a serialized `RawValue` (serde_json's
/// `raw_value` feature, which axum enables): `Value` then parses that member's string as the
/// whole value. Mirrored so that even this body parses as before.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// `serde_json::Value`'s visitor, value for value, with borrowed strings.
struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json<'de>, D::Error> {
        Deserialize::deserialize(deserializer)
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let Some(Key(first)) = map.next_key()? else {
            return Ok(Json::Object(Vec::new()));
        };
        if first == RAW_VALUE_TOKEN {
            let raw: String = map.next_value()?;
            return serde_json::from_str::<Json>(&raw)
                .map(Json::into_owned)
                .map_err(de::Error::custom);
        }
        // A request body has about a dozen members: one allocation holds them.
        let mut members = Vec::with_capacity(16);
        members.push((first, map.next_value()?));
        while let Some((Key(key), value)) = map.next_entry()? {
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

/// An object's key, borrowed unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a string key")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }

            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A body's fields: an object's members.
pub(super) struct Fields<'b, 'a>(pub(super) &'b [(Cow<'a, str>, Json<'a>)]);

/// A request body as a JSON object: anything else (not JSON, an array, a string) is the
/// platform's `1010002` for the body.
pub(super) fn json_object(bytes: &[u8]) -> Result<Vec<(Cow<'_, str>, Json<'_>)>, ApiError> {
    match serde_json::from_slice(bytes) {
        Ok(Json::Object(body)) => Ok(body),
        _ => Err(ApiError::invalid_body()),
    }
}

impl<'b, 'a> Fields<'b, 'a> {
    /// The member `name`: the last one if the body repeats it, as `serde_json::Value` kept it.
    fn get(&self, name: &str) -> Option<&'b Json<'a>> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub(super) fn optional<T>(
        &self,
        name: &str,
        parse: impl Fn(&'b Json<'a>) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        match self.get(name) {
            None | Some(Json::Null) => Ok(None),
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
        parse: impl Fn(&'b Json<'a>) -> Option<T>,
    ) -> Result<T, ApiError> {
        self.optional(name, parse)?.ok_or_else(|| {
            ApiError::invalid(name).hint(format!("{name} is missing: expected {}", expected(name)))
        })
    }
}

/// A value as the hint quotes it: JSON, cut short.
fn shown(v: &Json) -> String {
    let json = v.to_value().to_string();
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
pub(super) fn domain<T: std::str::FromStr>(v: &Json) -> Option<T> {
    v.as_str()?.parse().ok()
}

/// A JSON integer; with `api.lenient_types`, also a string of digits.
pub(super) fn integer(v: &Json, lenient: bool) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64(),
        Json::String(s) if lenient && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// 1-128 characters of standard Base64 (padding optional) of an absolute http(s) URL.
pub(super) fn push_url(v: &Json) -> Option<PushUrl> {
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
pub(super) fn flag(v: &Json) -> Option<bool> {
    match v {
        Json::Bool(b) => Some(*b),
        Json::String(s) if s == "true" => Some(true),
        Json::String(s) if s == "false" => Some(false),
        _ => None,
    }
}
