package detectors

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detectors/stats"
	"github.com/gatewatch/gatewatch/detectors/window"
	"gonum.org/v1/gonum/stat"
)

// sampleBy says which of the batch's raw lines back a detection.
type sampleBy uint8

const (
	sampleIP sampleBy = iota
	sampleUser
	sampleNet
	sampleUA
	sampleRoute
	sampleLoginFail
)

type candidate struct {
	det      Detection
	by       sampleBy
	addr     netip.Addr
	prefix   netip.Prefix
	value    string // user, UA, or "METHOD route"
	loginOK  bool   // login detectors: only login lines as samples
	errsOnly bool   // error_spike: only 5xx lines
}

// popRing keeps recent per-IP window counts: the population rate_anomaly
// compares an entity with (one worker's sample of it).
//
// Its median and MAD are asked for after almost every push, so a sorted
// copy is kept up to date by the few values that changed since it was last
// used (a binary search and a move each) instead of sorting 4,096 values
// twice per call; the deviations come out sorted by merging outwards from
// the median. The results are those of stats.MedianMAD on the same values.
type popRing struct {
	vals   []float64
	next   int
	sorted []float64    // vals sorted, as of before pend
	pend   [][2]float64 // (value replaced or NaN, value pushed) since sorted
	dev    []float64
	valid  bool
	median float64
	mad    float64
}

const popSize = 4096

func (p *popRing) push(v float64) {
	old := math.NaN()
	if len(p.vals) < popSize {
		p.vals = append(p.vals, v)
	} else {
		old = p.vals[p.next]
		p.vals[p.next] = v
		p.next = (p.next + 1) % popSize
	}
	if len(p.pend) <= 64 {
		p.pend = append(p.pend, [2]float64{old, v})
	}
	p.valid = false
}

// valueMemo reads one metric of a view and keeps the last window's value:
// detectors with equal windows (scanning and rate_anomaly, enumeration and
// scraping by default) share one read.
type valueMemo struct {
	v   *window.View
	m   window.MetricID
	w   time.Duration
	val float64
	ok  bool
}

func (c *valueMemo) in(w time.Duration) float64 {
	if !c.ok || c.w != w {
		c.val, c.w, c.ok = c.v.Value(c.m, w), w, true
	}
	return c.val
}

// len is the number of values stats would summarise, without computing them.
func (p *popRing) len() int { return len(p.vals) }

func (p *popRing) stats() (median, mad float64, n int) {
	if p.valid {
		return p.median, p.mad, len(p.vals)
	}
	if len(p.pend) > 64 || len(p.sorted)+len(p.pend) < len(p.vals) {
		p.sorted = append(p.sorted[:0], p.vals...)
		slices.Sort(p.sorted)
	} else {
		for _, c := range p.pend {
			if !math.IsNaN(c[0]) {
				if i, ok := slices.BinarySearch(p.sorted, c[0]); ok {
					p.sorted = slices.Delete(p.sorted, i, i+1)
				}
			}
			i, _ := slices.BinarySearch(p.sorted, c[1])
			p.sorted = slices.Insert(p.sorted, i, c[1])
		}
	}
	p.pend = p.pend[:0]
	p.valid = true
	p.median, p.mad = 0, 0
	if len(p.sorted) == 0 {
		return 0, 0, 0
	}
	sv := p.sorted
	med := stat.Quantile(0.5, stat.Empirical, sv, nil)
	dev := p.dev[:0]
	r, _ := slices.BinarySearch(sv, med)
	l := r - 1
	for l >= 0 || r < len(sv) {
		if r >= len(sv) || (l >= 0 && math.Abs(sv[l]-med) <= math.Abs(sv[r]-med)) {
			dev = append(dev, math.Abs(sv[l]-med))
			l--
		} else {
			dev = append(dev, math.Abs(sv[r]-med))
			r++
		}
	}
	p.dev = dev
	p.median, p.mad = med, stat.Quantile(0.5, stat.Empirical, dev, nil)
	return p.median, p.mad, len(p.vals)
}

// robustBaseline is the median and MAD-based sigma (1.4826*MAD) of the
// completed history buckets of m, from the first bucket with data on. The
// median ignores earlier attack buckets that an EWMA would absorb (baseline
// hygiene, detection-methods §6), so one attack does not hide the next.
func robustBaseline(v *window.View, m window.MetricID) (median, sigma float64, n int) {
	_, _, vals := v.Series(m)
	if len(vals) < 2 {
		return 0, 0, 0
	}
	vals = vals[:len(vals)-1]
	for len(vals) > 0 && vals[0] == 0 {
		vals = vals[1:]
	}
	if len(vals) == 0 {
		return 0, 0, 0
	}
	med, mad := stats.MedianMAD(vals, nil)
	return med, 1.4826 * mad, len(vals)
}

