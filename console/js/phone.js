// A phone in the browser: the handset WebSocket (/sim/v1/phones/{number}/handset) makes this
// page the callee. Calls ring here; answer, reject, hang up and keys go back as JSON actions,
// and the call's audio comes as 20 ms frames of 8 kHz 16-bit PCM, played through Web Audio.
import { api, wsUrl, enc } from "./api.js";
import { h, fill, ms } from "./ui.js";

const RATE = 8000;

// The handset outlives the view: it stays attached while you look at other pages.
const phone = {
  ws: null,
  number: localStorage.getItem("dialtone.phone") || "+8613900001234",
  attached: false,
  call: null, // {session_id, caller, app_key, kind, state: ringing|in-call|ended, ...}
  samples: 0, // samples received for the current call
  log: [],
  ctx: null,
  gain: null,
  nextAt: 0,
  level: 0,
  muted: false,
};
const listeners = new Set();
function changed() { for (const fn of listeners) fn(); }

function note(dir, text) {
  phone.log.push({ dir, text });
  if (phone.log.length > 200) phone.log.shift();
}

function attach(number) {
  detach();
  phone.number = number;
  localStorage.setItem("dialtone.phone", number);
  // The AudioContext is made on this click: browsers let audio start only after a gesture.
  if (!phone.ctx) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx) {
      phone.ctx = new Ctx();
      phone.gain = phone.ctx.createGain();
      phone.gain.connect(phone.ctx.destination);
    }
  }
  if (phone.ctx) phone.ctx.resume().catch(() => {});
  const ws = new WebSocket(wsUrl(`/sim/v1/phones/${enc(number)}/handset`));
  ws.binaryType = "arraybuffer";
  phone.ws = ws;
  note("out", `connect ${number}`);
  ws.onmessage = (m) => {
    if (phone.ws !== ws) return;
    if (typeof m.data === "string") onMessage(m.data);
    else onAudio(m.data);
  };
  ws.onclose = (e) => {
    if (phone.ws !== ws) return;
    phone.ws = null;
    phone.attached = false;
    note("err", `closed${e.reason ? `: ${e.reason}` : ""} (${e.code})`);
    changed();
  };
  changed();
}

function detach() {
  if (phone.ws) {
    const ws = phone.ws;
    phone.ws = null;
    ws.close();
    note("out", "detached");
  }
  phone.attached = false;
  phone.call = null;
  changed();
}

function onMessage(text) {
  note("in", text);
  let m;
  try { m = JSON.parse(text); } catch { return changed(); }
  switch (m.type) {
    case "attached": phone.attached = true; break;
    case "ringing":
      phone.call = { ...m, state: "ringing", digits: "" };
      phone.samples = 0;
      break;
    case "answered":
      if (phone.call) phone.call.state = "in-call";
      phone.nextAt = 0;
      break;
    case "digits":
      if (phone.call) phone.call.digits += m.digits;
      break;
    case "ended":
      phone.call = { ...(phone.call || {}), ...m, state: "ended" };
      break;
    case "error": break;
  }
  changed();
}

/** A frame of audio: little-endian 16-bit samples, queued right after the previous frame. */
function onAudio(buf) {
  const view = new DataView(buf);
  const n = buf.byteLength >> 1;
  phone.samples += n;
  let peak = 0;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const s = view.getInt16(i * 2, true) / 32768;
    data[i] = s;
    peak = Math.max(peak, Math.abs(s));
  }
  phone.level = peak;
  if (phone.ctx && n) {
    const b = phone.ctx.createBuffer(1, n, RATE);
    b.copyToChannel(data, 0);
    const src = phone.ctx.createBufferSource();
    src.buffer = b;
    src.connect(phone.gain);
    // A small lead absorbs network jitter; frames that arrive in a burst (a manual clock
    // advanced) queue up and play in order.
    const now = phone.ctx.currentTime;
    if (phone.nextAt < now + 0.05) phone.nextAt = now + 0.1;
    src.start(phone.nextAt);
    phone.nextAt += n / RATE;
  }
  changedSoon();
}

let pending = false;
function changedSoon() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; changed(); });
}

function send(action, extra = {}) {
  if (!phone.ws || phone.ws.readyState !== WebSocket.OPEN) return;
  const msg = JSON.stringify({ action, ...extra });
  note("out", msg);
  phone.ws.send(msg);
  if (phone.ctx) phone.ctx.resume().catch(() => {});
  changed();
}

/** The header's badge: shows a ringing or live call wherever you are in the console. */
export function startBadge() {
  const el = document.getElementById("phone-badge");
  listeners.add(() => {
    const s = phone.call && phone.call.state !== "ended" ? phone.call.state : phone.attached ? "on" : "";
    el.textContent = s === "in-call" ? "in call" : s;
    el.className = `badge ${s === "ringing" ? "ringing" : s === "in-call" ? "in-call" : ""}${s ? "" : " hidden"}`;
  });
}

