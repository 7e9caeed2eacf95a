//! `POST /rest/httpsessions/click2Call/v2.0`: click-to-call, connecting A and B (spec §12).
//!
//! Read top to bottom: the sender authenticated and the body read ([`Authenticated`]); every
//! field parsed in §12.1's table order into a typed request; checked against the app in §12.2's
//! order (display numbers, tones, recording); the voices measured; the call handed to the
//! engine; answered.

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::extract::Authenticated;
use super::fields::{domain, flag, integer, json_object, push_url, Fields, Json};
use super::{app_of, place};
use crate::app::AppState;
use crate::call::click2call::CallbackMedia;
use crate::call::request::{CallKind, CallRequest, CallbackCall, PhoneNumber, ToneName};
use crate::config::App;
use crate::engine::CallMedia;
use crate::error::{ApiError, CallVerifyError};

/// How long the platform's default `preVoice` ("正在为您转接中，请稍后") and record hint ("您好，
/// 本次通话将被录音") last when the request names no tone of its own. Dialtone decision: the
/// lengths of those sentences spoken; the sentences themselves are not rendered.
const DEFAULT_PRE_VOICE_MS: u64 = 3000;
const DEFAULT_RECORD_HINT_MS: u64 = 2500;

/// Every error carries `"sessionId":""`, authentication's included (spec §12.2, §4.2).
pub async fn click_to_call(
    State(state): State<AppState>,
    request: Result<Authenticated, ApiError>,
) -> Result<Response, CallVerifyError> {
    let Authenticated { app_key, body } = request?;
    let req = ClickToCallIn::parse(&body, &app_key, state.config.api.lenient_types)?;
    let app = app_of(&state, &app_key)?;
    let media = req.check_against(app, &state)?;
    let return_idle_port = req.return_idle_port;
    Ok(place(
        &state,
        req.call,
        CallMedia::Callback(media),
        return_idle_port,
    )
    .await?)
}

/// A click2Call body after parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct ClickToCallIn {
    /// `callee_nbr` is A (`callerNbr`), the number called first.
    pub call: CallRequest,
    pub return_idle_port: bool,
}

impl ClickToCallIn {
    /// Parses the body in the order of spec §12.1's table; the first bad field is named in
    /// `1010002 "Invalid request. <field>"`, except a bad `callerNbr`: `1010024`.
    pub fn parse(bytes: &[u8], app_key: &str, lenient: bool) -> Result<ClickToCallIn, ApiError> {
        let body = json_object(bytes)?;
        let f = Fields(&body);
        // bindNbr is obsolete: accepted and ignored (spec §12.1).
        let display_nbr: PhoneNumber = f.required("displayNbr", domain)?;
        let a_nbr: PhoneNumber = f
            .required("callerNbr", domain)
            .map_err(|_| ApiError::InvalidCallerNumber)?;
        let display_callee_nbr: PhoneNumber = f.required("displayCalleeNbr", domain)?;
        let b_nbr: PhoneNumber = f.required("calleeNbr", domain)?;
        // Dialtone decision: the pushes could not tell the legs apart (spec §12.1).
        if b_nbr == a_nbr {
            return Err(ApiError::invalid("calleeNbr"));
        }
        let max_duration = f
            .optional("maxDuration", |v| {
                integer(v, lenient).filter(|m| (0..=1440).contains(m))
            })?
            .unwrap_or(0) as u32;
        let last_min_voice = match max_duration {
            0 => None,
            _ => f.optional("lastMinVoice", domain)?,
        };
        let last_min_to_ue = f
            .optional("lastMinToUE", |v| one_of(v, &["toa", "tob", "both"]))?
            .unwrap_or_else(|| "both".into());
        let play_pre_voice = f.optional("playPreVoice", flag)?.unwrap_or(false);
        let pre_voice = match play_pre_voice {
            true => f.optional("preVoice", domain)?,
            false => None,
        };
        let wait_voice = f.optional("waitVoice", domain)?;
        let callee_media = f
            .optional("calleeMedia", |v| one_of(v, &["all", "none", "fail"]))?
            .unwrap_or_else(|| "all".into());
        let status_url = f.optional("statusUrl", push_url)?;
        let fee_url = f.optional("feeUrl", push_url)?;
        let record = f.optional("recordFlag", flag)?.unwrap_or(false);
        let record_hint_tone = match record {
            true => f.optional("recordHintTone", domain)?,
            false => None,
        };
        let party_type_in_disconnect = f
            .optional("partyTypeRequiredInDisconnect", flag)?
            .unwrap_or(false);
        let return_idle_port = f.optional("returnIdlePort", flag)?.unwrap_or(false);
        let user_data = f.optional("userData", |v| {
            v.as_str()
                .filter(|s| (1..=256).contains(&s.chars().count()))
                .map(str::to_owned)
        })?;
        Ok(ClickToCallIn {
            call: CallRequest {
                app_key: app_key.into(),
                display_nbr,
                callee_nbr: a_nbr,
                status_url,
                fee_url,
                user_data,
                kind: CallKind::Callback(Box::new(CallbackCall {
                    display_callee_nbr,
                    b_nbr,
                    max_duration,
                    last_min_voice,
                    last_min_to_ue,
                    pre_voice,
                    play_pre_voice,
                    wait_voice,
                    callee_media,
                    record,
                    record_hint_tone,
                    party_type_in_disconnect,
                })),
            },
            return_idle_port,
        })
    }

