package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/internal/testenv"
)

// testKafkaConfig has the short group timings the tests need to rebalance
// quickly; kfake (via testenv) accepts session timeouts from 100ms.
func testKafkaConfig(t *testing.T, addr, topic, group string) KafkaConfig {
	return KafkaConfig{
		Brokers:           []string{addr},
		Topics:            []string{topic},
		GroupID:           group,
		BatchSize:         200,
		BatchWait:         20 * time.Millisecond,
		SessionTimeout:    2 * time.Second,
		RebalanceTimeout:  2 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
}

// produce writes n messages "<prefix>-<i>" to topic, spread over its
// partitions.
func produce(t *testing.T, addr, topic string, n int, prefix string) {
	t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(addr),
		Topic:        topic,
		Balancer:     &kafka.RoundRobin{},
		BatchSize:    1000,
		BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
	}
	defer w.Close()
	const chunk = 5000
	msgs := make([]kafka.Message, 0, chunk)
	for i := 0; i < n; {
		msgs = msgs[:0]
		for ; i < n && len(msgs) < chunk; i++ {
			msgs = append(msgs, kafka.Message{Value: fmt.Appendf(nil, "%s-%d", prefix, i)})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := w.WriteMessages(ctx, msgs...)
		cancel()
		if err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
}

func kafkaClient(addr string) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
}

// endOffsets returns each partition's next offset (its message count).
func endOffsets(t *testing.T, c *kafka.Client, topic string, partitions int) map[int]int64 {
	t.Helper()
	req := make([]kafka.OffsetRequest, partitions)
	for p := range req {
		req[p] = kafka.LastOffsetOf(p)
	}
	resp, err := c.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	out := map[int]int64{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("list offsets of partition %d: %v", po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out
}

// committed fetches the group's committed offsets (-1: none).
func committed(ctx context.Context, c *kafka.Client, group, topic string, partitions int) (map[int]int64, error) {
	ps := make([]int, partitions)
	for p := range ps {
		ps[p] = p
	}
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, p.Error
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out, nil
}

// tracker records what the handlers processed.
type tracker struct {
	mu       sync.Mutex
	seen     map[int32]map[int64]int // offset -> times processed
	next     map[int32]int64         // first offset not yet processed: maxProcessedContiguous+1
	byWorker map[string]int
	total    int
}

func newTracker() *tracker {
	return &tracker{seen: map[int32]map[int64]int{}, next: map[int32]int64{}, byWorker: map[string]int{}}
}

func (tr *tracker) record(worker string, batch []Message) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, m := range batch {
		p := m.Pos.Partition
		if tr.seen[p] == nil {
			tr.seen[p] = map[int64]int{}
		}
		tr.seen[p][m.Pos.Offset]++
		for tr.seen[p][tr.next[p]] > 0 {
			tr.next[p]++
		}
	}
	tr.byWorker[worker] += len(batch)
	tr.total += len(batch)
}

func (tr *tracker) contiguous() map[int32]int64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make(map[int32]int64, len(tr.next))
	for p, n := range tr.next {
		out[p] = n
	}
	return out
}

func (tr *tracker) worker(name string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.byWorker[name]
}

// TestKafkaGroupTakeover is the acceptance test: two workers share a
// 4-partition topic of 100,000 messages, one stops mid-stream, the other
// takes over; every offset is processed and no commit ever runs ahead of
// processing.
func TestKafkaGroupTakeover(t *testing.T) {
	const (
		topic      = "access"
		group      = "detectors"
		partitions = 4
		total      = 100_000
	)
	addr := testenv.Kafka(t, partitions, topic)
	produce(t, addr, topic, total, "line")
	client := kafkaClient(addr)
	ends := endOffsets(t, client, topic, partitions)
	var sum int64
	for _, e := range ends {
		sum += e
	}
	if sum != total {
		t.Fatalf("broker holds %d messages, want %d", sum, total)
	}

	tr := newTracker()
	handler := func(worker string) Handler {
		return HandlerFunc(func(ctx context.Context, batch []Message) error {
			// Recorded before Handle returns, i.e. before any commit.
			tr.record(worker, batch)
			// Slow enough that the run lasts long past the first
			// rebalance, so worker A stops mid-stream.
			time.Sleep(4 * time.Millisecond)
			return nil
		})
	}

	// Checker: committed[p] <= maxProcessedContiguous[p]+1 at every
	// instant. Offsets are fetched before the processing snapshot; both
	// only grow, so a violation seen here is a real one.
	checkCtx, stopCheck := context.WithCancel(context.Background())
	var violations []string
	var checks atomic.Int64
	checkDone := make(chan struct{})
	go func() {
		defer close(checkDone)
		for checkCtx.Err() == nil {
			offs, err := committed(checkCtx, client, group, topic, partitions)
			if err == nil {
				checks.Add(1)
				next := tr.contiguous()
				for p, c := range offs {
					if c > next[int32(p)] {
						violations = append(violations, fmt.Sprintf("partition %d committed %d but only offsets below %d were processed", p, c, next[int32(p)]))
					}
				}
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()

	run := func(ctx context.Context, name string) <-chan error {
		k, err := NewKafka(testKafkaConfig(t, addr, topic, group))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- k.Run(ctx, handler(name)) }()
		return done
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	doneA := run(ctxA, "A")
	doneB := run(ctxB, "B")

	waitFor(t, 30*time.Second, "both workers to process messages, A at least 5000", func() bool {
		return tr.worker("A") >= 5000 && tr.worker("B") > 0
	})
	cancelA()
	if err := <-doneA; err != nil {
		t.Fatalf("worker A: Run returned %v, want nil on shutdown", err)
	}
	stoppedAt := tr.worker("A")
	processedAtStop := tr.contiguous()
	t.Logf("worker A stopped after processing %d messages", stoppedAt)

	waitFor(t, 40*time.Second, "every offset processed and committed", func() bool {
		next := tr.contiguous()
		for p, e := range ends {
			if next[int32(p)] < e {
				return false
			}
		}
		offs, err := committed(context.Background(), client, group, topic, partitions)
		if err != nil {
			return false
		}
		for p, e := range ends {
			if offs[p] != e {
				return false
			}
		}
		return true
	})
	cancelB()
	if err := <-doneB; err != nil {
		t.Fatalf("worker B: Run returned %v, want nil on shutdown", err)
	}
	stopCheck()
	<-checkDone

	if len(violations) > 0 {
		t.Errorf("%d commits ran ahead of processing, e.g. %s", len(violations), violations[0])
	}
	if checks.Load() < 10 {
		t.Errorf("the commit checker ran only %d times", checks.Load())
	}
	unfinished := 0
	for p, e := range ends {
		if processedAtStop[int32(p)] < e {
			unfinished++
		}
	}
	if unfinished == 0 {
		t.Errorf("worker A stopped after the whole topic was processed; the takeover was not exercised")
	}
	if got := tr.worker("A"); got != stoppedAt {
		t.Errorf("worker A processed %d messages after its Run returned", got-stoppedAt)
	}
	tr.mu.Lock()
	dups := tr.total - total
	tr.mu.Unlock()
	t.Logf("processed %d messages (%d re-deliveries) by A=%d B=%d; %d commit checks",
		tr.total, dups, tr.worker("A"), tr.worker("B"), checks.Load())
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKafkaHandlerRetry: a failing batch is retried as the same batch and
// nothing is committed until it succeeds.
func TestKafkaHandlerRetry(t *testing.T) {
	const topic, group, n, failures = "retry", "retry-group", 50, 3
	addr := testenv.Kafka(t, 1, topic)
	produce(t, addr, topic, n, "r")
	client := kafkaClient(addr)

	type attempt struct {
		first, last int64
		committed   int64
	}
	var mu sync.Mutex
	var attempts []attempt
	h := HandlerFunc(func(ctx context.Context, batch []Message) error {
		offs, err := committed(ctx, client, group, topic, 1)
		if err != nil {
			return fmt.Errorf("test: fetch committed offsets: %w", err)
		}
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, attempt{batch[0].Pos.Offset, batch[len(batch)-1].Pos.Offset, offs[0]})
		if len(attempts) <= failures {
			return errors.New("window store unreachable: check redis")
		}
		return nil
	})
	cfg := testKafkaConfig(t, addr, topic, group)
	cfg.BatchWait = 300 * time.Millisecond // the whole topic in one batch
	k, err := NewKafka(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx, h) }()
	waitFor(t, 20*time.Second, "offsets committed after the retries", func() bool {
		offs, err := committed(context.Background(), client, group, topic, 1)
		return err == nil && offs[0] == n
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != failures+1 {
		t.Fatalf("handler called %d times, want %d (%d failures then success)", len(attempts), failures+1, failures)
	}
	for i, a := range attempts {
		if a.first != attempts[0].first || a.last != attempts[0].last {
			t.Errorf("attempt %d got offsets %d..%d, want the same batch %d..%d", i, a.first, a.last, attempts[0].first, attempts[0].last)
		}
		if a.committed != -1 {
			t.Errorf("attempt %d: offset %d was committed before the batch succeeded", i, a.committed)
		}
	}
	if attempts[0].first != 0 {
		t.Errorf("first batch starts at %d, want 0", attempts[0].first)
	}
}

// TestKafkaSkip: offsets at or below Skip are not handled again but are
// committed.
func TestKafkaSkip(t *testing.T) {
	const topic, group, n, skip = "skip", "skip-group", 100, 59
	addr := testenv.Kafka(t, 1, topic)
	produce(t, addr, topic, n, "s")
	client := kafkaClient(addr)

	var skipCalls atomic.Int32
	tr := newTracker()
	var minSeen atomic.Int64
	minSeen.Store(n)
	cfg := testKafkaConfig(t, addr, topic, group)
	cfg.Skip = func(ctx context.Context, topic string, partition int32) (int64, error) {
		skipCalls.Add(1)
		if topic != "skip" || partition != 0 {
			return 0, fmt.Errorf("Skip asked about %s/%d", topic, partition)
		}
		return skip, nil
	}
	k, err := NewKafka(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- k.Run(ctx, HandlerFunc(func(ctx context.Context, batch []Message) error {
			tr.record("w", batch)
			for _, m := range batch {
				if m.Pos.Offset < minSeen.Load() {
					minSeen.Store(m.Pos.Offset)
				}
			}
			return nil
		}))
	}()
	waitFor(t, 20*time.Second, "all offsets committed", func() bool {
		offs, err := committed(context.Background(), client, group, topic, 1)
		return err == nil && offs[0] == n
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := minSeen.Load(); got != skip+1 {
		t.Errorf("lowest handled offset %d, want %d", got, skip+1)
	}
	if got := tr.worker("w"); got != n-skip-1 {
		t.Errorf("handled %d messages, want %d", got, n-skip-1)
	}
	if got := skipCalls.Load(); got != 1 {
		t.Errorf("Skip called %d times, want once for the one assignment", got)
	}
}

// TestKafkaStartLatest: a new group with StartOffset "latest" ignores what
// was in the topic before it joined.
func TestKafkaStartLatest(t *testing.T) {
	const topic, group, old = "latest", "latest-group", 10
	addr := testenv.Kafka(t, 1, topic)
	produce(t, addr, topic, old, "old")

	var mu sync.Mutex
	var got []Message
	cfg := testKafkaConfig(t, addr, topic, group)
	cfg.StartOffset = "latest"
	k, err := NewKafka(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- k.Run(ctx, HandlerFunc(func(ctx context.Context, batch []Message) error {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range batch {
				got = append(got, Message{Value: bytes.Clone(m.Value), Pos: m.Pos})
			}
			return nil
		}))
	}()
	// The group joins asynchronously; keep producing until something
	// arrives, so the test does not depend on when "latest" was resolved.
	waitFor(t, 20*time.Second, "a message produced after the group joined", func() bool {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			return true
		}
		produce(t, addr, topic, 1, "new")
		time.Sleep(50 * time.Millisecond)
		return false
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range got {
		if m.Pos.Offset < old || !strings.HasPrefix(string(m.Value), "new-") {
			t.Errorf("got %q at offset %d, produced before the group joined", m.Value, m.Pos.Offset)
		}
	}
}

func TestNewKafkaErrors(t *testing.T) {
	ok := KafkaConfig{Brokers: []string{"127.0.0.1:9092"}, Topics: []string{"t"}, GroupID: "g"}
	tests := []struct {
		name   string
		change func(*KafkaConfig)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(*KafkaConfig) {}, ""},
		{"no brokers", func(c *KafkaConfig) { c.Brokers = nil }, "no brokers configured; set kafka.brokers"},
		{"no topics", func(c *KafkaConfig) { c.Topics = nil }, "set kafka.topics"},
		{"no group", func(c *KafkaConfig) { c.GroupID = "" }, "set kafka.group_id"},
		{"bad start", func(c *KafkaConfig) { c.StartOffset = "middle" }, `"earliest" or "latest"`},
		{"latest", func(c *KafkaConfig) { c.StartOffset = "latest" }, ""},
		{"negative batch", func(c *KafkaConfig) { c.BatchSize = -1 }, "must not be negative"},
		{"heartbeat too slow", func(c *KafkaConfig) { c.SessionTimeout = time.Second; c.HeartbeatInterval = 2 * time.Second }, "shorter than the session timeout"},
		{"short session default heartbeat", func(c *KafkaConfig) { c.SessionTimeout = time.Second }, ""},
		{"bad sasl", func(c *KafkaConfig) { c.SASL = SASL{Mechanism: "GSSAPI", Username: "u"} }, "unknown SASL mechanism"},
		{"sasl without user", func(c *KafkaConfig) { c.SASL = SASL{Mechanism: "PLAIN"} }, "needs a username"},
		{"scram", func(c *KafkaConfig) { c.SASL = SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"} }, ""},
		{"missing CA", func(c *KafkaConfig) { c.TLSFiles.CAFile = "/nonexistent/ca.pem" }, "read TLS CA file"},
		{"cert without key", func(c *KafkaConfig) { c.TLSFiles.CertFile = "/x.pem" }, "must be set together"},
		{"tls on", func(c *KafkaConfig) { c.TLSFiles.Enable = true }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.change(&cfg)
			k, err := NewKafka(cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("NewKafka: %v", err)
				}
				if k.cfg.BatchSize != defaultBatchSize || k.cfg.HeartbeatInterval >= k.cfg.SessionTimeout {
					t.Errorf("defaults not applied: %+v", k.cfg)
				}
				if cfg.TLSFiles.Enable && k.dialer.TLS == nil {
					t.Error("TLS enabled but the dialer has no TLS config")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewKafka error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestKafkaRejectedConfig: a setting the broker rejects ends Run with an
// error instead of retrying forever.
func TestKafkaRejectedConfig(t *testing.T) {
	addr := testenv.Kafka(t, 1, "t")
	cfg := testKafkaConfig(t, addr, "t", "g")
	cfg.SessionTimeout = 50 * time.Millisecond // below kfake's 100ms minimum
	cfg.HeartbeatInterval = 10 * time.Millisecond
	k, err := NewKafka(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = k.Run(ctx, HandlerFunc(func(context.Context, []Message) error { return nil }))
	if err == nil || !errors.Is(err, kafka.InvalidSessionTimeout) {
		t.Fatalf("Run returned %v, want an InvalidSessionTimeout error", err)
	}
}

// TestKafkaUnreachable: with no broker, Run logs a clear error, keeps
// trying, and returns nil when stopped.
func TestKafkaUnreachable(t *testing.T) {
	var logs lockedBuffer
	cfg := KafkaConfig{Brokers: []string{"127.0.0.1:1"}, Topics: []string{"t"}, GroupID: "g",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	k, err := NewKafka(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	if err := k.Run(ctx, HandlerFunc(func(context.Context, []Message) error { return nil })); err != nil {
		t.Fatalf("Run returned %v, want nil after ctx ended", err)
	}
	out := logs.String()
	if n := strings.Count(out, "cannot join the consumer group"); n < 2 {
		t.Errorf("want at least two logged join failures (it keeps retrying), got %d:\n%s", n, out)
	}
	if !strings.Contains(out, "127.0.0.1:1") {
		t.Errorf("log does not name the broker:\n%s", out)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestKafkaRebalanceAbandonsFailingBatch: a worker whose handler keeps
// failing gives its partitions up at a rebalance without committing, and the
// worker that takes them over processes them from the start.
func TestKafkaRebalanceAbandonsFailingBatch(t *testing.T) {
	const topic, group, partitions, n = "stuck", "stuck-group", 2, 2000
	addr := testenv.Kafka(t, partitions, topic)
	produce(t, addr, topic, n, "m")
	client := kafkaClient(addr)
	ends := endOffsets(t, client, topic, partitions)

	var failures atomic.Int32
	var logsA lockedBuffer
	cfgA := testKafkaConfig(t, addr, topic, group)
	cfgA.Logger = slog.New(slog.NewTextHandler(&logsA, nil))
	a, err := NewKafka(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	doneA := make(chan error, 1)
	go func() {
		doneA <- a.Run(ctxA, HandlerFunc(func(context.Context, []Message) error {
			failures.Add(1)
			return errors.New("window store unreachable")
		}))
	}()
	waitFor(t, 20*time.Second, "worker A to fail on both partitions", func() bool { return failures.Load() >= 2 })

	tr := newTracker()
	b, err := NewKafka(testKafkaConfig(t, addr, topic, group))
	if err != nil {
		t.Fatal(err)
	}
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	doneB := make(chan error, 1)
	go func() {
		doneB <- b.Run(ctxB, HandlerFunc(func(_ context.Context, batch []Message) error {
			tr.record("B", batch)
			return nil
		}))
	}()
	// B's arrival forces a rebalance: A must let go of its failing batch.
	waitFor(t, 20*time.Second, "worker A to release a partition with an unhandled batch", func() bool {
		return strings.Contains(logsA.String(), "partition released before its batch was handled")
	})
	if offs, err := committed(context.Background(), client, group, topic, partitions); err != nil {
		t.Fatal(err)
	} else if next := tr.contiguous(); offs[0] > next[0] || offs[1] > next[1] {
		t.Fatalf("committed %v ahead of processed %v", offs, next)
	}
	cancelA()
	if err := <-doneA; err != nil {
		t.Fatalf("worker A: %v", err)
	}
	waitFor(t, 20*time.Second, "worker B to process and commit everything", func() bool {
		next := tr.contiguous()
		offs, err := committed(context.Background(), client, group, topic, partitions)
		if err != nil {
			return false
		}
		for p, e := range ends {
			if next[int32(p)] != e || offs[p] != e {
				return false
			}
		}
		return true
	})
	cancelB()
	if err := <-doneB; err != nil {
		t.Fatalf("worker B: %v", err)
	}
}
