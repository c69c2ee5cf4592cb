// Runs hubbub.js against a real hubbub server, started by TestNodeAgainstServer
// (interop_test.go), which passes its SSE handler's URL in HUBBUB_SSE_URL.
// Not a node --test file: the Go test runs it and checks its exit status.
//
// Node 20 has fetch but neither WebSocket nor EventSource: alice uses the
// long-poll transport as it is; bob uses the SSE transport over the small
// fetch-based EventSource below. carol is the Go test's own WebSocket client:
// she answers "hello carol" with "hi <from>".
import assert from "node:assert/strict";
import { connect } from "../hubbub.js";

const base = process.env.HUBBUB_SSE_URL;
if (!base) {
  console.error("HUBBUB_SSE_URL is not set: run this through go test (TestNodeAgainstServer)");
  process.exit(2);
}

const deadline = setTimeout(() => {
  console.error("interop: timed out");
  process.exit(1);
}, 30000);

/** A minimal EventSource on fetch: enough of the standard for hubbub.js. */
class FetchEventSource {
  static instances = [];

  constructor(url) {
    FetchEventSource.instances.push(this);
    this.url = String(url);
    this.readyState = 0;
    this.lastEventId = "";
    this.retry = 500;
    this.ctrl = null;
    this.closed = false;
    this.onopen = this.onmessage = this.onerror = null;
    this.run();
  }

  close() {
    this.closed = true;
    this.readyState = 2;
    if (this.ctrl) this.ctrl.abort();
  }

  /** Cuts the current response, as a network failure would: the stream reconnects with Last-Event-ID. */
  drop() {
    if (this.ctrl) this.ctrl.abort();
  }

  async run() {
    while (!this.closed) {
      this.ctrl = new AbortController();
      let res;
      try {
        const headers = { Accept: "text/event-stream" };
        if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
        res = await fetch(this.url, { headers, signal: this.ctrl.signal });
      } catch {
        if (this.closed) return;
        this.readyState = 0;
        this.onerror?.({});
        await new Promise((r) => setTimeout(r, this.retry));
        continue;
      }
      if (res.status !== 200 || !(res.headers.get("content-type") || "").startsWith("text/event-stream")) {
        this.closed = true;
        this.readyState = 2;
        this.onerror?.({});
        return;
      }
      this.readyState = 1;
      this.onopen?.({});
      try {
        await this.read(res.body);
      } catch {
        // dropped
      }
      if (this.closed) return;
      this.readyState = 0;
      this.onerror?.({});
      await new Promise((r) => setTimeout(r, this.retry));
    }
  }

