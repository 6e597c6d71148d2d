package window

import (
	"math"
	"time"
)

// Result holds the views of the entities one Apply touched. It stays valid
// after later Applies until Release.
type Result struct {
	views   []*View
	idx     map[gkey]*View
	scanned bool
	late    int64
	// mem is where the views live and pool where Release returns it (nil:
	// the views are the collector's); tok is told of the Release (Memory's
	// views share entity state until then).
	mem  *resultMem
	pool *resultPool
	tok  *resToken
}

// Release gives the memory of r's views back to the store for later
// Applies: a caller that is done with a Result saves the store allocating
// (and the collector reclaiming) a batch's worth of views, and the Memory
// store copying every entity the views read before it changes it (see
// doc.go). Neither r nor any of its views may be used afterwards; strings
// taken from them (Entity, Members) stay valid. Calling it is optional and
// a second call does nothing.
func (r *Result) Release() {
	if r == nil || r.pool == nil {
		return
	}
	p, m := r.pool, r.mem
	if r.tok != nil {
		r.tok.released.Store(true)
	}
	*r = Result{late: r.late}
	p.put(m)
}

// View returns the view of (f, entity) if the batch touched it.
func (r *Result) View(f FamilyID, entity string) (*View, bool) {
	if r.idx == nil && !r.scanned {
		// Callers often ask for one view only (the engine: the global one):
		// a scan is cheaper than indexing every view. The index comes with
		// the second call.
		r.scanned = true
		for _, v := range r.views {
			if v.Family == f && v.Entity == entity {
				return v, true
			}
		}
		return nil, false
	}
	if r.idx == nil {
		r.idx = make(map[gkey]*View, len(r.views))
		for _, v := range r.views {
			r.idx[gkey{v.Family, v.Entity}] = v
		}
	}
	v, ok := r.idx[gkey{f, entity}]
	return v, ok
}

// Views returns every view, in the order the batch first touched them.
func (r *Result) Views() []*View { return r.views }

// Late is the number of operations of this batch dropped because their event
// time was more than Schema.Lateness behind the newest event time seen.
func (r *Result) Late() int64 { return r.late }

// series is a tier's buckets in a view: a run of consecutive buckets
// (vals[i] is bucket first+i) or, in ring form, the ring of a Memory
// store's entity that the view shares (bucket i in vals[i&(len(vals)-1)],
// for i in [first, last]).
type series struct {
	first, last int64
	vals        []float64
	ring        bool
}

// span is the range of buckets that may hold data: empty if lo > hi.
func (s *series) span() (lo, hi int64) {
	if s.ring {
		return s.first, s.last
	}
	return s.first, s.first + int64(len(s.vals)) - 1
}

// at is bucket idx: 0 outside the span.
func (s *series) at(idx int64) float64 {
	lo, hi := s.span()
	switch {
	case idx < lo || idx > hi:
		return 0
	case s.ring:
		return s.vals[idx&int64(len(s.vals)-1)]
	}
	return s.vals[idx-s.first]
}

type scored struct {
	member string
	score  int64 // unix ms of the member's newest event
}

type disView struct {
	// members are the live members; sorted newest first (ties: member
	// descending) once sorted is set.
	members []scored
	// Memory's views read the entity's member records instead (mm, with
	// their bytes in buf; members older than the longest window may be
	// among them; see View.ent).
	mm      []mmem
	buf     []byte
	sorted  bool
	evicted int64 // newest event time of a member dropped by the cap; math.MinInt64 if none
	est     []float64
}

type metricView struct {
	tiers []series
	dis   *disView
}

// View is the windowed state of one (family, entity) right after an Apply.
type View struct {
	Family FamilyID
	Entity string
	// At is the newest event time of this entity applied so far (the end of
	// every window). Zero if the entity has no data.
	At time.Time

	at  int64
	fam *cfamily
	// mets holds copies of the entity's state (RedisStore). A Memory
	// store's views have none: they read the entity itself (ent, nil if
	// it has no data), which does not change while the view may be used
	// (see ment.snap), and ests, its HyperLogLog estimates per window of
	// each Distinct metric (cmetric.estOff; nil: none, -1: not estimated).
	mets []metricView
	ent  *ment
	ests []float64
}

// metric returns metric m and, for views holding copies, its state.
func (v *View) metric(m MetricID) (*cmetric, *metricView) {
	if v == nil || v.fam == nil || int(m) >= len(v.fam.metrics) {
		return nil, nil
	}
	if v.mets == nil {
		return &v.fam.metrics[m], nil
	}
	return &v.fam.metrics[m], &v.mets[m]
}

