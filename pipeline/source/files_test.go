package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// got is a delivered line, copied out of the reused buffer.
type got struct {
	Value string
	File  string
	Line  int64
	Cut   bool
}

// collector is a Handler that copies what it is given.
type collector struct {
	mu      sync.Mutex
	lines   []got
	batches int
}

func (c *collector) Handle(_ context.Context, batch []Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches++
	for _, m := range batch {
		c.lines = append(c.lines, got{string(m.Value), m.Pos.File, m.Pos.Line, m.Truncated})
	}
	return nil
}

func (c *collector) snapshot() []got {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]got(nil), c.lines...)
}

func gz(t testing.TB, data string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Synthetic nginx combined-format lines, written for these tests.
const nginxLines = `192.168.1.10 - - [01/Mar/2024:10:00:00 +0000] "POST /api/v1/login HTTP/1.1" 401 53 "-" "python-requests/2.31.0"
192.168.1.10 - - [01/Mar/2024:10:00:01 +0000] "POST /api/v1/login HTTP/1.1" 401 53 "-" "python-requests/2.31.0"
10.0.0.7 - alice [01/Mar/2024:10:00:02 +0000] "GET /api/v1/orders/123 HTTP/1.1" 200 512 "-" "Mozilla/5.0"
`

func TestFilesRead(t *testing.T) {
	l1, l2, l3 := strings.Split(nginxLines, "\n")[0], strings.Split(nginxLines, "\n")[1], strings.Split(nginxLines, "\n")[2]
	long := strings.Repeat("x", 2<<20+5) // over the 1 MiB default
	mid := strings.Repeat("y", 300<<10)  // over the read buffer, under the limit
	tests := []struct {
		name  string
		data  []byte
		max   int
		batch int
		want  []got
	}{
		{"plain", []byte(nginxLines), 0, 0, []got{{l1, "", 1, false}, {l2, "", 2, false}, {l3, "", 3, false}}},
		{"gzip", gz(t, nginxLines), 0, 0, []got{{l1, "", 1, false}, {l2, "", 2, false}, {l3, "", 3, false}}},
		{"no trailing newline", []byte("a\nb"), 0, 0, []got{{"a", "", 1, false}, {"b", "", 2, false}}},
		{"gzip no trailing newline", gz(t, "a\nb"), 0, 0, []got{{"a", "", 1, false}, {"b", "", 2, false}}},
		{"crlf and empty lines keep numbering", []byte("a\r\n\r\n\nb\r\n"), 0, 0, []got{{"a", "", 1, false}, {"b", "", 4, false}}},
		{"empty file", nil, 0, 0, nil},
		{"very long line is cut and flagged, next line intact", []byte("a\n" + long + "\nb\n"), 0, 0,
			[]got{{"a", "", 1, false}, {long[:1<<20], "", 2, true}, {"b", "", 3, false}}},
		{"long line under the limit is whole", []byte(mid + "\nb"), 0, 0, []got{{mid, "", 1, false}, {"b", "", 2, false}}},
		{"small limit within one buffer", []byte("abcdefgh\nab\nabcdefgh"), 4, 0,
			[]got{{"abcd", "", 1, true}, {"ab", "", 2, false}, {"abcd", "", 3, true}}},
		{"batch size 1", []byte("a\nb\nc\n"), 0, 1, []got{{"a", "", 1, false}, {"b", "", 2, false}, {"c", "", 3, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "access.log", tt.data)
			f, err := NewFiles(FileConfig{Paths: []string{path}, MaxLineBytes: tt.max, BatchSize: tt.batch})
			if err != nil {
				t.Fatal(err)
			}
			var c collector
			if err := f.Run(context.Background(), &c); err != nil {
				t.Fatalf("Run: %v", err)
			}
			lines := c.snapshot()
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d lines, want %d", len(lines), len(tt.want))
			}
			for i, w := range tt.want {
				w.File = path
				if g := lines[i]; g != w {
					t.Errorf("line %d: got %q (len %d) %s:%d cut=%v, want %q (len %d) %s:%d cut=%v", i,
						abbrev(g.Value), len(g.Value), g.File, g.Line, g.Cut, abbrev(w.Value), len(w.Value), w.File, w.Line, w.Cut)
				}
			}
			if tt.batch == 1 && c.batches != len(tt.want) {
				t.Errorf("got %d batches, want one per line", c.batches)
			}
		})
	}
}

