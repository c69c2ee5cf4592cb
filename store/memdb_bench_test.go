package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hubbubhq/hubbub/store"
)

// BenchmarkMemDBJoin measures one Join write transaction of a new
// (room, session) pair.
func BenchmarkMemDBJoin(b *testing.B) {
	const nSessions, nRooms = 1024, 1024
	ctx := context.Background()
	db := store.NewMemDB()
	sessions := make([]string, nSessions)
	for i := range sessions {
		sessions[i] = fmt.Sprintf("session-%04d", i)
		if err := db.AddSession(ctx, store.Session{ID: sessions[i], UserID: fmt.Sprintf("user-%d", i/4)}); err != nil {
			b.Fatal(err)
		}
	}
	rooms := make([]string, nRooms)
	for i := range rooms {
		rooms[i] = fmt.Sprintf("room-%04d", i)
	}

	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Pairs are distinct for the first nSessions*nRooms iterations.
		if err := db.Join(ctx, rooms[i%nRooms], sessions[(i/nRooms)%nSessions]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkMemDBPresence measures Presence of a room holding 100 users with
// two sessions each, in a store with 10 such rooms.
func BenchmarkMemDBPresence(b *testing.B) {
	const nUsers, tabs, nRooms = 100, 2, 10
	ctx := context.Background()
	db := store.NewMemDB()
	meta := json.RawMessage(`{"name":"someone","avatar":"https://example.com/a.png"}`)
	for u := range nUsers {
		for t := range tabs {
			id := fmt.Sprintf("s-%03d-%d", u, t)
			if err := db.AddSession(ctx, store.Session{ID: id, UserID: fmt.Sprintf("user-%03d", u), Meta: meta}); err != nil {
				b.Fatal(err)
			}
			for r := range nRooms {
				if err := db.Join(ctx, fmt.Sprintf("room-%d", r), id); err != nil {
					b.Fatal(err)
				}
			}
		}
	}

	b.ReportAllocs()
	for b.Loop() {
		p, err := db.Presence(ctx, "room-5")
		if err != nil {
			b.Fatal(err)
		}
		if len(p) != nUsers {
			b.Fatalf("got %d users, want %d", len(p), nUsers)
		}
	}
}
