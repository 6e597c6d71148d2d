// Package parse turns one access-log line into a detectors.Event. Each
// gateway format has its own parser; a Parser picks one from the line's
// first bytes, so mixed streams need no configuration:
//
//	'{'                         JSON (nginx, Envoy, Kong, AWS API Gateway, Traefik, Caddy)
//	'['                         Envoy default text "[2016-04-15T20:17:00.310Z] ..." or a Kong JSON batch
//	digit, hex letter, ':'      an address: HAProxy "ip:port [date]" or the CLF family
//	                            (nginx combined/main, Apache common/combined, Traefik, AWS API Gateway)
//	"http " "https " "h2 " ...  AWS Application Load Balancer
//
// Options.Format skips the guess. Lines are first checked once (length,
// control bytes, UTF-8) so the format parsers can assume printable text.
// Text fields of an Event are sub-strings of the line: parsing a text line
// allocates nothing.
//
// Client address: parsers take the connection peer the log names and pass
// any X-Forwarded-For the format carries through Options.TrustedProxies.
// Some formats' "client" is already derived from XFF by the gateway (AWS
// API Gateway sourceIp, Envoy's default format, nginx realip, Apache
// mod_remoteip, Traefik ClientHost); there the gateway's trust settings
// decided, and a spoofed header is only as harmless as they are.
package parse

import (
	"errors"
	"net/netip"

	"github.com/gatewatch/gatewatch/detectors"
)

// Reason says why a line was rejected. Reasons are few and stable: they are
// metric labels and dead-letter headers.
type Reason string

const (
	ReasonEmpty       Reason = "empty"
	ReasonTooLong     Reason = "too_long"
	ReasonInvalidUTF8 Reason = "invalid_utf8"
	ReasonBinary      Reason = "binary"
	ReasonTruncated   Reason = "truncated"
	ReasonBadTime     Reason = "bad_time"
	ReasonBadField    Reason = "bad_field"
	ReasonUnknown     Reason = "unknown_format"
)

// Error is returned for a line no parser accepts.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "unparseable line: " + string(e.Reason)
	}
	return "unparseable line: " + string(e.Reason) + ": " + e.Detail
}

// ReasonOf extracts the Reason from an error returned by a parser.
func ReasonOf(err error) Reason {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ReasonUnknown
}

// Options tune parsing. The zero value works.
type Options struct {
	// Format forces one format; FormatUnknown (zero) auto-detects per line.
	Format detectors.Format
	// TrustedProxies lists CIDRs whose X-Forwarded-For entries are trusted:
	// the client IP becomes the right-most XFF hop not in this list. Empty
	// means the connection address is the client, whatever XFF says.
	TrustedProxies []netip.Prefix
	// JSONFields maps canonical field names (time, client_ip, method, path,
	// uri, status, bytes, latency, user, user_agent, host, xff, request) to
	// the keys of a custom nginx JSON log_format.
	JSONFields map[string]string
	// MaxLineBytes rejects longer lines as too_long. Zero means 64 KiB.
	MaxLineBytes int
}
