// hubbub browser client: a plain ES module with no build step and no
// dependencies. Types are in hubbub.d.ts; the wire protocol is described in
// docs/PROTOCOL.md and implemented by the Go package engine.
//
//   import { connect } from "/hubbub.js";
//   const client = connect("/ws", { auth: { token } }); // falls back to SSE (/sse), then long-poll
//   client.on("message", (msg, { room }) => render(room, msg));
//   client.onState("connect", ({ sid }) => console.log("connected", sid));
//   await client.join("lobby", { history: 50 });
//   const reply = await client.emitWithAck("say", { room: "lobby", text: "hi" });

/** Wire protocol version this client speaks (the hello frame's "v"). */
export const PROTOCOL_VERSION = 1;

/**
 * Connection states, the values of {@link Client#state}.
 * - "connecting": the first connection attempt is under way.
 * - "open": the server's hello arrived; frames flow.
 * - "reconnecting": the connection dropped (or never opened) and another
 *   attempt is scheduled or under way.
 * - "closed": not connected and not trying: before open(), after close(),
 *   after a close code that forbids reconnecting, or after maxAttempts.
 */
export const State = Object.freeze({
  CONNECTING: "connecting",
  OPEN: "open",
  RECONNECTING: "reconnecting",
  CLOSED: "closed",
});

/**
 * Close codes after which the client does not reconnect on its own:
 * 1000 normal closure (close() here, or the server application ended the
 * session on purpose), 1002 protocol error, 1003 unsupported data, 1007
 * invalid payload, and 1008 policy violation (the server refused this
 * session by rule: origin, credentials, limits — retrying with the same
 * credentials would be refused again, so the client stops after the first
 * such close and the application decides, e.g. refreshes its token and
 * calls open()). Every other code — 1001 going away, 1006 abnormal closure,
 * 1011 server error, 4008 slow consumer, … — reconnects with backoff.
 */
export const NO_RECONNECT_CODES = Object.freeze([1000, 1002, 1003, 1007, 1008]);
const noReconnect = new Set(NO_RECONNECT_CODES);

const DEFAULTS = Object.freeze({
  reconnect: true,
  backoff: Object.freeze({ initial: 500, max: 10000, factor: 2, jitter: 0.5 }),
  ackTimeout: 10000,
  maxOfflineBuffer: 100,
  maxAttempts: Infinity,
  maxBatchBytes: 32768,
  maxFrameBytes: 65536,
  transports: Object.freeze(["websocket", "sse", "longpoll"]),
  probeTimeout: 5000,
  resumeTimeout: 10000,
  pingInterval: 25000,
  pongTimeout: 10000,
  withCredentials: false,
});

/** The ping frame; the server answers {"t":"pong"} at once. */
const PING = '{"t":"ping"}';

/** Close code reported when a connection is given up without a close frame (no pong, no hello, stream lost). */
const ABNORMAL = 1006;

/**
 * An error with a machine-readable code: the server's code for error acks
 * ("forbidden", "unknown_event", "bad_payload", …) or one of the client's
 * own: "timeout" (no ack in time), "disconnected" (the connection or the
 * client closed before the ack), "dropped" (evicted from a full offline
 * buffer), "left" (leave() was called while the join was pending).
 */
export class HubbubError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = "HubbubError";
    /** @type {string} */
    this.code = code;
  }
}

// ---------------------------------------------------------------------------
// Transports
//
// A transport carries messages (one frame or a JSON array of frames)
// between the client and one server session. The Client only ever talks to
// this shape; "websocket", "sse" and "longpoll" are built in, and
// registerTransport adds others without touching the rest:
//
//   {
//     open(url: URL): void              // start connecting; may throw
//     send(text: string): void          // send one message; may throw
//     close(code?: number, reason?: string): void
//     onopen:    () => void             // set by the client
//     onmessage: (msg: string | object) => void // set by the client: the
//                                       // message's text, or the message
//                                       // already parsed (object or array)
//     onclose:   (code: number, reason: string) => void // set by the client
//     onerror?:  (info: {code, msg}) => void // set by the client: a failure
//                                       // that does not end the connection
//   }
//
// A transport calls onclose exactly once, whether the connection failed to
// open or dropped later; it does not call anything after close(). A
// factory that throws (e.g. no EventSource in this environment) makes the
// client skip that transport.

/** @type {Map<string, (opts: object) => object>} */
const transportFactories = new Map();

/**
 * Registers a transport factory under a name usable in opts.transports.
 * factory(opts) receives the client's options and returns a new transport
 * object (see the shape above) for each connection attempt.
 * @param {string} name
 * @param {(opts: object) => object} factory
 */
export function registerTransport(name, factory) {
  if (typeof name !== "string" || name === "" || typeof factory !== "function") {
    throw new TypeError("hubbub: registerTransport(name, factory) needs a name and a function");
  }
  transportFactories.set(name, factory);
}

/** WebSocket transport: one WebSocket per connection attempt. */
class WebSocketTransport {
  /** @param {{WebSocket?: any}} opts */
  constructor(opts) {
    this.WS = opts.WebSocket || globalThis.WebSocket;
    if (typeof this.WS !== "function") {
      throw new TypeError("hubbub: no WebSocket implementation: pass opts.WebSocket");
    }
    this.ws = null;
    this.onopen = () => {};
    this.onmessage = (_text) => {};
    this.onclose = (_code, _reason) => {};
    this.done = false;
  }

  /** @param {URL} url */
  open(url) {
    const u = new URL(url.href);
    if (u.protocol === "http:") u.protocol = "ws:";
    else if (u.protocol === "https:") u.protocol = "wss:";
    else if (u.protocol !== "ws:" && u.protocol !== "wss:") {
      throw new TypeError(`hubbub: cannot open a WebSocket to ${u.protocol} URL`);
    }
    const ws = new this.WS(u.href);
    this.ws = ws;
    try {
      ws.binaryType = "arraybuffer";
    } catch {
      // some implementations have no binaryType; the server sends text anyway
    }
    ws.onopen = () => {
      if (!this.done) this.onopen();
    };
    ws.onmessage = (ev) => {
      if (this.done) return;
      let data = ev.data;
      if (typeof data !== "string") data = new TextDecoder().decode(data);
      this.onmessage(data);
    };
    ws.onerror = () => {}; // a close event always follows with the details
    ws.onclose = (ev) => {
      if (this.done) return;
      this.done = true;
      this.onclose(ev.code || 1006, ev.reason || "");
    };
  }

  /** @param {string} text */
  send(text) {
    this.ws.send(text);
  }

  close(code = 1000, reason = "") {
    this.done = true;
    const ws = this.ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try {
      ws.close(code, reason);
    } catch {
      ws.close();
    }
  }
}

registerTransport("websocket", (opts) => new WebSocketTransport(opts));

// ---------------------------------------------------------------------------
// HTTP transports: "sse" (EventSource down, fetch POSTs up) and "longpoll"
// (fetch both ways), for the server's SSE handler (transport/sse), where a
// WebSocket cannot pass. Both open a session with a GET carrying the auth
// query parameters (EventSource cannot set headers), then tie every other
// request to it with the session token: POST ?session=<token> for frames
// going up (one at a time, in order; frames written meanwhile go together
// in the next POST), DELETE ?session=<token> on close().
//
// Frames the server adds for these transports end the reader:
//   {"t":"resync"}   the frames after our position are gone: the session is
//                    closed; the transport closes with 4008 so that the
//                    client reconnects and rejoins its rooms with since.
//   {"t":"replaced"} a newer reader took the session: this reader is dropped
//                    (never resumed, no DELETE) and the transport closes.

