package hubbubjs_test

import (
	"context"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/hubbubhq/hubbub/internal/testenv"
)

// TestNode runs the browser client's unit tests (hubbub.test.mjs) with
// node's built-in test runner. Without node on PATH the test is skipped
// loudly, and fails where HUBBUB_REQUIRE_ALL is set (CI).
func TestNode(t *testing.T) {
	node := testenv.LookPath(t, "node")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--no-warnings", "--test", "hubbub.test.mjs")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("node --test timed out after 2m:\n%s", out)
	}
	if err != nil {
		t.Fatalf("node --test hubbub.test.mjs failed: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`(?m)^# pass (\d+)$`).FindSubmatch(out); m != nil {
		t.Logf("node: %s tests passed", m[1])
	} else {
		t.Fatalf("node printed no test summary:\n%s", out)
	}
}
