// Tests for hubbub.js with node's built-in runner: node --test client/js/
// Node 20 has no global WebSocket: a fake one is injected with opts.WebSocket.
import { test, describe, beforeEach, afterEach, mock } from "node:test";
import assert from "node:assert/strict";
import { connect, Client, HubbubError, State, registerTransport } from "./hubbub.js";

/** A fake WebSocket server side: records what the client sends, pushes frames. */
function fakeServer() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = String(url);
      this.sent = [];
      this.readyState = 0;
      this.closedWith = null;
      this.onopen = this.onmessage = this.onerror = this.onclose = null;
      sockets.push(this);
    }
    send(text) {
      if (this.readyState !== 1) throw new Error("InvalidStateError: not open");
      this.sent.push(text);
    }
    close(code, reason) {
      this.closedWith = { code, reason };
      this.readyState = 3;
    }
    // server side
    accept() {
      this.readyState = 1;
      this.onopen?.({});
    }
    push(msg) {
      this.onmessage?.({ data: typeof msg === "string" ? msg : JSON.stringify(msg) });
    }
    hello(sid = "sid-1", user = "alice") {
      this.accept();
      this.push({ t: "hello", v: 1, sid, user });
    }
    drop(code = 1006, reason = "") {
      this.readyState = 3;
      this.onclose?.({ code, reason, wasClean: code !== 1006 });
    }
    /** Every frame sent so far, batches flattened. */
    frames() {
      return this.sent.flatMap((s) => {
        const m = JSON.parse(s);
        return Array.isArray(m) ? m : [m];
      });
    }
    framesOf(t) {
      return this.frames().filter((f) => f.t === t);
    }
  }
  return {
    FakeWebSocket,
    sockets,
    get last() {
      return sockets[sockets.length - 1];
    },
  };
}

/**
 * Options for tests of the WebSocket path alone: the fake WebSocket, no
 * fallback to the HTTP transports, no heartbeat (its pings would show in
 * the frames the tests count, and its timers in the ticks they make).
 */
const wsOnly = (srv) => ({ WebSocket: srv.FakeWebSocket, transports: ["websocket"], pingInterval: 0 });

/** Lets queued microtasks (the client's send flush, promise callbacks) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A connected client: returns {client, srv, ws, events} after the hello. */
async function open(opts = {}) {
  const srv = fakeServer();
  const events = [];
  const client = connect("ws://example.test/ws", { ...wsOnly(srv), ...opts });
  for (const name of [
    "state", "connect", "disconnect", "connect_error", "reconnect_attempt", "reconnect",
    "reconnect_failed", "error", "presence", "resync", "recovered",
  ]) {
    client.onState(name, (p) => events.push([name, p]));
  }
  const ws = srv.last;
  ws.hello();
  await settle();
  return { client, srv, ws, events, of: (n) => events.filter((e) => e[0] === n).map((e) => e[1]) };
}

/** Answers the last join frame the socket received. */
function ackJoin(ws, d) {
  const j = ws.framesOf("join").at(-1);
  ws.push({ t: "ack", id: j.id, d: { room: j.room, recovered: true, replayed: 0, ...d } });
  return j;
}

let warn;
beforeEach(() => {
  // The client warns on the console when nobody listens to "error"; keep
  // test output quiet and let tests assert on it.
  warn = mock.method(console, "warn", () => {});
});
afterEach(() => {
  mock.restoreAll();
  delete globalThis.location;
});

describe("connection", () => {
  test("hello → connect event, state, sid; auth in the query string", async () => {
    const srv = fakeServer();
    const states = [];
    const client = connect("ws://example.test/ws", {
      ...wsOnly(srv),
      auth: { token: "t0k en", skip: undefined },
    });
    client.onState("state", (s) => states.push(s));
    let connected = null;
    client.onState("connect", (p) => (connected = p));
    assert.equal(client.state, "connecting");
    assert.equal(client.sid, null);
    const ws = srv.last;
    assert.equal(ws.url, "ws://example.test/ws?token=t0k+en");
    ws.accept();
    assert.equal(client.state, "connecting", "open only after the hello");
    ws.push({ t: "hello", v: 1, sid: "S1", user: "alice" });
    assert.deepEqual(connected, { sid: "S1", user: "alice" });
    assert.equal(client.state, State.OPEN);
    assert.equal(client.sid, "S1");
    assert.equal(client.user, "alice");
    assert.deepEqual(states, ["open"]);
    client.close();
    assert.equal(client.state, "closed");
    assert.deepEqual(ws.closedWith, { code: 1000, reason: "client closed" });
  });

  test("relative URL resolves against location; http→ws, https→wss; auth function", async () => {
    globalThis.location = { href: "https://chat.example.com/app/page.html" };
    const srv = fakeServer();
    let calls = 0;
    const client = connect("/ws", {
      ...wsOnly(srv),
      auth: async () => ({ token: `t${++calls}` }),
    });
    await settle();
    assert.equal(srv.last.url, "wss://chat.example.com/ws?token=t1");
    client.close();
    const c2 = connect("http://localhost:8080/rt?x=1", { ...wsOnly(srv) });
    assert.equal(srv.last.url, "ws://localhost:8080/rt?x=1");
    c2.close();
  });

  test("new Client does not connect until open(); unknown transport is refused", () => {
    const srv = fakeServer();
    const c = new Client("ws://h/ws", { ...wsOnly(srv) });
    assert.equal(c.state, "closed");
    assert.equal(srv.sockets.length, 0);
    c.open();
    assert.equal(srv.sockets.length, 1);
    c.close();
    assert.throws(() => new Client("ws://h/ws", { transports: ["carrier-pigeon"] }), TypeError);
  });

  test("registered transports replace the WebSocket without touching the client", async () => {
    const opened = [];
    let t;
    registerTransport("loopback", () => {
      t = {
        open(url) { opened.push(url.href); queueMicrotask(() => this.onmessage('{"t":"hello","v":1,"sid":"L","user":"u"}')); },
        sent: [],
        send(text) { this.sent.push(text); },
        close() {},
        onopen() {}, onmessage() {}, onclose() {},
      };
      return t;
    });
    const c = connect("http://h/rt", { transports: ["loopback"], auth: { token: "x" } });
    await settle();
    assert.deepEqual(opened, ["http://h/rt?token=x"]);
    assert.equal(c.sid, "L");
    c.emit("ping", 1);
    await settle();
    assert.deepEqual(t.sent, ['{"t":"emit","ev":"ping","d":1}']);
    c.close();
  });

  test("error frames and malformed messages reach the error event", async () => {
    const { ws, of, client } = await open();
    ws.push({ t: "error", err: { code: "unknown_event", msg: 'no handler for event "x"' } });
    ws.push("{not json");
    ws.push({ t: "from-the-future", x: 1 }); // ignored
    const errs = of("error");
    assert.equal(errs.length, 2);
    assert.deepEqual(errs[0], { code: "unknown_event", msg: 'no handler for event "x"' });
    assert.equal(errs[1].code, "malformed");
    client.close();
  });

  test("a hello of another protocol version is reported", async () => {
    const srv = fakeServer();
    const c = connect("ws://h/ws", { ...wsOnly(srv) });
    const errs = [];
    c.onState("error", (e) => errs.push(e.code));
    srv.last.accept();
    srv.last.push({ t: "hello", v: 2, sid: "S", user: "u" });
    assert.deepEqual(errs, ["protocol_version"]);
    c.close();
  });

  test("an error without an error listener is not silent", async () => {
    const srv = fakeServer();
    const c = connect("ws://h/ws", { ...wsOnly(srv) });
    srv.last.hello();
    srv.last.push({ t: "error", err: { code: "too_large", msg: "too big" } });
    assert.equal(warn.mock.callCount(), 1);
    assert.match(warn.mock.calls[0].arguments[0], /too_large: too big/);
    c.close();
  });
});

