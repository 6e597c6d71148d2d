package window

import (
	"context"
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
