//! `POST /rest/httpsessions/callnotify/v2.0` (and `v1.0`, the same): the voice notification
//! (spec §11).
//!
//! Read top to bottom: the sender authenticated and the body read ([`Authenticated`]); every
//! field parsed in §11.1's table order (each `playInfoList` entry in turn, its fields in table
//! order) into a typed request; checked against the app in §11.3's order (display number, then
//! each segment's voice file and template); each segment's length measured from its clips; the
//! call handed to the engine; answered.

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::extract::Authenticated;
use super::fields::{domain, flag, integer, json_object, Fields, Json, Tail};
use super::{app_of, place};
use crate::app::AppState;
use std::sync::Arc;

use crate::audio::{compose_playback, Playback};
use crate::call::notify::PlaySegment;
use crate::call::request::{CallKind, CallRequest, NotifyCall, PlayInfo, ToneName};
use crate::call::template::{FilledTemplate, TemplateError};
use crate::call::Notification;
use crate::config::App;
use crate::engine::CallMedia;
use crate::error::{ApiError, CallVerifyError};

/// At most this many segments (spec §11.1).
const MAX_SEGMENTS: usize = 5;

/// Every error carries `"sessionId":""`, authentication's included (spec §11.3, §4.2).
pub async fn call_notify(
    State(state): State<AppState>,
    request: Result<Authenticated, ApiError>,
) -> Result<Response, CallVerifyError> {
    let Authenticated { app_key, body } = request?;
    let req = CallNotifyIn::parse(&body, &app_key, state.config.api.lenient_types)?;
    let app = app_of(&state, &app_key)?;
    let playbacks = req.check_against(app, &state)?;
    let notification = Notification {
        segments: req.segments_of(&playbacks),
        timings: state.config.notify,
    };
    let return_idle_port = req.return_idle_port;
    let media = CallMedia::Notification(notification, Arc::new(playbacks));
    Ok(place(&state, req.call, media, return_idle_port).await?)
}

/// A callnotify body after parsing: the call it asks for, every field typed and in range, and
/// whether the answer carries `idlePort`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallNotifyIn {
    pub call: CallRequest,
    pub return_idle_port: bool,
}

impl CallNotifyIn {
    /// Parses the body in the order of spec §11.1's tables; the first bad field is named in
    /// `1010002 "Invalid request. <field>"` (a bad field inside a segment without an index).
    /// Unknown fields are ignored (an old client's `ttsContent` included).
    pub fn parse(bytes: &[u8], app_key: &str, lenient: bool) -> Result<CallNotifyIn, ApiError> {
        let body = json_object(bytes)?;
        let f = Fields(&body);
        // bindNbr is obsolete: accepted and ignored (spec §11.1).
        let display_nbr = f.required("displayNbr", domain)?;
        let callee_nbr = f.required("calleeNbr", domain)?;
        let list = f.required("playInfoList", |v| {
            v.as_array()
                .filter(|a| (1..=MAX_SEGMENTS).contains(&a.len()))
        })?;
        let play_info_list = list
            .iter()
            .map(|entry| play_info(entry, lenient))
            .collect::<Result<Vec<_>, _>>()?;
        let Tail {
            status_url,
            fee_url,
            return_idle_port,
            user_data,
        } = f.tail()?;
        Ok(CallNotifyIn {
            call: CallRequest {
                app_key: app_key.into(),
                display_nbr,
                callee_nbr,
                status_url,
                fee_url,
                user_data,
                kind: CallKind::Notify(NotifyCall { play_info_list }),
            },
            return_idle_port,
        })
    }

