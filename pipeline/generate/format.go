package generate

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// AppendLine renders ev as one access-log line in format f, the way that
// gateway writes it with its stock or documented format, and appends it
// (without a trailing newline) to buf. Fields a gateway would have but the
// event does not carry (request ids, ports, upstream addresses) are derived
// from the event deterministically. Notes per format:
//
//   - nginx-combined/main, apache-common/combined, traefik-clf: the Basic-auth
//     user as sent, so failed logins carry the attempted name; times in CLF
//     with second precision. nginx combined/main carry no latency; the
//     Apache formats are the stock common/combined LogFormats with the usual
//     " %D" (µs) appended; Traefik CLF ends with the duration in ms.
//   - nginx-json: the escape=json log_format from Kong's support article
//     (request_time in seconds, ms resolution, all values strings, missing
//     values "").
//   - envoy-text: the default format; the client is the X-Forwarded-For
//     value Envoy appends with use_remote_address. envoy-json: the Envoy
//     Gateway default JSON (start_time ms, duration ms).
//   - kong-json: the log serializer (started_at epoch ms, latencies ms,
//     consumer only for authenticated requests).
//   - aws-apigw-clf/json: the console REST presets; all JSON values are
//     strings. resourcePath carries the request path ($context.path), as
//     deployments that want the id in their logs configure it; there is no
//     query, user agent or latency. The principal is the authorizer's.
//   - traefik-json: Duration in ns, StartUTC with ns.
//   - caddy-json: ts is when the entry was logged (request end), duration
//     in seconds; user_id only for authenticated requests.
//   - haproxy: option httplog, timers in ms, date with ms, no user.
//   - aws-alb: time is the response time, request_creation_time the
//     request time, both with µs.
//
// Formats whose timestamp is the end of the request (caddy-json, aws-alb)
// are therefore out of order by up to the request's latency, as in real
// logs. An unknown format appends nothing.
func AppendLine(buf []byte, f detectors.Format, ev *detectors.Event) []byte {
	switch f {
	case detectors.FormatNginxCombined:
		return appendNginx(buf, ev, false)
	case detectors.FormatNginxMain:
		return appendNginx(buf, ev, true)
	case detectors.FormatApacheCommon:
		return appendApache(buf, ev, false)
	case detectors.FormatApacheCombined:
		return appendApache(buf, ev, true)
	case detectors.FormatNginxJSON:
		return appendNginxJSON(buf, ev)
	case detectors.FormatEnvoyText:
		return appendEnvoyText(buf, ev)
	case detectors.FormatEnvoyJSON:
		return appendEnvoyJSON(buf, ev)
	case detectors.FormatKongJSON:
		return appendKong(buf, ev)
	case detectors.FormatAWSAPIGatewayCLF:
		return appendAWSCLF(buf, ev)
	case detectors.FormatAWSAPIGatewayJSON:
		return appendAWSJSON(buf, ev)
	case detectors.FormatTraefikCLF:
		return appendTraefikCLF(buf, ev)
	case detectors.FormatTraefikJSON:
		return appendTraefikJSON(buf, ev)
	case detectors.FormatCaddyJSON:
		return appendCaddy(buf, ev)
	case detectors.FormatHAProxy:
		return appendHAProxy(buf, ev)
	case detectors.FormatAWSALB:
		return appendALB(buf, ev)
	}
	return buf
}

// principal is the authenticated user a gateway that knows only verified
// identities (Kong consumer, AWS authorizer, Caddy user_id) logs: none when
// the credentials were refused.
func principal(ev *detectors.Event) string {
	if ev.Status == 401 || (ev.Status == 403 && (ev.Path == pLogin || ev.Path == pToken)) {
		return ""
	}
	return ev.User
}

// eventHash derives stable pseudo-random values (ids, ports) from the
// event itself, so rendering stays a pure function of the event.
func eventHash(ev *detectors.Event) uint64 {
	h := uint64(14695981039346656037)
	mix := func(b byte) { h = (h ^ uint64(b)) * 1099511628211 }
	t := ev.Time.UnixNano()
	for i := 0; i < 8; i++ {
		mix(byte(t >> (8 * i)))
	}
	a := ev.ClientIP.As16()
	for _, b := range a {
		mix(b)
	}
	for i := 0; i < len(ev.Path); i++ {
		mix(ev.Path[i])
	}
	mix(byte(ev.Status))
	return splitmix(h)
}

const hexDigits = "0123456789abcdef"

func appendHex(buf []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		buf = append(buf, hexDigits[(v>>(4*uint(i)))&15])
	}
	return buf
}

