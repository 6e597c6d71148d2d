package window

import (
	"cmp"
	"context"
	"errors"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Memory is the in-process Store: the embedded default for trials and single
// workers. Its semantics are RedisStore's: same buckets, same lateness,
// same exact cap and the same HyperLogLog (estimates equal Redis's PFCOUNT).
// It is safe for concurrent use; Applies are serialized, and one with at
// least 32,768 operations is shared by up to GOMAXPROCS goroutines (at
// most 4).
type Memory struct {
	mu      sync.Mutex
	s       *schema
	ents    []map[string]*ment // per family
	wms     watermarks
	late    int64
	applied map[string]appliedMark
	closed  bool
	results resultPool
	// house is the housekeeping of the last Apply (new entities into ents,
	// sweeps), done while the caller prepares its next batch; every method
	// waits for it before touching the state.
	house sync.WaitGroup

	gents  []*ment
	live   []bool  // per group: has a live operation (see mop)
	beg    []int32 // per group + 1: where its operations start in sorted
	sorted []mop
	chunks []int32 // the appliers take groups [chunks[i], chunks[i+1]) at a time
	ws     []*applier
	// par is how many goroutines apply a batch of at least parOps
	// operations (0: GOMAXPROCS, at most maxAppliers), taking about chunk
	// work (see groupWork) at a time. Tests change them.
	par, parOps, chunk int
	sweepIn            int
	mf                 []memFam // per family
	// swept is, per family, the overall watermark at its last sweep: a
	// family is swept again once the watermark has moved by a quarter of its
	// retention, since before that hardly an entity of it can have aged
	// out, and walking every entity is not free.
	swept []int64
}

type appliedMark struct{ off, wm int64 }

// memFam lists a family's Distinct metrics in ment.dis order (a metric's
// index there is cmetric.dis).
type memFam struct {
	dis []MetricID
}

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

// pendFor returns n pending adds, all off.
func (w *applier) pendFor(n int) []pendAdd {
	for len(w.pend) < n {
		w.pend = append(w.pend, pendAdd{})
	}
	return w.pend[:n]
}

// bucketMemo remembers the bucket the last event time fell in at one
// resolution: an entity's operations come in time order, so most fall in
// the bucket of the one before, and a 64-bit division costs more than the
// rest of a ring update.
type bucketMemo struct{ res, lo, i int64 }

// of is floorDiv(t, res).
func (c *bucketMemo) of(t, res int64) int64 {
	if c.res == res && t >= c.lo && t-c.lo < res {
		return c.i
	}
	i := floorDiv(t, res)
	c.res, c.lo, c.i = res, i*res, i
	return i
}

// pendAdd is a Count delta on its way to bucket i of one tier: the
// operations of an entity on one bucket are summed before the ring is
// touched. Only Count deltas are, since they are integers and so sum the
// same in any order; Sum deltas go to the ring one by one, in batch order.
type pendAdd struct {
	i  int64
	d  float64
	on bool
}

// memoFor returns memos for n resolutions.
func memoFor(ms *[]bucketMemo, n int) []bucketMemo {
	for len(*ms) < n {
		*ms = append(*ms, bucketMemo{})
	}
	return *ms
}

type hslot struct {
	idx int64
	h   *hll
}

// mmem is a member of a Distinct metric with its newest event time. h is
// murmur64a(member, hllSeed): compared before the member, so a lookup
// reads the set's own memory and not every member's bytes, and it is the
// member's HyperLogLog position once the entity goes over the cap. The
// member's bytes are mdis.buf[off:off+n]: a member set holds no pointer,
// so the collector neither scans it nor marks a string per member, and a
// new member costs no allocation of its own.
type mmem struct {
	h      uint64
	score  int64 // unix ms of the member's newest event
	off, n uint32
}

// mkey is a member with its hash.
type mkey struct {
	h      uint64
	member string
}

// mdis keeps one Distinct metric of an entity: members with their newest
// event time in a slice (most entities have a handful, which a scan finds
// faster than anything else), indexed by a hash table only while large.
type mdis struct {
	ms []mmem
	// buf holds the members' bytes. It is only appended to and replaced,
	// never written over: views hold strings into it (see str).
	buf []byte
	// tab is an open-addressing table over ms, probed from the member's
	// hash: 1 + index in ms, 0 for empty. At most half full; nil while
	// len(ms) <= mdisIndexAt.
	tab     []int32
	oldest  int64 // lower bound of the members' scores: trim is a no-op above it
	evicted int64
	big     bool
	hll     [][]hslot // per cmetric.hllRes
	// This Apply's members while big: the newest in applier.over (1 +
	// index, 0 if none), its time, and whether they came out of time order.
	ovLast  int32
	ovMixed bool
	ovT     int64
}

const mdisIndexAt = 16

// put records member (hash h) at time t. A member at or before the
// dropped mark is not kept exactly (RedisStore's rule: a worker's trim
// cannot reach another worker's copy of a member, so no copy counts).
func (d *mdis) put(h uint64, member string, t int64) {
	if t <= d.evicted {
		return
	}
	if d.tab != nil {
		mask := uint32(len(d.tab) - 1)
		i := uint32(h>>32) & mask
		for ; d.tab[i] != 0; i = (i + 1) & mask {
			if x := &d.ms[d.tab[i]-1]; x.h == h && d.is(x, member) {
				x.score = max(x.score, t)
				return
			}
		}
		d.ms = append(d.ms, d.keep(h, member, t))
		d.tab[i] = int32(len(d.ms))
		if 2*len(d.ms) > len(d.tab) {
			d.reindex()
		}
	} else {
		for i := range d.ms {
			if x := &d.ms[i]; x.h == h && d.is(x, member) {
				x.score = max(x.score, t)
				return
			}
		}
		if d.ms == nil {
			d.ms = make([]mmem, 0, 4)
		}
		d.ms = append(d.ms, d.keep(h, member, t))
		if len(d.ms) > mdisIndexAt {
			d.reindex()
		}
	}
	d.oldest = min(d.oldest, t)
}

// keep copies member's bytes into buf (not the whole log line it may be
// part of) and returns its record.
func (d *mdis) keep(h uint64, member string, t int64) mmem {
	if d.buf == nil {
		d.buf = make([]byte, 0, max(64, len(member)))
	}
	off := len(d.buf)
	d.buf = append(d.buf, member...)
	return mmem{h: h, score: t, off: uint32(off), n: uint32(len(member))}
}

// is reports whether x's member is member.
func (d *mdis) is(x *mmem, member string) bool {
	return string(d.buf[x.off:x.off+x.n]) == member
}

// memberStr is the member at buf[off:off+n] (an mdis.buf), sharing its bytes: they
// are never written over (put only appends, trim moves kept members to a
// new buf), so the string stays valid, and keeps the old buf alive, as
// long as a view holds it.
func memberStr(buf []byte, off, n uint32) string {
	if n == 0 {
		return ""
	}
	return unsafe.String(&buf[off], int(n))
}

// reindex rebuilds tab for the members in ms.
func (d *mdis) reindex() {
	if len(d.ms) <= mdisIndexAt {
		d.tab = nil
		return
	}
	n := 64
	for n < 2*len(d.ms) {
		n *= 2
	}
	if cap(d.tab) >= n && cap(d.tab) <= 2*n {
		d.tab = d.tab[:n]
		clear(d.tab)
	} else {
		d.tab = make([]int32, n)
	}
	mask := uint32(n - 1)
	for k := range d.ms {
		i := uint32(d.ms[k].h>>32) & mask
		for d.tab[i] != 0 {
			i = (i + 1) & mask
		}
		d.tab[i] = int32(k + 1)
	}
}

// ment is one entity: every Count/Sum tier's ring back to back in one
// slice and the Distinct metrics inline, so an operation reaches its bucket
// through two pointers rather than four. The state of a family's only
// Distinct metric (the usual case) lives in the ment itself, and the rings'
// heads share the rings' allocation: a new entity costs two allocations,
// and a batch's first touch of it fewer cache misses.
type ment struct {
	at    int64
	dis   []mdis // per Distinct metric (memFam.dis)
	meta  []rmeta
	slots []float64
	dis1  [1]mdis
	// snap is the Result whose views read this entity (nil: none). Until
	// it is released the entity must not change: the next Apply that
	// touches it works on a copy (clone) and leaves this one to the views.
	// Between Applies nothing changes an entity.
	snap *resToken
	// trim: its members are to be trimmed before its next operations.
	trim bool
}

// resToken says whether a Result was released.
type resToken struct{ released atomic.Bool }

// shared reports whether views of a held Result share e's state.
func (e *ment) shared() bool { return e.snap != nil && !e.snap.released.Load() }

// rings allocates the heads and rings of a family's tiers: one noscan
// allocation holds the heads (two int64 per tier) and then the rings.
func rings(f *cfamily) (meta []rmeta, slots []float64) {
	buf := make([]float64, 2*f.ntiers+int(f.nslots))
	if f.ntiers > 0 {
		meta = unsafe.Slice((*rmeta)(unsafe.Pointer(&buf[0])), f.ntiers)
	}
	return meta, buf[2*f.ntiers:]
}

// clone copies e for the store to change while views of a held Result
// read e. Member bytes (append-only) and HyperLogLogs and member indexes
// (which views do not read) are shared: e is never changed again.
func (e *ment) clone(f *cfamily) *ment {
	c := &ment{at: e.at, trim: e.trim}
	c.meta, c.slots = rings(f)
	copy(c.meta, e.meta)
	copy(c.slots, e.slots)
	if len(e.dis) == 1 {
		c.dis = c.dis1[:]
	} else {
		c.dis = make([]mdis, len(e.dis))
	}
	copy(c.dis, e.dis)
	for i := range c.dis {
		if d := &c.dis[i]; d.ms != nil {
			d.ms = slices.Clone(d.ms)
		}
	}
	return c
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
	mf := make([]memFam, len(cs.fams))
	for i := range swept {
		swept[i] = noTime
		for mi, cm := range cs.fams[i].metrics {
			if cm.Kind == Distinct {
				mf[i].dis = append(mf[i].dis, MetricID(mi))
			}
		}
	}
	return &Memory{s: cs, ents: ents, swept: swept, mf: mf, parOps: parallelOps, chunk: chunkWork, wms: newWatermarks(), applied: make(map[string]appliedMark)}, nil
}

func (m *Memory) newEnt(f *cfamily, ndis int) *ment {
	e := &ment{at: noTime}
	if ndis == 1 {
		e.dis = e.dis1[:]
	} else if ndis > 1 {
		e.dis = make([]mdis, ndis)
	}
	for i := range e.dis {
		e.dis[i] = mdis{oldest: math.MaxInt64, evicted: noTime}
	}
	e.meta, e.slots = rings(f)
	for i := range e.meta {
		e.meta[i].head = noTime
	}
	return e
}

// hllSlots allocates an entity's HyperLogLog buckets when it first goes
// over the cap (most never do): a ring per resolution, bucket i in slot
// i&(len-1), with at least as many slots as the longest window it serves
// reads.
func (d *mdis) hllSlots(cm *cmetric) {
	d.hll = make([][]hslot, len(cm.hllRes))
	for j, r := range cm.hllRes {
		var n int64
		for k, w := range cm.Windows {
			if cm.winHLL[k] == j {
				n = max(n, w.Milliseconds()/r+1)
			}
		}
		d.hll[j] = make([]hslot, 1<<bits.Len64(uint64(n-1)))
		for k := range d.hll[j] {
			d.hll[j][k].idx = noTime
		}
	}
}

// pfadd adds the member with hash h at time t to the HyperLogLogs.
func (w *applier) pfadd(cm *cmetric, d *mdis, h uint64, t int64) {
	if d.hll == nil {
		d.hllSlots(cm)
	}
	memo := memoFor(&w.hmemo, len(cm.hllRes))
	for j, r := range cm.hllRes {
		i := memo[j].of(t, r)
		hs := d.hll[j]
		s := &hs[i&int64(len(hs)-1)]
		if s.idx != i {
			if s.idx > i {
				continue
			}
			s.idx, s.h = i, &hll{}
		}
		s.h.add(h)
	}
}

// Apply implements Store.
func (m *Memory) Apply(ctx context.Context, b *Batch) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.house.Wait()
	if m.closed {
		return nil, errors.New("window: Apply on a closed Memory store")
	}
	if err := m.s.checkGroups(b); err != nil {
		return nil, err
	}
	// A batch whose offsets are all applied already is a retry after a
	// later step failed (the caller did not commit): answer with views,
	// change nothing, so retries never count twice.
	replay := m.appliedAlready(b)

	m.gents = slices.Grow(m.gents[:0], len(b.groups))[:len(b.groups)]
	mem := m.results.get()
	views, ptrs := mem.prepare(len(b.groups))
	res := &Result{views: ptrs, mem: mem, pool: &m.results, tok: &resToken{}}
	nLate, wm, err := m.applyGroups(b, replay, res, views)
	if err != nil {
		clear(m.gents)
		m.results.put(mem)
		return nil, err
	}
	if !replay {
		res.late = nLate
		m.wms.advance(b, wm)
		m.late += nLate
	}
	clear(m.gents)
	for st, off := range b.marks {
		if replay {
			break
		}
		m.applied[st] = appliedMark{off: off, wm: m.wms.of(st)}
	}
	m.sweepIn -= len(b.ops)
	m.housekeep(m.sweepIn <= 0)
	return res, nil
}

