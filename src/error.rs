//! The platform's error catalogue: one [`ApiError`] variant per `resultcode` Dialtone emits (spec §10.1).
//!
//! Errors are rendered in exactly one place, [`IntoResponse`], as `{"resultcode","resultdesc"}`;
//! callVerify adds `"sessionId":""` to every error (spec §4.2) through [`CallVerifyError`].
//! Rendering has no side effects: an internal fault's detail rides on the response as an
//! [`InternalFault`] extension, and the server's middleware logs it once.
//!
//! Any error can carry Dialtone's explanation ([`ApiError::hint`]): it goes out in the
//! [`HINT_HEADER`] response header and on the [`Refusal`] the stream and the log read, never in
//! the body, which stays exactly the platform's.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A refusal the platform documents, or an internal fault rendered as the platform's generic code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 1010001: something broke inside Dialtone. The detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
    /// 1010002: bad body or field. `param` names the first offending parameter, if any.
    #[error("invalid request {param:?}")]
    InvalidRequest { param: Option<String> },
    /// 1010003: unknown app_key.
    #[error("invalid app_key")]
    InvalidAppKey,
    /// 1010004: legacy access or refresh token invalid, expired or superseded.
    #[error("invalid access_token")]
    InvalidAccessToken,
    /// 1010006: unknown path (404) or wrong method (405).
    #[error("invalid REST API")]
    InvalidRestApi { method_not_allowed: bool },
    /// 1010009: legacy login within the login interval of the previous one.
    #[error("no more APIs can be invoked")]
    FlowControl,
    /// 1010010: digest mismatch, nonce replay, wrong legacy password or app_secret.
    #[error("invalid digest")]
    InvalidDigest,
    /// 1010013: X-AKSK `Created` unparseable or outside the window.
    #[error("time out limit")]
    TimeOutLimit,
    /// 1010021: app disabled in configuration.
    #[error("application unavailable")]
    AppUnavailable,
    /// 1010024: click-to-call `callerNbr` malformed.
    #[error("invalid caller number")]
    InvalidCallerNumber,
    /// 1010023: `displayNbr` not configured for the app.
    #[error("display number invalid")]
    DisplayNumberInvalid,
    /// 1012012: `recordFlag` on an app without recording.
    #[error("recording not enabled for the app")]
    RecordingDisabled,
    /// 1012003: `templateId` is no template of the app's developer.
    #[error("template not found")]
    TemplateNotFound,
    /// 1012004: the number of `templateParas` differs from the template's variables.
    #[error("wrong number of template parameters")]
    TemplateParaCount,
    /// 1012005: a `templateParas` value does not fit `variable` (e.g. `${NUM_6}`).
    #[error("template parameter does not fit {variable}")]
    TemplateParaInvalid { variable: String },
    /// 1013118: frequency rule exceeded in `sync` mode.
    #[error("call frequency restricted")]
    FrequencyRestricted,
    /// 1016001: no such recording for the app (unknown, another app's, wrong domain, expired).
    #[error("record not found")]
    RecordNotFound,
    /// 1020001: callStop on no call of the app in progress (spec §13).
    #[error("no such call in progress")]
    ParameterError,
    /// 1020165: per-app concurrency cap reached.
    #[error("too many concurrent calls for the app")]
    TooManyCalls,
    /// 1020176: address or app_key locked after repeated authentication failures.
    #[error("locked out")]
    LockedOut,
    /// 1023xxx: a malformed `Authorization` / `X-AKSK` header.
    #[error("malformed auth header: {0:?}")]
    Header(HeaderFault),
    /// Any of the above with Dialtone's explanation of how to fix it ([`ApiError::hint`]). The
    /// platform's answer is unchanged: the explanation travels in the [`HINT_HEADER`] response
    /// header and the log line, never in the body.
    #[error("{0} ({1})")]
    Hinted(Box<ApiError>, String),
}

/// Dialtone's own response header explaining a refusal (and a call accepted only to be released):
/// what was wrong, in plain words, and how to fix or clear it. Not a platform header; platform
/// bodies stay exactly the platform's.
pub const HINT_HEADER: &str = "x-dialtone-hint";

/// The `1023xxx` family: which part of the X-AKSK headers is missing or wrong (spec §3.1, checks 1–7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFault {
    AuthorizationMissing,
    RealmMissing,
    ProfileMissing,
    RealmNotSdp,
    ProfileNotUsernameToken,
    TypeNotAppKey,
    TypeMissing,
    SchemeMissing,
    XAkskMissing,
    UsernameMissing,
    NonceMissing,
    CreatedMissing,
    PasswordDigestMissing,
}

