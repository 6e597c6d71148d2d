package window

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/internal/testenv"
)

type event struct {
	stream string
	offset int64
	ip     string
	user   string
	t      time.Time
}

// genEvents makes n events over streams p0 and p1, roughly in time order
// (jitter within Lateness), every 50th one far too late when withLate.
func genEvents(n, ips, users int, withLate bool) []event {
	r := rand.New(rand.NewPCG(7, 11))
	offs := map[string]int64{}
	out := make([]event, n)
	for i := range out {
		st := "p" + strconv.Itoa(r.IntN(2))
		t := t0.Add(time.Duration(i)*300*time.Millisecond - time.Duration(r.IntN(20))*time.Second)
		if withLate && i%50 == 49 {
			t = t.Add(-5 * time.Minute)
		}
		out[i] = event{stream: st, offset: offs[st], ip: "10.0.0." + strconv.Itoa(r.IntN(ips)),
			user: "u" + strconv.Itoa(r.IntN(users)), t: t}
		offs[st]++
	}
	return out
}

func addEvent(b *Batch, e event) {
	b.Add(0, e.ip, 0, e.t, 1)
	b.AddMember(0, e.ip, 1, e.t, e.user)
	b.Add(0, e.ip, 2, e.t, 1.5)
	if e.stream != "" { // events without a stream (the multi-worker tests) claim no offset
		b.MarkApplied(e.stream, e.offset)
	}
}

// worker feeds events to st in batches of size, skipping what st already
// holds (AppliedOffsets) and returning the offsets it would commit: those
// of every third batch (the last batches stay uncommitted, like a worker
// that dies before committing).
type worker struct {
	st        Store
	committed map[string]int64
	applied   map[string]int64
}

func newWorker(t *testing.T, st Store, streams []string) *worker {
	offs, err := st.AppliedOffsets(context.Background(), streams)
	if err != nil {
		t.Fatal(err)
	}
	return &worker{st: st, applied: offs, committed: map[string]int64{}}
}

func (w *worker) feed(t *testing.T, evs []event, size int) {
	var b Batch
	n := 0
	flush := func() {
		if b.Len() == 0 {
			return
		}
		if _, err := w.st.Apply(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		n++
		if n%3 == 0 {
			for st, off := range b.marks {
				w.committed[st] = off
			}
		}
		b.Reset()
	}
	for _, e := range evs {
		if off, ok := w.applied[e.stream]; ok && e.offset <= off {
			continue
		}
		addEvent(&b, e)
		if b.Len() >= 3*size {
			flush()
		}
	}
	flush()
}

// after returns the events of streams after the committed offsets.
func after(evs []event, committed map[string]int64, streams ...string) []event {
	var out []event
	for _, e := range evs {
		for _, s := range streams {
			if e.stream != s {
				continue
			}
			if off, ok := committed[s]; !ok || e.offset > off {
				out = append(out, e)
			}
		}
	}
	return out
}

type snap map[string]string

var snapWindows = []time.Duration{time.Minute, 10 * time.Minute, time.Hour}

// snapshot touches every ip and renders what detectors can read.
func snapshot(t *testing.T, st Store, evs []event) snap {
	var b Batch
	ips := map[string]bool{}
	for _, e := range evs {
		if !ips[e.ip] {
			ips[e.ip] = true
			b.Touch(0, e.ip, e.t)
		}
	}
	r, err := st.Apply(context.Background(), &b)
	if err != nil {
		t.Fatal(err)
	}
	out := snap{}
	for _, v := range r.Views() {
		var sb strings.Builder
		fmt.Fprintf(&sb, "at=%v", v.At.Format(time.RFC3339Nano))
		for _, w := range snapWindows {
			fmt.Fprintf(&sb, " req%v=%.6f bytes%v=%.6f", w, v.Value(0, w), w, v.Value(2, w))
		}
		for _, w := range []time.Duration{time.Minute, 10 * time.Minute} {
			n, exact := v.Distinct(1, w)
			fmt.Fprintf(&sb, " users%v=%v/%v", w, n, exact)
		}
		_, _, series := v.Series(0)
		mean, std, n := v.Baseline(0, 2*time.Hour)
		fmt.Fprintf(&sb, " members=%v series=%v base=%.6f/%.6f/%d", v.Members(1, 5), series, mean, std, n)
		out[v.Entity] = sb.String()
	}
	return out
}

func compareSnaps(t *testing.T, want, got snap) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%d entities, want %d", len(got), len(want))
	}
	bad := 0
	for k, w := range want {
		if g := got[k]; g != w && bad < 5 {
			bad++
			t.Errorf("%s:\n got %s\nwant %s", k, g, w)
		}
	}
}

