-- Dialtone store, schema version 6: a push's first attempt kept in its outbox row.
--
-- Most pushes are delivered at their first attempt. Writing that attempt as a row of its own
-- cost the writer an insert into two more B-trees (the table and its delivery index) for every
-- push, on top of the outbox update that records its outcome. From v6 on, the update that
-- records a first attempt also keeps its facts in the outbox row (`first_*`), when the attempt
-- is its delivery's as queued (its id `<delivery>#1`, the usual headers, the delivery's body,
-- app, URL and calls); any other attempt (a retry, an attempt with headers or a body of its own,
-- one without an outbox row) is a row of `attempt_rows`, the table that was `attempts`.
--
-- `attempts` is now a view of both, with the same columns as the table had, so `sqlite3` still
-- sees every attempt; `seq` (storage order) is NULL for a first attempt kept in its outbox row.
-- Rows written before v6 stay where they are.

-- (The view reading the old table goes first, so the rename has nothing to rewrite.)
DROP VIEW deliveries;
ALTER TABLE attempts RENAME TO attempt_rows;

ALTER TABLE outbox ADD COLUMN first_sent_at TEXT;         -- NULL: no first attempt kept here
ALTER TABLE outbox ADD COLUMN first_sent_at_ms INTEGER;
ALTER TABLE outbox ADD COLUMN first_aksk;                 -- as attempt_rows.aksk
ALTER TABLE outbox ADD COLUMN first_response_status INTEGER;
ALTER TABLE outbox ADD COLUMN first_response_body TEXT;
ALTER TABLE outbox ADD COLUMN first_error TEXT;
ALTER TABLE outbox ADD COLUMN first_latency_ms INTEGER;
ALTER TABLE outbox ADD COLUMN first_outcome INTEGER;      -- a code, as last_outcome
ALTER TABLE outbox ADD COLUMN first_next_attempt_at TEXT;
ALTER TABLE outbox ADD COLUMN first_fault TEXT;

-- Every attempt, as the table of that name read before v6 (src/store/attempts.rs reads the same
-- two parts with its filters inside each).
CREATE VIEW attempts AS
SELECT seq, delivery_id, attempt, sent_at, sent_at_ms, aksk, response_status, response_body,
    error, latency_ms, outcome, next_attempt_at, fault, id, kind, app_key, session_ids,
    event_type, url, request_headers, request_body
FROM attempt_rows
UNION ALL
SELECT NULL, o.id, 1, o.first_sent_at, o.first_sent_at_ms, o.first_aksk,
    o.first_response_status, o.first_response_body, o.first_error, o.first_latency_ms,
    CASE o.first_outcome WHEN 0 THEN 'delivered' WHEN 1 THEN 'failed_will_retry'
                         WHEN 2 THEN 'dropped' WHEN 3 THEN 'abandoned' END,
    o.first_next_attempt_at, o.first_fault, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM outbox o WHERE o.first_sent_at IS NOT NULL;

-- As in v5; a delivery's last send time may now be its first attempt's, kept in its row.
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
        (SELECT a.sent_at FROM attempt_rows a WHERE a.delivery_id = o.id
          ORDER BY a.seq DESC LIMIT 1),
        o.first_sent_at) AS last_sent_at,
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

-- A call's timeline in its own row (src/store/timeline.rs): `calls.timeline`, a JSON array whose
-- element i is the entry at position i, `[at_ms, time, event]` or `[at_ms, time, event, detail]`,
-- `at_ms` in simulated ms after the call's accepted_ms, `time` in ms after its accepted_at (a
-- text time v5 could not read is kept as it was), `event` and `detail` as call_events had them.
-- One update of the call's row per commit instead of an insert per entry into a B-tree of its
-- own. Existing entries move there (a position no write reached is null; Dialtone leaves none).
ALTER TABLE calls ADD COLUMN timeline TEXT;
-- `gap`: positions no row had before this one, each written `null,` (hex of a zero byte is 00).
UPDATE calls SET timeline = (
    SELECT '[' || group_concat(replace(hex(zeroblob(gap)), '00', 'null,')
                               || iif(detail IS NULL, entry, json_insert(entry, '$[#]', detail)),
                               ',' ORDER BY idx) || ']'
      FROM (SELECT e.idx, e.idx - lag(e.idx, 1, -1) OVER (ORDER BY e.idx) - 1 AS gap,
                json_array(e.at_ms - calls.accepted_ms,
                    CASE WHEN typeof(e.time) = 'integer'
                         THEN e.time - coalesce(unixepoch(calls.accepted_at) * 1000, 0)
                         ELSE e.time END,
                    e.event) AS entry,
                e.detail
              FROM call_events e WHERE e.call_seq = calls.seq))
WHERE seq IN (SELECT call_seq FROM call_events);
DROP VIEW timeline;
DROP TABLE call_events;

-- As in v5, from the calls' rows.
CREATE VIEW timeline AS
SELECT c.session_id, c.seq AS call_seq, j.key AS idx, c.accepted_ms + (j.value ->> 0) AS at_ms,
    strftime('%Y-%m-%d %H:%M:%f',
        CASE WHEN typeof(j.value ->> 1) = 'integer'
             THEN coalesce(unixepoch(c.accepted_at) * 1000, 0) + (j.value ->> 1)
             ELSE j.value ->> 1 END / 1000.0, 'unixepoch') AS time,
    n.name AS event, coalesce(d.text, j.value ->> 3) AS detail
FROM calls c, json_each(c.timeline) j
LEFT JOIN timeline_event_names n ON n.code = (j.value ->> 2)
LEFT JOIN timeline_details d ON typeof(j.value ->> 3) = 'integer' AND d.id = (j.value ->> 3)
WHERE j.type = 'array';

-- Read only by recovery, once at start-up, which now scans the tables: each was two B-tree
-- changes per push (queued, finished) or call (accepted, ended) on the writer's path.
DROP INDEX outbox_owed;
DROP INDEX calls_in_flight;

-- As in v5, run only when there is something to link: a call's own status push (most rows) has
-- neither session ids nor another call to name, and no longer runs the trigger's statements.
DROP TRIGGER outbox_link_calls;
CREATE TRIGGER outbox_link_calls AFTER INSERT ON outbox
WHEN NEW.session_ids IS NOT NULL
  OR (NEW.call_seq IS NOT NULL
      AND NOT (NEW.id >= 's' || NEW.call_seq || '.' AND NEW.id < 's' || NEW.call_seq || '/'))
BEGIN
    INSERT OR IGNORE INTO delivery_calls (call_seq, delivery_id)
    SELECT c.seq, NEW.id FROM json_each(NEW.session_ids) j
    JOIN calls c ON c.session_id = j.value;
    INSERT OR IGNORE INTO delivery_calls (call_seq, delivery_id)
    SELECT NEW.call_seq, NEW.id WHERE NEW.call_seq IS NOT NULL
       AND NOT (NEW.id >= 's' || NEW.call_seq || '.' AND NEW.id < 's' || NEW.call_seq || '/');
END;
