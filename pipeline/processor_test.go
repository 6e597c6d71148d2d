package pipeline

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/pipeline/parse"
	"github.com/gatewatch/gatewatch/pipeline/source"
)

type memDeadLetters struct {
	mu sync.Mutex
	dl []source.DeadLetter
}

func (m *memDeadLetters) Write(_ context.Context, dl []source.DeadLetter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range dl {
		d.Value = append([]byte(nil), d.Value...)
		m.dl = append(m.dl, d)
	}
	return nil
}
func (m *memDeadLetters) Close() error { return nil }

type recordingEngine struct {
	events  []detectors.Event
	applied []detectors.StreamOffset
}

func (r *recordingEngine) Process(_ context.Context, evs []detectors.Event, _ []detectors.RouteInfo, applied []detectors.StreamOffset) ([]detectors.Detection, error) {
	r.events = append(r.events, evs...)
	r.applied = append(r.applied, applied...)
	return nil, nil
}

// Every record is either parsed into events or kept as a dead letter with a
// reason, and envelopes, batches and bad input all travel the same path.
func TestProcessorAccountsForEveryRecord(t *testing.T) {
	records := []string{
		// nginx combined (crowdsec hub http-dos-random-uri)
		`127.0.0.1 - - [10/Oct/2023:11:06:56 +0200] "GET /NGUHGC HTTP/1.1" 404 125 "-" "Mozilla/5.0 (Windows NT 6.2; rv:36.0) Gecko/20100101 Firefox/36.0"`,
		// the same line inside a Filebeat envelope
		`{"@timestamp":"2023-11-20T14:37:56.612Z","@metadata":{"beat":"filebeat","type":"_doc","version":"8.11.0"},"message":"89.109.34.234 - - [20/Nov/2023:17:37:47 +0300] \"GET /wp-admin/install.php HTTP/1.1\" 200 7542 \"-\" \"Mozilla/5.0\" \"-\"","input":{"type":"filestream"}}`,
		// a Kong http-log batch of two requests
		`[{"client_ip":"192.168.65.1","started_at":1726783839538,"latencies":{"request":173,"kong":1,"proxy":171},"request":{"method":"GET","uri":"/example-route?x=1","headers":{"user-agent":"HTTPie/3.2.3","host":"localhost:8000"},"size":139},"response":{"status":200,"size":9982},"upstream_uri":"/"},` +
			`{"client_ip":"192.168.65.2","started_at":1726783840538,"latencies":{"request":12,"kong":1,"proxy":10},"request":{"method":"POST","uri":"/login","headers":{"user-agent":"curl/8"},"size":10},"response":{"status":401,"size":50},"upstream_uri":"/login"}]`,
		// binary junk
		"\x00\x01\x02garbage\xff",
		// a line no parser knows
		`this is not an access log line at all`,
	}
	batch := make([]source.Message, len(records))
	for i, r := range records {
		batch[i] = source.Message{Value: []byte(r), Pos: detectors.Position{Topic: "logs", Partition: 2, Offset: int64(100 + i)}}
	}
	batch = append(batch, source.Message{Value: []byte("1.2.3.4 - - [10/Oct/2023"), Truncated: true, Pos: detectors.Position{Topic: "logs", Partition: 2, Offset: 105}})

	dl := &memDeadLetters{}
	eng := &recordingEngine{}
	p, err := NewProcessor(ProcessorConfig{Engine: eng, DeadLetters: dl})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Handle(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if got := len(eng.events); got != 4 {
		t.Fatalf("events = %d, want 4 (nginx, filebeat-wrapped nginx, two Kong requests)", got)
	}
	if got := len(dl.dl); got != 3 {
		t.Fatalf("dead letters = %d, want 3: %+v", got, dl.dl)
	}
	sum := p.Summary()
	if sum.Events()+sum.FailureCount() != 4+3 || sum.Lines() != int64(len(batch)) {
		t.Errorf("summary: %d events + %d failures from %d records", sum.Events(), sum.FailureCount(), sum.Lines())
	}
	if r := dl.dl[len(dl.dl)-1]; r.Reason != string(parse.ReasonTooLong) || r.Pos.Offset != 105 {
		t.Errorf("truncated record kept as %+v", r)
	}
	for _, d := range dl.dl {
		if d.Reason == "" || d.Detail == "" || len(d.Value) == 0 {
			t.Errorf("dead letter without reason, detail or bytes: %+v", d)
		}
	}
	if len(eng.applied) != 1 || eng.applied[0] != (detectors.StreamOffset{Stream: "logs/2", Offset: 105}) {
		t.Errorf("applied offsets = %+v, want logs/2 up to 105", eng.applied)
	}
	ev := eng.events[1]
	if ev.ClientIP.String() != "89.109.34.234" || ev.Path != "/wp-admin/install.php" || ev.Time.Hour() != 14 {
		t.Errorf("filebeat-wrapped event = %+v", ev)
	}
	if ev.Source.Offset != 101 || !strings.HasPrefix(ev.Raw, "89.109.34.234 ") {
		t.Errorf("event source/raw = %v %q", ev.Source, ev.Raw)
	}
	if eng.events[2].Route == "" || eng.events[3].User != "" && eng.events[3].Status != 401 {
		t.Errorf("kong events = %+v", eng.events[2:])
	}
}
