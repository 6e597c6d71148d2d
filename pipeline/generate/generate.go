// Package generate produces realistic, labelled synthetic API traffic for a
// shop-like API: a benign population with diurnal, bursty load, benign
// "traps" that look suspicious but are normal, and injected attacks shaped
// like the ones seen in the wild. Generate streams the events in time order
// (memory stays flat whatever the duration) and returns the ground truth;
// AppendLine renders an event as one access-log line of any gateway format
// the parsers read. See README.md for the scenario and what each label means.
package generate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// Config describes one scenario. The zero value works: it means seed 0,
// the default start, one hour at ~70 benign requests/s, every attack and no
// traps. DefaultConfig turns the traps on.
type Config struct {
	// Seed makes the run deterministic: the same seed and config give
	// byte-identical output.
	Seed int64
	// Start is the first possible event time; zero means 2026-01-05T08:00:00Z.
	Start time.Time
	// Duration of the scenario; zero means one hour. Attack windows scale
	// with it (they start after a warm-up of min(15 min, Duration/4)).
	Duration time.Duration
	// Rate is the mean benign request rate per second over the whole run,
	// traps included; zero means 70. The instantaneous rate follows a
	// diurnal curve with minute-level bursts, so it is never flat.
	Rate float64
	// Attacks lists the attack kinds to inject (see Kinds); empty means all
	// of them and ["none"] means benign traffic only.
	Attacks []string
	// Traps adds the benign traps (office NAT, partner integration, mobile
	// polling, health checks, repeat password mistypers, crawler).
	Traps bool
}

// DefaultConfig is the documented scenario: seed 1, one hour from
// 2026-01-05T08:00:00Z at ~70 benign requests/s, every attack, every trap.
func DefaultConfig() Config {
	return Config{
		Seed:     1,
		Start:    defaultStart,
		Duration: time.Hour,
		Rate:     defaultRate,
		Traps:    true,
	}
}

var defaultStart = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

const defaultRate = 70.0

// Detection kinds, as named in the ground truth: the detectors' own names.
const (
	KindLoginBurst         = detectors.KindLoginBurst
	KindCredentialStuffing = detectors.KindCredentialStuffing
	KindScanning           = detectors.KindScanning
	KindEnumeration        = detectors.KindEnumeration
	KindScraping           = detectors.KindScraping
	KindRateAnomaly        = detectors.KindRateAnomaly
	KindShadowAPI          = detectors.KindShadowAPI
	KindErrorSpike         = detectors.KindErrorSpike
)

// Kinds lists every attack kind Generate can inject.
func Kinds() []string {
	return []string{KindLoginBurst, KindCredentialStuffing, KindScanning, KindEnumeration,
		KindScraping, KindRateAnomaly, KindShadowAPI, KindErrorSpike}
}