// parallelOps is the smallest batch split among goroutines: below,
// starting them costs more than it saves.
const parallelOps = 1 << 15

// chunkWork is about how much work (operations, see groupWork) the
// appliers take at a time: chunks small enough that one applier held up
// (by the garbage collector, say) leaves the rest to the others.
const chunkWork = 4096

// groupWork is the work of a group: its operations plus a view.
func groupWork(ops int32) int32 { return ops + 8 }

// applyGroups checks b's operations, judges their lateness, applies them
// and finishes their entities. It returns the number of late operations
// and the watermark after b, or the error of the first operation the
// schema rejects, having changed nothing.
//
// Lateness is plan's rule: an operation is late when its time is more
// than the lateness behind the newest time before it (in the batch, or the
// store's watermark). A late operation is older than that newest time, so
// it never moves it: the watermark is a running maximum over all
// operations, and each goroutine's slice starts from the store's and the
// earlier slices' newest times, which count finds. Lateness is then judged
// in batch order while copying, off the caller's goroutine.
//
// Operations are applied entity by entity (a counting sort by group), and
// each entity is finished (over-cap picks, view, trim) right after its
// operations: its state is then fetched from memory once, not once per
// operation and again for the view. Every update is a sum or a maximum,
// so order does not matter once lateness is judged.
//
// Entities are independent (each is one group, and its operations, view
// and trim touch only its own state), so a large batch is shared by up to
// GOMAXPROCS goroutines: each counts and copies into group order a slice
// of the operations, then they take chunks of groups in turn.
func (m *Memory) applyGroups(b *Batch, replay bool, res *Result, views []View) (nLate, wm int64, err error) {
	ng, nops := len(b.groups), len(b.ops)
	n := 1
	if nops >= m.parOps {
		n = m.par
		if n <= 0 {
			n = min(runtime.GOMAXPROCS(0), maxAppliers)
		}
		n = max(1, min(n, ng))
	}
	for i := range n {
		m.worker(i)
	}
	ws := m.ws[:n]
	for i, w := range ws {
		w.sl = res.mem.slab(i)
	}
	defer func() {
		for _, w := range ws {
			w.sl = nil
		}
	}()
	share := func(i int) (lo, hi int) { return nops * i / n, nops * (i + 1) / n }
	m.each(ws, func(i int, w *applier) {
		lo, hi := share(i)
		w.count(b, lo, hi)
	})
	wm = m.wms.base(b)
	for _, w := range ws {
		if w.bad >= 0 {
			return 0, 0, m.s.checkOp(&b.ops[w.bad])
		}
		w.wm = wm
		wm = max(wm, w.maxT)
	}
	// Group g's operations go to sorted[beg[g]:beg[g+1]], applier i's
	// share of them from ws[i].cnt[g] on.
	beg := slices.Grow(m.beg[:0], ng+1)[:ng+1]
	chunks := append(m.chunks[:0], 0)
	at, work := int32(0), int32(0)
	for g := range ng {
		beg[g] = at
		for _, w := range ws {
			c := w.cnt[g]
			w.cnt[g] = at
			at += c
		}
		if work += groupWork(at - beg[g]); work >= int32(m.chunk) && n > 1 {
			chunks, work = append(chunks, int32(g+1)), 0
		}
	}
	beg[ng] = at
	if chunks[len(chunks)-1] != int32(ng) {
		chunks = append(chunks, int32(ng))
	}
	m.beg, m.chunks = beg, chunks
	m.sorted = slices.Grow(m.sorted[:0], nops)[:nops]
	m.live = slices.Grow(m.live[:0], ng)[:ng]
	m.each(ws, func(i int, w *applier) {
		lo, hi := share(i)
		w.scatter(b, replay, lo, hi)
	})
	for _, w := range ws {
		nLate += w.nLate
	}
	var next atomic.Int32
	m.each(ws, func(_ int, w *applier) {
		for c := int(next.Add(1)); c < len(chunks); c = int(next.Add(1)) {
			w.apply(b, res, views, chunks[c-1], chunks[c])
		}
	})
	return nLate, wm, nil
}

