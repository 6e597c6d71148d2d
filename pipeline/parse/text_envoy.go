package parse

import (
	"net/netip"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// parseEnvoyText reads Envoy's default access-log format:
//
//	[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//	%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
//	%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
//	"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
//
// The default format has no peer address: the client can only come from
// X-Forwarded-For, to which Envoy (with use_remote_address) has already
// appended the peer it saw. So the right-most hop stands in for the peer
// and the hops before it go through the trusted-proxy walk: with no
// trusted proxies the client is that right-most hop, never a left-most
// entry the client could have written. An XFF of "-" leaves ClientIP
// invalid; such events still count towards per-route statistics.
//
// Latency is %DURATION% in ms. Essential fields run up to the XFF; a line
// cut in the user agent or later is accepted.
func (p *Parser) parseEnvoyText(line string, ev *detectors.Event) error {
	if line[0] != '[' {
		return badField("expected [start time] at the start of the line")
	}
	end := strings.IndexByte(line, ']')
	if end < 0 {
		return truncated("the line ends inside the [start time] field")
	}
	t, ok := parseRFC3339UTC(line[1:end])
	if !ok {
		return badTime("the start time " + quoteField(line[1:end]) + " is not RFC 3339")
	}
	s := line[end+1:]
	if len(s) < 2 || s[0] != ' ' || s[1] != '"' {
		if len(s) < 2 {
			return truncated("the line ends before the request")
		}
		return badField("expected a quoted request after the start time")
	}
	req, s, closed := quoted(s[2:])
	if !closed || s == "" {
		return truncated("the line ends before the response code")
	}
	var codeTok, bytesTok, durTok string
	codeTok, s = nextToken(s[1:])
	_, s = nextToken(s) // response flags
	_, s = nextToken(s) // bytes received
	bytesTok, s = nextToken(s)
	durTok, s = nextToken(s)
	_, s = nextToken(s) // upstream service time
	if s == "" {
		return truncated("the line ends before the X-Forwarded-For field")
	}
	status, ok := parseStatus(codeTok)
	if !ok {
		return badField("the response code " + quoteField(codeTok) + " is not a number")
	}
	bytes, ok := parseBytes(bytesTok)
	if !ok {
		return badField("the bytes sent " + quoteField(bytesTok) + " is not a number")
	}
	var latency time.Duration
	if durTok != "-" {
		if latency, ok = parseDuration(durTok, time.Millisecond); !ok {
			return badField("the duration " + quoteField(durTok) + " is not a number of ms")
		}
	}
	if s[0] != '"' {
		return badField("expected a quoted X-Forwarded-For")
	}
	xff, s, closed := quoted(s[1:])
	if !closed {
		return truncated("the line ends inside the X-Forwarded-For field")
	}
	xff = dash(xff)
	var ua, host string
	if len(s) > 1 && s[1] == '"' {
		ua, s, closed = quoted(s[2:])
		if closed && len(s) > 1 && s[1] == '"' {
			_, s, closed = quoted(s[2:]) // request id
			if closed && len(s) > 1 && s[1] == '"' {
				if h, _, ok := quoted(s[2:]); ok {
					host = dash(h)
				}
			}
		}
	}
	ev.Time = t
	setRequest(ev, req)
	if ev.Method == "-" {
		ev.Method = ""
	}
	ev.Status = status
	ev.Bytes = bytes
	ev.Latency = latency
	ev.UserAgent = dash(ua)
	ev.Host = host
	ev.XForwardedFor = xff
	ev.ClientIP = envoyClient(p.opts.TrustedProxies, xff)
	ev.Format = detectors.FormatEnvoyText
	ev.Raw = line
	return nil
}

// envoyClient treats the right-most XFF hop as the peer; see parseEnvoyText.
func envoyClient(trusted []netip.Prefix, xff string) netip.Addr {
	if xff == "" {
		return netip.Addr{}
	}
	rest, last := "", xff
	if i := strings.LastIndexByte(xff, ','); i >= 0 {
		rest, last = xff[:i], xff[i+1:]
	}
	last = strings.TrimSpace(last)
	// A hop may be a bracketed IPv6 address without a port ("[fd00::1]",
	// as in the crowdsec envoy-logs fixture); netip accepts brackets only
	// with a port, so they are dropped here.
	if len(last) > 2 && last[0] == '[' && last[len(last)-1] == ']' {
		last = last[1 : len(last)-1]
	}
	peer, ok := detectors.ParseAddr(last)
	if !ok {
		return netip.Addr{}
	}
	return clientIP(trusted, peer, rest)
}
