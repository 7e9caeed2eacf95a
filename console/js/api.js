// The console is a client of Dialtone's control API (/sim/v1) and its event stream.

/** Fetches `path` and returns its JSON; an error answer throws with the API's own message. */
export async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!resp.ok) {
    const msg = (json && (json.error || json.resultdesc)) || text || resp.statusText;
    throw new Error(`${method} ${path}: ${resp.status} ${msg}`);
  }
  return json;
}

export const enc = encodeURIComponent;

export function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

/**
 * The event stream, shared by every view: one WebSocket, reconnected with `since` so nothing is
 * lost or repeated across a reconnect.
 */
class Stream {
  constructor() {
    this.listeners = new Set();
    this.statusListeners = new Set();
    this.lastSeq = null;
    this.retry = 500;
    this.status = "connecting";
  }

  start() {
    // Batched: a frame carries every message ready, one per line (a burst is one frame).
    const q = this.lastSeq === null ? "" : `&since=${this.lastSeq}`;
    const ws = new WebSocket(wsUrl(`/sim/v1/stream?batch=ndjson${q}`));
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.retry = 500;
      const again = this.status === "down";
      this.setStatus("live");
      // Back after an outage: views reload what they show (the replay covers only events).
      if (again) this.dispatch({ kind: "resync" });
    };
    ws.onmessage = (m) => {
      for (const line of m.data.split("\n")) {
        if (!line) continue;
        let e;
        try { e = JSON.parse(line); } catch { continue; }
        if (typeof e.seq === "number") this.lastSeq = e.seq;
        this.dispatch(e);
        // Events this client will never get: views reload instead.
        if (e.kind === "gap" || e.kind === "lagged") this.dispatch({ kind: "resync" });
      }
    };
    ws.onclose = () => {
      // Refused before opening: most likely a restarted Dialtone whose numbering began again
      // (a `since` ahead of it is a 409). Start from now; the views reload on reconnecting.
      if (!opened) this.lastSeq = null;
      this.setStatus("down");
      setTimeout(() => this.start(), this.retry);
      this.retry = Math.min(this.retry * 2, 5000);
    };
  }

  dispatch(e) {
    for (const fn of this.listeners) {
      try { fn(e); } catch (err) { console.error(err); }
    }
  }

  setStatus(s) {
    this.status = s;
    for (const fn of this.statusListeners) fn(s);
  }

  /** Calls `fn(event)` for every message; returns the function that unsubscribes. */
  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onStatus(fn) {
    this.statusListeners.add(fn);
    fn(this.status);
  }
}

export const stream = new Stream();

/** Kinds after which a view reloads everything it shows. */
export const RELOAD_KINDS = new Set(["reset", "resync"]);

/** Event kinds that change a call (its row in the list, its page). */
export const CALL_KINDS = new Set(["accepted", "callout", "alerting", "answer", "playing", "disconnect", "note", "push"]);
