// Command gatewatch detects API abuse in gateway access logs: login bursts,
// credential stuffing and odd call patterns, from Kafka in production or from
// files for replay and trials.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `gatewatch: real-time API abuse detection for gateway access logs

Usage:
  gatewatch <command> [flags] [args]

Commands:
  replay    run the detectors over log files or stdin and print what they find
  run       join a Kafka consumer group and detect continuously, with state in Redis
  generate  write realistic synthetic gateway traffic with labelled attacks
  formats   list the log formats gatewatch parses
  version   print the version

Run 'gatewatch <command> --help' for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code, so tests can
// drive every subcommand in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "replay":
		err = cmdReplay(ctx, args[1:], stdin, stdout, stderr)
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	case "generate":
		err = cmdGenerate(ctx, args[1:], stdout, stderr)
	case "formats":
		err = cmdFormats(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "gatewatch", version)
		return 0
	default:
		fmt.Fprintf(stderr, "gatewatch: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "gatewatch %s: %v\n", args[0], err)
		return 1
	}
}

// errUsage marks errors already explained by a flag set's usage output.
var errUsage = errors.New("usage")

// newFlagSet builds a flag set whose --help prints a synopsis, a
// description and every flag.
func newFlagSet(name, synopsis, description string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage:\n  gatewatch %s %s\n\n%s\n\nFlags:\n", name, synopsis, description)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning flag errors into errUsage (the flag
// package has already printed them with the usage).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}