impl HeaderFault {
    fn code_and_desc(self) -> (&'static str, &'static str) {
        use HeaderFault::*;
        match self {
            AuthorizationMissing => ("1023006", "Authorization not contained in the HTTP header."),
            RealmMissing => ("1023007", "realm not contained in Authorization."),
            ProfileMissing => ("1023008", "profile not contained in Authorization."),
            RealmNotSdp => (
                "1023009",
                "The value of realm in Authorization must be SDP.",
            ),
            ProfileNotUsernameToken => (
                "1023010",
                "The value of profile in Authorization must be UsernameToken.",
            ),
            // Spec §3.1: the platform's text says "app_key" although the value must be `Appkey`.
            TypeNotAppKey => (
                "1023011",
                "The value of type in Authorization must be app_key.",
            ),
            TypeMissing => ("1023012", "type not contained in Authorization."),
            SchemeMissing => ("1023013", "WSSE not contained in Authorization."),
            XAkskMissing => ("1023033", "HTTP header not found X-AKSK field."),
            UsernameMissing => ("1023034", "UserName not contained in X-AKSK."),
            NonceMissing => ("1023035", "Nonce not contained in X-AKSK."),
            CreatedMissing => ("1023036", "Created not contained in X-AKSK."),
            PasswordDigestMissing => ("1023037", "PasswordDigest not contained in X-AKSK."),
        }
    }
}

impl ApiError {
    /// Shorthand for `1010002 "Invalid request. <param>"`.
    pub fn invalid(param: &str) -> Self {
        ApiError::InvalidRequest {
            param: Some(param.to_owned()),
        }
    }

    /// `1010002 "Invalid request."` with no parameter (body not a JSON object, body too large).
    pub fn invalid_body() -> Self {
        ApiError::InvalidRequest { param: None }
    }

    /// The same error with Dialtone's explanation attached (replacing any earlier one).
    pub fn hint(self, hint: impl Into<String>) -> Self {
        ApiError::Hinted(Box::new(self.plain().clone()), hint.into())
    }

    /// The error without any explanation: what the platform itself would answer.
    pub fn plain(&self) -> &ApiError {
        match self {
            ApiError::Hinted(e, _) => e.plain(),
            e => e,
        }
    }

    /// Dialtone's explanation, if the error carries one.
    pub fn explanation(&self) -> Option<&str> {
        match self {
            ApiError::Hinted(_, hint) => Some(hint),
            _ => None,
        }
    }

