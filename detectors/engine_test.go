package detectors_test

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/detectors/incident"
	"github.com/gatewatch/gatewatch/detectors/window"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

type harness struct {
	t   *testing.T
	eng *detectors.Engine
	all []detectors.Detection
}

func newHarness(t *testing.T, cfg detectors.Config) *harness {
	t.Helper()
	st, err := window.NewMemory(detectors.Schema(cfg))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detectors.NewEngine(cfg, st, incident.NewMemory(), detectors.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, eng: eng}
}

// run feeds events in batches of n and collects every detection.
func (h *harness) run(evs []detectors.Event, info []detectors.RouteInfo, n int) []detectors.Detection {
	h.t.Helper()
	var got []detectors.Detection
	for i := 0; i < len(evs); i += n {
		j := min(i+n, len(evs))
		var ri []detectors.RouteInfo
		if info != nil {
			ri = info[i:j]
		}
		ds, err := h.eng.Process(context.Background(), evs[i:j], ri, nil)
		if err != nil {
			h.t.Fatal(err)
		}
		got = append(got, ds...)
	}
	h.all = append(h.all, got...)
	return got
}

func ev(at time.Duration, ip, method, path string, status int) detectors.Event {
	e := detectors.Event{
		Time: t0.Add(at), ClientIP: netip.MustParseAddr(ip), Method: method, Path: path, Route: path,
		Status: status, UserAgent: "Mozilla/5.0", Bytes: 512,
	}
	e.Raw = ip + " - - \"" + method + " " + path + " HTTP/1.1\" " + strconv.Itoa(status)
	e.Source = detectors.Position{File: "test.log", Line: int64(at / time.Millisecond)}
	return e
}

func login(at time.Duration, ip, user string, status int) detectors.Event {
	e := ev(at, ip, "POST", "/api/v1/auth/login", status)
	e.User = user
	return e
}

func has(ds []detectors.Detection, kind, typ, value string) *detectors.Detection {
	for i := range ds {
		if ds[i].Kind == kind && ds[i].Entity.Type == typ && ds[i].Entity.Value == value {
			return &ds[i]
		}
	}
	return nil
}

func kinds(ds []detectors.Detection) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Kind+"/"+d.Entity.String())
	}
	return out
}

func TestLoginBurst(t *testing.T) {
	type check struct {
		kind, typ, value string
		sev              detectors.Severity // "" = must not fire
	}
	spread := func(ip, user string, n int, every time.Duration, status int) []detectors.Event {
		var out []detectors.Event
		for i := 0; i < n; i++ {
			out = append(out, login(time.Duration(i)*every, ip, user, status))
		}
		return out
	}
	tests := []struct {
		name string
		evs  []detectors.Event
		want []check
	}{
		{"9 failures in 10m: quiet", spread("203.0.113.7", "", 9, 60*time.Second, 401),
			[]check{{"login_burst", "ip", "203.0.113.7", ""}}},
		{"10 failures in 10m: fires", spread("203.0.113.7", "", 10, 60*time.Second, 401),
			[]check{{"login_burst", "ip", "203.0.113.7", "medium"}}},
		{"10 failures over 20m: quiet (window)", spread("203.0.113.7", "", 10, 130*time.Second, 401),
			[]check{{"login_burst", "ip", "203.0.113.7", ""}}},
		{"5 failures in one minute: quiet", spread("203.0.113.8", "", 5, 5*time.Second, 403),
			[]check{{"login_burst", "ip", "203.0.113.8", ""}}},
		{"6 failures in one minute: burst fires", spread("203.0.113.8", "", 6, 5*time.Second, 403),
			[]check{{"login_burst", "ip", "203.0.113.8", "medium"}}},
		{"9 failures on one account from 3 IPs: quiet", append(append(spread("198.51.100.1", "alice", 3, 50*time.Second, 401),
			spread("198.51.100.2", "alice", 3, 50*time.Second, 401)...), spread("198.51.100.3", "alice", 3, 50*time.Second, 401)...),
			[]check{{"login_burst", "user", "alice", ""}}},
		{"10 failures on one account from 4 IPs: fires escalated", append(append(spread("198.51.100.1", "alice", 3, 50*time.Second, 401),
			spread("198.51.100.2", "alice", 3, 50*time.Second, 401)...), spread("198.51.100.3", "alice", 4, 50*time.Second, 401)...),
			[]check{{"login_burst", "user", "alice", "high"}}},
		{"mistypes then success: quiet", append(spread("192.0.2.10", "bob", 2, 10*time.Second, 401), login(30*time.Second, "192.0.2.10", "bob", 200)),
			[]check{{"login_burst", "user", "bob", ""}, {"login_burst", "ip", "192.0.2.10", ""}}},
		{"4 failures then success: quiet", append(spread("192.0.2.10", "bob", 4, 20*time.Second, 401), login(100*time.Second, "192.0.2.10", "bob", 200)),
			[]check{{"login_burst", "user", "bob", ""}}},
		{"5 failures then success: possible takeover, high", append(spread("192.0.2.10", "bob", 5, 20*time.Second, 401), login(110*time.Second, "192.0.2.10", "bob", 200)),
			[]check{{"login_burst", "user", "bob", "high"}, {"login_burst", "ip", "192.0.2.10", "high"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, detectors.Config{})
			got := h.run(tc.evs, nil, 1)
			for _, c := range tc.want {
				d := has(got, c.kind, c.typ, c.value)
				switch {
				case c.sev == "" && d != nil:
					t.Errorf("%s on %s:%s fired: %s", c.kind, c.typ, c.value, d.Summary)
				case c.sev != "" && d == nil:
					t.Errorf("%s on %s:%s did not fire; got %v", c.kind, c.typ, c.value, kinds(got))
				case c.sev != "" && d.Severity != c.sev:
					t.Errorf("%s on %s:%s severity %s, want %s", c.kind, c.typ, c.value, d.Severity, c.sev)
				}
			}
		})
	}
}