export function render(root) {
  const screen = h("div", { class: "screen", id: "phone-screen" });
  const meter = h("div");
  const known = h("datalist", { id: "phone-known" });
  const number = h("input", { id: "phone-number", class: "mono", value: phone.number, size: 18, placeholder: "+8613900001234", list: "phone-known" });
  // Numbers already called are offered in the field.
  api("/sim/v1/calls").then((calls) => {
    fill(known, [...new Set(calls.map((c) => c.callee))].map((n) => h("option", { value: n })));
  }).catch(() => {});
  const attachBtn = h("button", { id: "phone-attach", class: "primary", onclick: () => (phone.ws ? detach() : attach(number.value.trim())) });
  const answer = h("button", { id: "phone-answer", class: "good", onclick: () => send("answer") }, "Answer");
  const reject = h("button", { id: "phone-reject", class: "bad", onclick: () => send("reject") }, "Reject");
  const hangup = h("button", { id: "phone-hangup", onclick: () => send("hangup") }, "Hang up");
  const keys = "123456789*0#".split("").map((k) => h("button", { dataset: { key: k }, onclick: () => send("dtmf", { digits: k }) }, k));
  const mute = h("button", { class: "small", onclick: () => { phone.muted = !phone.muted; if (phone.gain) phone.gain.gain.value = phone.muted ? 0 : 1; draw(); } });
  const log = h("div", { class: "log", id: "phone-log" });

  fill(root,
    h("div", { class: "toolbar" }, h("h1", {}, "Phone"),
      h("span", { class: "muted" }, "This browser answers calls to one number, and plays what the callee hears.")),
    h("div", { class: "row" },
      h("div", { class: "phone" },
        h("div", { class: "toolbar" }, number, known, attachBtn),
        screen,
        h("div", { class: "actions" }, answer, reject, hangup),
        h("div", { class: "keypad" }, keys),
        h("div", { class: "meter" }, meter),
        h("div", { class: "toolbar", style: "margin:10px 0 0" }, mute)),
      h("div", { class: "panel grow" }, h("h2", {}, "Handset messages"), log)));

  function draw() {
    const c = phone.call;
    attachBtn.textContent = phone.ws ? "Detach" : "Attach";
    number.disabled = !!phone.ws;
    const state = !phone.ws ? "off" : !phone.attached ? "connecting" : c ? c.state : "idle";
    screen.className = `screen ${state}`;
    screen.dataset.state = state;
    screen.dataset.samples = phone.samples;
    if (c) screen.dataset.session = c.session_id || "";
    screen.dataset.digits = c && c.digits ? c.digits : "";
    if (c && c.state_code !== undefined) screen.dataset.stateCode = c.state_code;
    else delete screen.dataset.stateCode;
    const label = { off: "Not attached", connecting: "Connecting…", idle: "Waiting for calls", ringing: "Incoming call", "in-call": "In call", ended: "Call ended" }[state];
    fill(screen,
      h("div", { class: "state" }, label),
      h("div", { class: "who" }, c ? c.caller || "unknown caller" : phone.attached ? phone.number : "—"),
      c && h("div", { class: "detail" }, `${c.kind || "call"} · app ${(c.app_key || "").slice(0, 8)}…`),
      c && c.session_id && h("div", { class: "detail" }, h("a", { href: `#/calls/${enc(c.session_id)}`, style: "color:#9cc3ff" }, "open the call")),
      c && state === "in-call" && h("div", { class: "detail", id: "phone-heard" }, `heard ${ms(Math.round((phone.samples / RATE) * 1000))}${c.digits ? ` · keyed ${c.digits}` : ""}`),
      c && state === "ended" && h("div", { class: "detail" }, `stateCode ${c.state_code} · ${c.reason || ""} · heard ${ms(c.heard_ms)}`));
    answer.disabled = state !== "ringing";
    reject.disabled = state !== "ringing";
    hangup.disabled = state !== "in-call" && state !== "ringing";
    for (const k of keys) k.disabled = state !== "in-call";
    meter.style.width = `${Math.round(Math.min(1, phone.level * 1.5) * 100)}%`;
    phone.level *= 0.6;
    mute.textContent = phone.muted ? "Unmute" : "Mute";
    fill(log, phone.log.slice(-80).map((l) => h("div", { class: l.dir }, `${l.dir === "in" ? "←" : l.dir === "out" ? "→" : "×"} ${l.text}`)));
    log.scrollTop = log.scrollHeight;
  }
  listeners.add(draw);
  draw();
  return () => listeners.delete(draw);
}
