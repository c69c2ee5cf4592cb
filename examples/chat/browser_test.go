package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/hubbubhq/hubbub/engine"
	bt "github.com/hubbubhq/hubbub/examples/internal/browsertest"
)

// Browser end-to-end tests: real headless Chromium pages of the chat,
// against the server in this process, over WebSocket (this file) and over
// SSE and long-poll (transports_test.go). Every wait is on a DOM condition,
// with a generous timeout.

const (
	desktopW, desktopH = 1100, 720
	phoneW, phoneH     = 390, 780
)

// open loads the chat as name in room and waits until the page is
// connected over WebSocket and in the room (it lists itself as present).
func open(t *testing.T, tab *bt.Tab, base, name, room string) {
	t.Helper()
	openOver(t, tab, base, name, room, "", "websocket")
}

// openOver is open with ?transport=forced (nothing forced when empty):
// it waits until the page shows want as the transport in use.
func openOver(t *testing.T, tab *bt.Tab, base, name, room, forced, want string) {
	t.Helper()
	q := url.Values{"name": {name}, "room": {room}}
	if forced != "" {
		q.Set("transport", forced)
	}
	tab.Navigate(base+"/?"+q.Encode(), "#messages")
	tab.WaitFor(fmt.Sprintf("%s connected over %s and in #%s", name, want, room), fmt.Sprintf(
		`document.querySelector("#conn").dataset.state === "open" && document.querySelector("#conn-transport").textContent === %s && !!document.querySelector(%s) && document.querySelector("#room-title").textContent === %s`,
		bt.JS(want), bt.JS(`#presence li[data-user="`+name+`"]`), bt.JS(room)))
}

func presentJS(user string) string {
	return fmt.Sprintf(`!!document.querySelector(%s)`, bt.JS(`#presence li[data-user="`+user+`"]`))
}

// receivedJS is true when a message from someone else with this text is
// in the list.
func receivedJS(from, text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#messages .msg:not(.own)")].some(li => li.dataset.from === %s && li.querySelector(".text").textContent === %s)`,
		bt.JS(from), bt.JS(text))
}

// statusJS is true when one's own message with this text shows the status.
func statusJS(text, status string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#messages .msg.own")].some(li => li.querySelector(".text").textContent === %s && li.querySelector(".status").textContent === %s)`,
		bt.JS(text), bt.JS(status))
}

// seeTyping types in from's composer until to shows that who is typing.
// A notice shows for ~3 s, so it types a key at a time until one is seen
// (however slow the machine, it shows eventually).
func seeTyping(from, to *bt.Tab, who string) {
	shown := `document.querySelector("#typing").textContent === ` + bt.JS(who+" is typing…")
	deadline := time.Now().Add(bt.Timeout)
	for seen := false; !seen; {
		if time.Now().After(deadline) {
			to.WaitFor(who+" typing", shown) // fails with a screenshot
		}
		from.Do("type", chromedp.SendKeys(chromedp.CSS("#text"), "h"))
		seen = to.Try(shown, 2*time.Second)
	}
}

func say(tab *bt.Tab, text string) {
	tab.Do("write "+text,
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#text").value = ""`),
		chromedp.SendKeys(chromedp.CSS("#text"), text+"\n"))
}

