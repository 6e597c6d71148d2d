package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/detectors/window"
	"github.com/gatewatch/gatewatch/internal/testenv"
	"github.com/gatewatch/gatewatch/pipeline/generate"
)

// The whole worker, as 'gatewatch run' starts it: generated gateway lines
// on a 4-partition topic (some wrapped by Filebeat, some garbage), a real
// Redis, metrics. Every record ends committed, garbage lands on the DLQ with
// its reason, and the scanner in the traffic is reported.
func TestServiceEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	const topic, group = "gateway-logs", "gatewatch-e2e"
	addr := testenv.Kafka(t, 4, topic, topic+".dlq")
	rs := testenv.Redis(t)

	garbage := []string{"\x00\x01binary", "not a log line", `{"json":"from nowhere"}`}
	truth, _ := produceGenerated(t, addr, topic, 3, garbage)

	out := filepath.Join(t.TempDir(), "detections.jsonl")
	cfg := workerConfig(addr, topic, group, rs, "e2e", out)
	cfg.Metrics.Listen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, done := startWorker(t, ctx, cfg)

	deadline := time.Now().Add(90 * time.Second)
	for !allCommitted(t, addr, topic, group) {
		if time.Now().After(deadline) {
			t.Fatalf("not every record was committed within 90s; summary: events=%d failures=%d", svc.Summary().Events(), svc.Summary().FailureCount())
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := http.Get("http://" + svc.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `gatewatch_events_total{format="nginx-combined"}`) || !strings.Contains(string(body), "gatewatch_unparseable_total") {
		t.Errorf("metrics lack event and failure counters:\n%.2000s", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	sum := svc.Summary()
	if sum.Events() != int64(truth.Events) || sum.FailureCount() != int64(len(garbage)) {
		t.Errorf("events %d (want %d), failures %d (want %d)", sum.Events(), truth.Events, sum.FailureCount(), len(garbage))
	}
	// Dead letters keep the original bytes and the reason.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic + ".dlq", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	seen := map[string]string{}
	for i := 0; i < len(garbage); i++ {
		rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := r.ReadMessage(rctx)
		rcancel()
		if err != nil {
			// Dead letters may sit on other partitions of the DLQ topic.
			break
		}
		for _, h := range m.Headers {
			if h.Key == "gatewatch-reason" {
				seen[string(m.Value)] = string(h.Value)
			}
		}
	}
	if len(seen) == 0 {
		t.Error("no dead letter with a gatewatch-reason header on the DLQ topic")
	}
	// The scanner is reported.
	var scanner string
	for _, a := range truth.Attacks {
		if a.Kind == generate.KindScanning {
			scanner = a.Entities[0].Value
		}
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d detectors.Detection
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("detection line is not a record: %v", err)
		}
		if d.Kind == "scanning" && d.Entity.Value == scanner {
			found = true
		}
	}
	if !found {
		t.Errorf("scanner %s not reported; engine stats %+v", scanner, svc.det.Engine.Stats())
	}
}

func allCommitted(t *testing.T, addr, topic, group string) bool {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
	ps := []int{0, 1, 2, 3}
	req := make([]kafka.OffsetRequest, len(ps))
	for i, p := range ps {
		req[i] = kafka.LastOffsetOf(p)
	}
	ends, err := c.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		return false
	}
	committed, err := c.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil {
		return false
	}
	end := map[int]int64{}
	for _, p := range ends.Topics[topic] {
		end[p.Partition] = p.LastOffset
	}
	for _, p := range committed.Topics[topic] {
		if p.CommittedOffset < end[p.Partition] {
			return false
		}
	}
	return len(committed.Topics[topic]) == len(ps)
}

// Redis dies in the middle of consumption and comes back: the worker pauses
// (no offset moves while Redis is down), resumes by itself, and the shared
// windows end exactly as if nothing had happened: the global request count
// equals the number of requests produced, none lost, none doubled.
func TestServiceSurvivesRedisOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	const topic, group = "gateway-logs", "gatewatch-outage"
	addr := testenv.Kafka(t, 4, topic, topic+".dlq")
	rs := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")

	truth, last := produceGenerated(t, addr, topic, 0, nil)
	msgs := truth.Events

	cfg := workerConfig(addr, topic, group, rs, "outage", filepath.Join(t.TempDir(), "detections.jsonl"))
	cfg.Kafka.BatchSize = 200
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, done := startWorker(t, ctx, cfg)

	for svc.Summary().Events() < int64(msgs)/4 {
		time.Sleep(5 * time.Millisecond)
	}
	rs.Stop()
	time.Sleep(500 * time.Millisecond) // let batches in flight settle
	before := committedTotal(t, addr, topic, group)
	time.Sleep(1500 * time.Millisecond)
	if after := committedTotal(t, addr, topic, group); after != before {
		t.Errorf("offsets moved from %d to %d while Redis was down", before, after)
	}
	if before >= int64(msgs) {
		t.Fatalf("everything was committed before Redis went down; the test proves nothing")
	}
	rs.Restart(t)
	deadline := time.Now().Add(90 * time.Second)
	for !allCommitted(t, addr, topic, group) {
		if time.Now().After(deadline) {
			t.Fatalf("did not resume after Redis came back: %d of %d committed", committedTotal(t, addr, topic, group), msgs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Read the shared global window back through a fresh store.
	client := window.NewClient(window.RedisConfig{Addrs: []string{rs.Addr}})
	defer client.Close()
	schema := detectors.Schema(cfg.Detectors)
	fam := -1
	for i, f := range schema.Families {
		if f.Name == "global" && f.Metrics[0].History >= 20*time.Minute {
			fam = i
		}
	}
	if fam < 0 {
		t.Fatalf("no global family keeping 20m of history in %+v", schema.Families)
	}
	store, err := window.NewRedis(client, schema, window.RedisOptions{Prefix: "outage"})
	if err != nil {
		t.Fatal(err)
	}
	var b window.Batch
	b.Touch(window.FamilyID(fam), "", last)
	res, err := store.Apply(context.Background(), &b)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := res.View(window.FamilyID(fam), "")
	if !ok {
		t.Fatal("no global view")
	}
	_, _, series := v.Series(0)
	var got float64
	for _, n := range series {
		got += n
	}
	if got != float64(msgs) {
		t.Errorf("global requests in the shared window = %v, want exactly %d produced", got, truth.Events)
	}
}

func committedTotal(t *testing.T, addr, topic, group string) int64 {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
	resp, err := c.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2, 3}}})
	if err != nil {
		t.Fatalf("fetch committed offsets: %v", err)
	}
	var n int64
	for _, p := range resp.Topics[topic] {
		if p.CommittedOffset > 0 {
			n += p.CommittedOffset
		}
	}
	return n
}

