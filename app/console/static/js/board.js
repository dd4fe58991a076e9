// The ward board: one card per patient, open alerts on top, live from the log.
//
// The rows come from the service's views (ward-board, open-alerts), so the console shows the
// service's own NEWS2 score and risk rather than computing its own. Keeping them live:
//   1. read the two views' checkpoints, then their rows: the rows include at least every
//      event up to the smaller checkpoint;
//   2. stream the log after that checkpoint; for each patient or alert event, read that
//      patient's rows again with ?consistent_with=<event id> (the view answers once it has
//      applied the event), so a card never shows a state older than the event that woke it.
// A burst (a catch-up after a reconnect) costs one read per patient, not one per event.

import { ApiError, command, explain, get, query } from "./api.js";
import { alertId, alertItem, cardId, eventList, legend, patientCard } from "./board-cards.js";
import { wardForms } from "./board-forms.js";
import { announce, h, natural, say, swap } from "./dom.js";
import { LogStream, showConnection } from "./stream.js";

const PATIENT_EVENTS = ["PatientAdmitted", "VitalsRecorded", "PatientTransferred", "PatientDischarged"];
const ALERT_EVENTS = ["AlertRaised", "AlertEscalated", "AlertAcknowledged", "AlertResolved"];
const STREAM_TYPES = [...PATIENT_EVENTS.map((t) => `patient.${t}`), ...ALERT_EVENTS.map((t) => `alert.${t}`)];
const CLINICIAN_ITEM = "sluice.clinician";
const FLUSH_DELAY_MS = 30;

export async function mountBoard(main, { ward }) {
  const board = new WardBoard(main, ward);
  await board.start();
  return () => board.stop();
}

const CALLOUT_POLL_MS = 2000;

class WardBoard {
  constructor(main, ward) {
    this.main = main;
    this.ward = ward;
    this.patients = new Map(); // patient_id -> ward-board row
    this.alerts = new Map(); // patient_id -> open-alerts row
    this.callouts = new Map(); // patient_id -> callout-status row (from the outreach team)
    this.calloutTimer = null;
    this.pending = new Map(); // patient_id -> {eventId, alert}: reads owed to the stream
    this.flushing = null;
    this.stream = null;
  }

  async start() {
    const wards = await knownWards();
    if (!this.ward && wards.length) this.ward = wards[0];
    if (this.ward && !wards.includes(this.ward)) wards.push(this.ward);
    this.render(wards.sort(natural));
    if (!this.ward) {
      this.cards.append(h("p", { class: "empty" }, "No patients yet: admit one below."));
    }
    const after = await this.snapshot();
    this.stream = new LogStream({
      after,
      types: STREAM_TYPES,
      onEvent: (event) => this.heard(event),
      onState: showConnection,
    }).start();
    this.watchCallouts();
  }

  stop() {
    this.stream?.stop();
    clearTimeout(this.flushing);
    clearTimeout(this.calloutTimer);
    this.calloutTimer = "stopped";
  }

  /** Callouts change in another service (outreach): they reach the ward's callout-status
   * view, not its log, so the board asks for them every CALLOUT_POLL_MS. */
  async watchCallouts() {
    if (this.calloutTimer === "stopped") return;
    try {
      const page = await get(`/views/callout-status${query({ limit: 1000 })}`);
      const seen = new Map(page.items.map((row) => [row.patient_id, row]));
      const changed = [...seen].some(([id, row]) => this.callouts.get(id)?.updated_at !== row.updated_at);
      this.callouts = seen;
      if (changed) this.redrawCards();
    } catch {
      // no callout-status view, or the server is away: the next round asks again
    }
    if (this.calloutTimer !== "stopped") {
      this.calloutTimer = setTimeout(() => this.watchCallouts(), CALLOUT_POLL_MS);
    }
  }

