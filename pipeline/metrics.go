package pipeline

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/pipeline/parse"
)

// Metrics are the pipeline's Prometheus metrics. A nil *Metrics records
// nothing, so tests and replay need not set one up.
type Metrics struct {
	records    prometheus.Counter
	events     *prometheus.CounterVec
	failures   *prometheus.CounterVec
	detected   *prometheus.CounterVec
	batchTime  prometheus.Histogram
	eventDelay prometheus.Gauge
}

// NewMetrics registers the pipeline's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewatch_records_total", Help: "Kafka messages or file lines read.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewatch_events_total", Help: "Requests parsed, by log format.",
		}, []string{"format"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewatch_unparseable_total", Help: "Lines no parser accepted, by reason; each is kept as a dead letter.",
		}, []string{"reason"}),
		detected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewatch_detections_total", Help: "Detections that opened or extended an incident, by kind and severity.",
		}, []string{"kind", "severity"}),
		batchTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gatewatch_batch_seconds", Help: "Time to process one batch, parse to durable effects.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		eventDelay: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewatch_event_delay_seconds", Help: "Wall-clock time minus the newest event time of the last batch.",
		}),
	}
	reg.MustRegister(m.records, m.events, m.failures, m.detected, m.batchTime, m.eventDelay)
	return m
}

func (m *Metrics) failure(r parse.Reason) {
	if m != nil {
		m.failures.WithLabelValues(string(r)).Inc()
	}
}

func (m *Metrics) detections(ds []detectors.Detection) {
	if m == nil {
		return
	}
	for i := range ds {
		m.detected.WithLabelValues(ds[i].Kind, string(ds[i].Severity)).Inc()
	}
}

func (m *Metrics) batch(evs []detectors.Event, records int, took time.Duration) {
	if m == nil {
		return
	}
	m.records.Add(float64(records))
	m.batchTime.Observe(took.Seconds())
	var newest time.Time
	var counts [32]int
	for i := range evs {
		if f := int(evs[i].Format); f < len(counts) {
			counts[f]++
		}
		if evs[i].Time.After(newest) {
			newest = evs[i].Time
		}
	}
	for f, n := range counts {
		if n > 0 {
			m.events.WithLabelValues(detectors.Format(f).String()).Add(float64(n))
		}
	}
	if !newest.IsZero() {
		m.eventDelay.Set(time.Since(newest).Seconds())
	}
}
