// The console's shell: the hash router, the clock in the header and the stream indicator.
import { api, stream } from "./api.js";
import { h, fill, errorBox } from "./ui.js";
import * as calls from "./calls.js";
import * as call from "./call.js";
import * as phone from "./phone.js";
import * as rules from "./rules.js";
import * as reconciliation from "./reconciliation.js";

const view = document.getElementById("view");
let cleanup = null;

function route() {
  const hash = location.hash.replace(/^#\/?/, "") || "calls";
  const [name, ...rest] = hash.split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : null;
  if (cleanup) { cleanup(); cleanup = null; }
  view.replaceChildren();
  let mod = { calls, phone, rules, reconciliation }[name];
  if (name === "calls" && arg) mod = call;
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.dataset.view === name);
  }
  if (!mod) {
    fill(view, h("p", { class: "empty" }, `Nothing at #/${hash}.`));
    return;
  }
  try {
    cleanup = mod.render(view, arg) || null;
  } catch (e) {
    view.append(errorBox(e));
  }
}

// --- The clock: simulated time, and advance buttons when it is manual. ---
const clockEl = document.getElementById("clock");
let clock = null;

let clockMode = null;
// Built once per clock mode; later only the time changes, so the buttons stay put under the
// pointer.
function showClock() {
  if (!clock) return;
  if (clock.mode !== clockMode) {
    clockMode = clock.mode;
    const buttons = clock.mode === "manual"
      ? ["1s", "5s", "30s", "2m", "1h"].map((by) =>
          h("button", { class: "small", title: `POST /sim/v1/clock/advance {"by":"${by}"}`, dataset: { advance: by }, onclick: () => advance(by) }, `+${by}`))
      : [];
    fill(clockEl,
      h("span", { class: "mode" }, `${clock.mode} clock`),
      h("span", { class: "now", id: "clock-now", title: `Simulated time (${clock.mode} clock)` }),
      buttons,
      h("button", { class: "small", title: "POST /sim/v1/reset: forget every call, rule and delivery", onclick: reset }, "Reset"));
  }
  const now = document.getElementById("clock-now");
  now.textContent = clock.now.replace("T", " ").replace("Z", "");
  now.dataset.nowMs = clock.now_ms;
}

async function loadClock() {
  try { clock = await api("/sim/v1/clock"); showClock(); } catch (e) { fill(clockEl, errorBox(e)); }
}

async function advance(by) {
  const buttons = clockEl.querySelectorAll("button");
  for (const b of buttons) b.disabled = true;
  try {
    clock = await api("/sim/v1/clock/advance", { method: "POST", body: { by } });
  } catch (e) {
    alert(e.message);
  }
  for (const b of buttons) b.disabled = false;
  showClock();
}

async function reset() {
  if (!confirm("Reset Dialtone? Calls, deliveries, phone rules and faults are forgotten.")) return;
  try { await api("/sim/v1/reset", { method: "POST" }); } catch (e) { alert(e.message); }
  loadClock();
}

stream.on((e) => {
  if (e.kind === "clock" && clock) {
    clock.now_ms = e.to_ms;
    clock.now = e.to.replace(" ", "T");
    showClock();
  } else if (e.kind === "reset" || e.kind === "resync") {
    loadClock();
  }
});

// A running clock moves by itself: refresh what the header shows.
setInterval(() => { if (clock && clock.mode !== "manual") loadClock(); }, 1000);

const conn = document.getElementById("conn");
stream.onStatus((s) => {
  conn.className = `conn ${s}`;
  conn.textContent = s === "live" ? "live" : s === "down" ? "reconnecting…" : "connecting…";
});

window.addEventListener("hashchange", route);
stream.start();
phone.startBadge();
loadClock();
route();
