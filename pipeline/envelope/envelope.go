// Package envelope peels shipper wrappers off access-log lines before they
// are parsed.
//
// Gateways write plain lines or JSON; shippers then wrap them: Filebeat,
// Vector, Fluent Bit and Logstash put them in JSON documents, container
// runtimes add a CRI prefix or write Docker json-file records, syslog adds a
// header, and CloudWatch Logs subscriptions gzip (and often base64) a batch
// of them. Layers nest (Filebeat around a CRI line, Docker around syslog),
// so Unwrap peels repeatedly until what is left is no known wrapper, and
// hands that to the caller as one access-log line.
//
// The guiding rule is to never mistake a gateway's own JSON or text for a
// wrapper: every envelope is recognised by keys or shapes no gateway format
// uses (see the reference in gateway-log-formats.md, section 3), and anything
// unrecognised is passed on unchanged for the parser to judge.
package envelope

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"math"
	"time"
	"unsafe"

	"github.com/valyala/fastjson"
)

// Reasons carried by *Error. They are few and stable: they become metric
// labels and dead-letter headers.
const (
	ReasonBadBase64     = "bad_base64"     // looked like base64 of gzip ("H4sI…") but does not decode
	ReasonBadGzip       = "bad_gzip"       // gzip magic bytes, corrupt or truncated stream
	ReasonTooLarge      = "too_large"      // decompressed payload beyond Options.MaxDecompressedBytes
	ReasonBadCloudWatch = "bad_cloudwatch" // a CloudWatch Logs subscription document without usable logEvents
)

// Error reports a wrapper that is recognisably broken. The caller should
// dead-letter the original bytes: nothing from them was passed to fn.
type Error struct {
	Reason string
	Detail string
	Err    error // underlying decoder error, if any
}