// each runs f for every applier, the last on this goroutine, and waits.
func (m *Memory) each(ws []*applier, f func(i int, w *applier)) {
	var wg sync.WaitGroup
	for i, w := range ws[:len(ws)-1] {
		wg.Go(func() { f(i, w) })
	}
	f(len(ws)-1, ws[len(ws)-1])
	wg.Wait()
}

// maxAppliers bounds the goroutines of one Apply: memory bandwidth, not
// cores, limits it beyond a few.
const maxAppliers = 4

// worker returns the i-th applier.
func (m *Memory) worker(i int) *applier {
	for len(m.ws) <= i {
		m.ws = append(m.ws, &applier{m: m})
	}
	return m.ws[i]
}

// applier is one goroutine's part of an Apply: it counts and copies into
// group order a share of the operations, then applies chunks of groups and
// finishes their entities. It holds the scratch memory this needs, reused
// from Apply to Apply.
type applier struct {
	m      *Memory
	scores []int64
	over   []overMem
	run    []overMem
	picked []mkey
	seen   []int32 // putOver's index of picked
	merge  hllMerge
	// memo and hmemo remember the last bucket per tier (tier.seq) and per
	// HyperLogLog resolution (index in cmetric.hllRes).
	memo, hmemo []bucketMemo
	pend        []pendAdd
	sl          *viewSlabs // the Result's, during an Apply
	added       []addedEnt // entities this applier made
	cnt         []int32    // per group: count, then where this applier copies its next operation
	// From count: the first operation the schema rejects (-1: none) and
	// the newest time; for scatter: the watermark before this share, and
	// from it, how many operations were late.
	bad      int
	maxT, wm int64
	nLate    int64
}

