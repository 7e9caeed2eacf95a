// The live call list: loaded from GET /sim/v1/calls, then kept current by the event stream.
import { api, stream, CALL_KINDS, RELOAD_KINDS, enc } from "./api.js";
import { h, fill, stateBadge, outcomeName, debounce, errorBox } from "./ui.js";

// What each timeline event tells about the call's state, before the list is reloaded.
const STATE_OF = { accepted: "accepted", callout: "callout", alerting: "alerting", answer: "answered", disconnect: "released" };

export function render(root) {
  const calls = new Map();
  const fresh = new Set();
  const rows_ = new Map();
  let filter = "";
  const body = h("tbody", { id: "calls-body" });
  const count = h("span", { class: "muted" });
  const problem = h("div");
  const search = h("input", {
    type: "search", placeholder: "Filter: callee, app, state, session…", size: 36,
    oninput: (e) => { filter = e.target.value.trim().toLowerCase(); draw(); },
  });

  fill(root,
    h("div", { class: "toolbar" },
      h("h1", {}, "Calls"), count, h("span", { class: "spacer" }), search),
    problem,
    h("div", { class: "panel" },
      h("table", { id: "calls" },
        h("thead", {}, h("tr", {},
          h("th", {}, "Accepted"), h("th", {}, "Session"), h("th", {}, "App"), h("th", {}, "Caller"),
          h("th", {}, "Callee"), h("th", {}, "Outcome"), h("th", {}, "State"), h("th", { class: "num" }, "stateCode"),
          h("th", {}, "CDR"))),
        body)));

  function draw() {
    const rows = [...calls.values()].reverse().filter((c) =>
      !filter || [c.callee, c.caller, c.app_key, c.state, c.session_id, outcomeName(c.outcome)].join(" ").toLowerCase().includes(filter));
    count.textContent = `${calls.size} call${calls.size === 1 ? "" : "s"}`;
    if (!rows.length) {
      fill(body, h("tr", {}, h("td", { colspan: 9, class: "empty" },
        calls.size ? "No call matches the filter." : "No calls yet. Place one through the platform API, or `dialtone call --code 4815 +8613900001234`.")));
      return;
    }
    // Rows are kept per call and updated in place, so a row under the pointer stays the same
    // element while events stream in.
    fill(body, rows.map((c) => {
      let tr = rows_.get(c.session_id);
      if (!tr) {
        tr = h("tr", { class: "link", onclick: () => { location.hash = `#/calls/${enc(c.session_id)}`; } });
        rows_.set(c.session_id, tr);
      }
      tr.dataset.session = c.session_id;
      tr.dataset.state = c.state;
      if (fresh.has(c.session_id)) {
        tr.classList.remove("fresh");
        void tr.offsetWidth; // restarts the highlight animation
        tr.classList.add("fresh");
      }
      fill(tr,
        h("td", { class: "mono" }, (c.accepted_at || "").slice(11)),
        h("td", {}, h("a", { class: "mono ellipsis", href: `#/calls/${enc(c.session_id)}`, title: c.session_id }, c.session_id)),
        h("td", { class: "mono", title: c.app_key }, (c.app_key || "").slice(0, 8) + "…"),
        h("td", { class: "mono" }, c.caller || ""),
        h("td", { class: "mono" }, c.callee),
        h("td", {}, outcomeName(c.outcome)),
        h("td", {}, stateBadge(c.state, c.state_code)),
        h("td", { class: "num mono" }, c.state_code ?? ""),
        h("td", { class: "muted" }, (c.cdr_state || "").replace(/_/g, " ")));
      return tr;
    }));
    fresh.clear();
  }

  async function load() {
    try {
      const list = await api("/sim/v1/calls");
      calls.clear();
      for (const c of list) calls.set(c.session_id, c);
      fill(problem);
      draw();
    } catch (e) {
      fill(problem, errorBox(e));
    }
  }
  const reload = debounce(load, 150);

  const off = stream.on((e) => {
    if (e.kind === "reset") { calls.clear(); rows_.clear(); draw(); }
    if (RELOAD_KINDS.has(e.kind)) { reload(); return; }
    if (!CALL_KINDS.has(e.kind)) return;
    // Show what the event says at once; the reload that follows a burst fills in the rest.
    const id = e.session_id;
    if (id) {
      const c = calls.get(id) || { session_id: id, app_key: e.app_key, caller: e.caller, callee: e.callee, state: "accepted" };
      if (STATE_OF[e.kind]) c.state = STATE_OF[e.kind];
      if (e.kind === "disconnect" && e.state_code !== undefined) c.state_code = e.state_code;
      calls.set(id, c);
      fresh.add(id);
      draw();
    }
    reload();
  });

  load();
  return off;
}
