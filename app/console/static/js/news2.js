// NEWS2 as the chart shows it (Royal College of Physicians): the score, its colour band, and
// the clinical risk in words. The score and risk come from the ward-board view (the service's
// app/services/ward/news2.py); this only maps them to the chart's bands. Colour is never the
// only signal: every band has its words.

import { svg } from "./dom.js";

/** The chart's band for a score and risk: band (for colour) and label (for words). */
export function band(score, risk) {
  if (score === null || score === undefined) return { band: "none", label: "No observations yet" };
  switch (risk) {
    case "high":
      return { band: "high", label: "High risk" };
    case "medium":
      return { band: "medium", label: "Medium risk" };
    case "low-medium":
      return { band: "low-medium", label: "Low–medium risk" };
    default:
      return score === 0 ? { band: "zero", label: "Low risk (score 0)" } : { band: "low", label: "Low risk" };
  }
}

export const RISK_WORDS = { high: "High risk", medium: "Medium risk", "low-medium": "Low–medium risk" };

export const VITALS = [
  { name: "respiration_rate", label: "Resp.", unit: "/min", reason: "respiration_rate" },
  { name: "spo2", label: "SpO₂", unit: "%", reason: "spo2" },
  { name: "on_oxygen", label: "Air/O₂", format: (on) => (on ? "O₂" : "Air"), reason: "air_or_oxygen" },
  { name: "systolic_bp", label: "Sys. BP", unit: "", reason: "systolic_bp" },
  { name: "pulse", label: "Pulse", unit: "/min", reason: "pulse" },
  { name: "consciousness", label: "ACVPU", unit: "", reason: "consciousness" },
  { name: "temperature", label: "Temp.", unit: "°C", format: (t) => Number(t).toFixed(1), reason: "temperature" },
];

export const REASON_WORDS = {
  respiration_rate: "respiration rate",
  spo2: "SpO₂",
  air_or_oxygen: "on oxygen",
  systolic_bp: "systolic BP",
  pulse: "pulse",
  consciousness: "consciousness",
  temperature: "temperature",
};

/** A small line of recent scores, with the chart's medium (5) and high (7) lines dashed. */
export function sparkline(scores) {
  const width = 200;
  const height = 34;
  const top = Math.max(10, ...scores); // room above the high line (7) even when all is well
  const y = (value) => (height - 3 - (value / top) * (height - 6)).toFixed(1);
  const x = (index) => (scores.length < 2 ? width / 2 : (index / (scores.length - 1)) * (width - 6) + 3).toFixed(1);
  const label = scores.length
    ? `Recent NEWS2 scores, oldest first: ${scores.join(", ")}`
    : "No NEWS2 scores yet";
  return svg(
    "svg",
    { class: "spark", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label },
    svg("title", {}, label),
    svg("line", { class: "band-line", x1: 0, x2: width, y1: y(5), y2: y(5) }),
    svg("line", { class: "band-line", x1: 0, x2: width, y1: y(7), y2: y(7) }),
    scores.length > 1 ? svg("polyline", { points: scores.map((s, i) => `${x(i)},${y(s)}`).join(" ") }) : null,
    scores.length ? svg("circle", { cx: x(scores.length - 1), cy: y(scores.at(-1)), r: 3 }) : null,
  );
}
