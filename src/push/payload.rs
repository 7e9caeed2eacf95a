//! Push bodies, byte-exact per spec: the status push (§6.1), and the CDR push with its FeeInfo
//! (§7.1), built here from what the engine knows of the call.
//!
//! Field order follows the spec's tables (serde keeps struct order); absent values are omitted,
//! never sent as `null`.

use serde::{Deserialize, Serialize};

use crate::call::{StateCode, StatusEvent};

/// A push's `eventType` (spec §6.1, §7.1): which status event, or `fee` for a CDR push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Callout,
    Alerting,
    Answer,
    #[serde(rename = "collectInfo")]
    CollectInfo,
    Disconnect,
    Fee,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::Callout,
        EventType::Alerting,
        EventType::Answer,
        EventType::CollectInfo,
        EventType::Disconnect,
        EventType::Fee,
    ];

    /// The wire name, e.g. `callout`.
    pub fn name(self) -> &'static str {
        match self {
            EventType::Callout => "callout",
            EventType::Alerting => "alerting",
            EventType::Answer => "answer",
            EventType::CollectInfo => "collectInfo",
            EventType::Disconnect => "disconnect",
            EventType::Fee => "fee",
        }
    }

    /// The event type named `s`, if there is one.
    pub fn from_name(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.name() == s)
    }
}

impl From<&StatusEvent> for EventType {
    fn from(e: &StatusEvent) -> EventType {
        match e {
            StatusEvent::Callout => EventType::Callout,
            StatusEvent::Alerting => EventType::Alerting,
            StatusEvent::Answer => EventType::Answer,
            StatusEvent::CollectInfo { .. } => EventType::CollectInfo,
            StatusEvent::Disconnect { .. } => EventType::Disconnect,
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `{"eventType": "...", "statusInfo": {...}}`
#[derive(Debug, Clone, Serialize)]
pub struct StatusPush<'a> {
    #[serde(rename = "eventType")]
    pub event_type: EventType,
    #[serde(rename = "statusInfo")]
    pub status_info: StatusInfo<'a>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusInfo<'a> {
    pub session_id: &'a str,
    pub timestamp: String,
    /// Absent on `collectInfo`: Huawei's own sample omits it (spec §11.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub called: Option<&'a str>,
    /// `collectInfo` only: the keys collected.
    #[serde(rename = "digitInfo", skip_serializing_if = "Option::is_none")]
    pub digit_info: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_desc: Option<&'a str>,
    /// Click-to-call disconnect, when asked (`partyTypeRequiredInDisconnect`): who released.
    #[serde(rename = "partyType", skip_serializing_if = "Option::is_none")]
    pub party_type: Option<u8>,
}

/// One CDR (spec §7.1 FeeInfo), as stored on the call and pushed in `feeLst`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeInfo {
    pub direction: u8,
    pub sp_id: String,
    pub app_key: String,
    pub icid: String,
    pub bind_num: String,
    pub session_id: String,
    pub caller_num: String,
    pub callee_num: String,
    /// Click-to-call B leg (spec §12.5): `displayCalleeNbr` and B.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwd_display_num: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwd_dst_num: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_out_start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_out_alerting_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_out_answer_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwd_start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwd_alerting_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwd_answer_time: Option<String>,
    pub call_end_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_time: Option<String>,
    /// Q.850 cause of a failed B leg; 0 when B did not fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwd_unasw_rsn: Option<u32>,
    pub ul_fail_reason: u32,
    pub sip_status_code: u32,
    pub call_out_unasw_rsn: u32,
    pub record_flag: u8,
    /// A kept click-to-call recording (spec §12.5); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_object_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_bucket_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_file_download_url: Option<String>,
    pub tts_play_times: u32,
    pub tts_trans_duration: u64,
    /// A notification's first digit collection (spec §11.5). Dialtone decision: placed after
    /// `ttsTransDuration` (the spec gives no order for the dynamic-IVR fields).
    #[serde(
        rename = "dynIVRStartTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dyn_ivr_start_time: Option<String>,
    /// Each collection's digits joined with `-`.
    #[serde(
        rename = "dynIVRPath",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dyn_ivr_path: Option<String>,
    pub service_type: String,
    pub host_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
}

/// What one call's CDR states, in platform terms: the engine gathers it from the call (or, after a
/// restart, from what the database recorded), and [`FeeInfo::new`] lays it out. Times are
/// payload times (`yyyy-MM-dd HH:mm:ss` UTC).
#[derive(Debug, Clone)]
pub struct CdrFacts<'a> {
    pub sp_id: &'a str,
    pub app_key: &'a str,
    pub icid: &'a str,
    pub session_id: &'a str,
    pub display_nbr: &'a str,
    pub callee_nbr: &'a str,
    pub user_data: Option<&'a str>,
    pub host_name: &'a str,
    pub callout: Option<String>,
    pub alerting: Option<String>,
    pub answer: Option<String>,
    pub end: String,
    /// How the call ended; `None` only for a call never released (reads as success).
    pub state_code: Option<StateCode>,
    /// The release point when it is not the stateCode's own (e.g. 1003 after a callStop).
    pub fail_reason: Option<u32>,
    /// Code readings played, and their length (spec §7.1 `ttsPlayTimes`, `ttsTransDuration`).
    pub readings: u32,
    pub code_ms: u64,
    /// A notification's first digit collection, and its collected digits joined with `-`.
    pub ivr_start: Option<String>,
    pub ivr_path: Option<String>,
    /// A click-to-call's B leg.
    pub forwarded: Option<ForwardedLeg<'a>>,
    /// A kept recording.
    pub recording: Option<RecordFacts>,
}

/// A kept recording, for the CDR's `record*` fields (spec §12.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFacts {
    pub start: String,
    pub object_name: String,
    pub bucket_name: String,
    pub domain: String,
    pub download_url: String,
}

