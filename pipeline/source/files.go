package source

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
)

// FileConfig configures the file and stdin source.
type FileConfig struct {
	// Paths are read in order; "-" is stdin. Gzip input is detected by its
	// magic bytes, whatever the name. Pos.File is the path as given, or
	// "stdin".
	Paths []string
	// Follow keeps reading plain files as they grow, like tail -F: a file
	// that is truncated is read again from its start, and a file that is
	// replaced (rotated) is finished and then the new one is opened. Each
	// followed file is read by its own goroutine, so batches of different
	// files may be handled concurrently. Gzip input and stdin are read to
	// their end and not followed. A followed file's last line is delivered
	// once its newline arrives; if the run stops first, it is not delivered
	// (it may be half written). Without Follow, inputs are read one after
	// the other (rotated logs replay in order) and Run returns at the end.
	Follow    bool
	BatchSize int // lines per Handle call; default 1000
	// MaxLineBytes bounds one line (default 1 MiB). A longer line is still
	// delivered, cut to this length and flagged Message.Truncated, so that it
	// is dead-lettered rather than silently lost; the rest of it is skipped.
	MaxLineBytes int
	PollInterval time.Duration // Follow: how often to look for new data; default 250ms
	Stdin        io.Reader     // read for "-"; nil means os.Stdin
	Logger       *slog.Logger
}

const (
	defaultMaxLineBytes = 1 << 20
	defaultPollInterval = 250 * time.Millisecond
	readBufferSize      = 64 << 10
	// maxBatchBytes flushes a batch early when its lines add up to this,
	// so that a batch of long lines does not hold BatchSize MiB.
	maxBatchBytes = 4 << 20
	stdinName     = "stdin"
)

// Files reads lines from files and stdin. Line endings ("\n" or "\r\n") are
// removed; empty lines are skipped but still counted, so Pos.Line is the
// line number an editor shows. Files have no offsets to commit: a restarted
// source reads them again from the start.
type Files struct {
	cfg FileConfig
	log *slog.Logger
}