func (e *Error) Error() string {
	s := "broken shipper envelope: " + e.Reason
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Options tune unwrapping. The zero value works.
type Options struct {
	// FluentBitLogKey is the record key holding the line (Fluent Bit tail's
	// Key option). Default "log", which is also Docker json-file's key.
	FluentBitLogKey string
	// FluentBitTimeKey is the Kafka output's timestamp_key. Default "@timestamp".
	FluentBitTimeKey string
	// DisableLogstashPlain turns off recognising Logstash's plain codec
	// ("<ISO8601 UTC> <host> <message>"). Set it when a gateway writes a
	// custom format that itself starts with an ISO-8601 UTC time and a
	// host-like token, which would otherwise lose those two fields.
	DisableLogstashPlain bool
	// MaxDepth bounds how many layers are peeled. Default 8.
	MaxDepth int
	// MaxDecompressedBytes bounds a gzip payload (a CloudWatch batch), so
	// a gzip bomb costs an error, not the process. Default 64 MiB.
	MaxDecompressedBytes int
	// MaxPartialBytes bounds the CRI partial-line buffer. Default 1 MiB.
	MaxPartialBytes int
}

// Unwrapper is not safe for concurrent use (it reuses a fastjson parser and
// buffers). The zero value is usable with default Options.
//
// CRI partial lines ("<time> stdout P <fragment>", written by kubelet for
// lines over 16 KiB) are joined: a P line yields nothing, and its fragment is
// prepended to the next F line, which then yields the whole line with the
// first fragment's time. This assumes one Unwrapper per stream (per Kafka
// partition or file), where a container's fragments arrive in order. If any
// other line arrives while fragments are pending, or the fragments exceed
// MaxPartialBytes, the pending fragment is first passed on as a line of its
// own, so nothing is silently dropped (the parser will reject it as
// truncated and it is dead-lettered). A fragment still pending when the
// stream ends is not reported; Pending tells whether one is held.
type Unwrapper struct {
	opts    Options
	levels  []level
	gz      *gzip.Reader
	partial []byte
	ptime   time.Time
	pending bool
}

// level holds the per-depth state: values from a fastjson parser live in
// its buffer until its next Parse, so each nesting depth needs its own.
type level struct {
	p   fastjson.Parser
	sc  fastjson.Scanner
	buf []byte // decompressed bytes, or a re-marshalled array element
	b64 []byte // base64-decoded gzip
	raw []byte // a document's text inside a decompressed stream
}

// New returns an Unwrapper with opts; defaults fill zero fields.
func New(opts Options) *Unwrapper {
	return &Unwrapper{opts: opts}
}

// Pending reports whether a CRI partial fragment is held, waiting for the
// F line that completes it.
func (u *Unwrapper) Pending() bool { return u.pending }

func (u *Unwrapper) logKey() string {
	if u.opts.FluentBitLogKey != "" {
		return u.opts.FluentBitLogKey
	}
	return "log"
}

func (u *Unwrapper) timeKey() string {
	if u.opts.FluentBitTimeKey != "" {
		return u.opts.FluentBitTimeKey
	}
	return "@timestamp"
}

func (u *Unwrapper) maxDepth() int {
	if u.opts.MaxDepth > 0 {
		return u.opts.MaxDepth
	}
	return 8
}

func (u *Unwrapper) maxDecompressed() int {
	if u.opts.MaxDecompressedBytes > 0 {
		return u.opts.MaxDecompressedBytes
	}
	return 64 << 20
}

func (u *Unwrapper) maxPartial() int {
	if u.opts.MaxPartialBytes > 0 {
		return u.opts.MaxPartialBytes
	}
	return 1 << 20
}

// Unwrap calls fn once per access-log line found in value, with the
// shipper's timestamp (zero when none). When layers nest, the innermost
// shipper time wins: it is the one closest to when the gateway wrote the
// line. The request time inside the line is still the event time; the
// parser takes it from there.
//
// Lines that are not wrapped are passed through unchanged, except that a
// trailing "\n" or "\r\n" is dropped from every line. An inner message that
// is itself JSON (a double-encoded Envoy, Kong or Caddy log) is passed on as
// its JSON text.
//
// The line passed to fn aliases value or the Unwrapper's buffers and is
// valid only until fn returns: copy it (strings.Clone) to keep it. This is
// what keeps the raw-line case free of allocations.
//
// Errors: only for a wrapper that is recognisably broken (bad base64 or
// gzip of a CloudWatch payload and the like), as *Error; fn has then not
// been called for any line of value. fn's error stops the iteration and is
// returned as is.
func (u *Unwrapper) Unwrap(value []byte, fn func(line string, shipperTime time.Time) error) error {
	return u.unwrap(0, value, time.Time{}, fn)
}

func (u *Unwrapper) level(d int) *level {
	for len(u.levels) <= d {
		u.levels = append(u.levels, level{})
	}
	return &u.levels[d]
}

func (u *Unwrapper) unwrap(d int, b []byte, st time.Time, fn func(string, time.Time) error) error {
	b = trimEOL(b)
	if len(b) == 0 || d >= u.maxDepth() {
		return u.emit(b, st, fn)
	}
	switch c := b[0]; {
	case c >= '0' && c <= '9':
		// Most raw access logs start with a client IP: one cheap shape
		// check and they are through.
		if isISODate(b) {
			return u.isoPrefixed(d, b, st, fn)
		}
	case c == '{':
		return u.object(d, b, st, fn)
	case c == '[':
		return u.array(d, b, st, fn)
	case c == '<':
		return u.syslogPRI(d, b, st, fn)
	case c == 0x1f:
		if len(b) > 1 && b[1] == 0x8b {
			return u.gunzip(d, b, st, fn)
		}
	case c == 'H':
		// base64 of the gzip magic and deflate method (1f 8b 08) is "H4sI".
		if len(b) >= 4 && b[1] == '4' && b[2] == 's' && b[3] == 'I' {
			return u.base64Gzip(d, b, st, fn)
		}
	case c >= 'A' && c <= 'S':
		if msg, ok := cutRFC3164(b); ok {
			return u.unwrap(d+1, msg, st, fn)
		}
	}
	return u.emit(b, st, fn)
}

// emit hands one line to fn, first flushing a CRI fragment that can no
// longer be completed (see Unwrapper).
func (u *Unwrapper) emit(b []byte, st time.Time, fn func(string, time.Time) error) error {
	if u.pending {
		if err := u.flushPartial(fn); err != nil {
			return err
		}
	}
	return fn(b2s(b), st)
}

func (u *Unwrapper) flushPartial(fn func(string, time.Time) error) error {
	u.pending = false
	p := u.partial
	u.partial = nil // out of cri's reach while fn runs
	err := fn(b2s(p), u.ptime)
	u.partial = p[:0]
	return err
}

// ---- JSON envelopes ----

func (u *Unwrapper) object(d int, b []byte, st time.Time, fn func(string, time.Time) error) error {
	if !u.mayBeEnvelope(b) {
		// Gateway JSON (the double-encoded inner line of most envelopes):
		// a few substring scans are far cheaper than parsing it.
		return u.emit(b, st, fn)
	}
	lv := u.level(d)
	v, err := lv.p.ParseBytes(b)
	if err != nil || v.Type() != fastjson.TypeObject {
		// Not JSON after all (or a truncated gateway JSON line): the
		// parser decides what it is.
		return u.emit(b, st, fn)
	}
	return u.envelope(d, v, b, st, fn)
}

// mayBeEnvelope reports whether b contains a key that some envelope rule
// needs. Shippers never escape these keys, so a miss is conclusive. One
// pass over the quotes: a bytes.Contains per key costs several times more
// on JSON, where the first byte of every key, '"', is everywhere.
func (u *Unwrapper) mayBeEnvelope(b []byte) bool {
	custom := u.opts.FluentBitTimeKey
	for {
		j := bytes.IndexByte(b, '"')
		if j < 0 || j+1 >= len(b) {
			return false
		}
		b = b[j+1:]
		switch b[0] {
		case '@':
			if hasKey(b, "@timestamp") || hasKey(b, "@metadata") || hasKey(b, "@version") {
				return true
			}
		case 'm':
			if hasKey(b, "messageType") {
				return true
			}
		case 's':
			if hasKey(b, "source_type") || hasKey(b, "stream") {
				return true
			}
		case 't':
			if hasKey(b, "time") {
				return true
			}
		case 'k':
			if hasKey(b, "kubernetes") {
				return true
			}
		}
		if custom != "" && hasKey(b, custom) {
			return true
		}
	}
}

// hasKey reports whether b starts with key and its closing quote.
func hasKey(b []byte, key string) bool {
	return len(b) > len(key) && b[len(key)] == '"' && string(b[:len(key)]) == key
}

// envelope recognises an envelope by its keys and recurses into the line it
// holds; raw is the object's JSON text, passed on when it is no envelope.
func (u *Unwrapper) envelope(d int, v *fastjson.Value, raw []byte, st time.Time, fn func(string, time.Time) error) error {
	// CloudWatch Logs subscription document.
	if mt := v.Get("messageType"); mt != nil && mt.Type() == fastjson.TypeString &&
		(v.Exists("logEvents") || v.Exists("logGroup")) {
		return u.cloudWatch(d, v, fn)
	}
	// Filebeat JSON codec: @metadata.beat. ECS event.original is the line
	// before any processor touched message, so it is preferred.
	if v.Exists("@metadata", "beat") {
		if line, ok := str(v, "event", "original"); ok {
			return u.unwrap(d+1, line, isoTime(v, "@timestamp", st), fn)
		}
		if line, ok := str(v, "message"); ok {
			return u.unwrap(d+1, line, isoTime(v, "@timestamp", st), fn)
		}
		return u.emit(raw, st, fn) // decoded by Filebeat's ndjson parser: fields are the log
	}
	// Logstash json codec: @version (+ event.original in ECS mode).
	if v.Exists("@version") {
		if line, ok := str(v, "event", "original"); ok {
			return u.unwrap(d+1, line, isoTime(v, "@timestamp", st), fn)
		}
		if line, ok := str(v, "message"); ok {
			return u.unwrap(d+1, line, isoTime(v, "@timestamp", st), fn)
		}
		return u.emit(raw, st, fn)
	}
	// Vector json codec: source_type + message.
	if v.Exists("source_type") {
		if line, ok := str(v, "message"); ok {
			return u.unwrap(d+1, line, isoTime(v, "timestamp", st), fn)
		}
		return u.emit(raw, st, fn)
	}
	// Any other ECS document (e.g. Elastic Agent) with the original line.
	if v.Exists("@timestamp") {
		if line, ok := str(v, "event", "original"); ok {
			return u.unwrap(d+1, line, isoTime(v, "@timestamp", st), fn)
		}
	}
	// Fluent Bit (log + @timestamp) and Docker json-file (log + stream +
	// time). A bare "log" key is not enough: a gateway JSON format could
	// use it, so one of the shipper's own keys must be present too.
	if line, ok := str(v, u.logKey()); ok {
		tk := u.timeKey()
		switch {
		case v.Exists(tk):
			return u.unwrap(d+1, line, fluentTime(v.Get(tk), st), fn)
		case v.Exists("stream") || v.Exists("time") || v.Exists("kubernetes"):
			return u.unwrap(d+1, line, isoTime(v, "time", st), fn)
		}
	}
	return u.emit(raw, st, fn)
}

func (u *Unwrapper) cloudWatch(d int, v *fastjson.Value, fn func(string, time.Time) error) error {
	switch mt := v.GetStringBytes("messageType"); string(mt) {
	case "CONTROL_MESSAGE":
		return nil // AWS's connectivity probe, no log data
	case "DATA_MESSAGE":
	default:
		return &Error{Reason: ReasonBadCloudWatch, Detail: "unknown messageType " + quoteShort(mt)}
	}
	var evs []*fastjson.Value
	ev := v.Get("logEvents")
	if ev != nil && ev.Type() == fastjson.TypeArray {
		evs, _ = ev.Array()
	} else {
		return &Error{Reason: ReasonBadCloudWatch, Detail: "logEvents is missing or not an array"}
	}
	// Validate the whole batch before the first fn call, so an error never
	// follows lines that were already delivered (the caller dead-letters
	// the whole value).
	for i, ev := range evs {
		if m := ev.Get("message"); m == nil || m.Type() != fastjson.TypeString {
			return &Error{Reason: ReasonBadCloudWatch, Detail: "logEvents[" + itoa(i) + "].message is missing or not a string"}
		}
	}
	for _, ev := range evs {
		var t time.Time
		if ts := ev.Get("timestamp"); ts != nil && ts.Type() == fastjson.TypeNumber {
			if ms, err := ts.Int64(); err == nil && ms > 0 {
				t = time.UnixMilli(ms).UTC()
			}
		}
		if err := u.unwrap(d+1, ev.GetStringBytes("message"), t, fn); err != nil {
			return err
		}
	}
	return nil
}

// array splits a JSON array of objects (Kong http-log batches, Fluent Bit
// http output) into its elements; anything else is passed on as it is.
func (u *Unwrapper) array(d int, b []byte, st time.Time, fn func(string, time.Time) error) error {
	lv := u.level(d)
	v, err := lv.p.ParseBytes(b)
	if err != nil || v.Type() != fastjson.TypeArray {
		return u.emit(b, st, fn)
	}
	elems, _ := v.Array()
	if len(elems) == 0 {
		return u.emit(b, st, fn)
	}
	for _, e := range elems {
		if e.Type() != fastjson.TypeObject {
			return u.emit(b, st, fn)
		}
	}
	for _, e := range elems {
		lv.buf = e.MarshalTo(lv.buf[:0])
		if err := u.unwrap(d+1, lv.buf, st, fn); err != nil {
			return err
		}
	}
	return nil
}

// ---- compressed payloads (CloudWatch Logs subscriptions) ----

func (u *Unwrapper) base64Gzip(d int, b []byte, st time.Time, fn func(string, time.Time) error) error {
	lv := u.level(d)
	// Tolerate the unpadded and URL-safe alphabets some bridges use.
	enc := base64.StdEncoding
	if bytes.ContainsAny(b, "-_") {
		enc = base64.URLEncoding
	}
	if len(b)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	if n := enc.DecodedLen(len(b)); cap(lv.b64) < n {
		lv.b64 = make([]byte, n)
	}
	n, err := enc.Decode(lv.b64[:cap(lv.b64)], b)
	if err != nil {
		return &Error{Reason: ReasonBadBase64, Detail: "payload starts like base64 of gzip but does not decode", Err: err}
	}
	dec := lv.b64[:n]
	if len(dec) < 2 || dec[0] != 0x1f || dec[1] != 0x8b {
		return &Error{Reason: ReasonBadGzip, Detail: "base64 payload is not gzip"}
	}
	return u.gunzip(d, dec, st, fn)
}

func (u *Unwrapper) gunzip(d int, b []byte, st time.Time, fn func(string, time.Time) error) error {
	lv := u.level(d)
	var err error
	if u.gz == nil {
		u.gz, err = gzip.NewReader(bytes.NewReader(b))
	} else {
		err = u.gz.Reset(bytes.NewReader(b))
	}
	if err != nil {
		return &Error{Reason: ReasonBadGzip, Detail: "gzip header", Err: err}
	}
	limit := u.maxDecompressed()
	buf := bytes.NewBuffer(lv.buf[:0])
	n, err := io.Copy(buf, io.LimitReader(u.gz, int64(limit)+1))
	lv.buf = buf.Bytes()
	if err != nil {
		return &Error{Reason: ReasonBadGzip, Detail: "gzip stream", Err: err}
	}
	if n > int64(limit) {
		return &Error{Reason: ReasonTooLarge, Detail: "decompressed payload over " + itoa(limit) + " bytes"}
	}
	return u.payload(d, lv, st, fn)
}

// payload walks a decompressed payload: a stream of JSON documents
// (Firehose concatenates CloudWatch records) or newline-separated lines.
func (u *Unwrapper) payload(d int, lv *level, st time.Time, fn func(string, time.Time) error) error {
	data := bytes.TrimLeft(lv.buf, " \t\r\n")
	if len(data) > 0 && data[0] == '{' {
		lv.sc.InitBytes(data)
		// First pass validates every document, so a corrupt tail is an
		// error before any line is delivered.
		for lv.sc.Next() {
			if lv.sc.Value().Type() != fastjson.TypeObject {
				return &Error{Reason: ReasonBadCloudWatch, Detail: "decompressed payload holds a non-object JSON value"}
			}
		}
		if err := lv.sc.Error(); err != nil {
			return &Error{Reason: ReasonBadCloudWatch, Detail: "decompressed payload is not valid JSON", Err: err}
		}
		lv.sc.InitBytes(data)
		for lv.sc.Next() {
			v := lv.sc.Value()
			// The document's own text is passed on when it is no envelope
			// (a gzipped gateway JSON line).
			lv.raw = v.MarshalTo(lv.raw[:0])
			if err := u.envelope(d, v, lv.raw, st, fn); err != nil {
				return err
			}
		}
		return nil
	}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(trimEOL(line)) == 0 {
			continue
		}
		if err := u.unwrap(d+1, line, st, fn); err != nil {
			return err
		}
	}
	return nil
}

