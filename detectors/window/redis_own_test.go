package window

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/internal/testenv"
)

// TestRedisOwnCountersForgotten: a RedisStore sets its own counter fields
// to values it remembers (one HSET per entity). When it has forgotten an
// entity (the cache sweep) while a lagging stream still writes one of its
// visible buckets, the bucket must be added to, not overwritten: here the
// entity's second event must count as the second.
func TestRedisOwnCountersForgotten(t *testing.T) {
	s := Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute}},
	}}}}
	st := newRedisStore(t, testenv.Redis(t), s)
	ctx := context.Background()
	apply := func(stream string, fill func(b *Batch)) *Result {
		t.Helper()
		var b Batch
		fill(&b)
		b.MarkApplied(stream, 0)
		r, err := st.Apply(ctx, &b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	apply("p0", func(b *Batch) { b.Add(0, "x", 0, sec(0), 1) })
	// p0 moves on far beyond x's retention, with enough operations for
	// the cache sweep to forget x.
	apply("p0", func(b *Batch) {
		for i := range 5000 {
			b.Add(0, "y", 0, sec(1000+float64(i)/100), 1)
		}
	})
	if _, ok := st.cache[gkey{0, "x"}]; ok {
		t.Fatal("x is still cached: the test no longer exercises the sweep")
	}
	// p1 has its own watermark, so its event at 0.5 s is not late.
	r := apply("p1", func(b *Batch) { b.Add(0, "x", 0, sec(0.5), 1) })
	v, _ := r.View(0, "x")
	if got := v.Value(0, time.Minute); got != 2 {
		t.Errorf("x's requests over 1m = %v, want 2 (the first one must not be overwritten)", got)
	}
}

// TestRedisOldFieldsDeleted: every store instance writes its own field
// of an entity's hash (a restart, a rebalance or a failed Apply makes a
// new one). Fields of instances long gone are merged while they hold
// anything a window can see, then deleted, so the hash does not keep one
// field per instance that ever wrote the entity; dropped marks and counts
// are merged over the fields meanwhile.
func TestRedisOldFieldsDeleted(t *testing.T) {
	srv := testenv.Redis(t)
	c := redisClient(t, srv)
	s := Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute}},
		{Name: "users", Kind: Distinct, Windows: []time.Duration{10 * time.Minute}},
	}}}, DistinctCap: 2, Lateness: time.Minute}
	ctx := context.Background()
	next := 0.0
	apply := func(st *RedisStore, at float64, n int) *View {
		t.Helper()
		var b Batch
		for range n {
			next++
			b.Add(0, "x", 0, sec(at+next), 1)
			b.AddMember(0, "x", 1, sec(at+next), "u"+strconv.Itoa(int(next)))
		}
		r, err := st.Apply(ctx, &b)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := r.View(0, "x")
		return v
	}
	var v *View
	for range 4 {
		st, err := NewRedis(c, s, RedisOptions{Prefix: "t"})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			v = apply(st, 0, 3)
		}
	}
	if n := c.HLen(ctx, "t:{ip:x}:h").Val(); n != 4 {
		t.Errorf("hash holds %d fields after 4 instances, want 4", n)
	}
	// The newest 2 of 36 members are kept exactly; the merged mark makes
	// the 10 minute count inexact; requests add up over the fields.
	if n, exact := v.Distinct(1, 10*time.Minute); exact || n < 2 {
		t.Errorf("Distinct over 10m = %v exact=%v, want an inexact count of at least 2", n, exact)
	}
	if got := v.Value(0, time.Minute); got != 36 {
		t.Errorf("requests over 1m = %v, want 36 (merged over the instances' fields)", got)
	}
	// Two hours later everything the old fields hold is outside every
	// window: a new instance's Apply schedules their deletion, the next
	// one runs it. A text field (the layout before per-instance states)
	// goes too.
	c.HSet(ctx, "t:{ip:x}:h", "0:5:abc:tok", "3")
	st, err := NewRedis(c, s, RedisOptions{Prefix: "t"})
	if err != nil {
		t.Fatal(err)
	}
	apply(st, 7200, 1)
	v = apply(st, 7200, 1)
	if n := c.HLen(ctx, "t:{ip:x}:h").Val(); n != 1 {
		t.Errorf("hash holds %d fields, want 1: fields outside every window must be deleted", n)
	}
	if got := v.Value(0, time.Minute); got != 2 {
		t.Errorf("requests over 1m = %v, want 2", got)
	}
}

