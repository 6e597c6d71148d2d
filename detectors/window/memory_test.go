package window

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/internal/testenv"
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
	kept := func(e string) (n int, ok bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.house.Wait()
		_, ok = m.ents[0][e]
		return len(m.ents[0]), ok
	}
	apply(t0.Add(time.Second), "new")
	if n, _ := kept(""); n != 2 {
		t.Fatalf("%d entities right after their events, want 2", n)
	}
	apply(t0.Add(time.Hour), "new")
	if _, ok := kept("old"); ok {
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
			x := murmur64a("m"+strconv.Itoa(i*7919), hllSeed)
			h.add(x)
			h.add(x) // a repeat changes nothing
			idx, val := hllPos(x)
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

// TestMemoryParallel: a batch split among goroutines gives exactly the
// views and state of one applied by a single goroutine. The workload has
// what the split must keep apart: several families and Distinct metrics,
// Sum deltas (whose float sums depend on order), entities over a small
// cap, equal and out-of-order times, late operations, touches and
// retried batches.
func TestMemoryParallel(t *testing.T) {
	s := Schema{Families: []Family{
		{Name: "ip", Metrics: []Metric{
			{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute, time.Hour}, History: 6 * time.Hour, HistoryBucket: time.Hour},
			{Name: "users", Kind: Distinct, Windows: []time.Duration{time.Minute, 10 * time.Minute}, MinEvents: 5},
			{Name: "bytes", Kind: Sum, Windows: []time.Duration{time.Minute}},
			{Name: "paths", Kind: Distinct, Windows: []time.Duration{10 * time.Minute}},
		}},
		{Name: "user", Metrics: []Metric{
			{Name: "ips", Kind: Distinct, Windows: []time.Duration{time.Minute}, MinEvents: 1},
			{Name: "n", Kind: Count, Windows: []time.Duration{5 * time.Minute}},
		}},
	}, DistinctCap: 6}
	seq, err := NewMemory(s)
	if err != nil {
		t.Fatal(err)
	}
	par, _ := NewMemory(s)
	par.par, par.parOps, par.chunk = 3, 1, 50
	r := rand.New(rand.NewPCG(3, 4))
	var b Batch
	ms := int64(0)
	for i := range 20000 {
		ms += int64(r.IntN(40)) // equal times are common
		at := t0.Add(time.Duration(ms) * time.Millisecond)
		if r.IntN(10) == 0 {
			at = at.Add(-time.Duration(r.IntN(200)) * time.Second) // out of order, some too late
		}
		ip := "ip" + strconv.Itoa(int(r.ExpFloat64()*5)%60)
		user := "u" + strconv.Itoa(int(r.ExpFloat64()*20)%300)
		switch r.IntN(12) {
		case 0:
			b.Touch(0, ip, at)
		case 1:
			b.Touch(1, user, at)
		default:
			b.Add(0, ip, 0, at, 1)
			b.AddMember(0, ip, 1, at, user)
			b.Add(0, ip, 2, at, r.Float64()*3)
			b.AddMember(0, ip, 3, at, "/p/"+strconv.Itoa(r.IntN(30)))
			b.AddMember(1, user, 0, at, ip)
			b.Add(1, user, 1, at, 1)
		}
		b.MarkApplied("p0", int64(i))
		if r.IntN(300) != 0 && b.Len() < 3000 {
			continue
		}
		for try := range 1 + r.IntN(2) { // a second try is a retry: views only
			want, err := seq.Apply(context.Background(), &b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := par.Apply(context.Background(), &b)
			if err != nil {
				t.Fatal(err)
			}
			if w, g := renderResult(s, want), renderResult(s, got); w != g {
				t.Fatalf("event %d, try %d: split batch gives\n%s\nwant\n%s", i, try, g, w)
			}
		}
		b.Reset()
	}
	if seq.Late() == 0 || seq.Late() != par.Late() {
		t.Errorf("Late: %d split, %d whole; want equal and > 0", par.Late(), seq.Late())
	}
}

// renderResult writes out everything a detector can read from r's views.
func renderResult(s Schema, r *Result) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "late=%d\n", r.Late())
	for _, v := range r.Views() {
		fmt.Fprintf(&sb, "%d %s at=%d", v.Family, v.Entity, v.At.UnixMilli())
		for mi, m := range s.Families[v.Family].Metrics {
			id := MetricID(mi)
			for _, w := range append(m.Windows, 30*time.Second, 2*time.Hour) {
				if m.Kind == Distinct {
					n, exact := v.Distinct(id, w)
					fmt.Fprintf(&sb, " %d/%v=%v/%v", mi, w, n, exact)
				} else {
					fmt.Fprintf(&sb, " %d/%v=%v", mi, w, v.Value(id, w))
				}
			}
			if m.Kind == Distinct {
				fmt.Fprintf(&sb, " members=%v", v.Members(id, 100))
			}
			if m.History > 0 {
				start, _, vals := v.Series(id)
				mean, std, n := v.Baseline(id, 2*time.Hour)
				fmt.Fprintf(&sb, " series=%d/%v base=%v/%v/%d", start.UnixMilli(), vals, mean, std, n)
			}
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// TestMemoryViewsOutliveApplies: a Result stays what it was after later
// Applies change, trim and re-pack the same entities (views share member
// bytes with the store, which must never write over them).
func TestMemoryViewsOutliveApplies(t *testing.T) {
	s := Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute}},
		{Name: "users", Kind: Distinct, Windows: []time.Duration{time.Minute, 10 * time.Minute}},
	}}}, DistinctCap: 5}
	tests := []struct {
		name string
		par  int // appliers; 0: one
	}{{"one applier", 0}, {"split", 3}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMemory(s)
			if err != nil {
				t.Fatal(err)
			}
			if tc.par > 0 {
				m.par, m.parOps, m.chunk = tc.par, 1, 20
			}
			r := rand.New(rand.NewPCG(5, 6))
			type kept struct {
				res  *Result
				text string
			}
			var all []kept
			var b Batch
			for i := range 4000 {
				at := t0.Add(time.Duration(i) * 700 * time.Millisecond)
				ip := "ip" + strconv.Itoa(r.IntN(4))
				// Members of varied lengths, most seen once: sets go over
				// the cap and their bytes are re-packed on trims.
				user := strings.Repeat("u", 1+r.IntN(12)) + strconv.Itoa(r.IntN(400))
				b.Add(0, ip, 0, at, 1)
				b.AddMember(0, ip, 1, at, user)
				if b.Len() < 40 {
					continue
				}
				res, err := m.Apply(context.Background(), &b)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, kept{res, renderResult(s, res)})
				b.Reset()
			}
			for i, k := range all {
				if got := renderResult(s, k.res); got != k.text {
					t.Fatalf("result %d of %d changed after later Applies:\n%s\nwas\n%s", i, len(all), got, k.text)
				}
			}
		})
	}
}