/** EventSource.readyState of a stream the browser will not reconnect. */
const ES_CLOSED = 2;

/** A poll that takes longer than this (the server answers after 25 s) is aborted and repeated. */
const POLL_REQUEST_TIMEOUT = 60000;

/** The URL for the HTTP transports: ws → http, wss → https. */
function httpURL(url) {
  const u = new URL(url.href);
  if (u.protocol === "ws:") u.protocol = "http:";
  else if (u.protocol === "wss:") u.protocol = "https:";
  else if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(`hubbub: cannot open an HTTP transport to a ${u.protocol} URL`);
  }
  return u;
}

/** {code, msg} of a refused request: the server's JSON body {error, reason}, or from the status. */
function refusalInfo(status, body) {
  try {
    const r = JSON.parse(body);
    if (r && typeof r.error === "string" && r.error !== "") {
      return { code: r.error, msg: typeof r.reason === "string" ? r.reason : "" };
    }
  } catch {
    // not JSON
  }
  const code =
    status === 401 ? "unauthorized" : status === 403 ? "forbidden" : status === 503 ? "unavailable" : `http_${status}`;
  return { code, msg: `HTTP ${status}` };
}

/** Whether a refused request is worth repeating: 429 and gateway/server errors, not 503 (shutdown). */
function transientStatus(status) {
  return status === 429 || (status >= 500 && status !== 503);
}

/** The frames of a message sent up, without the brackets of a batch. */
function batchInner(text) {
  const s = text.trim();
  return s.startsWith("[") && s.endsWith("]") ? s.slice(1, -1).trim() : s;
}

/** What the two HTTP transports share: the session token, POSTs, close and DELETE. */
class HTTPTransport {
  /** @param {any} opts the client's options */
  constructor(opts) {
    const f = opts.fetch || globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("hubbub: no fetch implementation: pass opts.fetch");
    this.fetch = (url, init) => f(url, init);
    this.opts = opts;
    this.credentials = opts.withCredentials ? "include" : "same-origin";
    this.url = null; // the opening URL (auth parameters included)
    this.token = null; // the session token, once known
    this.done = false; // closed or failed: nothing more is reported
    this.ended = false; // the server ended the session or gave it to another reader: no DELETE
    this.outbox = [];
    this.posting = false;
    this.onopen = () => {};
    this.onmessage = (_msg) => {};
    this.onclose = (_code, _reason) => {};
    this.onerror = (_info) => {};
  }

  /** The opening URL with the session token. */
  sessionURL(params = {}) {
    const u = new URL(this.url.href);
    u.searchParams.set("session", this.token);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
    return u.href;
  }

  /**
   * Hands a server message (text) to the client, parsed, and applies the
   * frames that end the reader. Returns false when the reader must stop.
   */
  deliver(text) {
    let msg;
    try {
      msg = typeof text === "string" ? JSON.parse(text) : text;
    } catch {
      this.onmessage(text); // the client reports it as malformed
      return !this.done;
    }
    const frames = Array.isArray(msg) ? msg : [msg];
    const i = frames.findIndex((f) => f && (f.t === "resync" || f.t === "replaced"));
    if (frames.some((f) => f && f.t === "close")) this.ended = true;
    if (i < 0) {
      this.onmessage(msg);
      return !this.done;
    }
    if (i > 0) this.onmessage(frames.slice(0, i));
    if (this.done) return false;
    const f = frames[i];
    const why = (f.err && f.err.msg) || f.t;
    this.ended = true;
    if (f.t === "resync") this.fail(4008, `not recovered: ${why}`);
    else this.fail(1006, `replaced: ${why}`);
    return false;
  }

  /** @param {string} text */
  send(text) {
    if (this.done) throw new Error("hubbub: the transport is closed");
    if (!this.token) throw new Error("hubbub: the session is not open yet");
    this.outbox.push(text);
    if (!this.posting) this.post();
  }

  /** Sends the outbox in POSTs, one at a time so that frames keep their order. */
  async post() {
    this.posting = true;
    try {
      while (!this.done && this.outbox.length > 0) {
        const max = this.opts.maxBatchBytes > 0 ? this.opts.maxBatchBytes : 32768;
        let n = 0;
        let bytes = 2;
        while (n < this.outbox.length) {
          const l = utf8Length(this.outbox[n]) + 1;
          if (n > 0 && bytes + l > max) break;
          bytes += l;
          n++;
        }
        const texts = this.outbox.splice(0, n);
        const body =
          texts.length === 1 ? texts[0] : "[" + texts.map(batchInner).filter((s) => s !== "").join(",") + "]";
        let res;
        let resBody = "";
        try {
          res = await this.fetch(this.sessionURL(), {
            method: "POST",
            body,
            // The server takes any Content-Type; text/plain spares a CORS preflight.
            headers: { "Content-Type": "text/plain;charset=UTF-8" },
            credentials: this.credentials,
            cache: "no-store",
          });
          if (!res.ok) resBody = await res.text();
        } catch (err) {
          // The frames may or may not have arrived: a new session settles it.
          this.fail(1006, `send failed: ${(err && err.message) || err}`);
          return;
        }
        if (this.done) return;
        if (res.ok) continue;
        const info = refusalInfo(res.status, resBody);
        if (res.status === 404) {
          this.fail(1006, `session gone: ${info.code}: ${info.msg}`);
          return;
        }
        // 410: the session ended and its close frame comes down the stream.
        // 400, 413, …: the frames were refused; requests among them time out.
        this.onerror({ code: info.code, msg: `send refused (HTTP ${res.status}): ${info.msg}` });
      }
    } finally {
      this.posting = false;
    }
  }

  close(_code, _reason) {
    if (this.done) return;
    this.done = true;
    this.release();
  }

  /** Ends the transport on its own and tells the client. */
  fail(code, reason) {
    if (this.done) return;
    this.done = true;
    this.release();
    this.onclose(code, reason);
  }

  release() {
    this.stopReading();
    this.outbox = [];
    if (this.token && !this.ended) {
      // The session ends now rather than after the server's grace period.
      try {
        this.fetch(this.sessionURL(), { method: "DELETE", credentials: this.credentials, keepalive: true }).then(
          () => {},
          () => {},
        );
      } catch {
        // best effort
      }
    }
  }

  stopReading() {}
}

/**
 * SSE transport: an EventSource for the frames coming down. When the stream
 * drops, the EventSource reconnects by itself with Last-Event-ID and the
 * server resumes the session where it was, with no frame lost or repeated;
 * the client stays open meanwhile. The transport closes (and the client
 * reconnects with a new session) when the browser gives the stream up (the
 * session is gone: 404/410), when it is not back within opts.resumeTimeout,
 * or on a resync frame. An error before the first event fails the attempt,
 * so that the client can fall back to long-poll.
 */
class SSETransport extends HTTPTransport {
  /** @param {any} opts */
  constructor(opts) {
    super(opts);
    this.ES = opts.EventSource || globalThis.EventSource;
    if (typeof this.ES !== "function") {
      throw new TypeError("hubbub: no EventSource implementation: pass opts.EventSource");
    }
    this.es = null;
    this.resumeTimer = null;
  }

