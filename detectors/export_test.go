package detectors

import (
	"context"

	"github.com/gatewatch/gatewatch/detectors/window"
)

// BuildBatch fills b with the window operations Process would apply for
// events, without evaluating anything: the store-only baseline of the
// engine benchmark.
func (e *Engine) BuildBatch(b *window.Batch, events []Event, info []RouteInfo) {
	b.Reset()
	for i := range events {
		var ri RouteInfo
		if info != nil {
			ri = info[i]
		}
		e.add(b, &events[i], ri)
	}
}

// Apply is store.Apply for a prepared batch.
func (e *Engine) Apply(ctx context.Context, b *window.Batch) error {
	_, err := e.store.Apply(ctx, b)
	return err
}
