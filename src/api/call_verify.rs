//! `POST /rest/httpsessions/callVerify/v1.0`: the voice verification-code call (spec §4).
//!
//! Read top to bottom: the sender authenticated and the body read ([`Authenticated`]), every
//! field parsed in the spec's table order into a typed request, checked against the app, handed
//! to the engine, answered.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::Value;

use super::extract::Authenticated;
use super::fields::{domain, integer, json_object, Fields, Tail};
use super::{app_of, place};
use crate::app::AppState;
use crate::audio::compose::verify_announcement;
use crate::audio::tones::ToneLibrary;
use crate::call::request::{CallKind, CallRequest, ToneName, VerifyCall};
use crate::config::App;
use crate::engine::CallMedia;
use crate::error::{ApiError, CallVerifyError};

/// The authentication rejection is taken as a value rather than left to axum, because every
/// callVerify error, authentication's included, carries `"sessionId":""` (spec §4.2).
pub async fn call_verify(
    State(state): State<AppState>,
    request: Result<Authenticated, ApiError>,
) -> Result<Response, CallVerifyError> {
    let Authenticated { app_key, body } = request?;
    let req = CallVerifyIn::parse(
        &body,
        &app_key,
        &state.config.languages,
        state.config.api.lenient_types,
    )?;
    let app = app_of(&state, &app_key)?;
    req.check_against(app, &state.audio.tones)?;
    // Voices and tones were checked at start-up and the tones just now: a failure here is ours.
    let manifest = verify_announcement(&state.audio, &state.config, &req.call)
        .map_err(|e| ApiError::Internal(format!("composing the announcement: {e}")))?;
    let return_idle_port = req.return_idle_port;
    Ok(place(
        &state,
        req.call,
        CallMedia::Announcement(Arc::new(manifest)),
        return_idle_port,
    )
    .await?)
}

/// A callVerify body after parsing: the call it asks for, every field typed and in range, and
/// whether the answer carries `idlePort`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallVerifyIn {
    pub call: CallRequest,
    pub return_idle_port: bool,
}

impl CallVerifyIn {
    /// Parses the body, checking fields in the order of spec §4.1's table; the first bad one is
    /// named in `1010002 "Invalid request. <field>"` (spec §4.2). Unknown fields are ignored.
    pub fn parse(
        bytes: &[u8],
        app_key: &str,
        languages: &BTreeMap<String, String>,
        lenient: bool,
    ) -> Result<CallVerifyIn, ApiError> {
        let body = json_object(bytes)?;
        let f = Fields(&body);
        let display_nbr = f.required("displayNbr", domain)?;
        let callee_nbr = f.required("calleeNbr", domain)?;
        let language_type = f.required("languageType", |v| integer(v, lenient))?;
        if !languages.contains_key(&language_type.to_string()) {
            let known: Vec<String> = languages
                .iter()
                .map(|(k, v)| format!("{k} ({v})"))
                .collect();
            return Err(ApiError::invalid("languageType").hint(format!(
                "languageType {language_type} is not in the configuration's `languages`: expected one of {}",
                known.join(", ")
            )));
        }
        let pre_tone = f.required("preTone", domain)?;
        let verify_code = f.required("verifyCode", domain)?;
        let pos_tone = f.optional("posTone", domain)?;
        let times = f
            .optional("times", |v| {
                integer(v, lenient).filter(|t| (0..=9).contains(t))
            })?
            .unwrap_or(3) as u8;
        let Tail {
            status_url,
            fee_url,
            return_idle_port,
            user_data,
        } = f.tail()?;
        // bindNbr is obsolete: accepted and ignored (spec §4.1).
        Ok(CallVerifyIn {
            call: CallRequest {
                app_key: app_key.into(),
                display_nbr,
                callee_nbr,
                status_url,
                fee_url,
                user_data,
                kind: CallKind::Verify(VerifyCall {
                    language_type,
                    pre_tone,
                    verify_code,
                    pos_tone,
                    times,
                }),
            },
            return_idle_port,
        })
    }

    /// The wire body that asks for `call`: the inverse of [`CallVerifyIn::parse`] (push URLs
    /// Base64-encoded, absent fields left out). `dialtone call` sends it. `None` for a call that
    /// is no verification call.
    pub fn body_for(call: &CallRequest, return_idle_port: bool) -> Option<Value> {
        let v = call.verify()?;
        let mut body = serde_json::json!({
            "displayNbr": call.display_nbr,
            "calleeNbr": call.callee_nbr,
            "languageType": v.language_type,
            "preTone": v.pre_tone,
            "verifyCode": v.verify_code,
            "times": v.times,
        });
        if let Some(pos) = &v.pos_tone {
            body["posTone"] = Value::String(pos.to_string());
        }
        super::fields::add_common(&mut body, call, return_idle_port);
        Some(body)
    }

