package window

import (
	"hash/maphash"
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
	h      uint64 // hash of (f, entity) in Batch.tab
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
	f    FamilyID // groups[g].f, so that plan reads the operations in order only
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
	// tab finds a group: open addressing over 1 + index in groups (0:
	// empty), at most half full, probed from the group's hash. Its probes
	// read 4-byte slots and compare the stored hash before the entity,
	// where a map[string]int32 per family read 24-byte slots.
	tab  []int32
	seed maphash.Seed
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
	if b.tab == nil {
		b.seed = maphash.MakeSeed()
		b.tab = make([]int32, 256)
	}
	h := maphash.String(b.seed, entity) ^ uint64(f)*0x9e3779b97f4a7c15
	mask := uint64(len(b.tab) - 1)
	i := h & mask
	for ; b.tab[i] != 0; i = (i + 1) & mask {
		if g := &b.groups[b.tab[i]-1]; g.h == h && g.f == f && g.entity == entity {
			return b.tab[i] - 1
		}
	}
	g := int32(len(b.groups))
	b.groups = append(b.groups, bgroup{f: f, entity: entity, h: h})
	b.tab[i] = g + 1
	if 2*len(b.groups) > len(b.tab) {
		b.rehash(2 * len(b.tab))
	}
	return g
}

// rehash makes tab n slots and indexes the groups in it.
func (b *Batch) rehash(n int) {
	b.tab = make([]int32, n)
	mask := uint64(n - 1)
	for k := range b.groups {
		i := b.groups[k].h & mask
		for b.tab[i] != 0 {
			i = (i + 1) & mask
		}
		b.tab[i] = int32(k + 1)
	}
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
	b.push(bop{g: b.group(f, entity), f: f, kind: opAdd, m: m, t: t.UnixMilli(), x: math.Float64bits(delta)})
}

// AddMember records member for a Distinct metric at event time t.
func (b *Batch) AddMember(f FamilyID, entity string, m MetricID, t time.Time, member string) {
	if len(b.members) == cap(b.members) {
		b.members = slices.Grow(b.members, max(len(b.members), 256)) // double, see push
	}
	b.members = append(b.members, member)
	b.push(bop{g: b.group(f, entity), f: f, kind: opMember, m: m, t: t.UnixMilli(), x: uint64(len(b.members) - 1)})
}

// Touch asks for the entity's view without changing it. t is not used for
// windows (the view ends at the entity's newest event time) but is kept for
// symmetry with Add.
func (b *Batch) Touch(f FamilyID, entity string, t time.Time) {
	b.push(bop{g: b.group(f, entity), f: f, kind: opTouch, t: t.UnixMilli()})
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
	clear(b.tab)
	clear(b.marks)
	b.last = 0
	b.ops = b.ops[:0]
	clear(b.members) // let member strings be collected
	b.members = b.members[:0]
	clear(b.groups)
	b.groups = b.groups[:0]
}
