package window

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// t0 is aligned to every bucket size, so expectations are easy to derive.
var t0 = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)

func sec(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// redisClient returns a client without retries on a fresh test database.
func redisClient(t testing.TB, srv *testenv.RedisServer) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, DB: srv.DB, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

type storeKind struct {
	name string
	open func(t *testing.T, s Schema) Store
}

func storeKinds() []storeKind {
	return []storeKind{
		{"memory", func(t *testing.T, s Schema) Store {
			m, err := NewMemory(s)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}},
		{"redis", func(t *testing.T, s Schema) Store {
			c := redisClient(t, testenv.Redis(t))
			r, err := NewRedis(c, s, RedisOptions{Prefix: "t"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { checkRedisKeys(t, c) })
			return r
		}},
	}
}

// checkRedisKeys asserts every key has a TTL.
func checkRedisKeys(t *testing.T, c *redis.Client) {
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if ttl := c.TTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("key %q has no TTL (%v)", k, ttl)
		}
	}
}

type op struct {
	kind   uint8 // opAdd, opMember, opTouch
	f      FamilyID
	e      string
	m      MetricID
	t      time.Time
	d      float64
	member string
}

func add(e string, m MetricID, t time.Time, d float64) op {
	return op{kind: opAdd, e: e, m: m, t: t, d: d}
}
func mem(e string, m MetricID, t time.Time, member string) op {
	return op{kind: opMember, e: e, m: m, t: t, member: member}
}
func touch(e string) op { return op{kind: opTouch, e: e} }

func fill(b *Batch, ops []op) {
	b.Reset()
	for _, o := range ops {
		switch o.kind {
		case opAdd:
			b.Add(o.f, o.e, o.m, o.t, o.d)
		case opMember:
			b.AddMember(o.f, o.e, o.m, o.t, o.member)
		default:
			b.Touch(o.f, o.e, o.t)
		}
	}
}

var (
	minute   = time.Minute
	ipSchema = Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute, 10 * time.Minute, time.Hour},
			History: 6 * time.Hour, HistoryBucket: time.Hour},
		{Name: "users", Kind: Distinct, Windows: []time.Duration{time.Minute, 10 * time.Minute}},
		{Name: "bytes", Kind: Sum, Windows: []time.Duration{time.Minute}},
	}}}, DistinctCap: 8}
)

type check func(t *testing.T, r *Result, st Store)

func value(e string, m MetricID, w time.Duration, want float64) check {
	return func(t *testing.T, r *Result, _ Store) {
		v, ok := r.View(0, e)
		if !ok {
			t.Fatalf("no view of %q", e)
		}
		if got := v.Value(m, w); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s metric %d over %v = %v, want %v (At %v)", e, m, w, got, want, v.At)
		}
	}
}

func distinct(e string, m MetricID, w time.Duration, want float64, tol float64, wantExact bool) check {
	return func(t *testing.T, r *Result, _ Store) {
		v, _ := r.View(0, e)
		got, exact := v.Distinct(m, w)
		if math.Abs(got-want) > tol || exact != wantExact {
			t.Errorf("%s distinct %d over %v = %v exact=%v, want %v±%v exact=%v", e, m, w, got, exact, want, tol, wantExact)
		}
	}
}

func late(want int64) check {
	return func(t *testing.T, r *Result, _ Store) {
		if r.Late() != want {
			t.Errorf("Late() = %d, want %d", r.Late(), want)
		}
	}
}

func run(n int, f func(i int) []op) []op {
	var out []op
	for i := range n {
		out = append(out, f(i)...)
	}
	return out
}

type step struct {
	ops    []op
	checks []check
}