    /// The wire body that asks for `call` (a notification): the inverse of
    /// [`CallNotifyIn::parse`]. `dialtone notify` sends it. `None` for another kind of call.
    pub fn body_for(call: &CallRequest, return_idle_port: bool) -> Option<Value> {
        let n = call.notify()?;
        let segments: Vec<Value> = n
            .play_info_list
            .iter()
            .map(|p| {
                let mut s = serde_json::Map::new();
                if let Some(v) = &p.notify_voice {
                    s.insert("notifyVoice".into(), json!(v));
                }
                if let Some(t) = &p.template_id {
                    s.insert("templateId".into(), json!(t));
                    s.insert("templateParas".into(), json!(p.template_paras));
                }
                if p.collect_ind > 0 {
                    s.insert("collectInd".into(), json!(p.collect_ind));
                }
                if let Some(trigger) = &p.replay_on {
                    s.insert("replayAfterCollection".into(), json!("true"));
                    s.insert("collectContentTriggerReplaying".into(), json!(trigger));
                }
                Value::Object(s)
            })
            .collect();
        let mut body = json!({
            "displayNbr": call.display_nbr,
            "calleeNbr": call.callee_nbr,
            "playInfoList": segments,
        });
        super::fields::add_common(&mut body, call, return_idle_port);
        Some(body)
    }

    fn segments(&self) -> &[PlayInfo] {
        match &self.call.kind {
            CallKind::Notify(n) => &n.play_info_list,
            _ => &[],
        }
    }

    /// Spec §11.3 steps 3-4: the display number must be the app's; then, segment by segment,
    /// the voice file must be approved for the app and the template must exist with fitting
    /// parameters. Returns what each segment sounds like, composed from its clips (the
    /// template read by Dialtone's TTS).
    pub fn check_against(&self, app: &App, state: &AppState) -> Result<Vec<Playback>, ApiError> {
        super::ensure_display(app, "displayNbr", self.call.display_nbr.as_str())?;
        self.segments()
            .iter()
            .map(|p| {
                if let Some(voice) = &p.notify_voice {
                    if !state.audio.tones.is_approved(&app.app_key, voice.as_str()) {
                        return Err(ApiError::invalid("notifyVoice"));
                    }
                }
                let filled = match &p.template_id {
                    Some(id) => Some(fill(state, &app.app_key, id, &p.template_paras)?),
                    None => None,
                };
                compose_playback(
                    &state.audio,
                    &app.app_key,
                    p.notify_voice.as_ref().map(ToneName::as_str),
                    filled.as_ref(),
                    state.config.tts.language,
                )
                // Voices, tones and templates were checked at start-up and just now.
                .map_err(|e| ApiError::Internal(format!("composing a segment: {e}")))
            })
            .collect()
    }

    /// Each segment's timing for the call, from what it sounds like.
    fn segments_of(&self, playbacks: &[Playback]) -> Vec<PlaySegment> {
        self.segments()
            .iter()
            .zip(playbacks)
            .map(|(p, pb)| PlaySegment {
                length_ms: pb.length_ms,
                tts_ms: pb.tts_ms,
                has_template: pb.has_template,
                collect: p.collect_ind,
                replay_on: p.replay_on.clone(),
            })
            .collect()
    }
}

/// The template `id` of the app's developer, filled with `paras` (spec §11.3 step 4): 1012003
/// if there is none, 1012004 for a wrong number of values, 1012005 naming the variable a value
/// does not fit.
fn fill(
    state: &AppState,
    app_key: &str,
    id: &str,
    paras: &[String],
) -> Result<FilledTemplate, ApiError> {
    let template = state.config.template(app_key, id).ok_or_else(|| {
        ApiError::TemplateNotFound.hint(format!(
            "no template `{id}` for app {app_key}: templates are configuration \
                 (developers[].templates); the embedded default has tpl_bill"
        ))
    })?;
    let content = template.content().to_owned();
    template.fill(paras).map_err(|e| match e {
        TemplateError::ParamCount { .. } => ApiError::TemplateParaCount.hint(format!(
            "template `{id}` ({content}) takes one templateParas value per variable; {} given",
            paras.len()
        )),
        TemplateError::Param { variable } => {
            let hint =
                format!("a templateParas value does not fit {variable} of `{id}` ({content})");
            ApiError::TemplateParaInvalid { variable }.hint(hint)
        }
    })
}

