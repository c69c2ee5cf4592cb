package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hubbubhq/hubbub/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newStore(t *testing.T, sessions ...store.Session) *store.MemDB {
	t.Helper()
	db := store.NewMemDB()
	for _, s := range sessions {
		require.NoError(t, db.AddSession(context.Background(), s))
	}
	return db
}

func sess(id, user, meta string) store.Session {
	s := store.Session{ID: id, UserID: user}
	if meta != "" {
		s.Meta = json.RawMessage(meta)
	}
	return s
}

func TestAddRemoveSession(t *testing.T) {
	ctx := context.Background()
	db := newStore(t, sess("s1", "alice", ""), sess("s2", "alice", ""), sess("s3", "bob", ""))

	got, err := db.SessionsOf(ctx, "alice")
	require.NoError(t, err)
	require.Equal(t, []string{"s1", "s2"}, got)

	require.NoError(t, db.RemoveSession(ctx, "s1"))
	got, err = db.SessionsOf(ctx, "alice")
	require.NoError(t, err)
	require.Equal(t, []string{"s2"}, got)

	err = db.RemoveSession(ctx, "s1")
	require.True(t, errors.Is(err, store.ErrNotFound), "got %v", err)
}

func TestAddSessionReplaces(t *testing.T) {
	ctx := context.Background()
	db := newStore(t, sess("s1", "alice", `{"v":1}`))
	require.NoError(t, db.Join(ctx, "r", "s1"))
	require.NoError(t, db.AddSession(ctx, sess("s1", "bob", `{"v":2}`)))

	got, err := db.SessionsOf(ctx, "alice")
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = db.SessionsOf(ctx, "bob")
	require.NoError(t, err)
	require.Equal(t, []string{"s1"}, got)

	members, err := db.Members(ctx, "r")
	require.NoError(t, err)
	require.Equal(t, []store.Membership{{Room: "r", SessionID: "s1", UserID: "bob"}}, members)
	pres, err := db.Presence(ctx, "r")
	require.NoError(t, err)
	require.Equal(t, []store.Presence{{UserID: "bob", Meta: json.RawMessage(`{"v":2}`), Conns: 1}}, pres)

	require.NoError(t, db.Leave(ctx, "r", "s1"), "the membership moved to the new user")
	members, err = db.Members(ctx, "r")
	require.NoError(t, err)
	require.Empty(t, members)
}

// Members are ordered by session id even where user ids sort the other way.
func TestMembersOrderedBySession(t *testing.T) {
	ctx := context.Background()
	db := newStore(t, sess("s1", "zed", ""), sess("s2", "amy", ""), sess("s3", "zed", ""))
	for _, id := range []string{"s3", "s1", "s2"} {
		require.NoError(t, db.Join(ctx, "lobby", id))
	}
	members, err := db.Members(ctx, "lobby")
	require.NoError(t, err)
	require.Equal(t, []store.Membership{
		{Room: "lobby", SessionID: "s1", UserID: "zed"},
		{Room: "lobby", SessionID: "s2", UserID: "amy"},
		{Room: "lobby", SessionID: "s3", UserID: "zed"},
	}, members)
	pres, err := db.Presence(ctx, "lobby")
	require.NoError(t, err)
	require.Equal(t, []store.Presence{{UserID: "amy", Conns: 1}, {UserID: "zed", Conns: 2}}, pres)
}

func TestJoinLeave(t *testing.T) {
	ctx := context.Background()
	db := newStore(t, sess("s1", "alice", ""), sess("s2", "bob", ""))

	require.NoError(t, db.Join(ctx, "lobby", "s2"))
	require.NoError(t, db.Join(ctx, "lobby", "s1"))
	require.NoError(t, db.Join(ctx, "lobby", "s1"), "joining twice is not an error")

	members, err := db.Members(ctx, "lobby")
	require.NoError(t, err)
	require.Equal(t, []store.Membership{
		{Room: "lobby", SessionID: "s1", UserID: "alice"},
		{Room: "lobby", SessionID: "s2", UserID: "bob"},
	}, members)

	require.NoError(t, db.Leave(ctx, "lobby", "s1"))
	members, err = db.Members(ctx, "lobby")
	require.NoError(t, err)
	require.Equal(t, []store.Membership{{Room: "lobby", SessionID: "s2", UserID: "bob"}}, members)
}

func TestNotFound(t *testing.T) {
	ctx := context.Background()
	db := newStore(t, sess("s1", "alice", ""))
	require.NoError(t, db.Join(ctx, "lobby", "s1"))

	tests := []struct {
		name string
		op   func() error
	}{
		{"leave unknown room", func() error { return db.Leave(ctx, "nowhere", "s1") }},
		{"leave unknown session", func() error { return db.Leave(ctx, "lobby", "nobody") }},
		{"leave room prefix", func() error { return db.Leave(ctx, "lob", "s1") }},
		{"join unknown session", func() error { return db.Join(ctx, "lobby", "nobody") }},
		{"remove unknown session", func() error { return db.RemoveSession(ctx, "nobody") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			require.Error(t, err)
			require.True(t, errors.Is(err, store.ErrNotFound), "got %v", err)
		})
	}
}