describe("events", () => {
  test("emit sends an emit frame; on receives server events with meta", async () => {
    const { client, ws } = await open();
    const got = [];
    const fn = (d, meta) => got.push([d, meta]);
    client.on("chat", fn);
    client.emit("say", { text: "hi" });
    client.emit("bare");
    await settle();
    assert.deepEqual(ws.frames(), [
      { t: "emit", ev: "say", d: { text: "hi" } },
      { t: "emit", ev: "bare" },
    ]);
    ws.push({ t: "emit", ev: "chat", d: "direct" });
    ws.push({ t: "emit", ev: "chat", room: "lobby", off: 7, d: "in room" });
    assert.deepEqual(got, [
      ["direct", {}],
      ["in room", { room: "lobby", off: 7 }],
    ]);
    client.off("chat", fn);
    ws.push({ t: "emit", ev: "chat", d: "unheard" });
    assert.equal(got.length, 2);
    let once = 0;
    client.once("one", () => once++);
    ws.push({ t: "emit", ev: "one" });
    ws.push({ t: "emit", ev: "one" });
    assert.equal(once, 1);
    client.close();
  });

  test("data is encoded at emit time; a circular payload throws", async () => {
    const { client, ws } = await open();
    const data = { n: 1 };
    client.emit("e", data);
    data.n = 2;
    await settle();
    assert.deepEqual(ws.frames()[0].d, { n: 1 });
    const circ = {};
    circ.self = circ;
    assert.throws(() => client.emit("e", circ), TypeError);
    await assert.rejects(client.emitWithAck("e", circ), TypeError);
    assert.throws(() => client.emit("", 1), TypeError);
    client.close();
  });

  test("emits over maxFrameBytes are refused locally", async () => {
    const { client, ws, of } = await open({ maxFrameBytes: 64 });
    client.emit("big", "é".repeat(40)); // 80 bytes of payload
    assert.equal(of("error")[0].code, "too_large");
    await assert.rejects(client.emitWithAck("big", "x".repeat(64)), { code: "too_large" });
    client.emit("small", "ok");
    await settle();
    assert.deepEqual(ws.frames().map((f) => f.ev), ["small"]);
    client.close();
  });

  test("frames emitted in one tick go in one batch message", async () => {
    const { client, ws } = await open();
    client.emit("a", 1);
    client.emit("b", 2);
    client.emit("c", 3);
    await settle();
    assert.equal(ws.sent.length, 1);
    assert.deepEqual(JSON.parse(ws.sent[0]).map((f) => f.ev), ["a", "b", "c"]);
    client.close();
  });

  test("batches are split at maxBatchBytes", async () => {
    const { client, ws } = await open({ maxBatchBytes: 100 });
    const big = "x".repeat(40);
    for (let i = 0; i < 5; i++) client.emit("e", big);
    await settle();
    assert.ok(ws.sent.length >= 3, `sent ${ws.sent.length} messages`);
    for (const m of ws.sent) {
      assert.ok(Buffer.byteLength(m) <= 100 || !m.startsWith("["), `message of ${m.length} bytes`);
    }
    assert.equal(ws.frames().length, 5);
    client.close();
  });

  test("server batches (JSON arrays) are dispatched in order", async () => {
    const { client, ws, of } = await open();
    const seen = [];
    client.on("a", (d) => seen.push(`a${d}`));
    client.on("b", (d) => seen.push(`b${d}`));
    const p = client.emitWithAck("q");
    await settle();
    const id = ws.framesOf("emit")[0].id;
    p.then((d) => seen.push(`ack${d}`));
    ws.push([
      { t: "emit", ev: "a", d: 1 },
      { t: "emit", ev: "b", d: 2 },
      { t: "presence", ev: "join", room: "r", user: "bob" },
      { t: "ack", id, d: 3 },
      { t: "emit", ev: "a", d: 4 },
    ]);
    assert.deepEqual(seen, ["a1", "b2", "a4"]);
    assert.equal(of("presence").length, 1);
    await settle();
    assert.deepEqual(seen, ["a1", "b2", "a4", "ack3"]);
    client.close();
  });
});

describe("acks", () => {
  test("emitWithAck resolves with the ack's data", async () => {
    const { client, ws } = await open();
    const p = client.emitWithAck("add", { a: 1, b: 2 });
    await settle();
    const [f] = ws.frames();
    assert.equal(f.t, "emit");
    assert.equal(f.ev, "add");
    assert.ok(f.id > 0);
    assert.deepEqual(f.d, { a: 1, b: 2 });
    ws.push({ t: "ack", id: f.id, d: { sum: 3 } });
    assert.deepEqual(await p, { sum: 3 });
    client.close();
  });

  test("emitWithAck rejects with the server's error code", async () => {
    const { client, ws } = await open();
    const p = client.emitWithAck("secret");
    await settle();
    ws.push({ t: "ack", id: ws.frames()[0].id, err: { code: "forbidden", msg: "no" } });
    await assert.rejects(p, (err) => {
      assert.ok(err instanceof HubbubError);
      assert.ok(err instanceof Error);
      assert.equal(err.code, "forbidden");
      assert.equal(err.message, "no");
      return true;
    });
    client.close();
  });

  test("emitWithAck rejects with code timeout; a late ack is ignored", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, ws } = await open({ ackTimeout: 1000 });
    const p1 = client.emitWithAck("slow");
    const p2 = client.emitWithAck("slower", null, { timeout: 5000 });
    await settle();
    t.mock.timers.tick(999);
    let p1done = false;
    p1.catch(() => (p1done = true));
    await settle();
    assert.equal(p1done, false);
    t.mock.timers.tick(1);
    await assert.rejects(p1, { code: "timeout" });
    ws.push({ t: "ack", id: ws.frames()[0].id, d: "late" }); // no effect
    t.mock.timers.tick(4000);
    await assert.rejects(p2, { code: "timeout" });
    client.close();
  });

  test("emitWithAck rejects with code disconnected when the connection drops or close() is called", async () => {
    const { client, ws } = await open();
    const p1 = client.emitWithAck("x");
    await settle();
    ws.drop(1006);
    await assert.rejects(p1, { code: "disconnected" });
    const p2 = client.emitWithAck("y"); // offline: buffered
    client.close();
    await assert.rejects(p2, { code: "disconnected" });
    await assert.rejects(client.emitWithAck("z"), { code: "disconnected" });
  });

  test("a server emit with an id gets the handler's return value as ack", async () => {
    const { client, ws } = await open();
    client.on("sum", ({ a, b }) => a + b);
    client.on("later", async (d) => ({ echoed: d }));
    client.on("fails", () => {
      throw new Error("boom");
    });
    client.on("refuses", async () => {
      throw Object.assign(new Error("not you"), { code: "forbidden" });
    });
    client.on("nothing", () => undefined);
    ws.push([
      { t: "emit", ev: "sum", id: 1, d: { a: 2, b: 3 } },
      { t: "emit", ev: "later", id: 2, d: "x" },
      { t: "emit", ev: "fails", id: 3 },
      { t: "emit", ev: "refuses", id: 4 },
      { t: "emit", ev: "nothing", id: 5 },
      { t: "emit", ev: "nobody-listens", id: 6 },
    ]);
    await settle();
    const acks = ws.framesOf("ack").sort((x, y) => x.id - y.id);
    assert.deepEqual(acks, [
      { t: "ack", id: 1, d: 5 },
      { t: "ack", id: 2, d: { echoed: "x" } },
      { t: "ack", id: 3, err: { code: "internal", msg: "boom" } },
      { t: "ack", id: 4, err: { code: "forbidden", msg: "not you" } },
      { t: "ack", id: 5 },
      { t: "ack", id: 6, err: { code: "unknown_event", msg: 'no handler for event "nobody-listens"' } },
    ]);
    client.close();
  });

  test("a throwing handler without an ack id is reported, not swallowed", async () => {
    const { client, ws, of } = await open();
    client.on("bad", () => {
      throw new Error("oops");
    });
    client.on("bad", () => {}); // the next handler still runs
    ws.push({ t: "emit", ev: "bad" });
    const [e] = of("error");
    assert.equal(e.code, "handler");
    assert.equal(e.event, "bad");
    assert.match(e.msg, /oops/);
    client.close();
  });

  test("an ack for a server request is not sent on a newer connection", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, ws, srv } = await open();
    let release;
    client.on("ask", () => new Promise((r) => (release = r)));
    ws.push({ t: "emit", ev: "ask", id: 9 });
    ws.drop(1006);
    t.mock.timers.tick(10000);
    srv.last.hello("S2");
    release("answer");
    await settle();
    assert.equal(srv.last.framesOf("ack").length, 0);
    assert.equal(ws.framesOf("ack").length, 0);
    client.close();
  });
});

