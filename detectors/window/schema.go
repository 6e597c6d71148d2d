package window

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"time"
)

const (
	defaultLateness    = 2 * time.Minute
	defaultDistinctCap = 64
)

// tier is one bucket resolution kept for a Count/Sum metric.
type tier struct {
	res int64 // bucket length, ms
	n   int64 // buckets kept, ending with the bucket holding At
	off int64 // Memory: where this tier's ring starts in the entity's slots
	rn  int64 // Memory: ring slots, the power of two >= n
	seq int   // Memory: index of this tier among its family's tiers
}

// cmetric is a Metric compiled for the hot path.
type cmetric struct {
	Metric
	tiers  []tier
	hist   int   // index into tiers of the history tier, -1 if none
	maxWin int64 // longest window, ms
	// Distinct only
	hllRes []int64 // distinct HLL bucket resolutions, ms (one per distinct resolution needed)
	winHLL []int   // per Windows[i]: index into hllRes
	dis    int     // index among the family's Distinct metrics (Memory: ment.dis), -1 for Count/Sum
	estOff int     // Memory: where its windows' estimates start in View.ests
}

type cfamily struct {
	Family
	metrics  []cmetric
	firstDis int // first Distinct metric, -1 if none
	retain   int64
	nslots   int64 // Memory: bucket slots of all tiers of all metrics
	ntiers   int   // Memory: tiers of all metrics
	nest     int   // Memory: windows of all Distinct metrics (View.ests)
}

type schema struct {
	fams     []cfamily
	lateness int64
	cap      int
}

// Bucket resolutions for windows, by the longest window they serve. The
// coarser the window, the coarser the bucket, so a window is always read
// from at most ~60 fields.
func windowRes(w time.Duration) time.Duration {
	switch {
	case w <= 5*time.Minute:
		return 5 * time.Second
	case w <= time.Hour:
		return time.Minute
	case w <= 6*time.Hour:
		return 10 * time.Minute
	default:
		return time.Hour
	}
}

// HyperLogLog bucket resolutions: the largest with at least 6 buckets per
// window, so a PFCOUNT unions 6..60 keys and the window edge is within 1/6 of
// the window.
var hllRes = []time.Duration{time.Hour, 10 * time.Minute, time.Minute, 10 * time.Second}

func hllResFor(w time.Duration) time.Duration {
	for _, r := range hllRes {
		if w >= 6*r {
			return r
		}
	}
	return hllRes[len(hllRes)-1]
}

func compile(s Schema) (*schema, error) {
	if len(s.Families) == 0 {
		return nil, errors.New("window: schema has no families: declare at least one Family with one Metric")
	}
	if len(s.Families) > 1<<16 {
		return nil, fmt.Errorf("window: schema has %d families, at most %d fit a FamilyID", len(s.Families), 1<<16)
	}
	cs := &schema{lateness: s.Lateness.Milliseconds(), cap: s.DistinctCap}
	if s.Lateness == 0 {
		cs.lateness = defaultLateness.Milliseconds()
	}
	if s.Lateness < 0 {
		return nil, fmt.Errorf("window: Schema.Lateness is negative (%v): use 0 for the default of %v", s.Lateness, defaultLateness)
	}
	if cs.cap <= 0 {
		cs.cap = defaultDistinctCap
	}
	names := map[string]bool{}
	for fi, f := range s.Families {
		if f.Name == "" {
			return nil, fmt.Errorf("window: family %d has no name: names are part of the Redis keys", fi)
		}
		if names[f.Name] {
			return nil, fmt.Errorf("window: family name %q is used twice", f.Name)
		}
		names[f.Name] = true
		if len(f.Metrics) == 0 || len(f.Metrics) > 256 {
			return nil, fmt.Errorf("window: family %q has %d metrics, want 1..256", f.Name, len(f.Metrics))
		}
		cf := cfamily{Family: f, firstDis: -1}
		for mi, m := range f.Metrics {
			cm, err := compileMetric(m)
			if err != nil {
				return nil, fmt.Errorf("window: family %q metric %d (%q): %w", f.Name, mi, m.Name, err)
			}
			for ti := range cm.tiers {
				if r := cm.tiers[ti].res * cm.tiers[ti].n; r > cf.retain {
					cf.retain = r
				}
			}
			if m.Kind == Distinct {
				if cf.firstDis < 0 {
					cf.firstDis = mi
				}
				if cm.maxWin > cf.retain {
					cf.retain = cm.maxWin
				}
			}
			cf.metrics = append(cf.metrics, cm)
		}
		ndis := 0
		for mi := range cf.metrics {
			cm := &cf.metrics[mi]
			cm.dis = -1
			if cm.Kind == Distinct {
				cm.dis, cm.estOff = ndis, cf.nest
				ndis++
				cf.nest += len(cm.Windows)
			}
			for j := range cm.tiers {
				t := &cm.tiers[j]
				t.rn = int64(1) << bits.Len64(uint64(t.n-1))
				t.off = cf.nslots
				cf.nslots += t.rn
				t.seq = cf.ntiers
				cf.ntiers++
			}
		}
		cs.fams = append(cs.fams, cf)
	}
	return cs, nil
}

