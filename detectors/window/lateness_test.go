package window

import (
	"context"
	"testing"
	"time"
)

// Partitions are consumed at different speeds. A batch from one stream is
// judged against that stream's progress, so a lagging partition's events
// still count; events behind their own stream, or batches without a stream
// behind the overall progress, are late.
func TestLatenessPerStream(t *testing.T) {
	s := Schema{Families: []Family{{Name: "f", Metrics: []Metric{{Name: "n", Kind: Count, Windows: []time.Duration{2 * time.Hour}}}}}}
	for _, k := range storeKinds() {
		t.Run(k.name, func(t *testing.T) {
			st := k.open(t, s)
			apply := func(stream string, off int64, at time.Time) *Result {
				t.Helper()
				var b Batch
				if stream != "" {
					b.MarkApplied(stream, off)
				}
				b.Add(0, "e", 0, at, 1)
				r, err := st.Apply(context.Background(), &b)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			apply("logs/0", 1, t0.Add(30*time.Minute)) // the fast partition
			if r := apply("logs/1", 1, t0); r.Late() != 0 {
				t.Errorf("first batch of a lagging partition: %d late, want 0", r.Late())
			}
			if r := apply("logs/1", 2, t0.Add(time.Minute)); r.Late() != 0 {
				t.Errorf("in-order event of the lagging partition: %d late, want 0", r.Late())
			}
			if r := apply("logs/1", 3, t0.Add(-5*time.Minute)); r.Late() != 1 {
				t.Errorf("event 6m behind its own partition: %d late, want 1", r.Late())
			}
			if r := apply("", 0, t0); r.Late() != 1 {
				t.Errorf("batch without a stream, 30m behind overall: %d late, want 1", r.Late())
			}
			r := apply("logs/0", 2, t0.Add(30*time.Minute))
			v, ok := r.View(0, "e")
			if !ok || v.Value(0, 2*time.Hour) != 4 {
				t.Errorf("window holds %v, want the 4 events that were not late", v.Value(0, 2*time.Hour))
			}
			// A worker taking the lagging partition over judges it as the
			// previous owner did.
			offs, err := st.AppliedOffsets(context.Background(), []string{"logs/1"})
			if err != nil || offs["logs/1"] != 3 {
				t.Fatalf("applied offsets %v, %v", offs, err)
			}
		})
	}
}
