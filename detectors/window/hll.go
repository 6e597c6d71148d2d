package window

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// This file reproduces Redis's HyperLogLog (hyperloglog.c, Redis >= 5:
// MurmurHash64A with seed 0xadc83b19, 2^14 registers, Ertl's estimator), so
// the Memory store's estimates equal RedisStore's PFCOUNT for the same
// members. Registers are kept sparse (a small hash table) until they would
// cost more than the dense array.

const (
	hllP        = 14
	hllRegs     = 1 << hllP
	hllQ        = 64 - hllP
	hllAlphaInf = 0.721347520444481703680
	hllSeed     = 0xadc83b19
)

func murmur64a(key string, seed uint64) uint64 {
	const m = 0xc6a4a7935bd1e995
	const r = 47
	n := len(key)
	h := seed ^ (uint64(n) * m)
	i := 0
	for ; i+8 <= n; i += 8 {
		k := binary.LittleEndian.Uint64([]byte(key[i : i+8]))
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
	}
	if rem := n & 7; rem != 0 {
		for j := rem - 1; j >= 0; j-- {
			h ^= uint64(key[i+j]) << (8 * j)
		}
		h *= m
	}
	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}

// hllPos returns the register index and value Redis derives from a
// member whose hash is h = murmur64a(member, hllSeed).
func hllPos(h uint64) (uint16, uint8) {
	idx := h & (hllRegs - 1)
	h >>= hllP
	h |= 1 << hllQ
	return uint16(idx), uint8(bits.TrailingZeros64(h)) + 1
}

// hll is one HyperLogLog's registers: sparse while few are set, dense
// above. Which registers hold what is all an estimate depends on, so the
// layout is free; Redis's own sparse encoding is not mirrored.
type hll struct {
	// sparse is an open-addressing table of the set registers, idx<<8|val
	// (never 0: val >= 1), probed linearly from idx (register indexes are
	// hash bits, so already uniform). At most 3/4 full; it grows by
	// doubling up to hllSparseMax slots, then the registers go dense.
	sparse []uint32
	n      int     // registers set in sparse
	dense  []uint8 // nil while sparse
}

// hllSparseMax is the largest sparse table, in slots: 16 KiB, the size of
// the dense registers.
const hllSparseMax = hllRegs / 4

// add adds the member whose hash is x = murmur64a(member, hllSeed).
func (h *hll) add(x uint64) {
	idx, val := hllPos(x)
	if h.dense != nil {
		if val > h.dense[idx] {
			h.dense[idx] = val
		}
		return
	}
	if h.sparse == nil {
		h.sparse = make([]uint32, 16)
	}
	mask := uint32(len(h.sparse) - 1)
	for i := uint32(idx) & mask; ; i = (i + 1) & mask {
		p := h.sparse[i]
		if p == 0 {
			break
		}
		if uint16(p>>8) == idx {
			if val > uint8(p) {
				h.sparse[i] = uint32(idx)<<8 | uint32(val)
			}
			return
		}
	}
	if (h.n+1)*4 > len(h.sparse)*3 {
		if len(h.sparse) == hllSparseMax {
			h.dense = make([]uint8, hllRegs)
			for _, p := range h.sparse {
				if p != 0 {
					h.dense[p>>8] = uint8(p)
				}
			}
			h.sparse, h.n = nil, 0
			h.dense[idx] = val
			return
		}
		old := h.sparse
		h.sparse = make([]uint32, 2*len(old))
		for _, p := range old {
			if p != 0 {
				h.insert(p)
			}
		}
	}
	h.insert(uint32(idx)<<8 | uint32(val))
	h.n++
}

// insert puts p, whose register is not in the sparse table, into it.
func (h *hll) insert(p uint32) {
	mask := uint32(len(h.sparse) - 1)
	i := (p >> 8) & mask
	for h.sparse[i] != 0 {
		i = (i + 1) & mask
	}
	h.sparse[i] = p
}

// hllMerge unions HyperLogLogs. It remembers which registers it set, so
// counting and resetting a union of small (sparse) ones costs what they
// hold, not 2^14 registers.
type hllMerge struct {
	regs    [hllRegs]uint8
	touched []uint16
	dense   bool
}

func (u *hllMerge) reset() {
	if u.dense {
		clear(u.regs[:])
	} else {
		for _, i := range u.touched {
			u.regs[i] = 0
		}
	}
	u.touched = u.touched[:0]
	u.dense = false
}

func (u *hllMerge) add(h *hll) {
	if h.dense != nil {
		u.dense = true
		for i, v := range h.dense {
			if v > u.regs[i] {
				u.regs[i] = v
			}
		}
		return
	}
	for _, p := range h.sparse {
		if p == 0 {
			continue
		}
		i := p >> 8
		if v := uint8(p); v > u.regs[i] {
			if u.regs[i] == 0 && !u.dense {
				u.touched = append(u.touched, uint16(i))
			}
			u.regs[i] = v
		}
	}
}

func (u *hllMerge) count() uint64 {
	if u.dense {
		return hllCount(&u.regs)
	}
	var histo [64]int
	histo[0] = hllRegs - len(u.touched)
	for _, i := range u.touched {
		histo[u.regs[i]]++
	}
	return hllEstimate(&histo)
}

func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		zp := z
		z += x * y
		y += y
		if zp == z {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		zp := z
		y *= 0.5
		z -= math.Pow(1-x, 2) * y
		if zp == z {
			return z / 3
		}
	}
}

// hllCount is Redis's hllCount (Ertl's improved raw estimator).
func hllCount(regs *[hllRegs]uint8) uint64 {
	var histo [64]int
	for _, v := range regs {
		histo[v]++
	}
	return hllEstimate(&histo)
}

func hllEstimate(histo *[64]int) uint64 {
	const m = float64(hllRegs)
	z := m * hllTau((m-float64(histo[hllQ+1]))/m)
	for j := hllQ; j >= 1; j-- {
		z += float64(histo[j])
		z *= 0.5
	}
	z += m * hllSigma(float64(histo[0])/m)
	return uint64(math.Round(hllAlphaInf * m * m / z))
}
