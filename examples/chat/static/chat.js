// The chat page: plain JavaScript on the hubbub browser client, no build
// step. Settings come from the URL:
//   ?name=alice&room=lobby   enter at once (otherwise a form asks)
//   ?transport=sse           force a transport ("websocket", "sse", "longpoll")
import { connect } from "/hubbub.js";

const MAX_NAME = 32;
const MAX_TEXT = 1000; // the server's limit; it answers longer messages with an error
const HISTORY = 50; // messages replayed when entering a room
const TYPING_EVERY = 1500; // ms between two typing notices while typing
const TYPING_SHOWN = 3000; // ms a typing notice is shown
const ROOM_RE = /^[a-z0-9-]{1,32}$/;

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

const params = new URLSearchParams(location.search);
const forcedTransport = params.get("transport") || "";

let hub = null; // the hubbub client
let me = ""; // my name (the user id)
let current = ""; // the room shown
let seen = new Set(); // ids of the messages shown, to skip duplicates
let typing = new Map(); // user → time the notice expires
let lastTypingSent = 0;
let roomList = [];
let attempt = 0;
let leaving = false; // the page is being hidden: the connection ends on purpose
let shownSinceHello = 0; // messages shown since the last hello: what a rejoin recovered

// ---- names ------------------------------------------------------------

/** The server's rule: 1–32 printable characters after trimming. */
function nameProblem(name) {
  const n = [...name].length;
  if (n < 1) return "Pick a name.";
  if (n > MAX_NAME) return `A name is at most ${MAX_NAME} characters.`;
  if (/\p{C}/u.test(name)) return "A name has printable characters only.";
  return "";
}

/** "My Room!" → "my-room": what AuthorizeJoin on the server accepts. */
function normalizeRoom(room) {
  return room
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, "-")
    .replace(/[^a-z0-9-]/g, "")
    .slice(0, 32);
}

function setURL() {
  const p = new URLSearchParams();
  p.set("name", me);
  p.set("room", current);
  if (forcedTransport) p.set("transport", forcedTransport);
  history.replaceState(null, "", "?" + p.toString());
}

// ---- login ------------------------------------------------------------

function showLogin() {
  $("login").hidden = false;
  const form = $("login-form");
  $("name").value = params.get("name") || localStorage.getItem("hubbub-chat-name") || "";
  $("room").value = params.get("room") || "lobby";
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("name").value.trim();
    const room = normalizeRoom($("room").value) || "lobby";
    const problem = nameProblem(name) || (ROOM_RE.test(room) ? "" : "A room name is 1 to 32 characters of a-z, 0-9 and -.");
    $("login-error").textContent = problem;
    if (problem) return;
    $("login").hidden = true;
    start(name, room);
  });
  $("name").focus();
}

// ---- connection -------------------------------------------------------

function start(name, room) {
  me = name;
  localStorage.setItem("hubbub-chat-name", name);
  $("app").hidden = false;
  $("me").textContent = me;
  $("room-title").textContent = room;
  $("change-name").href = forcedTransport ? `?transport=${encodeURIComponent(forcedTransport)}` : "?";

  const opts = { auth: { name } };
  if (forcedTransport) opts.transports = [forcedTransport];
  try {
    hub = connect("/ws", opts);
  } catch (err) {
    // ?transport=<a name the client does not know>
    renderConn("closed", `transport “${forcedTransport}” is not available`);
    addSys(`Cannot connect: ${err.message}`, "bad");
    return;
  }

  hub.onState("state", () => renderConn());
  // The transport that carried the hello: WebSocket unless it did not get
  // through (a proxy or a network that blocks it), then SSE, then long-poll.
  hub.onState("transport", ({ transport, previous }) => {
    renderConn();
    if (previous) addSys(`Now connected over ${transport} (was ${previous}).`);
    else if (!forcedTransport && transport !== "websocket") addSys(`WebSocket did not get through: connected over ${transport} instead.`);
  });
  hub.onState("connect", () => {
    attempt = 0;
    shownSinceHello = 0;
    renderConn();
    hub.emitWithAck("rooms").then(renderRooms, () => {});
  });
  hub.onState("reconnect_attempt", (a) => {
    attempt = a.attempt;
    renderConn();
  });
  hub.onState("connect_error", (info) => {
    // Every transport was tried at least twice: say so. (Browsers hide the
    // HTTP status of a refused WebSocket: it is 1006.)
    if (!hub.sid && attempt >= 2) renderConn(undefined, `cannot connect (${info.code})`);
  });
  hub.onState("presence", (ev) => {
    if (ev.room !== current) return;
    if (ev.ev === "leave") typing.delete(ev.user);
    renderPresence();
    renderTyping();
  });
  hub.onState("disconnect", ({ code, reason }) => {
    if (leaving) return;
    addSys(`Connection lost (${code}${reason ? ": " + reason : ""}). Reconnecting…`, "bad");
  });
  hub.onState("reconnect", () => addSys("Reconnected."));
  hub.onState("recovered", ({ room }) => {
    // Not the server's replayed count: that includes one's own messages
    // (relayed to the others only), which are on the page already.
    const n = shownSinceHello;
    if (room === current && n > 0) addSys(`${n} missed ${n === 1 ? "message" : "messages"} recovered.`);
  });
  hub.onState("resync", ({ room }) => {
    if (room === current) addSys("Messages from while you were away could not be recovered (the server restarted, or they are too old).");
  });
  hub.onState("error", (info) => console.warn("hubbub:", info.code, info.msg));

  hub.on("chat", (m, meta) => {
    if (meta.room !== current) return;
    typing.delete(m.from);
    renderTyping();
    if (addMessage(m, { replayed: !!meta.replayed })) shownSinceHello++;
  });
  hub.on("typing", ({ room, user }) => {
    if (room !== current || user === me) return;
    typing.set(user, Date.now() + TYPING_SHOWN);
    renderTyping();
  });
  hub.on("rooms", renderRooms);

  // Leaving the page ends the session at once: over SSE and long-poll the
  // client's close() sends a DELETE (keepalive), without which the server
  // keeps a closed tab's user present for its grace period (30 s). A page
  // restored from the back/forward cache connects again and rejoins.
  addEventListener("pagehide", () => {
    leaving = true;
    hub.close();
  });
  addEventListener("pageshow", (e) => {
    if (!e.persisted) return;
    leaving = false;
    hub.open();
  });

  setInterval(renderTyping, 500); // expire typing notices
  wireUI();
  renderConn();
  enterRoom(room);
}

