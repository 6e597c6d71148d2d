package pipeline

import (
	"fmt"
	"io"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/pipeline/parse"
)

// Summary counts what went through a pipeline: events per format, failures
// per reason and the event-time range. It is safe for concurrent use.
type Summary struct {
	mu         sync.Mutex
	lines      int64
	events     int64
	byFormat   map[detectors.Format]int64
	byReason   map[parse.Reason]int64
	late       int64
	first      time.Time
	last       time.Time
	detections map[string]int64
}

func (s *Summary) addEvents(evs []detectors.Event) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byFormat == nil {
		s.byFormat = make(map[detectors.Format]int64)
	}
	for i := range evs {
		ev := &evs[i]
		s.events++
		s.byFormat[ev.Format]++
		if s.first.IsZero() || ev.Time.Before(s.first) {
			s.first = ev.Time
		}
		if ev.Time.After(s.last) {
			s.last = ev.Time
		}
	}
}

func (s *Summary) addLines(n int) {
	s.mu.Lock()
	s.lines += int64(n)
	s.mu.Unlock()
}

func (s *Summary) addFailure(r parse.Reason) {
	s.mu.Lock()
	if s.byReason == nil {
		s.byReason = make(map[parse.Reason]int64)
	}
	s.byReason[r]++
	s.mu.Unlock()
}

func (s *Summary) addDetections(ds []detectors.Detection) {
	if len(ds) == 0 {
		return
	}
	s.mu.Lock()
	if s.detections == nil {
		s.detections = make(map[string]int64)
	}
	for i := range ds {
		s.detections[ds[i].Kind]++
	}
	s.mu.Unlock()
}

// AddLate records window operations the store left out because their
// events came later than the allowed lateness; the summary shows them so
// nothing is dropped silently.
func (s *Summary) AddLate(n int64) {
	s.mu.Lock()
	s.late += n
	s.mu.Unlock()
}

// Lines is the number of input lines (or Kafka messages) read.
func (s *Summary) Lines() int64 { s.mu.Lock(); defer s.mu.Unlock(); return s.lines }

// Events is the number of events parsed.
func (s *Summary) Events() int64 { s.mu.Lock(); defer s.mu.Unlock(); return s.events }

// Failures returns the failure counts per reason.
func (s *Summary) Failures() map[parse.Reason]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.byReason)
}

// FailureCount is the total of Failures.
func (s *Summary) FailureCount() int64 {
	var n int64
	for _, v := range s.Failures() {
		n += v
	}
	return n
}

// ByFormat returns the event counts per format.
func (s *Summary) ByFormat() map[detectors.Format]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.byFormat)
}

// WriteTo prints the summary for a person.
func (s *Summary) WriteTo(w io.Writer) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cw := &countWriter{w: w}
	fmt.Fprintf(cw, "lines read:      %d\n", s.lines)
	fmt.Fprintf(cw, "events parsed:   %d\n", s.events)
	formats := make([]detectors.Format, 0, len(s.byFormat))
	for f := range s.byFormat {
		formats = append(formats, f)
	}
	sort.Slice(formats, func(i, j int) bool { return s.byFormat[formats[i]] > s.byFormat[formats[j]] })
	for _, f := range formats {
		fmt.Fprintf(cw, "  %-18s %d\n", f.String(), s.byFormat[f])
	}
	var failed int64
	reasons := make([]parse.Reason, 0, len(s.byReason))
	for r, n := range s.byReason {
		reasons = append(reasons, r)
		failed += n
	}
	sort.Slice(reasons, func(i, j int) bool { return reasons[i] < reasons[j] })
	fmt.Fprintf(cw, "unparseable:     %d\n", failed)
	for _, r := range reasons {
		fmt.Fprintf(cw, "  %-18s %d\n", r, s.byReason[r])
	}
	if s.late > 0 {
		fmt.Fprintf(cw, "late (left out): %d window updates from events older than the allowed lateness\n", s.late)
	}
	if !s.first.IsZero() {
		fmt.Fprintf(cw, "time range:      %s .. %s (%s)\n", s.first.Format(time.RFC3339), s.last.Format(time.RFC3339), s.last.Sub(s.first).Round(time.Second))
	}
	if len(s.detections) > 0 {
		kinds := make([]string, 0, len(s.detections))
		for k := range s.detections {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		fmt.Fprintf(cw, "detections:\n")
		for _, k := range kinds {
			fmt.Fprintf(cw, "  %-18s %d\n", k, s.detections[k])
		}
	}
	return cw.n, cw.err
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
