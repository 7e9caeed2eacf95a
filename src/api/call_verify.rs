//! `POST /rest/httpsessions/callVerify/v1.0`: the voice verification-code call (spec §4).
//!
//! Read top to bottom: the sender authenticated and the body read ([`Authenticated`]), every
//! field parsed in the spec's table order into a typed request, checked against the app, handed
//! to the engine, answered.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};

use super::extract::Authenticated;
use crate::app::AppState;
use crate::audio::compose::{compose, AnnouncementRequest, Manifest};
use crate::audio::tones::ToneLibrary;
use crate::config::{check_push_url, is_global_number, is_tone_name, App};
use crate::engine::NewCall;
use crate::error::{platform_json, ApiError, CallVerifyError};

/// The success answer (spec §4.3).
#[derive(Debug, Serialize)]
pub struct CallVerifyOut {
    resultcode: &'static str,
    resultdesc: &'static str,
    #[serde(rename = "sessionId")]
    session_id: String,
    #[serde(rename = "idlePort", skip_serializing_if = "Option::is_none")]
    idle_port: Option<u32>,
}

/// The authentication rejection is taken as a value rather than left to axum, because every
/// callVerify error, authentication's included, carries `"sessionId":""` (spec §4.2).
pub async fn call_verify(
    State(state): State<AppState>,
    request: Result<Authenticated, ApiError>,
) -> Result<Response, CallVerifyError> {
    let Authenticated { app_key, body } = request?;
    let req = CallVerifyIn::parse(
        &body,
        &state.config.languages,
        state.config.api.lenient_types,
    )?;
    let app = state
        .config
        .app(&app_key)
        .ok_or_else(|| ApiError::Internal(format!("authenticated unknown app {app_key}")))?;
    req.check_against(app, &state.audio.tones)?;
    let manifest = req.compose(&state, &app_key)?;
    let return_idle_port = req.return_idle_port;
    let accepted = state.engine.accept(req.into_new_call(app_key, manifest))?;
    // Answer "0" only once the call is in the database: a crash after this loses nothing.
    state.engine.committed().await;
    let out = CallVerifyOut {
        resultcode: "0",
        resultdesc: "Success",
        session_id: accepted.session_id,
        idle_port: return_idle_port.then_some(accepted.idle_port),
    };
    Ok(platform_json(StatusCode::OK, &out))
}

/// A callVerify body after parsing: every field present, typed and in range.
#[derive(Debug, Clone, PartialEq)]
pub struct CallVerifyIn {
    pub display_nbr: String,
    pub callee_nbr: String,
    pub language_type: i64,
    pub pre_tone: String,
    pub verify_code: String,
    pub pos_tone: Option<String>,
    pub times: u8,
    pub status_url: Option<String>,
    pub fee_url: Option<String>,
    pub return_idle_port: bool,
    pub user_data: Option<String>,
}

impl CallVerifyIn {
    /// Parses the body, checking fields in the order of spec §4.1's table; the first bad one is
    /// named in `1010002 "Invalid request. <field>"` (spec §4.2). Unknown fields are ignored.
    pub fn parse(
        bytes: &[u8],
        languages: &BTreeMap<String, String>,
        lenient: bool,
    ) -> Result<CallVerifyIn, ApiError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| ApiError::invalid_body())?;
        let Value::Object(body) = value else {
            return Err(ApiError::invalid_body());
        };
        let f = Fields(&body);
        let display_nbr = f.required("displayNbr", number)?;
        let callee_nbr = f.required("calleeNbr", number)?;
        let language_type = f.required("languageType", |v| integer(v, lenient))?;
        if !languages.contains_key(&language_type.to_string()) {
            return Err(ApiError::invalid("languageType"));
        }
        let pre_tone = f.required("preTone", tone)?;
        let verify_code = f.required("verifyCode", code)?;
        let pos_tone = f.optional("posTone", tone)?;
        let times = f
            .optional("times", |v| {
                integer(v, lenient).filter(|t| (0..=9).contains(t))
            })?
            .unwrap_or(3) as u8;
        let status_url = f.optional("statusUrl", push_url)?;
        let fee_url = f.optional("feeUrl", push_url)?;
        let return_idle_port = f.optional("returnIdlePort", flag)?.unwrap_or(false);
        let user_data = f.optional("userData", |v| {
            v.as_str()
                .filter(|s| s.chars().count() <= 256)
                .map(str::to_owned)
        })?;
        // bindNbr is obsolete: accepted and ignored (spec §4.1).
        Ok(CallVerifyIn {
            display_nbr,
            callee_nbr,
            language_type,
            pre_tone,
            verify_code,
            pos_tone,
            times,
            status_url,
            fee_url,
            return_idle_port,
            user_data,
        })
    }

    /// Spec §4.2 steps 3-4: the display number and tones must be the app's: the bundled and
    /// shared tones, or the app's own `tones`.
    pub fn check_against(&self, app: &App, tones: &ToneLibrary) -> Result<(), ApiError> {
        if !app.numbers.contains(&self.display_nbr) {
            return Err(ApiError::DisplayNumberInvalid);
        }
        let approved = |t: &str| tones.is_approved(&app.app_key, t);
        if !approved(&self.pre_tone) {
            return Err(ApiError::invalid("preTone"));
        }
        if self.pos_tone.as_deref().is_some_and(|t| !approved(t)) {
            return Err(ApiError::invalid("posTone"));
        }
        Ok(())
    }

    /// What the callee will hear: the tones and the code read in the voice of `languageType`.
    fn compose(&self, state: &AppState, app_key: &str) -> Result<Arc<Manifest>, ApiError> {
        let language = state
            .config
            .languages
            .get(&self.language_type.to_string())
            .ok_or_else(|| ApiError::invalid("languageType"))?;
        let request = AnnouncementRequest {
            language,
            app_key: Some(app_key),
            pre_tone: &self.pre_tone,
            code: &self.verify_code,
            times: self.times,
            pos_tone: self.pos_tone.as_deref(),
        };
        // Voices and tones were checked at start-up and the tones just now: a failure here is ours.
        compose(&state.audio, &request, &state.config.call)
            .map(Arc::new)
            .map_err(|e| ApiError::Internal(format!("composing the announcement: {e}")))
    }

    pub fn into_new_call(self, app_key: String, manifest: Arc<Manifest>) -> NewCall {
        NewCall {
            app_key,
            display_nbr: self.display_nbr,
            callee_nbr: self.callee_nbr,
            language_type: self.language_type,
            pre_tone: self.pre_tone,
            verify_code: self.verify_code,
            pos_tone: self.pos_tone,
            times: self.times,
            status_url: self.status_url,
            fee_url: self.fee_url,
            user_data: self.user_data,
            manifest,
        }
    }
}

