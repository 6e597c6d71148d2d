package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gatewatch/gatewatch/detectors"
	"github.com/gatewatch/gatewatch/pipeline/generate"
)

func cmdGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	def := generate.DefaultConfig()
	fs := newFlagSet("generate", "[flags]",
		"Writes realistic synthetic traffic for a shop-like API as gateway access-log lines, with\n"+
			"labelled attacks of every detector kind and benign traps that fool naive thresholds.\n"+
			"The same seed and flags always produce the same bytes. Use --truth to get the labels.", stderr)
	seed := fs.Int64("seed", def.Seed, "random seed; the same seed gives the same output")
	start := fs.String("start", def.Start.Format(time.RFC3339), "event time of the first request (RFC 3339)")
	duration := fs.Duration("duration", def.Duration, "span of event time to generate")
	rate := fs.Float64("rate", def.Rate, "mean benign requests per second (attacks come on top)")
	format := fs.String("format", detectors.FormatNginxCombined.String(), "log format to write (see 'gatewatch formats')")
	out := fs.String("out", "-", "output file, '-' for stdout; a name ending in .gz is gzip-compressed")
	truth := fs.String("truth", "", "write the ground truth (attacks and traps with their entities) as JSON to this file")
	spec := fs.String("openapi", "", "write the shop API's OpenAPI 3 spec to this file (for shadow-API detection)")
	attacks := fs.String("attacks", "all", "comma-separated attack kinds to inject, 'all' or 'none'")
	noTraps := fs.Bool("no-traps", false, "leave out the benign traps (office NAT, partner integration, ...)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: generate takes flags only", fs.Arg(0))
	}
	f, ok := detectors.ParseFormat(*format)
	if !ok {
		return fmt.Errorf("unknown --format %q: run 'gatewatch formats' for the list", *format)
	}
	st, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return fmt.Errorf("--start %q is not an RFC 3339 time such as 2026-01-05T08:00:00Z", *start)
	}
	cfg := def
	cfg.Seed, cfg.Start, cfg.Duration, cfg.Rate, cfg.Traps = *seed, st, *duration, *rate, !*noTraps
	switch *attacks {
	case "all":
		cfg.Attacks = nil
	default:
		cfg.Attacks = strings.Split(*attacks, ",")
	}

	var w io.Writer = stdout
	if *out != "-" {
		file, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("create output file: %w", err)
		}
		defer file.Close()
		w = file
		if strings.HasSuffix(*out, ".gz") {
			gz := gzip.NewWriter(file)
			defer gz.Close()
			w = gz
		}
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var buf []byte
	tr, err := generate.Generate(cfg, func(ev *detectors.Event) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = generate.AppendLine(buf[:0], f, ev)
		buf = append(buf, '\n')
		_, err := bw.Write(buf)
		return err
	})
	if err != nil {
		return fmt.Errorf("generate traffic: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if *truth != "" {
		b, err := json.MarshalIndent(tr, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*truth, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write ground truth: %w", err)
		}
	}
	if *spec != "" {
		if err := os.WriteFile(*spec, generate.OpenAPISpec(), 0o644); err != nil {
			return fmt.Errorf("write OpenAPI spec: %w", err)
		}
	}
	return nil
}

func cmdFormats(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("formats", "", "Lists the access-log formats gatewatch parses; any of them can be given to --format.\n"+
		"Without --format, gatewatch detects the format of every line by itself.", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, f := range detectors.Formats() {
		fmt.Fprintln(stdout, f)
	}
	return nil
}
