package store_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hubbubhq/hubbub/store"
)

// Two browser tabs of one user count as one present user with two
// connections.
func ExampleMemDB() {
	ctx := context.Background()
	db := store.NewMemDB()

	_ = db.AddSession(ctx, store.Session{ID: "tab-1", UserID: "alice", Meta: json.RawMessage(`{"name":"Alice"}`)})
	_ = db.AddSession(ctx, store.Session{ID: "tab-2", UserID: "alice", Meta: json.RawMessage(`{"name":"Alice"}`)})
	_ = db.AddSession(ctx, store.Session{ID: "phone", UserID: "bob"})
	_ = db.Join(ctx, "lobby", "tab-1")
	_ = db.Join(ctx, "lobby", "tab-2")
	_ = db.Join(ctx, "lobby", "phone")

	presence, err := db.Presence(ctx, "lobby")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range presence {
		out, _ := json.Marshal(p)
		fmt.Println(string(out))
	}
	// Output:
	// {"user":"alice","meta":{"name":"Alice"},"conns":2}
	// {"user":"bob","conns":1}
}