/// A click-to-call's B leg, for the CDR's `fwd*` fields (spec §12.5).
#[derive(Debug, Clone)]
pub struct ForwardedLeg<'a> {
    pub display_nbr: &'a str,
    pub b_nbr: &'a str,
    /// `None` when B was never called (A failed or gave up first).
    pub start: Option<String>,
    pub alerting: Option<String>,
    pub answer: Option<String>,
    /// B's failure, if B failed.
    pub failed: Option<StateCode>,
}

impl FeeInfo {
    /// The CDR of a call (spec §7.1, §11.5, §12.5): consistent with its status events.
    pub fn new(f: CdrFacts<'_>) -> FeeInfo {
        let code = f.state_code;
        let fwd = f.forwarded.as_ref();
        let b_placed = fwd.and_then(|b| b.start.clone());
        // A failed B leg's Q.850 goes in fwdUnaswRsn; callOutUnaswRsn is A's (spec §12.3).
        let b_failed = fwd.and_then(|b| b.failed);
        let a_q850 = match b_failed {
            Some(_) => 0,
            None => code.map_or(0, |c| c.q850()),
        };
        // Either leg unanswered: the call failed then (spec §12.5).
        let unanswered = f.answer.is_none() || fwd.is_some_and(|b| b.answer.is_none());
        FeeInfo {
            direction: 0,
            sp_id: f.sp_id.to_owned(),
            app_key: f.app_key.to_owned(),
            icid: f.icid.to_owned(),
            bind_num: f.display_nbr.to_owned(),
            session_id: f.session_id.to_owned(),
            caller_num: f.display_nbr.to_owned(),
            callee_num: f.callee_nbr.to_owned(),
            fwd_display_num: b_placed.as_ref().and(fwd).map(|b| b.display_nbr.to_owned()),
            fwd_dst_num: b_placed.as_ref().and(fwd).map(|b| b.b_nbr.to_owned()),
            call_out_start_time: f.callout,
            call_out_alerting_time: f.alerting,
            // An unanswered call states when it failed: its end.
            fail_time: unanswered.then(|| f.end.clone()),
            call_out_answer_time: f.answer,
            fwd_start_time: b_placed.clone(),
            fwd_alerting_time: fwd.and_then(|b| b.alerting.clone()),
            fwd_answer_time: fwd.and_then(|b| b.answer.clone()),
            fwd_unasw_rsn: b_placed.as_ref().map(|_| b_failed.map_or(0, |c| c.q850())),
            call_end_time: f.end,
            ul_fail_reason: f
                .fail_reason
                .unwrap_or_else(|| code.map_or(0, |c| c.fail_reason())),
            sip_status_code: code.map_or(0, |c| c.sip_status()),
            call_out_unasw_rsn: a_q850,
            record_flag: u8::from(f.recording.is_some()),
            record_start_time: f.recording.as_ref().map(|r| r.start.clone()),
            record_object_name: f.recording.as_ref().map(|r| r.object_name.clone()),
            record_bucket_name: f.recording.as_ref().map(|r| r.bucket_name.clone()),
            record_domain: f.recording.as_ref().map(|r| r.domain.clone()),
            record_file_download_url: f.recording.map(|r| r.download_url),
            tts_play_times: f.readings,
            tts_trans_duration: f.code_ms.div_ceil(1000),
            dyn_ivr_start_time: f.ivr_start,
            dyn_ivr_path: f.ivr_path,
            // "002": voice callback (spec §12.5); "001": voice playback.
            service_type: match fwd {
                Some(_) => "002".into(),
                None => "001".into(),
            },
            host_name: f.host_name.to_owned(),
            user_data: f.user_data.map(str::to_owned),
        }
    }
}

