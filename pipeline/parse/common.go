package parse

import (
	"net/netip"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// clientIP decides who the client is. The connection peer is the client
// unless it is a trusted proxy; then the X-Forwarded-For chain is walked
// from the right, skipping trusted hops, and the first untrusted hop wins.
// Walking from the right matters: the left-most entries are whatever the
// client chose to send and must never be believed.
func clientIP(trusted []netip.Prefix, peer netip.Addr, xff string) netip.Addr {
	if len(trusted) == 0 || xff == "" || xff == "-" || (peer.IsValid() && !isTrusted(trusted, peer)) {
		return peer
	}
	rest := xff
	for rest != "" {
		i := strings.LastIndexByte(rest, ',')
		hop := strings.TrimSpace(rest[i+1:])
		if i < 0 {
			rest = ""
		} else {
			rest = rest[:i]
		}
		a, ok := detectors.ParseAddr(hop)
		if !ok {
			// A garbage hop means the chain cannot be trusted past here.
			return peer
		}
		if !isTrusted(trusted, a) {
			return a
		}
		peer = a
	}
	return peer
}

func isTrusted(trusted []netip.Prefix, a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// month maps "Jan".."Dec" to its number; a switch beats a map lookup on
// the hot path and needs no package-level table.
func month(s string) (time.Month, bool) {
	switch s {
	case "Jan":
		return time.January, true
	case "Feb":
		return time.February, true
	case "Mar":
		return time.March, true
	case "Apr":
		return time.April, true
	case "May":
		return time.May, true
	case "Jun":
		return time.June, true
	case "Jul":
		return time.July, true
	case "Aug":
		return time.August, true
	case "Sep":
		return time.September, true
	case "Oct":
		return time.October, true
	case "Nov":
		return time.November, true
	case "Dec":
		return time.December, true
	}
	return 0, false
}

// parseCLFTime parses "10/Oct/2023:11:06:56 +0200" (optionally with
// fractional seconds after the seconds, as HAProxy writes "12:48:57.127",
// and optionally without a zone, then UTC) into UTC without time.Parse,
// which is several times slower on the hot path.
func parseCLFTime(s string) (time.Time, bool) {
	// dd/Mon/yyyy:hh:mm:ss
	if len(s) < 20 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' {
		return time.Time{}, false
	}
	day, ok1 := atoi2(s[0:2])
	mon, ok2 := month(s[3:6])
	year, ok3 := atoiN(s[7:11])
	hh, ok4 := atoi2(s[12:14])
	mm, ok5 := atoi2(s[15:17])
	ss, ok6 := atoi2(s[18:20])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || !validClock(year, int(mon), day, hh, mm, ss) {
		return time.Time{}, false
	}
	rest := s[20:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		var n int
		nsec, n = fraction(rest[1:])
		rest = rest[1+n:]
	}
	offset := 0
	if len(rest) >= 6 && rest[0] == ' ' && (rest[1] == '+' || rest[1] == '-') {
		oh, okh := atoi2(rest[2:4])
		om, okm := atoi2(rest[4:6])
		if !okh || !okm {
			return time.Time{}, false
		}
		offset = oh*3600 + om*60
		if rest[1] == '-' {
			offset = -offset
		}
	}
	t := time.Date(year, mon, day, hh, mm, ss, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

// validClock checks the fields of a civil time; a leap second (60) passes.
func validClock(year, mon, day, hh, mm, ss int) bool {
	return plausibleYear(year) && mon >= 1 && mon <= 12 && day >= 1 && day <= 31 && hh <= 23 && mm <= 59 && ss <= 60
}

// fraction reads the digits of a fractional second (after its '.' or ',')
// as nanoseconds; digits past the ninth are ignored. n is how many digits
// were read.
func fraction(s string) (nsec, n int) {
	scale := 100000000
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		nsec += int(s[n]-'0') * scale
		scale /= 10
		n++
	}
	return nsec, n
}

// plausibleYear bounds request times to the Unix era: a year 0000 (or
// 0001, which time.Time reads as "no time") is corruption, not a request.
func plausibleYear(y int) bool { return y >= 1970 && y <= 9999 }

func atoi2(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// atoiN parses a non-negative decimal of up to 18 digits.
func atoiN(s string) (int, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// splitRequest splits a request line "GET /a/b?x=1 HTTP/1.1" into method,
// path and query. The protocol is optional (HTTP/0.9 and truncated lines);
// an absolute URI ("GET http://host/x") keeps only its path.
func splitRequest(r string) (method, path, query string, ok bool) {
	sp := strings.IndexByte(r, ' ')
	if sp <= 0 {
		return "", "", "", false
	}
	method, r = r[:sp], r[sp+1:]
	if sp = strings.LastIndexByte(r, ' '); sp >= 0 && strings.HasPrefix(r[sp+1:], "HTTP/") {
		r = r[:sp]
	}
	if r == "" {
		return "", "", "", false
	}
	path, query = splitURI(r)
	return method, path, query, true
}

// splitURI splits "/a?x=1" into "/a" and "x=1", dropping scheme and host
// from absolute URIs.
func splitURI(u string) (path, query string) {
	if len(u) > 0 && u[0] != '/' {
		if i := strings.Index(u, "://"); i >= 0 {
			rest := u[i+3:]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				u = rest[j:]
			} else {
				u = "/"
			}
		}
	}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i], u[i+1:]
	}
	return u, ""
}

// parseRFC3339UTC parses "2016-04-15T20:17:00.310Z",
// "2025-12-31T17:37:40.493035218+01:00" and "...+0100" (a space may stand
// for the 'T'; a missing zone means UTC) into UTC without time.Parse, which
// walks a generic layout and allocates a zone for non-UTC offsets. It is on
// the hot path of Envoy, ALB and every JSON format.
func parseRFC3339UTC(s string) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := atoiN(s[0:4])
	mon, ok2 := atoi2(s[5:7])
	day, ok3 := atoi2(s[8:10])
	hh, ok4 := atoi2(s[11:13])
	mm, ok5 := atoi2(s[14:16])
	ss, ok6 := atoi2(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || !validClock(year, mon, day, hh, mm, ss) {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		var n int
		if nsec, n = fraction(rest[1:]); n == 0 {
			return time.Time{}, false
		}
		rest = rest[1+n:]
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

// parseDuration reads a non-negative decimal such as "173", "+173" (HAProxy
// logasap) or "0.086" as a count of unit. Fractions finer than a nanosecond
// are dropped. It refuses values that would overflow a Duration rather than
// wrap round to a negative latency.
func parseDuration(s string, unit time.Duration) (time.Duration, bool) {
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return 0, false
	}
	var d time.Duration
	if intPart != "" {
		n, ok := atoiN(intPart)
		if !ok || time.Duration(n) > (1<<62)/unit {
			return 0, false
		}
		d = time.Duration(n) * unit
	}
	if frac != "" {
		if _, ok := atoiN(frac[:min(len(frac), 18)]); !ok || len(frac) > 18 {
			return 0, false
		}
		if len(frac) > 9 {
			frac = frac[:9]
		}
		f, _ := atoiN(frac)
		div := time.Duration(1)
		for range len(frac) {
			div *= 10
		}
		d += time.Duration(f) * unit / div
	}
	return d, true
}
