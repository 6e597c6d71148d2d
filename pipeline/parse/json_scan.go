package parse

import (
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON side reads a line in one pass: scanObject walks the top-level
// object, validating every byte of it (nested values included, so a
// malformed or cut-off line is still rejected whole), and records where
// the value of each key a gateway uses starts and ends. Nothing is
// materialised: a value is a span of the line, and strings without
// escapes are later returned as sub-strings of it. Nested objects that a
// format needs (Kong's request, Caddy's request.headers, ...) are looked up
// afterwards by lookup, which walks only that span and, the text being
// validated already, only has to find boundaries.
//
// A hand-written scanner rather than a general JSON library: a tree
// parser (fastjson) spends most of the per-line budget building values we
// never read, and a lazy path library (jsonparser) does not validate, so it
// would need a second full pass to keep rejecting broken lines.

// jv is one JSON value of the current line: s.line[off:end], of the given
// kind ('"' string, '0' number, '{' object, '[' array, 't' or 'f' boolean,
// 'n' null). kind 0 means the key was absent. Offsets are 32-bit to keep
// jsonKeys, which is cleared for every line, small.
type jv struct {
	off, end uint32
	kind     byte
	esc      bool // a string holding escapes: text must unescape it
}

func (v jv) ok() bool { return v.kind != 0 }

// maxJSONDepth bounds nesting as fastjson did, so a line of ten thousand
// '[' is rejected instead of recursing that deep.
const maxJSONDepth = 300

// scanObject validates the object t starts with and records its top-level
// values in s.keys (and s.mapped when Options.JSONFields is set). It
// returns the index after the closing '}', and "" or what is wrong, for
// jsonSyntaxError. What follows the object is the caller's business.
func (s *jsonState) scanObject(t string) (int, string) {
	i := skipJSONSpace(t, 1)
	if i < len(t) && t[i] == '}' {
		return i + 1, ""
	}
	for {
		if i >= len(t) || t[i] != '"' {
			return i, errAt("missing '\"' before an object key", i, t)
		}
		ks := i + 1
		j, esc := scanString(t, ks)
		if j < 0 {
			return ks, errAt("missing closing '\"' of an object key", ks, t)
		}
		key := t[ks:j]
		if esc { // rare: keys are plain words
			s.keyBuf = unescapeJSON(s.keyBuf[:0], key)
			key = string(s.keyBuf)
		}
		i = skipJSONSpace(t, j+1)
		if i >= len(t) || t[i] != ':' {
			return i, errAt("missing ':' after an object key", i, t)
		}
		i = skipJSONSpace(t, i+1)
		v := jv{off: uint32(i)}
		if i < len(t) && t[i] == '"' { // most values: no call to skipValue
			j, esc := scanString(t, i+1)
			if j < 0 {
				return i, errAt("missing closing '\"'", i, t)
			}
			i, v.kind, v.esc = j+1, '"', esc
		} else {
			var msg string
			i, v.kind, msg = skipValue(t, i, 2)
			if msg != "" {
				return i, msg
			}
		}
		v.end = uint32(i)
		s.keys.set(key, v)
		if s.hasFields {
			s.setMapped(key, v)
		}
		i = skipJSONSpace(t, i)
		if i >= len(t) {
			return i, errAt("missing '}'", i, t)
		}
		switch t[i] {
		case ',':
			i = skipJSONSpace(t, i+1)
			continue
		case '}':
			return i + 1, ""
		}
		return i, errAt("missing ',' after an object value", i, t)
	}
}

// setMapped records the first value of each key Options.JSONFields names
// (the first, as a lookup by key would find it).
func (s *jsonState) setMapped(key string, v jv) {
	for f := range s.fields {
		if s.fields[f] == key && !s.mapped[f].ok() {
			s.mapped[f] = v
		}
	}
}

func trailer(t string, i int) string {
	if i = skipJSONSpace(t, i); i != len(t) {
		return errAt("unexpected text after the JSON object", i, t)
	}
	return ""
}

// errAt words a syntax error with its offset and a little context.
func errAt(what string, i int, t string) string {
	ctx := t[min(i, len(t)):]
	if len(ctx) > 20 {
		ctx = ctx[:20]
	}
	return what + " at offset " + strconv.Itoa(i) + " (" + strconv.Quote(ctx) + ")"
}

func skipJSONSpace(t string, i int) int {
	for i < len(t) && t[i] <= ' ' && isJSONSpace(t[i]) {
		i++
	}
	return i
}

// scanString returns the index of the '"' closing a string whose contents
// start at i, or -1, and whether it holds escapes. Strings in access logs are short, so instead of
// IndexByte (whose call costs more than the scan) it tests eight bytes at a
// time for '"' or '\\' and steps over each escape's next byte.
func scanString(t string, i int) (int, bool) {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	esc := false
	for {
		for i+8 <= len(t) {
			b := t[i : i+8] // known length: one 64-bit load
			w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
				uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
			x, y := w^(lo*'"'), w^(lo*'\\')
			// A zero byte of x or y is a quote or backslash; the lowest
			// flagged byte is always a true one (borrows only run upward).
			if m := ((x-lo)&^x | (y-lo)&^y) & hi; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(t) && t[i] != '"' && t[i] != '\\' {
			i++
		}
		if i >= len(t) {
			return -1, esc
		}
		if t[i] == '"' {
			return i, esc
		}
		i += 2 // the backslash and the byte it escapes
		esc = true
	}
}

// skipValue validates the value starting at t[i] and returns the index
// after it and its kind, or an error message.
func skipValue(t string, i, depth int) (int, byte, string) {
	if i >= len(t) {
		return i, 0, errAt("missing value", i, t)
	}
	switch c := t[i]; c {
	case '"':
		j, _ := scanString(t, i+1)
		if j < 0 {
			return i, 0, errAt("missing closing '\"'", i, t)
		}
		return j + 1, '"', ""
	case '{', '[':
		if depth > maxJSONDepth {
			return i, 0, errAt("nested deeper than "+strconv.Itoa(maxJSONDepth)+" levels", i, t)
		}
		var msg string
		if c == '{' {
			i, msg = skipObject(t, i+1, depth+1)
		} else {
			i, msg = skipArray(t, i+1, depth+1)
		}
		return i, c, msg
	case 't':
		return skipLiteral(t, i, "true", 't')
	case 'f':
		return skipLiteral(t, i, "false", 'f')
	case 'n':
		return skipLiteral(t, i, "null", 'n')
	}
	j := skipNumber(t, i)
	if j == i {
		return i, 0, errAt("unexpected character", i, t)
	}
	return j, '0', ""
}

// skipNumber returns the end of the JSON number at t[i] (RFC 8259:
// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?), or i if there is none,
// so whoever reads a number can rely on its form.
func skipNumber(t string, i int) int {
	j := i
	if j < len(t) && t[j] == '-' {
		j++
	}
	switch {
	case j < len(t) && t[j] == '0':
		j++
	case j < len(t) && '1' <= t[j] && t[j] <= '9':
		j = skipDigits(t, j+1)
	default:
		return i
	}
	if j < len(t) && t[j] == '.' {
		k := skipDigits(t, j+1)
		if k == j+1 {
			return i
		}
		j = k
	}
	if j < len(t) && (t[j] == 'e' || t[j] == 'E') {
		j++
		if j < len(t) && (t[j] == '+' || t[j] == '-') {
			j++
		}
		k := skipDigits(t, j)
		if k == j {
			return i
		}
		j = k
	}
	return j
}

func skipDigits(t string, i int) int {
	for i < len(t) && '0' <= t[i] && t[i] <= '9' {
		i++
	}
	return i
}

func skipLiteral(t string, i int, lit string, kind byte) (int, byte, string) {
	if !strings.HasPrefix(t[i:], lit) {
		return i, 0, errAt("unexpected value", i, t)
	}
	return i + len(lit), kind, ""
}

// skipObject validates an object whose '{' is before i.
func skipObject(t string, i, depth int) (int, string) {
	i = skipJSONSpace(t, i)
	if i < len(t) && t[i] == '}' {
		return i + 1, ""
	}
	for {
		if i >= len(t) || t[i] != '"' {
			return i, errAt("missing '\"' before an object key", i, t)
		}
		j, _ := scanString(t, i+1)
		if j < 0 {
			return i, errAt("missing closing '\"' of an object key", i, t)
		}
		i = skipJSONSpace(t, j+1)
		if i >= len(t) || t[i] != ':' {
			return i, errAt("missing ':' after an object key", i, t)
		}
		var msg string
		i, _, msg = skipValue(t, skipJSONSpace(t, i+1), depth)
		if msg != "" {
			return i, msg
		}
		i = skipJSONSpace(t, i)
		if i >= len(t) {
			return i, errAt("missing '}'", i, t)
		}
		switch t[i] {
		case ',':
			i = skipJSONSpace(t, i+1)
			continue
		case '}':
			return i + 1, ""
		}
		return i, errAt("missing ',' after an object value", i, t)
	}
}

// skipArray validates an array whose '[' is before i.
func skipArray(t string, i, depth int) (int, string) {
	i = skipJSONSpace(t, i)
	if i < len(t) && t[i] == ']' {
		return i + 1, ""
	}
	for {
		var msg string
		i, _, msg = skipValue(t, i, depth)
		if msg != "" {
			return i, msg
		}
		i = skipJSONSpace(t, i)
		if i >= len(t) {
			return i, errAt("missing ']'", i, t)
		}
		switch t[i] {
		case ',':
			i = skipJSONSpace(t, i+1)
			continue
		case ']':
			return i + 1, ""
		}
		return i, errAt("missing ',' after an array value", i, t)
	}
}

// skipValid returns the end of the value at t[i], which scanObject has
// validated: it only finds the boundary.
func skipValid(t string, i int) jv {
	v := jv{off: uint32(i), kind: '0'}
	switch c := t[i]; c {
	case '"':
		j, esc := scanString(t, i+1)
		v.end, v.kind, v.esc = uint32(j+1), '"', esc
		return v
	case '{', '[':
		v.kind = c
		depth := 0
		for ; i < len(t); i++ {
			switch t[i] {
			case '"':
				i, _ = scanString(t, i+1)
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					v.end = uint32(i + 1)
					return v
				}
			}
		}
		v.end = uint32(i)
		return v
	case 't', 'f', 'n':
		v.kind = c
	}
	j := i
	for j < len(t) && (t[j] >= '0' && t[j] <= '9' || 'a' <= t[j] && t[j] <= 'z' || t[j] == '.' || t[j] == 'E' || t[j] == '+' || t[j] == '-') {
		j++
	}
	v.end = uint32(j)
	return v
}

// lookup walks the validated object obj once and stores in out[n] the
// first value of key names[n]; keys not found are left absent. A non-object
// obj finds nothing.
func (s *jsonState) lookup(obj jv, names []string, out []jv) {
	for n := range out {
		out[n] = jv{}
	}
	if obj.kind != '{' {
		return
	}
	t := s.line[:obj.end]
	i := skipJSONSpace(t, int(obj.off)+1)
	for i < len(t) && t[i] == '"' {
		ke, esc := scanString(t, i+1)
		key := t[i+1 : ke]
		if esc {
			key = string(unescapeJSON(nil, key))
		}
		i = skipJSONSpace(t, skipJSONSpace(t, ke+1)+1) // past ':'
		v := skipValid(t, i)
		for n, name := range names {
			if key == name && !out[n].ok() {
				out[n] = v
			}
		}
		i = skipJSONSpace(t, int(v.end))
		if i < len(t) && t[i] == ',' {
			i = skipJSONSpace(t, i+1)
		}
	}
}

// eachKey calls fn with every key of the validated object obj, in order,
// stopping when fn returns false. It is for error messages.
func (s *jsonState) eachKey(obj jv, fn func(key string) bool) {
	if obj.kind != '{' {
		return
	}
	t := s.line[:obj.end]
	i := skipJSONSpace(t, int(obj.off)+1)
	for i < len(t) && t[i] == '"' {
		ke, _ := scanString(t, i+1)
		if !fn(string(unescapeJSON(nil, t[i+1:ke]))) {
			return
		}
		i = skipJSONSpace(t, skipJSONSpace(t, ke+1)+1)
		i = skipJSONSpace(t, int(skipValid(t, i).end))
		if i < len(t) && t[i] == ',' {
			i = skipJSONSpace(t, i+1)
		}
	}
}

// elems returns the validated array arr's elements through fn, in order,
// stopping when fn returns false.
func (s *jsonState) elems(arr jv, fn func(v jv) bool) {
	if arr.kind != '[' {
		return
	}
	t := s.line[:arr.end]
	i := skipJSONSpace(t, int(arr.off)+1)
	for i < len(t) && t[i] != ']' {
		v := skipValid(t, i)
		if !fn(v) {
			return
		}
		i = skipJSONSpace(t, int(v.end))
		if i < len(t) && t[i] == ',' {
			i = skipJSONSpace(t, i+1)
		}
	}
}

// unescapeJSON appends the unescaped contents of a JSON string to b. Like
// fastjson it is lenient: an unknown or broken escape is kept as written,
// which is how nginx's non-JSON \xXX escapes survive to nginxText.
func unescapeJSON(b []byte, s string) []byte {
	for {
		n := strings.IndexByte(s, '\\')
		if n < 0 {
			return append(b, s...)
		}
		b = append(b, s[:n]...)
		s = s[n+1:]
		if s == "" {
			return append(b, '\\')
		}
		ch := s[0]
		s = s[1:]
		switch ch {
		case '"', '\\', '/':
			b = append(b, ch)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(s)
			if !ok {
				b = append(b, `\u`...)
				break
			}
			s = s[4:]
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(strings.TrimPrefix(s, `\u`)); ok && strings.HasPrefix(s, `\u`) {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						b = utf8.AppendRune(b, d)
						s = s[6:]
						break
					}
				}
			}
			b = utf8.AppendRune(b, r) // a lone surrogate becomes U+FFFD
		default:
			b = append(b, '\\', ch)
		}
	}
}

func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		d, ok := unhex(s[i])
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}
