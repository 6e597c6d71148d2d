package detectors

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero Config must be valid (defaults fill it): %v", err)
	}
	if !DefaultConfig().Scanning.On() {
		t.Fatal("detectors are on by default")
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "detectors.yaml")
	src := `
allowlist:
  cidrs: [10.0.0.0/8, 192.0.2.1]
  user_agents: [UptimeRobot]
login:
  extra_failure_statuses: [429]
  rules:
    - route: /api/*/auth/login
      failure_statuses: [200]
      success_statuses: [201]
incidents:
  cooldown: 5m
scanning:
  enabled: false
login_burst:
  window: 5m
  ip_failures: 20
  allowlist:
    users: [loadtest]
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Scanning.On() || !cfg.Scraping.On() {
		t.Error("scanning must be off, scraping on")
	}
	if cfg.LoginBurst.Window != 5*time.Minute || cfg.LoginBurst.IPFailures != 20 || cfg.LoginBurst.UserFailures != 10 {
		t.Errorf("login_burst overlay wrong: %+v", cfg.LoginBurst)
	}
	if cfg.Incidents.Cooldown != 5*time.Minute || cfg.Incidents.ReportEvery != 30*time.Minute {
		t.Errorf("incidents: %+v", cfg.Incidents)
	}
	if len(cfg.Login.Rules) != 1 || cfg.Login.Rules[0].SuccessStatuses[0] != 201 {
		t.Errorf("login rules: %+v", cfg.Login.Rules)
	}
	if len(cfg.Login.Routes) == 0 {
		t.Error("default login routes lost")
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // substrings of the error
	}{
		{"unknown key", "scanning:\n  windw: 5m\n", []string{"cfg.yaml:2:3", "windw"}},
		{"unknown top-level key", "detectorz: {}\n", []string{"cfg.yaml:1:1", "detectorz"}},
		{"bad duration", "login_burst:\n  window: 10 minutes\n", []string{"cfg.yaml:2:", "window"}},
		{"window out of range", "scanning:\n  window: 30s\n", []string{"cfg.yaml:2:11", "scanning.window", "between 1m and 24h"}},
		{"bad CIDR", "allowlist:\n  cidrs:\n    - 10.0.0.0/8\n    - 10.0.0/33\n", []string{"cfg.yaml:4:7", "allowlist.cidrs[1]", "not a CIDR"}},
		{"bad per-detector CIDR", "scraping:\n  allowlist:\n    cidrs: [nope]\n", []string{"cfg.yaml:3:13", "scraping.allowlist.cidrs[0]"}},
		{"ratio out of range", "login_burst:\n  ip_failure_ratio: 1.5\n", []string{"cfg.yaml:2:21", "ratio in (0, 1]"}},
		{"negative threshold", "credential_stuffing:\n  ip_accounts: -3\n", []string{"cfg.yaml:2:16", "at least 2"}},
		{"bad severity", "enumeration:\n  severity: urgent\n", []string{"cfg.yaml:2:13", "info, low, medium, high, critical"}},
		{"bad entity", "scanning:\n  entities: [user]\n", []string{"cfg.yaml:2:14", "unknown entity"}},
		{"bad status", "login:\n  failure_statuses: [401, 4030]\n", []string{"cfg.yaml:2:", "100..599"}},
		{"two errors reported together", "scanning:\n  window: 30s\nscraping:\n  success_ratio: 2\n", []string{"cfg.yaml:2:11", "cfg.yaml:4:18"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("cfg.yaml", []byte(tc.src))
			if err == nil {
				t.Fatal("config accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
