package parse

import (
	"net/netip"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// formatCLFAuto is an internal marker from sniff: the line starts with an
// address, so it is HAProxy or one of the CLF family, decided on the next
// few bytes. It never leaves this package.
const formatCLFAuto = detectors.Format(254)

// parseText runs the text parser for f, or, for formatCLFAuto, the one the
// line's shape calls for. A forced format (f itself) makes a line of a
// different shape an error rather than a guess.
func (p *Parser) parseText(f detectors.Format, line string, ev *detectors.Event) error {
	switch f {
	case formatCLFAuto:
		if isHAProxyShape(line) {
			return p.parseHAProxy(line, ev)
		}
		return p.parseCLF(line, detectors.FormatUnknown, ev)
	case detectors.FormatNginxCombined, detectors.FormatNginxMain, detectors.FormatApacheCommon,
		detectors.FormatApacheCombined, detectors.FormatTraefikCLF, detectors.FormatAWSAPIGatewayCLF:
		return p.parseCLF(line, f, ev)
	case detectors.FormatHAProxy:
		return p.parseHAProxy(line, ev)
	case detectors.FormatEnvoyText:
		return p.parseEnvoyText(line, ev)
	case detectors.FormatAWSALB:
		return p.parseALB(line, ev)
	}
	return &Error{Reason: ReasonUnknown, Detail: "no text parser for format " + f.String()}
}

// isHAProxyShape tells "ip:port [date]" (HAProxy) from "ip ident user
// [date]" (CLF): only HAProxy puts the bracket right after the address.
func isHAProxyShape(line string) bool {
	i := strings.IndexByte(line, ' ')
	return i > 0 && i+1 < len(line) && line[i+1] == '['
}

func truncated(detail string) error { return &Error{Reason: ReasonTruncated, Detail: detail} }
func badField(detail string) error  { return &Error{Reason: ReasonBadField, Detail: detail} }
func badTime(detail string) error   { return &Error{Reason: ReasonBadTime, Detail: detail} }

// nextToken splits s at the first space: the token, and what follows the
// space ("" when s has no space).
func nextToken(s string) (tok, rest string) {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// quoted reads a quoted field whose opening quote has been consumed. It
// understands backslash escapes (Apache's \" and nginx's \xXX) and, to
// survive servers that log a bare quote inside a value, only a quote
// followed by a space or the end of the line closes the field. closed is
// false when the line ends first: the value is then the cut-off remainder.
func quoted(s string) (val, rest string, closed bool) {
	for from := 0; ; {
		j := strings.IndexByte(s[from:], '"')
		if j < 0 {
			return s, "", false
		}
		i := from + j
		from = i + 1
		// An odd run of backslashes before the quote escapes it.
		n := 0
		for k := i - 1; k >= 0 && s[k] == '\\'; k-- {
			n++
		}
		if n%2 == 1 {
			continue
		}
		if i+1 == len(s) || s[i+1] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
}

// parseAddrPort reads the "address:port" that HAProxy (%ci:%cp) and ALB
// write. Both put IPv6 addresses unbracketed in front of the port
// ("2001:db8::1:51234"), which a generic parser would misread as one
// longer IPv6 address, so the port is cut at the last colon first.
func parseAddrPort(s string) (netip.Addr, bool) {
	if len(s) > 0 && s[0] != '[' {
		if i := strings.LastIndexByte(s, ':'); i > 0 {
			if a, ok := detectors.ParseAddr(s[:i]); ok {
				return a, true
			}
		}
	}
	return detectors.ParseAddr(s)
}

// hostOnly drops a ":port" from a host name ("www.example.com:443").
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i > 0 && allDigits(h[i+1:]) && !strings.Contains(h[:i], ":") {
		return h[:i]
	}
	return h
}

// dash maps the "-" that logs write for a missing value to "".
func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// parseStatus accepts a status code of up to three digits, "-" (Traefik,
// no response was sent) and "-1" (HAProxy, same meaning), both as 0.
func parseStatus(s string) (int, bool) {
	if s == "-" || s == "-1" {
		return 0, true
	}
	if len(s) == 0 || len(s) > 3 {
		return 0, false
	}
	return atoiN(s)
}

// parseBytes accepts a byte count, "-" for none (Apache %b) and HAProxy's
// "+" prefix for a count still growing when the line was written.
func parseBytes(s string) (int64, bool) {
	if s == "-" {
		return 0, true
	}
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	n, ok := atoiN(s)
	return int64(n), ok
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// setRequest fills method, path and query from a request line. A request
// line that is not "METHOD URI [PROTO]" (scanners send garbage such as
// "HELP" or binary, and servers log "-" for an empty one) still leaves a
// usable event: the line's time, address and status are what brute-force
// and probing detectors count, and Raw keeps the text for evidence. So the
// event is accepted with an empty method and path rather than rejected.
func setRequest(ev *detectors.Event, req string) {
	if m, path, q, ok := splitRequest(req); ok {
		ev.Method, ev.Path, ev.Query = m, path, q
	}
}

// clf shapes: what follows "status bytes" in the CLF family.
type clfShape uint8

const (
	shapeCommon        clfShape = iota // ends after bytes
	shapeCommonLatency                 // + %D microseconds
	shapeCombined                      // + "referer" "ua"
	shapeCombinedMicro                 // + "referer" "ua" %D (Apache, µs)
	shapeCombinedSecs                  // + "referer" "ua" $request_time (nginx, s)
	shapeMain                          // + "referer" "ua" "xff"
	shapeTraefik                       // + "referer" "ua" count "router" "url" Nms
	shapeAWS                           // + requestId [extendedRequestId]
)

func (s clfShape) format() detectors.Format {
	switch s {
	case shapeCommon, shapeCommonLatency:
		return detectors.FormatApacheCommon
	case shapeCombinedMicro:
		return detectors.FormatApacheCombined
	case shapeMain:
		return detectors.FormatNginxMain
	case shapeTraefik:
		return detectors.FormatTraefikCLF
	case shapeAWS:
		return detectors.FormatAWSAPIGatewayCLF
	}
	// A bare combined line is byte-for-byte the same from nginx and Apache;
	// auto-detection calls it nginx, the commoner API gateway. Force
	// apache-combined to label it Apache.
	return detectors.FormatNginxCombined
}

// fits says whether a line of this shape may be reported as the forced
// format want. Combined is the same text from nginx and Apache, so either
// label fits; a latency suffix is tolerated on both.
func (s clfShape) fits(want detectors.Format) bool {
	switch want {
	case detectors.FormatNginxCombined, detectors.FormatApacheCombined:
		return s == shapeCombined || s == shapeCombinedMicro || s == shapeCombinedSecs
	case detectors.FormatApacheCommon:
		return s == shapeCommon || s == shapeCommonLatency
	}
	return s.format() == want
}

// parseCLF is the one tolerant tokenizer for the Common Log Format family:
//
//	nginx combined  ip - user [time] "req" status bytes "ref" "ua"
//	nginx main      ... "ref" "ua" "xff"
//	Apache common   ip ident user [time] "req" status bytes [%D]
//	Apache combined ... "ref" "ua" [%D]
//	Traefik CLF     ... "ref" "ua" count "router" "server_url" Nms
//	AWS APIGW REST  sourceIp caller user [time] "METHOD resourcePath proto" status len requestId extendedRequestId
//	AWS APIGW HTTP  sourceIp - - [time] "METHOD routeKey proto" status len requestId
//
// The shape is read off what follows the byte count. want is the forced
// format, or FormatUnknown to auto-detect.
//
// Truncation: the essential fields are the client address, time, request
// and status, all in the first part of the line. A line cut before the
// status is rejected as truncated. A line cut later, inside the referer or
// user agent (the last line of the elastic Apache sample is one), is
// accepted: every field a detector keys on is there, and dropping it would
// hide a real request. Its UserAgent is the cut-off prefix, which is what
// the client sent as far as the log shows; a cut X-Forwarded-For is ignored
// instead, since a partial address must not decide who the client is.
func (p *Parser) parseCLF(line string, want detectors.Format, ev *detectors.Event) error {
	addr, s := nextToken(line)
	if s == "" {
		return truncated("the line ends after the client address")
	}
	peer, ok := detectors.ParseAddr(addr)
	var vhost string
	if !ok {
		// Apache's vhost_combined ("%v:%p %h ...") and some nginx setups
		// lead with the virtual host; the client address comes second.
		next, rest := nextToken(s)
		if a, ok := detectors.ParseAddr(next); ok && rest != "" {
			vhost, peer, s = addr, a, rest
		} else if want == detectors.FormatUnknown && !startsLikeAddr(addr) {
			return &Error{Reason: ReasonUnknown, Detail: unknownDetail}
		} else {
			return badField("the client address " + quoteField(addr) + " is not an IP address")
		}
	}
	// ident (AWS: caller), then the user, which runs to the time bracket:
	// user names with spaces occur, brackets in them do not.
	_, s = nextToken(s)
	br := strings.Index(s, " [")
	if br < 0 {
		if strings.IndexByte(s, '"') < 0 {
			return truncated("the line ends before the [time] field")
		}
		return badField("no [time] field after the client address")
	}
	user := s[:br]
	s = s[br+2:]
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return truncated("the line ends inside the [time] field")
	}
	t, ok := parseCLFTime(s[:end])
	if !ok {
		return badTime("the time " + quoteField(s[:end]) + " is not dd/Mon/yyyy:hh:mm:ss +zzzz")
	}
	s = s[end+1:]
	if s == "" || s == " " {
		return truncated("the line ends before the request")
	}
	if len(s) < 2 || s[0] != ' ' || s[1] != '"' {
		return badField("expected a quoted request after the time")
	}
	req, s, closed := quoted(s[2:])
	if !closed {
		return truncated("the line ends inside the request")
	}
	if s == "" {
		return truncated("the line ends before the status")
	}
	statusTok, s := nextToken(s[1:])
	if statusTok == "" {
		return truncated("the line ends before the status")
	}
	status, ok := parseStatus(statusTok)
	if !ok || (len(statusTok) != 3 && statusTok != "-") {
		if s == "" && allDigits(statusTok) {
			return truncated("the line ends inside the status")
		}
		return badField("the status " + quoteField(statusTok) + " is not a 3-digit code")
	}
	var bytes int64
	if s != "" {
		var bytesTok string
		bytesTok, s = nextToken(s)
		if bytes, ok = parseBytes(bytesTok); !ok {
			return badField("the byte count " + quoteField(bytesTok) + " is not a number")
		}
	}

	shape := shapeCommon
	var ua, xff string
	var latency time.Duration
	switch {
	case s == "":
	case s[0] == '"':
		shape = shapeCombined
		_, s, closed = quoted(s[1:])
		if !closed || len(s) < 2 || s[0] != ' ' || s[1] != '"' {
			break // cut in the referer, or a referer-only custom format
		}
		ua, s, closed = quoted(s[2:])
		if !closed || s == "" {
			break
		}
		shape, xff, latency = combinedTail(s[1:])
	default:
		// Unquoted tokens after the bytes: Apache %D, or AWS request IDs.
		first, rest := nextToken(s)
		switch {
		case rest == "" && allDigits(first):
			shape = shapeCommonLatency
			latency, _ = parseDuration(first, time.Microsecond)
		case first != "" && !allDigits(first) && !strings.Contains(rest, " "):
			shape = shapeAWS
		}
		// Anything else is a custom trailer; like combined's, tolerated.
	}
	if want != detectors.FormatUnknown && !shape.fits(want) {
		return badField("the line looks like " + shape.format().String() + ", not the configured " + want.String())
	}

	ev.Time = t
	setRequest(ev, req)
	if shape == shapeAWS && ev.Path != "" && ev.Path[0] != '/' {
		// HTTP APIs log the route key, "GET /pets/{id}", where the path
		// goes; the request line then reads "GET GET /pets/{id} HTTP/1.1".
		if _, route, ok := strings.Cut(ev.Path, " "); ok {
			ev.Path = route
		}
	}
	if vhost != "" {
		ev.Host = hostOnly(vhost)
	}
	ev.Status = status
	ev.Bytes = bytes
	ev.Latency = latency
	ev.User = dash(user)
	ev.UserAgent = dash(ua)
	ev.XForwardedFor = xff
	// AWS sourceIp, and %h or $remote_addr behind mod_remoteip or nginx
	// realip, are already derived from X-Forwarded-For by the gateway; the
	// trust decision was the gateway's. Only nginx main carries the raw XFF
	// that lets our own trusted-proxy list decide.
	ev.ClientIP = clientIP(p.opts.TrustedProxies, peer, xff)
	ev.Format = shape.format()
	if want != detectors.FormatUnknown {
		ev.Format = want
	}
	ev.Raw = line
	return nil
}

// combinedTail reads what follows `"referer" "ua" ` in a combined line.
// Unknown trailers (custom log_formats append all sorts) are tolerated: the
// line is then plain combined.
func combinedTail(s string) (clfShape, string, time.Duration) {
	if s == "" {
		return shapeCombined, "", 0
	}
	if s[0] == '"' {
		xff, rest, closed := quoted(s[1:])
		if !closed {
			return shapeMain, "", 0
		}
		if rest == "" {
			return shapeMain, dash(xff), 0
		}
		return shapeCombined, "", 0
	}
	first, rest := nextToken(s)
	if rest == "" {
		if allDigits(first) {
			d, _ := parseDuration(first, time.Microsecond)
			return shapeCombinedMicro, "", d
		}
		if d, ok := parseDuration(first, time.Second); ok {
			return shapeCombinedSecs, "", d
		}
		return shapeCombined, "", 0
	}
	// Traefik: count "router" "server_url" Nms
	if allDigits(first) && len(rest) > 0 && rest[0] == '"' {
		if _, r, ok := quoted(rest[1:]); ok && len(r) > 1 && r[1] == '"' {
			if _, r, ok = quoted(r[2:]); ok && len(r) > 1 {
				if ms, ok := strings.CutSuffix(r[1:], "ms"); ok {
					if d, ok := parseDuration(ms, time.Millisecond); ok {
						return shapeTraefik, "", d
					}
				}
			}
		}
	}
	return shapeCombined, "", 0
}

// quoteField bounds a field quoted in an error detail: details become dead-letter
// headers and log lines, and one field of a hostile line can be kilobytes.
func quoteField(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return `"` + s + `"`
}
