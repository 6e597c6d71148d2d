package generate

import (
	"testing"

	"github.com/gatewatch/gatewatch/detectors"
)

// BenchmarkGenerate measures generation alone (no formatting): one op is
// the default one-hour scenario; events/s is reported.
func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		tr, err := Generate(DefaultConfig(), func(*detectors.Event) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		n += tr.Events
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendLine measures rendering one event per format.
func BenchmarkAppendLine(b *testing.B) {
	evs := sampleEvents(b, 2000)
	for _, f := range detectors.Formats() {
		b.Run(f.String(), func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 4096)
			i := 0
			for b.Loop() {
				buf = AppendLine(buf[:0], f, &evs[i%len(evs)])
				i++
			}
		})
	}
}

// sampleEvents copies the first n events of the default scenario.
func sampleEvents(tb testing.TB, n int) []detectors.Event {
	tb.Helper()
	out := make([]detectors.Event, 0, n)
	errStop := &stopErr{}
	_, err := Generate(DefaultConfig(), func(ev *detectors.Event) error {
		out = append(out, *ev)
		if len(out) == n {
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop {
		tb.Fatal(err)
	}
	return out
}

type stopErr struct{}

func (*stopErr) Error() string { return "stop" }
