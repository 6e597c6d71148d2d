package parse

import (
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// parseHAProxy reads HAProxy's default "option httplog" line:
//
//	ip:port [14/Jan/2015:12:48:57.127] frontend backend/server TR/Tw/Tc/Tr/Ta status bytes CC CS tsc ac/fc/bc/sc/rc sq/bq [{hdrs}] [{hdrs}] "request"
//
// A syslog "haproxy[pid]:" prefix has been stripped by the envelope layer.
// HAProxy writes local time without a zone; it is read as UTC, so run
// HAProxy with TZ=UTC or expect windows offset by the zone. Latency is Ta,
// the total time in ms (-1 when the request never completed, then 0). The
// client is %ci, the TCP peer: HAProxy's default format has no XFF.
//
// The request comes last, after every other essential field, so a request
// cut short (HAProxy truncates lines at its log length limit) is accepted
// once its method and the start of its path are there. "<BADREQ>" means
// HAProxy could not read a request at all and is rejected as bad_field, as
// are the TCP and TLS notices ("frontend/backend: SSL handshake failure")
// that share the log.
func (p *Parser) parseHAProxy(line string, ev *detectors.Event) error {
	addr, s := nextToken(line)
	if s == "" {
		return truncated("the line ends after the client address")
	}
	peer, ok := parseAddrPort(addr)
	if !ok {
		return badField("the client address " + quoteField(addr) + " is not ip:port")
	}
	if s[0] != '[' {
		return badField("expected [date] after the client address")
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return truncated("the line ends inside the [date] field")
	}
	t, ok := parseCLFTime(s[1:end])
	if !ok {
		return badTime("the date " + quoteField(s[1:end]) + " is not dd/Mon/yyyy:hh:mm:ss.sss")
	}
	s = strings.TrimPrefix(s[end+1:], " ")
	var frontend, backend, timers, statusTok, bytesTok string
	frontend, s = nextToken(s)
	backend, s = nextToken(s)
	timers, s = nextToken(s)
	statusTok, s = nextToken(s)
	if frontend == "" || backend == "" {
		return truncated("the line ends before the backend")
	}
	if !strings.Contains(backend, "/") || strings.HasSuffix(backend, ":") {
		return badField("not an HTTP log line: " + quoteField(backend+" "+timers))
	}
	if statusTok == "" {
		return truncated("the line ends before the status")
	}
	bytesTok, s = nextToken(s)
	// Ta is the last timer; tcplog-style "Tw/Tc/Tt" also ends with the total.
	slash := strings.LastIndexByte(timers, '/')
	if slash < 0 {
		return badField("the timers " + quoteField(timers) + " are not TR/Tw/Tc/Tr/Ta")
	}
	var latency time.Duration
	if ta := timers[slash+1:]; ta != "-1" {
		if latency, ok = parseDuration(ta, time.Millisecond); !ok {
			return badField("the total time " + quoteField(ta) + " is not a number of ms")
		}
	}
	status, ok := parseStatus(statusTok)
	if !ok {
		return badField("the status " + quoteField(statusTok) + " is not a number")
	}
	bytes, ok := parseBytes(bytesTok)
	if !ok && bytesTok != "" {
		return badField("the byte count " + quoteField(bytesTok) + " is not a number")
	}
	// Captured headers are #XX-encoded by HAProxy, quotes included, so the
	// first quote after the counters opens the request.
	q := strings.IndexByte(s, '"')
	if q < 0 {
		return truncated("the line ends before the request")
	}
	req, _, closed := quoted(s[q+1:])
	if req == "<BADREQ>" {
		return badField("HAProxy could not read the request (<BADREQ>)")
	}
	if !closed && !strings.Contains(req, " ") {
		return truncated("the line ends inside the request")
	}
	ev.Time = t
	setRequest(ev, req)
	ev.Status = status
	ev.Bytes = bytes
	ev.Latency = latency
	ev.ClientIP = clientIP(p.opts.TrustedProxies, peer, "")
	ev.Format = detectors.FormatHAProxy
	ev.Raw = line
	return nil
}
