package detectors

import (
	"slices"
	"time"

	"github.com/gatewatch/gatewatch/detectors/window"
)

// Logical window families. Schema gives each present family a FamilyID.
const (
	famIP      = iota // entity: client IP
	famUser           // entity: login name
	famIPRoute        // entity: "<ip> <METHOD> <route>[?<id param>]"
	famRoute          // entity: "<METHOD> <route>"
	famGlobal         // entity: ""
	famNet            // entity: /24 or /48 prefix
	famUA             // entity: user agent
	famCount
)

var famNames = [famCount]string{"ip", "user", "iproute", "route", "global", "net", "ua"}

// Metric ids per family; the first metric of each family is the one
// Distinct estimates are gated on (window.Metric.MinEvents).
const (
	ipReq window.MetricID = iota
	ipNotFound
	ipLogin
	ipFail
	ipSuccess
	ipTraversal
	ipFailUsers
	ipNFPaths
	ipSensPaths
)

const (
	userFail window.MetricID = iota
	userSuccess
	userFailIPs
)

const (
	irReq window.MetricID = iota
	irDenied
	irOK
	irIDs
	irOKIDs
)

const (
	rtReq window.MetricID = iota
	rtErr
	rtShadowOK
	rtDeprecated
	rtShadowClients
)

const (
	glReq window.MetricID = iota
	glLogin
	glFail
	glFailIPs
	glFailUsers
)

const (
	srcLogin window.MetricID = iota // net and ua families
	srcFail
	srcFailIPs
	srcFailUsers
)

// baseBucket is the history bucket of every baseline: 5 minutes, kept 24 h
// (detection-methods §3.1: minute-scale buckets, TTL ~ a day).
const (
	baseBucket  = 5 * time.Minute
	baseHistory = 24 * time.Hour
	// globalBucket: the API-wide series is dense enough for 1-minute
	// buckets, which keep a few-minute spike sharp against its baseline.
	globalBucket = time.Minute
	// distinctMinEvents: estimate distinct counts above the exact cap only
	// when the entity has at least this many events in the window.
	distinctMinEvents = 20
)

// layout maps logical families to the FamilyIDs of a built schema.
type layout struct {
	id      [famCount]window.FamilyID
	present [famCount]bool
}

func wins(ds ...time.Duration) []time.Duration {
	out := make([]time.Duration, 0, len(ds))
	for _, d := range ds {
		if d > 0 && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

func count(name string, w []time.Duration) window.Metric {
	return window.Metric{Name: name, Kind: window.Count, Windows: w}
}

func history(m window.Metric) window.Metric { return historyAt(m, baseBucket) }

func historyAt(m window.Metric, bucket time.Duration) window.Metric {
	m.History, m.HistoryBucket = baseHistory, bucket
	if !slices.Contains(m.Windows, bucket) {
		m.Windows = wins(append(m.Windows, bucket)...)
	}
	return m
}

func distinct(name string, w []time.Duration) window.Metric {
	return window.Metric{Name: name, Kind: window.Distinct, Windows: w, MinEvents: distinctMinEvents}
}

// Schema returns the window families the enabled detectors of cfg need.
func Schema(cfg Config) window.Schema {
	s, _ := buildSchema(cfg)
	return s
}

func buildSchema(cfg Config) (window.Schema, layout) {
	cfg.fill()
	lb, cs, sc, en, sp, ra, sh, es := cfg.LoginBurst, cfg.CredentialStuffing, cfg.Scanning,
		cfg.Enumeration, cfg.Scraping, cfg.RateAnomaly, cfg.ShadowAPI, cfg.ErrorSpike
	var fams [famCount][]window.Metric

	loginWins := wins()
	if lb.On() {
		loginWins = wins(append(loginWins, lb.Window, lb.BurstWindow)...)
	}
	if cs.On() {
		loginWins = wins(append(loginWins, cs.Window)...)
	}
	loginOn := lb.On() || cs.On()

	if loginOn || sc.On() || ra.On() {
		reqWins := wins(sc.Window)
		req := count("req", reqWins)
		if ra.On() {
			req = history(count("req", wins(sc.Window, ra.Window)))
		}
		fams[famIP] = []window.Metric{
			req,
			count("notfound", wins(sc.Window)),
			count("login", loginWins),
			count("fail", loginWins),
			count("success", loginWins),
			count("traversal", wins(sc.Window)),
			distinct("fail_users", loginWins),
			distinct("nf_paths", wins(sc.Window)),
			distinct("sens_paths", wins(sc.Window)),
		}
	}
	if lb.On() {
		fams[famUser] = []window.Metric{
			count("fail", wins(lb.Window)),
			count("success", wins(lb.Window)),
			distinct("fail_ips", wins(lb.Window)),
		}
	}
	if en.On() || sp.On() {
		w := wins(en.Window, sp.Window)
		fams[famIPRoute] = []window.Metric{
			count("req", w),
			count("denied", wins(en.Window)),
			count("ok", wins(sp.Window)),
			distinct("ids", wins(en.Window)),
			distinct("ok_ids", wins(sp.Window)),
		}
	}
	if es.On() || sh.On() {
		fams[famRoute] = []window.Metric{
			history(count("req", wins(es.Window))),
			history(count("err5xx", wins(es.Window))),
			count("shadow_ok", wins(sh.Window)),
			count("deprecated", wins(sh.Window)),
			distinct("shadow_clients", wins(sh.Window)),
		}
	}
	// The global family always exists: its request history is the warm-up
	// clock of every baseline detector.
	gw := wins(globalBucket)
	if cs.On() {
		gw = wins(globalBucket, cs.CampaignWindow)
	}
	fams[famGlobal] = []window.Metric{
		historyAt(count("req", wins(globalBucket)), globalBucket),
		historyAt(count("login", gw), globalBucket),
		historyAt(count("fail", gw), globalBucket),
		distinct("fail_ips", gw),
		distinct("fail_users", gw),
	}
	if cs.On() {
		for _, f := range []int{famNet, famUA} {
			fams[f] = []window.Metric{
				count("login", wins(cs.Window)),
				count("fail", wins(cs.Window)),
				distinct("fail_ips", wins(cs.Window)),
				distinct("fail_users", wins(cs.Window)),
			}
		}
	}
	var s window.Schema
	var l layout
	for f, ms := range fams {
		if ms == nil {
			continue
		}
		l.present[f] = true
		l.id[f] = window.FamilyID(len(s.Families))
		s.Families = append(s.Families, window.Family{Name: famNames[f], Metrics: ms})
	}
	return s, l
}
