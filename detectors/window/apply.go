package window

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// noTime marks "no event yet" for At and the watermark.
const noTime = math.MinInt64

// plan is the store-independent part of Apply: validation and lateness.
// Lateness is judged op by op in batch order against the store's watermark
// (newest event time seen), so the outcome does not depend on where batch
// boundaries fall.
type plan struct {
	late  []bool  // per op
	gAt   []int64 // per group: newest non-late event time, noTime if none
	nLate int64
	wm    int64
}

func (s *schema) plan(b *Batch, wm int64, p *plan) error {
	p.late = p.late[:0]
	p.gAt = p.gAt[:0]
	for range b.groups {
		p.gAt = append(p.gAt, noTime)
	}
	if err := s.checkGroups(b); err != nil {
		return err
	}
	p.nLate = 0
	for i := range b.ops {
		op := &b.ops[i]
		if err := s.checkOp(op); err != nil {
			return err
		}
		late := false
		if op.kind != opTouch {
			if wm != noTime && op.t < wm-s.lateness {
				late = true
				p.nLate++
			} else {
				wm = max(wm, op.t)
				p.gAt[op.g] = max(p.gAt[op.g], op.t)
			}
		}
		p.late = append(p.late, late)
	}
	p.wm = wm
	return nil
}

// checkGroups checks that b's families are the schema's: the first thing
// an Apply checks.
func (s *schema) checkGroups(b *Batch) error {
	for _, g := range b.groups {
		if int(g.f) >= len(s.fams) {
			return fmt.Errorf("window: batch uses family %d but the schema has %d families: build FamilyIDs from the same Schema", g.f, len(s.fams))
		}
	}
	return nil
}

// checkOp checks an operation's metric against the schema (its family is
// checked by checkGroups).
func (s *schema) checkOp(op *bop) error {
	if op.kind == opTouch {
		return nil
	}
	f := &s.fams[op.f]
	if int(op.m) >= len(f.metrics) {
		return fmt.Errorf("window: batch uses metric %d of family %q, which has %d metrics", op.m, f.Name, len(f.metrics))
	}
	if k := f.metrics[op.m].Kind; (op.kind == opMember) != (k == Distinct) {
		return fmt.Errorf("window: metric %q of family %q is a %v metric: use AddMember for Distinct metrics and Add for Count/Sum", f.metrics[op.m].Name, f.Name, k)
	}
	return nil
}

// countDelta is how a delta lands in a bucket: Count keeps integers, Sum
// keeps floats.
func countDelta(k Kind, d float64) float64 {
	if k == Count {
		return math.Trunc(d)
	}
	return d
}

// slab hands out zeroed slices of T from chunks of at least chunk
// elements. What it hands out is never moved. reset makes every chunk
// reusable: a Result's views are built in slabs that Release gives back
// for a later Apply. Memory is cleared when handed out again, by the
// goroutines building views, not by the caller of Release; until then a
// reused chunk may keep what its old values point to alive (at most a
// few batches' worth).
type slab[T any] struct {
	chunks [][]T
	cur    int
}

func (s *slab[T]) take(n, chunk int) []T {
	for ; s.cur < len(s.chunks); s.cur++ {
		if c := s.chunks[s.cur]; n <= cap(c)-len(c) {
			l := len(c)
			s.chunks[s.cur] = c[:l+n]
			out := c[l : l+n : l+n]
			clear(out)
			return out
		}
	}
	c := make([]T, n, max(chunk, n))
	s.chunks = append(s.chunks, c)
	return c[:n:n]
}

func (s *slab[T]) reset() {
	for i, c := range s.chunks[:min(s.cur+1, len(s.chunks))] {
		s.chunks[i] = c[:0]
	}
	s.cur = 0
}

// viewSlabs hands out the small objects of an Apply's views from shared
// chunks: one allocation per chunk instead of several per view, none once
// released Results give their slabs back.
type viewSlabs struct {
	floats slab[float64]
	mvs    slab[metricView]
	sers   slab[series]
	dvs    slab[disView]
	scs    slab[scored]
}

// floatsN returns n zeroed floats.
func (sl *viewSlabs) floatsN(n int) []float64        { return sl.floats.take(n, 8192) }
func (sl *viewSlabs) metricViews(n int) []metricView { return sl.mvs.take(n, 1024) }
func (sl *viewSlabs) series(n int) []series          { return sl.sers.take(n, 1024) }
func (sl *viewSlabs) scored(n int) []scored          { return sl.scs.take(n, 2048) }
func (sl *viewSlabs) disView() *disView              { return &sl.dvs.take(1, 512)[0] }

func (sl *viewSlabs) reset() {
	sl.floats.reset()
	sl.mvs.reset()
	sl.sers.reset()
	sl.dvs.reset()
	sl.scs.reset()
}

// resultMem is the memory of one Result's views, reused through a
// resultPool once the Result is released.
type resultMem struct {
	views []View
	ptrs  []*View
	slabs []*viewSlabs // one per goroutine that built views
}

// prepare sizes m for n views and returns them. They hold what earlier
// Results left: every view and pointer is set before the Result is used.
func (m *resultMem) prepare(n int) ([]View, []*View) {
	m.views = slices.Grow(m.views[:0], n)[:n]
	m.ptrs = slices.Grow(m.ptrs[:0], n)[:n]
	return m.views, m.ptrs
}

// slab returns the i-th view slabs.
func (m *resultMem) slab(i int) *viewSlabs {
	for len(m.slabs) <= i {
		m.slabs = append(m.slabs, &viewSlabs{})
	}
	return m.slabs[i]
}

func (m *resultMem) reset() {
	for _, sl := range m.slabs {
		sl.reset()
	}
}

