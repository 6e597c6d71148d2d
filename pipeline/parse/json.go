package parse

import (
	"math"
	"strconv"
	"strings"

	"github.com/gatewatch/gatewatch/detectors"
)

// jsonState is the JSON side of a Parser: the values of the line being
// parsed and the scratch that keeps the hot path free of per-line
// allocations. Like the Parser that holds it, it is not safe for concurrent
// use.
type jsonState struct {
	// line is the text being parsed (leading whitespace trimmed); every jv
	// is a span of it, so text fields are sub-strings of the line.
	line   string
	keys   jsonKeys           // top-level values of the current line, by key
	nested jsonNested         // the nested values formats read
	mapped [jsonFieldCount]jv // values of the keys Options.JSONFields names
	keyBuf []byte             // scratch for an escaped key

	// fields is Options.JSONFields resolved once into an array indexed by
	// canonical field, so the per-line path does no map iteration.
	fields      [jsonFieldCount]string
	fieldsReady bool
	hasFields   bool
}

// parseJSON parses one JSON object line (auto-detecting which gateway wrote
// it) into ev (already Reset).
func (p *Parser) parseJSON(line string, ev *detectors.Event) error {
	return p.parseJSONAs(detectors.FormatUnknown, line, ev)
}

// parseJSONFormat parses with a forced format (Options.Format).
func (p *Parser) parseJSONFormat(f detectors.Format, line string, ev *detectors.Event) error {
	if !isJSONFormat(f) {
		return &Error{Reason: ReasonUnknown, Detail: "format " + f.String() + " is not a JSON format"}
	}
	return p.parseJSONAs(f, line, ev)
}

// parseJSONAll handles a line that is a JSON array (Kong http-log batches)
// or object, appending events to dst. As ParseAll documents, a line is
// accepted or rejected whole: on error dst comes back at its old length
// and the error names the first bad element, so the caller dead-letters
// the batch once instead of half-processing it. (Kong writes every element
// with the same serializer, so one bad element means a broken batch.)
func (p *Parser) parseJSONAll(line string, dst []detectors.Event) ([]detectors.Event, error) {
	t := trimJSONSpace(line)
	n := len(dst)
	if t == "" || t[0] != '[' {
		dst = growEvent(dst)
		if err := p.parseJSONAs(p.opts.Format, line, &dst[n]); err != nil {
			return dst[:n], err
		}
		return dst, nil
	}
	// Objects are read in place, each in the one pass that also finds
	// where it ends; anything else is an error parseJSONAs words.
	pos := skipJSONSpace(t, 1)
	if pos < len(t) && t[pos] == ']' {
		return p.endJSONArray(t, pos, dst, n)
	}
	for i := 0; ; i++ {
		if pos >= len(t) {
			return dst[:n], &Error{Reason: ReasonTruncated, Detail: "JSON array is cut off before element " + strconv.Itoa(i)}
		}
		dst = growEvent(dst)
		if t[pos] == '{' {
			end, err := p.parseJSONObject(p.opts.Format, t[pos:], "", true, &dst[len(dst)-1])
			if err != nil {
				return dst[:n], wrapElemError(i, err)
			}
			pos += end
		} else {
			// A batch holds only log entries. An element of another kind
			// (or a text line that merely starts with '[') is a bad field;
			// one without an end is judged like any cut-off JSON.
			if _, _, ok := nextArrayElem(t[pos:]); !ok {
				return dst[:n], jsonSyntaxError(t, "array element "+strconv.Itoa(i)+" is cut off or malformed")
			}
			return dst[:n], wrapElemError(i, &Error{Reason: ReasonBadField, Detail: "not a JSON object; a batch holds only log entries"})
		}
		pos = skipJSONSpace(t, pos)
		if pos >= len(t) {
			return dst[:n], &Error{Reason: ReasonTruncated, Detail: "JSON array is cut off after element " + strconv.Itoa(i)}
		}
		switch t[pos] {
		case ',':
			pos = skipJSONSpace(t, pos+1)
		case ']':
			return p.endJSONArray(t, pos, dst, n)
		default:
			return dst[:n], jsonSyntaxError(t, errAt("missing ',' after array element "+strconv.Itoa(i), pos, t))
		}
	}
}

