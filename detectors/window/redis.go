package window

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
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
	// WorkerID names this store instance in the per-worker fields of
	// count-only families (default: random).
	WorkerID string
}

// RedisStore keeps windows in Redis, shared by every worker. See doc.go for
// the key layout, costs and crash semantics.
type RedisStore struct {
	c       redis.UniversalClient
	s       *schema
	o       RedisOptions
	applied string
	cluster bool

	mu      sync.Mutex
	wm      int64
	late    int64
	cache   map[gkey]*rent
	pending []func(redis.Pipeliner)
	sweepIn int
	now     func() time.Time
	// uncertain is set when an Apply failed: its MULTI may still have run
	// (a lost reply), so the next Apply checks the applied offsets first.
	uncertain bool

	p   plan
	agg map[aggKey]float64
	mem map[memKey]int64
}

// rent is what this worker remembers of an entity between Applies.
type rent struct {
	ttlAt int64 // wall-clock ms of the last EXPIRE
	own   int64 // this worker's "@<id>" At field (count-only families)
	at    int64 // entity At seen on the last read
	big   []bool
}

type aggKey struct {
	g   int32
	m   MetricID
	t   uint8
	idx int64
}

type memKey struct {
	g      int32
	m      MetricID
	member string
}

// Members of a Distinct zset that carry state rather than a member. Real
// members starting with NUL are stored with one more NUL in front.
const (
	sentinelAt      = "\x00a"
	sentinelEvicted = "\x00e"
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
		wm:      noTime, cache: make(map[gkey]*rent),
		agg: make(map[aggKey]float64), mem: make(map[memKey]int64),
		now: time.Now,
	}, nil
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

// gread holds the read commands of one group.
type gread struct {
	hash  *redis.MapStringStringCmd
	zsets []*redis.ZSliceCmd // per metric (nil for Count/Sum)
	pfc   [][]*redis.IntCmd  // per metric, per window
	wrote bool
	ttl   bool
	estAt int64
}

type aggEntry struct {
	k aggKey
	v float64
}

type memEntry struct {
	k memKey
	t int64
}

