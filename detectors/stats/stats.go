// Package stats holds the small statistical tests the detectors score with:
// tail "surprise" of counts against a baseline (Poisson, negative binomial,
// binomial) and robust comparison of one entity against its population
// (median / MAD). Everything here is allocation-free on the caller's data
// except where a scratch slice is passed in.
//
// Surprise is -log10 of a tail probability: 6 means "a value at least this
// large happens about once in a million tests under the baseline". Detectors
// run many (entity x window) tests per minute, so alert levels are set far
// beyond the 0.05 of a single test (see detection-methods §3.4).
package stats

import (
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat"
)

// MaxSurprise caps surprise when the tail probability underflows to zero,
// so scores stay finite and comparable.
const MaxSurprise = 300

func surprise(p float64) float64 {
	if p <= 0 || math.IsNaN(p) {
		return MaxSurprise
	}
	if p >= 1 {
		return 0
	}
	s := -math.Log10(p)
	if s > MaxSurprise {
		return MaxSurprise
	}
	return s
}

// PoissonSurprise is -log10 P(X >= k) for X ~ Poisson(lambda). It uses the
// regularised lower incomplete gamma directly: gonum's distuv.Poisson
// survival is 1-CDF and loses the far tail that alerting lives in.
func PoissonSurprise(k, lambda float64) float64 {
	k = math.Ceil(k)
	if k <= 0 {
		return 0
	}
	if lambda <= 0 {
		return MaxSurprise
	}
	return surprise(mathext.GammaIncReg(k, lambda))
}

// NegBinSurprise is -log10 P(X >= k) for a negative binomial with the given
// mean and variance. Web traffic counts are over-dispersed (variance above
// the mean), which a Poisson test would turn into false alarms; when the
// variance is not above the mean this falls back to Poisson.
func NegBinSurprise(k, mean, variance float64) float64 {
	k = math.Ceil(k)
	if k <= 0 {
		return 0
	}
	if mean <= 0 {
		return MaxSurprise
	}
	if variance <= mean*1.0001 {
		return PoissonSurprise(k, mean)
	}
	r := mean * mean / (variance - mean)
	p := r / (r + mean)
	// P(X >= k) = I_{1-p}(k, r) for NB counting failures before the r-th success.
	return surprise(mathext.RegIncBeta(k, r, 1-p))
}

// BinomialSurprise is -log10 P(X >= k) for X ~ Binomial(n, p0): how
// unexpected k errors (or failures) out of n are at a baseline ratio p0.
func BinomialSurprise(k, n, p0 float64) float64 {
	k = math.Ceil(k)
	n = math.Floor(n)
	if k <= 0 || n <= 0 {
		return 0
	}
	if k > n {
		k = n
	}
	if p0 <= 0 {
		return MaxSurprise
	}
	if p0 >= 1 {
		return 0
	}
	// P(X >= k) = I_{p0}(k, n-k+1)
	return surprise(mathext.RegIncBeta(k, n-k+1, p0))
}

// RobustZ is the Iglewicz-Hoaglin modified z-score of x against a
// population sample: 0.6745*(x-median)/MAD. sample is sorted in place.
// minMAD floors the MAD so that a population of identical values (MAD 0,
// common for small counts) does not make every deviation infinite; for
// counts 1 is a natural floor. It returns 0 for an empty sample.
func RobustZ(x float64, sample []float64, minMAD float64) float64 {
	med, mad := MedianMAD(sample, nil)
	if len(sample) == 0 {
		return 0
	}
	if mad < minMAD {
		mad = minMAD
	}
	if mad <= 0 {
		return 0
	}
	return 0.6745 * (x - med) / mad
}

// MedianMAD returns the median and the median absolute deviation of sample.
// sample is sorted in place; scratch (may be nil) is reused for deviations.
func MedianMAD(sample, scratch []float64) (median, mad float64) {
	if len(sample) == 0 {
		return 0, 0
	}
	slices.Sort(sample)
	median = stat.Quantile(0.5, stat.Empirical, sample, nil)
	dev := scratch[:0]
	for _, v := range sample {
		dev = append(dev, math.Abs(v-median))
	}
	slices.Sort(dev)
	mad = stat.Quantile(0.5, stat.Empirical, dev, nil)
	return median, mad
}

// SequentialScore is the share of numeric identifiers in ids whose sorted
// neighbour is exactly one apart: a walk /orders/1000, /1001, /1002 scores
// near 1, the scattered ids of ordinary users near 0. Non-numeric ids are
// ignored; fewer than three numeric ids score 0 (no walk to speak of).
func SequentialScore(ids []string) float64 {
	var buf [64]int64
	nums := buf[:0]
	for _, s := range ids {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			nums = append(nums, v)
		}
	}
	if len(nums) < 3 {
		return 0
	}
	slices.Sort(nums)
	adj := 0
	for i := 1; i < len(nums); i++ {
		if d := nums[i] - nums[i-1]; d == 1 || d == 0 {
			adj++
		}
	}
	return float64(adj) / float64(len(nums)-1)
}

// Surprise converts a tail probability into -log10 p, capped at MaxSurprise.
func Surprise(p float64) float64 { return surprise(p) }

// Score maps a surprise to 0..1 for records: the alert level maps to 0.5
// and twice the alert level (or more) to 1, so scores compare across
// detectors with different levels.
func Score(s, alertLevel float64) float64 {
	if alertLevel <= 0 {
		return 1
	}
	v := s / (2 * alertLevel)
	if v > 1 {
		return 1
	}
	if v < 0 {
		return 0
	}
	return v
}
