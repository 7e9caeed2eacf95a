-- Dialtone store, schema version 3: a compact journal, and what retention needs.
--
-- * attempts: a push's body, URL, app, kind, event and calls are stored once, on its delivery;
--   an attempt keeps only what differs (NULL = the delivery's), and of its headers only X-AKSK
--   when they are the usual four (request_headers NULL). Existing attempts are compacted the same
--   way, except their headers, which stay as they were.
-- * delivery_calls replaces attempt_sessions: which calls each delivery concerns, by call seq,
--   once per delivery rather than once per attempt and session.
-- * call_events: keyed by the call's seq rather than its 55-character session id.
-- * calls: what the inspection API shows besides the request (outcome, which rule chose it, the
--   announcement's plan), so a call that left memory reads back the same.

CREATE TABLE attempts_v3 (
    seq              INTEGER PRIMARY KEY, -- storage order
    delivery_id      TEXT NOT NULL,       -- deliveries.id
    attempt          INTEGER NOT NULL,    -- 1 for the first
    sent_at          TEXT NOT NULL,
    sent_at_ms       INTEGER NOT NULL,
    aksk             TEXT,                -- X-AKSK when request_headers is NULL, less its
                                          -- `UsernameToken Username="<app>",PasswordDigest="`
    response_status  INTEGER,
    response_body    TEXT,
    error            TEXT,                -- timeout | connect | tls | redirect | io
    latency_ms       INTEGER NOT NULL,
    outcome          TEXT NOT NULL,       -- delivered | failed_will_retry | dropped | abandoned
    next_attempt_at  TEXT,
    fault            TEXT,
    -- NULL below: the same as the delivery's (id: <delivery_id>#<attempt>; request_headers:
    -- Content-Type, Authorization, X-AKSK = aksk, X-Dialtone-Idempotency-Key = the delivery's).
    id               TEXT,
    kind             TEXT,
    app_key          TEXT,
    session_ids      TEXT,
    event_type       TEXT,
    url              TEXT,
    request_headers  TEXT,
    request_body     TEXT
);

INSERT INTO attempts_v3 (seq, delivery_id, attempt, sent_at, sent_at_ms, aksk, response_status,
    response_body, error, latency_ms, outcome, next_attempt_at, fault, id, kind, app_key,
    session_ids, event_type, url, request_headers, request_body)
SELECT a.seq, a.delivery_id, a.attempt, a.sent_at, a.sent_at_ms, NULL, a.response_status,
    a.response_body, a.error, a.latency_ms, a.outcome, a.next_attempt_at, a.fault,
    CASE WHEN a.id IS a.delivery_id || '#' || a.attempt THEN NULL ELSE a.id END,
    CASE WHEN a.kind IS d.kind THEN NULL ELSE a.kind END,
    CASE WHEN a.app_key IS d.app_key THEN NULL ELSE a.app_key END,
    CASE WHEN a.session_ids IS d.session_ids THEN NULL ELSE a.session_ids END,
    CASE WHEN a.event_type IS d.event_type THEN NULL ELSE a.event_type END,
    CASE WHEN a.url IS d.url THEN NULL ELSE a.url END,
    a.request_headers,
    CASE WHEN a.request_body IS CAST(d.body AS TEXT) THEN NULL ELSE a.request_body END
FROM attempts a LEFT JOIN deliveries d ON d.id = a.delivery_id;

DROP TABLE attempts;
ALTER TABLE attempts_v3 RENAME TO attempts;
CREATE INDEX attempts_by_delivery ON attempts (delivery_id);
-- Attempts that name their own calls (no delivery row to name them): few or none.
CREATE INDEX attempts_own_sessions ON attempts (seq) WHERE session_ids IS NOT NULL;

-- deliveries: the idempotency key is NULL when it is <first session id>/<event type> (what the
-- engine makes, `push::delivery`), and a CDR batch's body NULL when it is exactly its calls'
-- fee_json in order, as `{"eventType":"fee","feeLst":[…]}`: each CDR is then stored once.
CREATE TABLE deliveries_v3 (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('status', 'fee')),
    app_key          TEXT NOT NULL,
    url              TEXT NOT NULL,
    body             TEXT,
    event_type       TEXT NOT NULL,
    session_ids      TEXT NOT NULL,
    idempotency_key  TEXT UNIQUE,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_outcome     TEXT,
    last_sent_at     TEXT,
    next_attempt_at  TEXT,
    finished_outcome TEXT
);
INSERT INTO deliveries_v3 SELECT id, kind, app_key, url, body, event_type, session_ids,
    CASE WHEN idempotency_key IS json_extract(session_ids, '$[0]') || '/' || event_type
         THEN NULL ELSE idempotency_key END,
    attempts, last_outcome, last_sent_at, next_attempt_at, finished_outcome
FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_v3 RENAME TO deliveries;
CREATE INDEX deliveries_owed ON deliveries (id) WHERE finished_outcome IS NULL;

CREATE TABLE delivery_calls (
    call_seq    INTEGER NOT NULL,         -- calls.seq
    delivery_id TEXT NOT NULL,            -- deliveries.id
    PRIMARY KEY (call_seq, delivery_id)
) WITHOUT ROWID;

INSERT OR IGNORE INTO delivery_calls (call_seq, delivery_id)
SELECT c.seq, d.id FROM deliveries d, json_each(d.session_ids) j
JOIN calls c ON c.session_id = j.value;

DROP TABLE attempt_sessions;

-- Written with the call's end. `view_json`: {"outcome": …, "behaviour_from": …,
-- "announcement": […]} as GET /sim/v1/calls/{id} shows them.
ALTER TABLE calls ADD COLUMN view_json TEXT;

-- Links each new delivery to its calls as it is queued, in the same statement.
CREATE TRIGGER deliveries_link_calls AFTER INSERT ON deliveries BEGIN
    INSERT OR IGNORE INTO delivery_calls (call_seq, delivery_id)
    SELECT c.seq, NEW.id FROM json_each(NEW.session_ids) j
    JOIN calls c ON c.session_id = j.value;
END;

CREATE TABLE call_events_v3 (
    call_seq   INTEGER NOT NULL,          -- calls.seq
    idx        INTEGER NOT NULL,          -- position in the timeline, from 0
    at_ms      INTEGER NOT NULL,
    time       TEXT NOT NULL,             -- yyyy-MM-dd HH:mm:ss.SSS UTC
    event      TEXT NOT NULL,
    detail     TEXT,
    PRIMARY KEY (call_seq, idx)
) WITHOUT ROWID;
INSERT INTO call_events_v3 SELECT c.seq, e.idx, e.at_ms, e.time, e.event, e.detail
FROM call_events e JOIN calls c ON c.session_id = e.session_id;
DROP TABLE call_events;
ALTER TABLE call_events_v3 RENAME TO call_events;
