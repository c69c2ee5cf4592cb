package client_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImportsNoServer checks that a service importing only the Go client
// gets the wire vocabulary (package protocol) and none of the server: no
// engine, store, transport, go-memdb or melody.
func TestImportsNoServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/hubbubhq/hubbub/client").CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/hubbubhq/hubbub/protocol")
	for _, d := range deps {
		for _, server := range []string{
			"github.com/hubbubhq/hubbub/engine",
			"github.com/hubbubhq/hubbub/store",
			"github.com/hubbubhq/hubbub/transport/",
			"github.com/hubbubhq/hubbub/internal/admit",
			"github.com/hashicorp/go-memdb",
			"github.com/olahol/melody",
		} {
			require.False(t, strings.HasPrefix(d, server), "the client imports %s", d)
		}
	}

	out, err = exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/hubbubhq/hubbub/protocol").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, []string{"github.com/hubbubhq/hubbub/protocol"}, strings.Fields(string(out)), "protocol imports only the standard library")
}