function renderConn(state, note) {
  state = state || (hub ? hub.state : "closed");
  const label =
    {
      connecting: "connecting…",
      open: "connected",
      reconnecting: attempt > 0 ? `reconnecting… (${attempt})` : "reconnecting…",
      closed: "offline",
    }[state] || state;
  const box = $("conn");
  box.dataset.state = state;
  // The transport that carried the last hello (null before the first);
  // while reconnecting, the one tried first.
  const transport = (hub && hub.transport) || "";
  $("conn-state").textContent = note || label;
  $("conn-transport").textContent = transport;
  box.dataset.transport = transport;
  box.title = (note || label) + (transport ? ` over ${transport}` : "") + (forcedTransport ? ` (?transport=${forcedTransport})` : "");
}

// ---- rooms ------------------------------------------------------------

async function enterRoom(room) {
  room = normalizeRoom(room);
  $("room-error").textContent = "";
  if (!ROOM_RE.test(room)) {
    $("room-error").textContent = "A room name is 1 to 32 characters of a-z, 0-9 and -.";
    return;
  }
  closeMenu();
  if (room === current) return;
  const prev = current;
  current = room;
  seen = new Set();
  typing = new Map();
  $("messages").replaceChildren();
  $("room-title").textContent = room;
  $("text").placeholder = `Message #${room}`;
  document.title = `#${room} · hubbub chat`;
  setURL();
  renderRooms(roomList);
  renderPresence();
  renderTyping();
  if (prev) hub.leave(prev).catch(() => {});
  try {
    const res = await hub.join(room, { history: HISTORY });
    if (current !== room) return;
    addSys(res.replayed > 0 ? `You joined #${room} · the last ${res.replayed} messages are above` : `You joined #${room} · no messages yet, say hello`);
    renderPresence();
    hub.emitWithAck("rooms").then(renderRooms, () => {});
    if (matchMedia("(min-width: 721px)").matches) $("text").focus(); // not on phones: it opens the keyboard
  } catch (err) {
    if (current !== room) return;
    addSys(`Could not join #${room}: ${err.message || err.code}`, "bad");
  }
}

function renderRooms(list) {
  roomList = Array.isArray(list) ? list : [];
  const here = hub && current ? hub.presence(current).length : 0; // fresher than the pushed list
  const shown = roomList.map((r) => (r.room === current && here ? { ...r, users: here } : r));
  if (current && !shown.some((r) => r.room === current)) shown.push({ room: current, users: here });
  const ul = $("rooms");
  ul.replaceChildren(
    ...shown.map((r) => {
      const li = el("li");
      li.dataset.room = r.room;
      if (r.room === current) li.className = "current";
      const b = el("button");
      b.type = "button";
      b.append(el("span", "room-name", r.room), el("span", "users", String(r.users)));
      b.title = `${r.users} ${r.users === 1 ? "person" : "people"} in #${r.room}`;
      b.addEventListener("click", () => enterRoom(r.room));
      li.append(b);
      return li;
    }),
  );
}

// ---- presence and typing ------------------------------------------------

const palette = ["#4f46e5", "#0891b2", "#16a34a", "#ca8a04", "#dc2626", "#db2777", "#7c3aed", "#0d9488", "#ea580c"];
function colorOf(name) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return palette[h % palette.length];
}
function avatar(name) {
  const a = el("span", "avatar", [...name][0] || "?");
  a.style.background = colorOf(name);
  a.setAttribute("aria-hidden", "true");
  return a;
}

function renderPresence() {
  const people = hub && current ? hub.presence(current) : [];
  $("presence").replaceChildren(
    ...people.map((p) => {
      const li = el("li");
      li.dataset.user = p.user;
      li.append(avatar(p.user), el("span", "who", p.user));
      if (p.user === me) li.append(el("span", "you", "(you)"));
      return li;
    }),
  );
  $("online-count").textContent = people.length ? `· ${people.length} online` : "";
  renderRooms(roomList);
}