/// `{"eventType":"fee","feeLst":[...]}`
#[derive(Debug, Clone, Serialize)]
pub struct FeePush<'a> {
    #[serde(rename = "eventType")]
    pub event_type: EventType,
    #[serde(rename = "feeLst")]
    pub fee_lst: Vec<&'a FeeInfo>,
}

impl<'a> FeePush<'a> {
    pub fn new(fee_lst: Vec<&'a FeeInfo>) -> Self {
        FeePush {
            event_type: EventType::Fee,
            fee_lst,
        }
    }
}

/// Serialises a push body. Our own plain structs always serialise.
pub fn to_body<T: Serialize>(payload: &T) -> Vec<u8> {
    // A status push is 300-500 bytes: room for it at once rather than growing from 128.
    let mut body = Vec::with_capacity(512);
    serde_json::to_writer(&mut body, payload)
        .expect("push payloads are plain structs and always serialise");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_push_matches_the_spec_sample_byte_for_byte() {
        let push = StatusPush {
            event_type: EventType::Disconnect,
            status_info: StatusInfo {
                session_id: "1200_17_2841736025_20260314101531@callenabler.home1.com",
                timestamp: "2026-03-14 10:15:53".into(),
                caller: Some("+862087654321"),
                called: Some("+8613900001234"),
                digit_info: None,
                user_data: Some("order-7781"),
                state_code: Some(0),
                state_desc: Some("The user releases the call."),
                party_type: None,
            },
        };
        assert_eq!(
            String::from_utf8(to_body(&push)).unwrap(),
            r#"{"eventType":"disconnect","statusInfo":{"sessionId":"1200_17_2841736025_20260314101531@callenabler.home1.com","timestamp":"2026-03-14 10:15:53","caller":"+862087654321","called":"+8613900001234","userData":"order-7781","stateCode":0,"stateDesc":"The user releases the call."}}"#
        );
    }

    #[test]
    fn fee_push_matches_the_spec_sample_byte_for_byte() {
        let fee = FeeInfo {
            direction: 0,
            sp_id: "dialtone_sp01".into(),
            app_key: "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z".into(),
            icid: "CAE-20260314181531-00000017".into(),
            bind_num: "+862087654321".into(),
            session_id: "1200_17_2841736025_20260314101531@callenabler.home1.com".into(),
            caller_num: "+862087654321".into(),
            callee_num: "+8613900001234".into(),
            fwd_display_num: None,
            fwd_dst_num: None,
            call_out_start_time: Some("2026-03-14 10:15:31".into()),
            call_out_alerting_time: Some("2026-03-14 10:15:33".into()),
            call_out_answer_time: Some("2026-03-14 10:15:37".into()),
            fwd_start_time: None,
            fwd_alerting_time: None,
            fwd_answer_time: None,
            call_end_time: "2026-03-14 10:15:53".into(),
            fwd_unasw_rsn: None,
            fail_time: None,
            ul_fail_reason: 0,
            sip_status_code: 0,
            call_out_unasw_rsn: 0,
            record_flag: 0,
            record_start_time: None,
            record_object_name: None,
            record_bucket_name: None,
            record_domain: None,
            record_file_download_url: None,
            tts_play_times: 3,
            tts_trans_duration: 9,
            dyn_ivr_start_time: None,
            dyn_ivr_path: None,
            service_type: "001".into(),
            host_name: "callenabler.home1.com".into(),
            user_data: Some("order-7781".into()),
        };
        let expected = concat!(
            r#"{"eventType":"fee","feeLst":[{"direction":0,"spId":"dialtone_sp01","appKey":"k3VdT9wQx2LpR7mN4sB8cY1fHj6Z","#,
            r#""icid":"CAE-20260314181531-00000017","bindNum":"+862087654321","#,
            r#""sessionId":"1200_17_2841736025_20260314101531@callenabler.home1.com","callerNum":"+862087654321","#,
            r#""calleeNum":"+8613900001234","callOutStartTime":"2026-03-14 10:15:31","callOutAlertingTime":"2026-03-14 10:15:33","#,
            r#""callOutAnswerTime":"2026-03-14 10:15:37","callEndTime":"2026-03-14 10:15:53","ulFailReason":0,"sipStatusCode":0,"#,
            r#""callOutUnaswRsn":0,"recordFlag":0,"ttsPlayTimes":3,"ttsTransDuration":9,"serviceType":"001","#,
            r#""hostName":"callenabler.home1.com","userData":"order-7781"}]}"#
        );
        assert_eq!(
            String::from_utf8(to_body(&FeePush::new(vec![&fee]))).unwrap(),
            expected
        );
    }
}
