package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/detectors"
)

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelp(t *testing.T) {
	code, out, _ := runCLI(t, "", "--help")
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, cmd := range []string{"replay", "run", "generate", "formats"} {
		if !strings.Contains(out, cmd) {
			t.Errorf("usage does not list %s", cmd)
		}
		code, _, errOut := runCLI(t, "", cmd, "--help")
		if code != 0 || !strings.Contains(errOut, "Usage:\n  gatewatch "+cmd) || !strings.Contains(errOut, "Flags:") {
			t.Errorf("%s --help: exit %d\n%s", cmd, code, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "", "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "", "replay", "--no-such-flag"); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
}

func TestFormats(t *testing.T) {
	_, out, _ := runCLI(t, "", "formats")
	if got := len(strings.Fields(out)); got != len(detectors.Formats()) {
		t.Errorf("formats lists %d, want %d", got, len(detectors.Formats()))
	}
}

// generate | replay round trip through stdin, with JSON output, and the
// dead-letter file for a bad line.
func TestGenerateReplay(t *testing.T) {
	dir := t.TempDir()
	logPath, truthPath, specPath := filepath.Join(dir, "a.log"), filepath.Join(dir, "truth.json"), filepath.Join(dir, "spec.yaml")
	code, _, errOut := runCLI(t, "", "generate", "--duration", "20m", "--rate", "10", "--attacks", "scanning",
		"--out", logPath, "--truth", truthPath, "--openapi", specPath)
	if code != 0 {
		t.Fatalf("generate: exit %d: %s", code, errOut)
	}
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	input := string(data) + "garbage that is no access log\n"
	dl := filepath.Join(dir, "dead.jsonl")
	code, out, errOut := runCLI(t, input, "replay", "--json", "--openapi", specPath, "--dead-letters", dl, "-")
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, errOut)
	}
	var scanning bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var d detectors.Detection
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("--json printed a non-record line %q: %v", line, err)
		}
		scanning = scanning || d.Kind == "scanning"
	}
	if !scanning {
		t.Errorf("the generated scanner was not reported:\n%s", out)
	}
	if !strings.Contains(errOut, "unparseable:     1") || !strings.Contains(errOut, "dead letters:    1") {
		t.Errorf("summary on stderr lacks the failure:\n%s", errOut)
	}
	b, err := os.ReadFile(dl)
	if err != nil || !strings.Contains(string(b), "garbage that is no access log") {
		t.Errorf("dead-letter file: %v %q", err, b)
	}
}

func TestReplayErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"replay"}, "name at least one log file"},
		{[]string{"replay", "/nonexistent/access.log"}, "/nonexistent/access.log"},
		{[]string{"replay", "--format", "nope", "-"}, "gatewatch formats"},
		{[]string{"replay", "--trusted-proxy", "10.0.0.0/99", "-"}, "not a CIDR"},
		{[]string{"replay", "--redis", "127.0.0.1:1", "-"}, "does not answer"},
		{[]string{"generate", "--format", "nope"}, "gatewatch formats"},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(t, "", tt.args...)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to mention %q", tt.args, code, errOut, tt.want)
		}
	}
}