describe("rooms", () => {
  test("join sends history and resolves with the JoinResult; leave", async () => {
    const { client, ws } = await open();
    const p = client.join("lobby", { history: 20 });
    await settle();
    const [j] = ws.framesOf("join");
    assert.deepEqual(j, { t: "join", id: j.id, room: "lobby", history: 20 });
    const result = { room: "lobby", pos: { epoch: "E1", off: 4 }, recovered: true, replayed: 0 };
    ws.push({ t: "ack", id: j.id, d: result });
    assert.deepEqual(await p, result);
    assert.deepEqual(client.rooms(), ["lobby"]);
    assert.deepEqual(client.position("lobby"), { epoch: "E1", off: 4 });
    assert.deepEqual(await client.join("lobby"), result, "joining again resolves with the latest result");
    assert.equal(ws.framesOf("join").length, 1);

    const got = [];
    client.on("m", (d) => got.push(d));
    ws.push({ t: "emit", ev: "m", room: "lobby", off: 5, d: "five" });
    const lp = client.leave("lobby");
    await settle();
    const [l] = ws.framesOf("leave");
    assert.deepEqual(l, { t: "leave", id: l.id, room: "lobby" });
    ws.push({ t: "emit", ev: "m", room: "lobby", off: 6, d: "after leave" }); // in flight: dropped
    ws.push({ t: "ack", id: l.id, d: { room: "lobby" } });
    assert.deepEqual(await lp, { room: "lobby" });
    assert.deepEqual(got, ["five"]);
    assert.deepEqual(client.rooms(), []);
    assert.deepEqual(await client.leave("lobby"), { room: "lobby" }, "leaving again is a no-op");
    client.close();
  });

  test("history replayed on join is delivered before the join resolves, marked replayed", async () => {
    const { client, ws } = await open();
    const got = [];
    client.on("m", (d, meta) => got.push([d, meta.off, !!meta.replayed]));
    const p = client.join("r", { history: 2 });
    await settle();
    ws.push([
      { t: "emit", ev: "m", room: "r", off: 9, d: "old9" },
      { t: "emit", ev: "m", room: "r", off: 10, d: "old10" },
    ]);
    assert.deepEqual(got, [], "held until the ack");
    ws.push({ t: "emit", ev: "m", room: "r", off: 11, d: "live11" });
    ackJoin(ws, { pos: { epoch: "E", off: 10 }, replayed: 2 });
    assert.deepEqual(got, [["old9", 9, true], ["old10", 10, true], ["live11", 11, false]]);
    await p;
    client.close();
  });

  test("a refused join rejects with the server's code and is forgotten", async () => {
    const { client, ws } = await open();
    const p = client.join("vip");
    await settle();
    const [j] = ws.framesOf("join");
    ws.push({ t: "ack", id: j.id, err: { code: "forbidden", msg: "members only" } });
    await assert.rejects(p, { code: "forbidden", message: "members only" });
    assert.deepEqual(client.rooms(), []);
    client.close();
  });

  test("a join made offline is sent after the hello", async () => {
    const srv = fakeServer();
    const client = connect("ws://h/ws", { ...wsOnly(srv) });
    const p = client.join("later");
    await settle();
    const ws = srv.last;
    ws.hello();
    await settle();
    ackJoin(ws, { pos: { epoch: "E", off: 0 } });
    assert.equal((await p).room, "later");
    client.close();
  });

  test("duplicate offsets (≤ the last seen) are ignored", async () => {
    const { client, ws } = await open();
    const got = [];
    client.on("m", (d, { off }) => got.push(off));
    const p = client.join("r");
    await settle();
    ackJoin(ws, { pos: { epoch: "E", off: 3 } });
    await p;
    for (const off of [3, 4, 5, 5, 4, 6, 2, 7]) ws.push({ t: "emit", ev: "m", room: "r", off, d: off });
    assert.deepEqual(got, [4, 5, 6, 7]);
    assert.deepEqual(client.position("r"), { epoch: "E", off: 7 });
    client.close();
  });

  test("leave during a pending join rejects the join with code left", async () => {
    const { client, ws } = await open();
    const jp = client.join("r");
    await settle();
    const lp = client.leave("r");
    await assert.rejects(jp, { code: "left" });
    await settle();
    assert.deepEqual(ws.frames().map((f) => f.t), ["join", "leave"], "the server gets both, in order");
    ackJoin(ws, { pos: { epoch: "E", off: 0 } }); // stale: ignored
    ws.push({ t: "ack", id: ws.framesOf("leave")[0].id, d: { room: "r" } });
    assert.deepEqual(await lp, { room: "r" });
    assert.deepEqual(client.rooms(), []);
    client.close();
  });

  test("a refused leave keeps the room", async () => {
    const { client, ws } = await open();
    const jp = client.join("r");
    await settle();
    ackJoin(ws, { pos: { epoch: "E", off: 0 } });
    await jp;
    const lp = client.leave("r");
    await settle();
    ws.push({ t: "ack", id: ws.framesOf("leave")[0].id, err: { code: "overloaded", msg: "slow down" } });
    await assert.rejects(lp, { code: "overloaded" });
    assert.deepEqual(client.rooms(), ["r"]);
    client.close();
  });

  test("a join without an ack times out and is forgotten", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client } = await open({ ackTimeout: 2000 });
    const p = client.join("r");
    await settle();
    t.mock.timers.tick(2000);
    await assert.rejects(p, { code: "timeout" });
    assert.deepEqual(client.rooms(), []);
    client.close();
  });

  test("events of rooms joined by the server are delivered", async () => {
    const { client, ws } = await open();
    const got = [];
    client.on("m", (d, meta) => got.push(meta));
    ws.push({ t: "emit", ev: "m", room: "server-side", off: 1 });
    assert.deepEqual(got, [{ room: "server-side", off: 1 }]);
    client.close();
  });
});

describe("presence", () => {
  test("list from the join ack, kept by notices; one entry per user, two tabs count", async () => {
    const { client, ws, of } = await open();
    const p = client.join("doc");
    await settle();
    // alice (us) has two tabs in the room; bob one.
    ackJoin(ws, {
      pos: { epoch: "E", off: 0 },
      presence: [
        { user: "alice", meta: { name: "Alice" }, conns: 2 },
        { user: "bob", conns: 1 },
      ],
    });
    await p;
    assert.deepEqual(client.presence("doc"), [
      { user: "alice", meta: { name: "Alice" }, conns: 2 },
      { user: "bob", meta: undefined, conns: 1 },
    ]);
    assert.deepEqual(of("presence")[0].ev, "sync");
    ws.push({ t: "presence", ev: "join", room: "doc", user: "carol", meta: { name: "Carol" } });
    ws.push({ t: "presence", ev: "join", room: "doc", user: "alice" }); // already listed: one entry
    ws.push({ t: "presence", ev: "leave", room: "doc", user: "bob" });
    assert.deepEqual(client.presence("doc").map((e) => [e.user, e.conns]), [["alice", 2], ["carol", 1]]);
    assert.deepEqual(of("presence").slice(1), [
      { room: "doc", ev: "join", user: "carol", meta: { name: "Carol" } },
      { room: "doc", ev: "leave", user: "bob" },
    ]);
    assert.deepEqual(client.presence("elsewhere"), []);
    client.close();
  });

  test("notices that arrive before the join ack are applied after its list", async () => {
    const { client, ws } = await open();
    const p = client.join("doc");
    await settle();
    // the ack's list was read after dave left: the notice must still win
    ws.push({ t: "presence", ev: "leave", room: "doc", user: "dave" });
    ws.push({ t: "presence", ev: "join", room: "doc", user: "erin" });
    ackJoin(ws, {
      pos: { epoch: "E", off: 0 },
      presence: [{ user: "alice", conns: 1 }, { user: "dave", conns: 1 }],
    });
    await p;
    assert.deepEqual(client.presence("doc").map((e) => e.user), ["alice", "erin"]);
    client.close();
  });
});

