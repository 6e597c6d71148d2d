package window

import (
	"context"
	"testing"
	"time"
)

// TestBatchAppendTo: a batch replayed with AppendTo into an emptied batch
// holds the same operations and marks, and a store applying the replay
// answers exactly as one applying the original.
func TestBatchAppendTo(t *testing.T) {
	s := Schema{Families: []Family{
		{Name: "ip", Metrics: []Metric{
			{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute}},
			{Name: "users", Kind: Distinct, Windows: []time.Duration{time.Minute}},
		}},
		{Name: "global", Metrics: []Metric{{Name: "req", Kind: Sum, Windows: []time.Duration{time.Minute}}}},
	}}
	t0 := time.UnixMilli(1_700_000_000_123)
	var src Batch
	src.Add(0, "a", 0, t0, 1)
	src.AddMember(0, "a", 1, t0, "u1")
	src.Add(1, "", 0, t0.Add(time.Second), 2.5)
	src.AddMember(0, "b", 1, t0.Add(2*time.Second), "u2")
	src.AddMember(0, "a", 1, t0.Add(3*time.Second), "u3")
	src.Touch(0, "c", t0)
	src.MarkApplied("s", 7)

	var dst Batch
	dst.Add(0, "stale", 0, t0, 9) // Reset must leave nothing behind
	dst.Reset()
	src.AppendTo(&dst)
	if dst.Len() != src.Len() {
		t.Fatalf("replay has %d operations, want %d", dst.Len(), src.Len())
	}
	if dst.marks["s"] != 7 {
		t.Errorf("replay marks s at %d, want 7", dst.marks["s"])
	}

	ctx := context.Background()
	apply := func(b *Batch) *Result {
		m, err := NewMemory(s)
		if err != nil {
			t.Fatal(err)
		}
		r, err := m.Apply(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	want, got := apply(&src), apply(&dst)
	if len(got.Views()) != len(want.Views()) {
		t.Fatalf("replay touched %d entities, want %d", len(got.Views()), len(want.Views()))
	}
	for _, wv := range want.Views() {
		gv, ok := got.View(wv.Family, wv.Entity)
		if !ok {
			t.Fatalf("replay lost entity %d/%q", wv.Family, wv.Entity)
		}
		for m := range s.Families[wv.Family].Metrics {
			mid := MetricID(m)
			if s.Families[wv.Family].Metrics[m].Kind == Distinct {
				wn, _ := wv.Distinct(mid, time.Minute)
				gn, _ := gv.Distinct(mid, time.Minute)
				if gn != wn {
					t.Errorf("%q metric %d: %v distinct after replay, want %v", wv.Entity, m, gn, wn)
				}
				continue
			}
			if g, w := gv.Value(mid, time.Minute), wv.Value(mid, time.Minute); g != w {
				t.Errorf("%q metric %d: %v after replay, want %v", wv.Entity, m, g, w)
			}
		}
	}
}
