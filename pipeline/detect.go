package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/detectors/incident"
	"github.com/gatewatch/gatewatch/detectors/window"
)

// Detection is the engine with the stores it stands on.
type Detection struct {
	Engine *detectors.Engine
	Store  window.Store
}

// NewDetection builds the engine over shared Redis state when client is not
// nil (every worker sees the same windows and incidents), else over the
// embedded in-memory stores, which suit replay and trials on one process.
func NewDetection(cfg detectors.Config, client redis.UniversalClient, prefix string, log *slog.Logger) (*Detection, error) {
	schema := detectors.Schema(cfg)
	var (
		store window.Store
		inc   detectors.IncidentStore
		err   error
	)
	if client != nil {
		store, err = window.NewRedis(client, schema, window.RedisOptions{Prefix: prefix})
		inc = incident.NewRedis(client, incident.RedisOptions{Prefix: prefix})
	} else {
		store, err = window.NewMemory(schema)
		inc = incident.NewMemory()
	}
	if err != nil {
		return nil, fmt.Errorf("window store: %w", err)
	}
	eng, err := detectors.NewEngine(cfg, store, inc, detectors.EngineOptions{Logger: log})
	if err != nil {
		return nil, err
	}
	return &Detection{Engine: eng, Store: store}, nil
}

// Close releases the stores.
func (d *Detection) Close() error { return d.Store.Close() }

// WriterSink writes detections to w as JSON lines, or as a table when
// table is set (call Flush at the end). Writes are serialised.
type WriterSink struct {
	mu    sync.Mutex
	jsonl *detectors.JSONLWriter
	table *detectors.TableWriter
}

// NewWriterSink returns a sink writing to w.
func NewWriterSink(w io.Writer, table bool) *WriterSink {
	if table {
		return &WriterSink{table: detectors.NewTableWriter(w)}
	}
	return &WriterSink{jsonl: detectors.NewJSONLWriter(w)}
}

// Detections implements DetectionSink.
func (s *WriterSink) Detections(_ context.Context, ds []detectors.Detection) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.table != nil {
		return s.table.Write(ds...)
	}
	return s.jsonl.Write(ds...)
}

// Flush writes out a buffered table.
func (s *WriterSink) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.table != nil {
		return s.table.Flush()
	}
	return nil
}
