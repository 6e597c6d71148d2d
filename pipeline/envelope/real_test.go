package envelope

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/pipeline/parse"
)

// fieldWant is what the parser must make of a line a real envelope holds.
// reason != "" expects the parser to refuse the line with that reason.
type fieldWant struct {
	time    string // RFC 3339 (nano), UTC: the request time from the line
	ip      string
	method  string
	path    string
	query   string
	status  int
	user    string
	latency time.Duration
	bytes   int64
	xff     string
	reason  parse.Reason
}

// casesByName indexes testdata/cases.txt.
func casesByName(tb testing.TB) map[string]fileCase {
	tb.Helper()
	m := map[string]fileCase{}
	for _, c := range loadCases(tb) {
		m[c.name] = c
	}
	return m
}

// parseTestdataLine reads line n (1-based) of ../parse/testdata/<file>,
// where the captured gateway lines and their sources live.
func parseTestdataLine(tb testing.TB, file string, n int) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "parse", "testdata", file))
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if n < 1 || n > len(lines) {
		tb.Fatalf("%s has %d lines, not %d", file, len(lines), n)
	}
	return lines[n-1]
}

// realCloudWatchAround takes the real CloudWatch Logs subscription payload
// of the named case (a base64 gzip blob holding Lambda log events, whose
// messages are no access logs) and puts lines in place of its messages,
// keeping everything else, event ids and timestamps included, as AWS wrote
// it. It returns the new payload, gzipped and base64-encoded like the real
// one, and the events' timestamps.
func realCloudWatchAround(t *testing.T, c fileCase, lines []string) ([]byte, []time.Time) {
	t.Helper()
	gz, err := base64.StdEncoding.DecodeString(c.in)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		LogEvents []struct {
			Timestamp int64  `json:"timestamp"`
			Message   string `json:"message"`
		} `json:"logEvents"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.LogEvents) != len(lines) {
		t.Fatalf("%s holds %d events, %d lines given", c.name, len(d.LogEvents), len(lines))
	}
	var ts []time.Time
	for i, ev := range d.LogEvents {
		oldMsg, _ := json.Marshal(ev.Message)
		newMsg, _ := json.Marshal(lines[i])
		if bytes.Count(doc, oldMsg) != 1 {
			t.Fatalf("message %d is not unique in the payload", i)
		}
		doc = bytes.Replace(doc, oldMsg, newMsg, 1)
		ts = append(ts, time.UnixMilli(ev.Timestamp).UTC())
	}
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(doc); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return []byte(base64.StdEncoding.EncodeToString(out.Bytes())), ts
}

// TestRealEnvelopeFields takes real envelopes through Unwrap and the parser
// and checks the request fields, so each envelope is tested with real data
// end to end: Docker json-file records captured from a real docker daemon
// around real nginx, Fluent Bit's Kafka record from KubeSphere's blog, and
// a real CloudWatch Logs subscription payload. The CloudWatch payload's own
// messages are Lambda logs, so it is tested here with real captured gateway
// lines put in place of them (see realCloudWatchAround); its verbatim form
// is in cases.txt.
func TestRealEnvelopeFields(t *testing.T) {
	cases := casesByName(t)
	p, err := parse.New(parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	type test struct {
		name string
		in   []byte
		at   []time.Time // shipper times; nil = as in cases.txt
		want []fieldWant
	}
	tests := []test{
		{name: `docker json-file captured nginx main 200 with \u0026`, want: []fieldWant{{time: "2026-11-22T06:05:16Z", ip: "127.0.0.1",
			method: "GET", path: "/api/items", query: "page=2&sort=desc", status: 200, bytes: 13}}},
		{name: "docker json-file captured nginx main 401 with user and XFF", want: []fieldWant{{time: "2026-11-22T06:05:16Z", ip: "127.0.0.1",
			method: "POST", path: "/api/v1/login", query: "next=%2Fhome", status: 401, user: "alice", bytes: 179, xff: "203.0.113.9, 198.51.100.23"}}},
		{name: `docker json-file captured nginx main 404 with \x22 in UA`, want: []fieldWant{{time: "2026-11-22T06:05:16Z", ip: "127.0.0.1",
			method: "GET", path: "/wp-login.php", status: 404, bytes: 153}}},
		{name: `docker json-file captured nginx main 404 with \u003c \u003e`, want: []fieldWant{{time: "2026-11-22T06:05:16Z", ip: "127.0.0.1",
			method: "GET", path: "/search", query: "q=<script>&a=1&b=2", status: 404, bytes: 153}}},
		{name: "docker json-file captured nginx main with XFF", want: []fieldWant{{time: "2026-11-22T06:05:16Z", ip: "127.0.0.1",
			method: "GET", path: "/", status: 200, bytes: 27, xff: "192.0.2.33"}}},
		// The nginx error log shares the container's output; it is no request.
		// It starts with digits, so it is taken for a text access line whose
		// client address is bad.
		{name: "docker json-file captured nginx error log on stderr", want: []fieldWant{{reason: parse.ReasonBadField}}},
		// The blog's author replaced the client address with *.*.*.*, so the
		// line the real record holds is refused; the envelope is still real.
		{name: "fluent bit kafka record from KubeSphere (real, client address masked by its author)", want: []fieldWant{{reason: parse.ReasonUnknown}}},
	}
	// The real payload with real captured gateway lines in place of its Lambda logs.
	cw := cases["cloudwatch real lambda subscription (tab-separated and JSON messages)"]
	cwIn, cwAt := realCloudWatchAround(t, cw, []string{
		parseTestdataLine(t, "text/nginx_main_captured.log", 2),
		parseTestdataLine(t, "text/nginx_main_captured.log", 4),
		parseTestdataLine(t, "json/caddy_captured.jsonl", 2),
	})
	tests = append(tests, test{name: "real cloudwatch payload around captured nginx and caddy lines", in: cwIn, at: cwAt, want: []fieldWant{
		{time: "2026-11-22T04:47:01Z", ip: "127.0.0.1", method: "POST", path: "/api/v1/login", query: "next=%2Fhome", status: 401,
			user: "alice", bytes: 179, xff: "203.0.113.9, 198.51.100.23"},
		{time: "2026-11-22T04:47:03Z", ip: "::1", method: "GET", path: "/search", query: "q=%22%3E%3Cscript%3E", status: 404,
			bytes: 153, xff: "2001:db8::7, 198.51.100.24"},
		{time: "2026-11-22T04:47:55.0460794Z", ip: "127.0.0.1", method: "POST", path: "/api/v1/login", status: 200,
			user: "alice", latency: 1095753252 * time.Nanosecond, bytes: 7, xff: "203.0.113.9"},
	}})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, at := tt.in, tt.at
			if in == nil {
				c, ok := cases[tt.name]
				if !ok {
					t.Fatalf("case %q is not in cases.txt", tt.name)
				}
				in = []byte(c.in)
				for _, w := range c.want {
					at = append(at, w.at)
				}
			}
			var u Unwrapper
			out, err := collect(&u, in)
			if err != nil {
				t.Fatalf("Unwrap: %v", err)
			}
			if len(out) != len(tt.want) || len(at) != len(tt.want) {
				t.Fatalf("got %d lines (%d shipper times), want %d", len(out), len(at), len(tt.want))
			}
			for i, w := range tt.want {
				if !out[i].at.Equal(at[i]) {
					t.Errorf("line %d: shipper time %v, want %v", i, out[i].at, at[i])
				}
				var ev detectors.Event
				err := p.Parse(out[i].line, &ev)
				if w.reason != "" {
					var pe *parse.Error
					if !errors.As(err, &pe) || pe.Reason != w.reason {
						t.Errorf("line %d: Parse error %v, want reason %s", i, err, w.reason)
					}
					continue
				}
				if err != nil {
					t.Fatalf("line %d: Parse(%q): %v", i, out[i].line, err)
				}
				checkFields(t, i, &ev, w)
			}
		})
	}
}

func checkFields(t *testing.T, i int, ev *detectors.Event, w fieldWant) {
	t.Helper()
	if got := ev.Time.UTC().Format(time.RFC3339Nano); got != w.time {
		t.Errorf("line %d: time %s, want %s", i, got, w.time)
	}
	if got := ev.ClientIP.String(); got != w.ip {
		t.Errorf("line %d: ip %s, want %s", i, got, w.ip)
	}
	if ev.Method != w.method || ev.Path != w.path || ev.Query != w.query {
		t.Errorf("line %d: request %s %s ? %s, want %s %s ? %s", i, ev.Method, ev.Path, ev.Query, w.method, w.path, w.query)
	}
	if ev.Status != w.status || ev.User != w.user || ev.Bytes != w.bytes || ev.Latency != w.latency {
		t.Errorf("line %d: status %d user %q bytes %d latency %v, want %d %q %d %v",
			i, ev.Status, ev.User, ev.Bytes, ev.Latency, w.status, w.user, w.bytes, w.latency)
	}
	if ev.XForwardedFor != w.xff {
		t.Errorf("line %d: X-Forwarded-For %q, want %q", i, ev.XForwardedFor, w.xff)
	}
}