    /// The platform's `resultcode`, always a JSON string.
    pub fn resultcode(&self) -> &'static str {
        match self {
            ApiError::Hinted(e, _) => e.resultcode(),
            ApiError::Internal(_) => "1010001",
            ApiError::InvalidRequest { .. } => "1010002",
            ApiError::InvalidAppKey => "1010003",
            ApiError::InvalidAccessToken => "1010004",
            ApiError::InvalidRestApi { .. } => "1010006",
            ApiError::FlowControl => "1010009",
            ApiError::InvalidDigest => "1010010",
            ApiError::TimeOutLimit => "1010013",
            ApiError::AppUnavailable => "1010021",
            ApiError::DisplayNumberInvalid => "1010023",
            ApiError::InvalidCallerNumber => "1010024",
            ApiError::RecordingDisabled => "1012012",
            ApiError::TemplateNotFound => "1012003",
            ApiError::TemplateParaCount => "1012004",
            ApiError::TemplateParaInvalid { .. } => "1012005",
            ApiError::FrequencyRestricted => "1013118",
            ApiError::ParameterError => "1020001",
            ApiError::RecordNotFound => "1016001",
            ApiError::TooManyCalls => "1020165",
            ApiError::LockedOut => "1020176",
            ApiError::Header(fault) => fault.code_and_desc().0,
        }
    }

    /// The platform's `resultdesc`, exactly as documented.
    pub fn resultdesc(&self) -> String {
        match self {
            ApiError::Hinted(e, _) => e.resultdesc(),
            ApiError::Internal(_) => "Internal system error.".into(),
            ApiError::InvalidRequest { param: Some(p) } => format!("Invalid request. {p}"),
            ApiError::InvalidRequest { param: None } => "Invalid request.".into(),
            ApiError::InvalidAppKey => "Invalid app_key.".into(),
            ApiError::InvalidAccessToken => "Invalid access_token.".into(),
            ApiError::InvalidRestApi { .. } => "Invalid Rest API.".into(),
            ApiError::FlowControl => "No more APIs can be invoked.".into(),
            ApiError::InvalidDigest => "Invalid digest.".into(),
            ApiError::TimeOutLimit => "Time out limit.".into(),
            ApiError::AppUnavailable => "Application unavailable.".into(),
            ApiError::DisplayNumberInvalid => "Display number invalid.".into(),
            ApiError::InvalidCallerNumber => "Invalid caller number.".into(),
            ApiError::RecordingDisabled => "Application does not open recording function.".into(),
            ApiError::TemplateNotFound => "The template ID does not exist.".into(),
            // Spec §10.1: the documented text of 1012004 repeats 1012003's (sic).
            ApiError::TemplateParaCount => "The template ID does not exist.".into(),
            ApiError::TemplateParaInvalid { variable } => {
                format!("{variable} of templateParas does not meet template.")
            }
            ApiError::FrequencyRestricted => "Service number call frequency restricted.".into(),
            ApiError::ParameterError => "Parameter error.".into(),
            ApiError::RecordNotFound => "The record does not exist.".into(),
            ApiError::TooManyCalls => {
                "The number of app_key voice call ports exceeds the upper limit.".into()
            }
            ApiError::LockedOut => "Authentication failed, try again later".into(),
            ApiError::Header(fault) => fault.code_and_desc().1.into(),
        }
    }

    /// HTTP status per spec §10.1: 400 header errors, 401 authentication, 403 refusals, 404/405 paths.
    pub fn http_status(&self) -> StatusCode {
        match self {
            ApiError::Hinted(e, _) => e.http_status(),
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Header(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidAppKey
            | ApiError::InvalidAccessToken
            | ApiError::InvalidDigest
            | ApiError::TimeOutLimit => StatusCode::UNAUTHORIZED,
            ApiError::InvalidRestApi {
                method_not_allowed: false,
            }
            | ApiError::RecordNotFound => StatusCode::NOT_FOUND,
            ApiError::InvalidRestApi {
                method_not_allowed: true,
            } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::InvalidRequest { .. }
            | ApiError::FlowControl
            | ApiError::AppUnavailable
            | ApiError::DisplayNumberInvalid
            | ApiError::InvalidCallerNumber
            | ApiError::RecordingDisabled
            | ApiError::TemplateNotFound
            | ApiError::TemplateParaCount
            | ApiError::TemplateParaInvalid { .. }
            | ApiError::FrequencyRestricted
            | ApiError::TooManyCalls
            | ApiError::ParameterError
            | ApiError::LockedOut => StatusCode::FORBIDDEN,
        }
    }

    /// Whether this response counts towards the lockout of §3.3 (every `1023xxx`, 1010003, 1010004,
    /// 1010010, 1010013; not 1010002, 1010009 or business errors).
    pub fn counts_as_auth_failure(&self) -> bool {
        matches!(
            self.plain(),
            ApiError::Header(_)
                | ApiError::InvalidAppKey
                | ApiError::InvalidAccessToken
                | ApiError::InvalidDigest
                | ApiError::TimeOutLimit
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            resultcode: &'a str,
            resultdesc: String,
        }
        let body = Body {
            resultcode: self.resultcode(),
            resultdesc: self.resultdesc(),
        };
        with_fault(platform_json(self.http_status(), &body), self)
    }
}

/// An [`ApiError`] answered by callVerify, whose every error carries `"sessionId":""` (spec §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallVerifyError(pub ApiError);

impl From<ApiError> for CallVerifyError {
    fn from(e: ApiError) -> Self {
        CallVerifyError(e)
    }
}

impl IntoResponse for CallVerifyError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            resultcode: &'a str,
            resultdesc: String,
            #[serde(rename = "sessionId")]
            session_id: &'a str,
        }
        let body = Body {
            resultcode: self.0.resultcode(),
            resultdesc: self.0.resultdesc(),
            session_id: "",
        };
        with_fault(platform_json(self.0.http_status(), &body), self.0)
    }
}

/// The detail of an internal fault, carried on the response that answered it to the logging
/// middleware in [`crate::server`] (axum's error-handling pattern): never sent, logged once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InternalFault(pub String);

/// The code and text an error answer carried, on the response for the server, which logs and
/// publishes it with the path ([`crate::sim::stream::Asked::answered`]): rendering itself stays
/// free of side effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub resultcode: &'static str,
    pub resultdesc: String,
    /// Dialtone's explanation, also sent as [`HINT_HEADER`].
    pub hint: Option<String>,
}

/// Attaches what the stream reports of `error`, its explanation as [`HINT_HEADER`], and its
/// detail if it is an internal fault.
fn with_fault(mut response: Response, error: ApiError) -> Response {
    let hint = error.explanation().map(str::to_owned);
    if let Some(hint) = &hint {
        set_hint(&mut response, hint);
    }
    response.extensions_mut().insert(Refusal {
        resultcode: error.resultcode(),
        resultdesc: error.resultdesc(),
        hint,
    });
    if let ApiError::Internal(detail) = error.plain() {
        response
            .extensions_mut()
            .insert(InternalFault(detail.clone()));
    }
    response
}

