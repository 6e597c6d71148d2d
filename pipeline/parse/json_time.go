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

// parseRFC3339 parses "2006-01-02T15:04:05[.999999999][Z|±07:00|±0700]"
// (a space may replace the T; no zone means UTC) into UTC, by hand: it is
// on the hot path of every JSON format and time.Parse allocates a zone for
// non-UTC offsets.
func parseRFC3339(s string) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
		s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := atoiN(s[0:4])
	mon, ok2 := atoi2(s[5:7])
	day, ok3 := atoi2(s[8:10])
	hh, ok4 := atoi2(s[11:13])
	mm, ok5 := atoi2(s[14:16])
	ss, ok6 := atoi2(s[17:19])
	// Years before 1970 are a broken clock or garbage; a zero time would
	// also read as "no time" downstream.
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || year < 1970 || mon < 1 || mon > 12 || day < 1 || day > 31 ||
		hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		i := 1
		scale := 100000000
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			nsec += int(rest[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case rest == "" || rest == "Z" || rest == "z":
	case (rest[0] == '+' || rest[0] == '-') && (len(rest) == 6 && rest[3] == ':' || len(rest) == 5):
		oh, okh := atoi2(rest[1:3])
		om, okm := atoi2(rest[len(rest)-2:])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(mon), day, hh, mm, ss, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
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
		return parseRFC3339(s)
	}
	if s[0] >= '0' && s[0] <= '9' {
		return parseEpoch(s, 0)
	}
	return time.Time{}, false
}
