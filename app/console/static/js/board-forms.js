// The nurse's forms: admit a patient, record a set of vital signs. Each sends one command.

import { command, explain } from "./api.js";
import { h, natural, say } from "./dom.js";

const ACVPU = [
  ["A", "A — Alert"],
  ["C", "C — new Confusion"],
  ["V", "V — responds to Voice"],
  ["P", "P — responds to Pain"],
  ["U", "U — Unresponsive"],
];

function field(label, input) {
  const id = `f-${input.name}`;
  input.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

function number(name, { min, max, step = 1, value }) {
  return h("input", { type: "number", name, min, max, step, value, required: true, inputmode: "decimal" });
}

/** Both forms; ``vitals.choose(patientId)`` preselects a patient and moves focus there. */
export function wardForms({ ward }) {
  const admit = admitForm(ward);
  const vitals = vitalsForm();
  const element = h(
    "section",
    { class: "panel", "aria-labelledby": "forms-title" },
    h("h2", { id: "forms-title" }, "Enter data"),
    h("div", { class: "forms" }, admit, vitals.form),
  );
  return { element, setPatients: vitals.setPatients, choose: vitals.choose };
}

function admitForm(ward) {
  const message = h("p", { class: "message", role: "status" });
  const form = h(
    "form",
    { "aria-labelledby": "admit-title", novalidate: false },
    h("h3", { id: "admit-title" }, "Admit a patient"),
    field("Patient id", h("input", { name: "patient_id", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._:@~\\-]{0,199}", autocomplete: "off" })),
    field("Name", h("input", { name: "name", required: true, maxlength: 200, autocomplete: "off" })),
    field("Ward", h("input", { name: "ward", required: true, maxlength: 50, value: ward || "" })),
    field("Bed", h("input", { name: "bed", required: true, maxlength: 50 })),
    field(
      "SpO₂ scale",
      h(
        "select",
        { name: "spo2_scale" },
        h("option", { value: "1" }, "1 (usual)"),
        h("option", { value: "2" }, "2 (hypercapnic, 88–92 %)"),
      ),
    ),
    h("div", { class: "submit" }, h("button", { type: "submit", class: "primary" }, "Admit")),
    message,
  );
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const data = new FormData(form);
    const body = {
      name: data.get("name"),
      ward: data.get("ward"),
      bed: data.get("bed"),
      spo2_scale: Number(data.get("spo2_scale")),
    };
    await send(form, message, () => command("patient", data.get("patient_id"), "admit", body), () => {
      form.elements.patient_id.value = "";
      form.elements.name.value = "";
      form.elements.bed.value = "";
      return `Admitted ${body.name} to ${body.ward}, bed ${body.bed}.`;
    });
  });
  return form;
}

function vitalsForm() {
  const message = h("p", { class: "message", role: "status" });
  const patient = h("select", { name: "patient", required: true });
  const form = h(
    "form",
    { "aria-labelledby": "vitals-title" },
    h("h3", { id: "vitals-title" }, "Record vital signs"),
    field("Patient", patient),
    field("Respiration rate (/min)", number("respiration_rate", { min: 0, max: 80, value: 16 })),
    field("SpO₂ (%)", number("spo2", { min: 0, max: 100, value: 97 })),
    h(
      "div",
      { class: "field inline" },
      h("input", { type: "checkbox", name: "on_oxygen", id: "f-on_oxygen" }),
      h("label", { for: "f-on_oxygen" }, "On oxygen"),
    ),
    field("Systolic BP (mmHg)", number("systolic_bp", { min: 0, max: 300, value: 125 })),
    field("Pulse (/min)", number("pulse", { min: 0, max: 300, value: 72 })),
    field("Consciousness (ACVPU)", h("select", { name: "consciousness" }, ACVPU.map(([v, t]) => h("option", { value: v }, t)))),
    field("Temperature (°C)", number("temperature", { min: 25, max: 45, step: 0.1, value: 37.0 })),
    h("div", { class: "submit" }, h("button", { type: "submit", class: "primary" }, "Record vitals")),
    message,
  );
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const data = new FormData(form);
    const body = {
      respiration_rate: Number(data.get("respiration_rate")),
      spo2: Number(data.get("spo2")),
      on_oxygen: data.get("on_oxygen") === "on",
      systolic_bp: Number(data.get("systolic_bp")),
      pulse: Number(data.get("pulse")),
      consciousness: data.get("consciousness"),
      temperature: Number(data.get("temperature")),
    };
    const chosen = patient.selectedOptions[0]?.textContent || data.get("patient");
    await send(form, message, () => command("patient", data.get("patient"), "record-vitals", body), () => `Recorded for ${chosen}; the card updates when the score is in.`);
  });
  return {
    form,
    setPatients(rows) {
      const current = patient.value;
      const options = [...rows]
        .sort((a, b) => natural(a.bed, b.bed))
        .map((row) => h("option", { value: row.patient_id }, `Bed ${row.bed} — ${row.name}`));
      patient.replaceChildren(...(options.length ? options : [h("option", { value: "" }, "No patients on this ward")]));
      if (rows.some((row) => row.patient_id === current)) patient.value = current;
    },
    choose(patientId) {
      patient.value = patientId;
      form.scrollIntoView({ block: "nearest" });
      form.elements.respiration_rate.focus();
    },
  };
}

async function send(form, message, run, done) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  say(message, "Sending…");
  try {
    await run();
    say(message, done(), "ok");
  } catch (error) {
    say(message, explain(error), "error");
  } finally {
    button.disabled = false;
  }
}
