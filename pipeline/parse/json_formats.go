package parse

import (
	"net/netip"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// Per-gateway field mapping. Each fill function reads the values collected
// in jsonState.keys (or, for nested objects, looks them up) and writes ev.
// A field that is absent or "-" is left at its zero value; a field that is
// present but unreadable rejects the line, naming the key, so the operator
// can see which part of the log_format is wrong.

func jsonBadTime(key string) error {
	return &Error{Reason: ReasonBadTime, Detail: "cannot read the time in " + key}
}

func jsonMissingTime(keys string) error {
	return &Error{Reason: ReasonBadTime, Detail: "no request time; looked for " + keys}
}

func jsonBadField(key, want string) error {
	return &Error{Reason: ReasonBadField, Detail: key + " is not " + want}
}

// jsonNoRequest rejects a line that has none of the keys naming the
// request: a log_format or field mapping problem the operator must fix.
// Keys that are present but hold garbage or "-" (scanners send junk
// request lines, nginx logs "" for a bad request) are not an error: the
// event is kept with an empty method and path, as the text parsers do,
// because its time, address and status are what the detectors count.
func jsonNoRequest(keys string) error {
	return &Error{Reason: ReasonBadField, Detail: "no request method or path; looked for " + keys}
}

// setStatus reads an HTTP status; 0 is kept (Envoy and Caddy log 0 when the
// client went away before a response).
func (s *jsonState) setStatus(ev *detectors.Event, v jv, key string) error {
	n, present, ok := s.intValue(v)
	if !ok || n > 999 {
		return jsonBadField(key, "an HTTP status")
	}
	if present {
		ev.Status = int(n)
	}
	return nil
}

func (s *jsonState) setBytes(ev *detectors.Event, v jv, key string) error {
	n, _, ok := s.intValue(v)
	if !ok {
		return jsonBadField(key, "a byte count")
	}
	ev.Bytes = n
	return nil
}

func (s *jsonState) setLatency(ev *detectors.Event, v jv, unit time.Duration, key string) error {
	d, _, ok := s.durationValue(v, unit)
	if !ok {
		return jsonBadField(key, "a duration")
	}
	ev.Latency = d
	return nil
}

// addr parses an address field ("1.2.3.4", "1.2.3.4:5678", "[::1]:80",
// "::1"). Unparseable values (a unix socket path, "unknown") leave the
// address unset rather than rejecting the line: the request still
// happened. It picks the parser from the shape first because netip
// allocates an error for every failed attempt, and "ip:port" is the usual
// shape here.
func (s *jsonState) addr(v jv) netip.Addr {
	return parseHostAddr(s.text(v))
}

func parseHostAddr(t string) netip.Addr {
	if t == "" {
		return netip.Addr{}
	}
	if t[0] == '[' || strings.Count(t, ":") == 1 {
		if ap, err := netip.ParseAddrPort(t); err == nil {
			return ap.Addr().Unmap()
		}
	}
	a, _ := detectors.ParseAddr(t)
	return a
}

// setRequestLine fills method, path and query from a "GET /a?b HTTP/1.1"
// request line.
func setRequestLine(ev *detectors.Event, r string) bool {
	m, p, q, ok := splitRequest(r)
	if !ok {
		return false
	}
	ev.Method, ev.Path, ev.Query = m, p, q
	return true
}

// fillNginxJSON maps nginx's variable names, overridden by
// Options.JSONFields for custom log_formats.
func (p *Parser) fillNginxJSON(ev *detectors.Event) error {
	s := &p.json
	k := &s.keys
	// get prefers the key the user mapped for f, falling back to nginx's
	// variable name; it also returns the key, for error messages.
	get := func(f jsonField, def jv, defKey string) (jv, string) {
		if key := s.fields[f]; key != "" {
			if v := s.mapped[f]; v.ok() {
				return v, key
			}
		}
		return def, defKey
	}

	// Time: a mapped key (any shape), else $time_iso8601, $time_local, $msec.
	switch v, key := get(jfTime, jv{}, ""); {
	case v.ok():
		t, ok := parseAnyTime(s.text(v))
		if !ok {
			if txt, isNum := s.numText(v); isNum && txt != "" {
				t, ok = parseEpoch(txt, 0)
			}
		}
		if !ok {
			return jsonBadTime(key)
		}
		ev.Time = t
	case k.timeISO.ok():
		t, ok := parseAnyTime(s.text(k.timeISO))
		if !ok {
			return jsonBadTime("time_iso8601")
		}
		ev.Time = t
	case k.timeLocal.ok():
		t, ok := parseAnyTime(s.text(k.timeLocal))
		if !ok {
			return jsonBadTime("time_local")
		}
		ev.Time = t
	case k.msec.ok():
		txt, _ := s.numText(k.msec)
		t, ok := parseEpoch(txt, int64(time.Second))
		if !ok {
			return jsonBadTime("msec")
		}
		ev.Time = t
	default:
		return jsonMissingTime("time_iso8601, time_local, msec or JSONFields[\"time\"]")
	}

	// Request: method + uri/path (+ query), else the request line.
	method, _ := get(jfMethod, k.requestMethod, "request_method")
	ev.Method = s.nginxText(method)
	hasRequest := method.ok()
	if v, _ := get(jfURI, k.requestURI, "request_uri"); v.ok() {
		ev.Path, ev.Query = splitURI(s.nginxText(v))
		hasRequest = true
	} else if v, _ := get(jfPath, k.uri, "uri"); v.ok() {
		ev.Path, ev.Query = splitURI(s.nginxText(v))
		hasRequest = true
	}
	if ev.Query == "" {
		q, _ := get(jfQuery, k.args, "args")
		if !q.ok() {
			q = k.queryString
		}
		ev.Query = s.nginxText(q)
	}
	if ev.Method == "" || ev.Path == "" {
		if r, _ := get(jfRequest, k.request, "request"); r.ok() {
			hasRequest = true
			m, path, q := ev.Method, ev.Path, ev.Query
			// A garbage request line leaves method and path empty.
			setRequestLine(ev, s.nginxText(r))
			// Explicit fields win over what the request line says.
			if m != "" {
				ev.Method = m
			}
			if path != "" {
				ev.Path, ev.Query = path, q
			}
		}
	}
	if !hasRequest {
		return jsonNoRequest("request, request_method, request_uri, uri or JSONFields")
	}

	statusV, statusKey := get(jfStatus, k.status, "status")
	if err := s.setStatus(ev, statusV, statusKey); err != nil {
		return err
	}
	bytesV, bytesKey := get(jfBytes, k.bodyBytesSent, "body_bytes_sent")
	if !bytesV.ok() {
		bytesV, bytesKey = k.bytesSent, "bytes_sent"
	}
	if err := s.setBytes(ev, bytesV, bytesKey); err != nil {
		return err
	}
	latV, latKey := get(jfLatency, k.requestTime, "request_time")
	if !latV.ok() {
		latV, latKey = k.upstreamRespTime, "upstream_response_time"
	}
	if err := s.setLatency(ev, latV, time.Second, latKey); err != nil {
		return err
	}
	if v, _ := get(jfUser, k.remoteUser, "remote_user"); v.ok() {
		ev.User = s.nginxText(v)
	}
	if v, _ := get(jfUserAgent, k.httpUserAgent, "http_user_agent"); v.ok() {
		ev.UserAgent = s.nginxText(v)
	}
	hostV, _ := get(jfHost, k.host, "host")
	if !hostV.ok() {
		hostV = k.httpHost
	}
	ev.Host = s.nginxText(hostV)
	xffV, _ := get(jfXFF, k.httpXFF, "http_x_forwarded_for")
	ev.XForwardedFor = s.nginxText(xffV)
	peerV, _ := get(jfClientIP, k.remoteAddr, "remote_addr")
	ev.ClientIP = clientIP(p.opts.TrustedProxies, s.addr(peerV), ev.XForwardedFor)
	return nil
}

// nginxText is text plus nginx's own escaping: without escape=json, nginx
// writes '"', '\' and bytes outside 32..126 as \xXX, which is not JSON
// but survives a lenient JSON parse verbatim. Decode it here, only for
// nginx and only when the line holds no escaped backslash: such a line
// never contains "\\" (nginx writes '\' as \x5C), while with escape=json
// a client's literal "\x41" arrives as "\\x41" and must stay four
// characters.
func (s *jsonState) nginxText(v jv) string {
	t := s.text(v)
	if strings.Contains(t, `\x`) && !strings.Contains(s.line, `\\`) {
		return decodeNginxEscapes(t)
	}
	return t
}

func decodeNginxEscapes(t string) string {
	var b strings.Builder
	b.Grow(len(t))
	for i := 0; i < len(t); i++ {
		if t[i] == '\\' && i+3 < len(t) && t[i+1] == 'x' {
			hi, ok1 := unhex(t[i+2])
			lo, ok2 := unhex(t[i+3])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 3
				continue
			}
		}
		b.WriteByte(t[i])
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// fillEnvoyJSON maps Envoy json_format/typed_json_format output as written
// by Envoy Gateway (hyphenated keys) and Istio (underscored keys).
func (p *Parser) fillEnvoyJSON(ev *detectors.Event) error {
	s := &p.json
	k := &s.keys
	if !k.startTime.ok() {
		return jsonMissingTime("start_time")
	}
	t, ok := parseRFC3339UTC(s.text(k.startTime))
	if !ok {
		return jsonBadTime("start_time")
	}
	ev.Time = t
	ev.Method = s.text(k.method)
	pathV := k.originPath
	if !pathV.ok() || s.text(pathV) == "" {
		pathV = k.path
	}
	ev.Path, ev.Query = splitURI(s.text(pathV))
	if !k.method.ok() && !k.originPath.ok() && !k.path.ok() {
		return jsonNoRequest("method, x-envoy-origin-path or path")
	}
	if err := s.setStatus(ev, k.responseCode, "response_code"); err != nil {
		return err
	}
	if err := s.setBytes(ev, k.bytesSent, "bytes_sent"); err != nil {
		return err
	}
	if err := s.setLatency(ev, k.duration, time.Millisecond, "duration"); err != nil {
		return err
	}
	ev.UserAgent = s.text(k.userAgent)
	ev.Host = s.text(k.authority)
	ev.XForwardedFor = s.text(k.xff)
	// DOWNSTREAM_REMOTE_ADDRESS is the peer unless Envoy itself resolved
	// the client from XFF (use_remote_address/xff_num_trusted_hops), which
	// is the operator's own trust decision; the direct address is the
	// fallback.
	peer := s.addr(k.downstreamRemote)
	if !peer.IsValid() {
		peer = s.addr(k.downstreamDirect)
	}
	ev.ClientIP = clientIP(p.opts.TrustedProxies, peer, ev.XForwardedFor)
	return nil
}

// fillKongJSON maps Kong's log serializer (http-log, file-log, ...).
func (p *Parser) fillKongJSON(ev *detectors.Event) error {
	s := &p.json
	k := &s.keys
	txt, _ := s.numText(k.startedAt)
	t, ok := parseEpoch(txt, int64(time.Millisecond))
	if !ok {
		return jsonBadTime("started_at")
	}
	ev.Time = t
	// Nested values were collected while the line was scanned.
	n := &s.nested
	if !n.request[nrMethod].ok() && !n.request[nrURI].ok() {
		return jsonNoRequest("request.method or request.uri")
	}
	ev.Method = s.text(n.request[nrMethod])
	ev.Path, ev.Query = splitURI(s.text(n.request[nrURI]))
	if k.response.kind == '{' {
		if err := s.setStatus(ev, n.response[0], "response.status"); err != nil {
			return err
		}
		if err := s.setBytes(ev, n.response[1], "response.size"); err != nil {
			return err
		}
	}
	if k.latencies.kind == '{' {
		if err := s.setLatency(ev, n.latency, time.Millisecond, "latencies.request"); err != nil {
			return err
		}
	}
	ev.UserAgent = s.stringOrFirst(n.headers[nhUserAgent], false)
	ev.Host = s.stringOrFirst(n.headers[nhHost], false)
	ev.XForwardedFor = s.stringOrFirst(n.headers[nhXFF], true)
	// The consumer is the account; authenticated_entity is the credential,
	// whose consumer_id is the fallback when the consumer is not logged.
	for _, v := range n.consumer {
		if u := s.text(v); u != "" {
			ev.User = u
			break
		}
	}
	if ev.User == "" {
		ev.User = s.text(n.consumerID)
	}
	// client_ip is nginx's $remote_addr after Kong's own trusted_ips.
	ev.ClientIP = clientIP(p.opts.TrustedProxies, s.addr(k.clientIP), ev.XForwardedFor)
	return nil
}

// fillAWSJSON maps API Gateway's $context access-log variables as the
// console presets (and common additions) name them. Every value is a
// string and "-" means absent.
func (p *Parser) fillAWSJSON(ev *detectors.Event) error {
	s := &p.json
	k := &s.keys
	// requestTimeEpoch (ms) is finer than requestTime (CLF, seconds).
	if txt, _ := s.numText(k.requestTimeEpoch); txt != "" {
		t, ok := parseEpoch(txt, int64(time.Millisecond))
		if !ok {
			return jsonBadTime("requestTimeEpoch")
		}
		ev.Time = t
	} else if txt := s.text(k.requestTimeCLF); txt != "" {
		t, ok := parseAnyTime(txt)
		if !ok {
			return jsonBadTime("requestTime")
		}
		ev.Time = t
	} else {
		return jsonMissingTime("requestTime or requestTimeEpoch")
	}

	ev.Method = s.text(k.httpMethod)
	// routeKey is "GET /pets/{id}" (HTTP APIs) or "$default"; resourcePath is
	// the REST resource template. Both are routes; "path" is the real path.
	route := s.text(k.resourcePath)
	if rk := s.text(k.routeKey); rk != "" {
		if m, r, ok := strings.Cut(rk, " "); ok {
			if ev.Method == "" {
				ev.Method = m
			}
			if route == "" {
				route = r
			}
		}
	}
	if path := s.text(k.path); path != "" {
		ev.Path, ev.Query = splitURI(path)
	} else {
		ev.Path = route
	}
	ev.Route = route
	if !k.httpMethod.ok() && !k.routeKey.ok() && !k.resourcePath.ok() && !k.path.ok() {
		return jsonNoRequest("httpMethod, routeKey, resourcePath or path")
	}
	if err := s.setStatus(ev, k.status, "status"); err != nil {
		return err
	}
	if err := s.setBytes(ev, k.responseLength, "responseLength"); err != nil {
		return err
	}
	latV, latKey := k.responseLatency, "responseLatency"
	if !latV.ok() {
		latV, latKey = k.integrationLatency, "integrationLatency"
	}
	if err := s.setLatency(ev, latV, time.Millisecond, latKey); err != nil {
		return err
	}
	// The most specific principal first: a Lambda authorizer's principal,
	// a JWT/Cognito subject, an IAM user or caller, then the API key.
	for _, v := range [...]jv{k.principalID, k.sub, k.user, k.caller, k.apiKeyID} {
		if u := s.text(v); u != "" {
			ev.User = u
			break
		}
	}
	ev.UserAgent = s.text(k.awsUserAgent)
	ev.Host = s.text(k.domainName)
	// sourceIp is already API Gateway's own choice of the last untrusted hop.
	ipV := k.ip
	if !ipV.ok() {
		ipV = k.sourceIP
	}
	ev.ClientIP = s.addr(ipV)
	return nil
}

// fillTraefikJSON maps Traefik's JSON access log.
func (p *Parser) fillTraefikJSON(ev *detectors.Event) error {
	s := &p.json
	k := &s.keys
	switch {
	case k.startUTC.ok():
		t, ok := parseRFC3339UTC(s.text(k.startUTC))
		if !ok {
			return jsonBadTime("StartUTC")
		}
		ev.Time = t
	case k.startLocal.ok():
		t, ok := parseRFC3339UTC(s.text(k.startLocal))
		if !ok {
			return jsonBadTime("StartLocal")
		}
		ev.Time = t
	default:
		return jsonMissingTime("StartUTC or StartLocal")
	}
	ev.Method = s.text(k.reqMethod)
	ev.Path, ev.Query = splitURI(s.text(k.reqPath))
	if !k.reqMethod.ok() && !k.reqPath.ok() {
		return jsonNoRequest("RequestMethod or RequestPath")
	}
	statusV, statusKey := k.downStatus, "DownstreamStatus"
	if !statusV.ok() {
		statusV, statusKey = k.originStatus, "OriginStatus"
	}
	if err := s.setStatus(ev, statusV, statusKey); err != nil {
		return err
	}
	if err := s.setBytes(ev, k.downSize, "DownstreamContentSize"); err != nil {
		return err
	}
	if err := s.setLatency(ev, k.tDuration, time.Nanosecond, "Duration"); err != nil {
		return err
	}
	ev.Host = s.text(k.reqHost)
	ev.User = s.text(k.clientUsername)
	ev.UserAgent = s.text(k.reqUA)
	// ClientAddr is the TCP peer. ClientHost is its host part, unless the
	// request carried X-Forwarded-For: then Traefik overwrites it with the
	// raw header, which the client controls. So ClientHost is treated as an
	// XFF chain, never as the client.
	addr := s.text(k.clientAddr)
	peer := parseHostAddr(addr)
	ev.XForwardedFor = s.text(k.reqXFF)
	if ev.XForwardedFor == "" {
		// ClientHost is the host part of ClientAddr unless XFF replaced it.
		if h := s.text(k.clientHost); h != "" && !isHostOf(h, addr) {
			if a := parseHostAddr(h); !a.IsValid() || a != peer {
				ev.XForwardedFor = h
			}
		}
	}
	ev.ClientIP = clientIP(p.opts.TrustedProxies, peer, ev.XForwardedFor)
	return nil
}

// isHostOf reports whether host is the host part of addr ("ip:port" or
// "[ip]:port"), by text, which is cheaper than parsing both.
func isHostOf(host, addr string) bool {
	if len(addr) > len(host)+2 && addr[0] == '[' && addr[1:len(host)+1] == host && addr[len(host)+1] == ']' {
		return true
	}
	return len(addr) > len(host) && addr[:len(host)] == host && addr[len(host)] == ':'
}

// fillCaddyJSON maps Caddy v2's access log (zap JSON).
func (p *Parser) fillCaddyJSON(ev *detectors.Event) error {
	s := &p.json
	k := &s.keys
	if !k.ts.ok() {
		return jsonMissingTime("ts")
	}
	// ts is unix seconds by default; time_format can make it another epoch
	// unit or a formatted string.
	if txt, _ := s.numText(k.ts); k.ts.kind == '0' {
		t, ok := parseEpoch(txt, 0)
		if !ok {
			return jsonBadTime("ts")
		}
		ev.Time = t
	} else {
		t, ok := parseAnyTime(s.text(k.ts))
		if !ok {
			return jsonBadTime("ts")
		}
		ev.Time = t
	}
	r := &s.nested.request // collected while the line was scanned
	if !r[nrMethod].ok() && !r[nrURI].ok() {
		return jsonNoRequest("request.method or request.uri")
	}
	ev.Method = s.text(r[nrMethod])
	ev.Path, ev.Query = splitURI(s.text(r[nrURI]))
	ev.Host = s.text(r[nrHost])
	peer, client := s.addr(r[nrRemoteIP]), s.addr(r[nrClientIP])
	ev.UserAgent = s.stringOrFirst(s.nested.headers[nhCaddyUserAgent], false)
	ev.XForwardedFor = s.stringOrFirst(s.nested.headers[nhCaddyXFF], true)
	if err := s.setStatus(ev, k.status, "status"); err != nil {
		return err
	}
	if err := s.setBytes(ev, k.size, "size"); err != nil {
		return err
	}
	if err := s.setCaddyDuration(ev); err != nil {
		return err
	}
	ev.User = s.text(k.userID)
	// client_ip is Caddy's own trusted_proxies verdict; walking XFF again
	// from it changes nothing unless our trusted list covers that address.
	if !client.IsValid() {
		client = peer
	}
	ev.ClientIP = clientIP(p.opts.TrustedProxies, client, ev.XForwardedFor)
	return nil
}

// setCaddyDuration reads duration in Caddy's duration_format: seconds as a
// float (default), integer nanoseconds ("nano"), or a Go duration string
// ("string"). zap writes a float with no fraction for whole values, so a
// small integer is still seconds; integers from 100000 up are nanoseconds
// (no request takes 27 hours).
func (s *jsonState) setCaddyDuration(ev *detectors.Event) error {
	v := s.keys.duration
	switch v.kind {
	case 0:
		return nil
	case '"':
		txt := s.text(v)
		if txt == "" {
			return nil
		}
		if d, err := time.ParseDuration(txt); err == nil && d >= 0 {
			ev.Latency = d
			return nil
		}
		return s.setLatency(ev, v, time.Second, "duration")
	case '0':
		txt, _ := s.numText(v)
		unit := time.Second
		if !strings.ContainsAny(txt, ".eE") && len(txt) >= 6 {
			unit = time.Nanosecond
		}
		return s.setLatency(ev, v, unit, "duration")
	}
	return jsonBadField("duration", "a duration")
}