// endJSONArray accepts the batch whose closing ']' is t[pos] if nothing
// but whitespace follows.
func (p *Parser) endJSONArray(t string, pos int, dst []detectors.Event, n int) ([]detectors.Event, error) {
	if skipJSONSpace(t, pos+1) != len(t) {
		return dst[:n], &Error{Reason: ReasonBadField, Detail: "unexpected text after the JSON array"}
	}
	return dst, nil
}

// growEvent appends a reset event to dst, reusing spare capacity (and the
// Params backing array of an event that lived there before).
func growEvent(dst []detectors.Event) []detectors.Event {
	if len(dst) < cap(dst) {
		dst = dst[:len(dst)+1]
		dst[len(dst)-1].Reset()
		return dst
	}
	return append(dst, detectors.Event{})
}

func wrapElemError(i int, err error) error {
	if pe, ok := err.(*Error); ok {
		return &Error{Reason: pe.Reason, Detail: "array element " + strconv.Itoa(i) + ": " + pe.Detail}
	}
	return err
}

// nextArrayElem returns the next element of a JSON array whose opening '['
// has been consumed, and the text after it. elem == "" with ok marks the
// closing ']'. It only finds boundaries (strings, escapes, nesting); it
// judges elements that are not objects, which are errors either way.
func nextArrayElem(s string) (elem, tail string, ok bool) {
	i := 0
	for i < len(s) && isJSONSpace(s[i]) {
		i++
	}
	if i < len(s) && s[i] == ',' {
		i++
		for i < len(s) && isJSONSpace(s[i]) {
			i++
		}
	}
	if i >= len(s) {
		return "", "", false
	}
	if s[i] == ']' {
		return "", s[i+1:], true
	}
	start, depth, inStr := i, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 { // the array's own ']' after a scalar element
				return s[start:i], s[i:], true
			}
			depth--
			if depth == 0 {
				return s[start : i+1], s[i+1:], true
			}
		case ',':
			if depth == 0 {
				return s[start:i], s[i:], true
			}
		}
	}
	return "", "", false
}

// parseJSONAs parses one JSON object line as format f, or auto-detects
// when f is FormatUnknown.
func (p *Parser) parseJSONAs(f detectors.Format, line string, ev *detectors.Event) error {
	s := &p.json
	if !s.fieldsReady {
		s.resolveFields(p.opts.JSONFields)
	}
	t := trimJSONSpace(line)
	if t == "" {
		return &Error{Reason: ReasonEmpty}
	}
	if t[0] != '{' {
		if t[0] == '[' {
			return &Error{Reason: ReasonBadField, Detail: "line is a JSON array; use ParseAll to split batches"}
		}
		return &Error{Reason: ReasonBadField, Detail: "line does not start with a JSON object"}
	}
	_, err := p.parseJSONObject(f, t, line, false, ev)
	return err
}

// parseJSONObject reads the object t starts with as format f (or detects
// it). Alone (inArray false) the object must be all of t and ev.Raw
// becomes raw; in a batch the rest of the array follows it and ev.Raw is
// the object's own text. It returns where the object ends in t.
func (p *Parser) parseJSONObject(f detectors.Format, t, raw string, inArray bool, ev *detectors.Event) (int, error) {
	s := &p.json
	if !s.fieldsReady {
		s.resolveFields(p.opts.JSONFields)
	}
	if uint64(len(t)) > math.MaxUint32 { // value spans hold 32-bit offsets
		return 0, &Error{Reason: ReasonTooLong, Detail: "JSON line over 4 GiB"}
	}
	s.line = t
	s.keys = jsonKeys{}
	s.nested = jsonNested{}
	if s.hasFields {
		s.mapped = [jsonFieldCount]jv{}
	}
	end, msg := s.scanObject(t)
	if msg == "" && !inArray {
		msg = trailer(t, end)
	}
	if msg != "" {
		s.line = ""
		// In a batch t runs to the end of the array, so a cut-off batch
		// is told from a malformed element as for a single line.
		return 0, jsonSyntaxError(t, msg)
	}
	if inArray {
		s.line = t[:end]
		raw = s.line
	}

	var err error
	if f == detectors.FormatUnknown {
		f = s.detect()
		if f == detectors.FormatUnknown {
			err = s.unknownJSONError()
			s.line = ""
			return 0, err
		}
	}
	ev.Raw = raw
	ev.Format = f
	switch f {
	case detectors.FormatNginxJSON:
		err = p.fillNginxJSON(ev)
	case detectors.FormatEnvoyJSON:
		err = p.fillEnvoyJSON(ev)
	case detectors.FormatKongJSON:
		err = p.fillKongJSON(ev)
	case detectors.FormatAWSAPIGatewayJSON:
		err = p.fillAWSJSON(ev)
	case detectors.FormatTraefikJSON:
		err = p.fillTraefikJSON(ev)
	case detectors.FormatCaddyJSON:
		err = p.fillCaddyJSON(ev)
	}
	s.line = "" // do not pin the caller's line
	return end, err
}