// TestOfficeNAT: one IP, many users, many logins, few failures per user and
// a low failure ratio: a NAT, not an attack.
func TestOfficeNAT(t *testing.T) {
	h := newHarness(t, detectors.Config{})
	var evs []detectors.Event
	for i := 0; i < 400; i++ {
		user := "emp" + strconv.Itoa(i%120)
		status := 200
		if i%5 == 0 {
			status = 401 // 20% mistypes, each followed by a success
		}
		evs = append(evs, login(time.Duration(i)*4*time.Second, "192.0.2.200", user, status))
	}
	if got := h.run(evs, nil, 50); len(got) > 0 {
		t.Fatalf("office NAT flagged: %v", kinds(got))
	}
}

func TestCredentialStuffingSingleSource(t *testing.T) {
	for _, tc := range []struct {
		accounts int
		fire     bool
	}{{5, false}, {30, true}} {
		h := newHarness(t, detectors.Config{})
		var evs []detectors.Event
		// 30 failures at one every 90 s (below the 10/10m burst rule)
		// against `accounts` distinct accounts.
		for i := 0; i < 30; i++ {
			evs = append(evs, login(time.Duration(i)*90*time.Second, "203.0.113.50", "user"+strconv.Itoa(i%tc.accounts), 401))
		}
		got := h.run(evs, nil, 5)
		d := has(got, "credential_stuffing", "ip", "203.0.113.50")
		if (d != nil) != tc.fire {
			t.Errorf("accounts=%d: fired=%v, want %v (%v)", tc.accounts, d != nil, tc.fire, kinds(got))
		}
		if d != nil && len(d.Evidence.Top) == 0 {
			t.Error("stuffing detection carries no accounts tried")
		}
	}
}

