package window

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
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
	// WorkerID names this store instance in its At and dropped-mark hash
	// fields, followed by a random token per instance (default: random).
	WorkerID string
}

// RedisStore keeps windows in Redis, shared by every worker. doc.go has the
// key layout and crash semantics; in short:
//
//	<prefix>:{f:e}:h   "<metric>:<bucket s>:<bucket base36>:<token>" -> counter,
//	                   one field per writing store instance (see ownCounters);
//	                   "@<worker><token>" -> At, "!<metric>@<worker><token>" ->
//	                   newest dropped time (families with a Count/Sum metric;
//	                   a reader takes the maximum over instances)
//	<prefix>:{f:e}:d<m> member -> newest event ms; the "\x00A"/"\x00E"
//	                   sentinels only in families without a hash
//
// Per touched entity an Apply queues one HSET (counters and At), one ZADD
// GT per Distinct metric, HGETALL, one ZCOUNT per counted window, and an
// EXPIRE per key for new keys and then every TTLRefresh; BENCHMARKS.md has
// the measured costs.
type RedisStore struct {
	c       redis.UniversalClient
	s       *schema
	o       RedisOptions
	applied string
	cluster bool

	mu      sync.Mutex
	wms     watermarks
	late    int64
	cache   map[gkey]*rent
	pending []func(redis.Pipeliner)
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

	// tok ends the counter fields this store instance writes (":" and 8
	// random characters); gen counts its changes. See ownCounters.
	tok        string
	gen        uint32
	sweptBelow int64 // sweep dropped entities holding buckets that start before this
	fv         []fieldVal
	args       cmdArgs
	fb         []byte
	// Per-Apply read state, reused (see reuse).
	reads   []gread
	zpool   []zread
	cntPool []*redis.IntCmd

	p plan
	// Counter updates per group, as short linked lists in one slice: an
	// entity touches a few buckets per batch, so a scan beats a map.
	aggs  []aggE
	ahead []int32 // per group: first aggs index, -1 if none
	mem   map[memKey]int64
}

// rent is what this worker remembers of an entity between Applies.
type rent struct {
	ttlAt int64 // wall-clock ms of the last EXPIRE
	own   int64 // this worker's "@<id>" At field (count-only families)
	at    int64 // entity At seen on the last read
	big   []bool
	live  []int  // per metric: upper bound of live members after the last trim, -1 unknown
	wide  []bool // per metric: sentinelWide sent since the last TTL refresh
	// hllTTL: per metric, the HyperLogLog bucket keys this worker has set a TTL on.
	hllTTL []map[hllBucket]bool
	// Own counter fields (see ownCounters): their values in Redis under
	// token generation gen. A bucket starting before unk that ctr does not
	// hold may have a value this cache never saw.
	gen uint32
	unk int64
	ctr []ownCtr
}

// fieldVal is one counter field read, for the bucket idx of series sr.
type fieldVal struct {
	sr  *series
	idx int64
	x   float64
}

// ownCtr is the value of one of this instance's counter fields in Redis.
type ownCtr struct {
	m   MetricID
	t   uint8
	idx int64
	v   float64
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

// Members of a Distinct zset that carry state rather than a member. Real
// members starting with NUL are stored with one more NUL in front.
// sentinelAt's score is At+sentinelShift (above every member),
// sentinelEvicted's the newest dropped time-sentinelShift (below every
// member), both kept as maxima by ZADD GT.
const (
	sentinelAt      = "\x00A"
	sentinelEvicted = "\x00E"
)

func escMember(m string) string {
	if strings.HasPrefix(m, "\x00") {
		return "\x00" + m
	}
	return m
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
	if opts.WorkerID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		opts.WorkerID = hex.EncodeToString(b[:])
	}
	_, cluster := client.(*redis.ClusterClient)
	return &RedisStore{
		c: client, s: cs, o: opts, cluster: cluster,
		applied: opts.Prefix + ":applied",
		wms:     newWatermarks(), cache: make(map[gkey]*rent), unsure: make(map[string]bool),
		mem: make(map[memKey]int64),
		now: time.Now,
		tok: newToken(), sweptBelow: noTime,
	}, nil
}