// tier is tier ti of Count/Sum metric cm: the buckets the view holds, or
// those of the entity's ring up to At.
func (v *View) tier(cm *cmetric, mv *metricView, ti int) series {
	if mv != nil {
		if ti < len(mv.tiers) {
			return mv.tiers[ti]
		}
		return series{}
	}
	e := v.ent
	if e == nil {
		return series{}
	}
	t := &cm.tiers[ti]
	m := e.meta[t.seq]
	if m.head == noTime {
		return series{}
	}
	hi := floorDiv(v.at, t.res)
	return series{first: max(m.low, hi-t.n+1), last: min(m.head, hi), vals: e.slots[t.off : t.off+t.rn], ring: true}
}

// disOf is Distinct metric cm's state in the view (mv), or made from the
// entity the view reads.
func (v *View) disOf(cm *cmetric, mv *metricView) (disView, bool) {
	if mv != nil {
		if mv.dis == nil {
			return disView{}, false
		}
		return *mv.dis, true
	}
	dv := disView{evicted: noTime}
	if e := v.ent; e != nil {
		d := &e.dis[cm.dis]
		dv.mm, dv.buf, dv.evicted = d.ms, d.buf, d.evicted
		if v.ests != nil {
			dv.est = v.ests[cm.estOff : cm.estOff+len(cm.Windows)]
		}
	}
	return dv, true
}

// Value is a Count or Sum metric over (At-w, At]. Buckets wholly inside the
// window count fully; the oldest bucket, which the window start cuts, counts
// by the fraction of it inside the window (see doc.go). For a Distinct metric
// it returns Distinct's n.
func (v *View) Value(m MetricID, w time.Duration) float64 {
	cm, mv := v.metric(m)
	if cm == nil {
		return 0
	}
	if cm.Kind == Distinct {
		n, _ := v.Distinct(m, w)
		return n
	}
	wms := w.Milliseconds()
	ti := cm.tierFor(wms)
	t := v.tier(cm, mv, ti)
	res := cm.tiers[ti].res
	ws := v.at - wms
	i0 := floorDiv(ws, res)
	lo, hi := t.span()
	var sum float64
	for idx := max(lo, i0); idx <= hi; idx++ {
		switch x := t.at(idx); {
		case x == 0:
		case idx == i0:
			sum += x * float64((i0+1)*res-ws) / float64(res)
		default:
			sum += x
		}
	}
	return sum
}

// Distinct is the number of distinct members seen in (At-w, At]. It is exact
// (exact=true) while no member newer than At-w was dropped by the cap;
// otherwise it is the HyperLogLog estimate when the family's first metric
// has at least MinEvents in the window (at least the exact part), else the
// exact part alone, a lower bound.
func (v *View) Distinct(m MetricID, w time.Duration) (n float64, exact bool) {
	cm, mv := v.metric(m)
	if cm == nil || cm.Kind != Distinct {
		return 0, false
	}
	dv, ok := v.disOf(cm, mv)
	if !ok {
		return 0, false
	}
	ws := v.at - w.Milliseconds()
	c := dv.count(v.at, w.Milliseconds(), cm.maxWin)
	if dv.evicted <= ws {
		return float64(c), true
	}
	for i, x := range cm.Windows {
		if x == w && dv.est != nil && dv.est[i] >= 0 {
			return math.Max(dv.est[i], float64(c)), false
		}
	}
	return float64(c), false
}

// count is the number of live members newer than at-w (windows longer
// than the longest one kept see what it keeps).
func (d *disView) count(at, w, maxWin int64) int {
	w = min(w, maxWin)
	ws := at - w
	c := 0
	if d.mm != nil {
		for i := range d.mm {
			if d.mm[i].score > ws {
				c++
			}
		}
		return c
	}
	for _, s := range d.members {
		if s.score > ws {
			c++
		}
	}
	return c
}

// Members returns up to max live members, most recent first. Views are
// not safe for concurrent use: the first call sorts.
func (v *View) Members(m MetricID, max int) []string {
	cm, mv := v.metric(m)
	if cm == nil || cm.Kind != Distinct || max <= 0 {
		return nil
	}
	var ms []scored
	if mv == nil {
		// Memory: made from the entity on every call (detectors ask for
		// members of the few views they report).
		dv, _ := v.disOf(cm, mv)
		live := v.at - cm.maxWin
		for i := range dv.mm {
			if x := &dv.mm[i]; x.score > live {
				ms = append(ms, scored{memberStr(dv.buf, x.off, x.n), x.score})
			}
		}
		sortMembers(ms)
	} else {
		if mv.dis == nil {
			return nil
		}
		if !mv.dis.sorted {
			sortMembers(mv.dis.members)
			mv.dis.sorted = true
		}
		ms = mv.dis.members
	}
	n := min(max, len(ms))
	out := make([]string, n)
	for i := range out {
		out[i] = ms[i].member
	}
	return out
}