  async read(body) {
    const decoder = new TextDecoder();
    let buf = "";
    let data = [];
    let id = null;
    for await (const chunk of body) {
      buf += decoder.decode(chunk, { stream: true });
      let m;
      while ((m = /\r\n|\r|\n/.exec(buf))) {
        const line = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        if (line === "") {
          if (id !== null) this.lastEventId = id;
          id = null;
          if (data.length > 0 && !this.closed) {
            const ev = { data: data.join("\n"), lastEventId: this.lastEventId };
            data = [];
            this.onmessage?.(ev);
          }
          continue;
        }
        if (line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        let value = i < 0 ? "" : line.slice(i + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") data.push(value);
        else if (field === "id" && !value.includes("\0")) id = value;
        else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
      }
    }
  }
}

/** Resolves with the next call of client.on(event) that satisfies pred. */
function next(client, event, pred = () => true) {
  return new Promise((resolve) => {
    const fn = (d, meta) => {
      if (!pred(d, meta)) return;
      client.off(event, fn);
      resolve(d);
    };
    client.on(event, fn);
  });
}

function nextState(client, event) {
  return new Promise((resolve) => {
    const fn = (p) => {
      client.offState(event, fn);
      resolve(p);
    };
    client.onState(event, fn);
  });
}

const common = {
  pingInterval: 100,
  pongTimeout: 5000, // above the 2 s retry hint of a dropped stream
  backoff: { initial: 50, max: 200 },
  urls: { sse: base, longpoll: base },
};
const alice = connect(base, { ...common, transports: ["longpoll"], auth: { token: "alice" } });
const bob = connect(base, { ...common, transports: ["sse"], EventSource: FetchEventSource, auth: { token: "bob" } });
for (const [name, c] of [["alice", alice], ["bob", bob]]) {
  c.onState("error", (e) => console.error(`${name}: error`, e.code, e.msg));
}

await Promise.all([nextState(alice, "connect"), nextState(bob, "connect")]);
assert.equal(alice.transport, "longpoll");
assert.equal(bob.transport, "sse");
assert.equal(alice.user, "alice");
assert.equal(bob.user, "bob");
await Promise.all([alice.join("lobby"), bob.join("lobby")]);

// alice → bob (and carol), with an ack.
const bobGets = next(bob, "chat", (d) => d.from === "alice");
const aliceFromCarol = next(alice, "chat", (d) => d.from === "carol");
assert.equal(await alice.emitWithAck("chat", { room: "lobby", text: "hello carol" }), "ok");
assert.deepEqual(await bobGets, { from: "alice", text: "hello carol" });
assert.deepEqual(await aliceFromCarol, { from: "carol", text: "hi alice" });

// bob → alice (and carol).
const aliceGets = next(alice, "chat", (d) => d.from === "bob");
const bobFromCarol = next(bob, "chat", (d) => d.from === "carol");
assert.equal(await bob.emitWithAck("chat", { room: "lobby", text: "hello carol" }), "ok");
assert.deepEqual(await aliceGets, { from: "bob", text: "hello carol" });
assert.deepEqual(await bobFromCarol, { from: "carol", text: "hi bob" });

// Heartbeats: several pings answered, the sessions unchanged.
const sids = [alice.sid, bob.sid];
await new Promise((r) => setTimeout(r, 500));
assert.deepEqual([alice.sid, bob.sid], sids);

// bob's stream drops: it resumes with Last-Event-ID in the same session and
// gets what alice sent meanwhile, once, in order.
{
  const es = FetchEventSource.instances.at(-1);
  const got = [];
  const fn = (d) => {
    if (d.from === "alice" && d.text.startsWith("m")) got.push(d.text);
  };
  bob.on("chat", fn);
  let disconnects = 0;
  bob.onState("disconnect", () => disconnects++);
  const reconnected = new Promise((resolve) => {
    const onopen = es.onopen;
    es.onopen = (ev) => {
      onopen?.(ev);
      resolve();
    };
  });
  es.drop();
  for (let i = 1; i <= 3; i++) {
    assert.equal(await alice.emitWithAck("chat", { room: "lobby", text: `m${i}` }), "ok");
  }
  await reconnected;
  while (got.length < 3) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(got, ["m1", "m2", "m3"]);
  assert.equal(bob.sid, sids[1], "the same session");
  assert.equal(disconnects, 0);
  assert.equal(FetchEventSource.instances.length, 1, "the same EventSource");
  bob.off("chat", fn);
}

// The server ends alice's session; she reconnects, rejoins with since and
// recovers what bob sent meanwhile, in order.
const got = [];
alice.on("chat", (d) => {
  if (d.from === "bob" && d.text.startsWith("n")) got.push(d.text);
});
const down = nextState(alice, "disconnect");
const back = nextState(alice, "recovered");
alice.emit("kick");
await down;
for (let i = 1; i <= 5; i++) {
  assert.equal(await bob.emitWithAck("chat", { room: "lobby", text: `n${i}` }), "ok");
}
const rec = await back;
assert.equal(rec.room, "lobby");
while (got.length < 5) await new Promise((r) => setTimeout(r, 10));
assert.deepEqual(got, ["n1", "n2", "n3", "n4", "n5"]);
assert.notEqual(alice.sid, sids[0]);

alice.close();
bob.close();
clearTimeout(deadline);
console.log("interop: ok");
