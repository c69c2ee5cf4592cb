// Types for hubbub.js, the hubbub browser client (plain ES module).

/** Wire protocol version this client speaks (the hello frame's "v"). */
export declare const PROTOCOL_VERSION: 1;

/** Connection states, the values of Client.state. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

export declare const State: Readonly<{
  CONNECTING: "connecting";
  OPEN: "open";
  RECONNECTING: "reconnecting";
  CLOSED: "closed";
}>;

/**
 * Close codes after which the client does not reconnect on its own:
 * 1000 (close(), or the server ended the session on purpose), 1002, 1003,
 * 1007 and 1008 (policy: the server refused this session by rule; the
 * client stops after the first such close). Every other code reconnects.
 */
export declare const NO_RECONNECT_CODES: readonly number[];

/** A position in a room's history. */
export interface Position {
  /** Changes when the room is recreated and its offsets restart. */
  epoch: string;
  /** Offset of an event in the room's history (1, 2, …). */
  off: number;
}

/** One user present in a room, however many connections (tabs) it has there. */
export interface PresenceEntry {
  user: string;
  /** The user's metadata from the server's connect hook. */
  meta?: unknown;
  /** The user's connections in the room (exact as of the last join ack). */
  conns: number;
}

/** The server's answer to a join: the ack's "d". */
export interface JoinResult {
  room: string;
  /** The room's latest position when the join took effect. */
  pos: Position;
  /**
   * True when every event since the position the client asked for was
   * replayed before the ack (or no position was asked for). False means the
   * gap is not covered by history: the client emits "resync".
   */
  recovered: boolean;
  /** Events replayed before the ack. */
  replayed: number;
  /** Users in the room, for rooms with presence notices. */
  presence?: PresenceEntry[];
}

/** The second argument of application event handlers. */
export interface EventMeta {
  /** The room the event was emitted to (absent for direct events). */
  room?: string;
  /** The event's offset in the room's history. */
  off?: number;
  /** True for events replayed from history by join({history}). */
  replayed?: boolean;
}

/** Error codes produced by the client itself (servers add their own). */
export type ClientErrorCode =
  | "timeout"
  | "disconnected"
  | "dropped"
  | "left"
  | "closed"
  | "offline_buffer_full"
  | "malformed"
  | "handler"
  | "transport"
  | "auth"
  | "protocol_version"
  | "too_large"
  | "unavailable"
  | "unknown_session"
  | "session_closed";

/** Server error codes (engine/errors.go). */
export type ServerErrorCode =
  | "malformed"
  | "unknown_type"
  | "unknown_event"
  | "too_large"
  | "invalid_name"
  | "too_many_rooms"
  | "unknown_ack"
  | "bad_payload"
  | "forbidden"
  | "unauthorized"
  | "internal"
  | "overloaded"
  | "not_in_room";

/** An error with a machine-readable code; promises of the client reject with it. */
export declare class HubbubError extends Error {
  constructor(code: string, message: string);
  readonly name: "HubbubError";
  /** The server's code, or "timeout", "disconnected", "dropped", "left". */
  code: ServerErrorCode | ClientErrorCode | (string & {});
}

/** Payload of the "error" connection event. */
export interface ErrorInfo {
  code: ServerErrorCode | ClientErrorCode | (string & {});
  msg: string;
  /** The room, for a failed rejoin. */
  room?: string;
  /** The event, for a dropped emit or a failing handler. */
  event?: string;
  /** The underlying exception, for client-side failures. */
  cause?: unknown;
}

/** A WebSocket (or other) close code and reason. */
export interface CloseInfo {
  code: number;
  reason: string;
}

/** Payload of the "presence" connection event. */
export type PresenceEvent =
  | { room: string; ev: "join"; user: string; meta?: unknown }
  | { room: string; ev: "leave"; user: string }
  /** The join ack's list, after every (re)join of a room with presence. */
  | { room: string; ev: "sync"; users: PresenceEntry[] };

/** Connection events and their payloads, for onState/offState. */
export interface StateEvents {
  /** The state changed. */
  state: ConnectionState;
  /** The server's hello arrived (after every successful (re)connection). */
  connect: { sid: string; user: string };
  /**
   * An open connection ended. The client's own reasons use 1006: no pong
   * within pongTimeout, an SSE stream or long-poll not resumed within
   * resumeTimeout, a failed POST; a "resync" from the SSE handler is 4008.
   */
  disconnect: CloseInfo;
  /**
   * A connection attempt ended before the hello; the next transport is
   * tried at once, or, after the last one, a reconnection is scheduled.
   * Browsers report refused WebSocket handshakes (HTTP 401/403) as 1006; a
   * refused long-poll also reports the server's code as an "error" event.
   * An attempt without a hello within probeTimeout ends with 1006.
   */
  connect_error: CloseInfo;
  /** A reconnection is scheduled: attempt number (1-based) and delay in ms. */
  reconnect_attempt: { attempt: number; delay: number };
  /** The hello of a reconnection arrived after this many attempts. */
  reconnect: { attempt: number };
  /** maxAttempts reconnections failed; the client is closed. */
  reconnect_failed: { attempts: number };
  /** An error frame from the server, a failed rejoin, a dropped emit, a throwing handler… */
  error: ErrorInfo;
  /** A presence notice or a join ack's presence list. */
  presence: PresenceEvent;
  /** A rejoin could not replay the missed events (recovered: false): reload the room's state. */
  resync: { room: string; pos: Position };
  /** A rejoin replayed every missed event. */
  recovered: { room: string; replayed: number };
  /**
   * A hello arrived over another transport than the previous one (first:
   * previous null). Emitted before "connect".
   */
  transport: { transport: TransportName; previous: TransportName | null };
}