// NewFiles validates cfg and fills in defaults. It does not open anything:
// a missing file is reported by Run.
func NewFiles(cfg FileConfig) (*Files, error) {
	if len(cfg.Paths) == 0 {
		return nil, errors.New("files: no input configured; give one or more file paths, or - for stdin")
	}
	stdin := 0
	for _, p := range cfg.Paths {
		switch p {
		case "":
			return nil, errors.New("files: empty input path; give a file path, or - for stdin")
		case "-":
			stdin++
		}
	}
	if stdin > 1 {
		return nil, errors.New("files: stdin (-) is given more than once; it can be read only once")
	}
	if cfg.BatchSize < 0 || cfg.MaxLineBytes < 0 || cfg.PollInterval < 0 {
		return nil, errors.New("files: batch size, max line bytes and poll interval must not be negative; leave them 0 for the defaults")
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = defaultBatchSize
	}
	if cfg.MaxLineBytes == 0 {
		cfg.MaxLineBytes = defaultMaxLineBytes
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.Stdin == nil {
		cfg.Stdin = os.Stdin
	}
	return &Files{cfg: cfg, log: orDefault(cfg.Logger).With("source", "files")}, nil
}

// Run reads every input and hands its lines to h. Without Follow it returns
// nil once all inputs are read, or an error wrapping ctx's cause if ctx ended
// first (the replay is then incomplete). With Follow it runs until ctx ends
// (or every input has ended, when none can be followed) and returns nil. A
// missing or unreadable file ends Run with an error naming it.
func (f *Files) Run(ctx context.Context, h Handler) error {
	if !f.cfg.Follow {
		for _, p := range f.cfg.Paths {
			if err := f.readInput(ctx, p, h); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, p := range f.cfg.Paths {
		wg.Go(func() {
			if err := f.readInput(ctx, p, h); err != nil && ctx.Err() == nil {
				cancel(err) // one broken input stops the others: fail loudly
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// input is one open file or stdin.
type input struct {
	name   string // for Pos.File and messages
	path   string // "" for stdin
	file   *os.File
	info   os.FileInfo // of file when opened, to notice rotation
	gzip   bool
	lines  lineReader
	raw    *bufio.Reader // over file, to reset after truncation
	lineNo int64
}

func (f *Files) open(path string) (*input, error) {
	in := &input{name: path, path: path}
	var r io.Reader
	if path == "-" {
		in.name, in.path, r = stdinName, "", f.cfg.Stdin
	} else {
		file, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("files: open input: %w", err)
		}
		info, err := file.Stat()
		if err != nil {
			file.Close()
			return nil, fmt.Errorf("files: stat input: %w", err)
		}
		in.file, in.info, r = file, info, file
	}
	in.raw = bufio.NewReaderSize(r, readBufferSize)
	if magic, _ := in.raw.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(in.raw)
		if err != nil {
			in.close()
			return nil, fmt.Errorf("files: %s looks gzip-compressed but its header is unreadable: %w", in.name, err)
		}
		in.gzip = true
		in.lines = lineReader{br: bufio.NewReaderSize(gz, readBufferSize), max: f.cfg.MaxLineBytes}
	} else {
		in.lines = lineReader{br: in.raw, max: f.cfg.MaxLineBytes}
	}
	return in, nil
}

func (in *input) close() {
	if in.file != nil {
		in.file.Close()
	}
}

// following says whether this input is followed after its end.
func (f *Files) following(in *input) bool {
	return f.cfg.Follow && in.file != nil && !in.gzip
}

// readInput reads one input to its end (or, when followed, until ctx ends).
func (f *Files) readInput(ctx context.Context, path string, h Handler) error {
	in, err := f.open(path)
	if err != nil {
		return err
	}
	defer func() { in.close() }()
	log := f.log.With("input", in.name)
	b := batch{msgs: make([]Message, 0, f.cfg.BatchSize)}
	rotated := false
	for {
		line, trunc, err := in.lines.next()
		if err == nil {
			in.lineNo++
			if len(line) == 0 {
				continue
			}
			b.add(line, trunc, detectors.Position{File: in.name, Line: in.lineNo})
			if len(b.msgs) >= f.cfg.BatchSize || len(b.arena) >= maxBatchBytes {
				if err := f.flush(ctx, &b, h, log); err != nil {
					return err
				}
			}
			continue
		}
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("files: read %s after line %d: %w", in.name, in.lineNo, err)
		}
		if !f.following(in) || rotated {
			// The end of this input (or of a rotated-away file): a last line
			// without a newline is complete now.
			if line, trunc, ok := in.lines.rest(); ok {
				in.lineNo++
				b.add(line, trunc, detectors.Position{File: in.name, Line: in.lineNo})
			}
			if err := f.flush(ctx, &b, h, log); err != nil {
				return err
			}
			if !rotated {
				return nil
			}
			log.Info("input was rotated; reading the new file", "lines", in.lineNo)
			in.close()
			next, err := f.open(path)
			if err != nil {
				return err
			}
			in, rotated = next, false
			continue
		}
		// Followed file at its current end: hand over what we have, then
		// wait for more. A partial last line stays pending until its
		// newline arrives.
		if err := f.flush(ctx, &b, h, log); err != nil {
			return err
		}
		if !sleep(ctx, nil, f.cfg.PollInterval) {
			return nil
		}
		st, err := os.Stat(path)
		switch {
		case err != nil:
			// Removed and not yet recreated (rotation in progress): keep
			// reading the open file and look again next time.
		case !os.SameFile(st, in.info):
			// Read what was appended before the rename, then switch.
			rotated = true
		case st.Size() < in.lines.consumed:
			log.Info("input was truncated; reading it again from its start", "lines", in.lineNo)
			if _, err := in.file.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("files: rewind truncated %s: %w", in.name, err)
			}
			in.raw.Reset(in.file)
			in.lines.reset(in.raw)
			in.lineNo = 0
		}
	}
}

// flush hands a non-empty batch to h, retrying until it succeeds.
func (f *Files) flush(ctx context.Context, b *batch, h Handler, log *slog.Logger) error {
	if len(b.msgs) == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("files: stopped before %s was handled: %w", b.msgs[0].Pos.String(), context.Cause(ctx))
	}
	if err := handleWithRetry(ctx, nil, h, b.msgs, log); err != nil {
		return fmt.Errorf("files: stopped before %s was handled: %w", b.msgs[0].Pos.String(), context.Cause(ctx))
	}
	b.reset()
	return nil
}

// batch collects messages whose Values share one reused buffer, so reading a
// line costs no allocation once the buffer has grown.
type batch struct {
	msgs  []Message
	arena []byte
}

func (b *batch) add(line []byte, trunc bool, pos detectors.Position) {
	start := len(b.arena)
	// If append moves the arena, earlier Values keep pointing at the old
	// array, which nothing writes to any more: they stay valid.
	b.arena = append(b.arena, line...)
	end := len(b.arena)
	b.msgs = append(b.msgs, Message{Value: b.arena[start:end:end], Pos: pos, Truncated: trunc})
}

func (b *batch) reset() {
	clear(b.msgs) // drop references to old arenas
	b.msgs = b.msgs[:0]
	b.arena = b.arena[:0]
}

// lineReader splits a stream into lines of at most max bytes.
type lineReader struct {
	br       *bufio.Reader
	max      int
	pend     []byte // a line that spans buffer refills or awaits its newline
	partial  bool   // pend holds the start of a line
	pendCut  bool   // pend was cut at max
	consumed int64  // bytes read from br, to notice truncation
}

// next returns the next complete line without its line ending, valid until
// the following call, and whether it was cut at max. At the end of the
// available data it returns io.EOF and keeps any partial line pending, so
// that a followed file can complete it later (see rest).
func (lr *lineReader) next() ([]byte, bool, error) {
	for {
		frag, err := lr.br.ReadSlice('\n')
		lr.consumed += int64(len(frag))
		switch {
		case err == nil:
			frag = frag[:len(frag)-1]
			if !lr.partial {
				frag = trimCR(frag)
				if len(frag) > lr.max {
					return frag[:lr.max], true, nil
				}
				return frag, false, nil
			}
			lr.appendPend(frag)
			line, cut := trimCR(lr.pend), lr.pendCut
			lr.pend, lr.partial, lr.pendCut = lr.pend[:0], false, false
			return line, cut, nil
		case errors.Is(err, bufio.ErrBufferFull):
			lr.partial = true
			lr.appendPend(frag)
		default:
			if len(frag) > 0 {
				lr.partial = true
				lr.appendPend(frag)
			}
			return nil, false, err
		}
	}
}

// rest returns the pending partial line at the true end of the input.
func (lr *lineReader) rest() ([]byte, bool, bool) {
	if !lr.partial {
		return nil, false, false
	}
	line, cut := trimCR(lr.pend), lr.pendCut
	lr.pend, lr.partial, lr.pendCut = lr.pend[:0], false, false
	return line, cut, len(line) > 0
}

func (lr *lineReader) reset(br *bufio.Reader) {
	lr.br = br
	lr.pend, lr.partial, lr.pendCut, lr.consumed = lr.pend[:0], false, false, 0
}

func (lr *lineReader) appendPend(frag []byte) {
	if room := lr.max - len(lr.pend); len(frag) > room {
		lr.pend = append(lr.pend, frag[:room]...)
		lr.pendCut = true
		return
	}
	lr.pend = append(lr.pend, frag...)
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}
