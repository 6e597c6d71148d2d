package window

import (
	"context"
	"errors"
	"math"
	"sync"
)

// Memory is the in-process Store: the embedded default for trials and single
// workers. Its semantics are RedisStore's: same buckets, same lateness,
// same exact cap and the same HyperLogLog (estimates equal Redis's PFCOUNT).
// It is safe for concurrent use; Applies are serialized.
type Memory struct {
	mu      sync.Mutex
	s       *schema
	ents    map[gkey]*ment
	wm      int64
	late    int64
	applied map[string]appliedMark
	closed  bool

	p       plan
	gents   []*ment
	merge   hllMerge
	sweepIn int
}

type appliedMark struct{ off, wm int64 }

type slot struct {
	idx int64
	val float64
}

// ring keeps the newest n buckets of one tier; slot i%n holds bucket i.
type ring []slot

func newRing(n int64) ring {
	r := make(ring, n)
	for i := range r {
		r[i].idx = noTime
	}
	return r
}

func (r ring) add(i int64, d float64) {
	s := &r[mod(i, int64(len(r)))]
	if s.idx != i {
		if s.idx > i {
			return // older than everything kept: outside every window
		}
		s.idx, s.val = i, 0
	}
	s.val += d
}

func (r ring) get(i int64) float64 {
	s := &r[mod(i, int64(len(r)))]
	if s.idx == i {
		return s.val
	}
	return 0
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

type hslot struct {
	idx int64
	h   *hll
}

type mdis struct {
	members map[string]int64
	oldest  int64 // lower bound of the members' scores: trim is a no-op above it
	evicted int64
	big     bool
	hll     [][]hslot // per cmetric.hllRes
}

type ment struct {
	at    int64
	rings [][]ring // per metric, per tier (nil for Distinct)
	dis   []*mdis  // per metric (nil for Count/Sum)
}

// NewMemory returns an empty in-memory store for s.
func NewMemory(s Schema) (*Memory, error) {
	cs, err := compile(s)
	if err != nil {
		return nil, err
	}
	return &Memory{s: cs, ents: make(map[gkey]*ment), wm: noTime, applied: make(map[string]appliedMark)}, nil
}

func (m *Memory) newEnt(f *cfamily) *ment {
	e := &ment{at: noTime, rings: make([][]ring, len(f.metrics)), dis: make([]*mdis, len(f.metrics))}
	for i := range f.metrics {
		cm := &f.metrics[i]
		if cm.Kind == Distinct {
			d := &mdis{members: make(map[string]int64), oldest: math.MaxInt64, evicted: noTime, hll: make([][]hslot, len(cm.hllRes))}
			for j, r := range cm.hllRes {
				var n int64
				for k, w := range cm.Windows {
					if cm.winHLL[k] == j {
						n = max(n, w.Milliseconds()/r+1)
					}
				}
				d.hll[j] = make([]hslot, n)
				for k := range d.hll[j] {
					d.hll[j][k].idx = noTime
				}
			}
			e.dis[i] = d
			continue
		}
		e.rings[i] = make([]ring, len(cm.tiers))
		for j, t := range cm.tiers {
			e.rings[i][j] = newRing(t.n)
		}
	}
	return e
}

func (d *mdis) pfadd(cm *cmetric, member string, t int64) {
	for j, r := range cm.hllRes {
		i := floorDiv(t, r)
		hs := d.hll[j]
		s := &hs[mod(i, int64(len(hs)))]
		if s.idx != i {
			if s.idx > i {
				continue
			}
			s.idx, s.h = i, &hll{}
		}
		s.h.add(member)
	}
}

// Apply implements Store.
func (m *Memory) Apply(ctx context.Context, b *Batch) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("window: Apply on a closed Memory store")
	}
	s := m.s
	p := &m.p
	if err := s.plan(b, m.wm, p); err != nil {
		return nil, err
	}
	m.wm = p.wm
	m.late += p.nLate

	m.gents = m.gents[:0]
	for _, g := range b.groups {
		e := m.ents[gkey{g.f, g.entity}]
		if e == nil && p.gAt[len(m.gents)] != noTime {
			e = m.newEnt(&s.fams[g.f])
			m.ents[gkey{g.f, g.entity}] = e
		}
		m.gents = append(m.gents, e)
	}
	for i := range b.ops {
		op := &b.ops[i]
		if p.late[i] || op.kind == opTouch {
			continue
		}
		e := m.gents[op.g]
		e.at = max(e.at, op.t)
		cm := &s.fams[b.groups[op.g].f].metrics[op.m]
		if op.kind == opAdd {
			d := countDelta(cm.Kind, op.delta)
			for j, t := range cm.tiers {
				e.rings[op.m][j].add(floorDiv(op.t, t.res), d)
			}
			continue
		}
		d := e.dis[op.m]
		if old, ok := d.members[op.member]; !ok || op.t > old {
			d.members[op.member] = op.t
			d.oldest = min(d.oldest, op.t)
		}
		if d.big {
			d.pfadd(cm, op.member, op.t)
		}
	}

	res := &Result{late: p.nLate, views: make([]*View, len(b.groups))}
	views := make([]View, len(b.groups))
	var ar arena
	for gi, g := range b.groups {
		v := &views[gi]
		res.views[gi] = v
		f := &s.fams[g.f]
		e := m.gents[gi]
		at := int64(noTime)
		if e != nil {
			at = e.at
		}
		mvs := make([]metricView, len(f.metrics))
		s.newView(v, g.f, g.entity, at, mvs)
		for mi := range f.metrics {
			cm := &f.metrics[mi]
			if cm.Kind == Distinct {
				dv := &disView{evicted: noTime, loaded: true}
				mvs[mi].dis = dv
				if e == nil {
					continue
				}
				d := e.dis[mi]
				dv.evicted = d.evicted
				live := at - cm.maxWin
				for mem, sc := range d.members {
					if sc > live {
						dv.members = append(dv.members, scored{mem, sc})
					}
				}
				continue
			}
			mvs[mi].tiers = make([]series, len(cm.tiers))
			if e == nil {
				continue
			}
			for j, t := range cm.tiers {
				hi := floorDiv(at, t.res)
				lo := hi - t.n + 1
				vals := ar.take(int(t.n))
				r := e.rings[mi][j]
				for k := range vals {
					vals[k] = r.get(lo + int64(k))
				}
				mvs[mi].tiers[j] = series{first: lo, vals: vals}
			}
		}
		// Estimates need the counts above (MinEvents), so they come last.
		for mi := range f.metrics {
			cm := &f.metrics[mi]
			if cm.Kind != Distinct || e == nil || !e.dis[mi].big {
				continue
			}
			dv := mvs[mi].dis
			dv.est = make([]float64, len(cm.Windows))
			for k, w := range cm.Windows {
				dv.est[k] = -1
				if !wantEstimate(v, cm, dv, w) {
					continue
				}
				r := cm.hllRes[cm.winHLL[k]]
				lo, hi := hllRange(at, w.Milliseconds(), r)
				m.merge.reset()
				hs := e.dis[mi].hll[cm.winHLL[k]]
				for i := lo; i <= hi; i++ {
					if sl := hs[mod(i, int64(len(hs)))]; sl.idx == i {
						m.merge.add(sl.h)
					}
				}
				dv.est[k] = float64(m.merge.count())
			}
		}
	}
	// Trim distinct members after the views, as RedisStore does at the start
	// of its next Apply from what it read in this one.
	for gi, g := range b.groups {
		e := m.gents[gi]
		if e == nil || p.gAt[gi] == noTime {
			continue
		}
		f := &s.fams[g.f]
		for mi := range f.metrics {
			if f.metrics[mi].Kind == Distinct {
				m.trim(&f.metrics[mi], e.dis[mi], e.at)
			}
		}
	}
	for st, off := range b.marks {
		m.applied[st] = appliedMark{off: off, wm: m.wm}
	}
	m.sweepIn -= len(b.ops)
	if m.sweepIn <= 0 {
		m.sweep()
	}
	return res, nil
}

