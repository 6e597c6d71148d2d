package window

import (
	"context"
	"time"
)

// Kind says how a metric aggregates.
type Kind uint8

const (
	// Count adds integer deltas per bucket (non-integer deltas are truncated toward zero).
	Count Kind = iota
	// Sum adds float deltas per bucket.
	Sum
	// Distinct counts distinct members: exact while the entity has at most
	// Schema.DistinctCap live members, HyperLogLog above.
	Distinct
)

func (k Kind) String() string {
	switch k {
	case Count:
		return "count"
	case Sum:
		return "sum"
	case Distinct:
		return "distinct"
	}
	return "kind(?)"
}

// Metric is one statistic kept per (family, entity).
type Metric struct {
	Name string
	Kind Kind
	// Windows are the window lengths detectors will ask for (1 min .. 24 h).
	// They decide which bucket resolutions are kept (see doc.go).
	Windows []time.Duration
	// History and HistoryBucket (Count/Sum only) keep per-bucket history this
	// long at this bucket size for View.Series, View.Baseline and
	// View.Seasonal (e.g. 4 weeks of 1 h buckets for hour-of-week profiles).
	History, HistoryBucket time.Duration
	// MinEvents (Distinct only): above the exact cap, report the HyperLogLog
	// estimate only when the family's first metric has at least MinEvents in
	// the window; otherwise report the exact part (a lower bound).
	MinEvents int64
}

// Family groups the metrics of one kind of entity (an IP, a user, ...).
// All keys of one (family, entity) share one Redis hash tag.
type Family struct {
	Name    string
	Metrics []Metric
}

type (
	// FamilyID indexes Schema.Families.
	FamilyID uint16
	// MetricID indexes Family.Metrics.
	MetricID uint8
)

// Schema lists the families. Its zero-valued options take defaults.
type Schema struct {
	Families []Family
	// Lateness is how far behind the newest event time seen an event may
	// arrive and still be counted (default 2m).
	Lateness time.Duration
	// DistinctCap is how many live members a Distinct metric keeps exactly
	// per entity (default 64). Added beyond the original contract.
	DistinctCap int
}

// Store keeps windows. Memory and RedisStore implement it with identical
// semantics.
type Store interface {
	// Apply applies b and returns, for every (family, entity) b touched, its
	// current windowed values. It is atomic with b's MarkApplied offsets:
	// after a crash AppliedOffsets reports exactly what is in the store. On
	// error nothing may be assumed applied; the caller does not commit and
	// may retry the same batch. A caller done with the Result may Release
	// it, so that later Applies build their views in its memory.
	Apply(ctx context.Context, b *Batch) (*Result, error)
	// AppliedOffsets returns, per stream, the highest offset applied (-1 when
	// unknown). It also restores the lateness watermark of those streams.
	AppliedOffsets(ctx context.Context, streams []string) (map[string]int64, error)
	Close() error
}