func memoryRun(t *testing.T, s Schema, evs []event, size int) snap {
	m, err := NewMemory(s)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorker(t, m, []string{"p0", "p1"})
	w.feed(t, evs, size)
	return snapshot(t, m, evs)
}

func newRedisStore(t *testing.T, srv *testenv.RedisServer, s Schema) *RedisStore {
	r, err := NewRedis(redisClient(t, srv), s, RedisOptions{Prefix: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMemoryRedisEquivalence feeds the same events, with late ones and
// distinct counts beyond the cap, to both stores: every view must match,
// HyperLogLog estimates included.
func TestMemoryRedisEquivalence(t *testing.T) {
	evs := genEvents(6000, 12, 60, true)
	want := memoryRun(t, ipSchema, evs, 200)
	st := newRedisStore(t, testenv.Redis(t), ipSchema)
	newWorker(t, st, nil).feed(t, evs, 200)
	compareSnaps(t, want, snapshot(t, st, evs))
	m, _ := NewMemory(ipSchema)
	newWorker(t, m, nil).feed(t, evs, 200)
	if m.Late() == 0 || m.Late() != st.Late() {
		t.Errorf("Late: memory %d, redis %d; want equal and > 0", m.Late(), st.Late())
	}
}

// crashSchema keeps distinct counts exact (users <= cap) so that windows
// of a replayed run must equal an uninterrupted one exactly.
var crashSchema = Schema{Families: ipSchema.Families, DistinctCap: 64}

func TestCrashReplay(t *testing.T) {
	evs := genEvents(3000, 20, 40, true)
	want := memoryRun(t, crashSchema, evs, 100)
	srv := testenv.Redis(t)
	streams := []string{"p0", "p1"}

	a := newWorker(t, newRedisStore(t, srv, crashSchema), streams)
	a.feed(t, evs[:1700], 100) // applied beyond its last commit, then dies
	b := newWorker(t, newRedisStore(t, srv, crashSchema), streams)
	for _, s := range streams {
		if b.applied[s] < a.committed[s] {
			t.Fatalf("stream %s: applied %d below committed %d", s, b.applied[s], a.committed[s])
		}
	}
	// Kafka redelivers from the last commit; batch boundaries differ.
	b.feed(t, after(evs, a.committed, streams...), 137)
	compareSnaps(t, want, snapshot(t, b.st, evs))
}

// TestRebalanceBetweenWorkers: two workers each consume one partition,
// then one of them takes over the other's partition from its last commit;
// the windows must equal one uninterrupted store's. With entities far over
// the distinct cap, the two workers' trims and dropped marks must merge to
// what one store holds too.
func TestRebalanceBetweenWorkers(t *testing.T) {
	// Each worker has its own watermark; a long Lateness keeps the test
	// about offsets rather than about watermarks drifting between workers.
	exact := crashSchema
	exact.Lateness = time.Hour
	for _, tc := range []struct {
		name       string
		ips, users int
		s          Schema
	}{
		{"exact", 20, 40, exact},
		{"over the cap", 5, 200, Schema{Families: ipSchema.Families, DistinctCap: 8, Lateness: time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := genEvents(3000, tc.ips, tc.users, false)
			want := memoryRun(t, tc.s, evs, 100)
			srv := testenv.Redis(t)
			a := newWorker(t, newRedisStore(t, srv, tc.s), []string{"p0"})
			b := newWorker(t, newRedisStore(t, srv, tc.s), []string{"p1"})
			half := evs[:1500]
			for i := 0; i < len(half); i += 300 {
				chunk := half[i:min(i+300, len(half))]
				a.feed(t, after(chunk, nil, "p0"), 50)
				b.feed(t, after(chunk, nil, "p1"), 50)
			}
			// p1 moves to worker a; b is gone with uncommitted batches applied.
			a2 := newWorker(t, a.st, []string{"p1"})
			a2.feed(t, after(evs, b.committed, "p1"), 70)
			a2.applied = map[string]int64{}
			a2.feed(t, after(evs[1500:], nil, "p0"), 70)
			compareSnaps(t, want, snapshot(t, a.st, evs))
		})
	}
}

// TestRedisRestart kills Redis between batches. The server runs without
// persistence (testenv), so a restart loses what was stored before: the
// test checks that Apply fails cleanly while Redis is down, that the retried
// batch and the ones after it land exactly once once Redis is back, and that
// AppliedOffsets reports what the new server holds.
func TestRedisRestart(t *testing.T) {
	evs := genEvents(2000, 10, 30, false)
	srv := testenv.StartRedis(t)
	st := newRedisStore(t, srv, crashSchema)
	var batches []Batch
	for i := 0; i < len(evs); i += 200 {
		var b Batch
		for _, e := range evs[i:min(i+200, len(evs))] {
			addEvent(&b, e)
		}
		batches = append(batches, b)
	}
	ctx := context.Background()
	for i := range 5 {
		if _, err := st.Apply(ctx, &batches[i]); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop()
	_, err := st.Apply(ctx, &batches[5])
	if err == nil || !strings.Contains(err.Error(), "retry the same batch") {
		t.Fatalf("Apply with Redis down: err = %v, want a wrapped error telling to retry", err)
	}
	if _, err := st.AppliedOffsets(ctx, []string{"p0"}); err == nil {
		t.Fatal("AppliedOffsets with Redis down: want an error")
	}
	srv.Restart(t)
	var retryErr error
	for range 50 {
		if _, retryErr = st.Apply(ctx, &batches[5]); retryErr == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if retryErr != nil {
		t.Fatalf("retry after restart: %v", retryErr)
	}
	for i := 6; i < len(batches); i++ {
		if _, err := st.Apply(ctx, &batches[i]); err != nil {
			t.Fatal(err)
		}
	}
	evsAfter := evs[1000:]
	m, _ := NewMemory(crashSchema)
	for i := 5; i < len(batches); i++ {
		if _, err := m.Apply(ctx, &batches[i]); err != nil {
			t.Fatal(err)
		}
	}
	compareSnaps(t, snapshot(t, m, evsAfter), snapshot(t, st, evsAfter))
	offs, err := st.AppliedOffsets(ctx, []string{"p0", "p1"})
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if offs[last.stream] != last.offset {
		t.Errorf("AppliedOffsets[%s] = %d, want %d", last.stream, offs[last.stream], last.offset)
	}
}

// TestRedisBoundedFields runs one busy entity for 5 hours of event time
// and checks the hash and member set stay within what the windows need.
func TestRedisBoundedFields(t *testing.T) {
	srv := testenv.Redis(t)
	c := redisClient(t, srv)
	st, err := NewRedis(c, ipSchema, RedisOptions{Prefix: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var b Batch
	maxC, maxM, maxF := 0, 0, 0
	for i := range 2600 {
		tm := sec(float64(i * 7))
		b.Add(0, "busy", 0, tm, 1)
		b.AddMember(0, "busy", 1, tm, "u"+strconv.Itoa(i%100))
		b.Add(0, "busy", 2, tm, 1)
		if i%10 == 9 {
			if _, err := st.Apply(ctx, &b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
			fields := c.HGetAll(ctx, "t:{ip:busy}:h").Val()
			maxF = max(maxF, len(fields))
			for _, val := range fields {
				var d blobState
				if _, ok := decodeBlob(val, &d); !ok {
					t.Fatalf("field value %q does not decode", val)
				}
				maxC, maxM = max(maxC, len(d.ctrs)), max(maxM, len(d.mems))
			}
		}
	}
	if maxF != 1 {
		t.Errorf("hash grew to %d fields, want 1 (one writing instance)", maxF)
	}
	// req: 13 (5 s) + 61 (1 min) + 6 (1 h history) buckets; bytes: 13.
	// Without pruning the state would hold ~5,000 buckets.
	if limit := 13 + 61 + 6 + 13; maxC > limit {
		t.Errorf("state grew to %d counter buckets, want <= %d", maxC, limit)
	}
	// cap 8 + one batch of new members
	if limit := 8 + 10; maxM > limit {
		t.Errorf("state grew to %d members, want <= %d", maxM, limit)
	}
	checkRedisKeys(t, c)
}

// TestRetryAfterLostReply: a MULTI that ran but whose reply was lost looks
// like a failure to the caller, who retries the same batch. The retry must
// not count it twice.
func TestRetryAfterLostReply(t *testing.T) {
	st := newRedisStore(t, testenv.Redis(t), crashSchema)
	ctx := context.Background()
	var b Batch
	for i := range 10 {
		addEvent(&b, event{stream: "p0", offset: int64(i), ip: "x", user: "u", t: sec(float64(i))})
	}
	if _, err := st.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	lostReply(st, "p0") // as after an Exec error whose MULTI did run
	r, err := st.Apply(ctx, &b)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := r.View(0, "x"); v.Value(0, time.Hour) != 10 {
		t.Errorf("after the retry: %v requests, want 10", v.Value(0, time.Hour))
	}
	// A different, new batch after the check is applied normally.
	b.Reset()
	addEvent(&b, event{stream: "p0", offset: 10, ip: "x", user: "u", t: sec(10)})
	lostReply(st, "p0")
	r, err = st.Apply(ctx, &b)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := r.View(0, "x"); v.Value(0, time.Hour) != 11 {
		t.Errorf("next batch: %v requests, want 11", v.Value(0, time.Hour))
	}
}

// lostReply makes st believe its last Apply on stream failed although its
// MULTI ran: the reply was lost.
func lostReply(st *RedisStore, stream string) {
	delete(st.appliedHere, stream)
	st.unsure[stream] = true
}

// TestRetryAfterLostReplyOtherStreamBetween: the lost reply is on one
// partition; a batch of another partition succeeds before the retry. That
// success proves nothing about the first partition: its retry must still
// be recognised as applied.
func TestRetryAfterLostReplyOtherStreamBetween(t *testing.T) {
	st := newRedisStore(t, testenv.Redis(t), crashSchema)
	ctx := context.Background()
	apply := func(stream string, off int64, at float64) *Result {
		t.Helper()
		var b Batch
		addEvent(&b, event{stream: stream, offset: off, ip: "x", user: "u", t: sec(at)})
		r, err := st.Apply(ctx, &b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	apply("p1", 7, 1)
	lostReply(st, "p1")
	apply("p0", 3, 2)
	r := apply("p1", 7, 1) // the retry of the batch whose reply was lost
	if v, _ := r.View(0, "x"); v.Value(0, time.Hour) != 2 {
		t.Errorf("after the retry: %v requests, want 2", v.Value(0, time.Hour))
	}
}

// TestRedisViewMembers: a Redis view holds the entity's live members as
// Redis had them after the Apply, so members added by earlier batches are
// listed, and listing them needs no further round trip (it works with
// Redis gone).
func TestRedisViewMembers(t *testing.T) {
	srv := testenv.StartRedis(t)
	st := newRedisStore(t, srv, crashSchema)
	ctx := context.Background()
	var b Batch
	apply := func(evs ...event) *View {
		t.Helper()
		b.Reset()
		for _, e := range evs {
			addEvent(&b, e)
		}
		r, err := st.Apply(ctx, &b)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := r.View(0, "a")
		return v
	}
	apply(event{stream: "p0", offset: 0, ip: "a", user: "m0", t: sec(0)})
	v := apply(event{stream: "p0", offset: 1, ip: "a", user: "m1", t: sec(1)},
		event{stream: "p0", offset: 2, ip: "a", user: "m2", t: sec(2)})
	if n, exact := v.Distinct(1, time.Minute); n != 3 || !exact {
		t.Errorf("Distinct = %v exact=%v, want 3 exact", n, exact)
	}
	if got := fmt.Sprint(v.Members(1, 10)); got != "[m2 m1 m0]" {
		t.Errorf("Members = %s, want [m2 m1 m0]", got)
	}
	v = apply(event{stream: "p0", offset: 3, ip: "a", user: "m3", t: sec(3)})
	srv.Stop()
	if got := fmt.Sprint(v.Members(1, 2)); got != "[m3 m2]" {
		t.Errorf("Members with Redis down = %s, want [m3 m2]", got)
	}
}

// TestRedisWorkerBehind: a worker whose cached At is behind (another worker
// applied newer events to the entity) must still report counts over the
// windows ending at Redis's At, as an uninterrupted single worker would.
func TestRedisWorkerBehind(t *testing.T) {
	srv := testenv.Redis(t)
	s := crashSchema
	s.Lateness = time.Hour
	a, b := newRedisStore(t, srv, s), newRedisStore(t, srv, s)
	m, _ := NewMemory(s)
	ctx := context.Background()
	steps := []struct {
		st  Store
		evs []event
	}{
		{a, []event{{ip: "x", user: "u1", t: sec(0)}, {ip: "x", user: "u2", t: sec(10)}}},
		{b, []event{{ip: "x", user: "u3", t: sec(100)}}},
		// a still believes At is 10 s; the 1 min window ends at 100 s.
		{a, []event{{ip: "x", user: "u4", t: sec(50)}}},
	}
	var got, want *Result
	for _, step := range steps {
		var bt Batch
		for _, e := range step.evs {
			addEvent(&bt, e)
		}
		var err error
		if got, err = step.st.Apply(ctx, &bt); err != nil {
			t.Fatal(err)
		}
		if want, err = m.Apply(ctx, &bt); err != nil {
			t.Fatal(err)
		}
	}
	gv, _ := got.View(0, "x")
	wv, _ := want.View(0, "x")
	for _, w := range []time.Duration{time.Minute, 10 * time.Minute} {
		gn, ge := gv.Distinct(1, w)
		wn, we := wv.Distinct(1, w)
		if gn != wn || ge != we || gv.Value(0, w) != wv.Value(0, w) {
			t.Errorf("window %v: distinct %v/%v requests %v, want %v/%v %v", w, gn, ge, gv.Value(0, w), wn, we, wv.Value(0, w))
		}
	}
	if !gv.At.Equal(sec(100)) {
		t.Errorf("At = %v, want %v", gv.At, sec(100))
	}
}
