// The dashboard page: joins the "stats" room (with its recent history, so
// the charts start full) and draws every sample the server pushes.
// ?transport=websocket|sse|longpoll forces a transport of the browser
// client; by default it tries WebSocket, then SSE, then long-poll.
import { connect } from "/hubbub.js";

const WINDOW = 60_000; // ms of history shown in the charts
const MIN_WINDOW = 10_000; // ms: the narrowest a chart gets while the server is young
const KEEP = 2 * WINDOW; // ms of samples kept

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const forcedTransport = params.get("transport") || "";

/** @type {Array<any>} samples, oldest first */
let samples = [];
let hub = null;
let drawPending = false;

// ---- formatting -----------------------------------------------------------

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const dec = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

function rate(v) {
  return v >= 100 ? int.format(v) : dec.format(v);
}
function bytes(v) {
  if (v >= 1 << 30) return dec.format(v / (1 << 30)) + " GiB";
  if (v >= 1 << 20) return dec.format(v / (1 << 20)) + " MiB";
  return dec.format(v / 1024) + " KiB";
}
function duration(s) {
  s = Math.floor(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${r}s` : `${r}s`;
}
function pause(ns) {
  return ns >= 1e6 ? `${dec.format(ns / 1e6)} ms` : `${int.format(ns / 1e3)} µs`;
}
function set(id, text) {
  const e = $(id);
  if (e.textContent !== text) e.textContent = text;
}

// ---- figures ----------------------------------------------------------------

function renderFigures() {
  const s = samples.at(-1);
  if (!s) return;
  set("fig-sessions", int.format(s.sessions));
  set("fig-sessions-note", s.in_process ? `${int.format(s.in_process)} of them in-process` : "browsers and services");
  set("fig-rooms", int.format(s.rooms));
  set("fig-pub-rate", s.first ? "–" : rate(s.published_per_sec));
  set("fig-published", int.format(s.published));
  set("fig-deliv-rate", s.first ? "–" : rate(s.delivered_per_sec));
  set("fig-delivered", int.format(s.delivered));
  set("fig-goroutines", int.format(s.goroutines));
  set("fig-heap", bytes(s.heap_alloc));
  set("fig-sys", `${bytes(s.sys)} from the OS`);
  set("fig-gc", int.format(s.gc));
  set("fig-gc-pause", s.gc ? `last pause ${pause(s.gc_pause_ns)}` : "no GC yet");
  set("fig-uptime", duration(s.uptime));
  set("fig-updated", `updated ${new Date(s.t).toLocaleTimeString()}`);
  set(
    "load-note",
    s.load > 0
      ? `Load generator: ${dec.format(s.load)} events/s to ${int.format(s.subscribers)} in-process subscribers of room “load”. Change it with -load and -subscribers.`
      : "Load generator off (-load 0): only the dashboard's own samples are published.",
  );
  if (samples.length > 1) {
    const every = (s.t - samples.at(-2).t) / 1000;
    set("every", every > 0.9 && every < 1.1 ? "every second" : `every ${+every.toFixed(2)} s`);
  }
}

// ---- charts -------------------------------------------------------------------

/** The smallest 1, 2 or 5 × 10ⁿ at or above v. */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const css = getComputedStyle(document.documentElement);
const color = (name) => css.getPropertyValue(name).trim();

/**
 * Draws lines of the last WINDOW ms.
 * @param {HTMLCanvasElement} canvas
 * @param {Array<{value: (s: any) => number, color: string, fill?: boolean}>} series
 * @param {(v: number) => string} label
 * @param {boolean} [rated] the series are rates, which the first sample of a run has not
 */
function drawChart(canvas, series, label, rated = false) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const now = samples.length ? samples.at(-1).t : Date.now();
  const all = samples.filter((s) => s.t >= now - WINDOW);
  const shown = rated ? all.filter((s) => !s.first) : all;
  canvas.dataset.points = String(shown.length);
  // The last minute, or less while the server has not been up that long.
  const span = shown.length ? now - shown[0].t : 0;
  const win = Math.min(WINDOW, Math.max(MIN_WINDOW, span));

  const padL = 46, padR = 8, padT = 8, padB = 20;
  const cw = w - padL - padR, ch = h - padT - padB;
  let max = 0;
  for (const s of shown) for (const ser of series) max = Math.max(max, ser.value(s));
  max = niceMax(max * 1.1);
  const x = (t) => padL + ((t - (now - win)) / win) * cw;
  const y = (v) => padT + ch - (v / max) * ch;

  // grid and labels
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = color("--muted");
  g.strokeStyle = color("--line");
  g.lineWidth = 1;
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (const f of [0, 0.5, 1]) {
    const yy = Math.round(y(max * f)) + 0.5;
    g.beginPath();
    g.moveTo(padL, yy);
    g.lineTo(w - padR, yy);
    g.stroke();
    g.fillText(label(max * f), padL - 6, yy);
  }
  g.textBaseline = "alphabetic";
  const secs = win / 1000;
  for (const [sec, align] of [[secs, "left"], [secs / 2, "center"], [0, "right"]]) {
    g.textAlign = align;
    g.fillText(sec ? `−${Math.round(sec)}s` : "now", x(now - sec * 1000), h - 4);
  }
  if (shown.length < 2) {
    g.textAlign = "center";
    g.fillText("waiting for samples…", padL + cw / 2, padT + ch / 2);
    return;
  }

  for (const ser of series) {
    g.beginPath();
    shown.forEach((s, i) => (i ? g.lineTo(x(s.t), y(ser.value(s))) : g.moveTo(x(s.t), y(ser.value(s)))));
    g.strokeStyle = ser.color;
    g.lineWidth = 2;
    g.lineJoin = "round";
    g.stroke();
    if (ser.fill) {
      g.lineTo(x(shown.at(-1).t), y(0));
      g.lineTo(x(shown[0].t), y(0));
      g.closePath();
      const grad = g.createLinearGradient(0, padT, 0, padT + ch);
      grad.addColorStop(0, ser.color + "55");
      grad.addColorStop(1, ser.color + "00");
      g.fillStyle = grad;
      g.fill();
    }
    const last = shown.at(-1);
    g.beginPath();
    g.arc(x(last.t), y(ser.value(last)), 3, 0, 2 * Math.PI);
    g.fillStyle = ser.color;
    g.fill();
  }
}

function drawCharts() {
  drawPending = false;
  renderFigures();
  // Rates need a previous sample: the first sample of a run has none.
  drawChart(
    $("chart-rate"),
    [
      { value: (s) => s.delivered_per_sec, color: color("--b"), fill: true },
      { value: (s) => s.published_per_sec, color: color("--a"), fill: true },
    ],
    (v) => (v >= 1000 ? `${dec.format(v / 1000)}k` : dec.format(v)),
    true,
  );
  drawChart($("chart-heap"), [{ value: (s) => s.heap_alloc / (1 << 20), color: color("--c"), fill: true }], (v) => dec.format(v));
  drawChart($("chart-goroutines"), [{ value: (s) => s.goroutines, color: color("--d"), fill: true }], (v) => int.format(v));
}

function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(drawCharts);
}

function addSample(s) {
  if (!s || typeof s.t !== "number") return;
  if (samples.length && s.t <= samples.at(-1).t) return; // replayed twice
  samples.push(s);
  const cut = s.t - KEEP;
  while (samples.length && samples[0].t < cut) samples.shift();
  scheduleDraw();
}

// ---- connection -------------------------------------------------------------------

function renderConn(note) {
  const state = hub ? hub.state : "closed";
  const label = { connecting: "connecting…", open: "live", reconnecting: "reconnecting…", closed: "offline" }[state] || state;
  $("conn").dataset.state = state;
  set("conn-state", note || label);
  // The transport that carried the last hello (null before the first).
  const t = (hub && hub.transport) || "";
  set("conn-transport", t);
  $("conn").dataset.transport = t;
}

const opts = {};
if (forcedTransport) opts.transports = [forcedTransport];
try {
  hub = connect("/ws", opts);
  hub.onState("state", () => renderConn());
  hub.onState("transport", () => renderConn());
  hub.on("stats", (s) => addSample(s));
  hub.join("stats", { history: 120 }).catch((err) => renderConn(`cannot watch: ${err.message}`));
  // Leaving ends the session at once (over SSE and long-poll, close() sends
  // a DELETE; otherwise the server counts the viewer for its grace period).
  addEventListener("pagehide", () => hub.close());
  addEventListener("pageshow", (e) => {
    if (e.persisted) hub.open();
  });
} catch (err) {
  renderConn(`transport “${forcedTransport}” is not available`);
  console.error(err);
}
renderConn();
new ResizeObserver(scheduleDraw).observe(document.body);
scheduleDraw();