// trim applies the cap and retention to one Distinct metric; see
// distinctTrim for the rule shared with RedisStore.
func (m *Memory) trim(cm *cmetric, d *mdis, at int64) {
	if len(d.members) <= m.s.cap && d.oldest > at-cm.maxWin {
		d.big = d.evicted > at-cm.maxWin
		return // nothing to cut: the common case, kept cheap
	}
	scores := make([]int64, 0, len(d.members))
	for _, sc := range d.members {
		scores = append(scores, sc)
	}
	cut, evict := distinctTrim(scores, at, cm.maxWin, m.s.cap)
	if evict {
		if !d.big {
			for mem, sc := range d.members {
				d.pfadd(cm, mem, sc)
			}
		}
		d.evicted = max(d.evicted, cut)
	}
	if cut != noTime {
		// A new map: Go maps do not shrink, and iterating one that once
		// held a burst of members would stay slow.
		kept := make(map[string]int64, min(len(d.members), m.s.cap+1))
		d.oldest = math.MaxInt64
		for mem, sc := range d.members {
			if sc > cut {
				kept[mem] = sc
				d.oldest = min(d.oldest, sc)
			}
		}
		d.members = kept
	}
	d.big = d.evicted > at-cm.maxWin
}

// sweep forgets entities whose newest event is older than everything kept
// (RedisStore lets their keys expire).
func (m *Memory) sweep() {
	m.sweepIn = max(len(m.ents), 4096)
	if m.wm == noTime {
		return
	}
	for k, e := range m.ents {
		f := &m.s.fams[k.f]
		if e.at < m.wm-m.s.lateness-f.retain {
			delete(m.ents, k)
		}
	}
}

// AppliedOffsets implements Store.
func (m *Memory) AppliedOffsets(ctx context.Context, streams []string) (map[string]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int64, len(streams))
	for _, st := range streams {
		a, ok := m.applied[st]
		if !ok {
			out[st] = -1
			continue
		}
		out[st] = a.off
		m.wm = max(m.wm, a.wm)
	}
	return out, nil
}

// Late is the cumulative number of operations dropped as too late.
func (m *Memory) Late() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.late
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
