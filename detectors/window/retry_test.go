package window

import (
	"context"
	"testing"
	"time"
)

// The Store contract: retrying the same batch is safe. A batch can be
// retried after its Apply succeeded, when a later step of the caller failed
// (incident store, dead letters, detection sink) and nothing was committed.
func TestRetryAfterSuccessCountsOnce(t *testing.T) {
	s := Schema{Families: []Family{{Name: "f", Metrics: []Metric{
		{Name: "n", Kind: Count, Windows: []time.Duration{time.Hour}},
		{Name: "d", Kind: Distinct, Windows: []time.Duration{time.Hour}},
	}}}}
	for _, k := range storeKinds() {
		t.Run(k.name, func(t *testing.T) {
			st := k.open(t, s)
			var b Batch
			build := func(off int64, at time.Time, member string) {
				b.Reset()
				b.MarkApplied("logs/0", off)
				b.Add(0, "e", 0, at, 1)
				b.AddMember(0, "e", 1, at, member)
			}
			apply := func() *View {
				t.Helper()
				r, err := st.Apply(context.Background(), &b)
				if err != nil {
					t.Fatal(err)
				}
				v, ok := r.View(0, "e")
				if !ok {
					t.Fatal("no view")
				}
				return v
			}
			build(10, t0, "alice")
			apply()
			if v := apply(); v.Value(0, time.Hour) != 1 { // the retry
				t.Errorf("after a retry of an applied batch the count is %v, want 1", v.Value(0, time.Hour))
			}
			build(11, t0.Add(time.Second), "bob")
			v := apply()
			if got := v.Value(0, time.Hour); got != 2 {
				t.Errorf("next batch: count %v, want 2", got)
			}
			if n, _ := v.Distinct(1, time.Hour); n != 2 {
				t.Errorf("next batch: distinct %v, want 2", n)
			}
		})
	}
}