// produceGenerated writes 20 minutes of generated traffic with a scanner to
// topic as nginx lines keyed by client IP (so each IP stays on one
// partition), every wrapEvery-th inside a Filebeat envelope (0: none), then
// the garbage records. It returns the truth and the newest event time.
func produceGenerated(t *testing.T, addr, topic string, wrapEvery int, garbage []string) (*generate.Truth, time.Time) {
	t.Helper()
	gcfg := generate.DefaultConfig()
	gcfg.Duration, gcfg.Rate, gcfg.Attacks = 20*time.Minute, 15, []string{generate.KindScanning}
	var msgs []kafka.Message
	var buf []byte
	var last time.Time
	truth, err := generate.Generate(gcfg, func(ev *detectors.Event) error {
		buf = generate.AppendLine(buf[:0], detectors.FormatNginxCombined, ev)
		v := append([]byte(nil), buf...)
		if wrapEvery > 0 && len(msgs)%wrapEvery == 0 {
			v, _ = json.Marshal(map[string]any{"@metadata": map[string]string{"beat": "filebeat"}, "message": string(buf)})
		}
		msgs = append(msgs, kafka.Message{Key: []byte(ev.ClientIP.String()), Value: v})
		last = ev.Time
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range garbage {
		msgs = append(msgs, kafka.Message{Value: []byte(g)})
	}
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.Hash{}, BatchSize: 1000, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return truth, last
}

// The point of shared state: a low-and-slow credential-stuffing campaign
// whose requests are spread round-robin over four partitions, consumed by
// two workers of one group, each seeing only part of it. Through Redis the
// campaign is seen whole and reported once per entity, not once per worker.
func TestServiceTwoWorkersSeeCampaignWhole(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	const topic, group = "gateway-logs", "gatewatch-pair"
	addr := testenv.Kafka(t, 4, topic, topic+".dlq")
	rs := testenv.Redis(t)

	gcfg := generate.DefaultConfig()
	gcfg.Attacks = []string{generate.KindCredentialStuffing}
	gcfg.Rate = 20
	var msgs []kafka.Message
	var buf []byte
	truth, err := generate.Generate(gcfg, func(ev *detectors.Event) error {
		buf = generate.AppendLine(buf[:0], detectors.FormatNginxCombined, ev)
		msgs = append(msgs, kafka.Message{Value: append([]byte(nil), buf...)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outs := make([]string, 2)
	dones := make([]chan error, 2)
	svcs := make([]*Service, 2)
	for i := range outs {
		outs[i] = filepath.Join(t.TempDir(), fmt.Sprintf("worker%d.jsonl", i))
		cfg := workerConfig(addr, topic, group, rs, "pair", outs[i])
		cfg.Kafka.BatchSize = 500
		svcs[i], dones[i] = startWorker(t, ctx, cfg)
	}
	// Produce only once both workers hold partitions, so each sees a part.
	waitForMembers(t, addr, group, 2)
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.RoundRobin{}, BatchSize: 1000, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
	w.Close()

	deadline := time.Now().Add(120 * time.Second)
	for !allCommitted(t, addr, topic, group) {
		if time.Now().After(deadline) {
			t.Fatalf("not every record was committed within 120s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	for _, d := range dones {
		if err := <-d; err != nil {
			t.Fatalf("Run: %v", err)
		}
	}

	for i, svc := range svcs {
		if svc.Summary().Events() == 0 {
			t.Fatalf("worker %d processed nothing: the test did not split the traffic", i)
		}
		t.Logf("worker %d processed %d events", i, svc.Summary().Events())
	}
	var campaign *generate.Attack
	for i, a := range truth.Attacks {
		for _, e := range a.Entities {
			if e.Type == "network" || e.Type == "user_agent" {
				campaign = &truth.Attacks[i]
			}
		}
	}
	if campaign == nil {
		t.Fatal("the generated traffic has no distributed campaign")
	}
	want := map[[2]string]bool{}
	for _, e := range campaign.Entities {
		want[[2]string{e.Type, e.Value}] = true
	}
	opened := map[[2]string]int{}
	for _, out := range outs {
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var d detectors.Detection
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatal(err)
			}
			k := [2]string{d.Entity.Type, d.Entity.Value}
			if d.Kind == "credential_stuffing" && (want[k] || d.Entity.Type == "campaign") && d.Incident.State == "opened" {
				opened[k]++
			}
		}
		f.Close()
	}
	if len(opened) == 0 {
		t.Fatalf("the distributed campaign (%s) was not detected by either worker", campaign.Description)
	}
	for k, n := range opened {
		if n != 1 {
			t.Errorf("%v opened %d times across the two workers, want once", k, n)
		}
	}
}

// waitForMembers waits until the group is stable with n members that each
// own at least one partition.
func waitForMembers(t *testing.T, addr, group string, n int) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := c.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil && len(resp.Groups) == 1 && resp.Groups[0].GroupState == "Stable" && len(resp.Groups[0].Members) == n {
			owning := 0
			for _, m := range resp.Groups[0].Members {
				for _, tp := range m.MemberAssignments.Topics {
					if len(tp.Partitions) > 0 {
						owning++
						break
					}
				}
			}
			if owning == n {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %s did not settle with %d members owning partitions within 60s", group, n)
}

// workerConfig is a worker's configuration for the tests: the given broker,
// topic, group and Redis, detections to out, no metrics endpoint.
func workerConfig(addr, topic, group string, rs *testenv.RedisServer, prefix, out string) Config {
	cfg := DefaultConfig()
	cfg.Kafka.Brokers, cfg.Kafka.Topics, cfg.Kafka.GroupID = []string{addr}, []string{topic}, group
	cfg.Kafka.BatchWait = 20 * time.Millisecond
	cfg.Redis.Addrs, cfg.Redis.DB, cfg.Redis.Prefix = []string{rs.Addr}, rs.DB, prefix
	cfg.Metrics.Listen = ""
	cfg.Detections = out
	return cfg
}

// startWorker starts a worker; its Run result arrives on the channel.
func startWorker(t *testing.T, ctx context.Context, cfg Config) (*Service, chan error) {
	t.Helper()
	svc, err := NewService(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	return svc, done
}
