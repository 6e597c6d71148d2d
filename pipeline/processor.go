// Package pipeline wires gatewatch together: sources hand raw records to a
// Processor, which unwraps shipper envelopes, parses gateway lines, names
// routes, keeps what it cannot parse as dead letters, runs the detectors and
// hands detections on. A batch's Handle returns only after its effects are
// durable, so the source commits offsets only behind them.
package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/pipeline/envelope"
	"github.com/gatewatch/gatewatch/pipeline/parse"
	"github.com/gatewatch/gatewatch/pipeline/route"
	"github.com/gatewatch/gatewatch/pipeline/source"
)

// Engine is what the Processor needs of the detectors.
type Engine interface {
	Process(ctx context.Context, events []detectors.Event, info []detectors.RouteInfo, applied []detectors.StreamOffset) ([]detectors.Detection, error)
}

// DetectionSink receives detections. It must return only when they are
// durable (written, sent or queued in an outbox).
type DetectionSink interface {
	Detections(ctx context.Context, ds []detectors.Detection) error
}

// ProcessorConfig configures a Processor. Engine and Parse options are the
// only required parts; everything else has a working zero value.
type ProcessorConfig struct {
	Parse       parse.Options
	Envelope    envelope.Options
	Routes      *route.Normalizer // nil: a normaliser with default options
	Engine      Engine            // nil: parse only (replay summary)
	Detections  DetectionSink     // nil: detections are counted only
	DeadLetters source.DeadLetterSink
	Summary     *Summary // nil: a new one, see Processor.Summary
	Metrics     *Metrics // nil: no Prometheus metrics
}

// Processor implements source.Handler.
type Processor struct {
	cfg    ProcessorConfig
	routes *route.Normalizer
	sum    *Summary
	// The engine applies window updates for a whole batch in one round
	// trip; serialising batches keeps each Apply's offsets consistent and
	// costs little, since parsing runs outside the lock.
	engineMu sync.Mutex
	states   sync.Pool // *procState: one parser per goroutine
	// Unwrappers hold state between records of one stream (a CRI partial
	// line waits for the record that completes it), so each partition or
	// file has its own. Batches of one stream never run concurrently.
	unwrapMu   sync.Mutex
	unwrappers map[streamKey]*envelope.Unwrapper
}

type streamKey struct {
	topic, file string
	partition   int32
}

type procState struct {
	parser  *parse.Parser
	events  []detectors.Event
	info    []detectors.RouteInfo
	dead    []source.DeadLetter
	applied []detectors.StreamOffset
	offsets []partOffset
}

// NewProcessor checks the configuration and builds a Processor.
func NewProcessor(cfg ProcessorConfig) (*Processor, error) {
	if _, err := parse.New(cfg.Parse); err != nil {
		return nil, err
	}
	p := &Processor{cfg: cfg, routes: cfg.Routes, sum: cfg.Summary, unwrappers: map[streamKey]*envelope.Unwrapper{}}
	if p.routes == nil {
		r, err := route.New(route.Options{})
		if err != nil {
			return nil, err
		}
		p.routes = r
	}
	if p.sum == nil {
		p.sum = &Summary{}
	}
	p.states.New = func() any {
		// Options were validated above, so New cannot fail here.
		pr, _ := parse.New(cfg.Parse)
		return &procState{parser: pr}
	}
	return p, nil
}

// Summary returns the running counts.
func (p *Processor) Summary() *Summary { return p.sum }