func TestSharedSourceStuffing(t *testing.T) {
	// 8 IPs of one /24 with one user agent, each trying 4 accounts once.
	h := newHarness(t, detectors.Config{})
	var evs []detectors.Event
	n := 0
	for ip := 1; ip <= 8; ip++ {
		for a := 0; a < 4; a++ {
			e := login(time.Duration(n)*40*time.Second, "198.51.100."+strconv.Itoa(ip), "victim"+strconv.Itoa(n), 401)
			e.UserAgent = "python-requests/2.31"
			evs = append(evs, e)
			n++
		}
	}
	got := h.run(evs, nil, 8)
	if has(got, "credential_stuffing", "network", "198.51.100.0/24") == nil {
		t.Errorf("/24 campaign not detected: %v", kinds(got))
	}
	if has(got, "credential_stuffing", "user_agent", "python-requests/2.31") == nil {
		t.Errorf("shared user agent not detected: %v", kinds(got))
	}
	for ip := 1; ip <= 8; ip++ {
		if d := has(got, "login_burst", "ip", "198.51.100."+strconv.Itoa(ip)); d != nil {
			t.Errorf("single IP with 4 attempts flagged: %s", d.Summary)
		}
	}
}

func TestScanning(t *testing.T) {
	paths := func(ip string, n int, prefix string, status int) []detectors.Event {
		var out []detectors.Event
		for i := 0; i < n; i++ {
			out = append(out, ev(time.Duration(i)*5*time.Second, ip, "GET", prefix+strconv.Itoa(i), status))
		}
		return out
	}
	health := func() []detectors.Event {
		var out []detectors.Event
		for i := 0; i < 200; i++ {
			out = append(out, ev(time.Duration(i)*10*time.Second, "10.0.0.5", "GET", "/actuator/health", 200))
		}
		return out
	}
	tests := []struct {
		name string
		evs  []detectors.Event
		ip   string
		fire bool
	}{
		{"19 missing paths: quiet", paths("203.0.113.9", 19, "/admin", 404), "203.0.113.9", false},
		{"20 missing paths: fires", paths("203.0.113.9", 20, "/admin", 404), "203.0.113.9", true},
		{"20 missing paths over 10m: quiet (window)", func() []detectors.Event {
			evs := paths("203.0.113.9", 20, "/admin", 404)
			for i := range evs {
				evs[i].Time = t0.Add(time.Duration(i) * 30 * time.Second)
			}
			return evs
		}(), "203.0.113.9", false},
		{"2 sensitive paths: quiet", []detectors.Event{ev(0, "203.0.113.10", "GET", "/.env", 404), ev(time.Second, "203.0.113.10", "GET", "/.git/HEAD", 404)}, "203.0.113.10", false},
		{"3 sensitive paths: fires", []detectors.Event{ev(0, "203.0.113.10", "GET", "/.env", 404), ev(time.Second, "203.0.113.10", "GET", "/.git/HEAD", 404), ev(2*time.Second, "203.0.113.10", "GET", "/phpmyadmin/", 404)}, "203.0.113.10", true},
		{"one traversal: fires", []detectors.Event{ev(0, "203.0.113.11", "GET", "/static/..%2f..%2fetc/passwd", 400)}, "203.0.113.11", true},
		{"health checker on /actuator/health: quiet", health(), "10.0.0.5", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, detectors.Config{})
			got := h.run(tc.evs, nil, 4)
			if d := has(got, "scanning", "ip", tc.ip); (d != nil) != tc.fire {
				t.Errorf("fired=%v, want %v: %v", d != nil, tc.fire, kinds(got))
			}
		})
	}
}

func idEvents(ip string, n int, ids func(i int) int, status func(i int) int, every time.Duration) []detectors.Event {
	var out []detectors.Event
	for i := 0; i < n; i++ {
		id := strconv.Itoa(ids(i))
		e := ev(time.Duration(i)*every, ip, "GET", "/api/v1/orders/"+id, status(i))
		e.Route = "/api/v1/orders/{id}"
		e.Params = []detectors.Param{{Name: "id", Value: id}}
		out = append(out, e)
	}
	return out
}

