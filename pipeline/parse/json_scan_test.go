package parse

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatewatch/gatewatch/detectors"
)

// A good nginx JSON line, to be broken in one place by the tests below.
const scanBase = `{"time_iso8601":"2024-01-02T03:04:05Z","remote_addr":"192.0.2.1","request":"GET /x HTTP/1.1","status":200,"extra":%s}`

func withExtra(v string) string { return strings.Replace(scanBase, "%s", v, 1) }

// The single pass validates the whole line, nested values it never reads
// included: a malformed line is rejected, not half-read.
func TestScanJSONRejectsMalformed(t *testing.T) {
	if err := newJSONTestParser(t, Options{}).Parse(withExtra(`{"a":[1,2.5e-3,true,false,null,"x\"y"]}`), new(detectors.Event)); err != nil {
		t.Fatalf("base line with a well-formed extra value: %v", err)
	}
	deep := strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)
	tests := []struct {
		name   string
		line   string
		reason Reason
	}{
		{"leading zero", withExtra(`01`), ReasonBadField},
		{"bare minus", withExtra(`-`), ReasonBadField},
		{"fraction without digits", withExtra(`1.`), ReasonBadField},
		{"exponent without digits", withExtra(`1e+`), ReasonBadField},
		{"plus sign", withExtra(`+1`), ReasonBadField},
		{"number then junk", withExtra(`12ab`), ReasonBadField},
		{"broken literal", withExtra(`tru`), ReasonBadField},
		{"literal then junk", withExtra(`nullx`), ReasonBadField},
		{"nested missing colon", withExtra(`{"a" 1}`), ReasonBadField},
		{"nested missing comma", withExtra(`[1 2]`), ReasonBadField},
		{"nested trailing comma", withExtra(`{"a":1,}`), ReasonBadField},
		{"array trailing comma", withExtra(`[1,]`), ReasonBadField},
		{"unclosed nested array", withExtra(`[1,{"a":2}`), ReasonBadField},
		{"unquoted key", `{status:200}`, ReasonBadField},
		{"top-level trailing comma", `{"status":200,}`, ReasonBadField},
		{"string runs to the end", `{"status":200,"request":"GET /}`, ReasonBadField},
		{"too deep", withExtra(deep), ReasonBadField},
		{"two objects", `{"status":200}{"status":201}`, ReasonBadField},
		{"cut after a key", `{"status"`, ReasonTruncated},
		{"cut after a colon", `{"status":`, ReasonTruncated},
		{"cut in a nested object", withExtra(`{"a":{"b":`)[:len(withExtra(`{"a":{"b":`))-1], ReasonTruncated},
		{"cut in an escape", `{"request":"GET /\`, ReasonTruncated},
	}
	p := newJSONTestParser(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev detectors.Event
			err := p.Parse(tt.line, &ev)
			if err == nil {
				t.Fatalf("accepted %q", tt.line)
			}
			if ReasonOf(err) != tt.reason {
				t.Errorf("reason = %s, want %s (%v)", ReasonOf(err), tt.reason, err)
			}
		})
	}
}

// Every proper prefix of every test line is rejected: a cut-off line
// never passes as a good event, wherever the cut falls.
func TestScanJSONRejectsEveryPrefix(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "json", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test lines: %v", err)
	}
	p := newJSONTestParser(t, Options{})
	for _, file := range files {
		for n, line := range jsonLines(t, filepath.Base(file)) {
			for cut := 1; cut < len(line); cut++ {
				var ev detectors.Event
				if err := p.Parse(line[:cut], &ev); err == nil {
					t.Fatalf("%s:%d cut at %d accepted: %q", filepath.Base(file), n+1, cut, line[:cut])
				}
			}
		}
	}
}

// Lines that differ only in JSON spelling (whitespace, escapes, key order,
// nesting the parser skips) give the same event.
func TestScanJSONSpellingsAgree(t *testing.T) {
	want := jsonWant{time: "2024-01-02T03:04:05Z", ip: "192.0.2.1", method: "GET", path: "/a\"b", query: "c=\u00e9\U0001F600",
		status: 200, bytes: 7, ua: "x/1", format: detectors.FormatNginxJSON}
	for _, line := range []string{
		`{"time_iso8601":"2024-01-02T03:04:05Z","remote_addr":"192.0.2.1","request_method":"GET","request_uri":"/a\"b?c=\u00e9\ud83d\ude00","status":200,"body_bytes_sent":7,"http_user_agent":"x/1"}`,
		"{\t\"time_iso8601\" : \"2024-01-02T03:04:05Z\" , \"remote_addr\":\"192.0.2.1\",\t \"request_method\":\"GET\",\"request_uri\":\"/a\\\"b?c=\u00e9\\ud83d\\ude00\",\"status\":200 ,\"body_bytes_sent\":\"7\",\"http_user_agent\":\"x\\/1\" } \n",
		`{"st\u0061tus":"200","http_user_agent":"x/1","body_bytes_sent":7.0,"nested":{"status":999,"a":[{},[],"\\",-0.5e+2]},"remote_addr":"192.0.2.1","request_uri":"/a\u0022b?c=é😀","request_method":"GET","time_iso8601":"2024-01-02T03:04:05Z"}`,
	} {
		var ev detectors.Event
		if err := newJSONTestParser(t, Options{}).Parse(line, &ev); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		checkJSONEvent(t, &ev, want)
	}
}

func TestUnescapeJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`plain`, `plain`},
		{`a\"b\\c\/d\b\f\n\r\t`, "a\"b\\c/d\b\f\n\r\t"},
		{`\u00e9\u2713`, "\u00e9\u2713"},
		{`\ud83d\ude00`, "\U0001F600"},
		{`\ud83d`, "\uFFFD"},        // lone surrogate
		{`\ud83dx`, "\uFFFDx"},      // lone surrogate before text
		{`\x41\u12`, `\x41\u12`},    // not JSON escapes: kept as written (nginx)
		{`end\`, `end\`},            // a dangling backslash is kept
		{`\ud83d\u0041`, "\uFFFDA"}, // high surrogate, then no low one
		{`\uZZZZ`, `\uZZZZ`},        // bad hex
		{`\ud83d\uZZZZ`, "\uFFFD\\uZZZZ"},
	} {
		if got := string(unescapeJSON(nil, c.in)); got != c.want {
			t.Errorf("unescapeJSON(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzScanJSON checks the scanner against encoding/json: it accepts every
// valid JSON object, rejects what encoding/json rejects (apart from its
// documented leniencies: non-JSON escapes such as nginx's \xXX, raw control
// bytes and invalid UTF-8, which the line check deals with), and reads
// the same values.
func FuzzScanJSON(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "json", "*.json*"))
	for _, file := range files {
		for _, l := range jsonLines(f, filepath.Base(file)) {
			f.Add(l)
		}
	}
	f.Add(`{"a":"\u00e9","b":[1,-2.5e3,{"c":null}],"d":true}`)
	f.Add(`{"a" : "x\"y" , "b":{}}`)
	f.Fuzz(func(t *testing.T, in string) {
		t0 := trimJSONSpace(in)
		if t0 == "" || t0[0] != '{' {
			return
		}
		var s jsonState
		s.line = t0
		end, msg := s.scanObject(t0)
		if msg == "" {
			msg = trailer(t0, end)
		}
		valid := json.Valid([]byte(in))
		lenient := strings.IndexByte(in, '\\') >= 0 || !utf8.ValidString(in) || strings.ContainsFunc(in, func(r rune) bool { return r < 0x20 })
		switch {
		case valid && msg != "":
			t.Fatalf("rejected valid JSON: %s", msg)
		case !valid && msg == "" && !lenient:
			t.Fatalf("accepted invalid JSON")
		case !valid || msg != "" || !utf8.ValidString(in):
			return
		}
		// Values read through the scanner equal encoding/json's, for
		// top-level keys that occur once.
		seen := map[string]int{}
		vals := map[string]jv{}
		root := jv{off: 0, end: uint32(len(t0)), kind: '{'}
		s.eachKey(root, func(k string, v jv) bool { seen[k]++; vals[k] = v; return true })
		var m map[string]json.RawMessage
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		for k, raw := range m {
			if seen[k] != 1 {
				continue
			}
			v := vals[k]
			if !v.ok() {
				t.Fatalf("key %q not found by eachKey", k)
			}
			if got := strings.TrimSpace(t0[v.off:v.end]); !bytes.Equal(bytes.TrimSpace(raw), []byte(got)) {
				t.Fatalf("key %q: span %q, encoding/json %q", k, got, raw)
			}
			if v.kind == '"' {
				var want string
				if err := json.Unmarshal(raw, &want); err != nil {
					t.Fatal(err)
				}
				if want == "-" {
					want = ""
				}
				if got := s.text(v); got != want {
					t.Fatalf("key %q: text %q, want %q", k, got, want)
				}
			}
		}
	})
}

// Batches are read in place, one pass per element: their punctuation is
// checked as strictly as an object's, and no cut-off batch yields events.
func TestParseAllBatchShapes(t *testing.T) {
	p := newJSONTestParser(t, Options{})
	k1, k3 := jsonLine(t, "kong.jsonl", 1), jsonLine(t, "kong.jsonl", 3)
	for _, c := range []struct {
		name   string
		line   string
		n      int    // events when accepted
		reason Reason // "" = accepted
		detail string
	}{
		{"spaced", "[ " + k1 + " ,\t" + k3 + " ] ", 2, "", ""},
		{"one element", "[" + k3 + "]", 1, "", ""},
		{"trailing comma", "[" + k1 + ",]", 0, ReasonBadField, "array element 1"},
		{"leading comma", "[," + k1 + "]", 0, ReasonBadField, "array element 0"},
		{"missing comma", "[" + k1 + " " + k3 + "]", 0, ReasonBadField, "missing ','"},
		{"scalar element", "[" + k1 + `,"x"]`, 0, ReasonBadField, "array element 1"},
		{"nested array element", "[" + k1 + `,[]]`, 0, ReasonBadField, "array element 1"},
		{"malformed element", "[" + k1 + `,{"started_at":1,,"x":2}]`, 0, ReasonBadField, "array element 1"},
		{"cut after an element", "[" + k1 + ",", 0, ReasonTruncated, "cut off"},
		{"cut in a scalar element", "[" + k1 + `,"x`, 0, ReasonTruncated, "array element 1"},
		{"cut text line in brackets", `[24/Jan/2022:16:51`, 0, ReasonTruncated, "cut off"},
		{"error log line in brackets", `[Thu Oct 13 12:24:49.880562 2022] [auth_basic:error] [client 31.33.58.75:50229] AH01618: user sss not found: /`, 0, ReasonBadField, "array element 0"},
		{"text line in brackets", `[24/Jan/2022:16:51:02 +0000] - 404 404 - GET http example.org "/x" [Client 1.2.3.4] "-"`, 0, ReasonBadField, "not a JSON object"},
		{"cut before the bracket", "[" + k1, 0, ReasonTruncated, "cut off"},
	} {
		t.Run(c.name, func(t *testing.T) {
			evs, err := p.ParseAll(c.line, nil)
			if c.reason == "" {
				if err != nil || len(evs) != c.n {
					t.Fatalf("%d events, err %v; want %d", len(evs), err, c.n)
				}
				for i := range evs {
					if !strings.HasPrefix(evs[i].Raw, "{") || !strings.HasSuffix(evs[i].Raw, "}") || !strings.Contains(c.line, evs[i].Raw) {
						t.Errorf("event %d: Raw %q is not its element", i, evs[i].Raw)
					}
				}
				return
			}
			if len(evs) != 0 || ReasonOf(err) != c.reason || !strings.Contains(err.Error(), c.detail) {
				t.Errorf("%d events, err %v; want none and %s mentioning %q", len(evs), err, c.reason, c.detail)
			}
		})
	}
	batch := jsonLine(t, "kong_batch.json", 1)
	for cut := 1; cut < len(batch); cut++ {
		if evs, err := p.ParseAll(batch[:cut], nil); err == nil || len(evs) != 0 {
			t.Fatalf("batch cut at %d: %d events, err %v", cut, len(evs), err)
		}
	}
}