describe("offline buffer", () => {
  test("bounded, oldest dropped with an error; volatile dropped; flushed in order after the hello", async () => {
    const srv = fakeServer();
    const client = connect("ws://h/ws", { ...wsOnly(srv), maxOfflineBuffer: 3 });
    const errors = [];
    client.onState("error", (e) => errors.push(e));
    for (const n of [1, 2, 3, 4, 5]) client.emit("n", n);
    client.emit("v", "volatile", { volatile: true });
    assert.deepEqual(errors.map((e) => [e.code, e.event]), [
      ["offline_buffer_full", "n"],
      ["offline_buffer_full", "n"],
    ]);
    const ws = srv.last;
    ws.hello();
    await settle();
    assert.deepEqual(ws.frames().map((f) => [f.ev, f.d]), [["n", 3], ["n", 4], ["n", 5]]);
    client.close();
  });

  test("an emitWithAck evicted from the buffer rejects with code dropped", async () => {
    const srv = fakeServer();
    const client = connect("ws://h/ws", { ...wsOnly(srv), maxOfflineBuffer: 1 });
    client.onState("error", () => {});
    const p = client.emitWithAck("first");
    client.emit("second");
    await assert.rejects(p, { code: "dropped" });
    client.close();
  });

  test("emits buffered across a reconnect go after the rejoins; acks made offline resolve", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, ws, srv } = await open();
    const jp = client.join("r");
    await settle();
    ackJoin(ws, { pos: { epoch: "E", off: 2 } });
    await jp;
    ws.drop(1006);
    client.emit("offline", 1);
    client.emit("gone", 2, { volatile: true });
    const ap = client.emitWithAck("q", 3);
    t.mock.timers.tick(500); // the first reconnect waits at most backoff.initial; the ack timeout keeps running
    const ws2 = srv.last;
    assert.notEqual(ws2, ws);
    ws2.hello("S2");
    await settle();
    const frames = ws2.frames();
    assert.deepEqual(frames.map((f) => f.t + ":" + (f.ev || f.room)), ["join:r", "emit:offline", "emit:q"]);
    ws2.push({ t: "ack", id: frames[2].id, d: "ok" });
    assert.equal(await ap, "ok");
    client.close();
  });

  test("an emitWithAck that times out while offline is not sent later", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const srv = fakeServer();
    const client = connect("ws://h/ws", { ...wsOnly(srv), ackTimeout: 100 });
    const p = client.emitWithAck("q");
    t.mock.timers.tick(100);
    await assert.rejects(p, { code: "timeout" });
    srv.last.hello();
    await settle();
    assert.deepEqual(srv.last.frames(), []);
    client.close();
  });

  test("emit after close() is dropped with an error, never silently", async () => {
    const { client, ws, of } = await open();
    client.close();
    client.emit("late", 1);
    assert.equal(of("error")[0].code, "closed");
    assert.equal(ws.sent.length, 0);
  });
});