// appendUUID writes a version-4 style UUID derived from h.
func appendUUID(buf []byte, h uint64) []byte {
	h2 := splitmix(h)
	buf = appendHex(buf, h>>32, 8)
	buf = append(buf, '-')
	buf = appendHex(buf, h>>16, 4)
	buf = append(buf, '-', '4')
	buf = appendHex(buf, h, 3)
	buf = append(buf, '-', hexDigits[8+(h2>>62)])
	buf = appendHex(buf, h2>>48, 3)
	buf = append(buf, '-')
	return appendHex(buf, h2, 12)
}

func clientPort(h uint64) int { return 1024 + int(h>>40)%64000 }

var monthAbbr = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func append2(buf []byte, v int) []byte { return append(buf, byte('0'+v/10), byte('0'+v%10)) }

// appendCLFDate writes "05/Jan/2026:08:00:00" (UTC).
func appendCLFDate(buf []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	hh, mm, ss := t.Clock()
	buf = append2(buf, d)
	buf = append(buf, '/')
	buf = append(buf, monthAbbr[mo-1]...)
	buf = append(buf, '/')
	buf = strconv.AppendInt(buf, int64(y), 10)
	buf = append(buf, ':')
	buf = append2(buf, hh)
	buf = append(buf, ':')
	buf = append2(buf, mm)
	buf = append(buf, ':')
	return append2(buf, ss)
}

func appendCLFTime(buf []byte, t time.Time) []byte {
	return append(appendCLFDate(buf, t), " +0000"...)
}

// appendISOms writes 2026-01-05T08:00:00.123Z.
func appendISOms(buf []byte, t time.Time) []byte {
	return t.Truncate(time.Millisecond).AppendFormat(buf, "2006-01-02T15:04:05.000Z")
}

func appendISOus(buf []byte, t time.Time) []byte {
	return t.Truncate(time.Microsecond).AppendFormat(buf, "2006-01-02T15:04:05.000000Z")
}

// appendEscaped writes s the way nginx and Apache escape quoted fields:
// '"' and '\' and bytes outside printable ASCII as \xXX.
func appendEscaped(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' || c < 0x20 || c > 0x7e {
			buf = append(buf, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		buf = append(buf, c)
	}
	return buf
}

func appendDash(buf []byte, s string) []byte {
	if s == "" {
		return append(buf, '-')
	}
	return appendEscaped(buf, s)
}

// appendJSONString writes s as a JSON string literal.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}

func appendURI(buf []byte, ev *detectors.Event) []byte {
	buf = append(buf, ev.Path...)
	if ev.Query != "" {
		buf = append(buf, '?')
		buf = append(buf, ev.Query...)
	}
	return buf
}

func appendAddr(buf []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(buf, '-')
	}
	return a.AppendTo(buf)
}

// appendAddrPort writes ip:port, with brackets for IPv6.
func appendAddrPort(buf []byte, a netip.Addr, port int) []byte {
	if a.Is6() {
		buf = append(buf, '[')
		buf = a.AppendTo(buf)
		buf = append(buf, ']')
	} else {
		buf = appendAddr(buf, a)
	}
	buf = append(buf, ':')
	return strconv.AppendInt(buf, int64(port), 10)
}

func appendRequestLine(buf []byte, ev *detectors.Event) []byte {
	buf = appendEscaped(buf, ev.Method)
	buf = append(buf, ' ')
	buf = appendEscaped(buf, ev.Path)
	if ev.Query != "" {
		buf = append(buf, '?')
		buf = appendEscaped(buf, ev.Query)
	}
	return append(buf, " HTTP/1.1"...)
}

func latencyMS(ev *detectors.Event) int64 { return int64(ev.Latency / time.Millisecond) }

// appendFixed writes v/10^places with exactly places decimals.
func appendFixed(buf []byte, v int64, places int) []byte {
	p := int64(1)
	for range places {
		p *= 10
	}
	buf = strconv.AppendInt(buf, v/p, 10)
	buf = append(buf, '.')
	frac := v % p
	for d := p / 10; d > 0; d /= 10 {
		buf = append(buf, byte('0'+frac/d%10))
	}
	return buf
}

func requestBytes(ev *detectors.Event, h uint64) int64 {
	switch ev.Method {
	case "POST", "PUT", "PATCH":
		return 90 + int64(h>>50)%300
	}
	return 0
}

// upstream is the backend instance that served ev.
func upstreamIP(h uint64) [4]byte { return [4]byte{10, 0, 3, byte(21 + (h>>20)%4)} }

