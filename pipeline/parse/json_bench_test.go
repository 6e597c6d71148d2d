package parse

import (
	"testing"

	"github.com/gatewatch/gatewatch/detectors"
)

// Benchmarks per JSON format over every real line of that format in
// testdata/json, cycled, so the mix has different lengths, escapes and
// optional fields. lines/s is the figure the README reports; run with
// -benchmem for allocations per line.
func BenchmarkParseJSON(b *testing.B) {
	for _, c := range []struct {
		name  string
		file  string
		lines []int // nil = all
		opts  Options
	}{
		{name: "nginx", file: "nginx.jsonl", lines: []int{1, 2, 3, 4}},
		{name: "envoy", file: "envoy.jsonl"},
		{name: "kong", file: "kong.jsonl"},
		{name: "aws", file: "aws.jsonl"},
		{name: "traefik", file: "traefik.jsonl"},
		{name: "caddy", file: "caddy.jsonl", lines: []int{1, 2, 3, 4, 5}},
	} {
		b.Run(c.name, func(b *testing.B) {
			all := jsonLines(b, c.file)
			lines := all
			if c.lines != nil {
				lines = lines[:0:0]
				for _, n := range c.lines {
					lines = append(lines, all[n-1])
				}
			}
			benchJSONLines(b, c.opts, lines)
		})
	}
	// A mixed stream, as one Kafka topic fed by several gateways would be.
	b.Run("mixed", func(b *testing.B) {
		var lines []string
		for _, f := range []string{"nginx.jsonl", "envoy.jsonl", "kong.jsonl", "aws.jsonl", "traefik.jsonl", "caddy.jsonl"} {
			for i, l := range jsonLines(b, f) {
				if (f == "nginx.jsonl" && i == 4) || (f == "caddy.jsonl" && i == 5) {
					continue // needs JSONFields / not an access log
				}
				lines = append(lines, l)
			}
		}
		benchJSONLines(b, Options{}, lines)
	})
	b.Run("kong-batch", func(b *testing.B) {
		p := newJSONTestParser(b, Options{})
		batch := jsonLine(b, "kong_batch.json", 1)
		dst := make([]detectors.Event, 0, 4)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			var err error
			dst, err = p.ParseAll(batch, dst[:0])
			if err != nil || len(dst) != 2 {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(batch)))
		b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

func benchJSONLines(b *testing.B, opts Options, lines []string) {
	p := newJSONTestParser(b, opts)
	var ev detectors.Event
	total := 0
	for _, l := range lines {
		if err := p.Parse(l, &ev); err != nil {
			b.Fatalf("%v: %s", err, l)
		}
		total += len(l)
	}
	b.SetBytes(int64(total / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Parse(lines[i%len(lines)], &ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
