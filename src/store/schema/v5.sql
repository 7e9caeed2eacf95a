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
-- * call_events: `time` is Unix milliseconds (INTEGER) rather than its 23-character text, and
--   `event` a code (the table timeline_event_names names them). Existing rows are converted.
--   `detail` is the id of its text in timeline_details when it has one (the details repeat from
--   call to call: "code reading 1", "stateCode 0: …"), its text otherwise. The view `timeline`
--   shows the timeline as before, with each call's session id.
-- * outbox: WITHOUT ROWID (keyed by its id alone: no rowid, no second index of the id);
--   last_outcome and finished_outcome are codes (0 delivered, 1 failed_will_retry, 2 dropped,
--   3 abandoned), event_type a code (0 callout, 1 alerting, 2 answer, 3 disconnect,
--   4 collectInfo, 5 fee), kind NULL when it is the event type's own (fee for fee, status for
--   the others), last_outcome NULL when it is the finished outcome, as it is for every
--   push that ended on an attempt; last_sent_at is NULL when it is the send time of the
--   delivery's last attempt (clearing the journal writes it out first). The `deliveries` view
--   reads exactly as before. delivery_calls no longer lists a call's own status pushes
--   (id s<seq>.<n> naming the call in call_seq): they are a range of the outbox's key.

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

