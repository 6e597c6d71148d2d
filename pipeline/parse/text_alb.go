package parse

import (
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// isALBType says whether the line opens with an ALB request type.
func isALBType(line string) bool {
	typ, _, ok := strings.Cut(line, " ")
	if !ok {
		return false
	}
	switch typ {
	case "http", "https", "h2", "grpcs", "ws", "wss":
		return true
	}
	return false
}

// parseALB reads an AWS Application Load Balancer access-log entry:
//
//	type time elb client:port target:port request_processing_time target_processing_time
//	response_processing_time elb_status_code target_status_code received_bytes sent_bytes
//	"request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" ...
//
// Only the leading fields are read: AWS appends new ones at the end. The
// status is the ALB's (what the client got), latency the sum of the three
// processing times in seconds (-1 = phase not reached, skipped), Host the
// authority of the absolute request URI without its port. The client is
// the TCP peer; ALB logs carry no X-Forwarded-For. As with HAProxy, a line
// cut after the request's method and the start of its path is accepted.
func (p *Parser) parseALB(line string, ev *detectors.Event) error {
	var f [12]string
	s := line
	for i := range f {
		if s == "" {
			return truncated("the line ends before the request")
		}
		f[i], s = nextToken(s)
	}
	if !isALBType(line) {
		return badField("the request type " + quoteField(f[0]) + " is not http, https, h2, grpcs, ws or wss")
	}
	t, ok := parseRFC3339UTC(f[1])
	if !ok {
		return badTime("the time " + quoteField(f[1]) + " is not RFC 3339")
	}
	peer, ok := parseAddrPort(f[3])
	if !ok {
		return badField("the client " + quoteField(f[3]) + " is not ip:port")
	}
	var latency time.Duration
	for _, tok := range f[5:8] {
		if tok == "-1" {
			continue
		}
		d, ok := parseDuration(tok, time.Second)
		if !ok {
			return badField("the processing time " + quoteField(tok) + " is not a number of seconds")
		}
		latency += d
	}
	status, ok := parseStatus(f[8])
	if !ok {
		return badField("the ELB status " + quoteField(f[8]) + " is not a number")
	}
	bytes, ok := parseBytes(f[11])
	if !ok {
		return badField("the sent bytes " + quoteField(f[11]) + " is not a number")
	}
	if s == "" || s[0] != '"' {
		if s == "" {
			return truncated("the line ends before the request")
		}
		return badField("expected a quoted request after the byte counts")
	}
	req, s, closed := quoted(s[1:])
	if !closed && !strings.Contains(req, " ") {
		return truncated("the line ends inside the request")
	}
	var ua string
	if closed && len(s) > 1 && s[1] == '"' {
		ua, _, _ = quoted(s[2:])
	}
	ev.Time = t
	// ALB writes "- - -" for a request it could not parse.
	if req != "- - -" {
		setRequest(ev, req)
		ev.Host = uriHost(req)
	}
	ev.Status = status
	ev.Bytes = bytes
	ev.Latency = latency
	ev.UserAgent = dash(ua)
	ev.ClientIP = clientIP(p.opts.TrustedProxies, peer, "")
	ev.Format = detectors.FormatAWSALB
	ev.Raw = line
	return nil
}

// uriHost returns the host of the absolute URI in a request line, without
// its port: "GET https://api.example.com:443/x HTTP/1.1" -> api.example.com.
func uriHost(req string) string {
	_, u, _ := strings.Cut(req, " ")
	i := strings.Index(u, "://")
	if i < 0 {
		return ""
	}
	u = u[i+3:]
	if j := strings.IndexAny(u, "/ ?"); j >= 0 {
		u = u[:j]
	}
	if strings.HasPrefix(u, "[") {
		if j := strings.IndexByte(u, ']'); j >= 0 {
			return u[1:j]
		}
		return ""
	}
	if j := strings.LastIndexByte(u, ':'); j >= 0 {
		u = u[:j]
	}
	return u
}
