package window

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions tunes RedisStore. The zero value works.
type RedisOptions struct {
	// Prefix starts every key (default "gw").
	Prefix string
	// TTLRefresh is how often a worker refreshes the TTL of a key it keeps
	// writing (default 30s). Keys live for their longest window or history
	// plus Lateness plus twice this.
	TTLRefresh time.Duration
	// AppliedTTL is the TTL of the applied-offsets hash, refreshed by every
	// Apply (default 7 days).
	AppliedTTL time.Duration
	// WorkerID starts the name of every hash field this store instance
	// writes (followed by a random token), to tell workers apart when
	// looking at Redis. Default: none.
	WorkerID string
}

// RedisStore keeps windows in Redis, shared by every worker. doc.go has the
// key layout and crash semantics; in short, each (family, entity) is one
// hash with one field per writing store instance:
//
//	<prefix>:{f:e}:h   "<worker><token><seq>" -> that instance's state of
//	                   the entity: At, counter buckets, members with their
//	                   newest times, dropped marks (see blob.go)
//
// An instance is the only writer of its field, so it keeps the state in
// memory and writes it whole with one HSET; a reader merges the fields
// (counters add up, times take the maximum), as with a state-based CRDT.
// Per touched entity an Apply queues that HSET and one HGETALL, plus an
// EXPIRE for a new key and then every TTLRefresh; BENCHMARKS.md has the
// measured costs.
type RedisStore struct {
	c       redis.UniversalClient
	s       *schema
	o       RedisOptions
	applied string

	mu      sync.Mutex
	wms     watermarks
	late    int64
	cache   map[gkey]*rent
	results resultPool
	pending []func(redis.Pipeliner)
	// dirty are entities whose own state changed after their last write
	// (a trim): the next Apply writes them even if its batch does not
	// touch them.
	dirty   []*rent
	sweepIn int
	now     func() time.Time
	// unsure holds the streams whose last Apply failed: its MULTI may
	// still have run (a lost reply), so their next Apply checks the applied
	// offsets first. Per stream, because batches of other partitions may
	// succeed in between and prove nothing about this one.
	unsure map[string]bool
	// appliedHere is the highest offset per stream this instance applied
	// itself, so a retry of a batch it already applied changes nothing.
	appliedHere map[string]int64

	// tok names this store instance's fields (":" and 8 random
	// characters), renewed after every failed Apply; gen counts the
	// renewals, seq the entities remembered under it. See rent.
	tok string
	gen uint32
	seq uint64
	// oldToks are this instance's earlier tokens (newest last, at most
	// maxOldToks): fields named with them are this process's own, so it
	// takes them over (see adopt) instead of letting them pile up.
	oldToks []string

	args     cmdArgs
	fb       []byte
	reads    []gread
	pfcPool  []*redis.IntCmd
	bpool    [][]memEntry
	fv       []fieldVal
	dec      blobState
	scs      []scored
	scores   []int64
	olds     []oldField
	mineF    []oldField
	adoptDec blobState

	p plan
	// Counter updates per group, as short linked lists in one slice: an
	// entity touches a few buckets per batch, so a scan beats a map.
	aggs  []aggE
	ahead []int32 // per group: first aggs index, -1 if none
	mem   map[memKey]int64
	mems  []memEntry
}

// rent is what this instance remembers of an entity: its own field's name
// and content (what it last wrote or will write), and what it read.
//
// The field name is new for every rent (token + sequence number), so an
// entity the cache forgot and meets again gets a new field rather than
// overwriting state it no longer knows (a lagging partition may still
// write into visible buckets), and after a failed Apply, whose MULTI may
// or may not have run, the token changes and every rent starts a new
// field from zero. Old fields keep what they hold and are merged like any
// other instance's until everything in them is outside every window.
type rent struct {
	fam   FamilyID
	key   string // the entity's hash
	field string
	gen   uint32
	ttlAt int64 // wall-clock ms of the last EXPIRE
	at    int64 // entity At seen on the last read
	dirty bool
	// adopted are earlier fields of this process whose content the own
	// state has taken over: the next write deletes them in the same MULTI.
	adopted []string
	// Own state, as written to (or about to be written to) field.
	own  int64 // own At
	ctr  []ownCtr
	mem  [][]scored // per metric: own members, newest time each
	mark []int64    // per metric: own dropped mark
	seen []int64    // per metric: dropped mark over every field, last read
	big  []bool
	// hllTTL: per metric, the HyperLogLog bucket keys this worker has set a TTL on.
	hllTTL []map[hllBucket]bool
}

// oldField is another field read, with its At.
type oldField struct {
	field, val string
	at         int64
}

// ownCtr is one counter bucket of the own field.
type ownCtr struct {
	m   MetricID
	t   uint8
	idx int64
	v   float64
}

// fieldVal is one counter bucket read, for the bucket idx of series sr.
type fieldVal struct {
	sr  *series
	idx int64
	x   float64
}

