package source

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/gatewatch/gatewatch/detectors"
)

// DeadLetter is input that could not be used (unparseable, too long), kept
// with the reason so it can be inspected and replayed rather than dropped.
type DeadLetter struct {
	Value  []byte             // the original bytes, unchanged
	Pos    detectors.Position // where they came from
	Reason string             // short and stable, for counting: "unparseable", "line-too-long"
	Detail string             // what exactly went wrong, for a person
}

// DeadLetterSink keeps dead letters. Write returns only after the letters
// are durable, so a handler can return (and the batch be committed) right
// after it; on error nothing may be committed and the batch is retried.
type DeadLetterSink interface {
	Write(ctx context.Context, dl []DeadLetter) error
	Close() error
}

// Kafka record headers on a dead letter.
const (
	HeaderReason = "gatewatch-reason"
	HeaderDetail = "gatewatch-detail"
	HeaderSource = "gatewatch-source" // topic/partition/offset or file:line
)

// KafkaDeadLetters writes dead letters to Kafka: the original bytes as the
// record value, reason, detail and source position as headers.
type KafkaDeadLetters struct {
	w *kafka.Writer
	// topic is where every letter goes when set; otherwise each letter goes
	// to "<its source topic>.dlq", and letters without a source topic (from
	// files) to fallback.
	topic, fallback string
}

// NewKafkaDeadLetters writes to topic, or when topic is "" to
// "<source topic>.dlq" next to each letter's source topic. It uses cfg's
// brokers, TLS and SASL settings. Writes wait for all in-sync replicas.
func NewKafkaDeadLetters(cfg KafkaConfig, topic string) (*KafkaDeadLetters, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka dead letters: no brokers configured; set kafka.brokers")
	}
	d := &KafkaDeadLetters{topic: topic}
	if topic == "" {
		if len(cfg.Topics) == 0 {
			return nil, errors.New("kafka dead letters: no topic; set the dead-letter topic, or kafka.topics so that <topic>.dlq is used")
		}
		d.fallback = cfg.Topics[0] + ".dlq"
	}
	tlsConfig, mech, err := cfg.security()
	if err != nil {
		return nil, err
	}
	d.w = &kafka.Writer{
		Addr: kafka.TCP(cfg.Brokers...),
		Transport: &kafka.Transport{
			ClientID:    "gatewatch",
			DialTimeout: dialTimeout,
			TLS:         tlsConfig,
			SASL:        mech,
		},
		Balancer:     &kafka.RoundRobin{},
		RequiredAcks: kafka.RequireAll,
		// Write is synchronous: a short batch timeout keeps a small write
		// from waiting for a batch that will never fill.
		BatchTimeout: 5 * time.Millisecond,
		// A missing dead-letter topic must not turn into lost letters on a
		// broker that allows auto-creation.
		AllowAutoTopicCreation: true,
	}
	return d, nil
}

func (d *KafkaDeadLetters) topicFor(pos detectors.Position) string {
	switch {
	case d.topic != "":
		return d.topic
	case pos.Topic != "":
		return pos.Topic + ".dlq"
	default:
		return d.fallback
	}
}

// Write sends the letters and waits until all in-sync replicas have them.
func (d *KafkaDeadLetters) Write(ctx context.Context, dl []DeadLetter) error {
	if len(dl) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(dl))
	for i, l := range dl {
		msgs[i] = kafka.Message{
			Topic: d.topicFor(l.Pos),
			Value: l.Value,
			Headers: []kafka.Header{
				{Key: HeaderReason, Value: []byte(l.Reason)},
				{Key: HeaderDetail, Value: []byte(l.Detail)},
				{Key: HeaderSource, Value: []byte(l.Pos.String())},
			},
		}
	}
	if err := d.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("dead letters: write %d to kafka (topic %s) failed; check that the brokers are reachable and the topic writable: %w",
			len(msgs), msgs[0].Topic, err)
	}
	return nil
}

// Close flushes and closes the writer.
func (d *KafkaDeadLetters) Close() error { return d.w.Close() }

// FileDeadLetters appends dead letters to a file as JSON lines:
//
//	{"time":"...","reason":"...","detail":"...","source":"access/3/1207","line":"..."}
//
// line is the original bytes as a string when they are valid UTF-8;
// otherwise it is their standard base64 and "encoding":"base64" says so.
type FileDeadLetters struct {
	mu   sync.Mutex
	f    *os.File
	path string
	buf  bytes.Buffer
	enc  *json.Encoder
}

// fileDeadLetter is the JSON shape of one line of a dead-letter file.
type fileDeadLetter struct {
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason"`
	Detail   string    `json:"detail,omitempty"`
	Source   string    `json:"source"`
	Line     string    `json:"line"`
	Encoding string    `json:"encoding,omitempty"`
}

// NewFileDeadLetters opens path for appending, creating it if needed.
func NewFileDeadLetters(path string) (*FileDeadLetters, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("dead letters: open %s for appending (check that its directory exists and is writable): %w", path, err)
	}
	d := &FileDeadLetters{f: f, path: path}
	d.enc = json.NewEncoder(&d.buf)
	d.enc.SetEscapeHTML(false) // keep log lines readable: no \u003c for '<'
	return d, nil
}

// Write appends the letters and fsyncs the file before returning.
func (d *FileDeadLetters) Write(ctx context.Context, dl []DeadLetter) error {
	if len(dl) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return fmt.Errorf("dead letters: %s is closed", d.path)
	}
	now := time.Now().UTC()
	d.buf.Reset()
	for _, l := range dl {
		rec := fileDeadLetter{Time: now, Reason: l.Reason, Detail: l.Detail, Source: l.Pos.String()}
		if utf8.Valid(l.Value) {
			rec.Line = string(l.Value)
		} else {
			rec.Line, rec.Encoding = base64.StdEncoding.EncodeToString(l.Value), "base64"
		}
		if err := d.enc.Encode(rec); err != nil { // Encode ends the line
			return fmt.Errorf("dead letters: encode letter from %s: %w", rec.Source, err)
		}
	}
	// One write per batch keeps a batch's lines together even if another
	// process appends to the same file.
	if _, err := d.f.Write(d.buf.Bytes()); err != nil {
		return fmt.Errorf("dead letters: append to %s (check free disk space): %w", d.path, err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("dead letters: sync %s to disk: %w", d.path, err)
	}
	return nil
}

// Close syncs and closes the file.
func (d *FileDeadLetters) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := errors.Join(d.f.Sync(), d.f.Close())
	d.f = nil
	if err != nil {
		return fmt.Errorf("dead letters: close %s: %w", d.path, err)
	}
	return nil
}
