//! A call's CDR kept as columns of its `calls` row (schema v5), not as its JSON text.
//!
//! The CDR (spec §7.1 FeeInfo) is the largest value a call has, about 780 bytes as text, and most
//! of it is what the row already says (app key, numbers, session id, end time, readings) or the
//! same for every call (`direction`, `serviceType`, `recordFlag`, the host name). What is left is
//! a few small integers: the times as seconds after the call's acceptance, the release codes, the
//! `spId` and the `userData`. [`columns`] splits a CDR into them and [`fee`] puts it together
//! again; the JSON is then `serde_json` of the rebuilt [`FeeInfo`], the same code that wrote the
//! pushed body, so it reads byte for byte as it was pushed.
//!
//! A CDR is only split when putting it together again gives exactly the same [`FeeInfo`]: a
//! click-to-call's B leg, a recording, digit collection, or anything unusual keeps the whole text
//! in `fee_json`, as every CDR did before v5.
//!
//! The `cdrs` view builds the same JSON in plain SQL (schema/v5.sql), so `sqlite3` users still read
//! their CDRs; a test checks that it equals this module's for every kind of call.

use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::Row;

use super::StoreError;
use crate::clock::PlatformTime;
use crate::push::payload::FeeInfo;

/// `hostName` when `calls.cdr_host` is NULL: Dialtone's default host name, written into the v5
/// schema (the `cdrs` view says it too), whatever a later configuration's default is.
pub(super) const HOST_NAME_V5: &str = "callenabler.home1.com";

/// What the call's row says that its CDR repeats.
#[derive(Debug, Clone, Copy)]
pub(super) struct CallFacts<'a> {
    pub seq: u64,
    pub session_id: &'a str,
    pub app_key: &'a str,
    pub display: &'a str,
    pub callee: &'a str,
    pub accepted_at: &'a str,
    pub ended_at: &'a str,
    pub readings: u32,
    pub code_ms: u64,
}

/// The CDR's own columns (`calls.cdr_*`). Times are seconds after `calls.accepted_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CdrColumns {
    pub start: Option<i64>,
    pub alerting: Option<i64>,
    pub answer: Option<i64>,
    pub fail: Option<i64>,
    pub fail_reason: u32,
    pub sip: u32,
    pub q850: u32,
    pub sp_id: String,
    /// `None`: [`HOST_NAME_V5`].
    pub host: Option<String>,
    pub user_data: Option<String>,
}

/// The columns, in the order [`CdrColumns::read`] and the writer's UPDATE name them.
pub(super) const COLUMNS: &str = "cdr_start, cdr_alerting, cdr_answer, cdr_fail, cdr_fail_reason, \
                                  cdr_sip, cdr_q850, cdr_sp_id, cdr_host, cdr_user_data";

impl CdrColumns {
    /// Reads the columns by name; `None` when the row keeps no split CDR (`cdr_sp_id` NULL).
    pub(super) fn read(row: &Row<'_>) -> Result<Option<CdrColumns>, StoreError> {
        let Some(sp_id) = row.get::<_, Option<String>>("cdr_sp_id")? else {
            return Ok(None);
        };
        Ok(Some(CdrColumns {
            start: row.get("cdr_start")?,
            alerting: row.get("cdr_alerting")?,
            answer: row.get("cdr_answer")?,
            fail: row.get("cdr_fail")?,
            fail_reason: row.get::<_, Option<u32>>("cdr_fail_reason")?.unwrap_or(0),
            sip: row.get::<_, Option<u32>>("cdr_sip")?.unwrap_or(0),
            q850: row.get::<_, Option<u32>>("cdr_q850")?.unwrap_or(0),
            sp_id,
            host: row.get("cdr_host")?,
            user_data: row.get("cdr_user_data")?,
        }))
    }
}

fn accepted(call: &CallFacts<'_>) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(unix_seconds(call.accepted_at)?, 0)
}

/// The Unix seconds of a platform time (`yyyy-MM-dd HH:mm:ss`, UTC), `None` for anything else.
/// Read by hand rather than with chrono's `parse_from_str`, which parses its pattern on every
/// call: this runs on the writer's thread for every call that ends. Only the canonical form
/// is accepted, so writing the time back gives the same text.
fn unix_seconds(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let date =
        chrono::NaiveDate::from_ymd_opt(i32::try_from(num(0, 4)?).ok()?, num(5, 7)?, num(8, 10)?)?;
    let time = date.and_hms_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?)?;
    Some(time.and_utc().timestamp())
}