/** Built-in transports; registerTransport adds others. */
export type TransportName = "websocket" | "sse" | "longpoll" | (string & {});

export type StateEventName = keyof StateEvents;

/** Exponential backoff between reconnection attempts. */
export interface BackoffOptions {
  /** Delay before the first attempt, ms. Default 500. */
  initial?: number;
  /** Upper bound of the delay, ms. Default 10000. */
  max?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /**
   * Fraction of the delay that is random: attempt n waits
   * min(max, initial·factorⁿ⁻¹)·(1 − jitter·random), random in [0, 1). Default 0.5.
   */
  jitter?: number;
}

/** Query parameters added to the connection URL. */
export type AuthParams = Record<string, string | number | boolean | null | undefined>;

export interface ClientOptions {
  /**
   * Credentials, sent as query parameters of the request that opens a
   * session (the WebSocket URL, the EventSource URL, the first poll),
   * because browsers cannot set headers on a WebSocket or an EventSource
   * (e.g. {token} → ?token=…). The SSE and long-poll transports repeat the
   * URL's query on their later requests (POST, poll, DELETE), which the
   * server authorises by the session token alone. A function is called
   * before every connection attempt (refresh tokens there). Query strings
   * can reach server and proxy logs: use short-lived tokens.
   */
  auth?: AuthParams | (() => AuthParams | Promise<AuthParams>);
  /** Reconnect after a connection drops. Default true. */
  reconnect?: boolean;
  backoff?: BackoffOptions;
  /** Reconnection attempts in a row before giving up. Default Infinity. */
  maxAttempts?: number;
  /** Time to wait for an ack (emitWithAck, join, leave), ms. 0 waits without limit. Default 10000. */
  ackTimeout?: number;
  /** Emits kept while offline; past it the oldest is dropped with an "error" event. Default 100. */
  maxOfflineBuffer?: number;
  /**
   * Frames queued in one tick are sent as one JSON array message of at most
   * this many bytes (keep it under the server's MaxFrameBytes, 64 KiB by
   * default). Default 32768.
   */
  maxBatchBytes?: number;
  /**
   * Largest frame the server accepts (its MaxFrameBytes, 64 KiB by default).
   * Larger emits are refused locally ("too_large") because the server's
   * answer to them would name no request. 0 disables the check. Default 65536.
   */
  maxFrameBytes?: number;
  /** WebSocket constructor to use (tests, Node). Default globalThis.WebSocket. */
  WebSocket?: new (url: string) => WebSocketLike;
  /** EventSource constructor for the "sse" transport (tests, Node). Default globalThis.EventSource. */
  EventSource?: new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;
  /** fetch for the "sse" (POST, DELETE) and "longpoll" transports. Default globalThis.fetch. */
  fetch?: (url: string, init?: any) => Promise<FetchResponseLike>;
  /**
   * Transports to try, in order, by registered name. Default
   * ["websocket", "sse", "longpoll"]: WebSocket first; SSE when the
   * WebSocket fails before the server's hello; long-poll when the SSE
   * stream brings no hello within probeTimeout (a proxy that buffers) or
   * fails. Fallbacks are immediate; when every transport failed, the client
   * backs off and starts the next round with the transport that last
   * worked. The transport that carried a hello is remembered and tried
   * first by later reconnections. A single entry (["sse"], ["longpoll"])
   * forces that transport. Transports unavailable here (no EventSource) are
   * skipped after one "error" event.
   */
  transports?: TransportName[];
  /**
   * Per-transport URLs (relative ones resolve against location). By
   * default "websocket" uses the url given to connect(); "sse" and
   * "longpoll" use it with an http(s) scheme and a final "/ws" path
   * segment replaced by "/sse" ("/ws" → "/sse", "wss://h/api/ws" →
   * "https://h/api/sse"; a path not ending in "/ws" is kept). The server
   * mounts the SSE handler once for both SSE and long-poll, e.g.
   * {websocket: "/ws", sse: "/sse", longpoll: "/sse"}.
   */
  urls?: { websocket?: string | URL; sse?: string | URL; longpoll?: string | URL; [name: string]: string | URL | undefined };
  /**
   * Time a connection attempt may take to deliver the server's hello, ms;
   * past it the attempt fails and the next transport is tried (an SSE
   * stream behind a buffering proxy opens but delivers nothing). 0
   * disables. Default 5000.
   */
  probeTimeout?: number;
  /**
   * How long the SSE and long-poll transports try to resume their session
   * after the stream drops or polls fail (the EventSource reconnects with
   * Last-Event-ID, polls repeat their cursor), ms; past it the connection
   * closes and the client reconnects with a new session, rejoining its
   * rooms with since. Keep it below the server's grace period (30 s by
   * default). Default 10000.
   */
  resumeTimeout?: number;
  /**
   * Heartbeat: while open, the client sends {"t":"ping"} every
   * pingInterval ms (the server answers {"t":"pong"} at once). 0 disables.
   * Default 25000.
   */
  pingInterval?: number;
  /**
   * When no message at all arrives within pongTimeout ms of a ping, the
   * connection is taken for dead: it is closed (disconnect 1006, "no pong
   * within … ms") and the client reconnects. 0 disables. Default 10000.
   */
  pongTimeout?: number;
  /**
   * Cross-origin SSE and long-poll with cookies: EventSource
   * withCredentials and fetch credentials "include" (the server must allow
   * the page's origin). Default false (same-origin credentials).
   */
  withCredentials?: boolean;
}

