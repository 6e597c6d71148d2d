package window

import (
	"encoding/binary"
	"math"
)

// A RedisStore instance keeps its state of an entity in one hash field,
// encoded here. Binary and delta-coded, because the field is rewritten
// whole every time the instance changes the entity: a quiet entity's state
// is a few dozen bytes. Layout (varints as in encoding/binary):
//
//	byte       blobVersion
//	varint     At (ms)
//	uvarint    number of Distinct metrics, then each:
//	             uvarint metric, varint dropped mark (ms)
//	uvarint    number of counter runs, then each:
//	             uvarint metric, uvarint bucket length (ms), byte kind
//	             (0 integer, 1 float), uvarint n, then n times:
//	             varint bucket index minus the previous one, then the value
//	             (varint, or 8 bytes little-endian float64 bits)
//	uvarint    number of member runs, then each:
//	             uvarint metric, uvarint n, then n times:
//	             uvarint length, the member's bytes, varint At minus its time
//
// Metrics are named by index and tiers by bucket length, so a reader whose
// schema has changed skips what it does not know instead of misreading it.
const blobVersion = 1

func appendBlob(b []byte, f *cfamily, ce *rent) []byte {
	b = append(b, blobVersion)
	b = binary.AppendVarint(b, ce.own)
	nd := 0
	for m := range f.metrics {
		if f.metrics[m].Kind == Distinct {
			nd++
		}
	}
	b = binary.AppendUvarint(b, uint64(nd))
	for m := range f.metrics {
		if f.metrics[m].Kind == Distinct {
			b = binary.AppendUvarint(b, uint64(m))
			b = binary.AppendVarint(b, ce.mark[m])
		}
	}
	// Counter runs: one per (metric, tier) present, entries in the order
	// kept (any order decodes: deltas are signed).
	runs := 0
	for m := range f.metrics {
		for t := range f.metrics[m].tiers {
			if hasCtr(ce.ctr, m, t) {
				runs++
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(runs))
	for m := range f.metrics {
		cm := &f.metrics[m]
		for t := range cm.tiers {
			n := 0
			for _, c := range ce.ctr {
				if int(c.m) == m && int(c.t) == t {
					n++
				}
			}
			if n == 0 {
				continue
			}
			b = binary.AppendUvarint(b, uint64(m))
			b = binary.AppendUvarint(b, uint64(cm.tiers[t].res))
			kind := byte(0)
			if cm.Kind == Sum {
				kind = 1
			}
			b = append(b, kind)
			b = binary.AppendUvarint(b, uint64(n))
			prev := int64(0)
			for _, c := range ce.ctr {
				if int(c.m) != m || int(c.t) != t {
					continue
				}
				b = binary.AppendVarint(b, c.idx-prev)
				prev = c.idx
				if kind == 0 {
					b = binary.AppendVarint(b, int64(c.v))
				} else {
					b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.v))
				}
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(nd))
	for m := range f.metrics {
		if f.metrics[m].Kind != Distinct {
			continue
		}
		b = binary.AppendUvarint(b, uint64(m))
		b = binary.AppendUvarint(b, uint64(len(ce.mem[m])))
		for _, s := range ce.mem[m] {
			b = binary.AppendUvarint(b, uint64(len(s.member)))
			b = append(b, s.member...)
			b = binary.AppendVarint(b, ce.own-s.score)
		}
	}
	return b
}

func hasCtr(cs []ownCtr, m, t int) bool {
	for _, c := range cs {
		if int(c.m) == m && int(c.t) == t {
			return true
		}
	}
	return false
}

// blobState receives decoded fields, appended to reusable slices (member
// strings are sub-strings of the field value: no copies).
type blobState struct {
	marks []blobMark
	ctrs  []blobCtr
	mems  []blobMem
}

type blobMark struct {
	m    int
	mark int64
}

type blobCtr struct {
	m   int
	res int64
	idx int64
	v   float64
}

type blobMem struct {
	m      int
	member string
	t      int64
}

func (d *blobState) reset() {
	d.marks = d.marks[:0]
	d.ctrs = d.ctrs[:0]
	clear(d.mems)
	d.mems = d.mems[:0]
}

// blobReader reads varints from a string without copying it.
type blobReader struct {
	s   string
	pos int
	bad bool
}

func (r *blobReader) uvarint() uint64 {
	var x uint64
	var s uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if r.pos >= len(r.s) {
			r.bad = true
			return 0
		}
		c := r.s[r.pos]
		r.pos++
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				r.bad = true
				return 0
			}
			return x | uint64(c)<<s
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	r.bad = true
	return 0
}

func (r *blobReader) varint() int64 {
	ux := r.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (r *blobReader) byte1() byte {
	if r.pos >= len(r.s) {
		r.bad = true
		return 0
	}
	c := r.s[r.pos]
	r.pos++
	return c
}

// count reads a length and checks it is plausible for what is left, so a
// corrupt field cannot make the reader allocate without bound.
func (r *blobReader) count(minBytes int) int {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.s)-r.pos)/uint64(minBytes) {
		r.bad = true
		return 0
	}
	return int(n)
}

// decodeBlob appends the content of one instance's field to d and returns
// its At. A field it cannot read (another program, a newer layout, a
// corrupt value) changes nothing and reports false.
func decodeBlob(s string, d *blobState) (at int64, ok bool) {
	if len(s) == 0 || s[0] != blobVersion {
		return 0, false
	}
	nm, nc, nb := len(d.marks), len(d.ctrs), len(d.mems)
	r := blobReader{s: s, pos: 1}
	at = r.varint()
	for range r.count(2) {
		m := int(r.uvarint())
		d.marks = append(d.marks, blobMark{m, r.varint()})
	}
	for range r.count(5) {
		m := int(r.uvarint())
		res := int64(r.uvarint())
		kind := r.byte1()
		idx := int64(0)
		for range r.count(2) {
			idx += r.varint()
			var v float64
			if kind == 0 {
				v = float64(r.varint())
			} else {
				if r.pos+8 > len(r.s) {
					r.bad = true
					break
				}
				v = math.Float64frombits(binary.LittleEndian.Uint64([]byte(r.s[r.pos : r.pos+8])))
				r.pos += 8
			}
			d.ctrs = append(d.ctrs, blobCtr{m, res, idx, v})
		}
	}
	for range r.count(2) {
		m := int(r.uvarint())
		for range r.count(2) {
			n := r.count(1)
			if r.bad || r.pos+n > len(r.s) {
				r.bad = true
				break
			}
			member := r.s[r.pos : r.pos+n]
			r.pos += n
			d.mems = append(d.mems, blobMem{m, member, at - r.varint()})
		}
	}
	if r.bad || r.pos != len(r.s) {
		d.marks, d.ctrs, d.mems = d.marks[:nm], d.ctrs[:nc], d.mems[:nb]
		return 0, false
	}
	return at, true
}
