package envelope

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fileCase is one case from testdata/cases.txt.
type fileCase struct {
	name, source, in string
	want             []got
}

type got struct {
	line string
	at   time.Time
}

func loadCases(tb testing.TB) []fileCase {
	tb.Helper()
	f, err := os.Open("testdata/cases.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var cases []fileCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		key, val, _ := strings.Cut(l, ": ")
		switch {
		case strings.HasPrefix(l, "=== "):
			cases = append(cases, fileCase{name: l[4:]})
		case l == "" || l[0] == '#':
		case len(cases) == 0:
			tb.Fatalf("cases.txt:%d: %q before the first case", n, l)
		case key == "source":
			cases[len(cases)-1].source = val
		case key == "in":
			cases[len(cases)-1].in = val
		case key == "out":
			c := &cases[len(cases)-1]
			c.want = append(c.want, got{line: val})
		case key == "outq":
			// A Go-quoted line, for lines holding a newline (a CloudWatch
			// event's message may span lines and stays one line).
			line, err := strconv.Unquote(val)
			if err != nil {
				tb.Fatalf("cases.txt:%d: outq: %v", n, err)
			}
			c := &cases[len(cases)-1]
			c.want = append(c.want, got{line: line})
		case key == "at":
			c := &cases[len(cases)-1]
			if len(c.want) == 0 {
				tb.Fatalf("cases.txt:%d: at: without out:", n)
			}
			if val != "-" {
				t, err := time.Parse(time.RFC3339Nano, val)
				if err != nil {
					tb.Fatalf("cases.txt:%d: %v", n, err)
				}
				c.want[len(c.want)-1].at = t
			}
		default:
			tb.Fatalf("cases.txt:%d: unknown line %q", n, l)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return cases
}

func collect(u *Unwrapper, in []byte) ([]got, error) {
	var out []got
	err := u.Unwrap(in, func(line string, t time.Time) error {
		out = append(out, got{strings.Clone(line), t})
		return nil
	})
	return out, err
}

func checkGot(t *testing.T, gotLines, want []got) {
	t.Helper()
	if len(gotLines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n got  %+v\n want %+v", len(gotLines), len(want), gotLines, want)
	}
	for i := range want {
		if gotLines[i].line != want[i].line {
			t.Errorf("line %d:\n got  %q\n want %q", i, gotLines[i].line, want[i].line)
		}
		if !gotLines[i].at.Equal(want[i].at) {
			t.Errorf("line %d: shipper time %v, want %v", i, gotLines[i].at, want[i].at)
		}
	}
}

// TestUnwrapCases runs the real-shape table in testdata/cases.txt, each case
// with a fresh Unwrapper and again with one shared by all cases, which
// catches state leaking between calls through the reused buffers.
func TestUnwrapCases(t *testing.T) {
	cases := loadCases(t)
	if len(cases) < 40 {
		t.Fatalf("only %d cases loaded", len(cases))
	}
	var shared Unwrapper
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var u Unwrapper
			out, err := collect(&u, []byte(c.in))
			if err != nil {
				t.Fatalf("Unwrap: %v (source: %s)", err, c.source)
			}
			checkGot(t, out, c.want)
			out, err = collect(&shared, []byte(c.in))
			if err != nil {
				t.Fatalf("shared Unwrap: %v", err)
			}
			checkGot(t, out, c.want)
		})
	}
}

