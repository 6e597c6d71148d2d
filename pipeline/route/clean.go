package route

import "strings"

// cleanPath returns the canonical form of a request path: one leading
// slash, no empty or "." segments, ".." resolved (never above the root), no
// trailing slash, percent-escapes of unreserved characters decoded and all
// other escapes kept with upper-case hex.
//
// Decoding happens per segment, after splitting on literal slashes, and
// "%2F" stays encoded: "/admin%2f..%2f" is one segment, so it cannot climb
// out of /admin (or into it). A segment that decodes to "." or ".." (as
// "%2e%2e" does) is a dot-segment, which is how nginx and Go's ServeMux
// see it too.
//
// Paths that are already canonical, by far the common case, are returned
// as they are, without allocating.
func cleanPath(p string) string {
	if p == "*" { // "OPTIONS *"
		return p
	}
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	// Absolute-form request targets ("GET http://host/path") as proxies
	// log them.
	if len(p) > 0 && p[0] != '/' {
		if i := strings.Index(p, "://"); i > 0 && i < 8 {
			p = p[i+3:]
			if j := strings.IndexByte(p, '/'); j >= 0 {
				p = p[j:]
			} else {
				p = "/"
			}
		}
	}
	if isClean(p) {
		return p
	}
	var stackBuf [64]byte
	buf := append(stackBuf[:0], '/')
	var startsBuf [32]int
	starts := startsBuf[:0] // where each kept segment starts in buf
	for rest := p; rest != ""; {
		var seg string
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			seg, rest = rest, ""
		}
		if seg == "" {
			continue
		}
		start := len(buf)
		if len(starts) > 0 {
			buf = append(buf, '/')
			start++
		}
		buf = appendDecoded(buf, seg)
		switch string(buf[start:]) {
		case ".":
			buf = buf[:max(start-1, 1)]
			continue
		case "..":
			buf = buf[:max(start-1, 1)]
			if len(starts) > 0 {
				buf = buf[:max(starts[len(starts)-1]-1, 1)]
				starts = starts[:len(starts)-1]
			}
			continue
		}
		starts = append(starts, start)
	}
	return string(buf)
}

// isClean reports whether p needs no cleaning.
func isClean(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) == 0 || p[0] != '/' || p[len(p)-1] == '/' {
		return false
	}
	for i := 1; i < len(p); i++ {
		switch p[i] {
		case '%':
			return false
		case '/':
			if p[i-1] == '/' {
				return false
			}
		case '.':
			if p[i-1] == '/' { // "/." starts a dot-segment or a dotfile; the slow path sorts them out
				return false
			}
		}
	}
	return true
}

// appendDecoded appends seg with escapes of unreserved characters decoded
// and other escapes normalised to upper-case hex. A '%' that starts no
// valid escape is kept as "%25", so the result decodes back to the input.
func appendDecoded(buf []byte, seg string) []byte {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c != '%' {
			buf = append(buf, c)
			continue
		}
		if i+2 < len(seg) && isHex(seg[i+1]) && isHex(seg[i+2]) {
			d := unhex(seg[i+1])<<4 | unhex(seg[i+2])
			if isUnreserved(d) {
				buf = append(buf, d)
			} else {
				buf = append(buf, '%', upperHex(seg[i+1]), upperHex(seg[i+2]))
			}
			i += 2
			continue
		}
		buf = append(buf, '%', '2', '5')
	}
	return buf
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func upperHex(c byte) byte {
	if c >= 'a' && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}

// isUnreserved is RFC 3986's unreserved set: decoding these never changes
// what a path means.
func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// kind is a segment's class: a literal, or a typed placeholder.
type kind uint8

const (
	kLiteral kind = iota
	kID
	kUUID
	kHash
	kToken
	kDate
	kEmail
	kVar // a literal position collapsed after too many distinct values
	kindCount
)

var kindNames = [kindCount]string{kLiteral: "", kID: "id", kUUID: "uuid", kHash: "hash", kToken: "token", kDate: "date", kEmail: "email", kVar: "var"}

// classify returns the class of a segment and the extension it keeps
// (".png" in "123.png"; empty for none). Literal segments keep their
// whole text, extension included.
func classify(seg string) (kind, string) {
	// "3f2a…e1.pdf", "123.json": classify the stem, keep the extension.
	// The stem goes first, or the dot would make "<hash>.pdf" a token.
	if ext := extension(seg); ext != "" {
		if k := classifyStem(seg[:len(seg)-len(ext)]); k != kLiteral {
			return k, ext
		}
	}
	return classifyStem(seg), ""
}

func classifyStem(s string) kind {
	n := len(s)
	if n == 0 {
		return kLiteral
	}
	var digits, upper, lower, hexLetters, other, dashes int
	for i := 0; i < n; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z':
			lower++
			if c <= 'f' {
				hexLetters++
			}
		case c >= 'A' && c <= 'Z':
			upper++
			if c <= 'F' {
				hexLetters++
			}
		case c == '-':
			dashes++
		case c == '_' || c == '=' || c == '~' || c == '.':
			other++
		default:
			if isEmail(s) {
				return kEmail
			}
			return kLiteral
		}
	}
	switch {
	case digits == n:
		return kID
	case n == 36 && dashes == 4 && digits+hexLetters == 32 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-':
		return kUUID
	case n == 10 && dashes == 2 && digits == 8 && s[4] == '-' && s[7] == '-':
		return kDate
	case n >= 16 && digits+hexLetters == n && digits > 0 && (upper == 0 || lower == 0):
		return kHash
	case n >= 20 && isToken(digits, upper, lower, n):
		return kToken
	}
	return kLiteral
}

// isToken decides whether a base64url-ish string of 20+ characters is an
// opaque token rather than a slug: random base64 almost surely mixes
// upper case, lower case and digits, while slugs and camelCase names lack
// digits, and "word-word-2024"-style slugs are mostly letters.
func isToken(digits, upper, lower, n int) bool {
	letters := upper + lower
	switch {
	case digits > 0 && upper > 0 && lower > 0:
		return true
	case digits > 0 && letters > 0 && digits*4 >= n: // digit-heavy, single-case (e.g. base32, lower-case alnum ids)
		return true
	}
	return false
}

func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	enc := 1
	if at < 0 {
		at = strings.Index(s, "%40")
		enc = 3
	}
	if at <= 0 {
		return false
	}
	dom := s[at+enc:]
	dot := strings.LastIndexByte(dom, '.')
	return dot > 0 && dot < len(dom)-2 && !strings.ContainsAny(dom, "@/")
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