func compileMetric(m Metric) (cmetric, error) {
	cm := cmetric{Metric: m, hist: -1}
	if m.Kind > Distinct {
		return cm, fmt.Errorf("unknown kind %d", m.Kind)
	}
	if len(m.Windows) == 0 {
		return cm, errors.New("no Windows: list the window lengths detectors will ask for")
	}
	for _, w := range m.Windows {
		if w < time.Second || w%time.Second != 0 {
			return cm, fmt.Errorf("window %v: windows must be whole seconds, at least 1s", w)
		}
		if w.Milliseconds() > cm.maxWin {
			cm.maxWin = w.Milliseconds()
		}
	}
	if m.Kind == Distinct {
		if m.History != 0 {
			return cm, errors.New("History is for Count/Sum metrics only")
		}
		for _, w := range m.Windows {
			r := hllResFor(w).Milliseconds()
			i := indexOf(cm.hllRes, r)
			if i < 0 {
				cm.hllRes = append(cm.hllRes, r)
				i = len(cm.hllRes) - 1
			}
			cm.winHLL = append(cm.winHLL, i)
		}
		return cm, nil
	}
	byRes := map[int64]int64{} // res -> longest span kept, ms
	for _, w := range m.Windows {
		r := windowRes(w).Milliseconds()
		// One bucket more than the window: the oldest, partly covered bucket
		// is weighted (see doc.go).
		if span := w.Milliseconds() + r; span > byRes[r] {
			byRes[r] = span
		}
	}
	var histRes int64
	if m.History != 0 || m.HistoryBucket != 0 {
		if m.History <= 0 || m.HistoryBucket < time.Second || m.HistoryBucket%time.Second != 0 || m.History < m.HistoryBucket {
			return cm, fmt.Errorf("History %v / HistoryBucket %v: want both set, HistoryBucket whole seconds, History >= HistoryBucket", m.History, m.HistoryBucket)
		}
		histRes = m.HistoryBucket.Milliseconds()
		if span := m.History.Milliseconds(); span > byRes[histRes] {
			byRes[histRes] = span
		}
	}
	for r, span := range byRes {
		cm.tiers = append(cm.tiers, tier{res: r, n: (span + r - 1) / r})
	}
	sort.Slice(cm.tiers, func(i, j int) bool { return cm.tiers[i].res < cm.tiers[j].res })
	for i, t := range cm.tiers {
		if t.res == histRes {
			cm.hist = i
		}
	}
	return cm, nil
}

func indexOf(s []int64, v int64) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// tierFor picks the tier a window of w ms is read from: the tier of its
// resolution if it keeps w, else the finest tier that keeps w, else the
// longest-kept tier (the window is then truncated to what is kept).
func (m *cmetric) tierFor(w int64) int {
	r := windowRes(time.Duration(w) * time.Millisecond).Milliseconds()
	best, longest := -1, 0
	for i, t := range m.tiers {
		if t.res == r && t.res*t.n >= w {
			return i
		}
		if best < 0 && t.res*t.n >= w {
			best = i
		}
		if t.res*t.n > m.tiers[longest].res*m.tiers[longest].n {
			longest = i
		}
	}
	if best >= 0 {
		return best
	}
	return longest
}

// floorDiv is integer division rounding toward minus infinity, so event
// times before 1970 still bucket consistently.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
