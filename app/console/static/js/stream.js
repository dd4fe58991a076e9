// The live log: WS /ws/events, resumed from the last seq received whenever it drops.
//
// The server sends each event once, in seq order, after the cursor it is given (catch-up,
// then live). So a dropped connection loses nothing as long as we reconnect with
// ?after=<the last seq we handled>, whatever closed it: a restart (1012), a slow-consumer
// close (4008: its reason's resume_after is the last seq sent, which arrived before the close
// frame, so it is ours), a network cut or a killed server.

import { BASE, apiKey, get } from "./api.js";

const MAX_DELAY_MS = 3000;

export class LogStream {
  /**
   * @param {object} options
   * @param {number} options.after - handle events with a larger seq
   * @param {string[]} [options.types] - CloudEvents types to keep (all when empty)
   * @param {string} [options.entityType] - only this entity type's events
   * @param {string} [options.entityId] - only events of entities with this id
   * @param {(event: object) => void} options.onEvent
   * @param {(state: string, detail: object) => void} [options.onState]
   *   "connecting", "live", "reconnecting" or "stopped"
   */
  constructor({ after, types = [], entityType = "", entityId = "", onEvent, onState = () => {} }) {
    this.lastSeq = after;
    this.types = types;
    this.entityType = entityType;
    this.entityId = entityId;
    this.onEvent = onEvent;
    this.onState = onState;
    this.failures = 0;
    this.socket = null;
    this.timer = null;
    this.stopped = false;
  }

  start() {
    this.onState("connecting", { after: this.lastSeq });
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.close(1000, "page left");
    this.onState("stopped", {});
  }

  connect() {
    const url = new URL(`${BASE}/ws/events`, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("after", String(this.lastSeq));
    for (const type of this.types) url.searchParams.append("type", type);
    if (this.entityType) url.searchParams.set("entity_type", this.entityType);
    if (this.entityId) url.searchParams.set("entity_id", this.entityId);
    url.searchParams.set("access_token", apiKey() || "");
    const socket = new WebSocket(url);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.failures = 0;
      this.onState("live", { after: this.lastSeq });
    };
    socket.onmessage = (message) => this.receive(message.data);
    socket.onclose = (closed) => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      this.failures = opened ? 1 : this.failures + 1;
      this.onState("reconnecting", { after: this.lastSeq, code: closed.code });
      if (!opened && this.failures % 3 === 0) this.checkKey();
      const delay = Math.min(MAX_DELAY_MS, 250 * 2 ** (this.failures - 1));
      this.timer = setTimeout(() => this.connect(), delay * (0.8 + Math.random() * 0.4));
    };
  }

  receive(text) {
    const event = JSON.parse(text);
    if (typeof event.seq !== "number" || event.seq <= this.lastSeq) return; // seen already
    this.lastSeq = event.seq;
    this.onEvent(event);
  }

  async checkKey() {
    // A browser cannot see why a WebSocket was refused; a plain request can (401 asks again).
    try {
      await get("/events?limit=1");
    } catch {
      /* the request's own handling reports it */
    }
  }
}

/** The connection badge in the top bar, shared by whichever view is streaming. */
export function showConnection(state, detail = {}) {
  const badge = document.getElementById("connection");
  const texts = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: `Reconnecting… (will resume after seq ${detail.after})`,
    stopped: "Not connected",
  };
  badge.dataset.state = state;
  badge.querySelector(".text").textContent = texts[state] || state;
}
