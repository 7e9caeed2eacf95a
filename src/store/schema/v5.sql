-- Dialtone store, schema version 5: a call's CDR kept as its fields.
--
-- * calls.cdr_*: the CDR (spec §7.1 FeeInfo) of a call ended from v5 on, as the few fields its row
--   does not already say: its times as seconds after accepted_at, its release codes, spId,
--   hostName (NULL: callenabler.home1.com) and userData. fee_json is then NULL; cdr_sp_id is
--   never NULL for such a call. The rest is the row's own: appKey, sessionId, bindNum and
--   callerNum (display), calleeNum (callee), callEndTime (ended_at), ttsPlayTimes (readings),
--   ttsTransDuration (code_ms in whole seconds, rounded up), icid (CAE-, acceptance time in
--   UTC+8, seq); direction 0, recordFlag 0 and serviceType 001 are the same for every such call.
--   Dialtone splits a CDR only when putting it together again gives exactly the CDR pushed
--   (src/store/cdr.rs); any other (a click-to-call, a recording, digit collection) keeps its
--   text in fee_json, as every CDR written before v5 does.
-- * cdrs: the same columns as before; its fee_json is the CDR's text as pushed, built in plain SQL
--   for a split CDR (Dialtone's own reader rebuilds it in Rust with the code that wrote the push;
--   a test checks that both read the same for every kind of call). A CDR batch body stored NULL
--   (schema v3) is made from this column.

ALTER TABLE calls ADD COLUMN cdr_start INTEGER;        -- callOutStartTime, s after accepted_at
ALTER TABLE calls ADD COLUMN cdr_alerting INTEGER;     -- callOutAlertingTime
ALTER TABLE calls ADD COLUMN cdr_answer INTEGER;       -- callOutAnswerTime
ALTER TABLE calls ADD COLUMN cdr_fail INTEGER;         -- failTime
ALTER TABLE calls ADD COLUMN cdr_fail_reason INTEGER;  -- ulFailReason
ALTER TABLE calls ADD COLUMN cdr_sip INTEGER;          -- sipStatusCode
ALTER TABLE calls ADD COLUMN cdr_q850 INTEGER;         -- callOutUnaswRsn
ALTER TABLE calls ADD COLUMN cdr_sp_id TEXT;           -- spId; NULL: no split CDR
ALTER TABLE calls ADD COLUMN cdr_host TEXT;            -- hostName; NULL: callenabler.home1.com
ALTER TABLE calls ADD COLUMN cdr_user_data TEXT;       -- userData

