// One call: its facts, the audio with the announcement's segments marked on it, the timeline,
// the manifest and every push attempt with its request and response.
import { api, stream, enc, RELOAD_KINDS } from "./api.js";
import { h, fill, stateBadge, badge, outcomeName, ms, pretty, debounce, errorBox } from "./ui.js";

export function render(root, id) {
  const base = `/sim/v1/calls/${enc(id)}`;
  const head = h("div");
  const problem = h("div");
  const audio = h("audio", { id: "call-audio", controls: true, preload: "auto" });
  const segbar = h("div", { class: "segbar", id: "segbar", title: "The announcement's segments; click to play from there" });
  const axis = h("div", { class: "axis" });
  const audioNote = h("div", { class: "label" });
  const timeline = h("div");
  const manifest = h("div");
  const pushes = h("div", { id: "pushes" });
  const cdr = h("div");
  let heardShown = null;
  let heard = 0;
  let segments = [];

  fill(root,
    h("div", { class: "toolbar" }, h("a", { href: "#/calls" }, "← Calls")),
    problem, head,
    h("div", { class: "panel" }, h("h2", {}, "Audio heard by the callee"), audio, segbar, axis, audioNote),
    h("div", { class: "row" },
      h("div", { class: "panel grow" }, h("h2", {}, "Timeline"), timeline),
      h("div", { class: "panel grow" }, h("h2", {}, "Announcement manifest"), manifest)),
    h("div", { class: "panel" }, h("h2", {}, "Pushes"), pushes),
    h("div", { class: "panel" }, h("h2", {}, "CDR"), cdr));

  // The playhead and the segment under it follow the player.
  const playhead = h("div", { class: "playhead" });
  audio.addEventListener("timeupdate", () => {
    if (!heard) return;
    const t = audio.currentTime * 1000;
    playhead.style.left = `${Math.min(100, (t / heard) * 100)}%`;
    for (const el of segbar.querySelectorAll(".seg")) {
      el.classList.toggle("active", t >= +el.dataset.start && t < +el.dataset.end);
    }
  });
  segbar.addEventListener("click", (e) => {
    if (!heard) return;
    const rect = segbar.getBoundingClientRect();
    const target = e.target.closest(".seg");
    const at = target ? +target.dataset.start : ((e.clientX - rect.left) / rect.width) * heard;
    audio.currentTime = at / 1000;
    audio.play().catch(() => {});
  });

  function drawAudio() {
    const span = heard || 1;
    fill(segbar, segments.map((s) => h("div", {
      class: `seg${s.tone ? " tone" : ""}${s.start >= heard ? " unheard" : ""}`,
      title: `${s.label}: ${s.start}–${s.end} ms after answer${s.clip ? ` (${s.clip})` : ""}`,
      dataset: { start: s.start, end: s.end },
      style: `left:${(s.start / span) * 100}%;width:${Math.max(0.3, ((Math.min(s.end, span) - s.start) / span) * 100)}%`,
    }, s.label)), playhead);
    fill(axis, h("span", {}, "answer"), h("span", {}, ms(Math.round(heard / 2))), h("span", {}, ms(heard)));
  }

  async function loadAudio() {
    let info;
    try { info = await api(`${base}/announcement`); } catch (e) { fill(audioNote, e.message); return; }
    heard = info.heard_ms || 0;
    if (info.manifest) {
      segments = info.manifest.segments.map((s) => ({
        start: s.start_ms, end: s.end_ms, label: s.text, clip: s.clip,
        tone: typeof s.part === "string" && s.part.endsWith("tone"),
      }));
    } else {
      // A notification: each played entry's clips, at the entry's start.
      segments = (info.played || []).flatMap((p) => ((p.playback && p.playback.pieces) || []).map((s) => ({
        start: p.start_ms + s.start_ms, end: p.start_ms + s.end_ms, label: s.text, clip: s.clip,
        tone: !p.playback.has_template,
      })));
    }
    drawAudio();
    // Reload the WAV only when there is more of it, and not under the listener's feet.
    if (heard !== heardShown && audio.paused) {
      heardShown = heard;
      audio.src = `${base}/audio.wav?v=${heard}`; // a new URL whenever there is more to hear
      audio.dataset.heardMs = heard;
    }
    audioNote.textContent = heard
      ? `${ms(heard)} heard, from the answer on · 8 kHz 16-bit mono · `
      : "Nothing heard yet: the call has not been answered.";
    if (heard) audioNote.append(h("a", { href: `${base}/audio.wav`, download: "call.wav" }, "download WAV"));
  }

  function drawCall(c) {
    fill(head, h("div", { class: "panel" },
      h("div", { class: "toolbar" },
        h("h1", { class: "mono", id: "call-id" }, c.session_id),
        stateBadge(c.state, c.state_code),
        h("span", { class: "spacer" }),
        c.state !== "released" && h("button", { onclick: () => act(`${base}/hangup`, { party: "a" }) }, "Hang up (callee)"),
        c.state === "answered" && h("input", { id: "call-keys", placeholder: "keys, e.g. 1#", size: 8, class: "mono" }),
        c.state === "answered" && h("button", { onclick: () => act(`${base}/dtmf`, { digits: document.getElementById("call-keys").value }) }, "Press")),
      h("dl", { class: "facts" },
        h("dt", {}, "App"), h("dd", { class: "mono" }, c.app_key),
        h("dt", {}, "Caller"), h("dd", { class: "mono" }, c.caller),
        h("dt", {}, "Callee"), h("dd", { class: "mono" }, c.callee),
        h("dt", {}, "Outcome"), h("dd", {}, outcomeName(c.outcome) || "—", c.behaviour_from && c.behaviour_from.from !== outcomeName(c.outcome) ? h("span", { class: "muted" }, ` (${c.behaviour_from.from})`) : ""),
        h("dt", {}, "stateCode"), h("dd", {}, c.state_code ?? "—", c.state_desc ? h("span", { class: "muted" }, ` ${c.state_desc}`) : ""),
        h("dt", {}, "Accepted"), h("dd", { class: "mono" }, c.accepted_at),
        c.verify_code && [h("dt", {}, "Code"), h("dd", { class: "mono" }, `${c.verify_code} ×${c.times}`)],
        c.pre_tone && [h("dt", {}, "Tones"), h("dd", { class: "mono" }, [c.pre_tone, c.pos_tone].filter(Boolean).join(" · "))],
        h("dt", {}, "User data"), h("dd", { class: "mono" }, c.user_data ?? "—"))));

    const t0 = c.timeline.length ? c.timeline[0].at_ms : 0;
    fill(timeline, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", { class: "num" }, "+ms"), h("th", {}, "Event"), h("th", {}, "Detail"))),
      h("tbody", {}, c.timeline.map((t) => h("tr", { dataset: { event: t.event } },
        h("td", { class: "mono" }, t.time.slice(11)),
        h("td", { class: "num mono" }, t.at_ms - t0),
        h("td", {}, badge(t.event, t.event)),
        h("td", {}, t.detail || ""))))));

    drawManifest();

    fill(pushes, c.deliveries.length ? c.deliveries.map(attempt)
      : h("p", { class: "muted" }, c.status_url || c.fee_url ? "No push attempted yet." : "This call has no push URLs: its events are recorded, not pushed."));
    fill(cdr, c.cdr ? h("pre", {}, JSON.stringify(c.cdr, null, 2)) : h("p", { class: "muted" }, "No CDR until the call ends."),
      h("div", { class: "label" }, `CDR state: ${(c.cdr_state || "").replace(/_/g, " ")}`));
  }

  function drawManifest() {
    fill(manifest, segments.length ? h("table", {},
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Start"), h("th", { class: "num" }, "End"), h("th", {}, "Says"), h("th", {}, "Clip"))),
      h("tbody", {}, segments.map((s) => h("tr", { class: s.start >= heard ? "muted" : "" },
        h("td", { class: "num mono" }, s.start), h("td", { class: "num mono" }, s.end),
        h("td", {}, s.label), h("td", { class: "mono" }, s.clip || ""))))) : h("p", { class: "muted" }, "No announcement segments."));
  }

  function attempt(d) {
    const headers = d.request_headers.map(([k, v]) => `${k}: ${v}`).join("\n");
    const response = d.response_status !== null && d.response_status !== undefined
      ? `HTTP ${d.response_status}\n\n${pretty(d.response_body)}`
      : `No response: ${d.error || "unknown error"}`;
    return h("details", { class: "attempt", dataset: { delivery: d.delivery_id, attempt: d.attempt } },
      h("summary", {},
        badge(d.event_type, "info"), h("span", { class: "mono" }, `${d.kind} #${d.attempt}`),
        h("span", { class: "mono muted" }, d.sent_at),
        badge(d.outcome.replace(/_/g, " "), d.outcome),
        h("span", { class: "mono" }, d.response_status ?? d.error ?? ""),
        h("span", { class: "muted" }, `${d.latency_ms} ms`),
        d.fault && badge(`fault: ${d.fault}`, "bad"),
        d.next_attempt_at && h("span", { class: "muted" }, `next attempt ${d.next_attempt_at}`)),
      h("div", { class: "body" },
        h("div", {}, h("div", { class: "label" }, "Request"),
          h("pre", {}, `POST ${d.url}\n${headers}\n\n${pretty(d.request_body)}`)),
        h("div", {}, h("div", { class: "label" }, "Response"), h("pre", {}, response))));
  }

  async function act(path, body) {
    try { await api(path, { method: "POST", body }); } catch (e) { alert(e.message); }
  }

  async function load() {
    try {
      const c = await api(base);
      await loadAudio();
      drawCall(c);
      fill(problem);
    } catch (e) {
      fill(problem, errorBox(e));
    }
  }
  const reload = debounce(load, 120);
  const off = stream.on((e) => {
    const mine = e.session_id === id || (Array.isArray(e.session_ids) && e.session_ids.includes(id));
    if (mine || e.kind === "clock" || RELOAD_KINDS.has(e.kind)) reload();
  });
  load();
  return () => { off(); audio.pause(); };
}