/// One `playInfoList` entry (spec §11.1, PlayContentInfo), fields in table order.
fn play_info(entry: &Json, lenient: bool) -> Result<PlayInfo, ApiError> {
    let Json::Object(map) = entry else {
        return Err(ApiError::invalid("playInfoList"));
    };
    let f = Fields(map);
    let notify_voice: Option<ToneName> = f.optional("notifyVoice", domain)?;
    let template_id = f.optional("templateId", |v| {
        v.as_str().filter(|s| is_template_id(s)).map(str::to_owned)
    })?;
    if notify_voice.is_none() && template_id.is_none() {
        return Err(ApiError::invalid("playInfoList"));
    }
    // With only a voice file, templateParas is ignored (spec §11.1 decision).
    let template_paras = match template_id {
        Some(_) => f.required("templateParas", |v| template_paras(v, lenient))?,
        None => Vec::new(),
    };
    let collect_ind = f
        .optional("collectInd", |v| {
            integer(v, lenient).filter(|n| (0..=32).contains(n))
        })?
        .unwrap_or(0) as u8;
    // The replay fields count only when their precondition holds (spec §11.1).
    let replay = match collect_ind {
        0 => false,
        _ => f.optional("replayAfterCollection", flag)?.unwrap_or(false),
    };
    let replay_on = match replay {
        false => None,
        true => f.optional("collectContentTriggerReplaying", trigger)?,
    };
    Ok(PlayInfo {
        notify_voice,
        template_id,
        template_paras,
        collect_ind,
        replay_on,
    })
}