func appendUpstream(buf []byte, h uint64) []byte {
	u := upstreamIP(h)
	return appendAddrPort(buf, netip.AddrFrom4(u), 8080)
}

// appendCLFHead writes the part every CLF-family format shares:
// `ip - user [time] "request" status `.
func appendCLFHead(buf []byte, ev *detectors.Event) []byte {
	buf = appendAddr(buf, ev.ClientIP)
	buf = append(buf, " - "...)
	buf = appendDash(buf, ev.User)
	buf = append(buf, " ["...)
	buf = appendCLFTime(buf, ev.Time)
	buf = append(buf, "] \""...)
	buf = appendRequestLine(buf, ev)
	buf = append(buf, "\" "...)
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, ' ')
	return buf
}

func appendNginx(buf []byte, ev *detectors.Event, main bool) []byte {
	buf = appendCLFHead(buf, ev)
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	buf = append(buf, " \"-\" \""...)
	buf = appendDash(buf, ev.UserAgent)
	buf = append(buf, '"')
	if main {
		buf = append(buf, " \""...)
		buf = appendDash(buf, ev.XForwardedFor)
		buf = append(buf, '"')
	}
	return buf
}

func appendApache(buf []byte, ev *detectors.Event, combined bool) []byte {
	buf = appendCLFHead(buf, ev)
	if ev.Bytes == 0 {
		buf = append(buf, '-') // %b
	} else {
		buf = strconv.AppendInt(buf, ev.Bytes, 10)
	}
	if combined {
		buf = append(buf, " \"-\" \""...)
		buf = appendDash(buf, ev.UserAgent)
		buf = append(buf, '"')
	}
	buf = append(buf, ' ')
	return strconv.AppendInt(buf, ev.Latency.Microseconds(), 10) // %D
}

func appendNginxJSON(buf []byte, ev *detectors.Event) []byte {
	buf = append(buf, `{"time_local":"`...)
	buf = appendCLFTime(buf, ev.Time)
	buf = append(buf, `","remote_addr":"`...)
	buf = appendAddr(buf, ev.ClientIP)
	buf = append(buf, `","remote_user":`...)
	buf = appendJSONString(buf, ev.User)
	buf = append(buf, `,"request":"`...)
	buf = append(buf, ev.Method...)
	buf = append(buf, ' ')
	buf = appendURI(buf, ev)
	buf = append(buf, ` HTTP/1.1","status": "`...)
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, `","body_bytes_sent":"`...)
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	buf = append(buf, `","request_time":"`...)
	buf = appendFixed(buf, latencyMS(ev), 3)
	buf = append(buf, `","http_referrer":"","http_user_agent":`...)
	buf = appendJSONString(buf, ev.UserAgent)
	buf = append(buf, `,"http_x_forwarded_for":`...)
	buf = appendJSONString(buf, ev.XForwardedFor)
	return append(buf, '}')
}

// envoyFlags is %RESPONSE_FLAGS% for the gateway-made errors.
func envoyFlags(status int) string {
	switch status {
	case 503:
		return "UH"
	case 504:
		return "UT"
	}
	return "-"
}

func appendEnvoyText(buf []byte, ev *detectors.Event) []byte {
	h := eventHash(ev)
	buf = append(buf, '[')
	buf = appendISOms(buf, ev.Time)
	buf = append(buf, "] \""...)
	buf = append(buf, ev.Method...)
	buf = append(buf, ' ')
	buf = appendURI(buf, ev)
	buf = append(buf, " HTTP/1.1\" "...)
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, ' ')
	flags := envoyFlags(ev.Status)
	buf = append(buf, flags...)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, requestBytes(ev, h), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	buf = append(buf, ' ')
	d := latencyMS(ev)
	buf = strconv.AppendInt(buf, d, 10)
	buf = append(buf, ' ')
	if flags == "-" {
		buf = strconv.AppendInt(buf, max(d-1, 0), 10)
	} else {
		buf = append(buf, '-')
	}
	buf = append(buf, " \""...)
	if ev.XForwardedFor != "" {
		buf = append(buf, ev.XForwardedFor...)
		buf = append(buf, ", "...)
	}
	buf = appendAddr(buf, ev.ClientIP)
	buf = append(buf, "\" \""...)
	buf = appendDash(buf, ev.UserAgent)
	buf = append(buf, "\" \""...)
	buf = appendUUID(buf, h)
	buf = append(buf, "\" \""...)
	buf = append(buf, hostOf(ev)...)
	buf = append(buf, "\" \""...)
	if flags == "UH" {
		buf = append(buf, '-')
	} else {
		buf = appendUpstream(buf, h)
	}
	return append(buf, '"')
}