    /// The wire body that asks for `call` (a click-to-call): the inverse of
    /// [`ClickToCallIn::parse`]. `dialtone callback` sends it. `None` for another kind of call.
    pub fn body_for(call: &CallRequest, return_idle_port: bool) -> Option<Value> {
        let c = call.callback()?;
        let mut body = json!({
            "displayNbr": call.display_nbr,
            "callerNbr": call.callee_nbr,
            "displayCalleeNbr": c.display_callee_nbr,
            "calleeNbr": c.b_nbr,
        });
        let flag = |b: bool| b.then(|| json!("true"));
        let tone = |t: &Option<ToneName>| t.as_ref().map(|t| json!(t));
        let optional = [
            (
                "maxDuration",
                (c.max_duration > 0).then(|| json!(c.max_duration)),
            ),
            ("lastMinVoice", tone(&c.last_min_voice)),
            ("playPreVoice", flag(c.play_pre_voice)),
            ("preVoice", tone(&c.pre_voice)),
            ("waitVoice", tone(&c.wait_voice)),
            ("recordFlag", flag(c.record)),
            ("recordHintTone", tone(&c.record_hint_tone)),
            (
                "partyTypeRequiredInDisconnect",
                flag(c.party_type_in_disconnect),
            ),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                body[name] = value;
            }
        }
        super::fields::add_common(&mut body, call, return_idle_port);
        Some(body)
    }

    /// Spec §12.2 steps 3-5: both display numbers the app's, every tone approved for it,
    /// recording enabled if asked. Returns what the call plays, measured.
    pub fn check_against(&self, app: &App, state: &AppState) -> Result<CallbackMedia, ApiError> {
        let CallKind::Callback(c) = &self.call.kind else {
            return Err(ApiError::Internal(
                "a click2Call request of another kind".into(),
            ));
        };
        super::ensure_display(app, "displayNbr", self.call.display_nbr.as_str())?;
        super::ensure_display(app, "displayCalleeNbr", c.display_callee_nbr.as_str())?;
        let tones = [
            ("lastMinVoice", &c.last_min_voice),
            ("preVoice", &c.pre_voice),
            ("waitVoice", &c.wait_voice),
            ("recordHintTone", &c.record_hint_tone),
        ];
        for (field, tone) in tones {
            if let Some(t) = tone {
                length(state, &app.app_key, field, t)?;
            }
        }
        if c.record && !app.recording {
            return Err(ApiError::RecordingDisabled);
        }
        let measured = |field, tone: &Option<ToneName>, default| match tone {
            Some(t) => length(state, &app.app_key, field, t),
            None => Ok(default),
        };
        Ok(CallbackMedia {
            pre_voice_ms: match c.play_pre_voice {
                true => Some(measured("preVoice", &c.pre_voice, DEFAULT_PRE_VOICE_MS)?),
                false => None,
            },
            record_hint_ms: match c.record {
                true => Some(measured(
                    "recordHintTone",
                    &c.record_hint_tone,
                    DEFAULT_RECORD_HINT_MS,
                )?),
                false => None,
            },
            record: c.record,
            max_duration_min: c.max_duration,
        })
    }
}

/// The length of an approved tone, or `1010002` naming `field`.
fn length(state: &AppState, app_key: &str, field: &str, tone: &ToneName) -> Result<u64, ApiError> {
    state
        .audio
        .tones
        .get(Some(app_key), tone.as_str())
        .filter(|_| state.audio.tones.is_approved(app_key, tone.as_str()))
        .map(|clip| clip.duration_ms())
        .ok_or_else(|| ApiError::invalid(field))
}

/// A string out of a fixed set.
fn one_of(v: &Json, allowed: &[&str]) -> Option<String> {
    v.as_str()
        .filter(|s| allowed.contains(s))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"displayNbr":"+862087654321","callerNbr":"+8613900001234",
        "displayCalleeNbr":"+862087654322","calleeNbr":"+8613700005678","recordFlag":"true",
        "partyTypeRequiredInDisconnect":"true","userData":"ticket-4410"}"#;

    fn parse(body: &str) -> Result<ClickToCallIn, ApiError> {
        ClickToCallIn::parse(body.as_bytes(), "k3Vd", true).map_err(|e| e.plain().clone())
    }

    #[test]
    fn the_example_parses_with_a_as_the_number_called_first() {
        let r = parse(BODY).unwrap();
        assert_eq!(r.call.callee_nbr, "+8613900001234");
        let c = r.call.callback().unwrap();
        assert_eq!(
            (c.b_nbr.as_str(), c.record, c.party_type_in_disconnect),
            ("+8613700005678", true, true)
        );
        assert_eq!(
            (c.callee_media.as_str(), c.last_min_to_ue.as_str()),
            ("all", "both")
        );
    }

    #[test]
    fn a_bad_caller_number_has_its_own_code_and_other_fields_are_named() {
        let bad = BODY.replace("\"+8613900001234\"", "\"13900001234\"");
        assert_eq!(parse(&bad), Err(ApiError::InvalidCallerNumber));
        let same = BODY.replace("+8613700005678", "+8613900001234");
        assert_eq!(parse(&same), Err(ApiError::invalid("calleeNbr")));
        let long = BODY.replace(r#""recordFlag""#, r#""maxDuration":1441,"recordFlag""#);
        assert_eq!(parse(&long), Err(ApiError::invalid("maxDuration")));
        let media = BODY.replace(r#""recordFlag""#, r#""calleeMedia":"some","recordFlag""#);
        assert_eq!(parse(&media), Err(ApiError::invalid("calleeMedia")));
    }
}
