package parse

import (
	"strings"
	"time"
	"unsafe"
)

// jsonKeys holds the top-level values of one JSON line that any supported
// gateway uses, filled in a single pass over the object so that detecting
// the format and reading its fields costs one walk, not a lookup per key.
// Keys shared by several gateways ("status", "duration", "request", ...)
// have one slot; each format reads it its own way.
type jsonKeys struct {
	// Shared or nginx.
	status, request, host, user, path, method, duration, bytesSent jv

	// nginx variable names.
	timeLocal, timeISO, msec, remoteAddr, remoteUser, requestMethod, requestURI, uri,
	args, queryString, bodyBytesSent, requestTime, upstreamRespTime, httpUserAgent,
	httpXFF, httpHost jv

	// Envoy, Envoy Gateway and Istio.
	startTime, originPath, responseCode, xff, userAgent, authority,
	downstreamRemote, downstreamDirect jv

	// Kong.
	startedAt, latencies, clientIP, response, consumer, authEntity jv

	// AWS API Gateway.
	requestID, ip, sourceIP, caller, requestTimeCLF, requestTimeEpoch, httpMethod,
	resourcePath, routeKey, responseLength, responseLatency, integrationLatency,
	principalID, sub, apiKeyID, awsUserAgent, domainName jv

	// Traefik.
	startUTC, startLocal, tDuration, clientAddr, clientHost, clientUsername, reqMethod,
	reqPath, reqHost, downStatus, originStatus, downSize, reqUA, reqXFF jv

	// Caddy.
	logger, ts, size, userID jv
}

// slot returns where the value of a top-level key goes (nil for keys no
// format reads) and, for keys whose object holds nested values a format
// reads, the group scanCollect gathers them into. One switch per key: it
// compiles to a search by length, then by value, and does not allocate.
func (k *jsonKeys) slot(key string) (*jv, nestGroup) {
	switch key {
	case "status":
		return &k.status, ngNone
	case "request":
		return &k.request, ngRequest
	case "host":
		return &k.host, ngNone
	case "user":
		return &k.user, ngNone
	case "path":
		return &k.path, ngNone
	case "method":
		return &k.method, ngNone
	case "duration":
		return &k.duration, ngNone
	case "bytes_sent":
		return &k.bytesSent, ngNone

	case "time_local":
		return &k.timeLocal, ngNone
	case "time_iso8601":
		return &k.timeISO, ngNone
	case "msec":
		return &k.msec, ngNone
	case "remote_addr":
		return &k.remoteAddr, ngNone
	case "remote_user":
		return &k.remoteUser, ngNone
	case "request_method":
		return &k.requestMethod, ngNone
	case "request_uri":
		return &k.requestURI, ngNone
	case "uri":
		return &k.uri, ngNone
	case "args":
		return &k.args, ngNone
	case "query_string":
		return &k.queryString, ngNone
	case "body_bytes_sent":
		return &k.bodyBytesSent, ngNone
	case "request_time":
		return &k.requestTime, ngNone
	case "upstream_response_time":
		return &k.upstreamRespTime, ngNone
	case "http_user_agent":
		return &k.httpUserAgent, ngNone
	case "http_x_forwarded_for":
		return &k.httpXFF, ngNone
	case "http_host":
		return &k.httpHost, ngNone

	case "start_time":
		return &k.startTime, ngNone
	case "x-envoy-origin-path", "x-envoy-original-path":
		return &k.originPath, ngNone
	case "response_code":
		return &k.responseCode, ngNone
	case "x-forwarded-for", "x_forwarded_for":
		return &k.xff, ngNone
	case "user-agent", "user_agent":
		return &k.userAgent, ngNone
	case ":authority", "authority":
		return &k.authority, ngNone
	case "downstream_remote_address":
		return &k.downstreamRemote, ngNone
	case "downstream_direct_remote_address":
		return &k.downstreamDirect, ngNone

	case "started_at":
		return &k.startedAt, ngNone
	case "latencies":
		return &k.latencies, ngLatencies
	case "client_ip":
		return &k.clientIP, ngNone
	case "response":
		return &k.response, ngResponse
	case "consumer":
		return &k.consumer, ngConsumer
	case "authenticated_entity":
		return &k.authEntity, ngAuthEntity

	case "requestId", "extendedRequestId":
		if !k.requestID.ok() {
			return &k.requestID, ngNone
		}
	case "ip":
		return &k.ip, ngNone
	case "sourceIp":
		return &k.sourceIP, ngNone
	case "caller":
		return &k.caller, ngNone
	case "requestTime":
		return &k.requestTimeCLF, ngNone
	case "requestTimeEpoch":
		return &k.requestTimeEpoch, ngNone
	case "httpMethod":
		return &k.httpMethod, ngNone
	case "resourcePath":
		return &k.resourcePath, ngNone
	case "routeKey":
		return &k.routeKey, ngNone
	case "responseLength":
		return &k.responseLength, ngNone
	case "responseLatency":
		return &k.responseLatency, ngNone
	case "integrationLatency":
		return &k.integrationLatency, ngNone
	case "principalId":
		return &k.principalID, ngNone
	case "sub":
		return &k.sub, ngNone
	case "apiKeyId":
		return &k.apiKeyID, ngNone
	case "userAgent":
		return &k.awsUserAgent, ngNone
	case "domainName":
		return &k.domainName, ngNone

	case "StartUTC":
		return &k.startUTC, ngNone
	case "StartLocal":
		return &k.startLocal, ngNone
	case "Duration":
		return &k.tDuration, ngNone
	case "ClientAddr":
		return &k.clientAddr, ngNone
	case "ClientHost":
		return &k.clientHost, ngNone
	case "ClientUsername":
		return &k.clientUsername, ngNone
	case "RequestMethod":
		return &k.reqMethod, ngNone
	case "RequestPath":
		return &k.reqPath, ngNone
	case "RequestHost":
		return &k.reqHost, ngNone
	case "DownstreamStatus":
		return &k.downStatus, ngNone
	case "OriginStatus":
		return &k.originStatus, ngNone
	case "DownstreamContentSize":
		return &k.downSize, ngNone
	case "request_User-Agent":
		return &k.reqUA, ngNone
	case "request_X-Forwarded-For":
		return &k.reqXFF, ngNone

	case "logger":
		return &k.logger, ngNone
	case "ts":
		return &k.ts, ngNone
	case "size":
		return &k.size, ngNone
	case "user_id":
		return &k.userID, ngNone
	}
	return nil, ngNone
}

