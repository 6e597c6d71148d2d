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
	ents    []map[string]*ment // per family
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
	// swept is, per family, the overall watermark at its last sweep: a
	// family is swept again once the watermark has moved by a quarter of its
	// retention, since before that hardly an entity of it can have aged
	// out, and walking every entity is not free.
	swept []int64
}

type appliedMark struct{ off, wm int64 }

// A tier's ring keeps the newest rn buckets of one tier as bare values:
// bucket i lives in slot i&(rn-1) (rn is a power of two, so a mask, not a
// division, and also the floor modulo for i < 0). One head per ring, not
// an index per slot, says which buckets the slots hold: (head-rn, head].
// That halves an entity's memory and lets a view copy a run of buckets with
// one or two memmoves.
type rmeta struct {
	head int64 // newest bucket written; noTime while the ring is empty
	low  int64 // oldest bucket that may hold data (>= head-rn+1)
}

// add adds d to bucket i of tier t. A bucket older than everything the ring
// keeps is outside every window and dropped.
func (e *ment) add(t *tier, i int64, d float64) {
	vals := e.slots[t.off : t.off+t.rn : t.off+t.rn]
	mask := t.rn - 1
	m := &e.meta[t.seq]
	switch {
	case m.head == noTime:
		m.head, m.low = i, i
	case i > m.head:
		// Slots of the buckets passed over hold buckets that leave the ring.
		if i-m.head >= t.rn {
			clear(vals)
		} else {
			for k := m.head + 1; k <= i; k++ {
				vals[k&mask] = 0
			}
		}
		m.head = i
		m.low = max(m.low, i-t.rn+1)
	case i <= m.head-t.rn:
		return
	case i < m.low:
		m.low = i
	}
	vals[i&mask] += d
}

// copyRun returns, copied into sl, the buckets of tier t within [lo, hi]
// that hold data, without zeros at either end: a quiet entity's view keeps
// one or two numbers. first is the bucket of vals[0].
func (e *ment) copyRun(t *tier, lo, hi int64, a *arena) (first int64, vals []float64) {
	m := &e.meta[t.seq]
	if m.head == noTime {
		return hi + 1, nil
	}
	ring := e.slots[t.off : t.off+t.rn : t.off+t.rn]
	mask := t.rn - 1
	lo, hi = max(lo, m.low), min(hi, m.head)
	for lo <= hi && ring[hi&mask] == 0 {
		hi--
	}
	for lo <= hi && ring[lo&mask] == 0 {
		lo++
	}
	if lo > hi {
		return hi + 1, nil
	}
	n := int(hi - lo + 1)
	vals = a.take(n)
	i, j := int(lo&mask), int(hi&mask)
	if i <= j {
		copy(vals, ring[i:j+1])
	} else {
		k := copy(vals, ring[i:])
		copy(vals[k:], ring[:j+1])
	}
	return lo, vals
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
	slots []float64
	meta  []rmeta // per tier (tier.seq)
	dis   []mdis  // per metric (zero for Count/Sum)
}

// NewMemory returns an empty in-memory store for s.
func NewMemory(s Schema) (*Memory, error) {
	cs, err := compile(s)
	if err != nil {
		return nil, err
	}
	ents := make([]map[string]*ment, len(cs.fams))
	for i := range ents {
		ents[i] = make(map[string]*ment)
	}
	swept := make([]int64, len(cs.fams))
	for i := range swept {
		swept[i] = noTime
	}
	return &Memory{s: cs, ents: ents, swept: swept, wms: newWatermarks(), applied: make(map[string]appliedMark)}, nil
}