func TestHasJSONEscape(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{`plain`, false},
		{`\x22evil\x22 \xE2`, false},
		{`end\`, false},
		{`a\"b`, true},
		{`\x41\\x41`, true},
		{`\u00e9`, true},
		{`\/`, true},
	} {
		if got := hasJSONEscape(c.in); got != c.want {
			t.Errorf("hasJSONEscape(%q) = %v, want %v", c.in, got, c.want)
		}
		// Where it says no, unescaping must indeed change nothing.
		if !c.want && string(unescapeJSON(nil, c.in)) != c.in {
			t.Errorf("unescapeJSON changes %q, which hasJSONEscape called plain", c.in)
		}
	}
}

// Nested values are collected during the one pass: within an object the
// first occurrence of a key counts (as a lookup by key finds it), while a
// repeated top-level key counts with its last value, like every other
// top-level key.
func TestScanJSONNestedValues(t *testing.T) {
	const kongHead = `{"started_at":1700000000123,"client_ip":"192.0.2.9","latencies":{"kong":1,"request":7},"response":{"headers":{"status":1},"status":201,"size":3},`
	kong := detectors.FormatKongJSON
	for _, c := range []struct {
		name   string
		line   string
		forced detectors.Format
		want   jsonWant
		reason Reason // "" = accepted
	}{
		{"order and spacing", kongHead + `"request" : { "headers" : { "x-forwarded-for" : ["198.51.100.1","198.51.100.2"], "user-agent":["ua/1","ua/2"] }, "uri":"/a?b=1", "querystring":{"method":"NO"}, "method":"PUT" }}`, 0,
			jsonWant{time: "2023-11-14T22:13:20.123Z", ip: "192.0.2.9", method: "PUT", path: "/a", query: "b=1", status: 201, bytes: 3,
				latency: 7 * time.Millisecond, ua: "ua/1", xff: "198.51.100.1, 198.51.100.2", format: kong}, ""},
		{"first key in an object wins", kongHead + `"request":{"method":"GET","uri":"/first","method":"POST","uri":"/second","headers":{"host":"a.example"},"headers":{"host":"b.example"}}}`, 0,
			jsonWant{time: "2023-11-14T22:13:20.123Z", ip: "192.0.2.9", method: "GET", path: "/first", status: 201, bytes: 3,
				latency: 7 * time.Millisecond, host: "a.example", format: kong}, ""},
		{"last top-level key wins", kongHead + `"request":{"method":"GET","uri":"/old","headers":{"host":"old.example"}},"request":{"uri":"/new"}}`, 0,
			jsonWant{time: "2023-11-14T22:13:20.123Z", ip: "192.0.2.9", path: "/new", status: 201, bytes: 3,
				latency: 7 * time.Millisecond, format: kong}, ""},
		{"object then string", kongHead + `"request":{"method":"GET","uri":"/old"},"request":"GET /x HTTP/1.1"}`, kong,
			jsonWant{}, ReasonBadField},
		{"consumer fallback", kongHead + `"request":{"method":"GET","uri":"/"},"consumer":{"id":"c-1","username":""},"authenticated_entity":{"consumer_id":"c-2"}}`, 0,
			jsonWant{time: "2023-11-14T22:13:20.123Z", ip: "192.0.2.9", method: "GET", path: "/", status: 201, bytes: 3,
				latency: 7 * time.Millisecond, user: "c-1", format: kong}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ev detectors.Event
			err := newJSONTestParser(t, Options{Format: c.forced}).Parse(c.line, &ev)
			if c.reason != "" {
				if ReasonOf(err) != c.reason {
					t.Fatalf("err %v, want %s", err, c.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkJSONEvent(t, &ev, c.want)
		})
	}
}