// jsonField is a canonical field name of Options.JSONFields.
type jsonField uint8

const (
	jfTime jsonField = iota
	jfClientIP
	jfMethod
	jfPath
	jfURI
	jfQuery
	jfStatus
	jfBytes
	jfLatency
	jfUser
	jfUserAgent
	jfHost
	jfXFF
	jfRequest
	jsonFieldCount
)

var jsonFieldNames = [jsonFieldCount]string{
	jfTime: "time", jfClientIP: "client_ip", jfMethod: "method", jfPath: "path", jfURI: "uri",
	jfQuery: "query", jfStatus: "status", jfBytes: "bytes", jfLatency: "latency", jfUser: "user",
	jfUserAgent: "user_agent", jfHost: "host", jfXFF: "xff", jfRequest: "request",
}

func (s *jsonState) resolveFields(m map[string]string) {
	for i, n := range jsonFieldNames {
		s.fields[i] = m[n]
		if s.fields[i] != "" {
			s.hasFields = true
		}
	}
	s.fieldsReady = true
}

// text returns a string value as a sub-string of the line when it has no
// escapes (no allocation), else unescaped into a copy. Absent, null,
// non-string values and nginx's "-" placeholder give "".
func (s *jsonState) text(v jv) string {
	if v.kind != '"' {
		return ""
	}
	raw := s.line[v.off+1 : v.end-1]
	if v.esc && hasJSONEscape(raw) {
		// One allocation: the fresh buffer becomes the string, nothing
		// else holds it.
		b := unescapeJSON(make([]byte, 0, len(raw)), raw)
		raw = unsafe.String(unsafe.SliceData(b), len(b))
	}
	if raw == "-" {
		return ""
	}
	return raw
}

// hasJSONEscape reports whether raw holds an escape that unescaping
// changes. nginx without escape=json writes only \xXX, which JSON
// unescaping keeps as written: such text is used in place.
func hasJSONEscape(raw string) bool {
	for {
		i := strings.IndexByte(raw, '\\')
		if i < 0 || i+1 >= len(raw) {
			return false
		}
		switch raw[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't', 'u':
			return true
		}
		raw = raw[i+2:]
	}
}

// numText returns the text of a number, or of a string holding one (AWS and
// nginx JSON quote their numbers). "" means absent ("-", null, missing); ok
// is false for objects, arrays and booleans.
func (s *jsonState) numText(v jv) (string, bool) {
	switch v.kind {
	case 0, 'n':
		return "", true
	case '0':
		return s.line[v.off:v.end], true
	case '"':
		t := strings.TrimSpace(s.text(v))
		if t == "-" {
			t = ""
		}
		return t, true
	}
	return "", false
}

// intValue reads a non-negative integer field. present is false when the
// field is absent; ok is false when it is present but not an integer.
func (s *jsonState) intValue(v jv) (n int64, present, ok bool) {
	t, ok := s.numText(v)
	if !ok {
		return 0, true, false
	}
	if t == "" {
		return 0, false, true
	}
	// Some writers print integral numbers as floats ("200.0").
	if i := strings.IndexByte(t, '.'); i > 0 && strings.Trim(t[i+1:], "0") == "" {
		t = t[:i]
	}
	x, good := atoiN(t)
	return int64(x), true, good
}

// durationValue reads a latency given in unit (time.Second for "0.003",
// time.Millisecond for 11, ...). nginx's $upstream_response_time can be a
// comma list when a request was retried: the parts are summed.
func (s *jsonState) durationValue(v jv, unit time.Duration) (d time.Duration, present, ok bool) {
	t, ok := s.numText(v)
	if !ok {
		return 0, true, false
	}
	if t == "" {
		return 0, false, true
	}
	for t != "" {
		var part string
		part, t, _ = strings.Cut(t, ",")
		part = strings.TrimSpace(part)
		if part == "-" || part == "" {
			continue
		}
		ns, good := scaleDecimal(part, int64(unit))
		if !good {
			return 0, true, false
		}
		if ns > 0 {
			d += time.Duration(ns)
		}
	}
	return d, true, true
}

// stringOrFirst returns a header value that may be a string or an array of
// strings (repeated headers); for arrays the values are joined as HTTP
// would join them, or only the first is taken when join is false.
func (s *jsonState) stringOrFirst(v jv, join bool) string {
	if v.kind != '[' {
		return s.text(v)
	}
	var first string
	var b strings.Builder
	n := 0
	s.elems(v, func(e jv) bool {
		switch n {
		case 0:
			first = s.text(e)
		case 1:
			b.WriteString(first)
			fallthrough
		default:
			b.WriteString(", ")
			b.WriteString(s.text(e))
		}
		n++
		return join
	})
	if n <= 1 {
		return first
	}
	return b.String()
}
