-- Dialtone store, schema version 4: large values packed, the outbox without what its call says.
--
-- * deliveries.body (status pushes, and CDR batches their calls do not make), calls.request_json
--   and calls.view_json are written as BLOBs: a leading byte, then the value
--   compressed (LZ4) against a dictionary built into Dialtone and what the row's call already
--   says (src/store/pack.rs). TEXT still reads as the text itself, so rows written before v4 are left
--   as they are. A v3 body stored as a BLOB (bytes that are not UTF-8; JSON never is) gets the
--   leading byte 0, "as is", so that every BLOB in these columns reads the same way.
-- * attempts.aksk: a BLOB when the signature is the usual one (digest, nonce and Created in
--   57 bytes); TEXT as before otherwise.
-- * The outbox is the table `outbox`; `deliveries` is a view of it with every column as before.
--   A status push of one call to that call's app and status URL names the call (`call_seq`) and
--   leaves app_key, url and session_ids NULL. The idempotency key's index leaves NULL keys out.
-- * calls.fee_json (the CDR) stays text, so the cdrs view keeps working in plain sqlite3.

UPDATE deliveries SET body = unhex('00' || hex(body)) WHERE typeof(body) = 'blob';

CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,    -- s<call>.<n> (status) or f<first call> (CDR batch)
    kind             TEXT NOT NULL CHECK (kind IN ('status', 'fee')),
    call_seq         INTEGER,             -- calls.seq: app_key, url and session_ids are its own
    app_key          TEXT,
    url              TEXT,
    body,                                 -- packed BLOB, or TEXT (before v4), or NULL (see v3)
    event_type       TEXT NOT NULL,
    session_ids      TEXT,                -- JSON array
    idempotency_key  TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_outcome     TEXT,
    last_sent_at     TEXT,
    next_attempt_at  TEXT,
    finished_outcome TEXT                 -- delivered | dropped | abandoned; NULL = still owed
);
INSERT INTO outbox (id, kind, call_seq, app_key, url, body, event_type, session_ids,
    idempotency_key, attempts, last_outcome, last_sent_at, next_attempt_at, finished_outcome)
SELECT d.id, d.kind, c.seq,
    CASE WHEN c.seq IS NULL THEN d.app_key END,
    CASE WHEN c.seq IS NULL THEN d.url END,
    d.body, d.event_type,
    CASE WHEN c.seq IS NULL THEN d.session_ids END,
    d.idempotency_key, d.attempts, d.last_outcome, d.last_sent_at, d.next_attempt_at,
    d.finished_outcome
FROM deliveries d LEFT JOIN calls c
  ON d.kind = 'status' AND json_array_length(d.session_ids) = 1
 AND c.session_id = json_extract(d.session_ids, '$[0]')
 AND c.app_key = d.app_key AND c.status_url = d.url;
DROP TABLE deliveries;
CREATE UNIQUE INDEX outbox_key ON outbox (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX outbox_owed ON outbox (id) WHERE finished_outcome IS NULL;

-- The call's columns come from scalar subqueries, not a join: a view that is a join is
-- materialised whole when it is the right side of a LEFT JOIN (the journal's query), and a
-- query on it by id was prepared again at every execution (measured).
CREATE VIEW deliveries AS
SELECT o.id, o.kind,
    coalesce(o.app_key, (SELECT c.app_key FROM calls c WHERE c.seq = o.call_seq)) AS app_key,
    coalesce(o.url, (SELECT c.status_url FROM calls c WHERE c.seq = o.call_seq)) AS url,
    o.body, o.event_type,
    coalesce(o.session_ids,
        (SELECT json_array(c.session_id) FROM calls c WHERE c.seq = o.call_seq)) AS session_ids,
    o.idempotency_key, o.attempts, o.last_outcome, o.last_sent_at, o.next_attempt_at,
    o.finished_outcome, o.call_seq,
    -- what the body is packed with (src/store/pack.rs)
    CASE WHEN o.call_seq IS NULL THEN json_extract(o.session_ids, '$[0]')
         ELSE (SELECT c.app_key || c.display || c.callee || c.accepted_at || c.session_id
                 FROM calls c WHERE c.seq = o.call_seq)
    END AS pack_context
FROM outbox o;

-- Links each new delivery to its calls as it is queued, in the same statement.
CREATE TRIGGER outbox_link_calls AFTER INSERT ON outbox BEGIN
    INSERT OR IGNORE INTO delivery_calls (call_seq, delivery_id)
    SELECT c.seq, NEW.id FROM json_each(NEW.session_ids) j
    JOIN calls c ON c.session_id = j.value;
    INSERT OR IGNORE INTO delivery_calls (call_seq, delivery_id)
    SELECT NEW.call_seq, NEW.id WHERE NEW.call_seq IS NOT NULL;
END;
