package main

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	hubbubjs "github.com/hubbubhq/hubbub/client/js"
	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/sse"
	"github.com/hubbubhq/hubbub/transport/ws"
)

//go:embed static
var static embed.FS

// Limits of the chat, checked by the server (the page checks them too, for
// a quicker answer, but the server is the one that counts).
const (
	maxNameRunes    = 32
	maxMessageRunes = 1000
	historyOnJoin   = 50 // what the page asks for; the server keeps more
)

// roomName is what AuthorizeJoin accepts: short, lower-case, URL-safe.
var roomName = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// defaultRoom is always listed, even when nobody is in it.
const defaultRoom = "lobby"

// server is the chat: an engine with the chat's handlers and hooks, the
// WebSocket transport, the page and the browser client on one mux.
type server struct {
	engine *engine.Engine
	ws     *ws.Handler
	sse    *sse.Handler
	mux    *http.ServeMux

	roomsMu sync.Mutex
	rooms   []roomInfo // the room list as last pushed to clients
}

// roomInfo is one entry of the room list pushed to every client.
type roomInfo struct {
	Room  string `json:"room"`
	Users int    `json:"users"`
}

// message is a chat message as the room sees it.
type message struct {
	ID   string `json:"id"` // chosen by the sender's page, to match acks and skip duplicates
	From string `json:"from"`
	Text string `json:"text"`
	TS   int64  `json:"ts"` // Unix milliseconds, server time
}

// newServer builds the chat. Close stops it.
func newServer(log *slog.Logger) *server {
	if log == nil {
		log = slog.Default()
	}
	s := &server{mux: http.NewServeMux()}
	s.engine = engine.New(engine.Config{
		Logger:          log,
		Authenticate:    authenticate,
		AuthorizeJoin:   authorizeJoin,
		PresenceNotices: func(string) bool { return true }, // every room is a chat room
		HistoryTTL:      time.Hour,                         // "recent history" means the last hour here
		OnJoin:          s.pushRooms,
		OnLeave:         s.pushRooms,
	})
	s.engine.On("chat", engine.Typed(s.onChat))
	s.engine.On("typing", engine.Typed(s.onTyping))
	s.engine.On("rooms", func(context.Context, *engine.Session, json.RawMessage) (any, error) {
		return s.roomList(), nil
	})

	s.ws = ws.New(s.engine, ws.Config{Logger: log})
	s.mux.Handle("/ws", s.ws)
	// The same sessions over Server-Sent Events and long-poll, for networks
	// where WebSocket does not get through (the browser client falls back).
	s.sse = sse.New(s.engine, sse.Config{Logger: log})
	s.mux.Handle("/sse", s.sse)
	s.mux.Handle("/hubbub.js", hubbubjs.Handler())
	page, _ := fs.Sub(static, "static")
	s.mux.Handle("/", http.FileServerFS(page))

	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// refuseWebSocket answers every request to /ws with 403, before any
// upgrade, as a proxy or a network that does not pass WebSocket would
// (-no-websocket, and the tests of the fallback): the browser's WebSocket
// fails before the server's hello and the client goes on with SSE at /sse.
func refuseWebSocket(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			http.Error(w, "WebSocket is refused here (-no-websocket): use SSE or long-poll at /sse", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Close closes every session with 1001 (clients reconnect) and waits for
// the connections to end.
func (s *server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.engine.Shutdown(ctx)
	_ = s.ws.Close()
	_ = s.sse.Close()
}

// authenticate takes the user's name from the connection URL (?name=…):
// browsers cannot set headers on a WebSocket, and this is a demo. A real
// application checks a session cookie or a token here.
func authenticate(r *http.Request) (engine.Identity, error) {
	name, err := checkName(r.URL.Query().Get("name"))
	if err != nil {
		return engine.Identity{}, err
	}
	return engine.Identity{UserID: name, Meta: map[string]string{"name": name}}, nil
}

// checkName validates a user name: 1 to 32 printable characters after
// trimming spaces.
func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > maxNameRunes {
		return "", engine.NewError(engine.CodeUnauthorized, "a name is 1 to %d characters", maxNameRunes)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return "", engine.NewError(engine.CodeUnauthorized, "a name has printable characters only")
		}
	}
	return name, nil
}

func authorizeJoin(_ context.Context, _ *engine.Session, room string) error {
	if !roomName.MatchString(room) {
		return engine.NewError("bad_room", "a room name is 1 to 32 characters of a-z, 0-9 and -")
	}
	return nil
}

// inRoom reports whether the session has joined room.
func inRoom(s *engine.Session, room string) bool {
	return slices.Contains(s.Rooms(), room)
}

type chatIn struct {
	Room string `json:"room"`
	ID   string `json:"id"`
	Text string `json:"text"`
}

// onChat relays a message to everyone else in the room (the sender's other
// tabs included) and acknowledges it with the server's timestamp. The room
// event goes into the room's history, so people who join later see it.
func (s *server) onChat(_ context.Context, sess *engine.Session, in chatIn) (any, error) {
	text := strings.TrimSpace(in.Text)
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return nil, engine.NewError("empty", "the message is empty")
	case n > maxMessageRunes:
		return nil, engine.NewError("too_long", "the message has %d characters; the limit is %d", n, maxMessageRunes)
	}
	if len(in.ID) > 64 {
		return nil, engine.NewError(engine.CodeBadPayload, "a message id is at most 64 bytes")
	}
	if !inRoom(sess, in.Room) {
		return nil, engine.NewError(engine.CodeNotInRoom, "join %q before writing to it", in.Room)
	}
	m := message{ID: in.ID, From: sess.UserID(), Text: text, TS: time.Now().UnixMilli()}
	if err := s.engine.To(in.Room).Except(sess).Emit("chat", m); err != nil {
		return nil, err
	}
	return map[string]any{"id": m.ID, "ts": m.TS}, nil
}