// TestNthSmallest: the quickselect trims use agrees with sorting, with
// duplicates, sorted and reversed input.
func TestNthSmallest(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	tests := []struct {
		name string
		gen  func(n int) []int64
	}{
		{"random", func(n int) []int64 {
			a := make([]int64, n)
			for i := range a {
				a[i] = r.Int64N(1000)
			}
			return a
		}},
		{"few values", func(n int) []int64 {
			a := make([]int64, n)
			for i := range a {
				a[i] = r.Int64N(3)
			}
			return a
		}},
		{"sorted", func(n int) []int64 {
			a := make([]int64, n)
			for i := range a {
				a[i] = int64(i)
			}
			return a
		}},
		{"reversed", func(n int) []int64 {
			a := make([]int64, n)
			for i := range a {
				a[i] = int64(n - i)
			}
			return a
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, n := range []int{1, 2, 3, 5, 17, 64, 65, 130, 1000} {
				a := tc.gen(n)
				sorted := slices.Clone(a)
				slices.Sort(sorted)
				for _, k := range []int{0, n / 3, n / 2, n - 1} {
					if got := nthSmallest(slices.Clone(a), k); got != sorted[k] {
						t.Fatalf("n=%d k=%d: %d, want %d", n, k, got, sorted[k])
					}
				}
			}
		})
	}
}

