package parse

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

var knownReasons = map[Reason]bool{
	ReasonEmpty: true, ReasonTooLong: true, ReasonInvalidUTF8: true, ReasonBinary: true,
	ReasonTruncated: true, ReasonBadTime: true, ReasonBadField: true, ReasonUnknown: true,
}

// FuzzParse feeds every parser, auto-detected and forced, mutations of the
// real test lines of all formats. Whatever the input: no panic; success
// yields a plausible event; failure yields an *Error with a known Reason.
// Crashers found so far are kept under testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	var seeds []string
	for _, glob := range []string{"testdata/text/*.log", "testdata/json/*.jsonl"} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			for _, l := range strings.Split(string(b), "\n") {
				if l != "" {
					seeds = append(seeds, l)
				}
			}
		}
	}
	// JSON lines in case testdata/json is missing or changes shape.
	seeds = append(seeds,
		`{"level":"info","ts":1711741827.9626286,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"127.0.0.1","remote_port":"54462","client_ip":"127.0.0.1","proto":"HTTP/1.1","method":"GET","host":"localhost:9080","uri":"/?a=1","headers":{"User-Agent":["curl/7.88.1"]}},"bytes_read":0,"user_id":"","duration":0.000033987,"size":0,"status":401}`,
		`{"requestId":"3f1c2a9e-7b4d-4e8a-9c61-0d5b2e7f4a13","ip":"198.51.100.23","caller":"-","user":"-","requestTime":"10/Jun/2023:15:36:28 +0000","httpMethod":"GET","resourcePath":"/pets","status":"200","protocol":"HTTP/1.1","responseLength":"184"}`,
		`[{"client_ip":"192.168.65.1","started_at":1726783839538,"request":{"method":"GET","uri":"/x","headers":{"user-agent":"HTTPie/3.2.3"}},"response":{"status":200,"size":9982},"latencies":{"request":173}},{"client_ip":"192.168.65.2","started_at":1726783839539,"request":{"method":"POST","uri":"/y"},"response":{"status":401,"size":1},"latencies":{"request":2}}]`,
		"",
		"\r\n",
		"[",
		"{",
	)
	for i, s := range seeds {
		f.Add(s, uint8(i))
	}
	formats := detectors.Formats()
	parsers := make([]*Parser, len(formats)+1)
	for i := range parsers {
		var opts Options
		if i > 0 {
			opts.Format = formats[i-1]
		}
		p, err := New(opts)
		if err != nil {
			f.Fatal(err)
		}
		parsers[i] = p
	}
	f.Fuzz(func(t *testing.T, line string, which uint8) {
		p := parsers[int(which)%len(parsers)]
		var ev detectors.Event
		err := p.Parse(line, &ev)
		trimmed := strings.TrimRight(line, "\r\n")
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || !knownReasons[pe.Reason] {
				t.Fatalf("error %v (%T) is not an *Error with a known reason", err, err)
			}
		} else {
			checkFuzzEvent(t, p, &ev, trimmed)
		}

		// ParseAll agrees with Parse on lines that are not JSON arrays,
		// and every event it returns satisfies the same invariants.
		evs, errAll := p.ParseAll(line, nil)
		if errAll != nil {
			var pe *Error
			if !errors.As(errAll, &pe) || !knownReasons[pe.Reason] {
				t.Fatalf("ParseAll error %v (%T) is not an *Error with a known reason", errAll, errAll)
			}
		}
		// Batches (as ParseAll routes them) may legitimately differ from
		// Parse, which refuses to pick one element of an array.
		forced := p.opts.Format
		if strings.HasPrefix(trimmed, "[") && (forced == detectors.FormatKongJSON ||
			forced == detectors.FormatUnknown && sniff(trimmed) == formatJSONAuto) {
			for i := range evs {
				checkFuzzEvent(t, p, &evs[i], "")
			}
			return
		}
		if (err == nil) != (errAll == nil) || (err == nil && len(evs) != 1) {
			t.Fatalf("Parse err %v, ParseAll err %v with %d events", err, errAll, len(evs))
		}
		if err != nil && ReasonOf(err) != ReasonOf(errAll) {
			t.Fatalf("Parse reason %s, ParseAll reason %s", ReasonOf(err), ReasonOf(errAll))
		}
		if err == nil && (evs[0].Time != ev.Time || evs[0].Path != ev.Path || evs[0].ClientIP != ev.ClientIP) {
			t.Fatalf("ParseAll event differs:\n%+v\n%+v", evs[0], ev)
		}
	})
}

// checkFuzzEvent asserts what holds for every accepted line. raw is the
// expected Raw ("" = part of a batch, not checked).
func checkFuzzEvent(t *testing.T, p *Parser, ev *detectors.Event, raw string) {
	t.Helper()
	if ev.Time.IsZero() || ev.Time.Location() != time.UTC || ev.Time.Year() < 1 || ev.Time.Year() > 9999 {
		t.Fatalf("time %v is not a valid UTC time", ev.Time)
	}
	if ev.Status < 0 || ev.Status > 999 {
		t.Fatalf("status %d out of 0..999", ev.Status)
	}
	if ev.Latency < 0 || ev.Bytes < 0 {
		t.Fatalf("negative latency %v or bytes %d", ev.Latency, ev.Bytes)
	}
	if ev.Format == detectors.FormatUnknown || ev.Format.String() == "" || strings.HasPrefix(ev.Format.String(), "format(") {
		t.Fatalf("format %v is not a real format", ev.Format)
	}
	if p.opts.Format != detectors.FormatUnknown && ev.Format != p.opts.Format {
		t.Fatalf("format %v, forced %v", ev.Format, p.opts.Format)
	}
	if raw == "" {
		return
	}
	if ev.Raw != raw {
		t.Fatalf("Raw %q, want %q", ev.Raw, raw)
	}
	// Text parsers take every field from the line itself.
	if !isJSONFormat(ev.Format) {
		for _, s := range []string{ev.Method, ev.Path, ev.Query, ev.User, ev.UserAgent, ev.Host, ev.XForwardedFor} {
			if !strings.Contains(raw, s) {
				t.Fatalf("field %q is not part of the line", s)
			}
		}
	}
}