DROP VIEW cdrs;
-- Each column straight from the row (a column that read fee_json's expression would build the
-- whole text again for every column read).
CREATE VIEW cdrs AS
SELECT
    c.seq,
    c.session_id,
    c.fee_state,
    iif(c.fee_json IS NULL, 0, json_extract(c.fee_json, '$.direction'))        AS direction,
    iif(c.fee_json IS NULL, c.cdr_sp_id, json_extract(c.fee_json, '$.spId'))   AS sp_id,
    iif(c.fee_json IS NULL, c.app_key, json_extract(c.fee_json, '$.appKey'))   AS app_key,
    iif(c.fee_json IS NULL,
        'CAE-' || strftime('%Y%m%d%H%M%S', c.accepted_at, '+8 hours') || '-'
               || printf('%08d', c.seq % 100000000),
        json_extract(c.fee_json, '$.icid'))                                     AS icid,
    iif(c.fee_json IS NULL, c.display, json_extract(c.fee_json, '$.bindNum'))  AS bind_num,
    iif(c.fee_json IS NULL, c.display, json_extract(c.fee_json, '$.callerNum')) AS caller_num,
    iif(c.fee_json IS NULL, c.callee, json_extract(c.fee_json, '$.calleeNum')) AS callee_num,
    iif(c.fee_json IS NULL, datetime(c.accepted_at, c.cdr_start || ' seconds'),
        json_extract(c.fee_json, '$.callOutStartTime'))                         AS call_out_start_time,
    iif(c.fee_json IS NULL, datetime(c.accepted_at, c.cdr_alerting || ' seconds'),
        json_extract(c.fee_json, '$.callOutAlertingTime'))                      AS call_out_alerting_time,
    iif(c.fee_json IS NULL, datetime(c.accepted_at, c.cdr_answer || ' seconds'),
        json_extract(c.fee_json, '$.callOutAnswerTime'))                        AS call_out_answer_time,
    iif(c.fee_json IS NULL, c.ended_at, json_extract(c.fee_json, '$.callEndTime')) AS call_end_time,
    iif(c.fee_json IS NULL, datetime(c.accepted_at, c.cdr_fail || ' seconds'),
        json_extract(c.fee_json, '$.failTime'))                                 AS fail_time,
    iif(c.fee_json IS NULL, c.cdr_fail_reason,
        json_extract(c.fee_json, '$.ulFailReason'))                             AS ul_fail_reason,
    iif(c.fee_json IS NULL, c.cdr_sip, json_extract(c.fee_json, '$.sipStatusCode')) AS sip_status_code,
    iif(c.fee_json IS NULL, c.cdr_q850,
        json_extract(c.fee_json, '$.callOutUnaswRsn'))                          AS call_out_unasw_rsn,
    iif(c.fee_json IS NULL, 0, json_extract(c.fee_json, '$.recordFlag'))       AS record_flag,
    iif(c.fee_json IS NULL, c.readings, json_extract(c.fee_json, '$.ttsPlayTimes')) AS tts_play_times,
    iif(c.fee_json IS NULL, (c.code_ms + 999) / 1000,
        json_extract(c.fee_json, '$.ttsTransDuration'))                         AS tts_trans_duration,
    iif(c.fee_json IS NULL, '001', json_extract(c.fee_json, '$.serviceType'))  AS service_type,
    iif(c.fee_json IS NULL, coalesce(c.cdr_host, 'callenabler.home1.com'),
        json_extract(c.fee_json, '$.hostName'))                                 AS host_name,
    iif(c.fee_json IS NULL, c.cdr_user_data, json_extract(c.fee_json, '$.userData')) AS user_data,
    -- The text as pushed: serde_json's compact form, the fields in FeeInfo's order, absent ones
    -- left out. json_quote escapes as serde_json does (", \, control characters).
    coalesce(c.fee_json,
        '{"direction":0,"spId":' || json_quote(c.cdr_sp_id)
        || ',"appKey":' || json_quote(c.app_key)
        || ',"icid":"CAE-' || strftime('%Y%m%d%H%M%S', c.accepted_at, '+8 hours') || '-'
                           || printf('%08d', c.seq % 100000000)
        || '","bindNum":' || json_quote(c.display)
        || ',"sessionId":' || json_quote(c.session_id)
        || ',"callerNum":' || json_quote(c.display)
        || ',"calleeNum":' || json_quote(c.callee)
        || coalesce(',"callOutStartTime":"'
                    || datetime(c.accepted_at, c.cdr_start || ' seconds') || '"', '')
        || coalesce(',"callOutAlertingTime":"'
                    || datetime(c.accepted_at, c.cdr_alerting || ' seconds') || '"', '')
        || coalesce(',"callOutAnswerTime":"'
                    || datetime(c.accepted_at, c.cdr_answer || ' seconds') || '"', '')
        || ',"callEndTime":' || json_quote(c.ended_at)
        || coalesce(',"failTime":"' || datetime(c.accepted_at, c.cdr_fail || ' seconds') || '"', '')
        || ',"ulFailReason":' || c.cdr_fail_reason
        || ',"sipStatusCode":' || c.cdr_sip
        || ',"callOutUnaswRsn":' || c.cdr_q850
        || ',"recordFlag":0,"ttsPlayTimes":' || c.readings
        || ',"ttsTransDuration":' || ((c.code_ms + 999) / 1000)
        || ',"serviceType":"001","hostName":'
        || json_quote(coalesce(c.cdr_host, 'callenabler.home1.com'))
        || iif(c.cdr_user_data IS NULL, '', ',"userData":' || json_quote(c.cdr_user_data))
        || '}')                                                                 AS fee_json
FROM calls c
WHERE c.fee_json IS NOT NULL OR (c.state_code IS NOT NULL AND c.cdr_sp_id IS NOT NULL);