// Own counters. Counter buckets are kept per writing store instance: field
// "<metric>:<res s>:<bucket base36>:<token>", the token random per instance
// and renewed after every failed Apply, and a view sums a bucket's fields
// over tokens. An instance is the only writer of its fields, so it knows
// their values and sets them with one HSET per entity (new value = known
// value + the batch's delta) instead of one HINCRBY per bucket, which was
// the most frequent command. This keeps the exactness guarantee: the HSET
// is in the MULTI with the applied offsets like the HINCRBYs were, and a
// worker replaying after a crash is another instance, writing its own
// fields from zero, so the crashed worker's fields hold exactly what its
// applied offsets cover. After a failed Apply nothing may be assumed about
// what Redis holds, so the instance takes a new token (gen) and forgets
// every known value. A bucket whose value this instance may have written
// but no longer knows (see rent.unk, sweptBelow) is updated with HINCRBY.
// With one worker per entity a bucket has one field, as before; entities
// written by several workers have one per worker and bucket.
func newToken() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return ":" + base64.RawURLEncoding.EncodeToString(b[:])
}

// ownCounters prepares ce's counter cache for an Apply whose newest
// expected At is ref: it drops values of another token generation, and
// values of buckets no view can show any more (older than their tier keeps
// before ref; At never goes back, so they stay invisible).
func (r *RedisStore) ownCounters(ce *rent, f *cfamily, ref int64) {
	if ce.gen != r.gen {
		ce.gen, ce.unk, ce.ctr = r.gen, r.sweptBelow, ce.ctr[:0]
		return
	}
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

// ownAdd returns the new value of ce's field for bucket idx of tier t of
// metric m after adding d, and false if this instance may have written it
// before without knowing its value (the caller then uses HINCRBY).
func (ce *rent) ownAdd(m MetricID, t uint8, idx, res int64, d float64) (float64, bool) {
	for i := range ce.ctr {
		if c := &ce.ctr[i]; c.idx == idx && c.m == m && c.t == t {
			c.v += d
			return c.v, true
		}
	}
	if ce.unk != noTime && idx*res < ce.unk {
		return 0, false
	}
	ce.ctr = append(ce.ctr, ownCtr{m: m, t: t, idx: idx, v: d})
	return d, true
}

// newRent starts remembering an entity; its counter cache knows the
// values of this token generation, except what a sweep made it forget.
func (r *RedisStore) newRent(f *cfamily) *rent {
	ce := &rent{own: noTime, at: noTime, big: make([]bool, len(f.metrics)), wide: make([]bool, len(f.metrics)), live: make([]int, len(f.metrics)),
		gen: r.gen, unk: r.sweptBelow}
	for m := range ce.live {
		ce.live[m] = -1
	}
	return ce
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

// Score layout of a Distinct zset: members carry their newest event time
// (ms), which is always inside (-memberBound, memberBound). The sentinels sit
// outside that range so ZCOUNT and rank reads over members never see them.
const (
	sentinelShift = 1 << 52
	memberBound   = 1 << 51
)

var (
	memberMax = strconv.FormatInt(memberBound, 10)
	memberMin = strconv.FormatInt(-memberBound, 10)
)

// staleBunch is how many stale hash fields wait for one HDEL.
const staleBunch = 8

// sentinelWide is a member longer than Redis's zset-max-listpack-value
// (64 bytes by default), added to the member sets of busy entities (live
// members >= cap). It makes Redis keep that set as a skiplist and dict
// rather than a listpack: a listpack finds a member by scanning the whole
// set, so ZADDing a batch of members into a set of ~100 cost ~1-3 µs per
// member, the largest Redis cost measured. Quiet entities stay compact
// listpacks. Its score is below every member's and the dropped mark's, so
// no read sees it.
var sentinelWide = "\x00W" + strings.Repeat("-", 80)

const sentinelWideScore = -3 * (1 << 51)

// zread holds the read commands of one Distinct metric of one group.
type zread struct {
	sc    *redis.FloatSliceCmd // ZMSCORE sentinelAt sentinelEvicted (families without a hash)
	hev   int64                // the dropped mark from the hash (families with one)
	cnt   []*redis.IntCmd      // per cmetric.cntWins, from assumed At
	cut   *redis.ZSliceCmd     // the (cap+1)-th newest live member, when a trim may be due
	pfc   []*redis.IntCmd      // per window, entities over the cap
	key   string               // the zset
	batch []memEntry           // this Apply's members, newest first
	sent  int                  // how many of them went into the zset
	full  []scored             // all live members (second round trip), if read
	read  bool                 // full was read
}

// gread holds the read commands of one group.
type gread struct {
	hash    *redis.MapStringStringCmd
	z       []zread // per metric (zero for Count/Sum)
	wrote   bool
	ttl     bool
	assumed int64 // the At the counts were asked for: max(batch, cached)
	at      int64 // the At Redis returned
	full    bool  // counts could not be trusted: read members in a second round trip
}

type memEntry struct {
	k memKey
	t int64
}

// Apply implements Store: one MULTI/EXEC round trip holding the deferred
// clean-ups of the previous Apply, the batch's aggregated updates, the
// reads for every touched entity and the applied offsets. Distinct metrics
// are read as counts (ZCOUNT per window from the At this worker expects),
// not members; a second, read-only round trip is made only for the few
// entities where that is not enough (see fixups).
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
			d := countDelta(cm.Kind, op.delta)
			for j, t := range cm.tiers {
				r.addAgg(op.g, op.m, uint8(j), floorDiv(op.t, t.res), d)
			}
			continue
		}
		k := memKey{op.g, op.m, op.member}
		if old, ok := r.mem[k]; !ok || op.t > old {
			r.mem[k] = op.t
		}
	}
	mems := make([]memEntry, 0, len(r.mem))
	for k, t := range r.mem {
		mems = append(mems, memEntry{k, t})
	}
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
		// Families with a hash keep At and the dropped marks there, in
		// per-instance fields (see groupAt); others in the first member set.
		useHash := f.hasCount || f.firstDis < 0
		hk := a.str(hkey)
		hset := a.mark()
		a.add("hset", hk)
		if r.ahead[gi] >= 0 {
			own := ce
			if own == nil {
				// New to this worker: its rent is made now, for the
				// counter cache; the code below still sees ce == nil.
				own = r.newRent(f)
				r.cache[gkey{g.f, g.entity}] = own
			}
			r.ownCounters(own, f, rd.assumed)
			for ai := r.ahead[gi]; ai >= 0; ai = r.aggs[ai].next {
				ag := &r.aggs[ai]
				if ag.v == 0 {
					continue
				}
				cm := &f.metrics[ag.m]
				t := &cm.tiers[ag.t]
				r.fb = append(strconv.AppendInt(append(r.fb[:0], t.name...), ag.idx, 36), r.tok...)
				field := string(r.fb)
				v, known := own.ownAdd(ag.m, ag.t, ag.idx, t.res, ag.v)
				switch {
				case !known && cm.Kind == Count:
					pipe.HIncrBy(ctx, hkey, field, int64(ag.v))
				case !known:
					pipe.HIncrByFloat(ctx, hkey, field, ag.v)
				case cm.Kind == Count:
					a.add(a.str(field), a.i64(int64(v)))
				default:
					a.add(a.str(field), a.f64(v))
				}
			}
		}
		if useHash && rd.wrote {
			own := gAt
			if ce != nil {
				own = max(own, ce.own)
			}
			a.add(a.str("@"+r.o.WorkerID+r.tok), a.i64(own))
		}
		if a.from(hset) > 2 {
			_ = pipe.Process(ctx, redis.NewIntCmd(ctx, a.cmd(hset)...))
		} else {
			a.drop(hset)
		}
		ttlSec := a.i64(int64(r.ttl(f) / time.Second))
		if rd.ttl && useHash {
			_ = pipe.Process(ctx, redis.NewBoolCmd(ctx, "expire", hk, ttlSec))
		}
		if f.firstDis >= 0 {
			rd.z = take(&r.zpool, len(f.metrics))
		}
		for m := range f.metrics {
			cm := &f.metrics[m]
			if cm.Kind != Distinct {
				continue
			}
			zr := &rd.z[m]
			zkey := base + "d" + strconv.Itoa(m)
			zr.key = zkey
			zk := a.str(zkey)
			zadd := a.mark()
			a.add("zadd", zk, "gt")
			start := mi
			for mi < len(mems) && mems[mi].k.g == int32(gi) && int(mems[mi].k.m) == m {
				mi++
			}
			zr.batch = mems[start:mi]
			exact := zr.batch
			if ce != nil && ce.big[m] && len(exact) > s.cap {
				// Over the cap already: only the newest cap can stay exact
				// (see doc.go); the rest go to the HyperLogLogs only.
				exact = exact[:s.cap]
			}
			zr.sent = len(exact)
			for _, me := range exact {
				a.add(a.f64(float64(me.t)), a.str(escMember(me.k.member)))
			}
			if m == f.firstDis && rd.wrote && !useHash {
				a.add(a.f64(float64(gAt+sentinelShift)), sentinelAt)
			}
			if ce != nil && a.from(zadd) > 3 && !ce.wide[m] && ce.live[m] >= s.cap {
				// Large sets: see sentinelWide. Sent once per TTL refresh,
				// in case the key was lost and recreated meanwhile.
				a.add(a.f64(sentinelWideScore), a.str(sentinelWide))
				ce.wide[m] = true
			}
			if a.from(zadd) > 3 {
				_ = pipe.Process(ctx, redis.NewIntCmd(ctx, a.cmd(zadd)...))
			} else {
				a.drop(zadd)
			}
			if rd.ttl {
				_ = pipe.Process(ctx, redis.NewBoolCmd(ctx, "expire", zk, ttlSec))
			}
			if rd.ttl && ce != nil {
				// Members outside every window are invisible; drop them
				// along with the TTL refresh (the cap trims do the rest).
				pipe.ZRemRangeByScore(ctx, zkey, memberMin, strconv.FormatInt(rd.assumed-cm.maxWin, 10))
			}
			if rd.ttl && ce != nil && m < len(ce.hllTTL) {
				clear(ce.hllTTL[m]) // HyperLogLog keys get their TTL again too
			}
			if rd.ttl && ce != nil {
				ce.wide[m] = false
			}
			if ce != nil && ce.big[m] {
				r.pfadd(ctx, pipe, f, base, m, zr.batch, ce)
			}
		}
		if useHash {
			rd.hash = redis.NewMapStringStringCmd(ctx, "hgetall", hk)
			_ = pipe.Process(ctx, rd.hash)
		}
		for m := range f.metrics {
			cm := &f.metrics[m]
			if cm.Kind != Distinct {
				continue
			}
			zr := &rd.z[m]
			zkey := zr.key
			if !useHash {
				zr.sc = pipe.ZMScore(ctx, zkey, sentinelAt, sentinelEvicted)
			}
			if rd.assumed == noTime {
				continue // nothing to count from: the second round trip reads
			}
			zr.cnt = take(&r.cntPool, len(cm.cntWins))
			for k, w := range cm.cntWins {
				zr.cnt[k] = redis.NewIntCmd(ctx, "zcount", a.str(zkey), a.str("("+strconv.FormatInt(rd.assumed-min(w, cm.maxWin), 10)), a.str(memberMax))
				_ = pipe.Process(ctx, zr.cnt[k])
			}
			// A trim may be due when the members kept after the last Apply
			// plus this batch's can exceed the cap: ask for the newest one
			// beyond the cap now, so the trim needs no second round trip.
			// An entity new to this worker is usually new to Redis: if it
			// is not, and over the cap, fixups reads it whole.
			if ce == nil && zr.sent > s.cap || ce != nil && (ce.live[m] < 0 || ce.live[m]+zr.sent > s.cap) {
				zr.cut = pipe.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: zkey,
					Start: memberMax, Stop: "(" + strconv.FormatInt(rd.assumed-cm.maxWin, 10),
					ByScore: true, Rev: true, Offset: int64(s.cap), Count: 1})
			}
			if ce == nil || !ce.big[m] {
				continue
			}
			zr.pfc = make([]*redis.IntCmd, len(cm.Windows))
			for k, w := range cm.Windows {
				res := cm.hllRes[cm.winHLL[k]]
				lo, hi := hllRange(rd.assumed, w.Milliseconds(), res)
				keys := make([]string, 0, hi-lo+1)
				for i := lo; i <= hi; i++ {
					keys = append(keys, hllKey(base, m, res, i))
				}
				zr.pfc[k] = pipe.PFCount(ctx, keys...)
			}
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
		// Whatever Redis holds now, this instance's known counter values
		// may be wrong: write new fields from zero (see ownCounters).
		r.tok, r.gen, r.sweptBelow = newToken(), r.gen+1, noTime
		return nil, r.wrapErr("apply a batch of "+strconv.Itoa(len(b.ops))+" operations", err)
	}

	// Committed: from here on only the optional read-only round trip may
	// fail, and then the views fall back to what they already know.
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
	r.fixups(ctx, b, bases, reads)
	res := &Result{late: p.nLate, views: make([]*View, len(b.groups))}
	views := make([]View, len(b.groups))
	var sl viewSlabs
	for gi, g := range b.groups {
		f := &s.fams[g.f]
		k := gkey{g.f, g.entity}
		ce := r.cache[k]
		if ce == nil && reads[gi].wrote {
			ce = r.newRent(f)
			r.cache[k] = ce
		}
		if ce != nil && reads[gi].ttl {
			ce.ttlAt = nowMs
		}
		if ce != nil && (f.hasCount || f.firstDis < 0) && reads[gi].wrote {
			ce.own = max(ce.own, p.gAt[gi])
		}
		res.views[gi] = &views[gi]
		r.buildView(&views[gi], g, f, bases[gi], &reads[gi], ce, &sl)
	}
	r.sweepIn -= len(b.ops)
	if r.sweepIn <= 0 {
		r.sweep()
	}
	return res, nil
}