func TestInvalidKeys(t *testing.T) {
	ctx := context.Background()
	db := newStore(t, sess("s1", "alice", ""))
	tests := []struct {
		name string
		op   func() error
	}{
		{"empty session id", func() error { return db.AddSession(ctx, sess("", "alice", "")) }},
		{"nul in session id", func() error { return db.AddSession(ctx, sess("a\x00b", "alice", "")) }},
		{"nul in user id", func() error { return db.AddSession(ctx, sess("s2", "a\x00b", "")) }},
		{"empty room", func() error { return db.Join(ctx, "", "s1") }},
		{"nul in room", func() error { return db.Join(ctx, "a\x00b", "s1") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.op(), store.ErrInvalid)
		})
	}
}

func TestRemoveSessionRemovesMemberships(t *testing.T) {
	ctx := context.Background()
	db := newStore(t, sess("s1", "alice", ""), sess("s2", "bob", ""))
	for _, room := range []string{"a", "b", "c"} {
		require.NoError(t, db.Join(ctx, room, "s1"))
	}
	require.NoError(t, db.Join(ctx, "b", "s2"))

	require.NoError(t, db.RemoveSession(ctx, "s1"))

	rooms, err := db.RoomsOf(ctx, "s1")
	require.NoError(t, err)
	require.Empty(t, rooms)
	all, err := db.Rooms(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"b"}, all)
	members, err := db.Members(ctx, "b")
	require.NoError(t, err)
	require.Equal(t, []store.Membership{{Room: "b", SessionID: "s2", UserID: "bob"}}, members)
	pres, err := db.Presence(ctx, "a")
	require.NoError(t, err)
	require.Empty(t, pres)
}

func TestPresence(t *testing.T) {
	ctx := context.Background()
	db := newStore(t,
		sess("tab2", "alice", `{"tab":2}`),
		sess("tab1", "alice", `{"tab":1}`),
		sess("b1", "bob", `{"name":"bob"}`),
		sess("other", "carol", ""),
	)
	for _, id := range []string{"tab2", "tab1", "b1"} {
		require.NoError(t, db.Join(ctx, "room", id))
	}
	require.NoError(t, db.Join(ctx, "room2", "other"))     // other room: not counted
	require.NoError(t, db.Join(ctx, "roomextra", "other")) // room name prefix: not counted

	steps := []struct {
		name  string
		leave string
		want  []store.Presence
	}{
		{"two tabs", "", []store.Presence{
			{UserID: "alice", Meta: json.RawMessage(`{"tab":1}`), Conns: 2},
			{UserID: "bob", Meta: json.RawMessage(`{"name":"bob"}`), Conns: 1},
		}},
		{"one tab left", "tab1", []store.Presence{
			{UserID: "alice", Meta: json.RawMessage(`{"tab":2}`), Conns: 1},
			{UserID: "bob", Meta: json.RawMessage(`{"name":"bob"}`), Conns: 1},
		}},
		{"both tabs left", "tab2", []store.Presence{
			{UserID: "bob", Meta: json.RawMessage(`{"name":"bob"}`), Conns: 1},
		}},
		{"empty room", "b1", nil},
	}
	for _, st := range steps {
		if st.leave != "" {
			require.NoError(t, db.Leave(ctx, "room", st.leave), st.name)
		}
		got, err := db.Presence(ctx, "room")
		require.NoError(t, err, st.name)
		require.Equal(t, st.want, got, st.name)
	}
}

func TestSessionsOf(t *testing.T) {
	ctx := context.Background()
	db := newStore(t, sess("z", "alice", ""), sess("a", "alice", ""), sess("m", "alice", ""),
		sess("b", "alice2", ""), sess("anon", "", ""))
	tests := []struct {
		user string
		want []string
	}{
		{"alice", []string{"a", "m", "z"}},
		{"alice2", []string{"b"}},
		{"", []string{"anon"}},
		{"nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			got, err := db.SessionsOf(ctx, tt.user)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRoomsOfSorted(t *testing.T) {
	ctx := context.Background()
	db := newStore(t, sess("s1", "alice", ""), sess("s2", "bob", ""))
	for _, room := range []string{"zeta", "alpha", "mid", "al"} {
		require.NoError(t, db.Join(ctx, room, "s1"))
	}
	require.NoError(t, db.Join(ctx, "beta", "s2"))

	got, err := db.RoomsOf(ctx, "s1")
	require.NoError(t, err)
	require.Equal(t, []string{"al", "alpha", "mid", "zeta"}, got)
	got, err = db.RoomsOf(ctx, "nobody")
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestRoomsDistinct(t *testing.T) {
	ctx := context.Background()
	db := newStore(t, sess("s1", "alice", ""), sess("s2", "bob", ""), sess("s3", "bob", ""))
	got, err := db.Rooms(ctx)
	require.NoError(t, err)
	require.Empty(t, got)

	for _, id := range []string{"s1", "s2", "s3"} {
		require.NoError(t, db.Join(ctx, "shared", id))
	}
	require.NoError(t, db.Join(ctx, "b", "s2"))
	require.NoError(t, db.Join(ctx, "a", "s1"))
	require.NoError(t, db.Join(ctx, "sharedx", "s3"))

	got, err = db.Rooms(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "shared", "sharedx"}, got)

	require.NoError(t, db.Leave(ctx, "a", "s1"))
	got, err = db.Rooms(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"b", "shared", "sharedx"}, got)
}

func TestMetaIsCopied(t *testing.T) {
	ctx := context.Background()
	meta := json.RawMessage(`{"n":1}`)
	db := newStore(t, store.Session{ID: "s1", UserID: "alice", Meta: meta})
	require.NoError(t, db.Join(ctx, "r", "s1"))

	meta[2] = 'X' // caller mutates its own slice after AddSession
	got, err := db.Presence(ctx, "r")
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, `{"n":1}`, string(got[0].Meta))

	got[0].Meta[2] = 'Y' // caller mutates a returned slice
	again, err := db.Presence(ctx, "r")
	require.NoError(t, err)
	require.Equal(t, `{"n":1}`, string(again[0].Meta))

	// Appending to one returned Meta must not overwrite another's.
	require.NoError(t, db.AddSession(ctx, sess("s2", "bob", `{"b":2}`)))
	require.NoError(t, db.Join(ctx, "r", "s2"))
	two, err := db.Presence(ctx, "r")
	require.NoError(t, err)
	require.Len(t, two, 2)
	_ = append(two[0].Meta, "garbage"...)
	require.Equal(t, `{"b":2}`, string(two[1].Meta))
}