// Two people in independent browser contexts (one on a phone-sized
// screen) chat: presence, typing, delivery, acks, errors and history.
func TestBrowserChat(t *testing.T) {
	s, hs := startServer(t)
	b := bt.New(t)
	alice := b.User(desktopW, desktopH)
	bob := b.User(phoneW, phoneH)

	open(t, alice, hs.URL, "alice", "lobby")
	open(t, bob, hs.URL, "bob", "lobby")
	alice.WaitFor("bob in alice's presence list", presentJS("bob"))
	bob.WaitFor("alice in bob's presence list", presentJS("alice"))
	require.Equal(t, "connected", alice.Text("#conn-state"))
	require.Equal(t, "websocket", alice.Text("#conn-transport"))
	require.Equal(t, "· 2 online", alice.Text("#online-count"))

	seeTyping(alice, bob, "alice")
	bob.Screenshot("bob-sees-alice-typing")

	say(alice, "hello bob, ça va ?")
	bob.WaitFor("bob gets alice's message", receivedJS("alice", "hello bob, ça va ?"))
	alice.WaitFor("alice's message acknowledged", statusJS("hello bob, ça va ?", "✓"))
	bob.WaitFor("the typing notice ends with the message", `document.querySelector("#typing").textContent === ""`)

	say(bob, "hi alice! how are things?")
	alice.WaitFor("alice gets bob's reply", receivedJS("bob", "hi alice! how are things?"))
	bob.WaitFor("bob's reply acknowledged", statusJS("hi alice! how are things?", "✓"))

	// Over the server's limit: the server refuses it, the page says why.
	long := strings.TrimSpace(strings.Repeat("All work and no play makes Jack a dull boy. ", 23))
	require.Greater(t, len(long), maxMessageRunes)
	alice.Do("send a long message", chromedp.Evaluate[chromedp.Void](`document.querySelector("#text").value = `+bt.JS(long)), chromedp.Click(chromedp.CSS("#send")))
	alice.WaitFor("the long message refused with a reason", statusJS(long, "✗")+
		` && document.querySelector("#messages .msg.own.failed .reason").textContent.includes("the limit is 1000")`)
	say(alice, "(that was too long)")
	alice.WaitFor("ack", statusJS("(that was too long)", "✓"))
	bob.WaitFor("bob gets it", receivedJS("alice", "(that was too long)"))

	alice.Screenshot("alice-desktop")
	bob.Screenshot("bob-phone")
	// On a phone, rooms and people are in a drawer.
	bob.Do("open the menu", chromedp.Click(chromedp.CSS("#menu-btn")))
	bob.WaitFor("the drawer open", `document.querySelector("#app").classList.contains("menu-open") && document.querySelector("#sidebar").getBoundingClientRect().left >= 0`)
	bob.Screenshot("bob-phone-menu")
	bob.Do("close the menu with a tap beside it", chromedp.MouseClickXY(phoneW-20, phoneH/2))
	bob.WaitFor("the drawer closed", `!document.querySelector("#app").classList.contains("menu-open")`)

	// A latecomer gets the recent history and the people present.
	// She comes in through the form.
	carol := b.User(desktopW, desktopH)
	carol.Navigate(hs.URL+"/", "#login-form")
	carol.Do("fill in the form", chromedp.SendKeys(chromedp.CSS("#name"), "carol"))
	carol.Screenshot("login")
	carol.Do("enter", chromedp.Click(chromedp.CSS("#join-btn")))
	carol.WaitFor("carol in the lobby", `document.querySelector("#conn").dataset.state === "open" && `+presentJS("carol")+
		` && location.search === "?name=carol&room=lobby"`)
	carol.WaitFor("carol gets the history", receivedJS("alice", "hello bob, ça va ?")+" && "+receivedJS("bob", "hi alice! how are things?"))
	carol.WaitFor("carol sees alice and bob", presentJS("alice")+" && "+presentJS("bob"))
	require.Equal(t, 0, bt.Eval[int](carol, `document.querySelectorAll("#messages .msg.own").length`))
	require.Contains(t, carol.Text("#messages li.sys:last-child"), "the last 3 messages are above")
	alice.WaitFor("alice sees carol arrive", presentJS("carol"))
	carol.Screenshot("carol-joins-with-history")

	// The server drops bob's connection: his page says so, reconnects by
	// itself, rejoins the room and gets what was said meanwhile.
	ids, err := s.engine.Store().SessionsOf(context.Background(), "bob")
	require.NoError(t, err)
	require.Len(t, ids, 1)
	s.engine.Session(ids[0]).Close(engine.CloseReason{Code: engine.CloseGoingAway, Text: "test: dropped"})
	say(alice, "bob, are you still there?")
	bob.WaitFor("bob gets it after reconnecting", receivedJS("alice", "bob, are you still there?")+
		` && document.querySelector("#conn").dataset.state === "open"`+
		` && [...document.querySelectorAll("#messages li.sys")].some(li => li.textContent === "Reconnected.")`)
	require.Equal(t, 1, bt.Eval[int](bob, `document.querySelectorAll("#messages li.sys.bad").length`), "one 'connection lost' line")
	bob.Screenshot("bob-reconnected")

	// Alice makes a room of her own; everyone's room list shows it.
	alice.Do("create a room", chromedp.SendKeys(chromedp.CSS("#new-room-name"), "Kitchen Talk\n"))
	alice.WaitFor("alice in #kitchen-talk", `document.querySelector("#room-title").textContent === "kitchen-talk" && location.search.includes("room=kitchen-talk")`+
		` && document.querySelectorAll("#presence li").length === 1 && `+presentJS("alice"))
	bob.WaitFor("the new room in bob's list, alice gone from the lobby",
		`document.querySelector('#rooms li[data-room="kitchen-talk"] .users')?.textContent === "1" && !`+presentJS("alice"))
	alice.Screenshot("alice-new-room")
}

// Presence is per user: closing one of two tabs keeps the user present for
// others; closing the last one removes them.
func TestBrowserPresenceAcrossTabs(t *testing.T) {
	s, hs := startServer(t)
	b := bt.New(t)
	bob := b.User(desktopW, desktopH)
	alice1 := b.User(desktopW, desktopH)
	alice2 := alice1.NewTab(desktopW, desktopH) // same user, same browser profile

	open(t, bob, hs.URL, "bob", "lobby")
	open(t, alice1, hs.URL, "alice", "lobby")
	open(t, alice2, hs.URL, "alice", "lobby")
	bob.WaitFor("alice present", presentJS("alice"))
	require.Equal(t, 2, bt.Eval[int](bob, `document.querySelectorAll("#presence li").length`), "one entry per user")
	require.Equal(t, 2, bt.Eval[int](alice2, `document.querySelectorAll("#presence li").length`))

	alice2.Close()
	waitSessions(t, s, "alice", 1)
	// A leave notice would reach bob before anything alice sends next.
	say(alice1, "one tab closed, still here")
	bob.WaitFor("bob gets alice's message", receivedJS("alice", "one tab closed, still here"))
	require.True(t, bt.Eval[bool](bob, presentJS("alice")), "alice must stay present while she has a tab open")
	bob.Screenshot("alice-one-tab-left")

	alice1.Close()
	bob.WaitFor("alice gone from bob's list", "!"+presentJS("alice")+" && "+presentJS("bob"))
	require.Equal(t, "· 1 online", bob.Text("#online-count"))
	bob.Screenshot("alice-gone")
}

// waitSessions waits until the server has n sessions of user.
func waitSessions(t *testing.T, s *server, user string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bt.Timeout)
	defer cancel()
	for {
		ids, err := s.engine.Store().SessionsOf(ctx, user)
		require.NoError(t, err)
		if len(ids) == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s has %d sessions, want %d", user, len(ids), n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