// TestRedisTrimReachesOthers: a worker's trim (the entity went over the
// cap) changes only its own state; it is written with the worker's next
// Apply even when that batch does not touch the entity, so another worker
// reading the entity then sees the trim and the dropped mark.
func TestRedisTrimReachesOthers(t *testing.T) {
	srv := testenv.Redis(t)
	s := Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute}},
		{Name: "users", Kind: Distinct, Windows: []time.Duration{10 * time.Minute}, MinEvents: 1000},
	}}}, DistinctCap: 4}
	a, b := newRedisStore(t, srv, s), newRedisStore(t, srv, s)
	ctx := context.Background()
	apply := func(st *RedisStore, fill func(*Batch)) *View {
		t.Helper()
		var bt Batch
		fill(&bt)
		r, err := st.Apply(ctx, &bt)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := r.View(0, "x")
		return v
	}
	v := apply(a, func(bt *Batch) {
		for i := range 10 {
			bt.Add(0, "x", 0, sec(float64(i)), 1)
			bt.AddMember(0, "x", 1, sec(float64(i)), "u"+strconv.Itoa(i))
		}
	})
	if n, exact := v.Distinct(1, 10*time.Minute); n != 10 || !exact {
		t.Fatalf("before the trim: %v exact=%v, want 10 exact", n, exact)
	}
	// a's next batch is about another entity; it still writes x's trim.
	apply(a, func(bt *Batch) { bt.Add(0, "y", 0, sec(11), 1) })
	v = apply(b, func(bt *Batch) { bt.Touch(0, "x", sec(11)) })
	if n, exact := v.Distinct(1, 10*time.Minute); n != 4 || exact {
		t.Errorf("another worker after the trim: %v exact=%v, want 4 (the cap) not exact", n, exact)
	}
	if got := strings.Join(v.Members(1, 10), " "); got != "u9 u8 u7 u6" {
		t.Errorf("members = %s, want u9 u8 u7 u6", got)
	}
}

// TestRedisFieldsTakenOverAfterFailures: every failed Apply makes an
// instance write new fields (its MULTI may or may not have run); the
// instance takes its earlier fields over with its next writes, so a flaky
// Redis does not make fields pile up, and nothing is counted twice on the
// way.
func TestRedisFieldsTakenOverAfterFailures(t *testing.T) {
	srv := testenv.Redis(t)
	c := redisClient(t, srv)
	s := Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Hour}},
		{Name: "users", Kind: Distinct, Windows: []time.Duration{time.Hour}},
	}}}}
	st := newRedisStore(t, srv, s)
	reader := newRedisStore(t, srv, s)
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	n := 0
	apply := func(ctx context.Context, entity string) error {
		var b Batch
		n++
		b.Add(0, entity, 0, sec(float64(n)), 1)
		b.AddMember(0, entity, 1, sec(float64(n)), "u"+strconv.Itoa(n))
		_, err := st.Apply(ctx, &b)
		return err
	}
	read := func() *View {
		t.Helper()
		var b Batch
		b.Touch(0, "x", sec(float64(n)))
		r, err := reader.Apply(ctx, &b)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := r.View(0, "x")
		return v
	}
	applied := 0
	for round := range 10 {
		if err := apply(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		applied++
		if err := apply(canceled, "x"); err == nil {
			t.Fatal("Apply with a canceled context: want an error")
		}
		n-- // that event was not applied
		if round%2 == 1 {
			// A batch that does not touch x still writes x's takeover.
			if err := apply(ctx, "y"); err != nil {
				t.Fatal(err)
			}
		}
		if v := read(); v.Value(0, time.Hour) != float64(applied) {
			t.Fatalf("round %d: x has %v requests, want %d", round, v.Value(0, time.Hour), applied)
		}
	}
	if err := apply(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	applied++
	if err := apply(ctx, "y"); err != nil {
		t.Fatal(err)
	}
	v := read()
	if v.Value(0, time.Hour) != float64(applied) {
		t.Errorf("x has %v requests, want %d", v.Value(0, time.Hour), applied)
	}
	if got, exact := v.Distinct(1, time.Hour); got != float64(applied) || !exact {
		t.Errorf("x has %v distinct users (exact %v), want %d", got, exact, applied)
	}
	if fields := c.HLen(ctx, "t:{ip:x}:h").Val(); fields > 2 {
		t.Errorf("x's hash holds %d fields after 10 failed Applies, want at most 2 (the own one and one being taken over)", fields)
	}
}

// TestRedisTakeoverAfterLostReply: a MULTI ran but its reply was lost, so
// the instance took a new token; the retry of the batch only reads (the
// offsets show it applied) and takes the earlier field over. The next
// Apply writes that state before reading the entity again, even when its
// batch only touches the entity: reading first would see neither the old
// field's deletion nor the new field and count the old content twice.
func TestRedisTakeoverAfterLostReply(t *testing.T) {
	srv := testenv.Redis(t)
	st := newRedisStore(t, srv, crashSchema)
	reader := newRedisStore(t, srv, crashSchema)
	ctx := context.Background()
	var b Batch
	for i := range 10 {
		addEvent(&b, event{stream: "p0", offset: int64(i), ip: "x", user: "u", t: sec(float64(i))})
	}
	if _, err := st.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	// What a failed Exec does, although this MULTI ran.
	delete(st.appliedHere, "p0")
	st.unsure["p0"] = true
	st.oldToks = append(st.oldToks, st.tok)
	st.tok, st.gen = newToken(), st.gen+1
	check := func(step string) {
		t.Helper()
		var tb Batch
		tb.Touch(0, "x", sec(10))
		r, err := reader.Apply(ctx, &tb)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := r.View(0, "x"); v.Value(0, time.Hour) != 10 {
			t.Errorf("%s: x has %v requests, want 10", step, v.Value(0, time.Hour))
		}
	}
	if _, err := st.Apply(ctx, &b); err != nil { // the retry: reads only
		t.Fatal(err)
	}
	check("after the retry")
	for i := range 3 {
		var tb Batch
		tb.Touch(0, "x", sec(10))
		if _, err := st.Apply(ctx, &tb); err != nil {
			t.Fatal(err)
		}
		check("after touch " + strconv.Itoa(i))
	}
}