describe("reconnect", () => {
  test("backoff delays grow by factor, are capped at max, and jitter stays within bounds", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    for (const [random, lo] of [[0, 1], [0.999999, 0.5]]) {
      mock.method(Math, "random", () => random);
      const srv = fakeServer();
      const client = connect("ws://h/ws", { ...wsOnly(srv) });
      const attempts = [];
      client.onState("reconnect_attempt", (a) => attempts.push(a));
      const bases = [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000];
      for (let i = 0; i < bases.length; i++) {
        assert.equal(srv.sockets.length, i + 1);
        srv.last.drop(1006);
        assert.equal(client.state, "reconnecting");
        const { attempt, delay } = attempts[i];
        assert.equal(attempt, i + 1);
        assert.ok(delay <= bases[i] && delay >= Math.floor(bases[i] * lo), `attempt ${attempt}: ${delay} for base ${bases[i]}`);
        t.mock.timers.tick(delay - 1);
        assert.equal(srv.sockets.length, i + 1, "no attempt before the delay");
        t.mock.timers.tick(1);
      }
      if (random === 0) assert.deepEqual(attempts.map((a) => a.delay), bases);
      else assert.deepEqual(attempts.map((a) => a.delay), bases.map((b) => Math.round(b * (1 - 0.5 * random))));
      client.close();
      mock.restoreAll();
    }
  });

  test("custom backoff; the schedule restarts after a successful hello; reconnect event", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    mock.method(Math, "random", () => 0);
    const srv = fakeServer();
    const client = connect("ws://h/ws", {
      ...wsOnly(srv),
      backoff: { initial: 100, factor: 3, max: 1000, jitter: 0 },
    });
    const delays = [];
    const reconnects = [];
    client.onState("reconnect_attempt", (a) => delays.push(a.delay));
    client.onState("reconnect", (r) => reconnects.push(r));
    srv.last.hello();
    srv.last.drop(1006);
    t.mock.timers.tick(100);
    srv.last.drop(1006);
    t.mock.timers.tick(300);
    srv.last.drop(1006);
    t.mock.timers.tick(900);
    srv.last.hello("S2");
    assert.deepEqual(reconnects, [{ attempt: 3 }]);
    srv.last.drop(1006);
    assert.deepEqual(delays, [100, 300, 900, 100]);
    client.close();
  });

  test("maxAttempts gives up with reconnect_failed", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const srv = fakeServer();
    const client = connect("ws://h/ws", { ...wsOnly(srv), maxAttempts: 2, backoff: { jitter: 0 } });
    let failed = null;
    client.onState("reconnect_failed", (f) => (failed = f));
    srv.last.drop(1006);
    t.mock.timers.tick(500);
    srv.last.drop(1006);
    t.mock.timers.tick(1000);
    srv.last.drop(1006);
    assert.deepEqual(failed, { attempts: 2 });
    assert.equal(client.state, "closed");
    assert.equal(srv.sockets.length, 3);
  });

  test("close codes: 1000 and 1008 stop; 1001, 4008, 1006, 1011 reconnect", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    for (const [code, again] of [[1000, false], [1008, false], [1002, false], [1001, true], [4008, true], [1006, true], [1011, true]]) {
      const { client, srv, ws, of } = await open();
      ws.drop(code, "why");
      assert.deepEqual(of("disconnect"), [{ code, reason: "why" }]);
      assert.equal(client.state, again ? "reconnecting" : "closed", `code ${code}`);
      t.mock.timers.tick(60000);
      assert.equal(srv.sockets.length, again ? 2 : 1, `code ${code}`);
      client.close();
    }
  });

  test("reconnect: false stays closed", async () => {
    const { client, ws } = await open({ reconnect: false });
    ws.drop(1006);
    assert.equal(client.state, "closed");
  });

  test("a close frame (transports without close frames) ends the session like a close code", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, srv, ws, of } = await open();
    const got = [];
    client.on("m", (d) => got.push(d));
    ws.push([{ t: "close", close: { code: 4008, reason: "slow consumer" } }, { t: "emit", ev: "m", d: "after close" }]);
    assert.deepEqual(of("disconnect"), [{ code: 4008, reason: "slow consumer" }]);
    assert.deepEqual(got, []);
    assert.equal(client.state, "reconnecting");
    assert.ok(ws.closedWith);
    t.mock.timers.tick(10000);
    assert.equal(srv.sockets.length, 2);
    client.close();
  });

  test("a failure before the hello is a connect_error, not a disconnect", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const srv = fakeServer();
    const client = connect("ws://h/ws", { ...wsOnly(srv) });
    const seen = [];
    client.onState("connect_error", (e) => seen.push(["connect_error", e.code]));
    client.onState("disconnect", (e) => seen.push(["disconnect", e.code]));
    srv.last.drop(1006);
    assert.deepEqual(seen, [["connect_error", 1006]]);
    assert.equal(client.state, "reconnecting");
    client.close();
  });

  test("close() during a reconnect delay stops it", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, srv, ws } = await open();
    ws.drop(1001);
    client.close();
    t.mock.timers.tick(60000);
    assert.equal(srv.sockets.length, 1);
    assert.equal(client.state, "closed");
  });

  test("rooms are rejoined with since {epoch, off}; replayed events arrive once; recovered event", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, srv, ws, of } = await open();
    const got = [];
    client.on("m", (d, meta) => got.push(`${meta.room}:${meta.off}`));
    const pa = client.join("a", { history: 5 });
    const pb = client.join("b");
    await settle();
    const [ja, jb] = ws.framesOf("join");
    ws.push({ t: "ack", id: ja.id, d: { room: "a", pos: { epoch: "EA", off: 10 }, recovered: true, replayed: 0 } });
    ws.push({ t: "ack", id: jb.id, d: { room: "b", pos: { epoch: "EB", off: 0 }, recovered: true, replayed: 0 } });
    await Promise.all([pa, pb]);
    ws.push([
      { t: "emit", ev: "m", room: "a", off: 11 },
      { t: "emit", ev: "m", room: "a", off: 12 },
      { t: "emit", ev: "m", room: "b", off: 1 },
    ]);
    ws.drop(1006);
    t.mock.timers.tick(10000);
    const ws2 = srv.last;
    ws2.hello("S2");
    await settle();
    const joins = ws2.framesOf("join");
    assert.deepEqual(
      joins.map((j) => ({ room: j.room, since: j.since, history: j.history })),
      [
        { room: "a", since: { epoch: "EA", off: 12 }, history: undefined },
        { room: "b", since: { epoch: "EB", off: 1 }, history: undefined },
      ],
    );
    // the server replays what was missed (and the client ignores what it had)
    ws2.push([
      { t: "emit", ev: "m", room: "a", off: 12 },
      { t: "emit", ev: "m", room: "a", off: 13 },
      { t: "emit", ev: "m", room: "a", off: 14 },
      { t: "ack", id: joins[0].id, d: { room: "a", pos: { epoch: "EA", off: 14 }, recovered: true, replayed: 2 } },
      { t: "emit", ev: "m", room: "a", off: 14 },
      { t: "emit", ev: "m", room: "a", off: 15 },
      { t: "ack", id: joins[1].id, d: { room: "b", pos: { epoch: "EB", off: 1 }, recovered: true, replayed: 0 } },
    ]);
    assert.deepEqual(got, ["a:11", "a:12", "b:1", "a:13", "a:14", "a:15"]);
    assert.deepEqual(of("recovered"), [{ room: "a", replayed: 2 }, { room: "b", replayed: 0 }]);
    assert.deepEqual(of("resync"), []);
    assert.deepEqual(client.position("a"), { epoch: "EA", off: 15 });
    client.close();
  });

  test("resync on recovered:false; offsets of a new epoch are not taken for duplicates", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, srv, ws, of } = await open();
    const got = [];
    client.on("m", (d, meta) => got.push(`${meta.off}`));
    const p = client.join("r");
    await settle();
    ackJoin(ws, { pos: { epoch: "OLD", off: 50 } });
    await p;
    ws.drop(4008, "slow consumer");
    t.mock.timers.tick(10000);
    const ws2 = srv.last;
    ws2.hello("S2");
    await settle();
    const [j] = ws2.framesOf("join");
    assert.deepEqual(j.since, { epoch: "OLD", off: 50 });
    // the room was recreated: a live event of the new epoch (off 1) can
    // reach the client before the ack
    ws2.push({ t: "emit", ev: "m", room: "r", off: 1 });
    ws2.push({ t: "ack", id: j.id, d: { room: "r", pos: { epoch: "NEW", off: 0 }, recovered: false, replayed: 0 } });
    assert.deepEqual(of("resync"), [{ room: "r", pos: { epoch: "NEW", off: 0 } }]);
    assert.deepEqual(got, ["1"]);
    assert.deepEqual(client.position("r"), { epoch: "NEW", off: 1 });
    ws2.push({ t: "emit", ev: "m", room: "r", off: 2 });
    assert.deepEqual(got, ["1", "2"]);
    client.close();
  });

  test("a refused rejoin is reported with the room and forgotten", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, srv, ws, of } = await open();
    const p = client.join("r");
    await settle();
    ackJoin(ws, { pos: { epoch: "E", off: 1 } });
    await p;
    ws.drop(1001);
    t.mock.timers.tick(10000);
    srv.last.hello("S2");
    await settle();
    const [j] = srv.last.framesOf("join");
    srv.last.push({ t: "ack", id: j.id, err: { code: "forbidden", msg: "banned" } });
    assert.deepEqual(of("error").map((e) => [e.code, e.room]), [["forbidden", "r"]]);
    assert.deepEqual(client.rooms(), []);
    client.close();
  });

  test("a join in flight when the connection drops completes on the next connection", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, srv, ws } = await open();
    const p = client.join("r", { history: 3 });
    await settle();
    ws.drop(1006);
    t.mock.timers.tick(10000);
    srv.last.hello("S2");
    await settle();
    const [j] = srv.last.framesOf("join");
    assert.equal(j.history, 3);
    assert.equal(j.since, undefined);
    ackJoin(srv.last, { pos: { epoch: "E", off: 0 } });
    assert.equal((await p).room, "r");
    client.close();
  });

  test("open() after close() reconnects and rejoins remembered rooms", async () => {
    const { client, srv, ws } = await open();
    const p = client.join("r");
    await settle();
    ackJoin(ws, { pos: { epoch: "E", off: 7 } });
    await p;
    client.close();
    client.open();
    assert.equal(client.state, "connecting");
    srv.last.hello("S3");
    await settle();
    assert.deepEqual(srv.last.framesOf("join")[0].since, { epoch: "E", off: 7 });
    client.close();
  });
});

// ---------------------------------------------------------------------------
// Heartbeat, HTTP transports and fallback.

/** A fake EventSource "server side": the test opens streams, sends events and errors. */
function fakeEventSources() {
  const list = [];
  class FakeEventSource {
    constructor(url, init) {
      this.url = String(url);
      this.withCredentials = !!(init && init.withCredentials);
      this.readyState = 0;
      this.closed = false;
      this.lastEventId = "";
      this.onopen = this.onmessage = this.onerror = null;
      list.push(this);
    }
    close() {
      this.closed = true;
      this.readyState = 2;
    }
    // server side
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    event(data, id) {
      if (id !== undefined) this.lastEventId = id;
      this.onmessage?.({ data: typeof data === "string" ? data : JSON.stringify(data), lastEventId: this.lastEventId });
    }
    hello(token = "TOK", sid = "sid-1", user = "alice") {
      this.open();
      this.event({ t: "hello", v: 1, sid, user }, `${token}.1`);
    }
    /** An error: readyState 0 (the browser reconnects) or 2 (it gave up). */
    error(readyState) {
      this.readyState = readyState;
      this.onerror?.({});
    }
  }
  return {
    FakeEventSource,
    list,
    get last() {
      return list[list.length - 1];
    },
  };
}

