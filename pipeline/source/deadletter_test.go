package source

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/internal/testenv"
)

func testLetters() []DeadLetter {
	return []DeadLetter{
		{Value: []byte(`<garbage> "quoted" line`), Pos: detectors.Position{Topic: "access", Partition: 2, Offset: 41},
			Reason: "unparseable", Detail: "no known format matched"},
		{Value: []byte{0xff, 0xfe, 'x', 0x00}, Pos: detectors.Position{Topic: "access", Partition: 0, Offset: 7},
			Reason: "unparseable", Detail: "not UTF-8"},
		{Value: []byte("from a file"), Pos: detectors.Position{File: "/var/log/nginx/access.log", Line: 12},
			Reason: "line-too-long", Detail: "cut at 1048576 bytes"},
	}
}

// readTopic reads n records from partition 0 of topic.
func readTopic(t *testing.T, addr, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s after %d of %d records: %v", topic, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return "<missing>"
}

func TestKafkaDeadLetters(t *testing.T) {
	for _, tt := range []struct {
		name, topic, want string
	}{
		{"default topic next to the source", "", "access.dlq"},
		{"explicit topic", "gatewatch-dead", "gatewatch-dead"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := testenv.Kafka(t, 1, "access") // the DLQ topic is auto-created
			d, err := NewKafkaDeadLetters(KafkaConfig{Brokers: []string{addr}, Topics: []string{"access"}}, tt.topic)
			if err != nil {
				t.Fatal(err)
			}
			letters := testLetters()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := d.Write(ctx, letters); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			got := readTopic(t, addr, tt.want, len(letters))
			for i, l := range letters {
				m := got[i]
				if !bytes.Equal(m.Value, l.Value) {
					t.Errorf("record %d value %q, want the original bytes %q", i, m.Value, l.Value)
				}
				for key, want := range map[string]string{HeaderReason: l.Reason, HeaderDetail: l.Detail, HeaderSource: l.Pos.String()} {
					if h := header(m, key); h != want {
						t.Errorf("record %d header %s = %q, want %q", i, key, h, want)
					}
				}
			}
		})
	}
}

func TestNewKafkaDeadLettersErrors(t *testing.T) {
	if _, err := NewKafkaDeadLetters(KafkaConfig{}, "x"); err == nil || !strings.Contains(err.Error(), "set kafka.brokers") {
		t.Errorf("no brokers: %v", err)
	}
	if _, err := NewKafkaDeadLetters(KafkaConfig{Brokers: []string{"b:9092"}}, ""); err == nil || !strings.Contains(err.Error(), "no topic") {
		t.Errorf("no topic: %v", err)
	}
}

func TestFileDeadLetters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	letters := testLetters()
	// Two writers in turn: the file is appended to, not overwritten.
	for _, batch := range [][]DeadLetter{letters[:2], letters[2:]} {
		d, err := NewFileDeadLetters(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Write(context.Background(), batch); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := d.Write(context.Background(), batch); err == nil {
			t.Error("Write after Close succeeded")
		}
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	i := 0
	for ; sc.Scan(); i++ {
		var rec struct {
			Time                                   time.Time
			Reason, Detail, Source, Line, Encoding string
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i+1, err, sc.Bytes())
		}
		if i >= len(letters) {
			t.Fatalf("more lines than letters written")
		}
		l := letters[i]
		value := []byte(rec.Line)
		if rec.Encoding == "base64" {
			if value, err = base64.StdEncoding.DecodeString(rec.Line); err != nil {
				t.Fatalf("line %d: bad base64: %v", i+1, err)
			}
		} else if rec.Encoding != "" {
			t.Errorf("line %d: unknown encoding %q", i+1, rec.Encoding)
		}
		if !bytes.Equal(value, l.Value) {
			t.Errorf("line %d: value %q, want %q", i+1, value, l.Value)
		}
		if rec.Reason != l.Reason || rec.Detail != l.Detail || rec.Source != l.Pos.String() || rec.Time.IsZero() {
			t.Errorf("line %d: got %+v, want reason %q detail %q source %q and a time", i+1, rec, l.Reason, l.Detail, l.Pos.String())
		}
		if (rec.Encoding == "base64") == (i != 1) {
			t.Errorf("line %d: encoding %q; only the non-UTF-8 letter should be base64", i+1, rec.Encoding)
		}
	}
	if i != len(letters) {
		t.Errorf("read %d letters, want %d", i, len(letters))
	}
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte(`<garbage> \"quoted\" line`)) {
		t.Errorf("UTF-8 line not stored readably:\n%s", raw)
	}

	if _, err := NewFileDeadLetters(filepath.Join(t.TempDir(), "no", "such", "dir", "x")); err == nil || !strings.Contains(err.Error(), "writable") {
		t.Errorf("missing directory: %v", err)
	}
}