// count counts the groups of operations [lo, hi) into cnt, checks them
// against the schema and finds their newest time.
func (w *applier) count(b *Batch, lo, hi int) {
	cnt := slices.Grow(w.cnt[:0], len(b.groups))[:len(b.groups)]
	clear(cnt)
	s := w.m.s
	w.bad, w.maxT = -1, noTime
	for i := lo; i < hi; i++ {
		op := &b.ops[i]
		cnt[op.g]++
		if op.kind == opTouch {
			continue
		}
		if f := &s.fams[op.f]; int(op.m) >= len(f.metrics) || (op.kind == opMember) != (f.metrics[op.m].Kind == Distinct) {
			w.bad = i
			break
		}
		w.maxT = max(w.maxT, op.t)
	}
	w.cnt = cnt
}

// scatter copies operations [lo, hi) into group order, each group's from
// cnt[g] on: writes, which do not stall like reads from all over the
// batch would. Late operations, touches and a replay's operations become
// empty touches; the rest are live. Members are hashed here, where the
// reads of their bytes (mostly cache misses) overlap.
func (w *applier) scatter(b *Batch, replay bool, lo, hi int) {
	sorted, cnt := w.m.sorted, w.cnt
	wm, lateness := w.wm, w.m.s.lateness
	w.nLate = 0
	for i := lo; i < hi; i++ {
		op := &b.ops[i]
		o := &sorted[cnt[op.g]]
		cnt[op.g]++
		if op.kind == opTouch {
			*o = mop{kind: opTouch}
			continue
		}
		if wm != noTime && op.t < wm-lateness {
			w.nLate++
			*o = mop{kind: opTouch}
			continue
		}
		wm = max(wm, op.t)
		switch {
		case replay:
			*o = mop{kind: opTouch, live: true}
		case op.kind == opAdd:
			*o = mop{t: op.t, x: op.x, m: op.m, kind: opAdd, live: true}
		default:
			*o = mop{t: op.t, x: murmur64a(b.members[op.x], hllSeed), i: int32(op.x), m: op.m, kind: opMember, live: true}
		}
	}
}

