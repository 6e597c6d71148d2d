package window

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"strings"
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
	wms     watermarks
	late    int64
	applied map[string]appliedMark
	closed  bool

	p       plan
	scores  []int64
	over    []overMem
	gstart  []int32
	order   []int32
	picked  []string
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

// Rings have a power-of-two length (see tier.rn), so a bucket's slot is a
// mask, not a division: i & (len-1) is also the floor modulo for i < 0.
func (r ring) add(i int64, d float64) {
	s := &r[i&int64(len(r)-1)]
	if s.idx != i {
		if s.idx > i {
			return // older than everything kept: outside every window
		}
		s.idx, s.val = i, 0
	}
	s.val += d
}

func (r ring) get(i int64) float64 {
	s := &r[i&int64(len(r)-1)]
	if s.idx == i {
		return s.val
	}
	return 0
}

// copyTo fills vals with buckets lo, lo+1, ... (0 where the ring holds
// another bucket), walking the ring once instead of one modulo per bucket.
func (r ring) copyTo(lo int64, vals []float64) {
	mask := int64(len(r) - 1)
	for k := range vals {
		i := lo + int64(k)
		if s := &r[i&mask]; s.idx == i {
			vals[k] = s.val
		} else {
			vals[k] = 0
		}
	}
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

// mdis keeps one Distinct metric of an entity: members with their newest
// event time in a slice (most entities have a handful, which a scan finds
// faster than a map and copies into views in one move), indexed by a map
// only while it is large.
type mdis struct {
	ms      []scored
	idx     map[string]int32 // member -> index in ms, nil while len(ms) <= mdisIndexAt
	oldest  int64            // lower bound of the members' scores: trim is a no-op above it
	evicted int64
	big     bool
	hll     [][]hslot // per cmetric.hllRes
}

const mdisIndexAt = 16

func (d *mdis) put(member string, t int64) {
	if d.idx != nil {
		if i, ok := d.idx[member]; ok {
			d.ms[i].score = max(d.ms[i].score, t)
			return
		}
		d.idx[member] = int32(len(d.ms))
	} else {
		for i := range d.ms {
			if d.ms[i].member == member {
				d.ms[i].score = max(d.ms[i].score, t)
				return
			}
		}
	}
	d.ms = append(d.ms, scored{member, t})
	d.oldest = min(d.oldest, t)
	if d.idx == nil && len(d.ms) > mdisIndexAt {
		d.reindex()
	}
}

func (d *mdis) reindex() {
	if len(d.ms) <= mdisIndexAt {
		d.idx = nil
		return
	}
	d.idx = make(map[string]int32, len(d.ms))
	for i, m := range d.ms {
		d.idx[m.member] = int32(i)
	}
}

// ment is one entity: every Count/Sum tier's ring back to back in one
// slice and the Distinct metrics inline, so an operation reaches its bucket
// through two pointers rather than four.
type ment struct {
	at    int64
	slots []slot
	dis   []mdis // per metric (zero for Count/Sum)
}

func (e *ment) ring(t *tier) ring { return ring(e.slots[t.off : t.off+t.rn : t.off+t.rn]) }

// NewMemory returns an empty in-memory store for s.
func NewMemory(s Schema) (*Memory, error) {
	cs, err := compile(s)
	if err != nil {
		return nil, err
	}
	return &Memory{s: cs, ents: make(map[gkey]*ment), wms: newWatermarks(), applied: make(map[string]appliedMark)}, nil
}

func (m *Memory) newEnt(f *cfamily) *ment {
	e := &ment{at: noTime, slots: make([]slot, f.nslots), dis: make([]mdis, len(f.metrics))}
	for i := range e.slots {
		e.slots[i].idx = noTime
	}
	for i := range f.metrics {
		if f.metrics[i].Kind == Distinct {
			e.dis[i] = mdis{oldest: math.MaxInt64, evicted: noTime}
		}
	}
	return e
}

// hllSlots allocates an entity's HyperLogLog buckets when it first goes
// over the cap (most never do).
func (d *mdis) hllSlots(cm *cmetric) {
	d.hll = make([][]hslot, len(cm.hllRes))
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
}

func (d *mdis) pfadd(cm *cmetric, member string, t int64) {
	if d.hll == nil {
		d.hllSlots(cm)
	}
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
	if err := s.plan(b, m.wms.base(b), p); err != nil {
		return nil, err
	}
	m.wms.advance(b, p.wm)
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
	// Operations are applied entity by entity (a counting sort by group):
	// an entity's state is then fetched from memory once, not once per
	// operation. Every update is a sum or a maximum, so order does not
	// matter; lateness was judged in batch order above.
	start := m.gstart[:0]
	for range len(b.groups) + 1 {
		start = append(start, 0)
	}
	for i := range b.ops {
		start[b.ops[i].g+1]++
	}
	for g := 1; g < len(start); g++ {
		start[g] += start[g-1]
	}
	order := slices.Grow(m.order[:0], len(b.ops))[:len(b.ops)]
	for i := range b.ops {
		g := b.ops[i].g
		order[start[g]] = int32(i)
		start[g]++
	}
	m.gstart, m.order = start, order
	for _, oi := range order {
		i := int(oi)
		op := &b.ops[i]
		if p.late[i] || op.kind == opTouch {
			continue
		}
		e := m.gents[op.g]
		e.at = max(e.at, op.t)
		cm := &s.fams[b.groups[op.g].f].metrics[op.m]
		if op.kind == opAdd {
			d := countDelta(cm.Kind, op.delta)
			for j := range cm.tiers {
				t := &cm.tiers[j]
				e.ring(t).add(floorDiv(op.t, t.res), d)
			}
			continue
		}
		d := &e.dis[op.m]
		if d.big {
			d.pfadd(cm, op.member, op.t)
			// Decided below: only the batch's newest cap stay exact.
			m.over = append(m.over, overMem{op.g, op.m, op.t, op.member})
			continue
		}
		d.put(op.member, op.t)
	}
	m.putOver()

	res := &Result{late: p.nLate, views: make([]*View, len(b.groups))}
	views := make([]View, len(b.groups))
	var sl viewSlabs
	for gi, g := range b.groups {
		v := &views[gi]
		res.views[gi] = v
		f := &s.fams[g.f]
		e := m.gents[gi]
		at := int64(noTime)
		if e != nil {
			at = e.at
		}
		mvs := sl.metricViews(len(f.metrics))
		s.newView(v, g.f, g.entity, at, mvs)
		for mi := range f.metrics {
			cm := &f.metrics[mi]
			if cm.Kind == Distinct {
				dv := sl.disView()
				dv.evicted, dv.loaded = noTime, true
				mvs[mi].dis = dv
				if e == nil {
					continue
				}
				d := &e.dis[mi]
				dv.evicted = d.evicted
				live := at - cm.maxWin
				n := 0
				for i := range d.ms {
					if d.ms[i].score > live {
						n++
					}
				}
				dv.members = sl.scored(n)[:0]
				for _, sm := range d.ms {
					if sm.score > live {
						dv.members = append(dv.members, sm)
					}
				}
				continue
			}
			mvs[mi].tiers = sl.series(len(cm.tiers))
			if e == nil {
				continue
			}
			for j, t := range cm.tiers {
				hi := floorDiv(at, t.res)
				lo := hi - t.n + 1
				vals := sl.floats.take(int(t.n))
				e.ring(&cm.tiers[j]).copyTo(lo, vals)
				if j != cm.hist {
					// Value needs only the buckets with data: a quiet
					// entity's view keeps one or two numbers, and the
					// arena gets the rest back.
					a, b := 0, len(vals)
					for b > 0 && vals[b-1] == 0 {
						b--
					}
					for a < b && vals[a] == 0 {
						a++
					}
					copy(vals, vals[a:b])
					sl.floats.giveBack(len(vals) - (b - a))
					vals, lo = vals[:b-a:b-a], lo+int64(a)
				}
				mvs[mi].tiers[j] = series{first: lo, vals: vals}
			}
		}
		// Estimates need the counts above (MinEvents), so they come last.
		for mi := range f.metrics {
			cm := &f.metrics[mi]
			if cm.Kind != Distinct || e == nil || !e.dis[mi].big || e.dis[mi].hll == nil {
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
				m.trim(&f.metrics[mi], &e.dis[mi], e.at)
			}
		}
	}
	for st, off := range b.marks {
		m.applied[st] = appliedMark{off: off, wm: m.wms.of(st)}
	}
	m.sweepIn -= len(b.ops)
	if m.sweepIn <= 0 {
		m.sweep()
	}
	return res, nil
}

// overMem is a member for an entity already over the cap.
type overMem struct {
	g      int32
	m      MetricID
	t      int64
	member string
}

// putOver adds, per entity already over the cap, the newest cap of the
// batch's members (newest time per member; ties: member descending) to the
// exact set, as RedisStore sends them: the others would be trimmed right
// away and are in the HyperLogLogs already.
func (m *Memory) putOver() {
	if len(m.over) == 0 {
		return
	}
	ov := m.over
	// Newest first: a member's first occurrence carries its newest time,
	// and a run stops once cap distinct members are in.
	slices.SortFunc(ov, func(a, b overMem) int {
		if c := cmp.Compare(a.g, b.g); c != 0 {
			return c
		}
		if c := cmp.Compare(a.m, b.m); c != 0 {
			return c
		}
		if c := cmp.Compare(b.t, a.t); c != 0 {
			return c
		}
		return strings.Compare(b.member, a.member)
	})
	picked := m.picked[:0]
	for i := 0; i < len(ov); {
		o := ov[i]
		d := &m.gents[o.g].dis[o.m]
		picked = picked[:0]
		for ; i < len(ov) && ov[i].g == o.g && ov[i].m == o.m; i++ {
			if len(picked) == m.s.cap || slices.Contains(picked, ov[i].member) {
				continue
			}
			picked = append(picked, ov[i].member)
			d.put(ov[i].member, ov[i].t)
		}
	}
	clear(picked)
	m.picked = picked[:0]
	clear(ov)
	m.over = ov[:0]
}

// trim applies the cap and retention to one Distinct metric; see
// distinctTrim for the rule shared with RedisStore.
func (m *Memory) trim(cm *cmetric, d *mdis, at int64) {
	if len(d.ms) <= m.s.cap && d.oldest > at-cm.maxWin {
		d.big = d.evicted > at-cm.maxWin
		return // nothing to cut: the common case, kept cheap
	}
	scores := m.scores[:0]
	for _, sm := range d.ms {
		scores = append(scores, sm.score)
	}
	m.scores = scores
	cut, evict := distinctTrim(scores, at, cm.maxWin, m.s.cap)
	if evict {
		if !d.big {
			for _, sm := range d.ms {
				d.pfadd(cm, sm.member, sm.score)
			}
		}
		d.evicted = max(d.evicted, cut)
	}
	if cut != noTime {
		// Views hold copies, so the slice is filtered in place, and the
		// index is updated rather than rebuilt.
		kept := d.ms[:0]
		d.oldest = math.MaxInt64
		for _, sm := range d.ms {
			if sm.score > cut {
				if d.idx != nil {
					d.idx[sm.member] = int32(len(kept))
				}
				kept = append(kept, sm)
				d.oldest = min(d.oldest, sm.score)
			} else if d.idx != nil {
				delete(d.idx, sm.member)
			}
		}
		clear(d.ms[len(kept):]) // let dropped member strings be collected
		d.ms = kept
		if cap(d.ms) > 4*max(len(d.ms), m.s.cap) {
			// Shrink after a burst, so the entity does not keep its peak.
			d.ms = append([]scored(nil), d.ms...)
			d.reindex()
		} else if len(d.ms) <= mdisIndexAt {
			d.idx = nil
		}
	}
	d.big = d.evicted > at-cm.maxWin
}

// sweep forgets entities whose newest event is older than everything kept
// (RedisStore lets their keys expire).
func (m *Memory) sweep() {
	m.sweepIn = max(len(m.ents), 4096)
	if m.wms.global == noTime {
		return
	}
	for k, e := range m.ents {
		f := &m.s.fams[k.f]
		if e.at < m.wms.global-m.s.lateness-f.retain {
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
		m.wms.restore(st, a.wm)
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
