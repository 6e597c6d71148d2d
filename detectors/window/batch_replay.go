package window

import "time"

// AppendTo re-adds b's operations to dst, in order, through dst's public
// Add, AddMember, Touch and MarkApplied paths, with b's entity and member
// strings. Benchmarks use it to charge the window-update cost (filling a
// Batch plus Apply) without the work that decided which operations to add:
// record a batch once, then replay it into a fresh Batch inside the timer.
// b is not changed.
func (b *Batch) AppendTo(dst *Batch) {
	for i := range b.ops {
		op := &b.ops[i]
		g := &b.groups[op.g]
		t := time.UnixMilli(op.t)
		switch op.kind {
		case opAdd:
			dst.Add(g.f, g.entity, op.m, t, op.delta())
		case opMember:
			dst.AddMember(g.f, g.entity, op.m, t, b.member(op))
		case opTouch:
			dst.Touch(g.f, g.entity, t)
		}
	}
	for stream, off := range b.marks {
		dst.MarkApplied(stream, off)
	}
}