function fakeResponse(status, body) {
  const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  return { status, ok: status >= 200 && status < 300, text: async () => text };
}

/**
 * A fake fetch: records every request; POST and DELETE are answered 204 at
 * once unless holdPosts; polls wait for the test to answer them.
 */
function fakeFetch({ holdPosts = false } = {}) {
  const reqs = [];
  const fetch = (url, init = {}) =>
    new Promise((resolve, reject) => {
      const r = {
        url: new URL(url),
        method: init.method || "GET",
        body: init.body,
        init,
        answered: false,
        respond(status, body) {
          r.answered = true;
          resolve(fakeResponse(status, body));
        },
        fail(err = new TypeError("fetch failed")) {
          r.answered = true;
          reject(err);
        },
      };
      init.signal?.addEventListener("abort", () => r.fail(Object.assign(new Error("aborted"), { name: "AbortError" })));
      reqs.push(r);
      if ((r.method === "POST" && !holdPosts) || r.method === "DELETE") r.respond(204);
    });
  const of = (method) => reqs.filter((r) => r.method === method);
  return {
    fetch,
    reqs,
    of,
    /** The poll waiting for an answer. */
    get poll() {
      const polls = of("GET").filter((r) => !r.answered);
      assert.equal(polls.length, 1, `${polls.length} polls waiting`);
      return polls[0];
    },
    /** Every frame POSTed so far, batches flattened. */
    posted() {
      return of("POST").flatMap((r) => {
        const m = JSON.parse(r.body);
        return Array.isArray(m) ? m : [m];
      });
    },
  };
}

const hello = (sid = "sid-1", user = "alice") => ({ t: "hello", v: 1, sid, user });

/** Events of a client, by name. */
function record(client) {
  const events = [];
  for (const name of [
    "state", "connect", "disconnect", "connect_error", "reconnect_attempt", "reconnect",
    "reconnect_failed", "error", "presence", "resync", "recovered", "transport",
  ]) {
    client.onState(name, (p) => events.push([name, p]));
  }
  return (n) => events.filter((e) => e[0] === n).map((e) => e[1]);
}

describe("heartbeat", () => {
  test("a ping every pingInterval; a pong (or any message) keeps the connection", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, ws, of } = await open({ pingInterval: 1000, pongTimeout: 500 });
    const pings = () => ws.sent.filter((m) => m === '{"t":"ping"}').length;
    t.mock.timers.tick(999);
    assert.equal(pings(), 0);
    t.mock.timers.tick(1);
    assert.equal(pings(), 1);
    ws.push({ t: "pong" });
    t.mock.timers.tick(1000);
    assert.equal(pings(), 2);
    ws.push({ t: "emit", ev: "anything" }); // any message proves the connection alive
    t.mock.timers.tick(1000);
    assert.equal(pings(), 3);
    ws.push({ t: "pong" });
    assert.equal(client.state, "open");
    assert.deepEqual(of("disconnect"), []);
    assert.deepEqual(of("error"), [], "pong is not an unknown frame");
    client.close();
    t.mock.timers.tick(10000);
    assert.equal(pings(), 3, "no ping after close()");
  });

  test("no message within pongTimeout of a ping closes the connection and reconnects", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, srv, ws, of } = await open({ pingInterval: 1000, pongTimeout: 500, backoff: { jitter: 0 } });
    t.mock.timers.tick(1000);
    t.mock.timers.tick(499);
    assert.equal(client.state, "open");
    t.mock.timers.tick(1);
    assert.deepEqual(of("disconnect"), [{ code: 1006, reason: "no pong within 500 ms" }]);
    assert.equal(client.state, "reconnecting");
    assert.ok(ws.closedWith, "the socket was closed");
    t.mock.timers.tick(500);
    assert.equal(srv.sockets.length, 2);
    srv.last.hello("S2");
    assert.equal(client.state, "open");
    client.close();
  });

  test("pingInterval 0 disables the heartbeat; pings are not sent while offline", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, srv, ws } = await open({ pingInterval: 0 });
    t.mock.timers.tick(120000);
    assert.deepEqual(ws.sent, []);
    client.close();
    const c2 = connect("ws://h/ws", { ...wsOnly(srv), pingInterval: 100 });
    t.mock.timers.tick(1000);
    assert.deepEqual(srv.last.sent, [], "not open yet: no ping");
    c2.close();
  });
});

