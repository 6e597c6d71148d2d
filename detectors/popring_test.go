package detectors

import (
	"math/rand/v2"
	"testing"

	"github.com/gatewatch/gatewatch/detectors/stats"
)

// TestPopRingStats: the incrementally sorted population gives exactly
// stats.MedianMAD of the values it holds, while it fills, after it wraps,
// with few and with many pushes between reads, and with repeated values.
func TestPopRingStats(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var p popRing
	pushes := 0
	for round := range 1500 {
		k := 1 + r.IntN(8)
		if round%50 == 0 {
			k = 300 // more changes than are replayed: a full sort
		}
		for range k {
			p.push(float64(1 + r.IntN(40))) // few distinct values: many ties
			pushes++
		}
		med, mad, n := p.stats()
		want := append([]float64(nil), p.vals...)
		wmed, wmad := stats.MedianMAD(want, nil)
		if med != wmed || mad != wmad || n != min(pushes, popSize) {
			t.Fatalf("after %d pushes: median %v mad %v n %d, want %v %v %d", pushes, med, mad, n, wmed, wmad, min(pushes, popSize))
		}
	}
	if pushes < 2*popSize {
		t.Fatalf("only %d pushes: the ring never wrapped", pushes)
	}
}