/// A template id: 1-32 characters `[A-Za-z0-9_-]` (spec §11.2 decision).
fn is_template_id(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An array of strings, each at most 32 bytes. With `api.lenient_types`, numbers count as their
/// decimal text and the array may come as a JSON string holding it (legacy PHP clients).
fn template_paras(v: &Json, lenient: bool) -> Option<Vec<String>> {
    let parsed;
    let array = match v {
        Json::Array(a) => a,
        Json::String(s) if lenient => {
            parsed = serde_json::from_str::<Json>(s).ok()?;
            parsed.as_array()?
        }
        _ => return None,
    };
    array
        .iter()
        .map(|p| match p {
            Json::String(s) => Some(s.to_string()),
            Json::Number(n) if lenient => Some(n.to_string()),
            _ => None,
        })
        .map(|p| p.filter(|s| s.len() <= 32))
        .collect()
}

/// The replay trigger: 1-32 characters of `0`-`9` and `*`; a JSON integer reads as its decimal
/// text (spec §11.1).
fn trigger(v: &Json) -> Option<String> {
    let s = match v {
        Json::String(s) => s.to_string(),
        Json::Number(n) if n.is_u64() => n.to_string(),
        _ => return None,
    };
    ((1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit() || b == b'*')).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<CallNotifyIn, ApiError> {
        CallNotifyIn::parse(body.as_bytes(), "k3Vd", true).map_err(|e| e.plain().clone())
    }

    const SPEC_BODY: &str = r#"{"displayNbr":"+862087654321","calleeNbr":"+8613900001234","userData":"bill-2291",
 "playInfoList":[{"templateId":"tpl_bill","templateParas":["张先生","128.50"],"collectInd":1,
                  "replayAfterCollection":"true","collectContentTriggerReplaying":"1"}]}"#;

    #[test]
    fn the_spec_example_parses() {
        let r = parse(SPEC_BODY).unwrap();
        let CallKind::Notify(n) = &r.call.kind else {
            panic!("a notification");
        };
        assert_eq!(
            n.play_info_list,
            [PlayInfo {
                notify_voice: None,
                template_id: Some("tpl_bill".into()),
                template_paras: vec!["张先生".into(), "128.50".into()],
                collect_ind: 1,
                replay_on: Some("1".into()),
            }]
        );
        assert_eq!(r.call.user_data.as_deref(), Some("bill-2291"));
    }

    #[test]
    fn the_play_list_must_hold_one_to_five_segments_each_with_a_voice_or_a_template() {
        let with = |list: &str| {
            parse(&format!(
                r#"{{"displayNbr":"+862087654321","calleeNbr":"+8613900001234","playInfoList":{list}}}"#
            ))
        };
        let bad = Err(ApiError::invalid("playInfoList"));
        assert_eq!(with("[]"), bad);
        assert_eq!(with(r#"{"notifyVoice":"welcome.wav"}"#), bad);
        assert_eq!(
            with(&format!(
                "[{}]",
                [r#"{"notifyVoice":"a.wav"}"#; 6].join(",")
            )),
            bad
        );
        assert_eq!(with(r#"[{"collectInd":1}]"#), bad);
        assert_eq!(with("[1]"), bad);
        assert!(with(&format!(
            "[{}]",
            [r#"{"notifyVoice":"a.wav"}"#; 5].join(",")
        ))
        .is_ok());
    }

    #[test]
    fn a_bad_field_inside_a_segment_is_named_without_an_index() {
        let body = SPEC_BODY.replace(r#""collectInd":1"#, r#""collectInd":33"#);
        assert_eq!(parse(&body), Err(ApiError::invalid("collectInd")));
        let body = SPEC_BODY.replace(r#""templateParas":["张先生","128.50"],"#, "");
        assert_eq!(parse(&body), Err(ApiError::invalid("templateParas")));
        let body = SPEC_BODY.replace(r#""1"}]"#, r#""1#"}]"#);
        assert_eq!(
            parse(&body),
            Err(ApiError::invalid("collectContentTriggerReplaying"))
        );
        let long = "x".repeat(33);
        let body = SPEC_BODY.replace("128.50", &long);
        assert_eq!(parse(&body), Err(ApiError::invalid("templateParas")));
    }

    #[test]
    fn public_clients_shapes_are_accepted() {
        // Booleans as JSON booleans, the trigger as a number, collectInd as a digit string,
        // templateParas as a JSON string holding the array with a number in it (legacy PHP).
        let body = SPEC_BODY
            .replace(
                r#""replayAfterCollection":"true""#,
                r#""replayAfterCollection":true"#,
            )
            .replace(
                r#""collectContentTriggerReplaying":"1""#,
                r#""collectContentTriggerReplaying":1"#,
            )
            .replace(r#""collectInd":1"#, r#""collectInd":"1""#)
            .replace(r#"["张先生","128.50"]"#, r#""[\"张先生\",128.5]""#);
        let r = parse(&body).unwrap();
        let CallKind::Notify(n) = &r.call.kind else {
            panic!("a notification");
        };
        assert_eq!(n.play_info_list[0].template_paras, ["张先生", "128.5"]);
        assert_eq!(n.play_info_list[0].replay_on.as_deref(), Some("1"));
        // Strict types refuse the string form.
        let strict =
            CallNotifyIn::parse(body.as_bytes(), "k3Vd", false).map_err(|e| e.plain().clone());
        assert_eq!(strict, Err(ApiError::invalid("templateParas")));
    }

    #[test]
    fn replay_fields_without_their_precondition_are_ignored() {
        let body = SPEC_BODY
            .replace(r#""collectInd":1"#, r#""collectInd":0"#)
            .replace(
                r#""replayAfterCollection":"true""#,
                r#""replayAfterCollection":"maybe""#,
            );
        let r = parse(&body).unwrap();
        let CallKind::Notify(n) = &r.call.kind else {
            panic!("a notification");
        };
        assert_eq!(
            (
                n.play_info_list[0].collect_ind,
                &n.play_info_list[0].replay_on
            ),
            (0, &None)
        );
    }
}