func TestEnumerationAndScraping(t *testing.T) {
	seq := func(i int) int { return 1000 + i }
	scattered := func(i int) int { return 1000 + i*37 }
	denied := func(i int) int { return []int{404, 403, 404, 200}[i%4] }
	ok := func(int) int { return 200 }
	tests := []struct {
		name string
		evs  []detectors.Event
		kind string
		sev  detectors.Severity
	}{
		{"19 ids mostly denied: quiet", idEvents("203.0.113.20", 19, scattered, denied, 2*time.Second), "enumeration", ""},
		{"20 ids mostly denied: fires", idEvents("203.0.113.20", 20, scattered, denied, 2*time.Second), "enumeration", "medium"},
		{"20 sequential ids mostly denied: high", idEvents("203.0.113.20", 20, seq, denied, 2*time.Second), "enumeration", "high"},
		{"20 ids all ok: not enumeration", idEvents("203.0.113.20", 20, seq, ok, 2*time.Second), "enumeration", ""},
		// Above the store's exact cap (64) distinct counts are HyperLogLog
		// estimates (~1% error), so the edges are tested 10% either side.
		{"270 items in 10m: quiet", idEvents("203.0.113.21", 270, seq, ok, 2*time.Second), "scraping", ""},
		{"330 items in 10m: scraping", idEvents("203.0.113.21", 330, seq, ok, 1500*time.Millisecond), "scraping", "medium"},
		{"330 reads of 100 items: re-reading, not scraping", idEvents("203.0.113.22", 330, func(i int) int { return 1000 + i%100 }, ok, 1500*time.Millisecond), "scraping", ""},
		{"polite crawler 1 item / 10 s: quiet", idEvents("66.249.66.1", 360, seq, ok, 10*time.Second), "scraping", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, detectors.Config{})
			got := h.run(tc.evs, nil, 10)
			d := has(got, tc.kind, "ip", tc.evs[0].ClientIP.String())
			switch {
			case tc.sev == "" && d != nil:
				t.Errorf("fired: %s", d.Summary)
			case tc.sev != "" && d == nil:
				t.Errorf("did not fire: %v", kinds(got))
			case tc.sev != "" && d.Severity != tc.sev:
				t.Errorf("severity %s, want %s", d.Severity, tc.sev)
			}
		})
	}
}

func TestShadowAPI(t *testing.T) {
	h := newHarness(t, detectors.Config{})
	var evs []detectors.Event
	var info []detectors.RouteInfo
	add := func(e detectors.Event, ri detectors.RouteInfo) { evs = append(evs, e); info = append(info, ri) }
	for i := 0; i < 4; i++ { // 4 successful undocumented calls: below 5
		add(ev(time.Duration(i)*time.Second, "192.0.2."+strconv.Itoa(1+i%2), "GET", "/internal/debug/users", 200), detectors.RouteInfo{SpecKnown: true})
	}
	for i := 0; i < 10; i++ { // probes outside the spec answered 404: scanning's business
		add(ev(time.Duration(i)*time.Second, "192.0.2.9", "GET", "/nope", 404), detectors.RouteInfo{SpecKnown: true})
	}
	add(ev(10*time.Second, "192.0.2.3", "GET", "/api/v0/orders", 200), detectors.RouteInfo{SpecKnown: true, InSpec: true, Deprecated: true})
	for i := 0; i < 20; i++ { // web content no API spec describes
		for _, p := range []string{"/static/js/app.3f2a.js", "/favicon.ico", "/img/logo.svg"} {
			add(ev(time.Duration(i)*time.Second, "192.0.2."+strconv.Itoa(20+i), "GET", p, 200), detectors.RouteInfo{SpecKnown: true})
		}
	}
	got := h.run(evs, info, 5)
	for _, d := range got {
		if d.Kind == "shadow_api" && (strings.Contains(d.Entity.Value, "static") || strings.Contains(d.Entity.Value, "favicon") || strings.Contains(d.Entity.Value, "logo")) {
			t.Errorf("static content fired shadow_api: %s", d.Summary)
		}
	}
	if d := has(got, "shadow_api", "route", "GET /internal/debug/users"); d != nil {
		t.Errorf("4 calls fired: %s", d.Summary)
	}
	if d := has(got, "shadow_api", "route", "GET /nope"); d != nil {
		t.Errorf("404 probes fired shadow_api: %s", d.Summary)
	}
	if d := has(got, "shadow_api", "route", "GET /api/v0/orders"); d == nil || d.Severity != "low" {
		t.Errorf("deprecated call: %v", kinds(got))
	}
	got = h.run([]detectors.Event{ev(20*time.Second, "192.0.2.1", "GET", "/internal/debug/users", 200)}, []detectors.RouteInfo{{SpecKnown: true}}, 1)
	if has(got, "shadow_api", "route", "GET /internal/debug/users") == nil {
		t.Errorf("5th call from 2 clients did not fire: %v", kinds(got))
	}
}