// Apply implements Store: one MULTI/EXEC round trip holding the deferred
// clean-ups of the previous Apply, the batch's aggregated updates, the
// reads for every touched entity and the applied offsets.
func (r *RedisStore) Apply(ctx context.Context, b *Batch) (*Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.s
	p := &r.p
	if err := s.plan(b, r.wm, p); err != nil {
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

	clear(r.agg)
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
				r.agg[aggKey{op.g, op.m, uint8(j), floorDiv(op.t, t.res)}] += d
			}
			continue
		}
		k := memKey{op.g, op.m, op.member}
		if old, ok := r.mem[k]; !ok || op.t > old {
			r.mem[k] = op.t
		}
	}
	aggs := make([]aggEntry, 0, len(r.agg))
	for k, v := range r.agg {
		if v != 0 {
			aggs = append(aggs, aggEntry{k, v})
		}
	}
	sort.Slice(aggs, func(i, j int) bool { return aggs[i].k.g < aggs[j].k.g })
	mems := make([]memEntry, 0, len(r.mem))
	for k, t := range r.mem {
		mems = append(mems, memEntry{k, t})
	}
	sort.Slice(mems, func(i, j int) bool {
		if mems[i].k.g != mems[j].k.g {
			return mems[i].k.g < mems[j].k.g
		}
		return mems[i].k.m < mems[j].k.m
	})

	pipe := r.c.TxPipeline()
	for _, f := range r.pending {
		f(pipe)
	}
	reads := make([]gread, len(b.groups))
	bases := make([]string, len(b.groups))
	ai, mi := 0, 0
	var zargs []redis.Z
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
		rd.estAt = gAt
		if ce != nil {
			rd.estAt = max(rd.estAt, ce.at)
		}
		for ; ai < len(aggs) && aggs[ai].k.g == int32(gi); ai++ {
			a := aggs[ai].k
			cm := &f.metrics[a.m]
			field := cm.tiers[a.t].name + strconv.FormatInt(a.idx, 36)
			if cm.Kind == Count {
				pipe.HIncrBy(ctx, hkey, field, int64(aggs[ai].v))
			} else {
				pipe.HIncrByFloat(ctx, hkey, field, aggs[ai].v)
			}
		}
		if f.firstDis < 0 && rd.wrote {
			own := gAt
			if ce != nil {
				own = max(own, ce.own)
			}
			pipe.HSet(ctx, hkey, "@"+r.o.WorkerID, own)
		}
		useHash := f.hasCount || f.firstDis < 0
		if rd.ttl && useHash {
			pipe.Expire(ctx, hkey, r.ttl(f))
		}
		rd.zsets = make([]*redis.ZSliceCmd, len(f.metrics))
		rd.pfc = make([][]*redis.IntCmd, len(f.metrics))
		for m := range f.metrics {
			cm := &f.metrics[m]
			if cm.Kind != Distinct {
				continue
			}
			zkey := base + "d" + strconv.Itoa(m)
			zargs = zargs[:0]
			start := mi
			for ; mi < len(mems) && mems[mi].k.g == int32(gi) && int(mems[mi].k.m) == m; mi++ {
				zargs = append(zargs, redis.Z{Score: float64(mems[mi].t), Member: escMember(mems[mi].k.member)})
			}
			if m == f.firstDis && rd.wrote {
				zargs = append(zargs, redis.Z{Score: float64(gAt), Member: sentinelAt})
			}
			if len(zargs) > 0 {
				pipe.ZAddGT(ctx, zkey, zargs...)
			}
			if rd.ttl {
				pipe.Expire(ctx, zkey, r.ttl(f))
			}
			if ce != nil && ce.big[m] {
				r.pfadd(ctx, pipe, f, base, m, mems[start:mi])
			}
		}
		if useHash {
			rd.hash = pipe.HGetAll(ctx, hkey)
		}
		for m := range f.metrics {
			cm := &f.metrics[m]
			if cm.Kind != Distinct {
				continue
			}
			rd.zsets[m] = pipe.ZRangeWithScores(ctx, base+"d"+strconv.Itoa(m), 0, -1)
			if ce == nil || !ce.big[m] || rd.estAt == noTime {
				continue
			}
			rd.pfc[m] = make([]*redis.IntCmd, len(cm.Windows))
			for k, w := range cm.Windows {
				res := cm.hllRes[cm.winHLL[k]]
				lo, hi := hllRange(rd.estAt, w.Milliseconds(), res)
				keys := make([]string, 0, hi-lo+1)
				for i := lo; i <= hi; i++ {
					keys = append(keys, hllKey(base, m, res, i))
				}
				rd.pfc[m][k] = pipe.PFCount(ctx, keys...)
			}
		}
	}
	if len(b.marks) > 0 && !done {
		args := make([]any, 0, 2*len(b.marks))
		for st, off := range b.marks {
			args = append(args, st, strconv.FormatInt(off, 10)+":"+strconv.FormatInt(p.wm, 10))
		}
		pipe.HSet(ctx, r.applied, args...)
		pipe.Expire(ctx, r.applied, r.o.AppliedTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		r.uncertain = true
		return nil, r.wrapErr("apply a batch of "+strconv.Itoa(len(b.ops))+" operations", err)
	}

	// Committed: from here on nothing may fail.
	r.uncertain = false
	r.wm = p.wm
	r.late += p.nLate
	r.pending = r.pending[:0]
	res := &Result{late: p.nLate, views: make([]*View, len(b.groups))}
	views := make([]View, len(b.groups))
	var ar arena
	for gi, g := range b.groups {
		f := &s.fams[g.f]
		k := gkey{g.f, g.entity}
		ce := r.cache[k]
		if ce == nil && reads[gi].wrote {
			ce = &rent{own: noTime, at: noTime, big: make([]bool, len(f.metrics))}
			r.cache[k] = ce
		}
		if ce != nil && reads[gi].ttl {
			ce.ttlAt = nowMs
		}
		if ce != nil && f.firstDis < 0 && reads[gi].wrote {
			ce.own = max(ce.own, p.gAt[gi])
		}
		res.views[gi] = &views[gi]
		r.buildView(&views[gi], g, f, bases[gi], &reads[gi], ce, &ar)
	}
	r.sweepIn -= len(b.ops)
	if r.sweepIn <= 0 {
		r.sweep()
	}
	return res, nil
}