// reuse returns n zeroed read slots for an Apply, emptying the pools the
// previous Apply took its per-metric state from. Views keep nothing of
// them: slices a view shares (members read) are dropped here, not reused.
func (r *RedisStore) reuse(n int) []gread {
	clear(r.reads)
	clear(r.zpool)
	clear(r.cntPool)
	r.zpool, r.cntPool = r.zpool[:0], r.cntPool[:0]
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

// zAt reads the At sentinel's score from a ZMSCORE reply.
func zSentinels(c *redis.FloatSliceCmd) (at, evicted int64) {
	at, evicted = noTime, noTime
	if c == nil || c.Err() != nil {
		return
	}
	v := c.Val()
	// go-redis reports a missing member as 0; a real sentinel is never 0
	// (it is shifted by 2^52).
	if len(v) > 0 && v[0] != 0 {
		at = int64(v[0]) - sentinelShift
	}
	if len(v) > 1 && v[1] != 0 {
		evicted = int64(v[1]) + sentinelShift
	}
	return
}

// groupAt is the entity's At as Redis returned it.
func groupAt(f *cfamily, rd *gread) int64 {
	at := int64(noTime)
	if rd.hash == nil {
		if f.firstDis >= 0 {
			at, _ = zSentinels(rd.z[f.firstDis].sc)
		}
		return at
	}
	for m := range rd.z {
		rd.z[m].hev = noTime
	}
	// "@<worker><token>" -> At and "!<metric>@<worker><token>" -> newest
	// dropped time, one field per writing instance: each instance's value
	// only grows, and readers take the maximum, as ZADD GT did.
	for k, val := range rd.hash.Val() {
		switch {
		case strings.HasPrefix(k, "@"):
			if t, err := strconv.ParseInt(val, 10, 64); err == nil {
				at = max(at, t)
			}
		case strings.HasPrefix(k, "!"):
			ms, _, _ := strings.Cut(k[1:], "@")
			m, err1 := strconv.Atoi(ms)
			t, err2 := strconv.ParseInt(val, 10, 64)
			if err1 == nil && err2 == nil && m < len(rd.z) {
				rd.z[m].hev = max(rd.z[m].hev, t)
			}
		}
	}
	return at
}

// evicted is the metric's newest dropped time: from ZMSCORE, or from the
// hash for families that have one.
func (zr *zread) evicted() int64 {
	if zr.sc == nil {
		return zr.hev
	}
	_, ev := zSentinels(zr.sc)
	return ev
}

// fixups reads, in one read-only round trip, the live members of the
// entities whose counts cannot be used: the At Redis returned is not the
// one the counts were asked for (another worker moved it, Redis lost data,
// or this worker had never seen the entity), a trim is due but its cut was
// not asked for, or the entity has just gone over the cap (its members must
// go into the HyperLogLogs). With one worker per entity this happens only
// for entities new to the worker and read without writes, and once per
// entity crossing the cap. If the round trip fails, those views keep what
// they have (counts from the expected At, or nothing) and no trim is
// scheduled for them; the next Apply tries again.
func (r *RedisStore) fixups(ctx context.Context, b *Batch, bases []string, reads []gread) {
	s := r.s
	var cmds []*redis.ZSliceCmd
	var pipe redis.Pipeliner
	for gi, g := range b.groups {
		f := &s.fams[g.f]
		rd := &reads[gi]
		rd.at = groupAt(f, rd)
		if f.firstDis < 0 || rd.at == noTime {
			continue
		}
		ce := r.cache[gkey{g.f, g.entity}]
		full := rd.at != rd.assumed
		for m := range f.metrics {
			cm := &f.metrics[m]
			zr := &rd.z[m]
			if cm.Kind != Distinct || full || ce == nil && !rd.wrote {
				continue
			}
			live := zr.liveCount(cm)
			if live <= s.cap {
				continue
			}
			cut, ok := zr.cutScore()
			ev := zr.evicted()
			wasBig := ce != nil && ce.big[m]
			if !ok || !wasBig && max(ev, cut) > rd.at-cm.maxWin {
				full = true
			}
		}
		if !full {
			continue
		}
		rd.full = true
		if pipe == nil {
			pipe = r.c.Pipeline()
		}
		for m := range f.metrics {
			cm := &f.metrics[m]
			if cm.Kind != Distinct {
				continue
			}
			cmds = append(cmds, pipe.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: bases[gi] + "d" + strconv.Itoa(m),
				Start: memberMax, Stop: "(" + strconv.FormatInt(rd.at-cm.maxWin, 10), ByScore: true, Rev: true}))
		}
	}
	if pipe == nil {
		return
	}
	if _, err := pipe.Exec(ctx); err != nil {
		for gi := range reads {
			reads[gi].full = false
		}
		return
	}
	ci := 0
	for gi, g := range b.groups {
		rd := &reads[gi]
		if !rd.full {
			continue
		}
		f := &s.fams[g.f]
		for m := range f.metrics {
			if f.metrics[m].Kind != Distinct {
				continue
			}
			zr := &rd.z[m]
			zr.read = true
			for _, z := range cmds[ci].Val() {
				mem, _ := z.Member.(string)
				zr.full = append(zr.full, scored{unescMember(mem), int64(z.Score)})
			}
			ci++
		}
	}
}

