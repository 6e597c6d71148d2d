package detectors

import (
	"testing"
	"time"
)

func TestDurString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Minute:  "10m",
		30 * time.Minute:  "30m",
		time.Minute:       "1m",
		time.Hour:         "1h",
		90 * time.Minute:  "1h30m",
		24 * time.Hour:    "24h",
		90 * time.Second:  "1m30s",
		5 * time.Second:   "5s",
		100 * time.Minute: "1h40m",
	} {
		if got := durString(d); got != want {
			t.Errorf("durString(%v) = %q, want %q", d, got, want)
		}
	}
}
