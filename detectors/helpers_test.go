package detectors_test

import (
	"slices"

	"github.com/gatewatch/gatewatch/detectors"
)

func slicesSortByTime(evs []detectors.Event) {
	slices.SortStableFunc(evs, func(a, b detectors.Event) int { return a.Time.Compare(b.Time) })
}