// background makes steady benign traffic: nIPs clients, one request each
// every `every`, over d, with errRate 5xx on GET /api/v1/items.
func background(d time.Duration, nIPs int, every time.Duration, errEvery int) []detectors.Event {
	var out []detectors.Event
	n := 0
	for at := time.Duration(0); at < d; at += every {
		for i := 0; i < nIPs; i++ {
			st := 200
			n++
			if errEvery > 0 && n%errEvery == 0 {
				st = 503
			}
			e := ev(at+time.Duration(i)*time.Millisecond, "100.64."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250+1), "GET", "/api/v1/items", st)
			out = append(out, e)
		}
	}
	return out
}

func TestBaselineDetectorsColdStartAndWarm(t *testing.T) {
	// 40 minutes of background (warm-up is 30m), 60 IPs at 1 req/20 s,
	// 1% errors; a partner at 10 req/s all along; then a known IP that
	// made 1 req/20 s jumps to 10 req/s, and the route's errors jump to 60%.
	mk := func(d time.Duration) []detectors.Event {
		evs := background(d, 60, 20*time.Second, 100)
		for at := time.Duration(0); at < d; at += 100 * time.Millisecond {
			evs = append(evs, ev(at, "192.0.2.77", "GET", "/api/v1/partner/sync", 200))
		}
		return evs
	}
	burst := func(start time.Duration) []detectors.Event {
		var evs []detectors.Event
		for i := 0; i < 3000; i++ {
			at := start + time.Duration(i)*100*time.Millisecond
			evs = append(evs, ev(at, "100.64.0.1", "GET", "/api/v1/search", 200))
			if i%10 == 0 {
				st := 200
				if i%50 != 0 {
					st = 502
				}
				evs = append(evs, ev(at, "100.64.0.2", "GET", "/api/v1/items", st))
			}
		}
		return evs
	}
	sortByTime := func(evs []detectors.Event) []detectors.Event {
		slicesSortByTime(evs)
		return evs
	}

	t.Run("cold start stays quiet", func(t *testing.T) {
		h := newHarness(t, detectors.Config{})
		evs := sortByTime(append(mk(5*time.Minute), burst(time.Minute)...))
		got := h.run(evs, nil, 500)
		for _, d := range got {
			if d.Kind == "rate_anomaly" || d.Kind == "error_spike" {
				t.Errorf("cold start fired %s", d.Summary)
			}
		}
	})
	t.Run("warm: spike fires, partner quiet", func(t *testing.T) {
		h := newHarness(t, detectors.Config{})
		evs := sortByTime(append(mk(45*time.Minute), burst(40*time.Minute)...))
		got := h.run(evs, nil, 500)
		if has(got, "rate_anomaly", "ip", "100.64.0.1") == nil {
			t.Errorf("rate spike not detected: %v", kinds(got))
		}
		if d := has(got, "error_spike", "route", "GET /api/v1/items"); d == nil {
			t.Errorf("error spike not detected: %v", kinds(got))
		}
		for _, d := range got {
			if d.Entity.Value == "192.0.2.77" {
				t.Errorf("steady partner flagged: %s", d.Summary)
			}
		}
	})
}

func TestAllowlists(t *testing.T) {
	burst := func(ip string) []detectors.Event {
		var out []detectors.Event
		for i := 0; i < 12; i++ {
			out = append(out, login(time.Duration(i)*time.Second, ip, "", 401))
		}
		return out
	}
	tests := []struct {
		name string
		cfg  string
		ip   string
		fire bool
	}{
		{"no allowlist", "", "203.0.113.7", true},
		{"global CIDR", "allowlist:\n  cidrs: [203.0.113.0/24]\n", "203.0.113.7", false},
		{"global UA substring", "allowlist:\n  user_agents: [Mozilla]\n", "203.0.113.7", false},
		{"per-detector CIDR", "login_burst:\n  allowlist:\n    cidrs: [203.0.113.7]\n", "203.0.113.7", false},
		{"other detector's allowlist does not apply", "scanning:\n  allowlist:\n    cidrs: [203.0.113.7]\n", "203.0.113.7", true},
		{"disabled detector", "login_burst:\n  enabled: false\n", "203.0.113.7", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := detectors.ParseConfig("t.yaml", []byte(tc.cfg))
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, cfg)
			got := h.run(burst(tc.ip), nil, 3)
			if d := has(got, "login_burst", "ip", tc.ip); (d != nil) != tc.fire {
				t.Errorf("fired=%v, want %v", d != nil, tc.fire)
			}
		})
	}
}