  render(wards) {
    this.wardSelect = h(
      "select",
      { id: "ward-select", onchange: () => { location.hash = `#/board/${encodeURIComponent(this.wardSelect.value)}`; } },
      wards.map((w) => h("option", { value: w, selected: w === this.ward }, w)),
    );
    const clinician = h("input", {
      id: "clinician",
      autocomplete: "name",
      value: sessionStorage.getItem(CLINICIAN_ITEM) || "",
      oninput: () => sessionStorage.setItem(CLINICIAN_ITEM, clinician.value.trim()),
    });
    this.clinician = clinician;
    this.alertMessage = h("p", { class: "message", role: "status" });
    this.alertList = h("ul", { class: "alerts", id: "alerts" });
    this.alertCount = h("span", {});
    this.cards = h("div", { class: "cards", id: "cards" });
    this.forms = wardForms({ ward: this.ward });
    this.main.replaceChildren(
      h(
        "div",
        { class: "view-head" },
        h("h1", { tabindex: "-1" }, this.ward ? `Ward ${this.ward}` : "Ward board"),
        h("div", { class: "field" }, h("label", { for: "ward-select" }, "Ward"), this.wardSelect),
        h("div", { class: "field" }, h("label", { for: "clinician" }, "Your name (for acknowledgements)"), clinician),
      ),
      h(
        "section",
        { class: "panel", "aria-labelledby": "alerts-title" },
        h("div", { class: "panel-head" }, h("h2", { id: "alerts-title" }, "Open alerts ", this.alertCount)),
        this.alertList,
        this.alertMessage,
      ),
      h(
        "section",
        { class: "panel", "aria-labelledby": "patients-title" },
        h("div", { class: "panel-head" }, h("h2", { id: "patients-title" }, "Patients"), legend()),
        this.cards,
      ),
      this.forms.element,
    );
  }

  async snapshot() {
    if (!this.ward) return (await get("/events?limit=1")).head;
    const statuses = await get("/views");
    const checkpoint = (name) => statuses.find((s) => s.name === name)?.checkpoint ?? 0;
    const after = Math.min(checkpoint("ward-board"), checkpoint("open-alerts"));
    const [rows, alerts] = await Promise.all([
      get(`/views/ward-board${query({ ward: this.ward, status: "admitted", limit: 1000 })}`),
      get(`/views/open-alerts${query({ ward: this.ward, limit: 1000 })}`),
    ]);
    for (const row of rows.items) this.patients.set(row.patient_id, row);
    for (const row of alerts.items) this.alerts.set(row.patient_id, row);
    this.redrawCards();
    this.redrawAlerts();
    return after;
  }

  // -- live --------------------------------------------------------------------------------------
  heard(event) {
    const [entityType, name] = event.type.split(".");
    if (name === "PatientAdmitted" && !this.ward) {
      location.hash = `#/board/${encodeURIComponent(event.data.ward)}`; // the first patient
      return;
    }
    if (name === "PatientAdmitted") this.addWard(event.data.ward);
    const owed = this.pending.get(event.subject) || { alert: false };
    owed.eventId = event.id;
    owed.alert ||= entityType === "alert" || name === "PatientTransferred";
    this.pending.set(event.subject, owed);
    if (!this.flushing) this.flushing = setTimeout(() => this.flush(), FLUSH_DELAY_MS);
  }

  async flush() {
    const owed = [...this.pending];
    this.pending.clear();
    await Promise.all(owed.map(([patientId, { eventId, alert }]) => this.refresh(patientId, eventId, alert)));
    this.flushing = null;
    if (this.pending.size) this.flushing = setTimeout(() => this.flush(), FLUSH_DELAY_MS);
  }

  async refresh(patientId, eventId, alert) {
    const key = encodeURIComponent(patientId);
    const consistent = query({ consistent_with: eventId });
    try {
      const [row, alertRow] = await Promise.all([
        rowOrNull(`/views/ward-board/${key}${consistent}`),
        alert ? rowOrNull(`/views/open-alerts/${key}${consistent}`) : undefined,
      ]);
      this.applyPatient(patientId, row);
      if (alert) this.applyAlert(patientId, alertRow);
    } catch (error) {
      if (error instanceof ApiError && error.status < 500) {
        say(this.alertMessage, `Could not read the board: ${explain(error)}`, "error");
        return;
      }
      // The view is not there yet (503) or the server is away: owe the read again (it is
      // idempotent); the stream reconnects meanwhile.
      const owed = this.pending.get(patientId) || { eventId, alert: false };
      owed.alert ||= alert;
      this.pending.set(patientId, owed);
      await sleep(error instanceof ApiError && error.status === 503 ? 100 : 1000);
    }
  }

  applyPatient(patientId, row) {
    const here = row && row.ward === this.ward && row.status === "admitted";
    if (here) this.patients.set(patientId, row);
    else this.patients.delete(patientId);
    const old = document.getElementById(cardId(patientId));
    if (here && old) swap(old, this.card(row));
    else this.redrawCards();
    if (this.alerts.has(patientId)) this.redrawAlerts();
  }