// apply applies the operations of groups [lo, hi) and finishes their
// entities, filling their views.
func (w *applier) apply(b *Batch, res *Result, views []View, lo, hi int32) {
	m, s := w.m, w.m.s
	sorted, beg := m.sorted, m.beg
	for gi := lo; gi < hi; gi++ {
		live := false
		for k := beg[gi]; k < beg[gi+1] && !live; k++ {
			live = sorted[k].live
		}
		m.live[gi] = live
		g := &b.groups[gi]
		e := m.ents[g.f][g.entity]
		if e == nil && live {
			e = m.newEnt(&s.fams[g.f], len(m.mf[g.f].dis))
			w.added = append(w.added, addedEnt{g.f, g.entity, e})
		}
		m.gents[gi] = e
	}
	for gi := lo; gi < hi; gi++ {
		e := m.gents[gi]
		fi := b.groups[gi].f
		f := &s.fams[fi]
		if e != nil {
			if e.shared() {
				e = e.clone(f)
				m.gents[gi] = e
				g := &b.groups[gi]
				w.added = append(w.added, addedEnt{g.f, g.entity, e})
			}
			e.snap = nil
			if e.trim {
				e.trim = false
				for di, mi := range m.mf[fi].dis {
					w.trim(&f.metrics[mi], &e.dis[di], e.at)
				}
			}
		}
		memo := memoFor(&w.memo, f.ntiers)
		pend := w.pendFor(f.ntiers)
		for k := beg[gi]; k < beg[gi+1]; k++ {
			op := &sorted[k]
			if op.kind == opTouch {
				continue
			}
			e.at = max(e.at, op.t)
			cm := &f.metrics[op.m]
			if op.kind == opAdd {
				delta := math.Float64frombits(op.x)
				if cm.Kind != Count {
					for j := range cm.tiers {
						t := &cm.tiers[j]
						e.add(t, memo[t.seq].of(op.t, t.res), delta)
					}
					continue
				}
				d := math.Trunc(delta)
				for j := range cm.tiers {
					t := &cm.tiers[j]
					i := memo[t.seq].of(op.t, t.res)
					if pa := &pend[t.seq]; pa.on && pa.i == i {
						pa.d += d
					} else {
						if pa.on {
							e.add(t, pa.i, pa.d)
						}
						*pa = pendAdd{i, d, true}
					}
				}
				continue
			}
			d := &e.dis[cm.dis]
			if d.big {
				w.pfadd(cm, d, op.x, op.t)
				// Decided when the entity is finished: only the batch's
				// newest cap stay exact.
				w.addOver(d, op.i, op.t, op.x)
			} else {
				d.put(op.x, b.members[op.i], op.t)
			}
		}
		for mi := range f.metrics {
			for j := range f.metrics[mi].tiers {
				t := &f.metrics[mi].tiers[j]
				if pa := &pend[t.seq]; pa.on {
					e.add(t, pa.i, pa.d)
					pa.on = false
				}
			}
		}
		w.finish(b, gi, res, &views[gi])
		// finish picked this entity's over-cap members: over holds one
		// entity's at a time, not the whole Apply's.
		w.over = w.over[:0]
	}
}