// liveCount is the number of live members (ZCOUNT over the longest window).
func (zr *zread) liveCount(cm *cmetric) int {
	if zr.read {
		return len(zr.full)
	}
	for k, w := range cm.cntWins {
		if w >= cm.maxWin && k < len(zr.cnt) {
			return int(zr.cnt[k].Val())
		}
	}
	return 0
}

// cutScore is the score of the newest live member beyond the cap.
func (zr *zread) cutScore() (int64, bool) {
	if zr.cut == nil || zr.cut.Err() != nil || len(zr.cut.Val()) == 0 {
		return 0, false
	}
	return int64(zr.cut.Val()[0].Score), true
}

func unescMember(m string) string {
	if strings.HasPrefix(m, "\x00") {
		return m[1:]
	}
	return m
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

// buildView parses one group's reads into v and schedules the clean-ups they
// call for (stale fields, trimmed members) for the next Apply.
func (r *RedisStore) buildView(v *View, g bgroup, f *cfamily, base string, rd *gread, ce *rent, sl *viewSlabs) {
	s := r.s
	at := rd.at
	var hash map[string]string
	if rd.hash != nil {
		hash = rd.hash.Val()
	}
	mvs := sl.metricViews(len(f.metrics))
	s.newView(v, g.f, g.entity, at, mvs)
	hkey := base + "h"
	var stale []string
	for m := range f.metrics {
		cm := &f.metrics[m]
		if cm.Kind == Distinct {
			continue
		}
		mvs[m].tiers = sl.series(len(cm.tiers))
		for j, t := range cm.tiers {
			if at != noTime {
				mvs[m].tiers[j].first = floorDiv(at, t.res) + 1 // empty until a field shows up
			}
		}
	}
	// Fields are gathered first, so a view holds only the run of buckets
	// with data (as Memory's do), not every bucket the tier keeps.
	fv := r.fv[:0]
	for k, val := range hash {
		if strings.HasPrefix(k, "!") {
			// A dropped mark below another instance's for the same metric
			// says nothing the maximum does not: delete it, so marks of
			// instances long gone do not pile up in a busy entity's hash.
			ms, _, _ := strings.Cut(k[1:], "@")
			m, err1 := strconv.Atoi(ms)
			t, err2 := strconv.ParseInt(val, 10, 64)
			if err1 != nil || err2 != nil || m >= len(rd.z) || t < rd.z[m].hev {
				stale = append(stale, k)
			}
			continue
		}
		if strings.HasPrefix(k, "@") {
			if t, err := strconv.ParseInt(val, 10, 64); err != nil || t < at-f.retain {
				stale = append(stale, k)
			}
			continue
		}
		m, tj, idx, ok := parseField(f, k)
		if !ok {
			stale = append(stale, k) // from an older schema: nothing reads it
			continue
		}
		sr := &mvs[m].tiers[tj]
		t := &f.metrics[m].tiers[tj]
		if at == noTime || idx <= floorDiv(at, t.res)-t.n {
			stale = append(stale, k)
			continue
		}
		if idx < sr.first {
			if x, err := strconv.ParseFloat(val, 64); err == nil {
				fv = append(fv, fieldVal{sr, idx, x})
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
			sr.first, sr.vals = lo, sl.floats.take(int(hi-lo+1))
			for _, x := range fv {
				if x.sr == sr {
					sr.vals[x.idx-lo] += x.x // one field per writing instance
				}
			}
		}
	}
	clear(fv)
	r.fv = fv[:0]
	// Stale fields are invisible (views read only the buckets they keep), so
	// they are deleted in bunches, or with the TTL refresh, not one per
	// Apply: an HDEL per entity per Apply would cost as much as its reads.
	if len(stale) >= staleBunch || len(stale) > 0 && (rd.ttl || ce == nil) {
		sort.Strings(stale)
		r.pending = append(r.pending, func(p redis.Pipeliner) { p.HDel(context.Background(), hkey, stale...) })
	}
	for m := range f.metrics {
		cm := &f.metrics[m]
		if cm.Kind != Distinct {
			continue
		}
		zr := &rd.z[m]
		ev := zr.evicted()
		dv := sl.disView()
		dv.evicted, dv.batch = ev, zr.batch
		mvs[m].dis = dv
		zkey := zr.key
		switch {
		case at == noTime:
			dv.loaded = true
		case zr.read:
			dv.members, dv.loaded = zr.full, true
		case at == rd.assumed && zr.cnt != nil:
			dv.wins = cm.cntWins
			dv.cnts = sl.ints(len(zr.cnt))
			for k, c := range zr.cnt {
				dv.cnts[k] = int(c.Val())
			}
			dv.load = r.memberLoader(zkey, at-cm.maxWin)
		default:
			// The second round trip failed: counts are unknown.
			dv.load = r.memberLoader(zkey, at-cm.maxWin)
		}
		if at == noTime || ce == nil {
			continue
		}
		wasBig := ce.big[m]
		if wasBig && zr.pfc != nil {
			dv.est = make([]float64, len(cm.Windows))
		}
		live := zr.liveCount(cm)
		cut, evict := int64(noTime), false
		if zr.read {
			scores := make([]int64, len(zr.full))
			for i, sm := range zr.full {
				scores[i] = sm.score
			}
			cut, evict = distinctTrim(scores, at, cm.maxWin, s.cap)
		} else if live > s.cap && at == rd.assumed {
			cut, evict = zr.cutScore()
		}
		nev := ev
		if evict {
			nev = max(nev, cut)
			live = 0
			for _, sm := range zr.full {
				if sm.score > cut {
					live++
				}
			}
			if !zr.read {
				live = s.cap
			}
		} else if live > s.cap {
			live = -1 // a trim is due but could not be decided: ask again next time
		}
		ce.live[m] = live
		nowBig := nev > at-cm.maxWin
		if nowBig && !wasBig && zr.read {
			all := make([]memEntry, len(zr.full))
			for i, sm := range zr.full {
				all[i] = memEntry{memKey{member: sm.member}, sm.score}
			}
			fam, mm := f, m
			r.pending = append(r.pending, func(p redis.Pipeliner) { r.pfadd(context.Background(), p, fam, base, mm, all, ce) })
		}
		switch {
		case evict && rd.hash != nil:
			// nev covers every instance's mark read, this one's included,
			// so this instance's field only grows.
			c, field, mark := cut, "!"+strconv.Itoa(m)+"@"+r.o.WorkerID+r.tok, strconv.FormatInt(nev, 10)
			r.pending = append(r.pending, func(p redis.Pipeliner) {
				p.ZRemRangeByScore(context.Background(), zkey, memberMin, strconv.FormatInt(c, 10))
				p.HSet(context.Background(), hkey, field, mark)
			})
		case evict:
			c := cut
			r.pending = append(r.pending, func(p redis.Pipeliner) {
				p.ZRemRangeByScore(context.Background(), zkey, memberMin, strconv.FormatInt(c, 10))
				p.ZAddGT(context.Background(), zkey, redis.Z{Score: float64(c - sentinelShift), Member: sentinelEvicted})
			})
		}
		ce.big[m] = nowBig
	}
	if ce != nil && at != noTime {
		ce.at = max(ce.at, at)
	}
	for m := range f.metrics {
		cm := &f.metrics[m]
		dv := mvs[m].dis
		if dv == nil || dv.est == nil {
			continue
		}
		zr := &rd.z[m]
		for k, w := range cm.Windows {
			dv.est[k] = -1
			if zr.pfc[k] != nil && wantEstimate(v, cm, dv, w) {
				dv.est[k] = float64(zr.pfc[k].Val())
			}
		}
	}
}

// memberLoader reads the live members of zkey (score above from) for
// View.Members; it runs only when a detector asks for members.
func (r *RedisStore) memberLoader(zkey string, from int64) func() ([]scored, error) {
	return func() ([]scored, error) {
		zs, err := r.c.ZRangeArgsWithScores(context.Background(), redis.ZRangeArgs{Key: zkey,
			Start: memberMax, Stop: "(" + strconv.FormatInt(from, 10), ByScore: true, Rev: true}).Result()
		if err != nil {
			return nil, r.wrapErr("read the members of "+zkey, err)
		}
		out := make([]scored, len(zs))
		for i, z := range zs {
			mem, _ := z.Member.(string)
			out[i] = scored{unescMember(mem), int64(z.Score)}
		}
		return out, nil
	}
}

// parseField reads "<metric>:<res seconds>:<bucket base36>:<token>".
// Fields without a token (an older layout) are not counters any more.
func parseField(f *cfamily, k string) (m, tier int, idx int64, ok bool) {
	c := strings.LastIndexByte(k, ':')
	if c <= 0 {
		return 0, 0, 0, false
	}
	k = k[:c]
	a := strings.IndexByte(k, ':')
	b := strings.LastIndexByte(k, ':')
	if a <= 0 || b <= a {
		return 0, 0, 0, false
	}
	mi, err1 := strconv.Atoi(k[:a])
	res, err2 := strconv.ParseInt(k[a+1:b], 10, 64)
	idx, err3 := strconv.ParseInt(k[b+1:], 36, 64)
	if err1 != nil || err2 != nil || err3 != nil || mi >= len(f.metrics) {
		return 0, 0, 0, false
	}
	for j, t := range f.metrics[mi].tiers {
		if t.res == res*1000 {
			return mi, j, idx, true
		}
	}
	return 0, 0, 0, false
}

func (r *RedisStore) sweep() {
	r.sweepIn = max(len(r.cache), 4096)
	if r.wms.global == noTime {
		return
	}
	for k, e := range r.cache {
		if e.at < r.wms.global-r.s.lateness-r.s.fams[k.f].retain {
			// Its own counter values are forgotten: a late write to one
			// of its buckets must not take the field for new.
			if e.gen == r.gen && len(e.ctr) > 0 {
				r.sweptBelow = max(r.sweptBelow, e.at+1)
			}
			delete(r.cache, k)
		}
	}
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
