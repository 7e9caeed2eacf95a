-- Dialtone store, schema version 2: attempts say which injected fault (if any) shaped them, and
-- the cdrs view shows each CDR's FeeInfo fields as columns, for `sqlite3 .dialtone/dialtone.db`.

ALTER TABLE attempts ADD COLUMN fault TEXT;

CREATE VIEW cdrs AS
SELECT
    c.seq,
    c.session_id,
    c.fee_state,
    json_extract(c.fee_json, '$.direction')           AS direction,
    json_extract(c.fee_json, '$.spId')                AS sp_id,
    json_extract(c.fee_json, '$.appKey')              AS app_key,
    json_extract(c.fee_json, '$.icid')                AS icid,
    json_extract(c.fee_json, '$.bindNum')             AS bind_num,
    json_extract(c.fee_json, '$.callerNum')           AS caller_num,
    json_extract(c.fee_json, '$.calleeNum')           AS callee_num,
    json_extract(c.fee_json, '$.callOutStartTime')    AS call_out_start_time,
    json_extract(c.fee_json, '$.callOutAlertingTime') AS call_out_alerting_time,
    json_extract(c.fee_json, '$.callOutAnswerTime')   AS call_out_answer_time,
    json_extract(c.fee_json, '$.callEndTime')         AS call_end_time,
    json_extract(c.fee_json, '$.failTime')            AS fail_time,
    json_extract(c.fee_json, '$.ulFailReason')        AS ul_fail_reason,
    json_extract(c.fee_json, '$.sipStatusCode')       AS sip_status_code,
    json_extract(c.fee_json, '$.callOutUnaswRsn')     AS call_out_unasw_rsn,
    json_extract(c.fee_json, '$.recordFlag')          AS record_flag,
    json_extract(c.fee_json, '$.ttsPlayTimes')        AS tts_play_times,
    json_extract(c.fee_json, '$.ttsTransDuration')    AS tts_trans_duration,
    json_extract(c.fee_json, '$.serviceType')         AS service_type,
    json_extract(c.fee_json, '$.hostName')            AS host_name,
    json_extract(c.fee_json, '$.userData')            AS user_data,
    c.fee_json
FROM calls c
WHERE c.fee_json IS NOT NULL;
