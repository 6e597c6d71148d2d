package parse

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// jsonLine returns line n (1-based) of testdata/json/<file>; see
// testdata/json/README.md for where each line comes from.
func jsonLine(t testing.TB, file string, n int) string {
	t.Helper()
	lines := jsonLines(t, file)
	if n < 1 || n > len(lines) {
		t.Fatalf("%s has %d lines, want line %d", file, len(lines), n)
	}
	return lines[n-1]
}

func jsonLines(t testing.TB, file string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "json", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if sc.Text() != "" {
			out = append(out, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonWant lists the fields a JSON test checks; every one is compared, so
// an empty string or zero asserts the field stayed empty.
type jsonWant struct {
	time      string // RFC3339Nano, UTC
	ip        string // "" = no client address
	method    string
	path      string
	query     string
	status    int
	bytes     int64
	latency   time.Duration
	user      string
	ua        string
	host      string
	xff       string
	route     string
	format    detectors.Format
}

func checkJSONEvent(t *testing.T, ev *detectors.Event, w jsonWant) {
	t.Helper()
	if got := ev.Time.Format(time.RFC3339Nano); got != w.time {
		t.Errorf("Time = %s, want %s", got, w.time)
	}
	if ev.Time.Location() != time.UTC {
		t.Errorf("Time location = %v, want UTC", ev.Time.Location())
	}
	var wantIP netip.Addr
	if w.ip != "" {
		wantIP = netip.MustParseAddr(w.ip)
	}
	if ev.ClientIP != wantIP {
		t.Errorf("ClientIP = %v, want %v", ev.ClientIP, wantIP)
	}
	type pair struct {
		name      string
		got, want any
	}
	for _, c := range []pair{
		{"Method", ev.Method, w.method},
		{"Path", ev.Path, w.path},
		{"Query", ev.Query, w.query},
		{"Status", ev.Status, w.status},
		{"Bytes", ev.Bytes, w.bytes},
		{"Latency", ev.Latency, w.latency},
		{"User", ev.User, w.user},
		{"UserAgent", ev.UserAgent, w.ua},
		{"Host", ev.Host, w.host},
		{"XForwardedFor", ev.XForwardedFor, w.xff},
		{"Route", ev.Route, w.route},
		{"Format", ev.Format, w.format},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func newJSONTestParser(t testing.TB, opts Options) *Parser {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseJSONFormats(t *testing.T) {
	const (
		nginx   = detectors.FormatNginxJSON
		envoy   = detectors.FormatEnvoyJSON
		kong    = detectors.FormatKongJSON
		aws     = detectors.FormatAWSAPIGatewayJSON
		traefik = detectors.FormatTraefikJSON
		caddy   = detectors.FormatCaddyJSON
	)
	tests := []struct {
		file string
		line int
		want jsonWant
	}{
		// Traefik (crowdsec hub traefik_json; last two from the documented field set).
		{"traefik.jsonl", 1, jsonWant{time: "2021-12-08T14:02:43.587782192Z", ip: "172.17.0.1", method: "GET", path: "/594VAEoi.save",
			status: 200, bytes: 357, latency: 357313 * time.Nanosecond, ua: "Nikto", host: "test.docker.localhost", format: traefik}},
		{"traefik.jsonl", 2, jsonWant{time: "2026-01-08T14:20:00Z", ip: "192.168.65.1", method: "POST", path: "/api/data",
			status: 200, bytes: 364, latency: 1500 * time.Microsecond, host: "api.localhost", format: traefik}},
		{"traefik.jsonl", 3, jsonWant{time: "2026-01-14T09:45:33.759014877Z", ip: "192.168.1.115", method: "GET", path: "/",
			status: 404, bytes: 19, latency: 10158 * time.Nanosecond, host: "admin.mydomain.com", format: traefik}},
		// ClientHost holds a spoofable XFF value: it becomes XFF, never the client.
		{"traefik.jsonl", 4, jsonWant{time: "2024-03-01T09:15:30.123456789Z", ip: "10.10.8.105", method: "GET", path: "/api/items", query: "page=2",
			status: 200, bytes: 15, latency: 2451 * time.Microsecond, ua: "Go-http-client/1.1", host: "example.com", xff: "175.16.199.10", format: traefik}},
		{"traefik.jsonl", 5, jsonWant{time: "2024-03-01T09:15:31Z", ip: "192.0.2.10", method: "GET", path: "/dashboard/",
			status: 401, bytes: 17, latency: 98 * time.Microsecond, user: "mallory", ua: "Mozilla/5.0", host: "admin.example.com", xff: "198.51.100.99", format: traefik}},

		// Envoy Gateway default JSON (crowdsec hub envoy-logs, CRI prefix stripped).
		{"envoy.jsonl", 1, jsonWant{time: "2025-12-31T16:37:40.479Z", ip: "10.0.0.12", method: "GET", path: "/assets/image.webp",
			status: 200, bytes: 121258, latency: 11 * time.Millisecond, ua: "Mozilla/4.0 (Windows NT 9.0; Win64; x64; rv:136.0) Gecko/20101 Firefox/136.0",
			host: "www.example.com", xff: "10.0.0.12", format: envoy}},
		{"envoy.jsonl", 2, jsonWant{time: "2025-12-31T17:22:04.951Z", ip: "192.168.1.45", method: "GET", path: "/",
			status: 301, ua: "Mozilla/5.0 (Windows NT 6.1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2228.0 Safari/537.36",
			host: "10.0.0.13", xff: "192.168.1.45", format: envoy}},
		{"envoy.jsonl", 3, jsonWant{time: "2025-12-31T17:30:03.228Z", ip: "172.16.2.33", method: "HEAD", path: "/.env",
			status: 404, latency: 5 * time.Millisecond, host: "foo.example.com", xff: "172.16.2.33", format: envoy, ua: envoyUA3}},
		{"envoy.jsonl", 4, jsonWant{time: "2026-01-24T01:34:36.743Z", ip: "fd00:1234:5678::5a24", method: "GET", path: "/",
			status: 301, ua: "curl/8.10.1", host: "example.com", xff: "fd00:1234:5678::5a24", format: envoy}},
		{"envoy.jsonl", 5, jsonWant{time: "2026-01-24T01:35:00Z", ip: "10.42.0.1", method: "GET", path: "/api/data",
			status: 200, bytes: 512, latency: 15 * time.Millisecond, ua: "Mozilla/5.0", host: "proxy.example.com", xff: "192.168.1.100, 10.42.0.1", format: envoy}},
		{"envoy.jsonl", 6, jsonWant{time: "2026-01-24T01:36:00Z", ip: "fd00:1234:5678::1", method: "POST", path: "/api/create",
			status: 201, bytes: 1024, latency: 20 * time.Millisecond, ua: "curl/8.10.1", host: "proxy6.example.com",
			xff: "fd00:1234:5678::5a24, [fd00:1234:5678::1]:54321", format: envoy}},

		// Caddy (crowdsec hub caddy-logs / caddy-basic-auth-bf).
		{"caddy.jsonl", 1, jsonWant{time: "2023-09-04T15:19:51.7564995Z", ip: "127.0.0.1", method: "GET", path: "/",
			latency: 2701 * time.Nanosecond, ua: "curl/7.74.0", host: "127.0.0.1:8080", xff: "127.0.0.1", format: caddy}},
		{"caddy.jsonl", 2, jsonWant{time: "2023-09-04T15:20:39.657635Z", ip: "172.17.0.1", method: "GET", path: "/",
			latency: 2689 * time.Nanosecond, ua: "curl/7.74.0", host: "127.0.0.1:8080", format: caddy}},
		{"caddy.jsonl", 3, jsonWant{time: "2024-03-29T19:49:58.0391326Z", ip: "127.0.0.1", method: "GET", path: "/",
			status: 401, latency: 782670468 * time.Nanosecond, ua: "curl/7.88.1", host: "localhost:9080", format: caddy}},
		{"caddy.jsonl", 4, jsonWant{time: "2024-03-29T19:50:27.9626286Z", ip: "127.0.0.1", method: "GET", path: "/",
			status: 401, latency: 33987 * time.Nanosecond, ua: "curl/7.88.1", host: "localhost:9080", format: caddy}},
		{"caddy.jsonl", 5, jsonWant{time: "2024-03-29T19:51:04.947103Z", ip: "127.0.0.1", method: "GET", path: "/",
			status: 200, bytes: 18630, latency: 794682124 * time.Nanosecond, user: "Bob", ua: "curl/7.88.1", host: "localhost:9080", format: caddy}},

		// Kong log serializer (docs example completed; documented variants).
		{"kong.jsonl", 1, jsonWant{time: "2024-09-19T22:10:39.538Z", ip: "192.168.65.1", method: "GET", path: "/example-route",
			status: 200, bytes: 9982, latency: 173 * time.Millisecond, ua: "HTTPie/3.2.3", host: "localhost:8000", format: kong}},
		{"kong.jsonl", 2, jsonWant{time: "2023-11-14T22:13:20.123Z", ip: "203.0.113.9", method: "POST", path: "/v1/orders", query: "expand=items&limit=10",
			status: 201, bytes: 512, latency: 45 * time.Millisecond, user: "alice", ua: "okhttp/4.12.0", host: "api.example.com", xff: "203.0.113.9", format: kong}},
		{"kong.jsonl", 3, jsonWant{time: "2023-11-14T22:13:21.5Z", ip: "198.51.100.23", method: "POST", path: "/v1/login",
			status: 401, bytes: 96, latency: 2 * time.Millisecond, ua: "python-requests/2.31.0", host: "api.example.com", format: kong}},
		{"kong.jsonl", 4, jsonWant{time: "2023-11-14T22:13:22Z", ip: "10.1.2.3", method: "GET", path: "/health",
			status: 200, bytes: 200, latency: 4 * time.Millisecond, user: "user1", ua: "curl/8.4.0", host: "internal.example.com", format: kong}},

		// AWS API Gateway (elastic/integrations REST and HTTP presets; documented variables).
		{"aws.jsonl", 1, jsonWant{time: "2023-06-10T15:36:28Z", ip: "1.128.0.0", method: "GET", path: "/pets", route: "/pets",
			status: 200, bytes: 184, format: aws}},
		{"aws.jsonl", 2, jsonWant{time: "2023-06-09T12:54:08Z", ip: "1.128.0.0", method: "GET", path: "/", route: "/",
			status: 200, bytes: 47140, format: aws}},
		{"aws.jsonl", 3, jsonWant{time: "2023-06-10T15:36:29.123Z", ip: "203.0.113.7", method: "POST", path: "/prod/login", route: "/login",
			status: 401, bytes: 54, latency: 35 * time.Millisecond, user: "k3y1d", ua: "python-requests/2.31.0", format: aws}},
		{"aws.jsonl", 4, jsonWant{time: "2023-06-09T12:54:09Z", ip: "198.51.100.40", method: "DELETE", path: "/orders/123", route: "/orders/{id}",
			status: 204, latency: 12 * time.Millisecond, user: "user-123", host: "abc123.execute-api.us-east-1.amazonaws.com", format: aws}},

		// nginx JSON log_formats (documented variants; values from real lines).
		{"nginx.jsonl", 1, jsonWant{time: "2023-10-10T09:06:56Z", ip: "127.0.0.1", method: "GET", path: "/NGUHGC",
			status: 404, bytes: 125, latency: 3 * time.Millisecond, ua: "Mozilla/5.0 (Windows NT 6.2; rv:36.0) Gecko/20100101 Firefox/36.0", format: nginx}},
		{"nginx.jsonl", 2, jsonWant{time: "2023-11-20T14:37:47Z", ip: "89.109.34.234", method: "GET", path: "/wp-admin/install.php",
			status: 200, bytes: 7542, latency: 120 * time.Millisecond,
			ua: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 YaBrowser/23.5.1.750 Yowser/2.5 Safari/537.36", format: nginx}},
		// Typed numbers; no trusted proxies, so the peer is the client whatever XFF says.
		{"nginx.jsonl", 3, jsonWant{time: "2023-11-20T14:37:47.123Z", ip: "10.0.0.5", method: "POST", path: "/api/login", query: "next=%2F",
			status: 401, bytes: 52, latency: 15 * time.Millisecond, user: "admin", ua: "curl/8.4.0", host: "api.example.com", xff: "198.51.100.7, 10.0.0.2", format: nginx}},
		// Without escape=json nginx writes \xXX; decoded here.
		{"nginx.jsonl", 4, jsonWant{time: "2023-10-10T09:06:56Z", ip: "203.0.113.5", method: "GET", path: "/search", query: `q="><script>`,
			status: 400, ua: "Mozilla/5.0 \"evil\" \u2713", format: nginx}},
	}
	p := newJSONTestParser(t, Options{})
	for _, tt := range tests {
		t.Run(tt.file+":"+strconv.Itoa(tt.line), func(t *testing.T) {
			line := jsonLine(t, tt.file, tt.line)
			var ev detectors.Event
			if err := p.Parse(line, &ev); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkJSONEvent(t, &ev, tt.want)
			if ev.Raw != line {
				t.Errorf("Raw is not the line")
			}
			// Forcing the format the line was detected as must agree.
			fp := newJSONTestParser(t, Options{Format: tt.want.format})
			var forced detectors.Event
			if err := fp.Parse(line, &forced); err != nil {
				t.Fatalf("forced %v: %v", tt.want.format, err)
			}
			checkJSONEvent(t, &forced, tt.want)
		})
	}
}

const envoyUA3 = "curl/8.5.0"