func iff(cond bool, s string) string {
	if cond {
		return s
	}
	return ""
}

func userScore(s float64, takeover bool) float64 {
	if takeover {
		return math.Max(s, 0.75)
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func ftoa(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// durString writes a window as people do: 10m, 1h, 1h30m, 90s as 1m30s.
func durString(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func ratioOf(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func sortDetections(ds []Detection) {
	slices.SortFunc(ds, func(a, b Detection) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func entitiesOf(typ string, vals []string) []Entity {
	out := make([]Entity, 0, len(vals))
	for _, v := range vals {
		out = append(out, Entity{Type: typ, Value: v})
	}
	return out
}

// wants reports whether detector kind may report on entity type typ.
func wants(c Common, typ string) bool {
	return c.On() && slices.Contains(c.Entities, typ)
}

// emit appends a candidate unless the detector's allowlist covers its entity.
func (e *Engine) emit(out []candidate, c candidate) []candidate {
	if m := e.detAllow[c.det.Kind]; m != nil && !m.empty() && m.entity(c.det.Entity) {
		return out
	}
	if c.det.Detector == "" {
		c.det.Detector = c.det.Kind
	}
	return append(out, c)
}

// evaluate checks every threshold on the views the batch touched. The
// global view goes first: it decides whether baselines are warm.
func (e *Engine) evaluate(res *window.Result, out []candidate) []candidate {
	warm := false
	if g, ok := res.View(e.fam(famGlobal), ""); ok {
		_, _, n := g.Baseline(glReq, 0)
		warm = n >= e.warmN
		out = e.evalGlobal(g, warm, out)
	}
	for _, v := range res.Views() {
		switch {
		case e.lay.present[famIP] && v.Family == e.fam(famIP):
			out = e.evalIP(v, warm, out)
		case e.lay.present[famUser] && v.Family == e.fam(famUser):
			out = e.evalUser(v, out)
		case e.lay.present[famIPRoute] && v.Family == e.fam(famIPRoute):
			out = e.evalIPRoute(v, out)
		case e.lay.present[famRoute] && v.Family == e.fam(famRoute):
			out = e.evalRoute(v, warm, out)
		case e.lay.present[famNet] && v.Family == e.fam(famNet):
			out = e.evalSource(v, EntityNetwork, out)
		case e.lay.present[famUA] && v.Family == e.fam(famUA):
			out = e.evalSource(v, EntityUserAgent, out)
		}
	}
	return out
}

func (e *Engine) evalIP(v *window.View, warm bool, out []candidate) []candidate {
	// The address is parsed only for a detection: most IPs fire nothing.
	// IP entities are the engine's own netip.Addr strings, so it parses.
	ent := Entity{Type: EntityIP, Value: v.Entity}
	at := v.At
	base := func(kind string, sev Severity, score float64, w time.Duration, summary string) candidate {
		addr, _ := netip.ParseAddr(v.Entity)
		return candidate{by: sampleIP, addr: addr, det: Detection{
			Time: at, Kind: kind, Severity: sev, Score: score, Entity: ent, Window: durString(w), Summary: summary,
		}}
	}
	// Whether the IP logged in successfully in this batch matters only to
	// an IP with failures: looked up then, not for every IP.
	success := func() bool { _, ok := e.succIP[v.Entity]; return ok }
	reqs := valueMemo{v: v, m: ipReq}

	if lb := &e.cfg.LoginBurst; wants(lb.Common, EntityIP) {
		// Attempts are read only where the failures already meet a
		// threshold (most IPs have none); always before a detection.
		fails, bf := v.Value(ipFail, lb.Window), v.Value(ipFail, lb.BurstWindow)
		var att, r float64
		haveAtt := fails >= lb.IPFailures || fails >= lb.TakeoverFailures
		if haveAtt {
			att = v.Value(ipLogin, lb.Window)
			r = ratioOf(fails, att)
		}
		main := fails >= lb.IPFailures && r >= lb.IPFailureRatio
		burst := bf >= lb.BurstFailures && ratioOf(bf, v.Value(ipLogin, lb.BurstWindow)) >= lb.IPFailureRatio
		takeover := fails >= lb.TakeoverFailures && r >= lb.IPFailureRatio && success()
		if !haveAtt && burst {
			att = v.Value(ipLogin, lb.Window)
			r = ratioOf(fails, att)
		}
		if main || burst || takeover {
			sev, what := lb.Severity, "failed logins"
			if takeover {
				sev, what = lb.Escalated, "failed logins followed by a success (possible account takeover)"
			}
			score := math.Max(stats.Score(fails, lb.IPFailures), stats.Score(bf, lb.BurstFailures))
			if takeover {
				score = math.Max(score, 0.75)
			}
			c := base(KindLoginBurst, sev, score, lb.Window,
				v.Entity+": "+ftoa(fails)+" "+what+" in "+durString(lb.Window)+" ("+ftoa(math.Round(r*100))+"% of its logins)")
			c.loginOK = true
			c.det.Metrics = map[string]float64{"failures": fails, "attempts": att, "failure_ratio": r,
				"burst_failures": bf, "successes": v.Value(ipSuccess, lb.Window)}
			c.det.Evidence = Evidence{
				Top:      entitiesOf(EntityUser, v.Members(ipFailUsers, e.cfg.Top)),
				Expected: "< " + ftoa(lb.IPFailures) + " failed logins in " + durString(lb.Window) + " or < " + ftoa(lb.BurstFailures) + " in " + durString(lb.BurstWindow),
				Observed: ftoa(fails) + " failed logins in " + durString(lb.Window) + ", " + ftoa(bf) + " in " + durString(lb.BurstWindow),
			}
			out = e.emit(out, c)
		}
	}

	if cs := &e.cfg.CredentialStuffing; wants(cs.Common, EntityIP) {
		fails := v.Value(ipFail, cs.Window)
		var att, r float64
		if fails >= cs.IPFailures {
			att = v.Value(ipLogin, cs.Window)
			r = ratioOf(fails, att)
		}
		// The distinct count is the dear part: asked for only when the
		// counters already meet their thresholds.
		var users float64
		if fails >= cs.IPFailures && r >= cs.FailureRatio {
			users, _ = v.Distinct(ipFailUsers, cs.Window)
		}
		if fails >= cs.IPFailures && users >= cs.IPAccounts && r >= cs.FailureRatio {
			sev := cs.Severity
			if success() {
				sev = cs.Escalated
			}
			c := base(KindCredentialStuffing, sev, math.Max(stats.Score(users, cs.IPAccounts), stats.Score(fails, cs.IPFailures)), cs.Window,
				v.Entity+" failed to log in to "+ftoa(users)+" different accounts ("+ftoa(fails)+" failures) in "+durString(cs.Window))
			c.loginOK = true
			c.det.Metrics = map[string]float64{"failures": fails, "attempts": att, "failure_ratio": r, "accounts": users}
			c.det.Evidence = Evidence{
				Top:      entitiesOf(EntityUser, v.Members(ipFailUsers, e.cfg.Top)),
				Expected: "< " + ftoa(cs.IPAccounts) + " accounts or < " + ftoa(cs.IPFailures) + " failures in " + durString(cs.Window),
				Observed: ftoa(users) + " accounts, " + ftoa(fails) + " failures",
			}
			out = e.emit(out, c)
		}
	}

	if sc := &e.cfg.Scanning; wants(sc.Common, EntityIP) {
		nf, _ := v.Distinct(ipNFPaths, sc.Window)
		req, nfc := reqs.in(sc.Window), v.Value(ipNotFound, sc.Window)
		sens, _ := v.Distinct(ipSensPaths, sc.Window)
		trav := v.Value(ipTraversal, sc.Window)
		byPaths := nf >= sc.NotFoundPaths
		byRatio := req >= sc.MinRequests && ratioOf(nfc, req) >= sc.NotFoundRatio && nf >= math.Min(10, sc.NotFoundPaths)
		bySens := sens >= sc.SensitivePaths
		if byPaths || byRatio || bySens || trav > 0 {
			sev := sc.Severity
			if trav > 0 || (bySens && byPaths) {
				sev = sc.Escalated
			}
			score := math.Max(stats.Score(nf, sc.NotFoundPaths), stats.Score(sens, sc.SensitivePaths))
			if trav > 0 {
				score = math.Max(score, 0.75)
			}
			c := base(KindScanning, sev, score, sc.Window,
				v.Entity+" probed "+ftoa(nf)+" missing paths and "+ftoa(sens)+" sensitive paths in "+durString(sc.Window)+
					iff(trav > 0, ", with path traversal"))
			c.det.Metrics = map[string]float64{"requests": req, "not_found": nfc, "not_found_ratio": ratioOf(nfc, req),
				"distinct_not_found_paths": nf, "sensitive_paths": sens, "traversal": trav}
			top := entitiesOf("path", v.Members(ipSensPaths, e.cfg.Top))
			top = append(top, entitiesOf("path", v.Members(ipNFPaths, e.cfg.Top-len(top)))...)
			c.det.Evidence = Evidence{
				Top:      top,
				Expected: "< " + ftoa(sc.NotFoundPaths) + " distinct missing paths, < " + ftoa(sc.SensitivePaths) + " sensitive paths, no traversal in " + durString(sc.Window),
				Observed: ftoa(nf) + " missing paths (" + ftoa(math.Round(ratioOf(nfc, req)*100)) + "% not found), " + ftoa(sens) + " sensitive, " + ftoa(trav) + " traversal",
			}
			out = e.emit(out, c)
		}
	}

	if ra := &e.cfg.RateAnomaly; wants(ra.Common, EntityIP) {
		obs := reqs.in(ra.Window)
		if obs > 0 {
			e.pop.push(obs)
		}
		// The population's median and MAD cost a sorted-array update after
		// every push: they are taken only when the entity's own baseline
		// lacks history or its surprise already passes.
		if n := e.pop.len(); warm && obs >= ra.MinCount && n >= 30 {
			var med, mad float64
			popDone := false
			mean, std, hist := v.Baseline(ipReq, ra.HalfLife)
			expected, variance := mean, std*std
			if hist < 3 {
				// A new entity has no baseline of its own: shrink it to the
				// population's (empirical Bayes in its simplest form).
				med, mad, _ = e.pop.stats()
				popDone = true
				expected, variance = med, math.Pow(1.4826*mad, 2)
			}
			expected = math.Max(expected, 1)
			s := stats.NegBinSurprise(obs, expected, math.Max(variance, expected))
			z := math.Inf(-1)
			if s >= ra.Surprise && obs >= ra.Ratio*expected {
				if !popDone {
					med, mad, _ = e.pop.stats()
				}
				z = 0.6745 * (obs - med) / math.Max(mad, 1)
			}
			if s >= ra.Surprise && obs >= ra.Ratio*expected && z >= ra.RobustZ {
				sev := ra.Severity
				if s >= 2*ra.Surprise && obs >= 2*ra.Ratio*expected {
					sev = ra.Escalated
				}
				c := base(KindRateAnomaly, sev, stats.Score(s, ra.Surprise), ra.Window,
					v.Entity+" made "+ftoa(obs)+" requests in "+durString(ra.Window)+", "+ftoa(math.Round(obs/expected))+"x its usual "+ftoa(math.Round(expected)))
				c.det.Metrics = map[string]float64{"requests": obs, "expected": expected, "surprise": s, "robust_z": z,
					"population_median": med, "population_mad": mad, "history_buckets": float64(hist)}
				c.det.Evidence = Evidence{
					Expected: "about " + ftoa(math.Round(expected)) + " requests per " + durString(ra.Window) + " (own baseline; population median " + ftoa(med) + ")",
					Observed: ftoa(obs) + " requests (p = 1e-" + ftoa(math.Floor(s)) + ", robust z " + ftoa(math.Round(z)) + ")",
				}
				out = e.emit(out, c)
			}
		}
	}
	return out
}

func (e *Engine) evalUser(v *window.View, out []candidate) []candidate {
	lb := &e.cfg.LoginBurst
	if !wants(lb.Common, EntityUser) || v.Entity == "" {
		return out
	}
	fails := v.Value(userFail, lb.Window)
	ips, _ := v.Distinct(userFailIPs, lb.Window)
	_, success := e.succUsr[v.Entity]
	main := fails >= lb.UserFailures
	takeover := success && fails >= lb.TakeoverFailures
	if !main && !takeover {
		return out
	}
	sev := lb.Severity
	what := "failed logins"
	switch {
	case takeover:
		sev, what = lb.Escalated, "failed logins then a successful one (possible account takeover)"
	case ips >= lb.UserIPs:
		sev, what = lb.Escalated, "failed logins from "+ftoa(ips)+" IPs"
	}
	c := candidate{by: sampleUser, value: v.Entity, loginOK: true, det: Detection{
		Time: v.At, Kind: KindLoginBurst, Severity: sev, Score: userScore(stats.Score(fails, lb.UserFailures), takeover),
		Entity: Entity{Type: EntityUser, Value: v.Entity}, Window: durString(lb.Window),
		Summary: "account " + strconv.Quote(v.Entity) + ": " + ftoa(fails) + " " + what + " in " + durString(lb.Window),
		Metrics: map[string]float64{"failures": fails, "distinct_ips": ips, "successes": v.Value(userSuccess, lb.Window)},
		Evidence: Evidence{
			Top:      entitiesOf(EntityIP, v.Members(userFailIPs, e.cfg.Top)),
			Expected: "< " + ftoa(lb.UserFailures) + " failed logins per account in " + durString(lb.Window),
			Observed: ftoa(fails) + " failed logins from " + ftoa(ips) + " IPs",
		},
	}}
	return e.emit(out, c)
}

func (e *Engine) evalIPRoute(v *window.View, out []candidate) []candidate {
	// The entity is split and its address parsed only for a detection:
	// almost no ip-route entity fires. An entity that does not split (the
	// engine builds none) fires nothing.
	var (
		ip, rt string
		addr   netip.Addr
		ent    Entity
		parsed int // 0 not yet, 1 ok, -1 malformed
	)
	parse := func() bool {
		if parsed != 0 {
			return parsed > 0
		}
		parsed = -1
		var rest string
		var ok bool
		if ip, rest, ok = strings.Cut(v.Entity, " "); !ok {
			return false
		}
		// rest is "<user> <METHOD> <route>"; user may be empty.
		if _, rt, ok = strings.Cut(rest, " "); !ok {
			return false
		}
		var err error
		if addr, err = netip.ParseAddr(ip); err != nil {
			return false
		}
		ent = Entity{Type: EntityIP, Value: ip}
		parsed = 1
		return true
	}
	reqs := valueMemo{v: v, m: irReq}
	if en := &e.cfg.Enumeration; wants(en.Common, EntityIP) {
		req, den := reqs.in(en.Window), v.Value(irDenied, en.Window)
		var ids float64
		if ratioOf(den, req) >= en.DeniedRatio {
			ids, _ = v.Distinct(irIDs, en.Window)
		}
		if ids >= en.DistinctIDs && ratioOf(den, req) >= en.DeniedRatio && parse() {
			members := v.Members(irIDs, 64)
			seq := stats.SequentialScore(members)
			sev := en.Severity
			if seq >= en.SequentialScore {
				sev = en.Escalated
			}
			c := candidate{by: sampleRoute, addr: addr, value: routeOf(rt), det: Detection{
				Time: v.At, Kind: KindEnumeration, Severity: sev, Score: stats.Score(ids, en.DistinctIDs), Entity: ent,
				Window: durString(en.Window),
				Summary: ip + " requested " + ftoa(ids) + " different ids on " + rt + " in " + durString(en.Window) + ", " +
					ftoa(math.Round(ratioOf(den, req)*100)) + "% denied or not found" +
					iff(seq >= en.SequentialScore, ", walking them in sequence"),
				Metrics: map[string]float64{"distinct_ids": ids, "requests": req, "denied": den, "denied_ratio": ratioOf(den, req), "sequential_score": seq},
				Evidence: Evidence{
					Top:      append([]Entity{{Type: EntityRoute, Value: rt}}, entitiesOf("id", members[:min(len(members), e.cfg.Top)])...),
					Expected: "< " + ftoa(en.DistinctIDs) + " distinct ids per route in " + durString(en.Window) + " when most are denied",
					Observed: ftoa(ids) + " ids, " + ftoa(den) + "/" + ftoa(req) + " denied, sequential score " + strconv.FormatFloat(seq, 'f', 2, 64),
				},
			}}
			out = e.emit(out, c)
		}
	}
	if sp := &e.cfg.Scraping; wants(sp.Common, EntityIP) {
		req, okN := reqs.in(sp.Window), v.Value(irOK, sp.Window)
		var items float64
		if ratioOf(okN, req) >= sp.SuccessRatio {
			items, _ = v.Distinct(irOKIDs, sp.Window)
		}
		novelty := ratioOf(items, okN)
		if items >= sp.DistinctItems && ratioOf(okN, req) >= sp.SuccessRatio && novelty >= sp.Novelty && parse() {
			sev := sp.Severity
			if items >= 2*sp.DistinctItems {
				sev = sp.Escalated
			}
			members := v.Members(irOKIDs, e.cfg.Top)
			c := candidate{by: sampleRoute, addr: addr, value: routeOf(rt), det: Detection{
				Time: v.At, Kind: KindScraping, Severity: sev, Score: stats.Score(items, sp.DistinctItems), Entity: ent,
				Window:  durString(sp.Window),
				Summary: ip + " fetched " + ftoa(items) + " different items of " + rt + " in " + durString(sp.Window),
				Metrics: map[string]float64{"distinct_items": items, "requests": req, "ok": okN, "success_ratio": ratioOf(okN, req), "novelty": novelty},
				Evidence: Evidence{
					Top:      append([]Entity{{Type: EntityRoute, Value: rt}}, entitiesOf("id", members)...),
					Expected: "< " + ftoa(sp.DistinctItems) + " distinct items per route in " + durString(sp.Window),
					Observed: ftoa(items) + " items in " + ftoa(req) + " requests",
				},
			}}
			out = e.emit(out, c)
		}
	}
	return out
}

// routeOf strips the "?param" suffix of an ip-route entity's route part.
func routeOf(rt string) string {
	if i := strings.IndexByte(rt, '?'); i >= 0 {
		return rt[:i]
	}
	return rt
}

func (e *Engine) evalRoute(v *window.View, warm bool, out []candidate) []candidate {
	ent := Entity{Type: EntityRoute, Value: v.Entity}
	if es := &e.cfg.ErrorSpike; warm && wants(es.Common, EntityRoute) {
		n, k := v.Value(rtReq, es.Window), v.Value(rtErr, es.Window)
		if n >= es.MinRequests && k >= es.MinErrors {
			mReq, _, hist := v.Baseline(rtReq, es.HalfLife)
			mErr, _, _ := v.Baseline(rtErr, es.HalfLife)
			if hist >= e.routeWarmN && mReq > 0 {
				// Half an error of pseudo-count keeps a spotless route from
				// having a zero baseline that any error would "surprise".
				p0 := (mErr + 0.5) / (mReq + 1)
				r := k / n
				s := stats.BinomialSurprise(k, n, p0)
				if s >= es.Surprise && r >= p0+es.MinIncrease {
					sev := es.Severity
					if r >= 0.5 {
						sev = es.Escalated
					}
					c := candidate{by: sampleRoute, value: v.Entity, errsOnly: true, det: Detection{
						Time: v.At, Kind: KindErrorSpike, Severity: sev, Score: stats.Score(s, es.Surprise), Entity: ent,
						Window: durString(es.Window),
						Summary: v.Entity + " answered " + ftoa(math.Round(r*100)) + "% 5xx in " + durString(es.Window) +
							" against a usual " + strconv.FormatFloat(p0*100, 'f', 1, 64) + "%",
						Metrics: map[string]float64{"requests": n, "errors": k, "error_ratio": r, "baseline_ratio": p0, "surprise": s},
						Evidence: Evidence{
							Expected: strconv.FormatFloat(p0*100, 'f', 1, 64) + "% 5xx (baseline)",
							Observed: ftoa(k) + "/" + ftoa(n) + " 5xx (p = 1e-" + ftoa(math.Floor(s)) + ")",
						},
					}}
					out = e.emit(out, c)
				}
			}
		}
	}
	if sh := &e.cfg.ShadowAPI; wants(sh.Common, EntityRoute) {
		okN := v.Value(rtShadowOK, sh.Window)
		clients, _ := v.Distinct(rtShadowClients, sh.Window)
		dep := v.Value(rtDeprecated, sh.Window)
		var c candidate
		switch {
		case okN >= sh.MinRequests && clients >= sh.MinClients:
			c = candidate{by: sampleRoute, value: v.Entity, det: Detection{Severity: sh.Severity,
				Summary: v.Entity + " is not in the API spec but answered " + ftoa(okN) + " requests successfully for " + ftoa(clients) + " clients",
				Score:   stats.Score(okN, sh.MinRequests),
				Evidence: Evidence{Top: entitiesOf(EntityIP, v.Members(rtShadowClients, e.cfg.Top)),
					Expected: "routes outside the spec answer 404", Observed: ftoa(okN) + " successful calls from " + ftoa(clients) + " clients"}}}
		case dep >= sh.DeprecatedCalls:
			c = candidate{by: sampleRoute, value: v.Entity, det: Detection{Severity: sh.Escalated,
				Summary:  v.Entity + " is deprecated in the API spec but was called " + ftoa(dep) + " times in " + durString(sh.Window),
				Score:    stats.Score(dep, sh.DeprecatedCalls),
				Evidence: Evidence{Expected: "no calls to deprecated operations", Observed: ftoa(dep) + " calls"}}}
		default:
			return out
		}
		c.det.Time, c.det.Kind, c.det.Entity, c.det.Window = v.At, KindShadowAPI, ent, durString(sh.Window)
		c.det.Metrics = map[string]float64{"undocumented_ok": okN, "clients": clients, "deprecated_calls": dep}
		out = e.emit(out, c)
	}
	return out
}

func (e *Engine) evalGlobal(v *window.View, warm bool, out []candidate) []candidate {
	if !warm {
		return out
	}
	ent := Entity{Type: EntityGlobal, Value: ""}
	if lb := &e.cfg.LoginBurst; wants(lb.Common, EntityGlobal) {
		fails := v.Value(glFail, globalBucket)
		if fails >= lb.GlobalMinFailures {
			med, sigma, _ := robustBaseline(v, glFail)
			expected := math.Max(med, 1)
			s := stats.NegBinSurprise(fails, expected, math.Max(sigma*sigma, expected))
			// One series tested once a minute: a robust z (Iglewicz-Hoaglin)
			// against the median/MAD of its own history. The NB surprise is
			// reported, not gated on: at 1-minute resolution benign
			// failures are so over-dispersed that the fitted NB tail is
			// nearly geometric and would hide a 7x spike.
			z := (fails - med) / math.Max(sigma, 1)
			if z >= lb.GlobalRobustZ && fails >= lb.GlobalRatio*expected {
				c := candidate{by: sampleLoginFail, loginOK: true, det: Detection{
					Time: v.At, Kind: KindLoginBurst, Severity: lb.Severity, Score: stats.Score(z, lb.GlobalRobustZ), Entity: ent,
					Window:  durString(globalBucket),
					Summary: ftoa(fails) + " failed logins across the API in " + durString(globalBucket) + ", " + ftoa(math.Round(fails/expected)) + "x the usual " + ftoa(math.Round(expected)),
					Metrics: map[string]float64{"failures": fails, "expected": expected, "sigma": sigma, "robust_z": z, "surprise": s},
					Evidence: Evidence{
						Top:      entitiesOf(EntityIP, v.Members(glFailIPs, e.cfg.Top)),
						Expected: "about " + ftoa(math.Round(expected)) + " failed logins per " + durString(globalBucket),
						Observed: ftoa(fails) + " (robust z " + strconv.FormatFloat(z, 'f', 1, 64) + ")",
					},
				}}
				out = e.emit(out, c)
			}
		}
	}
	if cs := &e.cfg.CredentialStuffing; wants(cs.Common, EntityCampaign) {
		w := cs.CampaignWindow
		k := float64(w) / float64(globalBucket)
		fails, att := v.Value(glFail, w), v.Value(glLogin, w)
		ips, _ := v.Distinct(glFailIPs, w)
		users, _ := v.Distinct(glFailUsers, w)
		if fails >= cs.CampaignIPs && ips >= cs.CampaignIPs && (users == 0 || users >= cs.CampaignAccounts) {
			mF, sF, _ := v.Baseline(glFail, 6*time.Hour)
			mA, _, _ := v.Baseline(glLogin, 6*time.Hour)
			expected := math.Max(mF*k, 1)
			variance := math.Max(sF*sF*k, expected)
			baseRatio := ratioOf(mF, mA)
			r := ratioOf(fails, att)
			s := stats.NegBinSurprise(fails, expected, variance)
			if s >= cs.CampaignSurprise && r >= math.Max(0.6*cs.FailureRatio, 2*baseRatio) {
				top := v.Members(glFailIPs, e.cfg.Top)
				c := candidate{by: sampleLoginFail, loginOK: true, det: Detection{
					Time: v.At, Kind: KindCredentialStuffing, Severity: cs.Severity, Score: stats.Score(s, cs.CampaignSurprise),
					Entity: Entity{Type: EntityCampaign, Value: "login-failures"}, Window: durString(w),
					Summary: "distributed credential stuffing: " + ftoa(fails) + " failed logins from " + ftoa(ips) + " IPs against " +
						ftoa(users) + " accounts in " + durString(w) + ", " + ftoa(math.Round(fails/expected)) + "x the usual",
					Metrics: map[string]float64{"failures": fails, "attempts": att, "failure_ratio": r, "baseline_ratio": baseRatio,
						"expected": expected, "surprise": s, "distinct_ips": ips, "distinct_accounts": users},
					Evidence: Evidence{
						Top:      entitiesOf(EntityIP, top),
						Expected: "about " + ftoa(math.Round(expected)) + " failed logins per " + durString(w) + " at a " + ftoa(math.Round(baseRatio*100)) + "% failure ratio",
						Observed: ftoa(fails) + " failed logins, " + ftoa(math.Round(r*100)) + "% failing, from " + ftoa(ips) + " IPs",
					},
				}}
				out = e.emit(out, c)
			}
		}
	}
	return out
}

// evalSource: one /24 or one user agent failing logins from many IPs on
// many accounts (the shared fingerprint of a distributed campaign).
func (e *Engine) evalSource(v *window.View, typ string, out []candidate) []candidate {
	cs := &e.cfg.CredentialStuffing
	if !wants(cs.Common, typ) || v.Entity == "" {
		return out
	}
	fails, att := v.Value(srcFail, cs.Window), v.Value(srcLogin, cs.Window)
	ips, _ := v.Distinct(srcFailIPs, cs.Window)
	users, _ := v.Distinct(srcFailUsers, cs.Window)
	accounts := users
	if users == 0 {
		accounts = fails // no usernames logged: failures stand in for accounts
	}
	r := ratioOf(fails, att)
	if ips < cs.SharedIPs || accounts < cs.SharedAccounts || r < cs.FailureRatio {
		return out
	}
	c := candidate{loginOK: true, det: Detection{
		Time: v.At, Kind: KindCredentialStuffing, Severity: cs.Severity,
		Score:  math.Max(stats.Score(ips, cs.SharedIPs), stats.Score(accounts, cs.SharedAccounts)),
		Entity: Entity{Type: typ, Value: v.Entity}, Window: durString(cs.Window),
		Summary: ftoa(ips) + " IPs sharing " + typ + " " + strconv.Quote(v.Entity) + " failed logins on " + ftoa(users) + " accounts (" +
			ftoa(fails) + " failures, " + ftoa(math.Round(r*100)) + "%) in " + durString(cs.Window),
		Metrics: map[string]float64{"failures": fails, "attempts": att, "failure_ratio": r, "distinct_ips": ips, "distinct_accounts": users},
		Evidence: Evidence{
			Top:      entitiesOf(EntityIP, v.Members(srcFailIPs, e.cfg.Top)),
			Expected: "< " + ftoa(cs.SharedIPs) + " failing IPs or < " + ftoa(cs.SharedAccounts) + " accounts per " + typ + " in " + durString(cs.Window),
			Observed: ftoa(ips) + " IPs, " + ftoa(users) + " accounts",
		},
	}}
	if typ == EntityNetwork {
		c.by = sampleNet
		c.prefix, _ = netip.ParsePrefix(v.Entity)
	} else {
		c.by = sampleUA
		c.value = v.Entity
	}
	return e.emit(out, c)
}

// samples picks up to cfg.Samples raw lines of the batch that back c.
func (e *Engine) samples(events []Event, c *candidate) []Sample {
	max := e.cfg.Samples
	if max <= 0 {
		return nil
	}
	var out []Sample
	method, route, _ := strings.Cut(c.value, " ")
	for i := len(events) - 1; i >= 0 && len(out) < max; i-- {
		ev := &events[i]
		var ok bool
		switch c.by {
		case sampleIP:
			ok = ev.ClientIP == c.addr
		case sampleUser:
			ok = ev.User == c.value
		case sampleNet:
			ok = c.prefix.Contains(ev.ClientIP)
		case sampleUA:
			ok = ev.UserAgent == c.value
		case sampleRoute:
			r := ev.Route
			if r == "" {
				r = ev.Path
			}
			ok = ev.Method == method && r == route && (!c.addr.IsValid() || ev.ClientIP == c.addr)
		case sampleLoginFail:
			ok = true
		}
		if ok && c.loginOK {
			lr := e.login.classify(ev)
			ok = lr != notLogin && (c.by != sampleLoginFail || lr == loginFailure)
		}
		if ok && c.errsOnly {
			ok = ev.Status >= 500
		}
		if ok {
			out = append(out, Sample{Time: ev.Time, Source: ev.Source.String(), Line: strings.Clone(ev.Raw)})
		}
	}
	slices.Reverse(out)
	return out
}