func hostOf(ev *detectors.Event) string {
	if ev.Host == "" {
		return apiHost
	}
	return ev.Host
}

func appendEnvoyJSON(buf []byte, ev *detectors.Event) []byte {
	h := eventHash(ev)
	flags := envoyFlags(ev.Status)
	buf = append(buf, `{":authority":`...)
	buf = appendJSONString(buf, hostOf(ev))
	buf = append(buf, `,"bytes_received":`...)
	buf = strconv.AppendInt(buf, requestBytes(ev, h), 10)
	buf = append(buf, `,"bytes_sent":`...)
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	buf = append(buf, `,"connection_termination_details":null,"downstream_local_address":"10.42.0.77:10443","downstream_remote_address":"`...)
	buf = appendAddrPort(buf, ev.ClientIP, clientPort(h))
	buf = append(buf, `","duration":`...)
	buf = strconv.AppendInt(buf, latencyMS(ev), 10)
	buf = append(buf, `,"method":`...)
	buf = appendJSONString(buf, ev.Method)
	buf = append(buf, `,"protocol":"HTTP/1.1","requested_server_name":null,"response_code":`...)
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, `,"response_code_details":`...)
	switch flags {
	case "UH":
		buf = append(buf, `"no_healthy_upstream"`...)
	case "UT":
		buf = append(buf, `"upstream_response_timeout"`...)
	default:
		buf = append(buf, `"via_upstream"`...)
	}
	buf = append(buf, `,"response_flags":"`...)
	buf = append(buf, flags...)
	buf = append(buf, `","route_name":"httproute/shop/shop-api/rule/0/match/0/api_shop_example","start_time":"`...)
	buf = appendISOms(buf, ev.Time)
	buf = append(buf, `","upstream_cluster":"httproute/shop/shop-api/rule/0","upstream_host":`...)
	if flags == "UH" {
		buf = append(buf, "null"...)
	} else {
		buf = append(buf, '"')
		buf = appendUpstream(buf, h)
		buf = append(buf, '"')
	}
	buf = append(buf, `,"upstream_local_address":"10.42.0.77:`...)
	buf = strconv.AppendInt(buf, int64(clientPort(splitmix(h))), 10)
	buf = append(buf, `","upstream_transport_failure_reason":null,"user-agent":`...)
	if ev.UserAgent == "" {
		buf = append(buf, "null"...)
	} else {
		buf = appendJSONString(buf, ev.UserAgent)
	}
	buf = append(buf, `,"x-envoy-origin-path":"`...)
	buf = appendURI(buf, ev)
	buf = append(buf, `","x-envoy-upstream-service-time":`...)
	if flags == "-" {
		buf = append(buf, '"')
		buf = strconv.AppendInt(buf, max(latencyMS(ev)-1, 0), 10)
		buf = append(buf, '"')
	} else {
		buf = append(buf, "null"...)
	}
	buf = append(buf, `,"x-forwarded-for":"`...)
	if ev.XForwardedFor != "" {
		buf = append(buf, ev.XForwardedFor...)
		buf = append(buf, ", "...)
	}
	buf = appendAddr(buf, ev.ClientIP)
	buf = append(buf, `","x-request-id":"`...)
	buf = appendUUID(buf, h)
	return append(buf, `"}`...)
}

