package parse

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gatewatch/gatewatch/detectors"
)

// defaultMaxLine bounds a line when Options.MaxLineBytes is zero. Real
// honeypot logs carry lines of several KiB; 64 KiB keeps those and stops a
// runaway producer from making one event out of megabytes of junk.
const defaultMaxLine = 64 << 10

// Parser turns lines into events. It is not safe for concurrent use: each
// worker goroutine owns one (it reuses scratch state).
type Parser struct {
	opts    Options
	maxLine int
	json    jsonState
}

// New checks opts and returns a Parser. Errors name the option at fault so
// the person editing the config knows what to change.
func New(opts Options) (*Parser, error) {
	if opts.Format != detectors.FormatUnknown {
		if _, ok := detectors.ParseFormat(opts.Format.String()); !ok {
			return nil, fmt.Errorf("parse: format %v is not a known log format; use one of %s or leave it empty to auto-detect",
				opts.Format, formatList())
		}
	}
	if opts.MaxLineBytes < 0 {
		return nil, fmt.Errorf("parse: max line bytes is %d; set a positive limit or 0 for the default %d", opts.MaxLineBytes, defaultMaxLine)
	}
	for i, pfx := range opts.TrustedProxies {
		if !pfx.IsValid() {
			return nil, fmt.Errorf("parse: trusted proxy #%d is not a valid CIDR; write it like 10.0.0.0/8 or 2001:db8::/32", i+1)
		}
	}
	// Sorted so the error is the same on every run when several names are wrong.
	keys := make([]string, 0, len(opts.JSONFields))
	for k := range opts.JSONFields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(jsonFieldNames[:], k) {
			return nil, fmt.Errorf("parse: JSON field mapping has unknown field %q; the known fields are %s", k, jsonFieldList())
		}
		if strings.TrimSpace(opts.JSONFields[k]) == "" {
			return nil, fmt.Errorf("parse: JSON field mapping for %q is empty; give the key your log_format uses, or remove the entry", k)
		}
	}
	p := &Parser{opts: opts, maxLine: opts.MaxLineBytes}
	if p.maxLine == 0 {
		p.maxLine = defaultMaxLine
	}
	// Normalise the trusted prefixes once so clientIP compares masked values.
	if len(opts.TrustedProxies) > 0 {
		tp := make([]netip.Prefix, len(opts.TrustedProxies))
		for i, pfx := range opts.TrustedProxies {
			tp[i] = pfx.Masked()
		}
		p.opts.TrustedProxies = tp
	}
	return p, nil
}

func formatList() string {
	var b strings.Builder
	for i, f := range detectors.Formats() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.String())
	}
	return b.String()
}

// jsonFieldList names the canonical fields of the JSON side's field map.
func jsonFieldList() string {
	return strings.Join(jsonFieldNames[:], ", ")
}

// Parse parses one line (one request) into ev, calling ev.Reset first. It
// returns an *Error with a Reason when no parser accepts the line. A
// trailing "\n" or "\r\n" is not part of the line: ev.Raw is the line
// without it, and every text field of ev is a sub-string of ev.Raw.
func (p *Parser) Parse(line string, ev *detectors.Event) error {
	ev.Reset()
	line, err := p.check(line)
	if err != nil {
		return err
	}
	return p.parseChecked(line, ev)
}

// parseChecked dispatches a line that passed check.
func (p *Parser) parseChecked(line string, ev *detectors.Event) error {
	f := p.opts.Format
	if f == detectors.FormatUnknown {
		f = sniff(line)
	}
	switch f {
	case detectors.FormatUnknown:
		return &Error{Reason: ReasonUnknown, Detail: unknownDetail}
	case formatJSONAuto:
		return p.parseJSON(line, ev)
	}
	if isJSONFormat(f) {
		return p.parseJSONFormat(f, line, ev)
	}
	return p.parseText(f, line, ev)
}

// ParseAll appends every request in line to dst: one for ordinary lines,
// several for Kong http-log batches (a JSON array of entries). A line is
// accepted or rejected whole: on error dst comes back at its old length
// (for a batch the error names the first bad entry), so the caller
// dead-letters the line once instead of half-processing it.
func (p *Parser) ParseAll(line string, dst []detectors.Event) ([]detectors.Event, error) {
	checked, err := p.check(line)
	if err != nil {
		return dst, err
	}
	f := p.opts.Format
	if f == detectors.FormatUnknown || f == detectors.FormatKongJSON {
		if checked[0] == '[' && (f == detectors.FormatKongJSON || sniff(checked) == formatJSONAuto) {
			return p.parseJSONAll(checked, dst)
		}
	}
	// Reuse the slot past len when there is one, so a caller that recycles
	// dst[:0] keeps each event's Params backing array.
	n := len(dst)
	if n < cap(dst) {
		dst = dst[:n+1]
		dst[n].Reset()
	} else {
		dst = append(dst, detectors.Event{})
	}
	if err := p.parseChecked(checked, &dst[n]); err != nil {
		return dst[:n], err
	}
	return dst, nil
}