type typingIn struct {
	Room string `json:"room"`
}

// onTyping tells the room's other sessions that this user is typing.
// Typing notices are volatile room events: worthless a moment later, so
// they are not kept in history and never replayed to people who join or
// reconnect. The page ignores notices about its own user (other tabs).
func (s *server) onTyping(ctx context.Context, sess *engine.Session, in typingIn) (any, error) {
	if !inRoom(sess, in.Room) {
		return nil, nil // a stale notice after a room switch: nothing to say
	}
	note := map[string]string{"room": in.Room, "user": sess.UserID()}
	return nil, s.engine.To(in.Room).Volatile().Except(sess).Emit("typing", note)
}

// roomList returns the rooms with people in them, the default room always
// included, busiest first.
func (s *server) roomList() []roomInfo {
	names, err := s.engine.Rooms(context.Background())
	if err != nil {
		names = nil
	}
	if !slices.Contains(names, defaultRoom) {
		names = append(names, defaultRoom)
	}
	out := make([]roomInfo, 0, len(names))
	for _, n := range names {
		out = append(out, roomInfo{Room: n, Users: s.engine.PresenceCount(n)})
	}
	slices.SortFunc(out, func(a, b roomInfo) int {
		if a.Users != b.Users {
			return b.Users - a.Users
		}
		return strings.Compare(a.Room, b.Room)
	})
	return out
}

// pushRooms sends the room list to every client when a join or leave
// changed it (the engine's OnJoin and OnLeave hooks call it).
func (s *server) pushRooms(*engine.Session, string) {
	list := s.roomList()
	s.roomsMu.Lock()
	defer s.roomsMu.Unlock()
	if slices.Equal(list, s.rooms) {
		return
	}
	s.rooms = list
	_ = s.engine.ToAll().Emit("rooms", list) // under roomsMu: lists go out in the order computed
}