func appendKong(buf []byte, ev *detectors.Event) []byte {
	h := eventHash(ev)
	lat := latencyMS(ev)
	kongLat := int64(h>>60) % 3
	proxy := max(lat-kongLat, 0)
	user := principal(ev)
	buf = append(buf, `{"response":{"size":`...)
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	buf = append(buf, `,"headers":{"content-type":"application/json; charset=utf-8","content-length":"`...)
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	buf = append(buf, `","x-kong-upstream-latency":"`...)
	buf = strconv.AppendInt(buf, proxy, 10)
	buf = append(buf, `","x-kong-proxy-latency":"`...)
	buf = strconv.AppendInt(buf, kongLat, 10)
	buf = append(buf, `","x-kong-request-id":"`...)
	buf = appendHex(buf, h, 16)
	buf = appendHex(buf, splitmix(h), 16)
	buf = append(buf, `"},"status":`...)
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, `},"route":{"id":"5b1e4c1a-3a56-4b8e-9d5e-0f4f3c1a2b7d","name":"shop-api","paths":["/"],"protocols":["http","https"],"strip_path":false,"preserve_host":true,"https_redirect_status_code":426,"regex_priority":0,"request_buffering":true,"response_buffering":true,"path_handling":"v0","created_at":1735689600,"updated_at":1735689600,"ws_id":"f381e34e-0b9a-4d31-8a3e-4e2c7b5d6e01","service":{"id":"9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"}},"workspace":"f381e34e-0b9a-4d31-8a3e-4e2c7b5d6e01","workspace_name":"default","tries":[{"balancer_start":`...)
	started := ev.Time.UnixMilli()
	buf = strconv.AppendInt(buf, started+kongLat, 10)
	u := upstreamIP(h)
	buf = append(buf, `,"ip":"`...)
	buf = netip.AddrFrom4(u).AppendTo(buf)
	buf = append(buf, `","balancer_latency":0,"port":8080}],"client_ip":"`...)
	buf = appendAddr(buf, ev.ClientIP)
	buf = append(buf, `","request":{"id":"`...)
	buf = appendHex(buf, h, 16)
	buf = appendHex(buf, splitmix(h), 16)
	buf = append(buf, `","headers":{"accept":"application/json","user-agent":`...)
	buf = appendJSONString(buf, ev.UserAgent)
	buf = append(buf, `,"host":`...)
	buf = appendJSONString(buf, hostOf(ev))
	if user != "" {
		buf = append(buf, `,"authorization":"REDACTED"`...)
	}
	if ev.XForwardedFor != "" {
		buf = append(buf, `,"x-forwarded-for":`...)
		buf = appendJSONString(buf, ev.XForwardedFor)
	}
	buf = append(buf, `},"uri":`...)
	uriStart := len(buf)
	buf = append(buf, '"')
	buf = appendURI(buf, ev)
	buf = append(buf, '"')
	uri := buf[uriStart:]
	buf = append(buf, `,"size":`...)
	buf = strconv.AppendInt(buf, 180+requestBytes(ev, h)+int64(len(ev.UserAgent)), 10)
	buf = append(buf, `,"method":`...)
	buf = appendJSONString(buf, ev.Method)
	buf = append(buf, `,"querystring":{`...)
	buf = appendQueryObject(buf, ev.Query)
	buf = append(buf, `},"url":"https://`...)
	buf = append(buf, hostOf(ev)...)
	buf = append(buf, ":443"...)
	buf = append(buf, uri[1:]...) // uri without its opening quote, closing quote included
	buf = append(buf, `},"upstream_uri":`...)
	buf = append(buf, uri...)
	buf = append(buf, `,"started_at":`...)
	buf = strconv.AppendInt(buf, started, 10)
	buf = append(buf, `,"source":"upstream","upstream_status":"`...)
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, `","latencies":{"kong":`...)
	buf = strconv.AppendInt(buf, kongLat, 10)
	buf = append(buf, `,"proxy":`...)
	buf = strconv.AppendInt(buf, proxy, 10)
	buf = append(buf, `,"request":`...)
	buf = strconv.AppendInt(buf, lat, 10)
	buf = append(buf, `,"receive":0},"service":{"id":"9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d","name":"shop-backend","host":"shop-backend.internal","port":8080,"protocol":"http","path":"/","retries":5,"connect_timeout":60000,"read_timeout":60000,"write_timeout":60000,"enabled":true,"created_at":1735689600,"updated_at":1735689600,"ws_id":"f381e34e-0b9a-4d31-8a3e-4e2c7b5d6e01"}`...)
	if user != "" {
		uh := fnv64(user)
		buf = append(buf, `,"consumer":{"id":"`...)
		buf = appendUUID(buf, uh)
		buf = append(buf, `","username":`...)
		buf = appendJSONString(buf, user)
		buf = append(buf, `,"custom_id":null,"created_at":1735689600,"tags":null,"ws_id":"f381e34e-0b9a-4d31-8a3e-4e2c7b5d6e01"},"authenticated_entity":{"id":"`...)
		buf = appendUUID(buf, splitmix(uh))
		buf = append(buf, `","consumer_id":"`...)
		buf = appendUUID(buf, uh)
		buf = append(buf, `"}`...)
	}
	return append(buf, '}')
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// appendQueryObject writes a query string as Kong's querystring object:
// "k":"v" pairs, true for a key without a value.
func appendQueryObject(buf []byte, q string) []byte {
	first := true
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if kv == "" {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		k, v, hasV := strings.Cut(kv, "=")
		buf = appendJSONString(buf, k)
		buf = append(buf, ':')
		if hasV {
			buf = appendJSONString(buf, v)
		} else {
			buf = append(buf, "true"...)
		}
	}
	return buf
}