describe("transports", () => {
  test("default order websocket → sse → longpoll; probe timeout; the working one is remembered", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    mock.method(Math, "random", () => 0);
    const srv = fakeServer();
    const es = fakeEventSources();
    const net = fakeFetch();
    const client = connect("http://h/app/ws", {
      WebSocket: srv.FakeWebSocket,
      EventSource: es.FakeEventSource,
      fetch: net.fetch,
      auth: { token: "k" },
      probeTimeout: 1000,
      pingInterval: 0,
      backoff: { jitter: 0 },
    });
    const of = record(client);
    assert.equal(client.transport, null);
    assert.equal(srv.last.url, "ws://h/app/ws?token=k");
    srv.last.drop(1006); // the WebSocket does not open
    await settle();
    assert.equal(es.list.length, 1, "SSE is tried at once");
    assert.equal(es.last.url, "http://h/app/sse?token=k");
    es.last.open(); // the stream opens but nothing comes through (a buffering proxy)
    t.mock.timers.tick(999);
    assert.equal(net.reqs.length, 0);
    t.mock.timers.tick(1);
    assert.ok(es.last.closed, "the silent stream is dropped");
    await settle();
    const opening = net.poll;
    assert.equal(opening.url.href, "http://h/app/sse?token=k&mode=poll");
    assert.deepEqual(of("connect_error").map((e) => e.reason), ["", "no hello within 1000 ms (probeTimeout)"]);
    assert.equal(client.state, "connecting");
    assert.deepEqual(of("reconnect_attempt"), [], "fallbacks are not backoff attempts");

    opening.respond(200, { session: "T", cursor: 1, frames: [hello("S1")] });
    await settle();
    assert.equal(client.state, "open");
    assert.equal(client.transport, "longpoll");
    assert.deepEqual(of("transport"), [{ transport: "longpoll", previous: null }]);
    const poll = net.poll;
    assert.equal(poll.url.searchParams.get("session"), "T");
    assert.equal(poll.url.searchParams.get("cursor"), "1");
    assert.equal(poll.url.searchParams.get("mode"), "poll");

    // The session is lost: the next attempt goes to long-poll directly.
    poll.respond(404, { error: "unknown_session", reason: "gone" });
    await settle();
    assert.equal(of("disconnect").length, 1);
    t.mock.timers.tick(500);
    await settle();
    assert.equal(srv.sockets.length, 1, "no new WebSocket");
    assert.equal(es.list.length, 1, "no new EventSource");
    net.poll.respond(200, { session: "T2", cursor: 1, frames: [hello("S2")] });
    await settle();
    assert.equal(client.sid, "S2");
    assert.deepEqual(of("transport").length, 1, "same transport: no event");
    client.close();
  });

  test("when every transport fails the round backs off and starts again", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    mock.method(Math, "random", () => 0);
    const srv = fakeServer();
    const es = fakeEventSources();
    const net = fakeFetch();
    const client = connect("ws://h/ws", {
      WebSocket: srv.FakeWebSocket, EventSource: es.FakeEventSource, fetch: net.fetch,
      pingInterval: 0, backoff: { jitter: 0 },
    });
    const of = record(client);
    srv.last.drop(1006);
    await settle();
    es.last.error(2); // refused
    await settle();
    net.poll.respond(503, { error: "unavailable", reason: "server shutting down" });
    await settle();
    assert.equal(of("connect_error").length, 3);
    assert.deepEqual(of("reconnect_attempt"), [{ attempt: 1, delay: 500 }]);
    assert.equal(srv.sockets.length, 1);
    t.mock.timers.tick(500);
    assert.equal(srv.sockets.length, 2, "the next round starts with the WebSocket again");
    srv.last.hello();
    assert.equal(client.transport, "websocket");
    client.close();
  });

  test("a transport change is announced with the transport event", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    mock.method(Math, "random", () => 0);
    const srv = fakeServer();
    const es = fakeEventSources();
    const net = fakeFetch();
    const client = connect("ws://h/ws", {
      WebSocket: srv.FakeWebSocket, EventSource: es.FakeEventSource, fetch: net.fetch,
      pingInterval: 0, backoff: { jitter: 0 },
    });
    const of = record(client);
    srv.last.hello("S1");
    assert.equal(client.transport, "websocket");
    assert.deepEqual(of("transport"), [{ transport: "websocket", previous: null }]);
    srv.last.drop(1006);
    t.mock.timers.tick(500);
    assert.equal(srv.sockets.length, 2, "the remembered WebSocket first");
    srv.last.drop(1006); // WebSockets stopped getting through
    await settle();
    es.last.hello("TOK", "S2");
    assert.equal(client.transport, "sse");
    assert.deepEqual(of("transport"), [
      { transport: "websocket", previous: null },
      { transport: "sse", previous: "websocket" },
    ]);
    const names = [];
    client.onState("transport", () => names.push(client.transport));
    client.onState("connect", () => names.push(`connect:${client.transport}`));
    es.last.error(2);
    t.mock.timers.tick(500);
    assert.equal(es.list.length, 2, "now SSE is tried first");
    assert.equal(srv.sockets.length, 2);
    es.last.hello("TOK2", "S3");
    assert.deepEqual(names, ["connect:sse"], "no transport event without a change");
    client.close();
  });

  test("a single entry in transports forces that transport", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const srv = fakeServer();
    const es = fakeEventSources();
    const net = fakeFetch();
    const client = connect("http://h/ws", {
      WebSocket: srv.FakeWebSocket, EventSource: es.FakeEventSource, fetch: net.fetch,
      transports: ["sse"], urls: { sse: "https://rt.example.com/events" }, pingInterval: 0,
    });
    const of = record(client);
    assert.equal(srv.sockets.length, 0);
    assert.equal(es.last.url, "https://rt.example.com/events");
    es.last.error(2);
    await settle();
    assert.equal(es.list.length, 1);
    assert.equal(of("reconnect_attempt").length, 1, "backoff, not fallback");
    t.mock.timers.tick(10000);
    assert.equal(es.list.length, 2);
    assert.equal(srv.sockets.length, 0);
    assert.equal(net.reqs.length, 0);
    es.last.hello();
    assert.equal(client.transport, "sse");
    client.close();
  });

  test("URLs: /ws becomes /sse for SSE and long-poll; opts.urls wins; relative URLs use location", () => {
    globalThis.location = { href: "https://chat.example.com/room/1" };
    const es = fakeEventSources();
    const c = connect("/api/ws", { EventSource: es.FakeEventSource, transports: ["sse"], pingInterval: 0 });
    assert.equal(es.last.url, "https://chat.example.com/api/sse");
    c.close();
    const c2 = connect("wss://h/rt", { EventSource: es.FakeEventSource, transports: ["sse"], pingInterval: 0 });
    assert.equal(es.last.url, "https://h/rt", "no /ws suffix: same path, http scheme");
    c2.close();
    const net = fakeFetch();
    const c3 = connect("/ws", { fetch: net.fetch, transports: ["longpoll"], urls: { longpoll: "/poll" }, pingInterval: 0 });
    assert.equal(net.reqs[0].url.href, "https://chat.example.com/poll?mode=poll");
    c3.close();
  });

  test("without EventSource (node) SSE is skipped, reported once", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const srv = fakeServer();
    const net = fakeFetch();
    const client = connect("ws://h/ws", { WebSocket: srv.FakeWebSocket, fetch: net.fetch, pingInterval: 0 });
    const of = record(client);
    srv.last.drop(1006);
    await settle();
    await settle();
    assert.equal(of("error").length, 1);
    assert.match(of("error")[0].msg, /EventSource/);
    net.poll.respond(200, { session: "T", cursor: 1, frames: [hello()] });
    await settle();
    assert.equal(client.transport, "longpoll");
    net.poll.respond(404, {});
    await settle();
    t.mock.timers.tick(10000);
    await settle();
    assert.equal(of("error").length, 1, "not reported again");
    client.close();
  });
});