// resultPool keeps released Results' memory for later Applies. It keeps a
// few: a caller holds at most a Result or two at a time, and one that
// never releases just lets the collector have them.
type resultPool struct {
	mu   sync.Mutex
	free []*resultMem
}

const resultPoolMax = 4

func (p *resultPool) get() *resultMem {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		m := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return m
	}
	return &resultMem{}
}

func (p *resultPool) put(m *resultMem) {
	m.reset()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < resultPoolMax {
		p.free = append(p.free, m)
	}
}

// newView prepares an empty view of (f, entity) at at.
// Every field is set: v may be a released view's memory.
func (s *schema) newView(v *View, f FamilyID, entity string, at int64, mvs []metricView) {
	v.Family, v.Entity, v.at, v.fam, v.mets = f, entity, at, &s.fams[f], mvs
	v.At, v.ent, v.ests = time.Time{}, nil, nil
	if at != noTime {
		v.At = time.UnixMilli(at).UTC()
	}
}

// finishDistinct computes exact counts' companions once the view's
// members are known: estimates are filled by the caller via est.
func sortMembers(ms []scored) {
	slices.SortFunc(ms, func(a, b scored) int {
		if a.score != b.score {
			return cmp.Compare(b.score, a.score)
		}
		return strings.Compare(b.member, a.member)
	})
}

// wantEstimate says whether window i of Distinct metric cm in view v gets
// a HyperLogLog estimate: the entity was known to be over the cap before
// this batch, the window is not exact, and the family's first metric has at
// least MinEvents in it.
func wantEstimate(v *View, cm *cmetric, evicted int64, w time.Duration) bool {
	if evicted <= v.at-w.Milliseconds() {
		return false
	}
	if cm.MinEvents <= 0 {
		return true
	}
	first, mv := v.metric(0)
	var n float64
	if first.Kind == Distinct {
		dv, _ := v.disOf(first, mv)
		n = float64(dv.count(v.at, w.Milliseconds(), first.maxWin))
	} else {
		n = v.Value(0, w)
	}
	return n >= float64(cm.MinEvents)
}

// hllRange is the bucket range a window's estimate unions: the buckets
// starting inside (At-w, At], so the estimate never reaches before the
// window (it may miss up to one HLL bucket at the old edge).
func hllRange(at, w, r int64) (lo, hi int64) {
	ws := at - w
	lo = floorDiv(ws, r)
	if lo*r < ws {
		lo++
	}
	return lo, floorDiv(at, r)
}

// distinctTrim decides how to trim a Distinct metric's members given their
// scores: members with score <= cut are removed (cut is noTime when nothing
// needs removing). When more than cap members are live (newer than
// at-maxWin), the oldest live ones go and evict is true: cut then becomes the
// metric's evicted mark. Otherwise only members outside every window go.
// It reorders and overwrites scores.
func distinctTrim(scores []int64, at, maxWin int64, capN int) (cut int64, evict bool) {
	live := scores[:0]
	stale := false
	for _, sc := range scores {
		if sc > at-maxWin {
			live = append(live, sc)
		} else {
			stale = true
		}
	}
	if len(live) > capN {
		return nthSmallest(live, len(live)-capN-1), true
	}
	if stale {
		return at - maxWin, false
	}
	return noTime, false
}

// nthSmallest returns the k-th smallest of a (0-based), reordering a: a
// quickselect, since a trim needs one order statistic, not a sorted slice.
func nthSmallest(a []int64, k int) int64 {
	lo, hi := 0, len(a)-1
	for rounds := 0; lo < hi; rounds++ {
		if rounds == 64 {
			// Pivots keep landing badly: sort what is left.
			slices.Sort(a[lo : hi+1])
			break
		}
		mid := lo + (hi-lo)/2
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		pivot := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < pivot {
				i++
			}
			for a[j] > pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		// Now a[lo:j+1] <= pivot, a[i:hi+1] >= pivot, and between them
		// only values equal to it.
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}

// watermarks track the newest event time per stream (Kafka partition) and
// overall. A batch from one stream is judged for lateness against that
// stream's own progress: partitions are consumed at different speeds (a
// backlog, a slow broker, a new assignment), and judging a lagging
// partition against the fastest one would drop its events as late although
// each partition is in order. Batches without a stream (files) or with
// several use the overall watermark, which also bounds what is kept.
type watermarks struct {
	global  int64
	streams map[string]int64
}

func newWatermarks() watermarks {
	return watermarks{global: noTime, streams: make(map[string]int64)}
}

// soleStream is the batch's stream when it marks exactly one.
func soleStream(b *Batch) (string, bool) {
	if len(b.marks) != 1 {
		return "", false
	}
	for st := range b.marks {
		return st, true
	}
	return "", false
}

// base is the watermark b's operations are judged against.
func (w *watermarks) base(b *Batch) int64 {
	if st, ok := soleStream(b); ok {
		if wm, ok := w.streams[st]; ok {
			return wm
		}
		return noTime
	}
	return w.global
}

// advance records wm, the watermark after applying b.
func (w *watermarks) advance(b *Batch, wm int64) {
	if st, ok := soleStream(b); ok {
		w.streams[st] = wm
	} else {
		for st := range b.marks {
			w.streams[st] = max(w.streams[st], wm)
		}
	}
	w.global = max(w.global, wm)
}

// of is the watermark to store with stream's applied offset.
func (w *watermarks) of(stream string) int64 {
	if wm, ok := w.streams[stream]; ok {
		return wm
	}
	return w.global
}

// restore takes over a stream's watermark stored with its applied offset.
func (w *watermarks) restore(stream string, wm int64) {
	if old, ok := w.streams[stream]; !ok || wm > old {
		w.streams[stream] = wm
	}
	w.global = max(w.global, wm)
}