// appendExtendedID writes an API Gateway extendedRequestId, 12 base64
// characters ending in '='.
func appendExtendedID(buf []byte, h uint64) []byte {
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	h = splitmix(h ^ 0xa5a5)
	for i := 0; i < 11; i++ {
		buf = append(buf, b64[h&63])
		h >>= 6
	}
	return append(buf, '=')
}

func appendAWSCLF(buf []byte, ev *detectors.Event) []byte {
	h := eventHash(ev)
	buf = appendAddr(buf, ev.ClientIP)
	buf = append(buf, " - "...)
	buf = appendDash(buf, principal(ev))
	buf = append(buf, " ["...)
	buf = appendCLFTime(buf, ev.Time)
	buf = append(buf, "] \""...)
	buf = append(buf, ev.Method...)
	buf = append(buf, ' ')
	buf = append(buf, ev.Path...)
	buf = append(buf, " HTTP/1.1\" "...)
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	buf = append(buf, ' ')
	buf = appendUUID(buf, h)
	buf = append(buf, ' ')
	return appendExtendedID(buf, h)
}

func appendAWSJSON(buf []byte, ev *detectors.Event) []byte {
	h := eventHash(ev)
	buf = append(buf, `{"requestId":"`...)
	buf = appendUUID(buf, h)
	buf = append(buf, `","extendedRequestId":"`...)
	buf = appendExtendedID(buf, h)
	buf = append(buf, `","ip":"`...)
	buf = appendAddr(buf, ev.ClientIP)
	buf = append(buf, `","caller":"-","user":`...)
	if u := principal(ev); u != "" {
		buf = appendJSONString(buf, u)
	} else {
		buf = append(buf, `"-"`...)
	}
	buf = append(buf, `,"requestTime":"`...)
	buf = appendCLFTime(buf, ev.Time)
	buf = append(buf, `","httpMethod":`...)
	buf = appendJSONString(buf, ev.Method)
	buf = append(buf, `,"resourcePath":`...)
	buf = appendJSONString(buf, ev.Path)
	buf = append(buf, `,"status":"`...)
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, `","protocol":"HTTP/1.1","responseLength":"`...)
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	return append(buf, `"}`...)
}

// requestCount stands in for Traefik's "requests since start" counter: it
// grows with time, ~100 per second.
func requestCount(ev *detectors.Event) int64 {
	return ev.Time.UnixMilli()/10%100000000 + 1
}

func appendTraefikCLF(buf []byte, ev *detectors.Event) []byte {
	h := eventHash(ev)
	buf = appendCLFHead(buf, ev)
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	buf = append(buf, " \"-\" \""...)
	buf = appendDash(buf, ev.UserAgent)
	buf = append(buf, "\" "...)
	buf = strconv.AppendInt(buf, requestCount(ev), 10)
	buf = append(buf, ` "shop-api@docker" "http://`...)
	buf = appendUpstream(buf, h)
	buf = append(buf, "\" "...)
	buf = strconv.AppendInt(buf, latencyMS(ev), 10)
	return append(buf, "ms"...)
}

