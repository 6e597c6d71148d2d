package parse

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// FuzzParseJSON feeds arbitrary input to the JSON side, both through the
// public Parse/ParseAll (after the line checks) and straight into
// parseJSON (so bytes the line check would reject still reach the JSON
// code), with and without a JSONFields mapping and trusted proxies. It
// asserts no panic and the invariants every accepted event must keep.
func FuzzParseJSON(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "json", "*.json*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		for _, l := range jsonLines(f, filepath.Base(file)) {
			f.Add(l)
		}
	}
	for _, s := range []string{`{}`, `[]`, `[{},]`, `{"status":"-"}`, `{"ts":1e308,"request":{},"status":1}`,
		`{"request":"GET \x2","status":1,"msec":"1"}`, `[1,"a",{"started_at":1,"latencies":{}}]`} {
		f.Add(s)
	}
	plain := newJSONTestParser(f, Options{})
	mapped := newJSONTestParser(f, Options{
		JSONFields:     map[string]string{"time": "t", "client_ip": "ip", "request": "r", "status": "s", "latency": "l", "xff": "x"},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")},
	})
	if data, err := os.ReadFile(filepath.Join("testdata", "json", "nginx.jsonl")); err == nil {
		f.Add(string(data)) // several lines at once
	}
	f.Fuzz(func(t *testing.T, line string) {
		for _, p := range []*Parser{plain, mapped} {
			var ev detectors.Event
			ev.Reset()
			checkJSONResult(t, line, &ev, p.parseJSON(line, &ev))
			ev.Reset()
			checkJSONResult(t, line, &ev, p.Parse(line, &ev))

			evs, err := p.ParseAll(line, nil)
			if err != nil {
				checkJSONError(t, err)
			}
			for i := range evs {
				if !strings.Contains(line, evs[i].Raw) || evs[i].Raw == "" {
					t.Fatalf("ParseAll event %d: Raw %q is not part of the line", i, evs[i].Raw)
				}
				checkJSONEventInvariants(t, &evs[i])
			}
		}
	})
}

func checkJSONResult(t *testing.T, line string, ev *detectors.Event, err error) {
	t.Helper()
	if err != nil {
		checkJSONError(t, err)
		return
	}
	if !strings.Contains(line, ev.Raw) || ev.Raw == "" {
		t.Fatalf("Raw %q is not the line", ev.Raw)
	}
	checkJSONEventInvariants(t, ev)
}

func checkJSONError(t *testing.T, err error) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error is not a *parse.Error: %v", err)
	}
	switch pe.Reason {
	case ReasonEmpty, ReasonTooLong, ReasonInvalidUTF8, ReasonBinary, ReasonTruncated, ReasonBadTime,
		ReasonBadField, ReasonUnknown:
	default:
		t.Fatalf("unexpected reason %q", pe.Reason)
	}
}

func checkJSONEventInvariants(t *testing.T, ev *detectors.Event) {
	t.Helper()
	if ev.Format == detectors.FormatUnknown {
		t.Fatalf("accepted event has no format")
	}
	if ev.Time.IsZero() {
		t.Fatalf("accepted %v event has no time", ev.Format)
	}
	if ev.Time.Location() != time.UTC {
		t.Fatalf("time %v is not UTC", ev.Time)
	}
	if ev.Status < 0 || ev.Status > 999 {
		t.Fatalf("status %d out of range", ev.Status)
	}
	if ev.Bytes < 0 || ev.Latency < 0 {
		t.Fatalf("negative bytes %d or latency %v", ev.Bytes, ev.Latency)
	}
	if strings.IndexByte(ev.Path, '?') >= 0 && isJSONFormat(ev.Format) && ev.Format != detectors.FormatAWSAPIGatewayJSON {
		t.Fatalf("path %q still holds its query", ev.Path)
	}
}
