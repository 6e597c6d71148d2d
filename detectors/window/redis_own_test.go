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

// TestRedisDroppedMarksDoNotPileUp: every store instance that trims an
// entity over the cap writes its own dropped-mark field; marks below
// another instance's are deleted, so the hash keeps one per metric however
// many instances came and went, and the mark still says what was dropped.
func TestRedisDroppedMarksDoNotPileUp(t *testing.T) {
	srv := testenv.Redis(t)
	c := redisClient(t, srv)
	s := Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute}},
		{Name: "users", Kind: Distinct, Windows: []time.Duration{10 * time.Minute}},
	}}}, DistinctCap: 2, Lateness: time.Hour}
	ctx := context.Background()
	next := 0.0
	for inst := range 4 {
		// A short TTLRefresh makes every Apply a refresh, which is when
		// stale fields are deleted.
		st, err := NewRedis(c, s, RedisOptions{Prefix: "t", TTLRefresh: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			var b Batch
			for range 3 {
				next++
				b.Add(0, "x", 0, sec(next), 1)
				b.AddMember(0, "x", 1, sec(next), "u"+strconv.Itoa(int(next)))
			}
			time.Sleep(2 * time.Millisecond)
			if _, err := st.Apply(ctx, &b); err != nil {
				t.Fatalf("instance %d: %v", inst, err)
			}
		}
	}
	marks := 0
	for _, k := range c.HKeys(ctx, "t:{ip:x}:h").Val() {
		if strings.HasPrefix(k, "!") {
			marks++
		}
	}
	if marks != 1 {
		t.Errorf("hash holds %d dropped-mark fields, want 1", marks)
	}
	// The newest 2 of 36 members are kept exactly; the mark makes the
	// 10 minute count inexact.
	var b Batch
	b.Touch(0, "x", sec(next))
	st, _ := NewRedis(c, s, RedisOptions{Prefix: "t"})
	r, err := st.Apply(ctx, &b)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := r.View(0, "x")
	if n, exact := v.Distinct(1, 10*time.Minute); exact || n < 2 {
		t.Errorf("Distinct over 10m = %v exact=%v, want an inexact count of at least 2", n, exact)
	}
}
