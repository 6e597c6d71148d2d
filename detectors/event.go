// Package detectors holds gatewatch's event model, the detectors that read
// it, and (in sub-packages) the window state and statistics they stand on.
//
// Event is the one shape every parser produces and every detector reads. It
// is deliberately flat: parsers fill it from a single string conversion of
// the raw line, so text fields are sub-strings of Raw and cost no extra
// allocation on the hot path.
package detectors

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Format names the access-log format a line was parsed as.
type Format uint8

// Formats known to the parsers. The zero value means "not parsed".
const (
	FormatUnknown Format = iota
	FormatNginxCombined
	FormatNginxMain // combined plus a trailing "$http_x_forwarded_for"
	FormatApacheCommon
	FormatApacheCombined
	FormatNginxJSON
	FormatEnvoyText
	FormatEnvoyJSON
	FormatKongJSON
	FormatAWSAPIGatewayCLF
	FormatAWSAPIGatewayJSON
	FormatTraefikCLF
	FormatTraefikJSON
	FormatCaddyJSON
	FormatHAProxy
	FormatAWSALB
	formatCount
)

var formatNames = [...]string{
	FormatUnknown:           "unknown",
	FormatNginxCombined:     "nginx-combined",
	FormatNginxMain:         "nginx-main",
	FormatApacheCommon:      "apache-common",
	FormatApacheCombined:    "apache-combined",
	FormatNginxJSON:         "nginx-json",
	FormatEnvoyText:         "envoy-text",
	FormatEnvoyJSON:         "envoy-json",
	FormatKongJSON:          "kong-json",
	FormatAWSAPIGatewayCLF:  "aws-apigw-clf",
	FormatAWSAPIGatewayJSON: "aws-apigw-json",
	FormatTraefikCLF:        "traefik-clf",
	FormatTraefikJSON:       "traefik-json",
	FormatCaddyJSON:         "caddy-json",
	FormatHAProxy:           "haproxy",
	FormatAWSALB:            "aws-alb",
}

// String returns the format's stable name, as used by --format and metrics.
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// ParseFormat maps a name from String back to its Format.
func ParseFormat(name string) (Format, bool) {
	for i, n := range formatNames {
		if n == name && i != int(FormatUnknown) {
			return Format(i), true
		}
	}
	return FormatUnknown, false
}

// Formats lists every parseable format, in declaration order.
func Formats() []Format {
	out := make([]Format, 0, formatCount-1)
	for f := FormatUnknown + 1; f < formatCount; f++ {
		out = append(out, f)
	}
	return out
}

// Position says where an event came from, so evidence can point back to it
// and offsets can be committed only after the event's effects are durable.
type Position struct {
	Topic     string
	Partition int32
	Offset    int64
	File      string
	Line      int64
}

// String renders the position as topic/partition/offset or file:line.
func (p Position) String() string {
	if p.Topic != "" {
		return p.Topic + "/" + strconv.Itoa(int(p.Partition)) + "/" + strconv.FormatInt(p.Offset, 10)
	}
	if p.File != "" {
		return p.File + ":" + strconv.FormatInt(p.Line, 10)
	}
	return ""
}

// Param is one path parameter taken from a route template, e.g. {id}=123.
type Param struct {
	Name  string
	Value string
}

// Event is one HTTP request as seen by a gateway.
type Event struct {
	Time     time.Time  // request time from the log line, UTC
	ClientIP netip.Addr // connection peer, or the first untrusted XFF hop when trusted proxies are configured
	// XForwardedFor is the raw X-Forwarded-For header ("" when absent);
	// XFFChain parses it on demand so the hot path pays nothing for it.
	XForwardedFor string
	Method        string
	Host          string
	Path          string // raw path, without the query
	Query         string // raw query, without the '?'
	Route         string // route template, e.g. /api/v1/orders/{id}; set by route normalisation
	Params        []Param
	Status        int
	Bytes         int64 // bytes sent to the client
	Latency       time.Duration
	User          string // login name, consumer or principal when the log carries one
	UserAgent     string
	Format        Format
	Source        Position
	Raw           string // the original line, kept for evidence
}

// XFFChain parses the X-Forwarded-For chain, skipping entries that are not
// addresses (some proxies write "unknown" or ports).
func (e *Event) XFFChain() []netip.Addr {
	return ParseXFF(e.XForwardedFor)
}

// ParseXFF parses a comma-separated X-Forwarded-For value. Entries may carry
// a port or IPv6 brackets; anything that is not an address is skipped.
func ParseXFF(v string) []netip.Addr {
	if v == "" || v == "-" {
		return nil
	}
	var out []netip.Addr
	for v != "" {
		var part string
		part, v, _ = strings.Cut(v, ",")
		if a, ok := ParseAddr(strings.TrimSpace(part)); ok {
			out = append(out, a)
		}
	}
	return out
}

// ParseAddr accepts "1.2.3.4", "1.2.3.4:80", "[::1]:80", "[::1]" and
// "::1". Proxies write IPv6 hops of X-Forwarded-For with brackets and no
// port, which netip accepts only with a port.
func ParseAddr(s string) (netip.Addr, bool) {
	if s == "" || s == "-" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if n := len(s); n > 2 && s[0] == '[' && s[n-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : n-1]); err == nil && a.Is6() {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// Reset clears e for reuse while keeping the Params backing array.
func (e *Event) Reset() {
	params := e.Params[:0]
	*e = Event{Params: params}
}
