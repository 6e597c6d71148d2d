package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/detectors/window"
	"github.com/gatewatch/gatewatch/pipeline"
	"github.com/gatewatch/gatewatch/pipeline/route"
	"github.com/gatewatch/gatewatch/pipeline/source"
)

func cmdReplay(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", "[flags] FILE... (or - for stdin)",
		"Reads access logs from files (plain or gzip) or stdin, detects each line's format, runs\n"+
			"every enabled detector and prints the detections: a table by default, one JSON record per\n"+
			"line with --json. A summary (events per format, failures per reason, time range) follows.\n"+
			"Window state lives in memory unless --redis is given. Lines no parser accepts are counted\n"+
			"and kept in the --dead-letters file with the reason.", stderr)
	var o replayOptions
	fs.StringVar(&o.config, "config", "", "YAML config file (the same file 'gatewatch run' reads; only parse, routes and detectors apply)")
	fs.StringVar(&o.format, "format", "", "force one log format instead of detecting it per line (see 'gatewatch formats')")
	fs.Var(&o.trusted, "trusted-proxy", "CIDR of a proxy whose X-Forwarded-For is trusted (repeatable)")
	fs.StringVar(&o.openapi, "openapi", "", "OpenAPI 3 spec of the API: routes are named after it, and calls outside it are reported (shadow_api)")
	fs.BoolVar(&o.json, "json", false, "print one JSON detection record per line instead of a table; the summary goes to stderr")
	fs.StringVar(&o.redis, "redis", "", "keep window state in this Redis (host:port) instead of in memory")
	fs.StringVar(&o.deadLetters, "dead-letters", "gatewatch-dead-letters.jsonl", "file that keeps unparseable lines with their reason ('' to only count them)")
	fs.BoolVar(&o.follow, "follow", false, "keep reading files as they grow, like tail -f")
	fs.BoolVar(&o.noDetect, "parse-only", false, "only parse and summarise; run no detectors")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("name at least one log file, or - for stdin")
	}
	o.paths = fs.Args()
	return replay(ctx, o, stdin, stdout, stderr)
}

type replayOptions struct {
	config, format, openapi, redis, deadLetters string
	trusted                                     stringList
	json, follow, noDetect                      bool
	paths                                       []string
}

// parseSection lays the flags over the config file's parse section.
func (o replayOptions) parseSection(base pipeline.ParseSection) pipeline.ParseSection {
	if o.format != "" {
		base.Format = o.format
	}
	base.TrustedProxies = append(base.TrustedProxies, o.trusted...)
	return base
}

func replay(ctx context.Context, o replayOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg := pipeline.DefaultConfig()
	if o.config != "" {
		var err error
		if cfg, err = pipeline.LoadConfig(o.config); err != nil {
			return err
		}
	}
	po, err := o.parseSection(cfg.Parse).Options()
	if err != nil {
		return err
	}
	ro := route.Options{SpecFile: cfg.Routes.OpenAPI, MaxTemplates: cfg.Routes.MaxTemplates, MaxChildren: cfg.Routes.MaxChildren}
	if o.openapi != "" {
		ro.SpecFile = o.openapi
	}
	routes, err := route.New(ro)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	pc := pipeline.ProcessorConfig{Parse: po, Routes: routes}
	var (
		sink *pipeline.WriterSink
		eng  *detectors.Engine
	)
	if !o.noDetect {
		var det *pipeline.Detection
		if o.redis != "" {
			client := window.NewClient(window.RedisConfig{Addrs: []string{o.redis}})
			defer client.Close()
			if err := client.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("redis at %s does not answer (%w): start it, or drop --redis to keep state in memory", o.redis, err)
			}
			det, err = pipeline.NewDetection(cfg.Detectors, client, cfg.Redis.Prefix, log)
		} else {
			det, err = pipeline.NewDetection(cfg.Detectors, nil, "", log)
		}
		if err != nil {
			return err
		}
		defer det.Close()
		eng = det.Engine
		pc.Engine = eng
		sink = pipeline.NewWriterSink(stdout, !o.json)
		pc.Detections = sink
	}
	dl := &lazyDeadLetters{path: o.deadLetters}
	defer dl.Close()
	pc.DeadLetters = dl
	proc, err := pipeline.NewProcessor(pc)
	if err != nil {
		return err
	}
	files, err := source.NewFiles(source.FileConfig{Paths: o.paths, Follow: o.follow, Stdin: stdin})
	if err != nil {
		return err
	}
	runErr := files.Run(ctx, proc)

	if eng != nil && runErr == nil {
		// End of input: report what is still pending in the engine.
		ds, err := eng.Flush(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("flush detectors: %w", err)
		}
		if len(ds) > 0 {
			if err := sink.Detections(ctx, ds); err != nil {
				return err
			}
		}
	}
	if eng != nil {
		proc.Summary().AddLate(eng.Stats().Late)
	}
	if sink != nil {
		if err := sink.Flush(); err != nil {
			return err
		}
	}
	summaryOut := stdout
	if o.json {
		summaryOut = stderr
	} else if sink != nil {
		if eng.Stats().Detections == 0 {
			fmt.Fprintln(stdout, "no detections")
		}
		fmt.Fprintln(stdout)
	}
	if _, err := proc.Summary().WriteTo(summaryOut); err != nil {
		return err
	}
	if n := dl.count(); n > 0 {
		fmt.Fprintf(summaryOut, "dead letters:    %d kept in %s\n", n, o.deadLetters)
	}
	if runErr != nil && ctx.Err() == nil {
		return runErr
	}
	return nil
}

// lazyDeadLetters creates the dead-letter file on the first failure, so a
// clean replay leaves no empty file behind.
type lazyDeadLetters struct {
	path string
	mu   sync.Mutex
	sink *source.FileDeadLetters
	n    int
}

func (l *lazyDeadLetters) Write(ctx context.Context, dl []source.DeadLetter) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.path == "" {
		return nil
	}
	if l.sink == nil {
		s, err := source.NewFileDeadLetters(l.path)
		if err != nil {
			return err
		}
		l.sink = s
	}
	l.n += len(dl)
	return l.sink.Write(ctx, dl)
}

func (l *lazyDeadLetters) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.path == "" {
		return 0
	}
	return l.n
}

func (l *lazyDeadLetters) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sink == nil {
		return nil
	}
	return l.sink.Close()
}