  /** @param {URL} url */
  open(url) {
    this.url = httpURL(url);
    const es = new this.ES(this.url.href, { withCredentials: !!this.opts.withCredentials });
    this.es = es;
    es.onopen = () => {
      if (!this.done) this.clearResume();
    };
    es.onmessage = (ev) => {
      if (this.done) return;
      this.clearResume();
      const id = ev.lastEventId;
      if (typeof id === "string" && id !== "") {
        const i = id.lastIndexOf(".");
        if (i > 0) this.token = id.slice(0, i); // "<token>.<n>"
      }
      this.deliver(ev.data);
    };
    es.onerror = () => {
      if (this.done) return;
      if (es.readyState === ES_CLOSED) {
        this.fail(1006, this.token ? "SSE stream refused: the session is gone" : "SSE stream refused");
      } else if (!this.token) {
        this.fail(1006, "SSE stream failed to open");
      } else {
        this.armResume(); // the EventSource resumes with Last-Event-ID
      }
    };
  }

  armResume() {
    const ms = this.opts.resumeTimeout;
    if (this.resumeTimer || !(ms > 0) || !Number.isFinite(ms)) return;
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = null;
      this.fail(1006, `SSE stream lost and not resumed within ${ms} ms`);
    }, ms);
  }

  clearResume() {
    clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
  }

  stopReading() {
    this.clearResume();
    const es = this.es;
    if (!es) return;
    es.onopen = es.onmessage = es.onerror = null;
    es.close(); // and never reconnect it
  }
}

/**
 * Long-poll transport: GETs that wait for frames ({cursor, frames}), one at
 * a time. A poll that fails is repeated with the same cursor, so the
 * session goes on without loss, for up to opts.resumeTimeout; then the
 * transport closes and the client reconnects with a new session.
 */
class LongPollTransport extends HTTPTransport {
  /** @param {any} opts */
  constructor(opts) {
    super(opts);
    this.cursor = 0;
    this.ctrl = null;
    this.waitTimer = null;
    this.wake = null;
  }

  /** @param {URL} url */
  open(url) {
    this.url = httpURL(url);
    this.run();
  }

  pollURL() {
    if (!this.token) {
      const u = new URL(this.url.href);
      u.searchParams.set("mode", "poll");
      return u.href;
    }
    return this.sessionURL({ mode: "poll", cursor: this.cursor });
  }

  async run() {
    let waited = 0;
    let delay = 250;
    /** Waits before repeating a failed poll; false when it is time to give up. */
    const retry = async (why) => {
      const budget = this.opts.resumeTimeout;
      if (!this.token || !(waited + delay <= budget)) {
        this.fail(1006, this.token ? `long-poll lost and not resumed within ${budget} ms: ${why}` : `long-poll failed to open: ${why}`);
        return false;
      }
      await new Promise((resolve) => {
        this.wake = resolve;
        this.waitTimer = setTimeout(resolve, delay);
      });
      this.wake = null;
      waited += delay;
      delay = Math.min(delay * 2, 2000);
      return !this.done;
    };
    while (!this.done) {
      const ctrl = new AbortController();
      this.ctrl = ctrl;
      const timer = setTimeout(() => ctrl.abort(), POLL_REQUEST_TIMEOUT);
      let res;
      let body;
      try {
        res = await this.fetch(this.pollURL(), {
          method: "GET",
          headers: { Accept: "application/json" },
          credentials: this.credentials,
          cache: "no-store",
          signal: ctrl.signal,
        });
        body = await res.text();
      } catch (err) {
        clearTimeout(timer);
        if (this.done || !(await retry((err && err.message) || String(err)))) return;
        continue;
      }
      clearTimeout(timer);
      if (this.done) return;
      if (res.status !== 200) {
        const info = refusalInfo(res.status, body);
        if (this.token && transientStatus(res.status)) {
          if (!(await retry(`HTTP ${res.status}`))) return;
          continue;
        }
        if (!this.token) this.onerror(info); // refused: unauthorized, forbidden, …
        this.fail(1006, `long-poll refused (HTTP ${res.status}): ${info.code}: ${info.msg}`);
        return;
      }
      let ans;
      try {
        ans = JSON.parse(body);
      } catch (err) {
        this.fail(1006, `malformed poll answer: ${err.message}`);
        return;
      }
      waited = 0;
      delay = 250;
      if (!this.token) {
        if (!ans || typeof ans.session !== "string" || ans.session === "") {
          this.fail(1006, "the opening poll's answer has no session token");
          return;
        }
        this.token = ans.session;
        this.onopen();
      }
      if (typeof ans.cursor === "number" && ans.cursor > this.cursor) this.cursor = ans.cursor;
      if (Array.isArray(ans.frames) && ans.frames.length > 0 && !this.deliver(ans.frames)) return;
    }
  }

  stopReading() {
    if (this.ctrl) this.ctrl.abort();
    clearTimeout(this.waitTimer);
    if (this.wake) this.wake();
  }
}

registerTransport("sse", (opts) => new SSETransport(opts));
registerTransport("longpoll", (opts) => new LongPollTransport(opts));

// ---------------------------------------------------------------------------
// Helpers

/** Length of s in UTF-8 bytes, without allocating. */
function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Resolves url against the page's location (when there is one). */
function resolveURL(url) {
  const base = globalThis.location && globalThis.location.href;
  try {
    return base ? new URL(String(url), base) : new URL(String(url));
  } catch {
    throw new TypeError(
      `hubbub: cannot resolve URL ${JSON.stringify(String(url))}` +
        (base ? "" : " (relative URLs need a page location)"),
    );
  }
}

/** A copy of an options object without its undefined fields. */
function definedOnly(o) {
  const out = {};
  if (o && typeof o === "object") {
    for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  }
  return out;
}

function isThenable(v) {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof v.then === "function";
}

function checkName(kind, name) {
  if (typeof name !== "string" || name === "") {
    throw new TypeError(`hubbub: ${kind} name must be a non-empty string`);
  }
}

/** Serializes a payload (undefined stays undefined: no "d" field). */
function encodeData(data) {
  return data === undefined ? undefined : JSON.stringify(data);
}

/** Builds an emit frame's text with a payload already encoded. */
function emitText(event, id, d) {
  let s = '{"t":"emit","ev":' + JSON.stringify(event);
  if (id) s += ',"id":' + id;
  if (d !== undefined) s += ',"d":' + d;
  return s + "}";
}

// ---------------------------------------------------------------------------
// Client

/**
 * A connection to a hubbub server that survives network failures: it
 * reconnects with exponential backoff, rejoins its rooms and asks the server
 * to replay the events it missed, buffers emits while offline, and ignores
 * replayed events it has already seen.
 *
 * Application events (emitted by the server) are observed with on/off/once;
 * connection events ("connect", "disconnect", "error", "presence", …) with
 * onState/offState, so that an application event may be called "connect"
 * or "error" without clashing.
 */
export class Client {
  #base;
  #opts;
  #backoff;
  /** @type {string[]} transports to try, in order */
  #order;
  /** @type {Map<string, URL>} each transport's URL */
  #urls = new Map();
  /** @type {Set<string>} transports whose factory threw: skipped */
  #unavailable = new Set();
  #tIndex = 0; // index in #order of the transport of the current or next attempt
  #remembered = -1; // index of the transport that carried the last hello
  #cycleTried = 0; // attempts since the last backoff (one per transport)
  #transportName = null;
  #pingTimer = null;
  #pongTimer = null;
  #probeTimer = null;
  /** @type {"connecting" | "open" | "reconnecting" | "closed"} */
  #state = State.CLOSED;
  #transport = null;
  #gen = 0; // identifies the current transport; stale callbacks are ignored
  #sid = null;
  #user = null;
  #handlers = new Map();
  #stateHandlers = new Map();
  #nextId = 0;
  /** @type {Map<number, any>} requests waiting for an ack */
  #pending = new Map();
  /** @type {Array<{text: string, event: string, id: number}>} emits waiting for a connection */
  #outbox = [];
  /** @type {Array<{text: string, kind: string, event?: string, id?: number, volatile?: boolean}>} frames for the next flush */
  #sendQueue = [];
  #flushScheduled = false;
  /** @type {Map<string, any>} rooms joined or being joined, by name */
  #rooms = new Map();
  #attempt = 0;
  #reconnectTimer = null;
  #connectedBefore = false;
  #userClosed = false;

