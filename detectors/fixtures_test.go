package detectors_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/pipeline/parse"
)

// readFixture parses a crowdsec fixture with the real parsers (syslog
// prefixes included), numbering lines for evidence positions.
func readFixture(t *testing.T, name string) []detectors.Event {
	t.Helper()
	p, err := parse.New(parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("testdata", "crowdsec", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []detectors.Event
	sc := bufio.NewScanner(f)
	line := int64(0)
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		if i := strings.Index(text, "nginx["); i >= 0 { // syslog wrapper: keep the nginx line
			if j := strings.Index(text[i:], ": "); j >= 0 {
				text = text[i+j+2:]
			}
		}
		var ev detectors.Event
		if err := p.Parse(text, &ev); err != nil {
			t.Fatalf("%s:%d: %v", name, line, err)
		}
		ev.Route = ev.Path
		ev.Source = detectors.Position{File: name, Line: line}
		out = append(out, ev)
	}
	return out
}

func TestCrowdsecFixtures(t *testing.T) {
	t.Run("wordpress brute force: 200 on wp-login.php is a failure", func(t *testing.T) {
		h := newHarness(t, detectors.Config{})
		got := h.run(readFixture(t, "http-bf-wordpress-bf.log"), nil, 100)
		d := has(got, "login_burst", "ip", "81.150.104.130")
		if d == nil {
			t.Fatalf("WordPress brute force missed: %v", kinds(got))
		}
		if len(d.Evidence.Samples) == 0 || !strings.HasPrefix(d.Evidence.Samples[0].Source, "http-bf-wordpress-bf.log:") {
			t.Fatalf("samples lack positions: %+v", d.Evidence.Samples)
		}
	})
	t.Run("sensitive files probing", func(t *testing.T) {
		h := newHarness(t, detectors.Config{})
		got := h.run(readFixture(t, "nginx-http-sensitive-files.log"), nil, 100)
		if has(got, "scanning", "ip", "127.0.0.1") == nil {
			t.Fatalf("sensitive-file probing missed: %v", kinds(got))
		}
	})
	t.Run("wordpress author enumeration: 6 ids per IP stay below 20", func(t *testing.T) {
		h := newHarness(t, detectors.Config{})
		evs := readFixture(t, "http-wordpress_user-enum.log")
		if got := h.run(evs, nil, 100); has(got, "enumeration", "ip", "1.2.3.4") != nil {
			t.Fatalf("6 author ids flagged: %v", kinds(got))
		}
		// The same probe walking 30 authors (as wpscan does) is enumeration.
		var walk []detectors.Event
		for i := 0; i < 30; i++ {
			e := evs[i%len(evs)]
			e.ClientIP = evs[0].ClientIP
			e.Query = "author=" + string(rune('0'+i/10)) + string(rune('0'+i%10))
			if i > 3 {
				e.Status = 404
			}
			walk = append(walk, e)
		}
		cfg := detectors.Config{}
		h2 := newHarness(t, cfg)
		if got := h2.run(walk, nil, 100); has(got, "enumeration", "ip", "1.2.3.4") == nil {
			t.Fatalf("30-author walk missed: %v", kinds(got))
		}
	})
}
