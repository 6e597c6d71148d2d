package window

import (
	"encoding/binary"
	"math"
)

// This file reproduces Redis's HyperLogLog (hyperloglog.c, Redis >= 5:
// MurmurHash64A with seed 0xadc83b19, 2^14 registers, Ertl's estimator), so
// the Memory store's estimates equal RedisStore's PFCOUNT for the same
// members. Registers are kept sparse (sorted pairs) until they would cost
// more than the dense array, as Redis does.

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

// hllPos returns the register index and value Redis derives from member.
func hllPos(member string) (uint16, uint8) {
	h := murmur64a(member, hllSeed)
	idx := h & (hllRegs - 1)
	h >>= hllP
	h |= 1 << hllQ
	count := uint8(1)
	for bit := uint64(1); h&bit == 0; bit <<= 1 {
		count++
	}
	return uint16(idx), count
}

// hll is one HyperLogLog: sparse (sorted register/value pairs) while small.
type hll struct {
	sparse []uint32 // idx<<8 | val, sorted by idx
	dense  []uint8  // nil while sparse
}

func (h *hll) add(member string) {
	idx, val := hllPos(member)
	if h.dense != nil {
		if val > h.dense[idx] {
			h.dense[idx] = val
		}
		return
	}
	lo, hi := 0, len(h.sparse)
	for lo < hi {
		mid := (lo + hi) / 2
		if uint16(h.sparse[mid]>>8) < idx {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(h.sparse) && uint16(h.sparse[lo]>>8) == idx {
		if val > uint8(h.sparse[lo]) {
			h.sparse[lo] = uint32(idx)<<8 | uint32(val)
		}
		return
	}
	if len(h.sparse) >= hllRegs/4 {
		h.dense = make([]uint8, hllRegs)
		for _, p := range h.sparse {
			h.dense[p>>8] = uint8(p)
		}
		h.sparse = nil
		h.dense[idx] = val
		return
	}
	h.sparse = append(h.sparse, 0)
	copy(h.sparse[lo+1:], h.sparse[lo:])
	h.sparse[lo] = uint32(idx)<<8 | uint32(val)
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