// Series returns the history buckets of a Count/Sum metric, oldest first,
// ending with the bucket holding At. It returns nil values if the metric
// keeps no History.
func (v *View) Series(m MetricID) (start time.Time, step time.Duration, vals []float64) {
	cm, mv := v.metric(m)
	if cm == nil || cm.hist < 0 || v.at == math.MinInt64 {
		return time.Time{}, 0, nil
	}
	t := v.tier(cm, mv, cm.hist)
	tr := &cm.tiers[cm.hist]
	lo := floorDiv(v.at, tr.res) - tr.n + 1
	vals = make([]float64, tr.n)
	for k := range vals {
		vals[k] = t.at(lo + int64(k))
	}
	return time.UnixMilli(lo * tr.res).UTC(), time.Duration(tr.res) * time.Millisecond, vals
}

// Baseline is the exponentially weighted mean and standard deviation of the
// completed history buckets (the bucket holding At is excluded), from the
// first bucket with data on; empty buckets after it count as zeros. A bucket
// halfLife older weighs half as much; halfLife <= 0 weighs all equally. n is
// the number of buckets with data.
func (v *View) Baseline(m MetricID, halfLife time.Duration) (mean, std float64, n int) {
	cm, mv := v.metric(m)
	if cm == nil || cm.hist < 0 || v.at == math.MinInt64 {
		return 0, 0, 0
	}
	tr := &cm.tiers[cm.hist]
	if tr.n < 2 {
		return 0, 0, 0
	}
	t := v.tier(cm, mv, cm.hist)
	// Completed buckets are lo..hi-1; the view may hold only the run with
	// data (zeros elsewhere).
	hi := floorDiv(v.at, tr.res)
	lo := hi - tr.n + 1
	val := t.at
	first := firstData(&t, lo, hi)
	if first == math.MaxInt64 {
		return 0, 0, 0
	}
	decay := 1.0
	if halfLife > 0 {
		decay = math.Exp2(-float64(tr.res) / float64(halfLife.Milliseconds()))
	}
	var sw, swx float64
	w := 1.0
	for i := hi - 1; i >= first; i-- {
		x := val(i)
		sw += w
		swx += w * x
		if x != 0 {
			n++
		}
		w *= decay
	}
	mean = swx / sw
	var swd float64
	w = 1.0
	for i := hi - 1; i >= first; i-- {
		d := val(i) - mean
		swd += w * d * d
		w *= decay
	}
	return mean, math.Sqrt(swd / sw), n
}

// Seasonal is a seasonal baseline of a Count/Sum metric with History: the
// exponentially weighted mean and standard deviation of the history
// buckets at the same phase of earlier periods as the bucket holding At
// (with 1 h buckets and a 168 h period: the same hour of the week in
// earlier weeks; the current bucket is excluded), from the first bucket
// with data on; empty buckets after it count as zeros. A period halfLife
// older weighs half as much; halfLife <= 0 weighs all equally. n is the
// number of those buckets with data; 0 when the period is not a multiple
// of HistoryBucket or History keeps less than one earlier period.
func (v *View) Seasonal(m MetricID, period, halfLife time.Duration) (mean, std float64, n int) {
	cm, mv := v.metric(m)
	if cm == nil || cm.hist < 0 || v.at == math.MinInt64 {
		return 0, 0, 0
	}
	tr := &cm.tiers[cm.hist]
	p := period.Milliseconds()
	if p <= 0 || p%tr.res != 0 {
		return 0, 0, 0
	}
	step := p / tr.res
	t := v.tier(cm, mv, cm.hist)
	hi := floorDiv(v.at, tr.res)
	lo := hi - tr.n + 1
	first := firstData(&t, lo, hi)
	val := t.at
	decay := 1.0
	if halfLife > 0 {
		decay = math.Exp2(-float64(p) / float64(halfLife.Milliseconds()))
	}
	var sw, swx float64
	w := 1.0
	for i := hi - step; i >= lo && i >= first; i -= step {
		x := val(i)
		sw += w
		swx += w * x
		if x != 0 {
			n++
		}
		w *= decay
	}
	if sw == 0 {
		return 0, 0, 0
	}
	mean = swx / sw
	var swd float64
	w = 1.0
	for i := hi - step; i >= lo && i >= first; i -= step {
		d := val(i) - mean
		swd += w * d * d
		w *= decay
	}
	return mean, math.Sqrt(swd / sw), n
}

// firstData is the oldest bucket in [lo, hi) holding data, math.MaxInt64
// if none does.
func firstData(t *series, lo, hi int64) int64 {
	slo, shi := t.span()
	for idx := max(lo, slo); idx < hi && idx <= shi; idx++ {
		if t.at(idx) != 0 {
			return idx
		}
	}
	return math.MaxInt64
}