describe("sse transport", () => {
  /** An open client over a fake EventSource. */
  async function sseClient(opts = {}) {
    const es = fakeEventSources();
    const net = fakeFetch(opts.net);
    const client = connect("http://h/ws", {
      EventSource: es.FakeEventSource, fetch: net.fetch, transports: ["sse"], pingInterval: 0,
      auth: { token: "k" }, ...opts,
    });
    const of = record(client);
    const stream = es.last;
    stream.hello("TOK");
    await settle();
    return { client, es, net, stream, of };
  }

  test("hello over the stream; frames POSTed with the session token, in order, batched while a POST is in flight", async () => {
    const { client, net, stream, of } = await sseClient({ net: { holdPosts: true } });
    assert.equal(stream.url, "http://h/sse?token=k");
    assert.equal(client.state, "open");
    assert.equal(client.transport, "sse");
    assert.deepEqual(of("transport"), [{ transport: "sse", previous: null }]);
    const got = [];
    client.on("m", (d) => got.push(d));
    stream.event([{ t: "emit", ev: "m", d: 1 }, { t: "emit", ev: "m", d: 2 }], "TOK.3");
    assert.deepEqual(got, [1, 2]);

    client.emit("a", 1);
    await settle();
    client.emit("b", 2);
    await settle();
    client.emit("c", 3);
    await settle();
    const posts = net.of("POST");
    assert.equal(posts.length, 1, "one POST at a time");
    assert.equal(posts[0].url.href, "http://h/sse?token=k&session=TOK");
    assert.equal(posts[0].init.headers["Content-Type"], "text/plain;charset=UTF-8", "no CORS preflight");
    posts[0].respond(204);
    await settle();
    assert.equal(net.of("POST").length, 2);
    assert.deepEqual(JSON.parse(net.of("POST")[1].body).map((f) => f.ev), ["b", "c"], "written meanwhile: one batch");
    net.of("POST")[1].respond(204);
    await settle();
    assert.deepEqual(net.posted().map((f) => f.ev), ["a", "b", "c"]);

    client.close();
    const [del] = net.of("DELETE");
    assert.equal(del.url.href, "http://h/sse?token=k&session=TOK");
    assert.equal(del.init.keepalive, true);
    assert.ok(stream.closed);
  });

  test("the EventSource resumes by itself: the client stays open; not back within resumeTimeout → reconnect", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, es, stream, of } = await sseClient({ resumeTimeout: 3000 });
    stream.error(0); // CONNECTING: the browser reconnects with Last-Event-ID
    assert.equal(client.state, "open");
    t.mock.timers.tick(2000);
    stream.open(); // back
    stream.event({ t: "emit", ev: "x" }, "TOK.2");
    t.mock.timers.tick(5000);
    assert.equal(client.state, "open");
    assert.deepEqual(of("disconnect"), []);

    stream.error(0);
    t.mock.timers.tick(3000);
    assert.deepEqual(of("disconnect"), [{ code: 1006, reason: "SSE stream lost and not resumed within 3000 ms" }]);
    assert.ok(stream.closed);
    t.mock.timers.tick(10000);
    assert.equal(es.list.length, 2, "a new session");
    client.close();
  });

  test("a stream the browser gives up (session gone: 404/410) is a disconnect; rooms rejoin with since", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, es, net, stream, of } = await sseClient();
    const p = client.join("r");
    await settle();
    const [j] = net.posted().filter((f) => f.t === "join");
    stream.event({ t: "ack", id: j.id, d: { room: "r", pos: { epoch: "E", off: 5 }, recovered: true, replayed: 0 } }, "TOK.2");
    await p;
    stream.error(2);
    assert.equal(of("disconnect").length, 1);
    assert.equal(client.state, "reconnecting");
    t.mock.timers.tick(10000);
    es.last.hello("TOK2", "S2");
    await settle();
    const joins = net.posted().filter((f) => f.t === "join");
    assert.deepEqual(joins.at(-1).since, { epoch: "E", off: 5 });
    assert.equal(net.of("POST").at(-1).url.searchParams.get("session"), "TOK2");
    client.close();
  });

  test("resync: reconnect (4008) and rejoin with since; the old session is not DELETEd", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, es, net, stream, of } = await sseClient();
    const p = client.join("r");
    await settle();
    const [j] = net.posted().filter((f) => f.t === "join");
    stream.event({ t: "ack", id: j.id, d: { room: "r", pos: { epoch: "E", off: 9 }, recovered: true, replayed: 0 } }, "TOK.2");
    await p;
    stream.event({ t: "resync", err: { code: "not_recovered", msg: "frames 3 and later are gone" } });
    assert.deepEqual(of("disconnect"), [{ code: 4008, reason: "not recovered: frames 3 and later are gone" }]);
    assert.ok(stream.closed, "not resumed by the browser");
    assert.equal(net.of("DELETE").length, 0);
    t.mock.timers.tick(10000);
    es.last.hello("TOK2", "S2");
    await settle();
    assert.deepEqual(net.posted().filter((f) => f.t === "join").at(-1).since, { epoch: "E", off: 9 });
    client.close();
  });

  test("replaced: the reader is dropped without resuming or DELETE; the client opens a new session", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, es, net, stream, of } = await sseClient();
    const got = [];
    client.on("m", (d) => got.push(d));
    stream.event([{ t: "emit", ev: "m", d: 1 }, { t: "replaced", err: { code: "replaced", msg: "another stream" } }]);
    assert.deepEqual(got, [1], "frames before it are delivered");
    assert.ok(stream.closed);
    assert.equal(of("disconnect").length, 1);
    assert.match(of("disconnect")[0].reason, /^replaced/);
    assert.equal(net.of("DELETE").length, 0);
    t.mock.timers.tick(10000);
    assert.equal(es.list.length, 2);
    client.close();
  });

  test("a close frame ends the session without a DELETE; a refused POST is reported", async () => {
    const { client, net, stream, of } = await sseClient({ net: { holdPosts: true } });
    client.emit("big", 1);
    await settle();
    net.of("POST")[0].respond(413, { error: "too_large", reason: "body exceeds the limit" });
    await settle();
    assert.deepEqual(of("error").map((e) => e.code), ["too_large"]);
    assert.equal(client.state, "open");
    stream.event({ t: "close", close: { code: 1000, reason: "bye" } }, "TOK.9");
    assert.deepEqual(of("disconnect"), [{ code: 1000, reason: "bye" }]);
    assert.equal(client.state, "closed");
    assert.equal(net.of("DELETE").length, 0);
  });

  test("a POST that fails (network) or finds no session (404) ends the connection", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, net, es, of } = await sseClient({ net: { holdPosts: true } });
    const p = client.emitWithAck("q");
    const rejected = assert.rejects(p, { code: "disconnected" });
    await settle();
    net.of("POST")[0].fail();
    await settle();
    await rejected;
    assert.equal(of("disconnect").length, 1);
    t.mock.timers.tick(10000);
    es.last.hello("TOK2");
    await settle();
    client.emit("x");
    await settle();
    net.of("POST").at(-1).respond(404, { error: "unknown_session", reason: "no session" });
    await settle();
    assert.equal(of("disconnect").length, 2);
    client.close();
  });

  test("pings go up as POSTs; the pong comes down the stream", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, net, stream, of } = await sseClient({ pingInterval: 1000, pongTimeout: 500 });
    t.mock.timers.tick(1000);
    await settle();
    assert.deepEqual(net.posted(), [{ t: "ping" }]);
    stream.event({ t: "pong" }, "TOK.2");
    t.mock.timers.tick(500);
    assert.equal(client.state, "open");
    assert.deepEqual(of("disconnect"), []);
    client.close();
  });
});

describe("longpoll transport", () => {
  async function pollClient(opts = {}) {
    const net = fakeFetch(opts.net);
    const client = connect("http://h/ws", { fetch: net.fetch, transports: ["longpoll"], pingInterval: 0, ...opts });
    const of = record(client);
    net.poll.respond(200, { session: "T", cursor: 1, frames: [hello()] });
    await settle();
    return { client, net, of };
  }

  test("polls carry the cursor; frames are delivered; empty answers poll again", async () => {
    const { client, net, of } = await pollClient();
    assert.equal(client.state, "open");
    const got = [];
    client.on("m", (d, meta) => got.push([d, meta.off]));
    let poll = net.poll;
    assert.deepEqual(Object.fromEntries(poll.url.searchParams), { mode: "poll", session: "T", cursor: "1" });
    poll.respond(200, { cursor: 1, frames: [] });
    await settle();
    poll = net.poll;
    assert.equal(poll.url.searchParams.get("cursor"), "1");
    poll.respond(200, { cursor: 3, frames: [{ t: "emit", ev: "m", d: "a" }, { t: "emit", ev: "m", d: "b" }] });
    await settle();
    assert.deepEqual(got, [["a", undefined], ["b", undefined]]);
    assert.equal(net.poll.url.searchParams.get("cursor"), "3");
    assert.deepEqual(of("error"), []);
    client.close();
    assert.equal(net.of("GET").at(-1).answered, true, "close() aborts the poll");
    assert.equal(net.of("DELETE").length, 1);
  });

  test("a failed poll is repeated with the same cursor: no disconnect", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, net, of } = await pollClient();
    net.poll.respond(200, { cursor: 4, frames: [{ t: "emit", ev: "m" }] });
    await settle();
    net.poll.fail();
    await settle();
    t.mock.timers.tick(250);
    await settle();
    net.poll.respond(502, "bad gateway");
    await settle();
    t.mock.timers.tick(500);
    await settle();
    const poll = net.poll;
    assert.equal(poll.url.searchParams.get("cursor"), "4");
    assert.equal(poll.url.searchParams.get("session"), "T");
    assert.equal(client.state, "open");
    assert.deepEqual(of("disconnect"), []);
    client.close();
  });

  test("polls failing for resumeTimeout end the connection", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const { client, net, of } = await pollClient({ resumeTimeout: 1000 });
    for (let i = 0; i < 10 && of("disconnect").length === 0; i++) {
      net.poll.fail();
      await settle();
      t.mock.timers.tick(2000);
      await settle();
    }
    assert.equal(of("disconnect").length, 1);
    assert.match(of("disconnect")[0].reason, /not resumed within 1000 ms/);
    client.close();
  });

  test("a refused opening poll reports the server's code", async () => {
    const net = fakeFetch();
    const client = connect("http://h/ws", { fetch: net.fetch, transports: ["longpoll"], pingInterval: 0 });
    const of = record(client);
    net.poll.respond(401, { error: "unauthorized", reason: "bad token" });
    await settle();
    assert.deepEqual(of("error"), [{ code: "unauthorized", msg: "bad token" }]);
    assert.equal(of("connect_error").length, 1);
    client.close();
  });

  test("resync in a poll answer: reconnect with 4008", async () => {
    const { client, net, of } = await pollClient();
    net.poll.respond(200, { cursor: 1, frames: [{ t: "resync", err: { code: "not_recovered", msg: "gone" } }, { t: "close", close: { code: 4008, reason: "x" } }] });
    await settle();
    assert.deepEqual(of("disconnect"), [{ code: 4008, reason: "not recovered: gone" }]);
    assert.equal(net.of("DELETE").length, 0);
    client.close();
  });
});