/** The part of the EventSource API the "sse" transport uses. */
export interface EventSourceLike {
  /** 0 connecting (also while the browser reconnects), 1 open, 2 closed (given up). */
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  /** ev.data: the event's data; ev.lastEventId: "<session token>.<n>". */
  onmessage: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  close(): void;
}

/** The part of a fetch Response the HTTP transports use. */
export interface FetchResponseLike {
  readonly status: number;
  readonly ok: boolean;
  text(): Promise<string>;
}

/**
 * The part of the WebSocket API the client uses (the browser's WebSocket
 * fits; so does a test double). The client sets the four handlers.
 */
export interface WebSocketLike {
  binaryType?: string;
  onopen: ((ev: any) => void) | null;
  /** ev.data: a string (text message) or an ArrayBuffer. */
  onmessage: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  /** ev.code and ev.reason: the close code and reason. */
  onclose: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/**
 * A transport carries messages (one frame or a JSON array of frames)
 * between the client and one server session. It calls onclose exactly once
 * (whether it failed to open or dropped later) and nothing after close().
 * A factory that throws makes the client skip the transport.
 */
export interface Transport {
  open(url: URL): void;
  send(text: string): void;
  close(code?: number, reason?: string): void;
  onopen: () => void;
  /** The message's text, or the message already parsed (a frame object or an array of them). */
  onmessage: (msg: string | object) => void;
  onclose: (code: number, reason: string) => void;
  /** Set by the client: a failure that does not end the connection, reported as an "error" event. */
  onerror?: (info: { code: string; msg: string }) => void;
}

/** Registers a transport factory usable in ClientOptions.transports. */
export declare function registerTransport(name: string, factory: (opts: ClientOptions) => Transport): void;

export type EventHandler = (data: any, meta: EventMeta) => unknown;

export declare class Client {
  /** Creates a client without connecting; call open(). */
  constructor(url: string | URL, opts?: ClientOptions);

  readonly state: ConnectionState;
  /** The session id from the server's hello; null while not open. */
  readonly sid: string | null;
  /** The user id from the server's hello; null before the first. */
  readonly user: string | null;
  /**
   * The transport that carried the last hello: the one in use while open,
   * tried first by reconnections. null before the first hello.
   */
  readonly transport: TransportName | null;

  /**
   * Handles an application event. When the server asked for an ack, the
   * first handler's return value (or resolved promise) is the ack; a throw
   * or rejection becomes an error ack with the error's string code or
   * "internal". Without a handler, the server gets "unknown_event".
   */
  on(event: string, fn: EventHandler): this;
  off(event: string, fn?: EventHandler): this;
  once(event: string, fn: EventHandler): this;

  onState<K extends StateEventName>(event: K, fn: (payload: StateEvents[K]) => void): this;
  offState<K extends StateEventName>(event: K, fn?: (payload: StateEvents[K]) => void): this;

  /** Connects; a no-op unless closed. Rejoins remembered rooms. */
  open(): this;
  /** Closes with code 1000 and stops reconnecting; pending acks reject "disconnected". */
  close(): this;

  /**
   * Fire-and-forget. Buffered while offline (bounded by maxOfflineBuffer,
   * oldest dropped with an "error" event) unless volatile, which drops it.
   */
  emit(event: string, data?: unknown, opts?: { volatile?: boolean }): this;
  /** Resolves with the server's ack; rejects with a HubbubError. */
  emitWithAck<T = unknown>(event: string, data?: unknown, opts?: { timeout?: number }): Promise<T>;

  /** Joins a room; it is rejoined with since {epoch, off} after every reconnect. */
  join(room: string, opts?: { history?: number }): Promise<JoinResult>;
  /** Leaves a room and forgets it. */
  leave(room: string): Promise<{ room: string }>;
  /** Users present in a joined room, sorted by user id. */
  presence(room: string): PresenceEntry[];
  /** Rooms joined or being joined. */
  rooms(): string[];
  /** Position of the last event seen in a room. */
  position(room: string): Position | undefined;
}

/** Creates a Client and starts connecting. */
export declare function connect(url: string | URL, opts?: ClientOptions): Client;
export default connect;
