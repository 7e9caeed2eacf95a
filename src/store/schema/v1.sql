-- Dialtone store, schema version 1: calls, their events, the delivery outbox and the journal.
-- Applied by src/store/schema.rs inside one transaction; PRAGMA user_version is set after it.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per accepted callVerify request. The columns after fee_url stay NULL while the call
-- is in flight and are filled by its CallEnded write.
CREATE TABLE calls (
    seq          INTEGER PRIMARY KEY,     -- acceptance order (the engine's call sequence)
    session_id   TEXT NOT NULL UNIQUE,
    app_key      TEXT NOT NULL,
    callee       TEXT NOT NULL,           -- calleeNbr
    display      TEXT NOT NULL,           -- displayNbr
    accepted_ms  INTEGER NOT NULL,        -- simulated ms since start
    accepted_at  TEXT NOT NULL,           -- yyyy-MM-dd HH:mm:ss UTC
    request_json TEXT NOT NULL,           -- the validated request, as the engine serialised it
    status_url   TEXT,
    fee_url      TEXT,
    state_code   INTEGER,                 -- disconnect stateCode; NULL = in flight
    ended_at     TEXT,
    readings     INTEGER,                 -- code readings started
    code_ms      INTEGER,                 -- ms of code audio played
    fee_json     TEXT,                    -- the CDR (FeeInfo, spec §7.1) as pushed
    fee_state    TEXT NOT NULL DEFAULT 'pending'
        CHECK (fee_state IN ('pending', 'no_url', 'queued', 'delivered', 'abandoned'))
);
CREATE INDEX calls_by_accepted_at ON calls (accepted_at);
CREATE INDEX calls_by_app ON calls (app_key, seq);
CREATE INDEX calls_in_flight ON calls (seq) WHERE state_code IS NULL;

-- The call's timeline: callout, alerting, answer, playing, disconnect, note.
CREATE TABLE call_events (
    session_id TEXT NOT NULL,
    idx        INTEGER NOT NULL,          -- position in the timeline, from 0
    at_ms      INTEGER NOT NULL,
    time       TEXT NOT NULL,             -- yyyy-MM-dd HH:mm:ss.SSS UTC
    event      TEXT NOT NULL,
    detail     TEXT,
    PRIMARY KEY (session_id, idx)
) WITHOUT ROWID;

-- The outbox: one row per push body (a status event, or a batch of up to 50 CDRs), written
-- before its first attempt. finished_outcome stays NULL until it is delivered or given up.
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,    -- s<call>.<n> (status) or f<first call> (CDR batch)
    kind             TEXT NOT NULL CHECK (kind IN ('status', 'fee')),
    app_key          TEXT NOT NULL,
    url              TEXT NOT NULL,
    body             TEXT NOT NULL,       -- the JSON body, byte for byte
    event_type       TEXT NOT NULL,
    session_ids      TEXT NOT NULL,       -- JSON array
    idempotency_key  TEXT NOT NULL UNIQUE,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_outcome     TEXT,
    last_sent_at     TEXT,
    next_attempt_at  TEXT,
    finished_outcome TEXT                 -- delivered | dropped | abandoned; NULL = still owed
);
CREATE INDEX deliveries_owed ON deliveries (id) WHERE finished_outcome IS NULL;

-- The journal (spec §9): one row per attempt, kept in full (no journal.max_entries here).
CREATE TABLE attempts (
    seq              INTEGER PRIMARY KEY, -- storage order
    id               TEXT NOT NULL,       -- the journal entry's id: <delivery_id>#<attempt>
    delivery_id      TEXT NOT NULL,       -- deliveries.id
    kind             TEXT NOT NULL,
    app_key          TEXT NOT NULL,
    session_ids      TEXT NOT NULL,       -- JSON array
    event_type       TEXT NOT NULL,
    url              TEXT NOT NULL,
    attempt          INTEGER NOT NULL,    -- 1 for the first
    sent_at          TEXT NOT NULL,
    sent_at_ms       INTEGER NOT NULL,
    request_headers  TEXT NOT NULL,       -- JSON array of [name, value]
    request_body     TEXT NOT NULL,
    response_status  INTEGER,
    response_body    TEXT,
    error            TEXT,                -- timeout | connect | tls | redirect | io
    latency_ms       INTEGER NOT NULL,
    outcome          TEXT NOT NULL,       -- delivered | failed_will_retry | dropped | abandoned
    next_attempt_at  TEXT
);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id);

-- Which calls each attempt concerns, so the journal can be read per call without a scan.
CREATE TABLE attempt_sessions (
    session_id  TEXT NOT NULL,
    attempt_seq INTEGER NOT NULL,
    PRIMARY KEY (session_id, attempt_seq)
) WITHOUT ROWID;