func appendTraefikJSON(buf []byte, ev *detectors.Event) []byte {
	h := eventHash(ev)
	port := clientPort(h)
	dur := ev.Latency.Nanoseconds()
	overhead := min(dur, int64(20000+(h>>44)%40000))
	buf = append(buf, `{"ClientAddr":"`...)
	buf = appendAddrPort(buf, ev.ClientIP, port)
	buf = append(buf, `","ClientHost":"`...)
	if ev.XForwardedFor != "" {
		buf = append(buf, ev.XForwardedFor...) // Traefik overwrites ClientHost with the raw header
	} else {
		buf = appendAddr(buf, ev.ClientIP)
	}
	buf = append(buf, `","ClientPort":"`...)
	buf = strconv.AppendInt(buf, int64(port), 10)
	buf = append(buf, `","ClientUsername":`...)
	if ev.User == "" {
		buf = append(buf, `"-"`...)
	} else {
		buf = appendJSONString(buf, ev.User)
	}
	buf = append(buf, `,"DownstreamContentSize":`...)
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	buf = append(buf, `,"DownstreamStatus":`...)
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, `,"Duration":`...)
	buf = strconv.AppendInt(buf, dur, 10)
	buf = append(buf, `,"OriginContentSize":`...)
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	buf = append(buf, `,"OriginDuration":`...)
	buf = strconv.AppendInt(buf, dur-overhead, 10)
	buf = append(buf, `,"OriginStatus":`...)
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, `,"Overhead":`...)
	buf = strconv.AppendInt(buf, overhead, 10)
	buf = append(buf, `,"RequestAddr":`...)
	buf = appendJSONString(buf, hostOf(ev))
	buf = append(buf, `,"RequestContentSize":`...)
	buf = strconv.AppendInt(buf, requestBytes(ev, h), 10)
	buf = append(buf, `,"RequestCount":`...)
	buf = strconv.AppendInt(buf, requestCount(ev), 10)
	buf = append(buf, `,"RequestHost":`...)
	buf = appendJSONString(buf, hostOf(ev))
	buf = append(buf, `,"RequestMethod":`...)
	buf = appendJSONString(buf, ev.Method)
	buf = append(buf, `,"RequestPath":"`...)
	buf = appendURI(buf, ev)
	buf = append(buf, `","RequestPort":"-","RequestProtocol":"HTTP/1.1","RequestScheme":"https","RetryAttempts":0,"RouterName":"shop-api@docker","ServiceAddr":"`...)
	buf = appendUpstream(buf, h)
	buf = append(buf, `","ServiceName":"shop-api@docker","ServiceURL":{"Scheme":"http","Opaque":"","User":null,"Host":"`...)
	buf = appendUpstream(buf, h)
	buf = append(buf, `","Path":"","RawPath":"","ForceQuery":false,"RawQuery":"","Fragment":"","RawFragment":""},"StartLocal":"`...)
	buf = ev.Time.AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","StartUTC":"`...)
	buf = ev.Time.AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","TLSCipher":"TLS_AES_128_GCM_SHA256","TLSVersion":"1.3","entryPointName":"websecure","level":"info","msg":"","request_User-Agent":`...)
	buf = appendJSONString(buf, ev.UserAgent)
	if ev.XForwardedFor != "" {
		buf = append(buf, `,"request_X-Forwarded-For":`...)
		buf = appendJSONString(buf, ev.XForwardedFor)
	}
	buf = append(buf, `,"time":"`...)
	buf = ev.Time.Add(ev.Latency).AppendFormat(buf, time.RFC3339)
	return append(buf, `"}`...)
}

func appendCaddy(buf []byte, ev *detectors.Event) []byte {
	h := eventHash(ev)
	end := ev.Time.Add(ev.Latency)
	buf = append(buf, `{"level":"`...)
	if ev.Status >= 400 {
		buf = append(buf, "error"...)
	} else {
		buf = append(buf, "info"...)
	}
	buf = append(buf, `","ts":`...)
	// zap's epoch float: seconds with the sub-second part to the µs.
	buf = appendFixed(buf, end.UnixMicro(), 6)
	buf = append(buf, `,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"`...)
	buf = appendAddr(buf, ev.ClientIP)
	buf = append(buf, `","remote_port":"`...)
	buf = strconv.AppendInt(buf, int64(clientPort(h)), 10)
	buf = append(buf, `","client_ip":"`...)
	buf = appendAddr(buf, ev.ClientIP)
	buf = append(buf, `","proto":"HTTP/2.0","method":`...)
	buf = appendJSONString(buf, ev.Method)
	buf = append(buf, `,"host":`...)
	buf = appendJSONString(buf, hostOf(ev))
	buf = append(buf, `,"uri":"`...)
	buf = appendURI(buf, ev)
	buf = append(buf, `","headers":{"User-Agent":[`...)
	buf = appendJSONString(buf, ev.UserAgent)
	buf = append(buf, `],"Accept":["application/json"]`...)
	if ev.User != "" {
		buf = append(buf, `,"Authorization":[]`...)
	}
	if ev.XForwardedFor != "" {
		buf = append(buf, `,"X-Forwarded-For":[`...)
		buf = appendJSONString(buf, ev.XForwardedFor)
		buf = append(buf, ']')
	}
	buf = append(buf, `},"tls":{"resumed":false,"version":772,"cipher_suite":4865,"proto":"h2","server_name":`...)
	buf = appendJSONString(buf, hostOf(ev))
	buf = append(buf, `}},"bytes_read":`...)
	buf = strconv.AppendInt(buf, requestBytes(ev, h), 10)
	buf = append(buf, `,"user_id":`...)
	buf = appendJSONString(buf, principal(ev))
	buf = append(buf, `,"duration":`...)
	buf = appendFixed(buf, ev.Latency.Microseconds(), 6)
	buf = append(buf, `,"size":`...)
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	buf = append(buf, `,"status":`...)
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, `,"resp_headers":{"Server":["Caddy"],"Content-Type":["application/json"]}}`...)
	return buf
}