// ---- text prefixes ----

// isoPrefixed handles lines starting with an RFC 3339 time: the CRI
// (containerd/CRI-O) prefix, syslog with high-precision timestamps, and
// Logstash's plain codec.
func (u *Unwrapper) isoPrefixed(d int, b []byte, st time.Time, fn func(string, time.Time) error) error {
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return u.emit(b, st, fn)
	}
	ts, err := time.Parse(time.RFC3339Nano, b2s(b[:sp]))
	if err != nil {
		return u.emit(b, st, fn)
	}
	ts = ts.UTC()
	rest := b[sp+1:]

	// CRI: "<time> stdout|stderr F|P <payload>".
	if len(rest) >= 8 && (bytes.HasPrefix(rest, []byte("stdout ")) || bytes.HasPrefix(rest, []byte("stderr "))) &&
		(rest[7] == 'F' || rest[7] == 'P') && (len(rest) == 8 || rest[8] == ' ') {
		var payload []byte
		if len(rest) > 9 {
			payload = rest[9:]
		}
		return u.cri(d, rest[7] == 'P', payload, ts, fn)
	}

	host, after, ok := cutToken(rest)
	if !ok {
		return u.emit(b, st, fn)
	}
	// rsyslog's RFC 3339 template: "<time> <host> <tag>: <msg>".
	if tag, msg, ok := cutToken(after); ok && isTag(tag) {
		return u.unwrap(d+1, msg, ts, fn)
	}
	// Logstash plain codec: "<@timestamp> <host> <message>". Logstash
	// always prints @timestamp in UTC with a Z, which Envoy's and nginx's
	// ISO times with offsets never match; a message starting with a quote
	// is a custom access-log format whose second field is the client.
	if !u.opts.DisableLogstashPlain && b[sp-1] == 'Z' && isLogstashHost(host) &&
		len(after) > 0 && after[0] != '"' {
		return u.unwrap(d+1, after, ts, fn)
	}
	return u.emit(b, st, fn)
}