/// Field access where `null` means absent (spec §4.1, "Types").
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn optional<T>(
        &self,
        name: &str,
        parse: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => parse(v).map(Some).ok_or_else(|| ApiError::invalid(name)),
        }
    }

    fn required<T>(&self, name: &str, parse: impl Fn(&Value) -> Option<T>) -> Result<T, ApiError> {
        self.optional(name, parse)?
            .ok_or_else(|| ApiError::invalid(name))
    }
}

fn number(v: &Value) -> Option<String> {
    v.as_str()
        .filter(|s| is_global_number(s))
        .map(str::to_owned)
}

/// A JSON integer; with `api.lenient_types`, also a string of digits.
fn integer(v: &Value, lenient: bool) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if lenient && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

fn tone(v: &Value) -> Option<String> {
    v.as_str().filter(|s| is_tone_name(s)).map(str::to_owned)
}

/// 2-8 digits, as a JSON string: a number would lose leading zeros (spec §4.1).
fn code(v: &Value) -> Option<String> {
    v.as_str()
        .filter(|s| (2..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

/// 1-128 characters of standard Base64 (padding optional) of an absolute http(s) URL.
fn push_url(v: &Value) -> Option<String> {
    let s = v
        .as_str()
        .filter(|s| (1..=128).contains(&s.chars().count()))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
        .ok()?;
    let url = String::from_utf8(bytes).ok()?;
    check_push_url(&url).ok()?;
    // The decoded string is kept byte for byte: pushes go to, and sign, exactly this (spec §8).
    Some(url)
}

/// `"true"`/`"false"`, or (Dialtone decision) a JSON boolean.
fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn parse(body: &str) -> Result<CallVerifyIn, ApiError> {
        CallVerifyIn::parse(body.as_bytes(), &Config::embedded().languages, false)
    }

    const SPEC_BODY: &str = r#"{"displayNbr":"+862087654321","calleeNbr":"+8613900001234","languageType":2,"preTone":"welcome.wav",
 "verifyCode":"4827","posTone":"bye.wav","times":3,
 "statusUrl":"aHR0cDovLzEyNy4wLjAuMTo5MDAwL3ZvaWNlL3N0YXR1cw==",
 "feeUrl":"aHR0cDovLzEyNy4wLjAuMTo5MDAwL3ZvaWNlL2ZlZQ==","returnIdlePort":"true","userData":"order-7781"}"#;

    #[test]
    fn the_spec_example_parses() {
        let r = parse(SPEC_BODY).unwrap();
        assert_eq!(
            r.status_url.as_deref(),
            Some("http://127.0.0.1:9000/voice/status")
        );
        assert_eq!(
            r.fee_url.as_deref(),
            Some("http://127.0.0.1:9000/voice/fee")
        );
        assert_eq!((r.times, r.return_idle_port, r.language_type), (3, true, 2));
    }

    #[test]
    fn the_first_bad_field_in_table_order_is_named() {
        let bad = SPEC_BODY
            .replace("\"4827\"", "\"48a7\"")
            .replace("\"+8613900001234\"", "\"13900001234\"");
        assert_eq!(parse(&bad).unwrap_err(), ApiError::invalid("calleeNbr"));
    }

    #[test]
    fn a_numeric_verify_code_is_rejected() {
        let bad = SPEC_BODY.replace("\"4827\"", "4827");
        assert_eq!(parse(&bad).unwrap_err(), ApiError::invalid("verifyCode"));
    }

    #[test]
    fn null_means_absent_and_defaults_apply() {
        let body = SPEC_BODY
            .replace("\"times\":3", "\"times\":null")
            .replace("\"bye.wav\"", "null");
        let r = parse(&body).unwrap();
        assert_eq!((r.times, r.pos_tone), (3, None));
    }

    #[test]
    fn lenient_types_accept_digit_strings() {
        let body = SPEC_BODY.replace("\"languageType\":2", "\"languageType\":\"2\"");
        assert_eq!(parse(&body).unwrap_err(), ApiError::invalid("languageType"));
        let lenient = CallVerifyIn::parse(body.as_bytes(), &Config::embedded().languages, true);
        assert_eq!(lenient.unwrap().language_type, 2);
    }

    #[test]
    fn not_an_object_is_invalid_request() {
        assert_eq!(parse("[1]").unwrap_err(), ApiError::invalid_body());
        assert_eq!(parse("{").unwrap_err(), ApiError::invalid_body());
    }
}
