// Package source reads raw records into gatewatch: a Kafka consumer group,
// files and stdin. It hands batches of raw bytes to a Handler and moves the
// input forward (commits Kafka offsets) only after the Handler says the
// batch's effects are durable. It does not parse anything. The package also
// holds the dead-letter sinks that keep input the parsers could not read.
package source

import (
	"context"
	"log/slog"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// Message is one raw record: a Kafka message value or one file line (without
// the line ending).
//
// Value is only valid until Handle returns: the file source reuses its line
// buffer for the next batch. A handler that keeps bytes past Handle (for
// evidence, say) must copy them; parsers that convert the line to a string
// once already do.
type Message struct {
	Value []byte
	Pos   detectors.Position // topic/partition/offset or file/line
	Time  time.Time          // Kafka record timestamp, or zero for files
	// Truncated is set on a file line longer than FileConfig.MaxLineBytes:
	// Value holds its first MaxLineBytes bytes and the rest was skipped. The
	// line is still delivered so that it can be dead-lettered, not lost
	// without a trace. Kafka messages are never truncated.
	Truncated bool
}

// Handler does a batch's work. It must return only when the batch's effects
// are durable (window updates applied, dead letters written, detections
// recorded). A non-nil error means nothing may be committed: the source
// retries the same batch with backoff (logging the error) until it succeeds
// or ctx ends, so the error should say what the operator can do about it
// ("window store unreachable: check redis at ...").
//
// Batches of one partition (or one file) are delivered in order, one at a
// time; batches of different partitions or followed files may be handled
// concurrently, so a Handler must be safe for concurrent use.
type Handler interface {
	Handle(ctx context.Context, batch []Message) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, batch []Message) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, batch []Message) error { return f(ctx, batch) }

// Retry delays for a failing handler: exponential, so a store outage is not
// hammered, and capped, so recovery is noticed within seconds.
const (
	minRetryDelay = 100 * time.Millisecond
	maxRetryDelay = 10 * time.Second
)

// handleWithRetry calls h until it succeeds. It gives up, returning the last
// handler error, when ctx ends or abort is closed (a Kafka rebalance took the
// partition away); the batch must then not be committed. The handler gets
// ctx, not abort: a rebalance should not interrupt a write that is about to
// become durable, only stop further attempts.
func handleWithRetry(ctx context.Context, abort <-chan struct{}, h Handler, batch []Message, log *slog.Logger) error {
	delay := minRetryDelay
	for attempt := 1; ; attempt++ {
		err := h.Handle(ctx, batch)
		if err == nil {
			if attempt > 1 {
				log.Info("batch handled after retries; input moves on",
					"first", batch[0].Pos.String(), "last", batch[len(batch)-1].Pos.String(), "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		log.Error("handling a batch failed; it is not committed and will be retried until it succeeds",
			"err", err, "first", batch[0].Pos.String(), "last", batch[len(batch)-1].Pos.String(),
			"messages", len(batch), "attempt", attempt, "retry_in", delay)
		if !sleep(ctx, abort, delay) {
			return err
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// sleep waits d; it returns false if ctx ended or abort closed first.
func sleep(ctx context.Context, abort <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-abort:
		return false
	}
}

func orDefault(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