func gz(tb testing.TB, s string) []byte {
	tb.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func b64(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }

// CloudWatch Logs subscription documents, in the shape AWS documents for
// Kinesis/Firehose/Lambda destinations. No permissively licensed captured
// API Gateway access line exists, so the two messages are constructed from
// the documented console presets: the REST JSON preset (with its own
// spacing) and the HTTP API CLF preset, whose routeKey repeats the method.
// The same values are in ../parse/testdata/json/aws.jsonl lines 1-2.
const (
	cwData = `{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"API-Gateway-Access-Logs_q1w2e3/prod","logStream":"a5b0e0f1c2d3","subscriptionFilters":["to-kafka"],"logEvents":[` +
		`{"id":"38146935062245381577498219862939398312413838733128253440","timestamp":1710232867512,"message":"{ \"requestId\":\"7c9a1e52-3f0b-4d6a-9e21-5b8f0c4d2a17\", \"extendedRequestId\":\"Jx3kPFdqoAMEcDw=\", \"ip\": \"192.0.2.44\", \"caller\":\"-\", \"user\":\"-\", \"requestTime\":\"12/Mar/2024:08:41:07 +0000\", \"httpMethod\":\"POST\", \"resourcePath\":\"/login\", \"status\":\"401\", \"protocol\":\"HTTP/1.1\", \"responseLength\":\"38\" }"},` +
		`{"id":"38146935062245381577498219862939398312413838733128253441","timestamp":1710232869204,"message":"198.51.100.23 - - [12/Mar/2024:08:41:09 +0000] \"GET GET /pets/{petId} HTTP/1.1\" 200 97 Kq2vZgXmIAMEbQ8="}]}`
	cwLine1   = `{ "requestId":"7c9a1e52-3f0b-4d6a-9e21-5b8f0c4d2a17", "extendedRequestId":"Jx3kPFdqoAMEcDw=", "ip": "192.0.2.44", "caller":"-", "user":"-", "requestTime":"12/Mar/2024:08:41:07 +0000", "httpMethod":"POST", "resourcePath":"/login", "status":"401", "protocol":"HTTP/1.1", "responseLength":"38" }`
	cwLine2   = `198.51.100.23 - - [12/Mar/2024:08:41:09 +0000] "GET GET /pets/{petId} HTTP/1.1" 200 97 Kq2vZgXmIAMEbQ8=`
	cwControl = `{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1432826855000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}`
	// A Lambda function's log event whose message is a Docker json-file
	// record around a syslog line (layers nest inside CloudWatch too).
	cwNested = `{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/ecs/nginx","logStream":"nginx/web/1","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1631722426000,"message":"{\"log\":\"Sep 15 16:13:46 ip-172-31-43-28 nginx[2869]: 81.150.104.130 - - [15/Sep/2021:16:13:46 +0000] \\\"POST /wp-login.php HTTP/1.1\\\" 200 5364\\n\",\"stream\":\"stdout\",\"time\":\"2021-09-15T16:13:46.5Z\"}"}]}`
)

func TestUnwrapCloudWatch(t *testing.T) {
	t1 := time.UnixMilli(1710232867512).UTC()
	t2 := time.UnixMilli(1710232869204).UTC()
	both := []got{{cwLine1, t1}, {cwLine2, t2}}
	tests := []struct {
		name   string
		in     []byte
		opts   Options
		want   []got
		reason string
	}{
		{name: "gzip", in: gz(t, cwData), want: both},
		{name: "base64 gzip", in: b64(gz(t, cwData)), want: both},
		{name: "base64 gzip unpadded url-safe", in: []byte(base64.RawURLEncoding.EncodeToString(gz(t, cwData))), want: both},
		{name: "base64 with trailing newline", in: append(b64(gz(t, cwData)), '\n'), want: both},
		{name: "plain JSON", in: []byte(cwData), want: both},
		{name: "firehose concatenated records", in: gz(t, cwData+"\n"+cwData), want: append(append([]got{}, both...), both...)},
		{name: "control message yields nothing", in: b64(gz(t, cwControl))},
		{name: "nested docker and syslog in message", in: gz(t, cwNested), want: []got{{`81.150.104.130 - - [15/Sep/2021:16:13:46 +0000] "POST /wp-login.php HTTP/1.1" 200 5364`, time.Date(2021, 9, 15, 16, 13, 46, 5e8, time.UTC)}}},
		{name: "gzip of plain lines", in: gz(t, cwLine2+"\n\n"+cwLine2+"\n"), want: []got{{cwLine2, time.Time{}}, {cwLine2, time.Time{}}}},
		{name: "bad base64", in: []byte("H4sIAAAA!!!!not-base64"), reason: ReasonBadBase64},
		{name: "base64 of something else", in: []byte("H4sI" + base64.StdEncoding.EncodeToString([]byte("hello world!"))[4:]), reason: ReasonBadGzip},
		{name: "truncated gzip", in: gz(t, cwData)[:60], reason: ReasonBadGzip},
		{name: "corrupt gzip header", in: []byte{0x1f, 0x8b, 0x01, 0x02, 0x03}, reason: ReasonBadGzip},
		{name: "too large", in: gz(t, cwData), opts: Options{MaxDecompressedBytes: 100}, reason: ReasonTooLarge},
		{name: "data message without logEvents", in: gz(t, `{"messageType":"DATA_MESSAGE","logGroup":"g"}`), reason: ReasonBadCloudWatch},
		{name: "message not a string", in: gz(t, `{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":"ok"},{"id":"2","timestamp":1,"message":42}]}`), reason: ReasonBadCloudWatch},
		{name: "unknown messageType", in: gz(t, `{"messageType":"OTHER","logEvents":[]}`), reason: ReasonBadCloudWatch},
		{name: "corrupt JSON tail after good record", in: gz(t, cwData+`{"messageType":`), reason: ReasonBadCloudWatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := New(tt.opts)
			out, err := collect(u, tt.in)
			if tt.reason != "" {
				var e *Error
				if !errors.As(err, &e) || e.Reason != tt.reason {
					t.Fatalf("error %v, want *Error with reason %s", err, tt.reason)
				}
				if len(out) != 0 {
					t.Fatalf("fn called %d times before the error; the caller dead-letters the whole value", len(out))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkGot(t, out, tt.want)
		})
	}
}

func TestUnwrapFnErrorStops(t *testing.T) {
	stop := errors.New("stop")
	var u Unwrapper
	calls := 0
	err := u.Unwrap(gz(t, cwData), func(string, time.Time) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err %v after %d calls, want stop after 1", err, calls)
	}
}

func TestUnwrapCRIPartial(t *testing.T) {
	const (
		p1 = "2020-01-04T08:25:02.000000001+01:00 stdout P 192.168.1.1 - - [04/Jan/2020:07:25:02 +0000] "
		p2 = "2020-01-04T08:25:02.000000002+01:00 stdout P \"GET /.well-known/acme-challenge/FMuukC2JOJ5HKmLBujjE_BkDo HTTP/1.1\" "
		f  = "2020-01-04T08:25:02.000000003+01:00 stdout F 404 522 \"-\" \"Go-http-client/1.1\""
		// The line is nginx_http-logs line 1 (crowdsecurity/hub, MIT), split where kubelet would at 16 KiB.
		whole = `192.168.1.1 - - [04/Jan/2020:07:25:02 +0000] "GET /.well-known/acme-challenge/FMuukC2JOJ5HKmLBujjE_BkDo HTTP/1.1" 404 522 "-" "Go-http-client/1.1"`
		raw   = `93.43.209.58 - - [08/Jun/2020:06:49:01 +0000] "GET / HTTP/1.0" 500 803 "-" "-"`
	)
	t0 := time.Date(2020, 1, 4, 7, 25, 2, 1, time.UTC)
	tests := []struct {
		name        string
		opts        Options
		in          []string
		want        []got
		wantPending bool
	}{
		{name: "P P F joined", in: []string{p1, p2, f}, want: []got{{whole, t0}}},
		{name: "P pending", in: []string{p1}, wantPending: true},
		{name: "P then another line flushes the fragment", in: []string{p1, raw},
			want: []got{{p1[45:], t0}, {raw, time.Time{}}}},
		{name: "fragments over the bound are flushed", opts: Options{MaxPartialBytes: 60}, in: []string{p1, p2, f},
			want: []got{{p1[45:], t0}, {p2[45:], t0.Add(1)}, {f[45:], t0.Add(2)}}},
		{name: "joined JSON is unwrapped further", in: []string{
			"2025-12-31T17:37:40.1+01:00 stdout P {\"log\":\"1.2.3.4 - - [14/Nov/2023:22:13:20 +0000] \\\"GET",
			"2025-12-31T17:37:40.2+01:00 stderr F  / HTTP/1.1\\\" 200 612\",\"@timestamp\":1700000000.5}"},
			want: []got{{`1.2.3.4 - - [14/Nov/2023:22:13:20 +0000] "GET / HTTP/1.1" 200 612`, time.Unix(1700000000, 5e8).UTC()}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := New(tt.opts)
			var out []got
			for _, in := range tt.in {
				o, err := collect(u, []byte(in))
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, o...)
			}
			checkGot(t, out, tt.want)
			if u.Pending() != tt.wantPending {
				t.Fatalf("Pending() = %v", u.Pending())
			}
		})
	}
}

func TestUnwrapOptionsAndBatches(t *testing.T) {
	const kong = `{"client_ip":"192.168.65.1","request":{"uri":"/example-route","method":"GET"},"response":{"status":200},"started_at":1726783839538,"latencies":{"request":173}}`
	const line = `172.17.0.1 - - [08/Dec/2021:09:16:05 +0000] "GET /scripts/cpshost.dll HTTP/1.1" 200 414 "-" "-" 500 "test@docker" "http://172.17.0.3:80" 0ms`
	ts := time.Date(2021, 12, 8, 9, 16, 5, 0, time.UTC)
	tests := []struct {
		name string
		opts Options
		in   string
		want []got
	}{
		{name: "kong http-log batch array", in: "[" + kong + "," + kong + "]", want: []got{{kong, time.Time{}}, {kong, time.Time{}}}},
		{name: "fluent bit http output array", in: `[{"date":1638954965,"log":"` + strings.ReplaceAll(line, `"`, `\"`) + `","time":"2021-12-08T09:16:05Z"}]`, want: []got{{line, ts}}},
		{name: "array of scalars is not a batch", in: `[1,2]`, want: []got{{`[1,2]`, time.Time{}}}},
		{name: "fluent bit custom keys", opts: Options{FluentBitLogKey: "message", FluentBitTimeKey: "ts"},
			in: `{"ts":"2021-12-08T09:16:05Z","message":"` + strings.ReplaceAll(line, `"`, `\"`) + `"}`, want: []got{{line, ts}}},
		{name: "custom keys do not match the defaults", opts: Options{FluentBitLogKey: "message", FluentBitTimeKey: "ts"},
			in: `{"@timestamp":1,"log":"x"}`, want: []got{{`{"@timestamp":1,"log":"x"}`, time.Time{}}}},
		{name: "bare log key is not an envelope", in: `{"log":"x","level":"info"}`, want: []got{{`{"log":"x","level":"info"}`, time.Time{}}}},
		{name: "logstash plain disabled", opts: Options{DisableLogstashPlain: true}, in: "2021-12-08T09:16:05.000Z edge-1 " + line,
			want: []got{{"2021-12-08T09:16:05.000Z edge-1 " + line, time.Time{}}}},
		{name: "filebeat ndjson-decoded fields pass through", in: `{"@metadata":{"beat":"filebeat"},"status":200}`, want: []got{{`{"@metadata":{"beat":"filebeat"},"status":200}`, time.Time{}}}},
		{name: "max depth stops peeling", opts: Options{MaxDepth: 1}, in: `{"log":"Sep 15 16:13:46 h nginx: x","stream":"stdout"}`, want: []got{{"Sep 15 16:13:46 h nginx: x", time.Time{}}}},
		{name: "crlf dropped", in: line + "\r\n", want: []got{{line, time.Time{}}}},
		{name: "empty value", in: "", want: []got{{"", time.Time{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := collect(New(tt.opts), []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			checkGot(t, out, tt.want)
		})
	}
}

// TestUnwrapAllocs pins the promise behind the aliasing contract: the
// common cases allocate nothing once the Unwrapper is warm.
func TestUnwrapAllocs(t *testing.T) {
	cases := loadCases(t)
	byName := map[string]string{}
	for _, c := range cases {
		byName[c.name] = c.in
	}
	for _, name := range []string{"raw nginx combined", "filebeat 8.11 filestream nginx main", "cri envoy 1", "rfc3164 nginx[pid]",
		`docker json-file captured nginx main 404 with \u003c \u003e`, "fluent bit kafka record from KubeSphere (real, client address masked by its author)"} {
		in := []byte(byName[name])
		if len(in) == 0 {
			t.Fatalf("case %q missing", name)
		}
		var u Unwrapper
		fn := func(string, time.Time) error { return nil }
		if err := u.Unwrap(in, fn); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(50, func() { _ = u.Unwrap(in, fn) }); n != 0 {
			t.Errorf("%s: %.1f allocations per Unwrap, want 0", name, n)
		}
	}
}

func FuzzUnwrap(f *testing.F) {
	for _, c := range loadCases(f) {
		f.Add([]byte(c.in))
	}
	f.Add(gz(f, cwData))
	f.Add(b64(gz(f, cwNested)))
	f.Add([]byte(cwControl))
	f.Add([]byte("2020-01-04T08:25:02.000000001+01:00 stdout P abc"))
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		u := New(Options{MaxDecompressedBytes: 1 << 20})
		out, err := collect(u, in)
		if !bytes.Equal(in, orig) {
			t.Fatal("Unwrap modified its input")
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason == "" {
				t.Fatalf("error %v is not an *Error with a reason", err)
			}
			if len(out) != 0 {
				t.Fatalf("%d lines delivered before error %v", len(out), err)
			}
		}
		compressed := len(in) > 1 && (in[0] == 0x1f || in[0] == 'H')
		for _, g := range out {
			// Unescaping and prefix stripping only shrink; only a
			// decompressed payload may hold longer lines.
			if !compressed && len(g.line) > len(in) {
				t.Fatalf("line of %d bytes from %d bytes of input", len(g.line), len(in))
			}
		}
		// Same input, same answer, from a reused Unwrapper too.
		again, err2 := collect(u, in)
		if (err == nil) != (err2 == nil) || len(again) != len(out) && !u.Pending() {
			t.Fatalf("second run differs: %d lines/%v vs %d lines/%v", len(out), err, len(again), err2)
		}
	})
}

func BenchmarkUnwrap(b *testing.B) {
	cases := loadCases(b)
	byName := map[string]string{}
	for _, c := range cases {
		byName[c.name] = c.in
	}
	for _, bc := range []struct{ name, c string }{
		{"raw", "raw nginx combined"},
		{"filebeat", "filebeat 8.11 filestream nginx main"},
		{"cri-envoy", "cri envoy 1"},
		{"syslog", "rfc3164 nginx[pid]"},
	} {
		in := []byte(byName[bc.c])
		b.Run(bc.name, func(b *testing.B) {
			var u Unwrapper
			n := 0
			fn := func(line string, _ time.Time) error { n += len(line); return nil }
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if err := u.Unwrap(in, fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