type aggE struct {
	next int32
	m    MetricID
	t    uint8
	idx  int64
	v    float64
}

type memKey struct {
	g      int32
	m      MetricID
	member string
}

type memEntry struct {
	k memKey
	t int64
}

func newToken() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return ":" + base64.RawURLEncoding.EncodeToString(b[:])
}

// newRent starts remembering an entity under a field of its own.
func (r *RedisStore) newRent(fam FamilyID, f *cfamily, key string) *rent {
	n := len(f.metrics)
	ce := &rent{fam: fam, key: key, at: noTime, big: make([]bool, n), mem: make([][]scored, n), mark: make([]int64, n), seen: make([]int64, n)}
	r.renew(ce)
	for m := range ce.seen {
		ce.seen[m] = noTime
	}
	return ce
}

// renew points ce at a new field of the current token, with empty own
// state.
func (r *RedisStore) renew(ce *rent) {
	r.seq++
	ce.field = r.o.WorkerID + r.tok + strconv.FormatUint(r.seq, 36)
	ce.gen, ce.own, ce.ctr, ce.dirty, ce.adopted = r.gen, noTime, ce.ctr[:0], false, ce.adopted[:0]
	for m := range ce.mem {
		clear(ce.mem[m])
		ce.mem[m] = ce.mem[m][:0]
		ce.mark[m] = noTime
	}
}

// pruneOwn drops own counter buckets no view can show any more (older than
// their tier keeps before ref; At never goes back, so they stay
// invisible): the field only holds what windows can use.
func pruneOwn(ce *rent, f *cfamily, ref int64) {
	if ref == noTime {
		return
	}
	kept := ce.ctr[:0]
	for _, c := range ce.ctr {
		t := &f.metrics[c.m].tiers[c.t]
		if c.idx > floorDiv(ref, t.res)-t.n {
			kept = append(kept, c)
		}
	}
	ce.ctr = kept
}

// addOwn adds d to bucket idx of tier t of metric m of the own state.
func (ce *rent) addOwn(m MetricID, t uint8, idx int64, d float64) {
	for i := range ce.ctr {
		if c := &ce.ctr[i]; c.idx == idx && c.m == m && c.t == t {
			c.v += d
			return
		}
	}
	ce.ctr = append(ce.ctr, ownCtr{m: m, t: t, idx: idx, v: d})
}

// putOwn records members (newest first) in the own state of metric m,
// keeping the newest time per member. Members at or before the dropped
// mark are not kept exactly (see doc.go).
func (ce *rent) putOwn(m int, ms []memEntry) {
	own := ce.mem[m]
	var idx map[string]int
	if len(own) > 16 && len(ms) > 4 {
		idx = make(map[string]int, len(own)+len(ms))
		for i, s := range own {
			idx[s.member] = i
		}
	}
	mark := max(ce.mark[m], ce.seen[m])
	for _, me := range ms {
		if me.t <= mark {
			continue
		}
		i := -1
		if idx != nil {
			if j, ok := idx[me.k.member]; ok {
				i = j
			}
		} else {
			for j := range own {
				if own[j].member == me.k.member {
					i = j
					break
				}
			}
		}
		if i >= 0 {
			own[i].score = max(own[i].score, me.t)
			continue
		}
		// A copy: batch members are usually sub-strings of whole log
		// lines, which the state would otherwise keep alive.
		member := strings.Clone(me.k.member)
		if idx != nil {
			idx[member] = len(own)
		}
		own = append(own, scored{member, me.t})
	}
	ce.mem[m] = own
}

func (r *RedisStore) base(f *cfamily, entity string) string {
	return r.o.Prefix + ":{" + f.Name + ":" + entity + "}:"
}

func (r *RedisStore) ttl(f *cfamily) time.Duration {
	return time.Duration(f.retain+r.s.lateness)*time.Millisecond + 2*r.o.TTLRefresh
}

func hllKey(base string, m int, res, idx int64) string {
	return base + "l" + strconv.Itoa(m) + ":" + strconv.FormatInt(res/1000, 10) + ":" + strconv.FormatInt(idx, 36)
}