// unknownDetail is the advice given with ReasonUnknown.
const unknownDetail = "the line starts like no known access-log format; if a syslog or container prefix is still on it, strip it first, or set the format explicitly"

// formatJSONAuto is an internal marker: the line is JSON of a kind the JSON
// side decides. It never leaves this package.
const formatJSONAuto = detectors.Format(255)

// check trims the line terminator and rejects lines no parser should see.
// One pass over the bytes finds control characters and non-ASCII; only
// lines with non-ASCII bytes pay for UTF-8 validation. nginx writes unsafe
// bytes as \xXX, so its escaped lines are plain ASCII and pass.
func (p *Parser) check(line string) (string, error) {
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	if len(line) == 0 {
		return "", &Error{Reason: ReasonEmpty}
	}
	if len(line) > p.maxLine {
		return "", &Error{Reason: ReasonTooLong, Detail: fmt.Sprintf("%d bytes, the limit is %d (raise MaxLineBytes if such lines are legitimate)", len(line), p.maxLine)}
	}
	// Eight bytes at a time: a word with no high bit, no byte below 0x20
	// and no 0x7f is plain printable ASCII, which is nearly every word of
	// a real log. Words that fail the test (tabs, UTF-8, junk) are looked
	// at byte by byte.
	nonASCII := false
	i := 0
	for ; i+8 <= len(line); i += 8 {
		b := line[i : i+8] // known length: no bounds checks, one 64-bit load
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		const lo, hi = 0x0101010101010101, 0x8080808080808080
		if w&hi == 0 && (w-lo*0x20)&^w&hi == 0 && ((w^(lo*0x7f))-lo)&^(w^(lo*0x7f))&hi == 0 {
			continue
		}
		if err := checkBytes(line, i, i+8, &nonASCII); err != nil {
			return "", err
		}
	}
	if err := checkBytes(line, i, len(line), &nonASCII); err != nil {
		return "", err
	}
	if nonASCII && !utf8.ValidString(line) {
		return "", &Error{Reason: ReasonInvalidUTF8}
	}
	return line, nil
}

// checkBytes looks at line[from:to] byte by byte for check.
func checkBytes(line string, from, to int, nonASCII *bool) error {
	for i := from; i < to; i++ {
		c := line[i]
		if c >= 0x80 {
			*nonASCII = true
			continue
		}
		// A control byte (other than tab) in a text log means the producer
		// wrote raw binary: no gateway logs those unescaped. It is checked
		// before UTF-8 because such junk is usually invalid UTF-8 as well,
		// and "binary" tells the operator more.
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return &Error{Reason: ReasonBinary, Detail: fmt.Sprintf("control byte 0x%02x at offset %d", c, i)}
		}
	}
	return nil
}

// sniff picks a format from the line's first bytes without parsing it, so
// a mixed stream costs one switch per line.
func sniff(line string) detectors.Format {
	c := line[0]
	switch {
	case c == '{':
		return formatJSONAuto
	case c == '[':
		// Envoy's default text format opens with "[2016-04-15T20:17:00.310Z]";
		// anything else in brackets is a JSON array (Kong batches).
		if len(line) > 11 && isDigit(line[1]) && line[5] == '-' && line[11] == 'T' {
			return detectors.FormatEnvoyText
		}
		return formatJSONAuto
	case isDigit(c) || c == ':' || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F'):
		// An IPv4 or IPv6 address: the CLF family or HAProxy. "h2 " is
		// not hex, so ALB lines never land here.
		return formatCLFAuto
	case c == 'h' || c == 'w' || c == 'g':
		if isALBType(line) {
			return detectors.FormatAWSALB
		}
		return formatCLFAuto
	case 'g' <= c && c <= 'z' || 'G' <= c && c <= 'Z':
		// Possibly a CLF line led by a virtual host ("www.example.com
		// 1.2.3.4 - - [..."); parseCLF answers unknown_format if not.
		return formatCLFAuto
	}
	return detectors.FormatUnknown
}

// startsLikeAddr says whether a token could be an IPv4 or IPv6 address.
func startsLikeAddr(tok string) bool {
	c := tok[0]
	return isDigit(c) || c == ':' || c == '[' || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
