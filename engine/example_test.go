package engine_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hubbubhq/hubbub/engine"
	"github.com/hubbubhq/hubbub/transport/memory"
)

// A chat: a typed handler relays each message to the room, except the
// sender, and acknowledges it.
func Example() {
	e := engine.New(engine.Config{
		Authenticate: func(r *http.Request) (engine.Identity, error) {
			user := r.URL.Query().Get("user")
			if user == "" {
				return engine.Identity{}, engine.NewError(engine.CodeUnauthorized, "who are you?")
			}
			return engine.Identity{UserID: user}, nil
		},
	})
	defer e.Shutdown(context.Background())

	type message struct {
		Room string `json:"room"`
		Text string `json:"text"`
	}
	e.On("chat", engine.Typed(func(ctx context.Context, s *engine.Session, m message) (any, error) {
		err := e.To(m.Room).Except(s).Emit("chat", map[string]string{"from": s.UserID(), "text": m.Text})
		return "delivered", err
	}))

	ctx := context.Background()
	dial := func(user string) *memory.Client {
		r, _ := http.NewRequest(http.MethodGet, "/?user="+user, nil)
		c, err := memory.Dial(e, memory.Config{Request: r})
		if err != nil {
			panic(err)
		}
		return c
	}
	alice, bob := dial("alice"), dial("bob")
	alice.Join(ctx, "lobby")
	bob.Join(ctx, "lobby")

	ack, _ := alice.EmitWithAck(ctx, "chat", message{Room: "lobby", Text: "hi bob"})
	fmt.Println("alice got ack", string(ack))
	f, _ := bob.Next(ctx)
	fmt.Printf("bob got %s #%d in %s: %s\n", f.Event, f.Offset, f.Room, f.Data)
	// Output:
	// alice got ack "delivered"
	// bob got chat #1 in lobby: {"from":"alice","text":"hi bob"}
}

// Presence: two tabs of one user are one member of the room.
func ExampleEngine_Presence() {
	e := engine.New(engine.Config{
		Authenticate: func(r *http.Request) (engine.Identity, error) {
			return engine.Identity{UserID: r.URL.Query().Get("user")}, nil
		},
	})
	defer e.Shutdown(context.Background())
	for _, user := range []string{"alice", "alice", "bob"} {
		r, _ := http.NewRequest(http.MethodGet, "/?user="+user, nil)
		c, _ := memory.Dial(e, memory.Config{Request: r})
		c.Session().Join("room")
	}
	who, _ := e.Presence(context.Background(), "room")
	for _, p := range who {
		fmt.Println(p.UserID, p.Conns)
	}
	fmt.Println(e.PresenceCount("room"), "users")
	// Output:
	// alice 2
	// bob 1
	// 2 users
}

// Asking a client for a reply, bounded by a context.
func ExampleSession_EmitWithAck() {
	e := engine.New(engine.Config{})
	defer e.Shutdown(context.Background())
	c, _ := memory.Dial(e, memory.Config{})

	go func() { // the client answers the question
		f, _ := c.Next(context.Background())
		c.SendFrame(engine.Frame{Type: engine.TypeAck, ID: f.ID, Data: []byte(`"blue"`)})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	answer, err := c.Session().EmitWithAck(ctx, "favourite-colour?", nil)
	fmt.Println(string(answer), err)
	// Output: "blue" <nil>
}