func abbrev(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

func TestFilesMultipleInOrder(t *testing.T) {
	dir := t.TempDir()
	older := writeFile(t, dir, "access.log.2.gz", gz(t, "old1\nold2\n"))
	newer := writeFile(t, dir, "access.log", []byte("new1\n"))
	var c collector
	f, err := NewFiles(FileConfig{Paths: []string{older, newer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Run(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	want := []got{{"old1", older, 1, false}, {"old2", older, 2, false}, {"new1", newer, 1, false}}
	if g := c.snapshot(); fmt.Sprint(g) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", g, want)
	}
}

func TestFilesStdin(t *testing.T) {
	for _, tt := range []struct {
		name string
		data []byte
	}{{"plain", []byte("a\nb\n")}, {"gzip", gz(t, "a\nb\n")}} {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, t.TempDir(), "f.log", []byte("c\n"))
			f, err := NewFiles(FileConfig{Paths: []string{"-", file}, Stdin: bytes.NewReader(tt.data)})
			if err != nil {
				t.Fatal(err)
			}
			var c collector
			if err := f.Run(context.Background(), &c); err != nil {
				t.Fatal(err)
			}
			want := []got{{"a", "stdin", 1, false}, {"b", "stdin", 2, false}, {"c", file, 1, false}}
			if g := c.snapshot(); fmt.Sprint(g) != fmt.Sprint(want) {
				t.Errorf("got %v, want %v", g, want)
			}
		})
	}
}

// TestFilesFollow appends to a followed file, completes a partial line,
// truncates it and rotates it, then stops.
func TestFilesFollow(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "access.log", []byte("one\ntwo\n"))
	f, err := NewFiles(FileConfig{Paths: []string{path}, Follow: true, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, &c) }()

	expect := func(what string, want ...got) {
		t.Helper()
		waitFor(t, 10*time.Second, what, func() bool { return len(c.snapshot()) >= len(want) })
		time.Sleep(50 * time.Millisecond) // nothing more may arrive
		if g := c.snapshot(); fmt.Sprint(g) != fmt.Sprint(want) {
			t.Fatalf("%s: got %v, want %v", what, g, want)
		}
	}
	appendTo := func(p, s string) {
		t.Helper()
		fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.WriteString(s); err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
	lines := []got{{"one", path, 1, false}, {"two", path, 2, false}}
	expect("initial lines", lines...)

	appendTo(path, "three\nfo")
	lines = append(lines, got{"three", path, 3, false})
	expect("appended line; the partial one is held back", lines...)

	appendTo(path, "ur\n")
	lines = append(lines, got{"four", path, 4, false})
	expect("partial line completed", lines...)

	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the source notice the truncation
	appendTo(path, "t1\n")
	lines = append(lines, got{"t1", path, 1, false})
	expect("truncated file read from its start", lines...)

	// Rotation: the old file gets a last line after being renamed, then a
	// new file appears under the name.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(path+".1", "last")
	writeFile(t, dir, "access.log", []byte("n1\n"))
	lines = append(lines, got{"last", path, 2, false}, got{"n1", path, 1, false})
	expect("rotated file finished, new file read", lines...)

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v, want nil when a followed run is stopped", err)
	}
}

func TestFilesHandlerRetry(t *testing.T) {
	path := writeFile(t, t.TempDir(), "a.log", []byte("a\nb\n"))
	f, err := NewFiles(FileConfig{Paths: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	var batches []string
	err = f.Run(context.Background(), HandlerFunc(func(_ context.Context, batch []Message) error {
		calls++
		var s []string
		for _, m := range batch {
			s = append(s, string(m.Value))
		}
		batches = append(batches, strings.Join(s, ","))
		if calls <= 2 {
			return errors.New("window store unreachable")
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a,b", "a,b", "a,b"}; fmt.Sprint(batches) != fmt.Sprint(want) {
		t.Errorf("batches %v, want the same batch retried: %v", batches, want)
	}
}

func TestFilesErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  FileConfig
		want string
	}{
		{"no paths", FileConfig{}, "no input configured"},
		{"empty path", FileConfig{Paths: []string{""}}, "empty input path"},
		{"stdin twice", FileConfig{Paths: []string{"-", "-"}}, "more than once"},
		{"negative", FileConfig{Paths: []string{"-"}, MaxLineBytes: -1}, "must not be negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewFiles(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewFiles error %v, want %q", err, tt.want)
			}
		})
	}

	missing := filepath.Join(t.TempDir(), "missing.log")
	f, err := NewFiles(FileConfig{Paths: []string{missing}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Run(context.Background(), &collector{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Run on a missing file: %v, want an error naming it", err)
	}

	// Corrupt gzip: header fine, body garbage.
	bad := gz(t, strings.Repeat("line\n", 1000))
	bad = append(bad[:20:20], bytes.Repeat([]byte{0xff}, 50)...)
	path := writeFile(t, t.TempDir(), "bad.gz", bad)
	f, err = NewFiles(FileConfig{Paths: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Run(context.Background(), &collector{}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Run on corrupt gzip: %v, want an error naming the file", err)
	}

	// Stopping a replay early is reported, so a partial replay is not
	// mistaken for a complete one.
	path = writeFile(t, t.TempDir(), "a.log", []byte("a\nb\n"))
	f, err = NewFiles(FileConfig{Paths: []string{path}, BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err = f.Run(ctx, HandlerFunc(func(context.Context, []Message) error { cancel(); return nil }))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run stopped mid-replay returned %v, want context.Canceled", err)
	}
}

// BenchmarkFiles measures the file source alone: lines per second through a
// handler that does nothing.
func BenchmarkFiles(b *testing.B) {
	const n = 200_000
	var buf bytes.Buffer
	lines := strings.Split(strings.TrimSpace(nginxLines), "\n")
	for i := 0; i < n; i++ {
		buf.WriteString(lines[i%len(lines)])
		buf.WriteByte('\n')
	}
	dir := b.TempDir()
	for _, tt := range []struct {
		name string
		data []byte
	}{{"plain", buf.Bytes()}, {"gzip", gz(b, buf.String())}} {
		path := writeFile(b, dir, tt.name, tt.data)
		b.Run(tt.name, func(b *testing.B) {
			f, err := NewFiles(FileConfig{Paths: []string{path}})
			if err != nil {
				b.Fatal(err)
			}
			var count int
			h := HandlerFunc(func(_ context.Context, batch []Message) error { count += len(batch); return nil })
			b.SetBytes(int64(buf.Len()))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := f.Run(context.Background(), h); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(count)/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