func (u *Unwrapper) cri(d int, partial bool, payload []byte, ts time.Time, fn func(string, time.Time) error) error {
	if partial {
		if u.pending && len(u.partial)+len(payload) > u.maxPartial() {
			if err := u.flushPartial(fn); err != nil {
				return err
			}
		}
		if !u.pending {
			u.partial = u.partial[:0]
			u.ptime = ts
			u.pending = true
		}
		u.partial = append(u.partial, payload...)
		return nil
	}
	if !u.pending {
		return u.unwrap(d+1, payload, ts, fn)
	}
	if len(u.partial)+len(payload) > u.maxPartial() {
		if err := u.flushPartial(fn); err != nil {
			return err
		}
		return u.unwrap(d+1, payload, ts, fn)
	}
	joined := append(u.partial, payload...)
	t := u.ptime
	u.pending, u.partial = false, nil
	err := u.unwrap(d+1, joined, t, fn)
	if u.partial == nil {
		u.partial = joined[:0]
	}
	return err
}

func (u *Unwrapper) syslogPRI(d int, b []byte, st time.Time, fn func(string, time.Time) error) error {
	i := 1
	for i < len(b) && i <= 4 && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 1 || i > 4 || i >= len(b) || b[i] != '>' {
		return u.emit(b, st, fn)
	}
	rest := b[i+1:]
	// RFC 5424: "<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD [MSG]".
	if len(rest) >= 2 && rest[0] == '1' && rest[1] == ' ' {
		if msg, ts, ok := cutRFC5424(rest[2:]); ok {
			if !ts.IsZero() {
				st = ts
			}
			return u.unwrap(d+1, msg, st, fn)
		}
		return u.emit(b, st, fn)
	}
	// RFC 3164 after a priority (nginx's and HAProxy's syslog output).
	if msg, ok := cutRFC3164(rest); ok {
		return u.unwrap(d+1, msg, st, fn)
	}
	// A priority alone is still syslog; what follows is the message.
	return u.unwrap(d+1, rest, st, fn)
}

