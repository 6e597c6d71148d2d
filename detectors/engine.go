package detectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detectors/window"
)

// RouteInfo says how an event's route relates to the configured OpenAPI
// spec. Process takes it parallel to the events; a nil slice means no spec.
type RouteInfo struct {
	InSpec, SpecKnown, Deprecated bool
}

// StreamOffset marks a stream position whose events are all in a batch.
type StreamOffset struct {
	Stream string
	Offset int64
}

// EngineOptions are the engine's collaborators. The zero value works.
type EngineOptions struct {
	Logger *slog.Logger
	// Now is the wall clock (for Stats.LastBatch); default time.Now.
	Now func() time.Time
}

// Stats counts what the engine has seen.
type Stats struct {
	Events      int64 // events processed
	Allowlisted int64 // events dropped by the global allowlist
	Late        int64 // window operations dropped by the store as too late
	Hits        int64 // evaluations in which some condition held
	Detections  int64 // detections returned
	LastBatch   time.Time
}

// Engine runs every enabled detector over batches of events. One Engine
// serves one worker; it is safe for concurrent use but serialises batches.
// Cross-worker state lives in the window store and the incident store.
type Engine struct {
	cfg   Config
	store window.Store
	inc   IncidentStore
	log   *slog.Logger
	now   func() time.Time
	lay   layout

	login      *loginClassifier
	sensitive  *sensitiveMatcher
	shadowSkip *sensitiveMatcher // web content that no API spec describes
	allow      *allowMatcher
	detAllow   map[string]*allowMatcher
	warmN      int // global history buckets needed before baseline detectors fire
	routeWarmN int // a route's own history buckets needed by error_spike

	mu      sync.Mutex
	batch   window.Batch
	ipStr   map[netip.Addr]ipSlot
	ipExt   []ipEnt // the network and ip-route strings of ipStr's slots
	rtStr   map[[2]string]*rtEnt
	irStr   map[irKey]string // ip-route entities of IPs past irPerIP routes
	irN     int              // ip-route entities cached, in ipStr and irStr
	succIP  map[string]struct{}
	succUsr map[string]struct{}
	pop     popRing
	cands   []candidate
	hits    []IncidentHit
	pending map[IncidentKey]*Detection
	stats   Stats
}

// ipSlot is the cache entry of one client address: its string, held in
// the map itself so the common event costs one lookup and no pointer
// chase, and (ext > 0) the index+1 of its ipEnt in Engine.ipExt.
type ipSlot struct {
	s   string
	ext int32
}

// ipEnt caches the other entity strings built from one client address: its
// network (on first login) and its ip-route entities. An ip-route entity is
// found by comparing a route pointer and two (usually empty) strings in a
// short list, instead of hashing the address, user and route again.
type ipEnt struct {
	net    string
	routes []irEnt
}

type irEnt struct {
	rt          *rtEnt
	user, param string
	s           string
}

// rtEnt is the interned "<METHOD> <route>" string; its address identifies
// the route in the ip-route caches.
type rtEnt struct{ s string }

// irPerIP bounds an ipEnt's route list: an IP touching more (id-carrying)
// routes than this keeps the rest in Engine.irStr.
const irPerIP = 8

type irKey struct {
	ip    netip.Addr
	rt    *rtEnt
	user  string
	param string
}

// cacheCap bounds each entity-string cache; past it the cache restarts, so
// memory stays flat on traffic with unbounded cardinality.
const cacheCap = 1 << 16