function renderTyping() {
  const now = Date.now();
  for (const [u, until] of typing) if (until <= now) typing.delete(u);
  const who = [...typing.keys()].sort();
  let text = "";
  if (who.length === 1) text = `${who[0]} is typing…`;
  else if (who.length === 2) text = `${who[0]} and ${who[1]} are typing…`;
  else if (who.length > 2) text = `${who.length} people are typing…`;
  const box = $("typing");
  if (box.textContent !== text) box.textContent = text;
}

// ---- messages -----------------------------------------------------------

function timeOf(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function nearBottom() {
  const box = $("messages");
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

function append(li) {
  const stick = nearBottom();
  $("messages").append(li);
  if (stick) li.scrollIntoView({ block: "end" });
}

function addSys(text, kind) {
  const li = el("li", "sys" + (kind ? " " + kind : ""), text);
  append(li);
  return li;
}

/** Shows a message; own messages carry a delivery status. */
function addMessage(m, { replayed = false, status = "" } = {}) {
  if (m.id) {
    if (seen.has(m.id)) return null; // replayed and live, or sent from this tab
    seen.add(m.id);
  }
  const own = m.from === me;
  const ts = m.ts || Date.now();
  const li = el("li", "msg" + (own ? " own" : "") + (replayed ? " replayed" : ""));
  if (m.id) li.dataset.id = m.id;
  li.dataset.from = m.from;
  li.dataset.ts = String(ts);
  // A run of messages from one person within minutes shows the name once.
  const prev = $("messages").lastElementChild;
  if (prev && prev.classList.contains("msg") && prev.dataset.from === m.from && ts - Number(prev.dataset.ts) < 5 * 60_000) {
    li.classList.add("cont");
  }
  const bubble = el("div", "bubble");
  const meta = el("div", "meta");
  meta.append(el("span", "from", own ? "you" : m.from), el("time", "time", timeOf(ts)));
  if (own) {
    const s = el("span", "status");
    meta.append(s);
    setStatus(li, s, status || "ok");
  }
  bubble.append(meta, el("div", "text", m.text));
  li.append(avatar(m.from), bubble);
  append(li);
  return li;
}

function setStatus(li, s, status, reason) {
  s.dataset.status = status;
  s.textContent = { pending: "⋯", ok: "✓", err: "✗" }[status];
  s.title = { pending: "sending…", ok: "delivered to the server", err: reason || "not delivered" }[status];
  li.classList.toggle("failed", status === "err");
  if (status === "err") {
    const r = el("div", "reason", reason || "not delivered");
    li.querySelector(".bubble").append(r);
  }
}

function send(text) {
  if (!hub) return;
  const id = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const li = addMessage({ id, from: me, text, ts: Date.now() }, { status: "pending" });
  li.scrollIntoView({ block: "end" });
  const s = li.querySelector(".status");
  hub.emitWithAck("chat", { room: current, id, text }).then(
    (ack) => {
      setStatus(li, s, "ok");
      if (ack && ack.ts) li.querySelector("time").textContent = timeOf(ack.ts);
    },
    (err) => setStatus(li, s, "err", err.message || err.code),
  );
}

// ---- UI wiring ------------------------------------------------------------

function openMenu() {
  $("app").classList.add("menu-open");
  $("scrim").hidden = false;
  $("menu-btn").setAttribute("aria-expanded", "true");
}
function closeMenu() {
  $("app").classList.remove("menu-open");
  $("scrim").hidden = true;
  $("menu-btn").setAttribute("aria-expanded", "false");
}

function updateCount() {
  const n = [...$("text").value.trim()].length;
  const c = $("count");
  c.textContent = n > MAX_TEXT * 0.8 ? `${n}/${MAX_TEXT}` : "";
  c.classList.toggle("over", n > MAX_TEXT);
}

function wireUI() {
  $("menu-btn").addEventListener("click", () => ($("app").classList.contains("menu-open") ? closeMenu() : openMenu()));
  $("scrim").addEventListener("click", closeMenu);
  $("new-room").addEventListener("submit", (e) => {
    e.preventDefault();
    const room = $("new-room-name").value;
    $("new-room-name").value = "";
    enterRoom(room);
  });
  const input = $("text");
  input.addEventListener("input", () => {
    updateCount();
    const now = Date.now();
    if (input.value.trim() && hub.state === "open" && now - lastTypingSent > TYPING_EVERY) {
      lastTypingSent = now;
      hub.emit("typing", { room: current }, { volatile: true }); // dropped while offline: stale anyway
    }
  });
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    updateCount();
    lastTypingSent = 0;
    send(text); // over MAX_TEXT too: the server says why it refuses
  });
}

// ---- go -------------------------------------------------------------------

{
  const name = (params.get("name") || "").trim();
  const room = normalizeRoom(params.get("room") || "lobby") || "lobby";
  if (name && !nameProblem(name)) start(name, room);
  else showLogin();
}