-- The codes of call_events.event (src/store/write.rs `event_code`). Never renumber one.
CREATE TABLE timeline_event_names (
    code INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
INSERT INTO timeline_event_names (code, name) VALUES
    (0, 'playing'), (1, 'callout'), (2, 'alerting'), (3, 'answer'), (4, 'disconnect'),
    (5, 'collecting'), (6, 'key'), (7, 'collectInfo'), (8, 'note');

CREATE TABLE call_events_v5 (
    call_seq   INTEGER NOT NULL,          -- calls.seq
    idx        INTEGER NOT NULL,          -- position in the timeline, from 0
    at_ms      INTEGER NOT NULL,          -- simulated ms since the run's start
    time       INTEGER NOT NULL,          -- Unix ms (UTC)
    event      INTEGER NOT NULL,          -- timeline_event_names.code
    detail,                               -- timeline_details.id (INTEGER), or the text itself
    PRIMARY KEY (call_seq, idx)
) WITHOUT ROWID;
-- julianday keeps milliseconds; rounding undoes the floating point.
INSERT INTO call_events_v5 (call_seq, idx, at_ms, time, event, detail)
SELECT e.call_seq, e.idx, e.at_ms,
    coalesce(CAST(round((julianday(e.time) - 2440587.5) * 86400000.0) AS INTEGER), e.time),
    coalesce(n.code, e.event), e.detail
FROM call_events e LEFT JOIN timeline_event_names n ON n.name = e.event;
DROP TABLE call_events;
ALTER TABLE call_events_v5 RENAME TO call_events;

-- The timeline's detail texts, each once (at most 10 000 of them; src/store/write.rs `DetailIds`).
CREATE TABLE timeline_details (
    id   INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);

-- The timeline as it reads in the inspection API: times as yyyy-MM-dd HH:mm:ss.SSS UTC, events
-- by name, details as text.
CREATE VIEW timeline AS
SELECT c.session_id, e.call_seq, e.idx, e.at_ms,
    strftime('%Y-%m-%d %H:%M:%f', e.time / 1000.0, 'unixepoch') AS time,
    n.name AS event, coalesce(d.text, e.detail) AS detail
FROM call_events e
JOIN calls c ON c.seq = e.call_seq
LEFT JOIN timeline_event_names n ON n.code = e.event
LEFT JOIN timeline_details d ON typeof(e.detail) = 'integer' AND d.id = e.detail;

-- The outbox, keyed by its id alone.
DROP VIEW deliveries;
CREATE TABLE outbox_v5 (
    id               TEXT PRIMARY KEY,    -- s<call>.<n> (status) or f<first call> (CDR batch)
    kind             TEXT CHECK (kind IN ('status', 'fee')), -- NULL: the event type's own
    call_seq         INTEGER,             -- calls.seq: app_key, url and session_ids are its own
    app_key          TEXT,
    url              TEXT,
    body,                                 -- packed BLOB, or TEXT (before v4), or NULL (see v3)
    event_type       INTEGER NOT NULL,    -- 0 callout … 5 fee
    session_ids      TEXT,                -- JSON array
    idempotency_key  TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_outcome     INTEGER,             -- NULL: none yet (attempts = 0), or finished_outcome
    last_sent_at     TEXT,                -- NULL: its last attempt's sent_at
    next_attempt_at  TEXT,
    finished_outcome INTEGER              -- 0 delivered, 2 dropped, 3 abandoned; NULL = still owed
) WITHOUT ROWID;
INSERT INTO outbox_v5 (id, kind, call_seq, app_key, url, body, event_type, session_ids,
    idempotency_key, attempts, last_outcome, last_sent_at, next_attempt_at, finished_outcome)
SELECT id,
    CASE WHEN kind = iif(event_type = 'fee', 'fee', 'status') THEN NULL ELSE kind END,
    call_seq, app_key, url, body,
    CASE event_type WHEN 'callout' THEN 0 WHEN 'alerting' THEN 1 WHEN 'answer' THEN 2
                    WHEN 'disconnect' THEN 3 WHEN 'collectInfo' THEN 4 WHEN 'fee' THEN 5
                    ELSE event_type END,
    session_ids, idempotency_key, attempts,
    CASE WHEN attempts > 0 AND last_outcome IS finished_outcome THEN NULL
         ELSE CASE last_outcome WHEN 'delivered' THEN 0 WHEN 'failed_will_retry' THEN 1
                                WHEN 'dropped' THEN 2 WHEN 'abandoned' THEN 3
                                ELSE last_outcome END
    END,
    last_sent_at, next_attempt_at,
    CASE finished_outcome WHEN 'delivered' THEN 0 WHEN 'failed_will_retry' THEN 1
                          WHEN 'dropped' THEN 2 WHEN 'abandoned' THEN 3
                          ELSE finished_outcome END
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v5 RENAME TO outbox;
CREATE UNIQUE INDEX outbox_key ON outbox (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX outbox_owed ON outbox (id) WHERE finished_outcome IS NULL;

-- As in v4, with kinds, event types and outcomes by name again.
CREATE VIEW deliveries AS
SELECT o.id, coalesce(o.kind, iif(o.event_type = 5, 'fee', 'status')) AS kind,
    coalesce(o.app_key, (SELECT c.app_key FROM calls c WHERE c.seq = o.call_seq)) AS app_key,
    coalesce(o.url, (SELECT c.status_url FROM calls c WHERE c.seq = o.call_seq)) AS url,
    o.body,
    CASE o.event_type WHEN 0 THEN 'callout' WHEN 1 THEN 'alerting' WHEN 2 THEN 'answer'
                      WHEN 3 THEN 'disconnect' WHEN 4 THEN 'collectInfo' WHEN 5 THEN 'fee'
                      ELSE o.event_type END AS event_type,
    coalesce(o.session_ids,
        (SELECT json_array(c.session_id) FROM calls c WHERE c.seq = o.call_seq)) AS session_ids,
    o.idempotency_key, o.attempts,
    CASE WHEN o.attempts > 0 THEN
        CASE coalesce(o.last_outcome, o.finished_outcome)
            WHEN 0 THEN 'delivered' WHEN 1 THEN 'failed_will_retry' WHEN 2 THEN 'dropped'
            WHEN 3 THEN 'abandoned' ELSE coalesce(o.last_outcome, o.finished_outcome) END
    END AS last_outcome,
    coalesce(o.last_sent_at,
        (SELECT a.sent_at FROM attempts a WHERE a.delivery_id = o.id
          ORDER BY a.seq DESC LIMIT 1)) AS last_sent_at,
    o.next_attempt_at,
    CASE o.finished_outcome
        WHEN 0 THEN 'delivered' WHEN 1 THEN 'failed_will_retry' WHEN 2 THEN 'dropped'
        WHEN 3 THEN 'abandoned' ELSE o.finished_outcome END AS finished_outcome,
    o.call_seq,
    -- what the body is packed with (src/store/pack.rs)
    CASE WHEN o.call_seq IS NULL THEN json_extract(o.session_ids, '$[0]')
         ELSE (SELECT c.app_key || c.display || c.callee || c.accepted_at || c.session_id
                 FROM calls c WHERE c.seq = o.call_seq)
    END AS pack_context
FROM outbox o;

-- Links each new delivery to its calls as it is queued, in the same statement; not a call's own
-- status push (id s<seq>.<n>, call_seq = seq): readers find those by the outbox's key
-- (src/store/write.rs `own_status_push`).
CREATE TRIGGER outbox_link_calls AFTER INSERT ON outbox BEGIN
    INSERT OR IGNORE INTO delivery_calls (call_seq, delivery_id)
    SELECT c.seq, NEW.id FROM json_each(NEW.session_ids) j
    JOIN calls c ON c.session_id = j.value;
    INSERT OR IGNORE INTO delivery_calls (call_seq, delivery_id)
    SELECT NEW.call_seq, NEW.id WHERE NEW.call_seq IS NOT NULL
       AND NOT (NEW.id >= 's' || NEW.call_seq || '.' AND NEW.id < 's' || NEW.call_seq || '/');
END;
DELETE FROM delivery_calls
 WHERE EXISTS (SELECT 1 FROM outbox o
                WHERE o.id = delivery_calls.delivery_id AND o.call_seq = delivery_calls.call_seq
                  AND o.id >= 's' || o.call_seq || '.' AND o.id < 's' || o.call_seq || '/');