// delIfSame deletes a hash field if it still holds the value read. Fields
// whose whole content is outside every window are deleted this way: their
// writer may still be alive and write a new state meanwhile, which a
// plain HDEL would lose.
const delIfSame = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`

// gread holds the reads of one group.
type gread struct {
	hash    *redis.MapStringStringCmd
	pfc     [][]*redis.IntCmd // per metric, per window: estimates of entities over the cap
	batch   [][]memEntry      // per metric: this Apply's members, newest first
	wrote   bool
	ttl     bool
	assumed int64 // the At estimates are asked for: max(batch, cached)
}

// Apply implements Store: one MULTI/EXEC round trip holding the deferred
// clean-ups of the previous Apply, one HSET of this instance's field per
// entity the batch changes, one HGETALL per touched entity, and the
// applied offsets.
func (r *RedisStore) Apply(ctx context.Context, b *Batch) (*Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.s
	p := &r.p
	if err := s.plan(b, r.wms.base(b), p); err != nil {
		return nil, err
	}
	nowMs := r.now().UnixMilli()
	done, err := r.alreadyApplied(ctx, b)
	if err != nil {
		return nil, err
	}
	if done {
		// The failed Apply's MULTI did run: apply nothing again, only read.
		for i := range p.gAt {
			p.gAt[i] = noTime
		}
		p.nLate = 0
	}

	r.aggs = r.aggs[:0]
	r.ahead = r.ahead[:0]
	for range b.groups {
		r.ahead = append(r.ahead, -1)
	}
	clear(r.mem)
	for i := range b.ops {
		op := &b.ops[i]
		if p.late[i] || op.kind == opTouch || done {
			continue
		}
		cm := &s.fams[b.groups[op.g].f].metrics[op.m]
		if op.kind == opAdd {
			d := countDelta(cm.Kind, op.delta())
			for j, t := range cm.tiers {
				r.addAgg(op.g, op.m, uint8(j), floorDiv(op.t, t.res), d)
			}
			continue
		}
		k := memKey{op.g, op.m, b.member(op)}
		if old, ok := r.mem[k]; !ok || op.t > old {
			r.mem[k] = op.t
		}
	}
	mems := r.mems[:0]
	for k, t := range r.mem {
		mems = append(mems, memEntry{k, t})
	}
	defer func() { clear(mems); r.mems = mems[:0] }()
	slices.SortFunc(mems, func(a, b memEntry) int {
		if c := cmp.Compare(a.k.g, b.k.g); c != 0 {
			return c
		}
		if c := cmp.Compare(a.k.m, b.k.m); c != 0 {
			return c
		}
		if c := cmp.Compare(b.t, a.t); c != 0 {
			return c
		}
		return strings.Compare(b.k.member, a.k.member)
	})

	a := &r.args
	a.reset()
	defer a.reset()
	pipe := r.c.TxPipeline()
	for _, f := range r.pending {
		f(pipe)
	}
	reads := r.reuse(len(b.groups))
	defer r.reuse(0)
	bases := make([]string, len(b.groups))
	mi := 0
	for gi, g := range b.groups {
		f := &s.fams[g.f]
		base := r.base(f, g.entity)
		bases[gi] = base
		hkey := base + "h"
		ce := r.cache[gkey{g.f, g.entity}]
		rd := &reads[gi]
		gAt := p.gAt[gi]
		rd.wrote = gAt != noTime
		rd.ttl = rd.wrote && (ce == nil || nowMs-ce.ttlAt >= r.o.TTLRefresh.Milliseconds())
		rd.assumed = gAt
		if ce != nil {
			rd.assumed = max(rd.assumed, ce.at)
		}
		if ce == nil && rd.wrote {
			ce = r.newRent(g.f, f, hkey)
			r.cache[gkey{g.f, g.entity}] = ce
		}
		if ce != nil && ce.gen != r.gen {
			r.renew(ce)
		}
		if f.firstDis >= 0 {
			rd.batch = take(&r.bpool, len(f.metrics))
		}
		for m := range f.metrics {
			if f.metrics[m].Kind != Distinct {
				continue
			}
			start := mi
			for mi < len(mems) && mems[mi].k.g == int32(gi) && int(mems[mi].k.m) == m {
				mi++
			}
			rd.batch[m] = mems[start:mi]
		}
		if rd.wrote {
			pruneOwn(ce, f, rd.assumed)
			for ai := r.ahead[gi]; ai >= 0; ai = r.aggs[ai].next {
				if ag := &r.aggs[ai]; ag.v != 0 {
					ce.addOwn(ag.m, ag.t, ag.idx, ag.v)
				}
			}
			for m := range f.metrics {
				if f.metrics[m].Kind != Distinct {
					continue
				}
				exact := rd.batch[m]
				if ce.big[m] && len(exact) > s.cap {
					// Over the cap already: only the newest cap can stay
					// exact (see doc.go); the rest go to the HyperLogLogs only.
					exact = exact[:s.cap]
				}
				ce.putOwn(m, exact)
			}
			ce.own = max(ce.own, gAt)
			r.writeOwn(ctx, pipe, f, ce)
		} else if ce != nil && ce.dirty && ce.gen == r.gen {
			// A trim or a takeover changed the own state: it must be in
			// Redis before the read below, which would otherwise see
			// neither the new field nor an adopted field's deletion.
			r.writeOwn(ctx, pipe, f, ce)
		}
		if rd.ttl {
			_ = pipe.Process(ctx, redis.NewBoolCmd(ctx, "expire", a.str(hkey), a.i64(int64(r.ttl(f)/time.Second))))
			for m := range ce.hllTTL {
				clear(ce.hllTTL[m]) // HyperLogLog keys get their TTL again too
			}
		}
		rd.hash = redis.NewMapStringStringCmd(ctx, "hgetall", a.str(hkey))
		_ = pipe.Process(ctx, rd.hash)
		if ce == nil || f.firstDis < 0 {
			continue
		}
		for m := range f.metrics {
			cm := &f.metrics[m]
			if cm.Kind != Distinct || !ce.big[m] {
				continue
			}
			r.pfadd(ctx, pipe, f, base, m, rd.batch[m], ce)
			if rd.assumed == noTime {
				continue
			}
			if rd.pfc == nil {
				rd.pfc = make([][]*redis.IntCmd, len(f.metrics))
			}
			rd.pfc[m] = take(&r.pfcPool, len(cm.Windows))
			for k, w := range cm.Windows {
				res := cm.hllRes[cm.winHLL[k]]
				lo, hi := hllRange(rd.assumed, w.Milliseconds(), res)
				keys := make([]string, 0, hi-lo+1)
				for i := lo; i <= hi; i++ {
					keys = append(keys, hllKey(base, m, res, i))
				}
				rd.pfc[m][k] = pipe.PFCount(ctx, keys...)
			}
		}
	}
	// Entities trimmed or taken over after their last write and not in
	// this batch (no read of theirs is in this MULTI).
	for _, ce := range r.dirty {
		if ce.dirty && ce.gen == r.gen {
			r.writeOwn(ctx, pipe, &s.fams[ce.fam], ce)
		}
	}
	if len(b.marks) > 0 && !done {
		args := make([]any, 0, 2*len(b.marks))
		for st, off := range b.marks {
			wm := p.wm
			if _, sole := soleStream(b); !sole {
				wm = max(wm, r.wms.of(st))
			}
			args = append(args, st, strconv.FormatInt(off, 10)+":"+strconv.FormatInt(wm, 10))
		}
		pipe.HSet(ctx, r.applied, args...)
		pipe.Expire(ctx, r.applied, r.o.AppliedTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		for st := range b.marks {
			r.unsure[st] = true
		}
		// Whatever Redis holds now, the own states may differ from it:
		// every rent starts a new field under a new token (see rent).
		r.oldToks = append(r.oldToks, r.tok)
		if len(r.oldToks) > maxOldToks {
			r.oldToks = slices.Delete(r.oldToks, 0, len(r.oldToks)-maxOldToks)
		}
		r.tok, r.gen = newToken(), r.gen+1
		return nil, r.wrapErr("apply a batch of "+strconv.Itoa(len(b.ops))+" operations", err)
	}
	for _, ce := range r.dirty {
		ce.dirty = false
	}
	r.dirty = r.dirty[:0]

	for st := range b.marks {
		delete(r.unsure, st)
	}
	if !done {
		if r.appliedHere == nil {
			r.appliedHere = make(map[string]int64, len(b.marks))
		}
		for st, off := range b.marks {
			r.appliedHere[st] = max(r.appliedHere[st], off)
		}
	}
	r.wms.advance(b, p.wm)
	r.late += p.nLate
	r.pending = r.pending[:0]
	mem := r.results.get()
	views, ptrs := mem.prepare(len(b.groups))
	res := &Result{late: p.nLate, views: ptrs, mem: mem, pool: &r.results}
	sl := mem.slab(0)
	for gi, g := range b.groups {
		f := &s.fams[g.f]
		ce := r.cache[gkey{g.f, g.entity}]
		rd := &reads[gi]
		if ce != nil && rd.ttl {
			ce.ttlAt = nowMs
		}
		res.views[gi] = &views[gi]
		r.buildView(&views[gi], g, f, bases[gi], rd, ce, sl)
	}
	r.sweepIn -= len(b.ops)
	if r.sweepIn <= 0 {
		r.sweep()
	}
	return res, nil
}

// writeOwn queues the HSET of ce's own field.
func (r *RedisStore) writeOwn(ctx context.Context, pipe redis.Pipeliner, f *cfamily, ce *rent) {
	ce.dirty = false
	r.fb = appendBlob(r.fb[:0], f, ce)
	a := &r.args
	_ = pipe.Process(ctx, redis.NewIntCmd(ctx, "hset", a.str(ce.key), a.str(ce.field), a.str(string(r.fb))))
	if len(ce.adopted) > 0 {
		// Atomic with the HSET that now holds their content. If this
		// MULTI fails the rent starts over (renew) and adopts again from
		// whatever Redis holds.
		pipe.HDel(ctx, ce.key, ce.adopted...)
		ce.adopted = nil
	}
}

// maxOldToks bounds how many earlier tokens an instance recognises.
const maxOldToks = 64

// mine says whether field was written by this process under an earlier
// token or an earlier rent: nobody else writes it, so it can be taken over
// without a race.
func (r *RedisStore) mine(field string) bool {
	rest, ok := strings.CutPrefix(field, r.o.WorkerID)
	if !ok {
		return false
	}
	if strings.HasPrefix(rest, r.tok) {
		return true
	}
	for _, t := range r.oldToks {
		if strings.HasPrefix(rest, t) {
			return true
		}
	}
	return false
}

// adopt merges the content of an earlier field of this process into ce's
// own state and schedules its deletion with the next write. Without this,
// every failed Apply (a new token) or forgotten entity (a new rent) would
// leave one more field per entity to read and decode until its content
// leaves every window; a flaky Redis would multiply them.
func (r *RedisStore) adopt(f *cfamily, ce *rent, field, val string) {
	d := &r.adoptDec
	d.reset()
	at, ok := decodeBlob(val, d)
	if !ok {
		return
	}
	ce.own = max(ce.own, at)
	for _, c := range d.ctrs {
		if c.m >= len(f.metrics) || f.metrics[c.m].Kind == Distinct {
			continue
		}
		if tj := f.metrics[c.m].tierByRes(c.res); tj >= 0 {
			ce.addOwn(MetricID(c.m), uint8(tj), c.idx, c.v)
		}
	}
	for _, mk := range d.marks {
		if mk.m < len(ce.mark) {
			ce.mark[mk.m] = max(ce.mark[mk.m], mk.mark)
		}
	}
	for _, dm := range d.mems {
		if dm.m < len(ce.mem) && f.metrics[dm.m].Kind == Distinct {
			ce.putOwn(dm.m, []memEntry{{memKey{member: dm.member}, dm.t}})
		}
	}
	ce.adopted = append(ce.adopted, field)
	r.markDirty(ce)
}

// reuse returns n zeroed read slots for an Apply, emptying the pools the
// previous Apply took its per-metric state from.
func (r *RedisStore) reuse(n int) []gread {
	clear(r.reads)
	clear(r.pfcPool)
	clear(r.bpool)
	r.pfcPool, r.bpool = r.pfcPool[:0], r.bpool[:0]
	r.reads = slices.Grow(r.reads[:0], n)[:n]
	return r.reads
}

// take hands out n zeroed elements from *pool, growing it in new arrays
// so earlier hand-outs stay valid.
func take[T any](pool *[]T, n int) []T {
	p := *pool
	if len(p)+n > cap(p) {
		p = make([]T, 0, max(2*cap(p), 1024, n))
	}
	out := p[len(p) : len(p)+n : len(p)+n]
	*pool = p[:len(p)+n]
	return out
}

// addAgg adds d to bucket idx of tier t of metric m of group g.
func (r *RedisStore) addAgg(g int32, m MetricID, t uint8, idx int64, d float64) {
	for i := r.ahead[g]; i >= 0; i = r.aggs[i].next {
		if a := &r.aggs[i]; a.idx == idx && a.m == m && a.t == t {
			a.v += d
			return
		}
	}
	r.aggs = append(r.aggs, aggE{next: r.ahead[g], m: m, t: t, idx: idx, v: d})
	r.ahead[g] = int32(len(r.aggs) - 1)
}

// buildView merges the fields of one group's hash into v: this
// instance's own state from memory, every other field decoded. It trims
// the own state when the entity is over the cap and schedules the
// deletion of fields whose content is outside every window.
func (r *RedisStore) buildView(v *View, g bgroup, f *cfamily, base string, rd *gread, ce *rent, sl *viewSlabs) {
	s := r.s
	hash := rd.hash.Val()
	nm := len(f.metrics)
	hkey := base + "h"
	d := &r.dec
	d.reset()
	at := int64(noTime)
	ownSeen := false
	var legacy []string
	for k, val := range hash {
		if ce != nil && k == ce.field {
			ownSeen = true
			continue
		}
		fat, ok := decodeBlob(val, d)
		if !ok {
			if rd.ttl && (val == "" || val[0] >= ' ') {
				// Text: a field of the layout before per-instance
				// states (or written by hand). Nothing reads it.
				legacy = append(legacy, k)
			}
			continue // a corrupt field, or a newer layout: not ours to read
		}
		at = max(at, fat)
		switch {
		case ce != nil && r.mine(k):
			r.mineF = append(r.mineF, oldField{k, val, fat})
		case fat != noTime:
			r.olds = append(r.olds, oldField{k, val, fat})
		}
	}
	if ce != nil && !ownSeen && ce.own != noTime {
		// Our field is gone although we wrote it: Redis lost data (a
		// restart without persistence, an eviction, the key expired).
		// Windows restart from what Redis holds, so must the own state:
		// replaying it would count again what Kafka redelivers.
		r.renew(ce)
	}
	if ce != nil {
		at = max(at, ce.own)
	}
	for _, o := range r.olds {
		if ce != nil && o.at <= at-f.retain-s.lateness {
			// Everything in it is outside every window, for good: its
			// writer is gone, or will write a new state.
			r.pending = append(r.pending, func(p redis.Pipeliner) {
				p.Eval(context.Background(), delIfSame, []string{hkey}, o.field, o.val)
			})
		}
	}
	clear(r.olds)
	r.olds = r.olds[:0]
	if len(legacy) > 0 {
		r.pending = append(r.pending, func(p redis.Pipeliner) { p.HDel(context.Background(), hkey, legacy...) })
	}
	var markBuf [8]int64
	mark := markBuf[:0]
	if nm > len(markBuf) {
		mark = make([]int64, 0, nm)
	}
	for m := range nm {
		x := int64(noTime)
		if ce != nil {
			x = ce.mark[m]
		}
		mark = append(mark, x)
	}
	for _, mk := range d.marks {
		if mk.m < nm {
			mark[mk.m] = max(mark[mk.m], mk.mark)
		}
	}
	mvs := sl.metricViews(nm)
	s.newView(v, g.f, g.entity, at, mvs)
	// Counters: a view holds only the run of buckets with data (as
	// Memory's do), not every bucket the tier keeps.
	fv := r.fv[:0]
	add := func(m, tj int, idx int64, x float64) {
		t := &f.metrics[m].tiers[tj]
		if hi := floorDiv(at, t.res); idx > hi-t.n && idx <= hi {
			fv = append(fv, fieldVal{&mvs[m].tiers[tj], idx, x})
		}
	}
	for m := range f.metrics {
		cm := &f.metrics[m]
		if cm.Kind == Distinct {
			continue
		}
		mvs[m].tiers = sl.series(len(cm.tiers))
		for j, t := range cm.tiers {
			if at != noTime {
				mvs[m].tiers[j].first = floorDiv(at, t.res) + 1 // empty until a bucket shows up
			}
		}
	}
	if at != noTime {
		if ce != nil {
			for _, c := range ce.ctr {
				add(int(c.m), int(c.t), c.idx, c.v)
			}
		}
		for _, c := range d.ctrs {
			if c.m < nm {
				if tj := f.metrics[c.m].tierByRes(c.res); tj >= 0 {
					add(c.m, tj, c.idx, c.v)
				}
			}
		}
	}
	for m := range f.metrics {
		for j := range mvs[m].tiers {
			sr := &mvs[m].tiers[j]
			lo, hi := int64(math.MaxInt64), sr.first-1
			for _, x := range fv {
				if x.sr == sr {
					lo = min(lo, x.idx)
				}
			}
			if lo > hi {
				continue
			}
			sr.first, sr.vals = lo, sl.floatsN(int(hi-lo+1))
			for _, x := range fv {
				if x.sr == sr {
					sr.vals[x.idx-lo] += x.x // one field per writing instance
				}
			}
		}
	}
	clear(fv)
	r.fv = fv[:0]
	for m := range f.metrics {
		cm := &f.metrics[m]
		if cm.Kind != Distinct {
			continue
		}
		r.distinctView(v, cm, m, mvs, mark[m], at, ce, rd, base, sl)
	}
	if ce != nil && at != noTime {
		ce.at = max(ce.at, at)
	}
	// This view counted this process's earlier fields like any other;
	// from the next write on the own field holds their content instead.
	for _, o := range r.mineF {
		r.adopt(f, ce, o.field, o.val)
	}
	clear(r.mineF)
	r.mineF = r.mineF[:0]
	for m := range f.metrics {
		cm := &f.metrics[m]
		dv := mvs[m].dis
		if dv == nil || dv.est == nil {
			continue
		}
		for k, w := range cm.Windows {
			dv.est[k] = -1
			if c := rd.pfc[m][k]; c != nil && wantEstimate(v, cm, dv.evicted, w) {
				dv.est[k] = float64(c.Val())
			}
		}
	}
}

// distinctView fills metric m's part of v from the own members and the
// decoded ones (newest time per member over every field; members at or
// before the dropped mark are not counted exactly), and trims the own
// state when the entity is over the cap.
func (r *RedisStore) distinctView(v *View, cm *cmetric, m int, mvs []metricView, mark, at int64, ce *rent, rd *gread, base string, sl *viewSlabs) {
	s := r.s
	all := r.scs[:0]
	if ce != nil {
		all = append(all, ce.mem[m]...)
	}
	foreign := false
	for _, dm := range r.dec.mems {
		if dm.m == m {
			all = append(all, scored{dm.member, dm.t})
			foreign = true
		}
	}
	if foreign && len(all) > 1 {
		slices.SortFunc(all, func(a, b scored) int {
			if c := strings.Compare(a.member, b.member); c != 0 {
				return c
			}
			return cmp.Compare(b.score, a.score)
		})
		all = slices.CompactFunc(all, func(a, b scored) bool { return a.member == b.member })
	}
	kept := all[:0]
	for _, sm := range all {
		if sm.score > mark {
			kept = append(kept, sm)
		}
	}
	all = kept
	r.scs = all
	dv := sl.disView()
	dv.evicted = mark
	mvs[m].dis = dv
	live := at - cm.maxWin
	n := 0
	for _, sm := range all {
		if sm.score > live {
			n++
		}
	}
	dv.members = sl.scored(n)[:0]
	for _, sm := range all {
		if sm.score > live {
			dv.members = append(dv.members, sm)
		}
	}
	if at == noTime || ce == nil {
		return
	}
	ce.seen[m] = mark
	wasBig := ce.big[m]
	if wasBig && rd.pfc != nil && rd.pfc[m] != nil {
		dv.est = sl.floatsN(len(cm.Windows))
	}
	scores := r.scores[:0]
	for _, sm := range all {
		scores = append(scores, sm.score)
	}
	r.scores = scores
	cut, evict := distinctTrim(scores, at, cm.maxWin, s.cap)
	nev := mark
	if evict {
		nev = max(nev, cut)
	}
	nowBig := nev > live
	if nowBig && !wasBig {
		// Just over the cap: every live member goes into the
		// HyperLogLogs, from the next Apply on.
		lm := make([]memEntry, len(dv.members))
		for i, sm := range dv.members {
			lm[i] = memEntry{memKey{member: sm.member}, sm.score}
		}
		slices.SortFunc(lm, func(a, b memEntry) int { return cmp.Compare(b.t, a.t) })
		f := &s.fams[v.Family]
		r.pending = append(r.pending, func(p redis.Pipeliner) { r.pfadd(context.Background(), p, f, base, m, lm, ce) })
	}
	ce.big[m] = nowBig
	if evict {
		ce.seen[m] = nev
		if ce.mark[m] < nev {
			ce.mark[m] = nev
			r.markDirty(ce)
		}
	}
	// The own state keeps what is above the cut and inside a window.
	drop := max(live, mark)
	if evict {
		drop = max(drop, cut)
	}
	own := ce.mem[m]
	keep := own[:0]
	for _, sm := range own {
		if sm.score > drop {
			keep = append(keep, sm)
		}
	}
	if len(keep) < len(own) {
		clear(own[len(keep):])
		if evict {
			r.markDirty(ce)
		}
	}
	ce.mem[m] = keep
}

// markDirty schedules a rewrite of ce's field with the next Apply.
func (r *RedisStore) markDirty(ce *rent) {
	if !ce.dirty {
		ce.dirty = true
		r.dirty = append(r.dirty, ce)
	}
}

// NewRedis returns a store on client. The client must not retry commands
// by itself (NewClient builds one that does not): a retried MULTI whose
// reply was lost would apply a batch twice.
func NewRedis(client redis.UniversalClient, s Schema, opts RedisOptions) (*RedisStore, error) {
	cs, err := compile(s)
	if err != nil {
		return nil, err
	}
	switch c := client.(type) {
	case *redis.Client:
		if n := c.Options().MaxRetries; n > 0 {
			return nil, fmt.Errorf("window: the Redis client retries commands (MaxRetries=%d): a retried MULTI whose reply was lost would count a batch twice; set MaxRetries: -1 or build the client with window.NewClient", n)
		}
	case *redis.ClusterClient:
		if n := c.Options().MaxRetries; n > 0 {
			return nil, fmt.Errorf("window: the Redis Cluster client retries commands (MaxRetries=%d): a retried MULTI whose reply was lost would count a batch twice; set MaxRetries: -1 or build the client with window.NewClient", n)
		}
	}
	if opts.Prefix == "" {
		opts.Prefix = "gw"
	}
	if opts.TTLRefresh <= 0 {
		opts.TTLRefresh = 30 * time.Second
	}
	if opts.AppliedTTL <= 0 {
		opts.AppliedTTL = 7 * 24 * time.Hour
	}
	return &RedisStore{
		c: client, s: cs, o: opts,
		applied: opts.Prefix + ":applied",
		wms:     newWatermarks(), cache: make(map[gkey]*rent), unsure: make(map[string]bool),
		mem: make(map[memKey]int64),
		now: time.Now,
		tok: newToken(),
	}, nil
}

// alreadyApplied is called before an Apply that follows a failed one: if
// Redis already holds all of b's MarkApplied offsets, the failed MULTI ran
// and only its reply was lost, so b must not be applied again. This costs
// a round trip only after errors.
func (r *RedisStore) alreadyApplied(ctx context.Context, b *Batch) (bool, error) {
	if len(b.marks) == 0 {
		return false, nil
	}
	// A retry after this instance's own successful Apply (a later step of
	// the caller failed, nothing was committed): known without asking.
	known := true
	for st, off := range b.marks {
		if a, ok := r.appliedHere[st]; !ok || off > a {
			known = false
			break
		}
	}
	if known {
		return true, nil
	}
	check := false
	for st := range b.marks {
		check = check || r.unsure[st]
	}
	if !check {
		return false, nil
	}
	streams := make([]string, 0, len(b.marks))
	for st := range b.marks {
		streams = append(streams, st)
	}
	vals, err := r.c.HMGet(ctx, r.applied, streams...).Result()
	if err != nil {
		return false, r.wrapErr("check whether the previous, failed batch was applied", err)
	}
	for i, st := range streams {
		sv, ok := vals[i].(string)
		if !ok {
			return false, nil
		}
		offS, _, _ := strings.Cut(sv, ":")
		off, err := strconv.ParseInt(offS, 10, 64)
		if err != nil || off < b.marks[st] {
			return false, nil
		}
	}
	return true, nil
}

// pfadd adds members to their HyperLogLog buckets. A bucket key gets its
// TTL the first time this worker writes it (ce.hllTTL remembers which),
// not with every PFADD.
func (r *RedisStore) pfadd(ctx context.Context, pipe redis.Pipeliner, f *cfamily, base string, m int, mems []memEntry, ce *rent) {
	if len(mems) == 0 {
		return
	}
	cm := &f.metrics[m]
	if ce.hllTTL == nil {
		ce.hllTTL = make([]map[hllBucket]bool, len(f.metrics))
	}
	if ce.hllTTL[m] == nil {
		ce.hllTTL[m] = map[hllBucket]bool{}
	}
	seen := ce.hllTTL[m]
	a := &r.args
	for _, res := range cm.hllRes {
		// mems are newest first, so a bucket's members are consecutive.
		for i := 0; i < len(mems); {
			k := hllBucket{res, floorDiv(mems[i].t, res)}
			key := a.str(hllKey(base, m, k.res, k.idx))
			st := a.mark()
			a.add("pfadd", key)
			for ; i < len(mems) && floorDiv(mems[i].t, res) == k.idx; i++ {
				a.add(a.str(mems[i].k.member))
			}
			_ = pipe.Process(ctx, redis.NewIntCmd(ctx, a.cmd(st)...))
			if !seen[k] {
				seen[k] = true
				_ = pipe.Process(ctx, redis.NewBoolCmd(ctx, "expire", key, a.i64(int64(r.ttl(f)/time.Second))))
			}
		}
	}
	// Forget buckets older than every window: they are never written again
	// (their events would be too late) and the map stays small.
	if len(seen) > 4*len(cm.hllRes)*64 {
		newest := mems[0].t
		for k := range seen {
			if (k.idx+1)*k.res < newest-cm.maxWin-r.s.lateness {
				delete(seen, k)
			}
		}
	}
}

// hllBucket names one HyperLogLog bucket key of a metric.
type hllBucket struct{ res, idx int64 }

func (r *RedisStore) sweep() {
	r.sweepIn = max(len(r.cache), 4096)
	if r.wms.global == noTime {
		return
	}
	for k, e := range r.cache {
		// Its field stays in Redis until it expires or a reader deletes
		// it; met again, the entity gets a new field (see rent).
		if e.at < r.wms.global-r.s.lateness-r.s.fams[k.f].retain && !e.dirty {
			delete(r.cache, k)
		}
	}
}

// tierByRes is the tier of m with bucket length res, -1 if none.
func (m *cmetric) tierByRes(res int64) int {
	for j := range m.tiers {
		if m.tiers[j].res == res {
			return j
		}
	}
	return -1
}

func (r *RedisStore) wrapErr(what string, err error) error {
	var addr string
	switch c := r.c.(type) {
	case *redis.Client:
		addr = c.Options().Addr
	case *redis.ClusterClient:
		addr = strings.Join(c.Options().Addrs, ",")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("window: %s in Redis %s: %w (nothing may be assumed applied; retry the batch)", what, addr, err)
	}
	return fmt.Errorf("window: %s in Redis %s: %w (nothing may be assumed applied: check that Redis is running and reachable and the credentials/TLS settings are right, then retry the same batch)", what, addr, err)
}

// AppliedOffsets implements Store. It also raises this store's lateness
// watermark to the one stored with those offsets, so a worker taking over
// streams judges late events as the previous owner did.
func (r *RedisStore) AppliedOffsets(ctx context.Context, streams []string) (map[string]int64, error) {
	out := make(map[string]int64, len(streams))
	if len(streams) == 0 {
		return out, nil
	}
	vals, err := r.c.HMGet(ctx, r.applied, streams...).Result()
	if err != nil {
		return nil, r.wrapErr("read applied offsets from "+r.applied, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, st := range streams {
		out[st] = -1
		sv, ok := vals[i].(string)
		if !ok {
			continue
		}
		offS, wmS, _ := strings.Cut(sv, ":")
		off, err := strconv.ParseInt(offS, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("window: applied offset of stream %q in %s is %q, not a number: was the key written by another program?", st, r.applied, sv)
		}
		out[st] = off
		if wm, err := strconv.ParseInt(wmS, 10, 64); err == nil && wm != math.MinInt64 {
			r.wms.restore(st, wm)
		}
	}
	return out, nil
}

// Late is the cumulative number of operations this store dropped as too late.
func (r *RedisStore) Late() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.late
}

// Close closes nothing it does not own: the client belongs to the caller.
func (r *RedisStore) Close() error { return nil }
