package detectors_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/detectors/incident"
	"github.com/gatewatch/gatewatch/detectors/window"
)

var (
	benchOnce sync.Once
	benchGen  *generated
)

func benchTraffic(b *testing.B) *generated {
	benchOnce.Do(func() { benchGen = generateTraffic(b) })
	return benchGen
}

const benchBatch = 2000

// BenchmarkEngine: the whole engine per event (classification, window
// ops, Memory store Apply, threshold evaluation, incidents) over the
// generated hour.
func BenchmarkEngine(b *testing.B) {
	g := benchTraffic(b)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		eng := newBenchEngine(b)
		b.StartTimer()
		for i := 0; i < len(g.evs); i += benchBatch {
			j := min(i+benchBatch, len(g.evs))
			if _, err := eng.Process(context.Background(), g.evs[i:j], g.info[i:j], nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(g.evs)), "ns/event")
}

// BenchmarkStoreOnly: the same window operations applied to the Memory
// store with no detector logic (batches prepared outside the timer).
func BenchmarkStoreOnly(b *testing.B) {
	g := benchTraffic(b)
	batches := recordBatches(b, g)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		eng := newBenchEngine(b)
		b.StartTimer()
		for _, wb := range batches {
			if err := eng.Apply(context.Background(), wb); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(g.evs)), "ns/event")
}

// BenchmarkWindowUpdates: the window-update share of BenchmarkEngine,
// charged honestly: each batch's operations are recorded outside the
// timer (with the engine's own entity strings), then replayed inside it
// through Batch.Add/AddMember/Touch into the engine's kind of reused Batch
// and applied to a fresh Memory store. Detector overhead is
// BenchmarkEngine minus this: classification, entity keys, evaluation and
// incidents.
func BenchmarkWindowUpdates(b *testing.B) {
	g := benchTraffic(b)
	recs := recordBatches(b, g)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		eng := newBenchEngine(b)
		wb := &window.Batch{}
		b.StartTimer()
		for _, rec := range recs {
			wb.Reset()
			rec.AppendTo(wb)
			if err := eng.Apply(context.Background(), wb); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(g.evs)), "ns/event")
}

// newBenchEngine is an engine with the default config over a fresh Memory
// store and incident store.
func newBenchEngine(b *testing.B) *detectors.Engine {
	b.Helper()
	st, err := window.NewMemory(detectors.Schema(detectors.Config{}))
	if err != nil {
		b.Fatal(err)
	}
	eng, err := detectors.NewEngine(detectors.Config{}, st, incident.NewMemory(), detectors.EngineOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

// recordBatches builds, outside any timer, the window operations the
// engine makes for each batch of g.
func recordBatches(b *testing.B, g *generated) []*window.Batch {
	b.Helper()
	eng := newBenchEngine(b)
	var out []*window.Batch
	for i := 0; i < len(g.evs); i += benchBatch {
		j := min(i+benchBatch, len(g.evs))
		wb := &window.Batch{}
		eng.BuildBatch(wb, g.evs[i:j], g.info[i:j])
		out = append(out, wb)
	}
	return out
}
