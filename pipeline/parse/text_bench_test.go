package parse

import (
	"bufio"
	"compress/gzip"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatewatch/gatewatch/detectors"
)

// elasticLines returns the 10,000 real lines of the elastic Apache sample,
// the same text as nginx combined.
func elasticLines(b *testing.B) []string {
	b.Helper()
	f, err := os.Open(filepath.Join("testdata", "text", "elastic_apache_logs.gz"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return lines
}

// benchLines parses a rotating set of real lines, so branch prediction and
// caches see a realistic mix rather than one line repeated, and reports
// lines per second next to ns/op and allocs/op.
func benchLines(b *testing.B, opts Options, lines []string) {
	p := textParser(b, opts)
	var ev detectors.Event
	for _, l := range lines {
		if err := p.Parse(l, &ev); err != nil {
			b.Fatalf("%v\n%s", err, l)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := p.Parse(lines[i%len(lines)], &ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkParseNginxCombined(b *testing.B) {
	lines := append(elasticLines(b), textLines(b, "nginx_combined.log")...)
	benchLines(b, Options{}, lines)
}

// Forcing the format skips sniffing; the difference is the auto-detect cost.
func BenchmarkParseNginxCombinedForced(b *testing.B) {
	benchLines(b, Options{Format: detectors.FormatNginxCombined}, elasticLines(b))
}

func BenchmarkParseNginxMain(b *testing.B) {
	benchLines(b, Options{}, textLines(b, "nginx_main.log"))
}

func BenchmarkParseNginxMainTrustedProxies(b *testing.B) {
	benchLines(b, Options{TrustedProxies: benchTrusted()}, textLines(b, "nginx_main.log"))
}

func BenchmarkParseApacheCommon(b *testing.B) {
	benchLines(b, Options{}, textLines(b, "apache_common.log"))
}

func BenchmarkParseApacheCombinedLatency(b *testing.B) {
	benchLines(b, Options{}, textLines(b, "apache_latency.log"))
}

func BenchmarkParseTraefikCLF(b *testing.B) {
	benchLines(b, Options{}, textLines(b, "traefik_clf.log"))
}

func BenchmarkParseAWSAPIGatewayCLF(b *testing.B) {
	benchLines(b, Options{}, textLines(b, "aws_apigw_clf.log"))
}

func BenchmarkParseHAProxy(b *testing.B) {
	benchLines(b, Options{}, textLines(b, "haproxy.log"))
}

func BenchmarkParseEnvoyText(b *testing.B) {
	benchLines(b, Options{}, textLines(b, "envoy_text.log"))
}

func BenchmarkParseAWSALB(b *testing.B) {
	benchLines(b, Options{}, textLines(b, "aws_alb.log"))
}

func benchTrusted() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("198.51.100.0/24")}
}