// Truth is the ground truth of one run, written as JSON by
// `gatewatch generate --truth FILE`.
type Truth struct {
	Seed    int64     `json:"seed"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Events  int64     `json:"events"`
	Attacks []Attack  `json:"attacks"`
	Traps   []Trap    `json:"traps"`
}

// Attack is one injected attack. A detection of the same kind naming ANY of
// the entities, inside [Start, End], detects it.
type Attack struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Description string    `json:"description"`
	Entities    []Entity  `json:"entities"`
}

// Trap is benign traffic that looks suspicious. No detection of any kind
// may name one of its entities.
type Trap struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Entities    []Entity `json:"entities"`
}

// Entity names what a detection is about. Types: ip, user, network (IPv4
// /24 or IPv6 /48), user_agent, campaign (the truth uses value "*": any
// campaign id the detector chose), global (value ""), route
// ("METHOD /template").
type Entity struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Entity types.
const (
	EntityIP        = "ip"
	EntityUser      = "user"
	EntityNetwork   = "network"
	EntityUserAgent = "user_agent"
	EntityCampaign  = "campaign"
	EntityGlobal    = "global"
	EntityRoute     = "route"
)

// normalize fills defaults and checks the attack list.
func (c Config) normalize() (Config, map[string]bool, error) {
	if c.Start.IsZero() {
		c.Start = defaultStart
	}
	c.Start = c.Start.UTC().Truncate(time.Microsecond)
	if c.Duration == 0 {
		c.Duration = time.Hour
	}
	if c.Duration < time.Minute {
		return c, nil, fmt.Errorf("generate: duration %v is too short: use at least 1m so sessions and attacks fit", c.Duration)
	}
	if c.Rate == 0 {
		c.Rate = defaultRate
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		return c, nil, fmt.Errorf("generate: rate %v is not a positive number of requests per second", c.Rate)
	}
	kinds := map[string]bool{}
	if len(c.Attacks) == 0 {
		for _, k := range Kinds() {
			kinds[k] = true
		}
		return c, kinds, nil
	}
	for _, k := range c.Attacks {
		k = strings.TrimSpace(k)
		switch {
		case k == "none":
			if len(c.Attacks) > 1 {
				return c, nil, fmt.Errorf("generate: attack list %q mixes \"none\" with attack kinds; use either \"none\" or kinds", c.Attacks)
			}
		case k == "all":
			for _, k := range Kinds() {
				kinds[k] = true
			}
		case slices.Contains(Kinds(), k):
			kinds[k] = true
		default:
			return c, nil, fmt.Errorf("generate: unknown attack kind %q: use one of %s, all or none", k, strings.Join(Kinds(), ", "))
		}
	}
	return c, kinds, nil
}

// Generate runs the scenario, calling emit for every event in
// non-decreasing time order (ties keep a deterministic order), and returns
// the ground truth. ev and the slices it points to are reused: emit must
// copy what it keeps. Route and Params are left empty, as a parser leaves
// them; Format and Raw too. An error from emit stops the run and is
// returned.
func Generate(cfg Config, emit func(ev *detectors.Event) error) (*Truth, error) {
	return run(cfg, func(ev *detectors.Event, _ string) error { return emit(ev) })
}

// run is Generate with each event's origin: "benign", "trap:<id>",
// "<attack id>", or "base:<attack id>" for the normal traffic of an entity
// that later misbehaves. Tests use it to check each population on its own.
func run(cfg Config, emit func(ev *detectors.Event, origin string) error) (*Truth, error) {
	cfg, kinds, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	e := newEngine(cfg, kinds)
	if err := e.loop(emit); err != nil {
		return nil, err
	}
	return e.truth(), nil
}

// actor is anything that emits events: a session, a trap, an attack, or a
// spawner that only schedules other actors.
type actor interface {
	// step is called at time now (unix ns). It fills ev and reports
	// emitted=true, or leaves ev alone; it returns its next wake-up time,
	// or a negative value when it is done.
	step(e *engine, now int64, ev *detectors.Event) (next int64, emitted bool)
	origin() string
}

type slot struct {
	at  int64
	seq uint64
	a   actor
}

type engine struct {
	cfg        Config
	kinds      map[string]bool
	start, end int64
	w          *world
	h          []slot
	seq        uint64
	now        int64
	events     int64
	sched      schedule
	seen       map[string]*[2]int64 // observed first/last event per attack id
	trapSeen   trapEntities
	rng        *rand.Rand // engine-level draws (error spike), one stream
}

func newEngine(cfg Config, kinds map[string]bool) *engine {
	e := &engine{
		cfg:   cfg,
		kinds: kinds,
		start: cfg.Start.UnixNano(),
		end:   cfg.Start.Add(cfg.Duration).UnixNano(),
		seen:  map[string]*[2]int64{},
		rng:   newRand(cfg.Seed, saltEngine),
	}
	e.sched = newSchedule(e.start, cfg.Duration)
	e.w = newWorld(cfg.Seed, cfg.Traps)
	e.trapSeen = newTrapEntities()
	e.addBenign()
	if cfg.Traps {
		e.addTraps()
	}
	e.addAttacks()
	return e
}

func (e *engine) push(at int64, a actor) {
	if at < e.now {
		at = e.now
	}
	e.h = append(e.h, slot{at: at, seq: e.seq, a: a})
	e.seq++
	e.up(len(e.h) - 1)
}

func (e *engine) less(i, j int) bool {
	a, b := &e.h[i], &e.h[j]
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

func (e *engine) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !e.less(i, p) {
			return
		}
		e.h[i], e.h[p] = e.h[p], e.h[i]
		i = p
	}
}

func (e *engine) down(i int) {
	n := len(e.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && e.less(r, l) {
			m = r
		}
		if !e.less(m, i) {
			return
		}
		e.h[i], e.h[m] = e.h[m], e.h[i]
		i = m
	}
}

func (e *engine) loop(emit func(*detectors.Event, string) error) error {
	var ev detectors.Event
	for len(e.h) > 0 {
		s := e.h[0]
		if s.at >= e.end {
			break
		}
		ev.Reset()
		e.now = s.at
		next, ok := s.a.step(e, s.at, &ev)
		if ok && s.at >= e.start {
			ev.Time = time.Unix(0, s.at).UTC()
			if ev.Host == "" {
				ev.Host = apiHost
			}
			o := s.a.origin()
			if o[0] == 'a' {
				e.observe(o, s.at)
			}
			e.events++
			if err := emit(&ev, o); err != nil {
				return err
			}
		}
		// The step may have pushed new actors; the current one is still at
		// index 0 only if nothing sorted before it, so find it again cheaply:
		// pushes never move the root unless they are earlier than it, and
		// actors only push at or after now, with a larger seq.
		if next < 0 {
			last := len(e.h) - 1
			e.h[0] = e.h[last]
			e.h = e.h[:last]
			if last > 0 {
				e.down(0)
			}
			continue
		}
		if next < s.at {
			next = s.at // time never runs backwards
		}
		e.h[0].at = next
		e.h[0].seq = e.seq
		e.seq++
		e.down(0)
	}
	return nil
}

func (e *engine) observe(id string, at int64) {
	b := e.seen[id]
	if b == nil {
		e.seen[id] = &[2]int64{at, at}
		return
	}
	b[1] = at
}

// microsecond rounds t (unix ns) to whole microseconds, the finest unit any
// supported format keeps besides Traefik's nanoseconds, so every format
// shows the same instant.
func microsecond(t int64) int64 { return t - t%1000 }
