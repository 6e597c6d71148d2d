package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	cfg, err := LoadConfig("testdata/gatewatch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Kafka.Brokers; len(got) != 2 || got[0] != "kafka-1:9092" {
		t.Errorf("brokers = %v", got)
	}
	if cfg.Kafka.BatchWait != 250*time.Millisecond {
		t.Errorf("batch_wait = %v", cfg.Kafka.BatchWait)
	}
	if cfg.Detectors.LoginBurst.IPFailures != 15 {
		t.Errorf("detectors.login_burst.ip_failures = %v, want 15 from the file", cfg.Detectors.LoginBurst.IPFailures)
	}
	// Unset detector settings keep their defaults.
	if cfg.Detectors.Scanning.NotFoundPaths == 0 {
		t.Error("detectors.scanning.not_found_paths lost its default")
	}
	po, err := cfg.Parse.Options()
	if err != nil || len(po.TrustedProxies) != 1 {
		t.Errorf("parse options = %+v, %v", po, err)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"unknown key", "kafka:\n  brokers: [a:1]\n  grup_id: x\n", []string{":3:", "grup_id"}},
		{"bad detector value", "detectors:\n  login_burst:\n    ip_failure_ratio: 7\n", []string{":3:", "detectors.login_burst.ip_failure_ratio"}},
		{"bad detector duration", "detectors:\n  scanning:\n    window: 5 minutes\n", []string{":3:", "bad duration"}},
		{"bad trusted proxy", "parse:\n  trusted_proxies: [10.0.0.0/33]\n", []string{"trusted_proxies", "10.0.0.0/33"}},
		{"bad format", "parse:\n  format: nginx-xml\n", []string{"nginx-xml", "gatewatch formats"}},
		{"yaml syntax", "kafka: [\n", []string{"gatewatch.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatewatch.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("bad config accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// The sample shipped to users must stay loadable.
func TestSampleConfigLoads(t *testing.T) {
	if _, err := LoadConfig("../deployments/gatewatch.yaml"); err != nil {
		t.Fatal(err)
	}
}