// NewEngine validates cfg and returns an engine over store and inc.
// store must have been built with Schema(cfg).
func NewEngine(cfg Config, store window.Store, inc IncidentStore, opts EngineOptions) (*Engine, error) {
	if store == nil {
		return nil, errors.New("detectors: NewEngine needs a window store (window.NewMemory or window.NewRedis with Schema(cfg))")
	}
	if inc == nil {
		return nil, errors.New("detectors: NewEngine needs an incident store (incident.NewMemory or incident.NewRedis)")
	}
	cfg.fill()
	if errs := cfg.validate(); len(errs) > 0 {
		msgs := make([]string, 0, len(errs))
		for _, e := range errs {
			msgs = append(msgs, e.path+": "+e.msg)
		}
		return nil, errors.New("invalid detector config: " + strings.Join(msgs, "; "))
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	_, lay := buildSchema(cfg)
	e := &Engine{
		cfg: cfg, store: store, inc: inc, log: opts.Logger, now: opts.Now, lay: lay,
		login:      newLoginClassifier(cfg.Login),
		sensitive:  newSensitiveMatcher(cfg.Scanning.Sensitive),
		shadowSkip: newSensitiveMatcher(cfg.ShadowAPI.Ignore),
		allow:      newAllowMatcher(cfg.Allowlist),
		detAllow:   map[string]*allowMatcher{},
		warmN:      int(cfg.Warmup / globalBucket),
		routeWarmN: int(cfg.Warmup / baseBucket),
		ipStr:      map[netip.Addr]ipSlot{},
		rtStr:      map[[2]string]*rtEnt{},
		irStr:      map[irKey]string{},
		succIP:     map[string]struct{}{},
		succUsr:    map[string]struct{}{},
		pending:    map[IncidentKey]*Detection{},
	}
	for name, c := range map[string]Common{
		KindLoginBurst: cfg.LoginBurst.Common, KindCredentialStuffing: cfg.CredentialStuffing.Common,
		KindScanning: cfg.Scanning.Common, KindEnumeration: cfg.Enumeration.Common,
		KindScraping: cfg.Scraping.Common, KindRateAnomaly: cfg.RateAnomaly.Common,
		KindShadowAPI: cfg.ShadowAPI.Common, KindErrorSpike: cfg.ErrorSpike.Common,
	} {
		e.detAllow[name] = newAllowMatcher(c.Allowlist)
	}
	return e, nil
}

// Stats returns counters since the engine started.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

func (e *Engine) fam(f int) window.FamilyID { return e.lay.id[f] }

// ipEntry is the cache slot of address a. Past cacheCap addresses or
// ip-route entities every address entry restarts (routes stay: they are
// few), so memory stays flat on traffic with unbounded cardinality.
func (e *Engine) ipEntry(a netip.Addr) ipSlot {
	if sl, ok := e.ipStr[a]; ok {
		return sl
	}
	if len(e.ipStr) >= cacheCap || len(e.ipExt) >= cacheCap || e.irN >= cacheCap {
		clear(e.ipStr)
		clear(e.irStr)
		clear(e.ipExt)
		e.ipExt = e.ipExt[:0]
		e.irN = 0
	}
	sl := ipSlot{s: a.String()}
	e.ipStr[a] = sl
	return sl
}

// ipExtOf is the ipEnt of address a, whose slot is *sl; it is made on the
// first event of a that needs one.
func (e *Engine) ipExtOf(a netip.Addr, sl *ipSlot) *ipEnt {
	if sl.ext == 0 {
		e.ipExt = append(e.ipExt, ipEnt{})
		sl.ext = int32(len(e.ipExt))
		e.ipStr[a] = *sl
	}
	return &e.ipExt[sl.ext-1]
}

// netString is the /24 (IPv4) or /48 (IPv6) network of a.
func netString(ie *ipEnt, a netip.Addr) string {
	if ie.net != "" {
		return ie.net
	}
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, _ := a.Prefix(bits)
	ie.net = p.String()
	return ie.net
}

func (e *Engine) route(method, route string) *rtEnt {
	k := [2]string{method, route}
	if r, ok := e.rtStr[k]; ok {
		return r
	}
	if len(e.rtStr) >= cacheCap {
		// Old route entries stay valid where ip-route entries hold them;
		// they only stop matching new lookups.
		clear(e.rtStr)
	}
	r := &rtEnt{s: method + " " + route}
	e.rtStr[k] = r
	return r
}

// ipRouteString is the enumeration/scraping entity "<ip> <user> <route>":
// per client IP and, when the log names one, per user, so that an office
// NAT's many employees are many clients, not one (Cloudflare counts per
// session for the same reason).
func (e *Engine) ipRouteString(a netip.Addr, ip string, ie *ipEnt, user string, rt *rtEnt, param string) string {
	for i := range ie.routes {
		r := &ie.routes[i]
		if r.rt == rt && r.user == user && r.param == param {
			return r.s
		}
	}
	var k irKey
	if len(ie.routes) >= irPerIP {
		k = irKey{a, rt, user, param}
		if s, ok := e.irStr[k]; ok {
			return s
		}
	}
	s := ip + " " + user + " " + rt.s
	if param != "" {
		s += "?" + param
	}
	e.irN++
	if len(ie.routes) < irPerIP {
		ie.routes = append(ie.routes, irEnt{rt: rt, user: user, param: param, s: s})
	} else {
		e.irStr[k] = s
	}
	return s
}

// Process runs the enabled detectors over one batch: one store.Apply for
// the batch (with applied offsets marked), thresholds evaluated on the
// returned views, incidents opened or extended. It returns the detections
// to report. On a store error nothing may be assumed applied and the
// caller should retry the same batch (offsets uncommitted).
func (e *Engine) Process(ctx context.Context, events []Event, info []RouteInfo, applied []StreamOffset) ([]Detection, error) {
	if info != nil && len(info) != len(events) {
		return nil, fmt.Errorf("detectors: %d route infos for %d events: pass one RouteInfo per event or nil", len(info), len(events))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b := &e.batch
	b.Reset()
	clear(e.succIP)
	clear(e.succUsr)
	var allowed int64
	for i := range events {
		ev := &events[i]
		if !e.allow.empty() && e.allow.event(ev) {
			allowed++
			continue
		}
		var ri RouteInfo
		if info != nil {
			ri = info[i]
		}
		e.add(b, ev, ri)
	}
	for _, o := range applied {
		b.MarkApplied(o.Stream, o.Offset)
	}
	res, err := e.store.Apply(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("apply %d window operations from %d events: %w", b.Len(), len(events), err)
	}
	e.stats.Events += int64(len(events))
	e.stats.Allowlisted += allowed
	e.stats.Late += res.Late()
	e.stats.LastBatch = e.now()
	e.cands = e.evaluate(res, e.cands[:0])
	dets, err := e.settle(ctx, events, e.cands)
	// Nothing keeps a view past settle: the next batch reuses their memory.
	clear(e.cands)
	res.Release()
	if err != nil {
		return nil, err
	}
	return dets, nil
}

// add appends the window operations of one event. This is the per-event
// hot path: one classification, no formatting, cached entity strings.
func (e *Engine) add(b *window.Batch, ev *Event, ri RouteInfo) {
	t := ev.Time
	hasIP := ev.ClientIP.IsValid()
	var ip string
	var sl ipSlot
	if hasIP {
		sl = e.ipEntry(ev.ClientIP)
		ip = sl.s
	}
	l := &e.lay
	if l.present[famGlobal] {
		b.Add(e.fam(famGlobal), "", glReq, t, 1)
	}
	route := ev.Route
	if route == "" {
		route = ev.Path
	}
	notFound := ev.Status == 404 || ev.Status == 405 || ev.Status == 410 ||
		(ri.SpecKnown && !ri.InSpec && ev.Status >= 400 && ev.Status < 500)
	if hasIP && l.present[famIP] {
		f := e.fam(famIP)
		b.Add(f, ip, ipReq, t, 1)
		if notFound {
			b.Add(f, ip, ipNotFound, t, 1)
			b.AddMember(f, ip, ipNFPaths, t, ev.Path)
		}
		if e.sensitive.match(ev.Path) {
			b.AddMember(f, ip, ipSensPaths, t, ev.Path)
		}
		if isTraversal(ev.Path) || (ev.Query != "" && isTraversal(ev.Query)) {
			b.Add(f, ip, ipTraversal, t, 1)
		}
	}
	var rte *rtEnt
	if l.present[famRoute] {
		f := e.fam(famRoute)
		rte = e.route(ev.Method, route)
		rt := rte.s
		b.Add(f, rt, rtReq, t, 1)
		if ev.Status >= 500 {
			b.Add(f, rt, rtErr, t, 1)
		}
		if ri.SpecKnown && !ri.InSpec && ev.Status >= 200 && ev.Status < 400 && !e.shadowSkip.match(ev.Path) {
			b.Add(f, rt, rtShadowOK, t, 1)
			if hasIP {
				b.AddMember(f, rt, rtShadowClients, t, ip)
			}
		}
		if ri.InSpec && ri.Deprecated {
			b.Add(f, rt, rtDeprecated, t, 1)
		}
	}
	if hasIP && l.present[famIPRoute] {
		var id, param string
		if n := len(ev.Params); n > 0 {
			id = ev.Params[n-1].Value
		} else if ev.Query != "" {
			for _, k := range e.cfg.Enumeration.IDQueryParams {
				if v, ok := queryValue(ev.Query, k); ok && v != "" {
					id, param = v, k
					break
				}
			}
		}
		if id != "" {
			f := e.fam(famIPRoute)
			user := ev.User
			if user == "-" || strings.IndexByte(user, ' ') >= 0 {
				user = ""
			}
			if rte == nil {
				rte = e.route(ev.Method, route)
			}
			ent := e.ipRouteString(ev.ClientIP, ip, e.ipExtOf(ev.ClientIP, &sl), user, rte, param)
			b.Add(f, ent, irReq, t, 1)
			b.AddMember(f, ent, irIDs, t, id)
			switch {
			case ev.Status == 401 || ev.Status == 403 || ev.Status == 404:
				b.Add(f, ent, irDenied, t, 1)
			case ev.Status >= 200 && ev.Status < 300:
				b.Add(f, ent, irOK, t, 1)
				b.AddMember(f, ent, irOKIDs, t, id)
			}
		}
	}
	lr := e.login.classify(ev)
	if lr == notLogin {
		return
	}
	user := ev.User
	if user == "-" {
		user = ""
	}
	ua := ev.UserAgent
	if ua == "-" {
		ua = ""
	}
	if hasIP && l.present[famIP] {
		b.Add(e.fam(famIP), ip, ipLogin, t, 1)
	}
	if l.present[famGlobal] {
		b.Add(e.fam(famGlobal), "", glLogin, t, 1)
	}
	var nw string
	if hasIP && l.present[famNet] {
		nw = netString(e.ipExtOf(ev.ClientIP, &sl), ev.ClientIP)
		b.Add(e.fam(famNet), nw, srcLogin, t, 1)
	}
	if ua != "" && l.present[famUA] {
		b.Add(e.fam(famUA), ua, srcLogin, t, 1)
	}
	switch lr {
	case loginFailure:
		if hasIP && l.present[famIP] {
			f := e.fam(famIP)
			b.Add(f, ip, ipFail, t, 1)
			if user != "" {
				b.AddMember(f, ip, ipFailUsers, t, user)
			}
		}
		if l.present[famGlobal] {
			f := e.fam(famGlobal)
			b.Add(f, "", glFail, t, 1)
			if hasIP {
				b.AddMember(f, "", glFailIPs, t, ip)
			}
			if user != "" {
				b.AddMember(f, "", glFailUsers, t, user)
			}
		}
		if nw != "" {
			e.addSourceFail(b, e.fam(famNet), nw, ip, user, t)
		}
		if ua != "" && l.present[famUA] {
			e.addSourceFail(b, e.fam(famUA), ua, ip, user, t)
		}
		if user != "" && l.present[famUser] {
			f := e.fam(famUser)
			b.Add(f, user, userFail, t, 1)
			if hasIP {
				b.AddMember(f, user, userFailIPs, t, ip)
			}
		}
	case loginSuccess:
		if hasIP && l.present[famIP] {
			b.Add(e.fam(famIP), ip, ipSuccess, t, 1)
			e.succIP[ip] = struct{}{}
		}
		if user != "" && l.present[famUser] {
			b.Add(e.fam(famUser), user, userSuccess, t, 1)
			e.succUsr[user] = struct{}{}
		}
	}
}

func (e *Engine) addSourceFail(b *window.Batch, f window.FamilyID, ent, ip, user string, t time.Time) {
	b.Add(f, ent, srcFail, t, 1)
	if ip != "" {
		b.AddMember(f, ent, srcFailIPs, t, ip)
	}
	if user != "" {
		b.AddMember(f, ent, srcFailUsers, t, user)
	}
}

// settle records the batch's hits as incidents and turns those the store
// says to report into detections; the rest wait for Flush.
func (e *Engine) settle(ctx context.Context, events []Event, cands []candidate) ([]Detection, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	e.hits = e.hits[:0]
	for i := range cands {
		c := &cands[i]
		e.hits = append(e.hits, IncidentHit{
			Key: IncidentKey{Detector: c.det.Detector, Entity: c.det.Entity}, At: c.det.Time,
			Severity: c.det.Severity, Cooldown: e.cfg.Incidents.Cooldown, ReportEvery: e.cfg.Incidents.ReportEvery,
		})
	}
	ups, err := e.inc.Hit(ctx, e.hits)
	if err != nil {
		// The windows are applied; only this batch's incident decisions are
		// lost. Report the error so the caller does not commit offsets.
		return nil, fmt.Errorf("record %d detector hits as incidents: %w", len(e.hits), err)
	}
	e.stats.Hits += int64(len(ups))
	var out []Detection
	for i, u := range ups {
		c := &cands[i]
		d := c.det
		d.Incident = IncidentRef{ID: u.ID, State: u.State, Hits: u.Hits, FirstSeen: u.FirstSeen}
		d.ID = u.ID + "." + itoa(u.Hits)
		d.FirstSeen, d.LastSeen = u.FirstSeen, u.LastSeen
		if d.Severity.Rank() < u.Severity.Rank() {
			d.Severity = u.Severity
		}
		key := e.hits[i].Key
		if !u.Report {
			d.Evidence.Samples = nil
			e.pending[key] = &d
			continue
		}
		delete(e.pending, key)
		d.Evidence.Samples = e.samples(events, c)
		out = append(out, d)
	}
	e.stats.Detections += int64(len(out))
	return out, nil
}

// Flush is called at the end of a replay (or on shutdown): it reports the
// final state of every incident that was extended since it was last
// reported, so counts and last_seen are complete.
func (e *Engine) Flush(ctx context.Context) ([]Detection, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Detection, 0, len(e.pending))
	for _, d := range e.pending {
		d.Incident.State = IncidentExtended
		out = append(out, *d)
	}
	clear(e.pending)
	sortDetections(out)
	e.stats.Detections += int64(len(out))
	return out, nil
}