// finish picks the over-cap members of group gi's entity, makes its view v
// and trims its members, after its operations of the batch.
func (w *applier) finish(b *Batch, gi int32, res *Result, v *View) {
	m, s := w.m, w.m.s
	g := &b.groups[gi]
	f := &s.fams[g.f]
	mf := &m.mf[g.f]
	e := m.gents[gi]
	if e != nil {
		for di := range e.dis {
			if d := &e.dis[di]; d.ovLast != 0 {
				w.putOver(b, d)
			}
		}
	}
	sl := w.sl
	res.views[gi] = v
	at := int64(noTime)
	if e != nil {
		at = e.at
	}
	s.newView(v, g.f, g.entity, at, nil)
	if e == nil {
		return
	}
	// The view reads the entity (see ment.snap), and copies nothing of it
	// but the estimates.
	v.ent, e.snap = e, res.tok
	for di, mi := range mf.dis {
		cm := &f.metrics[mi]
		d := &e.dis[di]
		if !d.big || d.hll == nil {
			continue
		}
		if v.ests == nil {
			v.ests = sl.floatsN(f.nest)
			for k := range v.ests {
				v.ests[k] = -1
			}
		}
		// Estimates need the counts (MinEvents): the view reads them.
		for k, win := range cm.Windows {
			if !wantEstimate(v, cm, d.evicted, win) {
				continue
			}
			r := cm.hllRes[cm.winHLL[k]]
			lo, hi := hllRange(at, win.Milliseconds(), r)
			w.merge.reset()
			hs := d.hll[cm.winHLL[k]]
			for i := lo; i <= hi; i++ {
				if sl := hs[i&int64(len(hs)-1)]; sl.idx == i {
					w.merge.add(sl.h)
				}
			}
			v.ests[cm.estOff+k] = float64(w.merge.count())
		}
	}
	// Distinct members are trimmed after the view, as RedisStore trims at
	// the start of its next Apply from what it read in this one: here
	// when the entity is next touched (a trim changes nothing the batches
	// between could see), unless there is nothing to cut, the common case.
	if !m.live[gi] {
		return
	}
	for di, mi := range mf.dis {
		if !e.dis[di].settled(&f.metrics[mi], e.at, s.cap) {
			e.trim = true
		}
	}
}

