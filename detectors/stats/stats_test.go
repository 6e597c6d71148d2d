package stats

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

func TestPoissonSurpriseMatchesDistuvInTheBody(t *testing.T) {
	for _, tc := range []struct{ k, lambda float64 }{{1, 0.5}, {3, 2}, {10, 4}, {20, 10}} {
		p := distuv.Poisson{Lambda: tc.lambda}
		want := -math.Log10(1 - p.CDF(tc.k-1))
		got := PoissonSurprise(tc.k, tc.lambda)
		if math.Abs(got-want) > 1e-6 {
			t.Errorf("PoissonSurprise(%v, %v) = %v, want %v", tc.k, tc.lambda, got, want)
		}
	}
}

func TestSurpriseEdges(t *testing.T) {
	tests := []struct {
		name string
		got  float64
		min  float64
		max  float64
	}{
		{"poisson k=0 never surprising", PoissonSurprise(0, 3), 0, 0},
		{"poisson at the mean is unremarkable", PoissonSurprise(10, 10), 0, 0.5},
		{"poisson far tail stays finite and large", PoissonSurprise(500, 10), 100, MaxSurprise},
		{"poisson zero baseline is maximal", PoissonSurprise(3, 0), MaxSurprise, MaxSurprise},
		{"negbin over-dispersion is less surprised than poisson", NegBinSurprise(40, 10, 100), 1, PoissonSurprise(40, 10) - 1},
		{"negbin without over-dispersion equals poisson", NegBinSurprise(40, 10, 10), PoissonSurprise(40, 10) - 1e-9, PoissonSurprise(40, 10) + 1e-9},
		{"binomial at baseline ratio", BinomialSurprise(5, 100, 0.05), 0, 0.5},
		{"binomial 50% errors at 1% baseline", BinomialSurprise(50, 100, 0.01), 6, MaxSurprise},
		{"binomial k>n clamps", BinomialSurprise(200, 100, 0.5), 30, 31},
	}
	for _, tc := range tests {
		if tc.got < tc.min || tc.got > tc.max || math.IsNaN(tc.got) {
			t.Errorf("%s: got %v, want in [%v, %v]", tc.name, tc.got, tc.min, tc.max)
		}
	}
}

func TestNegBinSurpriseAgainstSummedPMF(t *testing.T) {
	// Direct summation of the NB pmf for a moderate case.
	mean, variance, k := 5.0, 15.0, 20.0
	r := mean * mean / (variance - mean)
	p := r / (r + mean)
	cdf := 0.0
	for x := 0.0; x < k; x++ {
		lg1, _ := math.Lgamma(x + r)
		lg2, _ := math.Lgamma(r)
		lg3, _ := math.Lgamma(x + 1)
		cdf += math.Exp(lg1 - lg2 - lg3 + r*math.Log(p) + x*math.Log(1-p))
	}
	want := -math.Log10(1 - cdf)
	if got := NegBinSurprise(k, mean, variance); math.Abs(got-want) > 1e-6 {
		t.Fatalf("NegBinSurprise = %v, want %v", got, want)
	}
}

func TestRobustZ(t *testing.T) {
	pop := []float64{3, 4, 5, 5, 6, 7, 4, 5, 200}
	if z := RobustZ(5, append([]float64(nil), pop...), 1); math.Abs(z) > 0.01 {
		t.Errorf("median value z = %v, want 0", z)
	}
	// one outlier in the sample must not hide another: MAD ignores it.
	if z := RobustZ(100, append([]float64(nil), pop...), 1); z < 30 {
		t.Errorf("outlier z = %v, want > 30", z)
	}
	if z := RobustZ(5, nil, 1); z != 0 {
		t.Errorf("empty population z = %v, want 0", z)
	}
	// identical population: MAD 0 is floored, not infinite.
	if z := RobustZ(4, []float64{1, 1, 1, 1}, 1); math.Abs(z-0.6745*3) > 1e-9 {
		t.Errorf("floored MAD z = %v", z)
	}
}

func TestSequentialScore(t *testing.T) {
	tests := []struct {
		ids  []string
		want float64
	}{
		{[]string{"1005", "1001", "1002", "1004", "1003"}, 1},
		{[]string{"17", "9031", "552", "40012"}, 0},
		{[]string{"1", "2"}, 0},
		{[]string{"a", "b", "c", "1", "2", "3"}, 1},
		{[]string{"10", "11", "12", "50", "90"}, 0.5},
	}
	for _, tc := range tests {
		if got := SequentialScore(tc.ids); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("SequentialScore(%v) = %v, want %v", tc.ids, got, tc.want)
		}
	}
}

func TestScore(t *testing.T) {
	if Score(6, 6) != 0.5 || Score(12, 6) != 1 || Score(100, 6) != 1 || Score(0, 6) != 0 {
		t.Fatal("Score must map the alert level to 0.5 and twice it to 1")
	}
}