var conformance = []struct {
	name   string
	schema Schema
	steps  []step
}{
	{"window edges", ipSchema, []step{{
		// One event per second for 100 s: At = 99 s. The 1 min window
		// (39 s, 99 s] holds buckets 40..95 fully (60 events) and a fifth
		// of bucket [35 s, 40 s) (5 events): 61.
		ops: run(100, func(i int) []op { return []op{add("a", 0, sec(float64(i)), 1)} }),
		checks: []check{value("a", 0, time.Minute, 61), value("a", 0, 10*time.Minute, 100), value("a", 0, time.Hour, 100),
			func(t *testing.T, r *Result, _ Store) {
				v, _ := r.View(0, "a")
				if !v.At.Equal(sec(99)) {
					t.Errorf("At = %v, want %v", v.At, sec(99))
				}
			}},
	}, {
		// At moves to 125 s: 1 min window (65, 125]: bucket [65,70) is
		// fully inside (weight 1): events 65..99 = 35, plus this one.
		ops:    []op{add("a", 0, sec(125), 1)},
		checks: []check{value("a", 0, time.Minute, 36), value("a", 0, 10*time.Minute, 101)},
	}, {
		// A window that is not a bucket multiple: 90 s over 1 min buckets
		// (its resolution), window (35, 125]: bucket [0,60) is cut to
		// 25/60 of its 60 events, plus 40 + 1.
		ops:    []op{touch("a")},
		checks: []check{value("a", 0, 90*time.Second, 60.0*25/60+41)},
	}}},
	{"several windows and sums", ipSchema, []step{{
		ops: run(30, func(i int) []op {
			// every 20 s over 10 minutes, 1.5 bytes each
			return []op{add("b", 0, sec(float64(i*20)), 2), add("b", 2, sec(float64(i*20)), 1.5)}
		}),
		// At = 580 s. 1 min starts at 520 s, a bucket edge, so bucket
		// [520,525) counts whole (weight 1): events 520..580 = 4 -> 8.
		checks: []check{value("b", 0, time.Minute, 8), value("b", 2, time.Minute, 6),
			value("b", 0, 10*time.Minute, 60), value("b", 0, time.Hour, 60)},
	}}},
	{"lateness", ipSchema, []step{{
		ops:    []op{add("c", 0, sec(300), 1), add("c", 0, sec(100), 1), add("c", 0, sec(250), 1)},
		checks: []check{late(1), value("c", 0, time.Minute, 2), value("c", 0, time.Hour, 2)},
	}, {
		// Lateness is judged against the newest event time seen before, not
		// per batch: 170 s is 130 s behind 300 s.
		ops:    []op{add("c", 0, sec(170), 1), add("c", 0, sec(181), 1), add("d", 0, sec(150), 1)},
		checks: []check{late(2), value("c", 0, time.Hour, 3)},
	}}},
	{"distinct exact then estimated", ipSchema, []step{{
		ops: run(5, func(i int) []op {
			return []op{mem("e", 1, sec(float64(i)), "u"+strconv.Itoa(i)), add("e", 0, sec(float64(i)), 1)}
		}),
		checks: []check{distinct("e", 1, time.Minute, 5, 0, true),
			func(t *testing.T, r *Result, _ Store) {
				v, _ := r.View(0, "e")
				got := fmt.Sprint(v.Members(1, 3))
				if got != "[u4 u3 u2]" {
					t.Errorf("Members = %s, want [u4 u3 u2]", got)
				}
			}},
	}, {
		// 20 more members (25 > cap 8): nothing is dropped yet, so still exact.
		ops: run(20, func(i int) []op {
			return []op{mem("e", 1, sec(float64(10+i)), "v"+strconv.Itoa(i)), add("e", 0, sec(float64(10+i)), 1)}
		}),
		checks: []check{distinct("e", 1, time.Minute, 25, 0, true), distinct("e", 1, 10*time.Minute, 25, 0, true)},
	}, {
		// The cap trims to the 8 newest; the rest live on in the
		// HyperLogLog, so 27 members are estimated.
		ops:    []op{mem("e", 1, sec(40), "w1"), mem("e", 1, sec(41), "w2"), add("e", 0, sec(41), 1)},
		checks: []check{distinct("e", 1, 10*time.Minute, 27, 1, false), distinct("e", 1, time.Minute, 27, 1, false)},
	}, {
		ops:    []op{touch("e")},
		checks: []check{distinct("e", 1, 10*time.Minute, 27, 1, false)},
	}}},
	{"distinct below MinEvents reports the exact part", Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute}},
		{Name: "users", Kind: Distinct, Windows: []time.Duration{time.Minute}, MinEvents: 1000},
	}}}, DistinctCap: 4}, []step{
		{ops: run(10, func(i int) []op {
			return []op{mem("f", 1, sec(float64(i)), "u"+strconv.Itoa(i)), add("f", 0, sec(float64(i)), 1)}
		})},
		{ops: []op{mem("f", 1, sec(20), "x"), add("f", 0, sec(20), 1)},
			// members 6..9 kept (4), plus x: 5, not exact.
			checks: []check{distinct("f", 1, time.Minute, 5, 0, false)}},
	}},
	{"over the cap, a batch's newest cap members stay exact", Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute}},
		{Name: "users", Kind: Distinct, Windows: []time.Duration{time.Minute}, MinEvents: 1000},
	}}}, DistinctCap: 4}, []step{
		{ops: run(10, func(i int) []op {
			return []op{mem("h", 1, sec(float64(i)), "u"+strconv.Itoa(i)), add("h", 0, sec(float64(i)), 1)}
		}),
			// Not over the cap before this batch: all 10 are exact.
			checks: []check{distinct("h", 1, time.Minute, 10, 0, true)}},
		// Trimmed to u6..u9; x makes 5, and the trim keeps u7..u9, x.
		{ops: []op{mem("h", 1, sec(20), "x"), add("h", 0, sec(20), 1)},
			checks: []check{distinct("h", 1, time.Minute, 5, 0, false)}},
		// Already over the cap: of six new members only the newest four
		// join the exact part (u7..u9, x and y2..y5), as members too.
		{ops: run(6, func(i int) []op {
			return []op{mem("h", 1, sec(float64(30+i)), "y"+strconv.Itoa(i)), add("h", 0, sec(float64(30+i)), 1)}
		}),
			checks: []check{distinct("h", 1, time.Minute, 8, 0, false),
				func(t *testing.T, r *Result, _ Store) {
					v, _ := r.View(0, "h")
					if got := fmt.Sprint(v.Members(1, 10)); got != "[y5 y4 y3 y2 x u9 u8 u7]" {
						t.Errorf("Members = %s, want [y5 y4 y3 y2 x u9 u8 u7]", got)
					}
				}}},
	}},
	{"a member at or before the dropped mark is not counted exactly", Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute}},
		{Name: "users", Kind: Distinct, Windows: []time.Duration{time.Minute}, MinEvents: 1000},
	}}}, DistinctCap: 4}, []step{
		// u0..u9; the trim keeps u6..u9 and drops up to 5 s.
		{ops: run(10, func(i int) []op {
			return []op{mem("k", 1, sec(float64(i)), "u"+strconv.Itoa(i)), add("k", 0, sec(float64(i)), 1)}
		})},
		// u2 comes back with its old time (2 s, at or before the mark):
		// it stays dropped, as it would if the trim had come after it.
		// With several workers a trim cannot reach another worker's
		// copy of a member; this rule gives the same count as if it did.
		{ops: []op{mem("k", 1, sec(2), "u2"), mem("k", 1, sec(20), "x"), add("k", 0, sec(20), 1)},
			checks: []check{distinct("k", 1, time.Minute, 5, 0, false),
				func(t *testing.T, r *Result, _ Store) {
					v, _ := r.View(0, "k")
					if got := fmt.Sprint(v.Members(1, 10)); got != "[x u9 u8 u7 u6]" {
						t.Errorf("Members = %s, want [x u9 u8 u7 u6]", got)
					}
				}}},
		// A newer time brings it back.
		{ops: []op{mem("k", 1, sec(21), "u2")},
			checks: []check{func(t *testing.T, r *Result, _ Store) {
				v, _ := r.View(0, "k")
				if got := fmt.Sprint(v.Members(1, 10)); got != "[u2 x u9 u8 u7]" {
					t.Errorf("Members = %s, want [u2 x u9 u8 u7]", got)
				}
			}}},
	}},
	{"seasonal baseline", Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
		{Name: "req", Kind: Count, Windows: []time.Duration{time.Hour}, History: 8 * time.Hour, HistoryBucket: time.Hour},
	}}}}, []step{{
		// Hours 0..5 hold 10, 1, 12, 1, 14, 1 events; At is in hour 6.
		// With a 2 h period the same phase is hours 4, 2, 0: 14, 12, 10.
		ops: func() []op {
			var out []op
			for h, n := range []int{10, 1, 12, 1, 14, 1, 3} {
				for i := range n {
					out = append(out, add("s", 0, sec(float64(h*3600+i*60)), 1))
				}
			}
			return out
		}(),
		checks: []check{func(t *testing.T, r *Result, _ Store) {
			v, _ := r.View(0, "s")
			mean, std, n := v.Seasonal(0, 2*time.Hour, 0)
			if math.Abs(mean-12) > 1e-9 || math.Abs(std-math.Sqrt(8.0/3)) > 1e-9 || n != 3 {
				t.Errorf("Seasonal(2h, equal weights) = %v %v %d, want 12 %v 3", mean, std, n, math.Sqrt(8.0/3))
			}
			// One period of half-life: weights 1, 1/2, 1/4 from the newest.
			mean, _, _ = v.Seasonal(0, 2*time.Hour, 2*time.Hour)
			if want := (14 + 12.0/2 + 10.0/4) / 1.75; math.Abs(mean-want) > 1e-9 {
				t.Errorf("Seasonal(2h, 2h half-life) mean = %v, want %v", mean, want)
			}
			// A period of one bucket is the plain baseline of hours 5..0.
			if mean, std, n := v.Seasonal(0, time.Hour, 0); n != 6 || std == 0 || mean != (10+1+12+1+14+1)/6.0 {
				t.Errorf("Seasonal(1h) = %v %v %d: a period of one bucket is the plain baseline", mean, std, n)
			}
			// Not a multiple of the bucket, or longer than the history.
			for _, p := range []time.Duration{90 * time.Minute, 9 * time.Hour} {
				if _, _, n := v.Seasonal(0, p, 0); n != 0 {
					t.Errorf("Seasonal(%v) n = %d, want 0", p, n)
				}
			}
		}},
	}}},
	{"series and baseline", ipSchema, []step{{
		// Hours 0..4 hold 2, 4, 0, 6, 8 events; the current hour 5 holds 1.
		ops: func() []op {
			var out []op
			for h, n := range []int{2, 4, 0, 6, 8, 1} {
				for i := range n {
					out = append(out, add("g", 0, sec(float64(h*3600+i*60)), 1))
				}
			}
			return out
		}(),
		checks: []check{func(t *testing.T, r *Result, _ Store) {
			v, _ := r.View(0, "g")
			start, step, vals := v.Series(0)
			if !start.Equal(t0) || step != time.Hour || fmt.Sprint(vals) != "[2 4 0 6 8 1]" {
				t.Errorf("Series = %v %v %v, want %v 1h [2 4 0 6 8 1]", start, step, vals, t0)
			}
			mean, std, n := v.Baseline(0, 0)
			// 2 4 0 6 8: mean 4, population std sqrt(8)
			if math.Abs(mean-4) > 1e-9 || math.Abs(std-math.Sqrt(8)) > 1e-9 || n != 4 {
				t.Errorf("Baseline(equal weights) = %v %v %d, want 4 %v 4", mean, std, n, math.Sqrt(8))
			}
			mean, _, _ = v.Baseline(0, time.Hour)
			// weights 1, 1/2, 1/4, 1/8, 1/16 from the newest
			want := (8 + 6.0/2 + 0 + 4.0/8 + 2.0/16) / (1 + 0.5 + 0.25 + 0.125 + 0.0625)
			if math.Abs(mean-want) > 1e-9 {
				t.Errorf("Baseline(1h half-life) mean = %v, want %v", mean, want)
			}
		}},
	}}},
}

func TestConformance(t *testing.T) {
	for _, sk := range storeKinds() {
		t.Run(sk.name, func(t *testing.T) {
			for _, tc := range conformance {
				t.Run(tc.name, func(t *testing.T) {
					st := sk.open(t, tc.schema)
					var b Batch
					for i, s := range tc.steps {
						fill(&b, s.ops)
						r, err := st.Apply(context.Background(), &b)
						if err != nil {
							t.Fatalf("step %d: %v", i, err)
						}
						for _, c := range s.checks {
							c(t, r, st)
						}
					}
				})
			}
		})
	}
}