func isJSONFormat(f detectors.Format) bool {
	switch f {
	case detectors.FormatNginxJSON, detectors.FormatEnvoyJSON, detectors.FormatKongJSON,
		detectors.FormatAWSAPIGatewayJSON, detectors.FormatTraefikJSON, detectors.FormatCaddyJSON:
		return true
	}
	return false
}

// detect names the gateway from signature keys. The order goes from the
// most specific signature to the most generic, nginx's user-chosen keys.
func (s *jsonState) detect() detectors.Format {
	k := &s.keys
	switch {
	case k.logger.ok() && strings.HasPrefix(s.text(k.logger), "http.log.access"),
		!k.logger.ok() && k.ts.ok() && k.request.kind == '{' && k.status.ok():
		return detectors.FormatCaddyJSON
	case k.startedAt.ok() && (k.latencies.ok() || k.request.kind == '{'):
		return detectors.FormatKongJSON
	case k.downStatus.ok() || k.originStatus.ok() || (k.startUTC.ok() && k.reqMethod.ok()):
		return detectors.FormatTraefikJSON
	case k.requestID.ok() && (k.httpMethod.ok() || k.routeKey.ok()):
		return detectors.FormatAWSAPIGatewayJSON
	case k.responseCode.ok() && (k.startTime.ok() || k.method.ok() || k.authority.ok() ||
		k.originPath.ok() || k.downstreamRemote.ok()):
		return detectors.FormatEnvoyJSON
	case s.looksNginx():
		return detectors.FormatNginxJSON
	}
	return detectors.FormatUnknown
}

// looksNginx accepts a line with a status and something naming the request,
// under nginx's variable names or the keys mapped by Options.JSONFields.
func (s *jsonState) looksNginx() bool {
	k := &s.keys
	if k.status.ok() && (k.requestMethod.ok() || k.requestURI.ok() || k.remoteAddr.ok() || k.request.kind == '"') {
		return true
	}
	if !s.hasFields {
		return false
	}
	// A custom log_format: the mapped status key and any mapped request key.
	if !k.status.ok() && !s.mapped[jfStatus].ok() {
		return false
	}
	for _, c := range [...]jsonField{jfRequest, jfMethod, jfPath, jfURI, jfClientIP} {
		if s.mapped[c].ok() {
			return true
		}
	}
	return false
}

// unknownJSONError names the first few keys so the operator can see which
// gateway wrote the line and map it with JSONFields.
func (s *jsonState) unknownJSONError() error {
	const maxKeys = 8
	var b strings.Builder
	b.WriteString("JSON object from no known gateway; keys: ")
	n := 0
	s.eachKey(jv{off: 0, end: uint32(len(s.line)), kind: '{'}, func(key string, _ jv) bool {
		if n < maxKeys {
			if n > 0 {
				b.WriteString(", ")
			}
			b.WriteString(key)
		} else {
			b.WriteString(", …")
		}
		n++
		return n <= maxKeys
	})
	if n == 0 {
		b.WriteString("(none)")
	}
	b.WriteString("; for a custom nginx log_format set JSONFields")
	return &Error{Reason: ReasonUnknown, Detail: b.String()}
}

// jsonSyntaxError classifies invalid JSON: a line that stops before its
// closing bracket was cut off (truncated), anything else is malformed.
func jsonSyntaxError(t, msg string) error {
	end := strings.TrimRight(t, " \t\r\n")
	if end == "" || (end[len(end)-1] != '}' && end[len(end)-1] != ']') {
		return &Error{Reason: ReasonTruncated, Detail: "JSON line is cut off: " + clip(msg)}
	}
	return &Error{Reason: ReasonBadField, Detail: "invalid JSON: " + clip(msg)}
}

func clip(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

func trimJSONSpace(s string) string {
	i := 0
	for i < len(s) && isJSONSpace(s[i]) {
		i++
	}
	return s[i:]
}

func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}
