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
// escapes are later returned as sub-strings of it. The few nested values
// formats read (Kong's request.method, Caddy's request.headers.User-Agent,
// ...) are collected by scanCollect in the same pass, while the object
// holding them is validated, so no part of the line is read twice.
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
		dst, g := s.keys.slot(key)
		if g != ngNone {
			s.resetGroup(g) // a repeated key: its last value counts
		}
		if i < len(t) && t[i] == '"' { // most values: no call to skipValue
			j, esc := scanString(t, i+1)
			if j < 0 {
				return i, errAt("missing closing '\"'", i, t)
			}
			i, v.kind, v.esc = j+1, '"', esc
		} else {
			var msg string
			if g != ngNone && i < len(t) && t[i] == '{' {
				i, msg = s.scanCollect(t, i, 3, g)
				v.kind = '{'
			} else {
				i, v.kind, msg = skipValue(t, i, 2)
			}
			if msg != "" {
				return i, msg
			}
		}
		v.end = uint32(i)
		if dst != nil {
			*dst = v
		}
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

// jsonNested holds the nested values formats read, by group: the object
// (or, for headers, the object inside request) they are collected from.
// Within an object the first occurrence of a key counts, as a lookup by
// key would find it.
type jsonNested struct {
	request    [nrCount]jv // Kong and Caddy "request"
	headers    [nhCount]jv // request.headers
	response   [2]jv       // Kong response.status, response.size
	latency    jv          // Kong latencies.request
	consumer   [3]jv       // Kong consumer.username, custom_id, id
	consumerID jv          // Kong authenticated_entity.consumer_id
}

// Indexes into jsonNested.request and jsonNested.headers.
const (
	nrMethod = iota
	nrURI
	nrHost
	nrRemoteIP
	nrClientIP
	nrHeaders
	nrCount
)

const (
	nhUserAgent = iota // Kong (lower case)
	nhHost
	nhXFF
	nhCaddyUserAgent // Caddy (canonical case)
	nhCaddyXFF
	nhCount
)

// A nested group: which object scanCollect is in.
type nestGroup uint8

const (
	ngNone nestGroup = iota
	ngRequest
	ngHeaders
	ngResponse
	ngLatencies
	ngConsumer
	ngAuthEntity
)

func (s *jsonState) resetGroup(g nestGroup) {
	n := &s.nested
	switch g {
	case ngRequest:
		n.request, n.headers = [nrCount]jv{}, [nhCount]jv{}
	case ngResponse:
		n.response = [2]jv{}
	case ngLatencies:
		n.latency = jv{}
	case ngConsumer:
		n.consumer = [3]jv{}
	case ngAuthEntity:
		n.consumerID = jv{}
	}
}

// slot is where key's value goes in group g, or nil.
func (s *jsonState) slot(g nestGroup, key string) *jv {
	n := &s.nested
	switch g {
	case ngRequest:
		switch key {
		case "method":
			return &n.request[nrMethod]
		case "uri":
			return &n.request[nrURI]
		case "host":
			return &n.request[nrHost]
		case "remote_ip":
			return &n.request[nrRemoteIP]
		case "client_ip":
			return &n.request[nrClientIP]
		case "headers":
			return &n.request[nrHeaders]
		}
	case ngHeaders:
		switch key {
		case "user-agent":
			return &n.headers[nhUserAgent]
		case "host":
			return &n.headers[nhHost]
		case "x-forwarded-for":
			return &n.headers[nhXFF]
		case "User-Agent":
			return &n.headers[nhCaddyUserAgent]
		case "X-Forwarded-For":
			return &n.headers[nhCaddyXFF]
		}
	case ngResponse:
		switch key {
		case "status":
			return &n.response[0]
		case "size":
			return &n.response[1]
		}
	case ngLatencies:
		if key == "request" {
			return &n.latency
		}
	case ngConsumer:
		switch key {
		case "username":
			return &n.consumer[0]
		case "custom_id":
			return &n.consumer[1]
		case "id":
			return &n.consumer[2]
		}
	case ngAuthEntity:
		if key == "consumer_id" {
			return &n.consumerID
		}
	}
	return nil
}

// scanCollect validates the object at t[i] exactly as skipValue would and
// stores the values group g wants in s.nested. It returns the index after
// the object.
func (s *jsonState) scanCollect(t string, i, depth int, g nestGroup) (int, string) {
	i = skipJSONSpace(t, i+1)
	if i < len(t) && t[i] == '}' {
		return i + 1, ""
	}
	for {
		if i >= len(t) || t[i] != '"' {
			return i, errAt("missing '\"' before an object key", i, t)
		}
		ke, esc := scanString(t, i+1)
		if ke < 0 {
			return i, errAt("missing closing '\"' of an object key", i, t)
		}
		key := t[i+1 : ke]
		if esc { // rare: keys are plain words
			key = string(unescapeJSON(nil, key))
		}
		i = skipJSONSpace(t, ke+1)
		if i >= len(t) || t[i] != ':' {
			return i, errAt("missing ':' after an object key", i, t)
		}
		i = skipJSONSpace(t, i+1)
		v := jv{off: uint32(i)}
		var msg string
		switch {
		case i < len(t) && t[i] == '"':
			j, esc := scanString(t, i+1)
			if j < 0 {
				return i, errAt("missing closing '\"'", i, t)
			}
			i, v.kind, v.esc = j+1, '"', esc
		case g == ngRequest && key == "headers" && i < len(t) && t[i] == '{' && !s.nested.request[nrHeaders].ok():
			i, msg = s.scanCollect(t, i, depth+1, ngHeaders)
			v.kind = '{'
		default:
			i, v.kind, msg = skipValue(t, i, depth)
		}
		if msg != "" {
			return i, msg
		}
		v.end = uint32(i)
		if p := s.slot(g, key); p != nil && !p.ok() {
			*p = v
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

// eachKey calls fn with every key of the validated object obj and its
// value, in order, stopping when fn returns false. It is for error
// messages, off the hot path.
func (s *jsonState) eachKey(obj jv, fn func(key string, v jv) bool) {
	if obj.kind != '{' {
		return
	}
	t := s.line[:obj.end]
	i := skipJSONSpace(t, int(obj.off)+1)
	for i < len(t) && t[i] == '"' {
		ke, _ := scanString(t, i+1)
		key := string(unescapeJSON(nil, t[i+1:ke]))
		v := skipValid(t, skipJSONSpace(t, skipJSONSpace(t, ke+1)+1))
		if !fn(key, v) {
			return
		}
		i = skipJSONSpace(t, int(v.end))
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