  /**
   * Creates a client without connecting; call open() (or use connect()).
   * @param {string | URL} url WebSocket endpoint: relative ("/ws", resolved
   *   against location), http(s):// or ws(s)://. The SSE and long-poll URLs
   *   derive from it (a final "/ws" path segment becomes "/sse") unless
   *   opts.urls gives them.
   * @param {object} [opts] see ClientOptions in hubbub.d.ts.
   */
  constructor(url, opts = {}) {
    this.#base = resolveURL(url);
    opts = definedOnly(opts);
    const backoff = { ...DEFAULTS.backoff, ...definedOnly(opts.backoff) };
    this.#backoff = backoff;
    this.#opts = {
      ...DEFAULTS,
      ...opts,
      backoff,
      transports: opts.transports ? [...opts.transports] : [...DEFAULTS.transports],
      urls: definedOnly(opts.urls),
    };
    this.#order = [...new Set(this.#opts.transports)].filter((t) => transportFactories.has(t));
    if (this.#order.length === 0) {
      throw new TypeError(`hubbub: no registered transport among ${JSON.stringify(this.#opts.transports)}`);
    }
    for (const name of this.#order) this.#urls.set(name, this.#transportURL(name));
  }

  /** The URL a transport connects to: opts.urls[name], or derived from the client's URL. */
  #transportURL(name) {
    const given = this.#opts.urls[name];
    if (given !== undefined && given !== null) return resolveURL(given);
    const u = new URL(this.#base.href);
    if (name === "websocket") return u;
    if (u.protocol === "ws:") u.protocol = "http:";
    else if (u.protocol === "wss:") u.protocol = "https:";
    if (name === "sse" || name === "longpoll") u.pathname = u.pathname.replace(/\/ws$/, "/sse");
    return u;
  }

  /** The connection state: "connecting" | "open" | "reconnecting" | "closed". */
  get state() {
    return this.#state;
  }

  /** The session id from the server's hello, or null while not open. */
  get sid() {
    return this.#sid;
  }

  /** The user id from the server's hello, or null before the first hello. */
  get user() {
    return this.#user;
  }

  /**
   * The name of the transport that carried the last hello ("websocket",
   * "sse", "longpoll", …): the one in use while open, and the one
   * reconnections try first. null before the first hello.
   */
  get transport() {
    return this.#transportName;
  }

  // -- listeners ------------------------------------------------------------

  /**
   * Adds a handler for an application event. It is called with (data, meta),
   * meta being {room, off} for room events (plus replayed: true for events
   * replayed from history on join). When the server asked for an
   * acknowledgement, the first handler's return value (or resolved promise)
   * is sent back as the ack; a thrown error or rejected promise is sent as
   * an error ack with the error's string .code or "internal".
   * @param {string} event
   * @param {(data: any, meta: object) => any} fn
   */
  on(event, fn) {
    return this.#add(this.#handlers, event, fn);
  }

  /** Removes a handler added with on (or all of an event's, without fn). */
  off(event, fn) {
    return this.#remove(this.#handlers, event, fn);
  }

  /** Like on, for one call. */
  once(event, fn) {
    const wrapper = (data, meta) => {
      this.off(event, wrapper);
      return fn(data, meta);
    };
    wrapper.listener = fn;
    return this.on(event, wrapper);
  }

  /**
   * Adds a listener for a connection event: "state", "connect",
   * "disconnect", "connect_error", "reconnect_attempt", "reconnect",
   * "reconnect_failed", "error", "presence", "resync", "recovered",
   * "transport".
   * See StateEvents in hubbub.d.ts for each payload.
   */
  onState(event, fn) {
    return this.#add(this.#stateHandlers, event, fn);
  }

  /** Removes a listener added with onState (or all of an event's). */
  offState(event, fn) {
    return this.#remove(this.#stateHandlers, event, fn);
  }