    /// The verification part: [`CallVerifyIn::parse`] builds verification requests only.
    fn verify(&self) -> &VerifyCall {
        self.call
            .verify()
            .expect("CallVerifyIn::parse builds verification requests only")
    }

    /// Spec §4.2 steps 3-4: the display number and tones must be the app's: the bundled and
    /// shared tones, or the app's own `tones`.
    pub fn check_against(&self, app: &App, tones: &ToneLibrary) -> Result<(), ApiError> {
        super::ensure_display(app, "displayNbr", self.call.display_nbr.as_str())?;
        let verify = self.verify();
        let approved = |t: &ToneName| tones.is_approved(&app.app_key, t.as_str());
        let unapproved = |field: &str, t: &ToneName| {
            ApiError::invalid(field).hint(format!(
                "{field} `{t}` is not an approved tone of app {}: the bundled welcome.wav and \
                 bye.wav, [tones] dir, or the app's own `tones` in the configuration",
                app.app_key
            ))
        };
        if !approved(&verify.pre_tone) {
            return Err(unapproved("preTone", &verify.pre_tone));
        }
        if let Some(t) = verify.pos_tone.as_ref().filter(|t| !approved(t)) {
            return Err(unapproved("posTone", t));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::request::PushUrl;
    use crate::config::Config;

    fn parse(body: &str) -> Result<CallVerifyIn, ApiError> {
        CallVerifyIn::parse(
            body.as_bytes(),
            "k3Vd",
            &Config::embedded().languages,
            false,
        )
        .map_err(|e| e.plain().clone())
    }

    const SPEC_BODY: &str = r#"{"displayNbr":"+862087654321","calleeNbr":"+8613900001234","languageType":2,"preTone":"welcome.wav",
 "verifyCode":"4827","posTone":"bye.wav","times":3,
 "statusUrl":"aHR0cDovLzEyNy4wLjAuMTo5MDAwL3ZvaWNlL3N0YXR1cw==",
 "feeUrl":"aHR0cDovLzEyNy4wLjAuMTo5MDAwL3ZvaWNlL2ZlZQ==","returnIdlePort":"true","userData":"order-7781"}"#;

    #[test]
    fn the_spec_example_parses() {
        let r = parse(SPEC_BODY).unwrap();
        let url = |u: &Option<PushUrl>| u.as_ref().map(|u| u.to_string());
        assert_eq!(
            url(&r.call.status_url).as_deref(),
            Some("http://127.0.0.1:9000/voice/status")
        );
        assert_eq!(
            url(&r.call.fee_url).as_deref(),
            Some("http://127.0.0.1:9000/voice/fee")
        );
        let v = r.verify();
        assert_eq!((v.times, r.return_idle_port, v.language_type), (3, true, 2));
        assert_eq!((v.verify_code.as_str(), &*r.call.app_key), ("4827", "k3Vd"));
    }

    #[test]
    fn the_body_for_a_request_parses_back_to_it() {
        let r = parse(SPEC_BODY).unwrap();
        let body = CallVerifyIn::body_for(&r.call, true).unwrap().to_string();
        assert_eq!(parse(&body).unwrap(), r);
        let mut bare = r.call.clone();
        bare.status_url = None;
        bare.user_data = None;
        let body = CallVerifyIn::body_for(&bare, false).unwrap();
        assert!(body.get("statusUrl").is_none() && body.get("returnIdlePort").is_none());
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
        assert_eq!((r.verify().times, &r.verify().pos_tone), (3, &None));
    }

    #[test]
    fn lenient_types_accept_digit_strings() {
        let body = SPEC_BODY.replace("\"languageType\":2", "\"languageType\":\"2\"");
        assert_eq!(parse(&body).unwrap_err(), ApiError::invalid("languageType"));
        let lenient =
            CallVerifyIn::parse(body.as_bytes(), "k3Vd", &Config::embedded().languages, true);
        assert_eq!(lenient.unwrap().verify().language_type, 2);
    }

    #[test]
    fn not_an_object_is_invalid_request() {
        assert_eq!(parse("[1]").unwrap_err(), ApiError::invalid_body());
        assert_eq!(parse("{").unwrap_err(), ApiError::invalid_body());
    }
}
