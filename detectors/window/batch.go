package window

import (
	"math"
	"slices"
	"time"
)

type gkey struct {
	f FamilyID
	e string
}

type bgroup struct {
	f      FamilyID
	entity string
}

const (
	opAdd uint8 = iota
	opMember
	opTouch
)

// bop is one operation: 24 bytes and no pointer, so a batch's operations
// are written with plain stores (no write barrier) and the collector does
// not scan them. x is the delta's bits (opAdd) or the member's index in
// Batch.members (opMember).
type bop struct {
	t    int64 // unix ms
	x    uint64
	g    int32
	kind uint8
	m    MetricID
}

// delta is an opAdd's delta.
func (o *bop) delta() float64 { return math.Float64frombits(o.x) }

// member is an opMember's member.
func (b *Batch) member(o *bop) string { return b.members[o.x] }

// Batch accumulates operations for one Apply. The zero value is ready;
// Reset makes it reusable without giving back its memory. Operations are
// aggregated per (family, entity) when applied, so many events on one
// entity become one update. A Batch is not safe for concurrent use.
type Batch struct {
	// idx finds a group per family: a string-keyed map per family hashes
	// the entity alone (the runtime's fast string path), where one map
	// keyed by (family, entity) would hash a struct.
	idx []map[string]int32
	// last is the group of the previous call + 1 (0: none): callers add
	// several operations per entity in a row, so most calls skip the map.
	last   int32
	groups []bgroup
	ops    []bop
	// members holds the members of opMember operations, apart from the
	// operations so that those hold no pointer.
	members []string
	marks   map[string]int64
}

func (b *Batch) group(f FamilyID, entity string) int32 {
	if l := b.last - 1; l >= 0 {
		if g := &b.groups[l]; g.f == f && g.entity == entity {
			return l
		}
	}
	g := b.lookup(f, entity)
	b.last = g + 1
	return g
}

func (b *Batch) lookup(f FamilyID, entity string) int32 {
	for int(f) >= len(b.idx) {
		b.idx = append(b.idx, nil)
	}
	idx := b.idx[f]
	if idx == nil {
		idx = make(map[string]int32)
		b.idx[f] = idx
	}
	g, ok := idx[entity]
	if !ok {
		g = int32(len(b.groups))
		b.groups = append(b.groups, bgroup{f: f, entity: entity})
		idx[entity] = g
	}
	return g
}

// push appends op. A full ops slice doubles: append grows a large slice
// by a quarter, which for a batch filled from empty copies (and leaves to
// the collector) about four times the final slice.
func (b *Batch) push(op bop) {
	if len(b.ops) == cap(b.ops) {
		b.ops = slices.Grow(b.ops, max(len(b.ops), 256))
	}
	b.ops = append(b.ops, op)
}

// Add adds delta to a Count or Sum metric at event time t.
func (b *Batch) Add(f FamilyID, entity string, m MetricID, t time.Time, delta float64) {
	b.push(bop{g: b.group(f, entity), kind: opAdd, m: m, t: t.UnixMilli(), x: math.Float64bits(delta)})
}

// AddMember records member for a Distinct metric at event time t.
func (b *Batch) AddMember(f FamilyID, entity string, m MetricID, t time.Time, member string) {
	if len(b.members) == cap(b.members) {
		b.members = slices.Grow(b.members, max(len(b.members), 256)) // double, see push
	}
	b.members = append(b.members, member)
	b.push(bop{g: b.group(f, entity), kind: opMember, m: m, t: t.UnixMilli(), x: uint64(len(b.members) - 1)})
}

// Touch asks for the entity's view without changing it. t is not used for
// windows (the view ends at the entity's newest event time) but is kept for
// symmetry with Add.
func (b *Batch) Touch(f FamilyID, entity string, t time.Time) {
	b.push(bop{g: b.group(f, entity), kind: opTouch, t: t.UnixMilli()})
}

// MarkApplied records that all events of stream up to offset are in this
// batch; Apply stores it atomically with the batch's updates.
func (b *Batch) MarkApplied(stream string, offset int64) {
	if b.marks == nil {
		b.marks = make(map[string]int64)
	}
	if old, ok := b.marks[stream]; !ok || offset > old {
		b.marks[stream] = offset
	}
}

// Len is the number of Add, AddMember and Touch calls since the last Reset.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	for _, idx := range b.idx {
		clear(idx)
	}
	clear(b.marks)
	b.last = 0
	b.ops = b.ops[:0]
	clear(b.members) // let member strings be collected
	b.members = b.members[:0]
	clear(b.groups)
	b.groups = b.groups[:0]
}