func appendHAProxy(buf []byte, ev *detectors.Event) []byte {
	h := eventHash(ev)
	// HAProxy writes IPv6 clients without brackets: the port follows the
	// last colon.
	buf = appendAddr(buf, ev.ClientIP)
	buf = append(buf, ':')
	buf = strconv.AppendInt(buf, int64(clientPort(h)), 10)
	buf = append(buf, " ["...)
	buf = appendCLFDate(buf, ev.Time)
	buf = append(buf, '.')
	milli := ev.Time.Nanosecond() / 1e6
	buf = append(buf, byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10))
	buf = append(buf, "] https-in~ "...)
	ta := latencyMS(ev)
	tr := min(int64(h>>61), ta)
	tc := min(int64(h>>59)&1, ta-tr)
	term := "----"
	switch ev.Status {
	case 503:
		buf = append(buf, "shop_api/<NOSRV> "...)
		term = "SC--"
	default:
		buf = append(buf, "shop_api/app"...)
		buf = strconv.AppendInt(buf, int64(1+(h>>20)%4), 10)
		buf = append(buf, ' ')
		if ev.Status == 504 {
			term = "sH--"
		}
	}
	buf = strconv.AppendInt(buf, tr, 10)
	buf = append(buf, "/0/"...)
	if term == "SC--" {
		buf = append(buf, "-1/-1/"...)
	} else {
		buf = strconv.AppendInt(buf, tc, 10)
		buf = append(buf, '/')
		buf = strconv.AppendInt(buf, ta-tr-tc, 10)
		buf = append(buf, '/')
	}
	buf = strconv.AppendInt(buf, ta, 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	buf = append(buf, " - - "...)
	buf = append(buf, term...)
	conns := int64(20 + (h>>30)%40)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, conns, 10)
	buf = append(buf, '/')
	buf = strconv.AppendInt(buf, conns, 10)
	buf = append(buf, '/')
	buf = strconv.AppendInt(buf, conns/2, 10)
	buf = append(buf, '/')
	buf = strconv.AppendInt(buf, conns/8, 10)
	buf = append(buf, "/0 0/0 \""...)
	buf = appendRequestLine(buf, ev)
	return append(buf, '"')
}

func appendALB(buf []byte, ev *detectors.Event) []byte {
	h := eventHash(ev)
	buf = append(buf, "https "...)
	buf = appendISOus(buf, ev.Time.Add(ev.Latency))
	buf = append(buf, " app/shop-api-alb/50dc6c495c0c9188 "...)
	buf = appendAddrPort(buf, ev.ClientIP, clientPort(h))
	buf = append(buf, ' ')
	buf = appendUpstream(buf, h)
	buf = append(buf, " 0.000 "...)
	buf = appendFixed(buf, latencyMS(ev), 3)
	buf = append(buf, " 0.000 "...)
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, 180+requestBytes(ev, h)+int64(len(ev.UserAgent)), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, ev.Bytes, 10)
	buf = append(buf, " \""...)
	buf = append(buf, ev.Method...)
	buf = append(buf, " https://"...)
	buf = append(buf, hostOf(ev)...)
	buf = append(buf, ":443"...)
	buf = appendURI(buf, ev)
	buf = append(buf, " HTTP/1.1\" \""...)
	buf = appendDash(buf, ev.UserAgent)
	buf = append(buf, "\" TLS_AES_128_GCM_SHA256 TLSv1.3 arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-api/73e2d6bc24d8a067 \"Root=1-"...)
	buf = appendHex(buf, uint64(ev.Time.Unix()), 8)
	buf = append(buf, '-')
	buf = appendHex(buf, h, 16)
	buf = appendHex(buf, splitmix(h), 8)
	buf = append(buf, "\" \""...)
	buf = append(buf, hostOf(ev)...)
	buf = append(buf, "\" \"arn:aws:acm:eu-west-1:123456789012:certificate/1f0c2b7e-8d4a-4c3e-9b6f-2a1d0e9c8b7a\" 0 "...)
	buf = appendISOus(buf, ev.Time)
	buf = append(buf, " \"forward\" \"-\" \"-\" \""...)
	buf = appendUpstream(buf, h)
	buf = append(buf, "\" \""...)
	buf = strconv.AppendInt(buf, int64(ev.Status), 10)
	return append(buf, "\" \"-\" \"-\""...)
}