  #add(map, event, fn) {
    checkName("event", event);
    if (typeof fn !== "function") throw new TypeError("hubbub: listener must be a function");
    let list = map.get(event);
    if (!list) map.set(event, (list = []));
    list.push(fn);
    return this;
  }

  #remove(map, event, fn) {
    if (fn === undefined) {
      map.delete(event);
      return this;
    }
    const list = map.get(event);
    if (!list) return this;
    const i = list.findIndex((f) => f === fn || f.listener === fn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) map.delete(event);
    return this;
  }

  #emitState(event, payload) {
    const list = this.#stateHandlers.get(event);
    if (!list) return false;
    for (const fn of [...list]) {
      try {
        fn(payload);
      } catch (err) {
        console.error(`hubbub: "${event}" listener threw`, err);
      }
    }
    return true;
  }

  /** Reports an error to "error" listeners; never silent without one. */
  #error(info) {
    if (!this.#emitState("error", info)) {
      console.warn(`hubbub: ${info.code}: ${info.msg}`);
    }
  }

  /** @param {"connecting" | "open" | "reconnecting" | "closed"} s */
  #setState(s) {
    if (this.#state === s) return;
    this.#state = s;
    this.#emitState("state", s);
  }

  // -- connection -----------------------------------------------------------

  /**
   * Connects (connect() calls it for you). Does nothing unless the client is
   * closed. After close() or a close that stopped reconnection, open()
   * connects again and rejoins the rooms the client remembers.
   */
  open() {
    if (this.#state !== State.CLOSED) return this;
    this.#userClosed = false;
    this.#attempt = 0;
    this.#connectedBefore = false;
    this.#cycleTried = 0;
    this.#tIndex = this.#cycleStart();
    this.#setState(State.CONNECTING);
    this.#startTransport();
    return this;
  }

  /**
   * Closes the connection with code 1000 and stops reconnecting. Requests
   * waiting for an ack and buffered emits fail with code "disconnected";
   * joined rooms are remembered for a later open().
   */
  close() {
    if (this.#userClosed && this.#state === State.CLOSED) return this;
    const wasOpen = this.#state === State.OPEN;
    this.#userClosed = true;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    this.#stopTimers();
    const t = this.#transport;
    this.#transport = null;
    this.#gen++;
    if (t) {
      try {
        t.close(1000, "client closed");
      } catch {
        // already closed
      }
    }
    this.#sid = null;
    this.#sendQueue = [];
    this.#outbox = [];
    const gone = () => new HubbubError("disconnected", "the client was closed");
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(id);
      if (p.kind === "emit") p.reject(gone());
      else if (p.kind === "leave") {
        this.#dropRoom(p.room);
        p.resolve({ room: p.room.name });
      }
    }
    for (const r of [...this.#rooms.values()]) {
      r.joinId = 0;
      r.buffer = null;
      r.since = undefined;
      if (!r.result) this.#rooms.delete(r.name);
      for (const w of r.waiters) w.reject(gone());
      r.waiters = [];
    }
    this.#setState(State.CLOSED);
    if (wasOpen) this.#emitState("disconnect", { code: 1000, reason: "client closed" });
    return this;
  }

  #startTransport() {
    const gen = ++this.#gen;
    let params;
    try {
      params = typeof this.#opts.auth === "function" ? this.#opts.auth() : this.#opts.auth;
    } catch (err) {
      this.#failAttempt(gen, "auth", err);
      return;
    }
    if (isThenable(params)) {
      params.then(
        (p) => {
          if (gen === this.#gen) this.#openTransport(gen, p);
        },
        (err) => this.#failAttempt(gen, "auth", err),
      );
    } else {
      this.#openTransport(gen, params);
    }
  }

  #openTransport(gen, params) {
    const name = this.#order[this.#tIndex];
    const url = new URL(this.#urls.get(name).href);
    if (params && typeof params === "object") {
      for (const [k, v] of Object.entries(params)) {
        if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
      }
    }
    let t;
    try {
      t = transportFactories.get(name)(this.#opts);
    } catch (err) {
      // Not available here (no EventSource, no fetch…): skipped from now on
      // when there is another transport to use.
      if (this.#order.some((n) => n !== name && !this.#unavailable.has(n))) this.#unavailable.add(name);
      this.#failAttempt(gen, "transport", err);
      return;
    }
    try {
      t.onopen = () => {};
      t.onmessage = (msg) => {
        if (gen !== this.#gen) return;
        this.#alive();
        this.#onMessage(gen, msg);
      };
      t.onclose = (code, reason) => {
        if (gen === this.#gen) this.#onClose(code, reason);
      };
      t.onerror = (info) => {
        if (gen === this.#gen) this.#error({ code: (info && info.code) || "transport", msg: (info && info.msg) || "" });
      };
      this.#transport = t;
      this.#armProbe(gen);
      t.open(url);
    } catch (err) {
      this.#failAttempt(gen, "transport", err);
    }
  }

  /** A connection attempt failed before it could start. */
  #failAttempt(gen, code, err) {
    if (gen !== this.#gen) return;
    this.#error({ code, msg: String((err && err.message) || err), cause: err });
    queueMicrotask(() => {
      if (gen === this.#gen) this.#onClose(ABNORMAL, String((err && err.message) || err));
    });
  }

  /** Where a round of attempts starts: the transport that worked last, else the first. */
  #cycleStart() {
    let i = this.#remembered >= 0 ? this.#remembered : 0;
    for (let k = 0; k < this.#order.length && this.#unavailable.has(this.#order[i]); k++) i = (i + 1) % this.#order.length;
    return i;
  }

  /**
   * After an attempt failed before its hello: moves on to the next usable
   * transport at once and returns true, or returns false when every
   * transport of this round failed (the caller then backs off, and the next
   * round starts again with the transport that worked last).
   */
  #fallback() {
    const n = this.#order.length;
    let i = this.#tIndex;
    for (;;) {
      this.#cycleTried++;
      if (this.#cycleTried >= n) {
        this.#cycleTried = 0;
        this.#tIndex = this.#cycleStart();
        return false;
      }
      i = (i + 1) % n;
      if (!this.#unavailable.has(this.#order[i])) break;
    }
    this.#tIndex = i;
    const gen = this.#gen;
    queueMicrotask(() => {
      if (gen !== this.#gen || this.#userClosed || this.#state === State.CLOSED || this.#state === State.OPEN) return;
      this.#startTransport();
    });
    return true;
  }

  /** Fails the attempt when no hello arrives within probeTimeout. */
  #armProbe(gen) {
    clearTimeout(this.#probeTimer);
    this.#probeTimer = null;
    const ms = this.#opts.probeTimeout;
    if (!(ms > 0) || !Number.isFinite(ms)) return;
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = null;
      if (gen !== this.#gen || this.#state === State.OPEN) return;
      this.#onClose(ABNORMAL, `no hello within ${ms} ms (probeTimeout)`);
    }, ms);
  }

  /** Sends a ping every pingInterval while open; no message within pongTimeout of one closes the connection. */
  #startHeartbeat(gen) {
    const every = this.#opts.pingInterval;
    if (!(every > 0) || !Number.isFinite(every)) return;
    const tick = () => {
      this.#pingTimer = null;
      if (gen !== this.#gen || this.#state !== State.OPEN || !this.#transport) return;
      try {
        this.#transport.send(PING);
      } catch (err) {
        this.#error({ code: "transport", msg: `ping failed: ${(err && err.message) || err}`, cause: err });
      }
      if (gen !== this.#gen) return; // the send failed the transport
      const wait = this.#opts.pongTimeout;
      if (this.#pongTimer === null && wait > 0 && Number.isFinite(wait)) {
        this.#pongTimer = setTimeout(() => {
          this.#pongTimer = null;
          if (gen !== this.#gen) return;
          this.#onClose(ABNORMAL, `no pong within ${wait} ms`);
        }, wait);
      }
      this.#pingTimer = setTimeout(tick, every);
    };
    this.#pingTimer = setTimeout(tick, every);
  }

  /** A message arrived: the connection is alive. */
  #alive() {
    if (this.#pongTimer !== null) {
      clearTimeout(this.#pongTimer);
      this.#pongTimer = null;
    }
  }

  #stopTimers() {
    clearTimeout(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    clearTimeout(this.#probeTimer);
    this.#pingTimer = this.#pongTimer = this.#probeTimer = null;
  }

  #onClose(code, reason) {
    const t = this.#transport;
    this.#transport = null;
    this.#gen++;
    this.#stopTimers();
    if (t) {
      try {
        t.close(1000, "");
      } catch {
        // already closed
      }
    }
    const wasOpen = this.#state === State.OPEN;
    this.#sid = null;

    // Emits queued for this connection but not yet written go back to the
    // offline buffer; requests already written cannot be answered by a new
    // session.
    const unsent = this.#sendQueue.filter((e) => e.kind === "emit" && !e.volatile);
    this.#sendQueue = [];
    const later = this.#outbox;
    this.#outbox = [];
    for (const e of unsent) this.#buffer({ text: e.text, event: e.event, id: e.id || 0 });
    for (const e of later) this.#buffer(e);
    const unsentIds = new Set(unsent.map((e) => e.id).filter(Boolean));
    for (const [id, p] of this.#pending) {
      if (p.kind === "emit") {
        if (!p.sent || unsentIds.has(id)) continue;
        clearTimeout(p.timer);
        this.#pending.delete(id);
        p.reject(new HubbubError("disconnected", `connection lost before the ack (${code} ${reason})`.trim()));
      } else if (p.kind === "join") {
        clearTimeout(p.timer);
        this.#pending.delete(id);
      } else if (p.kind === "leave") {
        clearTimeout(p.timer);
        this.#pending.delete(id);
        this.#dropRoom(p.room);
        p.resolve({ room: p.room.name });
      }
    }
    for (const r of this.#rooms.values()) {
      r.joinId = 0;
      r.buffer = null;
      r.since = undefined;
    }

    const info = { code, reason };
    if (wasOpen) this.#emitState("disconnect", info);
    else this.#emitState("connect_error", info);

    if (!this.#opts.reconnect || noReconnect.has(code)) {
      this.#setState(State.CLOSED);
      return;
    }
    if (wasOpen) {
      this.#cycleTried = 0;
      this.#tIndex = this.#cycleStart();
    } else if (this.#fallback()) {
      return;
    }
    this.#scheduleReconnect();
  }

  /** The delay before reconnection attempt n (1-based), in ms. */
  #delay(n) {
    const { initial, max, factor, jitter } = this.#backoff;
    const base = Math.min(max, initial * Math.pow(factor, n - 1));
    const j = Math.min(Math.max(jitter, 0), 1);
    return Math.round(base * (1 - j * Math.random()));
  }

  #scheduleReconnect() {
    this.#attempt++;
    if (this.#attempt > this.#opts.maxAttempts) {
      this.#setState(State.CLOSED);
      this.#emitState("reconnect_failed", { attempts: this.#attempt - 1 });
      return;
    }
    const delay = this.#delay(this.#attempt);
    this.#setState(State.RECONNECTING);
    this.#emitState("reconnect_attempt", { attempt: this.#attempt, delay });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.#startTransport();
    }, delay);
  }

  // -- inbound --------------------------------------------------------------

  #onMessage(gen, text) {
    let msg = text;
    if (typeof text === "string") {
      try {
        msg = JSON.parse(text);
      } catch (err) {
        this.#error({ code: "malformed", msg: `server message is not JSON: ${err.message}` });
        return;
      }
    }
    const frames = Array.isArray(msg) ? msg : [msg];
    for (const f of frames) {
      if (gen !== this.#gen) return; // a close frame ended this connection
      if (f === null || typeof f !== "object" || typeof f.t !== "string") {
        this.#error({ code: "malformed", msg: "server frame is not a protocol object" });
        continue;
      }
      this.#dispatch(gen, f);
    }
  }

  #dispatch(gen, f) {
    switch (f.t) {
      case "hello":
        return this.#onHello(f);
      case "emit":
        return this.#onEmit(gen, f);
      case "ack":
        return this.#onAck(f);
      case "presence":
        return this.#onPresence(f);
      case "error":
        return this.#error({ code: (f.err && f.err.code) || "error", msg: (f.err && f.err.msg) || "" });
      case "close": {
        const c = f.close || {};
        return this.#onClose(c.code || 1000, c.reason || "");
      }
      case "pong":
        return; // #alive already noted it
      case "resync":
        // From the SSE handler (built-in transports act on it themselves):
        // the session is closed; recover in a new one.
        return this.#onClose(4008, `not recovered: ${(f.err && f.err.msg) || "resync"}`);
      default:
        // Frame types from a newer protocol version are ignored.
        return;
    }
  }

  #onHello(f) {
    if (this.#state === State.OPEN) return;
    if (f.v !== PROTOCOL_VERSION) {
      this.#error({ code: "protocol_version", msg: `server speaks protocol v${f.v}, this client v${PROTOCOL_VERSION}` });
    }
    const reconnected = this.#connectedBefore;
    const attempts = this.#attempt;
    this.#connectedBefore = true;
    this.#attempt = 0;
    this.#sid = f.sid;
    this.#user = f.user;
    clearTimeout(this.#probeTimer);
    this.#probeTimer = null;
    this.#remembered = this.#tIndex;
    this.#cycleTried = 0;
    const previous = this.#transportName;
    this.#transportName = this.#order[this.#tIndex];
    this.#setState(State.OPEN);
    this.#startHeartbeat(this.#gen);
    // Rooms first (with since: the server replays what we missed), then the
    // emits buffered while offline: the server handles them in that order.
    for (const r of this.#rooms.values()) {
      if (r.status !== "leaving") this.#sendJoin(r);
    }
    const buffered = this.#outbox;
    this.#outbox = [];
    for (const e of buffered) this.#queue({ text: e.text, kind: "emit", event: e.event, id: e.id });
    if (previous !== this.#transportName) this.#emitState("transport", { transport: this.#transportName, previous });
    this.#emitState("connect", { sid: f.sid, user: f.user });
    if (reconnected) this.#emitState("reconnect", { attempt: attempts });
  }

  #onEmit(gen, f) {
    if (typeof f.room === "string" && f.room !== "") {
      const r = this.#rooms.get(f.room);
      if (r) {
        if (r.status === "leaving") return;
        if (r.buffer) {
          r.buffer.push(f); // the join's ack decides what is new
          return;
        }
        if (r.status === "joined" && typeof f.off === "number") {
          if (f.off <= r.off) return; // duplicate (replayed and live)
          r.off = f.off;
        }
      }
      this.#deliver(gen, f, { room: f.room, off: f.off });
      return;
    }
    this.#deliver(gen, f, {});
  }

  #deliver(gen, f, meta) {
    const list = this.#handlers.get(f.ev);
    const handlers = list ? [...list] : [];
    const wantsAck = typeof f.id === "number" && f.id > 0;
    /** @type {any} */
    let first;
    let firstErr = null;
    let threw = false;
    handlers.forEach((fn, i) => {
      try {
        const r = fn(f.d, meta);
        if (i === 0) first = r;
        else if (isThenable(r)) r.then(undefined, (err) => this.#handlerError(f.ev, err));
      } catch (err) {
        if (i === 0 && wantsAck) {
          threw = true;
          firstErr = err;
        } else this.#handlerError(f.ev, err);
      }
    });
    if (!wantsAck) {
      if (isThenable(first)) first.then(undefined, (err) => this.#handlerError(f.ev, err));
      return;
    }
    if (handlers.length === 0) {
      this.#reply(gen, f.id, { err: { code: "unknown_event", msg: `no handler for event ${JSON.stringify(f.ev)}` } });
      return;
    }
    if (threw) {
      this.#reply(gen, f.id, { err: errorBody(firstErr) });
      return;
    }
    Promise.resolve(first).then(
      (d) => this.#reply(gen, f.id, { d }),
      (err) => this.#reply(gen, f.id, { err: errorBody(err) }),
    );
  }

  #handlerError(event, err) {
    this.#error({ code: "handler", msg: `handler for ${JSON.stringify(event)} threw: ${(err && err.message) || err}`, event, cause: err });
  }

  /**
   * Sends the ack for a server request, if its connection is still up.
   * @param {number} gen
   * @param {number} id
   * @param {{d?: any, err?: {code: string, msg: string}}} reply
   */
  #reply(gen, id, { d, err }) {
    if (gen !== this.#gen || this.#state !== State.OPEN) return; // its session is gone
    let text;
    if (err) {
      text = JSON.stringify({ t: "ack", id, err });
    } else {
      try {
        const enc = encodeData(d);
        text = '{"t":"ack","id":' + id + (enc === undefined ? "" : ',"d":' + enc) + "}";
      } catch (e) {
        text = JSON.stringify({ t: "ack", id, err: { code: "internal", msg: `ack payload does not encode: ${e.message}` } });
      }
    }
    this.#queue({ text, kind: "ack" });
  }

  #onAck(f) {
    const p = this.#pending.get(f.id);
    if (!p) return; // answered too late (timed out) or from an old session
    this.#pending.delete(f.id);
    clearTimeout(p.timer);
    const err = f.err ? new HubbubError(f.err.code || "error", f.err.msg || "") : null;
    switch (p.kind) {
      case "emit":
        if (err) p.reject(err);
        else p.resolve(f.d);
        return;
      case "join":
        return this.#onJoinAck(p.room, f.id, f.d, err);
      case "leave":
        if (err && err.code !== "not_in_room") {
          if (this.#rooms.get(p.room.name) === p.room) p.room.status = "joined";
          p.reject(err);
          return;
        }
        this.#dropRoom(p.room);
        p.resolve({ room: p.room.name });
        return;
    }
  }

  #onPresence(f) {
    const r = this.#rooms.get(f.room);
    if (r) {
      if (r.status === "leaving") return;
      if (r.buffer) {
        r.buffer.push(f); // applied after the join ack's list
        return;
      }
    }
    this.#applyPresence(r, f);
  }

  #applyPresence(r, f) {
    if (r && r.presence) {
      const list = r.presence;
      if (f.ev === "join") {
        const had = list.get(f.user);
        if (had) {
          if (f.meta !== undefined) had.meta = f.meta;
          return; // already listed (the join ack raced the notice)
        }
        list.set(f.user, { user: f.user, meta: f.meta, conns: 1 });
      } else if (f.ev === "leave") {
        if (!list.delete(f.user)) return;
      }
    }
    const ev = { room: f.room, ev: f.ev, user: f.user };
    if (f.meta !== undefined) ev.meta = f.meta;
    this.#emitState("presence", ev);
  }

  // -- outbound -------------------------------------------------------------

  /** Queues a frame for this connection; frames of one tick go together. */
  #queue(entry) {
    this.#sendQueue.push(entry);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => this.#flush());
  }

  #flush() {
    this.#flushScheduled = false;
    const q = this.#sendQueue;
    this.#sendQueue = [];
    if (q.length === 0) return;
    if (this.#state !== State.OPEN || !this.#transport) {
      for (const e of q) {
        if (e.kind === "emit" && !e.volatile) this.#buffer({ text: e.text, event: e.event, id: e.id || 0 });
      }
      return;
    }
    const max = this.#opts.maxBatchBytes;
    let batch = [];
    let bytes = 2;
    for (const e of q) {
      const n = utf8Length(e.text) + 1;
      if (batch.length > 0 && bytes + n > max) {
        this.#write(batch);
        batch = [];
        bytes = 2;
      }
      batch.push(e.text);
      bytes += n;
      if (e.id) {
        const p = this.#pending.get(e.id);
        if (p) p.sent = true;
      }
    }
    this.#write(batch);
  }

  #write(batch) {
    const t = this.#transport;
    if (!t) return;
    const text = batch.length === 1 ? batch[0] : "[" + batch.join(",") + "]";
    try {
      t.send(text);
    } catch (err) {
      this.#error({ code: "transport", msg: `send failed: ${(err && err.message) || err}`, cause: err });
    }
  }

  /** Adds an emit to the offline buffer, evicting the oldest when full. */
  #buffer(entry) {
    this.#outbox.push(entry);
    const max = Math.max(0, this.#opts.maxOfflineBuffer);
    while (this.#outbox.length > max) {
      const old = this.#outbox.shift();
      if (old.id) {
        const p = this.#pending.get(old.id);
        if (p) {
          this.#pending.delete(old.id);
          clearTimeout(p.timer);
          p.reject(new HubbubError("dropped", `offline buffer full: emit ${JSON.stringify(old.event)} dropped`));
        }
      }
      this.#error({
        code: "offline_buffer_full",
        msg: `offline buffer full (maxOfflineBuffer ${max}): dropped the oldest emit ${JSON.stringify(old.event)}`,
        event: old.event,
      });
    }
  }

  /**
   * Sends an event to the server without waiting for an answer. While the
   * client is not open the emit is buffered (at most maxOfflineBuffer; the
   * oldest is dropped with an "error" event) and sent after the next hello,
   * unless opts.volatile, which drops it. After close(), and when the frame
   * exceeds maxFrameBytes, emits are dropped with an "error" event. data must be JSON-serializable; it is encoded at
   * once (later changes to it are not sent).
   * Fire-and-forget emits written just before a connection drops can be
   * lost; use emitWithAck for what must arrive.
   * @param {string} event
   * @param {any} [data]
   * @param {{volatile?: boolean}} [opts]
   */
  emit(event, data, opts = {}) {
    checkName("event", event);
    const text = emitText(event, 0, encodeData(data));
    const tooBig = this.#tooBig(event, text);
    if (tooBig) {
      this.#error({ code: tooBig.code, msg: tooBig.message, event });
      return this;
    }
    if (this.#state === State.OPEN) {
      this.#queue({ text, kind: "emit", event, volatile: !!opts.volatile });
    } else if (opts.volatile) {
      // volatile: dropped while offline, by request
    } else if (this.#userClosed) {
      this.#error({ code: "closed", msg: `emit ${JSON.stringify(event)} on a closed client: dropped`, event });
    } else {
      this.#buffer({ text, event, id: 0 });
    }
    return this;
  }

  /**
   * Sends an event and resolves with the server handler's reply. Rejects
   * with a HubbubError whose code is the server's error code, "timeout"
   * (no ack within opts.timeout, default ackTimeout; 0 waits without
   * limit), "disconnected" (the connection dropped after the emit was
   * written, or the client was closed), "dropped" (evicted from a full
   * offline buffer) or "too_large" (over maxFrameBytes; not sent). While offline the emit is buffered like emit's, and
   * its timeout keeps running.
   * @param {string} event
   * @param {any} [data]
   * @param {{timeout?: number}} [opts]
   * @returns {Promise<any>}
   */
  emitWithAck(event, data, opts = {}) {
    return new Promise((resolve, reject) => {
      checkName("event", event);
      if (this.#userClosed) throw new HubbubError("disconnected", "the client was closed");
      const id = ++this.#nextId;
      const text = emitText(event, id, encodeData(data));
      const tooBig = this.#tooBig(event, text);
      if (tooBig) throw tooBig;
      const p = { kind: "emit", resolve, reject, timer: null, sent: false };
      const timeout = opts.timeout ?? this.#opts.ackTimeout;
      if (timeout > 0 && Number.isFinite(timeout)) {
        p.timer = setTimeout(() => {
          if (this.#pending.get(id) !== p) return;
          this.#pending.delete(id);
          this.#outbox = this.#outbox.filter((e) => e.id !== id);
          reject(new HubbubError("timeout", `no ack for ${JSON.stringify(event)} within ${timeout} ms`));
        }, timeout);
      }
      this.#pending.set(id, p);
      if (this.#state === State.OPEN) this.#queue({ text, kind: "emit", event, id });
      else this.#buffer({ text, event, id });
    });
  }

  /**
   * The server answers a message over its MaxFrameBytes with an error frame
   * that names no request, so an oversized emit is refused here instead.
   */
  #tooBig(event, text) {
    const max = this.#opts.maxFrameBytes;
    if (!(max > 0)) return null;
    const n = utf8Length(text);
    if (n <= max) return null;
    return new HubbubError("too_large", `emit ${JSON.stringify(event)} is ${n} bytes, over maxFrameBytes ${max}`);
  }

  // -- rooms ----------------------------------------------------------------

  /**
   * Joins a room and resolves with the server's JoinResult. With
   * opts.history the server first replays up to that many recent events
   * (delivered with meta.replayed = true). While offline the join is sent
   * after the next hello. The client remembers the room and, after every
   * reconnect, rejoins it with since: {epoch, off} of the last event seen,
   * so that the server replays what was missed ("recovered" event) or says
   * it cannot ("resync" event). Joining a room already joined resolves with
   * the latest JoinResult. Rejects with the server's code (e.g.
   * "forbidden"), "timeout", "disconnected" (close()) or "left".
   * @param {string} room
   * @param {{history?: number}} [opts]
   * @returns {Promise<object>}
   */
  join(room, opts = {}) {
    return new Promise((resolve, reject) => {
      checkName("room", room);
      if (this.#userClosed) throw new HubbubError("disconnected", "the client was closed");
      let r = this.#rooms.get(room);
      if (r && r.status === "joined") {
        resolve(r.result);
        return;
      }
      if (!r || r.status === "leaving") {
        r = {
          name: room,
          status: "joining",
          history: Math.max(0, Math.floor(opts.history || 0)),
          epoch: undefined,
          off: 0,
          result: null,
          presence: null,
          joinId: 0,
          since: undefined,
          buffer: null,
          waiters: [],
        };
        this.#rooms.set(room, r);
        if (this.#state === State.OPEN) this.#sendJoin(r);
      }
      r.waiters.push({ resolve, reject });
    });
  }

  #sendJoin(r) {
    const id = ++this.#nextId;
    const frame = { t: "join", id, room: r.name };
    if (r.epoch !== undefined) {
      r.since = { epoch: r.epoch, off: r.off };
      frame.since = r.since;
    } else {
      r.since = undefined;
      if (r.history > 0) frame.history = r.history;
    }
    r.joinId = id;
    r.buffer = [];
    const p = { kind: "join", room: r, timer: null };
    const timeout = this.#opts.ackTimeout;
    if (timeout > 0 && Number.isFinite(timeout)) {
      p.timer = setTimeout(() => {
        if (this.#pending.get(id) !== p) return;
        this.#pending.delete(id);
        this.#onJoinAck(r, id, undefined, new HubbubError("timeout", `no ack for join ${JSON.stringify(r.name)} within ${timeout} ms`));
      }, timeout);
    }
    this.#pending.set(id, p);
    this.#queue({ text: JSON.stringify(frame), kind: "join", id });
  }

  #onJoinAck(r, id, res, err) {
    if (this.#rooms.get(r.name) !== r || r.joinId !== id) return; // left meanwhile
    r.joinId = 0;
    const buffered = r.buffer || [];
    r.buffer = null;
    const since = r.since;
    r.since = undefined;
    if (err) {
      this.#rooms.delete(r.name);
      const waiters = r.waiters;
      r.waiters = [];
      if (waiters.length > 0) for (const w of waiters) w.reject(err);
      else this.#error({ code: err.code, msg: `rejoin of room ${JSON.stringify(r.name)} failed: ${err.message}`, room: r.name });
      return;
    }
    res = res || {};
    const pos = res.pos || { epoch: "", off: 0 };
    // Which buffered events are new: after since when everything since was
    // replayed, after the room's position when it was not (the offsets we
    // hold belong to a gap or to an older epoch), all of them on a first join.
    let floor = 0;
    if (since) floor = res.recovered && since.epoch === pos.epoch ? since.off : pos.off;
    r.epoch = pos.epoch;
    r.off = floor;
    r.status = "joined";
    r.result = res;
    r.presence = new Map();
    for (const p of res.presence || []) {
      r.presence.set(p.user, { user: p.user, meta: p.meta, conns: p.conns || 1 });
    }
    if (Array.isArray(res.presence)) {
      this.#emitState("presence", { room: r.name, ev: "sync", users: this.presence(r.name) });
    }
    if (since && !res.recovered) this.#emitState("resync", { room: r.name, pos });
    const gen = this.#gen;
    for (const f of buffered) {
      if (this.#rooms.get(r.name) !== r || r.status !== "joined" || gen !== this.#gen) break;
      if (f.t === "presence") {
        this.#applyPresence(r, f);
        continue;
      }
      if (typeof f.off === "number") {
        if (f.off <= r.off) continue;
        r.off = f.off;
      }
      const meta = { room: f.room, off: f.off };
      if (!since && f.off <= pos.off) meta.replayed = true;
      this.#deliver(gen, f, meta);
    }
    if (r.off < pos.off) r.off = pos.off;
    if (since && res.recovered) this.#emitState("recovered", { room: r.name, replayed: res.replayed || 0 });
    const waiters = r.waiters;
    r.waiters = [];
    for (const w of waiters) w.resolve(res);
  }

  /**
   * Leaves a room: the client stops delivering its events at once and
   * forgets it (no rejoin after reconnect). Resolves with {room} when the
   * server confirms, or at once when offline or not in the room. A pending
   * join of the room rejects with code "left".
   * @param {string} room
   * @returns {Promise<{room: string}>}
   */
  leave(room) {
    return new Promise((resolve, reject) => {
      checkName("room", room);
      const r = this.#rooms.get(room);
      if (!r || r.status === "leaving") {
        resolve({ room });
        return;
      }
      const waiters = r.waiters;
      r.waiters = [];
      for (const w of waiters) w.reject(new HubbubError("left", `left room ${JSON.stringify(room)} before the join completed`));
      const onServer = r.status === "joined" || r.joinId !== 0;
      r.joinId = 0;
      r.buffer = null;
      if (this.#state !== State.OPEN || !onServer) {
        this.#rooms.delete(room);
        resolve({ room });
        return;
      }
      r.status = "leaving";
      const id = ++this.#nextId;
      const p = { kind: "leave", room: r, resolve, reject, timer: null };
      const timeout = this.#opts.ackTimeout;
      if (timeout > 0 && Number.isFinite(timeout)) {
        p.timer = setTimeout(() => {
          if (this.#pending.get(id) !== p) return;
          this.#pending.delete(id);
          this.#dropRoom(r);
          reject(new HubbubError("timeout", `no ack for leave ${JSON.stringify(room)} within ${timeout} ms`));
        }, timeout);
      }
      this.#pending.set(id, p);
      this.#queue({ text: JSON.stringify({ t: "leave", id, room }), kind: "leave", id });
    });
  }

  #dropRoom(r) {
    if (this.#rooms.get(r.name) === r) this.#rooms.delete(r.name);
  }

  /**
   * The users present in a joined room, one entry per user
   * ({user, meta, conns}), sorted by user id: the join ack's list kept up
   * to date by presence notices. Empty for rooms without presence notices
   * or not joined. conns is exact as of the last join ack; notices only
   * report a user's first arrival and last departure, so users who arrive
   * later are counted with conns 1.
   * @param {string} room
   * @returns {Array<{user: string, meta?: any, conns: number}>}
   */
  presence(room) {
    const r = this.#rooms.get(room);
    if (!r || !r.presence) return [];
    return [...r.presence.values()]
      .map((p) => ({ ...p }))
      .sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
  }

  /** The rooms the client is in or joining (and will rejoin after reconnecting). */
  rooms() {
    return [...this.#rooms.values()].filter((r) => r.status !== "leaving").map((r) => r.name);
  }

  /**
   * The position of the last event seen in a room ({epoch, off}), sent as
   * since when rejoining; undefined before the first join ack.
   * @param {string} room
   */
  position(room) {
    const r = this.#rooms.get(room);
    if (!r || r.epoch === undefined) return undefined;
    return { epoch: r.epoch, off: r.off };
  }
}

function errorBody(err) {
  const code = err && typeof err.code === "string" && err.code !== "" ? err.code : "internal";
  const msg = err && typeof err.message === "string" ? err.message : String(err);
  return { code, msg };
}

/**
 * Creates a client and starts connecting. See Client and ClientOptions.
 *
 * Browsers cannot set headers on a WebSocket or an EventSource, so
 * opts.auth (an object, or a function returning one or a promise of one,
 * called before every connection attempt so that tokens can be refreshed)
 * is sent as query parameters of the URL that opens the session, e.g.
 * {token} → /ws?token=… (and /sse?token=… for SSE and long-poll). Query
 * strings can end up in server and proxy logs: use short-lived tokens.
 *
 * Transports: WebSocket first, then SSE, then long-poll (opts.transports,
 * opts.urls, opts.probeTimeout); client.transport says which one is in use.
 * @param {string | URL} url
 * @param {object} [opts]
 * @returns {Client}
 */
export function connect(url, opts = {}) {
  return new Client(url, opts).open();
}

export default connect;