// TestMemoryRejectsBadOps: an operation the schema does not allow fails the
// whole Apply, whichever goroutine's share it is in, and nothing of the
// batch is applied.
func TestMemoryRejectsBadOps(t *testing.T) {
	s := Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute}},
		{Name: "users", Kind: Distinct, Windows: []time.Duration{time.Minute}},
	}}}}
	tests := []struct {
		name, want string
		bad        func(b *Batch, at time.Time)
	}{
		{"unknown family", "uses family 1", func(b *Batch, at time.Time) { b.Add(1, "x", 0, at, 1) }},
		{"unknown metric", "uses metric 2", func(b *Batch, at time.Time) { b.Add(0, "x", 2, at, 1) }},
		{"Add on Distinct", "use AddMember for Distinct", func(b *Batch, at time.Time) { b.Add(0, "x", 1, at, 1) }},
		{"AddMember on Count", "use AddMember for Distinct", func(b *Batch, at time.Time) { b.AddMember(0, "x", 0, at, "u") }},
	}
	for _, tc := range tests {
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/split=%v", tc.name, split), func(t *testing.T) {
				m, _ := NewMemory(s)
				if split {
					m.par, m.parOps, m.chunk = 3, 1, 10
				}
				var b Batch
				for i := range 100 {
					at := t0.Add(time.Duration(i) * time.Second)
					b.Add(0, "ip"+strconv.Itoa(i%7), 0, at, 1)
					b.AddMember(0, "ip"+strconv.Itoa(i%7), 1, at, "u"+strconv.Itoa(i))
				}
				tc.bad(&b, t0.Add(100*time.Second))
				b.MarkApplied("p0", 0)
				if _, err := m.Apply(context.Background(), &b); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Apply: %v, want an error with %q", err, tc.want)
				}
				b.Reset()
				b.Touch(0, "ip1", t0)
				res, err := m.Apply(context.Background(), &b)
				if err != nil {
					t.Fatal(err)
				}
				v, _ := res.View(0, "ip1")
				if n := v.Value(0, time.Minute); n != 0 || !v.At.IsZero() {
					t.Errorf("after the rejected batch ip1 has %v events at %v, want none", n, v.At)
				}
				if off, _ := m.AppliedOffsets(context.Background(), []string{"p0"}); off["p0"] != -1 {
					t.Errorf("applied offset %d after the rejected batch, want -1", off["p0"])
				}
			})
		}
	}
}