// cutRFC5424 parses "TIMESTAMP HOST APP PROCID MSGID SD [MSG]" (after the
// version) and returns MSG without a UTF-8 BOM.
func cutRFC5424(b []byte) (msg []byte, ts time.Time, ok bool) {
	tsTok, rest, ok := cutToken(b)
	if !ok {
		return nil, ts, false
	}
	if string(tsTok) != "-" {
		t, err := time.Parse(time.RFC3339Nano, b2s(tsTok))
		if err != nil {
			return nil, ts, false
		}
		ts = t.UTC()
	}
	for range 4 { // HOST APP PROCID MSGID
		if _, rest, ok = cutToken(rest); !ok {
			return nil, ts, false
		}
	}
	// STRUCTURED-DATA: "-" or one or more [id k="v"...] with \" and \]
	// escaped inside values.
	switch {
	case len(rest) > 0 && rest[0] == '-':
		rest = rest[1:]
	case len(rest) > 0 && rest[0] == '[':
		for len(rest) > 0 && rest[0] == '[' {
			end := sdEnd(rest)
			if end < 0 {
				return nil, ts, false
			}
			rest = rest[end+1:]
		}
	default:
		return nil, ts, false
	}
	if len(rest) > 0 {
		if rest[0] != ' ' {
			return nil, ts, false
		}
		rest = rest[1:]
	}
	rest = bytes.TrimPrefix(rest, []byte("\xef\xbb\xbf"))
	return rest, ts, true
}

