package generate

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
	routenorm "github.com/gatewatch/gatewatch/pipeline/route"
)

// rec is a compact copy of one event with its origin.
type rec struct {
	t                                   time.Time
	ip                                  netip.Addr
	user, method, path, query, ua, orig string
	status                              int
	bytes                               int64
	lat                                 time.Duration
}

func (r *rec) isLogin() bool   { return r.method == "POST" && r.path == pLogin }
func (r *rec) loginFail() bool { return r.isLogin() && (r.status == 401 || r.status == 403) }
func (r *rec) benign() bool    { return !strings.HasPrefix(r.orig, "a") }

type dataset struct {
	truth *Truth
	recs  []rec
}

// defaultRun is the default scenario, generated once for all tests.
var defaultRun = sync.OnceValues(func() (*dataset, error) { return collect(DefaultConfig()) })

func collect(cfg Config) (*dataset, error) {
	d := &dataset{}
	tr, err := run(cfg, func(ev *detectors.Event, o string) error {
		d.recs = append(d.recs, rec{ev.Time, ev.ClientIP, ev.User, ev.Method, ev.Path, ev.Query, ev.UserAgent, o, ev.Status, ev.Bytes, ev.Latency})
		return nil
	})
	d.truth = tr
	return d, err
}

func mustDefault(t *testing.T) *dataset {
	t.Helper()
	d, err := defaultRun()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *dataset) attack(id string) *Attack {
	for i := range d.truth.Attacks {
		if d.truth.Attacks[i].ID == id {
			return &d.truth.Attacks[i]
		}
	}
	return nil
}

func (d *dataset) of(origin string) []rec {
	var out []rec
	for _, r := range d.recs {
		if r.orig == origin {
			out = append(out, r)
		}
	}
	return out
}

