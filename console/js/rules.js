// Editors for what callees do (PUT/DELETE /sim/v1/phones/{number}) and for the injected push
// faults (GET/PUT/DELETE /sim/v1/faults). The API's own messages are shown when it refuses.
import { api, stream, enc, RELOAD_KINDS } from "./api.js";
import { h, fill, outcomeName, debounce, errorBox } from "./ui.js";

const PHONE_PRESETS = {
  answer: { outcome: "answer" },
  "answer after 10 s of ringing": { outcome: "answer", ring_ms: 10000 },
  busy: { outcome: "busy" },
  no_answer: { outcome: "no_answer" },
  rejected: { outcome: "rejected" },
  powered_off: { outcome: "powered_off" },
  "hang up 4 s into playback": { outcome: "hangup_during_playback", hangup_after_ms: 4000 },
  "busy, then answer": { sequence: [{ outcome: "busy" }, { outcome: "answer" }] },
};

const FAULT_PRESETS = {
  "drop the next CDR push": [{ fault: "drop", push: "fee", times: 1 }],
  "delay every push 3 s": [{ fault: "delay", delay_ms: 3000 }],
  "duplicate status pushes": [{ fault: "duplicate", push: "status" }],
  "corrupt signatures": [{ fault: "corrupt_signature" }],
};

export function render(root) {
  const phoneProblem = h("div");
  const faultProblem = h("div");
  const phoneRules = h("div", { id: "phone-rules" });
  const number = h("input", { id: "rule-number", class: "mono", placeholder: "+8613900005555", size: 18 });
  const behaviour = h("textarea", { id: "rule-behaviour", rows: 5 }, JSON.stringify(PHONE_PRESETS.busy, null, 2));
  const phonePreset = h("select", { onchange: (e) => { behaviour.value = JSON.stringify(PHONE_PRESETS[e.target.value], null, 2); } },
    Object.keys(PHONE_PRESETS).map((k) => h("option", { value: k, selected: k === "busy" }, k)));
  const faults = h("textarea", { id: "faults-json", rows: 8 });
  const faultUse = h("div", { class: "label", id: "faults-use" });
  const faultPreset = h("select", { onchange: (e) => { if (e.target.value) faults.value = JSON.stringify(FAULT_PRESETS[e.target.value], null, 2); } },
    h("option", { value: "" }, "presets…"), Object.keys(FAULT_PRESETS).map((k) => h("option", { value: k }, k)));

  fill(root,
    h("div", { class: "row" },
      h("div", { class: "grow" },
        h("div", { class: "panel" }, h("h2", {}, "What callees do"),
          h("div", { class: "toolbar" }, number, phonePreset,
            h("button", { class: "primary", id: "rule-set", onclick: setRule }, "Set rule")),
          behaviour, phoneProblem),
        h("div", { class: "panel" }, phoneRules)),
      h("div", { class: "grow" },
        h("div", { class: "panel" }, h("h2", {}, "Push faults"),
          h("p", { class: "muted" }, "The rules in force, as a JSON list. Saving replaces them all; a reset brings back the configured ones."),
          h("div", { class: "toolbar" }, faultPreset, h("span", { class: "spacer" }),
            h("button", { onclick: clearFaults }, "Clear"),
            h("button", { class: "primary", id: "faults-save", onclick: saveFaults }, "Save")),
          faults, faultUse, faultProblem))));

  async function setRule() {
    const n = number.value.trim();
    if (!n) { fill(phoneProblem, errorBox("Give a number.")); return; }
    try {
      await api(`/sim/v1/phones/${enc(n)}`, { method: "PUT", body: behaviour.value });
      fill(phoneProblem);
      loadPhones();
    } catch (e) { fill(phoneProblem, errorBox(e)); }
  }

  async function removeRule(n) {
    try { await api(`/sim/v1/phones/${enc(n)}`, { method: "DELETE" }); loadPhones(); } catch (e) { fill(phoneProblem, errorBox(e)); }
  }

  async function saveFaults() {
    try {
      showFaults(await api("/sim/v1/faults", { method: "PUT", body: faults.value }));
      fill(faultProblem);
    } catch (e) { fill(faultProblem, errorBox(e)); }
  }

  async function clearFaults() {
    try { await api("/sim/v1/faults", { method: "DELETE" }); loadFaults(); fill(faultProblem); } catch (e) { fill(faultProblem, errorBox(e)); }
  }

  function ruleTable(title, rows, removable) {
    return [h("h2", {}, title), rows.length ? h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Number"), h("th", {}, "Does"), h("th", { class: "num" }, "Calls"), removable && h("th", {}))),
      h("tbody", {}, rows.map((r) => h("tr", { dataset: { number: r.number, does: r.does } },
        h("td", { class: "mono" }, r.number),
        h("td", { title: JSON.stringify(r.behaviour) }, r.does),
        h("td", { class: "num" }, r.calls ?? ""),
        removable && h("td", {}, h("button", { class: "small", onclick: () => removeRule(r.number) }, "Remove"))))))
      : h("p", { class: "muted" }, "None.")];
  }

  async function loadPhones() {
    try {
      const p = await api("/sim/v1/phones");
      const norm = (r) => Array.isArray(r)
        ? { number: r[0], does: outcomeName(r[1]), behaviour: r[1] }
        : { number: r.match, does: outcomeName(r.behaviour), behaviour: r.behaviour, calls: r.calls };
      fill(phoneRules,
        h("h2", {}, "Virtual handsets attached"),
        (p.handsets || []).length
          ? h("p", { id: "handsets" }, p.handsets.map((n) => h("span", { class: "badge in-call mono", dataset: { number: n } }, n)), " ",
              h("span", { class: "muted" }, "Calls to these numbers ring a person, whatever the rules below say."))
          : h("p", { class: "muted" }, "None. Attach one on the Phone page, or run `dialtone phone NUMBER`."),
        ruleTable("Set here (API)", (p.api || []).map(norm), true),
        ruleTable("From the config file", (p.config || []).map(norm), false),
        ruleTable("Magic numbers (any number ending so)", (p.magic || []).map(norm), false));
    } catch (e) { fill(phoneRules, errorBox(e)); }
  }

  // The editor holds the rules as PUT takes them; how often each was used is shown apart.
  function showFaults(rules) {
    faults.value = JSON.stringify(rules.map(({ used, ...rule }) => rule), null, 2);
    fill(faultUse, rules.length
      ? rules.map((r, i) => h("div", {}, `rule ${i} (${r.fault}${r.push ? `, ${r.push}` : ""}): used ${r.used ?? 0} ${r.times ? `of ${r.times}` : `time${r.used === 1 ? "" : "s"}`}`))
      : "No faults: every push goes out as it should.");
  }

  async function loadFaults() {
    try { showFaults(await api("/sim/v1/faults")); } catch (e) { fill(faultProblem, errorBox(e)); }
  }

  const reloadPhones = debounce(loadPhones, 150);
  const off = stream.on((e) => {
    if (["phone", "handset", "accepted"].includes(e.kind) || RELOAD_KINDS.has(e.kind)) reloadPhones();
    if ((e.kind === "faults" || RELOAD_KINDS.has(e.kind)) && document.activeElement !== faults) loadFaults();
  });
  loadPhones();
  loadFaults();
  return off;
}