// alreadyApplied is called before an Apply that follows a failed one: if
// Redis already holds all of b's MarkApplied offsets, the failed MULTI ran
// and only its reply was lost, so b must not be applied again. This costs
// a round trip only after errors.
func (r *RedisStore) alreadyApplied(ctx context.Context, b *Batch) (bool, error) {
	if !r.uncertain || len(b.marks) == 0 {
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

func (r *RedisStore) pfadd(ctx context.Context, pipe redis.Pipeliner, f *cfamily, base string, m int, mems []memEntry) {
	cm := &f.metrics[m]
	byKey := map[string][]any{}
	for _, me := range mems {
		for _, res := range cm.hllRes {
			key := hllKey(base, m, res, floorDiv(me.t, res))
			byKey[key] = append(byKey[key], me.k.member)
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pipe.PFAdd(ctx, k, byKey[k]...)
		pipe.Expire(ctx, k, r.ttl(f))
	}
}

// buildView parses one group's reads into v and schedules the clean-ups they
// call for (stale fields, trimmed members) for the next Apply.
func (r *RedisStore) buildView(v *View, g bgroup, f *cfamily, base string, rd *gread, ce *rent, ar *arena) {
	s := r.s
	at := int64(noTime)
	var hash map[string]string
	if rd.hash != nil {
		hash = rd.hash.Val()
	}
	type zread struct {
		members []scored
		evicted int64
	}
	zs := make([]zread, len(f.metrics))
	for m, zc := range rd.zsets {
		if zc == nil {
			continue
		}
		zs[m].evicted = noTime
		for _, z := range zc.Val() {
			mem, _ := z.Member.(string)
			sc := int64(z.Score)
			switch {
			case mem == sentinelAt:
				if m == f.firstDis {
					at = max(at, sc)
				}
			case mem == sentinelEvicted:
				zs[m].evicted = sc
			default:
				if strings.HasPrefix(mem, "\x00") {
					mem = mem[1:]
				}
				zs[m].members = append(zs[m].members, scored{mem, sc})
			}
		}
	}
	if f.firstDis < 0 {
		for k, val := range hash {
			if strings.HasPrefix(k, "@") {
				if t, err := strconv.ParseInt(val, 10, 64); err == nil {
					at = max(at, t)
				}
			}
		}
	}
	mvs := make([]metricView, len(f.metrics))
	s.newView(v, g.f, g.entity, at, mvs)
	hkey := base + "h"
	var stale []string
	for m := range f.metrics {
		cm := &f.metrics[m]
		if cm.Kind == Distinct {
			continue
		}
		mvs[m].tiers = make([]series, len(cm.tiers))
		if at == noTime {
			continue
		}
		for j, t := range cm.tiers {
			hi := floorDiv(at, t.res)
			mvs[m].tiers[j] = series{first: hi - t.n + 1, vals: ar.take(int(t.n))}
		}
	}
	for k, val := range hash {
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
		if at == noTime || idx < sr.first {
			stale = append(stale, k)
			continue
		}
		if i := idx - sr.first; i < int64(len(sr.vals)) {
			x, err := strconv.ParseFloat(val, 64)
			if err == nil {
				sr.vals[i] = x
			}
		}
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		r.pending = append(r.pending, func(p redis.Pipeliner) { p.HDel(context.Background(), hkey, stale...) })
	}
	for m := range f.metrics {
		cm := &f.metrics[m]
		if cm.Kind != Distinct {
			continue
		}
		dv := &disView{evicted: zs[m].evicted}
		mvs[m].dis = dv
		live := at - cm.maxWin
		scores := make([]int64, 0, len(zs[m].members))
		for _, sm := range zs[m].members {
			scores = append(scores, sm.score)
			if at != noTime && sm.score > live {
				dv.members = append(dv.members, sm)
			}
		}
		if at == noTime || ce == nil {
			continue
		}
		wasBig := ce.big[m]
		if wasBig && rd.pfc[m] != nil {
			dv.est = make([]float64, len(cm.Windows))
		}
		cut, evict := distinctTrim(scores, at, cm.maxWin, s.cap)
		ev := zs[m].evicted
		if evict {
			ev = max(ev, cut)
		}
		nowBig := ev > at-cm.maxWin
		zkey := base + "d" + strconv.Itoa(m)
		if nowBig && !wasBig {
			all := make([]memEntry, len(zs[m].members))
			for i, sm := range zs[m].members {
				all[i] = memEntry{memKey{member: sm.member}, sm.score}
			}
			fam, mm := f, m
			r.pending = append(r.pending, func(p redis.Pipeliner) { r.pfadd(context.Background(), p, fam, base, mm, all) })
		}
		if cut != noTime {
			c, e := cut, evict
			r.pending = append(r.pending, func(p redis.Pipeliner) {
				p.ZRemRangeByScore(context.Background(), zkey, "-inf", strconv.FormatInt(c, 10))
				if e {
					p.ZAddGT(context.Background(), zkey, redis.Z{Score: float64(c), Member: sentinelEvicted})
				}
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
		for k, w := range cm.Windows {
			dv.est[k] = -1
			if rd.pfc[m][k] != nil && wantEstimate(v, cm, dv, w) {
				dv.est[k] = float64(rd.pfc[m][k].Val())
			}
		}
	}
}

// parseField reads "<metric>:<res seconds>:<bucket base36>".
func parseField(f *cfamily, k string) (m, tier int, idx int64, ok bool) {
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
	if r.wm == noTime {
		return
	}
	for k, e := range r.cache {
		if e.at < r.wm-r.s.lateness-r.s.fams[k.f].retain {
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
			r.wm = max(r.wm, wm)
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