// Handle implements source.Handler.
func (p *Processor) Handle(ctx context.Context, batch []source.Message) error {
	st := p.states.Get().(*procState)
	defer p.states.Put(st)
	st.events = st.events[:0]
	st.info = st.info[:0]
	st.dead = st.dead[:0]
	st.applied = st.applied[:0]
	st.offsets = st.offsets[:0]
	start := time.Now()
	var unwrap *envelope.Unwrapper
	if len(batch) > 0 {
		unwrap = p.unwrapper(batch[0].Pos)
	}

	for i := range batch {
		msg := &batch[i]
		p.noteOffset(st, msg.Pos)
		if msg.Truncated {
			p.deadLetter(st, msg, parse.ReasonTooLong, "line longer than the source's limit; the kept bytes are its start")
			continue
		}
		err := unwrap.Unwrap(msg.Value, func(line string, _ time.Time) error {
			// Sources reuse their buffers and the unwrapper hands out views
			// of them, while detectors keep event strings (entities,
			// evidence) across batches: own the line once, and every field
			// parsed from it is a free sub-string of it.
			line = strings.Clone(line)
			n := len(st.events)
			var perr error
			st.events, perr = st.parser.ParseAll(line, st.events)
			if perr != nil {
				st.events = st.events[:n]
				reason := parse.ReasonOf(perr)
				p.sum.addFailure(reason)
				p.cfg.Metrics.failure(reason)
				st.dead = append(st.dead, source.DeadLetter{Value: []byte(line), Pos: msg.Pos, Reason: string(reason), Detail: perr.Error()})
				return nil
			}
			for j := n; j < len(st.events); j++ {
				ev := &st.events[j]
				ev.Source = msg.Pos
				m := p.routes.Normalize(ev.Method, ev.Path, ev.Params[:0])
				ev.Route, ev.Params = m.Template, m.Params
				st.info = append(st.info, detectors.RouteInfo{InSpec: m.InSpec, SpecKnown: m.SpecKnown, Deprecated: m.Deprecated})
			}
			return nil
		})
		if err != nil {
			// The envelope itself is broken (bad CloudWatch payload and the
			// like): keep the original bytes whole.
			p.deadLetter(st, msg, ReasonBadEnvelope, err.Error())
		}
	}
	p.sum.addLines(len(batch))
	for _, o := range st.offsets {
		st.applied = append(st.applied, detectors.StreamOffset{Stream: Stream(o.topic, o.partition), Offset: o.offset})
	}

	if len(st.dead) > 0 && p.cfg.DeadLetters != nil {
		if err := p.cfg.DeadLetters.Write(ctx, st.dead); err != nil {
			return fmt.Errorf("keep %d unparseable lines as dead letters: %w", len(st.dead), err)
		}
	}
	if p.cfg.Engine != nil {
		p.engineMu.Lock()
		ds, err := p.cfg.Engine.Process(ctx, st.events, st.info, st.applied)
		p.engineMu.Unlock()
		if err != nil {
			return fmt.Errorf("detect on %d events: %w", len(st.events), err)
		}
		p.sum.addDetections(ds)
		p.cfg.Metrics.detections(ds)
		if p.cfg.Detections != nil && len(ds) > 0 {
			if err := p.cfg.Detections.Detections(ctx, ds); err != nil {
				return fmt.Errorf("hand on %d detections: %w", len(ds), err)
			}
		}
	}
	p.sum.addEvents(st.events)
	p.cfg.Metrics.batch(st.events, len(batch), time.Since(start))
	return nil
}

func (p *Processor) unwrapper(pos detectors.Position) *envelope.Unwrapper {
	k := streamKey{topic: pos.Topic, partition: pos.Partition, file: pos.File}
	p.unwrapMu.Lock()
	defer p.unwrapMu.Unlock()
	u := p.unwrappers[k]
	if u == nil {
		u = envelope.New(p.cfg.Envelope)
		p.unwrappers[k] = u
	}
	return u
}

// ReasonBadEnvelope marks a record whose shipper envelope could not be
// opened (a broken CloudWatch payload and the like).
const ReasonBadEnvelope parse.Reason = "bad_envelope"

// deadLetter keeps a whole record that produced no line to parse.
func (p *Processor) deadLetter(st *procState, msg *source.Message, reason parse.Reason, detail string) {
	p.sum.addFailure(reason)
	p.cfg.Metrics.failure(reason)
	st.dead = append(st.dead, source.DeadLetter{Value: msg.Value, Pos: msg.Pos, Reason: string(reason), Detail: detail})
}

// noteOffset keeps the highest offset per Kafka partition in the batch, so
// the window store can record what it has applied. Stream names are built
// once per batch, not per record.
func (p *Processor) noteOffset(st *procState, pos detectors.Position) {
	if pos.Topic == "" {
		return
	}
	for i := range st.offsets {
		o := &st.offsets[i]
		if o.partition == pos.Partition && o.topic == pos.Topic {
			o.offset = max(o.offset, pos.Offset)
			return
		}
	}
	st.offsets = append(st.offsets, partOffset{topic: pos.Topic, partition: pos.Partition, offset: pos.Offset})
}

type partOffset struct {
	topic     string
	partition int32
	offset    int64
}

// Stream names a Kafka partition the way the window store records it.
func Stream(topic string, partition int32) string {
	return topic + "/" + strconv.Itoa(int(partition))
}