// sdEnd returns the index of the ']' closing the SD-ELEMENT at b[0].
func sdEnd(b []byte) int {
	inQuote := false
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case ']':
			if !inQuote {
				return i
			}
		}
	}
	return -1
}

// cutRFC3164 strips "Mmm dd hh:mm:ss [host] [tag[pid]:] ". The header has
// no year, so no shipper time is reported for it.
func cutRFC3164(b []byte) ([]byte, bool) {
	if len(b) < 16 || !isMonth(b[:3]) || b[3] != ' ' ||
		!(b[4] == ' ' || isDigit(b[4])) || !isDigit(b[5]) || b[6] != ' ' ||
		!isDigit(b[7]) || !isDigit(b[8]) || b[9] != ':' || !isDigit(b[10]) || !isDigit(b[11]) ||
		b[12] != ':' || !isDigit(b[13]) || !isDigit(b[14]) || b[15] != ' ' {
		return nil, false
	}
	rest := b[16:]
	tok, after, ok := cutToken(rest)
	if !ok {
		return rest, true
	}
	if isTag(tok) { // HAProxy leaves the host out by default
		return after, true
	}
	if tag, msg, ok := cutToken(after); ok && isTag(tag) {
		return msg, true
	}
	return after, true // host without a tag
}

// ---- small helpers ----

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