// addedEnt is an entity an applier made (new, or a copy of one a held
// Result reads), for housekeep to put in the maps.
type addedEnt struct {
	f      FamilyID
	entity string
	e      *ment
}

// mop is an operation as Apply copies it into group order: x is the
// delta's bits (opAdd) or murmur64a(member, hllSeed) (opMember). It holds
// no pointer, so the scattered writes that fill Memory.sorted need no
// write barrier (which reads the old value: a cache miss per write while
// the collector runs).
type mop struct {
	t    int64
	x    uint64
	i    int32 // index in Batch.members (opMember): the member is read there when needed
	m    MetricID
	kind uint8
	// live: the operation is neither a touch nor late (a replay's are
	// touches, but live): its entity is made if new, and trimmed.
	live bool
}

// overMem is a member for an entity already over the cap: the operation
// Batch.members[i] (its hash is h). prev chains the members of one
// (entity, metric) newest first: 1 + the index in applier.over of the one
// added before, 0 for the first.
type overMem struct {
	prev, i int32
	t       int64
	h       uint64
}

// addOver records a member of an entity already over the cap.
func (w *applier) addOver(d *mdis, i int32, t int64, h uint64) {
	if d.ovLast != 0 && t < d.ovT {
		d.ovMixed = true
	}
	d.ovT = t
	if len(w.over) == cap(w.over) {
		w.over = slices.Grow(w.over, max(len(w.over), 256)) // double, see Batch.push
	}
	w.over = append(w.over, overMem{d.ovLast, i, t, h})
	d.ovLast = int32(len(w.over))
}

