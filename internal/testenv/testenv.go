// Package testenv lets tests that need an outside tool (node, Chromium)
// skip loudly where the tool is missing, and fail instead in CI, where
// HUBBUB_REQUIRE_ALL=1 is set so that every test always runs.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireAllVar is the environment variable that turns skips into failures.
const RequireAllVar = "HUBBUB_REQUIRE_ALL"

// LookPath returns the path of the first of names found on PATH. When none
// is, the test is skipped with a loud message, or fails when RequireAllVar
// is set.
func LookPath(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	Missing(t, "none of %v is installed", names)
	return ""
}

// Missing skips (or, under RequireAllVar, fails) the test because something
// it needs is absent.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireAllVar) != "" {
		t.Fatalf("REQUIRED BY "+RequireAllVar+": "+format, args...)
	}
	t.Logf("!!!!!!!! SKIPPING: "+format+" (set "+RequireAllVar+"=1 to make this a failure)", args...)
	t.SkipNow()
}