func b2s(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func s2b(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isISODate checks "dddd-dd-ddT" cheaply before any parsing.
func isISODate(b []byte) bool {
	return len(b) >= 20 && isDigit(b[0]) && isDigit(b[1]) && isDigit(b[2]) && isDigit(b[3]) &&
		b[4] == '-' && isDigit(b[5]) && isDigit(b[6]) && b[7] == '-' && isDigit(b[8]) && isDigit(b[9]) && b[10] == 'T'
}

func isMonth(m []byte) bool {
	switch string(m) {
	case "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec":
		return true
	}
	return false
}

// cutToken splits at the first space; ok is false when there is none or
// the token is empty.
func cutToken(b []byte) (tok, rest []byte, ok bool) {
	i := bytes.IndexByte(b, ' ')
	if i <= 0 {
		return nil, nil, false
	}
	return b[:i], b[i+1:], true
}

// isTag matches a syslog tag "prog:" or "prog[pid]:".
func isTag(t []byte) bool {
	if len(t) < 2 || t[len(t)-1] != ':' {
		return false
	}
	t = t[:len(t)-1]
	if n := len(t); n > 0 && t[n-1] == ']' {
		i := bytes.LastIndexByte(t, '[')
		if i <= 0 {
			return false
		}
		for _, c := range t[i+1 : n-1] {
			if !isDigit(c) {
				return false
			}
		}
		t = t[:i]
	}
	if len(t) == 0 || len(t) > 48 {
		return false
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '-' || c == '_' || c == '.' || c == '/') {
			return false
		}
	}
	return true
}

// isLogstashHost accepts what Logstash prints for host: a host name or
// address without port, the "%{host}" placeholder when the field is
// missing, or an ECS host object's string form.
func isLogstashHost(h []byte) bool {
	if string(h) == "%{host}" || (h[0] == '{' && h[len(h)-1] == '}') {
		return true
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// str returns the string at keys, ok only when it exists and is a string.
func str(v *fastjson.Value, keys ...string) ([]byte, bool) {
	s := v.Get(keys...)
	if s == nil || s.Type() != fastjson.TypeString {
		return nil, false
	}
	b, _ := s.StringBytes()
	return b, true
}

// isoTime reads an RFC 3339 string at key, falling back to def.
func isoTime(v *fastjson.Value, key string, def time.Time) time.Time {
	s, ok := str(v, key)
	if !ok {
		return def
	}
	t, err := time.Parse(time.RFC3339Nano, b2s(s))
	if err != nil {
		return def
	}
	return t.UTC()
}

// fluentTime reads Fluent Bit's timestamp: a double (epoch seconds, the
// default timestamp_format) or an ISO-8601 string.
func fluentTime(v *fastjson.Value, def time.Time) time.Time {
	switch v.Type() {
	case fastjson.TypeNumber:
		f, err := v.Float64()
		if err != nil || f <= 0 || f > math.MaxInt64/1e9 {
			return def
		}
		sec := math.Floor(f)
		// Round to microseconds: the double carries no more precision
		// than that at today's epoch.
		usec := math.Round((f - sec) * 1e6)
		return time.Unix(int64(sec), int64(usec)*1e3).UTC()
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if t, err := time.Parse(time.RFC3339Nano, b2s(b)); err == nil {
			return t.UTC()
		}
	}
	return def
}

func quoteShort(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return `"` + string(b) + `"`
}

func itoa(i int) string {
	var buf [20]byte
	n := len(buf)
	if i == 0 {
		return "0"
	}
	for i > 0 {
		n--
		buf[n] = byte('0' + i%10)
		i /= 10
	}
	return string(buf[n:])
}