// outputHash renders every event in a format that keeps all fields (ns
// time, user, agent, latency) and hashes the lines.
func outputHash(t *testing.T, cfg Config) (uint64, int64) {
	t.Helper()
	h := fnv.New64a()
	var buf []byte
	tr, err := Generate(cfg, func(ev *detectors.Event) error {
		buf = AppendLine(buf[:0], detectors.FormatTraefikJSON, ev)
		buf = append(buf, '\n')
		h.Write(buf)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tj, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	h.Write(tj)
	return h.Sum64(), tr.Events
}

func TestDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Duration = 20 * time.Minute
	a, n := outputHash(t, cfg)
	b, _ := outputHash(t, cfg)
	if a != b {
		t.Fatalf("same seed gave different output: %x vs %x", a, b)
	}
	cfg.Seed = 2
	if c, _ := outputHash(t, cfg); c == a {
		t.Fatalf("seeds 1 and 2 gave the same output (%d events)", n)
	}
}

func TestTimeOrderAndBounds(t *testing.T) {
	d := mustDefault(t)
	start, end := d.truth.Start, d.truth.End
	for i, r := range d.recs {
		if r.t.Before(start) || !r.t.Before(end) {
			t.Fatalf("event %d at %v outside [%v, %v)", i, r.t, start, end)
		}
		if i > 0 && r.t.Before(d.recs[i-1].t) {
			t.Fatalf("event %d at %v before event %d at %v", i, r.t, i-1, d.recs[i-1].t)
		}
		if r.t.Location() != time.UTC || r.t.Nanosecond()%1000 != 0 {
			t.Fatalf("event %d time %v is not whole µs UTC", i, r.t)
		}
	}
}

func TestScaleAndRate(t *testing.T) {
	d := mustDefault(t)
	if d.truth.Events != int64(len(d.recs)) {
		t.Fatalf("truth says %d events, emitted %d", d.truth.Events, len(d.recs))
	}
	if len(d.recs) < 250000 {
		t.Fatalf("default run has %d events, want >= 250000", len(d.recs))
	}
	var benign int
	perMin := make([]float64, 60)
	for _, r := range d.recs {
		if r.benign() {
			benign++
			perMin[int(r.t.Sub(d.truth.Start)/time.Minute)]++
		}
	}
	want := defaultRate * 3600
	if math.Abs(float64(benign)-want)/want > 0.05 {
		t.Errorf("benign events %d, want %.0f ± 5%% (Rate %v/s)", benign, want, defaultRate)
	}
	// Not flat: minute-to-minute variation, and the morning ramp.
	mean, sd := meanSD(perMin)
	if sd/mean < 0.04 {
		t.Errorf("benign per-minute rate is too flat: cv %.3f", sd/mean)
	}
	first, _ := meanSD(perMin[:10])
	last, _ := meanSD(perMin[50:])
	if last <= first {
		t.Errorf("no morning ramp: first 10 min %.0f/min, last 10 min %.0f/min", first, last)
	}
}

func meanSD(x []float64) (float64, float64) {
	var s, s2 float64
	for _, v := range x {
		s += v
		s2 += v * v
	}
	n := float64(len(x))
	m := s / n
	return m, math.Sqrt(max(s2/n-m*m, 0))
}

func TestTruthJSONShape(t *testing.T) {
	d := mustDefault(t)
	raw, err := json.Marshal(d.truth)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	keysOf := func(m map[string]json.RawMessage) []string {
		var k []string
		for key := range m {
			k = append(k, key)
		}
		slices.Sort(k)
		return k
	}
	if got, want := keysOf(doc), []string{"attacks", "end", "events", "seed", "start", "traps"}; !slices.Equal(got, want) {
		t.Fatalf("top-level keys %v, want %v", got, want)
	}
	var attacks, traps []map[string]json.RawMessage
	if err := json.Unmarshal(doc["attacks"], &attacks); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(doc["traps"], &traps); err != nil {
		t.Fatal(err)
	}
	for _, a := range attacks {
		if got, want := keysOf(a), []string{"description", "end", "entities", "id", "kind", "start"}; !slices.Equal(got, want) {
			t.Fatalf("attack keys %v, want %v", got, want)
		}
	}
	for _, tr := range traps {
		if got, want := keysOf(tr), []string{"description", "entities", "id", "name"}; !slices.Equal(got, want) {
			t.Fatalf("trap keys %v, want %v", got, want)
		}
	}
	var back Truth
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Seed != 1 || !back.Start.Equal(defaultStart) || !back.End.Equal(defaultStart.Add(time.Hour)) {
		t.Errorf("header: seed %d start %v end %v", back.Seed, back.Start, back.End)
	}

	kinds := map[string]int{}
	ids := map[string]bool{}
	warm := d.truth.Start.Add(15 * time.Minute)
	for _, a := range d.truth.Attacks {
		kinds[a.Kind]++
		if ids[a.ID] {
			t.Errorf("duplicate id %s", a.ID)
		}
		ids[a.ID] = true
		if a.Start.Before(warm) || a.End.Before(a.Start) || a.End.After(d.truth.End) {
			t.Errorf("%s window %v..%v not inside warm-up end %v .. run end", a.ID, a.Start, a.End, warm)
		}
		if a.Description == "" || len(a.Entities) == 0 {
			t.Errorf("%s lacks a description or entities", a.ID)
		}
		for _, e := range a.Entities {
			checkEntity(t, a.ID, e)
		}
	}
	for _, k := range Kinds() {
		if kinds[k] == 0 {
			t.Errorf("no attack of kind %s", k)
		}
	}
	if kinds[KindLoginBurst] != 4 || kinds[KindCredentialStuffing] != 2 {
		t.Errorf("login_burst %d (want 4: single IP, many IPs, takeover, global), credential_stuffing %d (want 2)", kinds[KindLoginBurst], kinds[KindCredentialStuffing])
	}
	names := map[string]bool{}
	attackEnt := map[Entity]string{}
	for _, a := range d.truth.Attacks {
		for _, e := range a.Entities {
			if e.Type != EntityGlobal && e.Type != EntityCampaign {
				attackEnt[e] = a.ID
			}
		}
	}
	for _, tr := range d.truth.Traps {
		names[tr.Name] = true
		for _, e := range tr.Entities {
			checkEntity(t, tr.ID, e)
			if id, ok := attackEnt[e]; ok {
				t.Errorf("trap %s entity %v is also an entity of attack %s", tr.ID, e, id)
			}
		}
	}
	for _, n := range []string{"office_nat", "partner_integration", "mobile_polling", "health_checks", "password_mistypes", "search_crawler"} {
		if !names[n] {
			t.Errorf("missing trap %s", n)
		}
	}
}

func checkEntity(t *testing.T, id string, e Entity) {
	t.Helper()
	switch e.Type {
	case EntityIP:
		if _, err := netip.ParseAddr(e.Value); err != nil {
			t.Errorf("%s: bad ip %q", id, e.Value)
		}
	case EntityNetwork:
		p, err := netip.ParsePrefix(e.Value)
		if err != nil || p != p.Masked() || (p.Addr().Is4() && p.Bits() != 24) || (p.Addr().Is6() && p.Bits() != 48) {
			t.Errorf("%s: bad network %q", id, e.Value)
		}
	case EntityRoute:
		m, p, ok := strings.Cut(e.Value, " ")
		if !ok || m != strings.ToUpper(m) || !strings.HasPrefix(p, "/") {
			t.Errorf("%s: bad route %q", id, e.Value)
		}
	case EntityGlobal:
		if e.Value != "" {
			t.Errorf("%s: global entity with value %q", id, e.Value)
		}
	case EntityUser, EntityUserAgent, EntityCampaign:
		if e.Value == "" {
			t.Errorf("%s: empty %s", id, e.Type)
		}
	default:
		t.Errorf("%s: unknown entity type %q", id, e.Type)
	}
}

// maxInWindow is the largest number of times within any window w.
func maxInWindow(ts []time.Time, w time.Duration) int {
	best, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

func TestAttackShapes(t *testing.T) {
	d := mustDefault(t)
	w := newWorld(1, true)
	failsPerMin := func(rs []rec) float64 {
		n := 0
		for _, r := range rs {
			if r.loginFail() {
				n++
			}
		}
		return float64(n) / rs[len(rs)-1].t.Sub(rs[0].t).Minutes()
	}
	distinct := func(rs []rec, key func(rec) string, keep func(rec) bool) int {
		m := map[string]bool{}
		for _, r := range rs {
			if keep == nil || keep(r) {
				m[key(r)] = true
			}
		}
		return len(m)
	}
	ipOf := func(r rec) string { return r.ip.String() }
	userOf := func(r rec) string { return r.user }
	pathOf := func(r rec) string { return r.path }

	t.Run("a1 brute force", func(t *testing.T) {
		rs := d.of("a1")
		if distinct(rs, ipOf, nil) != 1 || distinct(rs, userOf, nil) != 1 || rs[0].user != w.users[w.victimBrute].name {
			t.Fatalf("want one IP on one account")
		}
		if f := failsPerMin(rs); f < 30 {
			t.Errorf("%.1f failures/min, want dozens", f)
		}
	})
	t.Run("a2 one account many IPs", func(t *testing.T) {
		rs := d.of("a2")
		perIP := map[netip.Addr]int{}
		for _, r := range rs {
			perIP[r.ip]++
		}
		if len(perIP) < 50 || distinct(rs, userOf, nil) != 1 {
			t.Fatalf("%d IPs, %d users: want >= 50 IPs on one account", len(perIP), distinct(rs, userOf, nil))
		}
		for ip, n := range perIP {
			if n > 8 {
				t.Errorf("%v made %d attempts: the spray should stay under per-IP thresholds", ip, n)
			}
		}
		if len(rs) < 100 {
			t.Errorf("%d failures on the account, want >= 100", len(rs))
		}
	})
	t.Run("a3 takeover", func(t *testing.T) {
		rs := d.of("a3")
		fails, okAt := 0, -1
		for i, r := range rs {
			if r.ip != takeoverIP || r.user != w.users[w.victimTakeover].name {
				t.Fatalf("event from %v as %q", r.ip, r.user)
			}
			if r.loginFail() {
				fails++
			} else if r.isLogin() && r.status == 200 && okAt < 0 {
				okAt = i
			}
		}
		if fails < 15 || okAt != fails || okAt == len(rs)-1 {
			t.Errorf("%d failures, success at %d of %d: want >= 15 failures, then a success, then activity", fails, okAt, len(rs))
		}
	})
	t.Run("a4 global spike", func(t *testing.T) {
		a := d.attack("a4")
		var benignFails, spike int
		for _, r := range d.recs {
			if !r.loginFail() {
				continue
			}
			switch {
			case r.orig == "a4":
				spike++
			case r.benign():
				benignFails++
			}
		}
		base := float64(benignFails) / 60
		rate := float64(spike) / a.End.Sub(a.Start).Minutes()
		if rate < 10*base || distinct(d.of("a4"), ipOf, nil) < 200 {
			t.Errorf("spike %.0f failures/min vs benign %.1f/min from %d IPs: want >= 10x from >= 200 IPs", rate, base, distinct(d.of("a4"), ipOf, nil))
		}
	})
	t.Run("a5 stuffing from one IP", func(t *testing.T) {
		rs := d.of("a5")
		users := distinct(rs, userOf, nil)
		fails := 0
		for _, r := range rs {
			if r.loginFail() {
				fails++
			}
		}
		if distinct(rs, ipOf, nil) != 1 || users < 150 || float64(fails)/float64(len(rs)) < 0.9 || float64(len(rs))/float64(users) > 1.5 {
			t.Errorf("%d attempts on %d users, %d failures: want one IP, >= 150 users, 1-2 tries each, >= 90%% failures", len(rs), users, fails)
		}
	})
	t.Run("a6 low and slow", func(t *testing.T) {
		rs := d.of("a6")
		perIP := map[netip.Addr]map[string]bool{}
		nets := map[netip.Prefix]bool{}
		for _, r := range rs {
			if r.ua != uaLowSlow {
				t.Fatalf("user agent %q", r.ua)
			}
			if perIP[r.ip] == nil {
				perIP[r.ip] = map[string]bool{}
			}
			perIP[r.ip][r.user] = true
			p, _ := r.ip.Prefix(24)
			nets[p] = true
		}
		if len(perIP) < 200 || len(nets) > 6 {
			t.Errorf("%d IPs over %d /24s: want >= 200 IPs over a few /24s", len(perIP), len(nets))
		}
		for ip, us := range perIP {
			if len(us) < 2 || len(us) > 4 {
				t.Errorf("%v tried %d accounts, want 2-4", ip, len(us))
			}
		}
		a := d.attack("a6")
		for n := range nets {
			if !slices.Contains(a.Entities, Entity{EntityNetwork, n.String()}) {
				t.Errorf("network %v not in the truth", n)
			}
		}
	})
	t.Run("a7 scanning", func(t *testing.T) {
		rs := d.of("a7")
		n404 := 0
		for _, r := range rs {
			if r.status == 404 {
				n404++
			}
		}
		if paths := distinct(rs, pathOf, nil); paths < 400 || float64(n404)/float64(len(rs)) < 0.8 {
			t.Errorf("%d distinct paths, 404 ratio %.2f: want >= 400 and >= 0.8", paths, float64(n404)/float64(len(rs)))
		}
	})
	t.Run("a8 enumeration", func(t *testing.T) {
		rs := d.of("a8")
		var prev string
		walks, denied, n := 0, 0, 0
		for _, r := range rs {
			if !strings.HasPrefix(r.path, "/api/v1/orders/") {
				continue
			}
			n++
			if r.status == 403 || r.status == 404 {
				denied++
			}
			if prev != "" && idAfter(prev, r.path) {
				walks++
			}
			prev = r.path
			if r.user != w.users[w.enumerator].name {
				t.Fatalf("user %q", r.user)
			}
		}
		if n < 300 || float64(denied)/float64(n) < 0.9 || walks != n-1 {
			t.Errorf("%d order reads, %d denied, %d sequential steps: want >= 300, >= 90%% 403/404, a sequential walk", n, denied, walks)
		}
	})
	t.Run("a9 scraping", func(t *testing.T) {
		rs := d.of("a9")
		for _, ip := range scraperIPs {
			var mine []rec
			for _, r := range rs {
				if r.ip == ip {
					mine = append(mine, r)
				}
			}
			var gaps []float64
			var bytes int64
			for i, r := range mine {
				bytes += r.bytes
				if i > 0 {
					gaps = append(gaps, r.t.Sub(mine[i-1].t).Seconds())
				}
			}
			m, sd := meanSD(gaps)
			if p := distinct(mine, pathOf, nil); p < 500 || sd/m > 0.1 || bytes < 10<<20 {
				t.Errorf("%v: %d distinct paths, cadence cv %.3f, %d bytes: want >= 500, < 0.1, >= 10 MiB", ip, p, sd/m, bytes)
			}
		}
	})
	t.Run("a10 rate anomaly", func(t *testing.T) {
		base := d.of("base:a10")
		spike := d.of("a10")
		a := d.attack("a10")
		baseRate := float64(len(base)) / (60 - a.End.Sub(a.Start).Minutes())
		rate := float64(len(spike)) / a.End.Sub(a.Start).Minutes()
		partner := float64(len(d.of("trap:t2"))) / 60
		if rate < 50*baseRate || rate < 2*partner || len(base) < 100 {
			t.Errorf("spike %.0f/min, baseline %.1f/min (%d events), partner %.0f/min: want >= 50x own baseline and >= 2x the busiest client", rate, baseRate, len(base), partner)
		}
	})
	t.Run("a11 a12 shadow and zombie", func(t *testing.T) {
		ok := map[string]map[netip.Addr]bool{}
		for _, r := range d.of("a11") {
			if r.status < 300 {
				if ok[r.path] == nil {
					ok[r.path] = map[netip.Addr]bool{}
				}
				ok[r.path][r.ip] = true
			}
		}
		for _, p := range []string{pDebugConfig, pExport} {
			if len(ok[p]) < 2 {
				t.Errorf("%s: 2xx from %d clients, want >= 2", p, len(ok[p]))
			}
		}
		zombie := 0
		for _, r := range d.of("a12") {
			if r.path == pCartItems && r.status == 200 {
				zombie++
			}
		}
		if zombie < 20 {
			t.Errorf("%d successful calls to the deprecated operation, want >= 20", zombie)
		}
	})
	t.Run("a13 error spike", func(t *testing.T) {
		a := d.attack("a13")
		var in, in5, out, out5 int
		for _, r := range d.recs {
			if r.method != "POST" || r.path != pOrders {
				continue
			}
			if !r.t.Before(a.Start) && r.t.Before(a.End) {
				in++
				if r.status >= 500 {
					in5++
				}
			} else {
				out++
				if r.status >= 500 {
					out5++
				}
			}
		}
		if in < 100 || float64(in5)/float64(in) < 0.3 || float64(out5)/float64(out) > 0.015 {
			t.Errorf("in window %d/%d 5xx, outside %d/%d: want >= 30%% of >= 100 vs ~0.5%%", in5, in, out5, out)
		}
	})
}

// idAfter says whether path b's numeric id is path a's plus one.
func idAfter(a, b string) bool {
	ia, ib := a[strings.LastIndexByte(a, '/')+1:], b[strings.LastIndexByte(b, '/')+1:]
	na, nb := 0, 0
	for _, c := range ia {
		na = na*10 + int(c-'0')
	}
	for _, c := range ib {
		nb = nb*10 + int(c-'0')
	}
	return nb == na+1
}

func TestTrapShapes(t *testing.T) {
	d := mustDefault(t)
	t.Run("t1 office NAT", func(t *testing.T) {
		logins := map[string]bool{}
		fails := 0
		for _, r := range d.of("trap:t1") {
			if r.ip != officeIP {
				t.Fatalf("office event from %v", r.ip)
			}
			if r.isLogin() && r.status == 200 {
				logins[r.user] = true
			}
			if r.loginFail() {
				fails++
			}
		}
		if len(logins) < 150 || fails == 0 {
			t.Errorf("%d distinct users logged in with %d failures: want >= 150 and some mistypes", len(logins), fails)
		}
	})
	t.Run("t2 partner", func(t *testing.T) {
		rs := d.of("trap:t2")
		perMin := make([]float64, 60)
		for _, r := range rs {
			perMin[int(r.t.Sub(d.truth.Start)/time.Minute)]++
			if r.ip != partnerIP || r.user != partnerUser {
				t.Fatalf("partner event from %v as %q", r.ip, r.user)
			}
		}
		m, sd := meanSD(perMin)
		if m < 200 || sd/m > 0.1 {
			t.Errorf("partner %.0f/min with cv %.3f: want hundreds per minute, flat", m, sd/m)
		}
	})
	t.Run("t3 pollers", func(t *testing.T) {
		rs := d.of("trap:t3")
		ips := map[netip.Addr]bool{}
		for _, r := range rs {
			ips[r.ip] = true
			if r.path != pCart && r.path != pUsersMe {
				t.Fatalf("poller called %s", r.path)
			}
		}
		if len(ips) < 100 || len(rs) < 100*55 {
			t.Errorf("%d polls from %d IPs", len(rs), len(ips))
		}
	})
	t.Run("t4 health checks", func(t *testing.T) {
		per := map[netip.Addr][]time.Time{}
		for _, r := range d.of("trap:t4") {
			per[r.ip] = append(per[r.ip], r.t)
		}
		for ip, ts := range per {
			if !ip.Is4() || ip.As4()[0] != 10 || len(ts) < 700 {
				t.Errorf("%v: %d checks", ip, len(ts))
			}
		}
		if len(per) != 3 {
			t.Errorf("%d load balancers, want 3", len(per))
		}
	})
	t.Run("t5 mistypes", func(t *testing.T) {
		var tr *Trap
		for i := range d.truth.Traps {
			if d.truth.Traps[i].Name == "password_mistypes" {
				tr = &d.truth.Traps[i]
			}
		}
		listed := map[string]bool{}
		for _, e := range tr.Entities {
			if e.Type == EntityUser {
				listed[e.Value] = true
			}
		}
		// Every listed user fails 1-3 times, then succeeds.
		streak := map[string]int{}
		multi := 0
		for _, r := range d.recs {
			if !listed[r.user] || !r.isLogin() || !r.benign() {
				continue
			}
			if r.loginFail() {
				streak[r.user]++
				if streak[r.user] > 3 {
					t.Errorf("%s failed %d times in a row", r.user, streak[r.user])
				}
				continue
			}
			if streak[r.user] > 1 {
				multi++
			}
			streak[r.user] = 0
		}
		if len(listed) < 50 || multi < 10 {
			t.Errorf("%d users listed, %d multi-mistype bursts: want >= 50 and >= 10", len(listed), multi)
		}
	})
	t.Run("t6 crawler", func(t *testing.T) {
		rs := d.of("trap:t6")
		if len(rs) < 200 || len(rs) > 12*60 {
			t.Errorf("crawler made %d requests, want a polite 200-720/h", len(rs))
		}
		for _, r := range rs {
			if r.ua != uaGooglebot {
				t.Fatalf("crawler UA %q", r.ua)
			}
		}
	})
}

// TestBenignLooksBenign checks that nothing in the benign population
// (traps included) crosses the published thresholds the attacks are
// built to cross.
func TestBenignLooksBenign(t *testing.T) {
	d := mustDefault(t)
	failIP := map[netip.Addr][]time.Time{}
	failUser := map[string][]time.Time{}
	notFound := map[netip.Addr][]rec{}
	orderDenied := map[netip.Addr][]time.Time{}
	perIP := map[netip.Addr][]time.Time{}
	for _, r := range d.recs {
		if !r.benign() {
			continue
		}
		if r.loginFail() {
			failIP[r.ip] = append(failIP[r.ip], r.t)
			failUser[r.user] = append(failUser[r.user], r.t)
		}
		if r.status == 404 {
			notFound[r.ip] = append(notFound[r.ip], r)
		}
		if strings.HasPrefix(r.path, "/api/v1/orders/") && (r.status == 403 || r.status == 404) {
			orderDenied[r.ip] = append(orderDenied[r.ip], r.t)
		}
		if !strings.HasPrefix(r.orig, "trap:") && !strings.HasPrefix(r.orig, "base:") {
			perIP[r.ip] = append(perIP[r.ip], r.t)
		}
	}
	for ip, ts := range failIP {
		if n := maxInWindow(ts, 10*time.Minute); n > 10 {
			t.Errorf("benign IP %v has %d login failures in 10 min", ip, n)
		}
	}
	for u, ts := range failUser {
		if n := maxInWindow(ts, 10*time.Minute); n > 4 {
			t.Errorf("benign user %s has %d login failures in 10 min", u, n)
		}
	}
	for ip, rs := range notFound {
		// Distinct 404 paths in any 5 minutes: scanners make >= 20; the
		// office NAT's 165 people following stale links make fewer.
		for i := range rs {
			paths := map[string]bool{}
			for j := i; j < len(rs) && rs[j].t.Sub(rs[i].t) < 5*time.Minute; j++ {
				paths[rs[j].path] = true
			}
			if len(paths) > 15 {
				t.Errorf("benign IP %v hit %d distinct 404 paths in 5 min", ip, len(paths))
				break
			}
		}
	}
	for ip, ts := range orderDenied {
		if n := maxInWindow(ts, 10*time.Minute); n > 5 {
			t.Errorf("benign IP %v got %d denied order reads in 10 min", ip, n)
		}
	}
	for ip, ts := range perIP {
		if n := maxInWindow(ts, 10*time.Minute); n > 1500 {
			t.Errorf("benign session IP %v made %d requests in 10 min", ip, n)
		}
	}
}

// TestRoutesAgainstSpec runs every request through the route normaliser
// with OpenAPISpec: benign API calls are all documented, and the shadow,
// zombie and error-spike route entities are the templates it renders.
func TestRoutesAgainstSpec(t *testing.T) {
	d := mustDefault(t)
	file := filepath.Join(t.TempDir(), "openapi.yaml")
	if err := os.WriteFile(file, OpenAPISpec(), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := routenorm.New(routenorm.Options{SpecFile: file})
	if err != nil {
		t.Fatalf("OpenAPISpec does not load: %v", err)
	}
	routeEnt := map[string]map[string]bool{} // attack id -> route entities seen
	for _, a := range d.truth.Attacks {
		for _, e := range a.Entities {
			if e.Type == EntityRoute {
				if routeEnt[a.ID] == nil {
					routeEnt[a.ID] = map[string]bool{}
				}
				routeEnt[a.ID][e.Value] = false
			}
		}
	}
	var params []detectors.Param
	for _, r := range d.recs {
		m := n.Normalize(r.method, r.path, params[:0])
		key := r.method + " " + m.Template
		web := strings.HasPrefix(r.path, "/static/") || r.path == "/favicon.ico" || r.path == "/robots.txt" || r.path == "/sitemap.xml"
		switch {
		case r.orig == "a11" || r.orig == "a12":
			if _, ok := routeEnt[r.orig][key]; ok {
				routeEnt[r.orig][key] = true
				if r.orig == "a11" && m.InSpec || r.orig == "a12" && !m.Deprecated {
					t.Errorf("%s: %s in spec %v, deprecated %v", r.orig, key, m.InSpec, m.Deprecated)
				}
			}
		case r.benign() && r.status < 400 && !web:
			if !m.InSpec || m.Deprecated {
				t.Fatalf("benign %s %s answered %d but is %s (in spec %v, deprecated %v)", r.method, r.path, r.status, key, m.InSpec, m.Deprecated)
			}
		}
		if r.method == "POST" && r.path == pOrders {
			routeEnt["a13"]["POST "+m.Template] = true
		}
	}
	for id, rs := range routeEnt {
		for rt, seen := range rs {
			if !seen {
				t.Errorf("%s: route entity %q is not what the normaliser renders for its requests", id, rt)
			}
		}
	}
}

func TestConfig(t *testing.T) {
	discard := func(*detectors.Event) error { return nil }
	short := func(c Config) Config { c.Duration = 8 * time.Minute; return c }
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"unknown kind", Config{Attacks: []string{"ddos"}}, `unknown attack kind "ddos"`},
		{"none mixed", Config{Attacks: []string{"none", "scanning"}}, `mixes "none"`},
		{"too short", Config{Duration: time.Second}, "too short"},
		{"negative rate", Config{Rate: -1}, "not a positive number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(tc.cfg, discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	t.Run("zero value", func(t *testing.T) {
		d, err := collect(short(Config{}))
		if err != nil {
			t.Fatal(err)
		}
		if len(d.truth.Traps) != 0 || len(d.truth.Attacks) != len(attackPlan) || !d.truth.Start.Equal(defaultStart) {
			t.Errorf("zero config: %d traps, %d attacks, start %v", len(d.truth.Traps), len(d.truth.Attacks), d.truth.Start)
		}
		for _, r := range d.recs {
			if strings.HasPrefix(r.orig, "trap:") {
				t.Fatalf("trap traffic with Traps off: %s", r.orig)
			}
		}
	})
	t.Run("subset", func(t *testing.T) {
		c := short(DefaultConfig())
		c.Attacks = []string{KindScanning, KindErrorSpike}
		d, err := collect(c)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range d.truth.Attacks {
			got = append(got, a.ID)
		}
		if !slices.Equal(got, []string{"a7", "a13"}) {
			t.Errorf("attacks %v, want [a7 a13]", got)
		}
		for _, r := range d.recs {
			if !r.benign() && r.orig != "a7" {
				t.Fatalf("event of %s with only scanning and error_spike on", r.orig)
			}
		}
	})
	t.Run("attacks leave benign traffic alone", func(t *testing.T) {
		benignHash := func(kinds []string) uint64 {
			c := short(DefaultConfig())
			c.Attacks = kinds
			h := fnv.New64a()
			var buf []byte
			_, err := run(c, func(ev *detectors.Event, o string) error {
				// The inventory integration's own traffic is the rate
				// anomaly's baseline; it is benign only when that is off.
				if !strings.HasPrefix(o, "a") && ev.ClientIP != inventoryIP {
					buf = AppendLine(buf[:0], detectors.FormatTraefikJSON, ev)
					h.Write(buf)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return h.Sum64()
		}
		// Everything but error_spike, which by design changes benign
		// statuses (and so retries).
		var most []string
		for _, k := range Kinds() {
			if k != KindErrorSpike {
				most = append(most, k)
			}
		}
		if benignHash([]string{"none"}) != benignHash(most) {
			t.Error("turning attacks on changed the benign traffic")
		}
	})
	t.Run("short run scales attacks", func(t *testing.T) {
		c := short(DefaultConfig())
		d, err := collect(c)
		if err != nil {
			t.Fatal(err)
		}
		warm := d.truth.Start.Add(c.Duration / 4)
		if len(d.truth.Attacks) != len(attackPlan) {
			t.Errorf("%d attacks in an 8 min run, want all %d", len(d.truth.Attacks), len(attackPlan))
		}
		for _, a := range d.truth.Attacks {
			if a.Start.Before(warm) || a.End.After(d.truth.End) {
				t.Errorf("%s at %v..%v outside %v..%v", a.ID, a.Start, a.End, warm, d.truth.End)
			}
		}
	})
}

func TestEmitError(t *testing.T) {
	n := 0
	_, err := Generate(DefaultConfig(), func(*detectors.Event) error {
		n++
		if n == 1000 {
			return os.ErrClosed
		}
		return nil
	})
	if err != os.ErrClosed || n != 1000 {
		t.Fatalf("err %v after %d events, want os.ErrClosed after 1000", err, n)
	}
}

func TestOpenAPISpecCopy(t *testing.T) {
	a := OpenAPISpec()
	a[0] = 'X'
	if b := OpenAPISpec(); b[0] == 'X' || !strings.Contains(string(b), "deprecated: true") {
		t.Fatal("OpenAPISpec shares its buffer or lost the deprecated operation")
	}
}