// TestReleasedResultsReused: a store that gets every Result back through
// Release (and builds the next views in the same memory) answers exactly
// as one that never does, on both stores. The families lay their metrics
// out differently and many views are touches of empty entities, so a
// reused view that kept anything of its previous entity would show.
func TestReleasedResultsReused(t *testing.T) {
	s := Schema{Families: []Family{
		{Name: "ip", Metrics: []Metric{
			{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute, time.Hour}, History: 6 * time.Hour, HistoryBucket: time.Hour},
			{Name: "users", Kind: Distinct, Windows: []time.Duration{time.Minute, 10 * time.Minute}, MinEvents: 5},
		}},
		{Name: "user", Metrics: []Metric{
			{Name: "ips", Kind: Distinct, Windows: []time.Duration{time.Minute}, MinEvents: 1},
			{Name: "bytes", Kind: Sum, Windows: []time.Duration{5 * time.Minute}},
		}},
	}, DistinctCap: 4}
	pairs := []struct {
		name string
		open func(t *testing.T) (kept, released Store)
	}{
		{"memory", func(t *testing.T) (Store, Store) {
			a, _ := NewMemory(s)
			b, err := NewMemory(s)
			if err != nil {
				t.Fatal(err)
			}
			b.par, b.parOps, b.chunk = 2, 1, 30
			return a, b
		}},
		{"redis", func(t *testing.T) (Store, Store) {
			c := redisClient(t, testenv.Redis(t))
			a, err := NewRedis(c, s, RedisOptions{Prefix: "kept"})
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewRedis(c, s, RedisOptions{Prefix: "released"})
			if err != nil {
				t.Fatal(err)
			}
			return a, b
		}},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			kept, released := p.open(t)
			ctx := context.Background()
			r := rand.New(rand.NewPCG(7, 8))
			var b Batch
			reused := 0
			var last *resultMem
			for i := range 3000 {
				at := t0.Add(time.Duration(i) * 900 * time.Millisecond)
				ip := "ip" + strconv.Itoa(int(r.ExpFloat64()*4)%40)
				user := "u" + strconv.Itoa(r.IntN(200))
				switch r.IntN(4) {
				case 0:
					b.Touch(0, "quiet"+strconv.Itoa(r.IntN(50)), at)
					b.Touch(1, "nobody"+strconv.Itoa(r.IntN(50)), at)
				default:
					b.Add(0, ip, 0, at, 1)
					b.AddMember(0, ip, 1, at, user)
					b.AddMember(1, user, 0, at, ip)
					b.Add(1, user, 1, at, r.Float64()*100)
				}
				b.MarkApplied("p0", int64(i))
				if b.Len() < 20+r.IntN(200) {
					continue
				}
				want, err := kept.Apply(ctx, &b)
				if err != nil {
					t.Fatal(err)
				}
				got, err := released.Apply(ctx, &b)
				if err != nil {
					t.Fatal(err)
				}
				if got.mem == last {
					reused++
				}
				last = got.mem
				if w, g := renderResult(s, want), renderResult(s, got); w != g {
					t.Fatalf("event %d: after Releases the views are\n%s\nwant\n%s", i, g, w)
				}
				got.Release()
				got.Release() // a second call does nothing
				b.Reset()
			}
			if reused == 0 {
				t.Fatal("no Apply reused a released Result's memory")
			}
		})
	}
}

// TestMemoryHeldViewsWhileApplying: a held Result's views can be read
// while later Applies change the same entities on another goroutine (run
// with -race: the store must write only to copies of what views read).
func TestMemoryHeldViewsWhileApplying(t *testing.T) {
	s := Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute}},
		{Name: "users", Kind: Distinct, Windows: []time.Duration{time.Minute}},
	}}}, DistinctCap: 4}
	m, err := NewMemory(s)
	if err != nil {
		t.Fatal(err)
	}
	m.par, m.parOps, m.chunk = 2, 1, 10
	var b Batch
	fill := func(round int) {
		for i := range 400 {
			at := t0.Add(time.Duration(round*400+i) * 50 * time.Millisecond)
			ip := "ip" + strconv.Itoa(i%7)
			b.Add(0, ip, 0, at, 1)
			b.AddMember(0, ip, 1, at, "u"+strconv.Itoa((round*31+i)%50))
		}
	}
	fill(0)
	held, err := m.Apply(context.Background(), &b)
	if err != nil {
		t.Fatal(err)
	}
	want := renderResult(s, held)
	done := make(chan string)
	go func() {
		var got string
		for range 50 {
			got = renderResult(s, held)
		}
		done <- got
	}()
	for round := 1; round < 20; round++ {
		b.Reset()
		fill(round)
		res, err := m.Apply(context.Background(), &b)
		if err != nil {
			t.Fatal(err)
		}
		res.Release()
	}
	if got := <-done; got != want {
		t.Fatalf("a held Result changed while later batches were applied:\n%s\nwant\n%s", got, want)
	}
}
