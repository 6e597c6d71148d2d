package generate

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/pipeline/parse"
)

// lineSpec says what a format carries, so the round trip compares exactly
// the fields the gateway writes.
type lineSpec struct {
	prec     time.Duration // time precision of the line
	endTime  bool          // the line's time is the end of the request
	latency  time.Duration // latency precision; 0: not in the line
	query    bool
	ua       bool
	user     func(*detectors.Event) string
	onlyPath bool // the path is logged without the query
}

func basicUser(ev *detectors.Event) string { return ev.User }
func noUser(*detectors.Event) string       { return "" }

var lineSpecs = map[detectors.Format]lineSpec{
	detectors.FormatNginxCombined:     {prec: time.Second, query: true, ua: true, user: basicUser},
	detectors.FormatNginxMain:         {prec: time.Second, query: true, ua: true, user: basicUser},
	detectors.FormatApacheCommon:      {prec: time.Second, latency: time.Microsecond, query: true, user: basicUser},
	detectors.FormatApacheCombined:    {prec: time.Second, latency: time.Microsecond, query: true, ua: true, user: basicUser},
	detectors.FormatNginxJSON:         {prec: time.Second, latency: time.Millisecond, query: true, ua: true, user: basicUser},
	detectors.FormatEnvoyText:         {prec: time.Millisecond, latency: time.Millisecond, query: true, ua: true, user: noUser},
	detectors.FormatEnvoyJSON:         {prec: time.Millisecond, latency: time.Millisecond, query: true, ua: true, user: noUser},
	detectors.FormatKongJSON:          {prec: time.Millisecond, latency: time.Millisecond, query: true, ua: true, user: principal},
	detectors.FormatAWSAPIGatewayCLF:  {prec: time.Second, user: principal, onlyPath: true},
	detectors.FormatAWSAPIGatewayJSON: {prec: time.Second, user: principal, onlyPath: true},
	detectors.FormatTraefikCLF:        {prec: time.Second, latency: time.Millisecond, query: true, ua: true, user: basicUser},
	detectors.FormatTraefikJSON:       {prec: time.Nanosecond, latency: time.Nanosecond, query: true, ua: true, user: basicUser},
	detectors.FormatCaddyJSON:         {prec: time.Microsecond, endTime: true, latency: time.Microsecond, query: true, ua: true, user: principal},
	detectors.FormatHAProxy:           {prec: time.Millisecond, latency: time.Millisecond, query: true, user: noUser},
	detectors.FormatAWSALB:            {prec: time.Microsecond, endTime: true, latency: time.Millisecond, query: true, ua: true, user: noUser},
}

// roundTripSample is a varied sample: a slice of every origin (benign,
// every trap, every attack, so IPv6, 5xx, 401s, queries and long user
// agents all appear) plus a thin slice of everything.
func roundTripSample(t *testing.T) []detectors.Event {
	t.Helper()
	perOrigin := map[string]int{}
	var out []detectors.Event
	n := 0
	_, err := run(DefaultConfig(), func(ev *detectors.Event, o string) error {
		n++
		if perOrigin[o] < 40 || n%211 == 0 || (ev.ClientIP.Is6() && n%7 == 0) || ev.Status >= 500 {
			perOrigin[o]++
			out = append(out, *ev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAppendLineRoundTrip(t *testing.T) {
	evs := roundTripSample(t)
	p, err := parse.New(parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lineSpecs) != len(detectors.Formats()) {
		t.Fatalf("lineSpecs covers %d formats, detectors.Formats() has %d", len(lineSpecs), len(detectors.Formats()))
	}
	for _, f := range detectors.Formats() {
		spec := lineSpecs[f]
		t.Run(f.String(), func(t *testing.T) {
			var buf []byte
			fails := 0
			for i := range evs {
				want := &evs[i]
				buf = AppendLine(buf[:0], f, want)
				line := string(buf)
				var got detectors.Event
				if err := p.Parse(line, &got); err != nil {
					t.Errorf("parse %s: %v\n%s", f, err, line)
					fails++
				} else if msg := compareParsed(spec, want, &got); msg != "" {
					t.Errorf("%s: %s\n%s", f, msg, line)
					fails++
				}
				if fails >= 5 {
					t.Fatalf("stopping after %d failures", fails)
				}
			}
		})
	}
}

func compareParsed(s lineSpec, want, got *detectors.Event) string {
	var bad []string
	check := func(ok bool, field string, w, g any) {
		if !ok {
			bad = append(bad, field+": want "+toString(w)+", got "+toString(g))
		}
	}
	wt := want.Time.Truncate(s.prec)
	okTime := got.Time.Equal(wt)
	if s.endTime {
		end := want.Time.Add(want.Latency).Truncate(s.prec)
		okTime = okTime || got.Time.Equal(end)
	}
	check(okTime, "time", wt, got.Time)
	check(got.ClientIP == want.ClientIP, "client ip", want.ClientIP, got.ClientIP)
	check(got.Method == want.Method, "method", want.Method, got.Method)
	check(got.Path == want.Path, "path", want.Path, got.Path)
	if s.query {
		check(got.Query == want.Query, "query", want.Query, got.Query)
	}
	check(got.Status == want.Status, "status", want.Status, got.Status)
	check(got.Bytes == want.Bytes, "bytes", want.Bytes, got.Bytes)
	check(got.User == s.user(want), "user", s.user(want), got.User)
	if s.ua {
		check(got.UserAgent == want.UserAgent, "user agent", want.UserAgent, got.UserAgent)
	}
	if s.latency > 0 {
		wl := want.Latency.Truncate(s.latency)
		check(got.Latency == wl, "latency", wl, got.Latency)
	}
	return strings.Join(bad, "; ")
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return `"` + x + `"`
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case interface{ String() string }:
		return x.String()
	case int:
		return itoa(x)
	case int64:
		return itoa(int(x))
	}
	return "?"
}

// TestHAProxyIPv6 pins HAProxy's unbracketed IPv6 client ("2001:db8::1:41234",
// see fail2ban/fail2ban#1745), which the round trip also reads back.
func TestHAProxyIPv6(t *testing.T) {
	ev := detectors.Event{
		Time: time.Date(2026, 1, 5, 8, 0, 0, 123456000, time.UTC), ClientIP: netip.MustParseAddr("2001:db8::1"),
		Method: "GET", Path: "/health", Status: 200, Bytes: 15, Latency: 2 * time.Millisecond,
	}
	line := string(AppendLine(nil, detectors.FormatHAProxy, &ev))
	port := strconv.Itoa(clientPort(eventHash(&ev)))
	if want := "2001:db8::1:" + port + " [05/Jan/2026:08:00:00.123] "; !strings.HasPrefix(line, want) {
		t.Errorf("line %q does not start with %q", line, want)
	}
}
