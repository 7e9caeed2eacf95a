// GET /sim/v1/reports/reconciliation: per app, calls accepted against CDRs delivered.
import { api, stream } from "./api.js";
import { h, fill, debounce, errorBox } from "./ui.js";

const COLUMNS = [
  ["accepted", "Accepted"], ["placed", "Placed"], ["rang", "Rang"], ["answered", "Answered"],
  ["in_progress", "In progress"], ["played_in_full", "Played in full"], ["hung_up_early", "Hung up early"],
  ["failed_by_reason", "Failed (by stateCode)"], ["cdrs_generated", "CDRs"], ["cdrs_delivered", "Delivered"],
  ["cdrs_owed", "Owed"], ["cdrs_abandoned", "Abandoned"], ["cdrs_not_pushed", "Not pushed"],
];

export function render(root) {
  const from = h("input", { placeholder: "from: 2026-03-14 00:00:00", size: 24, class: "mono" });
  const to = h("input", { placeholder: "to", size: 24, class: "mono" });
  const table = h("div", { id: "reconciliation" });
  fill(root,
    h("div", { class: "toolbar" }, h("h1", {}, "Reconciliation"), h("span", { class: "spacer" }),
      from, to, h("button", { onclick: () => load() }, "Refresh")),
    h("p", { class: "muted" }, "Per app: what the platform accepted, what became of each call, and whether its CDR reached the app. The counts add up: every ended call has exactly one CDR."),
    h("div", { class: "panel" }, table));

  async function load() {
    const q = new URLSearchParams();
    if (from.value.trim()) q.set("from", from.value.trim());
    if (to.value.trim()) q.set("to", to.value.trim());
    try {
      const rows = await api(`/sim/v1/reports/reconciliation${q.size ? `?${q}` : ""}`);
      fill(table, rows.length ? h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "App"), COLUMNS.map(([, t]) => h("th", { class: "num" }, t)))),
        h("tbody", {}, rows.map((r) => h("tr", { dataset: { app: r.app_key, accepted: r.accepted, cdrs: r.cdrs_generated } },
          h("td", { class: "mono", title: r.app_key }, `${r.app_key.slice(0, 12)}…`),
          COLUMNS.map(([k]) => h("td", { class: `num${k === "cdrs_owed" && r[k] ? " bad" : ""}` },
            k === "failed_by_reason" ? Object.entries(r[k] || {}).map(([c, n]) => `${c}×${n}`).join(", ") || "—" : r[k] ?? ""))))))
        : h("p", { class: "empty" }, "No calls in this period."));
    } catch (e) { fill(table, errorBox(e)); }
  }
  const reload = debounce(load, 400);
  const off = stream.on((e) => { if (["accepted", "disconnect", "push", "reset", "resync"].includes(e.kind)) reload(); });
  load();
  return off;
}
