// Package incident stores detection incidents so that a condition that
// holds across many batches and many workers becomes one incident that is
// extended, not a flood of detections. Memory serves one process (replay,
// trials); Redis is shared by every worker of a consumer group.
package incident

import (
	"context"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// ID derives an incident id from its key and opening time. Deterministic,
// so two workers racing to open the same incident propose the same id and
// a replay of the same input yields the same ids.
func ID(k detectors.IncidentKey, opened time.Time) string {
	h := fnv.New64a()
	h.Write([]byte(k.Detector))
	h.Write([]byte{0})
	h.Write([]byte(k.Entity.Type))
	h.Write([]byte{0})
	h.Write([]byte(k.Entity.Value))
	var buf [40]byte
	b := append(buf[:0], "inc_"...)
	b = strconv.AppendUint(b, h.Sum64(), 36)
	b = append(b, '_')
	b = strconv.AppendInt(b, opened.UnixMilli(), 36)
	return string(b)
}

var ranked = [...]detectors.Severity{
	detectors.SeverityInfo, detectors.SeverityLow, detectors.SeverityMedium,
	detectors.SeverityHigh, detectors.SeverityCritical,
}

func severityOf(rank int) detectors.Severity {
	if rank < 0 || rank >= len(ranked) {
		return detectors.SeverityInfo
	}
	return ranked[rank]
}

type memIncident struct {
	id          string
	first, last time.Time
	reported    time.Time
	hits        int64
	sev         int
	cooldown    time.Duration
}

// Memory is an in-process IncidentStore. Safe for concurrent use.
type Memory struct {
	mu     sync.Mutex
	m      map[detectors.IncidentKey]*memIncident
	newest time.Time
	ops    int
}

// NewMemory returns an empty in-process incident store.
func NewMemory() *Memory {
	return &Memory{m: make(map[detectors.IncidentKey]*memIncident)}
}

// Hit implements detectors.IncidentStore.
func (s *Memory) Hit(ctx context.Context, hits []detectors.IncidentHit) ([]detectors.IncidentUpdate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]detectors.IncidentUpdate, len(hits))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, h := range hits {
		out[i] = s.hit(h)
	}
	s.ops += len(hits)
	if s.ops >= 4096 {
		s.ops = 0
		s.prune()
	}
	return out, nil
}

func (s *Memory) hit(h detectors.IncidentHit) detectors.IncidentUpdate {
	if h.At.After(s.newest) {
		s.newest = h.At
	}
	sev := h.Severity.Rank()
	if sev < 0 {
		sev = 0
	}
	inc := s.m[h.Key]
	if inc == nil || h.At.After(inc.last.Add(h.Cooldown)) {
		inc = &memIncident{id: ID(h.Key, h.At), first: h.At, last: h.At, reported: h.At, hits: 1, sev: sev, cooldown: h.Cooldown}
		s.m[h.Key] = inc
		return detectors.IncidentUpdate{ID: inc.id, State: detectors.IncidentOpened, Report: true,
			Hits: 1, FirstSeen: inc.first, LastSeen: inc.last, Severity: severityOf(sev)}
	}
	inc.hits++
	inc.cooldown = h.Cooldown
	if h.At.After(inc.last) {
		inc.last = h.At
	}
	report := false
	if sev > inc.sev || (h.ReportEvery > 0 && !h.At.Before(inc.reported.Add(h.ReportEvery))) {
		report = true
		inc.reported = h.At
	}
	if sev > inc.sev {
		inc.sev = sev
	}
	return detectors.IncidentUpdate{ID: inc.id, State: detectors.IncidentExtended, Report: report,
		Hits: inc.hits, FirstSeen: inc.first, LastSeen: inc.last, Severity: severityOf(inc.sev)}
}

// prune drops incidents closed for longer than their cooldown relative to
// the newest event time seen, bounding memory on long replays.
func (s *Memory) prune() {
	for k, inc := range s.m {
		if s.newest.After(inc.last.Add(2 * inc.cooldown)) {
			delete(s.m, k)
		}
	}
}

// Len reports how many incidents the store holds (open or recently closed).
func (s *Memory) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
