package pipeline

import (
	"context"
	"os"
	"testing"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/pipeline/generate"
	"github.com/gatewatch/gatewatch/pipeline/route"
	"github.com/gatewatch/gatewatch/pipeline/source"
)

// benchLines renders the generated hour (about 270,000 requests) as nginx
// combined lines, in batches of the Kafka source's default size.
func benchLines(b *testing.B) [][]source.Message {
	b.Helper()
	var batches [][]source.Message
	var cur []source.Message
	var buf []byte
	_, err := generate.Generate(generate.DefaultConfig(), func(ev *detectors.Event) error {
		buf = generate.AppendLine(buf[:0], detectors.FormatNginxCombined, ev)
		cur = append(cur, source.Message{Value: append([]byte(nil), buf...), Pos: detectors.Position{File: "bench.log", Line: int64(len(cur))}})
		if len(cur) == 1000 {
			batches = append(batches, cur)
			cur = nil
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return append(batches, cur)
}

func benchProcessor(b *testing.B, detect bool) {
	batches := benchLines(b)
	var events int
	for _, bt := range batches {
		events += len(bt)
	}
	spec := writeSpec(b)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		routes, err := route.New(route.Options{SpecFile: spec})
		if err != nil {
			b.Fatal(err)
		}
		cfg := ProcessorConfig{Routes: routes}
		if detect {
			det, err := NewDetection(detectors.DefaultConfig(), nil, "", nil)
			if err != nil {
				b.Fatal(err)
			}
			cfg.Engine = det.Engine
		}
		p, err := NewProcessor(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, bt := range batches {
			if err := p.Handle(context.Background(), bt); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}

// BenchmarkProcessorParseOnly: unwrap, parse and route naming.
func BenchmarkProcessorParseOnly(b *testing.B) { benchProcessor(b, false) }

// BenchmarkProcessorDetect: the same plus every detector over the
// in-memory window store: what 'gatewatch replay' does per line.
func BenchmarkProcessorDetect(b *testing.B) { benchProcessor(b, true) }

func writeSpec(b *testing.B) string {
	b.Helper()
	path := b.TempDir() + "/spec.yaml"
	if err := writeFile(path, generate.OpenAPISpec()); err != nil {
		b.Fatal(err)
	}
	return path
}

func writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o644) }
