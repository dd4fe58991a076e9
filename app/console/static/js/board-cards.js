// The ward board's pieces: a patient's card and an open alert. Pure rendering from view rows.

import { clock, h } from "./dom.js";
import { REASON_WORDS, RISK_WORDS, VITALS, band, sparkline } from "./news2.js";

export const cardId = (patientId) => `card-${patientId}`;
export const alertId = (patientId) => `alert-${patientId}`;

/** One patient: bed, name, latest vitals, NEWS2 score and risk (colour and words), sparkline. */
export function patientCard(row, { callout, onRecordVitals }) {
  const { band: colour, label } = band(row.news2_score, row.risk);
  const titleId = `${cardId(row.patient_id)}-title`;
  return h(
    "article",
    {
      class: "card",
      id: cardId(row.patient_id),
      "aria-labelledby": titleId,
      dataset: { band: colour, risk: row.risk || "none", score: row.news2_score ?? "" },
    },
    h("h3", { id: titleId }, h("span", { class: "bed" }, `Bed ${row.bed}`), " ", row.name),
    h(
      "div",
      { class: "score-line" },
      h("span", { class: "visually-hidden" }, "NEWS2 score"),
      h("span", { class: "score" }, row.news2_score ?? "–"),
      h("span", { class: "risk" }, label),
    ),
    vitalsList(row),
    sparkline(row.recent_scores || []),
    row.alert_risk ? alertLine(row) : null,
    callout ? calloutLine(callout) : null,
    h(
      "footer",
      {},
      h("span", {}, row.last_vitals_at ? `Observed ${clock(row.last_vitals_at)}` : "Not observed yet"),
      h(
        "button",
        {
          type: "button",
          dataset: { focusKey: "vitals" },
          "aria-label": `Record vitals for ${row.name}, bed ${row.bed}`,
          onclick: () => onRecordVitals(row.patient_id),
        },
        "Record vitals",
      ),
    ),
  );
}

function vitalsList(row) {
  const vitals = row.latest_vitals;
  if (!vitals) return h("p", { class: "hint" }, "Vital signs: none recorded on this admission.");
  const scored = new Set(row.reasons || []);
  return h(
    "dl",
    { class: "vitals" },
    VITALS.map((sign) => {
      const value = vitals[sign.name];
      const shown = sign.format ? sign.format(value) : `${value}${sign.unit ? ` ${sign.unit}` : ""}`;
      const scoring = scored.has(sign.reason);
      return h(
        "div",
        { class: scoring ? "scored" : null },
        h("dt", {}, sign.label),
        h("dd", {}, shown, scoring ? h("span", { class: "visually-hidden" }, " (scored)") : null),
      );
    }),
  );
}

function alertLine(row) {
  const words = RISK_WORDS[row.alert_risk] || row.alert_risk;
  const state = row.alert_acknowledged_by
    ? `acknowledged by ${row.alert_acknowledged_by}`
    : row.alert_escalated
      ? "escalated, not acknowledged"
      : "not acknowledged";
  return h("p", { class: "alert-line" }, `⚠ Alert open (${words}): ${state}`);
}

const CALLOUT_WORDS = {
  requested: "outreach called",
  accepted: "outreach on the way",
  arrived: "outreach with the patient",
  completed: "outreach visit completed",
  "stood-down": "outreach stood down",
};

/** The outreach team's callout for this patient, as its public stream told the ward. */
function calloutLine(callout) {
  const words = CALLOUT_WORDS[callout.status] || callout.status;
  const who = callout.responder ? ` (${callout.responder})` : "";
  return h(
    "p",
    { class: "callout-line", dataset: { status: callout.status } },
    `Outreach: ${words}${who} · ${clock(callout.updated_at)}`,
  );
}

/** An open alert, with Acknowledge and Resolve, and its events on demand. */
export function alertItem(alert, patient, { onAcknowledge, onResolve, onShowEvents }) {
  const who = patient ? `Bed ${patient.bed} · ${patient.name}` : alert.patient_id;
  const words = RISK_WORDS[alert.risk] || alert.risk;
  const reasons = (alert.reasons || []).map((r) => REASON_WORDS[r] || r).join(", ");
  const acknowledged = Boolean(alert.acknowledged_by);
  const events = h("ol", { "aria-live": "polite" });
  return h(
    "li",
    { class: "alert", id: alertId(alert.patient_id), dataset: { band: alert.risk, risk: alert.risk } },
    h(
      "div",
      {},
      h("p", { class: "who" }, `${words} · NEWS2 ${alert.score} · ${who}`),
      h(
        "p",
        { class: "detail" },
        h(
          "span",
          { class: "ack", dataset: { acknowledged: String(acknowledged) } },
          acknowledged
            ? `Acknowledged by ${alert.acknowledged_by} at ${clock(alert.acknowledged_at)}`
            : "Not acknowledged",
        ),
        ` · raised ${clock(alert.raised_at)}`,
        alert.escalated_at ? ` · escalated ${clock(alert.escalated_at)} (${alert.escalation_reason})` : "",
        reasons ? ` · scored on ${reasons}` : "",
      ),
    ),
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        {
          type: "button",
          class: "primary",
          disabled: acknowledged,
          dataset: { focusKey: "ack" },
          "aria-label": `Acknowledge the alert for ${who}`,
          onclick: (click) => onAcknowledge(alert, click.currentTarget),
        },
        "Acknowledge",
      ),
      h(
        "button",
        {
          type: "button",
          dataset: { focusKey: "resolve" },
          "aria-label": `Resolve the alert for ${who}`,
          onclick: (click) => onResolve(alert, click.currentTarget),
        },
        "Resolve",
      ),
    ),
    h(
      "details",
      { ontoggle: (toggle) => toggle.currentTarget.open && onShowEvents(alert, events) },
      h("summary", { dataset: { focusKey: "events" } }, "Alert events", h("span", { class: "visually-hidden" }, ` for ${who}`)),
      events,
    ),
  );
}

/** The alert's own events, listed in a details element. */
export function eventList(list, cloudEvents) {
  list.replaceChildren(
    ...cloudEvents.map((event) =>
      h(
        "li",
        { dataset: { type: event.type } },
        h("code", {}, event.type.split(".").pop()),
        ` at ${clock(event.time)}`,
        event.data?.clinician ? ` by ${event.data.clinician}` : "",
        event.data?.risk ? ` (${event.data.risk}, NEWS2 ${event.data.score})` : "",
      ),
    ),
  );
}

/** The chart's bands, in words next to their colours. */
export function legend() {
  const bands = [
    ["zero", "0: low"],
    ["low", "1–4: low"],
    ["low-medium", "one parameter 3: low–medium"],
    ["medium", "5–6: medium"],
    ["high", "7+: high"],
  ];
  return h(
    "ul",
    { class: "legend", "aria-label": "NEWS2 colour bands" },
    bands.map(([colour, words]) =>
      h("li", { dataset: { band: colour } }, h("span", { class: "swatch", "aria-hidden": "true" }), words),
    ),
  );
}
