package parse

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// scaleDecimal parses a non-negative decimal ("11", "0.003",
// "1711741827.9626286", "3.4e-05") and multiplies it by scale (nanoseconds
// per unit) without going through float64 for the common plain form, so
// epoch timestamps keep their full precision.
func scaleDecimal(s string, scale int64) (int64, bool) {
	if s == "" || s == "." {
		return 0, false
	}
	var n int64
	i := 0
	for ; i < len(s) && s[i] != '.'; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return scaleFloat(s, scale)
		}
		if n > (math.MaxInt64-9)/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n > math.MaxInt64/scale {
		return 0, false
	}
	n *= scale
	// Fraction: digit j is worth scale/10^(j+1); past a nanosecond the
	// digits are only validated.
	unit := scale
	for i++; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return scaleFloat(s, scale)
		}
		unit /= 10
		n += int64(c-'0') * unit
	}
	if n < 0 {
		return 0, false
	}
	return n, true
}

// scaleFloat handles the exponent form zap and typed JSON writers use for
// very small or large floats ("3.3987e-05").
func scaleFloat(s string, scale int64) (int64, bool) {
	if strings.IndexAny(s, "eE") < 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsNaN(f) || f*float64(scale) > math.MaxInt64 {
		return 0, false
	}
	return int64(f * float64(scale)), true
}

// epochUnit guesses the unit of a bare epoch number from its integer digit
// count: 10 digits are seconds, 13 milliseconds, 16 microseconds, 19
// nanoseconds (true for any date from 2001 to 2286).
func epochUnit(s string) int64 {
	n := strings.IndexByte(s, '.')
	if n < 0 {
		n = len(s)
	}
	switch {
	case n <= 11:
		return int64(time.Second)
	case n <= 14:
		return int64(time.Millisecond)
	case n <= 17:
		return int64(time.Microsecond)
	}
	return 1
}

// parseEpoch parses an epoch timestamp in the given unit (0 = guess).
func parseEpoch(s string, unit int64) (time.Time, bool) {
	if unit == 0 {
		unit = epochUnit(s)
	}
	ns, ok := scaleDecimal(s, unit)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, ns).UTC(), true
}

// parseAnyTime reads a timestamp whose shape is not fixed by the format:
// nginx's time_local may hold $time_local (CLF) or $time_iso8601 (as in
// nginx-proxy's LOG_JSON), custom keys may hold an epoch.
func parseAnyTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if len(s) >= 20 && s[2] == '/' {
		t, ok := parseCLFTime(s)
		return t, ok && t.Year() >= 1970
	}
	if len(s) >= 19 && s[4] == '-' {
		return parseRFC3339UTC(s)
	}
	if s[0] >= '0' && s[0] <= '9' {
		return parseEpoch(s, 0)
	}
	return time.Time{}, false
}