func TestContextCanceled(t *testing.T) {
	db := newStore(t, sess("s1", "alice", ""))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	ops := map[string]func() error{
		"AddSession":    func() error { return db.AddSession(ctx, sess("s2", "bob", "")) },
		"RemoveSession": func() error { return db.RemoveSession(ctx, "s1") },
		"Join":          func() error { return db.Join(ctx, "r", "s1") },
		"Leave":         func() error { return db.Leave(ctx, "r", "s1") },
		"Members":       func() error { _, err := db.Members(ctx, "r"); return err },
		"RoomsOf":       func() error { _, err := db.RoomsOf(ctx, "s1"); return err },
		"SessionsOf":    func() error { _, err := db.SessionsOf(ctx, "alice"); return err },
		"Presence":      func() error { _, err := db.Presence(ctx, "r"); return err },
		"Rooms":         func() error { _, err := db.Rooms(ctx); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, op(), context.Canceled)
		})
	}
	got, err := db.SessionsOf(context.Background(), "alice")
	require.NoError(t, err)
	require.Equal(t, []string{"s1"}, got, "canceled RemoveSession must not have run")
}

func TestZeroValueUsable(t *testing.T) {
	ctx := context.Background()
	var db store.MemDB
	require.NoError(t, db.AddSession(ctx, sess("s1", "alice", "")))
	require.NoError(t, db.Join(ctx, "r", "s1"))
	got, err := db.Rooms(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"r"}, got)
}

func TestConcurrent(t *testing.T) {
	const (
		workers = 8
		iters   = 200
		rooms   = 5
	)
	ctx := context.Background()
	db := store.NewMemDB()

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("u%d", w%2) // two users, four tabs each
			id := fmt.Sprintf("s%d", w)
			if err := db.AddSession(ctx, store.Session{ID: id, UserID: user}); err != nil {
				errs <- err
				return
			}
			for i := range iters {
				room := fmt.Sprintf("r%d", i%rooms)
				if err := db.Join(ctx, room, id); err != nil {
					errs <- err
					return
				}
				// Readers run concurrently with writers.
				if _, err := db.Presence(ctx, room); err != nil {
					errs <- err
					return
				}
				if _, err := db.Rooms(ctx); err != nil {
					errs <- err
					return
				}
				// Leave every other join, so each session ends up in the
				// rooms of the last, unmatched joins.
				if i%2 == 0 {
					if err := db.Leave(ctx, room, id); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// Every session ran the same sequence, so each is in exactly the rooms
	// whose last operation was a join without a leave (odd i).
	joined := map[string]bool{}
	for i := range iters {
		joined[fmt.Sprintf("r%d", i%rooms)] = i%2 == 1
	}
	var wantRooms []string
	for r := range rooms {
		if name := fmt.Sprintf("r%d", r); joined[name] {
			wantRooms = append(wantRooms, name)
		}
	}
	require.NotEmpty(t, wantRooms)
	got, err := db.Rooms(ctx)
	require.NoError(t, err)
	require.Equal(t, wantRooms, got)
	for w := range workers {
		rs, err := db.RoomsOf(ctx, fmt.Sprintf("s%d", w))
		require.NoError(t, err)
		require.Equal(t, wantRooms, rs)
	}
	for _, room := range wantRooms {
		members, err := db.Members(ctx, room)
		require.NoError(t, err)
		require.Len(t, members, workers)
		pres, err := db.Presence(ctx, room)
		require.NoError(t, err)
		require.Equal(t, []store.Presence{{UserID: "u0", Conns: 4}, {UserID: "u1", Conns: 4}}, pres)
	}
}
