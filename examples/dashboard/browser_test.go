package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	bt "github.com/hubbubhq/hubbub/examples/internal/browsertest"
)

// The page updates its figures and charts with no interaction: the server
// pushes them.
func TestBrowserDashboard(t *testing.T) {
	_, hs := startServer(t, options{Interval: 250 * time.Millisecond, Load: 100, Subscribers: 10})
	b := bt.New(t)
	tab := b.User(1200, 900)
	tab.Navigate(hs.URL+"/", "#fig-published")
	tab.WaitFor("connected", `document.querySelector("#conn").dataset.state === "open"`)
	tab.WaitFor("a first figure", `/^[0-9,]+$/.test(document.querySelector("#fig-published").textContent)`)
	first := tab.Text("#fig-published")
	tab.WaitFor("the figure to change by itself", `document.querySelector("#fig-published").textContent !== `+bt.JS(first))
	require.Equal(t, "websocket", tab.Text("#conn-transport"))

	// Enough samples for the charts to have a shape.
	tab.WaitFor("the charts drawn", `+document.querySelector("#chart-rate").dataset.points >= 16 && +document.querySelector("#chart-goroutines").dataset.points >= 16`)
	tab.WaitFor("load in the rates", `document.querySelector("#fig-deliv-rate").textContent !== "0"`)
	tab.Screenshot("desktop")

	// A second viewer, on a phone and over Server-Sent Events.
	phone := b.User(390, 844)
	phone.Navigate(hs.URL+"/?transport=sse", "#fig-published")
	phone.WaitFor("live over sse", `document.querySelector("#conn").dataset.state === "open" && document.querySelector("#conn-transport").textContent === "sse"`)
	phone.WaitFor("history fills the chart at once", `+document.querySelector("#chart-rate").dataset.points >= 16`)
	first = phone.Text("#fig-published")
	phone.WaitFor("the figure to change by itself over sse", `document.querySelector("#fig-published").textContent !== `+bt.JS(first))
	phone.Screenshot("phone")
}
