package window

import (
	"strings"
	"testing"
	"time"
)

var blobSchema = Schema{Families: []Family{{Name: "ip", Metrics: []Metric{
	{Name: "req", Kind: Count, Windows: []time.Duration{time.Minute, time.Hour}},
	{Name: "bytes", Kind: Sum, Windows: []time.Duration{time.Minute}},
	{Name: "users", Kind: Distinct, Windows: []time.Duration{10 * time.Minute}},
}}}}

func TestBlobRoundTrip(t *testing.T) {
	cs, err := compile(blobSchema)
	if err != nil {
		t.Fatal(err)
	}
	f := &cs.fams[0]
	ce := &rent{own: 1_700_000_123_456,
		ctr: []ownCtr{{m: 0, t: 0, idx: 340000024, v: 3}, {m: 0, t: 1, idx: 28333335, v: -2}, {m: 0, t: 0, idx: 340000020, v: 7},
			{m: 1, t: 0, idx: 340000024, v: 1.25}},
		mem:  [][]scored{nil, nil, {{"alice", 1_700_000_123_000}, {"", 1_700_000_100_000}, {"b\x00b", 1_700_000_123_456}}},
		mark: []int64{noTime, noTime, 1_700_000_000_000}}
	blob := string(appendBlob(nil, f, ce))
	var d blobState
	at, ok := decodeBlob(blob, &d)
	if !ok || at != ce.own {
		t.Fatalf("decode: at=%d ok=%v, want %d true", at, ok, ce.own)
	}
	if len(d.marks) != 1 || d.marks[0] != (blobMark{2, 1_700_000_000_000}) {
		t.Errorf("marks = %v", d.marks)
	}
	want := map[blobCtr]bool{
		{0, 5000, 340000024, 3}: true, {0, 5000, 340000020, 7}: true, {0, 60000, 28333335, -2}: true, {1, 5000, 340000024, 1.25}: true,
	}
	if len(d.ctrs) != len(want) {
		t.Errorf("counters = %v, want %v", d.ctrs, want)
	}
	for _, c := range d.ctrs {
		if !want[c] {
			t.Errorf("unexpected counter %+v", c)
		}
	}
	if len(d.mems) != 3 {
		t.Fatalf("members = %v", d.mems)
	}
	for i, sm := range ce.mem[2] {
		if got := d.mems[i]; got != (blobMem{2, sm.member, sm.score}) {
			t.Errorf("member %d = %+v, want %+v", i, got, sm)
		}
	}
	// A second blob appends after the first.
	if _, ok := decodeBlob(blob, &d); !ok || len(d.mems) != 6 {
		t.Errorf("second decode: ok=%v members=%d, want true 6", ok, len(d.mems))
	}
}

func TestBlobRejectsWhatItCannotRead(t *testing.T) {
	cs, _ := compile(blobSchema)
	ce := &rent{own: 5, mem: [][]scored{nil, nil, {{"m", 4}}}, mark: []int64{noTime, noTime, noTime}, ctr: []ownCtr{{m: 0, idx: 1, v: 1}}}
	good := string(appendBlob(nil, &cs.fams[0], ce))
	for _, s := range []string{"", "12", "\x02" + good[1:], good[:len(good)-1], good + "x", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "\x01\x00\xff\xff\xff\xff\x0f"} {
		d := blobState{mems: []blobMem{{0, "kept", 1}}}
		if _, ok := decodeBlob(s, &d); ok {
			t.Errorf("decodeBlob(%q) = ok, want refused", s)
		}
		if len(d.mems) != 1 || len(d.ctrs) != 0 || len(d.marks) != 0 {
			t.Errorf("decodeBlob(%q) left %d members %d counters %d marks, want what was there before", s, len(d.mems), len(d.ctrs), len(d.marks))
		}
	}
}

// FuzzDecodeBlob: whatever a field holds, reading it must not panic or
// allocate without bound, and what it accepts re-encodes consistently.
func FuzzDecodeBlob(f *testing.F) {
	cs, _ := compile(blobSchema)
	ce := &rent{own: 1_700_000_123_456, ctr: []ownCtr{{m: 0, idx: 3, v: 2}, {m: 1, idx: 3, v: 0.5}},
		mem: [][]scored{nil, nil, {{"alice", 1_700_000_123_000}}}, mark: []int64{noTime, noTime, 7}}
	f.Add(string(appendBlob(nil, &cs.fams[0], ce)))
	f.Add("\x01\x00\x00\x00\x00")
	f.Add(strings.Repeat("\x80", 20))
	f.Fuzz(func(t *testing.T, s string) {
		var d blobState
		_, _ = decodeBlob(s, &d)
		for _, m := range d.mems {
			if !strings.Contains(s, m.member) {
				t.Fatalf("member %q is not part of the input", m.member)
			}
		}
	})
}