// putOver adds the newest cap of the batch's members of an entity already
// over the cap (newest time per member; ties: member descending) to the
// exact set, as RedisStore sends them: the others would be trimmed right
// away and are in the HyperLogLogs already.
func (w *applier) putOver(b *Batch, d *mdis) {
	capN := w.m.s.cap
	ov, mems := w.over, b.members
	picked := w.picked[:0]
	// seen indexes picked by hash (1 + index, 0: empty), at most half full:
	// a busy entity's batch repeats its members many times over.
	n := 8
	for n < 2*capN {
		n *= 2
	}
	seen := slices.Grow(w.seen[:0], n)[:n]
	clear(seen)
	mask := uint64(n - 1)
	pick := func(o *overMem) {
		if len(picked) == capN {
			return
		}
		member := mems[o.i]
		i := o.h & mask
		for ; seen[i] != 0; i = (i + 1) & mask {
			if p := &picked[seen[i]-1]; p.h == o.h && p.member == member {
				return
			}
		}
		picked = append(picked, mkey{o.h, member})
		seen[i] = int32(len(picked))
		d.put(o.h, member, o.t)
	}
	run := w.run[:0]
	if d.ovMixed {
		// Newest first: a member's first occurrence carries its newest time.
		for k := d.ovLast; k != 0; k = ov[k-1].prev {
			run = append(run, ov[k-1])
		}
		slices.SortFunc(run, func(a, b overMem) int {
			if c := cmp.Compare(b.t, a.t); c != 0 {
				return c
			}
			return strings.Compare(mems[b.i], mems[a.i])
		})
		for i := 0; i < len(run) && len(picked) < capN; i++ {
			pick(&run[i])
		}
	} else {
		// In time order (the usual case): walk from the newest, one time
		// at a time (members descending among them), and stop as soon as
		// cap members are in. A busy entity brings thousands of members
		// per Apply.
		for k := d.ovLast; k != 0 && len(picked) < capN; {
			t := ov[k-1].t
			run = run[:0]
			for ; k != 0 && ov[k-1].t == t; k = ov[k-1].prev {
				run = append(run, ov[k-1])
			}
			if len(run) > 1 {
				slices.SortFunc(run, func(a, b overMem) int {
					return strings.Compare(mems[b.i], mems[a.i])
				})
			}
			for i := range run {
				pick(&run[i])
			}
		}
	}
	w.run, w.seen = run[:0], seen
	clear(picked)
	w.picked = picked[:0]
	d.ovLast, d.ovMixed = 0, false
}

// settled reports whether a trim at at would cut nothing (the common case,
// kept cheap), updating big as the trim would.
func (d *mdis) settled(cm *cmetric, at int64, capN int) bool {
	if len(d.ms) <= capN && d.oldest > at-cm.maxWin {
		d.big = d.evicted > at-cm.maxWin
		return true
	}
	return false
}

// trim applies the cap and retention to one Distinct metric; see
// distinctTrim for the rule shared with RedisStore.
func (w *applier) trim(cm *cmetric, d *mdis, at int64) {
	capN := w.m.s.cap
	if d.settled(cm, at, capN) {
		return
	}
	scores := w.scores[:0]
	for i := range d.ms {
		scores = append(scores, d.ms[i].score)
	}
	w.scores = scores
	cut, evict := distinctTrim(scores, at, cm.maxWin, capN)
	if evict {
		if !d.big {
			for i := range d.ms {
				w.pfadd(cm, d, d.ms[i].h, d.ms[i].score)
			}
		}
		d.evicted = max(d.evicted, cut)
	}
	if cut != noTime {
		// The slice is filtered in place and the index rebuilt.
		kept := d.ms[:0]
		d.oldest = math.MaxInt64
		nb := 0
		for _, sm := range d.ms {
			if sm.score > cut {
				kept = append(kept, sm)
				d.oldest = min(d.oldest, sm.score)
				nb += int(sm.n)
			}
		}
		d.ms = kept
		if cap(d.ms) > 4*max(len(d.ms), capN) {
			// Shrink after a burst, so the entity does not keep its peak.
			d.ms = slices.Clone(d.ms)
			d.tab = nil
		}
		if len(d.buf) > 2*nb+64 {
			// Mostly dropped members' bytes: move the kept ones to a new
			// buf (the old one is never written over, views may hold it).
			buf := make([]byte, 0, 2*nb+64)
			for i := range d.ms {
				x := &d.ms[i]
				off := len(buf)
				buf = append(buf, d.buf[x.off:x.off+x.n]...)
				x.off = uint32(off)
			}
			d.buf = buf
		}
		d.reindex()
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

// housekeep starts what must happen before the next Apply but not before
// this one returns: the entities the appliers made go into the maps (the
// appliers only read them) and, every so often, old entities are swept.
// The caller fills its next batch meanwhile, on one goroutine, so a core
// is free for it. Entity state is not touched: views read it.
func (m *Memory) housekeep(sweep bool) {
	m.house.Go(func() {
		for _, w := range m.ws {
			for _, a := range w.added {
				m.ents[a.f][a.entity] = a.e
			}
			clear(w.added)
			w.added = w.added[:0]
		}
		if sweep {
			m.sweep()
		}
	})
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
	m.house.Wait()
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
	m.house.Wait()
	return m.late
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.house.Wait()
	m.closed = true
	return nil
}