func (m *Memory) newEnt(f *cfamily) *ment {
	e := &ment{at: noTime, slots: make([]float64, f.nslots), meta: make([]rmeta, f.ntiers), dis: make([]mdis, len(f.metrics))}
	for i := range e.meta {
		e.meta[i].head = noTime
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
	// A batch whose offsets are all applied already is a retry after a
	// later step failed (the caller did not commit): answer with views,
	// change nothing, so retries never count twice.
	replay := m.appliedAlready(b)
	if replay {
		p.nLate = 0
	} else {
		m.wms.advance(b, p.wm)
		m.late += p.nLate
	}

	m.gents = m.gents[:0]
	for _, g := range b.groups {
		e := m.ents[g.f][g.entity]
		if e == nil && p.gAt[len(m.gents)] != noTime {
			e = m.newEnt(&s.fams[g.f])
			m.ents[g.f][g.entity] = e
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
		if p.late[i] || op.kind == opTouch || replay {
			continue
		}
		e := m.gents[op.g]
		e.at = max(e.at, op.t)
		cm := &s.fams[b.groups[op.g].f].metrics[op.m]
		if op.kind == opAdd {
			d := countDelta(cm.Kind, op.delta)
			for j := range cm.tiers {
				t := &cm.tiers[j]
				e.add(t, floorDiv(op.t, t.res), d)
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
			for j := range cm.tiers {
				t := &cm.tiers[j]
				hi := floorDiv(at, t.res)
				first, vals := e.copyRun(t, hi-t.n+1, hi, &sl.floats)
				mvs[mi].tiers[j] = series{first: first, vals: vals}
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
		if replay {
			break
		}
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
	// m.over is in application order: grouped by entity, and in batch order
	// within an entity (the counting sort in Apply is stable). A run in
	// time order (the usual case) is walked from its end, so it stops as
	// soon as cap distinct members are in instead of sorting the whole run:
	// a busy entity brings thousands of members per Apply.
	for i := 0; i < len(ov); {
		j := i + 1
		mixed := false
		for j < len(ov) && ov[j].g == ov[i].g {
			mixed = mixed || ov[j].m != ov[i].m
			j++
		}
		if mixed {
			slices.SortStableFunc(ov[i:j], func(a, b overMem) int { return cmp.Compare(a.m, b.m) })
		}
		for i < j {
			k := i + 1
			for k < j && ov[k].m == ov[i].m {
				k++
			}
			m.putRun(ov[i:k])
			i = k
		}
	}
	clear(ov)
	m.over = ov[:0]
}

// putRun adds the newest cap members of one (entity, metric) run.
func (m *Memory) putRun(run []overMem) {
	d := &m.gents[run[0].g].dis[run[0].m]
	picked := m.picked[:0]
	defer func() {
		clear(picked)
		m.picked = picked[:0]
	}()
	pick := func(o *overMem) {
		if len(picked) < m.s.cap && !slices.Contains(picked, o.member) {
			picked = append(picked, o.member)
			d.put(o.member, o.t)
		}
	}
	inOrder := true
	for i := 1; i < len(run); i++ {
		if run[i].t < run[i-1].t {
			inOrder = false
			break
		}
	}
	if !inOrder {
		// Newest first: a member's first occurrence carries its newest time.
		slices.SortFunc(run, func(a, b overMem) int {
			if c := cmp.Compare(b.t, a.t); c != 0 {
				return c
			}
			return strings.Compare(b.member, a.member)
		})
		for i := range run {
			if len(picked) == m.s.cap {
				return
			}
			pick(&run[i])
		}
		return
	}
	for hi := len(run); hi > 0 && len(picked) < m.s.cap; {
		// run[lo:hi] share one time: members descending among them.
		lo := hi - 1
		for lo > 0 && run[lo-1].t == run[hi-1].t {
			lo--
		}
		tie := run[lo:hi]
		if len(tie) > 1 {
			slices.SortFunc(tie, func(a, b overMem) int { return strings.Compare(b.member, a.member) })
		}
		for i := range tie {
			pick(&tie[i])
		}
		hi = lo
	}
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
	n := 0
	for _, ents := range m.ents {
		n += len(ents)
	}
	m.sweepIn = max(n, 4096)
	if m.wms.global == noTime {
		return
	}
	for fi, ents := range m.ents {
		retain := m.s.fams[fi].retain
		if m.swept[fi] != noTime && m.wms.global-m.swept[fi] < max(retain/4, 1000) {
			continue
		}
		m.swept[fi] = m.wms.global
		old := m.wms.global - m.s.lateness - retain
		for k, e := range ents {
			if e.at < old {
				delete(ents, k)
			}
		}
	}
}

// appliedAlready reports whether every offset b marks is applied already.
func (m *Memory) appliedAlready(b *Batch) bool {
	if len(b.marks) == 0 {
		return false
	}
	for st, off := range b.marks {
		if a, ok := m.applied[st]; !ok || off > a.off {
			return false
		}
	}
	return true
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
