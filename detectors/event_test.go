package detectors

import (
	"testing"
)

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" means rejected
	}{
		{"203.0.113.7", "203.0.113.7"},
		{"203.0.113.7:443", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8::1", "2001:db8::1"},
		{"[2001:db8::1]:8080", "2001:db8::1"},
		{"[fd00:1234:5678::5a24]", "fd00:1234:5678::5a24"},
		{"[203.0.113.7]", ""},
		{"unknown", ""},
		{"-", ""},
		{"", ""},
		{"[]", ""},
	}
	for _, tt := range tests {
		a, ok := ParseAddr(tt.in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("ParseAddr(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseXFF(t *testing.T) {
	got := ParseXFF("198.51.100.9, unknown, [2001:db8::7], 10.0.0.1:5000")
	want := []string{"198.51.100.9", "2001:db8::7", "10.0.0.1"}
	if len(got) != len(want) {
		t.Fatalf("ParseXFF = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("hop %d = %v, want %s", i, got[i], want[i])
		}
	}
}

func TestFormatNames(t *testing.T) {
	for _, f := range Formats() {
		back, ok := ParseFormat(f.String())
		if !ok || back != f {
			t.Errorf("format %v does not round-trip through its name", f)
		}
	}
	if _, ok := ParseFormat("unknown"); ok {
		t.Error("the zero format must not be selectable")
	}
}
