// DOM helpers shared by the views: an element builder, badges and formatting.

/** Builds an element: h("td", {class: "num", onclick: fn}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A call state badge; a released call is green for stateCode 0, red otherwise. */
export function stateBadge(state, stateCode) {
  let cls = state;
  if (state === "released") cls += stateCode === 0 ? " ok" : " fail";
  return h("span", { class: `badge ${cls}`, dataset: { state } }, state);
}

export function badge(text, cls = "") {
  return h("span", { class: `badge ${cls}` }, text);
}

/** The name of an outcome object ({"outcome": "busy", ...}) or rule step list. */
export function outcomeName(o) {
  if (!o) return "";
  if (typeof o === "string") return o;
  if (o.outcome) return o.outcome;
  if (Array.isArray(o.steps)) return o.steps.map(outcomeName).join(" → ");
  return JSON.stringify(o);
}

export function ms(n) {
  if (n === null || n === undefined) return "—";
  return n < 10000 ? `${n} ms` : `${(n / 1000).toFixed(n % 1000 ? 3 : 0)} s`;
}

export function pretty(text) {
  if (text === null || text === undefined) return "";
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return String(text); }
}

/** Runs `fn` once after calls stop coming for `wait` ms (coalesces bursts of stream events). */
export function debounce(fn, wait) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), wait);
  };
}

export function errorBox(e) {
  return h("div", { class: "error" }, e && e.message ? e.message : String(e));
}
