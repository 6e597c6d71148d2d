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

func (k *jsonKeys) set(key string, v jv) {
	switch key {
	case "status":
		k.status = v
	case "request":
		k.request = v
	case "host":
		k.host = v
	case "user":
		k.user = v
	case "path":
		k.path = v
	case "method":
		k.method = v
	case "duration":
		k.duration = v
	case "bytes_sent":
		k.bytesSent = v

	case "time_local":
		k.timeLocal = v
	case "time_iso8601":
		k.timeISO = v
	case "msec":
		k.msec = v
	case "remote_addr":
		k.remoteAddr = v
	case "remote_user":
		k.remoteUser = v
	case "request_method":
		k.requestMethod = v
	case "request_uri":
		k.requestURI = v
	case "uri":
		k.uri = v
	case "args":
		k.args = v
	case "query_string":
		k.queryString = v
	case "body_bytes_sent":
		k.bodyBytesSent = v
	case "request_time":
		k.requestTime = v
	case "upstream_response_time":
		k.upstreamRespTime = v
	case "http_user_agent":
		k.httpUserAgent = v
	case "http_x_forwarded_for":
		k.httpXFF = v
	case "http_host":
		k.httpHost = v

	case "start_time":
		k.startTime = v
	case "x-envoy-origin-path", "x-envoy-original-path":
		k.originPath = v
	case "response_code":
		k.responseCode = v
	case "x-forwarded-for", "x_forwarded_for":
		k.xff = v
	case "user-agent", "user_agent":
		k.userAgent = v
	case ":authority", "authority":
		k.authority = v
	case "downstream_remote_address":
		k.downstreamRemote = v
	case "downstream_direct_remote_address":
		k.downstreamDirect = v

	case "started_at":
		k.startedAt = v
	case "latencies":
		k.latencies = v
	case "client_ip":
		k.clientIP = v
	case "response":
		k.response = v
	case "consumer":
		k.consumer = v
	case "authenticated_entity":
		k.authEntity = v

	case "requestId", "extendedRequestId":
		if !k.requestID.ok() {
			k.requestID = v
		}
	case "ip":
		k.ip = v
	case "sourceIp":
		k.sourceIP = v
	case "caller":
		k.caller = v
	case "requestTime":
		k.requestTimeCLF = v
	case "requestTimeEpoch":
		k.requestTimeEpoch = v
	case "httpMethod":
		k.httpMethod = v
	case "resourcePath":
		k.resourcePath = v
	case "routeKey":
		k.routeKey = v
	case "responseLength":
		k.responseLength = v
	case "responseLatency":
		k.responseLatency = v
	case "integrationLatency":
		k.integrationLatency = v
	case "principalId":
		k.principalID = v
	case "sub":
		k.sub = v
	case "apiKeyId":
		k.apiKeyID = v
	case "userAgent":
		k.awsUserAgent = v
	case "domainName":
		k.domainName = v

	case "StartUTC":
		k.startUTC = v
	case "StartLocal":
		k.startLocal = v
	case "Duration":
		k.tDuration = v
	case "ClientAddr":
		k.clientAddr = v
	case "ClientHost":
		k.clientHost = v
	case "ClientUsername":
		k.clientUsername = v
	case "RequestMethod":
		k.reqMethod = v
	case "RequestPath":
		k.reqPath = v
	case "RequestHost":
		k.reqHost = v
	case "DownstreamStatus":
		k.downStatus = v
	case "OriginStatus":
		k.originStatus = v
	case "DownstreamContentSize":
		k.downSize = v
	case "request_User-Agent":
		k.reqUA = v
	case "request_X-Forwarded-For":
		k.reqXFF = v

	case "logger":
		k.logger = v
	case "ts":
		k.ts = v
	case "size":
		k.size = v
	case "user_id":
		k.userID = v
	}
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
