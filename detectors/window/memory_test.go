package window

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestMemorySweep: entities whose newest event is older than everything the
// schema keeps are forgotten once time has moved on, and one that comes back
// starts from empty windows, as a Redis key that expired would.
func TestMemorySweep(t *testing.T) {
	s := Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute}},
		{Name: "users", Kind: Distinct, Windows: []time.Duration{time.Minute}},
	}}}}
	m, err := NewMemory(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Unix(1_700_000_000, 0)
	apply := func(at time.Time, entities ...string) *Result {
		var b Batch
		for _, e := range entities {
			// Enough operations that Apply sweeps (every >= 4096).
			for range 2100 {
				b.Add(0, e, 0, at, 1)
				b.AddMember(0, e, 1, at, "u")
			}
		}
		r, err := m.Apply(ctx, &b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	apply(t0, "old")
	apply(t0.Add(time.Second), "new")
	if n := len(m.ents[0]); n != 2 {
		t.Fatalf("%d entities right after their events, want 2", n)
	}
	apply(t0.Add(time.Hour), "new")
	if _, ok := m.ents[0]["old"]; ok {
		t.Fatal(`"old" is still kept an hour after its last event (retention is about a minute)`)
	}
	v, _ := apply(t0.Add(time.Hour+time.Second), "old").View(0, "old")
	if got := v.Value(0, time.Minute); got != 2100 {
		t.Errorf("returning entity counts %v over 1m, want 2100 (this batch only)", got)
	}
	if got, exact := v.Distinct(1, time.Minute); got != 1 || !exact {
		t.Errorf("returning entity has %v distinct (exact %v), want 1 exact", got, exact)
	}
}

// TestHLLLayouts: the sparse table and the dense registers it turns into
// hold what Redis's registers hold (the maximum per register), so merged
// estimates equal the estimate of plain registers, at every size across
// the switch to dense.
func TestHLLLayouts(t *testing.T) {
	for _, n := range []int{0, 1, 5, 100, 2000, 3500, 20000} {
		var h hll
		var regs [hllRegs]uint8
		for i := range n {
			member := "m" + strconv.Itoa(i*7919)
			h.add(member)
			h.add(member) // a repeat changes nothing
			idx, val := hllPos(member)
			regs[idx] = max(regs[idx], val)
		}
		var u hllMerge
		u.add(&h)
		if got, want := u.count(), hllCount(&regs); got != want {
			t.Errorf("%d members: estimate %d, want %d", n, got, want)
		}
		set := 0
		for _, v := range regs {
			if v != 0 {
				set++
			}
		}
		// Dense once the sparse table would be more than 3/4 full at its
		// largest.
		if wantDense := set > 3*hllSparseMax/4; (h.dense != nil) != wantDense {
			t.Errorf("%d members (%d registers): dense %v, want %v", n, set, h.dense != nil, wantDense)
		}
	}
}
