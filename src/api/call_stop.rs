//! `POST /rest/httpsessions/callStop/v2.0`: the app ends one of its calls in progress (spec §13).
//!
//! Answers, success and errors alike, carry only `resultcode` and `resultdesc`: no `sessionId`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::extract::Authenticated;
use super::fields::{json_object, Fields};
use crate::app::AppState;
use crate::error::{platform_json, ApiError};

pub async fn call_stop(
    State(state): State<AppState>,
    Authenticated { app_key, body }: Authenticated,
) -> Result<Response, ApiError> {
    let session_id = parse(&body)?;
    state.engine.stop(&app_key, &session_id).map_err(|_| {
        ApiError::ParameterError.hint(format!(
            "no call {session_id} of app {app_key} is in progress: unknown, another app's, \
                 or already ended (GET /sim/v1/calls/{session_id} shows which)"
        ))
    })?;
    Ok(platform_json(
        StatusCode::OK,
        &json!({"resultcode": "0", "resultdesc": "Success"}),
    ))
}

/// The `sessionid` to stop (lower-case `id`: a camel-case `sessionId` is not an alias, so that
/// common client bug shows), after checking `signal` is `call_stop`.
pub fn parse(bytes: &[u8]) -> Result<String, ApiError> {
    let body = json_object(bytes)?;
    let f = Fields(&body);
    let session_id = f.required("sessionid", |v| {
        v.as_str()
            .filter(|s| (1..=256).contains(&s.chars().count()))
            .map(str::to_owned)
    })?;
    f.required("signal", |v| {
        (v.as_str() == Some("call_stop")).then_some(())
    })?;
    Ok(session_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &[u8]) -> Result<String, ApiError> {
        super::parse(body).map_err(|e| e.plain().clone())
    }

    #[test]
    fn the_session_id_is_lower_case_and_the_signal_exact() {
        assert_eq!(
            parse(br#"{"sessionid":"s1","signal":"call_stop"}"#),
            Ok("s1".into())
        );
        assert_eq!(
            parse(br#"{"sessionId":"s1","signal":"call_stop"}"#),
            Err(ApiError::invalid("sessionid"))
        );
        assert_eq!(
            parse(br#"{"sessionid":"","signal":"call_stop"}"#),
            Err(ApiError::invalid("sessionid"))
        );
        assert_eq!(
            parse(br#"{"sessionid":"s1","signal":"stop"}"#),
            Err(ApiError::invalid("signal"))
        );
        assert_eq!(parse(b"[]"), Err(ApiError::invalid_body()));
    }
}