func TestIncidentsNotFloods(t *testing.T) {
	h := newHarness(t, detectors.Config{})
	var evs []detectors.Event
	for i := 0; i < 120; i++ { // a 20-minute brute force, one failure per 10 s
		evs = append(evs, login(time.Duration(i)*10*time.Second, "203.0.113.7", "", 401))
	}
	got := h.run(evs, nil, 6)
	n := 0
	for _, d := range got {
		if d.Kind == "login_burst" && d.Entity.Value == "203.0.113.7" {
			n++
			if n == 1 && d.Incident.State != detectors.IncidentOpened {
				t.Errorf("first detection state %s", d.Incident.State)
			}
			if n == 1 && (len(d.Evidence.Samples) == 0 || d.Evidence.Samples[0].Source == "") {
				t.Errorf("no samples with positions: %+v", d.Evidence.Samples)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d detections for one 20-minute burst; want 1 (report_every 30m)", n)
	}
	fl, err := h.eng.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := has(fl, "login_burst", "ip", "203.0.113.7")
	if d == nil || d.Incident.State != detectors.IncidentExtended || d.Incident.Hits < 10 || !d.LastSeen.After(d.FirstSeen) {
		t.Fatalf("flush did not report the extended incident: %+v", d)
	}
	// After the cooldown a new burst opens a new incident.
	var again []detectors.Event
	for i := 0; i < 12; i++ {
		again = append(again, login(2*time.Hour+time.Duration(i)*time.Second, "203.0.113.7", "", 401))
	}
	got = h.run(again, nil, 12)
	if d2 := has(got, "login_burst", "ip", "203.0.113.7"); d2 == nil || d2.Incident.State != detectors.IncidentOpened || d2.Incident.ID == d.Incident.ID {
		t.Fatalf("no new incident after cooldown: %+v", d2)
	}
}

func TestLateAndOutOfOrderEvents(t *testing.T) {
	h := newHarness(t, detectors.Config{})
	// Out of order within lateness: still counted.
	var evs []detectors.Event
	for i := 9; i >= 0; i-- {
		evs = append(evs, login(time.Duration(i)*5*time.Second, "203.0.113.7", "", 401))
	}
	if got := h.run(evs, nil, 10); has(got, "login_burst", "ip", "203.0.113.7") == nil {
		t.Fatalf("out-of-order burst missed: %v", kinds(got))
	}
	// Events far older than the newest time seen are dropped, not counted.
	h2 := newHarness(t, detectors.Config{})
	h2.run([]detectors.Event{ev(time.Hour, "192.0.2.1", "GET", "/", 200)}, nil, 1)
	var late []detectors.Event
	for i := 0; i < 12; i++ {
		late = append(late, login(time.Duration(i)*time.Second, "203.0.113.8", "", 401))
	}
	if got := h2.run(late, nil, 12); has(got, "login_burst", "ip", "203.0.113.8") != nil {
		t.Fatal("events an hour late produced a detection")
	}
	if h2.eng.Stats().Late == 0 {
		t.Fatal("late operations not counted")
	}
}

func TestProcessRejectsMismatchedRouteInfo(t *testing.T) {
	h := newHarness(t, detectors.Config{})
	_, err := h.eng.Process(context.Background(), []detectors.Event{ev(0, "192.0.2.1", "GET", "/", 200)}, []detectors.RouteInfo{{}, {}}, nil)
	if err == nil {
		t.Fatal("mismatched route info accepted")
	}
}