  applyAlert(patientId, row) {
    const was = this.alerts.get(patientId);
    if (row && row.ward === this.ward) {
      this.alerts.set(patientId, row);
      if (!was || was.risk !== row.risk) announce(`Alert: ${row.risk} risk, ${this.describe(patientId)}`);
    } else {
      this.alerts.delete(patientId);
    }
    this.redrawAlerts();
  }

  describe(patientId) {
    const row = this.patients.get(patientId);
    return row ? `bed ${row.bed}, ${row.name}` : patientId;
  }

  addWard(ward) {
    if ([...this.wardSelect.options].some((o) => o.value === ward)) return;
    this.wardSelect.append(h("option", { value: ward }, ward));
  }

  // -- drawing -----------------------------------------------------------------------------------
  card(row) {
    const callout = this.callouts.get(row.patient_id);
    return patientCard(row, { callout, onRecordVitals: (id) => this.forms.choose(id) });
  }

  redrawCards() {
    const rows = [...this.patients.values()].sort((a, b) => natural(a.bed, b.bed));
    const cards = rows.map((row) => this.card(row));
    const focused = document.activeElement;
    const focusCard = focused?.closest?.(".card")?.id;
    const focusKey = focused?.dataset?.focusKey;
    this.cards.replaceChildren(...(cards.length ? cards : [h("p", { class: "empty" }, "No patients on this ward.")]));
    if (focusCard && focusKey) document.querySelector(`#${CSS.escape(focusCard)} [data-focus-key="${focusKey}"]`)?.focus();
    this.forms.setPatients(rows);
  }

  redrawAlerts() {
    const alerts = [...this.alerts.values()].sort(
      (a, b) => b.risk_level - a.risk_level || a.raised_at.localeCompare(b.raised_at),
    );
    const handlers = {
      onAcknowledge: (alert, button) => this.acknowledge(alert, button),
      onResolve: (alert, button) => this.resolve(alert, button),
      onShowEvents: (alert, list) => this.showEvents(alert, list),
    };
    const focused = document.activeElement;
    const focusItem = focused?.closest?.(".alert")?.id;
    const focusKey = focused?.dataset?.focusKey;
    const items = alerts.map((alert) => {
      const item = alertItem(alert, this.patients.get(alert.patient_id), handlers);
      if (document.getElementById(item.id)?.querySelector("details").open) item.querySelector("details").open = true;
      return item;
    });
    this.alertList.replaceChildren(...(items.length ? items : [h("li", { class: "empty" }, "No open alerts on this ward.")]));
    if (focusItem && focusKey) document.querySelector(`#${CSS.escape(focusItem)} [data-focus-key="${focusKey}"]`)?.focus();
    this.alertCount.textContent = `(${alerts.length})`;
  }

  // -- commands ----------------------------------------------------------------------------------
  async acknowledge(alert, button) {
    const clinician = this.clinician.value.trim();
    if (!clinician) {
      say(this.alertMessage, "Enter your name first: the acknowledgement records who saw the alert.", "error");
      this.clinician.focus();
      return;
    }
    await this.send(button, () => command("alert", alert.patient_id, "acknowledge", { clinician }),
      `Acknowledged by ${clinician}: ${this.describe(alert.patient_id)}.`);
  }

  async resolve(alert, button) {
    await this.send(button, () => command("alert", alert.patient_id, "resolve", { note: "resolved from the ward board" }),
      `Resolved: ${this.describe(alert.patient_id)}.`);
  }

  async send(button, run, done) {
    button.disabled = true;
    say(this.alertMessage, "Sending…");
    try {
      await run();
      say(this.alertMessage, done, "ok");
    } catch (error) {
      say(this.alertMessage, explain(error), "error");
      button.disabled = false;
    }
  }

  async showEvents(alert, list) {
    try {
      const page = await get(`/entities/alert/${encodeURIComponent(alert.patient_id)}/events?limit=1000`);
      eventList(list, page.events);
    } catch (error) {
      list.replaceChildren(h("li", { class: "error" }, explain(error)));
    }
  }
}

async function knownWards() {
  const rows = await get(`/views/ward-board${query({ status: "admitted", sort: "ward", limit: 1000 })}`);
  return [...new Set(rows.items.map((row) => row.ward))];
}

async function rowOrNull(path) {
  try {
    return await get(path);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404 && error.problem.type?.endsWith("not-found")) return null;
    throw error;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