/// Sets [`HINT_HEADER`] to `hint`, made a valid header value: one line of printable ASCII
/// (anything else becomes `?`, runs of whitespace one space), at most [`MAX_HINT_LEN`] bytes.
pub fn set_hint(response: &mut Response, hint: &str) {
    if let Ok(value) = axum::http::HeaderValue::from_str(&header_safe(hint)) {
        response.headers_mut().insert(HINT_HEADER, value);
    }
}

/// Header values stay well under common proxy limits (8 KiB for all headers).
pub const MAX_HINT_LEN: usize = 1024;

fn header_safe(hint: &str) -> String {
    let mut out = String::with_capacity(hint.len().min(MAX_HINT_LEN));
    for c in hint.split_whitespace().flat_map(|w| w.chars().chain([' '])) {
        if out.len() >= MAX_HINT_LEN {
            break;
        }
        out.push(if c == ' ' || c.is_ascii_graphic() {
            c
        } else {
            '?'
        });
    }
    out.truncate(out.trim_end().len());
    out
}

/// The platform's content type on every response (spec §1).
pub const PLATFORM_CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// Renders `body` as the platform does: JSON with `application/json;charset=UTF-8`.
pub fn platform_json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        // Built directly: the tuple's `into_response` showed in every answer's profile.
        Ok(bytes) => {
            let mut response = Response::new(axum::body::Body::from(bytes));
            *response.status_mut() = status;
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static(PLATFORM_CONTENT_TYPE),
            );
            response
        }
        // Serialising our own plain structs cannot fail; answer like any internal fault if it ever does.
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(axum::http::header::CONTENT_TYPE, PLATFORM_CONTENT_TYPE)],
            axum::Extension(InternalFault(format!("response serialisation failed: {e}"))),
            r#"{"resultcode":"1010001","resultdesc":"Internal system error."}"#,
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_faults_have_documented_codes_and_texts() {
        let e = ApiError::Header(HeaderFault::TypeNotAppKey);
        assert_eq!(e.resultcode(), "1023011");
        assert_eq!(
            e.resultdesc(),
            "The value of type in Authorization must be app_key."
        );
        assert_eq!(e.http_status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn invalid_request_names_the_parameter() {
        assert_eq!(
            ApiError::invalid("verifyCode").resultdesc(),
            "Invalid request. verifyCode"
        );
        assert_eq!(ApiError::invalid_body().resultdesc(), "Invalid request.");
    }

    #[test]
    fn an_internal_fault_carries_its_detail_to_the_logger_not_the_client() {
        let response = ApiError::Internal("disk on fire".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.extensions().get::<InternalFault>(),
            Some(&InternalFault("disk on fire".into()))
        );
        let refusal = ApiError::InvalidDigest.into_response();
        assert!(refusal.extensions().get::<InternalFault>().is_none());
    }

    #[tokio::test]
    async fn call_verify_errors_carry_an_empty_session_id() {
        let response = CallVerifyError(ApiError::TooManyCalls).into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("an in-memory body");
        assert_eq!(
            &body[..],
            br#"{"resultcode":"1020165","resultdesc":"The number of app_key voice call ports exceeds the upper limit.","sessionId":""}"#
        );
    }

    #[test]
    fn a_hint_rides_in_its_header_and_leaves_the_body_as_the_platform_has_it() {
        let response = ApiError::InvalidDigest
            .hint("signed: `N1 2026`\nnext line, caf\u{e9}")
            .into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[HINT_HEADER],
            "signed: `N1 2026` next line, caf?"
        );
        assert_eq!(
            response.extensions().get::<Refusal>().map(|r| r.resultcode),
            Some("1010010")
        );
        assert!(ApiError::InvalidDigest
            .hint("x")
            .hint("y")
            .eq(&ApiError::InvalidDigest.hint("y")));
        assert!(ApiError::TimeOutLimit.hint("x").counts_as_auth_failure());
        let long = "a".repeat(5000);
        let response = ApiError::TimeOutLimit.hint(long).into_response();
        assert_eq!(response.headers()[HINT_HEADER].len(), MAX_HINT_LEN);
    }

    #[test]
    fn only_authentication_failures_count_towards_lockout() {
        assert!(ApiError::InvalidDigest.counts_as_auth_failure());
        assert!(ApiError::Header(HeaderFault::NonceMissing).counts_as_auth_failure());
        assert!(!ApiError::invalid("x").counts_as_auth_failure());
        assert!(!ApiError::FlowControl.counts_as_auth_failure());
        assert!(!ApiError::LockedOut.counts_as_auth_failure());
    }
}