/// `fee` as columns, or `None` when they would not give it back exactly (it is then kept as text).
/// Compared field by field, without building the CDR again (tests check, in debug builds, that
/// [`fee`] gives it back).
pub(super) fn columns(fee: &FeeInfo, call: &CallFacts<'_>) -> Option<CdrColumns> {
    let accepted_s = unix_seconds(call.accepted_at)?;
    let accepted = DateTime::from_timestamp(accepted_s, 0)?;
    // `Some(None)` for an absent time, `None` for one that is not a platform time.
    let offset = |t: &Option<String>| -> Option<Option<i64>> {
        match t {
            None => Some(None),
            Some(t) => Some(Some(unix_seconds(t)? - accepted_s)),
        }
    };
    let own = fee.direction == 0
        && fee.app_key == call.app_key
        && fee.session_id == call.session_id
        && fee.bind_num == call.display
        && fee.caller_num == call.display
        && fee.callee_num == call.callee
        && fee.call_end_time == call.ended_at
        && fee.tts_play_times == call.readings
        && fee.tts_trans_duration == call.code_ms.div_ceil(1000)
        && fee.record_flag == 0
        && fee.service_type == "001"
        && fee.fwd_display_num.is_none()
        && fee.fwd_dst_num.is_none()
        && fee.fwd_start_time.is_none()
        && fee.fwd_alerting_time.is_none()
        && fee.fwd_answer_time.is_none()
        && fee.fwd_unasw_rsn.is_none()
        && fee.record_start_time.is_none()
        && fee.record_object_name.is_none()
        && fee.record_bucket_name.is_none()
        && fee.record_domain.is_none()
        && fee.record_file_download_url.is_none()
        && fee.dyn_ivr_start_time.is_none()
        && fee.dyn_ivr_path.is_none()
        && fee.icid == crate::ids::icid(call.seq, accepted);
    if !own {
        return None;
    }
    let cols = CdrColumns {
        start: offset(&fee.call_out_start_time)?,
        alerting: offset(&fee.call_out_alerting_time)?,
        answer: offset(&fee.call_out_answer_time)?,
        fail: offset(&fee.fail_time)?,
        fail_reason: fee.ul_fail_reason,
        sip: fee.sip_status_code,
        q850: fee.call_out_unasw_rsn,
        sp_id: fee.sp_id.clone(),
        host: (fee.host_name != HOST_NAME_V5).then(|| fee.host_name.clone()),
        user_data: fee.user_data.clone(),
    };
    debug_assert_eq!(
        fee_of(&cols, call).as_ref(),
        Some(fee),
        "the split CDR reads back"
    );
    Some(cols)
}

/// The CDR that [`columns`] split.
pub(super) fn fee(cols: &CdrColumns, call: &CallFacts<'_>) -> Result<FeeInfo, StoreError> {
    fee_of(cols, call).ok_or_else(|| StoreError::Corrupt {
        column: "calls.cdr_*",
        reason: format!(
            "accepted_at {:?} or a time is out of range",
            call.accepted_at
        ),
    })
}

fn fee_of(cols: &CdrColumns, call: &CallFacts<'_>) -> Option<FeeInfo> {
    let accepted = accepted(call)?;
    // `Some(None)` for an absent time, `None` for one out of range.
    let time = |offset: Option<i64>| -> Option<Option<String>> {
        match offset {
            None => Some(None),
            Some(s) => {
                let t = accepted.checked_add_signed(TimeDelta::try_seconds(s)?)?;
                Some(Some(PlatformTime::new(t).to_string()))
            }
        }
    };
    Some(FeeInfo {
        direction: 0,
        sp_id: cols.sp_id.clone(),
        app_key: call.app_key.to_owned(),
        icid: crate::ids::icid(call.seq, accepted),
        bind_num: call.display.to_owned(),
        session_id: call.session_id.to_owned(),
        caller_num: call.display.to_owned(),
        callee_num: call.callee.to_owned(),
        fwd_display_num: None,
        fwd_dst_num: None,
        call_out_start_time: time(cols.start)?,
        call_out_alerting_time: time(cols.alerting)?,
        call_out_answer_time: time(cols.answer)?,
        fwd_start_time: None,
        fwd_alerting_time: None,
        fwd_answer_time: None,
        call_end_time: call.ended_at.to_owned(),
        fail_time: time(cols.fail)?,
        fwd_unasw_rsn: None,
        ul_fail_reason: cols.fail_reason,
        sip_status_code: cols.sip,
        call_out_unasw_rsn: cols.q850,
        record_flag: 0,
        record_start_time: None,
        record_object_name: None,
        record_bucket_name: None,
        record_domain: None,
        record_file_download_url: None,
        tts_play_times: call.readings,
        tts_trans_duration: call.code_ms.div_ceil(1000),
        dyn_ivr_start_time: None,
        dyn_ivr_path: None,
        service_type: "001".into(),
        host_name: cols.host.as_deref().unwrap_or(HOST_NAME_V5).to_owned(),
        user_data: cols.user_data.clone(),
    })
}

/// The CDR's JSON text, as it was pushed.
pub(super) fn json(fee: &FeeInfo) -> String {
    serde_json::to_string(fee).expect("a FeeInfo always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_canonical_platform_time_is_read_and_it_reads_as_chrono_does() {
        for t in [
            "2026-03-14 10:15:31",
            "1999-12-31 23:59:59",
            "2028-02-29 00:00:00",
        ] {
            let chrono = PlatformTime::parse(t)
                .expect("a platform time")
                .utc()
                .timestamp();
            assert_eq!(unix_seconds(t), Some(chrono), "{t}");
        }
        for odd in [
            "2026-03-14 10:15:31.5",
            "2026-3-14 10:15:31 ",
            "2026-02-30 10:00:00",
            "2026-03-14 24:00:00",
            "2026-03-14T10:15:31",
            "2026-03-14 10:15:+1",
            "",
        ] {
            assert_eq!(unix_seconds(odd), None, "{odd:?}");
        }
    }
}
